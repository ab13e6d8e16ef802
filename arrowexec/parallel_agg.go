package arrowexec

import (
	"context"
	"fmt"
	"hash/maphash"
	"runtime"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// This file holds the morsel-driven hash aggregation: one partial
// aggregation per input partition, each on its own goroutine, then a merge
// of the partial group tables and states. With few groups the merge folds
// the partials into the first one on one goroutine; with many (TPC-H Q18's
// 1.5M orders) it is split by a hash of the group keys across goroutines,
// each merging its part of every partial into a table of its own
// (mergePartitioned). The merge is exact (AVG keeps its sum and count
// until the end) and folds a group's partial states in the partials'
// order either way, so the result equals the serial operator's up to the
// order of groups and the rounding of float sums, and it fails with the
// same errors.

// mergeable is an aggState that can fold in another state of the same
// kind: group g of o becomes group gmap[g] of the receiver; groups whose
// gmap is negative are left out (they merge into another part).
// merge only reads o, except that a sumDecAgg must be folded (fold)
// before states are merged from several goroutines at once.
type mergeable interface {
	merge(o aggState, gmap []int32) error
}

var (
	_ mergeable = (*countAgg)(nil)
	_ mergeable = (*sumIntAgg[int64])(nil)
	_ mergeable = (*sumFloatAgg[float64])(nil)
	_ mergeable = (*sumDecAgg)(nil)
	_ mergeable = (*minMaxAgg[int64])(nil)
	_ mergeable = (*minMaxDecAgg)(nil)
	_ mergeable = (*minMaxBoolAgg)(nil)
)

func (a *countAgg) merge(o aggState, gmap []int32) error {
	for g, c := range o.(*countAgg).counts[:len(gmap)] {
		if m := gmap[g]; m >= 0 {
			a.counts[m] += c
		}
	}
	return nil
}

func (a *sumIntAgg[T]) merge(o aggState, gmap []int32) error {
	b := o.(*sumIntAgg[T])
	for g, m := range gmap {
		if m < 0 {
			continue
		}
		x, y := a.sums[m], b.sums[g]
		s := x + y
		if (x >= 0) == (y >= 0) && (s >= 0) != (x >= 0) {
			return errOverflow("bigint")
		}
		a.sums[m] = s
		a.cnt[m] += b.cnt[g]
	}
	return nil
}

func (a *sumFloatAgg[T]) merge(o aggState, gmap []int32) error {
	b := o.(*sumFloatAgg[T])
	for g, m := range gmap {
		if m < 0 {
			continue
		}
		a.sums[m] += b.sums[g]
		a.cnt[m] += b.cnt[g]
	}
	return nil
}

func (a *sumDecAgg) merge(o aggState, gmap []int32) error {
	b := o.(*sumDecAgg)
	a.fold()
	b.fold()
	for g, m := range gmap {
		if m < 0 {
			continue
		}
		s := a.sums[m].Add(b.sums[g])
		if !fitsPrecision(s, 38) {
			return errOverflow("numeric")
		}
		a.sums[m] = s
		a.cnt[m] += b.cnt[g]
	}
	return nil
}

func (a *minMaxAgg[T]) merge(o aggState, gmap []int32) error {
	b := o.(*minMaxAgg[T])
	for g, m := range gmap {
		if m < 0 || b.seen[g] == 0 {
			continue
		}
		x := b.vals[g]
		if a.seen[m] == 0 || (a.max && x > a.vals[m]) || (!a.max && x < a.vals[m]) {
			a.vals[m] = x
		}
		a.seen[m] = 1
	}
	return nil
}

func (a *minMaxDecAgg) merge(o aggState, gmap []int32) error {
	b := o.(*minMaxDecAgg)
	for g, m := range gmap {
		if m < 0 || b.seen[g] == 0 {
			continue
		}
		x := b.vals[g]
		c := decimal128.Num.Cmp(x, a.vals[m])
		if a.seen[m] == 0 || (a.max && c > 0) || (!a.max && c < 0) {
			a.vals[m] = x
		}
		a.seen[m] = 1
	}
	return nil
}

func (a *minMaxBoolAgg) merge(o aggState, gmap []int32) error {
	b := o.(*minMaxBoolAgg)
	for g, m := range gmap {
		if m < 0 || b.seen[g] == 0 {
			continue
		}
		x := b.vals[g]
		if a.seen[m] == 0 || (a.max && x > a.vals[m]) || (!a.max && x < a.vals[m]) {
			a.vals[m] = x
		}
		a.seen[m] = 1
	}
	return nil
}

// CanParallelAggregate reports whether NewParallelHashAggregate supports
// aggs: every aggregate but DISTINCT ones, STRING_AGG and MIN/MAX of
// strings.
func CanParallelAggregate(aggs []Aggregate) bool {
	for _, a := range aggs {
		if a.Distinct || a.Func == AggStringAgg {
			return false
		}
		if (a.Func == AggMin || a.Func == AggMax) && a.Arg != nil && a.Arg.DataType().ID() == arrow.STRING {
			return false
		}
	}
	return true
}

type parallelAggOp struct {
	parts []*hashAggOp
	*hashAggOp
	// merged holds the results of a partitioned merge (mergePartitioned),
	// emitted one after the other; next is the one emitting.
	merged []*hashAggOp
	next   int
}

var _ Operator = (*parallelAggOp)(nil)

// NewParallelHashAggregate is NewHashAggregate over the union of inputs
// (partitions of one relation, all of the same schema): each input is
// aggregated on its own goroutine when the result is first asked for, then
// the partial results are merged. groups and aggs are evaluated
// concurrently and must be safe for concurrent Eval (this package's
// expressions are). Groups come in no particular order. It fails for the
// aggregates CanParallelAggregate rejects.
func NewParallelHashAggregate(inputs []Operator, groups []Expr, groupNames []string, aggs []Aggregate) (Operator, error) {
	if len(inputs) == 0 {
		return nil, fmt.Errorf("arrowexec: parallel aggregate without inputs")
	}
	if !CanParallelAggregate(aggs) {
		return nil, fmt.Errorf("arrowexec: aggregates cannot be merged in parallel")
	}
	op := &parallelAggOp{}
	for _, in := range inputs {
		p, err := NewHashAggregate(in, groups, groupNames, aggs)
		if err != nil {
			return nil, err
		}
		if s := p.Schema(); len(op.parts) > 0 && !s.Equal(op.parts[0].Schema()) {
			return nil, fmt.Errorf("arrowexec: parallel aggregate inputs differ: %s and %s", s, op.parts[0].Schema())
		}
		op.parts = append(op.parts, p.(*hashAggOp))
	}
	op.hashAggOp = op.parts[0]
	return op, nil
}

func (p *parallelAggOp) Open(ctx context.Context) error {
	for i, h := range p.parts {
		if err := h.Open(ctx); err != nil {
			for _, o := range p.parts[:i] {
				o.Close()
			}
			return err
		}
	}
	return nil
}

func (p *parallelAggOp) Next() (arrow.RecordBatch, error) {
	h := p.parts[0]
	if !h.done {
		h.done = true
		if err := p.run(); err != nil {
			return nil, err
		}
	}
	if p.merged == nil {
		return h.Next()
	}
	for ; p.next < len(p.merged); p.next++ {
		m := p.merged[p.next]
		if b := m.out.nextSlice(m.result, &m.pos); b != nil {
			return b, nil
		}
	}
	return nil, nil
}

// run aggregates every partition concurrently and merges them into the
// first.
func (p *parallelAggOp) run() error {
	errs := make([]error, len(p.parts))
	var wg sync.WaitGroup
	for i, h := range p.parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer sqlstate.Recover(&errs[i])
			errs[i] = h.consumeAll()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	if n := p.mergeWorkers(); n > 1 {
		return p.mergePartitioned(n)
	}
	main := p.parts[0]
	var gmap []int32
	for _, w := range p.parts[1:] {
		n := w.groupCount()
		gmap = growInt32(gmap, n)
		// Partitions whose keys stopped packing merge through byte keys.
		if (main.packer == nil) != (w.packer == nil) {
			if err := main.unpackGroups(); err != nil {
				return err
			}
			if err := w.unpackGroups(); err != nil {
				return err
			}
		}
		if main.ints != nil {
			main.ints.merge(w.ints, gmap)
		} else {
			for g := 0; g < n; g++ {
				gmap[g], _ = main.table.find(w.table.arena[w.table.keyOffs[g]:w.table.keyOffs[g+1]])
			}
		}
		for i, s := range main.states {
			s.resize(main.groupCount())
			if err := s.(mergeable).merge(w.states[i], gmap); err != nil {
				return err
			}
		}
		// The partition's table and states are no longer needed.
		w.acct.shrink(w.acct.held)
		w.table, w.ints, w.states = nil, nil, nil
		if err := main.charge(); err != nil {
			return err
		}
	}
	return main.finishResult()
}

func (p *parallelAggOp) Close() error {
	for _, m := range p.merged {
		m.out.release()
		if m.result != nil {
			m.result.Release()
			m.result = nil
		}
		m.acct.shrink(m.acct.held)
		m.table, m.ints, m.states = nil, nil, nil
	}
	var first error
	for _, h := range p.parts {
		if err := h.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// mergeParallelMin is the fewest groups, summed over the partial
// aggregates, whose merge is split by key hash across goroutines: below
// it the serial merge costs less than starting them.
// (A variable for the tests.)
var mergeParallelMin = 1 << 15

// mergePartsOverride, when positive, is the number of merge goroutines
// instead of GOMAXPROCS (for the tests).
var mergePartsOverride = 0

// mergeWorkers returns how many goroutines merge the partial aggregates:
// one (the serial merge) for few groups or one core.
func (p *parallelAggOp) mergeWorkers() int {
	n := 0
	for _, h := range p.parts {
		n += h.groupCount()
	}
	if n < mergeParallelMin || len(p.parts[0].groups) == 0 {
		return 1
	}
	if mergePartsOverride > 0 {
		return mergePartsOverride
	}
	return min(runtime.GOMAXPROCS(0), 64)
}

// mergePartitioned merges the partial aggregates on n goroutines: part i
// of the groups (by a hash of their keys, independent of the one the
// group tables probe with) of every partial merges into merged[i], on its
// own goroutine, partial after partial in the serial merge's order, so
// that each group's states fold in the same order and fail with the same
// errors. The parts' results are emitted one after the other.
func (p *parallelAggOp) mergePartitioned(n int) error {
	// Partials whose keys stopped packing merge through byte keys: then
	// every partial does.
	mixed := false
	for _, h := range p.parts {
		mixed = mixed || h.ints == nil
	}
	if mixed {
		for _, h := range p.parts {
			if err := h.unpackGroups(); err != nil {
				return err
			}
		}
	}
	// Folding a decimal sum writes it: do it once, before the goroutines
	// read the partials.
	for _, h := range p.parts {
		for _, st := range h.states {
			if d, ok := st.(*sumDecAgg); ok {
				d.fold()
			}
		}
	}
	// The workers read each partial's integer keys in group order:
	// reading them in slot order of the partial's table, which hashes
	// like the part's own smaller table, would insert runs of keys with
	// the same home slot there (linear probing then degrades to a scan).
	keys := make([][]int64, len(p.parts))
	total := 0
	var wg sync.WaitGroup
	for i, h := range p.parts {
		total += h.groupCount()
		if h.ints == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ks := make([]int64, h.groupCount())
			for _, s := range h.ints.tab.slots {
				if s.g != 0 {
					ks[s.g-1] = s.key
				}
			}
			keys[i] = ks
		}()
	}
	wg.Wait()
	main := p.parts[0]
	p.merged = make([]*hashAggOp, n)
	for i := range p.merged {
		m := &hashAggOp{groups: main.groups, aggs: main.aggs, schema: main.schema, groupTypes: main.groupTypes,
			resTypes: main.resTypes, ctx: main.ctx, packer: main.packer, done: true}
		m.acct.budget = main.acct.budget
		if main.ints != nil {
			m.ints = &intGroups{tab: newIntTableSize(total / n), null: -1}
		} else {
			m.table = newGroupTable()
		}
		m.states = make([]aggState, len(main.aggs))
		for k, a := range main.aggs {
			var argT arrow.DataType = arrow.Null
			if a.Arg != nil {
				argT = a.Arg.DataType()
			}
			m.states[k] = newAggState(a.Func, argT, main.resTypes[k], a.Sep)
		}
		p.merged[i] = m
	}
	errs := make([]error, n)
	for i, m := range p.merged {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer sqlstate.Recover(&errs[i])
			errs[i] = p.mergePart(m, i, n, keys)
		}()
	}
	wg.Wait()
	// The partials' tables and states are no longer needed.
	for _, h := range p.parts {
		h.acct.shrink(h.acct.held)
		h.table, h.ints, h.states = nil, nil, nil
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// mergePart merges part i of n of every partial's groups into m and
// makes m's result.
// keys[j] are the integer keys of partial j in group order.
func (p *parallelAggOp) mergePart(m *hashAggOp, i, n int, keys [][]int64) error {
	var gmap, sel, gids []int32
	var pk []int64
	part := uint64(i)
	for j, w := range p.parts {
		if err := m.ctx.Err(); err != nil {
			return err
		}
		gmap = growInt32(gmap, w.groupCount())
		if w.ints != nil {
			// The keys of the part go through intGroups.find, which
			// loads a block's slots before probing them.
			null := int(w.ints.null)
			sel, pk = sel[:0], pk[:0]
			for g, k := range keys[j] {
				if g == null || mergePartOf(uint64(k), n) != part {
					gmap[g] = -1
					continue
				}
				sel = append(sel, int32(g))
				pk = append(pk, k)
			}
			gids = growInt32(gids, len(pk))
			a := int64Array(pk)
			m.ints.find(a, gids)
			a.Release()
			for x, g := range sel {
				gmap[g] = gids[x]
			}
			// The NULL key's group (whose keys[j] entry is 0) merges in
			// part 0.
			if w.ints.null >= 0 {
				gmap[w.ints.null] = -1
				if i == 0 {
					gmap[w.ints.null] = m.ints.nullGroup()
				}
			}
		} else {
			// A table's hashes are seeded per table: the part comes from
			// a hash with one seed for all of them.
			t := w.table
			for g := range t.hashes {
				key := t.arena[t.keyOffs[g]:t.keyOffs[g+1]]
				if mergePartOf(maphash.Bytes(mergeSeed, key), n) != part {
					gmap[g] = -1
					continue
				}
				gmap[g], _ = m.table.find(key)
			}
		}
		for k, st := range m.states {
			st.resize(m.groupCount())
			if err := st.(mergeable).merge(w.states[k], gmap); err != nil {
				return err
			}
		}
		if err := m.charge(); err != nil {
			return err
		}
	}
	return m.finishResult()
}

// mergeSeed seeds the hash of byte keys that picks their merge part.
var mergeSeed = maphash.MakeSeed()

// mergePartOf returns the part of n that a group whose key (or key hash)
// is x merges in: bits of a multiplicative hash that neither the integer
// table (the top bits) nor the byte-key table (the low bits and the tag)
// index with, so that each part's table still spreads its keys.
func mergePartOf(x uint64, n int) uint64 {
	return ((x * 0x9E3779B97F4A7C15) >> 24 & 0xffff) % uint64(n)
}
