package rest

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/mantisdb/mantisdb/catalog"
)

// columnText holds the JSON text of every value of one column of a batch.
// Values are rendered a column at a time with a typed loop (no per-value
// interface call); the row writer then interleaves them. ends[i] is the end
// offset in buf of row i's value. Buffers are reused from batch to batch.
type columnText struct {
	buf  []byte
	ends []int
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

func (c *columnText) null() {
	c.buf = append(c.buf, "null"...)
	c.end()
}

// encode renders every value of arr, replacing the previous contents.
func (c *columnText) encode(arr arrow.Array) error {
	c.reset()
	switch a := arr.(type) {
	case *array.Null:
		for i := 0; i < a.Len(); i++ {
			c.null()
		}
	case *array.Boolean:
		for i := 0; i < a.Len(); i++ {
			switch {
			case a.IsNull(i):
				c.buf = append(c.buf, "null"...)
			case a.Value(i):
				c.buf = append(c.buf, "true"...)
			default:
				c.buf = append(c.buf, "false"...)
			}
			c.end()
		}
	case *array.Int8:
		encodeInts(c, a, a.Int8Values())
	case *array.Int16:
		encodeInts(c, a, a.Int16Values())
	case *array.Int32:
		encodeInts(c, a, a.Int32Values())
	case *array.Int64:
		encodeInts(c, a, a.Int64Values())
	case *array.Uint8:
		encodeUints(c, a, a.Uint8Values())
	case *array.Uint16:
		encodeUints(c, a, a.Uint16Values())
	case *array.Uint32:
		encodeUints(c, a, a.Uint32Values())
	case *array.Uint64:
		encodeUints(c, a, a.Uint64Values())
	case *array.Float32:
		encodeFloats(c, a, a.Float32Values(), 32)
	case *array.Float64:
		encodeFloats(c, a, a.Float64Values(), 64)
	case *array.Decimal128:
		scale := a.DataType().(*arrow.Decimal128Type).Scale
		for i := 0; i < a.Len(); i++ {
			if a.IsNull(i) {
				c.null()
				continue
			}
			c.buf = appendDecimal128(c.buf, a.Value(i), scale)
			c.end()
		}
	case *array.String:
		for i := 0; i < a.Len(); i++ {
			if a.IsNull(i) {
				c.null()
				continue
			}
			c.buf = appendJSONString(c.buf, a.Value(i))
			c.end()
		}
	case *array.LargeString:
		for i := 0; i < a.Len(); i++ {
			if a.IsNull(i) {
				c.null()
				continue
			}
			c.buf = appendJSONString(c.buf, a.Value(i))
			c.end()
		}
	case *array.Date32:
		vals := a.Date32Values()
		for i, v := range vals {
			if a.IsNull(i) {
				c.null()
				continue
			}
			c.buf = appendDate(c.buf, int64(v)*86400)
			c.end()
		}
	case *array.Date64:
		vals := a.Date64Values()
		for i, v := range vals {
			if a.IsNull(i) {
				c.null()
				continue
			}
			c.buf = appendDate(c.buf, floorDiv(int64(v), 1000))
			c.end()
		}
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		vals := a.TimestampValues()
		for i, v := range vals {
			if a.IsNull(i) {
				c.null()
				continue
			}
			c.buf = appendTimestamp(c.buf, int64(v), unit)
			c.end()
		}
	default:
		// Types without a SQL type of their own (lists, structs, ...) never
		// come out of the planner today; render them with Arrow's generic
		// JSON form rather than failing the query.
		for i := 0; i < arr.Len(); i++ {
			if arr.IsNull(i) {
				c.null()
				continue
			}
			b, err := json.Marshal(arr.GetOneForMarshal(i))
			if err != nil {
				return fmt.Errorf("cannot encode %s value as JSON: %w", arr.DataType(), err)
			}
			c.buf = append(c.buf, b...)
			c.end()
		}
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

// appendDate appends the quoted date of unixSeconds (UTC).
func appendDate(dst []byte, unixSeconds int64) []byte {
	dst = append(dst, '"')
	dst = appendCivilDate(dst, floorDiv(unixSeconds, 86400))
	return append(dst, '"')
}

// appendTimestamp appends the quoted ISO 8601 form of v (in unit since the
// epoch, no zone): 2024-01-02T03:04:05.123456, the fraction trimmed of
// trailing zeros (as PostgreSQL's to_json does) and omitted when zero.
func appendTimestamp(dst []byte, v int64, unit arrow.TimeUnit) []byte {
	digits := unitDigits[unit]
	perSec := pow10[digits]
	secs := floorDiv(v, perSec)
	frac := v - secs*perSec
	days := floorDiv(secs, 86400)
	sod := secs - days*86400
	dst = append(dst, '"')
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
	return append(dst, '"')
}

// appendCivilDate appends YYYY-MM-DD for days since 1970-01-01 in the
// proleptic Gregorian calendar (Howard Hinnant's civil_from_days). Years
// outside 0000..9999 go through package time, which spells them its way.
func appendCivilDate(dst []byte, days int64) []byte {
	z := days + 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	if y < 0 || y > 9999 {
		return time.Unix(days*86400, 0).UTC().AppendFormat(dst, "2006-01-02")
	}
	dst = append2(dst, int(y/100))
	dst = append2(dst, int(y%100))
	dst = append(dst, '-')
	dst = append2(dst, int(m))
	dst = append(dst, '-')
	return append2(dst, int(d))
}

// append2 appends n (0..99) as two digits.
func append2(dst []byte, n int) []byte {
	return append(dst, byte('0'+n/10), byte('0'+n%10))
}

func encodeInts[T int8 | int16 | int32 | int64](c *columnText, arr arrow.Array, vals []T) {
	if arr.NullN() == 0 {
		for _, v := range vals {
			c.buf = strconv.AppendInt(c.buf, int64(v), 10)
			c.end()
		}
		return
	}
	for i, v := range vals {
		if arr.IsNull(i) {
			c.null()
			continue
		}
		c.buf = strconv.AppendInt(c.buf, int64(v), 10)
		c.end()
	}
}

func encodeUints[T uint8 | uint16 | uint32 | uint64](c *columnText, arr arrow.Array, vals []T) {
	for i, v := range vals {
		if arr.NullN() > 0 && arr.IsNull(i) {
			c.null()
			continue
		}
		c.buf = strconv.AppendUint(c.buf, uint64(v), 10)
		c.end()
	}
}

func encodeFloats[T float32 | float64](c *columnText, arr arrow.Array, vals []T, bits int) {
	for i, v := range vals {
		if arr.NullN() > 0 && arr.IsNull(i) {
			c.null()
			continue
		}
		c.buf = appendFloat(c.buf, float64(v), bits)
		c.end()
	}
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
		var tmp [24]byte
		digits := strconv.AppendUint(tmp[:0], absInt64(v), 10)
		if v < 0 {
			dst = append(dst, '-')
		}
		return appendScaled(dst, digits, int(scale))
	}
	return append(dst, n.ToString(scale)...)
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

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD; U+2028 and U+2029 are escaped so the output is also valid
// JavaScript.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
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

// sqlTypeName returns the SQL name of an Arrow type for the "columns" of a
// result, falling back to Arrow's name for types without a SQL spelling.
func sqlTypeName(dt arrow.DataType) string {
	if t, ok := catalog.FromArrow(dt); ok {
		return t.String()
	}
	return dt.String()
}
