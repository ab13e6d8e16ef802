package oltp

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb/catalog"
)

// This file holds the column stream of body format 3: a batch's columns
// one after the other, integers (and decimals that fit in 64 bits, and the
// lengths of strings) narrowed to the fewest bytes that hold their range.
// Narrowing costs a pass over the values but leaves S2 (and the WAL, the
// memtable and Pebble's flush after it) much less to do: a 100K-row
// lineitem batch is 17.8 MB of Arrow data, its IPC stream compresses to
// 7.2 MB, its column stream is 7.8 MB and compresses to 3.5 MB (see
// docs/design/batch.md, Numbers).
//
// The column stream:
//
//	uvarint  row count n
//	uvarint  column count
//	per column:
//	  byte   catalog.Kind of the column
//	  byte   1 if a validity bitmap follows, else 0
//	  [(n+7)/8 bytes: the validity bitmap, bit i = row i]
//	  the values, by kind:
//	  SMALLINT, INT, BIGINT, DATE, TIMESTAMP: packed ints (below)
//	  DECIMAL: byte 0 and packed ints when every value fits in 64 bits,
//	           else byte 1 and n 16-byte little-endian values
//	  REAL, DOUBLE: n 4- or 8-byte little-endian values
//	  BOOLEAN: (n+7)/8 bytes, bit i = row i
//	  VARCHAR: the n lengths as packed ints, uvarint total length, the
//	           bytes of the values
//
// Packed ints: uvarint base (zigzag), byte width w (0 to 8), then n values
// of w bytes, little-endian, each the value minus base. The values of NULL
// rows are whatever the Arrow array held.

// Decimal encodings of the column stream.
const (
	decPacked byte = 0
	decPlain  byte = 1
)

// columnsBound is an upper bound of the column stream of rec, plus room
// for the 8-byte stores of the packers.
func columnsBound(rec arrow.RecordBatch) int {
	n := int(rec.NumRows())
	size := 2*binary.MaxVarintLen64 + 8
	for _, c := range rec.Columns() {
		size += 2 + (n+7)/8 + 2*binary.MaxVarintLen64 + 2
		switch c := c.(type) {
		case *array.Decimal128:
			size += 16 * n
		case *array.String:
			size += 4*n + len(c.ValueBytes())
		case *array.Boolean:
			size += (n + 7) / 8
		default:
			size += 8 * n
		}
	}
	return size
}

// appendColumns appends the column stream of rec (columns of the types
// catalog.Type.ArrowType gives) to dst, which must have capacity for
// columnsBound(rec) more bytes.
func appendColumns(dst []byte, rec arrow.RecordBatch) ([]byte, error) {
	n := int(rec.NumRows())
	dst = binary.AppendUvarint(dst, uint64(n))
	dst = binary.AppendUvarint(dst, uint64(rec.NumCols()))
	for _, col := range rec.Columns() {
		kind, ok := columnKind(col)
		if !ok {
			return dst, fmt.Errorf("cannot encode batch entry: unsupported column type %s", col.DataType())
		}
		dst = append(dst, byte(kind))
		off := col.Data().Offset()
		if col.NullN() > 0 {
			dst = append(dst, 1)
			dst = appendBitmap(dst, col.NullBitmapBytes(), off, n)
		} else {
			dst = append(dst, 0)
		}
		switch c := col.(type) {
		case *array.Int16:
			dst = appendPacked(dst, c.Int16Values(), 1)
		case *array.Int32:
			dst = appendPacked(dst, c.Int32Values(), 1)
		case *array.Int64:
			dst = appendPacked(dst, c.Int64Values(), 1)
		case *array.Date32:
			dst = appendPacked(dst, unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(c.Date32Values()))), n), 1)
		case *array.Timestamp:
			dst = appendPacked(dst, unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(c.TimestampValues()))), n), 1)
		case *array.Decimal128:
			vals := c.Values()
			words := unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(vals))), 2*n)
			if fitsInt64(words) {
				dst = append(dst, decPacked)
				dst = appendPacked(dst, words, 2)
			} else {
				dst = append(dst, decPlain)
				dst = append(dst, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(vals))), 16*n)...)
			}
		case *array.Float32:
			dst = append(dst, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(c.Float32Values()))), 4*n)...)
		case *array.Float64:
			dst = append(dst, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(c.Float64Values()))), 8*n)...)
		case *array.Boolean:
			dst = appendBitmap(dst, c.Data().Buffers()[1].Bytes(), off, n)
		case *array.String:
			dst = appendLengths(dst, c.ValueOffsets())
			data := c.ValueBytes()
			dst = binary.AppendUvarint(dst, uint64(len(data)))
			dst = append(dst, data...)
		}
	}
	return dst, nil
}

// columnKind returns the catalog kind whose Arrow type col has.
func columnKind(col arrow.Array) (catalog.Kind, bool) {
	switch col.(type) {
	case *array.Int16:
		return catalog.KindSmallint, true
	case *array.Int32:
		return catalog.KindInt, true
	case *array.Int64:
		return catalog.KindBigint, true
	case *array.Date32:
		return catalog.KindDate, true
	case *array.Timestamp:
		return catalog.KindTimestamp, true
	case *array.Decimal128:
		return catalog.KindDecimal, true
	case *array.Float32:
		return catalog.KindReal, true
	case *array.Float64:
		return catalog.KindDouble, true
	case *array.Boolean:
		return catalog.KindBoolean, true
	case *array.String:
		return catalog.KindVarchar, true
	}
	return catalog.KindInvalid, false
}

// appendBitmap appends the n bits of bm from bit off, from bit 0 on.
func appendBitmap(dst, bm []byte, off, n int) []byte {
	nb := (n + 7) / 8
	if off%8 == 0 {
		return append(dst, bm[off/8:off/8+nb]...)
	}
	start := len(dst)
	dst = dst[:start+nb]
	bitutil.CopyBitmap(bm, off, n, dst[start:], 0)
	return dst
}

// fitsInt64 reports whether every decimal of words (low and high word of
// each, alternating) is the sign extension of its low word.
func fitsInt64(words []int64) bool {
	for i := 0; i+1 < len(words); i += 2 {
		if words[i+1] != words[i]>>63 {
			return false
		}
	}
	return true
}

// packWidth is the bytes needed for values up to span.
func packWidth(span uint64) int { return (bits.Len64(span) + 7) / 8 }

func zigzag(v int64) uint64   { return uint64(v<<1) ^ uint64(v>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// appendPacked appends the packed ints vals[0], vals[stride], ... to dst,
// whose capacity has room for them and 8 bytes more.
func appendPacked[T int16 | int32 | int64](dst []byte, vals []T, stride int) []byte {
	n := len(vals) / stride
	var lo, hi int64
	if n > 0 {
		lo, hi = int64(vals[0]), int64(vals[0])
	}
	for i := 0; i < n; i++ {
		v := int64(vals[i*stride])
		lo, hi = min(lo, v), max(hi, v)
	}
	w := packWidth(uint64(hi) - uint64(lo))
	dst = binary.AppendUvarint(dst, zigzag(lo))
	dst = append(dst, byte(w))
	start := len(dst)
	out := dst[start : start+n*w+8]
	base := uint64(lo)
	switch w {
	case 0:
	case 1:
		for i := 0; i < n; i++ {
			out[i] = byte(uint64(vals[i*stride]) - base)
		}
	case 2:
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint16(out[2*i:], uint16(uint64(vals[i*stride])-base))
		}
	case 4:
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint32(out[4*i:], uint32(uint64(vals[i*stride])-base))
		}
	default:
		// Each 8-byte store spills into the next value's bytes, which
		// the next store overwrites; the last one into the slack.
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint64(out[w*i:], uint64(vals[i*stride])-base)
		}
	}
	return dst[:start+n*w]
}

// appendLengths appends the lengths of the n values of offs (n+1 offsets)
// as packed ints.
func appendLengths(dst []byte, offs []int32) []byte {
	n := len(offs) - 1
	var lo, hi int32
	if n > 0 {
		lo, hi = offs[1]-offs[0], offs[1]-offs[0]
	}
	for i := 0; i < n; i++ {
		l := offs[i+1] - offs[i]
		lo, hi = min(lo, l), max(hi, l)
	}
	w := packWidth(uint64(hi - lo))
	dst = binary.AppendUvarint(dst, zigzag(int64(lo)))
	dst = append(dst, byte(w))
	start := len(dst)
	out := dst[start : start+n*w+8]
	switch w {
	case 0:
	case 1:
		for i := 0; i < n; i++ {
			out[i] = byte(offs[i+1] - offs[i] - lo)
		}
	default:
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint32(out[w*i:], uint32(offs[i+1]-offs[i]-lo))
		}
	}
	return dst[:start+n*w]
}

// packedInts is a run of packed ints read from a column stream.
type packedInts struct {
	base int64
	w    int
	b    []byte // n*w bytes
}

// at returns value i, byte by byte.
func (p *packedInts) at(i int) uint64 {
	b := p.b[i*p.w : (i+1)*p.w]
	var v uint64
	for j := len(b) - 1; j >= 0; j-- {
		v = v<<8 | uint64(b[j])
	}
	return v
}

// unpack stores the n values of p, plus base, into dst[0], dst[stride],
// ...; values wider than T are truncated (the caller checked the range).
func unpack[T int16 | int32 | int64](p *packedInts, dst []T, stride, n int) {
	base := uint64(p.base)
	switch p.w {
	case 0:
		for i := 0; i < n; i++ {
			dst[i*stride] = T(base)
		}
	case 1:
		for i := 0; i < n; i++ {
			dst[i*stride] = T(base + uint64(p.b[i]))
		}
	case 2:
		for i := 0; i < n; i++ {
			dst[i*stride] = T(base + uint64(binary.LittleEndian.Uint16(p.b[2*i:])))
		}
	case 4:
		for i := 0; i < n; i++ {
			dst[i*stride] = T(base + uint64(binary.LittleEndian.Uint32(p.b[4*i:])))
		}
	case 8:
		for i := 0; i < n; i++ {
			dst[i*stride] = T(base + binary.LittleEndian.Uint64(p.b[8*i:]))
		}
	default:
		// Whole 8-byte loads while they stay inside p.b, then the tail.
		mask := uint64(1)<<(8*p.w) - 1
		fast := 0
		if len(p.b) >= 8 {
			fast = min(n, (len(p.b)-8)/p.w+1)
		}
		for i := 0; i < fast; i++ {
			dst[i*stride] = T(base + binary.LittleEndian.Uint64(p.b[p.w*i:])&mask)
		}
		for i := fast; i < n; i++ {
			dst[i*stride] = T(base + p.at(i))
		}
	}
}

// colCursor reads a column stream, failing with ErrCorruption.
type colCursor struct {
	cursor
	id uint64 // the batch entry, for errors
}

func (c *colCursor) bad(what string) error {
	return fmt.Errorf("bad body of batch entry %d: %s: %w", c.id, what, ErrCorruption)
}

// packed reads n packed ints. Values wider than the column's type are
// not refused here: they are truncated on unpack (corrupt data, which
// still cannot make the decoder fail or overrun; VARCHAR lengths are
// checked where they become offsets).
func (c *colCursor) packed(n int) (packedInts, error) {
	zb, ok := c.uvarint()
	wb, ok2 := c.take(1)
	if !ok || !ok2 || wb[0] > 8 {
		return packedInts{}, c.bad("packed header")
	}
	p := packedInts{base: unzigzag(zb), w: int(wb[0])}
	b, ok := c.take(uint64(n) * uint64(p.w))
	if !ok {
		return packedInts{}, c.bad("packed values")
	}
	p.b = b
	return p, nil
}

// decodeColumns decodes the column stream s of batch entry m of t into a
// batch of the columns it holds (a prefix of t's). The result's buffers
// are allocated from mem, not from s; the caller releases it.
func decodeColumns(mem memory.Allocator, t *catalog.Table, m *batchMeta, s []byte) (arrow.RecordBatch, error) {
	c := colCursor{cursor: cursor{b: s}, id: m.id}
	rows, ok := c.uvarint()
	ncols, ok2 := c.uvarint()
	if !ok || !ok2 {
		return nil, c.bad("column stream header")
	}
	if int(rows) != m.rows || rows > 1<<31 || ncols > uint64(len(t.Columns)) {
		return nil, fmt.Errorf("batch entry %d holds %d rows of %d columns, its header says %d rows: %w",
			m.id, rows, ncols, m.rows, ErrCorruption)
	}
	n := int(rows)
	cols := make([]arrow.Array, 0, ncols)
	release := func() {
		for _, a := range cols {
			a.Release()
		}
	}
	fields := make([]arrow.Field, ncols)
	for i := range fields {
		fields[i] = t.Schema().Field(i)
		a, err := decodeColumn(mem, &c, t.Columns[i].Type, n)
		if err != nil {
			release()
			return nil, err
		}
		cols = append(cols, a)
	}
	if len(c.rest()) != 0 {
		release()
		return nil, c.bad("trailing bytes")
	}
	rec := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(n))
	release()
	return rec, nil
}

// decodeColumn decodes the next column of c, of type typ and n rows.
func decodeColumn(mem memory.Allocator, c *colCursor, typ catalog.Type, n int) (arrow.Array, error) {
	hdr, ok := c.take(2)
	if !ok {
		return nil, c.bad("column header")
	}
	if catalog.Kind(hdr[0]) != typ.Kind {
		return nil, c.bad(fmt.Sprintf("column of kind %d where the table has %s", hdr[0], typ))
	}
	nb := (n + 7) / 8
	var (
		bufs  = make([]*memory.Buffer, 2, 3)
		nulls int
	)
	defer func() {
		for _, b := range bufs {
			if b != nil {
				b.Release()
			}
		}
	}()
	if hdr[1] > 1 {
		return nil, c.bad("validity flag")
	}
	if hdr[1] == 1 {
		bm, ok := c.take(uint64(nb))
		if !ok {
			return nil, c.bad("validity bitmap")
		}
		bufs[0] = memory.NewResizableBuffer(mem)
		bufs[0].Resize(nb)
		copy(bufs[0].Bytes(), bm)
		nulls = n - bitutil.CountSetBits(bm, 0, n)
	}
	values := func(size int) []byte {
		bufs[1] = memory.NewResizableBuffer(mem)
		bufs[1].Resize(size)
		return bufs[1].Bytes()
	}
	fixed := func(size int) error {
		b, ok := c.take(uint64(n) * uint64(size))
		if !ok {
			return c.bad("values")
		}
		copy(values(n*size), b)
		return nil
	}
	switch typ.Kind {
	case catalog.KindSmallint:
		p, err := c.packed(n)
		if err != nil {
			return nil, err
		}
		unpack(&p, arrow.Int16Traits.CastFromBytes(values(2*n)), 1, n)
	case catalog.KindInt, catalog.KindDate:
		p, err := c.packed(n)
		if err != nil {
			return nil, err
		}
		unpack(&p, arrow.Int32Traits.CastFromBytes(values(4*n)), 1, n)
	case catalog.KindBigint, catalog.KindTimestamp:
		p, err := c.packed(n)
		if err != nil {
			return nil, err
		}
		unpack(&p, arrow.Int64Traits.CastFromBytes(values(8*n)), 1, n)
	case catalog.KindDecimal:
		enc, ok := c.take(1)
		if !ok || enc[0] > decPlain {
			return nil, c.bad("decimal encoding")
		}
		if enc[0] == decPlain {
			if err := fixed(16); err != nil {
				return nil, err
			}
			break
		}
		p, err := c.packed(n)
		if err != nil {
			return nil, err
		}
		words := arrow.Int64Traits.CastFromBytes(values(16 * n))
		unpack(&p, words, 2, n)
		for i := 0; i < n; i++ {
			words[2*i+1] = words[2*i] >> 63
		}
	case catalog.KindReal:
		if err := fixed(4); err != nil {
			return nil, err
		}
	case catalog.KindDouble:
		if err := fixed(8); err != nil {
			return nil, err
		}
	case catalog.KindBoolean:
		b, ok := c.take(uint64(nb))
		if !ok {
			return nil, c.bad("values")
		}
		copy(values(nb), b)
	case catalog.KindVarchar:
		p, err := c.packed(n)
		if err != nil {
			return nil, err
		}
		total, ok := c.uvarint()
		if !ok || total > 1<<31-1 {
			return nil, c.bad("string length")
		}
		data, ok := c.take(total)
		if !ok {
			return nil, c.bad("string values")
		}
		offs := arrow.Int32Traits.CastFromBytes(values(4 * (n + 1)))
		unpack(&p, offs[1:], 1, n)
		// Offsets from lengths, each checked: the sum stays within
		// the data's length, so no offset overruns it.
		var sum int64
		offs[0] = 0
		for i := 1; i <= n; i++ {
			sum += int64(offs[i])
			if offs[i] < 0 || sum > int64(total) {
				return nil, c.bad("string lengths")
			}
			offs[i] = int32(sum)
		}
		if sum != int64(total) {
			return nil, c.bad("string lengths")
		}
		db := memory.NewResizableBuffer(mem)
		db.Resize(len(data))
		copy(db.Bytes(), data)
		bufs = append(bufs, db)
	default:
		return nil, c.bad(fmt.Sprintf("column type %s", typ))
	}
	data := array.NewData(typ.ArrowType(), n, bufs, nil, nulls, 0)
	defer data.Release()
	return array.MakeFromData(data), nil
}
