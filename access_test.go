package mantisdb_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/segments"
)

// TestKeyRangeAccess: queries and writes served by primary-key ranges
// (planner.KeyRangeScanner) see the same rows as full scans, with the rows
// spread over the row store and two segments, in and out of transactions.
func TestKeyRangeAccess(t *testing.T) {
	ctx := context.Background()
	db, err := mantisdb.Open(t.TempDir(), &mantisdb.Options{CompactInterval: -1,
		Segment: &segments.WriterOptions{RowGroupSize: 64}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec(t, db, "create table t (a int, b varchar, v bigint, primary key (a, b))")
	load := func(lo, hi int) {
		var sb strings.Builder
		sb.WriteString("insert into t values ")
		for i := lo; i < hi; i++ {
			if i > lo {
				sb.WriteString(", ")
			}
			fmt.Fprintf(&sb, "(%d, 'x%d', %d), (%d, 'y', %d)", i, i%7, i, i, -i)
		}
		exec(t, db, sb.String())
	}
	load(0, 300)
	if _, err := db.Compact(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	load(300, 600)
	if _, err := db.Compact(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	load(600, 700)
	// Writes by key through the key-range path: rows of segments (by
	// their segment row keys) and of the row store.
	exec(t, db, "update t set v = 1000 where a = 5 and b = 'y'")
	exec(t, db, "update t set v = 2000 where a in (350, 650)")
	exec(t, db, "delete from t where a = 7 and b = 'x0'")
	exec(t, db, "delete from t where a >= 598 and a < 602")

	conds := []string{
		"a = 5", "a = 5 and b = 'y'", "a = 5 and b = 'x5'", "a = 5 and b = 'nope'", "a = 7",
		"a in (1, 350, 650, 699, 1000)", "a in (350, 650) and b = 'y'", "a > 290 and a <= 310",
		"a >= 595 and a < 605", "a < 3", "a > 697", "a = 5 and b > 'x'", "a = -1", "a in (2, 3) and b < 'y'",
	}
	check := func(q func(string) [][]string) {
		t.Helper()
		for _, c := range conds {
			got := render(q("select a, b, v from t where " + c + " order by a, b"))
			// a + 0 defeats every pushdown: a full scan with a Filter.
			full := strings.ReplaceAll(strings.ReplaceAll(c, "a ", "a + 0 "), "b ", "b || '' ")
			want := render(q("select a, b, v from t where " + full + " order by a, b"))
			if got != want {
				t.Errorf("where %s:\n got %s\nwant %s", c, got, want)
			}
			if c == "a = 5 and b = 'y'" && got != render([][]string{{"5", "y", "1000"}}) {
				t.Errorf("where %s: %s", c, got)
			}
		}
	}
	check(func(sql string) [][]string { return query(t, db, sql) })

	// Inside a transaction that changed rows of every tier.
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, s := range []string{
		"delete from t where a = 5 and b = 'x5'",
		"update t set v = 3 where a = 350 and b = 'y'",
		"insert into t values (5, 'z', 55), (2000, 'y', 1)",
		"delete from t where a = 650",
	} {
		if _, err := tx.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	conds = append(conds, "a = 2000")
	check(func(sql string) [][]string {
		rows, err := tx.Query(ctx, sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		defer rows.Close()
		var out [][]string
		for rows.Next() {
			rec := rows.Record()
			for i := 0; i < int(rec.NumRows()); i++ {
				row := make([]string, rec.NumCols())
				for j, col := range rec.Columns() {
					row[j] = col.ValueStr(i)
				}
				out = append(out, row)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	})
}

// TestRuntimeFilterSparesDMLTargets: the scan of an UPDATE's or DELETE's
// target table carries row keys that number its segment rows by
// position, so a runtime filter from a join's build side must not drop
// its rows. Without that, `DELETE ... WHERE id IN (SELECT ...)` over a
// segment deleted the first rows of the segment instead of the ones
// asked for.
func TestRuntimeFilterSparesDMLTargets(t *testing.T) {
	ctx := context.Background()
	db := open(t, t.TempDir())
	defer db.Close()
	exec(t, db, "create table t (id bigint primary key, v varchar)")
	exec(t, db, "create table s (id bigint primary key)")
	ingestRecords(t, db, "t", kvRecord(memory.DefaultAllocator, idRange(1, 100_001), nil))
	if _, err := db.Compact(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	exec(t, db, "insert into s values (50000), (50001), (70000)")
	exec(t, db, "update t set v = 'upd' where id in (select id from s)")
	if got := render(query(t, db, "select id from t where v = 'upd' order by id")); got != "50000\n50001\n70000\n" {
		t.Fatalf("updated rows:\n%s", got)
	}
	exec(t, db, "delete from t where id in (select id from s)")
	if got := render(query(t, db, "select count(*), min(id), max(id) from t")); got != "99997|1|100000\n" {
		t.Fatalf("after the delete: %s", got)
	}
	if got := render(query(t, db, "select count(*) from t where id in (50000, 50001, 70000)")); got != "0\n" {
		t.Fatalf("deleted rows still there: %s", got)
	}
}

// TestScanRangeFilter: a segment scan tests the range its pushed
// conditions allow in one integer or DATE column before it decodes the
// other columns (rangeFilter); the answers are those of the row store,
// with NULLs, empty and one-sided ranges, and ranges on several columns.
func TestScanRangeFilter(t *testing.T) {
	// An INT column's conditions reach the scan as a cast of the BIGINT
	// literal, which the planner pushes when the value fits.
	for _, typ := range []string{"bigint", "int"} {
		t.Run(typ, func(t *testing.T) { testScanRangeFilter(t, typ) })
	}
}

func testScanRangeFilter(t *testing.T, typ string) {
	ctx := context.Background()
	db := open(t, t.TempDir())
	defer db.Close()
	exec(t, db, "create table t (id bigint primary key, v varchar, k "+typ+")")
	ingestRecords(t, db, "t", kvRecord(memory.DefaultAllocator, idRange(0, 200_000), func(id int64) bool { return id%7 == 0 }))
	// k takes 120K distinct values: too many for a bitmap index, so the
	// segment scan tests its range while it decodes (zone maps and
	// bitmaps would answer a column of few values before that).
	exec(t, db, "update t set k = id % 150001 where id % 5 <> 1")
	queries := []string{
		"select count(*), sum(k), count(v) from t where k >= 100000 and k < 120000",
		"select count(*), sum(k) from t where k = 7919",
		"select count(*) from t where k < 0",
		"select count(*), sum(k) from t where k > 149001",
		"select count(*), sum(k) from t where k <= 3000",
		"select count(*), min(id), max(id) from t where id >= 1000 and id <= 1999 and k > 100000",
		"select count(*) from t where k > 10 and k < 11",
		"select count(*), sum(id) from t where k <= 3000 or k is null",
	}
	var before []string
	for _, q := range queries {
		before = append(before, render(query(t, db, q)))
	}
	if _, err := db.Compact(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	for i, q := range queries {
		if got := render(query(t, db, q)); got != before[i] {
			t.Errorf("%s: segments answer %q, row store %q", q, got, before[i])
		}
	}
	// The targets of UPDATE and DELETE are never filtered (their rows
	// are keyed by position): the rows changed are the ones asked for.
	exec(t, db, "update t set v = 'upd' where k >= 100000 and k < 100100")
	if got := render(query(t, db, "select count(*), min(k), max(k) from t where v = 'upd'")); got != "80|100000|100099\n" {
		t.Errorf("updated: %s", got)
	}
	exec(t, db, "delete from t where k >= 100000 and k < 100100")
	if got := render(query(t, db, "select count(*) from t where v = 'upd' or k >= 100000 and k < 100100")); got != "0\n" {
		t.Errorf("after the delete: %s", got)
	}
	if got := render(query(t, db, "select count(*) from t")); got != "199920\n" {
		t.Errorf("rows left: %s", got)
	}
}
