package mantisdb_test

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/segments"
)

// explain returns the lines of an EXPLAIN [ANALYZE] as one string.
func explain(t *testing.T, db queryer, sql string) string {
	t.Helper()
	rows, err := db.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	if f := rows.Schema().Fields(); len(f) != 1 || f[0].Name != "plan" {
		t.Fatalf("%s: schema %v", sql, rows.Schema())
	}
	var b strings.Builder
	for rows.Next() {
		rec := rows.Record()
		for i := 0; i < int(rec.NumRows()); i++ {
			b.WriteString(rec.Column(0).ValueStr(i))
			b.WriteByte('\n')
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return b.String()
}

var (
	scanLineRE = regexp.MustCompile(`scan: row store rows=(\d+) segments=(\d+) \(skipped (\d+)\) row groups read=(\d+) of (\d+), pruned by zone maps=(\d+) bloom filters=(\d+) bitmaps=(\d+) key ranges=(\d+)`)
	actualRE   = regexp.MustCompile(`actual rows=(\d+) batches=\d+ time=\S+`)
)

// scanCounts returns the numbers of the first scan line of an EXPLAIN
// ANALYZE: row-store rows, segments, skipped segments, row groups read and
// total, pruned by zone maps, bloom filters, bitmaps and key ranges.
func scanCounts(t *testing.T, plan string) []int {
	t.Helper()
	m := scanLineRE.FindStringSubmatch(plan)
	if m == nil {
		t.Fatalf("no scan line in\n%s", plan)
	}
	out := make([]int, len(m)-1)
	for i, s := range m[1:] {
		out[i], _ = strconv.Atoi(s)
	}
	return out
}

// TestExplainAnalyzePruning: a selective predicate on the sort key of a
// compacted table reads at most 2 row groups, and EXPLAIN ANALYZE says so.
func TestExplainAnalyzePruning(t *testing.T) {
	db := manual(t, t.TempDir()) // row groups of 64 rows
	defer db.Close()
	exec(t, db, "create table t (k bigint primary key, v bigint, s varchar)")
	insertRange(t, db, 0, 2000)
	compact(t, db, "t")
	insertRange(t, db, 2000, 2005)

	for _, c := range []struct {
		name, sql string
		rows      int
		// read is the most row groups read; pruned the column of
		// scanCounts that must account for the others.
		read, pruned int
	}{
		{"range", "explain analyze select k, v from t where k between 700 and 760", 61, 2, 5},
		{"point", "explain analyze select * from t where k = 1234", 1, 1, 8},
		{"in", "explain analyze select k from t where k in (5, 6, 1999)", 3, 2, 8},
		{"no match", "explain analyze select k from t where k > 5000", 0, 0, 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			plan := explain(t, db, c.sql)
			n := scanCounts(t, plan)
			read, total := n[3], n[4]
			if total != 32 || read > c.read || n[c.pruned] != total-read || n[1] != 1 {
				t.Errorf("scan counts %v, want at most %d of 32 row groups read, the rest in column %d:\n%s", n, c.read, c.pruned, plan)
			}
			m := actualRE.FindStringSubmatch(plan)
			if m == nil || m[1] != strconv.Itoa(c.rows) {
				t.Errorf("want %d rows at the top:\n%s", c.rows, plan)
			}
			if !strings.Contains(plan, "Execution: rows="+strconv.Itoa(c.rows)+" ") {
				t.Errorf("no execution line with %d rows:\n%s", c.rows, plan)
			}
		})
	}

	// A full scan reads every row group and the row store.
	plan := explain(t, db, "explain analyze select count(*), sum(v) from t")
	if n := scanCounts(t, plan); n[0] != 5 || n[3] != 32 || n[4] != 32 {
		t.Errorf("full scan counts %v:\n%s", n, plan)
	}
	// A blocking operator reports its memory.
	plan = explain(t, db, "explain analyze select s, count(*) from t group by s order by 2 desc, 1 limit 3")
	if !strings.Contains(plan, "peak memory=") || !strings.Contains(plan, "TopN") {
		t.Errorf("no peak memory:\n%s", plan)
	}
}

func TestExplain(t *testing.T) {
	db := manual(t, t.TempDir())
	defer db.Close()
	ctx := context.Background()
	exec(t, db, "create table t (k bigint primary key, v bigint, s varchar)")
	insertRange(t, db, 0, 10)

	// EXPLAIN shows the plan without running it.
	plan := explain(t, db, "explain select v from t where k = 3")
	if !strings.Contains(plan, "Filter") || !strings.Contains(plan, "Scan t") || strings.Contains(plan, "actual") {
		t.Errorf("EXPLAIN:\n%s", plan)
	}
	plan = explain(t, db, "explain delete from t where k = 3")
	if !strings.HasPrefix(plan, "DELETE t\n") {
		t.Errorf("EXPLAIN DELETE:\n%s", plan)
	}
	if got := render(query(t, db, "select count(*) from t")); got != "10\n" {
		t.Errorf("EXPLAIN DELETE deleted: %s", got)
	}
	// The spellings rewritten before parsing (NULLS FIRST/LAST, ILIKE)
	// and typed literals work under EXPLAIN too.
	for _, q := range []string{
		"select k from t order by s desc nulls first, v nulls last",
		"select k from t where s ilike 'A%' and s not ilike 'b%'",
		"select k from t where date '2024-01-02' > date '2023-12-31'",
	} {
		plan := explain(t, db, "explain analyze "+q)
		if !strings.Contains(plan, "actual rows=") {
			t.Errorf("EXPLAIN ANALYZE %s:\n%s", q, plan)
		}
	}
	// Exec of an EXPLAIN runs like a query.
	if _, err := db.Exec(ctx, "explain analyze select * from t"); err != nil {
		t.Error(err)
	}
	// EXPLAIN ANALYZE in a transaction sees its writes.
	tx := begin(t, db)
	txExec(t, tx, "insert into t values (100, 1, 'x')")
	plan = explain(t, tx, "explain analyze select * from t")
	if n := scanCounts(t, plan); n[0] != 11 {
		t.Errorf("EXPLAIN ANALYZE in a transaction: %v\n%s", n, plan)
	}
	tx.Rollback()
	// System tables explain like any table.
	plan = explain(t, db, "explain analyze select table_name from system.tables")
	if !strings.Contains(plan, "Scan tables") || !strings.Contains(plan, "actual rows=1 ") {
		t.Errorf("EXPLAIN ANALYZE of system.tables:\n%s", plan)
	}

	for _, c := range []struct {
		sql  string
		code sqlstate.Code
	}{
		// The grammar has EXPLAIN ANALYZE of SELECT only.
		{"explain analyze delete from t", sqlstate.SyntaxError},
		{"explain analyze insert into t values (1000, 1, 'a')", sqlstate.SyntaxError},
		{"explain select * from nope", sqlstate.UndefinedTable},
		{"explain analyze select k / 0 from t", sqlstate.DivisionByZero},
	} {
		_, err := db.Query(ctx, c.sql)
		if sqlstate.CodeOf(err) != c.code {
			t.Errorf("%s: error %v, want code %s", c.sql, err, c.code)
		}
	}
	if got := render(query(t, db, "select count(*) from t")); got != "10\n" {
		t.Errorf("rows after refused EXPLAIN ANALYZE writes: %s", got)
	}
}

// TestExplainAnalyzeParallel: the partitions of a parallel scan (a table
// of more than two partitions' worth of segment rows) add up to the
// table's segment and row groups, each counted once.
func TestExplainAnalyzeParallel(t *testing.T) {
	db, err := mantisdb.Open(t.TempDir(), &mantisdb.Options{CompactInterval: -1,
		Segment: &segments.WriterOptions{RowGroupSize: 8192}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec(t, db, "create table t (k bigint primary key, v bigint)")
	const n = 200_000
	sch := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}, {Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
	defer b.Release()
	for i := 0; i < n; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.Int64Builder).Append(int64(i))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	rdr, err := array.NewRecordReader(sch, []arrow.RecordBatch{rec})
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Release()
	if _, err := db.Ingest(context.Background(), "t", rdr); err != nil {
		t.Fatal(err)
	}
	compact(t, db, "t")
	plan := explain(t, db, "explain analyze select count(*), sum(v) from t")
	if c := scanCounts(t, plan); c[1] != 1 || c[3] != 25 || c[4] != 25 {
		t.Errorf("scan counts %v, want 1 segment and 25 of 25 row groups:\n%s", c, plan)
	}
	if !strings.Contains(plan, "segment rows=200000") || !strings.Contains(plan, "actual rows=200000 ") {
		t.Errorf("want 200000 rows scanned:\n%s", plan)
	}
	// The partitions prune with the filter above them: v > 150000 is in
	// the last 7 of the 25 row groups of 8192 rows.
	plan = explain(t, db, "explain analyze select count(*), sum(v) from t where v > 150000")
	if c := scanCounts(t, plan); c[1] != 1 || c[3] > 7 || c[4] != 25 || c[5] != 25-c[3] {
		t.Errorf("filtered scan counts %v, want at most 7 of 25 row groups read, the others pruned by zone maps:\n%s", c, plan)
	}
	for _, c := range []struct{ sql, want string }{
		{"select count(*), sum(v) from t where v > 150000", "49999|8749825000\n"},
		{"select count(*), sum(k) from t where v in (5, 100000, 199999)", "3|300004\n"},
		{"select count(*) from t where v % 2 = 0 and v < 1000 and k >= 10", "495\n"},
		{"select count(*) from t where v is null or v < 0", "0\n"},
	} {
		if got := render(query(t, db, c.sql)); got != c.want {
			t.Errorf("%s: %q, want %q", c.sql, got, c.want)
		}
	}
}
