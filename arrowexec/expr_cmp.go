package arrowexec

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

var cmpNames = [...]string{OpEq: "=", OpNe: "<>", OpLt: "<", OpLe: "<=", OpGt: ">", OpGe: ">="}

// flip returns the operator that gives the same result with swapped operands.
func (op CmpOp) flip() CmpOp {
	switch op {
	case OpLt:
		return OpGt
	case OpLe:
		return OpGe
	case OpGt:
		return OpLt
	case OpGe:
		return OpLe
	}
	return op
}

type cmpExpr struct {
	op     CmpOp
	l, r   Expr
	ls, rs int32 // DECIMAL scales
}

// Compare compares operands of the same type (or two DECIMALs of any
// scales). Floats compare as IEEE 754 (NaN is unequal to everything).
func Compare(op CmpOp, l, r Expr) (Expr, error) {
	if op > OpGe {
		return nil, fmt.Errorf("arrowexec: invalid comparison operator %d", op)
	}
	lt, rt := l.DataType(), r.DataType()
	e := &cmpExpr{op: op, l: l, r: r}
	if isNullType(lt) || isNullType(rt) {
		return e, nil
	}
	if lt.ID() == arrow.DECIMAL128 && rt.ID() == arrow.DECIMAL128 {
		e.ls, e.rs = lt.(*arrow.Decimal128Type).Scale, rt.(*arrow.Decimal128Type).Scale
		return e, nil
	}
	if !arrow.TypeEqual(lt, rt) {
		return nil, errMismatch("operator does not exist: %s %s %s", lt, cmpNames[op], rt)
	}
	switch lt.ID() {
	case arrow.BOOL, arrow.INT16, arrow.INT32, arrow.INT64, arrow.FLOAT32, arrow.FLOAT64,
		arrow.STRING, arrow.DATE32, arrow.TIMESTAMP:
		return e, nil
	}
	return nil, errMismatch("operator does not exist: %s %s %s", lt, cmpNames[op], rt)
}

func (e *cmpExpr) DataType() arrow.DataType { return arrow.FixedWidthTypes.Boolean }
func (e *cmpExpr) String() string           { return fmt.Sprintf("(%s %s %s)", e.l, cmpNames[e.op], e.r) }

func (e *cmpExpr) Eval(ctx context.Context, batch arrow.RecordBatch) (arrow.Array, error) {
	n := int(batch.NumRows())
	if isNullType(e.l.DataType()) || isNullType(e.r.DataType()) || isNullLit(e.l) || isNullLit(e.r) {
		return allNull(ctx, arrow.FixedWidthTypes.Boolean, n), nil
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
	op := e.op
	ls, rs := e.ls, e.rs
	// Normalise constant-vs-column to column-vs-constant.
	if l.mask == 0 && r.mask != 0 {
		l, r, op, ls, rs = r, l, op.flip(), rs, ls
	}
	out := allocBitmap(mem, n)
	ob := out.Bytes()
	switch l.arr.DataType().ID() {
	case arrow.INT16:
		cmpInt(op, values[int16](l.arr), l.mask, values[int16](r.arr), r.mask, ob, n)
	case arrow.INT32, arrow.DATE32:
		cmpInt(op, values[int32](l.arr), l.mask, values[int32](r.arr), r.mask, ob, n)
	case arrow.INT64, arrow.TIMESTAMP:
		cmpInt(op, values[int64](l.arr), l.mask, values[int64](r.arr), r.mask, ob, n)
	case arrow.FLOAT32:
		cmpOrdered(op, values[float32](l.arr), l.mask, values[float32](r.arr), r.mask, ob, n)
	case arrow.FLOAT64:
		cmpOrdered(op, values[float64](l.arr), l.mask, values[float64](r.arr), r.mask, ob, n)
	case arrow.DECIMAL128:
		a, b := values[decimal128.Num](l.arr), values[decimal128.Num](r.arr)
		if !cmpDecimal64(op, a, l.mask, ls, b, r.mask, rs, ob, n) {
			clear(ob)
			cmpDecimal(op, a, l.mask, ls, b, r.mask, rs, ob, n)
		}
	case arrow.STRING:
		a, b := stringsOf(l.arr), stringsOf(r.arr)
		for i := 0; i < n; i++ {
			ob[i>>3] |= b2u(cmpResult(op, bytes.Compare(a.at(i&l.mask), b.at(i&r.mask)))) << (i & 7)
		}
	case arrow.BOOL:
		ad, bd := l.arr.Data(), r.arr.Data()
		abits, aoff := ad.Buffers()[1].Bytes(), ad.Offset()
		bbits, boff := bd.Buffers()[1].Bytes(), bd.Offset()
		for i := 0; i < n; i++ {
			x := int(b2u(bitutil.BitIsSet(abits, aoff+(i&l.mask))))
			y := int(b2u(bitutil.BitIsSet(bbits, boff+(i&r.mask))))
			ob[i>>3] |= b2u(cmpResult(op, x-y)) << (i & 7)
		}
	default:
		out.Release()
		return nil, fmt.Errorf("arrowexec: comparison of %s", l.arr.DataType())
	}
	vbuf, nulls := combineValidity(mem, n, vecOnly(l), vecOnly(r))
	return makeArray(arrow.FixedWidthTypes.Boolean, n, nulls, vbuf, out), nil
}

func cmpResult(op CmpOp, c int) bool {
	switch op {
	case OpEq:
		return c == 0
	case OpNe:
		return c != 0
	case OpLt:
		return c < 0
	case OpLe:
		return c <= 0
	case OpGt:
		return c > 0
	}
	return c >= 0
}

// cmpInt writes a op b into the bitmap out; a column against a constant
// takes cmpIntConst.
func cmpInt[T intT](op CmpOp, a []T, am int, b []T, bm int, out []byte, n int) {
	if am != 0 && bm == 0 && n > 0 {
		c := b[0]
		k, strict, neg, all := constCmpForm(op, int64(c), int64(maxInt[T]()))
		switch {
		case all:
			fillBits(out, n, !neg)
		case strict:
			cmpLtConst(a, T(k), neg, out, n)
		default:
			cmpEqConst(a, T(k), neg, out, n)
		}
		return
	}
	if am != 0 && bm != 0 {
		// Two columns: a > b is b < a, a >= b is not a < b, a <= b is
		// not b < a, a <> b is not a = b.
		switch op {
		case OpEq:
			cmpEqVec(a, b, 0, out, n)
		case OpNe:
			cmpEqVec(a, b, 0xff, out, n)
		case OpLt:
			cmpLtVec(a, b, 0, out, n)
		case OpGe:
			cmpLtVec(a, b, 0xff, out, n)
		case OpGt:
			cmpLtVec(b, a, 0, out, n)
		case OpLe:
			cmpLtVec(b, a, 0xff, out, n)
		}
		return
	}
	cmpOrdered(op, a, am, b, bm, out, n)
}

// cmpLtVec writes a[i] < b[i] (inverted by flip 0xff) into out, eight
// rows per byte.
func cmpLtVec[T intT](a, b []T, flip uint8, out []byte, n int) {
	a, b = a[:n], b[:n]
	full := n &^ 7
	for i := 0; i < full; i += 8 {
		x, y := a[i:i+8:i+8], b[i:i+8:i+8]
		out[i>>3] = flip ^ (b2u(x[0] < y[0]) | b2u(x[1] < y[1])<<1 | b2u(x[2] < y[2])<<2 | b2u(x[3] < y[3])<<3 |
			b2u(x[4] < y[4])<<4 | b2u(x[5] < y[5])<<5 | b2u(x[6] < y[6])<<6 | b2u(x[7] < y[7])<<7)
	}
	for i := full; i < n; i++ {
		out[i>>3] |= (b2u(a[i] < b[i]) ^ flip&1) << (i & 7)
	}
}

// cmpEqVec writes a[i] == b[i] (inverted by flip 0xff) into out.
func cmpEqVec[T intT](a, b []T, flip uint8, out []byte, n int) {
	a, b = a[:n], b[:n]
	full := n &^ 7
	for i := 0; i < full; i += 8 {
		x, y := a[i:i+8:i+8], b[i:i+8:i+8]
		out[i>>3] = flip ^ (b2u(x[0] == y[0]) | b2u(x[1] == y[1])<<1 | b2u(x[2] == y[2])<<2 | b2u(x[3] == y[3])<<3 |
			b2u(x[4] == y[4])<<4 | b2u(x[5] == y[5])<<5 | b2u(x[6] == y[6])<<6 | b2u(x[7] == y[7])<<7)
	}
	for i := full; i < n; i++ {
		out[i>>3] |= (b2u(a[i] == b[i]) ^ flip&1) << (i & 7)
	}
}

func maxInt[T intT]() T { return ^minInt[T]() }

// constCmpForm rewrites x op c for integers x <= maxT as x < k (strict) or
// x == k, negated when neg: x <= c is x < c+1, x > c is not x < c+1, x >= c
// is not x < c. all reports a result that holds for every x (x <= maxT is
// true; with neg, x > maxT is false): then the result is !neg.
func constCmpForm(op CmpOp, c, maxT int64) (k int64, strict, neg, all bool) {
	switch op {
	case OpEq:
		return c, false, false, false
	case OpNe:
		return c, false, true, false
	case OpLt:
		return c, true, false, false
	case OpGe:
		return c, true, true, false
	case OpLe:
		if c == maxT {
			return 0, false, false, true
		}
		return c + 1, true, false, false
	}
	// OpGt
	if c == maxT {
		return 0, false, true, true
	}
	return c + 1, true, true, false
}

// fillBits sets the first n bits of out to v.
func fillBits(out []byte, n int, v bool) {
	bitutil.SetBitsTo(out, 0, int64(n), v)
}

// cmpLtConst writes a[i] < k (negated when neg) into out. Eight rows make
// one byte in straight-line code: a loop over the eight kept the byte and
// the counter on the stack.
func cmpLtConst[T intT](a []T, k T, neg bool, out []byte, n int) {
	var flip uint8
	if neg {
		flip = 0xff
	}
	full := n &^ 7
	for i := 0; i < full; i += 8 {
		v := a[i : i+8 : i+8]
		out[i>>3] = flip ^ (b2u(v[0] < k) | b2u(v[1] < k)<<1 | b2u(v[2] < k)<<2 | b2u(v[3] < k)<<3 |
			b2u(v[4] < k)<<4 | b2u(v[5] < k)<<5 | b2u(v[6] < k)<<6 | b2u(v[7] < k)<<7)
	}
	for i := full; i < n; i++ {
		out[i>>3] |= (b2u(a[i] < k) ^ flip&1) << (i & 7)
	}
}

// cmpEqConst writes a[i] == k (negated when neg) into out.
func cmpEqConst[T intT](a []T, k T, neg bool, out []byte, n int) {
	var flip uint8
	if neg {
		flip = 0xff
	}
	full := n &^ 7
	for i := 0; i < full; i += 8 {
		v := a[i : i+8 : i+8]
		out[i>>3] = flip ^ (b2u(v[0] == k) | b2u(v[1] == k)<<1 | b2u(v[2] == k)<<2 | b2u(v[3] == k)<<3 |
			b2u(v[4] == k)<<4 | b2u(v[5] == k)<<5 | b2u(v[6] == k)<<6 | b2u(v[7] == k)<<7)
	}
	for i := full; i < n; i++ {
		out[i>>3] |= (b2u(a[i] == k) ^ flip&1) << (i & 7)
	}
}

// cmpOrdered writes a op b into the bitmap out. One loop per operator keeps
// the comparison out of a per-row switch.
func cmpOrdered[T numT](op CmpOp, a []T, am int, b []T, bm int, out []byte, n int) {
	switch op {
	case OpEq:
		for i := 0; i < n; i++ {
			out[i>>3] |= b2u(a[i&am] == b[i&bm]) << (i & 7)
		}
	case OpNe:
		for i := 0; i < n; i++ {
			out[i>>3] |= b2u(a[i&am] != b[i&bm]) << (i & 7)
		}
	case OpLt:
		for i := 0; i < n; i++ {
			out[i>>3] |= b2u(a[i&am] < b[i&bm]) << (i & 7)
		}
	case OpLe:
		for i := 0; i < n; i++ {
			out[i>>3] |= b2u(a[i&am] <= b[i&bm]) << (i & 7)
		}
	case OpGt:
		for i := 0; i < n; i++ {
			out[i>>3] |= b2u(a[i&am] > b[i&bm]) << (i & 7)
		}
	case OpGe:
		for i := 0; i < n; i++ {
			out[i>>3] |= b2u(a[i&am] >= b[i&bm]) << (i & 7)
		}
	}
}

// cmpDecimal64 is the fast path of decimal comparisons: when both sides
// have the same scale, or a broadcast constant of the smaller scale can be
// rescaled once to the other's, and every value fits in an int64 (TPC-H's
// DECIMAL(15,2) against a constant), it compares the low words. It reports
// false when it does not apply or some value (NULL slots included) does not
// fit; the caller then clears out and runs cmpDecimal.
func cmpDecimal64(op CmpOp, a []decimal128.Num, am int, as int32, b []decimal128.Num, bm int, bs int32, out []byte, n int) bool {
	var ok bool
	switch {
	case as == bs:
	case as > bs:
		if b, ok = rescaleBroadcast(b, bm, as-bs); !ok {
			return false
		}
	default:
		if a, ok = rescaleBroadcast(a, am, bs-as); !ok {
			return false
		}
	}
	if n == 0 {
		return true
	}
	if am != 0 && bm == 0 && notInt64(b[0]) == 0 {
		k, strict, neg, all := constCmpForm(op, int64(b[0].LowBits()), math.MaxInt64)
		switch {
		case all:
			return cmpDecAll(a, !neg, out, n)
		case strict:
			return cmpDecLtConst(a, k, neg, out, n)
		default:
			return cmpDecEqConst(a, k, neg, out, n)
		}
	}
	var bad uint64
	switch op {
	case OpEq:
		for i := 0; i < n; i++ {
			x, y := a[i&am], b[i&bm]
			bad |= notInt64(x) | notInt64(y)
			out[i>>3] |= b2u(int64(x.LowBits()) == int64(y.LowBits())) << (i & 7)
		}
	case OpNe:
		for i := 0; i < n; i++ {
			x, y := a[i&am], b[i&bm]
			bad |= notInt64(x) | notInt64(y)
			out[i>>3] |= b2u(int64(x.LowBits()) != int64(y.LowBits())) << (i & 7)
		}
	case OpLt:
		for i := 0; i < n; i++ {
			x, y := a[i&am], b[i&bm]
			bad |= notInt64(x) | notInt64(y)
			out[i>>3] |= b2u(int64(x.LowBits()) < int64(y.LowBits())) << (i & 7)
		}
	case OpLe:
		for i := 0; i < n; i++ {
			x, y := a[i&am], b[i&bm]
			bad |= notInt64(x) | notInt64(y)
			out[i>>3] |= b2u(int64(x.LowBits()) <= int64(y.LowBits())) << (i & 7)
		}
	case OpGt:
		for i := 0; i < n; i++ {
			x, y := a[i&am], b[i&bm]
			bad |= notInt64(x) | notInt64(y)
			out[i>>3] |= b2u(int64(x.LowBits()) > int64(y.LowBits())) << (i & 7)
		}
	case OpGe:
		for i := 0; i < n; i++ {
			x, y := a[i&am], b[i&bm]
			bad |= notInt64(x) | notInt64(y)
			out[i>>3] |= b2u(int64(x.LowBits()) >= int64(y.LowBits())) << (i & 7)
		}
	}
	return bad == 0
}

// cmpDecAll sets the first n bits of out to v when every value of a fits
// in an int64.
func cmpDecAll(a []decimal128.Num, v bool, out []byte, n int) bool {
	var bad uint64
	for _, x := range a[:n] {
		bad |= notInt64(x)
	}
	fillBits(out, n, v)
	return bad == 0
}

// decLows returns the low words of decimals as int64s in buf (grown as
// needed) and whether every value fits in an int64; one pass over the
// 16-byte values, so that the comparison loops read 8 bytes per row.
func decLows(a []decimal128.Num, buf []int64) ([]int64, bool) {
	if cap(buf) < len(a) {
		buf = make([]int64, len(a))
	}
	buf = buf[:len(a)]
	var bad uint64
	for i, x := range a {
		lo := int64(x.LowBits())
		bad |= uint64(x.HighBits() ^ lo>>63)
		buf[i] = lo
	}
	return buf, bad == 0
}

// cmpDecLtConst writes a[i] < k (negated when neg) for decimals that fit
// in an int64; false when one does not fit.
func cmpDecLtConst(a []decimal128.Num, k int64, neg bool, out []byte, n int) bool {
	lows, ok := decLows(a[:n], getInt64Scratch())
	if ok {
		cmpLtConst(lows, k, neg, out, n)
	}
	putInt64Scratch(lows)
	return ok
}

// cmpDecEqConst writes a[i] == k (negated when neg) like cmpDecLtConst.
func cmpDecEqConst(a []decimal128.Num, k int64, neg bool, out []byte, n int) bool {
	lows, ok := decLows(a[:n], getInt64Scratch())
	if ok {
		cmpEqConst(lows, k, neg, out, n)
	}
	putInt64Scratch(lows)
	return ok
}

// int64Scratch holds the low-word scratch of the decimal comparisons,
// which run concurrently in parallel pipelines.
var int64Scratch sync.Pool

func getInt64Scratch() []int64 {
	if p, ok := int64Scratch.Get().(*[]int64); ok {
		return *p
	}
	return nil
}

func putInt64Scratch(b []int64) {
	int64Scratch.Put(&b)
}

func cmpDecimal(op CmpOp, a []decimal128.Num, am int, as int32, b []decimal128.Num, bm int, bs int32, out []byte, n int) {
	for i := 0; i < n; i++ {
		out[i>>3] |= b2u(cmpResult(op, decCmpScaled(a[i&am], as, b[i&bm], bs))) << (i & 7)
	}
}

// decCmpScaled compares decimals of different scales exactly.
func decCmpScaled(a decimal128.Num, as int32, b decimal128.Num, bs int32) int {
	if as == bs {
		return a.Cmp(b)
	}
	if as < bs {
		return -decCmpScaled(b, bs, a, as)
	}
	// as > bs: bring b up to a's scale, or compare integer parts first
	// when scaling could overflow 128 bits.
	if bb, ok := rescaleUp(b, as-bs); ok {
		return a.Cmp(bb)
	}
	qa, ra := decQuoRem(a, decimal128.GetScaleMultiplier(int(as)))
	qb, rb := decQuoRem(b, decimal128.GetScaleMultiplier(int(bs)))
	if c := qa.Cmp(qb); c != 0 {
		return c
	}
	rb, _ = rescaleUp(rb, as-bs)
	return ra.Cmp(rb)
}

// ---- logic ----

type logicExpr struct {
	and  bool
	l, r Expr
}

// And is SQL's three-valued AND: false if either side is false, else NULL
// if either side is NULL.
func And(l, r Expr) Expr { return &logicExpr{and: true, l: l, r: r} }

// Or is SQL's three-valued OR: true if either side is true, else NULL if
// either side is NULL.
func Or(l, r Expr) Expr { return &logicExpr{l: l, r: r} }

func (e *logicExpr) DataType() arrow.DataType { return arrow.FixedWidthTypes.Boolean }
func (e *logicExpr) String() string {
	if e.and {
		return fmt.Sprintf("(%s AND %s)", e.l, e.r)
	}
	return fmt.Sprintf("(%s OR %s)", e.l, e.r)
}

// boolBits returns the value and validity bitmaps of a BOOLEAN (or Null)
// operand normalised to offset 0 and length n. A NULL-typed operand is all
// NULL. The buffers are new and owned by the caller.
func boolBits(mem memory.Allocator, a arrow.Array, mask, n int) (val, valid *memory.Buffer) {
	val, valid = allocBitmap(mem, n), allocBitmap(mem, n)
	if a.DataType().ID() == arrow.NULL {
		return val, valid
	}
	d := a.Data()
	if mask == 0 { // broadcast constant
		if a.IsValid(0) {
			fill := byte(0)
			if bitutil.BitIsSet(d.Buffers()[1].Bytes(), d.Offset()) {
				fill = 0xff
			}
			vb, bb := valid.Bytes(), val.Bytes()
			for i := range vb {
				vb[i], bb[i] = 0xff, fill
			}
		}
		return val, valid
	}
	bitutil.CopyBitmap(d.Buffers()[1].Bytes(), d.Offset(), n, val.Bytes(), 0)
	if bits, off := validity(a); bits != nil {
		bitutil.CopyBitmap(bits, off, n, valid.Bytes(), 0)
	} else if a.NullN() == a.Len() && a.Len() > 0 {
		// all NULL without a bitmap: leave zeroed
	} else {
		vb := valid.Bytes()
		for i := range vb {
			vb[i] = 0xff
		}
	}
	return val, valid
}

func (e *logicExpr) Eval(ctx context.Context, batch arrow.RecordBatch) (arrow.Array, error) {
	n := int(batch.NumRows())
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
	lv, lva := boolBits(mem, l.arr, l.mask, n)
	defer lv.Release()
	defer lva.Release()
	rv, rva := boolBits(mem, r.arr, r.mask, n)
	defer rv.Release()
	defer rva.Release()
	val, valid := allocBitmap(mem, n), allocBitmap(mem, n)
	a, av, b, bv := lv.Bytes(), lva.Bytes(), rv.Bytes(), rva.Bytes()
	o, ov := val.Bytes(), valid.Bytes()
	// Kleene logic byte-wise: for AND a result is known when both sides
	// are valid or either side is a valid false.
	for i := range o {
		if e.and {
			o[i] = a[i] & b[i]
			ov[i] = (av[i] & bv[i]) | (av[i] &^ a[i]) | (bv[i] &^ b[i])
		} else {
			o[i] = (a[i] & av[i]) | (b[i] & bv[i])
			ov[i] = (av[i] & bv[i]) | (av[i] & a[i]) | (bv[i] & b[i])
		}
	}
	nulls := n - bitutil.CountSetBits(ov, 0, n)
	if nulls == 0 {
		valid.Release()
		valid = nil
	}
	return makeArray(arrow.FixedWidthTypes.Boolean, n, nulls, valid, val), nil
}

type notExpr struct{ e Expr }

// Not is SQL's three-valued NOT: NULL stays NULL.
func Not(e Expr) Expr { return &notExpr{e: e} }

func (e *notExpr) DataType() arrow.DataType { return arrow.FixedWidthTypes.Boolean }
func (e *notExpr) String() string           { return fmt.Sprintf("(NOT %s)", e.e) }

func (e *notExpr) Eval(ctx context.Context, batch arrow.RecordBatch) (arrow.Array, error) {
	n := int(batch.NumRows())
	mem := exec.GetAllocator(ctx)
	a, err := e.e.Eval(ctx, batch)
	if err != nil {
		return nil, err
	}
	defer a.Release()
	if a.DataType().ID() == arrow.NULL {
		return allNull(ctx, arrow.FixedWidthTypes.Boolean, n), nil
	}
	d := a.Data()
	val := allocBitmap(mem, n)
	bitutil.InvertBitmap(d.Buffers()[1].Bytes(), d.Offset(), n, val.Bytes(), 0)
	vbuf, nulls := combineValidity(mem, n, a)
	return makeArray(arrow.FixedWidthTypes.Boolean, n, nulls, vbuf, val), nil
}

type isNullExpr struct {
	e      Expr
	negate bool
}

// IsNull is e IS NULL, or e IS NOT NULL when negate; never NULL itself.
func IsNull(e Expr, negate bool) Expr { return &isNullExpr{e: e, negate: negate} }

func (e *isNullExpr) DataType() arrow.DataType { return arrow.FixedWidthTypes.Boolean }
func (e *isNullExpr) String() string {
	if e.negate {
		return fmt.Sprintf("(%s IS NOT NULL)", e.e)
	}
	return fmt.Sprintf("(%s IS NULL)", e.e)
}

func (e *isNullExpr) Eval(ctx context.Context, batch arrow.RecordBatch) (arrow.Array, error) {
	n := int(batch.NumRows())
	mem := exec.GetAllocator(ctx)
	a, err := e.e.Eval(ctx, batch)
	if err != nil {
		return nil, err
	}
	defer a.Release()
	val := allocBitmap(mem, n)
	vb := val.Bytes()
	switch bits, off := validity(a); {
	case a.DataType().ID() == arrow.NULL || (bits == nil && a.NullN() == n && n > 0):
		// every row is NULL
		if !e.negate {
			bitutil.SetBitsTo(vb, 0, int64(n), true)
		}
	case bits == nil:
		if e.negate {
			bitutil.SetBitsTo(vb, 0, int64(n), true)
		}
	case e.negate:
		bitutil.CopyBitmap(bits, off, n, vb, 0)
	default:
		bitutil.InvertBitmap(bits, off, n, vb, 0)
	}
	return makeArray(arrow.FixedWidthTypes.Boolean, n, 0, nil, val), nil
}
