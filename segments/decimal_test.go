package segments

import (
	"context"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/mantisdb/mantisdb/catalog"
)

func TestDecimal64Conversion(t *testing.T) {
	const max18 = 999_999_999_999_999_999
	tests := []struct {
		name   string
		vals   []int64
		nulls  []bool
		offset int // slice the input array from here
	}{
		{name: "empty"},
		{name: "plain", vals: []int64{0, 1, -1, 12345, -9876543210}},
		{name: "extremes", vals: []int64{max18, -max18, 0}},
		{name: "nulls", vals: []int64{5, 0, -7, 0}, nulls: []bool{false, true, false, true}},
		{name: "sliced", vals: []int64{1, 2, 3, 4, 5, 6}, nulls: []bool{true, false, false, true, false, false}, offset: 2},
	}
	dt := &arrow.Decimal128Type{Precision: 18, Scale: 3}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			b := array.NewDecimal128Builder(mem, dt)
			for i, v := range tc.vals {
				if tc.nulls != nil && tc.nulls[i] {
					b.AppendNull()
				} else {
					b.Append(decimal128.FromI64(v))
				}
			}
			full := b.NewArray()
			b.Release()
			in := array.NewSlice(full, int64(min(tc.offset, full.Len())), int64(full.Len()))
			full.Release()
			defer in.Release()

			i64, err := decimalToInt64(mem, in)
			if err != nil {
				t.Fatal(err)
			}
			defer i64.Release()
			back := int64ToDecimal(mem, i64, dt)
			defer back.Release()
			if !arrow.TypeEqual(back.DataType(), dt) {
				t.Fatalf("type %s", back.DataType())
			}
			if !array.Equal(in, back) {
				t.Fatalf("round trip: got %s, want %s", back, in)
			}
			ints := i64.(*array.Int64)
			for i := 0; i < in.Len(); i++ {
				if in.IsNull(i) != ints.IsNull(i) {
					t.Fatalf("row %d: null %v, want %v", i, ints.IsNull(i), in.IsNull(i))
				}
				if in.IsValid(i) && ints.Value(i) != tc.vals[tc.offset+i] {
					t.Fatalf("row %d: %d, want %d", i, ints.Value(i), tc.vals[tc.offset+i])
				}
			}
		})
	}
}

func TestDecimal64Overflow(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dt := &arrow.Decimal128Type{Precision: 18, Scale: 0}
	b := array.NewDecimal128Builder(mem, dt)
	defer b.Release()
	b.Append(decimal128.FromI64(1))
	b.Append(decimal128.New(1, 0)) // 2^64: no int64
	a := b.NewArray()
	defer a.Release()
	if out, err := decimalToInt64(mem, a); err == nil {
		out.Release()
		t.Fatal("no error for a value beyond int64")
	}
}

func TestDecodeDecimal64(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"0:15:2", true},
		{"0:15:2,2:18:0", true},
		{"3:15:2", false},  // column out of range
		{"0:19:2", false},  // precision too wide
		{"0:5:6", false},   // scale above precision
		{"0:15", false},    // malformed
		{"x:15:2", false},  // malformed
		{"0:15:2,", false}, // empty entry
	} {
		_, err := decodeDecimal64(tc.in, 3)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
	types, err := decodeDecimal64(encodeDecimal64([]arrow.DataType{nil, &arrow.Decimal128Type{Precision: 12, Scale: 4}}), 2)
	if err != nil || types[0] != nil || !arrow.TypeEqual(types[1], &arrow.Decimal128Type{Precision: 12, Scale: 4}) {
		t.Fatalf("round trip: %v, %v", types, err)
	}
}

// TestDecimalLayouts writes DECIMALs of several precisions in both layouts
// (INT64 since format version 2, FIXED_LEN_BYTE_ARRAY before) and reads
// them back by scans and by Lookup on a DECIMAL key.
func TestDecimalLayouts(t *testing.T) {
	tbl := &catalog.Table{
		ID: 9, Name: "d", Version: 1,
		Columns: []catalog.Column{
			{Name: "k", Type: catalog.Decimal(18, 2), NotNull: true},
			{Name: "small", Type: catalog.Decimal(5, 1)},
			{Name: "wide", Type: catalog.Decimal(30, 4)},
		},
		PrimaryKey: []int{0},
	}
	const rows = 3000
	gen := func(mem memory.Allocator, from, n int) arrow.RecordBatch {
		b := array.NewRecordBuilder(mem, tbl.Schema())
		defer b.Release()
		for r := from; r < from+n; r++ {
			b.Field(0).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(r)*1_000_000_007 - 999_999_999_999_999_999))
			if r%7 == 0 {
				b.Field(1).AppendNull()
			} else {
				b.Field(1).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(r%19999 - 9999)))
			}
			b.Field(2).(*array.Decimal128Builder).Append(decimal128.New(int64(r), uint64(r)*3))
		}
		return b.NewRecordBatch()
	}
	for _, v2 := range []bool{true, false} {
		name := map[bool]string{true: "int64", false: "flba"}[v2]
		t.Run(name, func(t *testing.T) {
			storeDecimal64 = v2
			defer func() { storeDecimal64 = true }()
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			fs := vfs.NewMem()
			w, err := NewWriter(fs, "", 1, tbl, &WriterOptions{RowGroupSize: 1024, VerifyOrder: true, Allocator: mem})
			if err != nil {
				t.Fatal(err)
			}
			for from := 0; from < rows; from += 700 {
				rec := gen(mem, from, min(700, rows-from))
				err := w.Write(rec)
				rec.Release()
				if err != nil {
					w.Abort()
					t.Fatal(err)
				}
			}
			m, err := w.Finish()
			if err != nil {
				t.Fatal(err)
			}
			r, err := Open(fs, "", m)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if got := r.dec64 != nil; got != v2 {
				t.Fatalf("INT64 decimals %v, want %v", got, v2)
			}
			for i, f := range r.Schema().Fields() {
				if want := tbl.Schema().Field(i).Type; !arrow.TypeEqual(f.Type, want) {
					t.Fatalf("column %s: type %s, want %s", f.Name, f.Type, want)
				}
			}
			want := gen(memory.DefaultAllocator, 0, rows)
			defer want.Release()
			got, _ := collect(t, r, ScanOptions{Schema: tbl.Schema(), Allocator: mem, BatchSize: 500})
			if len(got) != rows {
				t.Fatalf("%d rows", len(got))
			}
			for i, row := range got {
				for c := range row {
					if w := ValueAt(want.Column(c), i).String(); row[c] != w {
						t.Fatalf("row %d col %d: %s, want %s", i, c, row[c], w)
					}
				}
			}
			// A scan of a few positions (gather path) and a Lookup by
			// DECIMAL key.
			sel := roaring.BitmapOf(5, 6, 7, 2048, 2999)
			got, _ = collect(t, r, ScanOptions{Schema: tbl.Schema(), Allocator: mem, Columns: []int{1, 0}, Rows: sel})
			if len(got) != int(sel.GetCardinality()) {
				t.Fatalf("restricted scan: %d rows", len(got))
			}
			for i, p := range sel.ToArray() {
				if got[i][0] != ValueAt(want.Column(1), int(p)).String() || got[i][1] != ValueAt(want.Column(0), int(p)).String() {
					t.Fatalf("restricted scan row %d: %v", p, got[i])
				}
			}
			pos, ok, err := r.Lookup(context.Background(), []Value{ValueAt(want.Column(0), 1500)}, nil)
			if err != nil || !ok || pos != 1500 {
				t.Fatalf("lookup: %d %v %v", pos, ok, err)
			}
		})
	}
}
