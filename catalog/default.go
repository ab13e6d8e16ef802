package catalog

import (
	"fmt"
	"math"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

// Column defaults (ALTER TABLE … ADD COLUMN … DEFAULT <constant>).
//
// A column's Default is a constant of the column's type, kept in the
// descriptor in a text form of its own (DefaultText): the decimal digits
// of integers, dates (days since 1970-01-01) and timestamps (microseconds
// since the epoch), the shortest round-tripping text of floats, the
// digits of a decimal at the column's scale, true/false, or the string
// itself. It is what the rows stored before the column was added read
// (every reader fills it where it filled NULL: row values shorter than the
// table, batch entries and segments of an older layout), and what an
// INSERT or ingest that omits the column writes. Descriptors with a
// default are of format 3, which older binaries refuse.

// DefaultMetadataKey is the Arrow field metadata key under which SchemaAt
// carries the default of a column that data of an older layout lacks, for
// readers that only see a schema (MissingColumn).
const DefaultMetadataKey = "mantisdb.default"

// DefaultText returns the descriptor form of v, a valid scalar of type t.
func DefaultText(t Type, v scalar.Scalar) (string, error) {
	switch s := v.(type) {
	case *scalar.Boolean:
		return strconv.FormatBool(s.Value), nil
	case *scalar.Int16:
		return strconv.FormatInt(int64(s.Value), 10), nil
	case *scalar.Int32:
		return strconv.FormatInt(int64(s.Value), 10), nil
	case *scalar.Int64:
		return strconv.FormatInt(s.Value, 10), nil
	case *scalar.Float32:
		return strconv.FormatFloat(float64(s.Value), 'g', -1, 32), nil
	case *scalar.Float64:
		return strconv.FormatFloat(s.Value, 'g', -1, 64), nil
	case *scalar.Decimal128:
		return s.Value.ToString(t.Scale), nil
	case *scalar.String:
		return string(s.Data()), nil
	case *scalar.Date32:
		return strconv.FormatInt(int64(s.Value), 10), nil
	case *scalar.Timestamp:
		return strconv.FormatInt(int64(s.Value), 10), nil
	}
	return "", fmt.Errorf("no default of type %s", t)
}

// ParseDefault returns the scalar of type t that DefaultText encoded as s.
func ParseDefault(t Type, s string) (scalar.Scalar, error) {
	bad := func(err error) (scalar.Scalar, error) {
		return nil, fmt.Errorf("bad default %q of type %s: %w", s, t, err)
	}
	switch t.Kind {
	case KindBoolean:
		v, err := strconv.ParseBool(s)
		if err != nil {
			return bad(err)
		}
		return scalar.NewBooleanScalar(v), nil
	case KindSmallint, KindInt, KindBigint, KindDate, KindTimestamp:
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return bad(err)
		}
		switch t.Kind {
		case KindSmallint:
			if v < math.MinInt16 || v > math.MaxInt16 {
				return bad(strconv.ErrRange)
			}
			return scalar.NewInt16Scalar(int16(v)), nil
		case KindInt:
			if v < math.MinInt32 || v > math.MaxInt32 {
				return bad(strconv.ErrRange)
			}
			return scalar.NewInt32Scalar(int32(v)), nil
		case KindDate:
			return scalar.NewDate32Scalar(arrow.Date32(v)), nil
		case KindTimestamp:
			return scalar.NewTimestampScalar(arrow.Timestamp(v), t.ArrowType()), nil
		}
		return scalar.NewInt64Scalar(v), nil
	case KindReal:
		v, err := strconv.ParseFloat(s, 32)
		if err != nil {
			return bad(err)
		}
		return scalar.NewFloat32Scalar(float32(v)), nil
	case KindDouble:
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return bad(err)
		}
		return scalar.NewFloat64Scalar(v), nil
	case KindDecimal:
		v, err := decimal128.FromString(s, t.Precision, t.Scale)
		if err != nil {
			return bad(err)
		}
		return scalar.NewDecimal128Scalar(v, t.ArrowType()), nil
	case KindVarchar:
		return scalar.NewStringScalar(s), nil
	}
	return nil, fmt.Errorf("no default of type %s", t)
}

// DefaultScalar returns c's default, or nil when it has none.
func (c *Column) DefaultScalar() (scalar.Scalar, error) {
	if c.Default == nil {
		return nil, nil
	}
	return ParseDefault(c.Type, *c.Default)
}

// MissingColumn returns n values of field f for data that lacks the
// column (stored before it was added): its default when f carries one
// (DefaultMetadataKey, see SchemaAt), else NULLs. The caller releases the
// array.
func MissingColumn(mem memory.Allocator, f arrow.Field, n int) (arrow.Array, error) {
	if i := f.Metadata.FindKey(DefaultMetadataKey); i >= 0 {
		t, ok := FromArrow(f.Type)
		if !ok {
			return nil, fmt.Errorf("no default of Arrow type %s", f.Type)
		}
		s, err := ParseDefault(t, f.Metadata.Values()[i])
		if err != nil {
			return nil, err
		}
		return scalar.MakeArrayFromScalar(s, n, mem)
	}
	return array.MakeArrayOfNull(mem, f.Type, n), nil
}

// MissingArray is MissingColumn for column c of a table. It fails only
// for a default that does not parse, which Validate refuses (so never for
// a published descriptor).
func (c *Column) MissingArray(mem memory.Allocator, n int) (arrow.Array, error) {
	s, err := c.DefaultScalar()
	if err != nil {
		return nil, err
	}
	if s == nil {
		return array.MakeArrayOfNull(mem, c.Type.ArrowType(), n), nil
	}
	return scalar.MakeArrayFromScalar(s, n, mem)
}

// hasDefaults reports whether a column of t has a default (format 3).
func (t *Table) hasDefaults() bool {
	for i := range t.Columns {
		if t.Columns[i].Default != nil {
			return true
		}
	}
	return false
}
