package sql

import (
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// integerDecimal returns the DECIMAL type that holds every value of the
// integer type t.
func integerDecimal(t catalog.Type) catalog.Type {
	switch t.Kind {
	case catalog.KindSmallint:
		return catalog.Decimal(5, 0)
	case catalog.KindInt:
		return catalog.Decimal(10, 0)
	}
	return catalog.Decimal(19, 0)
}

func intRank(k catalog.Kind) int {
	switch k {
	case catalog.KindSmallint:
		return 1
	case catalog.KindInt:
		return 2
	case catalog.KindBigint:
		return 3
	}
	return 0
}

// decimalUnion returns the smallest DECIMAL that holds every value of a and
// b (both DECIMAL), capped at 38 digits.
func decimalUnion(a, b catalog.Type) catalog.Type {
	s := max(a.Scale, b.Scale)
	p := max(a.Precision-a.Scale, b.Precision-b.Scale) + s
	return capDecimal(p, s)
}

// capDecimal caps precision at 38, keeping integer digits over scale.
func capDecimal(p, s int32) catalog.Type {
	if p > catalog.MaxDecimalPrecision {
		s -= p - catalog.MaxDecimalPrecision
		if s < 0 {
			s = 0
		}
		p = catalog.MaxDecimalPrecision
	}
	if p < 1 {
		p = 1
	}
	if s > p {
		s = p
	}
	return catalog.Decimal(p, s)
}

// CommonType returns the type that values of a and b widen to, or false
// when they are incompatible. Two DECIMALs give their union.
func CommonType(a, b catalog.Type) (catalog.Type, bool) {
	if a.Kind == catalog.KindNull {
		return b, true
	}
	if b.Kind == catalog.KindNull {
		return a, true
	}
	if a.Kind == b.Kind {
		switch a.Kind {
		case catalog.KindDecimal:
			return decimalUnion(a, b), true
		case catalog.KindVarchar:
			return catalog.Varchar, true
		}
		return a, true
	}
	if a.IsNumeric() && b.IsNumeric() {
		switch {
		case a.Kind == catalog.KindDouble || b.Kind == catalog.KindDouble:
			return catalog.Double, true
		case a.Kind == catalog.KindReal || b.Kind == catalog.KindReal:
			return catalog.Double, true
		case a.Kind == catalog.KindDecimal:
			return decimalUnion(a, integerDecimal(b)), true
		case b.Kind == catalog.KindDecimal:
			return decimalUnion(integerDecimal(a), b), true
		}
		if intRank(a.Kind) > intRank(b.Kind) {
			return a, true
		}
		return b, true
	}
	if (a.Kind == catalog.KindDate && b.Kind == catalog.KindTimestamp) ||
		(a.Kind == catalog.KindTimestamp && b.Kind == catalog.KindDate) {
		return catalog.Timestamp, true
	}
	return catalog.Type{}, false
}

// sameType reports whether values of a need no cast to be used where b is
// expected by an operator: equal kinds, where DECIMALs may differ.
func sameType(a, b catalog.Type) bool {
	if a.Kind != b.Kind {
		return false
	}
	return true
}

// ArithType returns the result type of L op R for operands of type t (both
// the same kind; for DECIMAL the given operand types).
func ArithType(op arrowexec.ArithOp, l, r catalog.Type) catalog.Type {
	if l.Kind != catalog.KindDecimal {
		return l
	}
	// The rules of arrowexec's decimal kernels (decimalArithType there).
	p1, s1, p2, s2 := l.Precision, l.Scale, r.Precision, r.Scale
	s := max(s1, s2)
	var p int32
	switch op {
	case arrowexec.OpAdd, arrowexec.OpSub:
		p = max(p1-s1, p2-s2) + s + 1
	case arrowexec.OpMul:
		p, s = p1+p2, s1+s2
	case arrowexec.OpDiv:
		p, s = catalog.MaxDecimalPrecision, max(arrowexec.DecimalDivScale, s1)
	default: // OpMod
		p = max(p1, p2)
	}
	return catalog.Decimal(min(p, catalog.MaxDecimalPrecision), min(s, catalog.MaxDecimalPrecision))
}

// AggType returns the result type of an aggregate over arg, or false when
// the function is not defined for arg's type.
func AggType(f arrowexec.AggFunc, arg catalog.Type) (catalog.Type, bool) {
	switch f {
	case arrowexec.AggCountStar, arrowexec.AggCount:
		return catalog.Bigint, true
	case arrowexec.AggMin, arrowexec.AggMax:
		return arg, arg.Kind != catalog.KindNull
	case arrowexec.AggSum:
		switch {
		case arg.IsInteger():
			return catalog.Bigint, true
		case arg.Kind == catalog.KindReal || arg.Kind == catalog.KindDouble:
			return catalog.Double, true
		case arg.Kind == catalog.KindDecimal:
			return catalog.Decimal(catalog.MaxDecimalPrecision, arg.Scale), true
		}
	case arrowexec.AggAvg:
		if arg.IsNumeric() {
			return catalog.Double, true
		}
	}
	return catalog.Type{}, false
}

// value is the Go form of a non-NULL literal used for bind-time casts.
type value struct {
	kind  catalog.Kind
	i     int64 // integers, DATE days, TIMESTAMP micros
	f     float64
	d     decimal128.Num
	scale int32
	s     string
	b     bool
}

func literalValue(l *Literal) (value, bool) {
	v := value{kind: l.Typ.Kind}
	switch s := l.Value.(type) {
	case *scalar.Int16:
		v.i = int64(s.Value)
	case *scalar.Int32:
		v.i = int64(s.Value)
	case *scalar.Int64:
		v.i = s.Value
	case *scalar.Float32:
		v.f = float64(s.Value)
	case *scalar.Float64:
		v.f = s.Value
	case *scalar.Decimal128:
		v.d, v.scale = s.Value, l.Typ.Scale
	case *scalar.String:
		v.s = string(s.Data())
	case *scalar.Boolean:
		v.b = s.Value
	case *scalar.Date32:
		v.i = int64(s.Value)
	case *scalar.Timestamp:
		v.i = int64(s.Value)
	default:
		return v, false
	}
	return v, true
}

// NewLiteral returns a literal of type t from its Go value: int64 for
// integers, DATE days and TIMESTAMP microseconds, float64, decimal128.Num,
// string or bool; nil is NULL.
func NewLiteral(t catalog.Type, v any) *Literal {
	dt := t.ArrowType()
	if v == nil {
		return &Literal{Value: scalar.MakeNullScalar(dt), Typ: t}
	}
	var s scalar.Scalar
	switch t.Kind {
	case catalog.KindSmallint:
		s = scalar.NewInt16Scalar(int16(v.(int64)))
	case catalog.KindInt:
		s = scalar.NewInt32Scalar(int32(v.(int64)))
	case catalog.KindBigint:
		s = scalar.NewInt64Scalar(v.(int64))
	case catalog.KindReal:
		s = scalar.NewFloat32Scalar(float32(v.(float64)))
	case catalog.KindDouble:
		s = scalar.NewFloat64Scalar(v.(float64))
	case catalog.KindDecimal:
		s = scalar.NewDecimal128Scalar(v.(decimal128.Num), dt)
	case catalog.KindVarchar:
		s = scalar.NewStringScalar(v.(string))
	case catalog.KindBoolean:
		s = scalar.NewBooleanScalar(v.(bool))
	case catalog.KindDate:
		s = scalar.NewDate32Scalar(arrow.Date32(v.(int64)))
	case catalog.KindTimestamp:
		s = scalar.NewTimestampScalar(arrow.Timestamp(v.(int64)), dt)
	default:
		return &Literal{Value: scalar.MakeNullScalar(arrow.Null), Typ: catalog.Null}
	}
	return &Literal{Value: s, Typ: t}
}

// numberLiteral types a numeric literal's text per the typing rules.
func numberLiteral(text string, float bool) (*Literal, error) {
	if float {
		if strings.ContainsAny(text, "eE") {
			f, err := strconv.ParseFloat(text, 64)
			if err != nil {
				return nil, sqlstate.Errorf(sqlstate.NumericOutOfRange, "%s is out of range for type DOUBLE", text)
			}
			return NewLiteral(catalog.Double, f), nil
		}
		return decimalLiteral(text)
	}
	if i, err := strconv.ParseInt(text, 10, 64); err == nil {
		return NewLiteral(catalog.Bigint, i), nil
	}
	return decimalLiteral(text)
}

func decimalLiteral(text string) (*Literal, error) {
	digits := strings.TrimLeft(text, "+-")
	intPart, frac, _ := strings.Cut(digits, ".")
	intPart = strings.TrimLeft(intPart, "0")
	s := int32(len(frac))
	p := int32(max(len(intPart), 1)) + s
	if p > catalog.MaxDecimalPrecision {
		return nil, sqlstate.Errorf(sqlstate.NumericOutOfRange, "numeric literal %s exceeds %d digits", text, catalog.MaxDecimalPrecision)
	}
	n, err := decimal128.FromString(text, p, s)
	if err != nil {
		return nil, sqlstate.Wrap(err, sqlstate.InvalidText, "invalid numeric literal %s", text)
	}
	return NewLiteral(catalog.Decimal(p, s), n), nil
}

var timestampLayouts = []string{
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02 15:04",
	"2006-01-02",
}

func parseTimestamp(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	for _, l := range timestampLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC().Sub(time.Unix(0, 0).UTC()).Microseconds(), t.Year() > 0 && t.Year() < 10000
		}
	}
	return 0, false
}

func parseDate(s string) (int64, bool) {
	t, err := time.Parse("2006-01-02", strings.TrimSpace(s))
	if err != nil {
		return 0, false
	}
	return int64(arrow.Date32FromTime(t)), true
}

// CastLiteral converts a constant to type to at bind time. It returns
// (nil, nil) when the conversion is not done at bind time (the caller then
// inserts a Cast), and a *sqlstate.Error when the value does not fit.
func CastLiteral(l *Literal, to catalog.Type) (*Literal, error) {
	if l.Typ == to {
		return l, nil
	}
	if l.IsNull() {
		return NewLiteral(to, nil), nil
	}
	v, ok := literalValue(l)
	if !ok {
		return nil, nil
	}
	outOfRange := func() error {
		return sqlstate.Errorf(sqlstate.NumericOutOfRange, "value %s is out of range for type %s", l, to)
	}
	switch to.Kind {
	case catalog.KindSmallint, catalog.KindInt, catalog.KindBigint:
		var i int64
		switch {
		case v.kind == catalog.KindVarchar:
			n, err := strconv.ParseInt(strings.TrimSpace(v.s), 10, 64)
			if err != nil {
				if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
					return nil, outOfRange()
				}
				return nil, sqlstate.Errorf(sqlstate.InvalidText, "invalid input syntax for type %s: %q", to, v.s)
			}
			i = n
		case catalog.Type{Kind: v.kind}.IsInteger():
			i = v.i
		case v.kind == catalog.KindDecimal:
			// Round half away from zero, as a Cast does.
			r, err := v.d.Rescale(v.scale, 0)
			if err != nil || v.scale > 0 {
				f := v.d.ToFloat64(v.scale)
				if math.Abs(f) >= 9.2e18 {
					return nil, outOfRange()
				}
				i = int64(math.Round(f))
				break
			}
			if !r.FitsInPrecision(18) {
				return nil, outOfRange()
			}
			i = int64(r.LowBits())
		default:
			return nil, nil
		}
		lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
		switch to.Kind {
		case catalog.KindSmallint:
			lo, hi = math.MinInt16, math.MaxInt16
		case catalog.KindInt:
			lo, hi = math.MinInt32, math.MaxInt32
		}
		if i < lo || i > hi {
			return nil, outOfRange()
		}
		return NewLiteral(to, i), nil
	case catalog.KindReal, catalog.KindDouble:
		var f float64
		switch {
		case v.kind == catalog.KindVarchar:
			x, err := strconv.ParseFloat(strings.TrimSpace(v.s), 64)
			if err != nil {
				return nil, sqlstate.Errorf(sqlstate.InvalidText, "invalid input syntax for type %s: %q", to, v.s)
			}
			f = x
		case catalog.Type{Kind: v.kind}.IsInteger():
			f = float64(v.i)
		case v.kind == catalog.KindDecimal:
			f = v.d.ToFloat64(v.scale)
		case v.kind == catalog.KindReal || v.kind == catalog.KindDouble:
			f = v.f
		default:
			return nil, nil
		}
		if to.Kind == catalog.KindReal && !math.IsInf(f, 0) && math.Abs(f) > math.MaxFloat32 {
			return nil, outOfRange()
		}
		return NewLiteral(to, f), nil
	case catalog.KindDecimal:
		var n decimal128.Num
		var err error
		switch {
		case v.kind == catalog.KindVarchar:
			n, err = decimal128.FromString(strings.TrimSpace(v.s), to.Precision, to.Scale)
			if err != nil {
				if _, perr := new(big.Float).SetString(strings.TrimSpace(v.s)); !perr {
					return nil, sqlstate.Errorf(sqlstate.InvalidText, "invalid input syntax for type %s: %q", to, v.s)
				}
				return nil, outOfRange()
			}
		case catalog.Type{Kind: v.kind}.IsInteger():
			n, err = decimal128.FromI64(v.i).Rescale(0, to.Scale)
		case v.kind == catalog.KindDecimal:
			n, err = rescaleRound(v.d, v.scale, to.Scale)
		case v.kind == catalog.KindReal || v.kind == catalog.KindDouble:
			n, err = decimal128.FromFloat64(v.f, to.Precision, to.Scale)
		default:
			return nil, nil
		}
		if err != nil || !n.FitsInPrecision(to.Precision) {
			return nil, outOfRange()
		}
		return NewLiteral(to, n), nil
	case catalog.KindVarchar:
		if v.kind == catalog.KindVarchar {
			return &Literal{Value: l.Value, Typ: to}, nil
		}
		return nil, nil
	case catalog.KindBoolean:
		if v.kind != catalog.KindVarchar {
			return nil, nil
		}
		switch strings.ToLower(strings.TrimSpace(v.s)) {
		case "t", "true", "yes", "y", "on", "1":
			return NewLiteral(to, true), nil
		case "f", "false", "no", "n", "off", "0":
			return NewLiteral(to, false), nil
		}
		return nil, sqlstate.Errorf(sqlstate.InvalidText, "invalid input syntax for type BOOLEAN: %q", v.s)
	case catalog.KindDate:
		switch v.kind {
		case catalog.KindVarchar:
			d, ok := parseDate(v.s)
			if !ok {
				return nil, sqlstate.Errorf(sqlstate.InvalidDatetime, "invalid input syntax for type DATE: %q", v.s)
			}
			return NewLiteral(to, d), nil
		case catalog.KindTimestamp:
			return NewLiteral(to, floorDiv(v.i, 86_400_000_000)), nil
		}
		return nil, nil
	case catalog.KindTimestamp:
		switch v.kind {
		case catalog.KindVarchar:
			ts, ok := parseTimestamp(v.s)
			if !ok {
				return nil, sqlstate.Errorf(sqlstate.InvalidDatetime, "invalid input syntax for type TIMESTAMP: %q", v.s)
			}
			return NewLiteral(to, ts), nil
		case catalog.KindDate:
			return NewLiteral(to, v.i*86_400_000_000), nil
		}
		return nil, nil
	}
	return nil, nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// rescaleRound changes the scale of n, rounding half away from zero when
// digits are dropped.
func rescaleRound(n decimal128.Num, from, to int32) (decimal128.Num, error) {
	if to >= from {
		return n.Rescale(from, to)
	}
	return n.ReduceScaleBy(from-to, true), nil
}

// exactLiteral converts l to t only when the value is represented exactly
// (used to keep a column's type when it is compared with a constant).
func exactLiteral(l *Literal, t catalog.Type) *Literal {
	if l.IsNull() {
		return NewLiteral(t, nil)
	}
	if !l.Typ.IsNumeric() || !t.IsNumeric() {
		return nil
	}
	switch {
	case t.IsInteger() && !l.Typ.IsInteger():
		if l.Typ.Kind != catalog.KindDecimal || l.Typ.Scale != 0 {
			return nil
		}
	case (t.Kind == catalog.KindReal || t.Kind == catalog.KindDouble) && l.Typ.Kind == catalog.KindDecimal:
		return nil // decimal fractions are not exact in binary floats
	case t.Kind == catalog.KindReal && l.Typ.Kind == catalog.KindDouble:
		return nil
	case t.Kind == catalog.KindDecimal && (l.Typ.Kind == catalog.KindReal || l.Typ.Kind == catalog.KindDouble):
		return nil
	}
	out, err := CastLiteral(l, t)
	if err != nil || out == nil {
		return nil
	}
	switch t.Kind {
	case catalog.KindDecimal:
		// Rounded away digits make the conversion inexact.
		if l.Typ.Kind == catalog.KindDecimal && l.Typ.Scale > t.Scale {
			v, _ := literalValue(l)
			back, err := out.Value.(*scalar.Decimal128).Value.Rescale(t.Scale, l.Typ.Scale)
			if err != nil || back != v.d {
				return nil
			}
		}
	case catalog.KindReal, catalog.KindDouble:
		if l.Typ.IsInteger() {
			v, _ := literalValue(l)
			if v.i > 1<<24 || v.i < -(1<<24) {
				if t.Kind == catalog.KindReal || v.i > 1<<53 || v.i < -(1<<53) {
					return nil
				}
			}
		}
	}
	return out
}
