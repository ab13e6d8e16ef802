package arrowexec

import (
	"context"
	"fmt"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// This file holds the morsel-driven hash aggregation: one partial
// aggregation per input partition, each on its own goroutine, then a merge
// of the partial group tables and states into the first one. The merge is
// exact (AVG keeps its sum and count until the end), so the result equals
// the serial operator's up to the order of groups and the rounding of
// float sums.

// mergeable is an aggState that can fold in another state of the same
// kind: group g of o becomes group gmap[g] of the receiver.
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
		a.counts[gmap[g]] += c
	}
	return nil
}

func (a *sumIntAgg[T]) merge(o aggState, gmap []int32) error {
	b := o.(*sumIntAgg[T])
	for g, m := range gmap {
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
		if b.seen[g] == 0 {
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
		if b.seen[g] == 0 {
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
		if b.seen[g] == 0 {
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
	return h.Next()
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
			errs[i] = h.consumeAll()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
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
	var first error
	for _, h := range p.parts {
		if err := h.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
