package mantisdb

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/mantisdb/mantisdb/segments"
)

// TestScanPartitions: the partitions of a scan hold every row of the
// table exactly once (row store, two segments, deleted segment rows), with
// valid segment row keys.
func TestScanPartitions(t *testing.T) {
	ctx := context.Background()
	db, err := Open(t.TempDir(), &Options{CompactInterval: -1, Segment: &segments.WriterOptions{RowGroupSize: 10_000}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(ctx, "create table t (k bigint primary key, v bigint)"); err != nil {
		t.Fatal(err)
	}
	load := func(lo, hi int) {
		for i := lo; i < hi; i += 5000 {
			var sb strings.Builder
			sb.WriteString("insert into t values ")
			for j := i; j < i+5000; j++ {
				if j > i {
					sb.WriteString(", ")
				}
				fmt.Fprintf(&sb, "(%d, %d)", j, j)
			}
			if _, err := db.Exec(ctx, sb.String()); err != nil {
				t.Fatal(err)
			}
		}
	}
	load(0, 100_000)
	if _, err := db.Compact(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	load(100_000, 170_000)
	if _, err := db.Compact(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	load(170_000, 171_000)
	if _, err := db.Exec(ctx, "delete from t where k % 1000 = 7"); err != nil {
		t.Fatal(err)
	}
	tbl, _ := db.Table("t")
	rv := db.snapshot()
	defer rv.close()
	for _, n := range []int{1, 2, 3, 8} {
		opens := scanProvider{&rv}.ScanPartitions(tbl, []int{0}, true, n)
		if n == 1 && opens != nil {
			t.Fatalf("n=1: %d partitions", len(opens))
		}
		if n > 1 && len(opens) != 2 {
			// 170K segment rows make two partitions of at least 64K rows.
			t.Fatalf("n=%d: %d partitions", n, len(opens))
		}
		var keys []int64
		seen := map[string]bool{}
		for _, open := range opens {
			src, err := open(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for src.Next() {
				rec := src.Record()
				k, rk := rec.Column(0).(*array.Int64), rec.Column(1).(*array.Binary)
				for i := 0; i < k.Len(); i++ {
					keys = append(keys, k.Value(i))
					if seen[string(rk.Value(i))] {
						t.Fatalf("row key of %d twice", k.Value(i))
					}
					seen[string(rk.Value(i))] = true
				}
			}
			if err := src.Err(); err != nil {
				t.Fatal(err)
			}
			src.Close()
		}
		if opens == nil {
			continue
		}
		slices.Sort(keys)
		want := 0
		for k := 0; k < 175_000; k++ { // load writes whole chunks of 5000
			if k%1000 == 7 {
				continue
			}
			if want >= len(keys) || keys[want] != int64(k) {
				t.Fatalf("n=%d: row %d: got key %v, want %d", n, want, keys[min(want, len(keys)-1)], k)
			}
			want++
		}
		if want != len(keys) {
			t.Fatalf("n=%d: %d rows, want %d", n, len(keys), want)
		}
	}
	// The row keys work for writes: delete through a partitioned scan's
	// keys is what UPDATE/DELETE do; check one segment key round trip.
	if n, err := db.Exec(ctx, "delete from t where k = 150000"); err != nil || n != 1 {
		t.Fatalf("delete: %d, %v", n, err)
	}
}
