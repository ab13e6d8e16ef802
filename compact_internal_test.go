package mantisdb

import (
	"fmt"
	"testing"

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
