package oltp

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/mantisdb/mantisdb/catalog"
)

// Key tags: the first byte of every key (see doc.go).
const (
	tagMeta byte = 0x01
	tagDesc byte = 0x02
	tagView byte = 0x04
	// tagAhead marks the bodies written ahead of their batch entry's
	// header (Store.WriteBody) that no commit has taken yet.
	tagAhead byte = 0x05
	tagTable byte = 0x10
)

// Sub-tags under 0x10 <table id>.
const (
	subSeq       byte = 0x00
	subRow       byte = 0x01
	subBatch     byte = 0x02 // batch entry headers
	subBitmap    byte = 0x03
	subManifest  byte = 0x04
	subBatchBody byte = 0x05 // batch entry bodies (Arrow IPC)
)

var (
	formatKey      = []byte("\x01format")
	nextTableIDKey = []byte("\x01next_table_id")
	txnEpochKey    = []byte("\x01txn_epoch")
	nextSegIDKey   = []byte("\x01next_segment_id")
	descPrefix     = []byte{tagDesc}
	descPrefixEnd  = []byte{tagDesc + 1}
)

// descKey returns the key of table id's descriptor.
func descKey(id uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{tagDesc}, id)
}

// appendTablePrefix appends 0x10 <id>, the prefix of all keys of a table.
func appendTablePrefix(dst []byte, id uint64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, tagTable), id)
}

// tableSpan returns the span [start, end) holding everything table id owns.
func tableSpan(id uint64) (start, end []byte) {
	start = appendTablePrefix(nil, id)
	end = appendTablePrefix(nil, id+1)
	if id == math.MaxUint64 {
		end = []byte{tagTable + 1}
	}
	return start, end
}

// seqKey returns the key of table id's hidden row id sequence.
func seqKey(id uint64) []byte { return append(appendTablePrefix(nil, id), subSeq) }

// appendRowPrefix appends the prefix of table id's row entries.
func appendRowPrefix(dst []byte, id uint64) []byte {
	return append(appendTablePrefix(dst, id), subRow)
}

// rowSpan returns the span [start, end) of table id's row entries.
func rowSpan(id uint64) (start, end []byte) {
	start = appendRowPrefix(nil, id)
	end = append(appendTablePrefix(nil, id), subRow+1)
	return start, end
}

const rowPrefixLen = 1 + 8 + 1

// Order-preserving primitive encodings. Signed integers flip the sign bit
// and are written big-endian; floats flip all bits when negative and only the
// sign bit otherwise.

func appendInt16Key(dst []byte, v int16) []byte {
	return binary.BigEndian.AppendUint16(dst, uint16(v)^(1<<15))
}

func appendInt32Key(dst []byte, v int32) []byte {
	return binary.BigEndian.AppendUint32(dst, uint32(v)^(1<<31))
}

func appendInt64Key(dst []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(v)^(1<<63))
}

func decodeInt64Key(b []byte) int64 { return int64(binary.BigEndian.Uint64(b) ^ (1 << 63)) }

// appendFloat32Key encodes v so that encodings sort like SQL orders floats:
// -Inf < negatives < 0 (−0 equals +0) < positives < +Inf < NaN (all NaNs equal).
func appendFloat32Key(dst []byte, v float32) []byte {
	var b uint32
	switch {
	case v != v:
		b = 0x7fc00000
	case v == 0:
		b = 0
	default:
		b = math.Float32bits(v)
	}
	if b&(1<<31) != 0 {
		b = ^b
	} else {
		b |= 1 << 31
	}
	return binary.BigEndian.AppendUint32(dst, b)
}

// appendFloat64Key is appendFloat32Key for float64.
func appendFloat64Key(dst []byte, v float64) []byte {
	var b uint64
	switch {
	case v != v:
		b = 0x7ff8000000000000
	case v == 0:
		b = 0
	default:
		b = math.Float64bits(v)
	}
	if b&(1<<63) != 0 {
		b = ^b
	} else {
		b |= 1 << 63
	}
	return binary.BigEndian.AppendUint64(dst, b)
}

// appendDecimalKey encodes a 128-bit two's complement integer (all values
// of a column share its scale, so the unscaled integers order the values).
func appendDecimalKey(dst []byte, v decimal128.Num) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(v.HighBits())^(1<<63))
	return binary.BigEndian.AppendUint64(dst, v.LowBits())
}

// appendBytesKey escapes 0x00 as 0x00 0xFF and terminates with 0x00 0x01, so
// that a string sorts before its extensions and composite keys stay ordered.
func appendBytesKey(dst []byte, v []byte) []byte {
	for {
		i := indexByte0(v)
		if i < 0 {
			dst = append(dst, v...)
			break
		}
		dst = append(dst, v[:i]...)
		dst = append(dst, 0x00, 0xff)
		v = v[i+1:]
	}
	return append(dst, 0x00, 0x01)
}

func indexByte0(v []byte) int {
	for i, c := range v {
		if c == 0 {
			return i
		}
	}
	return -1
}

func appendBoolKey(dst []byte, v bool) []byte {
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// appendKeyValue appends the order-preserving encoding of row i of column c,
// which must not be NULL.
func appendKeyValue(dst []byte, c *colReader, i int) []byte {
	switch c.kind {
	case catalog.KindBoolean:
		return appendBoolKey(dst, c.b.Value(i))
	case catalog.KindSmallint:
		return appendInt16Key(dst, c.i16[i])
	case catalog.KindInt:
		return appendInt32Key(dst, c.i32[i])
	case catalog.KindBigint:
		return appendInt64Key(dst, c.i64[i])
	case catalog.KindReal:
		return appendFloat32Key(dst, c.f32[i])
	case catalog.KindDouble:
		return appendFloat64Key(dst, c.f64[i])
	case catalog.KindDecimal:
		return appendDecimalKey(dst, c.dec[i])
	case catalog.KindVarchar:
		return appendBytesKey(dst, c.str(i))
	case catalog.KindDate:
		return appendInt32Key(dst, int32(c.d32[i]))
	case catalog.KindTimestamp:
		return appendInt64Key(dst, int64(c.ts[i]))
	}
	return dst
}

// colReader gives typed access to one Arrow column of a batch being
// written. It is built once per batch so that the per-row code does no
// interface calls.
type colReader struct {
	kind   catalog.Kind
	scale  int32
	nulls  []byte // validity bitmap; nil when the column has no NULLs
	offset int    // offset of the array into nulls
	b      *array.Boolean
	i16    []int16
	i32    []int32
	i64    []int64
	f32    []float32
	f64    []float64
	dec    []decimal128.Num
	d32    []arrow.Date32
	ts     []arrow.Timestamp
	bytes  []byte
	offs   []int32
}

// reset points c at arr, which must hold values of type typ.
func (c *colReader) reset(typ catalog.Type, arr arrow.Array) error {
	*c = colReader{kind: typ.Kind, scale: typ.Scale}
	if arr.NullN() > 0 {
		c.nulls = arr.NullBitmapBytes()
		c.offset = arr.Data().Offset()
	}
	ok := true
	switch typ.Kind {
	case catalog.KindBoolean:
		c.b, ok = arr.(*array.Boolean)
	case catalog.KindSmallint:
		var a *array.Int16
		if a, ok = arr.(*array.Int16); ok {
			c.i16 = a.Int16Values()
		}
	case catalog.KindInt:
		var a *array.Int32
		if a, ok = arr.(*array.Int32); ok {
			c.i32 = a.Int32Values()
		}
	case catalog.KindBigint:
		var a *array.Int64
		if a, ok = arr.(*array.Int64); ok {
			c.i64 = a.Int64Values()
		}
	case catalog.KindReal:
		var a *array.Float32
		if a, ok = arr.(*array.Float32); ok {
			c.f32 = a.Float32Values()
		}
	case catalog.KindDouble:
		var a *array.Float64
		if a, ok = arr.(*array.Float64); ok {
			c.f64 = a.Float64Values()
		}
	case catalog.KindDecimal:
		var a *array.Decimal128
		if a, ok = arr.(*array.Decimal128); ok {
			c.dec = a.Values()
		}
	case catalog.KindVarchar:
		var a *array.String
		if a, ok = arr.(*array.String); ok {
			c.bytes = a.ValueBytes()
			c.offs = a.ValueOffsets()
		}
	case catalog.KindDate:
		var a *array.Date32
		if a, ok = arr.(*array.Date32); ok {
			c.d32 = a.Date32Values()
		}
	case catalog.KindTimestamp:
		var a *array.Timestamp
		if a, ok = arr.(*array.Timestamp); ok {
			c.ts = a.TimestampValues()
		}
	default:
		return fmt.Errorf("unsupported column type %s", typ)
	}
	if !ok {
		return fmt.Errorf("array of type %s cannot hold %s values", arr.DataType(), typ)
	}
	return nil
}

// isNull reports whether row i is NULL.
func (c *colReader) isNull(i int) bool {
	if c.nulls == nil {
		return false
	}
	j := c.offset + i
	return c.nulls[j>>3]&(1<<(j&7)) == 0
}

// str returns the bytes of VARCHAR row i; valid while the array lives.
func (c *colReader) str(i int) []byte {
	base := c.offs[0]
	return c.bytes[c.offs[i]-base : c.offs[i+1]-base]
}

// format renders row i for error messages, the way PostgreSQL shows key
// values.
func (c *colReader) format(i int) string {
	if c.isNull(i) {
		return "null"
	}
	switch c.kind {
	case catalog.KindBoolean:
		if c.b.Value(i) {
			return "t"
		}
		return "f"
	case catalog.KindSmallint:
		return strconv.Itoa(int(c.i16[i]))
	case catalog.KindInt:
		return strconv.Itoa(int(c.i32[i]))
	case catalog.KindBigint:
		return strconv.FormatInt(c.i64[i], 10)
	case catalog.KindReal:
		return strconv.FormatFloat(float64(c.f32[i]), 'g', -1, 32)
	case catalog.KindDouble:
		return strconv.FormatFloat(c.f64[i], 'g', -1, 64)
	case catalog.KindDecimal:
		return c.dec[i].ToString(c.scale)
	case catalog.KindVarchar:
		return string(c.str(i))
	case catalog.KindDate:
		return c.d32[i].FormattedString()
	case catalog.KindTimestamp:
		return c.ts[i].ToTime(catalog.TimestampUnit).UTC().Format("2006-01-02 15:04:05.999999")
	}
	return "?"
}

// formatPK renders the primary key of row i as "(a, b)=(1, x)".
func formatPK(t *catalog.Table, cols []colReader, i int) string {
	var names, vals strings.Builder
	for j, k := range t.PrimaryKey {
		if j > 0 {
			names.WriteString(", ")
			vals.WriteString(", ")
		}
		names.WriteString(t.Columns[k].Name)
		vals.WriteString(cols[k].format(i))
	}
	return "(" + names.String() + ")=(" + vals.String() + ")"
}
