package flight

import (
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	arrowflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	_ "github.com/apache/arrow-go/v18/arrow/flight/flightsql/driver"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql/schema_ref"
	"google.golang.org/grpc/codes"
)

// sqlInfoValues decodes GetSqlInfo results into Go values of the union
// member's type (string, bool, int64, int32, []string).
func sqlInfoValues(t *testing.T, recs []arrow.RecordBatch) map[flightsql.SqlInfo]any {
	t.Helper()
	out := make(map[flightsql.SqlInfo]any)
	for _, rec := range recs {
		names := rec.Column(0).(*array.Uint32)
		vals := rec.Column(1).(*array.DenseUnion)
		for i := 0; i < int(rec.NumRows()); i++ {
			child := vals.Field(vals.ChildID(i))
			off := int(vals.ValueOffset(i))
			var v any
			switch c := child.(type) {
			case *array.String:
				v = c.Value(off)
			case *array.Boolean:
				v = c.Value(off)
			case *array.Int64:
				v = c.Value(off)
			case *array.Int32:
				v = c.Value(off)
			case *array.List:
				strs := c.ListValues().(*array.String)
				start, end := c.ValueOffsets(off)
				var l []string
				for j := start; j < end; j++ {
					l = append(l, strs.Value(int(j)))
				}
				v = l
			default:
				v = child.ValueStr(off)
			}
			out[flightsql.SqlInfo(names.Value(i))] = v
		}
	}
	return out
}

func TestGetSqlInfo(t *testing.T) {
	e := startServer(t, &Options{Version: "1.2.3", TransactionIdleTimeout: 90 * time.Second}, nil)
	want := map[flightsql.SqlInfo]any{
		flightsql.SqlInfoFlightSqlServerName:                        "MantisDB",
		flightsql.SqlInfoFlightSqlServerVersion:                     "1.2.3",
		flightsql.SqlInfoFlightSqlServerArrowVersion:                arrow.PkgVersion,
		flightsql.SqlInfoFlightSqlServerReadOnly:                    false,
		flightsql.SqlInfoFlightSqlServerSql:                         true,
		flightsql.SqlInfoFlightSqlServerTransaction:                 int32(flightsql.SqlTransactionTransaction),
		flightsql.SqlInfoFlightSqlServerTransactionTimeout:          int32(90000),
		flightsql.SqlInfoFlightSqlServerStatementTimeout:            int32(0),
		flightsql.SqlInfoFlightSqlServerCancel:                      true,
		flightsql.SqlInfoFlightSqlServerBulkIngestion:               true,
		flightsql.SqlInfoFlightSqlServerIngestTransactionsSupported: true,
		flightsql.SqlInfoFlightSqlServerSubstraitMinVersion:         "",
		flightsql.SqlInfoSupportedSubqueries:                        int32(7),
		flightsql.SqlInfoSupportedTransactionsIsolationlevels:       int32(8),
		flightsql.SqlInfoOuterJoinsSupportLevel:                     int32(1),
		flightsql.SqlInfoMaxRowSizeIncludesBlobs:                    false,
		flightsql.SqlInfoMaxUsernameLen:                             int64(0),
		flightsql.SqlInfoSearchStringEscape:                         `\`,
		flightsql.SqlInfoIdentifierQuoteChar:                        `"`,
		flightsql.SqlInfoIdentifierCase:                             int32(flightsql.SqlCaseSensitivityCaseInsensitive),
		flightsql.SqlInfoNullOrdering:                               int32(flightsql.SqlNullOrderingSortHigh),
		flightsql.SqlInfoDDLTable:                                   true,
		flightsql.SqlInfoMaxColumnsInTable:                          int64(0),
		flightsql.SqlInfoTransactionsSupported:                      true,
	}
	ids := make([]flightsql.SqlInfo, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	info, err := e.client.GetSqlInfo(e.ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	sch, recs := e.fetch(t, info)
	defer releaseAll(recs)
	if !sch.Equal(schema_ref.SqlInfo) {
		t.Errorf("schema %v", sch)
	}
	got := sqlInfoValues(t, recs)
	for id, w := range want {
		if g, ok := got[id]; !ok || g != w {
			t.Errorf("SqlInfo %v = %#v, want %#v", id, g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d values for %d keys", len(got), len(want))
	}

	// Without keys: every registered value, the keyword list among them.
	info, err = e.client.GetSqlInfo(e.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, all := e.fetch(t, info)
	defer releaseAll(all)
	got = sqlInfoValues(t, all)
	// The whole key table of the specification (its 91 keys) but
	// SQL_DEFAULT_TRANSACTION_ISOLATION.
	if len(got) != 90 {
		t.Errorf("%d SqlInfo values registered, want 90", len(got))
	}
	if v, ok := got[flightsql.SqlInfoDefaultTransactionIsolation]; ok {
		t.Errorf("SQL_DEFAULT_TRANSACTION_ISOLATION registered (%#v)", v)
	}
	if kw, ok := got[flightsql.SqlInfoKeywords].([]string); !ok || len(kw) == 0 {
		t.Errorf("keywords %#v", got[flightsql.SqlInfoKeywords])
	}
}

func TestMetadataCommands(t *testing.T) {
	e := startServer(t, nil, nil)
	setupAllTypes(t, e)
	e.exec(t, "CREATE TABLE orders (id BIGINT PRIMARY KEY, total DECIMAL(10,2) NOT NULL)")
	e.exec(t, "CREATE TABLE order_lines (id BIGINT PRIMARY KEY, qty INT)")

	strs := func(s string) *string { return &s }
	rows := func(info *arrowflight.FlightInfo, err error, want *arrow.Schema) []string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		sch, recs := e.fetch(t, info)
		defer releaseAll(recs)
		if !sch.Equal(want) {
			t.Errorf("schema %v, want %v", sch, want)
		}
		return rowStrings(recs)
	}

	info, err := e.client.GetCatalogs(e.ctx)
	if got := rows(info, err, schema_ref.Catalogs); len(got) != 0 {
		t.Errorf("catalogs %v, want none", got)
	}
	info, err = e.client.GetDBSchemas(e.ctx, &flightsql.GetDBSchemasOpts{})
	if got := rows(info, err, schema_ref.DBSchemas); !equalStrings(got, []string{"NULL|public", "NULL|system"}) {
		t.Errorf("schemas %v", got)
	}
	info, err = e.client.GetDBSchemas(e.ctx, &flightsql.GetDBSchemasOpts{DbSchemaFilterPattern: strs("x%")})
	if got := rows(info, err, schema_ref.DBSchemas); len(got) != 0 {
		t.Errorf("schemas matching x%%: %v", got)
	}
	info, err = e.client.GetTableTypes(e.ctx)
	if got := rows(info, err, schema_ref.TableTypes); !equalStrings(got, []string{"SYSTEM TABLE", "TABLE"}) {
		t.Errorf("table types %v", got)
	}

	systemTables := []string{"system.compactions", "system.locks", "system.segments", "system.tables"}
	for _, tc := range []struct {
		name string
		opts *flightsql.GetTablesOpts
		want []string
	}{
		{"all", &flightsql.GetTablesOpts{}, append([]string{"all_types", "order_lines", "orders"}, systemTables...)},
		{"pattern", &flightsql.GetTablesOpts{TableNameFilterPattern: strs("ORD%")}, []string{"order_lines", "orders"}},
		{"underscore", &flightsql.GetTablesOpts{TableNameFilterPattern: strs("order_")}, []string{"orders"}},
		{"no match", &flightsql.GetTablesOpts{TableNameFilterPattern: strs("order")}, nil},
		{"escaped", &flightsql.GetTablesOpts{TableNameFilterPattern: strs(`order\_%`)}, []string{"order_lines"}},
		{"schema", &flightsql.GetTablesOpts{DbSchemaFilterPattern: strs("pub%")}, []string{"all_types", "order_lines", "orders"}},
		{"other schema", &flightsql.GetTablesOpts{DbSchemaFilterPattern: strs("other")}, nil},
		{"no catalog", &flightsql.GetTablesOpts{Catalog: strs("")}, append([]string{"all_types", "order_lines", "orders"}, systemTables...)},
		{"system schema", &flightsql.GetTablesOpts{DbSchemaFilterPattern: strs("system")}, systemTables},
		{"system type", &flightsql.GetTablesOpts{TableTypes: []string{"system table"}}, systemTables},
		{"system pattern", &flightsql.GetTablesOpts{TableNameFilterPattern: strs("%lock%")}, []string{"system.locks"}},
		{"other catalog", &flightsql.GetTablesOpts{Catalog: strs("c")}, nil},
		{"type", &flightsql.GetTablesOpts{TableTypes: []string{"VIEW", "table"}}, []string{"all_types", "order_lines", "orders"}},
		{"other type", &flightsql.GetTablesOpts{TableTypes: []string{"VIEW"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, err := e.client.GetTables(e.ctx, tc.opts)
			got := rows(info, err, schema_ref.Tables)
			var want []string
			for _, n := range tc.want {
				if sys, ok := strings.CutPrefix(n, "system."); ok {
					want = append(want, "NULL|system|"+sys+"|SYSTEM TABLE")
				} else {
					want = append(want, "NULL|public|"+n+"|TABLE")
				}
			}
			if !equalStrings(got, want) {
				t.Errorf("tables %v, want %v", got, want)
			}
		})
	}

	info, err = e.client.GetPrimaryKeys(e.ctx, flightsql.TableRef{Table: "ORDERS"})
	if got := rows(info, err, schema_ref.PrimaryKeys); !equalStrings(got, []string{"NULL|public|orders|id|1|NULL"}) {
		t.Errorf("primary keys %v", got)
	}
	info, err = e.client.GetPrimaryKeys(e.ctx, flightsql.TableRef{Table: "missing"})
	if got := rows(info, err, schema_ref.PrimaryKeys); len(got) != 0 {
		t.Errorf("primary keys of a missing table: %v", got)
	}

	// include_schema: table_schema is the table's Arrow schema with column
	// metadata.
	info, err = e.client.GetTables(e.ctx, &flightsql.GetTablesOpts{IncludeSchema: true})
	if err != nil {
		t.Fatal(err)
	}
	sch, recs := e.fetch(t, info)
	defer releaseAll(recs)
	if !sch.Equal(schema_ref.TablesWithIncludedSchema) {
		t.Fatalf("schema %v", sch)
	}
	found := 0
	for _, rec := range recs {
		names := rec.Column(2).(*array.String)
		schemas := rec.Column(4).(*array.Binary)
		for i := 0; i < int(rec.NumRows()); i++ {
			ts, err := arrowflight.DeserializeSchema(schemas.Value(i), e.client.Alloc)
			if err != nil {
				t.Fatal(err)
			}
			switch names.Value(i) {
			case "all_types":
				found++
				if ts.NumFields() != allTypesSchema.NumFields() {
					t.Fatalf("all_types schema %v", ts)
				}
				for j, f := range allTypesSchema.Fields() {
					g := ts.Field(j)
					if g.Name != f.Name || !arrow.TypeEqual(g.Type, f.Type) || g.Nullable != f.Nullable {
						t.Errorf("field %d: %v, want %v", j, g, f)
					}
				}
			case "orders":
				found++
				fmd := ts.Field(1).Metadata
				md := flightsql.ColumnMetadata{Data: &fmd}
				if tn, _ := md.TypeName(); tn != "DECIMAL(10,2)" {
					t.Errorf("type name %q", tn)
				}
				if p, _ := md.Precision(); p != 10 {
					t.Errorf("precision %d", p)
				}
				if s, _ := md.Scale(); s != 2 {
					t.Errorf("scale %d", s)
				}
				if tbl, _ := md.TableName(); tbl != "orders" {
					t.Errorf("table name %q", tbl)
				}
				if ts.Field(1).Nullable {
					t.Error("NOT NULL column reported nullable")
				}
			}
		}
	}
	if found != 2 {
		t.Errorf("found %d of the 2 checked tables", found)
	}
}

func TestDatabaseSQLDriver(t *testing.T) {
	e := startServer(t, nil, nil)
	db, err := sql.Open("flightsql", "flightsql://"+e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := e.ctx

	if _, err := db.ExecContext(ctx, createAllTypes); err != nil {
		t.Fatal(err)
	}
	res, err := db.ExecContext(ctx, insertAllTypes)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 3 {
		t.Errorf("RowsAffected = %d, %v", n, err)
	}

	rows, err := db.QueryContext(ctx, "SELECT id, c_bool, c_small, c_int, c_real, c_double, c_dec, c_text, c_date, c_ts, c_req FROM all_types ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		id       int64
		b        sql.NullBool
		small    sql.NullInt16
		i        sql.NullInt32
		real     sql.NullFloat64
		double   sql.NullFloat64
		dec      sql.NullFloat64
		text     sql.NullString
		date, ts sql.NullTime
		req      int32
	}
	var got []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.b, &r.small, &r.i, &r.real, &r.double, &r.dec, &r.text, &r.date, &r.ts, &r.req); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if len(got) != 3 {
		t.Fatalf("%d rows, want 3", len(got))
	}
	r1, r2 := got[0], got[1]
	wantTS := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	if r1.id != 1 || !r1.b.Bool || r1.small.Int16 != 7 || r1.i.Int32 != 42 || r1.real.Float64 != 1.5 ||
		r1.double.Float64 != 2.25 || r1.dec.Float64 != 123.45 || r1.text.String != "hello" ||
		!r1.date.Time.Equal(time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)) || !r1.ts.Time.Equal(wantTS) || r1.req != 1 {
		t.Errorf("row 1: %+v", r1)
	}
	if r2.id != 2 || r2.b.Valid || r2.small.Valid || r2.i.Valid || r2.real.Valid || r2.double.Valid ||
		r2.dec.Valid || r2.text.Valid || r2.date.Valid || r2.ts.Valid || r2.req != 2 {
		t.Errorf("row 2 must be NULL but for id and c_req: %+v", r2)
	}

	// Explicitly prepared statements, run twice.
	stmt, err := db.PrepareContext(ctx, "SELECT COUNT(*) FROM all_types")
	if err != nil {
		t.Fatal(err)
	}
	count := func(want int64) {
		t.Helper()
		var n int64
		if err := stmt.QueryRowContext(ctx).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("COUNT(*) = %d, want %d", n, want)
		}
	}
	count(3)
	if _, err := db.ExecContext(ctx, "INSERT INTO all_types (id, c_req) VALUES (4, 4)"); err != nil {
		t.Fatal(err)
	}
	count(4)
	if err := stmt.Close(); err != nil {
		t.Error(err)
	}

	// Errors keep their SQLSTATE through the driver.
	_, err = db.ExecContext(ctx, "INSERT INTO all_types (id, c_req) VALUES (1, 1)")
	if err == nil || !strings.Contains(err.Error(), "23505") {
		t.Errorf("duplicate key through the driver: %v", err)
	}
	_, err = db.QueryContext(ctx, "SELECT * FROM missing")
	if err == nil || !strings.Contains(err.Error(), "42P01") {
		t.Errorf("unknown table through the driver: %v", err)
	}
	// Parameters (more in params_test.go).
	if res, err := db.ExecContext(ctx, "INSERT INTO all_types (id, c_req) VALUES (?, ?)", 9, 9); err != nil {
		t.Fatal(err)
	} else if n, _ := res.RowsAffected(); n != 1 {
		t.Errorf("INSERT with parameters affected %d rows", n)
	}
	var req int64
	if err := db.QueryRowContext(ctx, "SELECT c_req FROM all_types WHERE id = ?", 9).Scan(&req); err != nil || req != 9 {
		t.Errorf("SELECT with a parameter: %d, %v", req, err)
	}
	if err := db.QueryRowContext(ctx, "SELECT c_req FROM all_types WHERE id = ?", 1000).Scan(&req); !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("SELECT of a missing id: %v, want sql.ErrNoRows", err)
	}
}

// TestSystemTablesQuery reads system tables through Flight SQL and is
// refused a write to one.
func TestSystemTablesQuery(t *testing.T) {
	e := startServer(t, nil, nil)
	e.exec(t, "CREATE TABLE orders (id BIGINT PRIMARY KEY, total DECIMAL(10,2) NOT NULL)")
	e.exec(t, "INSERT INTO orders VALUES (1, 2.50), (2, 3.00)")
	info, err := e.client.Execute(e.ctx, "SELECT table_name, primary_key, total_rows FROM system.tables ORDER BY table_name")
	if err != nil {
		t.Fatal(err)
	}
	_, recs := e.fetch(t, info)
	defer releaseAll(recs)
	if got := rowStrings(recs); !equalStrings(got, []string{"orders|id|2"}) {
		t.Errorf("system.tables: %v", got)
	}
	_, err = e.client.ExecuteUpdate(e.ctx, "DELETE FROM system.tables")
	if code, msg := statusOf(err); code != codes.InvalidArgument || !strings.Contains(msg, "read-only") {
		t.Errorf("DELETE FROM system.tables: %v", err)
	}
}
