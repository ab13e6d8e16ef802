package arrowexec

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

const microsPerDay = 86400 * 1000000

type castExpr struct {
	e  Expr
	to arrow.DataType
}

// Cast converts e to type to; values that do not fit fail with 22003 and
// unparseable text with 22P02 (numbers, booleans) or 22007 (dates and
// timestamps). Floats and decimals convert to integers and to decimals of
// smaller scale by rounding half away from zero (floats: half to even).
// Text dates are 'YYYY-MM-DD', timestamps 'YYYY-MM-DD[ T]HH:MM:SS[.ffffff]'.
func Cast(e Expr, to arrow.DataType) (Expr, error) {
	from := e.DataType()
	if !castable(from.ID(), to.ID()) {
		return nil, errMismatch("cannot cast type %s to %s", from, to)
	}
	return &castExpr{e: e, to: to}, nil
}

func castable(from, to arrow.Type) bool {
	if from == arrow.NULL || from == to || from == arrow.STRING || to == arrow.STRING {
		return true
	}
	num := func(t arrow.Type) bool {
		switch t {
		case arrow.INT16, arrow.INT32, arrow.INT64, arrow.FLOAT32, arrow.FLOAT64, arrow.DECIMAL128:
			return true
		}
		return false
	}
	isInt := func(t arrow.Type) bool { return t == arrow.INT16 || t == arrow.INT32 || t == arrow.INT64 }
	switch {
	case num(from) && num(to):
		return true
	case from == arrow.BOOL && isInt(to), isInt(from) && to == arrow.BOOL:
		return true
	case from == arrow.DATE32 && to == arrow.TIMESTAMP, from == arrow.TIMESTAMP && to == arrow.DATE32:
		return true
	}
	return false
}

func (c *castExpr) DataType() arrow.DataType { return c.to }
func (c *castExpr) String() string           { return fmt.Sprintf("CAST(%s AS %s)", c.e, c.to) }

func (c *castExpr) Eval(ctx context.Context, batch arrow.RecordBatch) (arrow.Array, error) {
	a, err := c.e.Eval(ctx, batch)
	if err != nil {
		return nil, err
	}
	defer a.Release()
	return castArray(exec.GetAllocator(ctx), a, c.to)
}

// castArray converts a to type to; the result is owned by the caller.
func castArray(mem memory.Allocator, a arrow.Array, to arrow.DataType) (arrow.Array, error) {
	from := a.DataType()
	n := a.Len()
	if arrow.TypeEqual(from, to) {
		a.Retain()
		return a, nil
	}
	if from.ID() == arrow.NULL || a.NullN() == n {
		return array.MakeArrayOfNull(mem, to, n), nil
	}
	if to.ID() == arrow.STRING {
		return castToString(mem, a)
	}
	if from.ID() == arrow.STRING {
		return castFromString(mem, a, to)
	}
	vbuf, nulls := combineValidity(mem, n, a)
	var vb []byte
	if vbuf != nil {
		vb = vbuf.Bytes()
	}
	data, err := castFixed(mem, a, to, vb)
	if err != nil {
		if vbuf != nil {
			vbuf.Release()
		}
		return nil, err
	}
	return makeArray(to, n, nulls, vbuf, data), nil
}

// castFixed converts between fixed-width types; vb is a's validity.
func castFixed(mem memory.Allocator, a arrow.Array, to arrow.DataType, vb []byte) (*memory.Buffer, error) {
	switch from := a.DataType().ID(); from {
	case arrow.INT16:
		return castFromNum[int16](mem, values[int16](a), to, vb)
	case arrow.INT32:
		return castFromNum[int32](mem, values[int32](a), to, vb)
	case arrow.INT64:
		return castFromNum[int64](mem, values[int64](a), to, vb)
	case arrow.FLOAT32:
		return castFromNum[float32](mem, values[float32](a), to, vb)
	case arrow.FLOAT64:
		return castFromNum[float64](mem, values[float64](a), to, vb)
	case arrow.DECIMAL128:
		return castFromDecimal(mem, values[decimal128.Num](a), a.DataType().(*arrow.Decimal128Type).Scale, to, vb)
	case arrow.BOOL:
		d := a.Data()
		bits, off := d.Buffers()[1].Bytes(), d.Offset()
		src := make([]int16, a.Len())
		for i := range src {
			src[i] = int16(b2u(bitutil.BitIsSet(bits, off+i)))
		}
		return castFromNum[int16](mem, src, to, vb)
	case arrow.DATE32:
		src := values[int32](a)
		buf, out := allocFixed[int64](mem, len(src))
		for i, v := range src {
			out[i] = int64(v) * microsPerDay
		}
		return buf, nil
	case arrow.TIMESTAMP:
		src := values[int64](a)
		buf, out := allocFixed[int32](mem, len(src))
		for i, v := range src {
			d := v / microsPerDay
			if v%microsPerDay < 0 {
				d--
			}
			out[i] = int32(d)
		}
		return buf, nil
	}
	return nil, errMismatch("cannot cast type %s to %s", a.DataType(), to)
}

func castFromNum[S numT](mem memory.Allocator, src []S, to arrow.DataType, vb []byte) (*memory.Buffer, error) {
	switch to.ID() {
	case arrow.INT16:
		return castNum[S, int16](mem, src, vb, math.MinInt16, math.MaxInt16)
	case arrow.INT32:
		return castNum[S, int32](mem, src, vb, math.MinInt32, math.MaxInt32)
	case arrow.INT64:
		return castNum[S, int64](mem, src, vb, math.MinInt64, math.MaxInt64)
	case arrow.FLOAT32:
		return castNum[S, float32](mem, src, vb, 0, 0)
	case arrow.FLOAT64:
		return castNum[S, float64](mem, src, vb, 0, 0)
	case arrow.BOOL:
		buf := allocBitmap(mem, len(src))
		b := buf.Bytes()
		for i, v := range src {
			b[i>>3] |= b2u(v != 0) << (i & 7)
		}
		return buf, nil
	case arrow.DECIMAL128:
		dt := to.(*arrow.Decimal128Type)
		buf, out := allocFixed[decimal128.Num](mem, len(src))
		isFloat := isFloatT[S]()
		for i, v := range src {
			if !isValid(vb, 0, i) {
				continue
			}
			var (
				d  decimal128.Num
				ok = true
			)
			if isFloat {
				var err error
				d, err = decimal128.FromFloat64(float64(v), dt.Precision, dt.Scale)
				ok = err == nil && !math.IsNaN(float64(v))
			} else {
				d, ok = rescaleUp(decimal128.FromI64(int64(v)), dt.Scale)
			}
			if !ok || !d.FitsInPrecision(dt.Precision) {
				buf.Release()
				return nil, errOverflow("numeric")
			}
			out[i] = d
		}
		return buf, nil
	}
	return nil, fmt.Errorf("arrowexec: cast to %s", to)
}

func isFloatT[T numT]() bool {
	var z T
	switch any(z).(type) {
	case float32, float64:
		return true
	}
	return false
}

// castNum converts between numeric Go types. Integer targets are range
// checked (lo/hi); floats round half to even first (PostgreSQL's rint).
func castNum[S, D numT](mem memory.Allocator, src []S, vb []byte, lo, hi float64) (*memory.Buffer, error) {
	buf, out := allocFixed[D](mem, len(src))
	sFloat, dFloat := isFloatT[S](), isFloatT[D]()
	bad := false
	switch {
	case dFloat:
		for i, v := range src {
			out[i] = D(v)
		}
	case !sFloat:
		for i, v := range src {
			d := D(v)
			out[i] = d
			bad = bad || S(d) != v
		}
	default:
		for i, v := range src {
			r := math.RoundToEven(float64(v))
			if !(r >= lo && r < -lo) { // -lo is 2^(bits-1), exact in float64
				bad = true
				continue
			}
			out[i] = D(r)
		}
	}
	if bad {
		for i, v := range src {
			var ok bool
			if sFloat {
				r := math.RoundToEven(float64(v))
				ok = r >= lo && r < -lo
			} else {
				ok = S(D(v)) == v
			}
			if !ok && isValid(vb, 0, i) {
				buf.Release()
				return nil, errOverflow(fmt.Sprintf("value %v", v))
			}
		}
	}
	return buf, nil
}

func castFromDecimal(mem memory.Allocator, src []decimal128.Num, scale int32, to arrow.DataType, vb []byte) (*memory.Buffer, error) {
	n := len(src)
	switch to.ID() {
	case arrow.FLOAT32, arrow.FLOAT64:
		f := make([]float64, n)
		for i, v := range src {
			f[i] = v.ToFloat64(scale)
		}
		return castFromNum[float64](mem, f, to, vb)
	case arrow.DECIMAL128:
		dt := to.(*arrow.Decimal128Type)
		buf, out := allocFixed[decimal128.Num](mem, n)
		for i, v := range src {
			if !isValid(vb, 0, i) {
				continue
			}
			d, ok := decRescale(v, scale, dt.Scale)
			if !ok || !d.FitsInPrecision(dt.Precision) {
				buf.Release()
				return nil, errOverflow("numeric")
			}
			out[i] = d
		}
		return buf, nil
	}
	// Integers: round to scale 0, then range check through int64.
	ints := make([]int64, n)
	for i, v := range src {
		if !isValid(vb, 0, i) {
			continue
		}
		d, _ := decRescale(v, scale, 0)
		if !fitsInt64(d) {
			return nil, errOverflow("numeric")
		}
		ints[i] = int64(d.LowBits())
	}
	return castFromNum[int64](mem, ints, to, vb)
}

// decRescale changes the scale of v, rounding half away from zero when
// the scale shrinks; false on overflow.
func decRescale(v decimal128.Num, from, to int32) (decimal128.Num, bool) {
	if to >= from {
		return rescaleUp(v, to-from)
	}
	return decDivRound(v, 0, decimal128.GetScaleMultiplier(int(from-to)))
}

func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func castToString(mem memory.Allocator, a arrow.Array) (arrow.Array, error) {
	n := a.Len()
	b := array.NewStringBuilder(mem)
	defer b.Release()
	b.Reserve(n)
	var buf []byte
	for i := 0; i < n; i++ {
		if a.IsNull(i) {
			b.AppendNull()
			continue
		}
		buf = appendValueText(buf[:0], a, i)
		b.BinaryBuilder.Append(buf)
	}
	return b.NewArray(), nil
}

// appendValueText appends the SQL text form of a[i].
func appendValueText(dst []byte, a arrow.Array, i int) []byte {
	switch a := a.(type) {
	case *array.Boolean:
		return strconv.AppendBool(dst, a.Value(i))
	case *array.Int16:
		return strconv.AppendInt(dst, int64(a.Value(i)), 10)
	case *array.Int32:
		return strconv.AppendInt(dst, int64(a.Value(i)), 10)
	case *array.Int64:
		return strconv.AppendInt(dst, a.Value(i), 10)
	case *array.Float32:
		return strconv.AppendFloat(dst, float64(a.Value(i)), 'g', -1, 32)
	case *array.Float64:
		return strconv.AppendFloat(dst, a.Value(i), 'g', -1, 64)
	case *array.Decimal128:
		return append(dst, a.Value(i).ToString(a.DataType().(*arrow.Decimal128Type).Scale)...)
	case *array.Date32:
		return time.Unix(int64(a.Value(i))*86400, 0).UTC().AppendFormat(dst, "2006-01-02")
	case *array.Timestamp:
		us := int64(a.Value(i))
		t := time.UnixMicro(us).UTC()
		if us%1000000 != 0 {
			return t.AppendFormat(dst, "2006-01-02 15:04:05.999999")
		}
		return t.AppendFormat(dst, "2006-01-02 15:04:05")
	case *array.String:
		return append(dst, a.Value(i)...)
	case *array.Binary:
		return append(dst, a.Value(i)...)
	}
	return dst
}

func castFromString(mem memory.Allocator, a arrow.Array, to arrow.DataType) (arrow.Array, error) {
	n := a.Len()
	sv := stringsOf(a)
	vbuf, nulls := combineValidity(mem, n, a)
	var vb []byte
	if vbuf != nil {
		vb = vbuf.Bytes()
	}
	fail := func(err error) (arrow.Array, error) {
		if vbuf != nil {
			vbuf.Release()
		}
		return nil, err
	}
	switch to.ID() {
	case arrow.INT16, arrow.INT32, arrow.INT64:
		ints := make([]int64, n)
		for i := range ints {
			if !isValid(vb, 0, i) {
				continue
			}
			s := strings.TrimSpace(unsafeString(sv.at(i)))
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
					return fail(errOverflow(fmt.Sprintf("value %q", s)))
				}
				return fail(sqlstate.Errorf(sqlstate.InvalidText, "invalid input syntax for type %s: %q", to, s))
			}
			ints[i] = v
		}
		data, err := castFromNum[int64](mem, ints, to, vb)
		if err != nil {
			return fail(err)
		}
		return makeArray(to, n, nulls, vbuf, data), nil
	case arrow.FLOAT32, arrow.FLOAT64:
		fs := make([]float64, n)
		for i := range fs {
			if !isValid(vb, 0, i) {
				continue
			}
			s := strings.TrimSpace(unsafeString(sv.at(i)))
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
					return fail(errOverflow(fmt.Sprintf("value %q", s)))
				}
				return fail(sqlstate.Errorf(sqlstate.InvalidText, "invalid input syntax for type %s: %q", to, s))
			}
			fs[i] = v
		}
		data, err := castFromNum[float64](mem, fs, to, vb)
		if err != nil {
			return fail(err)
		}
		return makeArray(to, n, nulls, vbuf, data), nil
	case arrow.DECIMAL128:
		dt := to.(*arrow.Decimal128Type)
		buf, out := allocFixed[decimal128.Num](mem, n)
		for i := range out {
			if !isValid(vb, 0, i) {
				continue
			}
			s := strings.TrimSpace(unsafeString(sv.at(i)))
			d, err := parseDecimal(s, dt)
			if err != nil {
				buf.Release()
				return fail(err)
			}
			out[i] = d
		}
		return makeArray(to, n, nulls, vbuf, buf), nil
	case arrow.BOOL:
		buf := allocBitmap(mem, n)
		b := buf.Bytes()
		for i := 0; i < n; i++ {
			if !isValid(vb, 0, i) {
				continue
			}
			v, ok := parseBool(strings.TrimSpace(unsafeString(sv.at(i))))
			if !ok {
				buf.Release()
				return fail(sqlstate.Errorf(sqlstate.InvalidText, "invalid input syntax for type boolean: %q", sv.at(i)))
			}
			b[i>>3] |= b2u(v) << (i & 7)
		}
		return makeArray(to, n, nulls, vbuf, buf), nil
	case arrow.DATE32:
		buf, out := allocFixed[int32](mem, n)
		for i := range out {
			if !isValid(vb, 0, i) {
				continue
			}
			s := strings.TrimSpace(unsafeString(sv.at(i)))
			t, err := time.Parse("2006-01-02", s)
			if err != nil {
				buf.Release()
				return fail(sqlstate.Errorf(sqlstate.InvalidDatetime, "invalid input syntax for type date: %q", s))
			}
			out[i] = int32(t.Unix() / 86400)
		}
		return makeArray(to, n, nulls, vbuf, buf), nil
	case arrow.TIMESTAMP:
		buf, out := allocFixed[int64](mem, n)
		for i := range out {
			if !isValid(vb, 0, i) {
				continue
			}
			s := strings.TrimSpace(unsafeString(sv.at(i)))
			t, err := parseTimestamp(s)
			if err != nil {
				buf.Release()
				return fail(err)
			}
			out[i] = t
		}
		return makeArray(to, n, nulls, vbuf, buf), nil
	}
	return fail(errMismatch("cannot cast type %s to %s", a.DataType(), to))
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "t", "true", "y", "yes", "on", "1":
		return true, true
	case "f", "false", "n", "no", "off", "0":
		return false, true
	}
	return false, false
}

// parseDecimal parses text into DECIMAL(p,s), rounding extra fraction
// digits half away from zero.
func parseDecimal(s string, dt *arrow.Decimal128Type) (decimal128.Num, error) {
	bad := sqlstate.Errorf(sqlstate.InvalidText, "invalid input syntax for type numeric: %q", s)
	body := strings.TrimLeft(s, "+-")
	if body == "" || strings.ContainsAny(body, "eE") {
		if v, err := strconv.ParseFloat(s, 64); err == nil && body != "" {
			d, err := decimal128.FromFloat64(v, dt.Precision, dt.Scale)
			if err != nil {
				return d, errOverflow("numeric")
			}
			return d, nil
		}
		return decimal128.Num{}, bad
	}
	intPart, frac, _ := strings.Cut(body, ".")
	if intPart == "" && frac == "" {
		return decimal128.Num{}, bad
	}
	for _, c := range intPart + frac {
		if c < '0' || c > '9' {
			return decimal128.Num{}, bad
		}
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	if len(digits) > 38 {
		return decimal128.Num{}, errOverflow("numeric")
	}
	d, err := decimal128.FromString(intPart+"."+frac+"0", 38, int32(len(frac)+1))
	if err != nil {
		return decimal128.Num{}, bad
	}
	d, ok := decRescale(d, int32(len(frac)+1), dt.Scale)
	if !ok || !d.FitsInPrecision(dt.Precision) {
		return decimal128.Num{}, errOverflow("numeric")
	}
	if strings.HasPrefix(s, "-") {
		d = d.Negate()
	}
	return d, nil
}

var timestampLayouts = []string{
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04",
	"2006-01-02",
}

// parseTimestamp parses text into microseconds since the epoch (UTC).
func parseTimestamp(s string) (int64, error) {
	for _, l := range timestampLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UnixMicro(), nil
		}
	}
	return 0, sqlstate.Errorf(sqlstate.InvalidDatetime, "invalid input syntax for type timestamp: %q", s)
}
