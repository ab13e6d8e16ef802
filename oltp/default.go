package oltp

import (
	"encoding/binary"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/mantisdb/mantisdb/catalog"
)

// defaultFields returns, for every column of t, the row value encoding
// (see doc.go) of the column's default, or nil when it has none. Readers
// give it to the columns a row value lacks (added after it was written).
func defaultFields(t *catalog.Table) ([][]byte, error) {
	var out [][]byte
	for i := range t.Columns {
		c := &t.Columns[i]
		if c.Default == nil {
			continue
		}
		v, err := c.DefaultScalar()
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = make([][]byte, len(t.Columns))
		}
		out[i] = appendField(nil, c.Type.Kind, v)
	}
	return out, nil
}

// missingColumn returns n values of column i of t for data written
// before the column was added: its default, or NULL. Published
// descriptors hold only defaults that parse (catalog.Table.Validate).
func missingColumn(mem memory.Allocator, t *catalog.Table, i, n int) arrow.Array {
	a, err := t.Columns[i].MissingArray(mem, n)
	if err != nil {
		return array.MakeArrayOfNull(mem, t.Columns[i].Type.ArrowType(), n)
	}
	return a
}

// appendField appends the encoding of v, a valid scalar of kind k, as a
// field of a row value (appendRow's encoding).
func appendField(dst []byte, k catalog.Kind, v scalar.Scalar) []byte {
	switch s := v.(type) {
	case *scalar.Boolean:
		if s.Value {
			return append(dst, 1)
		}
		return append(dst, 0)
	case *scalar.Int16:
		return binary.LittleEndian.AppendUint16(dst, uint16(s.Value))
	case *scalar.Int32:
		return binary.LittleEndian.AppendUint32(dst, uint32(s.Value))
	case *scalar.Int64:
		return binary.LittleEndian.AppendUint64(dst, uint64(s.Value))
	case *scalar.Float32:
		return binary.LittleEndian.AppendUint32(dst, math.Float32bits(s.Value))
	case *scalar.Float64:
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(s.Value))
	case *scalar.Decimal128:
		dst = binary.LittleEndian.AppendUint64(dst, s.Value.LowBits())
		return binary.LittleEndian.AppendUint64(dst, uint64(s.Value.HighBits()))
	case *scalar.String:
		dst = binary.AppendUvarint(dst, uint64(len(s.Data())))
		return append(dst, s.Data()...)
	case *scalar.Date32:
		return binary.LittleEndian.AppendUint32(dst, uint32(s.Value))
	case *scalar.Timestamp:
		return binary.LittleEndian.AppendUint64(dst, uint64(s.Value))
	}
	return dst
}
