package mantisdb

import (
	"context"
	"fmt"
	"testing"

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
