package flight

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	arrowflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc/codes"
)

// paramBatch builds a parameter batch of the given columns, each a slice of
// values (nil for NULL) of the Go type that matches its Arrow type.
func paramBatch(t *testing.T, mem memory.Allocator, fields []arrow.Field, cols ...[]any) arrow.RecordBatch {
	t.Helper()
	b := array.NewRecordBuilder(mem, arrow.NewSchema(fields, nil))
	defer b.Release()
	for i, col := range cols {
		for _, v := range col {
			fb := b.Field(i)
			if v == nil {
				fb.AppendNull()
				continue
			}
			switch fb := fb.(type) {
			case *array.BooleanBuilder:
				fb.Append(v.(bool))
			case *array.Int16Builder:
				fb.Append(v.(int16))
			case *array.Int32Builder:
				fb.Append(v.(int32))
			case *array.Int64Builder:
				fb.Append(v.(int64))
			case *array.Float32Builder:
				fb.Append(v.(float32))
			case *array.Float64Builder:
				fb.Append(v.(float64))
			case *array.Decimal128Builder:
				fb.Append(decimal128.FromI64(v.(int64)))
			case *array.StringBuilder:
				fb.Append(v.(string))
			case *array.BinaryBuilder:
				fb.Append(v.([]byte))
			case *array.Date32Builder:
				fb.Append(arrow.Date32FromTime(v.(time.Time)))
			case *array.TimestampBuilder:
				fb.Append(arrow.Timestamp(v.(time.Time).UnixMicro()))
			default:
				t.Fatalf("paramBatch: no case for %T", fb)
			}
		}
	}
	return b.NewRecordBatch()
}

func prepare(t *testing.T, e *testEnv, sql string) *flightsql.PreparedStatement {
	t.Helper()
	st, err := e.client.Prepare(e.ctx, sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	t.Cleanup(func() {
		if err := st.Close(context.Background()); err != nil {
			t.Errorf("close %s: %v", sql, err)
		}
	})
	return st
}

// queryPrepared runs a prepared query with the bound parameters and returns
// its rows as rowStrings.
func queryPrepared(t *testing.T, e *testEnv, st *flightsql.PreparedStatement) []string {
	t.Helper()
	info, err := st.Execute(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, recs := e.fetch(t, info)
	defer releaseAll(recs)
	return rowStrings(recs)
}

var (
	ts1    = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	date1  = time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
	dec122 = &arrow.Decimal128Type{Precision: 12, Scale: 2}
	tsUS   = &arrow.TimestampType{Unit: arrow.Microsecond}
)

// TestPreparedParametersAllTypes binds every SQL type, and NULL, through
// the Flight SQL client: a two-row INSERT (one transaction, total count),
// then queries with one and with several parameter rows.
func TestPreparedParametersAllTypes(t *testing.T) {
	e := startServer(t, nil, nil)
	e.exec(t, createAllTypes)

	ins := prepare(t, e, "INSERT INTO all_types VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
	// The advertised parameter types: integers and REAL widened, the rest
	// as the columns.
	wantTypes := []arrow.DataType{
		arrow.PrimitiveTypes.Int64, arrow.FixedWidthTypes.Boolean, arrow.PrimitiveTypes.Int64,
		arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Float64, arrow.PrimitiveTypes.Float64,
		dec122, arrow.BinaryTypes.String, arrow.FixedWidthTypes.Date32, tsUS, arrow.PrimitiveTypes.Int64,
	}
	ps := ins.ParameterSchema()
	if ps == nil || ps.NumFields() != len(wantTypes) {
		t.Fatalf("parameter schema %v, want %d fields", ps, len(wantTypes))
	}
	for i, f := range ps.Fields() {
		if !arrow.TypeEqual(f.Type, wantTypes[i]) {
			t.Errorf("parameter %d: %s, want %s", i+1, f.Type, wantTypes[i])
		}
	}
	if isUpdate, ok := ins.IsUpdate(); !ok || !isUpdate {
		t.Errorf("IsUpdate = %v, %v", isUpdate, ok)
	}

	// The client binds with the types it has (int16 for SMALLINT, float32
	// for REAL, ...): the server converts them.
	fields := []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "s", Type: arrow.PrimitiveTypes.Int16, Nullable: true},
		{Name: "i", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "r", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "d", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "dec", Type: dec122, Nullable: true},
		{Name: "txt", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "dt", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "ts", Type: tsUS, Nullable: true},
		{Name: "req", Type: arrow.PrimitiveTypes.Int32},
	}
	rec := paramBatch(t, e.client.Alloc, fields,
		[]any{int64(10), int64(11)}, []any{true, nil}, []any{int16(7), nil}, []any{int32(42), nil},
		[]any{float32(1.5), nil}, []any{2.25, nil}, []any{int64(12345), nil}, []any{"héllo", nil},
		[]any{date1, nil}, []any{ts1, nil}, []any{int32(1), int32(2)})
	ins.SetParameters(rec)
	rec.Release()
	if n, err := ins.ExecuteUpdate(e.ctx); err != nil || n != 2 {
		t.Fatalf("INSERT of 2 parameter rows: %d, %v", n, err)
	}
	_, recs := e.query(t, "SELECT * FROM all_types ORDER BY id")
	got := rowStrings(recs)
	releaseAll(recs)
	want := []string{
		"10|true|7|42|1.5|2.25|123.45|héllo|2024-01-02|2024-01-02T03:04:05|1",
		"11|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|2",
	}
	if !equalStrings(got, want) {
		t.Errorf("rows\n%q\nwant\n%q", got, want)
	}

	// Every type in a WHERE clause; values as the parameter schema says.
	q := prepare(t, e, `SELECT id FROM all_types WHERE c_bool = ? AND c_small = ? AND c_int = ?
		AND c_real = ? AND c_double = ? AND c_dec = ? AND c_text = ? AND c_date = ? AND c_ts = ?`)
	if isUpdate, ok := q.IsUpdate(); !ok || isUpdate {
		t.Errorf("IsUpdate = %v, %v for a query", isUpdate, ok)
	}
	qf := make([]arrow.Field, q.ParameterSchema().NumFields())
	copy(qf, q.ParameterSchema().Fields())
	bind := func(vals ...any) {
		t.Helper()
		cols := make([][]any, len(vals))
		for i, v := range vals {
			cols[i] = []any{v}
		}
		rec := paramBatch(t, e.client.Alloc, qf, cols...)
		q.SetParameters(rec)
		rec.Release()
	}
	// The parameter beside DECIMAL(12,2) is DECIMAL(38,10).
	bind(true, int64(7), int64(42), 1.5, 2.25, int64(123_4500000000), "héllo", date1, ts1)
	if got := queryPrepared(t, e, q); !equalStrings(got, []string{"10"}) {
		t.Errorf("query with every type: %v", got)
	}
	// NULL compares to nothing.
	bind(nil, int64(7), int64(42), 1.5, 2.25, int64(123_4500000000), "héllo", date1, ts1)
	if got := queryPrepared(t, e, q); len(got) != 0 {
		t.Errorf("query with a NULL: %v, want no rows", got)
	}

	// Several parameter rows: one execution per row, results concatenated.
	byID := prepare(t, e, "SELECT id, c_text FROM all_types WHERE id = ?")
	rec = paramBatch(t, e.client.Alloc, []arrow.Field{{Name: "p", Type: arrow.PrimitiveTypes.Int64}},
		[]any{int64(11), int64(999), int64(10), int64(11)})
	byID.SetParameters(rec)
	rec.Release()
	want = []string{"11|NULL", "10|héllo", "11|NULL"}
	if got := queryPrepared(t, e, byID); !equalStrings(got, want) {
		t.Errorf("multi-row binding: %v, want %v", got, want)
	}
	// The binding stays with the handle: running again needs no new DoPut.
	byID.SetParameters(nil)
	if got := queryPrepared(t, e, byID); !equalStrings(got, want) {
		t.Errorf("second run of the kept binding: %v, want %v", got, want)
	}
}

// TestPreparedParameterErrors checks the codes of bad bindings.
func TestPreparedParameterErrors(t *testing.T) {
	e := startServer(t, nil, nil)
	setupAllTypes(t, e)
	mem := e.client.Alloc
	i64 := arrow.Field{Name: "p", Type: arrow.PrimitiveTypes.Int64, Nullable: true}

	tests := []struct {
		name   string
		sql    string
		fields []arrow.Field
		cols   [][]any // nil: bind nothing
		update bool
		code   codes.Code
		state  string
	}{
		{name: "too few values", sql: "SELECT id FROM all_types WHERE id = ? OR id = ?",
			fields: []arrow.Field{i64}, cols: [][]any{{int64(1)}}, code: codes.InvalidArgument, state: "07001"},
		{name: "too many values", sql: "SELECT id FROM all_types WHERE id = ?",
			fields: []arrow.Field{i64, i64}, cols: [][]any{{int64(1)}, {int64(2)}}, code: codes.InvalidArgument, state: "07001"},
		{name: "no values", sql: "SELECT id FROM all_types WHERE id = ?", code: codes.InvalidArgument, state: "07001"},
		{name: "no values for an update", sql: "DELETE FROM all_types WHERE id = ?", update: true,
			code: codes.InvalidArgument, state: "07001"},
		{name: "unsupported Arrow type", sql: "SELECT id FROM all_types WHERE id = ?",
			fields: []arrow.Field{{Name: "p", Type: arrow.BinaryTypes.Binary}}, cols: [][]any{{[]byte("x")}},
			code: codes.InvalidArgument, state: "42804"},
		{name: "type that does not convert", sql: "SELECT id FROM all_types WHERE c_date = ?",
			fields: []arrow.Field{{Name: "p", Type: arrow.FixedWidthTypes.Boolean}}, cols: [][]any{{true}},
			code: codes.InvalidArgument, state: "42804"},
		{name: "string that does not parse", sql: "SELECT id FROM all_types WHERE c_date = ?",
			fields: []arrow.Field{{Name: "p", Type: arrow.BinaryTypes.String}}, cols: [][]any{{"soon"}},
			code: codes.InvalidArgument, state: "22007"},
		{name: "NULL into NOT NULL", sql: "INSERT INTO all_types (id, c_req) VALUES (?, ?)", update: true,
			fields: []arrow.Field{i64, i64}, cols: [][]any{{int64(50)}, {nil}}, code: codes.InvalidArgument, state: "23502"},
		{name: "out of range", sql: "INSERT INTO all_types (id, c_small, c_req) VALUES (?, ?, 1)", update: true,
			fields: []arrow.Field{i64, i64}, cols: [][]any{{int64(51)}, {int64(1 << 20)}}, code: codes.InvalidArgument, state: "22003"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := prepare(t, e, tc.sql)
			if tc.cols != nil {
				rec := paramBatch(t, mem, tc.fields, tc.cols...)
				st.SetParameters(rec)
				rec.Release()
			}
			var err error
			if tc.update {
				_, err = st.ExecuteUpdate(e.ctx)
			} else {
				var info *arrowflight.FlightInfo
				if info, err = st.Execute(e.ctx); err == nil {
					rdr, derr := e.client.DoGet(e.ctx, info.Endpoint[0].Ticket)
					if err = derr; err == nil {
						for rdr.Next() {
						}
						err = rdr.Err()
						rdr.Release()
					}
				}
			}
			code, msg := statusOf(err)
			if code != tc.code || !strings.Contains(msg, tc.state) {
				t.Errorf("got %v %q, want %v with %s", code, msg, tc.code, tc.state)
			}
		})
	}
}

// TestPreparedUpdateAllOrNothing checks that the rows of one parameter
// binding are applied in one transaction, inside or outside a client's
// transaction.
func TestPreparedUpdateAllOrNothing(t *testing.T) {
	e := startServer(t, nil, nil)
	setupAllTypes(t, e)
	fields := []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "req", Type: arrow.PrimitiveTypes.Int64},
	}
	count := func() string {
		_, recs := e.query(t, "SELECT COUNT(*) FROM all_types")
		defer releaseAll(recs)
		return rowStrings(recs)[0]
	}

	ins := prepare(t, e, "INSERT INTO all_types (id, c_req) VALUES (?, ?)")
	// The third row repeats the primary key 1: nothing is inserted.
	rec := paramBatch(t, e.client.Alloc, fields, []any{int64(20), int64(21), int64(1)}, []any{int64(0), int64(0), int64(0)})
	ins.SetParameters(rec)
	rec.Release()
	if _, err := ins.ExecuteUpdate(e.ctx); err == nil {
		t.Fatal("duplicate key in a parameter batch: no error")
	} else if code, msg := statusOf(err); code != codes.AlreadyExists || !strings.Contains(msg, "23505") {
		t.Errorf("got %v %q", code, msg)
	}
	if got := count(); got != "3" {
		t.Errorf("COUNT(*) = %s after a failed batch, want 3", got)
	}

	// A multi-row batch sent on the query path (DML as a prepared query)
	// is also applied at once.
	rec = paramBatch(t, e.client.Alloc, fields, []any{int64(20), int64(21)}, []any{int64(0), int64(0)})
	ins.SetParameters(rec)
	rec.Release()
	if got := queryPrepared(t, e, ins); len(got) != 0 {
		t.Errorf("INSERT on the query path returned rows %v", got)
	}
	if got := count(); got != "5" {
		t.Errorf("COUNT(*) = %s, want 5", got)
	}

	// In a client's transaction, rolled back.
	tx, err := e.client.BeginTransaction(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	tins, err := tx.Prepare(e.ctx, "INSERT INTO all_types (id, c_req) VALUES (?, ?)")
	if err != nil {
		t.Fatal(err)
	}
	rec = paramBatch(t, e.client.Alloc, fields, []any{int64(30), int64(31), int64(32)}, []any{int64(0), int64(0), int64(0)})
	tins.SetParameters(rec)
	rec.Release()
	if n, err := tins.ExecuteUpdate(e.ctx); err != nil || n != 3 {
		t.Fatalf("INSERT in a transaction: %d, %v", n, err)
	}
	if err := tins.Close(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(e.ctx); err != nil {
		t.Fatal(err)
	}
	if got := count(); got != "5" {
		t.Errorf("COUNT(*) = %s after rollback, want 5", got)
	}
}

// TestDatabaseSQLParameters runs statements with parameters through
// arrow-go's database/sql driver, which builds each parameter with the type
// the server advertises from database/sql's int64, float64, bool and string
// values.
func TestDatabaseSQLParameters(t *testing.T) {
	e := startServer(t, nil, nil)
	setupAllTypes(t, e)
	db, err := sql.Open("flightsql", "flightsql://"+e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := e.ctx

	// INSERT of every type the driver can build: integers into SMALLINT and
	// INT columns, float64 into REAL. The driver cannot build DECIMAL, DATE
	// and TIMESTAMP values (it has no builder for them); a VARCHAR parameter
	// cast to the type carries them.
	res, err := db.ExecContext(ctx, `INSERT INTO all_types VALUES (?, ?, ?, ?, ?, ?,
		CAST(CAST(? AS VARCHAR) AS DECIMAL(12,2)), ?, CAST(CAST(? AS VARCHAR) AS DATE), CAST(CAST(? AS VARCHAR) AS TIMESTAMP), ?)`,
		40, true, 7, 42, 1.5, 2.25, "123.45", "héllo", "2024-01-02", "2024-01-02 03:04:05", 4)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Errorf("RowsAffected = %d", n)
	}
	var (
		id   int64
		text sql.NullString
		dec  float64
	)
	err = db.QueryRowContext(ctx, `SELECT id, c_text, c_dec FROM all_types
		WHERE c_bool = ? AND c_small = ? AND c_int = ? AND c_real = ? AND c_double = ? AND c_text = ? AND id > ?`,
		true, 7, 42, 1.5, 2.25, "héllo", 30).Scan(&id, &text, &dec)
	if err != nil || id != 40 || text.String != "héllo" || dec != 123.45 {
		t.Errorf("SELECT with parameters: %d %v %v, %v", id, text, dec, err)
	}

	// A prepared statement run with different values.
	st, err := db.PrepareContext(ctx, "SELECT COUNT(*) FROM all_types WHERE id >= ?")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, tc := range []struct{ from, want int64 }{{1, 4}, {3, 2}, {41, 0}} {
		var n int64
		if err := st.QueryRowContext(ctx, tc.from).Scan(&n); err != nil || n != tc.want {
			t.Errorf("id >= %d: %d, %v; want %d", tc.from, n, err, tc.want)
		}
	}

	// database/sql checks the count against the advertised schema.
	if _, err := db.ExecContext(ctx, "DELETE FROM all_types WHERE id = ?", 1, 2); err == nil {
		t.Error("two values for one parameter: no error")
	}
	// A value the server cannot convert keeps its SQLSTATE.
	if _, err := db.ExecContext(ctx, "DELETE FROM all_types WHERE c_date = CAST(CAST(? AS VARCHAR) AS DATE)", "soon"); err == nil ||
		!strings.Contains(err.Error(), "22007") {
		t.Errorf("bad date string: %v", err)
	}
}
