package segments

import (
	"errors"
	"fmt"
	"io"
	"math"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
)

// The direct decoder: dense scans of the column types MantisDB writes
// (INT32, INT64, FLOAT, DOUBLE and BYTE_ARRAY, flat, required or optional)
// decode each column chunk with parquet's typed column readers straight
// into Arrow buffers of exactly the batch's size, instead of through
// pqarrow's record reader and Arrow builders. Strings are the reason:
// pqarrow appends each value to a BinaryBuilder (per-value bookkeeping and
// a data buffer that grows by doubling); here the values of a page (slices
// of the dictionary or of the decompressed page) are copied into one data
// buffer and their offsets written in one loop. Other types (BOOLEAN,
// SMALLINT, TIMESTAMP, wide DECIMAL) use pqarrow. Sparse scans (point
// reads) seek every column through the page index (rgDecoder.seek) and
// decode small batches from there.

// directKind is how the direct decoder reads a column, or directNone.
type directKind uint8

const (
	directNone directKind = iota
	directInt32
	directInt64
	directFloat32
	directFloat64
	directBytes
	// directDecimal64 reads a DECIMAL column stored as INT64 and widens it
	// to DECIMAL128 in the same pass.
	directDecimal64
)

// directKindOf returns how the direct decoder reads file column fc whose
// Arrow type (in the segment's schema) is dt.
func (r *Reader) directKindOf(fc int, dt arrow.DataType) directKind {
	col := r.pmeta.Schema.Column(fc)
	if col.MaxRepetitionLevel() != 0 || col.MaxDefinitionLevel() > 1 {
		return directNone
	}
	pt := col.PhysicalType()
	if r.dec64 != nil && r.dec64[fc] != nil {
		if pt == parquet.Types.Int64 {
			return directDecimal64
		}
		return directNone
	}
	switch dt.ID() {
	case arrow.INT32, arrow.DATE32:
		if pt == parquet.Types.Int32 {
			return directInt32
		}
	case arrow.INT64:
		if pt == parquet.Types.Int64 {
			return directInt64
		}
	case arrow.FLOAT32:
		if pt == parquet.Types.Float {
			return directFloat32
		}
	case arrow.FLOAT64:
		if pt == parquet.Types.Double {
			return directFloat64
		}
	case arrow.STRING, arrow.BINARY:
		if pt == parquet.Types.ByteArray {
			return directBytes
		}
	}
	return directNone
}

// rgDecoder decodes the selected columns of a segment's row groups batch
// by batch, one row group at a time; its scratch space lives from one row
// group to the next. It is not safe for concurrent use.
type rgDecoder struct {
	mem memory.Allocator
	// data allocates the buffers the decoder writes whole: values,
	// offsets and string data (ScanOptions.DataAllocator).
	data   memory.Allocator
	schema *arrow.Schema // the decoded columns (DECIMALs still INT64)
	cols   []colDecoder
	left   int64 // rows of the row group not yet decoded
	// filters are the key filters of a dense scan (keyfilter.go,
	// nextFiltered); sel is their scratch space.
	filters []*decFilter
	sel     []int32
}

// colDecoder is the state of one column chunk.
type colDecoder struct {
	kind   directKind
	dt     arrow.DataType
	cr     file.ColumnChunkReader
	maxDef int16
	// defs, vals and ints are scratch space reused across batches.
	defs []int16
	vals []parquet.ByteArray
	ints []int64
	raw  []byte // scratch of decodeFixedSelected
	// dataHint is the size of the previous batch's string data, the first
	// guess for the next one.
	dataHint int
	// pages, when not nil, decodes a string column of a dense scan
	// instead of cr (decodebytes.go).
	pages *bytesPages
}

// newRGDecoder returns a decoder of file columns fileCols; kinds gives
// each one's directKind and schema their decoded types. data allocates the
// buffers the decoder writes whole (values, offsets, string data) and may
// return uncleared memory; mem allocates the others.
func newRGDecoder(kinds []directKind, schema *arrow.Schema, mem, data memory.Allocator) *rgDecoder {
	d := &rgDecoder{mem: mem, data: data, schema: schema, cols: make([]colDecoder, len(kinds))}
	for i, k := range kinds {
		d.cols[i] = colDecoder{kind: k, dt: schema.Field(i).Type}
	}
	return d
}

// open prepares the decoding of row group rg of pr, after the previous
// row group was released. Decoders opened with dense read the row group
// from its first row to its last: they cannot seek, and string columns are
// decoded page by page (bytesPages).
func (d *rgDecoder) open(pr *file.Reader, rg int, fileCols []int, dense bool) error {
	rgr := pr.RowGroup(rg)
	d.left = rgr.NumRows()
	for i, fc := range fileCols {
		c := &d.cols[i]
		if dense && c.kind == directBytes {
			pages, err := rgr.GetColumnPageReader(fc)
			if err != nil {
				d.release()
				return err
			}
			c.pages = newBytesPages(pages, pr.MetaData().Schema.Column(fc).MaxDefinitionLevel())
			continue
		}
		cr, err := rgr.Column(fc)
		if err != nil {
			d.release()
			return err
		}
		c.cr, c.maxDef = cr, cr.Descriptor().MaxDefinitionLevel()
	}
	return nil
}

// seek positions every column of the open row group (of rows rows) at
// row pos, through the page index: the next batch starts there.
func (d *rgDecoder) seek(pos, rows int64) error {
	for i := range d.cols {
		if d.cols[i].pages != nil {
			return errors.New("segments: seek in a dense scan")
		}
		if err := d.cols[i].cr.SeekToRow(pos); err != nil {
			return fmt.Errorf("column %s: %w", d.schema.Field(i).Name, err)
		}
	}
	d.left = rows - pos
	return nil
}

// release closes the column chunk readers of the current row group. It is
// idempotent.
func (d *rgDecoder) release() {
	for i := range d.cols {
		if c, ok := d.cols[i].cr.(io.Closer); ok {
			_ = c.Close()
		}
		if d.cols[i].pages != nil {
			_ = d.cols[i].pages.close()
		}
		d.cols[i].cr, d.cols[i].pages = nil, nil
	}
	d.left = 0
}

// next decodes the next batch of at most n rows; nil at the end of the row
// group. The caller owns the batch.
func (d *rgDecoder) next(n int) (arrow.RecordBatch, error) {
	n = int(min(int64(n), d.left))
	if n == 0 {
		return nil, nil
	}
	cols := make([]arrow.Array, len(d.cols))
	for i := range d.cols {
		a, err := d.cols[i].decode(d.mem, d.data, n)
		if err != nil {
			for _, c := range cols[:i] {
				c.Release()
			}
			return nil, fmt.Errorf("column %s: %w", d.schema.Field(i).Name, err)
		}
		cols[i] = a
	}
	d.left -= int64(n)
	rec := array.NewRecordBatch(d.schema, cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	return rec, nil
}

// errShortColumn reports a column chunk with fewer values than its row
// group has rows.
var errShortColumn = errors.New("column chunk ends before its row group")

// decode reads the next n values. Buffers that it writes whole (values,
// offsets, string data) come from data, which may return memory that is
// not cleared: every byte of them that the array exposes is written here,
// NULL slots included. Validity bitmaps come from mem.
func (c *colDecoder) decode(mem, data memory.Allocator, n int) (arrow.Array, error) {
	var defs []int16
	if c.maxDef > 0 {
		if cap(c.defs) < n {
			c.defs = make([]int16, n)
		}
		defs = c.defs[:n]
	}
	switch c.kind {
	case directInt32:
		return decodeFixed[int32](mem, data, c.dt, c.cr.(*file.Int32ColumnChunkReader), n, defs)
	case directInt64:
		return decodeFixed[int64](mem, data, c.dt, c.cr.(*file.Int64ColumnChunkReader), n, defs)
	case directFloat32:
		return decodeFixed[float32](mem, data, c.dt, c.cr.(*file.Float32ColumnChunkReader), n, defs)
	case directFloat64:
		return decodeFixed[float64](mem, data, c.dt, c.cr.(*file.Float64ColumnChunkReader), n, defs)
	case directBytes:
		if c.pages != nil {
			a, size, err := c.pages.decode(mem, data, c.dt, n, c.dataHint)
			c.dataHint = size + size/8
			return a, err
		}
		return c.decodeBytes(mem, data, n, defs)
	case directDecimal64:
		return c.decodeDecimal64(mem, data, n, defs)
	}
	return nil, fmt.Errorf("segments: no direct decoder for %s", c.dt)
}

// decodeDecimal64 reads n values of a DECIMAL column stored as INT64 into
// scratch space and widens them into a DECIMAL128 buffer.
func (c *colDecoder) decodeDecimal64(mem, dataMem memory.Allocator, n int, defs []int16) (arrow.Array, error) {
	if cap(c.ints) < n {
		c.ints = make([]int64, n)
	}
	ints := c.ints[:n]
	valid, nulls, err := readFixed(mem, c.cr.(*file.Int64ColumnChunkReader), ints, defs)
	if err != nil {
		return nil, err
	}
	if valid != nil {
		defer valid.Release()
	}
	data := memory.NewResizableBuffer(dataMem)
	defer data.Release()
	data.Resize(n * arrow.Decimal128SizeBytes)
	dst := arrow.Decimal128Traits.CastFromBytes(data.Bytes())[:n]
	for i, v := range ints {
		dst[i] = decimal128.New(v>>63, uint64(v))
	}
	d := array.NewData(c.dt, n, []*memory.Buffer{valid, data}, nil, nulls, 0)
	defer d.Release()
	return array.MakeFromData(d), nil
}

// pageReader is what the typed column chunk readers of parquet/file have
// in common: reading values of the current page only.
type pageReader[T any] interface {
	ReadBatchInPage(batchSize int64, values []T, defLvls, repLvls []int16) (total int64, valuesRead int, err error)
}

type fixedWidth interface {
	int32 | int64 | float32 | float64
}

// decodeFixed reads n values of a fixed-width column into one buffer of
// dataMem (readFixed writes every value, NULLs as zero). defs is nil for a
// required column, else scratch space for n levels.
func decodeFixed[T fixedWidth](mem, dataMem memory.Allocator, dt arrow.DataType, cr pageReader[T], n int, defs []int16) (arrow.Array, error) {
	var zero T
	data := memory.NewResizableBuffer(dataMem)
	defer data.Release()
	data.Resize(n * int(unsafe.Sizeof(zero)))
	valid, nulls, err := readFixed(mem, cr, arrow.GetData[T](data.Bytes())[:n], defs)
	if err != nil {
		return nil, err
	}
	if valid != nil {
		defer valid.Release()
	}
	d := array.NewData(dt, n, []*memory.Buffer{valid, data}, nil, nulls, 0)
	defer d.Release()
	return array.MakeFromData(d), nil
}

// readFixed reads len(vals) values into vals, NULLs as zero values, and
// returns the validity bitmap (nil without NULLs; the caller releases it)
// and the number of NULLs. defs is nil for a required column, else
// scratch space for len(vals) levels.
func readFixed[T fixedWidth](mem memory.Allocator, cr pageReader[T], vals []T, defs []int16) (valid *memory.Buffer, nulls int, err error) {
	var zero T
	n := len(vals)
	levels, values := 0, 0
	for levels < n {
		var lv []int16
		if defs != nil {
			lv = defs[levels:]
		}
		l, v, err := cr.ReadBatchInPage(int64(n-levels), vals[values:], lv, nil)
		if err != nil {
			return nil, 0, err
		}
		if l == 0 && v == 0 {
			return nil, 0, errShortColumn
		}
		levels += max(int(l), v)
		values += v
	}
	if defs != nil && values < n {
		valid = memory.NewResizableBuffer(mem)
		valid.Resize(int(bitutil.BytesForBits(int64(n))))
		bits := valid.Bytes()
		clear(bits)
		// Spread the dense values to their rows, from the back, so that
		// no value is overwritten before it moved (j <= i throughout).
		j := values - 1
		for i := n - 1; i >= 0; i-- {
			if defs[i] > 0 {
				vals[i] = vals[j]
				j--
				bitutil.SetBit(bits, i)
			} else {
				vals[i] = zero
			}
		}
		nulls = n - values
	}
	return valid, nulls, nil
}

// decodeBytes reads n values of a BYTE_ARRAY column into an Arrow string
// (or binary) array: offsets and one data buffer. The values of a page are
// slices of the page or its dictionary, valid until the next page is read,
// so each page's values are copied before the next read.
func (c *colDecoder) decodeBytes(mem, dataMem memory.Allocator, n int, defs []int16) (arrow.Array, error) {
	cr := c.cr.(*file.ByteArrayColumnChunkReader)
	if cap(c.vals) < n {
		c.vals = make([]parquet.ByteArray, n)
	}
	offBuf := memory.NewResizableBuffer(dataMem)
	defer offBuf.Release()
	offBuf.Resize((n + 1) * arrow.Int32SizeBytes)
	offsets := arrow.Int32Traits.CastFromBytes(offBuf.Bytes())[:n+1]
	data := memory.NewResizableBuffer(dataMem)
	defer data.Release()
	data.Reserve(c.dataHint)
	var valid *memory.Buffer
	var bits []byte
	size, levels, nulls := 0, 0, 0
	offsets[0] = 0
	for levels < n {
		var lv []int16
		if defs != nil {
			lv = defs[levels:]
		}
		l, v, err := cr.ReadBatchInPage(int64(n-levels), c.vals[:n-levels], lv, nil)
		if err != nil {
			return nil, err
		}
		if l == 0 && v == 0 {
			return nil, errShortColumn
		}
		vals := c.vals[:v]
		add := 0
		for _, b := range vals {
			add += len(b)
		}
		if size+add > math.MaxInt32 {
			return nil, fmt.Errorf("segments: %d bytes of strings in one batch, more than a string array holds", size+add)
		}
		if want := size + add; want > data.Cap() {
			data.Reserve(max(want, 2*data.Cap()))
		}
		buf := data.Buf()
		rows := max(int(l), v)
		if defs == nil || v == rows {
			for i, b := range vals {
				size += copy(buf[size:], b)
				offsets[levels+i+1] = int32(size)
			}
		} else {
			if valid == nil {
				// Rows before this page were all valid.
				valid = newValidity(mem, n, levels)
				defer valid.Release()
				bits = valid.Bytes()
			}
			j := 0
			for i := 0; i < rows; i++ {
				if lv[i] > 0 {
					size += copy(buf[size:], vals[j])
					j++
					bitutil.SetBit(bits, levels+i)
				} else {
					nulls++
				}
				offsets[levels+i+1] = int32(size)
			}
		}
		if bits != nil && (defs == nil || v == rows) {
			bitutil.SetBitsTo(bits, int64(levels), int64(rows), true)
		}
		levels += rows
	}
	data.ResizeNoShrink(size)
	c.dataHint = size + size/8
	d := array.NewData(c.dt, n, []*memory.Buffer{valid, offBuf, data}, nil, nulls, 0)
	defer d.Release()
	return array.MakeFromData(d), nil
}

// newValidity returns a validity bitmap of n rows, cleared but for its
// first valid rows: those a column decoded before its first NULL.
func newValidity(mem memory.Allocator, n, valid int) *memory.Buffer {
	b := memory.NewResizableBuffer(mem)
	b.Resize(int(bitutil.BytesForBits(int64(n))))
	bits := b.Bytes()
	clear(bits)
	bitutil.SetBitsTo(bits, 0, int64(valid), true)
	return b
}
