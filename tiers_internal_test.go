package mantisdb

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mantisdb/mantisdb/segments"
)

// TestScanFilteredPrunes: a pushed-down predicate on the sort key skips
// the segment's other row groups; the row store is read whole.
func TestScanFilteredPrunes(t *testing.T) {
	ctx := context.Background()
	db, err := Open(t.TempDir(), &Options{CompactInterval: -1, Segment: &segments.WriterOptions{RowGroupSize: 100}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(ctx, "create table t (k bigint primary key, v bigint)"); err != nil {
		t.Fatal(err)
	}
	sql := "insert into t values (0, 0)"
	for i := 1; i < 1000; i++ {
		sql += fmt.Sprintf(", (%d, %d)", i, i)
	}
	if _, err := db.Exec(ctx, sql); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Compact(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, "insert into t values (5000, 1)"); err != nil {
		t.Fatal(err)
	}
	tbl, _ := db.Table("t")
	rv := db.snapshot()
	defer rv.close()
	for _, tc := range []struct {
		filter segments.Predicate
		want   int64
	}{
		{nil, 1001},
		// One row group of the segment at most, plus the row store's row.
		{segments.Predicate{{Column: "k", Op: segments.OpEq, Value: segments.Int64Value(555)}}, 101},
	} {
		src, err := scanProvider{&rv}.scanPruned(tbl, []int{0}, false, tc.filter, nil)(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		found := false
		for src.Next() {
			rec := src.Record()
			n += rec.NumRows()
			for i := 0; i < int(rec.NumRows()); i++ {
				found = found || rec.Column(0).ValueStr(i) == "555"
			}
		}
		if err := src.Err(); err != nil {
			t.Fatal(err)
		}
		src.Close()
		if n > tc.want || tc.filter == nil && n != tc.want || !found {
			t.Errorf("filter %v: %d rows (555 found: %v), want at most %d", tc.filter, n, found, tc.want)
		}
	}
}

// TestProbeHoldsSegments: a compaction installs its new segment before it
// waits for the table's S lock and removes it when the wait times out;
// the primary-key probe of a writer that found the segment meanwhile keeps
// it open until the probe ends (CI once failed an UPDATE with "reader
// closed" here).
func TestProbeHoldsSegments(t *testing.T) {
	ctx := context.Background()
	db, err := Open(t.TempDir(), &Options{CompactInterval: -1, CompactLockWait: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(ctx, "create table t (k bigint primary key, v bigint)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, "insert into t values (1, 1), (2, 2), (3, 3)"); err != nil {
		t.Fatal(err)
	}
	tbl, _ := db.Table("t")
	// An open writer holds t's IX lock, so the compaction's swap times out.
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(ctx, "insert into t values (10, 10)"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := db.Compact(ctx, "t")
		done <- err
	}()
	var hs []*segHandle
	var v *version
	for len(hs) == 0 {
		if v != nil {
			db.tiers.release(v)
		}
		select {
		case err := <-done:
			t.Fatalf("the compaction ended before its segment was installed: %v", err)
		default:
		}
		hs, v = db.tiers.current(tbl.ID)
		time.Sleep(time.Millisecond)
	}
	if err := <-done; err == nil {
		t.Fatal("the compaction committed while a writer held the table")
	}
	if cur, cv := db.tiers.current(tbl.ID); len(cur) != 0 {
		t.Errorf("the failed compaction left %d segments", len(cur))
		db.tiers.release(cv)
	} else {
		db.tiers.release(cv)
	}
	key := []segments.Value{segments.Int64Value(2)}
	if _, found, err := hs[0].r.Lookup(ctx, key, nil); err != nil || !found {
		t.Errorf("lookup in the removed segment while referenced: found %v, %v", found, err)
	}
	db.tiers.release(v)
	if _, _, err := hs[0].r.Lookup(ctx, key, nil); err == nil {
		t.Error("the removed segment is still open after its last reference")
	}
}
