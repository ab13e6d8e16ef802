package catalog

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// Kind is a SQL type without its parameters.
type Kind uint8

// The SQL types of MantisDB. The zero Kind is invalid. The numbering is part
// of the catalog's on-disk format: append only.
const (
	KindInvalid Kind = iota
	KindBoolean
	KindSmallint
	KindInt
	KindBigint
	KindReal
	KindDouble
	KindDecimal
	KindVarchar
	KindDate
	KindTimestamp
	// KindNull is the type of an untyped NULL literal; it is never stored.
	KindNull
)

// MaxDecimalPrecision is the largest DECIMAL precision (Arrow Decimal128).
const MaxDecimalPrecision = 38

// Type is a SQL type with its parameters. The zero Type is invalid.
type Type struct {
	Kind Kind
	// Precision and Scale are set for DECIMAL only.
	Precision, Scale int32
	// Length is the declared VARCHAR(n) length, 0 when unbounded.
	Length int32
}

// Common types.
var (
	Boolean   = Type{Kind: KindBoolean}
	Smallint  = Type{Kind: KindSmallint}
	Int       = Type{Kind: KindInt}
	Bigint    = Type{Kind: KindBigint}
	Real      = Type{Kind: KindReal}
	Double    = Type{Kind: KindDouble}
	Varchar   = Type{Kind: KindVarchar}
	Date      = Type{Kind: KindDate}
	Timestamp = Type{Kind: KindTimestamp}
	Null      = Type{Kind: KindNull}
)

// Decimal returns DECIMAL(p, s).
func Decimal(p, s int32) Type { return Type{Kind: KindDecimal, Precision: p, Scale: s} }

// TimestampUnit is the Arrow unit of TIMESTAMP values: microseconds, as in
// PostgreSQL.
const TimestampUnit = arrow.Microsecond

// ArrowType returns the Arrow type that holds values of t. The mapping is
// documented in docs/sql.md; it is fixed, since clients see it.
func (t Type) ArrowType() arrow.DataType {
	switch t.Kind {
	case KindBoolean:
		return arrow.FixedWidthTypes.Boolean
	case KindSmallint:
		return arrow.PrimitiveTypes.Int16
	case KindInt:
		return arrow.PrimitiveTypes.Int32
	case KindBigint:
		return arrow.PrimitiveTypes.Int64
	case KindReal:
		return arrow.PrimitiveTypes.Float32
	case KindDouble:
		return arrow.PrimitiveTypes.Float64
	case KindDecimal:
		return &arrow.Decimal128Type{Precision: t.Precision, Scale: t.Scale}
	case KindVarchar:
		return arrow.BinaryTypes.String
	case KindDate:
		return arrow.FixedWidthTypes.Date32
	case KindTimestamp:
		return &arrow.TimestampType{Unit: TimestampUnit}
	case KindNull:
		return arrow.Null
	}
	return nil
}

// FromArrow returns the SQL type of an Arrow type, or false when MantisDB has
// no SQL type for it.
func FromArrow(dt arrow.DataType) (Type, bool) {
	switch dt := dt.(type) {
	case *arrow.BooleanType:
		return Boolean, true
	case *arrow.Int8Type, *arrow.Int16Type, *arrow.Uint8Type:
		return Smallint, true
	case *arrow.Int32Type, *arrow.Uint16Type:
		return Int, true
	case *arrow.Int64Type, *arrow.Uint32Type:
		return Bigint, true
	case *arrow.Float16Type, *arrow.Float32Type:
		return Real, true
	case *arrow.Float64Type:
		return Double, true
	case *arrow.Decimal128Type:
		return Decimal(dt.Precision, dt.Scale), true
	case *arrow.StringType, *arrow.LargeStringType:
		return Varchar, true
	case *arrow.Date32Type, *arrow.Date64Type:
		return Date, true
	case *arrow.TimestampType:
		return Timestamp, true
	case *arrow.NullType:
		return Null, true
	}
	return Type{}, false
}

// IsInteger reports whether t is SMALLINT, INT or BIGINT.
func (t Type) IsInteger() bool {
	return t.Kind == KindSmallint || t.Kind == KindInt || t.Kind == KindBigint
}

// IsNumeric reports whether t is an integer, floating point or decimal type.
func (t Type) IsNumeric() bool {
	return t.IsInteger() || t.Kind == KindReal || t.Kind == KindDouble || t.Kind == KindDecimal
}

// Valid reports whether t is a storable type with valid parameters.
func (t Type) Valid() bool {
	switch t.Kind {
	case KindInvalid, KindNull:
		return false
	case KindDecimal:
		return t.Precision >= 1 && t.Precision <= MaxDecimalPrecision && t.Scale >= 0 && t.Scale <= t.Precision
	}
	return t.Kind <= KindTimestamp
}

// String returns the SQL spelling of t, e.g. "DECIMAL(12,2)".
func (t Type) String() string {
	switch t.Kind {
	case KindBoolean:
		return "BOOLEAN"
	case KindSmallint:
		return "SMALLINT"
	case KindInt:
		return "INT"
	case KindBigint:
		return "BIGINT"
	case KindReal:
		return "REAL"
	case KindDouble:
		return "DOUBLE"
	case KindDecimal:
		return fmt.Sprintf("DECIMAL(%d,%d)", t.Precision, t.Scale)
	case KindVarchar:
		if t.Length > 0 {
			return fmt.Sprintf("VARCHAR(%d)", t.Length)
		}
		return "VARCHAR"
	case KindDate:
		return "DATE"
	case KindTimestamp:
		return "TIMESTAMP"
	case KindNull:
		return "NULL"
	}
	return fmt.Sprintf("INVALID(%d)", t.Kind)
}

// TypeByName returns the type for a SQL type name and its parameters
// (precision/length and scale; -1 when absent). Names are case-insensitive and
// include the usual aliases (INTEGER, INT8, FLOAT8, TEXT, NUMERIC, ...).
func TypeByName(name string, p, s int32) (Type, error) {
	switch strings.ToLower(name) {
	case "boolean", "bool":
		return Boolean, nil
	case "smallint", "int2", "tinyint":
		return Smallint, nil
	case "int", "integer", "int4", "mediumint":
		return Int, nil
	case "bigint", "int8":
		return Bigint, nil
	case "real", "float4", "float":
		return Real, nil
	case "double", "double precision", "float8":
		return Double, nil
	case "decimal", "numeric", "dec":
		if p < 0 {
			p = MaxDecimalPrecision
			if s < 0 {
				s = 9
			}
		}
		if s < 0 {
			s = 0
		}
		t := Decimal(p, s)
		if !t.Valid() {
			return Type{}, fmt.Errorf("invalid DECIMAL(%d,%d): precision must be 1..%d and scale 0..precision", p, s, MaxDecimalPrecision)
		}
		return t, nil
	case "varchar", "text", "string", "char", "character varying", "character", "nvarchar", "nchar", "longtext", "mediumtext", "tinytext":
		t := Varchar
		if p > 0 {
			t.Length = p
		}
		return t, nil
	case "date":
		return Date, nil
	case "timestamp", "datetime", "timestamp without time zone":
		return Timestamp, nil
	}
	return Type{}, fmt.Errorf("unknown type %q", name)
}
