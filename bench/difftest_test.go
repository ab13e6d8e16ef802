package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/big"
	"math/rand/v2"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb"
)

var (
	dtSeed = flag.Uint64("difftest.seed", dtDefaultSeed, "seed of the differential test's data and queries (0: a new one, printed)")
	dtN    = flag.Int("difftest.n", 10000, "number of queries of the differential test")
	dtOnly = flag.Int("difftest.only", -1, "run only query number i of the seed (as printed with a mismatch)")
	dtShow = flag.Bool("difftest.v", false, "log every query of the differential test")
)

// dtDefaultSeed keeps `go test` repeatable; -difftest.seed=0 explores a new
// seed each run.
const dtDefaultSeed = 20261126

// TestDiff is the differential test: random queries (difftest.go) over the
// same rows in MantisDB and DuckDB must return the same rows. MantisDB gets
// its rows through DB.Ingest in two batches per table; depending on the
// seed a table stays in the row store, is compacted after the first batch
// (mixed) or after both (segments), and then has rows deleted and updated.
// Query i of a run is generated from (seed, i) alone, so -difftest.only
// reruns one query of a failed run.
func TestDiff(t *testing.T) {
	seed := *dtSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("difftest seed %d (rerun with -difftest.seed=%d)", seed, seed)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(seed, 0))
	batch := []int{3, 7, 1024, 0}[r.IntN(4)]
	mdb, err := mantisdb.Open(t.TempDir(), &mantisdb.Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BatchSize: batch, CompactInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer mdb.Close()
	duck, err := openDuck("", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer duck.Close()
	m := &mantisEngine{db: mdb}
	modes := dtLoad(t, ctx, r, m, duck)
	t.Logf("mantisdb batch size %d, tables: %v", batch, modes)

	var (
		stats    = map[string][2]int{} // kind -> queries, both failed
		bad      int
		bothErrs int
		skipped  int
		start    = time.Now()
	)
	for i := range *dtN {
		if *dtOnly >= 0 && i != *dtOnly {
			continue
		}
		g := &dtGen{r: rand.New(rand.NewPCG(seed, uint64(i)+1))}
		q := g.Query()
		if *dtShow {
			t.Logf("#%d %s", i, q.sql)
		}
		mText := strings.ReplaceAll(q.sql, dtIntDiv, "/")
		dText := strings.ReplaceAll(q.sql, dtIntDiv, "//")
		// A query that hangs is a mismatch, not the end of the run.
		qctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		want, derr := duck.queryTyped(qctx, dText)
		var got [][]value
		var merr error
		if *dtOnly >= 0 {
			// A panic keeps its stack trace when one query is rerun.
			got, merr = m.queryTypedNoRecover(qctx, mText)
		} else {
			got, merr = m.queryTyped(qctx, mText)
		}
		cancel()
		st := stats[q.kind]
		st[0]++
		msg := ""
		switch {
		case derr != nil && merr != nil:
			dc, mc := duckClass(derr), mantisCode(merr)
			if dc != mc {
				msg = fmt.Sprintf("both fail, differently:\n  mantisdb: %v\n  duckdb:   %v", merr, derr)
			}
			st[1]++
			bothErrs++
		case derr != nil && duckCannot(derr):
			// A DuckDB limitation (a cast or type it does not implement for
			// a construct MantisDB answers): counted, not compared.
			skipped++
			if *dtShow {
				t.Logf("#%d skipped: duckdb: %v", i, derr)
			}
		case derr != nil:
			msg = fmt.Sprintf("only duckdb fails: %v\n  mantisdb rows: %v", derr, head(got))
		case merr != nil:
			msg = fmt.Sprintf("only mantisdb fails: %v\n  duckdb rows: %v", merr, head(want))
		default:
			msg = dtCompare(want, got, q)
		}
		stats[q.kind] = st
		if msg != "" {
			bad++
			if bad <= 20 {
				t.Errorf("query #%d (-difftest.seed=%d -difftest.only=%d) mismatch:\n%s\n%s", i, seed, i, mText, msg)
			}
		}
	}
	kinds := make([]string, 0, len(stats))
	for k := range stats {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var sb strings.Builder
	for _, k := range kinds {
		fmt.Fprintf(&sb, " %s=%d", k, stats[k][0])
	}
	t.Logf("%d queries in %v, %d mismatches, %d failed the same way on both, %d not answered by duckdb; by kind:%s",
		*dtN, time.Since(start).Round(time.Millisecond), bad, bothErrs, skipped, sb.String())
	if bad > 0 {
		t.Errorf("%d of %d queries differ (seed %d)", bad, *dtN, seed)
	}
	if skipped > *dtN/100 {
		t.Errorf("%d of %d queries not answered by duckdb: the generator writes too much it cannot run", skipped, *dtN)
	}
}

func head(rows [][]value) string {
	if len(rows) > 3 {
		return fmt.Sprintf("%v ... (%d rows)", rows[:3], len(rows))
	}
	return fmt.Sprint(rows)
}

var mantisCodeRE = regexp.MustCompile(`^([0-9A-Z]{5}): `)

// mantisCode returns the SQLSTATE of a MantisDB error ("CODE: message").
func mantisCode(err error) string {
	if m := mantisCodeRE.FindStringSubmatch(err.Error()); m != nil {
		return m[1]
	}
	return "?" + err.Error()
}

// duckClass maps a DuckDB error to the SQLSTATE MantisDB uses for the same
// condition, or to "duckdb: <message>" when there is none (never a match).
func duckClass(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "Out of Range Error"), strings.Contains(s, "Conversion Error") && strings.Contains(s, "out of range"):
		return "22003"
	case strings.Contains(s, "Division by zero"), strings.Contains(s, "division by zero"):
		return "22012"
	case strings.Contains(s, "More than one row returned by a subquery"):
		return "21000"
	case strings.Contains(s, "Conversion Error"):
		return "22P02"
	}
	return "duckdb: " + s
}

// duckCannot reports whether err is DuckDB declining a construct it does
// not implement (rather than a verdict on the query).
func duckCannot(err error) bool {
	s := err.Error()
	return strings.Contains(s, "Unimplemented type for cast") || strings.Contains(s, "Not implemented Error")
}

// dtCompare compares a query's rows, want from DuckDB and got from
// MantisDB, and returns "" when they match. Values match when both are NULL,
// both the same text (strings, dates, booleans), or both numbers: exact
// numbers (integers and decimals of any scale) equal, and a double within
// 1e-6 relative (plus half a unit of a decimal's last digit) of the other
// side. Rows compare as a multiset, or in order of the query's ORDER BY
// keys with ties as multisets; a LIMIT that cuts through ties is compared
// on the keys only at its edges.
func dtCompare(want, got [][]value, q dtQuery) string {
	if len(want) != len(got) {
		return fmt.Sprintf("%d rows, want %d%s", len(got), len(want), firstRows(want, got))
	}
	for i := range want {
		if len(want[i]) != len(got[i]) {
			return fmt.Sprintf("row %d: %d columns, want %d", i+1, len(got[i]), len(want[i]))
		}
	}
	if q.orderKeys == nil {
		return dtMultiset(want, got, 0)
	}
	keysOnly := func(a, b []value) bool {
		for _, k := range q.orderKeys {
			if !dtCellsMatch(a[k], b[k]) {
				return false
			}
		}
		return true
	}
	for i := range want {
		if !keysOnly(want[i], got[i]) {
			return fmt.Sprintf("row %d: order keys differ\n  got  %v\n  want %v", i+1, got[i], want[i])
		}
	}
	for s := 0; s < len(want); {
		e := s + 1
		for e < len(want) && keysOnly(want[s], want[e]) {
			e++
		}
		// A group at an edge of a LIMIT/OFFSET may hold other tying rows.
		edge := q.limited && (s == 0 || e == len(want))
		if !edge {
			if d := dtMultiset(want[s:e], got[s:e], s); d != "" {
				return d
			}
		}
		s = e
	}
	return ""
}

// dtMultiset compares two lists of rows of equal length as multisets:
// both sorted the same way and compared pairwise, and when that fails
// (values equal within the tolerance may sort apart) matched one to one.
// offset numbers the rows in the message.
func dtMultiset(want, got [][]value, offset int) string {
	w, g := slices.Clone(want), slices.Clone(got)
	slices.SortFunc(w, dtRowCmp)
	slices.SortFunc(g, dtRowCmp)
	first := -1
	for i := range w {
		if !dtRowsMatch(w[i], g[i]) {
			first = i
			break
		}
	}
	if first < 0 {
		return ""
	}
	if len(w) <= 5000 {
		used := make([]bool, len(g))
		unmatched := -1
		for i := range w {
			found := false
			for j := range g {
				if !used[j] && dtRowsMatch(w[i], g[j]) {
					used[j], found = true, true
					break
				}
			}
			if !found {
				unmatched = i
				break
			}
		}
		if unmatched < 0 {
			return ""
		}
		first = unmatched
	}
	return fmt.Sprintf("rows %d..%d as a multiset: no match for\n  want %v\n  (nearest got %v)", offset+1, offset+len(want), w[first], g[first])
}

func dtRowsMatch(w, g []value) bool {
	for j := range w {
		if !dtCellsMatch(w[j], g[j]) {
			return false
		}
	}
	return true
}

// dtRowCmp orders rows cell by cell: NULL, then numbers by value, then
// text.
func dtRowCmp(a, b []value) int {
	for j := range a {
		if c := dtCellCmp(a[j], b[j]); c != 0 {
			return c
		}
	}
	return 0
}

func dtCellCmp(a, b value) int {
	rank := func(v value) int {
		switch v.kind {
		case cellNull:
			return 0
		case cellText:
			return 2
		}
		return 1
	}
	if ra, rb := rank(a), rank(b); ra != rb {
		return ra - rb
	}
	switch a.kind {
	case cellNull:
		return 0
	case cellText:
		return strings.Compare(a.text, b.text)
	}
	if a.kind == cellExact && b.kind == cellExact {
		return a.exact.Cmp(b.exact)
	}
	fa, fb := a.float(), b.float()
	switch {
	case fa < fb:
		return -1
	case fa > fb:
		return 1
	}
	return 0
}

func dtCellsMatch(w, g value) bool {
	if w.kind == cellNull || g.kind == cellNull {
		return w.kind == g.kind
	}
	if w.kind == cellText || g.kind == cellText {
		return w.kind == g.kind && w.text == g.text
	}
	if w.kind == cellExact && g.kind == cellExact {
		return w.exact.Cmp(g.exact) == 0
	}
	slack := 1e-9
	if w.kind == cellExact {
		slack += halfUnit(w.scale)
	}
	if g.kind == cellExact {
		slack += halfUnit(g.scale)
	}
	a, b := w.float(), g.float()
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	d := math.Abs(a - b)
	return d <= slack || d <= 1e-6*math.Max(math.Abs(a), math.Abs(b))
}

// dtRow is one generated row: values by column, nil for NULL.
type dtRow []any

// dtData returns the rows of the tables: t1..t3 with NULLs, duplicates,
// empty strings, negative numbers, month and year boundaries; t4 empty.
func dtData(r *rand.Rand) map[string][]dtRow {
	null := func(pct int, v any) any {
		if r.IntN(100) < pct {
			return nil
		}
		return v
	}
	strs := []string{"", "a", "ab", "abc", "B", "b", "x y", " a", "Zz", "a%c", "upd"}
	k := func() any { return null(12, int64(r.IntN(9)-2)) }
	i := func() any {
		switch r.IntN(10) {
		case 0:
			return null(0, int64(r.IntN(2_000_001)-1_000_000))
		case 1:
			return nil
		}
		return int64(r.IntN(101) - 50)
	}
	d := func() any { return null(10, int64(r.IntN(20001)-10000)) } // unscaled, scale 2
	f := func() any {
		switch r.IntN(10) {
		case 0:
			return nil
		case 1:
			return float64(r.IntN(1000)) / 10
		}
		return float64(r.IntN(161)-80) / 4
	}
	s := func() any { return null(10, strs[r.IntN(len(strs))]) }
	base := time.Date(2023, 12, 20, 0, 0, 0, 0, time.UTC)
	dt := func() any { return null(10, base.AddDate(0, 0, r.IntN(90))) }
	b := func() any { return null(15, r.IntN(2) == 0) }
	out := map[string][]dtRow{}
	for id := int64(1); id <= 48; id++ {
		out["t1"] = append(out["t1"], dtRow{id, k(), i(), d(), f(), s(), dt(), b()})
	}
	for id := int64(1); id <= 36; id++ {
		out["t2"] = append(out["t2"], dtRow{id * 2, k(), i(), d(), s(), dt()})
	}
	for range 12 {
		row := dtRow{k(), i(), s(), b()}
		out["t3"] = append(out["t3"], row)
		if r.IntN(3) == 0 {
			out["t3"] = append(out["t3"], slices.Clone(row)) // duplicates
		}
	}
	return out
}

// dtRecord builds an Arrow record of rows for the table's schema.
func dtRecord(mem memory.Allocator, schema *arrow.Schema, rows []dtRow) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for _, row := range rows {
		for c, v := range row {
			fb := b.Field(c)
			if v == nil {
				fb.AppendNull()
				continue
			}
			switch fb := fb.(type) {
			case *array.Int64Builder:
				fb.Append(v.(int64))
			case *array.Int32Builder:
				fb.Append(int32(v.(int64)))
			case *array.Decimal128Builder:
				fb.Append(decimal128.FromI64(v.(int64)))
			case *array.Float64Builder:
				fb.Append(v.(float64))
			case *array.StringBuilder:
				fb.Append(v.(string))
			case *array.Date32Builder:
				fb.Append(arrow.Date32FromTime(v.(time.Time)))
			case *array.BooleanBuilder:
				fb.Append(v.(bool))
			}
		}
	}
	return b.NewRecordBatch()
}

// dtLoad creates and fills the tables in both engines and returns where
// each MantisDB table keeps its rows.
func dtLoad(t *testing.T, ctx context.Context, r *rand.Rand, m *mantisEngine, duck *duckEngine) map[string]string {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, ddl := range dtDDL {
		if _, err := m.Exec(ctx, ddl); err != nil {
			t.Fatalf("mantisdb: %s: %v", ddl, err)
		}
		if _, err := duck.Exec(ctx, ddl); err != nil {
			t.Fatalf("duckdb: %s: %v", ddl, err)
		}
	}
	data := dtData(r)
	modes := map[string]string{}
	for _, tbl := range dtTables {
		rows := data[tbl.name]
		if len(rows) == 0 {
			continue
		}
		def, _ := m.db.Table(tbl.name)
		schema := def.Schema()
		mode := []string{"rowstore", "mixed", "segments"}[r.IntN(3)]
		modes[tbl.name] = mode
		half := len(rows) / 2
		for part, rs := range [][]dtRow{rows[:half], rows[half:]} {
			rec := dtRecord(mem, schema, rs)
			if err := m.Load(ctx, tbl.name, rec); err != nil {
				t.Fatalf("mantisdb ingest %s: %v", tbl.name, err)
			}
			if err := duck.Load(ctx, tbl.name, rec); err != nil {
				t.Fatalf("duckdb load %s: %v", tbl.name, err)
			}
			rec.Release()
			if (part == 0 && mode == "mixed") || (part == 1 && mode == "segments") {
				if _, err := m.db.Compact(ctx, tbl.name); err != nil {
					t.Fatalf("compact %s: %v", tbl.name, err)
				}
			}
		}
	}
	for _, a := range duck.appenders {
		if err := a.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range dtWrites {
		if _, err := m.Exec(ctx, w); err != nil {
			t.Fatalf("mantisdb: %s: %v", w, err)
		}
		if _, err := duck.Exec(ctx, w); err != nil {
			t.Fatalf("duckdb: %s: %v", w, err)
		}
	}
	return modes
}

// TestDiffCompare checks the result comparison of the differential test.
func TestDiffCompare(t *testing.T) {
	i := func(v int64) value { return intCell(v) }
	dec := func(unscaled int64, scale int) value { return exactCell(big.NewInt(unscaled), scale) }
	f := func(v float64) value { return value{kind: cellFloat, f: v} }
	s := func(v string) value { return value{kind: cellText, text: v} }
	null := value{}
	for _, tc := range []struct {
		name       string
		want, got  [][]value
		q          dtQuery
		wantsMatch bool
	}{
		{"multiset", [][]value{{i(1)}, {i(2)}}, [][]value{{i(2)}, {i(1)}}, dtQuery{}, true},
		{"multiset counts", [][]value{{i(1)}, {i(1)}, {i(2)}}, [][]value{{i(1)}, {i(2)}, {i(2)}}, dtQuery{}, false},
		{"decimal scale", [][]value{{dec(150, 2)}}, [][]value{{dec(15, 1)}}, dtQuery{}, true},
		{"decimal value", [][]value{{dec(150, 2)}}, [][]value{{dec(151, 2)}}, dtQuery{}, false},
		{"null equals null", [][]value{{null}}, [][]value{{null}}, dtQuery{}, true},
		{"null is not zero", [][]value{{null}}, [][]value{{i(0)}}, dtQuery{}, false},
		{"null is not empty", [][]value{{s("")}}, [][]value{{null}}, dtQuery{}, false},
		{"float tolerance", [][]value{{f(0.1 + 0.2)}}, [][]value{{f(0.3)}}, dtQuery{}, true},
		{"float differs", [][]value{{f(1)}}, [][]value{{f(1.001)}}, dtQuery{}, false},
		{"decimal quotient vs double", [][]value{{f(1.0 / 3)}}, [][]value{{dec(333333, 6)}}, dtQuery{}, true},
		{"order", [][]value{{i(1)}, {i(2)}}, [][]value{{i(2)}, {i(1)}}, dtQuery{orderKeys: []int{0}}, false},
		{"ties any order", [][]value{{i(1), s("a")}, {i(1), s("b")}}, [][]value{{i(1), s("b")}, {i(1), s("a")}}, dtQuery{orderKeys: []int{0}}, true},
		{"limit cuts ties", [][]value{{i(1), s("a")}}, [][]value{{i(1), s("b")}}, dtQuery{orderKeys: []int{0}, limited: true}, true},
		{"limit keys", [][]value{{i(1), s("a")}}, [][]value{{i(2), s("a")}}, dtQuery{orderKeys: []int{0}, limited: true}, false},
		{"row count", [][]value{{i(1)}}, nil, dtQuery{}, false},
	} {
		got := dtCompare(tc.want, tc.got, tc.q) == ""
		if got != tc.wantsMatch {
			t.Errorf("%s: match %v, want %v", tc.name, got, tc.wantsMatch)
		}
	}
}
