package segments

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/mantisdb/mantisdb/catalog"
)

// Reader reads one segment. It holds the segment's Parquet file open and its
// index in memory. A Reader is safe for concurrent use: Scan, Select and
// Lookup may run from several goroutines; each Scanner belongs to one.
type Reader struct {
	meta   *Meta
	idx    *index
	file   vfs.File
	size   int64
	pmeta  *metadata.FileMetaData
	schema *arrow.Schema // the segment's own schema (as written)
	// dec64 holds, per file column, the DECIMAL type of a column stored as
	// INT64 (decimal64Key), nil for the others; nil when there are none.
	dec64 []arrow.DataType

	mu sync.Mutex // guards the lookup cache
	// keyCache holds the decoded sort-key columns of row groups, by row
	// group, for Lookup; keyOrder lists the cached row groups oldest first
	// and keyBytes their size, kept under keyCacheBytes.
	keyCache map[int][]arrow.Array
	keyOrder []int
	keyBytes int64
	closed   bool
	keyAlloc memory.Allocator
	// pages caches decoded data pages for point reads (pagecache.go).
	pages pageCache
}

// Open opens the segment that meta describes in dir. It checks the format
// versions (ErrNewerFormat), the file sizes and the index checksum against
// meta (ErrCorruption). The caller must Close the Reader.
func Open(fs vfs.FS, dir string, meta *Meta) (*Reader, error) {
	if meta.FormatVersion > FormatVersion {
		return nil, fmt.Errorf("cannot open segment %d: %w (version %d, supported up to %d)",
			meta.ID, ErrNewerFormat, meta.FormatVersion, FormatVersion)
	}
	raw, err := readFile(fs, fs.PathJoin(dir, IndexFileName(meta.ID)))
	if err != nil {
		return nil, fmt.Errorf("cannot open segment %d: %w", meta.ID, err)
	}
	if int64(len(raw)) != meta.IndexSize || crc32Of(raw) != meta.IndexCRC {
		return nil, fmt.Errorf("cannot open segment %d: %w: index file does not match its manifest entry",
			meta.ID, ErrCorruption)
	}
	idx, err := decodeIndex(raw)
	if err != nil {
		return nil, fmt.Errorf("cannot open segment %d: %w", meta.ID, err)
	}
	f, err := fs.Open(fs.PathJoin(dir, FileName(meta.ID)))
	if err != nil {
		return nil, fmt.Errorf("cannot open segment %d: %w", meta.ID, err)
	}
	r := &Reader{meta: meta, idx: idx, file: f, size: meta.FileSize}
	if err := r.init(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("cannot open segment %d: %w", meta.ID, err)
	}
	return r, nil
}

func (r *Reader) init() error {
	st, err := r.file.Stat()
	if err != nil {
		return err
	}
	if st.Size() != r.size {
		return fmt.Errorf("%w: Parquet file has %d bytes, manifest says %d", ErrCorruption, st.Size(), r.size)
	}
	pr, err := file.NewParquetReader(io.NewSectionReader(r.file, 0, r.size))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorruption, err)
	}
	r.pmeta = pr.MetaData()
	if kv := r.pmeta.KeyValueMetadata().FindValue(parquetVersionKey); kv != nil {
		v, err := strconv.Atoi(*kv)
		if err != nil {
			return fmt.Errorf("%w: bad %s %q", ErrCorruption, parquetVersionKey, *kv)
		}
		if v > FormatVersion {
			return fmt.Errorf("%w: Parquet file version %d, supported up to %d", ErrNewerFormat, v, FormatVersion)
		}
	} else {
		return fmt.Errorf("%w: Parquet file has no %s", ErrCorruption, parquetVersionKey)
	}
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCorruption, err)
	}
	if r.schema, err = fr.Schema(); err != nil {
		return fmt.Errorf("%w: %v", ErrCorruption, err)
	}
	if kv := r.pmeta.KeyValueMetadata().FindValue(decimal64Key); kv != nil {
		if r.dec64, err = decodeDecimal64(*kv, r.schema.NumFields()); err != nil {
			return err
		}
		fields := r.schema.Fields()
		for i, dt := range r.dec64 {
			if dt == nil {
				continue
			}
			if fields[i].Type.ID() != arrow.INT64 {
				return fmt.Errorf("%w: DECIMAL column %s stored as %s", ErrCorruption, fields[i].Name, fields[i].Type)
			}
			fields[i].Type = dt
		}
		md := r.schema.Metadata()
		r.schema = arrow.NewSchema(fields, &md)
	}
	// Cross-check file, index and manifest entry: a mismatch means files of
	// different segments under one name.
	if r.pmeta.NumRows != r.meta.Rows || r.idx.rows != r.meta.Rows ||
		r.pmeta.NumRowGroups() != r.idx.rowGroups || r.idx.rowGroups != r.meta.RowGroups ||
		len(r.idx.cols) != r.schema.NumFields() {
		return fmt.Errorf("%w: Parquet file, index and manifest entry disagree", ErrCorruption)
	}
	for rg := 0; rg < r.idx.rowGroups; rg++ {
		if r.pmeta.RowGroup(rg).NumRows() != r.rowGroupRows(rg) {
			return fmt.Errorf("%w: row group %d has %d rows, expected %d", ErrCorruption, rg,
				r.pmeta.RowGroup(rg).NumRows(), r.rowGroupRows(rg))
		}
	}
	return nil
}

func readFile(fs vfs.FS, name string) ([]byte, error) {
	f, err := fs.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, st.Size())
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, st.Size()), b); err != nil {
		return nil, err
	}
	return b, nil
}

// Meta returns the segment's Meta (shared; do not modify).
func (r *Reader) Meta() *Meta { return r.meta }

// Schema returns the Arrow schema the segment was written with.
func (r *Reader) Schema() *arrow.Schema { return r.schema }

// Close closes the segment file. It is idempotent. Scanners must be closed
// first.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	r.releaseKeysLocked()
	r.releasePagesLocked()
	return r.file.Close()
}

// RowGroups returns the number of row groups of the segment.
func (r *Reader) RowGroups() int { return r.idx.rowGroups }

// RowGroupSpan returns the position of the first row of row group rg and
// its number of rows.
func (r *Reader) RowGroupSpan(rg int) (start, rows int64) {
	return r.rowGroupStart(rg), r.rowGroupRows(rg)
}

func (r *Reader) rowGroupStart(rg int) int64 { return int64(rg) * r.idx.rowGroupSize }

func (r *Reader) rowGroupRows(rg int) int64 {
	return min(r.idx.rowGroupSize, r.idx.rows-r.rowGroupStart(rg))
}

// newFileReader returns a pqarrow reader over the shared, already parsed
// metadata; one per scan keeps readers independent. Each column it reads
// streams through a buffer of bufSize bytes.
func (r *Reader) newFileReader(mem memory.Allocator, batch int, bufSize int64) (*pqarrow.FileReader, error) {
	props := parquet.NewReaderProperties(mem)
	props.BufferedStreamEnabled = true
	props.BufferSize = bufSize
	pr, err := file.NewParquetReader(io.NewSectionReader(r.file, 0, r.size),
		file.WithMetadata(r.pmeta), file.WithReadProps(props))
	if err != nil {
		return nil, err
	}
	return pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: int64(batch)}, mem)
}

// Select prunes the segment with p and the delete bitmap deleted (which may
// be nil). Conditions on columns the segment does not have (added after it
// was written) see NULLs. The result is documented on Selection; Select
// does not read the Parquet file.
func (r *Reader) Select(p Predicate, deleted *roaring.Bitmap) (Selection, error) {
	return r.selectIn(p, deleted, nil)
}

// selectIn is Select over the row groups holding a position of within
// (nil: all); the others count as Pruned.Rows.
func (r *Reader) selectIn(p Predicate, deleted, within *roaring.Bitmap) (Selection, error) {
	ngroups := r.idx.rowGroups
	live := make([]bool, ngroups)
	outside := 0
	for i := range live {
		live[i] = true
		if within != nil {
			s := uint64(r.rowGroupStart(i))
			if live[i] = within.IntersectsWithInterval(s, s+uint64(r.rowGroupRows(i))); !live[i] {
				outside++
			}
		}
	}
	var rows *roaring.Bitmap // nil: all rows
	exact := true
	zonePruned := 0
	none := func(bloom bool) Selection {
		pr := Pruned{ZoneMap: ngroups - outside, Rows: outside}
		if bloom {
			pr = Pruned{ZoneMap: zonePruned, Bloom: ngroups - outside - zonePruned, Rows: outside}
		}
		return Selection{Exact: true, RowGroupsSkipped: ngroups, Rows: roaring.New(), Pruned: pr}
	}
	for ci := range p {
		c := &p[ci]
		col := r.idx.column(c.Column)
		if col == nil {
			// The column was added after this segment: it is NULL here.
			if c.Op == OpIsNull {
				continue
			}
			return none(false), nil
		}
		if err := checkCondKind(c, col); err != nil {
			return Selection{}, err
		}
		// Zone maps.
		allMatch := true
		for rg := 0; rg < ngroups; rg++ {
			if !live[rg] {
				continue
			}
			switch evalZone(c, &col.zones[rg], uint32(r.rowGroupRows(rg))) {
			case zoneNone:
				live[rg] = false
				zonePruned++
			case zoneSome:
				allMatch = false
			}
		}
		if allMatch {
			continue // exact for the surviving row groups
		}
		// Bloom filter: equality with values the segment cannot hold.
		if col.bloom != nil && (c.Op == OpEq || c.Op == OpIn) && !bloomMay(col.bloom, c) {
			return none(true), nil
		}
		// Bitmaps: exact answers for =, IN and IS NULL.
		var bm *roaring.Bitmap
		switch {
		case c.Op == OpIsNull:
			bm = col.nulls
			if bm == nil {
				bm = roaring.New()
			}
		case col.indexed && c.Op == OpEq:
			if !c.Value.Null {
				bm = col.lookupValue(c.Value)
			}
			if bm == nil {
				bm = roaring.New()
			}
		case col.indexed && c.Op == OpIn:
			bms := make([]*roaring.Bitmap, 0, len(c.Values))
			for _, v := range c.Values {
				if b := col.lookupValue(v); b != nil && !v.Null {
					bms = append(bms, b)
				}
			}
			bm = roaring.FastOr(bms...)
		}
		if bm == nil {
			exact = false
			continue
		}
		if rows == nil {
			rows = bm.Clone()
		} else {
			rows.And(bm)
		}
	}
	if deleted != nil && !deleted.IsEmpty() {
		if rows == nil {
			rows = roaring.New()
			for rg := 0; rg < ngroups; rg++ {
				if live[rg] {
					s := r.rowGroupStart(rg)
					rows.AddRange(uint64(s), uint64(s+r.rowGroupRows(rg)))
				}
			}
		}
		rows.AndNot(deleted)
	}
	sel := Selection{Exact: exact, Rows: rows}
	for rg := 0; rg < ngroups; rg++ {
		if live[rg] && rows != nil {
			s := uint64(r.rowGroupStart(rg))
			live[rg] = rows.IntersectsWithInterval(s, s+uint64(r.rowGroupRows(rg)))
		}
		if live[rg] {
			sel.RowGroups = append(sel.RowGroups, rg)
		} else {
			sel.RowGroupsSkipped++
		}
	}
	sel.Pruned = Pruned{ZoneMap: zonePruned, Bitmap: sel.RowGroupsSkipped - zonePruned - outside, Rows: outside}
	return sel, nil
}

func bloomMay(b *bloom, c *Cond) bool {
	if c.Op == OpEq {
		return !c.Value.Null && b.mayContain(hashValue(c.Value))
	}
	for _, v := range c.Values {
		if !v.Null && b.mayContain(hashValue(v)) {
			return true
		}
	}
	return false
}

func checkCondKind(c *Cond, col *columnIndex) error {
	check := func(v Value) error {
		if !v.Null && v.Kind != col.typ.Kind {
			return fmt.Errorf("segments: condition %s: constant of kind %d for column of type %s",
				c, v.Kind, col.typ)
		}
		return nil
	}
	switch c.Op {
	case OpIsNull:
		return nil
	case OpIn:
		for _, v := range c.Values {
			if err := check(v); err != nil {
				return err
			}
		}
		return nil
	case OpEq, OpLt, OpLe, OpGt, OpGe:
		return check(c.Value)
	}
	return fmt.Errorf("segments: condition on %s has invalid operator %s", c.Column, c.Op)
}

// ScanOptions configure Reader.Scan. The zero value scans every column of
// the segment's own schema.
type ScanOptions struct {
	// Schema is the table schema to read with, usually the current one.
	// Columns are matched by name (case-insensitive): columns the segment
	// lacks read as NULL, columns the schema lacks are skipped. A column of
	// the same name with another type fails with ErrSchemaMismatch. Nil
	// means the segment's own schema.
	Schema *arrow.Schema
	// Columns projects Schema: indexes of the fields to return, in output
	// order. Nil means all fields; an empty non-nil slice means none
	// (batches then carry only a row count, for COUNT(*)).
	Columns []int
	// Filter prunes row groups and rows; see Selection for what it
	// guarantees (Scanner.Exact).
	Filter Predicate
	// Deleted holds the positions of deleted rows (the segment's delete
	// bitmap at the reader's snapshot); they are never returned. Nil means
	// none. The Scanner reads it during Scan only.
	Deleted *roaring.Bitmap
	// Rows, when not nil, restricts the scan to these positions (rows
	// found by Lookup, say); Filter and Deleted still apply. The Scanner
	// reads it during Scan only.
	Rows *roaring.Bitmap
	// KeyFilters are runtime filters (keyfilter.go), a conjunction: the
	// scan may leave out rows whose value of a filter's column is not
	// among its keys. Unlike Filter they do not make Scanner.Exact false:
	// the rows they keep are a superset of those they ask for, and
	// callers that need exactly those test them again (a join's probe
	// does). Dense scans test them in order: the most selective first.
	KeyFilters []KeyFilter
	// BatchSize is the largest number of rows per batch. Default 8192.
	BatchSize int
	// Allocator allocates the returned batches. Default
	// memory.DefaultAllocator.
	Allocator memory.Allocator
	// DataAllocator, when not nil, allocates the buffers of the returned
	// batches that the decoder writes whole: the values of fixed-width
	// columns (NULL slots included), the offsets and data of string
	// columns. It may return memory that is not cleared, such as a
	// bufpool.Pool that recycles the buffers of the query's released
	// batches. Columns the direct decoder does not read, and every other
	// buffer, come from Allocator. Nil means Allocator.
	DataAllocator memory.Allocator

	// noDirect makes the scan decode through pqarrow only (tests compare
	// the two decoders).
	noDirect bool
}

// DefaultBatchSize is the default ScanOptions.BatchSize.
const DefaultBatchSize = 8192

// ScanStats count the work of one scan, for EXPLAIN ANALYZE.
type ScanStats struct {
	RowGroups        int    // row groups in the segment
	RowGroupsSkipped int    // pruned by zone maps, bitmaps, bloom filters or deletes
	Pruned           Pruned // RowGroupsSkipped by cause
	RowGroupsRead    int    // row groups decoded
	RowsRead         int64  // rows decoded from the Parquet file
	RowsReturned     int64  // rows in the returned batches
	RowsFiltered     int64  // rows dropped by ScanOptions.KeyFilters after their keys were decoded
	// KeyFilters count, per ScanOptions.KeyFilters entry, what it
	// dropped.
	KeyFilters []KeyFilterStats
}

// KeyFilterStats count what one KeyFilter of a scan dropped.
type KeyFilterStats struct {
	RowGroupsSkipped int   // row groups whose zone map holds none of its keys
	RowsDropped      int64 // rows whose key it rejected
}

// Scanner yields the batches of a scan. It has the shape of arrowexec.Source
// (Next, Record, Err, Close). It is not safe for concurrent use.
type Scanner struct {
	ctx     context.Context
	r       *Reader
	mem     memory.Allocator
	dataMem memory.Allocator // ScanOptions.DataAllocator
	batch   int
	schema  *arrow.Schema // output schema
	// fileCols lists the segment columns to decode; outSrc maps each output
	// column to its position in fileCols, or -1 for a NULL-filled column.
	fileCols []int
	outSrc   []int

	sel  Selection
	next int // index into sel.RowGroups of the next row group
	rr   pqarrow.RecordReader
	fr   *pqarrow.FileReader
	// direct, when not nil, says how the direct decoder reads each of
	// fileCols (decode.go); dense scans whose columns it all reads use it
	// instead of rr; dec decodes the current row group when decOpen.
	direct  []directKind
	dec     *rgDecoder
	decOpen bool
	rgPos   []uint32 // selected positions of the current row group (nil: all)
	rgOff   int64    // position of the next row of rr
	rgRows  int64    // rows of the current row group
	left    int64    // rows left in the current row group (no-column scans)

	// sparse scans select few rows: they decode small batches and seek
	// (through the page index) over runs of unselected rows.
	sparse bool
	// points: the current row group's few selected rows are read one by
	// one from the Reader's page cache (pagecache.go); pointStarts holds
	// the page boundaries of each of fileCols in it.
	points      bool
	pointStarts [][]int64

	// keyf are the row filters of ScanOptions.KeyFilters whose columns
	// are decoded (keyfilter.go); dense direct scans run them in their
	// decoder.
	keyf []*decFilter

	rec   arrow.RecordBatch
	err   error
	stats ScanStats
	done  bool
}

// Read buffer per column of dense scans and of sparse ones (a compressed
// data page is at most dataPageSize).
const (
	scanBufferSize   = 1 << 20
	sparseBufferSize = 64 << 10
)

// sparseBatch is the batch size of sparse scans, and the gap of unselected
// rows above which they seek instead of decoding through.
const sparseBatch = 128

// Scan starts a scan. The caller must Close the Scanner.
func (r *Reader) Scan(ctx context.Context, opts ScanOptions) (*Scanner, error) {
	s := &Scanner{ctx: ctx, r: r, mem: opts.Allocator, dataMem: opts.DataAllocator, batch: opts.BatchSize}
	if s.mem == nil {
		s.mem = memory.DefaultAllocator
	}
	if s.dataMem == nil {
		s.dataMem = s.mem
	}
	if s.batch <= 0 {
		s.batch = DefaultBatchSize
	}
	target := opts.Schema
	if target == nil {
		target = r.schema
	}
	cols := opts.Columns
	if cols == nil {
		cols = make([]int, target.NumFields())
		for i := range cols {
			cols[i] = i
		}
	}
	fields := make([]arrow.Field, len(cols))
	s.outSrc = make([]int, len(cols))
	for i, c := range cols {
		if c < 0 || c >= target.NumFields() {
			return nil, fmt.Errorf("cannot scan segment %d: column %d out of range", r.meta.ID, c)
		}
		f := target.Field(c)
		fields[i] = f
		s.outSrc[i] = -1
		for j := 0; j < r.schema.NumFields(); j++ {
			sf := r.schema.Field(j)
			if !equalFold(sf.Name, f.Name) {
				continue
			}
			if !arrow.TypeEqual(sf.Type, f.Type) {
				return nil, fmt.Errorf("cannot scan segment %d: %w: column %s is %s in the segment, %s in the table",
					r.meta.ID, ErrSchemaMismatch, f.Name, sf.Type, f.Type)
			}
			s.outSrc[i] = len(s.fileCols)
			s.fileCols = append(s.fileCols, j)
			break
		}
	}
	s.schema = arrow.NewSchema(fields, nil)
	sel, err := r.selectIn(opts.Filter, opts.Deleted, opts.Rows)
	if err != nil {
		return nil, fmt.Errorf("cannot scan segment %d: %w", r.meta.ID, err)
	}
	if opts.Rows != nil {
		sel = r.restrict(sel, opts.Rows)
	}
	if len(opts.KeyFilters) > 0 {
		s.stats.KeyFilters = make([]KeyFilterStats, len(opts.KeyFilters))
		sel = r.pruneKeyFilters(sel, opts.KeyFilters, s.stats.KeyFilters)
	}
	s.sel = sel
	s.stats.RowGroups = r.idx.rowGroups
	s.stats.RowGroupsSkipped = sel.RowGroupsSkipped
	s.stats.Pruned = sel.Pruned
	if len(s.fileCols) > 0 && len(sel.RowGroups) > 0 {
		batch := s.batch
		if sel.Rows != nil {
			var total uint64
			for _, rg := range sel.RowGroups {
				total += uint64(r.rowGroupRows(rg))
			}
			if s.sparse = sel.Rows.GetCardinality()*sparseBatch < total; s.sparse {
				batch = min(batch, sparseBatch)
				s.batch = batch
			}
		}
		// Sparse scans (point reads) read a page or two per column: a
		// buffer of a whole MiB per column was most of their cost.
		bufSize := int64(scanBufferSize)
		if s.sparse {
			bufSize = sparseBufferSize
		}
		if s.fr, err = r.newFileReader(s.mem, batch, bufSize); err != nil {
			return nil, fmt.Errorf("cannot scan segment %d: %w", r.meta.ID, err)
		}
		if !opts.noDirect {
			s.useDirect()
		}
		if len(opts.KeyFilters) > 0 {
			s.setKeyFilters(opts.KeyFilters)
		}
	}
	return s, nil
}

// useDirect sets up the direct decoder when it reads every decoded column.
func (s *Scanner) useDirect() {
	kinds := make([]directKind, len(s.fileCols))
	fields := make([]arrow.Field, len(s.fileCols))
	for i, fc := range s.fileCols {
		f := s.r.schema.Field(fc) // DECIMAL columns stored as INT64 come out widened
		if kinds[i] = s.r.directKindOf(fc, f.Type); kinds[i] == directNone {
			return
		}
		fields[i] = f
	}
	s.direct = kinds
	s.dec = newRGDecoder(kinds, arrow.NewSchema(fields, nil), s.mem, s.dataMem)
}

// restrict narrows sel to the positions in rows.
func (r *Reader) restrict(sel Selection, rows *roaring.Bitmap) Selection {
	if sel.Rows == nil {
		sel.Rows = rows.Clone()
	} else {
		sel.Rows.And(rows)
	}
	live := sel.RowGroups[:0]
	for _, rg := range sel.RowGroups {
		s := uint64(r.rowGroupStart(rg))
		if sel.Rows.IntersectsWithInterval(s, s+uint64(r.rowGroupRows(rg))) {
			live = append(live, rg)
		} else {
			sel.RowGroupsSkipped++
			sel.Pruned.Rows++
		}
	}
	sel.RowGroups = live
	return sel
}

// Positions returns the positions of the rows the scan returns, in the
// order it returns them (ascending). The caller owns the bitmap. Callers
// that need each row's position (its segment row key) use it.
func (s *Scanner) Positions() *roaring.Bitmap {
	groups := roaring.New()
	for _, rg := range s.sel.RowGroups {
		start := uint64(s.r.rowGroupStart(rg))
		groups.AddRange(start, start+uint64(s.r.rowGroupRows(rg)))
	}
	if s.sel.Rows != nil {
		groups.And(s.sel.Rows)
	}
	return groups
}

// Schema returns the schema of the batches: the projected table schema.
func (s *Scanner) Schema() *arrow.Schema { return s.schema }

// Exact reports whether every returned row satisfies ScanOptions.Filter
// (Selection.Exact); when false the caller must filter again.
func (s *Scanner) Exact() bool { return s.sel.Exact }

// Stats returns the counters of the scan so far.
func (s *Scanner) Stats() ScanStats { return s.stats }

// Record returns the current batch, owned by the Scanner and valid until
// the next call of Next or Close; Retain it to keep it.
func (s *Scanner) Record() arrow.RecordBatch { return s.rec }

// Err returns the error that ended the scan, if any.
func (s *Scanner) Err() error { return s.err }

// Next advances to the next non-empty batch.
func (s *Scanner) Next() bool {
	if s.rec != nil {
		s.rec.Release()
		s.rec = nil
	}
	if s.done {
		return false
	}
	for {
		if err := s.ctx.Err(); err != nil {
			return s.fail(err)
		}
		rec, err := s.step()
		if err != nil {
			return s.fail(fmt.Errorf("cannot read segment %d: %w", s.r.meta.ID, err))
		}
		if rec == nil {
			if s.done {
				return false
			}
			continue
		}
		s.rec = rec
		s.stats.RowsReturned += rec.NumRows()
		return true
	}
}

func (s *Scanner) fail(err error) bool {
	s.err = err
	s.done = true
	s.closeRG()
	return false
}

// step produces at most one batch; nil with !done means "call again".
func (s *Scanner) step() (arrow.RecordBatch, error) {
	if s.rr == nil && !s.decOpen && !s.points && s.left == 0 {
		if s.next >= len(s.sel.RowGroups) {
			s.done = true
			return nil, nil
		}
		if err := s.openRG(s.sel.RowGroups[s.next]); err != nil {
			return nil, err
		}
		s.next++
	}
	if len(s.fileCols) == 0 {
		// No column is decoded: hand out row counts (and NULL columns).
		n := min(s.left, int64(s.batch))
		s.left -= n
		return s.assemble(nil, int(n)), nil
	}
	if s.sparse && s.rgPos != nil {
		i := sort.Search(len(s.rgPos), func(i int) bool { return int64(s.rgPos[i]) >= s.rgOff })
		if i == len(s.rgPos) {
			s.closeRG() // no selected row left in the row group
			return nil, nil
		}
		if s.points {
			p := int64(s.rgPos[i])
			in, err := s.pointRow(p)
			if err != nil {
				return nil, err
			}
			defer in.Release()
			s.rgOff = p + 1
			s.stats.RowsRead++
			return s.assemble(in, 1), nil
		}
		if p := int64(s.rgPos[i]); p >= s.rgOff+sparseBatch {
			var err error
			if s.decOpen {
				err = s.dec.seek(p, s.rgRows)
			} else {
				err = s.rr.SeekToRow(p)
			}
			if err != nil {
				return nil, err
			}
			s.rgOff = p
		}
	}
	if s.decOpen && s.rgPos == nil && s.dec.filtering() {
		return s.stepFiltered()
	}
	var in arrow.RecordBatch
	if s.decOpen {
		rec, err := s.dec.next(s.batch)
		if err != nil || rec == nil {
			s.closeRG()
			if err == nil {
				err = s.checkRowGroupEnd()
			}
			return nil, err
		}
		defer rec.Release()
		in = rec
	} else {
		if !s.rr.Next() {
			err := s.rr.Err()
			s.closeRG()
			if err != nil && err != io.EOF {
				return nil, err
			}
			return nil, s.checkRowGroupEnd()
		}
		in = s.rr.RecordBatch()
	}
	n := in.NumRows()
	start := s.rgOff
	s.rgOff += n
	s.stats.RowsRead += n
	if s.rgPos == nil {
		return s.assemble(in, int(n)), nil
	}
	// Selected positions of this batch: a window of rgPos.
	lo := sort.Search(len(s.rgPos), func(i int) bool { return int64(s.rgPos[i]) >= start })
	hi := sort.Search(len(s.rgPos), func(i int) bool { return int64(s.rgPos[i]) >= start+n })
	pos := s.rgPos[lo:hi]
	for _, f := range s.keyf {
		if !f.off && len(pos) > 0 {
			pos = f.filterPositions(in, pos, start)
		}
	}
	switch {
	case len(pos) == 0:
		return nil, nil
	case int64(len(pos)) == n:
		return s.assemble(in, int(n)), nil
	}
	cols, err := s.gather(in, pos, start)
	if err != nil {
		return nil, err
	}
	out := array.NewRecordBatch(in.Schema(), cols, int64(len(pos)))
	for _, c := range cols {
		c.Release()
	}
	rec := s.assemble(out, len(pos))
	out.Release()
	return rec, nil
}

// stepFiltered is step for a dense scan of every row of a row group
// through the decoder's key filter.
func (s *Scanner) stepFiltered() (arrow.RecordBatch, error) {
	rec, n, err := s.dec.nextFiltered(s.batch)
	if err != nil || n == 0 {
		s.closeRG()
		if err == nil {
			err = s.checkRowGroupEnd()
		}
		return nil, err
	}
	s.rgOff += int64(n)
	s.stats.RowsRead += int64(n)
	if rec == nil {
		return nil, nil
	}
	defer rec.Release()
	return s.assemble(rec, int(rec.NumRows())), nil
}

// checkRowGroupEnd reports, at the end of a row group's decode, a row
// group that decoded to other than its row count: it must not pass for a
// shorter table.
func (s *Scanner) checkRowGroupEnd() error {
	if s.rgOff != s.rgRows {
		return fmt.Errorf("%w: a row group decoded to %d rows, its metadata says %d", ErrCorruption, s.rgOff, s.rgRows)
	}
	return nil
}

// openRG prepares row group rg: its selected positions and, when columns
// are decoded, a record reader.
func (s *Scanner) openRG(rg int) error {
	start := s.r.rowGroupStart(rg)
	rows := s.r.rowGroupRows(rg)
	s.rgPos = nil
	selected := rows
	if s.sel.Rows != nil {
		span := roaring.New()
		span.AddRange(uint64(start), uint64(start+rows))
		span.And(s.sel.Rows)
		selected = int64(span.GetCardinality())
		if selected != rows {
			pos := span.ToArray()
			for i := range pos {
				pos[i] -= uint32(start)
			}
			s.rgPos = pos
		}
	}
	s.stats.RowGroupsRead++
	if len(s.fileCols) == 0 {
		s.left = selected
		return nil
	}
	s.rgOff, s.rgRows = 0, rows
	if s.dec != nil {
		points, err := s.usePoints(rg)
		if err != nil {
			return err
		}
		if points {
			s.points = true
			return nil
		}
		if err := s.dec.open(s.fr.ParquetReader(), rg, s.fileCols, !s.sparse); err != nil {
			return err
		}
		s.decOpen = true
		return nil
	}
	rr, err := s.fr.GetRecordReader(s.ctx, s.fileCols, []int{rg})
	if err != nil {
		return err
	}
	s.rr = rr
	return nil
}

func (s *Scanner) closeRG() {
	s.points = false
	if s.rr != nil {
		s.rr.Release()
		s.rr = nil
	}
	if s.decOpen {
		s.dec.release()
		s.decOpen = false
	}
	s.left = 0
}

// gather keeps the rows at positions pos (relative to the row group; the
// batch starts at start) of every column of in. Long runs of consecutive
// rows are sliced and concatenated (memcpy per run); scattered rows, as a
// selective IN or equality on a low-cardinality column leaves them, go
// through arrow-go's take kernel, which costs a few nanoseconds per row
// instead of a slice header and its allocations per run.
func (s *Scanner) gather(in arrow.RecordBatch, pos []uint32, start int64) ([]arrow.Array, error) {
	type run struct{ a, b int64 }
	runs := make([]run, 0, 8)
	for i := 0; i < len(pos) && len(runs) <= len(pos)/minGatherRun; {
		j := i + 1
		for j < len(pos) && pos[j] == pos[j-1]+1 {
			j++
		}
		runs = append(runs, run{int64(pos[i]) - start, int64(pos[j-1]) - start + 1})
		i = j
	}
	cols := make([]arrow.Array, in.NumCols())
	fail := func(c int, err error) ([]arrow.Array, error) {
		for _, o := range cols[:c] {
			o.Release()
		}
		return nil, err
	}
	if len(runs) > len(pos)/minGatherRun {
		idx := s.gatherIndices(pos, start)
		defer idx.Release()
		ctx := compute.WithAllocator(context.Background(), s.mem)
		for c := range cols {
			out, err := compute.TakeArrayOpts(ctx, in.Column(c), idx, compute.TakeOptions{BoundsCheck: false})
			if err != nil {
				return fail(c, err)
			}
			cols[c] = out
		}
		return cols, nil
	}
	slices := make([]arrow.Array, len(runs))
	for c := range cols {
		col := in.Column(c)
		for i, r := range runs {
			slices[i] = array.NewSlice(col, r.a, r.b)
		}
		out, err := array.Concatenate(slices, s.mem)
		for _, sl := range slices {
			sl.Release()
		}
		if err != nil {
			return fail(c, err)
		}
		cols[c] = out
	}
	return cols, nil
}

// minGatherRun is the mean run length of selected rows below which gather
// takes rows by index instead of concatenating slices of runs.
const minGatherRun = 32

// gatherIndices returns pos made relative to start as a UINT32 array for
// the take kernel.
func (s *Scanner) gatherIndices(pos []uint32, start int64) arrow.Array {
	buf := memory.NewResizableBuffer(s.mem)
	buf.Resize(len(pos) * 4)
	idx := arrow.Uint32Traits.CastFromBytes(buf.Bytes())
	for i, p := range pos {
		idx[i] = p - uint32(start)
	}
	d := array.NewData(arrow.PrimitiveTypes.Uint32, len(pos), []*memory.Buffer{nil, buf}, nil, 0, 0)
	buf.Release()
	defer d.Release()
	return array.NewUint32Data(d)
}

// assemble builds the output batch of n rows from the decoded columns of in
// (which may be nil when no column is decoded). It does not consume in.
func (s *Scanner) assemble(in arrow.RecordBatch, n int) arrow.RecordBatch {
	cols := make([]arrow.Array, len(s.outSrc))
	for i, src := range s.outSrc {
		if src < 0 {
			// A column the segment lacks: its default (carried by the
			// field, catalog.Table.SchemaAt), or NULL.
			a, err := catalog.MissingColumn(s.mem, s.schema.Field(i), n)
			if err != nil {
				a = array.MakeArrayOfNull(s.mem, s.schema.Field(i).Type, n)
			}
			cols[i] = a
			continue
		}
		cols[i] = s.r.column(s.mem, s.fileCols[src], in.Column(src))
	}
	rec := array.NewRecordBatch(s.schema, cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	return rec
}

// Close releases the scan's resources. It is idempotent.
func (s *Scanner) Close() error {
	if s.rec != nil {
		s.rec.Release()
		s.rec = nil
	}
	s.closeRG()
	s.done = true
	return nil
}

// column returns the decoded column a of file column fc in its table type:
// a itself, retained, or a DECIMAL column stored as INT64 widened (the
// direct decoder widens them itself). The caller releases the result.
func (r *Reader) column(mem memory.Allocator, fc int, a arrow.Array) arrow.Array {
	if r.dec64 != nil && r.dec64[fc] != nil && a.DataType().ID() == arrow.INT64 {
		return int64ToDecimal(mem, a, r.dec64[fc])
	}
	a.Retain()
	return a
}

func concatChunks(chunks []arrow.Array, mem memory.Allocator) (arrow.Array, error) {
	return array.Concatenate(chunks, mem)
}
