package oltp

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb/catalog"
)

// randomAllTypesRows returns n rows for allTypesTable with about a third of
// the nullable values NULL.
func randomAllTypesRows(r *rand.Rand, n int) [][]any {
	rows := make([][]any, n)
	for i := range rows {
		row := []any{
			i,
			r.IntN(2) == 1,
			int(int16(r.Uint32())),
			int(int32(r.Uint32())),
			float64(float32(r.NormFloat64())),
			r.NormFloat64() * 1e6,
			r.IntN(2_000_000) - 1_000_000,
			string([]byte{'x', byte(r.IntN(256)), 0})[:r.IntN(4)],
			r.IntN(40000) - 20000,
			int(r.Int64N(math.MaxInt64>>8)) - math.MaxInt64>>9,
		}
		for j := 1; j < len(row); j++ {
			if r.IntN(3) == 0 {
				row[j] = nil
			}
		}
		rows[i] = row
	}
	return rows
}

func encodeRows(t testing.TB, tbl *catalog.Table, rec arrow.RecordBatch) [][]byte {
	cols := make([]colReader, len(tbl.Columns))
	for i := range cols {
		if err := cols[i].reset(tbl.Columns[i].Type, rec.Column(i)); err != nil {
			t.Fatal(err)
		}
	}
	vals := make([][]byte, rec.NumRows())
	for i := range vals {
		vals[i] = appendRow(nil, uint64(i+1), cols, i)
	}
	return vals
}

// decodeRows decodes vals projecting cols and returns the arrays.
func decodeRows(t testing.TB, mem memory.Allocator, tbl *catalog.Table, cols []int, vals [][]byte) []arrow.Array {
	var d rowDecoder
	d.init(mem, tbl, cols)
	defer d.release()
	for _, v := range vals {
		if err := d.decode(v); err != nil {
			t.Fatal(err)
		}
	}
	out := make([]arrow.Array, len(cols))
	built := make([]arrow.Array, len(d.out))
	for i := range d.out {
		built[i] = d.out[i].b.NewArray()
	}
	for i, c := range cols {
		out[i] = built[d.slot[c]]
		out[i].Retain()
	}
	for _, a := range built {
		a.Release()
	}
	return out
}

func TestRowRoundTrip(t *testing.T) {
	mem := checkedAlloc(t)
	tbl := allTypesTable(1)
	r := rand.New(rand.NewPCG(3, 4))
	rows := randomAllTypesRows(r, 200)
	// One row entirely NULL except the key.
	rows = append(rows, []any{-1, nil, nil, nil, nil, nil, nil, nil, nil, nil})
	rec := makeRecord(t, mem, tbl, rows...)
	defer rec.Release()
	vals := encodeRows(t, tbl, rec)

	for _, tc := range []struct {
		name string
		cols []int
	}{
		{"all", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"reversed", []int{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}},
		{"subset", []int{7, 2}},
		{"repeated", []int{3, 3, 7}},
		{"last", []int{9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := decodeRows(t, mem, tbl, tc.cols, vals)
			for i, c := range tc.cols {
				if !array.Equal(got[i], rec.Column(c)) {
					t.Errorf("column %d: got %v, want %v", c, got[i], rec.Column(c))
				}
				got[i].Release()
			}
		})
	}
}

// TestRowAddedColumns decodes values written before columns were added:
// the new columns read as NULL.
func TestRowAddedColumns(t *testing.T) {
	mem := checkedAlloc(t)
	old := finished(&catalog.Table{ID: 1, Name: "t", Version: 1, Columns: []catalog.Column{
		{Name: "a", Type: catalog.Int}, {Name: "b", Type: catalog.Varchar},
	}})
	rec := makeRecord(t, mem, old, []any{1, "x"}, []any{2, nil})
	defer rec.Release()
	vals := encodeRows(t, old, rec)
	cur := finished(&catalog.Table{ID: 1, Name: "t", Version: 2, Columns: []catalog.Column{
		{Name: "a", Type: catalog.Int}, {Name: "b", Type: catalog.Varchar}, {Name: "c", Type: catalog.Double},
	}})
	got := decodeRows(t, mem, cur, []int{2, 1}, vals)
	defer got[0].Release()
	defer got[1].Release()
	if got[0].NullN() != 2 || got[0].Len() != 2 {
		t.Errorf("added column: %v, want two NULLs", got[0])
	}
	if s := got[1].(*array.String); s.Value(0) != "x" || !s.IsNull(1) {
		t.Errorf("column b: %v", s)
	}
}

// TestRowCorrupt feeds truncated and malformed values to the decoder: it
// must return ErrCorruption, never panic.
func TestRowCorrupt(t *testing.T) {
	mem := checkedAlloc(t)
	tbl := allTypesTable(1)
	rec := makeRecord(t, mem, tbl, []any{1, true, 2, 3, 4.0, 5.0, 6, "seven", 8, 9})
	defer rec.Release()
	v := encodeRows(t, tbl, rec)[0]
	var d rowDecoder
	d.init(mem, tbl, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	defer d.release()
	for n := 0; n < len(v); n++ {
		if err := d.decode(v[:n]); !errors.Is(err, ErrCorruption) {
			t.Errorf("prefix of %d bytes: err = %v, want ErrCorruption", n, err)
		}
	}
	for _, bad := range [][]byte{{3, 1, 0}, {0, 0}, {1, 200, 0}, {1, 0x80}, {2, 0x80}, {2, 7, 200, 0}} {
		if err := d.decode(bad); !errors.Is(err, ErrCorruption) {
			t.Errorf("%x: err = %v, want ErrCorruption", bad, err)
		}
	}
}

// TestRowFormatV1 decodes a value written in format 1 (no writer stamp):
// rows written by older binaries stay readable.
func TestRowFormatV1(t *testing.T) {
	mem := checkedAlloc(t)
	tbl := allTypesTable(1)
	rec := makeRecord(t, mem, tbl, []any{1, true, 2, 3, 4.0, 5.0, 6, "seven", 8, 9})
	defer rec.Release()
	v2 := encodeRows(t, tbl, rec)[0]
	if v2[0] != rowFormatV2 || v2[1] != 1 {
		t.Fatalf("value %x: want format 2 with stamp 1", v2)
	}
	v1 := append([]byte{rowFormatV1}, v2[2:]...)
	for _, v := range [][]byte{v1, v2} {
		got := decodeRows(t, mem, tbl, []int{0, 7}, [][]byte{v})
		if s := fmt.Sprint(got[0], got[1]); s != "[1] [\"seven\"]" {
			t.Errorf("format %d: decoded %s", v[0], s)
		}
		for _, a := range got {
			a.Release()
		}
	}
}

func TestRowCodecAllocs(t *testing.T) {
	mem := memory.NewGoAllocator()
	tbl := allTypesTable(1)
	rec := makeRecord(t, mem, tbl, []any{1, true, 2, 3, 4.0, 5.0, 6, "seven", 8, 9})
	defer rec.Release()
	cols := make([]colReader, len(tbl.Columns))
	for i := range cols {
		if err := cols[i].reset(tbl.Columns[i].Type, rec.Column(i)); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { buf = appendRow(buf[:0], 7, cols, 0) }); n != 0 {
		t.Errorf("appendRow allocates %v times per row", n)
	}
	var d rowDecoder
	d.init(mem, tbl, []int{0, 2, 3, 5})
	defer d.release()
	d.reserve(1000)
	if n := testing.AllocsPerRun(100, func() {
		if err := d.decode(buf); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("decode allocates %v times per row", n)
	}
}
