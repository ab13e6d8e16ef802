package arrowexec

import (
	"context"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// This file holds the low-level helpers every kernel uses: typed views of
// Arrow buffers, output allocation and validity bitmaps. Kernels write their
// results straight into buffers from the context's allocator (no builders)
// and combine validity bitmaps word-wise.

// fixedT lists the physical value types of the fixed-width SQL types.
// DATE is int32 and TIMESTAMP int64 (arrow.Date32/arrow.Timestamp share the
// shape), so a kernel instantiated for int32 serves DATE too.
type fixedT interface {
	~int16 | ~int32 | ~int64 | ~float32 | ~float64 | decimal128.Num
}

// numT are the types with Go arithmetic and ordering.
type numT interface {
	~int16 | ~int32 | ~int64 | ~float32 | ~float64
}

// intT are the SQL integer types.
type intT interface {
	~int16 | ~int32 | ~int64
}

// values returns the values of a fixed-width array as a typed slice that
// aliases the array's buffer, honouring its offset.
func values[T fixedT](a arrow.Array) []T {
	d := a.Data()
	buf := d.Buffers()[1]
	if buf == nil || d.Len() == 0 {
		return nil
	}
	return arrow.GetData[T](buf.Bytes())[d.Offset() : d.Offset()+d.Len()]
}

// validity returns the validity bitmap and its bit offset; nil when the
// array has no NULLs.
func validity(a arrow.Array) ([]byte, int) {
	if a.NullN() == 0 {
		return nil, 0
	}
	d := a.Data()
	buf := d.Buffers()[0]
	if buf == nil {
		return nil, 0
	}
	return buf.Bytes(), d.Offset()
}

// isValid reports whether bit i of a validity bitmap is set; a nil bitmap
// means every row is valid.
func isValid(bits []byte, off, i int) bool {
	return bits == nil || bitutil.BitIsSet(bits, off+i)
}

// allocFixed allocates a zero-initialised buffer of n values of T.
func allocFixed[T fixedT](mem memory.Allocator, n int) (*memory.Buffer, []T) {
	var zero T
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(n * int(unsafe.Sizeof(zero)))
	if n == 0 {
		return buf, nil
	}
	return buf, arrow.GetData[T](buf.Bytes())[:n]
}

// allocBitmap allocates a zeroed bitmap of n bits.
func allocBitmap(mem memory.Allocator, n int) *memory.Buffer {
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(int(bitutil.BytesForBits(int64(n))))
	b := buf.Bytes()
	for i := range b {
		b[i] = 0
	}
	return buf
}

// combineValidity returns the AND of the validity bitmaps of arrs (nil
// entries are skipped) as a new buffer, and the number of NULLs. It returns
// a nil buffer when no input has NULLs.
func combineValidity(mem memory.Allocator, n int, arrs ...arrow.Array) (*memory.Buffer, int) {
	var out *memory.Buffer
	for _, a := range arrs {
		if a == nil {
			continue
		}
		bits, off := validity(a)
		if bits == nil {
			continue
		}
		if out == nil {
			out = allocBitmap(mem, n)
			bitutil.CopyBitmap(bits, off, n, out.Bytes(), 0)
			continue
		}
		bitutil.BitmapAnd(out.Bytes(), bits, 0, int64(off), out.Bytes(), 0, int64(n))
	}
	if out == nil {
		return nil, 0
	}
	return out, n - bitutil.CountSetBits(out.Bytes(), 0, n)
}

// makeArray wraps buffers into an array of type dt and releases the
// caller's references to the buffers.
func makeArray(dt arrow.DataType, n int, nulls int, bufs ...*memory.Buffer) arrow.Array {
	d := array.NewData(dt, n, bufs, nil, nulls, 0)
	for _, b := range bufs {
		if b != nil {
			b.Release()
		}
	}
	a := array.MakeFromData(d)
	d.Release()
	return a
}

// allNull returns an array of n NULLs of type dt.
func allNull(ctx context.Context, dt arrow.DataType, n int) arrow.Array {
	return array.MakeArrayOfNull(exec.GetAllocator(ctx), dt, n)
}

// b2u converts a bool to 0/1; the compiler turns it into a SETcc.
func b2u(b bool) uint8 {
	var x uint8
	if b {
		x = 1
	}
	return x
}

// trueMask returns a new bitmap with the rows that are valid and true in a
// boolean array (NULL counts as false), and the number of such rows.
func trueMask(mem memory.Allocator, a *array.Boolean) (*memory.Buffer, int) {
	n := a.Len()
	out := allocBitmap(mem, n)
	d := a.Data()
	bitutil.CopyBitmap(d.Buffers()[1].Bytes(), d.Offset(), n, out.Bytes(), 0)
	if bits, off := validity(a); bits != nil {
		bitutil.BitmapAnd(out.Bytes(), bits, 0, int64(off), out.Bytes(), 0, int64(n))
	}
	return out, bitutil.CountSetBits(out.Bytes(), 0, n)
}

func releaseAll(arrs []arrow.Array) {
	for i, a := range arrs {
		if a != nil {
			a.Release()
			arrs[i] = nil
		}
	}
}

// pow10u are the powers of ten that fit in a uint64.
var pow10u = [...]uint64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13,
	1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// fitsPrecision reports whether n has at most p decimal digits, like
// n.FitsInPrecision(p) but without its table walk for values that fit in
// an int64. Hot loops test fitsInt64 inline first (see fitsDec).
func fitsPrecision(n decimal128.Num, p int32) bool {
	if fitsInt64(n) {
		if p >= 19 {
			return true
		}
		v := n.LowBits()
		if int64(v) < 0 {
			v = -v
		}
		return p >= 0 && v < pow10u[p]
	}
	return n.FitsInPrecision(p)
}
