package segments

import (
	"context"
	"fmt"
	"sort"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/mantisdb/mantisdb/catalog"
)

// MergeInput is one segment to merge with the delete bitmap of the
// snapshot the merge reads at.
type MergeInput struct {
	Reader *Reader
	// Deleted holds the positions of deleted rows of Reader's segment; they
	// are dropped. Nil means none.
	Deleted *roaring.Bitmap
	// Schema is the schema to read the segment with when it was written
	// under an older layout of the table: the table's current schema with
	// each column named as in the segment (catalog.Table.SchemaAt). Nil
	// means the table's current schema. Its types and nullability must be
	// the current schema's.
	Schema *arrow.Schema
}

// mergeBatchRows is the size of the batches a merge hands to the Writer
// when it has to interleave inputs row by row.
const mergeBatchRows = 8192

// Merge writes the live rows of inputs, in sort-key order, into a new
// segment id of table in dir, and returns its Meta. Inputs may have been
// written with older schema versions of table: they are read with their
// MergeInput.Schema or table.Schema() (added columns NULL, dropped columns
// gone, renamed ones by their old name), so the merged segment has the
// current schema. Its Meta.Level is one more than the highest input level. Each input must be sorted by the table's
// sort key (opts.SortKey or the primary key); a table without one gets the
// inputs concatenated in order. The inputs stay untouched: the caller swaps
// the manifest entries in one batch and removes the old files once no
// snapshot reads them. When every row is deleted, Merge returns a nil Meta
// and writes nothing.
func Merge(ctx context.Context, fs vfs.FS, dir string, id uint64, table *catalog.Table,
	inputs []MergeInput, opts *WriterOptions) (*Meta, error) {
	o := opts.withDefaults(table)
	m := &merger{key: o.SortKey}
	defer m.close()
	cur := table.Schema()
	var level uint32
	for _, in := range inputs {
		level = max(level, in.Reader.Meta().Level+1)
		sch, relabel := in.Schema, cur
		if sch == nil || sch == cur {
			sch, relabel = cur, nil
		} else if err := sameTypes(sch, cur); err != nil {
			return nil, fmt.Errorf("cannot merge segment %d into segment %d: %w", in.Reader.Meta().ID, id, err)
		}
		s, err := in.Reader.Scan(ctx, ScanOptions{Schema: sch, Deleted: in.Deleted,
			Allocator: o.Allocator, BatchSize: mergeBatchRows})
		if err != nil {
			return nil, fmt.Errorf("cannot merge into segment %d: %w", id, err)
		}
		m.heads = append(m.heads, &mergeHead{s: s, relabel: relabel})
	}
	for _, h := range m.heads {
		if err := h.advance(); err != nil {
			return nil, fmt.Errorf("cannot merge into segment %d: %w", id, err)
		}
	}
	var w *Writer
	emit := func(rec arrow.RecordBatch) error {
		if w == nil {
			var err error
			if w, err = NewWriter(fs, dir, id, table, &o); err != nil {
				return err
			}
		}
		return w.Write(rec)
	}
	err := m.run(emit)
	// Every live row of the inputs must reach the output: a shortfall is
	// a bug or a damaged input, never a reason to lose rows.
	var want int64
	for _, in := range inputs {
		want += in.Reader.Meta().Rows
		if in.Deleted != nil {
			want -= int64(in.Deleted.GetCardinality())
		}
	}
	if err == nil && w == nil {
		if want != 0 {
			return nil, fmt.Errorf("cannot merge into segment %d: %w: the inputs have %d live rows, the merge read none",
				id, ErrCorruption, want)
		}
		return nil, nil
	}
	if err != nil {
		if w != nil {
			w.Abort()
		}
		return nil, fmt.Errorf("cannot merge into segment %d: %w", id, err)
	}
	meta, err := w.Finish()
	if err != nil {
		return nil, err
	}
	if meta.Rows != want {
		_ = Remove(fs, dir, id)
		return nil, fmt.Errorf("cannot merge into segment %d: %w: the inputs have %d live rows, the output %d",
			id, ErrCorruption, want, meta.Rows)
	}
	meta.Level = level
	return meta, nil
}

// sameTypes checks that the fields of a and b have equal types and
// nullability, in order.
func sameTypes(a, b *arrow.Schema) error {
	if a.NumFields() != b.NumFields() {
		return fmt.Errorf("%w: %d columns, the table has %d", ErrSchemaMismatch, a.NumFields(), b.NumFields())
	}
	for i, f := range a.Fields() {
		g := b.Field(i)
		if !arrow.TypeEqual(f.Type, g.Type) || f.Nullable != g.Nullable {
			return fmt.Errorf("%w: column %s is %s, the table's %s is %s", ErrSchemaMismatch, f.Name, f.Type, g.Name, g.Type)
		}
	}
	return nil
}

type mergeHead struct {
	s *Scanner
	// relabel is the schema the batches of s are renamed to (the table's
	// current one); nil when s reads with it already.
	relabel *arrow.Schema
	rec     arrow.RecordBatch // current batch (owned by s, or by the head when relabelled), nil at the end
	i       int               // next row of rec
}

func (h *mergeHead) advance() error {
	if h.relabel != nil && h.rec != nil {
		h.rec.Release()
	}
	h.rec, h.i = nil, 0
	if h.s.Next() {
		h.rec = h.s.Record()
		if h.relabel != nil {
			h.rec = array.NewRecordBatch(h.relabel, h.rec.Columns(), h.rec.NumRows())
		}
		return nil
	}
	return h.s.Err()
}

type merger struct {
	key     []int
	heads   []*mergeHead
	pending []arrow.RecordBatch
	rows    int64
}

func (m *merger) close() {
	for _, h := range m.heads {
		if h.relabel != nil && h.rec != nil {
			h.rec.Release()
		}
		h.s.Close()
	}
	m.dropPending()
}

func (m *merger) dropPending() {
	for _, p := range m.pending {
		p.Release()
	}
	m.pending, m.rows = m.pending[:0], 0
}

func (m *merger) cmp(a arrow.RecordBatch, i int, b arrow.RecordBatch, j int) int {
	for _, c := range m.key {
		if r := compareRows(a.Column(c), i, b.Column(c), j); r != 0 {
			return r
		}
	}
	return 0
}

// run moves the rows of all heads to emit in order, as slices of the input
// batches: a head's run extends as far as it stays below the smallest
// other head, so inputs with disjoint key ranges are copied batch by batch.
func (m *merger) run(emit func(arrow.RecordBatch) error) error {
	for {
		best, second := -1, -1
		for k, h := range m.heads {
			if h.rec == nil {
				continue
			}
			switch {
			case best < 0:
				best = k
			case m.less(k, best):
				best, second = k, best
			case second < 0 || m.less(k, second):
				second = k
			}
		}
		if best < 0 {
			return m.flush(emit)
		}
		h := m.heads[best]
		n := int(h.rec.NumRows())
		end := n
		if second >= 0 && len(m.key) > 0 {
			o := m.heads[second]
			// Rows equal to the other head's go first when this head comes
			// first in input order (a stable merge).
			tie := 0
			if best > second {
				tie = -1
			}
			end = h.i + sort.Search(n-h.i, func(x int) bool {
				return m.cmp(h.rec, h.i+x, o.rec, o.i) > tie
			})
		}
		if err := m.add(h.rec.NewSlice(int64(h.i), int64(end)), emit); err != nil {
			return err
		}
		h.i = end
		if h.i == n {
			if err := h.advance(); err != nil {
				return err
			}
		}
	}
}

// less orders heads a and b by their current row, then by input order.
func (m *merger) less(a, b int) bool {
	if len(m.key) == 0 {
		return a < b
	}
	ha, hb := m.heads[a], m.heads[b]
	if c := m.cmp(ha.rec, ha.i, hb.rec, hb.i); c != 0 {
		return c < 0
	}
	return a < b
}

// add queues a slice for output, coalescing short runs into batches.
func (m *merger) add(rec arrow.RecordBatch, emit func(arrow.RecordBatch) error) error {
	if rec.NumRows() >= mergeBatchRows/4 {
		if err := m.flush(emit); err != nil {
			rec.Release()
			return err
		}
		err := emit(rec)
		rec.Release()
		return err
	}
	m.pending = append(m.pending, rec)
	m.rows += rec.NumRows()
	if m.rows >= mergeBatchRows {
		return m.flush(emit)
	}
	return nil
}

func (m *merger) flush(emit func(arrow.RecordBatch) error) error {
	switch len(m.pending) {
	case 0:
		return nil
	case 1:
		err := emit(m.pending[0])
		m.dropPending()
		return err
	}
	schema := m.pending[0].Schema()
	cols := make([]arrow.Array, schema.NumFields())
	parts := make([]arrow.Array, len(m.pending))
	var err error
	for c := range cols {
		for i, p := range m.pending {
			parts[i] = p.Column(c)
		}
		if cols[c], err = array.Concatenate(parts, memAllocOf(m.heads)); err != nil {
			for _, a := range cols[:c] {
				a.Release()
			}
			m.dropPending()
			return err
		}
	}
	rec := array.NewRecordBatch(schema, cols, m.rows)
	for _, a := range cols {
		a.Release()
	}
	m.dropPending()
	err = emit(rec)
	rec.Release()
	return err
}

func memAllocOf(heads []*mergeHead) memory.Allocator { return heads[0].s.mem }
