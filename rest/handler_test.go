package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// testServer is an httptest server over a fresh database.
type testServer struct {
	t   *testing.T
	db  *mantisdb.DB
	srv *httptest.Server
}

func newTestServer(t *testing.T, opts *Options) *testServer {
	t.Helper()
	db, err := mantisdb.Open(t.TempDir(), &mantisdb.Options{
		BatchSize: 64,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(context.Background(), "create table probe (id bigint primary key)"); err != nil && strings.Contains(err.Error(), "not wired") {
		db.Close()
		t.Skip("the engine is not wired into mantisdb.DB yet")
	}
	if opts == nil {
		opts = &Options{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ts := &testServer{t: t, db: db, srv: httptest.NewServer(NewHandler(db, opts))}
	t.Cleanup(func() {
		ts.srv.Close()
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return ts
}

// do sends a request and returns the status and body.
func (ts *testServer) do(method, path, contentType string, body io.Reader) (int, string) {
	ts.t.Helper()
	req, err := http.NewRequest(method, ts.srv.URL+path, body)
	if err != nil {
		ts.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := ts.srv.Client().Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatal(err)
	}
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func (ts *testServer) sql(stmt string) (int, string) {
	ts.t.Helper()
	b, _ := json.Marshal(sqlRequest{SQL: stmt})
	return ts.do(http.MethodPost, "/v1/sql", "application/json", bytes.NewReader(b))
}

func (ts *testServer) mustSQL(stmt string) string {
	ts.t.Helper()
	status, body := ts.sql(stmt)
	if status != http.StatusOK {
		ts.t.Fatalf("%s: %d %s", stmt, status, body)
	}
	return body
}

func (ts *testServer) ingest(table, body string) (int, string) {
	ts.t.Helper()
	return ts.do(http.MethodPost, "/v1/tables/"+table+"/ingest", "application/x-ndjson", strings.NewReader(body))
}

// errorOf decodes an error answer.
func errorOf(t *testing.T, body string) errorJSON {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code == "" {
		t.Fatalf("not an error body: %s", body)
	}
	return e.Error
}

func TestHealthz(t *testing.T) {
	ts := newTestServer(t, nil)
	if status, body := ts.do(http.MethodGet, "/healthz", "", nil); status != 200 || body != `{"status":"ok"}` {
		t.Errorf("healthz: %d %s", status, body)
	}
}

const typesTable = `create table typed (id bigint primary key, i int, s smallint, f double, r real,
	price decimal(38,4), name varchar(20), ok boolean, d date, ts timestamp)`

func TestSQLRoundTrip(t *testing.T) {
	ts := newTestServer(t, nil)
	if body := ts.mustSQL(typesTable); body != `{"columns":[],"rows":[],"rows_affected":0}` {
		t.Errorf("create table: %s", body)
	}
	body := ts.mustSQL(`insert into typed values
		(9007199254740993, -2147483648, 32767, 1.5, 0.25, 12345678901234567890123456789012.5678, 'héllo "世界" 🦐', true, date '2024-01-02', timestamp '2024-01-02 03:04:05.123456'),
		(2, null, null, null, null, null, null, null, null, null),
		(3, 0, -1, -0.001, 1e10, -0.0001, '', false, date '1969-12-31', timestamp '1970-01-01 00:00:00')`)
	if body != `{"columns":[],"rows":[],"rows_affected":3}` {
		t.Errorf("insert: %s", body)
	}
	want := `{"columns":[{"name":"id","type":"BIGINT"},{"name":"i","type":"INT"},{"name":"s","type":"SMALLINT"},` +
		`{"name":"f","type":"DOUBLE"},{"name":"r","type":"REAL"},{"name":"price","type":"DECIMAL(38,4)"},` +
		`{"name":"name","type":"VARCHAR"},{"name":"ok","type":"BOOLEAN"},{"name":"d","type":"DATE"},{"name":"ts","type":"TIMESTAMP"}],` +
		`"rows":[[2,null,null,null,null,null,null,null,null,null],` +
		`[3,0,-1,-0.001,10000000000,-0.0001,"",false,"1969-12-31","1970-01-01T00:00:00"],` +
		`[9007199254740993,-2147483648,32767,1.5,0.25,12345678901234567890123456789012.5678,"héllo \"世界\" 🦐",true,"2024-01-02","2024-01-02T03:04:05.123456"]]}`
	if got := ts.mustSQL("select * from typed order by id"); got != want {
		t.Errorf("select:\ngot  %s\nwant %s", got, want)
	}
	// GET with ?q= answers the same.
	status, got := ts.do(http.MethodGet, "/v1/sql?q="+url.QueryEscape("select * from typed order by id"), "", nil)
	if status != 200 || got != want {
		t.Errorf("GET: %d %s", status, got)
	}
	// curl -d sends a form content type; the body is JSON all the same.
	status, got = ts.do(http.MethodPost, "/v1/sql", "application/x-www-form-urlencoded", strings.NewReader(`{"sql": "select count(*) from typed"}`))
	if status != 200 || !strings.HasSuffix(got, `"rows":[[3]]}`) {
		t.Errorf("form content type: %d %s", status, got)
	}
}

// TestSQLStreamsManyBatches reads a result of many batches (the DB's batch
// size is 64) and checks it is one valid JSON document with every row.
func TestSQLStreamsManyBatches(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.mustSQL("create table big (id bigint primary key, v varchar)")
	var sb strings.Builder
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&sb, "{\"id\": %d, \"v\": \"row %d\"}\n", i, i)
	}
	if status, body := ts.ingest("big", sb.String()); status != 200 || body != `{"rows_written":1000}` {
		t.Fatalf("ingest: %d %s", status, body)
	}
	var res struct {
		Columns []struct{ Name, Type string }
		Rows    [][]any
	}
	if err := json.Unmarshal([]byte(ts.mustSQL("select id, v from big order by id")), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 1000 {
		t.Fatalf("got %d rows", len(res.Rows))
	}
	for i, r := range res.Rows {
		if r[0].(float64) != float64(i) || r[1].(string) != fmt.Sprintf("row %d", i) {
			t.Fatalf("row %d = %v", i, r)
		}
	}

	// An error in a later batch arrives after the status: the body stays
	// valid JSON and ends with an "error" member.
	status, body := ts.sql("select id, 10 / (id - 900) from big")
	var partial struct {
		Rows  [][]any
		Error *errorJSON
	}
	if err := json.Unmarshal([]byte(body), &partial); err != nil {
		t.Fatalf("mid-stream error: invalid JSON %q: %v", body, err)
	}
	switch {
	case partial.Error == nil || partial.Error.Code != sqlstate.DivisionByZero:
		t.Errorf("mid-stream error: %d, error member %+v", status, partial.Error)
	case status == http.StatusOK && len(partial.Rows) >= 1000:
		t.Errorf("mid-stream error after all %d rows", len(partial.Rows))
	case status != http.StatusOK:
		t.Logf("the engine failed before the first batch (%d); the mid-stream path was not exercised", status)
	}
}

func TestSQLErrors(t *testing.T) {
	ts := newTestServer(t, &Options{MaxBodyBytes: 1 << 10})
	ts.mustSQL("create table t (id bigint primary key, name varchar(3) not null, n int)")
	ts.mustSQL("insert into t values (1, 'a', 1)")
	tests := []struct {
		name   string
		stmt   string
		status int
		code   sqlstate.Code
	}{
		{"syntax", "selec 1", 400, sqlstate.SyntaxError},
		{"unknown table", "select * from nope", 404, sqlstate.UndefinedTable},
		{"unknown column", "select nope from t", 404, sqlstate.UndefinedColumn},
		{"duplicate key", "insert into t values (1, 'b', 2)", 409, sqlstate.UniqueViolation},
		{"duplicate table", "create table t (a int)", 409, sqlstate.DuplicateTable},
		{"not null", "insert into t (id) values (2)", 400, sqlstate.NotNullViolation},
		{"too long", "insert into t values (3, 'abcd', 1)", 400, sqlstate.StringDataTooLong},
		{"division by zero", "select n / 0 from t", 400, sqlstate.DivisionByZero},
		{"empty", "  ", 400, sqlstate.InvalidParameterValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := ts.sql(tt.stmt)
			e := errorOf(t, body)
			if status != tt.status || e.Code != tt.code || e.Message == "" {
				t.Errorf("got %d %s, want %d %s", status, body, tt.status, tt.code)
			}
		})
	}
	// Not yet supported constructs answer 501 with 0A000; the list shrinks
	// as the engine grows, so each candidate may also just work.
	unsupported := 0
	for _, stmt := range []string{
		"select row_number() over (order by id) from t",
		"with x as (select id from t) select id from x",
		"select id from t union select id from t",
		"select id from t where id in (select id from t)",
		"begin",
	} {
		status, body := ts.sql(stmt)
		if status == http.StatusOK {
			continue
		}
		unsupported++
		if e := errorOf(t, body); status != 501 || e.Code != sqlstate.FeatureNotSupported {
			t.Errorf("%s: %d %s, want 501 0A000 (or success)", stmt, status, body)
		}
	}
	if unsupported == 0 {
		t.Log("every unsupported-construct candidate is supported now; 501 is covered by TestWriteError only")
	}
	// A syntax error carries its position.
	_, body := ts.sql("select 1\nfrom t where where")
	if e := errorOf(t, body); e.Details["line"] != float64(2) || e.Details["column"] == nil {
		t.Errorf("syntax error without position: %s", body)
	}
	// Malformed request bodies.
	for _, b := range []string{`{"sql": `, `{"sql": 1}`, `{"query": "select 1"}`, `{"sql": "select 1"} {}`, ``} {
		status, body := ts.do(http.MethodPost, "/v1/sql", "application/json", strings.NewReader(b))
		if e := errorOf(t, body); status != 400 || (e.Code != sqlstate.InvalidText && e.Code != sqlstate.InvalidParameterValue) {
			t.Errorf("body %q: %d %s", b, status, body)
		}
	}
	// Body over the limit.
	big, _ := json.Marshal(sqlRequest{SQL: "select '" + strings.Repeat("x", 2<<10) + "'"})
	status, body := ts.do(http.MethodPost, "/v1/sql", "application/json", bytes.NewReader(big))
	if e := errorOf(t, body); status != 413 || e.Code != sqlstate.ProgramLimitExceeded {
		t.Errorf("oversize: %d %s", status, body)
	}
	// Unknown routes and methods.
	if status, body := ts.do(http.MethodGet, "/v1/nope", "", nil); status != 404 {
		t.Errorf("unknown route: %d %s", status, body)
	}
	if status, body := ts.do(http.MethodDelete, "/v1/sql", "", nil); status != 405 {
		t.Errorf("wrong method: %d %s", status, body)
	}
}

func TestIngest(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	ts := newTestServer(t, &Options{IngestBatchRows: 100, MaxBodyBytes: 1 << 20, Allocator: mem})
	ts.mustSQL("create table ev (id bigint primary key, name varchar, amount decimal(12,2), day date, at timestamp)")

	body := `{"ID": 1, "Name": "ada", "amount": 12.345, "day": "2024-01-02", "at": "2024-01-02T03:04:05.5"}
{"id": 2, "name": "日本語", "amount": null}

{"id": 3}
`
	if status, got := ts.ingest("EV", body); status != 200 || got != `{"rows_written":3}` {
		t.Fatalf("ingest: %d %s", status, got)
	}
	want := `"rows":[[1,"ada",12.35,"2024-01-02","2024-01-02T03:04:05.5"],[2,"日本語",null,null,null],[3,null,null,null,null]]}`
	if got := ts.mustSQL("select * from ev order by id"); !strings.HasSuffix(got, want) {
		t.Errorf("after ingest: %s", got)
	}

	count := func() string {
		got := ts.mustSQL("select count(*) from ev")
		return got[strings.Index(got, `"rows"`):]
	}
	before := count()

	// A bad row deep in a body of many batches: 422 naming it, nothing written.
	var sb strings.Builder
	for i := 100; i < 5100; i++ {
		if i == 3333 {
			sb.WriteString("{\"id\": 3333, \"amount\": \"lots\"}\n")
			continue
		}
		fmt.Fprintf(&sb, "{\"id\": %d, \"name\": \"n%d\"}\n", i, i)
	}
	status, got := ts.ingest("ev", sb.String())
	e := errorOf(t, got)
	if status != 422 || e.Code != sqlstate.InvalidText || e.Details["row"] != float64(3234) || !strings.Contains(e.Message, "row 3234") {
		t.Errorf("bad row: %d %s", status, got)
	}
	if c := count(); c != before {
		t.Errorf("rows written by a failed ingest: %s, before %s", c, before)
	}

	var big strings.Builder // 2 MiB, over the 1 MiB limit
	for i := 10_000; big.Len() < 2<<20; i++ {
		fmt.Fprintf(&big, "{\"id\": %d, \"name\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\n", i)
	}
	oversize := big.String()
	tests := []struct {
		name, table, body string
		status            int
		code              sqlstate.Code
	}{
		{"unknown table", "nope", `{"id": 1}`, 404, sqlstate.UndefinedTable},
		{"unknown key", "ev", "{\"id\": 10}\n{\"id\": 11, \"colour\": \"red\"}", 422, sqlstate.UndefinedColumn},
		{"duplicate key", "ev", "{\"id\": 20}\n{\"id\": 1}", 409, sqlstate.UniqueViolation},
		{"missing key column", "ev", `{"name": "x"}`, 422, sqlstate.NotNullViolation},
		{"malformed", "ev", `{"id": 30,`, 400, sqlstate.InvalidText},
		{"oversize", "ev", oversize, 413, sqlstate.ProgramLimitExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, got := ts.ingest(tt.table, tt.body)
			if e := errorOf(t, got); status != tt.status || e.Code != tt.code {
				t.Errorf("got %d %s, want %d %s", status, got, tt.status, tt.code)
			}
			if c := count(); c != before {
				t.Errorf("rows written by a failed ingest: %s, before %s", c, before)
			}
		})
	}
	if status, got := ts.do(http.MethodPost, "/v1/tables/ev/ingest", "application/xml", strings.NewReader("<id>1</id>")); status != 415 {
		t.Errorf("xml: %d %s", status, got)
	}
}
