package arrowexec

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// ScalarFunc is a built-in scalar function evaluated by Func.
type ScalarFunc uint8

// Scalar functions. Unless noted, a NULL argument gives NULL. String
// functions count characters (UTF-8 code points), not bytes.
const (
	// FuncConcat concatenates its STRING arguments (SQL's ||).
	FuncConcat ScalarFunc = iota
	// FuncConcatSkipNulls concatenates its STRING arguments, reading NULL
	// as the empty string (CONCAT); the result is never NULL.
	FuncConcatSkipNulls
	// FuncUpper and FuncLower change the case of a STRING (Unicode).
	FuncUpper
	FuncLower
	// FuncLength is the number of characters of a STRING, an Int64.
	FuncLength
	// FuncTrim, FuncLTrim and FuncRTrim remove the characters of their
	// second STRING argument from both ends, the start or the end.
	FuncTrim
	FuncLTrim
	FuncRTrim
	// FuncReplace(s, from, to) replaces every occurrence of from (an empty
	// from replaces nothing).
	FuncReplace
	// FuncPosition(sub, s) is the 1-based character position of the first
	// sub in s, 0 when absent (an Int64).
	FuncPosition
	// FuncStartsWith(s, prefix) is a BOOLEAN.
	FuncStartsWith
	// FuncAbs is the absolute value of an integer, float or decimal
	// (overflow of the smallest integer is 22003).
	FuncAbs
	// FuncRound(x, digits), FuncFloor(x), FuncCeil(x) of a float or
	// decimal; digits is an Int64 literal. Decimal results have the scale
	// of the result type (round half away from zero).
	FuncRound
	FuncFloor
	FuncCeil
	// FuncSqrt, FuncLn, FuncExp of a Float64; FuncPower(x, y) of Float64s.
	// SQRT of a negative number is 2201F, LN of a non-positive one 2201E.
	FuncSqrt
	FuncLn
	FuncExp
	FuncPower
	// FuncDateTrunc truncates a Date32 or Timestamp to the DatePart given
	// to Func (year, quarter, month, week, day, hour, minute, second).
	FuncDateTrunc
	// FuncAddInterval(x, n) adds n (an Int64) units of the DatePart given
	// to Func to a Date32 or Timestamp: PartDay, PartMonth (clamping the
	// day to the end of the month, 2024-01-31 + 1 month = 2024-02-29) or,
	// for a Timestamp, PartHour, PartMinute, PartSecond.
	FuncAddInterval
)

var funcNames = [...]string{"concat_op", "concat", "upper", "lower", "length", "btrim", "ltrim", "rtrim",
	"replace", "position", "starts_with", "abs", "round", "floor", "ceil", "sqrt", "ln", "exp", "power", "date_trunc", "add_interval"}

// PartWeek is a DATE_TRUNC unit (weeks start on Monday).
const PartWeek DatePart = 100

type funcExpr struct {
	fn   ScalarFunc
	args []Expr
	dt   arrow.DataType
	part DatePart
}

var _ Expr = (*funcExpr)(nil)

// Func calls fn on args; dt is the result type (the binder's: for ROUND,
// FLOOR, CEIL and ABS of a decimal the decimal type of the result, for
// ABS/ROUND/FLOOR/CEIL of other types the argument's type). part is the
// unit of FuncDateTrunc and ignored otherwise. Argument types are checked
// here, once.
func Func(fn ScalarFunc, dt arrow.DataType, part DatePart, args ...Expr) (Expr, error) {
	want := func(n int, ids ...arrow.Type) error {
		if n >= 0 && len(args) != n {
			return fmt.Errorf("arrowexec: %s takes %d arguments, got %d", funcNames[fn], n, len(args))
		}
		for i, a := range args {
			id := a.DataType().ID()
			ok := id == arrow.NULL
			for _, w := range ids {
				ok = ok || id == w
			}
			if !ok {
				return errMismatch("function %s(%s) does not exist (argument %d)", funcNames[fn], a.DataType(), i+1)
			}
		}
		return nil
	}
	var err error
	switch fn {
	case FuncConcat, FuncConcatSkipNulls:
		err = want(-1, arrow.STRING)
	case FuncUpper, FuncLower, FuncLength:
		err = want(1, arrow.STRING)
	case FuncTrim, FuncLTrim, FuncRTrim, FuncPosition, FuncStartsWith:
		err = want(2, arrow.STRING)
	case FuncReplace:
		err = want(3, arrow.STRING)
	case FuncAbs:
		err = want(1, arrow.INT16, arrow.INT32, arrow.INT64, arrow.FLOAT32, arrow.FLOAT64, arrow.DECIMAL128)
	case FuncRound:
		if len(args) != 2 || args[1].DataType().ID() != arrow.INT64 {
			return nil, fmt.Errorf("arrowexec: round takes a value and an Int64 digit count")
		}
		if _, ok := args[1].(*litExpr); !ok {
			return nil, fmt.Errorf("arrowexec: the digits of round must be a literal")
		}
		err = want(-1, arrow.FLOAT32, arrow.FLOAT64, arrow.DECIMAL128, arrow.INT64)
	case FuncFloor, FuncCeil:
		err = want(1, arrow.FLOAT32, arrow.FLOAT64, arrow.DECIMAL128)
	case FuncSqrt, FuncLn, FuncExp:
		err = want(1, arrow.FLOAT64)
	case FuncPower:
		err = want(2, arrow.FLOAT64)
	case FuncDateTrunc:
		err = want(1, arrow.DATE32, arrow.TIMESTAMP)
	case FuncAddInterval:
		if len(args) != 2 || args[1].DataType().ID() != arrow.INT64 {
			return nil, fmt.Errorf("arrowexec: add_interval takes a date or timestamp and an Int64")
		}
		if a := args[0].DataType().ID(); a != arrow.DATE32 && a != arrow.TIMESTAMP && a != arrow.NULL {
			return nil, errMismatch("function add_interval(%s) does not exist", args[0].DataType())
		}
		if args[0].DataType().ID() == arrow.DATE32 && part != PartDay && part != PartMonth {
			return nil, fmt.Errorf("arrowexec: add_interval of a date by unit %d", part)
		}
	default:
		err = fmt.Errorf("arrowexec: unknown function %d", fn)
	}
	if err != nil {
		return nil, err
	}
	if (fn == FuncAbs || fn == FuncRound || fn == FuncFloor || fn == FuncCeil) && args[0].DataType().ID() != arrow.DECIMAL128 &&
		args[0].DataType().ID() != arrow.NULL && !arrow.TypeEqual(dt, args[0].DataType()) {
		return nil, fmt.Errorf("arrowexec: %s of %s must have the argument type, not %s", funcNames[fn], args[0].DataType(), dt)
	}
	return &funcExpr{fn: fn, args: args, dt: dt, part: part}, nil
}

func (e *funcExpr) DataType() arrow.DataType { return e.dt }

func (e *funcExpr) String() string {
	parts := make([]string, len(e.args))
	for i, a := range e.args {
		parts[i] = a.String()
	}
	return fmt.Sprintf("%s(%s)", funcNames[e.fn], strings.Join(parts, ", "))
}

func (e *funcExpr) Eval(ctx context.Context, batch arrow.RecordBatch) (arrow.Array, error) {
	n := int(batch.NumRows())
	mem := exec.GetAllocator(ctx)
	ops := make([]operand, len(e.args))
	defer func() {
		for _, o := range ops {
			if o.arr != nil {
				o.arr.Release()
			}
		}
	}()
	anyNullType := false
	for i, a := range e.args {
		o, err := evalOperand(ctx, a, batch)
		if err != nil {
			return nil, err
		}
		ops[i] = o
		anyNullType = anyNullType || o.arr.DataType().ID() == arrow.NULL
	}
	if anyNullType && e.fn != FuncConcatSkipNulls {
		return allNull(ctx, e.dt, n), nil
	}
	// Validity: the AND of the arguments' (broadcast constants expanded).
	var vbuf *memory.Buffer
	nulls := 0
	if e.fn != FuncConcatSkipNulls {
		vbuf, nulls = operandValidity(mem, n, ops)
	}
	valid := func(i int) bool { return vbuf == nil || bitutil.BitIsSet(vbuf.Bytes(), i) }
	switch e.fn {
	case FuncConcat, FuncConcatSkipNulls, FuncUpper, FuncLower, FuncTrim, FuncLTrim, FuncRTrim, FuncReplace:
		return e.evalString(mem, n, ops, vbuf, nulls, valid), nil
	case FuncLength, FuncPosition:
		buf, out := allocFixed[int64](mem, n)
		s0 := stringsOf(ops[0].arr)
		var s1 stringValues
		if len(ops) > 1 {
			s1 = stringsOf(ops[1].arr)
		}
		for i := 0; i < n; i++ {
			if !valid(i) {
				continue
			}
			if e.fn == FuncLength {
				out[i] = int64(utf8.RuneCount(s0.at(i & ops[0].mask)))
				continue
			}
			sub, s := s0.at(i&ops[0].mask), s1.at(i&ops[1].mask)
			if k := bytes.Index(s, sub); k >= 0 {
				out[i] = int64(utf8.RuneCount(s[:k])) + 1
			}
		}
		return makeArray(e.dt, n, nulls, vbuf, buf), nil
	case FuncStartsWith:
		bits := allocBitmap(mem, n)
		s0, s1 := stringsOf(ops[0].arr), stringsOf(ops[1].arr)
		for i := 0; i < n; i++ {
			if valid(i) && bytes.HasPrefix(s0.at(i&ops[0].mask), s1.at(i&ops[1].mask)) {
				bitutil.SetBit(bits.Bytes(), i)
			}
		}
		return makeArray(e.dt, n, nulls, vbuf, bits), nil
	case FuncAbs, FuncRound, FuncFloor, FuncCeil:
		return e.evalNumeric(mem, n, ops, vbuf, nulls, valid)
	case FuncSqrt, FuncLn, FuncExp, FuncPower:
		buf, out := allocFixed[float64](mem, n)
		x := values[float64](ops[0].arr)
		var y []float64
		if len(ops) > 1 {
			y = values[float64](ops[1].arr)
		}
		for i := 0; i < n; i++ {
			if !valid(i) {
				continue
			}
			v := x[i&ops[0].mask]
			switch e.fn {
			case FuncSqrt:
				if v < 0 {
					buf.Release()
					releaseBuf(vbuf)
					return nil, sqlstate.Errorf(sqlstate.InvalidPowerArgument, "cannot take square root of a negative number")
				}
				out[i] = math.Sqrt(v)
			case FuncLn:
				if v <= 0 {
					buf.Release()
					releaseBuf(vbuf)
					return nil, sqlstate.Errorf(sqlstate.InvalidLogArgument, "cannot take logarithm of a non-positive number")
				}
				out[i] = math.Log(v)
			case FuncExp:
				out[i] = math.Exp(v)
			case FuncPower:
				out[i] = math.Pow(v, y[i&ops[1].mask])
			}
			if math.IsInf(out[i], 0) && !math.IsInf(v, 0) {
				buf.Release()
				releaseBuf(vbuf)
				return nil, sqlstate.Errorf(sqlstate.NumericOutOfRange, "value out of range: overflow in %s", funcNames[e.fn])
			}
		}
		return makeArray(e.dt, n, nulls, vbuf, buf), nil
	case FuncDateTrunc:
		if ops[0].arr.DataType().ID() == arrow.DATE32 {
			buf, out := allocFixed[int32](mem, n)
			x := values[int32](ops[0].arr)
			for i := 0; i < n; i++ {
				if valid(i) {
					out[i] = int32(truncTime(time.Unix(int64(x[i&ops[0].mask])*86400, 0).UTC(), e.part).Unix() / 86400)
				}
			}
			return makeArray(e.dt, n, nulls, vbuf, buf), nil
		}
		buf, out := allocFixed[int64](mem, n)
		x := values[int64](ops[0].arr)
		for i := 0; i < n; i++ {
			if valid(i) {
				out[i] = truncTime(time.UnixMicro(x[i&ops[0].mask]).UTC(), e.part).UnixMicro()
			}
		}
		return makeArray(e.dt, n, nulls, vbuf, buf), nil
	case FuncAddInterval:
		amount := values[int64](ops[1].arr)
		if ops[0].arr.DataType().ID() == arrow.DATE32 {
			buf, out := allocFixed[int32](mem, n)
			x := values[int32](ops[0].arr)
			for i := 0; i < n; i++ {
				if !valid(i) {
					continue
				}
				d, k := int64(x[i&ops[0].mask]), amount[i&ops[1].mask]
				if e.part == PartMonth {
					d = addMonths(time.Unix(d*86400, 0).UTC(), k).Unix() / 86400
				} else {
					d += k
				}
				if d < math.MinInt32 || d > math.MaxInt32 {
					buf.Release()
					releaseBuf(vbuf)
					return nil, sqlstate.Errorf(sqlstate.NumericOutOfRange, "date out of range")
				}
				out[i] = int32(d)
			}
			return makeArray(e.dt, n, nulls, vbuf, buf), nil
		}
		unit := map[DatePart]int64{PartDay: 86400e6, PartHour: 3600e6, PartMinute: 60e6, PartSecond: 1e6}[e.part]
		buf, out := allocFixed[int64](mem, n)
		x := values[int64](ops[0].arr)
		for i := 0; i < n; i++ {
			if !valid(i) {
				continue
			}
			t, k := x[i&ops[0].mask], amount[i&ops[1].mask]
			if e.part == PartMonth {
				out[i] = addMonths(time.UnixMicro(t).UTC(), k).UnixMicro()
			} else {
				out[i] = t + k*unit
			}
		}
		return makeArray(e.dt, n, nulls, vbuf, buf), nil
	}
	releaseBuf(vbuf)
	return nil, fmt.Errorf("arrowexec: cannot evaluate %s", e)
}

func releaseBuf(b *memory.Buffer) {
	if b != nil {
		b.Release()
	}
}

// operandValidity ANDs the validity of operands, expanding broadcast
// constants; nil when no row is NULL.
func operandValidity(mem memory.Allocator, n int, ops []operand) (*memory.Buffer, int) {
	var arrs []arrow.Array
	for _, o := range ops {
		if o.mask == 0 {
			if o.arr.IsNull(0) {
				out := allocBitmap(mem, n)
				return out, n
			}
			continue
		}
		arrs = append(arrs, o.arr)
	}
	return combineValidity(mem, n, arrs...)
}

// addMonths adds n months to t, clamping the day to the end of the target
// month.
func addMonths(t time.Time, n int64) time.Time {
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(n), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
	last := first.AddDate(0, 1, -1).Day()
	return first.AddDate(0, 0, min(d, last)-1)
}

// truncTime truncates t (UTC) to part.
func truncTime(t time.Time, part DatePart) time.Time {
	y, m, d := t.Date()
	switch part {
	case PartYear:
		return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
	case PartQuarter:
		return time.Date(y, m-(m-1)%3, 1, 0, 0, 0, 0, time.UTC)
	case PartMonth:
		return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	case PartWeek:
		wd := (int(t.Weekday()) + 6) % 7 // Monday = 0
		return time.Date(y, m, d-wd, 0, 0, 0, 0, time.UTC)
	case PartDay:
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	case PartHour:
		return t.Truncate(time.Hour)
	case PartMinute:
		return t.Truncate(time.Minute)
	case PartSecond:
		return t.Truncate(time.Second)
	}
	return t
}

// evalString runs the functions with a STRING result. Values are written
// into one reused Go buffer and copied into Arrow memory once per batch.
func (e *funcExpr) evalString(mem memory.Allocator, n int, ops []operand, vbuf *memory.Buffer, nulls int, valid func(int) bool) arrow.Array {
	svs := make([]stringValues, len(ops))
	for i, o := range ops {
		svs[i] = stringsOf(o.arr)
	}
	arg := func(k, i int) []byte {
		o := ops[k]
		if o.mask == 0 && o.arr.IsNull(0) || o.mask != 0 && o.arr.IsNull(i) {
			return nil
		}
		return svs[k].at(i & o.mask)
	}
	obuf, offs := allocFixed[int32](mem, n+1)
	var data []byte
	for i := 0; i < n; i++ {
		offs[i] = int32(len(data))
		if !valid(i) {
			continue
		}
		switch e.fn {
		case FuncConcat, FuncConcatSkipNulls:
			for k := range ops {
				data = append(data, arg(k, i)...)
			}
		case FuncUpper, FuncLower:
			s := arg(0, i)
			for len(s) > 0 {
				c := s[0]
				if c < utf8.RuneSelf {
					if e.fn == FuncUpper && 'a' <= c && c <= 'z' {
						c -= 'a' - 'A'
					} else if e.fn == FuncLower && 'A' <= c && c <= 'Z' {
						c += 'a' - 'A'
					}
					data = append(data, c)
					s = s[1:]
					continue
				}
				r, w := utf8.DecodeRune(s)
				if e.fn == FuncUpper {
					r = unicode.ToUpper(r)
				} else {
					r = unicode.ToLower(r)
				}
				data = utf8.AppendRune(data, r)
				s = s[w:]
			}
		case FuncTrim, FuncLTrim, FuncRTrim:
			s, cut := arg(0, i), string(arg(1, i))
			if e.fn != FuncRTrim {
				s = bytes.TrimLeft(s, cut)
			}
			if e.fn != FuncLTrim {
				s = bytes.TrimRight(s, cut)
			}
			data = append(data, s...)
		case FuncReplace:
			s, from, to := arg(0, i), arg(1, i), arg(2, i)
			if len(from) == 0 {
				data = append(data, s...)
				break
			}
			for {
				k := bytes.Index(s, from)
				if k < 0 {
					data = append(data, s...)
					break
				}
				data = append(data, s[:k]...)
				data = append(data, to...)
				s = s[k+len(from):]
			}
		}
	}
	offs[n] = int32(len(data))
	dbuf := memory.NewResizableBuffer(mem)
	dbuf.Resize(len(data))
	copy(dbuf.Bytes(), data)
	return makeArray(arrow.BinaryTypes.String, n, nulls, vbuf, obuf, dbuf)
}

// evalNumeric runs ABS, ROUND, FLOOR and CEIL.
func (e *funcExpr) evalNumeric(mem memory.Allocator, n int, ops []operand, vbuf *memory.Buffer, nulls int, valid func(int) bool) (arrow.Array, error) {
	a := ops[0]
	digits := int64(0)
	if e.fn == FuncRound {
		digits = values[int64](ops[1].arr)[0]
	}
	fail := func(err error) (arrow.Array, error) {
		releaseBuf(vbuf)
		return nil, err
	}
	switch a.arr.DataType().ID() {
	case arrow.INT16:
		return absInt[int16](mem, e.dt, a, n, vbuf, nulls, valid)
	case arrow.INT32:
		return absInt[int32](mem, e.dt, a, n, vbuf, nulls, valid)
	case arrow.INT64:
		if e.fn == FuncRound {
			buf, out := allocFixed[int64](mem, n)
			copy(out, expand(values[int64](a.arr), a.mask, n))
			return makeArray(e.dt, n, nulls, vbuf, buf), nil
		}
		return absInt[int64](mem, e.dt, a, n, vbuf, nulls, valid)
	case arrow.FLOAT32:
		buf, out := allocFixed[float32](mem, n)
		x := values[float32](a.arr)
		for i := 0; i < n; i++ {
			out[i] = float32(floatFunc(e.fn, float64(x[i&a.mask]), digits))
		}
		return makeArray(e.dt, n, nulls, vbuf, buf), nil
	case arrow.FLOAT64:
		buf, out := allocFixed[float64](mem, n)
		x := values[float64](a.arr)
		for i := 0; i < n; i++ {
			out[i] = floatFunc(e.fn, x[i&a.mask], digits)
		}
		return makeArray(e.dt, n, nulls, vbuf, buf), nil
	case arrow.DECIMAL128:
		in := a.arr.DataType().(*arrow.Decimal128Type)
		ot, ok := e.dt.(*arrow.Decimal128Type)
		if !ok {
			return fail(fmt.Errorf("arrowexec: %s of a decimal must have a decimal type, not %s", funcNames[e.fn], e.dt))
		}
		buf, out := allocFixed[decimal128.Num](mem, n)
		x := values[decimal128.Num](a.arr)
		for i := 0; i < n; i++ {
			if !valid(i) {
				continue
			}
			v := x[i&a.mask]
			switch e.fn {
			case FuncAbs:
				v = v.Abs()
			case FuncRound, FuncFloor, FuncCeil:
				if k := in.Scale - ot.Scale; k > 0 {
					r := v.ReduceScaleBy(k, e.fn == FuncRound)
					if e.fn != FuncRound && r.IncreaseScaleBy(k) != v {
						// Truncated toward zero: adjust toward -inf/+inf.
						if e.fn == FuncFloor && v.Sign() < 0 {
							r = r.Sub(decimal128.FromI64(1))
						} else if e.fn == FuncCeil && v.Sign() > 0 {
							r = r.Add(decimal128.FromI64(1))
						}
					}
					v = r
				} else if k < 0 {
					v = v.IncreaseScaleBy(-k)
				}
			}
			if !v.FitsInPrecision(ot.Precision) {
				buf.Release()
				return fail(sqlstate.Errorf(sqlstate.NumericOutOfRange, "numeric field overflow in %s", funcNames[e.fn]))
			}
			out[i] = v
		}
		return makeArray(e.dt, n, nulls, vbuf, buf), nil
	}
	return fail(fmt.Errorf("arrowexec: cannot evaluate %s", e))
}

// expand returns the n values of a (broadcast when mask is 0).
func expand[T fixedT](a []T, mask, n int) []T {
	if mask != 0 {
		return a
	}
	out := make([]T, n)
	for i := range out {
		out[i] = a[0]
	}
	return out
}

func floatFunc(fn ScalarFunc, v float64, digits int64) float64 {
	switch fn {
	case FuncAbs:
		return math.Abs(v)
	case FuncFloor:
		return math.Floor(v)
	case FuncCeil:
		return math.Ceil(v)
	case FuncRound:
		if digits == 0 {
			return math.Round(v)
		}
		p := math.Pow(10, float64(digits))
		r := math.Round(v*p) / p
		if math.IsInf(r, 0) || math.IsNaN(r) {
			return v
		}
		return r
	}
	return v
}

func absInt[T intT](mem memory.Allocator, dt arrow.DataType, a operand, n int, vbuf *memory.Buffer, nulls int, valid func(int) bool) (arrow.Array, error) {
	buf, out := allocFixed[T](mem, n)
	x := values[T](a.arr)
	lo := minInt[T]()
	for i := 0; i < n; i++ {
		v := x[i&a.mask]
		if v < 0 {
			if v == lo && valid(i) {
				buf.Release()
				releaseBuf(vbuf)
				return nil, sqlstate.Errorf(sqlstate.NumericOutOfRange, "%s out of range", intTypeName[T]())
			}
			v = -v
		}
		out[i] = v
	}
	return makeArray(dt, n, nulls, vbuf, buf), nil
}
