package arrowexec

import (
	"bytes"
	"context"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb/internal/arrowsize"
)

// outputBatchRows is the number of rows of the batches that blocking
// operators (sort, aggregate) emit.
const outputBatchRows = 4096

// rowComparator compares rows i and j of one evaluated sort key, honouring
// direction and NULL placement.
type rowComparator func(i, j int32) int

func nullOrder(ni, nj bool, nullsFirst bool) int {
	switch {
	case ni && nj:
		return 0
	case ni == nullsFirst:
		return -1
	}
	return 1
}

// keyComparator builds a typed comparator over a; the closure is chosen
// once per type, so a comparison costs one indirect call per key.
func keyComparator(a arrow.Array, k SortKey) rowComparator {
	bits, off := validity(a)
	dir := 1
	if k.Desc {
		dir = -1
	}
	nf := k.NullsFirst
	wrap := func(cmp func(i, j int32) int) rowComparator {
		if bits == nil {
			if dir == 1 {
				return cmp
			}
			return func(i, j int32) int { return -cmp(i, j) }
		}
		return func(i, j int32) int {
			vi, vj := isValid(bits, off, int(i)), isValid(bits, off, int(j))
			if !vi || !vj {
				return nullOrder(!vi, !vj, nf)
			}
			return dir * cmp(i, j)
		}
	}
	switch a.DataType().ID() {
	case arrow.INT16:
		return wrap(orderedCmp(values[int16](a)))
	case arrow.INT32, arrow.DATE32:
		return wrap(orderedCmp(values[int32](a)))
	case arrow.INT64, arrow.TIMESTAMP:
		return wrap(orderedCmp(values[int64](a)))
	case arrow.FLOAT32:
		return wrap(orderedCmp(values[float32](a)))
	case arrow.FLOAT64:
		return wrap(orderedCmp(values[float64](a)))
	case arrow.DECIMAL128:
		v := values[decimal128.Num](a)
		return wrap(func(i, j int32) int { return v[i].Cmp(v[j]) })
	case arrow.STRING:
		s := stringsOf(a)
		return wrap(func(i, j int32) int { return bytes.Compare(s.at(int(i)), s.at(int(j))) })
	case arrow.BOOL:
		b := a.(*array.Boolean)
		return wrap(func(i, j int32) int {
			return int(b2u(b.Value(int(i)))) - int(b2u(b.Value(int(j))))
		})
	}
	return func(i, j int32) int { return 0 } // NULL type: all equal
}

// orderedCmp orders floats with NaN after every other value (PostgreSQL).
func orderedCmp[T numT](v []T) func(i, j int32) int {
	return func(i, j int32) int {
		x, y := v[i], v[j]
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		case x == y:
			return 0
		case x != x && y != y:
			return 0
		case x != x:
			return 1
		}
		return -1
	}
}

// sortRecord returns rec's rows ordered by keys (stable) in batches, and
// the permutation; limit >= 0 keeps only the first limit rows.
func sortIndices(ctx context.Context, rec arrow.RecordBatch, keys []SortKey, limit int64) ([]int32, error) {
	n := int(rec.NumRows())
	keyArrs := make([]arrow.Array, len(keys))
	defer releaseAll(keyArrs)
	cmps := make([]rowComparator, len(keys))
	for i, k := range keys {
		a, err := k.Expr.Eval(ctx, rec)
		if err != nil {
			return nil, err
		}
		keyArrs[i] = a
		cmps[i] = keyComparator(a, k)
	}
	idx := make([]int32, n)
	for i := range idx {
		idx[i] = int32(i)
	}
	var cmp func(i, j int32) int
	if len(cmps) == 1 {
		cmp = cmps[0]
	} else {
		cmp = func(i, j int32) int {
			for _, c := range cmps {
				if r := c(i, j); r != 0 {
					return r
				}
			}
			return 0
		}
	}
	slices.SortStableFunc(idx, cmp)
	if limit >= 0 && int64(len(idx)) > limit {
		idx = idx[:limit]
	}
	return idx, nil
}

// concatBatches concatenates batches into one record (nil for none).
func concatBatches(mem memory.Allocator, schema *arrow.Schema, batches []arrow.RecordBatch) (arrow.RecordBatch, error) {
	if len(batches) == 0 {
		return nil, nil
	}
	if len(batches) == 1 {
		batches[0].Retain()
		return batches[0], nil
	}
	cols := make([]arrow.Array, schema.NumFields())
	defer releaseAll(cols)
	parts := make([]arrow.Array, len(batches))
	var rows int64
	for _, b := range batches {
		rows += b.NumRows()
	}
	for c := range cols {
		for i, b := range batches {
			parts[i] = b.Column(c)
		}
		a, err := array.Concatenate(parts, mem)
		if err != nil {
			return nil, err
		}
		cols[c] = a
	}
	return array.NewRecordBatch(schema, cols, rows), nil
}

// sortOp buffers its whole input, sorts it and emits batches.
type sortOp struct {
	in     Operator
	keys   []SortKey
	offset int64
	limit  int64 // < 0: all rows
	topN   bool
	ctx    context.Context
	result arrow.RecordBatch
	pos    int64
	out    batchHolder
	done   bool
	acct   accounted
	// External sort (sortspill.go): runBytes is the input a full sort
	// buffers before it writes a sorted run (-1: never); runs are those
	// written, merged by merger once the input ends.
	runBytes int64
	runs     []*spillRun
	merger   *runMerger
	stats    *SpillStats
}

var _ Operator = (*sortOp)(nil)

// NewSort sorts the whole input by keys (stable).
func NewSort(in Operator, keys []SortKey) Operator {
	return &sortOp{in: in, keys: keys, limit: -1}
}

// NewTopN returns the first offset+limit rows by keys, minus the first
// offset. It keeps at most about 2·(offset+limit) rows plus one input batch
// buffered: whenever the buffer doubles, it is sorted and cut back to the
// best offset+limit rows.
func NewTopN(in Operator, keys []SortKey, offset, limit int64) Operator {
	if offset < 0 {
		offset = 0
	}
	return &sortOp{in: in, keys: keys, offset: offset, limit: limit, topN: true}
}

func (s *sortOp) Schema() *arrow.Schema { return s.in.Schema() }

func (s *sortOp) Open(ctx context.Context) error {
	s.ctx = ctx
	s.acct.budget = BudgetFrom(ctx)
	s.runBytes = -1
	if !s.topN {
		s.runBytes = spillRunBytes(ctx)
		s.stats = spillStatsFrom(ctx)
	}
	return s.in.Open(ctx)
}

func (s *sortOp) keep() int64 {
	if !s.topN || s.limit < 0 {
		return -1
	}
	return s.offset + s.limit
}

func (s *sortOp) consume() error {
	mem := exec.GetAllocator(s.ctx)
	var buf []arrow.RecordBatch
	defer func() {
		for _, b := range buf {
			b.Release()
		}
	}()
	keep := s.keep()
	// rows and bytesHeld are those of buf; s.acct holds bytesHeld and,
	// within compact, the copies being made (on error, Close returns
	// whatever is held).
	var rows, bytesHeld int64
	compact := func() error {
		// The concatenation copies the buffered batches (unless there is
		// one) and the take copies them again in order, with an index
		// per row: each copy is charged before it is made.
		if len(buf) > 1 {
			if err := s.acct.grow(bytesHeld); err != nil {
				return err
			}
		}
		rec, err := concatBatches(mem, s.in.Schema(), buf)
		if err != nil {
			return err
		}
		for _, b := range buf {
			b.Release()
		}
		buf = buf[:0]
		if rec == nil {
			bytesHeld = 0
			return s.acct.set(0)
		}
		defer rec.Release()
		recBytes := recordBytes(rec)
		if err := s.acct.set(recBytes + 4*rec.NumRows()); err != nil {
			return err
		}
		idx, err := sortIndices(s.ctx, rec, s.keys, keep)
		if err != nil {
			return err
		}
		if err := s.acct.grow(recBytes); err != nil {
			return err
		}
		out, err := takeRecord(mem, rec, idx)
		if err != nil {
			return err
		}
		buf = append(buf, out)
		rows = out.NumRows()
		bytesHeld = recordBytes(out)
		return s.acct.set(bytesHeld)
	}
	for keep != 0 {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		b, err := s.in.Next()
		if err != nil {
			return err
		}
		if b == nil {
			break
		}
		b.Retain()
		buf = append(buf, b)
		rows += b.NumRows()
		sz := recordBytes(b)
		bytesHeld += sz
		if err := s.acct.grow(sz); err != nil {
			return err
		}
		if keep > 0 && rows > 2*keep+outputBatchRows {
			if err := compact(); err != nil {
				return err
			}
		}
		if s.runBytes > 0 && bytesHeld >= s.runBytes {
			if err := s.spill(compact, &buf); err != nil {
				return err
			}
			rows, bytesHeld = 0, 0
		}
	}
	if len(s.runs) > 0 {
		// The rest is a run too; the merge reads them all.
		if err := s.spill(compact, &buf); err != nil {
			return err
		}
		for len(s.runs) > spillFanIn {
			// One level: each spillFanIn consecutive runs become one, in
			// their place (equal keys stay in input order), so that a
			// row is rewritten once per level.
			runs := s.runs
			s.runs = nil
			for lo := 0; lo < len(runs); lo += spillFanIn {
				hi := min(lo+spillFanIn, len(runs))
				if hi-lo == 1 {
					s.runs = append(s.runs, runs[lo])
					continue
				}
				run, err := mergeRuns(s.ctx, spillDirFrom(s.ctx), mem, s.in.Schema(), s.keys, runs[lo:hi], s.acct.budget)
				if err != nil {
					s.runs = append(s.runs, runs[hi:]...) // for Close
					return err
				}
				s.stats.note(run)
				s.runs = append(s.runs, run)
			}
		}
		m, err := newRunMerger(s.ctx, mem, s.in.Schema(), s.keys, s.runs, s.acct.budget)
		s.runs, s.merger = nil, m // the merger owns the runs, even when it failed
		return err
	}
	if err := compact(); err != nil {
		return err
	}
	if len(buf) == 1 {
		s.result = buf[0]
		buf = buf[:0]
		s.pos = s.offset
		if !s.topN {
			s.pos = 0
		}
	}
	return nil
}

// spill sorts the batches buffered (compact) and writes them as a run,
// releasing them.
func (s *sortOp) spill(compact func() error, buf *[]arrow.RecordBatch) error {
	if err := compact(); err != nil {
		return err
	}
	if len(*buf) == 0 {
		return nil // no rows
	}
	run, err := writeRun(spillDirFrom(s.ctx), (*buf)[0])
	if err != nil {
		return err
	}
	s.runs = append(s.runs, run)
	s.stats.note(run)
	(*buf)[0].Release()
	*buf = (*buf)[:0]
	return s.acct.set(0)
}

func (s *sortOp) Next() (arrow.RecordBatch, error) {
	s.out.release()
	if !s.done {
		s.done = true
		if err := s.consume(); err != nil {
			return nil, err
		}
	}
	if err := s.ctx.Err(); err != nil {
		return nil, err
	}
	if s.merger != nil {
		b, err := s.merger.next()
		if err != nil {
			return nil, err
		}
		if b == nil {
			return nil, nil
		}
		return s.out.set(b), nil
	}
	return s.out.nextSlice(s.result, &s.pos), nil
}

func (s *sortOp) Close() error {
	s.out.release()
	if s.result != nil {
		s.result.Release()
		s.result = nil
	}
	if s.merger != nil {
		s.merger.close()
		s.merger = nil
	}
	for _, r := range s.runs {
		r.close()
	}
	s.runs = nil
	// Everything, also what a failed consume still held.
	s.acct.shrink(s.acct.held)
	return s.in.Close()
}

// recordBytes estimates the memory a record holds: its values, not the
// buffers it may share with other slices (internal/arrowsize).
func recordBytes(r arrow.RecordBatch) int64 { return arrowsize.Record(r) }
