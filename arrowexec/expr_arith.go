package arrowexec

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

var arithNames = [...]string{OpAdd: "+", OpSub: "-", OpMul: "*", OpDiv: "/", OpMod: "%"}

// DecimalDivScale is the minimum scale of a DECIMAL quotient: a / b has
// scale max(DecimalDivScale, s1) and precision 38.
const DecimalDivScale = 6

// arithExpr is l op r over one physical type. Integer kernels are
// hand-written generic loops: they detect overflow branch-free over the
// whole batch and look at the validity bitmap only when a row overflowed,
// so NULL slots holding garbage never raise errors.
type arithExpr struct {
	op     ArithOp
	l, r   Expr
	dt     arrow.DataType
	ls, rs int32 // operand scales (DECIMAL)
}

// Arith applies an arithmetic operator to operands of the same type (or two
// DECIMALs); the result type follows the operand type (for DECIMAL: SQL
// rules for precision and scale, see decimalArithType). An operand of the
// Null type yields NULLs of the other operand's type.
func Arith(op ArithOp, l, r Expr) (Expr, error) {
	if op > OpMod {
		return nil, fmt.Errorf("arrowexec: invalid arithmetic operator %d", op)
	}
	lt, rt := l.DataType(), r.DataType()
	e := &arithExpr{op: op, l: l, r: r}
	switch {
	case isNullType(lt) && isNullType(rt):
		e.dt = arrow.Null
		return e, nil
	case isNullType(lt):
		lt = rt
	case isNullType(rt):
		rt = lt
	}
	if lt.ID() == arrow.DECIMAL128 && rt.ID() == arrow.DECIMAL128 {
		ld, rd := lt.(*arrow.Decimal128Type), rt.(*arrow.Decimal128Type)
		dt, err := decimalArithType(op, ld, rd)
		if err != nil {
			return nil, err
		}
		e.dt, e.ls, e.rs = dt, ld.Scale, rd.Scale
		return e, nil
	}
	if !arrow.TypeEqual(lt, rt) {
		return nil, errMismatch("operator does not exist: %s %s %s", lt, arithNames[op], rt)
	}
	switch lt.ID() {
	case arrow.INT16, arrow.INT32, arrow.INT64, arrow.FLOAT32, arrow.FLOAT64:
	default:
		return nil, errMismatch("operator does not exist: %s %s %s", lt, arithNames[op], rt)
	}
	e.dt = lt
	return e, nil
}

// decimalArithType returns the SQL result type of a DECIMAL operation:
// add/sub DECIMAL(max(p1-s1,p2-s2)+max(s1,s2)+1, max(s1,s2)); mul
// DECIMAL(p1+p2, s1+s2); div DECIMAL(38, max(6,s1)); mod DECIMAL(max(p1,p2),
// max(s1,s2)); precision capped at 38 (values beyond fail with 22003).
func decimalArithType(op ArithOp, l, r *arrow.Decimal128Type) (arrow.DataType, error) {
	s := max(l.Scale, r.Scale)
	var p int32
	switch op {
	case OpAdd, OpSub:
		p = max(l.Precision-l.Scale, r.Precision-r.Scale) + s + 1
	case OpMul:
		p, s = l.Precision+r.Precision, l.Scale+r.Scale
	case OpDiv:
		p, s = 38, max(DecimalDivScale, l.Scale)
	case OpMod:
		p = max(l.Precision, r.Precision)
	}
	if s > 38 {
		return nil, errOverflow(fmt.Sprintf("DECIMAL scale %d", s))
	}
	return &arrow.Decimal128Type{Precision: min(p, 38), Scale: s}, nil
}

func (e *arithExpr) DataType() arrow.DataType { return e.dt }
func (e *arithExpr) String() string {
	return fmt.Sprintf("(%s %s %s)", e.l, arithNames[e.op], e.r)
}

func (e *arithExpr) Eval(ctx context.Context, batch arrow.RecordBatch) (arrow.Array, error) {
	n := int(batch.NumRows())
	if isNullType(e.dt) || isNullLit(e.l) || isNullLit(e.r) ||
		isNullType(e.l.DataType()) || isNullType(e.r.DataType()) {
		return allNull(ctx, e.dt, n), nil
	}
	mem := exec.GetAllocator(ctx)
	l, err := evalOperand(ctx, e.l, batch)
	if err != nil {
		return nil, err
	}
	defer l.arr.Release()
	r, err := evalOperand(ctx, e.r, batch)
	if err != nil {
		return nil, err
	}
	defer r.arr.Release()
	vbuf, nulls := combineValidity(mem, n, vecOnly(l), vecOnly(r))
	var vb []byte
	if vbuf != nil {
		vb = vbuf.Bytes()
	}
	var (
		data *memory.Buffer
	)
	switch e.dt.ID() {
	case arrow.INT16:
		data, err = arithIntArrays[int16](mem, e.op, l, r, n, vb)
	case arrow.INT32:
		data, err = arithIntArrays[int32](mem, e.op, l, r, n, vb)
	case arrow.INT64:
		data, err = arithIntArrays[int64](mem, e.op, l, r, n, vb)
	case arrow.FLOAT32:
		data, err = arithFloatArrays[float32](mem, e.op, l, r, n, vb)
	case arrow.FLOAT64:
		data, err = arithFloatArrays[float64](mem, e.op, l, r, n, vb)
	case arrow.DECIMAL128:
		data, err = e.arithDecimal(mem, l, r, n, vb)
	default:
		err = fmt.Errorf("arrowexec: arithmetic on %s", e.dt)
	}
	if err != nil {
		if vbuf != nil {
			vbuf.Release()
		}
		return nil, err
	}
	return makeArray(e.dt, n, nulls, vbuf, data), nil
}

// vecOnly returns the operand's array if it is a vector (a scalar operand
// here is always valid: NULL literals are handled before).
func vecOnly(o operand) arrow.Array {
	if o.mask == 0 {
		return nil
	}
	return o.arr
}

func arithIntArrays[T intT](mem memory.Allocator, op ArithOp, l, r operand, n int, vb []byte) (*memory.Buffer, error) {
	buf, out := allocFixed[T](mem, n)
	if err := arithInt(op, values[T](l.arr), l.mask, values[T](r.arr), r.mask, out, vb); err != nil {
		buf.Release()
		return nil, err
	}
	return buf, nil
}

func arithFloatArrays[T float32 | float64](mem memory.Allocator, op ArithOp, l, r operand, n int, vb []byte) (*memory.Buffer, error) {
	buf, out := allocFixed[T](mem, n)
	if err := arithFloat(op, values[T](l.arr), l.mask, values[T](r.arr), r.mask, out, vb); err != nil {
		buf.Release()
		return nil, err
	}
	return buf, nil
}

// firstValidFlag returns an overflow error if any flagged row is valid. It
// runs only after the fast loop saw an overflow somewhere.
func checkFlagged[T intT](a []T, am int, b []T, bm int, out []T, vb []byte, bad func(x, y, z T) bool) error {
	for i := range out {
		if bad(a[i&am], b[i&bm], out[i]) && isValid(vb, 0, i) {
			return errOverflow(intTypeName[T]())
		}
	}
	return nil
}

func intTypeName[T intT]() string {
	var z T
	switch any(z).(type) {
	case int16:
		return "smallint"
	case int32:
		return "integer"
	}
	return "bigint"
}

// arithInt computes out = a op b. am/bm are -1 for vectors and 0 for a
// broadcast constant. vb is the combined validity (nil: all valid).
func arithInt[T intT](op ArithOp, a []T, am int, b []T, bm int, out []T, vb []byte) error {
	switch op {
	case OpAdd:
		var ovf T
		for i := range out {
			x, y := a[i&am], b[i&bm]
			z := x + y
			out[i] = z
			ovf |= (x ^ z) & (y ^ z) // sign bit set iff the addition overflowed
		}
		if ovf < 0 {
			return checkFlagged(a, am, b, bm, out, vb, func(x, y, z T) bool { return (x^z)&(y^z) < 0 })
		}
	case OpSub:
		var ovf T
		for i := range out {
			x, y := a[i&am], b[i&bm]
			z := x - y
			out[i] = z
			ovf |= (x ^ y) & (x ^ z)
		}
		if ovf < 0 {
			return checkFlagged(a, am, b, bm, out, vb, func(x, y, z T) bool { return (x^y)&(x^z) < 0 })
		}
	case OpMul:
		if a64, ok := any(a).([]int64); ok {
			return mulInt64(a64, am, any(b).([]int64), bm, any(out).([]int64), vb)
		}
		var ovf bool
		for i := range out {
			w := int64(a[i&am]) * int64(b[i&bm])
			z := T(w)
			out[i] = z
			ovf = ovf || int64(z) != w
		}
		if ovf {
			return checkFlagged(a, am, b, bm, out, vb, func(x, y, z T) bool { return int64(x)*int64(y) != int64(z) })
		}
	case OpDiv, OpMod:
		minT := minInt[T]()
		for i := range out {
			x, y := a[i&am], b[i&bm]
			if y == 0 || (y == -1 && x == minT) {
				if !isValid(vb, 0, i) {
					out[i] = 0
					continue
				}
				if y == 0 {
					return errDivByZero()
				}
				if op == OpDiv {
					return errOverflow(intTypeName[T]())
				}
				out[i] = 0
				continue
			}
			if op == OpDiv {
				out[i] = x / y
			} else {
				out[i] = x % y
			}
		}
	}
	return nil
}

func minInt[T intT]() T {
	var z T
	return T(1) << (unsafe.Sizeof(z)*8 - 1)
}

// mulInt64 multiplies with a 128-bit product; the high word must be the
// sign extension of the low word.
func mulInt64(a []int64, am int, b []int64, bm int, out []int64, vb []byte) error {
	var ovf bool
	for i := range out {
		x, y := a[i&am], b[i&bm]
		hi, lo := bits.Mul64(uint64(x), uint64(y))
		// Signed correction of the unsigned high word.
		shi := int64(hi) - (x>>63)&y - (y>>63)&x
		out[i] = int64(lo)
		ovf = ovf || shi != int64(lo)>>63
	}
	if !ovf {
		return nil
	}
	for i := range out {
		x, y := a[i&am], b[i&bm]
		hi, lo := bits.Mul64(uint64(x), uint64(y))
		shi := int64(hi) - (x>>63)&y - (y>>63)&x
		if shi != int64(lo)>>63 && isValid(vb, 0, i) {
			return errOverflow("bigint")
		}
	}
	return nil
}

// arithFloat follows PostgreSQL: division (and modulo) by zero is an error,
// not Inf/NaN.
func arithFloat[T float32 | float64](op ArithOp, a []T, am int, b []T, bm int, out []T, vb []byte) error {
	switch op {
	case OpAdd:
		for i := range out {
			out[i] = a[i&am] + b[i&bm]
		}
	case OpSub:
		for i := range out {
			out[i] = a[i&am] - b[i&bm]
		}
	case OpMul:
		for i := range out {
			out[i] = a[i&am] * b[i&bm]
		}
	case OpDiv, OpMod:
		for i := range out {
			x, y := a[i&am], b[i&bm]
			if y == 0 {
				if isValid(vb, 0, i) {
					return errDivByZero()
				}
				out[i] = 0
				continue
			}
			if op == OpDiv {
				out[i] = x / y
			} else {
				out[i] = T(math.Mod(float64(x), float64(y)))
			}
		}
	}
	return nil
}

// ---- DECIMAL ----

var (
	bigTen = big.NewInt(10)
)

func (e *arithExpr) arithDecimal(mem memory.Allocator, l, r operand, n int, vb []byte) (*memory.Buffer, error) {
	a, b := values[decimal128.Num](l.arr), values[decimal128.Num](r.arr)
	am, bm := l.mask, r.mask
	buf, out := allocFixed[decimal128.Num](mem, n)
	if e.arithDecimal64(a, am, b, bm, out) {
		return buf, nil
	}
	if err := e.arithDecimal128(a, am, b, bm, out, vb); err != nil {
		buf.Release()
		return nil, err
	}
	return buf, nil
}

// arithDecimal64 is the fast path of arithDecimal for batches whose
// operands and results fit in an int64 (TPC-H's DECIMAL(15,2) and their
// products): the low words are added, subtracted or multiplied with
// branch-free overflow and precision checks over the whole batch, and
// NULL slots are computed like the others. It reports false, leaving out
// partly written, when the operator has no fast path, when a vector operand
// needs rescaling, or when any row (valid or not) leaves the int64 range or
// the result precision; arithDecimal128 then recomputes the batch, so the
// results and errors are exactly those of the 128-bit path.
func (e *arithExpr) arithDecimal64(a []decimal128.Num, am int, b []decimal128.Num, bm int, out []decimal128.Num) bool {
	if len(out) == 0 {
		return true
	}
	p := e.dt.(*arrow.Decimal128Type).Precision
	switch e.op {
	case OpAdd, OpSub:
		s := max(e.ls, e.rs)
		var ok bool
		if a, ok = rescaleBroadcast(a, am, s-e.ls); !ok {
			return false
		}
		if b, ok = rescaleBroadcast(b, bm, s-e.rs); !ok {
			return false
		}
		if e.op == OpAdd {
			return addDec64(a, am, b, bm, out, p)
		}
		return subDec64(a, am, b, bm, out, p)
	case OpMul:
		return mulDec64(a, am, b, bm, out, p)
	}
	return false
}

// rescaleBroadcast returns a broadcast operand (mask 0) multiplied by 10^k
// as a new one-element slice. A vector operand passes only with k == 0.
func rescaleBroadcast(a []decimal128.Num, mask int, k int32) ([]decimal128.Num, bool) {
	if k == 0 {
		return a, true
	}
	if mask != 0 {
		return a, false
	}
	x, ok := rescaleUp(a[0], k)
	return []decimal128.Num{x}, ok
}

// dec64Limit returns the smallest magnitude that does not fit in precision
// p, minus one, for the branch-free precision check of the int64 paths
// (outOfRange); for p >= 19 every int64 fits and the limit is MaxUint64.
func dec64Limit(p int32) uint64 {
	if p >= 19 {
		return math.MaxUint64
	}
	return pow10u[max(p, 0)] - 1
}

// outOfRange returns 1 when |z| > lim (lim < 2^63 or MaxUint64), else 0,
// without a branch.
func outOfRange(z int64, lim uint64) uint64 {
	if lim == math.MaxUint64 {
		return 0
	}
	m := uint64(z >> 63)
	abs := (uint64(z) ^ m) - m
	return (lim - abs) >> 63
}

// notInt64 is nonzero when x does not fit in an int64 (its high word is
// not the sign extension of its low word).
func notInt64(x decimal128.Num) uint64 {
	return uint64(x.HighBits() ^ int64(x.LowBits())>>63)
}

func addDec64(a []decimal128.Num, am int, b []decimal128.Num, bm int, out []decimal128.Num, p int32) bool {
	lim := dec64Limit(p)
	var bad uint64
	for i := range out {
		x, y := a[i&am], b[i&bm]
		xl, yl := int64(x.LowBits()), int64(y.LowBits())
		z := xl + yl
		bad |= notInt64(x) | notInt64(y) | uint64((xl^z)&(yl^z))>>63 | outOfRange(z, lim)
		out[i] = decimal128.New(z>>63, uint64(z))
	}
	return bad == 0
}

func subDec64(a []decimal128.Num, am int, b []decimal128.Num, bm int, out []decimal128.Num, p int32) bool {
	lim := dec64Limit(p)
	var bad uint64
	for i := range out {
		x, y := a[i&am], b[i&bm]
		xl, yl := int64(x.LowBits()), int64(y.LowBits())
		z := xl - yl
		bad |= notInt64(x) | notInt64(y) | uint64((xl^yl)&(xl^z))>>63 | outOfRange(z, lim)
		out[i] = decimal128.New(z>>63, uint64(z))
	}
	return bad == 0
}

// mulDec64 multiplies int64 operands into full 128-bit products. Such a
// product has |z| <= 2^126 < 10^38, so for precision 38 no check is needed;
// for precisions 19..37 a product must fit in an int64, below 19 also in
// the precision.
func mulDec64(a []decimal128.Num, am int, b []decimal128.Num, bm int, out []decimal128.Num, p int32) bool {
	lim := dec64Limit(p)
	narrow := p < 38
	var bad uint64
	for i := range out {
		x, y := a[i&am], b[i&bm]
		xl, yl := int64(x.LowBits()), int64(y.LowBits())
		hi, lo := bits.Mul64(uint64(xl), uint64(yl))
		shi := int64(hi) - (xl>>63)&yl - (yl>>63)&xl
		bad |= notInt64(x) | notInt64(y)
		if narrow {
			bad |= uint64(shi^int64(lo)>>63) | outOfRange(int64(lo), lim)
		}
		out[i] = decimal128.New(shi, lo)
	}
	return bad == 0
}

// arithDecimal128 computes out = a op b row by row in 128 bits, checking
// valid rows only; NULL rows get zero.
func (e *arithExpr) arithDecimal128(a []decimal128.Num, am int, b []decimal128.Num, bm int, out []decimal128.Num, vb []byte) error {
	rt := e.dt.(*arrow.Decimal128Type)
	s := max(e.ls, e.rs)
	// Every int64 has at most 19 digits: results of a wide type that fit
	// in an int64 need no precision check.
	wide := rt.Precision >= 19
	switch e.op {
	case OpAdd, OpSub, OpMod:
		lmul, rmul := s-e.ls, s-e.rs
		// A broadcast operand (a literal such as the 1 of 1 - l_discount,
		// always valid here) is rescaled once, not per row; if that
		// overflows, the per-row path reports it only for valid rows.
		if am == 0 && len(a) > 0 {
			if x, ok := rescaleUp(a[0], lmul); ok {
				a, lmul = []decimal128.Num{x}, 0
			}
		}
		if bm == 0 && len(b) > 0 {
			if y, ok := rescaleUp(b[0], rmul); ok {
				b, rmul = []decimal128.Num{y}, 0
			}
		}
		for i := range out {
			if !isValid(vb, 0, i) {
				out[i] = decimal128.Num{}
				continue
			}
			x, ok1 := rescaleUp(a[i&am], lmul)
			y, ok2 := rescaleUp(b[i&bm], rmul)
			if !ok1 || !ok2 {
				return errOverflow("numeric")
			}
			var z decimal128.Num
			switch e.op {
			case OpAdd:
				z = x.Add(y)
			case OpSub:
				z = x.Sub(y)
			default:
				if y.Sign() == 0 {
					return errDivByZero()
				}
				_, z = decQuoRem(x, y)
			}
			if !(wide && fitsInt64(z)) && !fitsPrecision(z, rt.Precision) {
				return errOverflow("numeric")
			}
			out[i] = z
		}
	case OpMul:
		for i := range out {
			if !isValid(vb, 0, i) {
				out[i] = decimal128.Num{}
				continue
			}
			x, y := a[i&am], b[i&bm]
			var z decimal128.Num
			ok := true
			if fitsInt64(x) && fitsInt64(y) {
				// Inline 64×64→128 multiply: the common case stays out
				// of decMul's big.Int fallback and its call.
				p, q := int64(x.LowBits()), int64(y.LowBits())
				hi, lo := bits.Mul64(uint64(p), uint64(q))
				z = decimal128.New(int64(hi)-(p>>63)&q-(q>>63)&p, lo)
			} else {
				z, ok = decMul(x, y)
			}
			if !ok || !(wide && fitsInt64(z)) && !fitsPrecision(z, rt.Precision) {
				return errOverflow("numeric")
			}
			out[i] = z
		}
	case OpDiv:
		// a/b at scale rs: a * 10^(rs - s1 + s2) / b, rounded half away from zero.
		shift := rt.Scale - e.ls + e.rs
		for i := range out {
			if !isValid(vb, 0, i) {
				out[i] = decimal128.Num{}
				continue
			}
			y := b[i&bm]
			if y.Sign() == 0 {
				return errDivByZero()
			}
			z, ok := decDivRound(a[i&am], shift, y)
			if !ok || !(wide && fitsInt64(z)) && !fitsPrecision(z, rt.Precision) {
				return errOverflow("numeric")
			}
			out[i] = z
		}
	}
	return nil
}

// fitsInt64 reports whether n is representable as int64.
func fitsInt64(n decimal128.Num) bool {
	return n.HighBits() == int64(n.LowBits())>>63
}

// rescaleUp multiplies n by 10^k, reporting false on 128-bit overflow. The
// k == 0 case inlines.
func rescaleUp(n decimal128.Num, k int32) (decimal128.Num, bool) {
	if k == 0 {
		return n, true
	}
	return rescaleUpSlow(n, k)
}

func rescaleUpSlow(n decimal128.Num, k int32) (decimal128.Num, bool) {
	if k > 38 || !fitsPrecision(n, 38-k) {
		return n, false
	}
	return n.IncreaseScaleBy(k), true
}

// decMul multiplies exactly; false when the product exceeds 38 digits.
func decMul(x, y decimal128.Num) (decimal128.Num, bool) {
	if fitsInt64(x) && fitsInt64(y) {
		a, b := int64(x.LowBits()), int64(y.LowBits())
		hi, lo := bits.Mul64(uint64(a), uint64(b))
		shi := int64(hi) - (a>>63)&b - (b>>63)&a
		return decimal128.New(shi, lo), true
	}
	z := new(big.Int).Mul(x.BigInt(), y.BigInt())
	if z.BitLen() > 126 {
		return decimal128.Num{}, false
	}
	return decimal128.FromBigInt(z), true
}

// decQuoRem divides truncating toward zero.
func decQuoRem(x, y decimal128.Num) (q, r decimal128.Num) {
	if fitsInt64(x) && fitsInt64(y) {
		a, b := int64(x.LowBits()), int64(y.LowBits())
		if !(a == math.MinInt64 && b == -1) {
			return decimal128.FromI64(a / b), decimal128.FromI64(a % b)
		}
	}
	return x.Div(y)
}

// decDivRound computes x*10^shift / y rounded half away from zero.
func decDivRound(x decimal128.Num, shift int32, y decimal128.Num) (decimal128.Num, bool) {
	if shift >= 0 && shift <= 18 && fitsInt64(x) && fitsInt64(y) {
		sx, ok := decMul(x, decimal128.FromI64(pow10i64[shift]))
		if ok && fitsInt64(sx) {
			a, b := int64(sx.LowBits()), int64(y.LowBits())
			if !(a == math.MinInt64 && b == -1) {
				q, r := a/b, a%b
				if absI64(r) >= absI64(b)-absI64(r) { // 2|r| >= |b|
					if (a < 0) != (b < 0) {
						q--
					} else {
						q++
					}
				}
				return decimal128.FromI64(q), true
			}
		}
	}
	bx := x.BigInt()
	if shift >= 0 {
		bx.Mul(bx, new(big.Int).Exp(bigTen, big.NewInt(int64(shift)), nil))
	} else {
		bx.Quo(bx, new(big.Int).Exp(bigTen, big.NewInt(int64(-shift)), nil))
	}
	by := y.BigInt()
	q, r := new(big.Int).QuoRem(bx, by, new(big.Int))
	r.Abs(r).Lsh(r, 1)
	if r.Cmp(new(big.Int).Abs(by)) >= 0 {
		if bx.Sign() != by.Sign() {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	if q.BitLen() > 126 {
		return decimal128.Num{}, false
	}
	return decimal128.FromBigInt(q), true
}

func absI64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

var pow10i64 = [...]int64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18}

// ---- negation ----

type negExpr struct{ e Expr }

// Negate returns -e; negating the smallest integer fails with 22003.
func Negate(e Expr) (Expr, error) {
	switch e.DataType().ID() {
	case arrow.INT16, arrow.INT32, arrow.INT64, arrow.FLOAT32, arrow.FLOAT64, arrow.DECIMAL128, arrow.NULL:
		return &negExpr{e: e}, nil
	}
	return nil, errMismatch("operator does not exist: - %s", e.DataType())
}

func (e *negExpr) DataType() arrow.DataType { return e.e.DataType() }
func (e *negExpr) String() string           { return fmt.Sprintf("(-%s)", e.e) }

func (e *negExpr) Eval(ctx context.Context, batch arrow.RecordBatch) (arrow.Array, error) {
	a, err := e.e.Eval(ctx, batch)
	if err != nil {
		return nil, err
	}
	defer a.Release()
	mem := exec.GetAllocator(ctx)
	n := a.Len()
	vbuf, nulls := combineValidity(mem, n, a)
	var vb []byte
	if vbuf != nil {
		vb = vbuf.Bytes()
	}
	var data *memory.Buffer
	switch a.DataType().ID() {
	case arrow.NULL:
		a.Retain()
		return a, nil
	case arrow.INT16:
		data, err = negInt[int16](mem, a, vb)
	case arrow.INT32:
		data, err = negInt[int32](mem, a, vb)
	case arrow.INT64:
		data, err = negInt[int64](mem, a, vb)
	case arrow.FLOAT32:
		data = negFloat[float32](mem, a)
	case arrow.FLOAT64:
		data = negFloat[float64](mem, a)
	case arrow.DECIMAL128:
		src := values[decimal128.Num](a)
		var out []decimal128.Num
		data, out = allocFixed[decimal128.Num](mem, n)
		for i := range out {
			out[i] = src[i].Negate()
		}
	}
	if err != nil {
		if vbuf != nil {
			vbuf.Release()
		}
		return nil, err
	}
	return makeArray(a.DataType(), n, nulls, vbuf, data), nil
}

func negInt[T intT](mem memory.Allocator, a arrow.Array, vb []byte) (*memory.Buffer, error) {
	src := values[T](a)
	buf, out := allocFixed[T](mem, len(src))
	m := minInt[T]()
	for i, v := range src {
		if v == m && isValid(vb, 0, i) {
			buf.Release()
			return nil, errOverflow(intTypeName[T]())
		}
		out[i] = -v
	}
	return buf, nil
}

func negFloat[T float32 | float64](mem memory.Allocator, a arrow.Array) *memory.Buffer {
	src := values[T](a)
	buf, out := allocFixed[T](mem, len(src))
	for i, v := range src {
		out[i] = -v
	}
	return buf
}
