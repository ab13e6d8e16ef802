package segments

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync/atomic"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/mantisdb/mantisdb/catalog"
)

// Compression is the page compression of a segment's Parquet file.
type Compression uint8

// Page compressions. The zero value picks DefaultCompression.
const (
	CompressionDefault Compression = iota
	CompressionLZ4Raw
	CompressionZstd
	CompressionNone
)

// zstdLevel is the ZSTD level of segment pages: 1 (klauspost's
// SpeedFastest) wrote lineitem-shaped segments 1.3x faster than the default
// level 3 for files 3% larger (BenchmarkWrite); decoding speed does not
// depend on the level. LZ4_RAW ignores it.
const zstdLevel = 1

// DefaultCompression is the compression of CompressionDefault; the choice is
// measured in docs/design/segments.md.
const DefaultCompression = CompressionLZ4Raw

// String returns the Parquet name of the codec.
func (c Compression) String() string {
	switch c {
	case CompressionDefault:
		return "default"
	case CompressionLZ4Raw:
		return "LZ4_RAW"
	case CompressionZstd:
		return "ZSTD"
	case CompressionNone:
		return "UNCOMPRESSED"
	}
	return fmt.Sprintf("Compression(%d)", uint8(c))
}

func (c Compression) codec() compress.Compression {
	switch c {
	case CompressionZstd:
		return compress.Codecs.Zstd
	case CompressionNone:
		return compress.Codecs.Uncompressed
	}
	return compress.Codecs.Lz4Raw
}

// Defaults of WriterOptions.
const (
	DefaultRowGroupSize      = 128 << 10
	DefaultBitmapMaxDistinct = 1024
	DefaultBloomBitsPerKey   = 10
)

// WriterOptions configure a Writer. The zero value is valid: every zero
// field means its documented default.
type WriterOptions struct {
	// RowGroupSize is the number of rows per row group (the last may be
	// shorter). Default DefaultRowGroupSize (131072).
	RowGroupSize int
	// Compression of data pages. Default DefaultCompression.
	Compression Compression
	// BitmapMaxDistinct is the largest number of distinct non-NULL values
	// for which a column gets a value → rows bitmap index. Default
	// DefaultBitmapMaxDistinct; negative disables bitmap indexes.
	BitmapMaxDistinct int
	// BitmapColumns names columns that get a bitmap index whatever their
	// number of distinct values (the table's CREATE INDEX columns), also
	// when BitmapMaxDistinct is negative.
	BitmapColumns []string
	// BloomColumns names the columns that get a bloom filter when they end
	// up without a bitmap index (bitmaps answer equality exactly). Default:
	// the first sort key column, which Reader.Lookup uses.
	BloomColumns []string
	// BloomBitsPerKey sizes bloom filters (about 1% false positives at 10).
	// Default DefaultBloomBitsPerKey; negative disables bloom filters.
	BloomBitsPerKey int
	// SortKey lists the sort key column indexes in key order. Default: the
	// table's primary key. A table without either has no sort key.
	SortKey []int
	// VerifyOrder checks that the input is in sort-key order (strictly,
	// when the sort key is the primary key) and fails with ErrUnsorted
	// otherwise. It costs one comparison per row; meant for tests and
	// debug builds.
	VerifyOrder bool
	// Allocator is used by the Parquet encoder. Default
	// memory.DefaultAllocator.
	Allocator memory.Allocator
}

func (o *WriterOptions) withDefaults(t *catalog.Table) WriterOptions {
	var r WriterOptions
	if o != nil {
		r = *o
	}
	if r.RowGroupSize <= 0 {
		r.RowGroupSize = DefaultRowGroupSize
	}
	if r.Compression == CompressionDefault {
		r.Compression = DefaultCompression
	}
	if r.BitmapMaxDistinct == 0 {
		r.BitmapMaxDistinct = DefaultBitmapMaxDistinct
	}
	if r.BloomBitsPerKey == 0 {
		r.BloomBitsPerKey = DefaultBloomBitsPerKey
	}
	if r.SortKey == nil {
		r.SortKey = t.PrimaryKey
	}
	if r.BloomColumns == nil && len(r.SortKey) > 0 {
		r.BloomColumns = []string{t.Columns[r.SortKey[0]].Name}
	}
	if r.Allocator == nil {
		r.Allocator = memory.DefaultAllocator
	}
	return r
}

// dictPageLimit bounds the dictionary page of a column chunk: a column
// with more distinct bytes falls back to plain pages, where a dictionary no
// longer saves space and only costs hashing on write and a whole-dictionary
// decode per row group on read (point reads pay it in full).
const dictPageLimit = 64 << 10

// dataPageSize bounds a data page (before compression). A point read
// decodes, in each column it reads, the one page holding its row (found
// through the page index): with the library's default of 1 MiB that was
// the whole 128K-row chunk of an 8-byte column, about 10 ms of CPU and
// 7.5 MB of garbage per read by primary key. 64 KiB pages (8K values of 8
// bytes) make it ~16 times less while full scans pay a page header per
// 64 KiB.
const dataPageSize = 64 << 10

// parquetVersionKey is the Parquet key/value metadata entry that carries the
// segment format version, so that a Parquet file alone can be refused.
const parquetVersionKey = "mantisdb.segment.format_version"

// Writer writes one segment: a Parquet file and its index file. Records are
// appended with Write in sort-key order; Finish makes the files durable and
// visible under their final names and returns the segment's Meta. Until
// Finish returns, only temporary files exist (see ListOrphans). A Writer is
// not safe for concurrent use.
type Writer struct {
	fs     vfs.FS
	dir    string
	id     uint64
	table  *catalog.Table
	schema *arrow.Schema
	opts   WriterOptions

	file vfs.File
	buf  *bufio.Writer
	pw   *pqarrow.FileWriter
	// dec64 holds, per column, the DECIMAL type of columns stored as INT64
	// (see decimal64Key), nil for the others; fileSchema is the schema the
	// Parquet writer sees. dec64 is nil when no column is converted.
	dec64      []arrow.DataType
	fileSchema *arrow.Schema

	rows int64
	// rg holds the records (or slices of them) of the row group being
	// collected, rgRows their rows. A row group is handed to the Parquet
	// writer whole, column by column (flushRowGroup): one column writer per
	// column chunk, pages written straight to the file, and VARCHAR
	// columns of low cardinality as dictionary indices the index pass
	// already computed, so Parquet hashes no string.
	rg     []arrow.RecordBatch
	rgRows int64
	cols   []columnBuilder
	// jobs carries full row groups to the encoder goroutine (see encode),
	// which owns pw until stopEncoder; encDone closes when it has ended,
	// with its error in encErr. encFailed tells the writer early that it
	// failed.
	jobs      chan []*arrow.Chunked
	encDone   chan struct{}
	encErr    error
	encFailed atomic.Bool

	strict bool // the sort key is the primary key: keys are unique

	prev           arrow.RecordBatch // last non-empty record, for VerifyOrder
	keyMin, keyMax []Value
	done           bool
}

// NewWriter starts segment id of table in dir. The caller picks ids unique
// within dir (the manifest hands them out). Records passed to Write must
// have table.Schema() (same names, types and nullability).
func NewWriter(fs vfs.FS, dir string, id uint64, table *catalog.Table, opts *WriterOptions) (*Writer, error) {
	o := opts.withDefaults(table)
	for _, k := range o.SortKey {
		if k < 0 || k >= len(table.Columns) {
			return nil, fmt.Errorf("cannot create segment %d: sort key column %d out of range", id, k)
		}
	}
	w := &Writer{fs: fs, dir: dir, id: id, table: table, schema: table.Schema(), opts: o}
	w.strict = len(o.SortKey) > 0 && sameInts(o.SortKey, table.PrimaryKey)
	w.cols = make([]columnBuilder, len(table.Columns))
	for i, c := range table.Columns {
		b := &w.cols[i]
		b.col.name, b.col.typ, b.kind = c.Name, c.Type, c.Type.Kind
		b.nulls = roaring.New()
		if o.BitmapMaxDistinct > 0 {
			b.values = newDistinctSet(c.Type.Kind, o.BitmapMaxDistinct)
		}
		for _, name := range o.BitmapColumns {
			if equalFold(name, c.Name) {
				b.values = newDistinctSet(c.Type.Kind, math.MaxInt)
			}
		}
		if o.BloomBitsPerKey > 0 {
			for _, name := range o.BloomColumns {
				if equalFold(name, c.Name) {
					b.bloomOn = true
				}
			}
		}
	}

	f, err := fs.Create(fs.PathJoin(dir, tempName(FileName(id))), vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, fmt.Errorf("cannot create segment %d: %w", id, err)
	}
	w.file = f
	w.buf = bufio.NewWriterSize(f, 1<<20)
	w.fileSchema = w.schema
	if types, storage, ok := decimal64Columns(w.schema); ok {
		w.dec64, w.fileSchema = types, storage
	}
	for i := range w.cols {
		if b := &w.cols[i]; b.values != nil && b.kind != catalog.KindVarchar {
			b.dict = trackDictionary(b.values, w.fileSchema.Field(i).Type)
		}
	}
	return w, nil
}

// openParquet starts the Parquet file, when the first row group is
// complete: which columns are dictionary-encoded depends on what their
// value indexes saw by then. VARCHAR columns always are (high-cardinality
// ones fall back to plain pages past dictPageLimit); fixed-width columns
// whose value index kept their row ids (see trackDictionary) are while it
// holds at most BitmapMaxDistinct values, and then get the dictionary
// indices the index already computed; the others are written plain,
// where a dictionary cost hashing every value for files a few percent
// smaller (measured on lineitem-shaped data, BenchmarkWrite). A column
// whose index is dropped after the first row group goes to Parquet's own
// dictionary encoder, which falls back to plain pages past dictPageLimit.
func (w *Writer) openParquet() error {
	props := []parquet.WriterProperty{
		parquet.WithAllocator(w.opts.Allocator),
		parquet.WithCompression(w.opts.Compression.codec()),
		parquet.WithCompressionLevel(zstdLevel),
		parquet.WithMaxRowGroupLength(int64(w.opts.RowGroupSize)),
		parquet.WithStats(true),
		parquet.WithPageIndexEnabled(true),
		parquet.WithDataPageSize(dataPageSize),
		parquet.WithDictionaryDefault(false),
		parquet.WithDictionaryPageSizeLimit(dictPageLimit),
		parquet.WithCreatedBy("mantisdb"),
	}
	for i := range w.cols {
		if b := &w.cols[i]; b.kind == catalog.KindVarchar || b.dict && b.values != nil {
			props = append(props, parquet.WithDictionaryFor(b.col.name, true))
		}
	}
	pw, err := pqarrow.NewFileWriter(w.fileSchema, writerOnly{w.buf}, parquet.NewWriterProperties(props...),
		pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return err
	}
	w.pw = pw
	if err := pw.AppendKeyValueMetadata(parquetVersionKey, strconv.Itoa(FormatVersion)); err != nil {
		return err
	}
	if w.dec64 != nil {
		if err := pw.AppendKeyValueMetadata(decimal64Key, encodeDecimal64(w.dec64)); err != nil {
			return err
		}
	}
	return nil
}

// writerOnly hides the Close of the wrapped writer from the Parquet encoder,
// which would otherwise close the file before it is synced.
type writerOnly struct{ w *bufio.Writer }

func (w writerOnly) Write(p []byte) (int, error) { return w.w.Write(p) }

func sameInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Write appends the rows of rec. The caller keeps ownership of rec. Rows
// must follow the sort key order across all calls; with VerifyOrder a
// violation fails with ErrUnsorted and the Writer must be aborted.
func (w *Writer) Write(rec arrow.RecordBatch) error {
	if w.done {
		return fmt.Errorf("segment %d: write after Finish or Abort", w.id)
	}
	if !rec.Schema().Equal(w.schema) {
		return fmt.Errorf("segment %d: record schema %s does not match table schema %s",
			w.id, rec.Schema(), w.schema)
	}
	n := rec.NumRows()
	if n == 0 {
		return nil
	}
	if w.rows+n > 1<<32-1 {
		return fmt.Errorf("segment %d: more than 2^32-1 rows", w.id)
	}
	if len(w.opts.SortKey) > 0 {
		if w.opts.VerifyOrder {
			if err := w.verifyOrder(rec); err != nil {
				return err
			}
		}
		last := int(n) - 1
		if w.keyMin == nil {
			w.keyMin = w.keyAt(rec, 0)
		}
		w.keyMax = w.keyAt(rec, last)
	}
	base := uint32(w.rows)
	for i := range w.cols {
		b := &w.cols[i]
		col := rec.Column(i)
		if nn := col.NullN(); nn > 0 {
			b.nullCount += int64(nn)
			addNulls(b.nulls, col, base)
		}
		if b.values != nil && !b.values.add(col, base) {
			// Past the threshold: no value index. Its row ids no longer
			// give the zone of the row group: compare the rows so far.
			if idZone(b.values) {
				for _, part := range w.rg {
					b.addZone(minMax(part.Column(i), b.kind))
				}
			}
			b.values = nil
		}
		if b.bloomOn {
			b.addHashes(col)
		}
	}
	// Row groups have RowGroupSize rows: rec is cut at their boundaries.
	rg := int64(w.opts.RowGroupSize)
	for off := int64(0); off < n; {
		take := min(n-off, rg-w.rgRows)
		part := rec
		if off == 0 && take == n {
			rec.Retain()
		} else {
			part = rec.NewSlice(off, off+take)
		}
		w.rg = append(w.rg, part)
		for i := range w.cols {
			b := &w.cols[i]
			col := part.Column(i)
			b.cur.nulls += uint32(col.NullN())
			if !idZone(b.values) {
				b.addZone(minMax(col, b.kind))
			}
		}
		off += take
		w.rgRows += take
		w.rows += take
		if w.rgRows == rg {
			if err := w.flushRowGroup(); err != nil {
				return fmt.Errorf("cannot write segment %d: %w", w.id, err)
			}
		}
	}
	return nil
}

// flushRowGroup hands the collected row group to the encoder goroutine
// and closes its zone maps. The Parquet encoding of a row group (about half
// of a compaction's CPU time) thus runs beside the caller's work on the
// next one: its scan, the index and the zone maps.
func (w *Writer) flushRowGroup() error {
	for i := range w.cols {
		if b := &w.cols[i]; idZone(b.values) {
			b.addZone(b.values.(zoneSource).zoneOf(w.rg, i, int(w.rgRows), b.kind))
		}
	}
	cols := make([]*arrow.Chunked, len(w.cols))
	chunks := make([]arrow.Array, len(w.rg))
	var err error
	for i := range w.cols {
		cols[i], err = w.columnChunk(i, chunks)
		for j, c := range chunks {
			if c != nil {
				c.Release()
				chunks[j] = nil
			}
		}
		if err != nil {
			releaseChunked(cols)
			return err
		}
	}
	for _, r := range w.rg {
		r.Release()
	}
	w.rg = w.rg[:0]
	w.flushZones()
	if w.pw == nil {
		if err := w.openParquet(); err != nil {
			releaseChunked(cols)
			return err
		}
	}
	if w.jobs == nil {
		// Unbuffered: one row group is encoded while the next is
		// collected, no more, so a Writer holds at most two in memory.
		w.jobs, w.encDone = make(chan []*arrow.Chunked), make(chan struct{})
		go w.encode()
	}
	if w.encFailed.Load() {
		releaseChunked(cols)
		return w.stopEncoder()
	}
	w.jobs <- cols
	return nil
}

// encode writes the row groups sent on w.jobs to the Parquet file until
// the channel closes; after a failure it only releases them. It owns w.pw
// until stopEncoder returns.
func (w *Writer) encode() {
	var err error
	for cols := range w.jobs {
		if err == nil {
			if err = w.writeRowGroup(cols); err != nil {
				w.encFailed.Store(true)
			}
		}
		releaseChunked(cols)
	}
	w.encErr = err
	close(w.encDone)
}

func (w *Writer) writeRowGroup(cols []*arrow.Chunked) error {
	if err := w.pw.NewRowGroupChecked(); err != nil {
		return err
	}
	for _, c := range cols {
		if err := w.pw.WriteColumnChunked(c, 0, int64(c.Len())); err != nil {
			return err
		}
	}
	return nil
}

// stopEncoder waits for the encoder goroutine to write the row groups sent
// to it and returns its error. It is idempotent.
func (w *Writer) stopEncoder() error {
	if w.jobs != nil {
		close(w.jobs)
		<-w.encDone
		w.jobs = nil
	}
	return w.encErr
}

func releaseChunked(cols []*arrow.Chunked) {
	for _, c := range cols {
		if c != nil {
			c.Release()
		}
	}
}

// columnChunk returns column i of the collected row group as the Parquet
// writer takes it: VARCHAR as dictionary indices when its value index
// numbered them, DECIMAL as int64 when stored so. chunks is scratch space
// of len(w.rg) that the caller releases.
func (w *Writer) columnChunk(i int, chunks []arrow.Array) (*arrow.Chunked, error) {
	if ds, ok := w.cols[i].values.(dictSource); ok {
		if dict := ds.takeDictionary(w.opts.Allocator, w.rg, i, int(w.rgRows)); dict != nil {
			chunks[0] = dict
			return arrow.NewChunked(dict.DataType(), chunks[:1]), nil
		}
	}
	for j, r := range w.rg {
		col := r.Column(i)
		if w.dec64 != nil && w.dec64[i] != nil {
			a, err := decimalToInt64(w.opts.Allocator, col)
			if err != nil {
				return nil, err
			}
			chunks[j] = a
			continue
		}
		col.Retain()
		chunks[j] = col
	}
	return arrow.NewChunked(w.fileSchema.Field(i).Type, chunks), nil
}

func (w *Writer) keyAt(rec arrow.RecordBatch, row int) []Value {
	k := make([]Value, len(w.opts.SortKey))
	for i, c := range w.opts.SortKey {
		k[i] = ValueAt(rec.Column(c), row)
	}
	return k
}

func (w *Writer) verifyOrder(rec arrow.RecordBatch) error {
	cmp := func(a arrow.RecordBatch, i int, b arrow.RecordBatch, j int) int {
		for _, c := range w.opts.SortKey {
			if r := compareRows(a.Column(c), i, b.Column(c), j); r != 0 {
				return r
			}
		}
		return 0
	}
	bad := func(r int) bool { return r > 0 || (r == 0 && w.strict) }
	if w.prev != nil && bad(cmp(w.prev, int(w.prev.NumRows())-1, rec, 0)) {
		return fmt.Errorf("segment %d: %w at row %d", w.id, ErrUnsorted, w.rows)
	}
	for i := 1; i < int(rec.NumRows()); i++ {
		if bad(cmp(rec, i-1, rec, i)) {
			return fmt.Errorf("segment %d: %w at row %d", w.id, ErrUnsorted, w.rows+int64(i))
		}
	}
	if w.prev != nil {
		w.prev.Release()
	}
	rec.Retain()
	w.prev = rec
	return nil
}

func (b *columnBuilder) addHashes(col arrow.Array) {
	// The filter is sized at Finish, when the row count is known; until then
	// the hashes are kept (8 bytes a row of a bloom column).
	b.hashes = appendHashes(b.hashes, col)
}

// idZone reports whether the value index s (nil: none) numbers every row,
// so that a row group's zone comes from the ids of its rows (zoneOf)
// instead of comparing every value.
func idZone(s distinctSet) bool {
	z, ok := s.(zoneSource)
	return ok && z.keepsIDs()
}

// addZone widens the zone of the current row group by [lo, hi] (nothing
// unless ok).
func (b *columnBuilder) addZone(lo, hi Value, ok bool) {
	if !ok {
		return
	}
	if !b.hasV {
		b.cur.min, b.cur.max, b.hasV = lo, hi, true
		return
	}
	if Compare(lo, b.cur.min) < 0 {
		b.cur.min = lo
	}
	if Compare(hi, b.cur.max) > 0 {
		b.cur.max = hi
	}
}

func (w *Writer) flushZones() {
	for i := range w.cols {
		b := &w.cols[i]
		if !b.hasV {
			b.cur.min, b.cur.max = NullValue(b.kind), NullValue(b.kind)
		}
		b.col.zones = append(b.col.zones, b.cur)
		b.cur, b.hasV = zone{}, false
	}
	w.rgRows = 0
}

// Rows returns the number of rows written so far.
func (w *Writer) Rows() int64 { return w.rows }

// Finish completes the segment: it writes the Parquet footer and the index
// file, syncs both, renames them to their final names and syncs the
// directory. It returns the segment's Meta, which the caller records in the
// manifest; until then the files are orphans (see ListOrphans). On error
// the temporary files are removed. An empty segment (no rows) is an error.
func (w *Writer) Finish() (*Meta, error) {
	if w.done {
		return nil, fmt.Errorf("segment %d: Finish after Finish or Abort", w.id)
	}
	meta, err := w.finish()
	if err != nil {
		w.Abort()
		return nil, fmt.Errorf("cannot finish segment %d: %w", w.id, err)
	}
	return meta, nil
}

func (w *Writer) finish() (*Meta, error) {
	if w.rows == 0 {
		return nil, errors.New("segment has no rows")
	}
	if w.rgRows > 0 {
		if err := w.flushRowGroup(); err != nil {
			return nil, err
		}
	}
	if err := w.stopEncoder(); err != nil {
		return nil, err
	}
	if err := w.pw.Close(); err != nil {
		return nil, err
	}
	if err := w.buf.Flush(); err != nil {
		return nil, err
	}
	if err := w.file.Sync(); err != nil {
		return nil, err
	}
	if err := w.file.Close(); err != nil {
		w.file = nil
		return nil, err
	}
	w.file = nil
	fmeta, err := w.pw.FileMetadata()
	if err != nil {
		return nil, err
	}
	if fmeta.NumRowGroups() != len(w.cols[0].col.zones) {
		return nil, fmt.Errorf("parquet wrote %d row groups, index has %d", fmeta.NumRowGroups(), len(w.cols[0].col.zones))
	}

	m := &Meta{
		FormatVersion: FormatVersion,
		ID:            w.id,
		TableID:       w.table.ID,
		SchemaVersion: w.table.Version,
		Rows:          w.rows,
		RowGroupSize:  int64(w.opts.RowGroupSize),
		RowGroups:     fmeta.NumRowGroups(),
		Compression:   w.opts.Compression,
		KeyMin:        w.keyMin,
		KeyMax:        w.keyMax,
		Columns:       make([]ColumnStats, len(w.cols)),
	}
	for _, k := range w.opts.SortKey {
		m.SortKey = append(m.SortKey, w.table.Columns[k].Name)
	}
	x := &index{rows: w.rows, rowGroupSize: int64(w.opts.RowGroupSize), rowGroups: m.RowGroups,
		cols: make([]columnIndex, len(w.cols))}
	for i := range w.cols {
		b := &w.cols[i]
		cs := &m.Columns[i]
		cs.Name, cs.Type, cs.NullCount, cs.Distinct = b.col.name, b.col.typ, b.nullCount, -1
		cs.Min, cs.Max = NullValue(b.kind), NullValue(b.kind)
		for _, z := range b.col.zones {
			if z.min.Null {
				continue
			}
			if cs.Min.Null || Compare(z.min, cs.Min) < 0 {
				cs.Min = z.min
			}
			if cs.Max.Null || Compare(z.max, cs.Max) > 0 {
				cs.Max = z.max
			}
		}
		for rg := 0; rg < fmeta.NumRowGroups(); rg++ {
			if cc, err := fmeta.RowGroup(rg).ColumnChunk(i); err == nil {
				cs.Bytes += cc.TotalCompressedSize()
			}
		}
		if b.nullCount > 0 {
			b.nulls.RunOptimize()
			b.col.nulls = b.nulls
		}
		if b.values != nil {
			b.col.indexed = true
			b.col.keys, b.col.bitmaps = b.values.finish(b.kind)
			cs.Distinct, cs.Bitmap = int64(len(b.col.keys)), true
		} else if b.bloomOn && len(b.hashes) > 0 {
			bf := newBloom(len(b.hashes), w.opts.BloomBitsPerKey)
			for _, h := range b.hashes {
				bf.add(h)
			}
			b.col.bloom, cs.Bloom = bf, true
		}
		b.hashes = nil
		x.cols[i] = b.col
	}

	raw := x.encode()
	m.IndexSize = int64(len(raw))
	m.IndexCRC = crc32Of(raw)
	if err := writeFileSync(w.fs, w.fs.PathJoin(w.dir, tempName(IndexFileName(w.id))), raw); err != nil {
		return nil, err
	}
	st, err := w.fs.Stat(w.fs.PathJoin(w.dir, tempName(FileName(w.id))))
	if err != nil {
		return nil, err
	}
	m.FileSize = st.Size()
	// The index goes first: a segment is only complete once its Parquet
	// file has its final name, and ListOrphans treats a final Parquet file
	// without its index as an orphan.
	for _, name := range []string{IndexFileName(w.id), FileName(w.id)} {
		if err := w.fs.Rename(w.fs.PathJoin(w.dir, tempName(name)), w.fs.PathJoin(w.dir, name)); err != nil {
			return nil, err
		}
	}
	if err := syncDir(w.fs, w.dir); err != nil {
		return nil, err
	}
	w.done = true
	w.release()
	return m, nil
}

// Abort discards the segment: it closes and removes the temporary files.
// It is idempotent and safe after a failed Finish; after a successful
// Finish it does nothing (the files belong to the caller then).
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	_ = w.stopEncoder()
	if w.pw != nil {
		// Close flushes a footer into the (discarded) buffer; ignore errors.
		_ = w.pw.Close()
	}
	w.abortFiles()
	w.release()
}

func (w *Writer) abortFiles() {
	if w.file != nil {
		_ = w.file.Close()
		w.file = nil
	}
	_ = w.fs.Remove(w.fs.PathJoin(w.dir, tempName(FileName(w.id))))
	_ = w.fs.Remove(w.fs.PathJoin(w.dir, tempName(IndexFileName(w.id))))
	// A Finish that failed after its renames leaves final names behind; the
	// caller never got the Meta, so they are ours to remove.
	_ = w.fs.Remove(w.fs.PathJoin(w.dir, FileName(w.id)))
	_ = w.fs.Remove(w.fs.PathJoin(w.dir, IndexFileName(w.id)))
}

func (w *Writer) release() {
	for _, r := range w.rg {
		r.Release()
	}
	w.rg = nil
	if w.prev != nil {
		w.prev.Release()
		w.prev = nil
	}
	for i := range w.cols {
		w.cols[i].values, w.cols[i].hashes = nil, nil
	}
}
