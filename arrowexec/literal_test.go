package arrowexec

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

// TestAppendScalar checks AppendScalar against MakeArrayFromScalar for
// every type it handles, values and NULLs, and that it declines others.
func TestAppendScalar(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, s := range []scalar.Scalar{
		scalar.NewBooleanScalar(true),
		scalar.NewInt8Scalar(-8),
		scalar.NewInt16Scalar(-16),
		scalar.NewInt32Scalar(-32),
		scalar.NewInt64Scalar(-64),
		scalar.NewFloat32Scalar(1.5),
		scalar.NewFloat64Scalar(-2.25),
		scalar.NewDecimal128Scalar(decimal128.FromI64(12345), &arrow.Decimal128Type{Precision: 15, Scale: 2}),
		scalar.NewStringScalar("héllo"),
		scalar.NewBinaryScalar(memory.NewBufferBytes([]byte{0, 1, 2}), arrow.BinaryTypes.Binary),
		scalar.NewDate32Scalar(9000),
		scalar.NewTimestampScalar(1_700_000_000_000_000, &arrow.TimestampType{Unit: arrow.Microsecond}),
		scalar.NewTime64Scalar(3_600_000_000, arrow.FixedWidthTypes.Time64us),
	} {
		t.Run(s.DataType().String(), func(t *testing.T) {
			b := array.NewBuilder(mem, s.DataType())
			defer b.Release()
			for _, v := range []scalar.Scalar{s, scalar.MakeNullScalar(s.DataType()), s} {
				if !AppendScalar(b, v) {
					t.Fatalf("AppendScalar declined %s", v)
				}
			}
			got := b.NewArray()
			defer got.Release()
			want1, err := scalar.MakeArrayFromScalar(s, 1, mem)
			if err != nil {
				t.Fatal(err)
			}
			defer want1.Release()
			null := array.MakeArrayOfNull(mem, s.DataType(), 1)
			defer null.Release()
			want, err := array.Concatenate([]arrow.Array{want1, null, want1}, mem)
			if err != nil {
				t.Fatal(err)
			}
			defer want.Release()
			if !array.Equal(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
	b := array.NewBuilder(mem, arrow.BinaryTypes.LargeString)
	defer b.Release()
	if AppendScalar(b, scalar.NewLargeStringScalar("x")) || b.Len() != 0 {
		t.Fatal("AppendScalar took a type it does not handle")
	}
}
