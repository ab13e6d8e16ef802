package arrowexec

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// WindowFunc is a window function.
type WindowFunc uint8

// Window functions. Ranking functions (RowNumber, Rank, DenseRank, NTile)
// return Int64 and ignore the frame; Lag and Lead read the row Offset rows
// before or after the current row in the partition (Default, or NULL,
// outside it); FirstValue and LastValue read the first and last row of the
// frame; WinAgg computes the aggregate Agg over the frame.
const (
	WinRowNumber WindowFunc = iota
	WinRank
	WinDenseRank
	WinNTile
	WinLag
	WinLead
	WinFirstValue
	WinLastValue
	WinAgg
)

// BoundType is the kind of one end of a window frame.
type BoundType uint8

// Frame bound kinds.
const (
	BoundUnboundedPreceding BoundType = iota
	BoundPreceding
	BoundCurrentRow
	BoundFollowing
	BoundUnboundedFollowing
)

// FrameBound is one end of a window frame; Offset (>= 0) is the n of
// "n PRECEDING" and "n FOLLOWING".
type FrameBound struct {
	Type   BoundType
	Offset int64
}

// Frame is the set of rows of a partition that an aggregate, FIRST_VALUE
// or LAST_VALUE sees for each row. ROWS frames count rows; RANGE frames
// with CURRENT ROW include the current row's peers (rows equal on every
// ORDER BY key). The SQL default with ORDER BY is RANGE BETWEEN UNBOUNDED
// PRECEDING AND CURRENT ROW, without it the whole partition.
type Frame struct {
	Rows       bool
	Start, End FrameBound
}

// DefaultFrame is RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW.
var DefaultFrame = Frame{Start: FrameBound{Type: BoundUnboundedPreceding}, End: FrameBound{Type: BoundCurrentRow}}

// WindowCall is one window function of a window operator.
type WindowCall struct {
	Func WindowFunc
	// Agg is the aggregate of WinAgg: AggCountStar, AggCount, AggSum,
	// AggMin, AggMax or AggAvg (not DISTINCT).
	Agg AggFunc
	// Arg is the argument (nil for ranking functions and COUNT(*)). SUM
	// and AVG take Int64, Float64 or Decimal128 arguments (the planner
	// widens smaller types).
	Arg Expr
	// Default is LAG/LEAD's value outside the partition (nil: NULL); it
	// must have Arg's type.
	Default Expr
	// N is LAG/LEAD's offset and NTILE's bucket count.
	N int64
	// Frame applies to WinAgg, WinFirstValue and WinLastValue.
	Frame Frame
	// Name is the output field name.
	Name string
}

// windowOp buffers its input, sorts it by partition and order keys once
// and appends one column per call. Output rows come in partition, order
// key order.
type windowOp struct {
	in        Operator
	partition []Expr
	order     []SortKey
	calls     []WindowCall
	types     []arrow.DataType
	schema    *arrow.Schema

	ctx    context.Context
	result arrow.RecordBatch
	pos    int64
	out    batchHolder
	done   bool
	acct   accounted
}

var _ Operator = (*windowOp)(nil)

// NewWindow returns an operator that outputs its input's columns followed
// by one column per call, evaluated over the partitions of partition
// (rows equal on every expression, NULLs equal) ordered by order. It holds
// its whole input (accounted against the query's Budget).
func NewWindow(in Operator, partition []Expr, order []SortKey, calls []WindowCall) (Operator, error) {
	fields := append([]arrow.Field(nil), in.Schema().Fields()...)
	types := make([]arrow.DataType, len(calls))
	for i, c := range calls {
		t, err := windowResultType(c)
		if err != nil {
			return nil, err
		}
		types[i] = t
		fields = append(fields, arrow.Field{Name: c.Name, Type: t, Nullable: true})
	}
	return &windowOp{in: in, partition: partition, order: order, calls: calls, types: types,
		schema: arrow.NewSchema(fields, nil)}, nil
}

func windowResultType(c WindowCall) (arrow.DataType, error) {
	switch c.Func {
	case WinRowNumber, WinRank, WinDenseRank, WinNTile:
		return arrow.PrimitiveTypes.Int64, nil
	case WinLag, WinLead, WinFirstValue, WinLastValue:
		if c.Arg == nil {
			return nil, fmt.Errorf("arrowexec: window function %d needs an argument", c.Func)
		}
		if c.Default != nil && !arrow.TypeEqual(c.Default.DataType(), c.Arg.DataType()) {
			return nil, errMismatch("LAG/LEAD default of type %s for a value of type %s", c.Default.DataType(), c.Arg.DataType())
		}
		return c.Arg.DataType(), nil
	case WinAgg:
		switch c.Agg {
		case AggCountStar, AggCount:
			return arrow.PrimitiveTypes.Int64, nil
		case AggMin, AggMax:
			return c.Arg.DataType(), nil
		case AggSum, AggAvg:
			t := c.Arg.DataType()
			switch t.ID() {
			case arrow.INT64, arrow.FLOAT64, arrow.DECIMAL128:
				if c.Agg == AggAvg {
					return arrow.PrimitiveTypes.Float64, nil
				}
				if d, ok := t.(*arrow.Decimal128Type); ok {
					return &arrow.Decimal128Type{Precision: 38, Scale: d.Scale}, nil
				}
				return t, nil
			}
			return nil, errMismatch("window SUM/AVG of type %s", t)
		}
	}
	return nil, fmt.Errorf("arrowexec: unknown window function %d/%d", c.Func, c.Agg)
}

// Schema implements Operator.
func (w *windowOp) Schema() *arrow.Schema { return w.schema }

// Open implements Operator.
func (w *windowOp) Open(ctx context.Context) error {
	w.ctx = ctx
	w.acct.budget = BudgetFrom(ctx)
	return w.in.Open(ctx)
}

// Next implements Operator.
func (w *windowOp) Next() (arrow.RecordBatch, error) {
	w.out.release()
	if !w.done {
		w.done = true
		if err := w.compute(); err != nil {
			return nil, err
		}
	}
	if err := w.ctx.Err(); err != nil {
		return nil, err
	}
	return w.out.nextSlice(w.result, &w.pos), nil
}

// Close implements Operator.
func (w *windowOp) Close() error {
	w.out.release()
	if w.result != nil {
		w.result.Release()
		w.result = nil
	}
	w.acct.shrink(w.acct.held)
	return w.in.Close()
}

// compute reads the whole input, sorts it and evaluates every call.
func (w *windowOp) compute() error {
	mem := exec.GetAllocator(w.ctx)
	var buf []arrow.RecordBatch
	var bufBytes int64
	defer func() {
		for _, b := range buf {
			b.Release()
		}
	}()
	for {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		b, err := w.in.Next()
		if err != nil {
			return err
		}
		if b == nil {
			break
		}
		b.Retain()
		buf = append(buf, b)
		sz := recordBytes(b)
		if err := w.acct.grow(sz); err != nil {
			return err
		}
		bufBytes += sz
	}
	// The input is copied twice, concatenated and then sorted: each copy
	// is charged before it is made and what it replaces returned once it
	// is released (on error, Close returns whatever is held).
	if len(buf) > 1 {
		if err := w.acct.grow(bufBytes); err != nil {
			return err
		}
	}
	rec, err := concatBatches(mem, w.in.Schema(), buf)
	for _, b := range buf {
		b.Release()
	}
	buf = nil
	if err != nil || rec == nil {
		return err
	}
	defer func() {
		if rec != nil {
			rec.Release()
		}
	}()
	recBytes := recordBytes(rec)
	if err := w.acct.set(recBytes + 4*rec.NumRows()); err != nil {
		return err
	}
	keys := make([]SortKey, 0, len(w.partition)+len(w.order))
	for _, p := range w.partition {
		keys = append(keys, SortKey{Expr: p})
	}
	keys = append(keys, w.order...)
	idx, err := sortIndices(w.ctx, rec, keys, -1)
	if err != nil {
		return err
	}
	if err := w.acct.grow(recBytes); err != nil {
		return err
	}
	sorted, err := takeRecord(mem, rec, idx)
	if err != nil {
		return err
	}
	defer sorted.Release()
	rec.Release()
	rec = nil
	if err := w.acct.set(recordBytes(sorted)); err != nil {
		return err
	}
	n := int(sorted.NumRows())

	// Partition and peer-group boundaries over the sorted rows.
	part, err := boundaries(w.ctx, sorted, keys[:len(w.partition)], nil)
	if err != nil {
		return err
	}
	peer, err := boundaries(w.ctx, sorted, w.order, part)
	if err != nil {
		return err
	}
	if err := w.acct.grow(sliceBytes(part) + sliceBytes(peer)); err != nil {
		return err
	}

	cols := make([]arrow.Array, 0, len(w.calls)+int(sorted.NumCols()))
	defer func() { releaseAll(cols) }()
	for _, c := range sorted.Columns() {
		c.Retain()
		cols = append(cols, c)
	}
	ev := &windowEval{ctx: w.ctx, mem: mem, rec: sorted, n: n, part: part, peer: peer}
	for _, c := range w.calls {
		if !c.Frame.Rows && (c.Frame.Start.Type == BoundPreceding || c.Frame.Start.Type == BoundFollowing ||
			c.Frame.End.Type == BoundPreceding || c.Frame.End.Type == BoundFollowing) {
			if err := ev.rangeKeys(w.order); err != nil {
				return err
			}
			break
		}
	}
	for i, c := range w.calls {
		a, err := ev.eval(c, w.types[i])
		if err != nil {
			return err
		}
		cols = append(cols, a)
		if err := w.acct.grow(arrayBytes(a)); err != nil {
			return err
		}
	}
	w.result = array.NewRecordBatch(w.schema, cols, int64(n))
	return nil
}

func arrayBytes(a arrow.Array) int64 {
	var n int64
	for _, b := range a.Data().Buffers() {
		if b != nil {
			n += int64(b.Len())
		}
	}
	return n
}

// boundaries returns, for every row, the index of the first row of its
// group: a group is a run of rows equal on keys that does not cross a
// group of outer (nil: no outer groups).
func boundaries(ctx context.Context, rec arrow.RecordBatch, keys []SortKey, outer []int32) ([]int32, error) {
	n := int(rec.NumRows())
	start := make([]int32, n)
	cmps := make([]rowComparator, len(keys))
	arrs := make([]arrow.Array, len(keys))
	defer releaseAll(arrs)
	for i, k := range keys {
		a, err := k.Expr.Eval(ctx, rec)
		if err != nil {
			return nil, err
		}
		arrs[i] = a
		cmps[i] = keyComparator(a, k)
	}
	for i := 1; i < n; i++ {
		same := outer == nil || outer[i] == outer[i-1]
		for _, c := range cmps {
			if !same {
				break
			}
			same = c(int32(i-1), int32(i)) == 0
		}
		if same {
			start[i] = start[i-1]
		} else {
			start[i] = int32(i)
		}
	}
	return start, nil
}

// windowEval evaluates calls over one sorted record. part[i] and peer[i]
// are the first rows of row i's partition and peer group.
type windowEval struct {
	ctx        context.Context
	mem        memory.Allocator
	rec        arrow.RecordBatch
	n          int
	part, peer []int32
	// rkey and rnull are the ORDER BY key of RANGE frames with offsets.
	rkey  []float64
	rnull []bool
}

// rangeKeys prepares RANGE frames with offsets: the one ORDER BY key as
// float64, negated when descending so that it ascends in every partition.
func (ev *windowEval) rangeKeys(order []SortKey) error {
	if len(order) != 1 {
		return sqlstate.Errorf(sqlstate.SyntaxError, "RANGE with offset PRECEDING/FOLLOWING requires exactly one ORDER BY column")
	}
	a, err := order[0].Expr.Eval(ev.ctx, ev.rec)
	if err != nil {
		return err
	}
	defer a.Release()
	k := make([]float64, ev.n)
	switch a.DataType().ID() {
	case arrow.INT16:
		for i, v := range values[int16](a) {
			k[i] = float64(v)
		}
	case arrow.INT32, arrow.DATE32:
		for i, v := range values[int32](a) {
			k[i] = float64(v)
		}
	case arrow.INT64:
		for i, v := range values[int64](a) {
			k[i] = float64(v)
		}
	case arrow.FLOAT32:
		for i, v := range values[float32](a) {
			k[i] = float64(v)
		}
	case arrow.FLOAT64:
		copy(k, values[float64](a))
	case arrow.DECIMAL128:
		scale := a.DataType().(*arrow.Decimal128Type).Scale
		for i, v := range values[decimal128.Num](a) {
			k[i] = v.ToFloat64(scale)
		}
	default:
		return errMismatch("RANGE with offset over an ORDER BY column of type %s", a.DataType())
	}
	if order[0].Desc {
		for i := range k {
			k[i] = -k[i]
		}
	}
	ev.rkey = k
	ev.rnull = make([]bool, ev.n)
	bits, off := validity(a)
	for i := range ev.rnull {
		ev.rnull[i] = !isValid(bits, off, i)
	}
	return nil
}

// rangeBound returns the first row of row i's partition [ps, pe) whose key
// is >= target (or > target when after), skipping the NULL keys at either
// end of the partition.
func (ev *windowEval) rangeBound(ps, pe int64, target float64, after bool) int64 {
	lo, hi := ps, pe
	for lo < hi && ev.rnull[lo] {
		lo++
	}
	for hi > lo && ev.rnull[hi-1] {
		hi--
	}
	// Binary search over the non-NULL keys.
	for lo < hi {
		mid := (lo + hi) / 2
		if k := ev.rkey[mid]; k < target || after && k == target {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// partEnd returns the end (exclusive) of every row's partition or peer group.
func groupEnds(start []int32) []int32 {
	n := len(start)
	end := make([]int32, n)
	for i := n - 1; i >= 0; i-- {
		if i == n-1 || start[i+1] != start[i] {
			end[i] = int32(i + 1)
		} else {
			end[i] = end[i+1]
		}
	}
	return end
}

// frames returns the frame [s, e) of every row; s >= e is empty.
func (ev *windowEval) frames(f Frame) (s, e []int32) {
	pend, peerEnd := groupEnds(ev.part), groupEnds(ev.peer)
	s, e = make([]int32, ev.n), make([]int32, ev.n)
	bound := func(b FrameBound, i int, start bool) int64 {
		ps, pe := int64(ev.part[i]), int64(pend[i])
		switch b.Type {
		case BoundUnboundedPreceding:
			return ps
		case BoundUnboundedFollowing:
			return pe
		case BoundCurrentRow:
			if f.Rows {
				if start {
					return int64(i)
				}
				return int64(i) + 1
			}
			if start {
				return int64(ev.peer[i])
			}
			return int64(peerEnd[i])
		case BoundPreceding, BoundFollowing:
			if f.Rows {
				break
			}
			if ev.rnull[i] {
				// A NULL key's frame bounds are its peers.
				if start {
					return int64(ev.peer[i])
				}
				return int64(peerEnd[i])
			}
			t := ev.rkey[i] + float64(b.Offset)
			if b.Type == BoundPreceding {
				t = ev.rkey[i] - float64(b.Offset)
			}
			return ev.rangeBound(ps, pe, t, !start)
		}
		switch b.Type {
		case BoundPreceding:
			v := int64(i) - b.Offset
			if !start {
				v++
			}
			return max(ps, min(pe, v))
		}
		v := int64(i) + b.Offset // BoundFollowing
		if !start {
			v++
		}
		return max(ps, min(pe, v))
	}
	for i := 0; i < ev.n; i++ {
		s[i], e[i] = int32(bound(f.Start, i, true)), int32(bound(f.End, i, false))
	}
	return s, e
}

func (ev *windowEval) eval(c WindowCall, t arrow.DataType) (arrow.Array, error) {
	n := ev.n
	switch c.Func {
	case WinRowNumber, WinRank, WinDenseRank, WinNTile:
		if c.Func == WinNTile && c.N <= 0 {
			return nil, sqlstate.Errorf(sqlstate.InvalidNtileArgument, "argument of ntile must be greater than zero")
		}
		buf, out := allocFixed[int64](ev.mem, n)
		pend := groupEnds(ev.part)
		var dense int64
		for i := 0; i < n; i++ {
			ps := int(ev.part[i])
			switch c.Func {
			case WinRowNumber:
				out[i] = int64(i-ps) + 1
			case WinRank:
				out[i] = int64(int(ev.peer[i])-ps) + 1
			case WinDenseRank:
				if i == ps {
					dense = 1
				} else if ev.peer[i] != ev.peer[i-1] {
					dense++
				}
				out[i] = dense
			case WinNTile:
				m := int64(int(pend[i]) - ps)
				r := int64(i - ps)
				q, rem := m/c.N, m%c.N
				// The first rem buckets hold q+1 rows.
				if big := rem * (q + 1); r < big {
					out[i] = r/(q+1) + 1
				} else {
					out[i] = rem + (r-big)/q + 1
				}
			}
		}
		return fixedArray(ev.mem, t, buf, n), nil
	case WinLag, WinLead:
		pend := groupEnds(ev.part)
		idx := make([]int32, n)
		for i := 0; i < n; i++ {
			j := int64(i) - c.N
			if c.Func == WinLead {
				j = int64(i) + c.N
			}
			if j < int64(ev.part[i]) || j >= int64(pend[i]) {
				idx[i] = int32(n + i) // the default
			} else {
				idx[i] = int32(j)
			}
		}
		return ev.gather(c, idx)
	case WinFirstValue, WinLastValue:
		s, e := ev.frames(c.Frame)
		idx := make([]int32, n)
		for i := range idx {
			switch {
			case s[i] >= e[i]:
				idx[i] = int32(n + i)
			case c.Func == WinFirstValue:
				idx[i] = s[i]
			default:
				idx[i] = e[i] - 1
			}
		}
		return ev.gather(c, idx)
	}
	s, e := ev.frames(c.Frame)
	if c.Agg == AggCountStar {
		buf, out := allocFixed[int64](ev.mem, n)
		for i := range out {
			out[i] = int64(max(0, e[i]-s[i]))
		}
		return fixedArray(ev.mem, t, buf, n), nil
	}
	arg, err := c.Arg.Eval(ev.ctx, ev.rec)
	if err != nil {
		return nil, err
	}
	defer arg.Release()
	switch c.Agg {
	case AggMin, AggMax:
		return ev.minMax(c, arg, s, e)
	}
	return ev.sumCount(c, t, arg, s, e)
}

// gather takes rows idx of [arg; default] where the default part is
// Default evaluated per row (or NULLs).
func (ev *windowEval) gather(c WindowCall, idx []int32) (arrow.Array, error) {
	arg, err := c.Arg.Eval(ev.ctx, ev.rec)
	if err != nil {
		return nil, err
	}
	defer arg.Release()
	var def arrow.Array
	if c.Default != nil {
		if def, err = c.Default.Eval(ev.ctx, ev.rec); err != nil {
			return nil, err
		}
	} else {
		def = array.MakeArrayOfNull(ev.mem, arg.DataType(), ev.n)
	}
	defer def.Release()
	both, err := array.Concatenate([]arrow.Array{arg, def}, ev.mem)
	if err != nil {
		return nil, err
	}
	defer both.Release()
	return take(ev.mem, both, idx)
}

// minMax finds the index of the least (AggMin) or greatest non-NULL value
// of every frame with the sort comparator, incrementally while frames only
// grow at the end, and gathers it.
func (ev *windowEval) minMax(c WindowCall, arg arrow.Array, s, e []int32) (arrow.Array, error) {
	n := ev.n
	cmp := keyComparator(arg, SortKey{Desc: c.Agg == AggMax})
	bits, off := validity(arg)
	idx := make([]int32, n)
	best, bs, be := int32(-1), int32(-1), int32(-1)
	for i := 0; i < n; i++ {
		si, ei := s[i], e[i]
		from := si
		if si == bs && ei >= be && bs >= 0 {
			from = be
		} else {
			best = -1
		}
		for j := from; j < ei; j++ {
			if !isValid(bits, off, int(j)) {
				continue
			}
			if best < 0 || cmp(j, best) < 0 {
				best = j
			}
		}
		bs, be = si, max(ei, si)
		if best < 0 {
			idx[i] = int32(n + i)
		} else {
			idx[i] = best
		}
	}
	null := array.MakeArrayOfNull(ev.mem, arg.DataType(), n)
	defer null.Release()
	both, err := array.Concatenate([]arrow.Array{arg, null}, ev.mem)
	if err != nil {
		return nil, err
	}
	defer both.Release()
	return take(ev.mem, both, idx)
}

// sumCount computes COUNT, SUM and AVG of every frame from per-partition
// prefix sums (exact for integers and decimals; a running float sum is the
// same sequential sum as a plain aggregate).
func (ev *windowEval) sumCount(c WindowCall, t arrow.DataType, arg arrow.Array, s, e []int32) (arrow.Array, error) {
	n := ev.n
	bits, off := validity(arg)
	// cnt[i+1] - cnt[part start] counts non-NULL values; prefixes restart
	// at every partition so that running sums are plain sequential sums.
	cnt := make([]int64, n+1)
	for i := 0; i < n; i++ {
		base := cnt[i]
		if int(ev.part[i]) == i {
			base = 0
		}
		if isValid(bits, off, i) {
			base++
		}
		cnt[i+1] = base
	}
	// prefix(p, i) is the sum over [part start, i).
	count := func(i int, lo, hi int32) int64 {
		if lo >= hi {
			return 0
		}
		return cnt[hi] - pre(cnt, ev.part[i], lo)
	}
	if c.Agg == AggCount {
		buf, out := allocFixed[int64](ev.mem, n)
		for i := range out {
			out[i] = count(i, s[i], e[i])
		}
		return fixedArray(ev.mem, t, buf, n), nil
	}
	valid := make([]bool, n)
	counts := make([]int64, n)
	for i := range valid {
		counts[i] = count(i, s[i], e[i])
		valid[i] = counts[i] > 0
	}
	switch arg.DataType().ID() {
	case arrow.INT64:
		v := values[int64](arg)
		ps := make([]int64, n+1)
		for i := 0; i < n; i++ {
			base := ps[i]
			if int(ev.part[i]) == i {
				base = 0
			}
			if isValid(bits, off, i) {
				x := base + v[i]
				if (x > base) != (v[i] > 0) && v[i] != 0 {
					return nil, errOverflow("bigint")
				}
				base = x
			}
			ps[i+1] = base
		}
		if c.Agg == AggAvg {
			return ev.floatResult(valid, func(i int) float64 {
				return float64(ps[e[i]]-pre(ps, ev.part[i], s[i])) / float64(counts[i])
			}), nil
		}
		buf, out := allocFixed[int64](ev.mem, n)
		for i := range out {
			if valid[i] {
				a, b := ps[e[i]], pre(ps, ev.part[i], s[i])
				out[i] = a - b
				if (out[i] < a) != (b > 0) {
					return nil, errOverflow("bigint")
				}
			}
		}
		return withValidity(ev.mem, fixedArray(ev.mem, t, buf, n), valid), nil
	case arrow.FLOAT64:
		v := values[float64](arg)
		ps := make([]float64, n+1)
		for i := 0; i < n; i++ {
			base := ps[i]
			if int(ev.part[i]) == i {
				base = 0
			}
			if isValid(bits, off, i) {
				base += v[i]
			}
			ps[i+1] = base
		}
		sum := func(i int) float64 {
			if s[i] == ev.part[i] {
				return ps[e[i]]
			}
			return ps[e[i]] - ps[s[i]]
		}
		if c.Agg == AggAvg {
			return ev.floatResult(valid, func(i int) float64 { return sum(i) / float64(counts[i]) }), nil
		}
		return ev.floatResult(valid, sum), nil
	case arrow.DECIMAL128:
		v := values[decimal128.Num](arg)
		scale := arg.DataType().(*arrow.Decimal128Type).Scale
		ps := make([]decimal128.Num, n+1)
		for i := 0; i < n; i++ {
			base := ps[i]
			if int(ev.part[i]) == i {
				base = decimal128.Num{}
			}
			if isValid(bits, off, i) {
				base = base.Add(v[i])
			}
			ps[i+1] = base
		}
		sum := func(i int) decimal128.Num {
			if s[i] == ev.part[i] {
				return ps[e[i]]
			}
			return ps[e[i]].Sub(ps[s[i]])
		}
		if c.Agg == AggAvg {
			return ev.floatResult(valid, func(i int) float64 { return sum(i).ToFloat64(scale) / float64(counts[i]) }), nil
		}
		buf, out := allocFixed[decimal128.Num](ev.mem, n)
		for i := range out {
			if valid[i] {
				out[i] = sum(i)
				if !out[i].FitsInPrecision(38) {
					return nil, errOverflow("numeric")
				}
			}
		}
		return withValidity(ev.mem, fixedArray(ev.mem, t, buf, n), valid), nil
	}
	return nil, errMismatch("window %d of type %s", c.Agg, arg.DataType())
}

// pre returns prefix[lo] relative to a partition starting at ps: prefixes
// restart at each partition, so the prefix before the partition is 0.
func pre[T int64 | float64](prefix []T, ps, lo int32) T {
	if lo <= ps {
		return 0
	}
	return prefix[lo]
}

func (ev *windowEval) floatResult(valid []bool, f func(i int) float64) arrow.Array {
	buf, out := allocFixed[float64](ev.mem, ev.n)
	for i := range out {
		if valid[i] {
			out[i] = f(i)
		}
	}
	return withValidity(ev.mem, fixedArray(ev.mem, arrow.PrimitiveTypes.Float64, buf, ev.n), valid)
}

// fixedArray wraps a values buffer of n rows (no NULLs) as an array of t.
func fixedArray(mem memory.Allocator, t arrow.DataType, buf *memory.Buffer, n int) arrow.Array {
	d := array.NewData(t, n, []*memory.Buffer{nil, buf}, nil, 0, 0)
	defer d.Release()
	buf.Release()
	return array.MakeFromData(d)
}

// withValidity returns a with the rows where valid is false set to NULL;
// it consumes a.
func withValidity(mem memory.Allocator, a arrow.Array, valid []bool) arrow.Array {
	nulls := 0
	for _, v := range valid {
		if !v {
			nulls++
		}
	}
	if nulls == 0 {
		return a
	}
	defer a.Release()
	bm := allocBitmap(mem, len(valid))
	b := bm.Bytes()
	for i, v := range valid {
		if v {
			b[i/8] |= 1 << (i % 8)
		}
	}
	bufs := a.Data().Buffers()
	d := array.NewData(a.DataType(), len(valid), []*memory.Buffer{bm, bufs[1]}, nil, nulls, 0)
	bm.Release()
	defer d.Release()
	return array.MakeFromData(d)
}
