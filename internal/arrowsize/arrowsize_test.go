package arrowsize

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestSlices: a slice counts its own values, so the slices of an array
// add up to about the array, whatever buffers they share.
func TestSlices(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "i", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "d", Type: &arrow.Decimal128Type{Precision: 15, Scale: 2}},
	}, nil)
	b := array.NewRecordBuilder(mem, sch)
	defer b.Release()
	const n = 80_000
	for i := 0; i < n; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		if i%10 == 0 {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.StringBuilder).Append("abcdefghij") // 10 bytes
		}
		b.Field(2).(*array.BooleanBuilder).Append(i%2 == 0)
		b.Field(3).AppendEmptyValue()
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	// Per row: 8 + (10 of 9 rows' 10 bytes + 4 offset) + 1/8 + 16, and
	// four validity bits.
	whole := Record(rec)
	if want := int64(n*8 + n/10*9*10 + 4*n + n/8 + 16*n + 4*n/8); whole != want {
		t.Errorf("Record = %d, want %d", whole, want)
	}
	var sum int64
	for lo := int64(0); lo < n; lo += 8192 {
		s := rec.NewSlice(lo, min(lo+8192, n))
		sum += Record(s)
		s.Release()
	}
	if sum < whole || sum > whole+whole/100 {
		t.Errorf("slices add up to %d, the whole is %d", sum, whole)
	}
}
