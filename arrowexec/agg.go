package arrowexec

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// aggState is the per-group state of one aggregate. update is called once
// per batch (one interface call per batch, typed loops inside).
type aggState interface {
	// resize makes room for groups 0..n-1.
	resize(n int)
	// update folds rows of a (nil for COUNT(*)) into groups gids: row i
	// of a into group gids[i] when sel is nil, else row sel[i] (sel
	// ascending, as long as gids) into group gids[i]. Rows of a that sel
	// leaves out are not read, so they cannot raise an error.
	update(gids, sel []int32, a arrow.Array) error
	// finish returns the result column of n groups.
	finish(mem memory.Allocator, n int) arrow.Array
	// bytes returns the memory the state holds, by capacity: its
	// per-group slices and whatever grows with its input (a group's
	// strings, a DISTINCT's seen values). It is O(1): the operator charges
	// it to the query's budget after every batch.
	bytes() int64
}

// sliceBytes returns the memory of s's backing array.
func sliceBytes[T any](s []T) int64 {
	var z T
	return int64(cap(s)) * int64(unsafe.Sizeof(z))
}

// aggResultType returns the result type of f over arg.
func aggResultType(f AggFunc, arg arrow.DataType) (arrow.DataType, error) {
	switch f {
	case AggCountStar, AggCount:
		return arrow.PrimitiveTypes.Int64, nil
	case AggMin, AggMax:
		if fixedWidth(arg) < 0 && arg.ID() != arrow.STRING {
			return nil, errMismatch("function min/max(%s) does not exist", arg)
		}
		return arg, nil
	case AggSum:
		switch arg.ID() {
		case arrow.INT16, arrow.INT32, arrow.INT64, arrow.NULL:
			return arrow.PrimitiveTypes.Int64, nil
		case arrow.FLOAT32, arrow.FLOAT64:
			return arrow.PrimitiveTypes.Float64, nil
		case arrow.DECIMAL128:
			return &arrow.Decimal128Type{Precision: 38, Scale: arg.(*arrow.Decimal128Type).Scale}, nil
		}
	case AggAvg:
		switch arg.ID() {
		case arrow.INT16, arrow.INT32, arrow.INT64, arrow.FLOAT32, arrow.FLOAT64, arrow.DECIMAL128, arrow.NULL:
			return arrow.PrimitiveTypes.Float64, nil
		}
	case AggStringAgg:
		switch arg.ID() {
		case arrow.STRING, arrow.NULL:
			return arrow.BinaryTypes.String, nil
		}
	}
	return nil, errMismatch("aggregate function %d does not accept %s", f, arg)
}

func newAggState(f AggFunc, arg, res arrow.DataType, sep string) aggState {
	switch f {
	case AggStringAgg:
		return &stringAgg{sep: sep}
	case AggCountStar, AggCount:
		return &countAgg{star: f == AggCountStar}
	case AggSum, AggAvg:
		avg := f == AggAvg
		switch arg.ID() {
		case arrow.INT16:
			return &sumIntAgg[int16]{avg: avg}
		case arrow.INT32:
			return &sumIntAgg[int32]{avg: avg}
		case arrow.INT64, arrow.NULL:
			return &sumIntAgg[int64]{avg: avg}
		case arrow.FLOAT32:
			return &sumFloatAgg[float32]{avg: avg}
		case arrow.FLOAT64:
			return &sumFloatAgg[float64]{avg: avg}
		case arrow.DECIMAL128:
			return &sumDecAgg{avg: avg, dt: res, scale: arg.(*arrow.Decimal128Type).Scale}
		}
	case AggMin, AggMax:
		max := f == AggMax
		switch arg.ID() {
		case arrow.INT16:
			return &minMaxAgg[int16]{max: max, dt: res}
		case arrow.INT32, arrow.DATE32:
			return &minMaxAgg[int32]{max: max, dt: res}
		case arrow.INT64, arrow.TIMESTAMP:
			return &minMaxAgg[int64]{max: max, dt: res}
		case arrow.FLOAT32:
			return &minMaxAgg[float32]{max: max, dt: res}
		case arrow.FLOAT64:
			return &minMaxAgg[float64]{max: max, dt: res}
		case arrow.DECIMAL128:
			return &minMaxDecAgg{max: max, dt: res}
		case arrow.STRING:
			return &minMaxStrAgg{max: max}
		case arrow.BOOL:
			return &minMaxBoolAgg{max: max}
		case arrow.NULL:
			return &countAgg{nullOut: true}
		}
	}
	return nil
}

// ---- STRING_AGG ----

// stringAgg appends each group's strings to one byte buffer per group.
type stringAgg struct {
	sep  string
	bufs [][]byte
	seen []bool
	held int64 // the sum of cap(bufs[g])
}

func (a *stringAgg) resize(n int) { a.bufs, a.seen = growZero(a.bufs, n), growZero(a.seen, n) }

func (a *stringAgg) bytes() int64 { return sliceBytes(a.bufs) + sliceBytes(a.seen) + a.held }

func (a *stringAgg) update(gids, sel []int32, arr arrow.Array) error {
	s, ok := arr.(*array.String)
	if !ok {
		return nil // an all-NULL argument
	}
	for k, g := range gids {
		i := k // the row of a
		if sel != nil {
			i = int(sel[k])
		}
		if s.IsNull(i) {
			continue
		}
		c := cap(a.bufs[g])
		if a.seen[g] {
			a.bufs[g] = append(a.bufs[g], a.sep...)
		}
		a.bufs[g] = append(a.bufs[g], s.Value(i)...)
		a.held += int64(cap(a.bufs[g]) - c)
		a.seen[g] = true
	}
	return nil
}

func (a *stringAgg) finish(mem memory.Allocator, n int) arrow.Array {
	b := array.NewStringBuilder(mem)
	defer b.Release()
	b.Reserve(n)
	for g := 0; g < n; g++ {
		if g < len(a.seen) && a.seen[g] {
			b.BinaryBuilder.Append(a.bufs[g])
		} else {
			b.AppendNull()
		}
	}
	return b.NewArray()
}

// ---- COUNT ----

type countAgg struct {
	star    bool
	nullOut bool // MIN/MAX of the Null type: always NULL
	counts  []int64
}

func (a *countAgg) resize(n int) { a.counts = growZero(a.counts, n) }

func (a *countAgg) bytes() int64 { return sliceBytes(a.counts) }

func (a *countAgg) update(gids, sel []int32, arr arrow.Array) error {
	c := a.counts
	if a.star || arr == nil {
		for _, g := range gids {
			c[g]++
		}
		return nil
	}
	if arr.DataType().ID() == arrow.NULL {
		return nil
	}
	bits, off := validity(arr)
	if bits == nil {
		for _, g := range gids {
			c[g]++
		}
		return nil
	}
	if sel != nil {
		for i, g := range gids {
			c[g] += int64(b2u(bitutil.BitIsSet(bits, off+int(sel[i]))))
		}
		return nil
	}
	for i, g := range gids {
		c[g] += int64(b2u(bitutil.BitIsSet(bits, off+i)))
	}
	return nil
}

func (a *countAgg) finish(mem memory.Allocator, n int) arrow.Array {
	if a.nullOut {
		return array.MakeArrayOfNull(mem, arrow.Null, n)
	}
	buf, out := allocFixed[int64](mem, n)
	copy(out, a.counts[:n])
	return makeArray(arrow.PrimitiveTypes.Int64, n, 0, nil, buf)
}

// growZero extends s with zero values to length n. Capacity doubles, so
// an aggregate over many groups copies its states a few times, not once
// per 25% of growth as append's would for large slices.
func growZero[T any](s []T, n int) []T {
	if n <= len(s) {
		return s
	}
	if n <= cap(s) {
		old := len(s)
		s = s[:n]
		clear(s[old:])
		return s
	}
	t := make([]T, n, max(n, 2*cap(s)))
	copy(t, s)
	return t
}

// finishWithSeen builds a validity bitmap from seen flags.
func seenValidity(mem memory.Allocator, seen []int64, n int) (*memory.Buffer, int) {
	vbuf := allocBitmap(mem, n)
	vb := vbuf.Bytes()
	nulls := 0
	for g := 0; g < n; g++ {
		if seen[g] > 0 {
			bitutil.SetBit(vb, g)
		} else {
			nulls++
		}
	}
	if nulls == 0 {
		vbuf.Release()
		return nil, 0
	}
	return vbuf, nulls
}

// ---- SUM / AVG ----

// sumIntAgg sums integers into int64 with overflow checks (22003); AVG
// divides the sum by the count in float64.
type sumIntAgg[T intT] struct {
	avg  bool
	sums []int64
	cnt  []int64
}

func (a *sumIntAgg[T]) resize(n int) { a.sums, a.cnt = growZero(a.sums, n), growZero(a.cnt, n) }

func (a *sumIntAgg[T]) bytes() int64 { return sliceBytes(a.sums) + sliceBytes(a.cnt) }

func (a *sumIntAgg[T]) update(gids, sel []int32, arr arrow.Array) error {
	if arr.DataType().ID() == arrow.NULL {
		return nil
	}
	v := values[T](arr)
	bits, off := validity(arr)
	s, c := a.sums, a.cnt
	var ovf int64
	switch {
	case sel != nil:
		for i, g := range gids {
			r := int(sel[i])
			if bits != nil && !bitutil.BitIsSet(bits, off+r) {
				continue
			}
			x, y := s[g], int64(v[r])
			z := x + y
			ovf |= (x ^ z) & (y ^ z)
			s[g] = z
			c[g]++
		}
	case bits == nil:
		for i, g := range gids {
			x, y := s[g], int64(v[i])
			z := x + y
			ovf |= (x ^ z) & (y ^ z)
			s[g] = z
			c[g]++
		}
	default:
		for i, g := range gids {
			if !bitutil.BitIsSet(bits, off+i) {
				continue
			}
			x, y := s[g], int64(v[i])
			z := x + y
			ovf |= (x ^ z) & (y ^ z)
			s[g] = z
			c[g]++
		}
	}
	if ovf < 0 {
		return errOverflow("bigint")
	}
	return nil
}

func (a *sumIntAgg[T]) finish(mem memory.Allocator, n int) arrow.Array {
	vbuf, nulls := seenValidity(mem, a.cnt, n)
	if a.avg {
		buf, out := allocFixed[float64](mem, n)
		for g := 0; g < n; g++ {
			if a.cnt[g] > 0 {
				out[g] = float64(a.sums[g]) / float64(a.cnt[g])
			}
		}
		return makeArray(arrow.PrimitiveTypes.Float64, n, nulls, vbuf, buf)
	}
	buf, out := allocFixed[int64](mem, n)
	copy(out, a.sums[:n])
	return makeArray(arrow.PrimitiveTypes.Int64, n, nulls, vbuf, buf)
}

type sumFloatAgg[T float32 | float64] struct {
	avg  bool
	sums []float64
	cnt  []int64
}

func (a *sumFloatAgg[T]) resize(n int) { a.sums, a.cnt = growZero(a.sums, n), growZero(a.cnt, n) }

func (a *sumFloatAgg[T]) bytes() int64 { return sliceBytes(a.sums) + sliceBytes(a.cnt) }

func (a *sumFloatAgg[T]) update(gids, sel []int32, arr arrow.Array) error {
	v := values[T](arr)
	bits, off := validity(arr)
	s, c := a.sums, a.cnt
	if sel != nil {
		for i, g := range gids {
			r := int(sel[i])
			if bits == nil || bitutil.BitIsSet(bits, off+r) {
				s[g] += float64(v[r])
				c[g]++
			}
		}
		return nil
	}
	if bits == nil {
		for i, g := range gids {
			s[g] += float64(v[i])
			c[g]++
		}
		return nil
	}
	for i, g := range gids {
		if bitutil.BitIsSet(bits, off+i) {
			s[g] += float64(v[i])
			c[g]++
		}
	}
	return nil
}

func (a *sumFloatAgg[T]) finish(mem memory.Allocator, n int) arrow.Array {
	vbuf, nulls := seenValidity(mem, a.cnt, n)
	buf, out := allocFixed[float64](mem, n)
	for g := 0; g < n; g++ {
		out[g] = a.sums[g]
		if a.avg && a.cnt[g] > 0 {
			out[g] /= float64(a.cnt[g])
		}
	}
	return makeArray(arrow.PrimitiveTypes.Float64, n, nulls, vbuf, buf)
}

// sumDecAgg sums decimals exactly. A group's sum is sums[g] + small[g]:
// rows whose values fit in an int64 are added to small[g] (one int64 add
// with an overflow check), and only a value beyond an int64 or an
// overflowing small[g] spills into the 128-bit sums[g]. Invariant while not
// exact: |sums[g]| < 10^37, so every running sum (below 10^37 + 2^63) has
// at most 38 digits and the 22003 check is needed only at a spill, where it
// sees the same running sum as a row-by-row 128-bit sum would. A spill that
// reaches 10^37, and fold, switch the state to exact: every later row is
// added in 128 bits and checked, as before the int64 path existed. A
// batch without NULLs for at most laneGroups groups is first added up in
// int64 lanes (sumLanes) and then folded in lane by lane like one row
// each; a batch whose lanes do not fit goes through the row loops. A
// batch adds less than len(batch)·2^63, far below 10^37, to a sum, so no
// running sum of the lanes or the rows reaches 38 digits unless the
// state is exact.
type sumDecAgg struct {
	avg   bool
	dt    arrow.DataType
	scale int32
	sums  []decimal128.Num
	small []int64
	cnt   []int64
	exact bool // small is all zero and unused
}

func (a *sumDecAgg) resize(n int) {
	a.sums, a.small, a.cnt = growZero(a.sums, n), growZero(a.small, n), growZero(a.cnt, n)
}

func (a *sumDecAgg) bytes() int64 {
	return sliceBytes(a.sums) + sliceBytes(a.small) + sliceBytes(a.cnt)
}

func (a *sumDecAgg) update(gids, sel []int32, arr arrow.Array) error {
	v := values[decimal128.Num](arr)
	bits, off := validity(arr)
	if a.exact {
		return a.update128(gids, sel, v, bits, off, 0)
	}
	if bits == nil && len(a.small) <= laneGroups {
		var l sumLanes
		var bad uint64
		if sel == nil {
			bad = l.addAll(gids, v)
		} else {
			bad = l.addSel(gids, sel, v)
		}
		if bad == 0 {
			return a.addLanes(&l)
		}
		// A value or a lane beyond an int64: the row loops below
		// spill row by row.
	}
	small, cnt := a.small, a.cnt
	if sel != nil && bits == nil {
		for i, g := range gids {
			x := v[sel[i]]
			xl, s := int64(x.LowBits()), small[g]
			z := s + xl
			if notInt64(x)|uint64((s^z)&(xl^z))>>63 != 0 {
				if err := a.spill(g, x); err != nil {
					return err
				}
				if a.exact {
					return a.update128(gids, sel, v, bits, off, i+1)
				}
				continue
			}
			small[g] = z
			cnt[g]++
		}
		return nil
	}
	if sel == nil && bits == nil {
		v = v[:len(gids)]
		for i, g := range gids {
			xl, hi := int64(v[i].LowBits()), v[i].HighBits()
			s := small[g]
			z := s + xl
			if uint64(hi^xl>>63)|uint64((s^z)&(xl^z))>>63 != 0 {
				if err := a.spill(g, v[i]); err != nil {
					return err
				}
				if a.exact {
					return a.update128(gids, sel, v, bits, off, i+1)
				}
				continue
			}
			small[g] = z
			cnt[g]++
		}
		return nil
	}
	for i, g := range gids {
		r := i
		if sel != nil {
			r = int(sel[i])
		}
		if !bitutil.BitIsSet(bits, off+r) {
			continue
		}
		x := v[r]
		xl, s := int64(x.LowBits()), small[g]
		z := s + xl
		if notInt64(x)|uint64((s^z)&(xl^z))>>63 != 0 {
			if err := a.spill(g, x); err != nil {
				return err
			}
			if a.exact {
				return a.update128(gids, sel, v, bits, off, i+1)
			}
			continue
		}
		small[g] = z
		cnt[g]++
	}
	return nil
}

// laneGroups is the most groups a sumDecAgg adds up in sumLanes.
const laneGroups = 16

// sumLanes are per-batch partial int64 sums and counts of at most
// laneGroups groups for a SUM of DECIMALs without NULLs (TPC-H Q1's 4
// groups): row i goes to lane i%4, so that rows of one group that follow
// each other add into four independent chains instead of waiting each for
// the store of the one before.
type sumLanes struct {
	sum [4][laneGroups]int64
	cnt [4][laneGroups]int64
}

// addAll adds v[i] to group gids[i] for every i; it returns nonzero when a
// value does not fit in an int64 or a lane overflows (the lanes are then
// unusable).
func (l *sumLanes) addAll(gids []int32, v []decimal128.Num) uint64 {
	var bad uint64
	v = v[:len(gids)]
	s0, s1, s2, s3 := &l.sum[0], &l.sum[1], &l.sum[2], &l.sum[3]
	c0, c1, c2, c3 := &l.cnt[0], &l.cnt[1], &l.cnt[2], &l.cnt[3]
	i := 0
	for ; i+4 <= len(gids); i += 4 {
		g0, g1, g2, g3 := gids[i]&(laneGroups-1), gids[i+1]&(laneGroups-1), gids[i+2]&(laneGroups-1), gids[i+3]&(laneGroups-1)
		x0, x1, x2, x3 := v[i], v[i+1], v[i+2], v[i+3]
		a0, a1, a2, a3 := int64(x0.LowBits()), int64(x1.LowBits()), int64(x2.LowBits()), int64(x3.LowBits())
		t0, t1, t2, t3 := s0[g0], s1[g1], s2[g2], s3[g3]
		z0, z1, z2, z3 := t0+a0, t1+a1, t2+a2, t3+a3
		s0[g0], s1[g1], s2[g2], s3[g3] = z0, z1, z2, z3
		c0[g0]++
		c1[g1]++
		c2[g2]++
		c3[g3]++
		bad |= notInt64(x0) | notInt64(x1) | notInt64(x2) | notInt64(x3) |
			uint64((t0^z0)&(a0^z0)|(t1^z1)&(a1^z1)|(t2^z2)&(a2^z2)|(t3^z3)&(a3^z3))>>63
	}
	for ; i < len(gids); i++ {
		g, x := gids[i]&(laneGroups-1), v[i]
		a, t := int64(x.LowBits()), s0[g]
		z := t + a
		s0[g] = z
		c0[g]++
		bad |= notInt64(x) | uint64((t^z)&(a^z))>>63
	}
	return bad
}

// addSel is addAll for v[sel[i]] into group gids[i].
func (l *sumLanes) addSel(gids, sel []int32, v []decimal128.Num) uint64 {
	var bad uint64
	sel = sel[:len(gids)]
	s0, s1, s2, s3 := &l.sum[0], &l.sum[1], &l.sum[2], &l.sum[3]
	c0, c1, c2, c3 := &l.cnt[0], &l.cnt[1], &l.cnt[2], &l.cnt[3]
	i := 0
	for ; i+4 <= len(gids); i += 4 {
		g0, g1, g2, g3 := gids[i]&(laneGroups-1), gids[i+1]&(laneGroups-1), gids[i+2]&(laneGroups-1), gids[i+3]&(laneGroups-1)
		x0, x1, x2, x3 := v[sel[i]], v[sel[i+1]], v[sel[i+2]], v[sel[i+3]]
		a0, a1, a2, a3 := int64(x0.LowBits()), int64(x1.LowBits()), int64(x2.LowBits()), int64(x3.LowBits())
		t0, t1, t2, t3 := s0[g0], s1[g1], s2[g2], s3[g3]
		z0, z1, z2, z3 := t0+a0, t1+a1, t2+a2, t3+a3
		s0[g0], s1[g1], s2[g2], s3[g3] = z0, z1, z2, z3
		c0[g0]++
		c1[g1]++
		c2[g2]++
		c3[g3]++
		bad |= notInt64(x0) | notInt64(x1) | notInt64(x2) | notInt64(x3) |
			uint64((t0^z0)&(a0^z0)|(t1^z1)&(a1^z1)|(t2^z2)&(a2^z2)|(t3^z3)&(a3^z3))>>63
	}
	for ; i < len(gids); i++ {
		g, x := gids[i]&(laneGroups-1), v[sel[i]]
		a, t := int64(x.LowBits()), s0[g]
		z := t + a
		s0[g] = z
		c0[g]++
		bad |= notInt64(x) | uint64((t^z)&(a^z))>>63
	}
	return bad
}

// addLanes folds the lanes into the groups' sums and counts.
func (a *sumDecAgg) addLanes(l *sumLanes) error {
	for g := range a.small {
		for k := range l.sum {
			if c := l.cnt[k][g]; c != 0 {
				if err := a.add64(int32(g), l.sum[k][g]); err != nil {
					return err
				}
				a.cnt[g] += c
			}
		}
	}
	return nil
}

// add64 adds x to group g, spilling into sums[g] when small[g] overflows
// (as spill does, without counting a row). Once the state is exact (a
// spill of an earlier lane may have made it so), small is unused and x
// goes to sums[g] in 128 bits.
func (a *sumDecAgg) add64(g int32, x int64) error {
	if a.exact {
		t := a.sums[g].Add(decimal128.FromI64(x))
		if !fitsPrecision(t, 38) {
			return errOverflow("numeric")
		}
		a.sums[g] = t
		return nil
	}
	s := a.small[g]
	z := s + x
	if (s^z)&(x^z) >= 0 {
		a.small[g] = z
		return nil
	}
	a.cnt[g]--
	return a.spill(g, decimal128.FromI64(x))
}

// spill adds small[g] and x to sums[g].
func (a *sumDecAgg) spill(g int32, x decimal128.Num) error {
	t := a.sums[g].Add(decimal128.FromI64(a.small[g])).Add(x)
	if !fitsPrecision(t, 38) {
		return errOverflow("numeric")
	}
	a.sums[g], a.small[g] = t, 0
	a.cnt[g]++
	if !fitsPrecision(t, 37) {
		a.fold()
	}
	return nil
}

// fold moves every small[g] into sums[g] and makes the state exact. By the
// invariant the folded sums fit in 38 digits.
func (a *sumDecAgg) fold() {
	if a.exact {
		return
	}
	for g, s := range a.small {
		if s != 0 {
			a.sums[g] = a.sums[g].Add(decimal128.FromI64(s))
			a.small[g] = 0
		}
	}
	a.exact = true
}

// update128 adds rows from..len(gids)-1 (rows sel[from:] with sel) in
// 128 bits, checking each running sum.
func (a *sumDecAgg) update128(gids, sel []int32, v []decimal128.Num, bits []byte, off, from int) error {
	for i := from; i < len(gids); i++ {
		r := i
		if sel != nil {
			r = int(sel[i])
		}
		if !isValid(bits, off, r) {
			continue
		}
		g := gids[i]
		a.sums[g] = a.sums[g].Add(v[r])
		a.cnt[g]++
		if !fitsInt64(a.sums[g]) && !a.sums[g].FitsInPrecision(38) {
			return errOverflow("numeric")
		}
	}
	return nil
}

func (a *sumDecAgg) finish(mem memory.Allocator, n int) arrow.Array {
	a.fold()
	vbuf, nulls := seenValidity(mem, a.cnt, n)
	if a.avg {
		buf, out := allocFixed[float64](mem, n)
		for g := 0; g < n; g++ {
			if a.cnt[g] > 0 {
				out[g] = a.sums[g].ToFloat64(a.scale) / float64(a.cnt[g])
			}
		}
		return makeArray(arrow.PrimitiveTypes.Float64, n, nulls, vbuf, buf)
	}
	buf, out := allocFixed[decimal128.Num](mem, n)
	copy(out, a.sums[:n])
	return makeArray(a.dt, n, nulls, vbuf, buf)
}

// ---- MIN / MAX ----

type minMaxAgg[T numT] struct {
	max  bool
	dt   arrow.DataType
	vals []T
	seen []int64
}

func (a *minMaxAgg[T]) resize(n int) { a.vals, a.seen = growZero(a.vals, n), growZero(a.seen, n) }

func (a *minMaxAgg[T]) bytes() int64 { return sliceBytes(a.vals) + sliceBytes(a.seen) }

func (a *minMaxAgg[T]) update(gids, sel []int32, arr arrow.Array) error {
	v := values[T](arr)
	bits, off := validity(arr)
	m, seen := a.vals, a.seen
	for k, g := range gids {
		i := k // the row of a
		if sel != nil {
			i = int(sel[k])
		}
		if bits != nil && !bitutil.BitIsSet(bits, off+i) {
			continue
		}
		x := v[i]
		if seen[g] == 0 || (a.max && x > m[g]) || (!a.max && x < m[g]) {
			m[g] = x
		}
		seen[g] = 1
	}
	return nil
}

func (a *minMaxAgg[T]) finish(mem memory.Allocator, n int) arrow.Array {
	vbuf, nulls := seenValidity(mem, a.seen, n)
	buf, out := allocFixed[T](mem, n)
	copy(out, a.vals[:n])
	return makeArray(a.dt, n, nulls, vbuf, buf)
}

type minMaxDecAgg struct {
	max  bool
	dt   arrow.DataType
	vals []decimal128.Num
	seen []int64
}

func (a *minMaxDecAgg) resize(n int) { a.vals, a.seen = growZero(a.vals, n), growZero(a.seen, n) }

func (a *minMaxDecAgg) bytes() int64 { return sliceBytes(a.vals) + sliceBytes(a.seen) }

func (a *minMaxDecAgg) update(gids, sel []int32, arr arrow.Array) error {
	v := values[decimal128.Num](arr)
	bits, off := validity(arr)
	for k, g := range gids {
		i := k // the row of a
		if sel != nil {
			i = int(sel[k])
		}
		if !isValid(bits, off, i) {
			continue
		}
		c := v[i].Cmp(a.vals[g])
		if a.seen[g] == 0 || (a.max && c > 0) || (!a.max && c < 0) {
			a.vals[g] = v[i]
		}
		a.seen[g] = 1
	}
	return nil
}

func (a *minMaxDecAgg) finish(mem memory.Allocator, n int) arrow.Array {
	vbuf, nulls := seenValidity(mem, a.seen, n)
	buf, out := allocFixed[decimal128.Num](mem, n)
	copy(out, a.vals[:n])
	return makeArray(a.dt, n, nulls, vbuf, buf)
}

// minMaxStrAgg keeps each group's current extreme in a shared arena; a
// value is copied only when it replaces the extreme.
type minMaxStrAgg struct {
	max   bool
	arena []byte
	off   []int32 // group g's value is arena[off[g] : off[g]+ln[g]]
	ln    []int32
	seen  []int64
}

func (a *minMaxStrAgg) resize(n int) {
	a.off, a.ln, a.seen = growZero(a.off, n), growZero(a.ln, n), growZero(a.seen, n)
}

func (a *minMaxStrAgg) bytes() int64 {
	return sliceBytes(a.arena) + sliceBytes(a.off) + sliceBytes(a.ln) + sliceBytes(a.seen)
}

func (a *minMaxStrAgg) update(gids, sel []int32, arr arrow.Array) error {
	s := stringsOf(arr)
	bits, off := validity(arr)
	for k, g := range gids {
		i := k // the row of a
		if sel != nil {
			i = int(sel[k])
		}
		if !isValid(bits, off, i) {
			continue
		}
		v := s.at(i)
		if a.seen[g] != 0 {
			cur := a.arena[a.off[g] : a.off[g]+a.ln[g]]
			c := compareBytes(v, cur)
			if (a.max && c <= 0) || (!a.max && c >= 0) {
				continue
			}
			if len(v) <= len(cur) { // reuse the slot
				copy(a.arena[a.off[g]:], v)
				a.ln[g] = int32(len(v))
				continue
			}
		}
		a.off[g], a.ln[g] = int32(len(a.arena)), int32(len(v))
		a.arena = append(a.arena, v...)
		a.seen[g] = 1
	}
	return nil
}

func (a *minMaxStrAgg) finish(mem memory.Allocator, n int) arrow.Array {
	b := array.NewStringBuilder(mem)
	defer b.Release()
	b.Reserve(n)
	for g := 0; g < n; g++ {
		if a.seen[g] == 0 {
			b.AppendNull()
			continue
		}
		b.BinaryBuilder.Append(a.arena[a.off[g] : a.off[g]+a.ln[g]])
	}
	return b.NewArray()
}

type minMaxBoolAgg struct {
	max  bool
	vals []int64
	seen []int64
}

func (a *minMaxBoolAgg) resize(n int) { a.vals, a.seen = growZero(a.vals, n), growZero(a.seen, n) }

func (a *minMaxBoolAgg) bytes() int64 { return sliceBytes(a.vals) + sliceBytes(a.seen) }

func (a *minMaxBoolAgg) update(gids, sel []int32, arr arrow.Array) error {
	b := arr.(*array.Boolean)
	bits, off := validity(arr)
	for k, g := range gids {
		i := k // the row of a
		if sel != nil {
			i = int(sel[k])
		}
		if !isValid(bits, off, i) {
			continue
		}
		x := int64(b2u(b.Value(i)))
		if a.seen[g] == 0 || (a.max && x > a.vals[g]) || (!a.max && x < a.vals[g]) {
			a.vals[g] = x
		}
		a.seen[g] = 1
	}
	return nil
}

func (a *minMaxBoolAgg) finish(mem memory.Allocator, n int) arrow.Array {
	vbuf, nulls := seenValidity(mem, a.seen, n)
	val := allocBitmap(mem, n)
	for g := 0; g < n; g++ {
		if a.vals[g] != 0 {
			bitutil.SetBit(val.Bytes(), g)
		}
	}
	return makeArray(arrow.FixedWidthTypes.Boolean, n, nulls, vbuf, val)
}

func compareBytes(a, b []byte) int {
	return bytesCompare(a, b)
}

// ---- DISTINCT ----

// distinctAgg feeds only the first occurrence of each (group, value) pair
// into the wrapped aggregate.
type distinctAgg struct {
	inner aggState
	seen  *groupTable
	enc   keyEncoder
	key   []byte
	sel   []int32
	gids  []int32
	mem   memory.Allocator
}

func (a *distinctAgg) resize(n int) { a.inner.resize(n) }

// bytes counts the table of seen (group, value) pairs, which grows with
// the distinct values, not with the groups. The per-batch buffers (enc,
// sel, gids) are bounded by a batch and not counted, like the operator's.
func (a *distinctAgg) bytes() int64 { return a.inner.bytes() + a.seen.bytes() }

func (a *distinctAgg) update(gids, sel []int32, arr arrow.Array) error {
	if sel != nil {
		sub, err := take(a.mem, arr, sel)
		if err != nil {
			return err
		}
		defer sub.Release()
		arr = sub
	}
	n := arr.Len()
	if err := a.enc.encode([]arrow.Array{arr}, n); err != nil {
		return err
	}
	bits, off := validity(arr)
	a.sel, a.gids = a.sel[:0], a.gids[:0]
	for i := 0; i < n; i++ {
		if !isValid(bits, off, i) {
			continue
		}
		a.key = binary.LittleEndian.AppendUint32(a.key[:0], uint32(gids[i]))
		a.key = append(a.key, a.enc.buf[a.enc.offs[i]:a.enc.offs[i+1]]...)
		if _, isNew := a.seen.find(a.key); isNew {
			a.sel = append(a.sel, int32(i))
			a.gids = append(a.gids, gids[i])
		}
	}
	if len(a.sel) == 0 {
		return nil
	}
	sub, err := take(a.mem, arr, a.sel)
	if err != nil {
		return err
	}
	defer sub.Release()
	return a.inner.update(a.gids, nil, sub)
}

func (a *distinctAgg) finish(mem memory.Allocator, n int) arrow.Array { return a.inner.finish(mem, n) }

// ---- operator ----

type hashAggOp struct {
	in Operator
	// pred is the condition of a filter the aggregate took over from its
	// input (see NewHashAggregate), nil without one.
	pred       Expr
	groups     []Expr
	aggs       []Aggregate
	schema     *arrow.Schema
	groupTypes []arrow.DataType
	resTypes   []arrow.DataType

	ctx context.Context
	// evalCtx evaluates keys and arguments with rec, whose buffers are
	// reused from batch to batch: those arrays die within consumeBatch.
	evalCtx context.Context
	rec     *recycler
	states  []aggState
	table   *groupTable
	ints    *intGroups // instead of table when the only key is an integer column, or packed keys
	packer  *keyPacker // with ints: the keys are packed into int64s
	enc     keyEncoder
	gids    []int32
	sel     []int32       // the rows of the batch that pass pred
	shared  []*sharedExpr // the subexpressions keys and arguments share
	// alias[j] >= 0 makes aggregate j (a SUM or AVG) a copy of the sums
	// of aggregate alias[j] over the same argument, taken when the input
	// ends (resolveAliases); nil when there is none.
	alias  []int
	args   []arrow.Array // the arguments of the batch being consumed
	sink   uint64        // keeps the loads of groupTable.findAll
	result arrow.RecordBatch
	pos    int64
	done   bool
	out    batchHolder
	acct   accounted
}

var _ Operator = (*hashAggOp)(nil)

// NewHashAggregate groups by groups (output fields named groupNames) and
// computes aggs; output columns are the groups followed by the aggregates.
// Without groups it returns exactly one row, also over empty input. NULL
// group keys form one group. Output comes in batches of up to 4096 rows,
// groups in order of first appearance.
//
// When in is a filter (NewFilter), the aggregate evaluates its condition
// itself: a batch where most rows pass is aggregated through a selection
// of its rows instead of a copy of every column (consumeBatch).
func NewHashAggregate(in Operator, groups []Expr, groupNames []string, aggs []Aggregate) (Operator, error) {
	op := &hashAggOp{in: in, groups: groups, aggs: aggs}
	if f, ok := in.(*filterOp); ok {
		op.in, op.pred = f.in, f.pred
	}
	fields := make([]arrow.Field, 0, len(groups)+len(aggs))
	for i, g := range groups {
		dt := g.DataType()
		if fixedWidth(dt) < 0 && dt.ID() != arrow.STRING {
			return nil, errMismatch("cannot group by type %s", dt)
		}
		name := fmt.Sprintf("group%d", i)
		if i < len(groupNames) {
			name = groupNames[i]
		}
		op.groupTypes = append(op.groupTypes, dt)
		fields = append(fields, arrow.Field{Name: name, Type: dt, Nullable: true})
	}
	for i, a := range aggs {
		var argT arrow.DataType = arrow.Null
		if a.Func != AggCountStar {
			if a.Arg == nil {
				return nil, fmt.Errorf("arrowexec: aggregate %d has no argument", i)
			}
			argT = a.Arg.DataType()
		}
		rt, err := aggResultType(a.Func, argT)
		if err != nil {
			return nil, err
		}
		if newAggState(a.Func, argT, rt, a.Sep) == nil {
			return nil, errMismatch("aggregate function %d does not accept %s", a.Func, argT)
		}
		op.resTypes = append(op.resTypes, rt)
		fields = append(fields, arrow.Field{Name: a.Name, Type: rt, Nullable: true})
	}
	op.schema = arrow.NewSchema(fields, nil)
	op.shareCommon()
	return op, nil
}

// shareCommon makes the subexpressions that several keys and arguments
// contain sharedExprs of h, evaluated once per batch. It rewrites copies:
// the parallel aggregate passes the same expressions to every partition.
func (h *hashAggOp) shareCommon() {
	exprs := append([]Expr(nil), h.groups...)
	for _, a := range h.aggs {
		exprs = append(exprs, a.Arg)
	}
	rew, shared := shareCommon(exprs)
	if len(shared) == 0 {
		return
	}
	h.shared = shared
	h.groups = rew[:len(h.groups)]
	aggs := make([]Aggregate, len(h.aggs))
	for i, a := range h.aggs {
		a.Arg = rew[len(h.groups)+i]
		aggs[i] = a
	}
	h.aggs = aggs
}

func (h *hashAggOp) Schema() *arrow.Schema { return h.schema }

func (h *hashAggOp) Open(ctx context.Context) error {
	h.ctx = ctx
	if h.pred != nil && h.pred.DataType().ID() != arrow.BOOL && !isNullType(h.pred.DataType()) {
		return errMismatch("argument of WHERE must be type boolean, not %s", h.pred.DataType())
	}
	h.rec = newRecycler(exec.GetAllocator(ctx))
	h.evalCtx = exec.WithAllocator(ctx, h.rec)
	h.acct.budget = BudgetFrom(ctx)
	h.table = newGroupTable()
	if len(h.groupTypes) == 1 && intGroupable(h.groupTypes[0]) {
		h.table, h.ints = nil, newIntGroups()
	} else if p := newKeyPacker(h.groupTypes); p != nil && len(h.groupTypes) > 0 {
		h.table, h.ints, h.packer = nil, newIntGroups(), p
	}
	// The tables start with room for some groups; later growth is
	// accounted per batch.
	if err := h.acct.grow(h.tableBytes()); err != nil {
		return err
	}
	h.states = make([]aggState, len(h.aggs))
	mem := exec.GetAllocator(ctx)
	for i, a := range h.aggs {
		var argT arrow.DataType = arrow.Null
		if a.Arg != nil {
			argT = a.Arg.DataType()
		}
		s := newAggState(a.Func, argT, h.resTypes[i], a.Sep)
		if a.Distinct && a.Func != AggCountStar {
			s = &distinctAgg{inner: s, seen: newGroupTable(), mem: mem}
		}
		h.states[i] = s
	}
	h.findAliases()
	if len(h.groups) == 0 {
		h.table.find(nil) // the single group exists even over empty input
		for _, s := range h.states {
			s.resize(1)
		}
	}
	return h.in.Open(ctx)
}

// selectMin is the fraction of a batch's rows (selectMin/8) that must pass
// the aggregate's filter for the aggregate to work through a selection:
// below it, copying the passing rows costs less than evaluating keys and
// arguments over the rows that do not pass.
const selectMin = 4

// consumeBatch folds the rows of b that pass h.pred (all rows without one)
// into the table and states.
func (h *hashAggOp) consumeBatch(b arrow.RecordBatch) error {
	if h.pred == nil {
		_, err := h.consume(b, nil)
		return err
	}
	n := int(b.NumRows())
	m, err := h.pred.Eval(h.evalCtx, b)
	if err != nil {
		return err
	}
	mask, ok := m.(*array.Boolean)
	if !ok {
		m.Release()
		return nil // NULL-typed condition: no row passes
	}
	bm, cnt := trueMask(h.rec, mask)
	m.Release()
	switch {
	case cnt == 0:
		bm.Release()
		return nil
	case cnt == n:
		bm.Release()
		_, err := h.consume(b, nil)
		return err
	}
	h.sel = selectionOf(h.sel[:0], bm.Bytes(), n)
	bm.Release()
	if cnt*8 >= n*selectMin {
		if done, err := h.consume(b, h.sel); done || err != nil {
			return err
		}
	}
	// The copy dies within this call, so its buffers are recycled.
	t, err := takeRecord(h.rec, b, h.sel)
	if err != nil {
		return err
	}
	defer t.Release()
	_, err = h.consume(t, nil)
	return err
}

// consume folds rows of b into the table and states: every row when sel
// is nil, else the rows sel (ascending). With sel, keys and arguments are
// evaluated over every row of b, and an evaluation error may come from a
// row that sel leaves out: consume then returns false without having
// changed anything, and the caller consumes a copy of the rows instead, so
// that only errors of rows that pass are reported. It returns true when
// the rows are consumed.
func (h *hashAggOp) consume(b arrow.RecordBatch, sel []int32) (bool, error) {
	n := int(b.NumRows())
	m := n
	if sel != nil {
		m = len(sel)
	}
	h.args = h.args[:0]
	defer func() {
		releaseAll(h.args)
		for _, s := range h.shared {
			s.reset()
		}
	}()
	for i, a := range h.aggs {
		var arg arrow.Array
		if a.Func != AggCountStar && !h.aliased(i) {
			v, err := a.Arg.Eval(h.evalCtx, b)
			if err != nil {
				return false, evalErr(sel, err)
			}
			arg = v
		}
		h.args = append(h.args, arg)
	}
	h.gids = growInt32(h.gids, m)
	if len(h.groups) == 0 {
		for i := range h.gids {
			h.gids[i] = 0
		}
	} else {
		keys := make([]arrow.Array, len(h.groups))
		defer releaseAll(keys)
		for i, g := range h.groups {
			k, err := g.Eval(h.evalCtx, b)
			if err != nil {
				return false, evalErr(sel, err)
			}
			keys[i] = k
		}
		var packed []int64
		if h.packer != nil {
			var ok bool
			if packed, ok = h.packer.pack(keys, n); !ok {
				if err := h.unpackGroups(); err != nil {
					return true, err
				}
			} else if sel != nil {
				// sel ascends, so the keys move down in place.
				for i, r := range sel {
					packed[i] = packed[r]
				}
				packed = packed[:m]
			}
		}
		if h.packer == nil && sel != nil {
			for i, k := range keys {
				t, err := take(h.rec, k, sel)
				if err != nil {
					return true, err
				}
				k.Release()
				keys[i] = t
			}
		}
		switch {
		case h.packer != nil:
			a := int64Array(packed)
			h.ints.find(a, h.gids[:m])
			a.Release()
		case h.ints != nil:
			h.ints.find(keys[0], h.gids[:m])
		default:
			if err := h.enc.encode(keys, m); err != nil {
				return true, err
			}
			h.sink |= h.table.findAll(&h.enc, nil, h.gids[:m])
		}
		for i, s := range h.states {
			if !h.aliased(i) {
				s.resize(h.groupCount())
			}
		}
	}
	for i, s := range h.states {
		if h.aliased(i) {
			continue
		}
		if err := s.update(h.gids[:m], sel, h.args[i]); err != nil {
			return true, err
		}
	}
	return true, h.charge()
}

// sumState is the state of SUM and AVG, which keep the same sums and
// counts and differ only in their result.
type sumState interface {
	aggState
	// copySums makes the receiver's sums and counts copies of o's, a
	// state of the same type.
	copySums(o aggState)
}

var (
	_ sumState = (*sumDecAgg)(nil)
	_ sumState = (*sumIntAgg[int64])(nil)
	_ sumState = (*sumFloatAgg[float64])(nil)
)

func (a *sumDecAgg) copySums(o aggState) {
	b := o.(*sumDecAgg)
	a.sums, a.small, a.cnt, a.exact = slices.Clone(b.sums), slices.Clone(b.small), slices.Clone(b.cnt), b.exact
}

func (a *sumIntAgg[T]) copySums(o aggState) {
	b := o.(*sumIntAgg[T])
	a.sums, a.cnt = slices.Clone(b.sums), slices.Clone(b.cnt)
}

func (a *sumFloatAgg[T]) copySums(o aggState) {
	b := o.(*sumFloatAgg[T])
	a.sums, a.cnt = slices.Clone(b.sums), slices.Clone(b.cnt)
}

// findAliases sets h.alias: a SUM or AVG whose argument an earlier SUM or
// AVG has too (TPC-H Q1's SUM(l_quantity) and AVG(l_quantity)) is not
// evaluated and folded in again; it copies the earlier one's sums when
// the input ends.
func (h *hashAggOp) findAliases() {
	isSum := func(i int) bool {
		a := h.aggs[i]
		if a.Distinct || (a.Func != AggSum && a.Func != AggAvg) {
			return false
		}
		_, ok := h.states[i].(sumState)
		return ok
	}
	for j := range h.aggs {
		if !isSum(j) {
			continue
		}
		for i := range j {
			if h.aliased(i) || !isSum(i) || !arrow.TypeEqual(h.aggs[i].Arg.DataType(), h.aggs[j].Arg.DataType()) {
				continue
			}
			if a, b := h.aggs[i].Arg, h.aggs[j].Arg; a == b || sameExpr(a, b) {
				if h.alias == nil {
					h.alias = make([]int, len(h.aggs))
					for k := range h.alias {
						h.alias[k] = -1
					}
				}
				h.alias[j] = i
				break
			}
		}
	}
}

// aliased reports whether aggregate i copies another's sums.
func (h *hashAggOp) aliased(i int) bool { return h.alias != nil && h.alias[i] >= 0 }

// resolveAliases copies the sums of the aggregates that others alias,
// once the input has ended; afterwards every state is its own.
func (h *hashAggOp) resolveAliases() {
	for j, i := range h.alias {
		if i >= 0 {
			h.states[j].(sumState).copySums(h.states[i])
		}
	}
	h.alias = nil
}

// evalErr returns err for an evaluation over the rows of a batch (sel nil)
// and nil for one over the rows sel among others, which the caller repeats
// over a copy of the rows sel.
func evalErr(sel []int32, err error) error {
	if sel != nil {
		return nil
	}
	return err
}

// charge brings what h holds in the query's budget to the size of its
// group table and states. It is called once per batch, so the budget is
// exceeded by at most one batch's growth (and one doubling of a table or
// state) before the query fails with 53200.
func (h *hashAggOp) charge() error {
	n := h.tableBytes()
	for _, s := range h.states {
		n += s.bytes()
	}
	return h.acct.set(n)
}

// int64Array views keys as an Int64 array without copying them.
func int64Array(keys []int64) arrow.Array {
	d := array.NewData(arrow.PrimitiveTypes.Int64, len(keys),
		[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int64Traits.CastToBytes(keys))}, nil, 0, 0)
	defer d.Release()
	return array.NewInt64Data(d)
}

// packedKeys returns the key columns of the groups of packed keys, in
// group order.
func (h *hashAggOp) packedKeys(mem memory.Allocator) []arrow.Array {
	packed := h.ints.decodeKeys(mem, arrow.PrimitiveTypes.Int64)
	defer packed.Release()
	return h.packer.unpack(mem, values[int64](packed))
}

// unpackGroups moves the groups of packed keys into a byte-key table,
// keeping their ids, for a batch whose keys do not pack. Afterwards the
// aggregate groups like one that never packed.
func (h *hashAggOp) unpackGroups() error {
	if h.packer == nil {
		return nil
	}
	t := newGroupTable()
	n := h.ints.len()
	if n == 0 {
		h.table, h.ints, h.packer = t, nil, nil
		return nil
	}
	mem := exec.GetAllocator(h.ctx)
	cols := h.packedKeys(mem)
	defer releaseAll(cols)
	if err := h.enc.encode(cols, n); err != nil {
		return err
	}
	for g := 0; g < n; g++ {
		if id, _ := t.find(h.enc.buf[h.enc.offs[g]:h.enc.offs[g+1]]); id != int32(g) {
			return fmt.Errorf("arrowexec: packed group %d became group %d", g, id)
		}
	}
	h.table, h.ints, h.packer = t, nil, nil
	return nil
}

// groupCount returns the number of groups so far.
func (h *hashAggOp) groupCount() int {
	if h.ints != nil {
		return h.ints.len()
	}
	return h.table.len()
}

// tableBytes estimates the memory of the group table (0 when it is
// released).
func (h *hashAggOp) tableBytes() int64 {
	switch {
	case h.ints != nil:
		return h.ints.bytes()
	case h.table != nil:
		return h.table.bytes()
	}
	return 0
}

func (h *hashAggOp) build() error {
	if err := h.consumeAll(); err != nil {
		return err
	}
	return h.finishResult()
}

// consumeAll folds every batch of the input into the table and states.
func (h *hashAggOp) consumeAll() error {
	for {
		if err := h.ctx.Err(); err != nil {
			return err
		}
		b, err := h.in.Next()
		if err != nil {
			return err
		}
		if b == nil {
			h.resolveAliases()
			return h.charge()
		}
		if err := h.consumeBatch(b); err != nil {
			return err
		}
	}
}

// finishResult turns the table and states into the result batch.
func (h *hashAggOp) finishResult() error {
	mem := exec.GetAllocator(h.ctx)
	ng := h.groupCount()
	var cols []arrow.Array
	if h.packer != nil {
		cols = h.packedKeys(mem)
	} else if h.ints != nil {
		cols = []arrow.Array{h.ints.decodeKeys(mem, h.groupTypes[0])}
	} else {
		var err error
		if cols, err = h.table.decodeKeys(mem, h.groupTypes); err != nil {
			return err
		}
	}
	for _, s := range h.states {
		cols = append(cols, s.finish(mem, ng))
	}
	h.result = array.NewRecordBatch(h.schema, cols, int64(ng))
	releaseAll(cols)
	// The result replaces the table and states in the budget.
	h.table, h.ints, h.packer, h.states = nil, nil, nil, nil
	return h.acct.set(recordBytes(h.result))
}

func (h *hashAggOp) Next() (arrow.RecordBatch, error) {
	h.out.release()
	if !h.done {
		h.done = true
		if err := h.build(); err != nil {
			return nil, err
		}
	}
	return h.out.nextSlice(h.result, &h.pos), nil
}

func (h *hashAggOp) Close() error {
	h.out.release()
	if h.result != nil {
		h.result.Release()
		h.result = nil
	}
	h.acct.shrink(h.acct.held)
	h.table, h.ints = nil, nil
	h.states = nil
	h.rec.release()
	return h.in.Close()
}
