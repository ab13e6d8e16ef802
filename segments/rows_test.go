package segments

import (
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestScanRows: ScanOptions.Rows restricts a scan to given positions, with
// the filter and delete bitmap still applied, and Positions names the rows
// returned.
func TestScanRows(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	fs := vfs.NewMem()
	tbl := testTable()
	const n = 3000
	m := writeSegment(t, fs, mem, tbl, 1, n, 1000, &WriterOptions{RowGroupSize: 1024, Allocator: mem})
	r, err := Open(fs, "", m)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	all := expected(tbl, n)
	for _, tc := range []struct {
		name    string
		rows    []uint32
		deleted []uint32
		filter  Predicate
		want    []uint32
		groups  int // row groups read
	}{
		{name: "one", rows: []uint32{1500}, want: []uint32{1500}, groups: 1},
		{name: "spread", rows: []uint32{0, 5, 1023, 1024, 2999}, want: []uint32{0, 5, 1023, 1024, 2999}, groups: 3},
		{name: "deleted", rows: []uint32{3, 4, 2100}, deleted: []uint32{4, 2100}, want: []uint32{3}, groups: 1},
		{name: "filtered", rows: []uint32{3, 2500}, filter: Predicate{{Column: "id", Op: OpGe, Value: Int64Value(2 * 2048)}},
			want: []uint32{2500}, groups: 1},
		{name: "none", rows: []uint32{}, want: nil, groups: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := ScanOptions{Rows: roaring.BitmapOf(tc.rows...), Filter: tc.filter, Allocator: mem, BatchSize: 100}
			if tc.deleted != nil {
				opts.Deleted = roaring.BitmapOf(tc.deleted...)
			}
			got, stats := collect(t, r, opts)
			var want [][]string
			for _, p := range tc.want {
				want = append(want, all[p])
			}
			equalRows(t, got, want)
			if stats.RowGroupsRead != tc.groups {
				t.Errorf("read %d row groups, want %d", stats.RowGroupsRead, tc.groups)
			}
			s, err := r.Scan(t.Context(), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if pos := s.Positions().ToArray(); !slices.Equal(pos, tc.want) && len(pos)+len(tc.want) > 0 {
				t.Errorf("Positions = %v, want %v", pos, tc.want)
			}
		})
	}
	// Without Rows, Positions lists every live row of the selected row
	// groups.
	s, err := r.Scan(t.Context(), ScanOptions{Deleted: roaring.BitmapOf(7), Allocator: mem,
		Filter: Predicate{{Column: "id", Op: OpLt, Value: Int64Value(100)}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if p := s.Positions(); p.GetCardinality() != 1023 || p.Contains(7) || !p.Contains(1023) {
		t.Errorf("Positions: %d rows, contains 7: %v", p.GetCardinality(), p.Contains(7))
	}
}
