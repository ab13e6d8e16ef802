package rest

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/mantisdb/mantisdb/catalog"
)

// valueWriter renders the values of one column of a batch as text, row by
// row, straight into the answer. bind resolves the array's type once per
// batch into a kind and a typed slice, so rendering a value is a switch on
// the kind and a typed load: no interface call and no intermediate copy
// per value. It is not safe for concurrent use; bind it again for every
// batch.
type valueWriter struct {
	kind  valueKind
	valid []byte // validity bitmap; nil when the array has no nulls
	off   int    // the array's offset into valid
	scale int32  // decimals
	unit  arrow.TimeUnit

	i64  []int64
	i32  []int32
	i16  []int16
	i8   []int8
	u64  []uint64
	u32  []uint32
	u16  []uint16
	u8   []uint8
	f64  []float64
	f32  []float32
	dec  []decimal128.Num
	d32  []arrow.Date32
	d64  []arrow.Date64
	ts   []arrow.Timestamp
	bl   *array.Boolean
	offs []int32 // kindString: value offsets into data
	data []byte  // kindString
	lstr *array.LargeString
	text columnText // kindText: every value rendered by bind
}

// valueKind is the rendering of a column's values.
type valueKind uint8

const (
	kindNull valueKind = iota
	kindBool
	kindInt64
	kindInt32
	kindInt16
	kindInt8
	kindUint64
	kindUint32
	kindUint16
	kindUint8
	kindFloat64
	kindFloat32
	kindDecimal
	kindString
	kindLargeString
	kindDate32
	kindDate64
	kindTimestamp
	kindText // other types: JSON text made by bind
)

// bind prepares w to render the values of arr. arr must stay valid while
// w renders it.
func (w *valueWriter) bind(arr arrow.Array) error {
	w.valid, w.off = nil, 0
	if arr.NullN() > 0 {
		w.valid, w.off = arr.NullBitmapBytes(), arr.Data().Offset()
	}
	switch a := arr.(type) {
	case *array.Null:
		w.kind = kindNull
	case *array.Boolean:
		w.kind, w.bl = kindBool, a
	case *array.Int64:
		w.kind, w.i64 = kindInt64, a.Int64Values()
	case *array.Int32:
		w.kind, w.i32 = kindInt32, a.Int32Values()
	case *array.Int16:
		w.kind, w.i16 = kindInt16, a.Int16Values()
	case *array.Int8:
		w.kind, w.i8 = kindInt8, a.Int8Values()
	case *array.Uint64:
		w.kind, w.u64 = kindUint64, a.Uint64Values()
	case *array.Uint32:
		w.kind, w.u32 = kindUint32, a.Uint32Values()
	case *array.Uint16:
		w.kind, w.u16 = kindUint16, a.Uint16Values()
	case *array.Uint8:
		w.kind, w.u8 = kindUint8, a.Uint8Values()
	case *array.Float64:
		w.kind, w.f64 = kindFloat64, a.Float64Values()
	case *array.Float32:
		w.kind, w.f32 = kindFloat32, a.Float32Values()
	case *array.Decimal128:
		w.kind, w.dec = kindDecimal, a.Values()
		w.scale = a.DataType().(*arrow.Decimal128Type).Scale
	case *array.String:
		// ValueOffsets are offsets into the whole data buffer (ValueBytes
		// starts at the first value's offset).
		w.kind, w.offs, w.data = kindString, a.ValueOffsets(), nil
		if buf := a.Data().Buffers()[2]; buf != nil {
			w.data = buf.Bytes()
		}
	case *array.LargeString:
		w.kind, w.lstr = kindLargeString, a
	case *array.Date32:
		w.kind, w.d32 = kindDate32, a.Date32Values()
	case *array.Date64:
		w.kind, w.d64 = kindDate64, a.Date64Values()
	case *array.Timestamp:
		w.kind, w.ts = kindTimestamp, a.TimestampValues()
		w.unit = a.DataType().(*arrow.TimestampType).Unit
	default:
		w.kind = kindText
		return w.text.encodeGeneric(arr)
	}
	return nil
}

// stringAt returns the value of row i of a kindString column, a view of
// the array's data valid while the array is.
func (w *valueWriter) stringAt(i int) string {
	b := w.data[w.offs[i]:w.offs[i+1]]
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// isNull reports whether row i is NULL.
func (w *valueWriter) isNull(i int) bool {
	return w.valid != nil && bitutil.BitIsNotSet(w.valid, w.off+i) || w.kind == kindNull
}

// appendJSON appends the JSON text of row i.
func (w *valueWriter) appendJSON(dst []byte, i int) []byte {
	if w.isNull(i) {
		return append(dst, "null"...)
	}
	switch w.kind {
	case kindString:
		return appendJSONString(dst, w.stringAt(i))
	case kindLargeString:
		return appendJSONString(dst, w.lstr.Value(i))
	case kindDate32, kindDate64, kindTimestamp:
		dst = append(dst, '"')
		dst = w.appendTemporal(dst, i)
		return append(dst, '"')
	}
	return w.appendScalar(dst, i)
}

// appendCSV appends the CSV field of row i: nothing for NULL, strings
// quoted as RFC 4180 needs, other values as their JSON text unquoted.
func (w *valueWriter) appendCSV(dst []byte, i int) []byte {
	if w.isNull(i) {
		return dst
	}
	switch w.kind {
	case kindString:
		return appendCSVField(dst, w.stringAt(i))
	case kindLargeString:
		return appendCSVField(dst, w.lstr.Value(i))
	case kindDate32, kindDate64, kindTimestamp:
		return w.appendTemporal(dst, i)
	case kindFloat64, kindFloat32:
		n := len(dst)
		dst = w.appendScalar(dst, i)
		if dst[n] == '"' { // NaN, Infinity: no quotes inside
			copy(dst[n:], dst[n+1:len(dst)-1])
			dst = dst[:len(dst)-2]
		}
		return dst
	case kindText:
		v := w.text.value(i)
		if len(v) >= 2 && v[0] == '"' {
			v = v[1 : len(v)-1]
		}
		return append(dst, v...)
	}
	return w.appendScalar(dst, i)
}

// appendTemporal appends a date or timestamp of row i without quotes.
func (w *valueWriter) appendTemporal(dst []byte, i int) []byte {
	switch w.kind {
	case kindDate32:
		return appendCivilDate(dst, int64(w.d32[i]))
	case kindDate64:
		return appendCivilDate(dst, floorDiv(floorDiv(int64(w.d64[i]), 1000), 86400))
	default:
		return appendTimestampText(dst, int64(w.ts[i]), w.unit)
	}
}

// appendScalar appends the JSON text of row i, not NULL, of a kind other
// than strings and temporal values.
func (w *valueWriter) appendScalar(dst []byte, i int) []byte {
	switch w.kind {
	case kindInt64:
		return strconv.AppendInt(dst, w.i64[i], 10)
	case kindInt32:
		return strconv.AppendInt(dst, int64(w.i32[i]), 10)
	case kindInt16:
		return strconv.AppendInt(dst, int64(w.i16[i]), 10)
	case kindInt8:
		return strconv.AppendInt(dst, int64(w.i8[i]), 10)
	case kindUint64:
		return strconv.AppendUint(dst, w.u64[i], 10)
	case kindUint32:
		return strconv.AppendUint(dst, uint64(w.u32[i]), 10)
	case kindUint16:
		return strconv.AppendUint(dst, uint64(w.u16[i]), 10)
	case kindUint8:
		return strconv.AppendUint(dst, uint64(w.u8[i]), 10)
	case kindFloat64:
		return appendFloat(dst, w.f64[i], 64)
	case kindFloat32:
		return appendFloat(dst, float64(w.f32[i]), 32)
	case kindDecimal:
		return appendDecimal128(dst, w.dec[i], w.scale)
	case kindBool:
		if w.bl.Value(i) {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case kindText:
		return append(dst, w.text.value(i)...)
	}
	return append(dst, "null"...) // kindNull
}

// columnText holds the JSON text of every value of one column of a batch;
// ends[i] is the end offset in buf of row i's value. Buffers are reused
// from batch to batch.
type columnText struct {
	buf  []byte
	ends []int
	w    *valueWriter
}

// value returns the JSON text of row i.
func (c *columnText) value(i int) []byte {
	start := 0
	if i > 0 {
		start = c.ends[i-1]
	}
	return c.buf[start:c.ends[i]]
}

func (c *columnText) reset() {
	c.buf = c.buf[:0]
	c.ends = c.ends[:0]
}

func (c *columnText) end() { c.ends = append(c.ends, len(c.buf)) }

// encode renders every value of arr, replacing the previous contents.
func (c *columnText) encode(arr arrow.Array) error {
	if c.w == nil {
		c.w = new(valueWriter)
	}
	if err := c.w.bind(arr); err != nil {
		return err
	}
	if c.w.kind == kindText {
		c.buf, c.ends = append(c.buf[:0], c.w.text.buf...), append(c.ends[:0], c.w.text.ends...)
		return nil
	}
	c.reset()
	for i := 0; i < arr.Len(); i++ {
		c.buf = c.w.appendJSON(c.buf, i)
		c.end()
	}
	return nil
}

// encodeGeneric renders the values of a type without a SQL type of its
// own (lists, structs, ...), which never come out of the planner today,
// with Arrow's generic JSON form rather than failing the query.
func (c *columnText) encodeGeneric(arr arrow.Array) error {
	c.reset()
	for i := 0; i < arr.Len(); i++ {
		if arr.IsNull(i) {
			c.buf = append(c.buf, "null"...)
			c.end()
			continue
		}
		b, err := json.Marshal(arr.GetOneForMarshal(i))
		if err != nil {
			return fmt.Errorf("cannot encode %s value as JSON: %w", arr.DataType(), err)
		}
		c.buf = append(c.buf, b...)
		c.end()
	}
	return nil
}

// unitDigits is the number of fraction digits of each timestamp unit.
var unitDigits = [...]int{arrow.Second: 0, arrow.Millisecond: 3, arrow.Microsecond: 6, arrow.Nanosecond: 9}

var pow10 = [...]int64{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// appendTimestamp appends the quoted ISO 8601 form of v (in unit since the
// epoch, no zone): "2024-01-02T03:04:05.123456".
func appendTimestamp(dst []byte, v int64, unit arrow.TimeUnit) []byte {
	dst = append(dst, '"')
	dst = appendTimestampText(dst, v, unit)
	return append(dst, '"')
}

// appendTimestampText appends the ISO 8601 form of v (in unit since the
// epoch, no zone): 2024-01-02T03:04:05.123456, the fraction trimmed of
// trailing zeros (as PostgreSQL's to_json does) and omitted when zero.
func appendTimestampText(dst []byte, v int64, unit arrow.TimeUnit) []byte {
	digits := unitDigits[unit]
	perSec := pow10[digits]
	secs := floorDiv(v, perSec)
	frac := v - secs*perSec
	days := floorDiv(secs, 86400)
	sod := secs - days*86400
	dst = appendCivilDate(dst, days)
	dst = append(dst, 'T')
	dst = append2(dst, int(sod/3600))
	dst = append(dst, ':')
	dst = append2(dst, int(sod/60%60))
	dst = append(dst, ':')
	dst = append2(dst, int(sod%60))
	if frac != 0 {
		for frac%10 == 0 {
			frac /= 10
			digits--
		}
		dst = append(dst, '.')
		var tmp [9]byte
		for i := digits - 1; i >= 0; i-- {
			tmp[i] = byte('0' + frac%10)
			frac /= 10
		}
		dst = append(dst, tmp[:digits]...)
	}
	return dst
}

// appendCivilDate appends YYYY-MM-DD for days since 1970-01-01 in the
// proleptic Gregorian calendar (Howard Hinnant's civil_from_days, in
// unsigned 32-bit arithmetic from 0000-03-01 on, whose divisions by
// constants compile to multiplications). Other days go through package
// time, which spells years outside 0000..9999 its way.
func appendCivilDate(dst []byte, days int64) []byte {
	const (
		first = -719468 // 0000-03-01, the start of the first era
		last  = 2932896 // 9999-12-31
	)
	if days < first || days > last {
		return time.Unix(days*86400, 0).UTC().AppendFormat(dst, "2006-01-02")
	}
	z := uint32(days - first)
	era := z / 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if mp >= 10 {
		m = mp - 9
		y++
	}
	yh, yl := y/100, y%100
	return append(dst, digitPairs[2*yh], digitPairs[2*yh+1], digitPairs[2*yl], digitPairs[2*yl+1], '-',
		digitPairs[2*m], digitPairs[2*m+1], '-', digitPairs[2*d], digitPairs[2*d+1])
}

// digitPairs spells 00 to 99, two bytes each.
const digitPairs = "00010203040506070809" + "10111213141516171819" + "20212223242526272829" +
	"30313233343536373839" + "40414243444546474849" + "50515253545556575859" + "60616263646566676869" +
	"70717273747576777879" + "80818283848586878889" + "90919293949596979899"

// append2 appends n (0..99) as two digits.
func append2(dst []byte, n int) []byte {
	return append(dst, byte('0'+n/10), byte('0'+n%10))
}

// appendFloat renders f the way encoding/json does (shortest text that
// reads back exactly, exponent form only for very large or small values);
// NaN and infinities, which JSON cannot spell, become strings.
func appendFloat(dst []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(dst, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(dst, `"-Infinity"`...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	dst = strconv.AppendFloat(dst, f, format, -1, bits)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// appendDecimal128 renders n with scale fraction digits, exactly.
func appendDecimal128(dst []byte, n decimal128.Num, scale int32) []byte {
	hi, lo := n.HighBits(), n.LowBits()
	// Fast path: the value fits in an int64 (hi is lo's sign extension).
	if (hi == 0 && lo <= math.MaxInt64) || (hi == -1 && lo > math.MaxInt64) {
		v := int64(lo)
		if scale <= 0 {
			dst = strconv.AppendInt(dst, v, 10)
			for i := int32(0); i < -scale && v != 0; i++ {
				dst = append(dst, '0')
			}
			return dst
		}
		if v < 0 {
			dst = append(dst, '-')
		}
		if scale <= maxFastScale {
			return appendScaledUint(dst, absInt64(v), int(scale))
		}
		var tmp [24]byte
		return appendScaled(dst, strconv.AppendUint(tmp[:0], absInt64(v), 10), int(scale))
	}
	return append(dst, n.ToString(scale)...)
}

// maxFastScale is the largest scale appendScaledUint renders.
const maxFastScale = 38

// appendScaledUint appends u with a decimal point scale (1..maxFastScale)
// digits from the right and at least one digit before it: the digits are
// written right to left, two at a time, into a buffer on the stack.
func appendScaledUint(dst []byte, u uint64, scale int) []byte {
	var tmp [maxFastScale + 22]byte
	i := len(tmp)
	for k := scale; k >= 2; k -= 2 {
		r := u % 100
		u /= 100
		i -= 2
		tmp[i], tmp[i+1] = digitPairs[2*r], digitPairs[2*r+1]
	}
	if scale&1 == 1 {
		i--
		tmp[i] = byte('0' + u%10)
		u /= 10
	}
	i--
	tmp[i] = '.'
	for u >= 100 {
		r := u % 100
		u /= 100
		i -= 2
		tmp[i], tmp[i+1] = digitPairs[2*r], digitPairs[2*r+1]
	}
	if u >= 10 {
		i -= 2
		tmp[i], tmp[i+1] = digitPairs[2*u], digitPairs[2*u+1]
	} else {
		i--
		tmp[i] = byte('0' + u)
	}
	return append(dst, tmp[i:]...)
}

func absInt64(v int64) uint64 {
	if v < 0 {
		return uint64(-(v + 1)) + 1
	}
	return uint64(v)
}

// appendScaled appends the unsigned digit string with a decimal point
// placed scale digits from the right.
func appendScaled(dst, digits []byte, scale int) []byte {
	if len(digits) <= scale {
		dst = append(dst, '0', '.')
		for i := len(digits); i < scale; i++ {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	}
	at := len(digits) - scale
	dst = append(dst, digits[:at]...)
	dst = append(dst, '.')
	return append(dst, digits[at:]...)
}

const hexDigits = "0123456789abcdef"

// jsonSafe[b] is true for the ASCII bytes a JSON string holds as they are.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD; U+2028 and U+2029 are escaped so the output is also valid
// JavaScript.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Most text is plain ASCII: skip it eight bytes at a time.
		if i+8 <= len(s) && jsonPlain8(load64(s, i)) {
			i += 8
			continue
		}
		b := s[i]
		if b < utf8.RuneSelf {
			if jsonSafe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// load64 returns the eight bytes of s at i as a little-endian word (the
// compiler makes one load of it).
func load64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

const (
	bytesOf1  = 0x0101010101010101
	bytesOf80 = 0x8080808080808080
)

// jsonPlain8 reports whether the eight bytes of x are all ASCII that a JSON
// string holds as they are: none below 0x20, none '"' or '\\', none of
// 0x80 or more. Each test is the exact "has a byte less than n / equal
// to zero" word trick (Bit Twiddling Hacks).
func jsonPlain8(x uint64) bool {
	less := (x - bytesOf1*0x20) &^ x
	quote := x ^ (bytesOf1 * '"')
	quote = (quote - bytesOf1) &^ quote
	bslash := x ^ (bytesOf1 * '\\')
	bslash = (bslash - bytesOf1) &^ bslash
	return (less|quote|bslash|x)&bytesOf80 == 0
}

// sqlTypeName returns the SQL name of an Arrow type for the "columns" of a
// result, falling back to Arrow's name for types without a SQL spelling.
func sqlTypeName(dt arrow.DataType) string {
	if t, ok := catalog.FromArrow(dt); ok {
		return t.String()
	}
	return dt.String()
}
