package oltp

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb/catalog"
)

// randomAllTypes returns n rows of allTypesTable with values drawn by gen
// (a column index and a row give an int64 to derive the value from) and
// NULLs in every nullable column when nulls.
func randomAllTypes(mem memory.Allocator, tbl *catalog.Table, n int, nulls bool, gen func(col, row int) int64) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, tbl.Schema())
	defer b.Release()
	for r := 0; r < n; r++ {
		for c := range tbl.Columns {
			f := b.Field(c)
			if c > 0 && nulls && (r*7+c)%5 == 0 {
				f.AppendNull()
				continue
			}
			v := gen(c, r)
			switch f := f.(type) {
			case *array.Int64Builder:
				f.Append(v)
			case *array.BooleanBuilder:
				f.Append(v&1 == 1)
			case *array.Int16Builder:
				f.Append(int16(v))
			case *array.Int32Builder:
				f.Append(int32(v))
			case *array.Float32Builder:
				f.Append(float32(v) / 3)
			case *array.Float64Builder:
				f.Append(float64(v) / 7)
			case *array.Decimal128Builder:
				if v%11 == 0 {
					// Wider than 64 bits.
					f.Append(decimal128.New(v, uint64(v)))
				} else {
					f.Append(decimal128.FromI64(v))
				}
			case *array.StringBuilder:
				f.Append(string(bytes.Repeat([]byte{'a' + byte(uint64(v)%26)}, int(uint64(v)%40))))
			case *array.Date32Builder:
				f.Append(arrow.Date32(int32(v)))
			case *array.TimestampBuilder:
				f.Append(arrow.Timestamp(v))
			}
		}
	}
	return b.NewRecordBatch()
}

// TestColumnStream: the column stream of body format 3 gives back every
// value of every type, with and without NULLs, for narrow and full-range
// values and for sliced input arrays.
func TestColumnStream(t *testing.T) {
	mem := checkedAlloc(t)
	tbl := allTypesTable(1)
	rnd := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name  string
		n     int
		nulls bool
		gen   func(col, row int) int64
	}{
		{"constant", 100, false, func(col, row int) int64 { return 42 }},
		{"one row", 1, true, func(col, row int) int64 { return int64(col) - 3 }},
		{"small", 1000, false, func(col, row int) int64 { return int64(row%200) - 100 }},
		{"nulls", 1000, true, func(col, row int) int64 { return int64(row * 1000) }},
		{"three bytes", 777, false, func(col, row int) int64 { return int64(row*20011) - 1<<22 }},
		{"random", 2000, true, func(col, row int) int64 { return int64(rnd.Uint64()) }},
		{"extremes", 64, false, func(col, row int) int64 {
			return []int64{math.MinInt64, math.MaxInt64, 0, -1}[row%4]
		}},
	}
	for _, c := range cases {
		rec := randomAllTypes(mem, tbl, c.n, c.nulls, c.gen)
		for _, slice := range [][2]int64{{0, int64(c.n)}, {int64(c.n) / 3, int64(c.n) - int64(c.n)/5}} {
			in := rec.NewSlice(slice[0], slice[1])
			n := int(in.NumRows())
			buf := make([]byte, 0, columnsBound(in))
			stream, err := appendColumns(buf, in)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if len(stream) > columnsBound(in) {
				t.Fatalf("%s: stream of %d bytes over its bound %d", c.name, len(stream), columnsBound(in))
			}
			m := &batchMeta{id: 1, rows: n, ncols: len(tbl.Columns)}
			got, err := decodeColumns(mem, tbl, m, stream)
			if err != nil {
				t.Fatalf("%s %v: %v", c.name, slice, err)
			}
			for i := range tbl.Columns {
				if !array.Equal(got.Column(i), in.Column(i)) {
					t.Errorf("%s %v: column %s differs:\n got %v\nwant %v", c.name, slice, tbl.Columns[i].Name, got.Column(i), in.Column(i))
				}
			}
			got.Release()
			in.Release()
		}
		rec.Release()
	}
}

// TestColumnStreamCorrupt: a damaged column stream fails with
// ErrCorruption, never a panic or an overrun.
func TestColumnStreamCorrupt(t *testing.T) {
	mem := checkedAlloc(t)
	tbl := allTypesTable(1)
	rec := randomAllTypes(mem, tbl, 100, true, func(col, row int) int64 { return int64(row*31) % 1000 })
	defer rec.Release()
	m := &batchMeta{id: 1, rows: 100, ncols: len(tbl.Columns)}
	stream, err := appendColumns(make([]byte, 0, columnsBound(rec)), rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		s    []byte
	}{
		{"empty", nil},
		{"header only", stream[:2]},
		{"truncated", stream[:len(stream)/2]},
		{"trailing", append(bytes.Clone(stream), 0)},
		{"other rows", append([]byte{101}, stream[1:]...)},
		{"wrong kind", func() []byte { s := bytes.Clone(stream); s[2] = byte(catalog.KindVarchar); return s }()},
		{"too many columns", append([]byte{stream[0], 11}, stream[2:]...)},
	} {
		got, err := decodeColumns(mem, tbl, m, c.s)
		if err == nil {
			got.Release()
			t.Errorf("%s: decoded", c.name)
			continue
		}
		if !errors.Is(err, ErrCorruption) {
			t.Errorf("%s: %v, want ErrCorruption", c.name, err)
		}
	}
	// Every single flipped byte either decodes (to wrong values) or
	// fails with ErrCorruption; string offsets always stay in bounds.
	base := mem.CurrentAlloc()
	for i := range stream {
		if mem.CurrentAlloc() != base {
			t.Fatalf("before byte %d: leak", i)
		}
		s := bytes.Clone(stream)
		s[i] ^= 0xa5
		got, err := decodeColumns(mem, tbl, m, s)
		if err != nil {
			if !errors.Is(err, ErrCorruption) {
				t.Fatalf("byte %d: %v, want ErrCorruption", i, err)
			}
			continue
		}
		strs := got.Column(7).(*array.String)
		offs := strs.ValueOffsets()
		for j := 1; j < len(offs); j++ {
			if offs[j] < offs[j-1] || int(offs[j]) > len(strs.ValueBytes()) {
				got.Release()
				t.Fatalf("byte %d: string offsets %d, %d out of bounds", i, offs[j-1], offs[j])
			}
		}
		got.Release()
	}
}
