package arrowexec

import (
	"fmt"
	"math"
	"math/big"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// These tests pin the int64 fast paths of the DECIMAL kernels to the
// 128-bit paths they shortcut: every case runs the kernel and compares its
// values and error code with the 128-bit path's on the same input.

// decArray builds a DECIMAL array; a NULL row keeps its value in the slot
// (garbage a fast path must not trust).
func decArray(mem memory.Allocator, dt *arrow.Decimal128Type, vals []decimal128.Num, nulls []bool) arrow.Array {
	n := len(vals)
	data := memory.NewResizableBuffer(mem)
	data.Resize(n * arrow.Decimal128SizeBytes)
	copy(arrow.Decimal128Traits.CastFromBytes(data.Bytes()), vals)
	var valid *memory.Buffer
	nullN := 0
	if nulls != nil {
		valid = memory.NewResizableBuffer(mem)
		valid.Resize(int(bitutil.BytesForBits(int64(n))))
		for i := range n {
			bitutil.SetBitTo(valid.Bytes(), i, !nulls[i])
			if nulls[i] {
				nullN++
			}
		}
	}
	return makeArray(dt, n, nullN, valid, data)
}

func decs(vs ...int64) []decimal128.Num {
	out := make([]decimal128.Num, len(vs))
	for i, v := range vs {
		out[i] = decimal128.FromI64(v)
	}
	return out
}

// decRecord is a record of two DECIMAL columns.
func decRecord(mem memory.Allocator, lt, rt *arrow.Decimal128Type, l, r []decimal128.Num, lnull, rnull []bool) arrow.RecordBatch {
	schema := arrow.NewSchema([]arrow.Field{{Name: "l", Type: lt, Nullable: true}, {Name: "r", Type: rt, Nullable: true}}, nil)
	la, ra := decArray(mem, lt, l, lnull), decArray(mem, rt, r, rnull)
	defer la.Release()
	defer ra.Release()
	return array.NewRecordBatch(schema, []arrow.Array{la, ra}, int64(len(l)))
}

var (
	pow18   = int64(1e18)
	huge    = decimal128.FromI64(math.MaxInt64).Add(decimal128.FromI64(1)) // 2^63: not an int64
	max38   = decimal128.GetScaleMultiplier(38).Sub(decimal128.FromI64(1)) // 10^38 - 1
	dec15_2 = &arrow.Decimal128Type{Precision: 15, Scale: 2}
	dec18_2 = &arrow.Decimal128Type{Precision: 18, Scale: 2}
	dec38_2 = &arrow.Decimal128Type{Precision: 38, Scale: 2}
	dec3_1  = &arrow.Decimal128Type{Precision: 3, Scale: 1}
	dec20_0 = &arrow.Decimal128Type{Precision: 20, Scale: 0}
	dec5_n2 = &arrow.Decimal128Type{Precision: 5, Scale: -2}
)

type decCase struct {
	name         string
	lt, rt       *arrow.Decimal128Type
	l, r         []decimal128.Num
	lnull, rnull []bool
	rconst       bool // r is a broadcast literal of r[0]
}

func decCases() []decCase {
	return []decCase{
		{name: "small", lt: dec15_2, rt: dec15_2, l: decs(1, -250, 0, 99999), r: decs(7, 3, -1, 100)},
		{name: "at 10^18", lt: dec18_2, rt: dec18_2, l: decs(pow18-1, -(pow18 - 1), pow18/2), r: decs(pow18-1, pow18-1, 3)},
		{name: "int64 edges", lt: dec38_2, rt: dec38_2, l: decs(math.MaxInt64, math.MinInt64, -1), r: decs(1, -1, math.MinInt64)},
		{name: "beyond int64", lt: dec38_2, rt: dec38_2, l: []decimal128.Num{huge, huge.Negate(), max38}, r: decs(1, 2, 0)},
		{name: "38 digits", lt: dec38_2, rt: dec38_2, l: []decimal128.Num{max38, max38.Negate()}, r: decs(1, -1)},
		{name: "narrow precision", lt: dec3_1, rt: dec3_1, l: decs(999, -999, 500, 1), r: decs(1, -1, 500, 999)},
		{name: "null garbage", lt: dec15_2, rt: dec15_2, l: []decimal128.Num{decimal128.FromI64(5), huge, max38}, r: decs(2, 3, math.MaxInt64),
			lnull: []bool{false, true, true}},
		{name: "null overflow", lt: dec3_1, rt: dec3_1, l: decs(1, 999, 2), r: decs(1, 999, 3), rnull: []bool{false, true, false}},
		{name: "const rescaled", lt: dec15_2, rt: &arrow.Decimal128Type{Precision: 5, Scale: 0}, l: decs(5, -5, 100, pow18-1), r: decs(1), rconst: true},
		{name: "const rescale overflow", lt: &arrow.Decimal128Type{Precision: 38, Scale: 30}, rt: dec20_0,
			l: decs(1, 2), r: []decimal128.Num{huge}, rconst: true},
		{name: "vector rescale", lt: dec15_2, rt: dec3_1, l: decs(5, -5, 100), r: decs(1, 2, -999)},
		{name: "negative scale", lt: dec15_2, rt: dec5_n2, l: decs(5, -5, 100), r: decs(3), rconst: true},
		{name: "negative scale vectors", lt: dec5_n2, rt: dec5_n2, l: decs(99999, -5, 7), r: decs(1, 99999, -7)},
		{name: "int64 product", lt: dec20_0, rt: dec20_0, l: decs(3037000499, 3037000500, math.MaxInt64, math.MinInt64), r: decs(3037000499, 3037000500, 2, math.MinInt64)},
	}
}

// operands returns the expressions of a case: two columns, or a column and
// a literal.
func (c decCase) operands() (Expr, Expr) {
	l := Column(0, c.lt)
	if c.rconst {
		return l, Literal(scalar.NewDecimal128Scalar(c.r[0], c.rt))
	}
	return l, Column(1, c.rt)
}

func (c decCase) record(mem memory.Allocator) arrow.RecordBatch {
	r, rnull := c.r, c.rnull
	if c.rconst { // the column is unused; keep the record rectangular
		r, rnull = make([]decimal128.Num, len(c.l)), nil
	}
	return decRecord(mem, c.lt, c.rt, c.l, r, c.lnull, rnull)
}

// evalResult renders an expression's result or its error code.
func evalResult(t *testing.T, e Expr, rec arrow.RecordBatch) string {
	ctx, _ := testCtx(t)
	got, err := evalOn(t, ctx, e, rec)
	if err != nil {
		c := sqlstate.CodeOf(err)
		if c == "" {
			t.Fatalf("%s: error without a code: %v", e, err)
		}
		return "error " + string(c)
	}
	return got
}

// slowArith evaluates e with the 128-bit path only.
func slowArith(t *testing.T, e *arithExpr, rec arrow.RecordBatch) string {
	ctx, mem := testCtx(t)
	l, err := evalOperand(ctx, e.l, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer l.arr.Release()
	r, err := evalOperand(ctx, e.r, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer r.arr.Release()
	n := int(rec.NumRows())
	vbuf, nulls := combineValidity(mem, n, vecOnly(l), vecOnly(r))
	var vb []byte
	if vbuf != nil {
		vb = vbuf.Bytes()
	}
	buf, out := allocFixed[decimal128.Num](mem, n)
	if err := e.arithDecimal128(values[decimal128.Num](l.arr), l.mask, values[decimal128.Num](r.arr), r.mask, out, vb); err != nil {
		buf.Release()
		if vbuf != nil {
			vbuf.Release()
		}
		return "error " + string(sqlstate.CodeOf(err))
	}
	a := makeArray(e.dt, n, nulls, vbuf, buf)
	defer a.Release()
	return render(a)
}

func TestDecimalArithFastPath(t *testing.T) {
	ops := []ArithOp{OpAdd, OpSub, OpMul, OpDiv, OpMod}
	for _, c := range decCases() {
		for _, op := range ops {
			t.Run(fmt.Sprintf("%s/%s", c.name, arithNames[op]), func(t *testing.T) {
				_, mem := testCtx(t)
				rec := c.record(mem)
				defer rec.Release()
				l, r := c.operands()
				for _, swap := range []bool{false, true} {
					if swap {
						l, r = r, l
					}
					x, err := Arith(op, l, r)
					if err != nil {
						if sqlstate.CodeOf(err) == "" {
							t.Fatal(err)
						}
						continue
					}
					got, want := evalResult(t, x, rec), slowArith(t, x.(*arithExpr), rec)
					if got != want {
						t.Errorf("%s: got %s, want %s", x, got, want)
					}
				}
			})
		}
	}
}

// TestDecimalArithFastPathTaken checks the cases the fast path must take
// (and those it must leave to the 128-bit path), so that a change that
// silently disables it fails.
func TestDecimalArithFastPathTaken(t *testing.T) {
	for _, tc := range []struct {
		op     ArithOp
		lt, rt *arrow.Decimal128Type
		l, r   []decimal128.Num
		rconst bool
		want   bool
	}{
		{OpAdd, dec15_2, dec15_2, decs(1, 2), decs(3, 4), false, true},
		{OpSub, dec15_2, &arrow.Decimal128Type{Precision: 1, Scale: 0}, decs(1, 2), decs(1), true, true},
		{OpMul, dec15_2, dec15_2, decs(1e9, -1e9), decs(1e9-1, 1e9), false, true},
		{OpMul, dec15_2, dec15_2, decs(pow18 - 1), decs(pow18 - 1), false, false},                   // beyond an int64 at precision 30
		{OpMul, dec20_0, dec20_0, decs(pow18-1, -(pow18 - 1)), decs(pow18-1, pow18-1), false, true}, // 128-bit products, precision 38
		{OpMul, dec38_2, dec38_2, decs(math.MinInt64), decs(math.MinInt64), false, true},            // 2^126 has 38 digits
		{OpAdd, dec38_2, dec38_2, decs(math.MaxInt64), decs(1), false, false},                       // overflows an int64
		{OpAdd, dec3_1, dec3_1, decs(9999), decs(1), false, false},                                  // exceeds DECIMAL(4,1)
		{OpAdd, dec15_2, dec3_1, decs(1), decs(1), false, false},                                    // vector rescale
		{OpMul, dec38_2, dec38_2, []decimal128.Num{huge}, decs(1), false, false},
		{OpDiv, dec15_2, dec15_2, decs(1), decs(1), false, false},
	} {
		_, mem := testCtx(t)
		e := &arithExpr{op: tc.op}
		dt, err := decimalArithType(tc.op, tc.lt, tc.rt)
		if err != nil {
			t.Fatal(err)
		}
		e.dt, e.ls, e.rs = dt, tc.lt.Scale, tc.rt.Scale
		bm := -1
		if tc.rconst {
			bm = 0
		}
		out := make([]decimal128.Num, len(tc.l))
		if got := e.arithDecimal64(tc.l, -1, tc.r, bm, out); got != tc.want {
			t.Errorf("%s %s %s over %v %s %v: fast path %v, want %v", tc.lt, arithNames[tc.op], tc.rt, tc.l, arithNames[tc.op], tc.r, got, tc.want)
		}
		_ = mem
	}
}

func TestDecimalCompareFastPath(t *testing.T) {
	ops := []CmpOp{OpEq, OpNe, OpLt, OpLe, OpGt, OpGe}
	for _, c := range decCases() {
		for _, op := range ops {
			t.Run(fmt.Sprintf("%s/%s", c.name, cmpNames[op]), func(t *testing.T) {
				_, mem := testCtx(t)
				rec := c.record(mem)
				defer rec.Release()
				l, r := c.operands()
				for _, swap := range []bool{false, true} {
					if swap {
						l, r = r, l
					}
					x, err := Compare(op, l, r)
					if err != nil {
						t.Fatal(err)
					}
					got := evalResult(t, x, rec)
					want := slowCompare(t, x.(*cmpExpr), rec)
					if got != want {
						t.Errorf("%s: got %s, want %s", x, got, want)
					}
				}
			})
		}
	}
	// Exact comparison against big.Int for values on both sides of the
	// int64 boundary, at different scales.
	vals := []decimal128.Num{decimal128.FromI64(math.MaxInt64), decimal128.FromI64(math.MinInt64), huge, huge.Negate(),
		decimal128.FromI64(pow18), decimal128.FromI64(10), decimal128.FromI64(-10), {}}
	for _, s := range []int32{0, 1, 2} {
		for _, v := range vals {
			for _, w := range vals {
				ls, rs := int32(2), s
				want := new(big.Int).Mul(v.BigInt(), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(max(ls, rs)-ls)), nil)).Cmp(
					new(big.Int).Mul(w.BigInt(), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(max(ls, rs)-rs)), nil)))
				out := make([]byte, 1)
				if !cmpDecimal64(OpLt, []decimal128.Num{v}, -1, ls, []decimal128.Num{w}, 0, rs, out, 1) {
					clear(out)
					cmpDecimal(OpLt, []decimal128.Num{v}, -1, ls, []decimal128.Num{w}, 0, rs, out, 1)
				}
				if got := out[0] == 1; got != (want < 0) {
					t.Errorf("%s (scale %d) < %s (scale %d) = %v", v.BigInt(), ls, w.BigInt(), rs, got)
				}
			}
		}
	}
}

// slowCompare evaluates e with cmpDecimal only.
func slowCompare(t *testing.T, e *cmpExpr, rec arrow.RecordBatch) string {
	ctx, mem := testCtx(t)
	l, err := evalOperand(ctx, e.l, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer l.arr.Release()
	r, err := evalOperand(ctx, e.r, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer r.arr.Release()
	n := int(rec.NumRows())
	out := allocBitmap(mem, n)
	cmpDecimal(e.op, values[decimal128.Num](l.arr), l.mask, e.ls, values[decimal128.Num](r.arr), r.mask, e.rs, out.Bytes(), n)
	vbuf, nulls := combineValidity(mem, n, vecOnly(l), vecOnly(r))
	a := makeArray(arrow.FixedWidthTypes.Boolean, n, nulls, vbuf, out)
	defer a.Release()
	return render(a)
}

// refSum is the 128-bit running sum of a group, failing like the kernel
// when a running sum leaves 38 digits.
func refSum(vals []decimal128.Num, nulls []bool) (sum decimal128.Num, cnt int64, failed bool) {
	for i, v := range vals {
		if nulls != nil && nulls[i] {
			continue
		}
		sum = sum.Add(v)
		cnt++
		if !sum.FitsInPrecision(38) {
			return sum, cnt, true
		}
	}
	return sum, cnt, false
}

func TestSumDecimal(t *testing.T) {
	maxI, minI := decimal128.FromI64(math.MaxInt64), decimal128.FromI64(math.MinInt64)
	near := max38.Sub(decimal128.FromI64(5)) // 10^38 - 6
	p37 := decimal128.GetScaleMultiplier(37)
	for _, tc := range []struct {
		name  string
		vals  []decimal128.Num
		nulls []bool
	}{
		{"small", decs(1, 2, 3, -4), nil},
		{"int64 overflow spills", []decimal128.Num{maxI, maxI, maxI, minI, decimal128.FromI64(1)}, nil},
		{"negative spill", []decimal128.Num{minI, minI, decimal128.FromI64(-1), maxI}, nil},
		{"beyond int64", []decimal128.Num{huge, decimal128.FromI64(1), huge.Negate(), huge}, nil},
		{"nulls skipped", []decimal128.Num{maxI, max38, maxI}, []bool{false, true, false}},
		{"near 38 digits", []decimal128.Num{near, decimal128.FromI64(5), decimal128.FromI64(-7)}, nil},
		{"overflow 38 digits", []decimal128.Num{near, decimal128.FromI64(3), decimal128.FromI64(3)}, nil},
		{"overflow through int64 part", []decimal128.Num{max38.Sub(maxI), maxI, decimal128.FromI64(1), decimal128.FromI64(-2)}, nil},
		{"exact mode from 10^37", []decimal128.Num{p37, maxI, maxI, maxI, max38.Sub(p37).Sub(maxI.Mul(decimal128.FromI64(3)))}, nil},
		{"overflow negative", []decimal128.Num{max38.Negate(), decimal128.FromI64(-1)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, mem := testCtx(t)
			dt := &arrow.Decimal128Type{Precision: 38, Scale: 2}
			want, wantCnt, wantFail := refSum(tc.vals, tc.nulls)
			// Every row in its own batch, and all rows in one batch, and
			// two groups interleaved.
			for _, batch := range []int{1, len(tc.vals)} {
				a := &sumDecAgg{dt: dt, scale: 2}
				a.resize(2)
				var err error
				for i := 0; i < len(tc.vals) && err == nil; i += batch {
					end := min(i+batch, len(tc.vals))
					var nulls []bool
					if tc.nulls != nil {
						nulls = tc.nulls[i:end]
					}
					arr := decArray(mem, dt, tc.vals[i:end], nulls)
					gids := make([]int32, end-i)
					err = a.update(gids, nil, arr)
					arr.Release()
				}
				if wantFail {
					if c := sqlstate.CodeOf(err); c != sqlstate.NumericOutOfRange {
						t.Fatalf("batch %d: error %v, want 22003", batch, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("batch %d: %v", batch, err)
				}
				res := a.finish(mem, 2)
				got := res.(*array.Decimal128)
				if got.Value(0) != want || a.cnt[0] != wantCnt || got.IsValid(1) {
					t.Errorf("batch %d: sum %s count %d, want %s count %d", batch, got.Value(0).BigInt(), a.cnt[0], want.BigInt(), wantCnt)
				}
				res.Release()
			}
		})
	}
}

func TestSumDecimalMerge(t *testing.T) {
	_, mem := testCtx(t)
	dt := &arrow.Decimal128Type{Precision: 38, Scale: 2}
	maxI := decimal128.FromI64(math.MaxInt64)
	parts := [][]decimal128.Num{{maxI, maxI, decimal128.FromI64(1)}, {maxI, decimal128.FromI64(-3)}, {huge}}
	var want decimal128.Num
	states := make([]*sumDecAgg, len(parts))
	for i, vals := range parts {
		s := &sumDecAgg{dt: dt, scale: 2, avg: true}
		s.resize(1)
		arr := decArray(mem, dt, vals, nil)
		if err := s.update(make([]int32, len(vals)), nil, arr); err != nil {
			t.Fatal(err)
		}
		arr.Release()
		for _, v := range vals {
			want = want.Add(v)
		}
		states[i] = s
	}
	for _, s := range states[1:] {
		if err := states[0].merge(s, []int32{0}); err != nil {
			t.Fatal(err)
		}
	}
	if got := states[0].sums[0]; got != want || states[0].cnt[0] != 6 {
		t.Fatalf("merged sum %s count %d, want %s count 6", got.BigInt(), states[0].cnt[0], want.BigInt())
	}
	res := states[0].finish(mem, 1)
	defer res.Release()
	if got, w := res.(*array.Float64).Value(0), want.ToFloat64(2)/6; got != w {
		t.Fatalf("avg %v, want %v", got, w)
	}
}

// TestCompareConst checks the column-against-constant comparison loops
// (eight rows per byte, then a tail) against the per-row loops, for
// constants at the ends of each type's range.
func TestCompareConst(t *testing.T) {
	const n = 37 // four full bytes and a tail
	ops := []CmpOp{OpEq, OpNe, OpLt, OpLe, OpGt, OpGe}
	check := func(t *testing.T, name string, got, want []byte) {
		t.Helper()
		for i := 0; i < n; i++ {
			if bitutil.BitIsSet(got, i) != bitutil.BitIsSet(want, i) {
				t.Fatalf("%s: row %d is %v, want %v", name, i, bitutil.BitIsSet(got, i), bitutil.BitIsSet(want, i))
			}
		}
	}
	ints := make([]int64, n)
	for i := range ints {
		ints[i] = int64(i*i*7919%61) - 30
	}
	ints[3], ints[9], ints[20] = math.MaxInt64, math.MinInt64, 0
	t.Run("int64", func(t *testing.T) {
		for _, c := range []int64{math.MaxInt64, math.MinInt64, 0, -30, 30, 5} {
			for _, op := range ops {
				got, want := make([]byte, 5), make([]byte, 5)
				cmpInt(op, ints, -1, []int64{c}, 0, got, n)
				cmpOrdered(op, ints, -1, []int64{c}, 0, want, n)
				check(t, fmt.Sprintf("x %s %d", cmpNames[op], c), got, want)
			}
		}
	})
	t.Run("int64 columns", func(t *testing.T) {
		other := make([]int64, n)
		for i := range other {
			other[i] = ints[(i*5+3)%n]
		}
		other[4], other[11] = ints[4], math.MinInt64 // equal rows
		for _, op := range ops {
			for _, swap := range []bool{false, true} {
				a, b := ints, other
				if swap {
					a, b = b, a
				}
				got, want := make([]byte, 5), make([]byte, 5)
				cmpInt(op, a, -1, b, -1, got, n)
				cmpOrdered(op, a, -1, b, -1, want, n)
				check(t, fmt.Sprintf("x %s y (swapped %v)", cmpNames[op], swap), got, want)
			}
		}
	})
	t.Run("int16", func(t *testing.T) {
		v := make([]int16, n)
		for i, x := range ints {
			v[i] = int16(x)
		}
		v[3], v[9] = math.MaxInt16, math.MinInt16
		for _, c := range []int16{math.MaxInt16, math.MinInt16, 0, 7} {
			for _, op := range ops {
				got, want := make([]byte, 5), make([]byte, 5)
				cmpInt(op, v, -1, []int16{c}, 0, got, n)
				cmpOrdered(op, v, -1, []int16{c}, 0, want, n)
				check(t, fmt.Sprintf("x %s %d", cmpNames[op], c), got, want)
			}
		}
	})
	t.Run("decimal", func(t *testing.T) {
		v := decs(ints...)
		for _, c := range []int64{math.MaxInt64, math.MinInt64, 0, -30, 5} {
			for _, op := range ops {
				got, want := make([]byte, 5), make([]byte, 5)
				if !cmpDecimal64(op, v, -1, 2, decs(c), 0, 2, got, n) {
					t.Fatalf("x %s %d: fast path not taken", cmpNames[op], c)
				}
				cmpDecimal(op, v, -1, 2, decs(c), 0, 2, want, n)
				check(t, fmt.Sprintf("x %s %d", cmpNames[op], c), got, want)
			}
		}
		// A value beyond an int64 in a full byte or in the tail.
		for _, at := range []int{5, 35} {
			w := append([]decimal128.Num(nil), v...)
			w[at] = huge
			if cmpDecimal64(OpLt, w, -1, 2, decs(0), 0, 2, make([]byte, 5), n) {
				t.Errorf("value beyond int64 at row %d: fast path taken", at)
			}
		}
	})
}

// BenchmarkCompareConst compares a column of 8192 rows with a constant:
// the per-row loops (cmpOrdered, cmpDecimal) against the constant paths.
func BenchmarkCompareConst(b *testing.B) {
	const n = 8192
	ints, ints2 := make([]int32, n), make([]int32, n)
	v := make([]decimal128.Num, n)
	for i := range v {
		ints[i], ints2[i] = int32(i*7%100), int32(i*13%100)
		v[i] = decimal128.FromI64(int64(i * 7 % 100))
	}
	out := make([]byte, n/8)
	c := decs(50)
	for _, bc := range []struct {
		name string
		f    func()
	}{
		{"int32/rows", func() { cmpOrdered(OpLt, ints, -1, []int32{50}, 0, out, n) }},
		{"int32/const", func() { cmpInt(OpLt, ints, -1, []int32{50}, 0, out, n) }},
		{"int32/columns-rows", func() { cmpOrdered(OpLe, ints, -1, ints2, -1, out, n) }},
		{"int32/columns", func() { cmpInt(OpLe, ints, -1, ints2, -1, out, n) }},
		{"decimal/rows", func() { cmpDecimal(OpLt, v, -1, 2, c, 0, 2, out, n) }},
		{"decimal/const", func() { cmpDecimal64(OpLt, v, -1, 2, c, 0, 2, out, n) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for range b.N {
				clear(out)
				bc.f()
			}
		})
	}
}

// BenchmarkSumDecimal folds 8192 DECIMAL(15,2) rows into 4 groups (TPC-H
// Q1's shape).
func BenchmarkSumDecimal(b *testing.B) {
	const n = 8192
	mem := memory.NewGoAllocator()
	vals := make([]decimal128.Num, n)
	gids := make([]int32, n)
	for i := range vals {
		vals[i] = decimal128.FromI64(int64(i*7919%1000000) + 100)
		gids[i] = int32(i * 31 % 7 % 4)
	}
	arr := decArray(mem, dec15_2, vals, nil)
	defer arr.Release()
	// sel keeps 63 rows of 64 (a filter that most rows pass).
	var sel, selGids []int32
	for i := range int32(n) {
		if i%64 != 5 {
			sel, selGids = append(sel, i), append(selGids, gids[i])
		}
	}
	for _, bc := range []struct {
		name      string
		gids, sel []int32
	}{{"all", gids, nil}, {"sel", selGids, sel}} {
		b.Run(bc.name, func(b *testing.B) {
			a := &sumDecAgg{dt: dec38_2, scale: 2}
			a.resize(4)
			for range b.N {
				if err := a.update(bc.gids, bc.sel, arr); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestInStrings checks string IN lists probed by comparison (small lists)
// and by the map (larger ones), with NULLs on both sides.
func TestInStrings(t *testing.T) {
	ctx, mem := testCtx(t)
	schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: str, Nullable: true}}, nil)
	rec := recFromJSON(t, mem, schema, `[{"s": "MAIL"}, {"s": "SHIP"}, {"s": null}, {"s": ""}, {"s": "MAI"}, {"s": "MAILS"}, {"s": "AIR REG"}]`)
	defer rec.Release()
	lits := func(vs ...any) []Expr {
		var out []Expr
		for _, v := range vs {
			if v == nil {
				out = append(out, Literal(scalar.MakeNullScalar(str)))
			} else {
				out = append(out, Literal(scalar.NewStringScalar(v.(string))))
			}
		}
		return out
	}
	many := []any{"a", "b", "c", "d", "e", "f", "g", "h", "MAIL", ""}
	for _, tc := range []struct {
		list   []any
		negate bool
		want   string
	}{
		{[]any{"MAIL", "SHIP"}, false, "true,true,NULL,false,false,false,false"},
		{[]any{"MAIL", "SHIP"}, true, "false,false,NULL,true,true,true,true"},
		{[]any{"", "AIR REG", nil}, false, "NULL,NULL,NULL,true,NULL,NULL,true"},
		{many, false, "true,false,NULL,true,false,false,false"},
		{append(many, nil), true, "false,NULL,NULL,false,NULL,NULL,NULL"},
	} {
		e, err := In(Column(0, str), lits(tc.list...), tc.negate)
		if err != nil {
			t.Fatal(err)
		}
		got, err := evalOn(t, ctx, e, rec)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("%s: got %s, want %s", e, got, tc.want)
		}
	}
}

// TestSumDecimalLanes checks the per-batch lanes of a SUM over few groups
// (sumLanes) against a row-by-row 128-bit sum: values that are small, near
// the int64 edge (lanes and group sums overflow an int64), negative and
// beyond an int64 (the batch falls back to the row loops), with and
// without a selection of rows, over as many groups as the lanes serve and
// one more.
func TestSumDecimalLanes(t *testing.T) {
	_, mem := testCtx(t)
	maxI := int64(math.MaxInt64)
	kinds := []struct {
		name string
		val  func(i int) decimal128.Num
	}{
		{"small", func(i int) decimal128.Num { return decimal128.FromI64(int64(i*7919%100000 - 30000)) }},
		{"int64 edge", func(i int) decimal128.Num { return decimal128.FromI64(maxI - int64(i%5)) }},
		{"negative edge", func(i int) decimal128.Num { return decimal128.FromI64(-maxI + int64(i%3)) }},
		{"mixed edge", func(i int) decimal128.Num { return decimal128.FromI64((maxI - int64(i)) * int64(1-2*(i/7%2))) }},
		{"sparse edge", func(i int) decimal128.Num {
			// One value per lane of a batch: the lanes fit, their sum
			// does not.
			if i%251 == 0 {
				return decimal128.FromI64(maxI/2 + 7)
			}
			return decimal128.FromI64(1)
		}},
		{"one beyond int64", func(i int) decimal128.Num {
			for _, r := range []int{7, 1003 + 6, 2006 + 5} { // a different lane in each batch
				if i == r {
					return huge
				}
			}
			return decimal128.FromI64(int64(i))
		}},
		{"beyond int64", func(i int) decimal128.Num {
			if i%97 == 13 {
				return huge
			}
			return decimal128.FromI64(int64(i))
		}},
	}
	for _, k := range kinds {
		for _, groups := range []int{1, 4, laneGroups, laneGroups + 1} {
			for _, withSel := range []bool{false, true} {
				name := fmt.Sprintf("%s/groups=%d/sel=%v", k.name, groups, withSel)
				a := &sumDecAgg{dt: dec38_2, scale: 2}
				a.resize(groups)
				want := make([]decimal128.Num, groups)
				wantCnt := make([]int64, groups)
				for batch := 0; batch < 3; batch++ {
					const n = 1003
					vals := make([]decimal128.Num, n)
					for i := range vals {
						vals[i] = k.val(batch*n + i)
					}
					arr := decArray(mem, dec38_2, vals, nil)
					var gids, sel []int32
					for i := range int32(n) {
						if withSel && i%5 == 2 {
							continue
						}
						g := (i*31 + int32(batch)) % int32(groups)
						gids = append(gids, g)
						if withSel {
							sel = append(sel, i)
						}
						want[g] = want[g].Add(vals[i])
						wantCnt[g]++
					}
					err := a.update(gids, sel, arr)
					arr.Release()
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
				}
				res := a.finish(mem, groups).(*array.Decimal128)
				for g := range groups {
					if res.Value(g) != want[g] || a.cnt[g] != wantCnt[g] {
						t.Errorf("%s: group %d: sum %s count %d, want %s count %d", name, g,
							res.Value(g).BigInt(), a.cnt[g], want[g].BigInt(), wantCnt[g])
					}
				}
				res.Release()
			}
		}
	}
}

// TestSumDecimalLanesAfterFold: a lane fold that makes the state exact
// (sums[g] reaches 10^37) must not add the remaining lanes to small, which
// exact states ignore (the remaining lanes' values were lost).
func TestSumDecimalLanesAfterFold(t *testing.T) {
	_, mem := testCtx(t)
	a := &sumDecAgg{dt: dec38_2, scale: 2}
	a.resize(1)
	want := decimal128.Num{}
	// Batch 1: 10^37 - 2^62, beyond an int64: the row loop spills it,
	// sums stays below 10^37 (not exact).
	e37, _ := new(big.Int).SetString("10000000000000000000000000000000000000", 10)
	x1 := decimal128.FromBigInt(new(big.Int).Sub(e37, new(big.Int).Lsh(big.NewInt(1), 62)))
	arr := decArray(mem, dec38_2, []decimal128.Num{x1}, nil)
	if err := a.update([]int32{0}, nil, arr); err != nil {
		t.Fatal(err)
	}
	arr.Release()
	want = want.Add(x1)
	// Batch 2: rows 1.5*2^62, 1.5*2^62, 5, 5, one per lane: each lane
	// fits, the second add64 overflows small and spills past 10^37 (fold:
	// exact), and lanes 2 and 3 are then added to small, which an exact
	// state ignores.
	v := decimal128.FromI64(3 << 61)
	vals := []decimal128.Num{v, v, decimal128.FromI64(5), decimal128.FromI64(5)}
	for _, x := range vals {
		want = want.Add(x)
	}
	arr = decArray(mem, dec38_2, vals, nil)
	if err := a.update([]int32{0, 0, 0, 0}, nil, arr); err != nil {
		t.Fatal(err)
	}
	arr.Release()
	res := a.finish(mem, 1).(*array.Decimal128)
	defer res.Release()
	if res.Value(0) != want {
		t.Fatalf("sum %s, want %s (count %d)", res.Value(0).BigInt(), want.BigInt(), a.cnt[0])
	}
}
