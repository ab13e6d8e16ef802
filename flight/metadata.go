package flight

import (
	"context"
	"log/slog"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	arrowflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql/schema_ref"

	"github.com/mantisdb/mantisdb/catalog"
)

// MantisDB has no catalogs and two schemas: user tables are reported with
// a NULL catalog_name, db_schema_name SchemaName and table_type TableType;
// the read-only system tables (system.tables, ...) with db_schema_name
// SystemSchemaName and table_type SystemTableType.
const (
	// ServerName is the FLIGHT_SQL_SERVER_NAME reported by GetSqlInfo.
	ServerName = "MantisDB"
	// SchemaName is the database schema that holds every user table.
	SchemaName = "public"
	// TableType is the table_type of every user table.
	TableType = "TABLE"
	// SystemSchemaName is the schema of the system tables.
	SystemSchemaName = catalog.SystemSchema
	// SystemTableType is the table_type of the system tables (the JDBC
	// name).
	SystemTableType = "SYSTEM TABLE"
)

// registerSQLInfo registers the GetSqlInfo answers, each with the type the
// Flight SQL specification gives its key.
func (s *sqlServer) registerSQLInfo(o *Options) {
	txnTimeout := int32(0) // 0: no timeout
	if ttl := o.TransactionIdleTimeout; ttl > 0 {
		txnTimeout = int32(min(ttl.Milliseconds(), math.MaxInt32))
	}
	// Bit masks of the spec's enums: bit i set means value i is supported.
	const (
		grammarMinimum      = 1 << 0             // SupportedSqlGrammar.SQL_MINIMUM_GRAMMAR
		ansi92Entry         = 1 << 0             // SupportedAnsi92SqlGrammarLevel.ANSI92_ENTRY_SQL
		outerJoinsLimited   = 1                  // SqlOuterJoinsSupportLevel.SQL_LIMITED_OUTER_JOINS (an enum value)
		subqueries          = 1<<0 | 1<<1 | 1<<2 // comparisons, EXISTS, IN
		isolationRepeatable = 1 << 3             // SqlTransactionIsolationLevel.SQL_TRANSACTION_REPEATABLE_READ
		resultForwardOnly   = 1 << 1             // SqlSupportedResultSetType.SQL_RESULT_SET_TYPE_FORWARD_ONLY
		concurrencyReadOnly = 1 << 1             // SqlSupportedResultSetConcurrency.SQL_RESULT_SET_CONCURRENCY_READ_ONLY
	)
	infos := []struct {
		id  flightsql.SqlInfo
		val any
	}{
		// Server.
		{flightsql.SqlInfoFlightSqlServerName, ServerName},
		{flightsql.SqlInfoFlightSqlServerVersion, o.Version},
		{flightsql.SqlInfoFlightSqlServerArrowVersion, arrow.PkgVersion},
		{flightsql.SqlInfoFlightSqlServerReadOnly, false},
		{flightsql.SqlInfoFlightSqlServerSql, true},
		{flightsql.SqlInfoFlightSqlServerSubstrait, false},
		{flightsql.SqlInfoFlightSqlServerSubstraitMinVersion, ""},
		{flightsql.SqlInfoFlightSqlServerSubstraitMaxVersion, ""},
		{flightsql.SqlInfoFlightSqlServerTransaction, int32(flightsql.SqlTransactionTransaction)},
		{flightsql.SqlInfoFlightSqlServerCancel, true},
		{flightsql.SqlInfoFlightSqlServerBulkIngestion, true},
		{flightsql.SqlInfoFlightSqlServerIngestTransactionsSupported, true},
		{flightsql.SqlInfoFlightSqlServerStatementTimeout, int32(0)},
		{flightsql.SqlInfoFlightSqlServerTransactionTimeout, txnTimeout},
		// SQL language.
		{flightsql.SqlInfoDDLCatalog, false},
		{flightsql.SqlInfoDDLSchema, false},
		{flightsql.SqlInfoDDLTable, true},
		{flightsql.SqlInfoIdentifierCase, int32(flightsql.SqlCaseSensitivityCaseInsensitive)},
		{flightsql.SqlInfoIdentifierQuoteChar, `"`},
		{flightsql.SqlInfoQuotedIdentifierCase, int32(flightsql.SqlCaseSensitivityCaseInsensitive)},
		{flightsql.SqlInfoAllTablesAreASelectable, true},
		// ASC sorts NULLs last and DESC first: NULL is the highest value.
		{flightsql.SqlInfoNullOrdering, int32(flightsql.SqlNullOrderingSortHigh)},
		{flightsql.SqlInfoKeywords, []string{"EXPLAIN", "ANALYZE", "LIMIT", "OFFSET"}},
		{flightsql.SqlInfoNumericFunctions, []string{}},
		{flightsql.SqlInfoStringFunctions, []string{"LENGTH", "SUBSTRING", "SUBSTR"}},
		{flightsql.SqlInfoSystemFunctions, []string{"COALESCE", "IFNULL", "NULLIF"}},
		{flightsql.SqlInfoDateTimeFunctions, []string{"EXTRACT"}},
		{flightsql.SqlInfoSearchStringEscape, `\`},
		{flightsql.SqlInfoExtraNameChars, ""},
		{flightsql.SqlInfoSupportsColumnAliasing, true},
		{flightsql.SqlInfoNullPlusNullIsNull, true},
		{flightsql.SqlInfoSupportsConvert, map[int32][]int32{}},
		{flightsql.SqlInfoSupportsTableCorrelationNames, true},
		{flightsql.SqlInfoSupportsDifferentTableCorrelationNames, false},
		{flightsql.SqlInfoSupportsExpressionsInOrderBy, true},
		{flightsql.SqlInfoSupportsOrderByUnrelated, true},
		{flightsql.SqlInfoSupportedGroupBy, int32(0)},
		{flightsql.SqlInfoSupportsLikeEscapeClause, false},
		{flightsql.SqlInfoSupportsNonNullableColumns, true},
		{flightsql.SqlInfoSupportedGrammar, int32(grammarMinimum)},
		{flightsql.SqlInfoANSI92SupportedLevel, int32(ansi92Entry)},
		{flightsql.SqlInfoSupportsIntegrityEnhancementFacility, false},
		{flightsql.SqlInfoOuterJoinsSupportLevel, int32(outerJoinsLimited)},
		{flightsql.SqlInfoSchemaTerm, "schema"},
		{flightsql.SqlInfoProcedureTerm, "procedure"},
		{flightsql.SqlInfoCatalogTerm, "catalog"},
		{flightsql.SqlInfoCatalogAtStart, false},
		{flightsql.SqlInfoSchemasSupportedActions, int32(0)},
		{flightsql.SqlInfoCatalogsSupportedActions, int32(0)},
		{flightsql.SqlInfoSupportedPositionedCommands, int32(0)},
		{flightsql.SqlInfoSelectForUpdateSupported, false},
		{flightsql.SqlInfoStoredProceduresSupported, false},
		{flightsql.SqlInfoSupportedSubqueries, int32(subqueries)},
		{flightsql.SqlInfoCorrelatedSubqueriesSupported, true},
		{flightsql.SqlInfoSupportedUnions, int32(0)},
		// Limits: 0 means no limit known.
		{flightsql.SqlInfoMaxBinaryLiteralLen, int64(0)},
		{flightsql.SqlInfoMaxCharLiteralLen, int64(0)},
		{flightsql.SqlInfoMaxColumnNameLen, int64(0)},
		{flightsql.SqlInfoMaxColumnsInGroupBy, int64(0)},
		{flightsql.SqlInfoMaxColumnsInIndex, int64(0)},
		{flightsql.SqlInfoMaxColumnsInOrderBy, int64(0)},
		{flightsql.SqlInfoMaxColumnsInSelect, int64(0)},
		{flightsql.SqlInfoMaxColumnsInTable, int64(0)},
		{flightsql.SqlInfoMaxConnections, int64(0)},
		{flightsql.SqlInfoMaxCursorNameLen, int64(0)},
		{flightsql.SqlInfoMaxIndexLen, int64(0)},
		{flightsql.SqlInfoDBSchemaNameLen, int64(0)},
		{flightsql.SqlInfoMaxProcedureNameLen, int64(0)},
		{flightsql.SqlInfoMaxCatalogNameLen, int64(0)},
		{flightsql.SqlInfoMaxRowSize, int64(0)},
		{flightsql.SqlInfoMaxRowSizeIncludesBlobs, false},
		{flightsql.SqlInfoMaxStatementLen, int64(0)},
		{flightsql.SqlInfoMaxStatements, int64(0)},
		{flightsql.SqlInfoMaxTableNameLen, int64(0)},
		{flightsql.SqlInfoMaxTablesInSelect, int64(0)},
		{flightsql.SqlInfoMaxUsernameLen, int64(0)},
		// Transactions: snapshot isolation, reported as REPEATABLE READ as
		// PostgreSQL does. SQL_DEFAULT_TRANSACTION_ISOLATION stays
		// unregistered: the specification and the JDBC driver disagree on
		// its type. DDL is refused inside transactions (25001).
		{flightsql.SqlInfoTransactionsSupported, true},
		{flightsql.SqlInfoSupportedTransactionsIsolationlevels, int32(isolationRepeatable)},
		{flightsql.SqlInfoDataDefinitionCausesTransactionCommit, false},
		{flightsql.SqlInfoDataDefinitionsInTransactionsIgnored, false},
		{flightsql.SqlInfoSupportedResultSetTypes, int32(resultForwardOnly)},
		{flightsql.SqlInfoSupportedConcurrenciesForResultSetUnspecified, int32(0)},
		{flightsql.SqlInfoSupportedConcurrenciesForResultSetForwardOnly, int32(concurrencyReadOnly)},
		{flightsql.SqlInfoSupportedConcurrenciesForResultSetScrollSensitive, int32(0)},
		{flightsql.SqlInfoSupportedConcurrenciesForResultSetScrollInsensitive, int32(0)},
		{flightsql.SqlInfoBatchUpdatesSupported, false},
		{flightsql.SqlInfoSavePointsSupported, false},
		{flightsql.SqlInfoNamedParametersSupported, false},
		{flightsql.SqlInfoLocatorsUpdateCopy, false},
		{flightsql.SqlInfoStoredFunctionsUsingCallSyntaxSupported, false},
	}
	for _, in := range infos {
		if err := s.RegisterSqlInfo(in.id, in.val); err != nil {
			// Only a value of the wrong Go type fails: a bug in the table above.
			s.log.Error("cannot register SqlInfo", slog.Any("id", in.id), slog.Any("error", err))
		}
	}
}

// singleChunk returns a closed channel holding rec.
func singleChunk(rec arrow.RecordBatch) <-chan arrowflight.StreamChunk {
	ch := make(chan arrowflight.StreamChunk, 1)
	ch <- arrowflight.StreamChunk{Data: rec}
	close(ch)
	return ch
}

// GetFlightInfoCatalogs returns the ticket for DoGetCatalogs.
func (s *sqlServer) GetFlightInfoCatalogs(_ context.Context, desc *arrowflight.FlightDescriptor) (*arrowflight.FlightInfo, error) {
	return s.flightInfo(desc, schema_ref.Catalogs, desc.Cmd), nil
}

// DoGetCatalogs returns no catalogs: MantisDB has none.
func (s *sqlServer) DoGetCatalogs(context.Context) (*arrow.Schema, <-chan arrowflight.StreamChunk, error) {
	b := array.NewRecordBuilder(s.mem, schema_ref.Catalogs)
	defer b.Release()
	return schema_ref.Catalogs, singleChunk(b.NewRecordBatch()), nil
}

// GetFlightInfoSchemas returns the ticket for DoGetDBSchemas.
func (s *sqlServer) GetFlightInfoSchemas(_ context.Context, _ flightsql.GetDBSchemas, desc *arrowflight.FlightDescriptor) (*arrowflight.FlightInfo, error) {
	return s.flightInfo(desc, schema_ref.DBSchemas, desc.Cmd), nil
}

// DoGetDBSchemas returns SchemaName and SystemSchemaName when they pass
// the filters.
func (s *sqlServer) DoGetDBSchemas(_ context.Context, cmd flightsql.GetDBSchemas) (*arrow.Schema, <-chan arrowflight.StreamChunk, error) {
	b := array.NewRecordBuilder(s.mem, schema_ref.DBSchemas)
	defer b.Release()
	for _, name := range []string{SchemaName, SystemSchemaName} {
		if matchCatalog(cmd.GetCatalog()) && matchPattern(cmd.GetDBSchemaFilterPattern(), name) {
			b.Field(0).AppendNull()
			b.Field(1).(*array.StringBuilder).Append(name)
		}
	}
	return schema_ref.DBSchemas, singleChunk(b.NewRecordBatch()), nil
}

// GetFlightInfoTables returns the ticket for DoGetTables.
func (s *sqlServer) GetFlightInfoTables(_ context.Context, cmd flightsql.GetTables, desc *arrowflight.FlightDescriptor) (*arrowflight.FlightInfo, error) {
	return s.flightInfo(desc, tablesSchema(cmd), desc.Cmd), nil
}

func tablesSchema(cmd flightsql.GetTables) *arrow.Schema {
	if cmd.GetIncludeSchema() {
		return schema_ref.TablesWithIncludedSchema
	}
	return schema_ref.Tables
}

// DoGetTables lists the tables that pass the filters, user tables then
// system tables, each sorted by name, with their Arrow schema when
// include_schema is set.
func (s *sqlServer) DoGetTables(_ context.Context, cmd flightsql.GetTables) (*arrow.Schema, <-chan arrowflight.StreamChunk, error) {
	sch := tablesSchema(cmd)
	b := array.NewRecordBuilder(s.mem, sch)
	defer b.Release()
	list := func(schema, typ string, tables []*catalog.Table) {
		if !matchCatalog(cmd.GetCatalog()) || !matchPattern(cmd.GetDBSchemaFilterPattern(), schema) || !matchType(cmd.GetTableTypes(), typ) {
			return
		}
		namePattern := cmd.GetTableNameFilterPattern()
		for _, t := range tables {
			if !matchPattern(namePattern, t.Name) {
				continue
			}
			b.Field(0).AppendNull()
			b.Field(1).(*array.StringBuilder).Append(schema)
			b.Field(2).(*array.StringBuilder).Append(t.Name)
			b.Field(3).(*array.StringBuilder).Append(typ)
			if cmd.GetIncludeSchema() {
				b.Field(4).(*array.BinaryBuilder).Append(arrowflight.SerializeSchema(tableSchema(t), s.mem))
			}
		}
	}
	list(SchemaName, TableType, s.db.Tables())
	list(SystemSchemaName, SystemTableType, s.db.SystemTables())
	return sch, singleChunk(b.NewRecordBatch()), nil
}

// tableSchema returns t's Arrow schema with the Flight SQL column metadata
// (table, schema, SQL type name, precision and scale) on every field.
func tableSchema(t *catalog.Table) *arrow.Schema {
	base := t.Schema()
	fields := make([]arrow.Field, base.NumFields())
	mb := flightsql.NewColumnMetadataBuilder()
	schema := SchemaName
	if t.System {
		schema = SystemSchemaName
	}
	for i, c := range t.Columns {
		mb.Clear()
		mb.SchemaName(schema).TableName(t.Name).TypeName(c.Type.String()).
			IsAutoIncrement(false).IsCaseSensitive(false).IsReadOnly(t.System).IsSearchable(true)
		if c.Type.Kind == catalog.KindDecimal {
			mb.Precision(c.Type.Precision).Scale(c.Type.Scale)
		}
		fields[i] = base.Field(i)
		fields[i].Metadata = mb.Metadata()
	}
	return arrow.NewSchema(fields, nil)
}

// GetFlightInfoTableTypes returns the ticket for DoGetTableTypes.
func (s *sqlServer) GetFlightInfoTableTypes(_ context.Context, desc *arrowflight.FlightDescriptor) (*arrowflight.FlightInfo, error) {
	return s.flightInfo(desc, schema_ref.TableTypes, desc.Cmd), nil
}

// DoGetTableTypes returns SystemTableType and TableType.
func (s *sqlServer) DoGetTableTypes(context.Context) (*arrow.Schema, <-chan arrowflight.StreamChunk, error) {
	b := array.NewRecordBuilder(s.mem, schema_ref.TableTypes)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).Append(SystemTableType)
	b.Field(0).(*array.StringBuilder).Append(TableType)
	return schema_ref.TableTypes, singleChunk(b.NewRecordBatch()), nil
}

// matchCatalog reports whether tables without a catalog pass a catalog
// filter: no filter or the empty string ("without a catalog") pass.
func matchCatalog(filter *string) bool { return filter == nil || *filter == "" }

// matchType reports whether table type typ passes a table type filter.
func matchType(types []string, typ string) bool {
	if len(types) == 0 {
		return true
	}
	for _, t := range types {
		if strings.EqualFold(t, typ) {
			return true
		}
	}
	return false
}

// matchPattern reports whether s matches a nil (match all) or LIKE pattern.
func matchPattern(pattern *string, s string) bool {
	return pattern == nil || like(*pattern, s)
}

// like reports whether s matches the SQL LIKE pattern p: % matches any run
// of characters, _ one character, and \ escapes the next character.
// Identifiers are case-insensitive in MantisDB, so the match is too.
func like(p, s string) bool {
	// Greedy matching with backtracking to the last %: linear in practice
	// and never exponential.
	var starP, starS = -1, -1
	pi, si := 0, 0
	for si < len(s) {
		if pi < len(p) {
			pc, pw := utf8.DecodeRuneInString(p[pi:])
			switch {
			case pc == '%':
				starP, starS = pi+pw, si
				pi += pw
				continue
			case pc == '_':
				_, sw := utf8.DecodeRuneInString(s[si:])
				pi, si = pi+pw, si+sw
				continue
			default:
				if pc == '\\' && pi+pw < len(p) {
					pi += pw
					pc, pw = utf8.DecodeRuneInString(p[pi:])
				}
				sc, sw := utf8.DecodeRuneInString(s[si:])
				if equalFoldRune(pc, sc) {
					pi, si = pi+pw, si+sw
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		// Let the last % absorb one more character and retry.
		_, sw := utf8.DecodeRuneInString(s[starS:])
		starS += sw
		pi, si = starP, starS
	}
	for pi < len(p) && p[pi] == '%' {
		pi++
	}
	return pi == len(p)
}

func equalFoldRune(a, b rune) bool {
	return a == b || unicode.ToLower(a) == unicode.ToLower(b)
}

// GetFlightInfoPrimaryKeys returns the ticket for DoGetPrimaryKeys.
func (s *sqlServer) GetFlightInfoPrimaryKeys(_ context.Context, _ flightsql.TableRef, desc *arrowflight.FlightDescriptor) (*arrowflight.FlightInfo, error) {
	return s.flightInfo(desc, schema_ref.PrimaryKeys, desc.Cmd), nil
}

// DoGetPrimaryKeys lists the primary key columns of a table in key order;
// a table without a primary key (or an unknown one) has none.
func (s *sqlServer) DoGetPrimaryKeys(_ context.Context, ref flightsql.TableRef) (*arrow.Schema, <-chan arrowflight.StreamChunk, error) {
	b := array.NewRecordBuilder(s.mem, schema_ref.PrimaryKeys)
	defer b.Release()
	t, ok := s.db.Table(ref.Table)
	if ok && matchCatalog(ref.Catalog) && (ref.DBSchema == nil || strings.EqualFold(*ref.DBSchema, SchemaName)) {
		for seq, col := range t.PrimaryKey {
			b.Field(0).AppendNull()
			b.Field(1).(*array.StringBuilder).Append(SchemaName)
			b.Field(2).(*array.StringBuilder).Append(t.Name)
			b.Field(3).(*array.StringBuilder).Append(t.Columns[col].Name)
			b.Field(4).(*array.Int32Builder).Append(int32(seq + 1))
			b.Field(5).AppendNull()
		}
	}
	return schema_ref.PrimaryKeys, singleChunk(b.NewRecordBatch()), nil
}
