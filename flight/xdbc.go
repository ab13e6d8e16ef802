package flight

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	arrowflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql/schema_ref"
	pb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
)

// xdbcType describes one SQL type of MantisDB for GetXdbcTypeInfo.
type xdbcType struct {
	name          string
	dataType      pb.XdbcDataType
	columnSize    int32 // 0: NULL
	literalPrefix string
	literalSuffix string
	createParams  []string
	caseSensitive bool
	numeric       bool // unsigned_attribute, num_prec_radix
	fixedScale    bool // fixed_prec_scale
	maxScale      int32
	subcode       int32 // datetime_subcode, 0: NULL
}

// xdbcTypes are the SQL types of MantisDB, ordered by data_type as
// JDBC's getTypeInfo is.
var xdbcTypes = []xdbcType{
	{name: "BIGINT", dataType: pb.XdbcDataType_XDBC_BIGINT, columnSize: 19, numeric: true},
	{name: "BOOLEAN", dataType: pb.XdbcDataType_XDBC_BIT, columnSize: 1},
	{name: "DECIMAL", dataType: pb.XdbcDataType_XDBC_DECIMAL, columnSize: 38, createParams: []string{"precision", "scale"}, numeric: true, fixedScale: true, maxScale: 38},
	{name: "INT", dataType: pb.XdbcDataType_XDBC_INTEGER, columnSize: 10, numeric: true},
	{name: "SMALLINT", dataType: pb.XdbcDataType_XDBC_SMALLINT, columnSize: 5, numeric: true},
	{name: "REAL", dataType: pb.XdbcDataType_XDBC_REAL, columnSize: 7, numeric: true},
	{name: "DOUBLE", dataType: pb.XdbcDataType_XDBC_DOUBLE, columnSize: 15, numeric: true},
	{name: "VARCHAR", dataType: pb.XdbcDataType_XDBC_VARCHAR, literalPrefix: "'", literalSuffix: "'", createParams: []string{"length"}, caseSensitive: true},
	{name: "DATE", dataType: pb.XdbcDataType_XDBC_DATE, columnSize: 10, literalPrefix: "DATE '", literalSuffix: "'", subcode: int32(pb.XdbcDatetimeSubcode_XDBC_SUBCODE_DATE)},
	{name: "TIMESTAMP", dataType: pb.XdbcDataType_XDBC_TIMESTAMP, columnSize: 26, literalPrefix: "TIMESTAMP '", literalSuffix: "'", maxScale: 6, subcode: int32(pb.XdbcDatetimeSubcode_XDBC_SUBCODE_TIMESTAMP)},
}

// GetFlightInfoXdbcTypeInfo returns the ticket for DoGetXdbcTypeInfo.
func (s *sqlServer) GetFlightInfoXdbcTypeInfo(_ context.Context, _ flightsql.GetXdbcTypeInfo, desc *arrowflight.FlightDescriptor) (*arrowflight.FlightInfo, error) {
	return s.flightInfo(desc, schema_ref.XdbcTypeInfo, desc.Cmd), nil
}

// DoGetXdbcTypeInfo describes every SQL type, or the types of one data_type.
func (s *sqlServer) DoGetXdbcTypeInfo(_ context.Context, cmd flightsql.GetXdbcTypeInfo) (*arrow.Schema, <-chan arrowflight.StreamChunk, error) {
	b := array.NewRecordBuilder(s.mem, schema_ref.XdbcTypeInfo)
	defer b.Release()
	optStr := func(i int, v string) {
		if v == "" {
			b.Field(i).AppendNull()
		} else {
			b.Field(i).(*array.StringBuilder).Append(v)
		}
	}
	optInt := func(i int, v int32, valid bool) {
		if valid {
			b.Field(i).(*array.Int32Builder).Append(v)
		} else {
			b.Field(i).AppendNull()
		}
	}
	for _, t := range xdbcTypes {
		if f := cmd.GetDataType(); f != nil && *f != int32(t.dataType) {
			continue
		}
		b.Field(0).(*array.StringBuilder).Append(t.name)
		b.Field(1).(*array.Int32Builder).Append(int32(t.dataType))
		optInt(2, t.columnSize, t.columnSize > 0)
		optStr(3, t.literalPrefix)
		optStr(4, t.literalSuffix)
		if lb := b.Field(5).(*array.ListBuilder); t.createParams == nil {
			lb.AppendNull()
		} else {
			lb.Append(true)
			for _, p := range t.createParams {
				lb.ValueBuilder().(*array.StringBuilder).Append(p)
			}
		}
		b.Field(6).(*array.Int32Builder).Append(int32(pb.Nullable_NULLABILITY_NULLABLE))
		b.Field(7).(*array.BooleanBuilder).Append(t.caseSensitive)
		b.Field(8).(*array.Int32Builder).Append(int32(pb.Searchable_SEARCHABLE_FULL))
		if t.numeric {
			b.Field(9).(*array.BooleanBuilder).Append(false)
		} else {
			b.Field(9).AppendNull()
		}
		b.Field(10).(*array.BooleanBuilder).Append(t.fixedScale)
		b.Field(11).(*array.BooleanBuilder).Append(false)
		b.Field(12).(*array.StringBuilder).Append(t.name)
		optInt(13, 0, t.fixedScale || t.maxScale > 0)
		optInt(14, t.maxScale, t.fixedScale || t.maxScale > 0)
		// sql_data_type is the type's ODBC SQL_DESC_TYPE: DATETIME for
		// dates and timestamps, the data type otherwise.
		sqlType := int32(t.dataType)
		if t.subcode != 0 {
			sqlType = int32(pb.XdbcDataType_XDBC_DATETIME)
		}
		b.Field(15).(*array.Int32Builder).Append(sqlType)
		optInt(16, t.subcode, t.subcode != 0)
		optInt(17, 10, t.numeric)
		b.Field(18).AppendNull()
	}
	return schema_ref.XdbcTypeInfo, singleChunk(b.NewRecordBatch()), nil
}

// MantisDB has no foreign keys: the key commands answer empty results of
// the specified schema.

// GetFlightInfoImportedKeys returns the ticket for DoGetImportedKeys.
func (s *sqlServer) GetFlightInfoImportedKeys(_ context.Context, _ flightsql.TableRef, desc *arrowflight.FlightDescriptor) (*arrowflight.FlightInfo, error) {
	return s.flightInfo(desc, schema_ref.ImportedKeys, desc.Cmd), nil
}

// DoGetImportedKeys returns no foreign keys.
func (s *sqlServer) DoGetImportedKeys(context.Context, flightsql.TableRef) (*arrow.Schema, <-chan arrowflight.StreamChunk, error) {
	return s.emptyResult(schema_ref.ImportedKeys)
}

// GetFlightInfoExportedKeys returns the ticket for DoGetExportedKeys.
func (s *sqlServer) GetFlightInfoExportedKeys(_ context.Context, _ flightsql.TableRef, desc *arrowflight.FlightDescriptor) (*arrowflight.FlightInfo, error) {
	return s.flightInfo(desc, schema_ref.ExportedKeys, desc.Cmd), nil
}

// DoGetExportedKeys returns no foreign keys.
func (s *sqlServer) DoGetExportedKeys(context.Context, flightsql.TableRef) (*arrow.Schema, <-chan arrowflight.StreamChunk, error) {
	return s.emptyResult(schema_ref.ExportedKeys)
}

// GetFlightInfoCrossReference returns the ticket for DoGetCrossReference.
func (s *sqlServer) GetFlightInfoCrossReference(_ context.Context, _ flightsql.CrossTableRef, desc *arrowflight.FlightDescriptor) (*arrowflight.FlightInfo, error) {
	return s.flightInfo(desc, schema_ref.CrossReference, desc.Cmd), nil
}

// DoGetCrossReference returns no foreign keys.
func (s *sqlServer) DoGetCrossReference(context.Context, flightsql.CrossTableRef) (*arrow.Schema, <-chan arrowflight.StreamChunk, error) {
	return s.emptyResult(schema_ref.CrossReference)
}

func (s *sqlServer) emptyResult(sch *arrow.Schema) (*arrow.Schema, <-chan arrowflight.StreamChunk, error) {
	b := array.NewRecordBuilder(s.mem, sch)
	defer b.Release()
	return sch, singleChunk(b.NewRecordBatch()), nil
}
