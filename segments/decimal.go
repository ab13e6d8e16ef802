package segments

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Since format version 2, a DECIMAL column of precision up to 18 is stored
// as a Parquet INT64 column of its unscaled values instead of pqarrow's
// big-endian FIXED_LEN_BYTE_ARRAY: decoding FLBA decimals (a builder append
// and a byte swap per value) was a third of the CPU time of TPC-H Q1. The
// Parquet file's key/value metadata decimal64Key lists these columns with
// their precision and scale ("4:15:2,5:15:2"); the reader restores the
// DECIMAL type and widens the values to 128 bits after decoding. Version 1
// files have no such entry and keep their FLBA decimals.
const decimal64Key = "mantisdb.decimal64"

// maxDecimal64Precision is the largest precision whose values always fit
// in an int64 (10^18-1 < 2^63).
const maxDecimal64Precision = 18

// storeDecimal64 turns the INT64 storage of DECIMALs on; tests turn it off
// to write files with the version 1 layout.
var storeDecimal64 = true

// decimal64Columns returns, per field of sch, the DECIMAL type of the
// fields stored as INT64 (nil for the others), and the schema the Parquet
// writer sees (those fields as int64). ok is false when no field is
// stored as INT64.
func decimal64Columns(sch *arrow.Schema) (types []arrow.DataType, storage *arrow.Schema, ok bool) {
	if !storeDecimal64 {
		return nil, sch, false
	}
	fields := sch.Fields()
	types = make([]arrow.DataType, len(fields))
	for i, f := range fields {
		if dt, isDec := f.Type.(*arrow.Decimal128Type); isDec && dt.Precision <= maxDecimal64Precision {
			types[i] = dt
			fields[i].Type = arrow.PrimitiveTypes.Int64
			ok = true
		}
	}
	if !ok {
		return nil, sch, false
	}
	md := sch.Metadata()
	return types, arrow.NewSchema(fields, &md), true
}

// encodeDecimal64 renders the decimal64Key value for types.
func encodeDecimal64(types []arrow.DataType) string {
	var b strings.Builder
	for i, t := range types {
		if t == nil {
			continue
		}
		dt := t.(*arrow.Decimal128Type)
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d:%d:%d", i, dt.Precision, dt.Scale)
	}
	return b.String()
}

// decodeDecimal64 parses a decimal64Key value for a file of n columns.
func decodeDecimal64(s string, n int) ([]arrow.DataType, error) {
	types := make([]arrow.DataType, n)
	for _, e := range strings.Split(s, ",") {
		parts := strings.Split(e, ":")
		if len(parts) != 3 {
			return nil, fmt.Errorf("%w: bad %s entry %q", ErrCorruption, decimal64Key, e)
		}
		var v [3]int
		for i, p := range parts {
			x, err := strconv.Atoi(p)
			if err != nil {
				return nil, fmt.Errorf("%w: bad %s entry %q", ErrCorruption, decimal64Key, e)
			}
			v[i] = x
		}
		col, prec, scale := v[0], v[1], v[2]
		if col < 0 || col >= n || prec < 1 || prec > maxDecimal64Precision || scale < 0 || scale > prec {
			return nil, fmt.Errorf("%w: bad %s entry %q", ErrCorruption, decimal64Key, e)
		}
		types[col] = &arrow.Decimal128Type{Precision: int32(prec), Scale: int32(scale)}
	}
	return types, nil
}

// decimalToInt64 returns the unscaled values of a (a DECIMAL128 array of
// precision up to 18) as an int64 array sharing a's validity bitmap. The
// caller releases the result.
func decimalToInt64(mem memory.Allocator, a arrow.Array) (arrow.Array, error) {
	d := a.Data()
	n, off := d.Len(), d.Offset()
	src := a.(*array.Decimal128).Values()
	buf := memory.NewResizableBuffer(mem)
	buf.Resize((off + n) * 8)
	dst := arrow.Int64Traits.CastFromBytes(buf.Bytes())[off : off+n]
	var bad uint64
	for i, v := range src {
		lo, hi := v.LowBits(), v.HighBits()
		// The value fits when the high word is the sign extension of the
		// low word; NULL slots hold zeros (or valid garbage) and pass too.
		bad |= uint64(hi ^ (int64(lo) >> 63))
		dst[i] = int64(lo)
	}
	if bad != 0 {
		// Only a value outside its column's precision gets here; check the
		// valid slots before failing.
		for i, v := range src {
			if a.IsValid(i) && v.HighBits() != int64(v.LowBits())>>63 {
				buf.Release()
				return nil, fmt.Errorf("segments: DECIMAL value %s exceeds precision %d",
					v.ToString(a.DataType().(*arrow.Decimal128Type).Scale), maxDecimal64Precision)
			}
		}
	}
	out := array.NewData(arrow.PrimitiveTypes.Int64, n, []*memory.Buffer{d.Buffers()[0], buf}, nil, d.NullN(), off)
	buf.Release()
	defer out.Release()
	return array.MakeFromData(out), nil
}

// int64ToDecimal returns the int64 array a as DECIMAL128 values of type dt
// sharing a's validity bitmap. The caller releases the result.
func int64ToDecimal(mem memory.Allocator, a arrow.Array, dt arrow.DataType) arrow.Array {
	d := a.Data()
	n, off := d.Len(), d.Offset()
	src := a.(*array.Int64).Int64Values()
	buf := memory.NewResizableBuffer(mem)
	buf.Resize((off + n) * 16)
	dst := arrow.Decimal128Traits.CastFromBytes(buf.Bytes())[off : off+n]
	for i, v := range src {
		dst[i] = decimal128.New(v>>63, uint64(v))
	}
	out := array.NewData(dt, n, []*memory.Buffer{d.Buffers()[0], buf}, nil, d.NullN(), off)
	buf.Release()
	defer out.Release()
	return array.MakeFromData(out)
}
