package segments

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/mantisdb/mantisdb/catalog"
)

// Value is one scalar of a catalog type: a predicate constant, a zone-map
// bound, a key of a bitmap index or a component of a sort key. It is a plain
// value type; the zero Value is an untyped NULL.
//
// The field that holds the payload depends on Kind: I for BOOLEAN (0/1),
// SMALLINT, INT, BIGINT, DATE (days since the epoch) and TIMESTAMP
// (microseconds since the epoch); F for REAL and DOUBLE; D for DECIMAL (the
// unscaled value, in the scale of the column it is compared with); S for
// VARCHAR.
type Value struct {
	Kind catalog.Kind
	Null bool
	I    int64
	F    float64
	D    decimal128.Num
	S    string
}

// NullValue returns a NULL of kind k.
func NullValue(k catalog.Kind) Value { return Value{Kind: k, Null: true} }

// Int64Value returns a BIGINT value.
func Int64Value(v int64) Value { return Value{Kind: catalog.KindBigint, I: v} }

// IntValue returns an INT value.
func IntValue(v int32) Value { return Value{Kind: catalog.KindInt, I: int64(v)} }

// SmallintValue returns a SMALLINT value.
func SmallintValue(v int16) Value { return Value{Kind: catalog.KindSmallint, I: int64(v)} }

// BoolValue returns a BOOLEAN value.
func BoolValue(v bool) Value {
	if v {
		return Value{Kind: catalog.KindBoolean, I: 1}
	}
	return Value{Kind: catalog.KindBoolean}
}

// Float64Value returns a DOUBLE value.
func Float64Value(v float64) Value { return Value{Kind: catalog.KindDouble, F: v} }

// Float32Value returns a REAL value.
func Float32Value(v float32) Value { return Value{Kind: catalog.KindReal, F: float64(v)} }

// DecimalValue returns a DECIMAL value from its unscaled number.
func DecimalValue(v decimal128.Num) Value { return Value{Kind: catalog.KindDecimal, D: v} }

// StringValue returns a VARCHAR value.
func StringValue(v string) Value { return Value{Kind: catalog.KindVarchar, S: v} }

// DateValue returns a DATE value from days since 1970-01-01.
func DateValue(days int32) Value { return Value{Kind: catalog.KindDate, I: int64(days)} }

// TimestampValue returns a TIMESTAMP value from microseconds since the epoch.
func TimestampValue(us int64) Value { return Value{Kind: catalog.KindTimestamp, I: us} }

// String renders v for tests and EXPLAIN.
func (v Value) String() string {
	if v.Null {
		return "NULL"
	}
	switch v.Kind {
	case catalog.KindBoolean:
		return fmt.Sprint(v.I != 0)
	case catalog.KindReal, catalog.KindDouble:
		return fmt.Sprint(v.F)
	case catalog.KindDecimal:
		return v.D.BigInt().String()
	case catalog.KindVarchar:
		return fmt.Sprintf("%q", v.S)
	case catalog.KindInvalid:
		return "NULL"
	}
	return fmt.Sprint(v.I)
}

// Compare orders two non-NULL values of the same kind: -1, 0 or +1. REAL and
// DOUBLE order NaN after every other value (as PostgreSQL does) and -0 equal
// to +0. Compare does not look at Null; callers handle NULLs first.
func Compare(a, b Value) int {
	switch a.Kind {
	case catalog.KindReal, catalog.KindDouble:
		return cmpFloat(a.F, b.F)
	case catalog.KindDecimal:
		return a.D.Cmp(b.D)
	case catalog.KindVarchar:
		return strings.Compare(a.S, b.S)
	}
	return cmpInt(a.I, b.I)
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpFloat(a, b float64) int {
	an, bn := math.IsNaN(a), math.IsNaN(b)
	switch {
	case an && bn:
		return 0
	case an:
		return 1
	case bn:
		return -1
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// kindOf returns the catalog kind of an Arrow type of the fixed mapping.
func kindOf(dt arrow.DataType) (catalog.Kind, bool) {
	t, ok := catalog.FromArrow(dt)
	if !ok || t.Kind == catalog.KindNull {
		return catalog.KindInvalid, false
	}
	// FromArrow accepts wider inputs; segments store exactly the catalog
	// mapping, so insist on it.
	if !arrow.TypeEqual(t.ArrowType(), dt) {
		if _, isDec := dt.(*arrow.Decimal128Type); !isDec {
			return catalog.KindInvalid, false
		}
	}
	return t.Kind, true
}

// ValueAt returns row i of arr as a Value. A VARCHAR is copied out of the
// array, so the Value outlives it; ValueAt is meant for keys, bounds and
// tests, not for hot loops.
func ValueAt(arr arrow.Array, i int) Value {
	k, _ := kindOf(arr.DataType())
	if arr.IsNull(i) {
		return NullValue(k)
	}
	switch a := arr.(type) {
	case *array.Boolean:
		return BoolValue(a.Value(i))
	case *array.Int16:
		return SmallintValue(a.Value(i))
	case *array.Int32:
		return IntValue(a.Value(i))
	case *array.Int64:
		return Int64Value(a.Value(i))
	case *array.Float32:
		return Float32Value(a.Value(i))
	case *array.Float64:
		return Float64Value(a.Value(i))
	case *array.Decimal128:
		return DecimalValue(a.Value(i))
	case *array.String:
		return StringValue(strings.Clone(a.Value(i)))
	case *array.Date32:
		return DateValue(int32(a.Value(i)))
	case *array.Timestamp:
		return TimestampValue(int64(a.Value(i)))
	}
	return Value{}
}

// compareAt compares non-NULL row i of arr with the non-NULL value v.
func compareAt(arr arrow.Array, i int, v Value) int {
	switch a := arr.(type) {
	case *array.Boolean:
		var x int64
		if a.Value(i) {
			x = 1
		}
		return cmpInt(x, v.I)
	case *array.Int16:
		return cmpInt(int64(a.Value(i)), v.I)
	case *array.Int32:
		return cmpInt(int64(a.Value(i)), v.I)
	case *array.Int64:
		return cmpInt(a.Value(i), v.I)
	case *array.Float32:
		return cmpFloat(float64(a.Value(i)), v.F)
	case *array.Float64:
		return cmpFloat(a.Value(i), v.F)
	case *array.Decimal128:
		return a.Value(i).Cmp(v.D)
	case *array.String:
		return strings.Compare(a.Value(i), v.S)
	case *array.Date32:
		return cmpInt(int64(a.Value(i)), v.I)
	case *array.Timestamp:
		return cmpInt(int64(a.Value(i)), v.I)
	}
	return 0
}

// compareRows compares row i of a with row j of b, two arrays of the same
// type; NULLs order first.
func compareRows(a arrow.Array, i int, b arrow.Array, j int) int {
	an, bn := a.IsNull(i), b.IsNull(j)
	switch {
	case an && bn:
		return 0
	case an:
		return -1
	case bn:
		return 1
	}
	switch x := a.(type) {
	case *array.Boolean:
		y := b.(*array.Boolean)
		return cmpInt(b2i(x.Value(i)), b2i(y.Value(j)))
	case *array.Int16:
		return cmpInt(int64(x.Value(i)), int64(b.(*array.Int16).Value(j)))
	case *array.Int32:
		return cmpInt(int64(x.Value(i)), int64(b.(*array.Int32).Value(j)))
	case *array.Int64:
		return cmpInt(x.Value(i), b.(*array.Int64).Value(j))
	case *array.Float32:
		return cmpFloat(float64(x.Value(i)), float64(b.(*array.Float32).Value(j)))
	case *array.Float64:
		return cmpFloat(x.Value(i), b.(*array.Float64).Value(j))
	case *array.Decimal128:
		return x.Value(i).Cmp(b.(*array.Decimal128).Value(j))
	case *array.String:
		return strings.Compare(x.Value(i), b.(*array.String).Value(j))
	case *array.Date32:
		return cmpInt(int64(x.Value(i)), int64(b.(*array.Date32).Value(j)))
	case *array.Timestamp:
		return cmpInt(int64(x.Value(i)), int64(b.(*array.Timestamp).Value(j)))
	}
	return 0
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// appendValue appends the encoding of v: kind, null flag, payload.
func appendValue(dst []byte, v Value) []byte {
	dst = append(dst, byte(v.Kind))
	if v.Null || v.Kind == catalog.KindInvalid {
		return append(dst, 1)
	}
	dst = append(dst, 0)
	switch v.Kind {
	case catalog.KindReal, catalog.KindDouble:
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(v.F))
	case catalog.KindDecimal:
		dst = binary.LittleEndian.AppendUint64(dst, v.D.LowBits())
		dst = binary.LittleEndian.AppendUint64(dst, uint64(v.D.HighBits()))
	case catalog.KindVarchar:
		dst = binary.AppendUvarint(dst, uint64(len(v.S)))
		dst = append(dst, v.S...)
	default:
		dst = binary.AppendVarint(dst, v.I)
	}
	return dst
}

// decoder reads the encodings of this package; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated or malformed %s", ErrCorruption, what)
	}
	d.b = nil
}

func (d *decoder) byte1() byte {
	if len(d.b) < 1 {
		d.fail("byte")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) u64() uint64 {
	if len(d.b) < 8 {
		d.fail("uint64")
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if uint64(len(d.b)) < n {
		d.fail("bytes")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string { return string(d.bytes()) }

func (d *decoder) value() Value {
	v := Value{Kind: catalog.Kind(d.byte1())}
	if d.byte1() != 0 {
		v.Null = true
		return v
	}
	switch v.Kind {
	case catalog.KindReal, catalog.KindDouble:
		v.F = math.Float64frombits(d.u64())
	case catalog.KindDecimal:
		lo := d.u64()
		hi := d.u64()
		v.D = decimal128.New(int64(hi), lo)
	case catalog.KindVarchar:
		v.S = d.str()
	case catalog.KindBoolean, catalog.KindSmallint, catalog.KindInt, catalog.KindBigint,
		catalog.KindDate, catalog.KindTimestamp:
		v.I = d.varint()
	default:
		d.fail("value kind")
	}
	return v
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}
