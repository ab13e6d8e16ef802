package flight

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	arrowflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/mantisdb/mantisdb"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testEnv is a running server over a fresh DB and a Flight SQL client. Both
// stop at the end of the test.
type testEnv struct {
	db     *mantisdb.DB
	srv    *Server
	addr   string
	client *flightsql.Client
	ctx    context.Context
	// serverMem is the server's allocator, checked empty at cleanup.
	serverMem *memory.CheckedAllocator
}

func startServer(t testing.TB, opts *Options, dbOpts *mantisdb.Options) *testEnv {
	t.Helper()
	return startServerDial(t, opts, dbOpts, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// startServerDial is startServer with the client's dial options.
func startServerDial(t testing.TB, opts *Options, dbOpts *mantisdb.Options, dial ...grpc.DialOption) *testEnv {
	t.Helper()
	var dbo mantisdb.Options
	if dbOpts != nil {
		dbo = *dbOpts
	}
	dbo.Logger = discardLogger()
	db, err := mantisdb.Open(t.TempDir(), &dbo)
	if err != nil {
		t.Fatal(err)
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	o.Logger = discardLogger()
	serverMem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	o.Allocator = serverMem
	srv := NewServer(db, &o)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()

	cl, err := flightsql.NewClient(lis.Addr().String(), nil, nil, dial...)
	if err != nil {
		t.Fatal(err)
	}
	clientMem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	cl.Alloc = clientMem
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(func() {
		cancel()
		if err := cl.Close(); err != nil {
			t.Errorf("client close: %v", err)
		}
		srv.GracefulStop()
		// ErrServerStopped: the test ended before Serve started.
		if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("Serve: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("db close: %v", err)
		}
		serverMem.AssertSize(t, 0)
		clientMem.AssertSize(t, 0)
	})
	return &testEnv{db: db, srv: srv, addr: lis.Addr().String(), client: cl, ctx: ctx, serverMem: serverMem}
}

func (e *testEnv) exec(t testing.TB, sql string) int64 {
	t.Helper()
	n, err := e.client.ExecuteUpdate(e.ctx, sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// fetch redeems the first endpoint of info, checks that the stream's schema
// is the schema info announced, and returns the records, which the caller
// releases with releaseAll.
func (e *testEnv) fetch(t *testing.T, info *arrowflight.FlightInfo) (*arrow.Schema, []arrow.RecordBatch) {
	t.Helper()
	if len(info.Endpoint) != 1 {
		t.Fatalf("%d endpoints, want 1", len(info.Endpoint))
	}
	infoSchema, err := arrowflight.DeserializeSchema(info.Schema, e.client.Alloc)
	if err != nil {
		t.Fatal(err)
	}
	rdr, err := e.client.DoGet(e.ctx, info.Endpoint[0].Ticket)
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Release()
	if !rdr.Schema().Equal(infoSchema) {
		t.Fatalf("DoGet schema\n%v\ndiffers from FlightInfo schema\n%v", rdr.Schema(), infoSchema)
	}
	var recs []arrow.RecordBatch
	for rdr.Next() {
		rec := rdr.RecordBatch()
		rec.Retain()
		recs = append(recs, rec)
	}
	if err := rdr.Err(); err != nil {
		releaseAll(recs)
		t.Fatal(err)
	}
	return infoSchema, recs
}

func (e *testEnv) query(t *testing.T, sql string) (*arrow.Schema, []arrow.RecordBatch) {
	t.Helper()
	info, err := e.client.Execute(e.ctx, sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return e.fetch(t, info)
}

func releaseAll(recs []arrow.RecordBatch) {
	for _, r := range recs {
		r.Release()
	}
}

// rowStrings renders every row as its values' ValueStr joined by "|", NULL
// as "NULL".
func rowStrings(recs []arrow.RecordBatch) []string {
	var out []string
	for _, rec := range recs {
		for i := 0; i < int(rec.NumRows()); i++ {
			vals := make([]string, rec.NumCols())
			for j, col := range rec.Columns() {
				if col.IsNull(i) {
					vals[j] = "NULL"
				} else {
					vals[j] = col.ValueStr(i)
				}
			}
			out = append(out, strings.Join(vals, "|"))
		}
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

const createAllTypes = `CREATE TABLE all_types (
	id BIGINT PRIMARY KEY,
	c_bool BOOLEAN,
	c_small SMALLINT,
	c_int INT,
	c_real REAL,
	c_double DOUBLE,
	c_dec DECIMAL(12,2),
	c_text VARCHAR(20),
	c_date DATE,
	c_ts TIMESTAMP,
	c_req INT NOT NULL
)`

const insertAllTypes = `INSERT INTO all_types VALUES
	(1, true, 7, 42, 1.5, 2.25, 123.45, 'hello', DATE '2024-01-02', TIMESTAMP '2024-01-02 03:04:05', 1),
	(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 2),
	(3, false, -7, -42, -0.5, -1e10, -0.01, '', DATE '1969-12-31', TIMESTAMP '1970-01-01 00:00:00.000001', 3)`

var allTypesSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "c_bool", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "c_small", Type: arrow.PrimitiveTypes.Int16, Nullable: true},
	{Name: "c_int", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "c_real", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
	{Name: "c_double", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "c_dec", Type: &arrow.Decimal128Type{Precision: 12, Scale: 2}, Nullable: true},
	{Name: "c_text", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "c_date", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	{Name: "c_ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond}, Nullable: true},
	{Name: "c_req", Type: arrow.PrimitiveTypes.Int32},
}, nil)

func setupAllTypes(t *testing.T, e *testEnv) {
	t.Helper()
	e.exec(t, createAllTypes)
	if n := e.exec(t, insertAllTypes); n != 3 {
		t.Fatalf("INSERT affected %d rows, want 3", n)
	}
}

func TestStatementAllTypes(t *testing.T) {
	e := startServer(t, nil, nil)
	setupAllTypes(t, e)

	sch, recs := e.query(t, "SELECT * FROM all_types ORDER BY id")
	defer releaseAll(recs)
	if !sch.Equal(allTypesSchema) {
		t.Errorf("schema\n%v\nwant\n%v", sch, allTypesSchema)
	}
	got := rowStrings(recs)
	want := []string{
		"1|true|7|42|1.5|2.25|123.45|hello|2024-01-02|2024-01-02T03:04:05|1",
		"2|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|2",
		"3|false|-7|-42|-0.5|-1e+10|-0.01||1969-12-31|1970-01-01T00:00:00.000001|3",
	}
	if !equalStrings(got, want) {
		t.Errorf("rows\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Nullability follows what the query computes.
	sch, recs2 := e.query(t, "SELECT c_req, c_int AS x FROM all_types WHERE id = 1")
	defer releaseAll(recs2)
	if sch.Field(0).Nullable || !sch.Field(1).Nullable || sch.Field(1).Name != "x" {
		t.Errorf("projection schema %v", sch)
	}
	if got := rowStrings(recs2); !equalStrings(got, []string{"1|42"}) {
		t.Errorf("rows %v", got)
	}

	// UPDATE and DELETE report affected rows.
	if n := e.exec(t, "UPDATE all_types SET c_int = 0 WHERE id >= 2"); n != 2 {
		t.Errorf("UPDATE affected %d rows, want 2", n)
	}
	if n := e.exec(t, "DELETE FROM all_types WHERE id = 3"); n != 1 {
		t.Errorf("DELETE affected %d rows, want 1", n)
	}
	_, recs3 := e.query(t, "SELECT COUNT(*) FROM all_types")
	defer releaseAll(recs3)
	if got := rowStrings(recs3); !equalStrings(got, []string{"2"}) {
		t.Errorf("COUNT(*) = %v, want 2", got)
	}
}

func TestTicketCanBeRedeemedTwice(t *testing.T) {
	e := startServer(t, nil, nil)
	setupAllTypes(t, e)
	info, err := e.client.Execute(e.ctx, "SELECT id FROM all_types ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_, recs := e.fetch(t, info)
		if got := rowStrings(recs); !equalStrings(got, []string{"1", "2", "3"}) {
			t.Errorf("rows %v", got)
		}
		releaseAll(recs)
	}
	// GetSchema agrees with GetFlightInfo.
	res, err := e.client.GetExecuteSchema(e.ctx, "SELECT id FROM all_types")
	if err != nil {
		t.Fatal(err)
	}
	sch, err := arrowflight.DeserializeSchema(res.Schema, e.client.Alloc)
	if err != nil {
		t.Fatal(err)
	}
	if want := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil); !sch.Equal(want) {
		t.Errorf("GetSchema %v, want %v", sch, want)
	}
}

// insertRows inserts ids [from, to) into table big(id BIGINT PRIMARY KEY, v VARCHAR).
func insertRows(t *testing.T, e *testEnv, from, to int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("INSERT INTO big VALUES ")
	for i := from; i < to; i++ {
		if i > from {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "(%d, 'row %d')", i, i)
	}
	if n := e.exec(t, b.String()); n != int64(to-from) {
		t.Fatalf("inserted %d rows, want %d", n, to-from)
	}
}

// ingestBig loads ids [0, n) into big(id BIGINT PRIMARY KEY, v VARCHAR)
// through DB.Ingest, which is much faster than INSERT.
func ingestBig(t *testing.T, e *testEnv, n int) {
	t.Helper()
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "v", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
	defer b.Release()
	for i := 0; i < n; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("row %d", i))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	rdr, err := array.NewRecordReader(sch, []arrow.RecordBatch{rec})
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Release()
	if _, err := e.db.Ingest(e.ctx, "big", rdr); err != nil {
		t.Fatal(err)
	}
}

func TestStreamsBatchByBatch(t *testing.T) {
	const rows, batch = 5000, 256
	e := startServer(t, nil, &mantisdb.Options{BatchSize: batch})
	e.exec(t, "CREATE TABLE big (id BIGINT PRIMARY KEY, v VARCHAR)")
	for i := 0; i < rows; i += 1000 {
		insertRows(t, e, i, i+1000)
	}
	_, recs := e.query(t, "SELECT id, v FROM big")
	defer releaseAll(recs)
	total := 0
	for _, r := range recs {
		total += int(r.NumRows())
	}
	if total != rows {
		t.Errorf("got %d rows, want %d", total, rows)
	}
	if len(recs) < rows/batch {
		t.Errorf("got %d batches, want at least %d: the result was not streamed batch by batch", len(recs), rows/batch)
	}
}

func TestClientCancelEndsQuery(t *testing.T) {
	e := startServer(t, nil, &mantisdb.Options{BatchSize: 64})
	e.exec(t, "CREATE TABLE big (id BIGINT PRIMARY KEY, v VARCHAR)")
	// Enough rows that the result cannot sit in the connection's buffers
	// when the client cancels.
	ingestBig(t, e, 100_000)

	info, err := e.client.Execute(e.ctx, "SELECT id, v FROM big")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	rdr, err := e.client.DoGet(ctx, info.Endpoint[0].Ticket)
	if err != nil {
		t.Fatal(err)
	}
	if !rdr.Next() {
		t.Fatalf("no first batch: %v", rdr.Err())
	}
	cancel()
	for rdr.Next() {
	}
	if err := rdr.Err(); status.Code(err) != codes.Canceled && !errors.Is(err, context.Canceled) {
		t.Errorf("reading after cancel: %v, want Canceled", err)
	}
	rdr.Release()
	// The server must come to rest: GracefulStop waits for the DoGet and the
	// cleanup's goleak check (TestMain) for its producer goroutine.
	stopped := make(chan struct{})
	go func() { e.srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("GracefulStop did not return after the client canceled its query")
	}
}

func TestPreparedStatements(t *testing.T) {
	e := startServer(t, nil, nil)
	setupAllTypes(t, e)

	q, err := e.client.Prepare(e.ctx, "SELECT id, c_text, c_req FROM all_types WHERE id >= 2 ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	wantSchema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "c_text", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "c_req", Type: arrow.PrimitiveTypes.Int32},
	}, nil)
	if !q.DatasetSchema().Equal(wantSchema) {
		t.Errorf("dataset schema %v, want %v", q.DatasetSchema(), wantSchema)
	}
	if q.ParameterSchema() == nil || q.ParameterSchema().NumFields() != 0 {
		t.Errorf("parameter schema %v, want empty", q.ParameterSchema())
	}
	if isUpdate, ok := q.IsUpdate(); !ok || isUpdate {
		t.Errorf("IsUpdate = %v, %v for a query", isUpdate, ok)
	}
	res, err := q.GetSchema(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sch, err := arrowflight.DeserializeSchema(res.Schema, e.client.Alloc); err != nil || !sch.Equal(wantSchema) {
		t.Errorf("GetSchema = %v, %v", sch, err)
	}

	ins, err := e.client.Prepare(e.ctx, "INSERT INTO all_types (id, c_req) VALUES (4, 4)")
	if err != nil {
		t.Fatal(err)
	}
	if ins.DatasetSchema() == nil || ins.DatasetSchema().NumFields() != 0 {
		t.Errorf("dataset schema of an INSERT: %v, want empty", ins.DatasetSchema())
	}
	if isUpdate, ok := ins.IsUpdate(); !ok || !isUpdate {
		t.Errorf("IsUpdate = %v, %v for an INSERT", isUpdate, ok)
	}

	run := func(want []string) {
		t.Helper()
		info, err := q.Execute(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		sch, recs := e.fetch(t, info)
		defer releaseAll(recs)
		if !sch.Equal(wantSchema) {
			t.Errorf("FlightInfo schema %v", sch)
		}
		if got := rowStrings(recs); !equalStrings(got, want) {
			t.Errorf("rows %v, want %v", got, want)
		}
	}
	run([]string{"2|NULL|2", "3||3"})
	if n, err := ins.ExecuteUpdate(e.ctx); err != nil || n != 1 {
		t.Fatalf("prepared INSERT: %d, %v", n, err)
	}
	// The prepared query sees the new row: it runs anew each time.
	run([]string{"2|NULL|2", "3||3", "4|NULL|4"})
	// Running the INSERT again violates the primary key.
	if _, err := ins.ExecuteUpdate(e.ctx); status.Code(err) != codes.AlreadyExists {
		t.Errorf("second prepared INSERT: %v, want AlreadyExists", err)
	}

	if err := ins.Close(e.ctx); err != nil {
		t.Fatal(err)
	}
	handle := q.Handle()
	if err := q.Close(e.ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.srv.sql.prepared.len(); n != 0 {
		t.Errorf("%d prepared statements left after Close", n)
	}
	// A closed handle is NotFound.
	stale, err := e.client.LoadPreparedStatementFromResult(&flightsql.CreatePreparedStatementResult{PreparedStatementHandle: handle})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stale.Execute(e.ctx); status.Code(err) != codes.NotFound {
		t.Errorf("Execute of a closed handle: %v, want NotFound", err)
	}
}

func TestPreparedStatementsAreBounded(t *testing.T) {
	e := startServer(t, &Options{MaxPreparedStatements: 2}, nil)
	var stmts []*flightsql.PreparedStatement
	for i := range 3 {
		p, err := e.client.Prepare(e.ctx, fmt.Sprintf("SELECT %d", i))
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, p)
	}
	if n := e.srv.sql.prepared.len(); n != 2 {
		t.Errorf("%d prepared statements kept, want 2", n)
	}
	if _, err := stmts[0].Execute(e.ctx); status.Code(err) != codes.NotFound {
		t.Errorf("evicted handle: %v, want NotFound", err)
	}
	info, err := stmts[2].Execute(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, recs := e.fetch(t, info)
	if got := rowStrings(recs); !equalStrings(got, []string{"2"}) {
		t.Errorf("rows %v", got)
	}
	releaseAll(recs)
	for _, p := range stmts {
		if err := p.Close(e.ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}

// statusOf returns the gRPC code and message of err.
func statusOf(err error) (codes.Code, string) {
	st := status.Convert(err)
	return st.Code(), st.Message()
}

func TestErrors(t *testing.T) {
	e := startServer(t, nil, nil)
	e.exec(t, "CREATE TABLE t (id BIGINT PRIMARY KEY, v VARCHAR NOT NULL)")
	e.exec(t, "INSERT INTO t VALUES (1, 'a')")

	for _, tc := range []struct {
		name   string
		sql    string
		code   codes.Code
		prefix string
		// position requires "line L, column C" in the message.
		position bool
	}{
		{"malformed", "SELECT id FORM t", codes.InvalidArgument, "42601: ", true},
		{"malformed multiline", "SELECT id\nFROM t\nWHERE (", codes.InvalidArgument, "42601: ", true},
		{"unknown table", "SELECT * FROM nope", codes.NotFound, "42P01: ", false},
		{"unknown column", "SELECT nope FROM t", codes.NotFound, "42703: ", false},
		{"duplicate key", "INSERT INTO t VALUES (1, 'b')", codes.AlreadyExists, "23505: ", false},
		{"not null", "INSERT INTO t VALUES (2, NULL)", codes.InvalidArgument, "23502: ", false},
		{"duplicate table", "CREATE TABLE t (id INT)", codes.AlreadyExists, "42P07: ", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check := func(via string, err error) {
				t.Helper()
				code, msg := statusOf(err)
				if code != tc.code || !strings.HasPrefix(msg, tc.prefix) {
					t.Errorf("%s: got %v %q, want %v %q...", via, code, msg, tc.code, tc.prefix)
				}
				if tc.position && !strings.Contains(msg, "line ") {
					t.Errorf("%s: message %q has no position", via, msg)
				}
			}
			_, err := e.client.ExecuteUpdate(e.ctx, tc.sql)
			check("DoPut update", err)
			info, err := e.client.Execute(e.ctx, tc.sql)
			if err == nil {
				// Writes fail when the ticket is redeemed.
				var rdr *arrowflight.Reader
				rdr, err = e.client.DoGet(e.ctx, info.Endpoint[0].Ticket)
				if err == nil {
					for rdr.Next() {
					}
					err = rdr.Err()
					rdr.Release()
				}
			}
			check("GetFlightInfo/DoGet", err)
		})
	}
	// The failed statements wrote nothing.
	_, recs := e.query(t, "SELECT id, v FROM t")
	defer releaseAll(recs)
	if got := rowStrings(recs); !equalStrings(got, []string{"1|a"}) {
		t.Errorf("rows after failed writes: %v", got)
	}
}

func TestBadTicket(t *testing.T) {
	e := startServer(t, nil, nil)
	tkt, err := flightsql.CreateStatementQueryTicket([]byte("not a mantisdb ticket"))
	if err != nil {
		t.Fatal(err)
	}
	rdr, err := e.client.DoGet(e.ctx, &arrowflight.Ticket{Ticket: tkt})
	if err == nil {
		for rdr.Next() {
		}
		err = rdr.Err()
		rdr.Release()
	}
	if code, msg := statusOf(err); code != codes.InvalidArgument || !strings.HasPrefix(msg, "22023") {
		t.Errorf("bad ticket: %v %q", code, msg)
	}
}

func TestUnknownTransactionID(t *testing.T) {
	e := startServer(t, nil, nil)
	srv := e.srv.sql
	_, err := srv.DoPutCommandStatementUpdate(e.ctx, txnStatement{})
	if code, _ := statusOf(toStatus(discardLogger(), "", err)); code != codes.NotFound {
		t.Errorf("transaction id: %v", err)
	}
	_, err = srv.GetFlightInfoStatement(e.ctx, txnStatement{}, &arrowflight.FlightDescriptor{})
	if code, _ := statusOf(toStatus(discardLogger(), "", err)); code != codes.NotFound {
		t.Errorf("transaction id: %v", err)
	}
}

// txnStatement is a statement in a transaction.
type txnStatement struct{}

func (txnStatement) GetQuery() string         { return "SELECT 1" }
func (txnStatement) GetTransactionId() []byte { return []byte("txn") }
