package mantisdb

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/mantisdb/mantisdb/oltp"
	"github.com/mantisdb/mantisdb/segments"
)

// TestPickMerge checks the merge policy on segment sizes: rewrites of
// segments with many deletes first, then size tiers.
func TestPickMerge(t *testing.T) {
	type seg struct{ rows, deleted int64 }
	db := &DB{impl{opts: Options{CompactRows: 100, MergeRows: 1600, MergeSegments: 4, MergeDeletedFraction: 0.3}}}
	for _, tc := range []struct {
		name string
		segs []seg // ids 1, 2, … in order
		want string
	}{
		{"none", nil, "[]"},
		{"too few", []seg{{100, 0}, {120, 0}, {110, 0}}, "[]"},
		{"one tier", []seg{{100, 0}, {120, 0}, {110, 0}, {105, 0}}, "[1 2 3 4]"},
		{"at most 2·MergeSegments, smallest first", []seg{{109, 0}, {108, 0}, {107, 0}, {106, 0}, {105, 0}, {104, 0}, {103, 0}, {102, 0}, {101, 0}, {100, 0}}, "[3 4 5 6 7 8 9 10]"},
		{"tiny ones are one tier with CompactRows", []seg{{3, 0}, {100, 0}, {7, 0}, {90, 0}}, "[1 2 3 4]"},
		{"a big one is not rewritten for small ones", []seg{{1000, 0}, {100, 0}, {110, 0}, {120, 0}}, "[]"},
		{"next tier", []seg{{400, 0}, {100, 0}, {450, 0}, {500, 0}, {420, 0}}, "[1 3 4 5]"},
		{"MergeRows caps merging", []seg{{1600, 0}, {1700, 0}, {1800, 0}, {1650, 0}}, "[]"},
		{"live rows count", []seg{{2000, 500}, {400, 0}, {450, 0}, {500, 0}}, "[1 2 3 4]"},
		{"deleted fraction first", []seg{{100, 0}, {120, 0}, {110, 0}, {105, 0}, {200, 70}}, "[5]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cands []mergeCand
			for i, s := range tc.segs {
				c := mergeCand{e: oltp.SegmentEntry{ID: uint64(i + 1)}, h: &segHandle{meta: &segments.Meta{Rows: s.rows}}, live: s.rows - s.deleted}
				cands = append(cands, c)
			}
			var ids []uint64
			for _, c := range db.pickMerge(cands) {
				ids = append(ids, c.e.ID)
			}
			if got := fmt.Sprint(ids); got != tc.want {
				t.Errorf("pickMerge = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestNeedsCompaction checks the compactor's thresholds, the deferral of a
// burst that has not settled included, on made-up fresh-tier counters.
func TestNeedsCompaction(t *testing.T) {
	db, err := Open(t.TempDir(), &Options{CompactRows: 1000, CompactSettle: 2 * time.Second,
		CompactAge: time.Minute, CompactInterval: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(context.Background(), "create table t (a bigint)"); err != nil {
		t.Fatal(err)
	}
	tbl, _ := db.Table("t")
	now := time.Unix(1_000_000, 0)
	for _, tc := range []struct {
		name       string
		rows       int64
		age, quiet time.Duration // since the first and the latest write
		need       bool
		wait       time.Duration
	}{
		{"empty", 0, 0, 0, false, 0},
		{"below every threshold", 500, time.Second, 0, false, 0},
		{"rows reached, settled", 1000, 2 * time.Second, 0, true, 0},
		{"rows reached by a burst still arriving", 5000, 500 * time.Millisecond, 0, false, 1500 * time.Millisecond},
		{"burst bound", 8000, 100 * time.Millisecond, 0, true, 0},
		{"idle, below CompactRows/32", 20, 3 * time.Second, 2 * time.Second, false, 0},
		{"idle tail of CompactRows/32", 32, 3 * time.Second, 2 * time.Second, true, 0},
		{"age", 1, time.Minute, 0, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := db.freshOf(tbl.ID)
			f.rows.Store(tc.rows)
			f.since.Store(now.Add(-tc.age).UnixNano())
			f.last.Store(now.Add(-tc.quiet).UnixNano())
			need, wait := db.needsCompaction(tbl, now)
			if need != tc.need || wait != tc.wait {
				t.Fatalf("needsCompaction = %v, %v; want %v, %v", need, wait, tc.need, tc.wait)
			}
		})
	}
}
