package arrowexec

import (
	"bytes"
	"context"
	"fmt"
	"math/bits"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
)

func sizeOf[T fixedT](v T) uintptr { return unsafe.Sizeof(v) }

func bytesCompare(a, b []byte) int { return bytes.Compare(a, b) }

func bitsTrailingZeros(w uint64) int { return bits.TrailingZeros64(w) }

// batchHolder keeps the batch last returned by Next and releases it when
// the next one is produced or at Close.
type batchHolder struct{ cur arrow.RecordBatch }

func (h *batchHolder) set(b arrow.RecordBatch) arrow.RecordBatch {
	h.release()
	h.cur = b
	return b
}

// nextSlice returns the next slice of at most outputBatchRows rows of a
// fully computed result, starting at *pos, held until the next call; nil
// once the result (which may be nil) is used up. Sort, top-N, window and
// hash aggregation hand out their results this way.
func (h *batchHolder) nextSlice(result arrow.RecordBatch, pos *int64) arrow.RecordBatch {
	if result == nil || *pos >= result.NumRows() {
		return nil
	}
	end := min(*pos+outputBatchRows, result.NumRows())
	b := result.NewSlice(*pos, end)
	*pos = end
	return h.set(b)
}

func (h *batchHolder) release() {
	if h.cur != nil {
		h.cur.Release()
		h.cur = nil
	}
}

// ---- scan ----

type scanOp struct {
	schema *arrow.Schema
	open   OpenSource
	ctx    context.Context
	src    Source
}

var _ Operator = (*scanOp)(nil)

// NewScan returns an operator that reads batches of schema from a Source
// opened at Open. Empty batches of the source are skipped; the batches are
// passed on without copying and stay valid until the next call of Next.
func NewScan(schema *arrow.Schema, open OpenSource) Operator {
	return &scanOp{schema: schema, open: open}
}

func (s *scanOp) Schema() *arrow.Schema { return s.schema }

func (s *scanOp) Open(ctx context.Context) error {
	s.ctx = ctx
	src, err := s.open(ctx)
	if err != nil {
		return fmt.Errorf("cannot open scan: %w", err)
	}
	s.src = src
	return nil
}

func (s *scanOp) Next() (arrow.RecordBatch, error) {
	if s.src == nil {
		return nil, nil
	}
	for {
		if err := s.ctx.Err(); err != nil {
			return nil, err
		}
		if !s.src.Next() {
			if err := s.src.Err(); err != nil {
				return nil, fmt.Errorf("scan: %w", err)
			}
			return nil, nil
		}
		if rec := s.src.Record(); rec.NumRows() > 0 {
			return rec, nil
		}
	}
}

func (s *scanOp) Close() error {
	if s.src == nil {
		return nil
	}
	err := s.src.Close()
	s.src = nil
	return err
}

// ---- values ----

type valuesOp struct {
	schema *arrow.Schema
	recs   []arrow.RecordBatch
	pos    int
	ctx    context.Context
	out    batchHolder
}

var _ Operator = (*valuesOp)(nil)

// NewValues returns an operator that yields the given records (it takes
// ownership of them) of the given schema, skipping empty ones.
func NewValues(schema *arrow.Schema, recs []arrow.RecordBatch) Operator {
	return &valuesOp{schema: schema, recs: recs}
}

func (v *valuesOp) Schema() *arrow.Schema { return v.schema }

func (v *valuesOp) Open(ctx context.Context) error { v.ctx = ctx; return nil }

func (v *valuesOp) Next() (arrow.RecordBatch, error) {
	v.out.release()
	for v.pos < len(v.recs) {
		if v.ctx != nil {
			if err := v.ctx.Err(); err != nil {
				return nil, err
			}
		}
		r := v.recs[v.pos]
		v.recs[v.pos] = nil
		v.pos++
		if r.NumRows() == 0 {
			r.Release()
			continue
		}
		return v.out.set(r), nil
	}
	return nil, nil
}

func (v *valuesOp) Close() error {
	v.out.release()
	for i, r := range v.recs {
		if r != nil {
			r.Release()
			v.recs[i] = nil
		}
	}
	return nil
}

// ---- filter ----

type filterOp struct {
	in   Operator
	pred Expr
	ctx  context.Context
	out  batchHolder
	sel  []int32
}

var _ Operator = (*filterOp)(nil)

// NewFilter keeps the rows for which pred (BOOLEAN) is true; NULL counts as
// false. A batch whose rows all pass is passed on without copying; batches
// without passing rows are dropped.
func NewFilter(in Operator, pred Expr) Operator { return &filterOp{in: in, pred: pred} }

func (f *filterOp) Schema() *arrow.Schema { return f.in.Schema() }

func (f *filterOp) Open(ctx context.Context) error {
	f.ctx = ctx
	if f.pred.DataType().ID() != arrow.BOOL && !isNullType(f.pred.DataType()) {
		return errMismatch("argument of WHERE must be type boolean, not %s", f.pred.DataType())
	}
	return f.in.Open(ctx)
}

func (f *filterOp) Next() (arrow.RecordBatch, error) {
	f.out.release()
	mem := exec.GetAllocator(f.ctx)
	for {
		if err := f.ctx.Err(); err != nil {
			return nil, err
		}
		b, err := f.in.Next()
		if err != nil || b == nil {
			return nil, err
		}
		m, err := f.pred.Eval(f.ctx, b)
		if err != nil {
			return nil, err
		}
		mask, ok := m.(*array.Boolean)
		if !ok {
			m.Release()
			continue // NULL-typed predicate: nothing passes
		}
		n := int(b.NumRows())
		bm, cnt := trueMask(mem, mask)
		m.Release()
		switch {
		case cnt == 0:
			bm.Release()
			continue
		case cnt == n:
			bm.Release()
			b.Retain()
			return f.out.set(b), nil
		}
		f.sel = selectionOf(f.sel[:0], bm.Bytes(), n)
		bm.Release()
		out, err := takeRecord(mem, b, f.sel)
		if err != nil {
			return nil, err
		}
		return f.out.set(out), nil
	}
}

func (f *filterOp) Close() error { f.out.release(); return f.in.Close() }

// ---- project ----

type projectOp struct {
	in     Operator
	exprs  []Expr
	schema *arrow.Schema
	ctx    context.Context
	out    batchHolder
}

var _ Operator = (*projectOp)(nil)

// NewProject evaluates exprs over each input batch; names name the output
// fields (all nullable).
func NewProject(in Operator, exprs []Expr, names []string) Operator {
	fields := make([]arrow.Field, len(exprs))
	for i, e := range exprs {
		name := fmt.Sprintf("col%d", i)
		if i < len(names) {
			name = names[i]
		}
		fields[i] = arrow.Field{Name: name, Type: e.DataType(), Nullable: true}
	}
	return &projectOp{in: in, exprs: exprs, schema: arrow.NewSchema(fields, nil)}
}

func (p *projectOp) Schema() *arrow.Schema { return p.schema }

func (p *projectOp) Open(ctx context.Context) error { p.ctx = ctx; return p.in.Open(ctx) }

func (p *projectOp) Next() (arrow.RecordBatch, error) {
	p.out.release()
	if err := p.ctx.Err(); err != nil {
		return nil, err
	}
	b, err := p.in.Next()
	if err != nil || b == nil {
		return nil, err
	}
	out, err := evalRecord(p.ctx, p.schema, p.exprs, b)
	if err != nil {
		return nil, err
	}
	return p.out.set(out), nil
}

func (p *projectOp) Close() error { p.out.release(); return p.in.Close() }

// evalRecord evaluates exprs over b into a record of schema.
func evalRecord(ctx context.Context, schema *arrow.Schema, exprs []Expr, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, len(exprs))
	defer releaseAll(cols)
	for i, e := range exprs {
		c, err := e.Eval(ctx, b)
		if err != nil {
			return nil, err
		}
		cols[i] = c
	}
	return array.NewRecordBatch(schema, cols, b.NumRows()), nil
}

// ---- limit ----

type limitOp struct {
	in            Operator
	offset, limit int64
	ctx           context.Context
	out           batchHolder
	done          bool
}

var _ Operator = (*limitOp)(nil)

// NewLimit skips offset rows and then returns at most limit rows; limit < 0
// means no limit. It stops pulling its input once the limit is reached.
func NewLimit(in Operator, offset, limit int64) Operator {
	if offset < 0 {
		offset = 0
	}
	return &limitOp{in: in, offset: offset, limit: limit}
}

func (l *limitOp) Schema() *arrow.Schema { return l.in.Schema() }

func (l *limitOp) Open(ctx context.Context) error { l.ctx = ctx; return l.in.Open(ctx) }

func (l *limitOp) Next() (arrow.RecordBatch, error) {
	l.out.release()
	for !l.done && l.limit != 0 {
		if err := l.ctx.Err(); err != nil {
			return nil, err
		}
		b, err := l.in.Next()
		if err != nil || b == nil {
			return nil, err
		}
		n := b.NumRows()
		if l.offset >= n {
			l.offset -= n
			continue
		}
		start, end := l.offset, n
		l.offset = 0
		if l.limit >= 0 && end-start >= l.limit {
			end = start + l.limit
			l.done = true
		}
		if l.limit > 0 {
			l.limit -= end - start
		}
		if start == 0 && end == n {
			b.Retain()
			return l.out.set(b), nil
		}
		return l.out.set(b.NewSlice(start, end)), nil
	}
	return nil, nil
}

func (l *limitOp) Close() error { l.out.release(); return l.in.Close() }
