package mantisdb_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// TestQueryMemory checks Options.QueryMemory: a statement whose operators
// hold more fails with 53200 and the database goes on serving; a budget in
// the caller's context takes the option's place.
func TestQueryMemory(t *testing.T) {
	// Sorts do not spill here: TestSortSpills.
	db, err := mantisdb.Open(t.TempDir(), &mantisdb.Options{QueryMemory: 256 << 10, SpillDir: "-"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	exec(t, db, "create table t (id bigint primary key, s varchar)")
	for lo := 0; lo < 4000; lo += 1000 {
		var vals []string
		for i := lo; i < lo+1000; i++ {
			vals = append(vals, fmt.Sprintf("(%d, '%0100d')", i, i))
		}
		exec(t, db, "insert into t values "+strings.Join(vals, ", "))
	}
	const big = "select id % 3, string_agg(s, ',') from t group by id % 3"
	for _, q := range []string{big, "select * from t order by s desc"} {
		if err := drainQuery(ctx, db, q); sqlstate.CodeOf(err) != sqlstate.OutOfMemory {
			t.Errorf("%s: err = %v, want 53200", q, err)
		}
	}
	if err := drainQuery(ctx, db, "select count(*), max(s) from t"); err != nil {
		t.Fatalf("after a statement over its budget: %v", err)
	}
	if err := drainQuery(arrowexec.WithBudget(ctx, arrowexec.NewBudget(0)), db, big); err != nil {
		t.Fatalf("with an unlimited budget from the caller: %v", err)
	}
}

// drainQuery runs q and reads all its rows.
func drainQuery(ctx context.Context, db *mantisdb.DB, q string) error {
	rows, err := db.Query(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
	}
	return rows.Err()
}

// TestTotalQueryMemory checks Options.TotalQueryMemory: statements that
// each fit their own budget fail with 53200 when together they would hold
// more, and the memory comes back when they end (the metric).
func TestTotalQueryMemory(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	const sorted = "select * from t order by s desc"
	// The memory one sort holds, with a budget of the caller's.
	db := open(t, dir)
	exec(t, db, "create table t (id bigint primary key, s varchar)")
	var vals []string
	for i := 0; i < 4000; i++ {
		vals = append(vals, fmt.Sprintf("(%d, '%0100d')", i, i))
	}
	exec(t, db, "insert into t values "+strings.Join(vals, ", "))
	b := arrowexec.NewBudget(0)
	if err := drainQuery(arrowexec.WithBudget(ctx, b), db, sorted); err != nil || b.Peak() == 0 {
		t.Fatalf("sort: peak %d, %v", b.Peak(), err)
	}
	peak := b.Peak()
	db.Close()

	// One sort fits the total, and a sorted one holds over a fifth of its
	// peak while its rows are read.
	db, err := mantisdb.Open(dir, &mantisdb.Options{QueryMemory: 2 * peak, TotalQueryMemory: peak * 6 / 5, SpillDir: "-"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	held, err := db.Query(ctx, sorted)
	if err != nil {
		t.Fatal(err)
	}
	if !held.Next() {
		t.Fatalf("first sort: %v", held.Err())
	}
	if used := queryMemoryMetric(t, db); used < float64(peak)/4 {
		t.Errorf("mantis_query_memory_bytes = %v while a sort of %d bytes runs", used, peak)
	}
	err = drainQuery(ctx, db, sorted)
	if e := sqlstate.From(err); e == nil || e.Code != sqlstate.OutOfMemory || !strings.Contains(e.Message, "server's query memory") {
		t.Errorf("second sort beside the first: %v, want 53200 for the server's query memory", err)
	}
	held.Close()
	if err := drainQuery(ctx, db, sorted); err != nil {
		t.Errorf("sort after the first ended: %v", err)
	}
	if used := queryMemoryMetric(t, db); used != 0 {
		t.Errorf("mantis_query_memory_bytes = %v after the statements ended", used)
	}
}

// queryMemoryMetric reads mantis_query_memory_bytes from db's registry.
func queryMemoryMetric(t *testing.T, db *mantisdb.DB) float64 {
	t.Helper()
	mfs, err := db.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "mantis_query_memory_bytes" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no mantis_query_memory_bytes")
	return 0
}

// TestSortSpills: with a spill directory (by default the data directory's
// tmp) an ORDER BY of more rows than its statement's budget holds sorts
// through runs on disk and answers as an unlimited one does; the directory
// is empty afterwards.
func TestSortSpills(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db := open(t, dir)
	exec(t, db, "create table t (id bigint primary key, v varchar)")
	// About 4 MB of rows, in batches of 8192 (160 KB each).
	ingestRecords(t, db, "t", kvRecord(memory.DefaultAllocator, idRange(0, 200_000), func(id int64) bool { return id%17 == 0 }))
	const q = "select id, v from t order by v desc nulls first, id % 7"
	want := render(query(t, db, q))
	db.Close()

	db, err := mantisdb.Open(dir, &mantisdb.Options{QueryMemory: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := render(query(t, db, q)); got != want {
		t.Errorf("spilled sort differs from the unlimited one")
	}
	if plan := render(query(t, db, "explain analyze "+q)); !strings.Contains(plan, " spilled=") {
		t.Errorf("EXPLAIN ANALYZE shows no spill:\n%s", plan)
	}
	if ents, err := os.ReadDir(filepath.Join(dir, "tmp")); err != nil || len(ents) != 0 {
		t.Errorf("spill directory: %d files, %v", len(ents), err)
	}
	db.Close()
	// Without spilling, the same budget does not hold the sort.
	db, err = mantisdb.Open(dir, &mantisdb.Options{QueryMemory: 1 << 20, SpillDir: "-"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := drainQuery(ctx, db, q); sqlstate.CodeOf(err) != sqlstate.OutOfMemory {
		t.Errorf("without a spill directory: %v, want 53200", err)
	}
}
