package oltp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb/catalog"
)

// Row value format versions (the first byte of every row value). V1 values
// carry no writer stamp; V2 values, written by this version, carry the id of
// the transaction that wrote them right after the version byte, so that two
// versions of a row never have equal bytes (see doc.go, "Conflicts").
const (
	rowFormatV1  byte = 1
	rowFormatV2  byte = 2
	rowFormatMax      = rowFormatV2
)

// ErrCorruption marks data read from storage that cannot be decoded.
var ErrCorruption = errors.New("oltp: corrupt data")

// fixedWidth returns the encoded width of a fixed-width kind, or 0 for
// VARCHAR.
func fixedWidth(k catalog.Kind) int {
	switch k {
	case catalog.KindBoolean:
		return 1
	case catalog.KindSmallint:
		return 2
	case catalog.KindInt, catalog.KindReal, catalog.KindDate:
		return 4
	case catalog.KindBigint, catalog.KindDouble, catalog.KindTimestamp:
		return 8
	case catalog.KindDecimal:
		return 16
	}
	return 0
}

// appendRow appends the value encoding of row i of cols (see doc.go).
// stamp is the id of the writing transaction.
func appendRow(dst []byte, stamp uint64, cols []colReader, i int) []byte {
	dst = append(dst, rowFormatV2)
	dst = binary.AppendUvarint(dst, stamp)
	dst = binary.AppendUvarint(dst, uint64(len(cols)))
	bm := len(dst)
	for n := (len(cols) + 7) / 8; n > 0; n-- {
		dst = append(dst, 0)
	}
	for j := range cols {
		c := &cols[j]
		if c.isNull(i) {
			dst[bm+(j>>3)] |= 1 << (j & 7)
			continue
		}
		switch c.kind {
		case catalog.KindBoolean:
			if c.b.Value(i) {
				dst = append(dst, 1)
			} else {
				dst = append(dst, 0)
			}
		case catalog.KindSmallint:
			dst = binary.LittleEndian.AppendUint16(dst, uint16(c.i16[i]))
		case catalog.KindInt:
			dst = binary.LittleEndian.AppendUint32(dst, uint32(c.i32[i]))
		case catalog.KindBigint:
			dst = binary.LittleEndian.AppendUint64(dst, uint64(c.i64[i]))
		case catalog.KindReal:
			dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(c.f32[i]))
		case catalog.KindDouble:
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(c.f64[i]))
		case catalog.KindDecimal:
			dst = binary.LittleEndian.AppendUint64(dst, c.dec[i].LowBits())
			dst = binary.LittleEndian.AppendUint64(dst, uint64(c.dec[i].HighBits()))
		case catalog.KindVarchar:
			s := c.str(i)
			dst = binary.AppendUvarint(dst, uint64(len(s)))
			dst = append(dst, s...)
		case catalog.KindDate:
			dst = binary.LittleEndian.AppendUint32(dst, uint32(c.d32[i]))
		case catalog.KindTimestamp:
			dst = binary.LittleEndian.AppendUint64(dst, uint64(c.ts[i]))
		}
	}
	return dst
}

// colBuilder appends decoded values of one column to a typed Arrow
// builder. Exactly one builder field matching kind is set.
type colBuilder struct {
	kind catalog.Kind
	b    array.Builder
	bo   *array.BooleanBuilder
	i16  *array.Int16Builder
	i32  *array.Int32Builder
	i64  *array.Int64Builder
	f32  *array.Float32Builder
	f64  *array.Float64Builder
	dec  *array.Decimal128Builder
	str  *array.BinaryBuilder
	d32  *array.Date32Builder
	ts   *array.TimestampBuilder
}

func newColBuilder(mem memory.Allocator, typ catalog.Type) colBuilder {
	b := array.NewBuilder(mem, typ.ArrowType())
	cb := colBuilder{kind: typ.Kind, b: b}
	switch typ.Kind {
	case catalog.KindBoolean:
		cb.bo = b.(*array.BooleanBuilder)
	case catalog.KindSmallint:
		cb.i16 = b.(*array.Int16Builder)
	case catalog.KindInt:
		cb.i32 = b.(*array.Int32Builder)
	case catalog.KindBigint:
		cb.i64 = b.(*array.Int64Builder)
	case catalog.KindReal:
		cb.f32 = b.(*array.Float32Builder)
	case catalog.KindDouble:
		cb.f64 = b.(*array.Float64Builder)
	case catalog.KindDecimal:
		cb.dec = b.(*array.Decimal128Builder)
	case catalog.KindVarchar:
		cb.str = b.(*array.StringBuilder).BinaryBuilder
	case catalog.KindDate:
		cb.d32 = b.(*array.Date32Builder)
	case catalog.KindTimestamp:
		cb.ts = b.(*array.TimestampBuilder)
	}
	return cb
}

// appendNull appends a NULL without an interface call.
func (cb *colBuilder) appendNull() {
	switch cb.kind {
	case catalog.KindBoolean:
		cb.bo.AppendNull()
	case catalog.KindSmallint:
		cb.i16.AppendNull()
	case catalog.KindInt:
		cb.i32.AppendNull()
	case catalog.KindBigint:
		cb.i64.AppendNull()
	case catalog.KindReal:
		cb.f32.AppendNull()
	case catalog.KindDouble:
		cb.f64.AppendNull()
	case catalog.KindDecimal:
		cb.dec.AppendNull()
	case catalog.KindVarchar:
		cb.str.AppendNull()
	case catalog.KindDate:
		cb.d32.AppendNull()
	case catalog.KindTimestamp:
		cb.ts.AppendNull()
	}
}

// appendFixed appends the fixed-width value v (exactly fixedWidth bytes).
func (cb *colBuilder) appendFixed(v []byte) {
	switch cb.kind {
	case catalog.KindBoolean:
		cb.bo.Append(v[0] != 0)
	case catalog.KindSmallint:
		cb.i16.Append(int16(binary.LittleEndian.Uint16(v)))
	case catalog.KindInt:
		cb.i32.Append(int32(binary.LittleEndian.Uint32(v)))
	case catalog.KindBigint:
		cb.i64.Append(int64(binary.LittleEndian.Uint64(v)))
	case catalog.KindReal:
		cb.f32.Append(math.Float32frombits(binary.LittleEndian.Uint32(v)))
	case catalog.KindDouble:
		cb.f64.Append(math.Float64frombits(binary.LittleEndian.Uint64(v)))
	case catalog.KindDecimal:
		cb.dec.Append(decimal128.New(int64(binary.LittleEndian.Uint64(v[8:])), binary.LittleEndian.Uint64(v)))
	case catalog.KindDate:
		cb.d32.Append(arrow.Date32(binary.LittleEndian.Uint32(v)))
	case catalog.KindTimestamp:
		cb.ts.Append(arrow.Timestamp(binary.LittleEndian.Uint64(v)))
	}
}

// rowDecoder decodes row values into builders of the projected columns.
type rowDecoder struct {
	kinds []catalog.Kind // of every table column
	width []int          // fixedWidth of every table column
	slot  []int          // builder index per table column, -1 when not projected
	limit int            // 1 + the highest projected table column
	out   []colBuilder   // one per distinct projected column
	// def is the encoded default of every table column (defaultFields),
	// nil when no column has one.
	def [][]byte
}

// init prepares d for table t and the distinct projected columns cols.
func (d *rowDecoder) init(mem memory.Allocator, t *catalog.Table, cols []int) error {
	def, err := defaultFields(t)
	if err != nil {
		return err
	}
	d.def = def
	n := len(t.Columns)
	d.kinds = make([]catalog.Kind, n)
	d.width = make([]int, n)
	d.slot = make([]int, n)
	for i, c := range t.Columns {
		d.kinds[i] = c.Type.Kind
		d.width[i] = fixedWidth(c.Type.Kind)
		d.slot[i] = -1
	}
	d.out = d.out[:0]
	d.limit = 0
	for _, c := range cols {
		if d.slot[c] >= 0 {
			continue
		}
		d.slot[c] = len(d.out)
		d.out = append(d.out, newColBuilder(mem, t.Columns[c].Type))
		if c+1 > d.limit {
			d.limit = c + 1
		}
	}
	return nil
}

// reserve makes room for n more rows in every builder.
func (d *rowDecoder) reserve(n int) {
	for i := range d.out {
		d.out[i].b.Reserve(n)
	}
}

// decode appends the projected columns of the row value v. On error no
// builder has been left with a partial row only if the error is detected
// before the first append; callers discard the batch on error.
func (d *rowDecoder) decode(v []byte) error {
	if len(v) == 0 || v[0] < rowFormatV1 || v[0] > rowFormatMax {
		if len(v) > 0 && v[0] > rowFormatMax {
			return fmt.Errorf("row format %d is newer than this binary supports (%d): %w", v[0], rowFormatMax, ErrCorruption)
		}
		return fmt.Errorf("bad row value header: %w", ErrCorruption)
	}
	p := 1
	if v[0] == rowFormatV2 {
		if _, w := binary.Uvarint(v[1:]); w > 0 {
			p += w
		} else {
			return fmt.Errorf("bad writer stamp in row value: %w", ErrCorruption)
		}
	}
	ncols, w := binary.Uvarint(v[p:])
	if w <= 0 || ncols > uint64(len(d.kinds)) {
		return fmt.Errorf("bad column count in row value: %w", ErrCorruption)
	}
	n := int(ncols)
	p += w
	bm := v[p:]
	p += (n + 7) / 8
	if p > len(v) {
		return fmt.Errorf("truncated row value: %w", ErrCorruption)
	}
	limit := d.limit
	if n < limit {
		limit = n
	}
	for c := 0; c < limit; c++ {
		s := d.slot[c]
		if bm[c>>3]&(1<<(c&7)) != 0 {
			if s >= 0 {
				d.out[s].appendNull()
			}
			continue
		}
		if wd := d.width[c]; wd > 0 {
			if p+wd > len(v) {
				return fmt.Errorf("truncated row value: %w", ErrCorruption)
			}
			if s >= 0 {
				d.out[s].appendFixed(v[p : p+wd])
			}
			p += wd
			continue
		}
		l, lw := binary.Uvarint(v[p:])
		if lw <= 0 || l > uint64(len(v)-p-lw) {
			return fmt.Errorf("bad string length in row value: %w", ErrCorruption)
		}
		p += lw
		if s >= 0 {
			d.out[s].str.Append(v[p : p+int(l)])
		}
		p += int(l)
	}
	// Columns added after the row was written read as their default, or
	// NULL.
	for c := limit; c < d.limit; c++ {
		s := d.slot[c]
		switch {
		case s < 0:
		case d.def == nil || d.def[c] == nil:
			d.out[s].appendNull()
		case d.width[c] > 0:
			d.out[s].appendFixed(d.def[c])
		default:
			_, w := binary.Uvarint(d.def[c])
			d.out[s].str.Append(d.def[c][w:])
		}
	}
	return nil
}

// release releases every builder.
func (d *rowDecoder) release() {
	for i := range d.out {
		d.out[i].b.Release()
	}
	d.out = nil
}
