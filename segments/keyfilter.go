package segments

import (
	"context"
	"fmt"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/keyset"
)

// Key filters.
//
// A KeyFilter (ScanOptions.KeyFilter) is a runtime filter: the keys of a
// hash join's build side, known only once the join has built it, passed
// to the scan of its probe side. It is a superset filter: a row it keeps
// may still fail the join, a row it drops cannot match (NULL keys never
// do). The scan applies it in two places:
//
//   - row groups whose zone map of the key column misses the keys' range
//     (or holds only NULLs) are skipped (Pruned.Runtime);
//   - dense scans through the direct decoder decode the key column of
//     each batch first, test it against the keys, and decode the other
//     columns only for the rows that pass: fixed-width columns are read
//     into scratch space and only the selected values copied out (an
//     INT64-stored DECIMAL widened), so a batch that the filter empties
//     costs the key column and a skip of the others. Other scans (sparse
//     ones, scans with deleted rows, columns pqarrow decodes) return
//     their rows unfiltered, which the filter's contract allows.
//
// ScanStats.RowsFiltered counts the rows dropped.

// KeyFilter restricts a scan to the rows whose value of one integer or
// DATE column may be a key of Keys. It is read during Scan and by the
// Scanner; Keys must not change meanwhile.
type KeyFilter struct {
	// Column names a column of the scan's schema (case-insensitive).
	Column string
	// Keys are the values a row's key may have.
	Keys *keyset.Set
}

// String renders f for tests.
func (f *KeyFilter) String() string {
	return fmt.Sprintf("%s IN keys[%d..%d]", f.Column, f.Keys.Min, f.Keys.Max)
}

// keyFilterKind reports whether the filter applies to column typ.
func keyFilterKind(k catalog.Kind) bool {
	switch k {
	case catalog.KindSmallint, catalog.KindInt, catalog.KindBigint, catalog.KindDate:
		return true
	}
	return false
}

// pruneKeyFilters removes from sel the row groups whose zone map of a
// filter's column proves that no row holds one of its keys, and counts
// them in st (one entry per filter).
func (r *Reader) pruneKeyFilters(sel Selection, fs []KeyFilter, st []KeyFilterStats) Selection {
	cols := make([]*columnIndex, len(fs))
	for i := range fs {
		// A column added after the segment reads as its default: the
		// filter does not prune what it cannot see.
		if col := r.idx.column(fs[i].Column); col != nil && keyFilterKind(col.typ.Kind) {
			cols[i] = col
		}
	}
	live := sel.RowGroups[:0]
	for _, rg := range sel.RowGroups {
		skip := false
		for i, col := range cols {
			if col == nil {
				continue
			}
			z := &col.zones[rg]
			if z.min.Null || fs[i].Keys.IsEmpty() || !fs[i].Keys.AnyIn(z.min.I, z.max.I) {
				st[i].RowGroupsSkipped++
				skip = true
				break
			}
		}
		if skip {
			sel.RowGroupsSkipped++
			sel.Pruned.Runtime++
			continue
		}
		live = append(live, rg)
	}
	sel.RowGroups = live
	return sel
}

// setKeyFilters prepares the row filters of a scan, one per filter whose
// column is decoded: dense direct scans test the keys before they decode
// the other columns (rgDecoder.nextFiltered), the others test the keys of
// the rows they selected before they gather them (filterPositions).
func (s *Scanner) setKeyFilters(fs []KeyFilter) {
	for fi := range fs {
		f := &fs[fi]
		if len(s.fileCols) == 0 || f.Keys.IsEmpty() {
			continue
		}
		for i, fc := range s.fileCols {
			if !equalFold(s.r.schema.Field(fc).Name, f.Column) {
				continue
			}
			switch s.r.schema.Field(fc).Type.ID() {
			case arrow.INT32, arrow.DATE32, arrow.INT64:
			default:
				continue
			}
			df := &decFilter{col: i, keys: f.Keys, stat: &s.stats.KeyFilters[fi], scan: &s.stats}
			s.keyf = append(s.keyf, df)
			if s.dec != nil && !s.sparse {
				if k := s.direct[i]; k == directInt32 || k == directInt64 {
					s.dec.filters = append(s.dec.filters, df)
				}
			}
			break
		}
	}
}

// decFilter is the row filter of one KeyFilter of a Scanner.
type decFilter struct {
	col  int // index into the decoded columns
	keys *keyset.Set
	// stat and scan receive the rows the filter drops.
	stat *KeyFilterStats
	scan *ScanStats
	pos  []uint32 // scratch: selected positions (filterPositions)
	// seen and kept count the rows tested and kept; off turns the filter
	// off once it has shown that it keeps most rows (see note).
	seen, kept int64
	off        bool
}

// Rows a key filter tests before it may turn itself off, and the share
// of them it must drop to stay on: a filter that keeps nearly every row
// only costs (the key tested, the other columns taken instead of
// decoded whole).
const (
	keyFilterTrial   = 64 << 10
	keyFilterMinDrop = 8 // drop at least 1/keyFilterMinDrop of the rows
)

// note counts a batch of seen rows of which kept passed.
func (f *decFilter) note(seen, kept int) {
	f.stat.RowsDropped += int64(seen - kept)
	f.scan.RowsFiltered += int64(seen - kept)
	f.seen += int64(seen)
	f.kept += int64(kept)
	if f.seen >= keyFilterTrial && (f.seen-f.kept)*keyFilterMinDrop < f.seen {
		f.off = true
	}
}

// selectRows returns the indexes of the rows of key (an INT32, DATE32 or
// INT64 array) whose value may be a key of f: appended to dst when first,
// else those of dst.
func (f *decFilter) selectRows(dst []int32, key arrow.Array, first bool) ([]int32, error) {
	var valid []byte
	if key.NullN() > 0 {
		valid = key.NullBitmapBytes()
	}
	off := key.Data().Offset()
	switch a := key.(type) {
	case *array.Int32:
		return selectOrRefine(dst, f.keys, a.Int32Values(), valid, off, first), nil
	case *array.Date32:
		return selectOrRefine(dst, f.keys, a.Date32Values(), valid, off, first), nil
	case *array.Int64:
		return selectOrRefine(dst, f.keys, a.Int64Values(), valid, off, first), nil
	}
	return nil, fmt.Errorf("segments: key filter on %s", key.DataType())
}

func selectOrRefine[T keyset.Integer](dst []int32, s *keyset.Set, vs []T, valid []byte, off int, first bool) []int32 {
	if first {
		return keyset.Select(dst, s, vs, valid, off)
	}
	return keyset.Refine(dst, s, vs, valid, off)
}

// filterPositions returns the positions of pos (relative to the row
// group; the batch in starts at start) whose key passes f, in f's scratch
// space; pos itself is not modified.
func (f *decFilter) filterPositions(in arrow.RecordBatch, pos []uint32, start int64) []uint32 {
	key := in.Column(f.col)
	var valid []byte
	if key.NullN() > 0 {
		valid = key.NullBitmapBytes()
	}
	off := key.Data().Offset()
	out := f.pos[:0]
	switch a := key.(type) {
	case *array.Int32:
		out = keepPositions(out, f.keys, a.Int32Values(), valid, off, pos, start)
	case *array.Date32:
		out = keepPositions(out, f.keys, a.Date32Values(), valid, off, pos, start)
	case *array.Int64:
		out = keepPositions(out, f.keys, a.Int64Values(), valid, off, pos, start)
	default:
		return pos
	}
	f.pos = out
	f.note(len(pos), len(out))
	return out
}

func keepPositions[T keyset.Integer](dst []uint32, keys *keyset.Set, vs []T, valid []byte, off int, pos []uint32, start int64) []uint32 {
	for _, p := range pos {
		i := int(int64(p) - start)
		if valid != nil && valid[(off+i)/8]&(1<<((off+i)%8)) == 0 {
			continue
		}
		if keys.Contains(int64(vs[i])) {
			dst = append(dst, p)
		}
	}
	return dst
}

// nextFiltered decodes the next batch of at most n rows of the row group
// and keeps the rows that pass the decoder's filters that are on (at
// least one is). It returns the kept rows (nil when none passed) and how
// many rows were decoded (0 at the end of the row group).
func (d *rgDecoder) nextFiltered(n int) (arrow.RecordBatch, int, error) {
	n = int(min(int64(n), d.left))
	if n == 0 {
		return nil, 0, nil
	}
	// keys holds the key columns decoded whole, by column.
	keys := make([]arrow.Array, len(d.cols))
	defer func() {
		for _, k := range keys {
			if k != nil {
				k.Release()
			}
		}
	}()
	sel, first := d.sel[:0], true
	for _, f := range d.filters {
		if f.off {
			continue
		}
		if keys[f.col] == nil {
			key, err := d.cols[f.col].decode(d.mem, d.data, n)
			if err != nil {
				return nil, 0, fmt.Errorf("column %s: %w", d.schema.Field(f.col).Name, err)
			}
			keys[f.col] = key
		}
		before := len(sel)
		if first {
			before = n
		}
		var err error
		if sel, err = f.selectRows(sel, keys[f.col], first); err != nil {
			return nil, 0, err
		}
		first = false
		f.note(before, len(sel))
		if len(sel) == 0 {
			break
		}
	}
	d.sel = sel
	d.left -= int64(n)
	if len(sel) == 0 {
		for i := range d.cols {
			if keys[i] == nil {
				if err := d.cols[i].skip(d.mem, d.data, n); err != nil {
					return nil, 0, fmt.Errorf("column %s: %w", d.schema.Field(i).Name, err)
				}
			}
		}
		return nil, n, nil
	}
	cols := make([]arrow.Array, len(d.cols))
	fail := func(i int, err error) (arrow.RecordBatch, int, error) {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
		return nil, 0, fmt.Errorf("column %s: %w", d.schema.Field(i).Name, err)
	}
	all := len(sel) == n
	for i := range d.cols {
		var a arrow.Array
		var err error
		switch {
		case keys[i] != nil && all:
			keys[i].Retain()
			a = keys[i]
		case keys[i] != nil:
			a, err = takeRows(d.mem, keys[i], sel)
		case all:
			a, err = d.cols[i].decode(d.mem, d.data, n)
		default:
			a, err = d.cols[i].decodeSelected(d.mem, d.data, n, sel)
		}
		if err != nil {
			return fail(i, err)
		}
		cols[i] = a
	}
	rec := array.NewRecordBatch(d.schema, cols, int64(len(sel)))
	for _, c := range cols {
		c.Release()
	}
	return rec, n, nil
}

// filtering reports whether one of the decoder's filters is on.
func (d *rgDecoder) filtering() bool {
	for _, f := range d.filters {
		if !f.off {
			return true
		}
	}
	return false
}

// skipper is what parquet's typed column chunk readers have for skipping
// values.
type skipper interface {
	Skip(nvalues int64) (int64, error)
}

// skip moves the column past its next n rows without building them.
func (c *colDecoder) skip(mem, data memory.Allocator, n int) error {
	if sk, ok := c.cr.(skipper); ok && c.pages == nil {
		_, err := sk.Skip(int64(n))
		return err
	}
	a, err := c.decode(mem, data, n)
	if err != nil {
		return err
	}
	a.Release()
	return nil
}

// decodeSelected reads the next n rows and returns those at the indexes
// sel (ascending, len(sel) < n). Fixed-width columns without NULLs are
// read into scratch space and only the selected values copied; the others
// are decoded whole and taken.
func (c *colDecoder) decodeSelected(mem, dataMem memory.Allocator, n int, sel []int32) (arrow.Array, error) {
	if c.maxDef == 0 {
		switch c.kind {
		case directInt32:
			return decodeFixedSelected[int32](c, dataMem, c.cr.(*file.Int32ColumnChunkReader), n, sel)
		case directInt64:
			return decodeFixedSelected[int64](c, dataMem, c.cr.(*file.Int64ColumnChunkReader), n, sel)
		case directFloat32:
			return decodeFixedSelected[float32](c, dataMem, c.cr.(*file.Float32ColumnChunkReader), n, sel)
		case directFloat64:
			return decodeFixedSelected[float64](c, dataMem, c.cr.(*file.Float64ColumnChunkReader), n, sel)
		case directDecimal64:
			if cap(c.ints) < n {
				c.ints = make([]int64, n)
			}
			ints := c.ints[:n]
			if _, _, err := readFixed(mem, c.cr.(*file.Int64ColumnChunkReader), ints, nil); err != nil {
				return nil, err
			}
			data := memory.NewResizableBuffer(dataMem)
			defer data.Release()
			data.Resize(len(sel) * arrow.Decimal128SizeBytes)
			dst := arrow.Decimal128Traits.CastFromBytes(data.Bytes())[:len(sel)]
			for i, j := range sel {
				v := ints[j]
				dst[i] = decimal128.New(v>>63, uint64(v))
			}
			d := array.NewData(c.dt, len(sel), []*memory.Buffer{nil, data}, nil, 0, 0)
			defer d.Release()
			return array.MakeFromData(d), nil
		}
	}
	a, err := c.decode(mem, dataMem, n)
	if err != nil {
		return nil, err
	}
	defer a.Release()
	return takeRows(mem, a, sel)
}

// decodeFixedSelected reads the next n values of a required fixed-width
// column into c's scratch space and returns the values at sel.
func decodeFixedSelected[T fixedWidth](c *colDecoder, dataMem memory.Allocator, cr pageReader[T], n int, sel []int32) (arrow.Array, error) {
	var zero T
	size := int(unsafe.Sizeof(zero))
	if cap(c.raw) < n*size {
		c.raw = make([]byte, n*size)
	}
	vals := unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(c.raw))), n)
	if _, _, err := readFixed(nil, cr, vals, nil); err != nil {
		return nil, err
	}
	data := memory.NewResizableBuffer(dataMem)
	defer data.Release()
	data.Resize(len(sel) * size)
	dst := arrow.GetData[T](data.Bytes())[:len(sel)]
	for i, j := range sel {
		dst[i] = vals[j]
	}
	d := array.NewData(c.dt, len(sel), []*memory.Buffer{nil, data}, nil, 0, 0)
	defer d.Release()
	return array.MakeFromData(d), nil
}

// takeRows returns the rows of a at the indexes sel.
func takeRows(mem memory.Allocator, a arrow.Array, sel []int32) (arrow.Array, error) {
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(len(sel) * arrow.Int32SizeBytes)
	copy(arrow.Int32Traits.CastFromBytes(buf.Bytes()), sel)
	d := array.NewData(arrow.PrimitiveTypes.Int32, len(sel), []*memory.Buffer{nil, buf}, nil, 0, 0)
	buf.Release()
	idx := array.NewInt32Data(d)
	d.Release()
	defer idx.Release()
	ctx := compute.WithAllocator(context.Background(), mem)
	return compute.TakeArrayOpts(ctx, a, idx, compute.TakeOptions{BoundsCheck: false})
}
