package segments

import (
	"fmt"
	"strings"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/mantisdb/mantisdb/internal/keyset"
)

// TestKeyFilter scans a segment with key filters of every shape (empty,
// sparse, a range of a sorted key, keys outside the segment, every key, a
// nullable INT key with duplicates, a DATE key, keys far apart that make a
// map) through every path a scan can take (dense direct decodes with the
// key first, pqarrow, rows selected by a bitmap or a delete bitmap, small
// batches) and checks that it returns exactly the rows whose key is a key
// of the filter where the filter runs on rows, and never loses one.
func TestKeyFilter(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	fs := vfs.NewMem()
	tbl := testTable()
	const n = 5000
	m := writeSegment(t, fs, mem, tbl, 1, n, 700, &WriterOptions{RowGroupSize: 1024, Allocator: mem})
	r, err := Open(fs, "", m)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	vals := values(tbl, n)
	col := func(name string) int {
		for i, c := range tbl.Columns {
			if c.Name == name {
				return i
			}
		}
		t.Fatalf("no column %s", name)
		return -1
	}
	ids := func(from, to, step int64) []int64 {
		var out []int64
		for v := from; v < to; v += step {
			out = append(out, v)
		}
		return out
	}
	var i32s []int64
	for i := 0; i < n; i += 37 {
		if v := vals[i][col("i32")]; !v.Null {
			i32s = append(i32s, v.I, v.I) // duplicates, as a build side has them
		}
	}
	cases := []struct {
		name, col string
		keys      []int64
		skipped   int  // row groups the zone maps must skip, at least
		rangeOnly bool // too many keys far apart: the filter tests the range
	}{
		{"empty", "id", nil, 5, false},
		{"sparse", "id", []int64{0, 2, 4000, 2 * (n - 1), 123457}, 2, false},
		{"range", "id", ids(4000, 4800, 2), 3, false},
		{"outside", "id", []int64{-5, -1, 2 * n, 1 << 40}, 5, false},
		{"all", "id", ids(0, 2*n, 2), 0, false},
		{"nullable-dups", "i32", i32s, 0, false},
		{"date", "d", []int64{8000, 8001, 9999, 10500}, 0, false},
		{"map", "i32", append([]int64{-1 << 40, 1 << 40}, i32s[:10]...), 0, false},
		{"range-only", "i32", append([]int64{-1 << 40, 1 << 40}, i32s[:40]...), 0, true},
	}
	// Direct-decodable columns (a dense scan of these takes the key
	// first), and every column (pqarrow).
	direct := []int{0, col("i32"), col("f32"), col("f64"), col("dec"), col("str"), col("d"), col("cat")}
	deleted := roaring.New()
	for i := uint32(0); i < n; i += 3 {
		deleted.Add(i)
	}
	modes := []struct {
		name  string
		opts  ScanOptions
		keep  func(row int) bool
		exact bool // the filter runs on every row the scan reads
	}{
		{"dense", ScanOptions{Columns: direct}, nil, true},
		{"dense-small-batches", ScanOptions{Columns: direct, BatchSize: 100}, nil, true},
		{"pqarrow", ScanOptions{Columns: direct, noDirect: true}, nil, false},
		{"all-columns", ScanOptions{}, nil, false},
		{"bitmap", ScanOptions{Columns: direct, Filter: Predicate{{Column: "cat", Op: OpEq, Value: StringValue("beta")}}},
			func(row int) bool { v := vals[row][col("cat")]; return !v.Null && v.S == "beta" }, true},
		{"deleted", ScanOptions{Columns: direct, Deleted: deleted}, func(row int) bool { return row%3 != 0 }, true},
	}
	for _, tc := range cases {
		keys := keyset.New(tc.keys, 16)
		if keys.Exact() == tc.rangeOnly {
			t.Fatalf("%s: exact set %v", tc.name, keys.Exact())
		}
		in := map[int64]bool{}
		for _, k := range tc.keys {
			in[k] = true
		}
		kc := col(tc.col)
		for _, md := range modes {
			t.Run(tc.name+"/"+md.name, func(t *testing.T) {
				opts := md.opts
				opts.Allocator = mem
				opts.KeyFilters = []KeyFilter{{Column: tc.col, Keys: keys}}
				got, st := collect(t, r, opts)
				// The projected columns of every row, as collect renders them.
				cols := opts.Columns
				if cols == nil {
					cols = make([]int, len(tbl.Columns))
					for i := range cols {
						cols[i] = i
					}
				}
				render := func(row int) string {
					s := make([]string, len(cols))
					for i, c := range cols {
						s[i] = vals[row][c].String()
					}
					return strings.Join(s, "|")
				}
				gotSet := map[string]int{}
				for _, row := range got {
					gotSet[strings.Join(row, "|")]++
				}
				want := 0
				for row := 0; row < n; row++ {
					if md.keep != nil && !md.keep(row) {
						continue
					}
					v := vals[row][kc]
					if v.Null || !in[v.I] {
						continue
					}
					want++
					if gotSet[render(row)] == 0 {
						t.Fatalf("row %d (key %s) is missing", row, v)
					}
				}
				if md.exact && !tc.rangeOnly && len(got) != want {
					t.Fatalf("%d rows, want %d", len(got), want)
				}
				if len(got) < want {
					t.Fatalf("%d rows, want at least %d", len(got), want)
				}
				if st.Pruned.Runtime < tc.skipped {
					t.Errorf("key filter skipped %d row groups, want at least %d", st.Pruned.Runtime, tc.skipped)
				}
				if md.exact && md.keep == nil && st.RowsFiltered != st.RowsRead-st.RowsReturned {
					t.Errorf("RowsFiltered %d, read %d returned %d", st.RowsFiltered, st.RowsRead, st.RowsReturned)
				}
			})
		}
	}
}

// TestKeyFilterTurnsOff checks that a filter that drops almost no row
// stops testing rows, and that the rows stay right.
func TestKeyFilterTurnsOff(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	fs := vfs.NewMem()
	tbl := testTable()
	const n = 3 * keyFilterTrial
	m := writeSegment(t, fs, mem, tbl, 1, n, 8192, &WriterOptions{Allocator: mem})
	r, err := Open(fs, "", m)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var keys []int64
	for i := int64(0); i < n; i++ {
		if i != 10 && i != n-10 {
			keys = append(keys, 2*i)
		}
	}
	rows, st := collect(t, r, ScanOptions{Columns: []int{0}, Allocator: mem,
		KeyFilters: []KeyFilter{{Column: "id", Keys: keyset.New(keys, -1)}}})
	if len(rows) != n-1 { // row 10 is dropped while the filter runs, row n-10 after
		t.Fatalf("%d rows, want %d", len(rows), n-1)
	}
	if st.RowsFiltered != 1 {
		t.Fatalf("RowsFiltered %d, want 1", st.RowsFiltered)
	}
	for _, row := range rows {
		if row[0] == fmt.Sprint(20) {
			t.Fatal("row 10 returned")
		}
	}
}

// TestKeyFilterConjunction scans with two key filters at once: the rows
// returned are exactly those both keep (dense direct decodes, and rows a
// bitmap selected), each filter's counters add up to the rows dropped,
// and a row group one filter's zone maps rule out is skipped.
func TestKeyFilterConjunction(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	fs := vfs.NewMem()
	tbl := testTable()
	const n = 5000
	m := writeSegment(t, fs, mem, tbl, 1, n, 700, &WriterOptions{RowGroupSize: 1024, Allocator: mem})
	r, err := Open(fs, "", m)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	vals := values(tbl, n)
	var ids, i32s []int64
	for row := 0; row < 3000; row++ {
		ids = append(ids, 2*int64(row)) // rows 0..2999: row groups 0-2
	}
	for row := 1500; row < n; row += 3 {
		if v := vals[row][3]; !v.Null {
			i32s = append(i32s, v.I)
		}
	}
	keys := []KeyFilter{{Column: "i32", Keys: keyset.New(i32s, -1)}, {Column: "id", Keys: keyset.New(ids, -1)}}
	direct := []int{0, 3, 5, 6, 7, 8}
	for _, md := range []struct {
		name string
		opts ScanOptions
		keep func(row int) bool
	}{
		{"dense", ScanOptions{Columns: direct}, nil},
		{"bitmap", ScanOptions{Columns: direct, Filter: Predicate{{Column: "cat", Op: OpEq, Value: StringValue("gamma")}}},
			func(row int) bool { v := vals[row][10]; return !v.Null && v.S == "gamma" }},
	} {
		t.Run(md.name, func(t *testing.T) {
			opts := md.opts
			opts.Allocator = mem
			opts.KeyFilters = keys
			got, st := collect(t, r, opts)
			in := map[int64]bool{}
			for _, v := range i32s {
				in[v] = true
			}
			var want []string
			for row := 0; row < 3000; row++ {
				v := vals[row][3]
				if v.Null || !in[v.I] || md.keep != nil && !md.keep(row) {
					continue
				}
				want = append(want, vals[row][0].String())
			}
			var gotIDs []string
			for _, row := range got {
				gotIDs = append(gotIDs, row[0])
			}
			if strings.Join(gotIDs, ",") != strings.Join(want, ",") {
				t.Fatalf("got ids %v,\nwant %v", gotIDs, want)
			}
			if st.KeyFilters[1].RowGroupsSkipped < 2 {
				t.Errorf("id filter skipped %d row groups, want 2", st.KeyFilters[1].RowGroupsSkipped)
			}
			if d := st.KeyFilters[0].RowsDropped + st.KeyFilters[1].RowsDropped; d != st.RowsFiltered || d == 0 {
				t.Errorf("filters dropped %d rows, scan %d", d, st.RowsFiltered)
			}
		})
	}
}
