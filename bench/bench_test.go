package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestMain lets the test binary serve as the harness's child process.
func TestMain(m *testing.M) {
	if isChild() {
		os.Exit(childMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// TestHarness runs every workload at a tiny scale and checks the harness's
// behaviour: reports written, DuckDB's answers present, and every MantisDB
// measurement either a number or a recorded error (MantisDB may not support
// a feature yet; that must show, not fail the run).
func TestHarness(t *testing.T) {
	dir := t.TempDir()
	o, err := parseFlags([]string{"-bench", "all", "-sf", "0.005", "-runs", "2", "-warmup", "1", "-q",
		"-ingest-rows", "6000", "-batch", "2000", "-insert-batch", "100", "-oltp-rows", "1000", "-oltp-duration", "150ms",
		"-clients", "1,4", "-fresh-writes", "20", "-lag-rate", "20000", "-lag-duration", "1s", "-lag-compact-rows", "4000", "-mixed-duration", "400ms", "-mixed-batch", "1000",
		"-query-timeout", "20s", "-child-timeout", "2m",
		"-dir", filepath.Join(dir, "work"), "-results", filepath.Join(dir, "results"), "-docs", filepath.Join(dir, "docs")})
	if err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "results", "*.json"))
	if len(paths) != 1 {
		t.Fatalf("want one result file, got %v", paths)
	}
	rep, err := readReport(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seconds per workload: %v", rep.Seconds)
	if rep.Machine.Cores == 0 || rep.GoVersion == "" || rep.Command == "" {
		t.Errorf("run description incomplete: %+v", rep)
	}

	// tpch
	tp := rep.TPCH
	if tp == nil || len(tp.Queries) != 22 {
		t.Fatalf("tpch: want 22 queries, got %+v", tp)
	}
	if tp.Answered[engineDuck] != 22 {
		for _, q := range tp.Queries {
			if e := q.Engine[engineDuck].Error; e != "" {
				t.Errorf("duckdb Q%d: %s", q.Query, e)
			}
		}
	}
	if tp.Load[engineDuck].Rows == 0 || tp.Load[engineDuck].Error != "" {
		t.Errorf("duckdb load: %+v", tp.Load[engineDuck])
	}
	for _, q := range tp.Queries {
		d, m := q.Engine[engineDuck], q.Engine[engineMantis]
		if d.Error == "" && (len(d.RunsMS) != 2 || d.MedianMS <= 0) {
			t.Errorf("duckdb Q%d: want 2 timed runs, got %v", q.Query, d.RunsMS)
		}
		if m.Error == "" && m.MedianMS <= 0 {
			t.Errorf("mantisdb Q%d: neither a time nor an error", q.Query)
		}
		if m.Error == "" && d.Error == "" && q.Check == "n/a" {
			t.Errorf("Q%d: both answered but results not compared", q.Query)
		}
	}

	// ingest
	if rep.Ingest == nil || len(rep.Ingest.Methods) != 14 {
		t.Fatalf("ingest: want 14 methods, got %+v", rep.Ingest)
	}
	for _, m := range rep.Ingest.Methods {
		if strings.HasPrefix(m.Method, "Flight") && (m.Error != "" || !m.Verified || m.RowsPerSec <= 0) {
			t.Errorf("%s: %+v", m.Method, m)
		}
		if m.Engine == engineDuck && (!m.Verified || m.RowsPerSec <= 0) {
			t.Errorf("duckdb ingest %s: %+v", m.Method, m)
		}
		if m.Engine == engineMantis && m.Error == "" && !m.Verified {
			t.Errorf("mantisdb ingest %s: no error, yet not verified: %+v", m.Method, m)
		}
		if m.PeakRSSBytes <= 0 {
			t.Errorf("%s ingest %s: no peak RSS", m.Engine, m.Method)
		}
	}

	// serve
	if rep.Serve == nil || rep.Serve.Error != "" || len(rep.Serve.Paths) != 1+len(restFormats) {
		t.Fatalf("serve: want %d paths and no error, got %+v", 1+len(restFormats), rep.Serve)
	}
	if len(rep.Serve.Scans) != len(scanQueries) {
		t.Errorf("serve: want %d scans, got %d", len(scanQueries), len(rep.Serve.Scans))
	}
	for _, q := range rep.Serve.Scans {
		if q.Error != "" || q.Seconds <= 0 {
			t.Errorf("serve scan %s: %+v", q.Name, q)
		}
	}
	for _, p := range rep.Serve.Paths {
		if p.Error != "" || p.Rows != rep.Serve.Rows || p.Bytes <= 0 || p.MBPerSec <= 0 {
			t.Errorf("serve %s: %+v", p.Path, p)
		}
	}

	// oltp, freshness, mixed
	for _, r := range rep.OLTP.Runs {
		if r.Engine == engineDuck && (len(r.Ops) != 4 || r.Ops[0].Latency.Count == 0) {
			t.Errorf("duckdb oltp: %+v", r)
		}
		if r.Engine == engineMantis && r.Error == "" && len(r.Ops) != 4 {
			t.Errorf("mantisdb oltp: neither ops nor an error: %+v", r)
		}
	}
	for _, f := range rep.Freshness.Engines {
		if f.Engine == engineDuck && (f.Error != "" || f.Visible.Count != 20) {
			t.Errorf("duckdb freshness: %+v", f)
		}
		if f.Engine == engineMantis && f.Error == "" && f.Visible.Count != 20 {
			t.Errorf("mantisdb freshness: %+v", f)
		}
	}
	if l := rep.Lag; l == nil || l.Error != "" || l.Lag.Count < 10 || l.Rows != 20000 {
		t.Errorf("lag: %+v", l)
	}
	for _, m := range rep.Mixed.Engines {
		if m.Engine == engineDuck && (m.Error != "" || m.Queries == 0 || m.IngestRows == 0) {
			t.Errorf("duckdb mixed: %+v", m)
		}
	}

	// docs
	md, err := os.ReadFile(filepath.Join(dir, "docs", "benchmarks.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## TPC-H, scale factor 0.005", "| Q22 |", "## Ingest", "## Serving", "## OLTP", "## Freshness", "## Compaction lag", "## Mixed", tpchChartFile} {
		if !strings.Contains(string(md), want) {
			t.Errorf("benchmarks.md lacks %q", want)
		}
	}
	svg, err := os.ReadFile(filepath.Join(dir, "docs", tpchChartFile))
	if err != nil || !strings.HasPrefix(string(svg), "<svg") || !strings.Contains(string(svg), ">Q22<") {
		t.Errorf("chart missing or incomplete (%v)", err)
	}
}

// TestDuckLoadTypes checks that the appender path stores the TPC-H types
// exactly: decimals go in as unscaled integers, dates as time.Time.
func TestDuckLoadTypes(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	spec := &tableSpec{name: "t", columns: []column{{"k", oltpTable.columns[0].typ}, {"price", money},
		{"d", tpchTable("orders").columns[4].typ}, {"s", varchar(10)}}}
	b := array.NewRecordBuilder(mem, spec.schema())
	defer b.Release()
	b.Field(0).(*array.Int64Builder).Append(7)
	b.Field(1).(*array.Decimal128Builder).Append(decimal128FromInt(-12345))
	b.Field(2).(*array.Date32Builder).Append(parseDate("1995-03-15"))
	b.Field(3).(*array.StringBuilder).Append("it's")
	rec := b.NewRecordBatch()
	defer rec.Release()

	e, err := openDuck("", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	if _, err := e.Exec(ctx, spec.ddl()); err != nil {
		t.Fatal(err)
	}
	if err := e.Load(ctx, "t", rec); err != nil {
		t.Fatal(err)
	}
	for _, s := range insertStatements("t", []arrow.RecordBatch{rec}, 10) {
		if _, err := e.Exec(ctx, strings.Replace(s, "(7,", "(8,", 1)); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := e.Query(ctx, "select k, price, d, s, cast(price as varchar) from t order by k")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]any{{7.0, -123.45, "1995-03-15", "it's", "-123.45"}, {8.0, -123.45, "1995-03-15", "it's", "-123.45"}}
	if d := compareResults(want, rows); d != "" || len(rows) != 2 || rows[0][4] != "-123.45" {
		t.Errorf("got %v, want %v (%s)", rows, want, d)
	}
}

// TestGenerateTPCH checks table order and row counts at a tiny scale, and
// that every batch has its table's schema.
func TestGenerateTPCH(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	counts := map[string]int64{}
	var order []string
	// The folded foreign keys must point at kept rows, and every lineitem's
	// (part, supplier) at a partsupp row.
	psupp := map[[2]int64]bool{}
	var dangling int
	err := generateTPCH(0.001, 500, mem, func(table string, rec arrow.RecordBatch) error {
		col := func(i int) *array.Int64 { return rec.Column(i).(*array.Int64) }
		for r := 0; r < int(rec.NumRows()); r++ {
			switch table {
			case "partsupp":
				k := [2]int64{col(0).Value(r), col(1).Value(r)}
				if psupp[k] || k[1] < 1 || k[1] > 10 {
					t.Errorf("partsupp %v: duplicate or supplier out of range", k)
				}
				psupp[k] = true
			case "orders":
				if c := col(1).Value(r); c < 1 || c > 150 || c%3 == 0 {
					dangling++
				}
			case "lineitem":
				if !psupp[[2]int64{col(1).Value(r), col(2).Value(r)}] {
					dangling++
				}
			}
		}
		if !rec.Schema().Equal(tpchTable(table).schema()) {
			t.Errorf("%s: schema %v", table, rec.Schema())
		}
		if len(order) == 0 || order[len(order)-1] != table {
			order = append(order, table)
		}
		counts[table] += rec.NumRows()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"nation": 25, "region": 5, "part": 200, "partsupp": 800, "supplier": 10, "customer": 150, "orders": 1500}
	for table, n := range want {
		if counts[table] != n {
			t.Errorf("%s: %d rows, want %d", table, counts[table], n)
		}
	}
	if dangling > 0 {
		t.Errorf("%d orders or lineitems with a dangling customer or partsupp key", dangling)
	}
	if l := counts["lineitem"]; l < 1500 || l > 7*1500 {
		t.Errorf("lineitem: %d rows for 1500 orders", l)
	}
	if err := generateTPCH(2, 500, mem, nil); err == nil || !strings.Contains(err.Error(), "scale") {
		t.Errorf("switching dbgen scale in one process: got %v, want an error", err)
	}
}

func TestCompareResults(t *testing.T) {
	tests := []struct {
		name      string
		want, got [][]any
		equal     bool
	}{
		{"same", [][]any{{1.0, "a"}}, [][]any{{1.0, "a"}}, true},
		{"decimal rounding", [][]any{{25.5075}}, [][]any{{25.51}}, true},
		{"float sum", [][]any{{5.6e10}}, [][]any{{5.6e10 + 100}}, true},
		{"wrong number", [][]any{{5.0}}, [][]any{{5.1}}, false},
		{"char padding", [][]any{{"AIR"}}, [][]any{{"AIR   "}}, true},
		{"number as text", [][]any{{"12.50"}}, [][]any{{12.5}}, true},
		{"null", [][]any{{nil}}, [][]any{{0.0}}, false},
		{"row count", [][]any{{1.0}}, [][]any{{1.0}, {2.0}}, false},
		{"tie order", [][]any{{1.0, "a"}, {1.0, "b"}}, [][]any{{1.0, "b"}, {1.0, "a"}}, true},
		{"different rows", [][]any{{1.0, "a"}, {1.0, "b"}}, [][]any{{1.0, "b"}, {1.0, "c"}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := compareResults(tc.want, tc.got)
			if (d == "") != tc.equal {
				t.Errorf("compareResults = %q, want equal=%v", d, tc.equal)
			}
		})
	}
}

func TestStats(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median odd = %v", m)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median even = %v", m)
	}
	if g, n := geomean([]float64{1, 4, 0}); n != 2 || g != 2 {
		t.Errorf("geomean = %v over %d", g, n)
	}
	lat := []time.Duration{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	s := summarize(lat)
	if s.Count != 10 || s.P50US != us(5) || s.P99US != us(10) || s.MaxUS != us(10) {
		t.Errorf("summarize = %+v", s)
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args []string
		ok   bool
	}{
		{[]string{"-bench", "tpch", "-sf", "1"}, true},
		{[]string{"-bench", "tpch,oltp", "-queries", "1,3-5"}, true},
		{[]string{"-sf", "0.01"}, true},
		{[]string{"-sf", "1.5"}, false},
		{[]string{"-bench", "nope"}, false},
		{[]string{"-queries", "0-3"}, false},
		{[]string{"-queries", "5-3"}, false},
		{[]string{"-runs", "0"}, false},
	}
	for _, tc := range tests {
		o, err := parseFlags(tc.args)
		if (err == nil) != tc.ok {
			t.Errorf("parseFlags(%q): err = %v, want ok=%v", tc.args, err, tc.ok)
		}
		if err == nil && tc.args[1] == "tpch,oltp" && (len(o.Benches) != 2 || len(o.Queries) != 4) {
			t.Errorf("parseFlags(%q) = %+v", tc.args, o)
		}
	}
}

func TestDDL(t *testing.T) {
	got := tpchTable("partsupp").ddl()
	want := "CREATE TABLE partsupp (ps_partkey BIGINT NOT NULL, ps_suppkey BIGINT NOT NULL, ps_availqty INT NOT NULL, " +
		"ps_supplycost DECIMAL(15,2) NOT NULL, ps_comment VARCHAR(199) NOT NULL, PRIMARY KEY (ps_partkey, ps_suppkey))"
	if got != want {
		t.Errorf("ddl:\n got %s\nwant %s", got, want)
	}
}

// TestTPCHChildCrash checks that a query process that dies costs only the
// query it was running, and that an engine that cannot even open fails
// every query with its error instead of looping.
func TestTPCHChildCrash(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "duck.db")
	e, err := openDuck(path, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range tpchTables {
		if _, err := e.Exec(context.Background(), tpchTables[i].ddl()); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	o := &options{Threads: 1, Runs: 1, QueryTimeout: time.Minute, ChildTimeout: time.Minute}
	pr := newProgress(os.Stderr, true)

	t.Setenv(crashEnv, "3")
	pres := &processResult{}
	got := runTPCHChildren(context.Background(), o, engineDuck, path, []int{1, 2, 3, 4}, pres, pr)
	if len(got) != 4 {
		t.Fatalf("got %d results, want 4: %+v", len(got), got)
	}
	for i, q := range got {
		if q.Query != i+1 {
			t.Errorf("result %d is for Q%d", i, q.Query)
		}
		if failed := q.Error != ""; failed != (q.Query == 3) {
			t.Errorf("Q%d: error %q", q.Query, q.Error)
		}
	}
	if !strings.Contains(pres.Error, "Q3") {
		t.Errorf("process error %q does not name Q3", pres.Error)
	}

	t.Setenv(crashEnv, "")
	pres = &processResult{}
	got = runTPCHChildren(context.Background(), o, "nosuchengine", path, []int{1, 2, 3, 4, 5}, pres, pr)
	if len(got) != 5 {
		t.Fatalf("got %d results, want 5", len(got))
	}
	for _, q := range got {
		if !strings.Contains(q.Error, "unknown engine") {
			t.Errorf("Q%d: error %q, want the open error", q.Query, q.Error)
		}
	}
}
