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
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	dto "github.com/prometheus/client_model/go"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

func TestIdempotency(t *testing.T) {
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func() (*mantisdb.DB, *testServer) {
		db, err := mantisdb.Open(dir, &mantisdb.Options{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		return db, &testServer{t: t, db: db, srv: httptest.NewServer(NewHandler(db, &Options{Logger: quiet}))}
	}
	db, ts := open()
	ts.mustSQL("create table ev (id bigint primary key, name varchar)")
	body := []byte("{\"id\": 1, \"name\": \"a\"}\n{\"id\": 2}\n")
	for i := 0; i < 3; i++ {
		status, hdr, got := ts.post("/v1/tables/ev/ingest", body, "Idempotency-Key", "order-42")
		if status != 200 || strings.TrimSpace(got) != `{"rows_written":2}` {
			t.Fatalf("attempt %d: %d %s", i, status, got)
		}
		if replayed := hdr.Get("Idempotent-Replayed") == "true"; replayed != (i > 0) {
			t.Errorf("attempt %d: Idempotent-Replayed %q", i, hdr.Get("Idempotent-Replayed"))
		}
	}
	// The same key for another table is a client error.
	ts.mustSQL("create table other (id bigint primary key, name varchar)")
	if status, _, got := ts.post("/v1/tables/other/ingest", body, "Idempotency-Key", "order-42"); status != 422 {
		t.Errorf("key reused for another table: %d %s", status, got)
	}
	// A failed request stores nothing: the retry runs.
	if status, _, got := ts.post("/v1/tables/ev/ingest", []byte(`{"id": 1}`), "Idempotency-Key", "dup"); status != 409 {
		t.Errorf("duplicate: %d %s", status, got)
	}
	if status, _, got := ts.post("/v1/tables/ev/ingest", []byte(`{"id": 3}`), "Idempotency-Key", "dup"); status != 200 {
		t.Errorf("retry after a failure: %d %s", status, got)
	}
	// The key table is the server's: not listed.
	if _, got := ts.do(http.MethodGet, "/v1/tables", "", nil); strings.Contains(got, IdempotencyTable) {
		t.Errorf("tables list shows the key table: %s", got)
	}

	// After a restart the key is still known.
	ts.srv.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, ts = open()
	defer func() {
		ts.srv.Close()
		db.Close()
	}()
	status, hdr, got := ts.post("/v1/tables/ev/ingest", body, "Idempotency-Key", "order-42")
	if status != 200 || hdr.Get("Idempotent-Replayed") != "true" || strings.TrimSpace(got) != `{"rows_written":2}` {
		t.Errorf("after restart: %d %v %s", status, hdr, got)
	}
	if got := rowsOf(ts.mustSQL("select count(*) from ev")); got != `"rows":[[3]]}` {
		t.Errorf("rows after retries: %s", got)
	}

	// An expired key is forgotten: the request runs again (and here fails
	// on the duplicate key, which proves it ran).
	h := NewHandler(db, &Options{Logger: quiet, IdempotencyWindow: time.Hour})
	h.idem.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/v1/tables/ev/ingest", strings.NewReader(string(body)))
	req.Header.Set("Idempotency-Key", "order-42")
	h.ServeHTTP(rec, req)
	if rec.Code != 409 {
		t.Errorf("expired key: %d %s", rec.Code, rec.Body)
	}
}

// TestIdempotencyConcurrent sends one key from many clients at once: the
// rows are written once and every client gets the same answer.
func TestIdempotencyConcurrent(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.mustSQL("create table ev (id bigint primary key)")
	var wg sync.WaitGroup
	answers := make([]string, 8)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, _, got := ts.post("/v1/tables/ev/ingest", []byte("{\"id\": 1}\n{\"id\": 2}\n"), "Idempotency-Key", "same")
			answers[i] = fmt.Sprint(status, " ", strings.TrimSpace(got))
		}()
	}
	wg.Wait()
	for i, a := range answers {
		if a != `200 {"rows_written":2}` {
			t.Errorf("client %d: %s", i, a)
		}
	}
	if got := rowsOf(ts.mustSQL("select count(*) from ev")); got != `"rows":[[2]]}` {
		t.Errorf("rows: %s", got)
	}
}

// TestConcurrentIngest runs 32 clients ingesting at once: totals exact.
func TestConcurrentIngest(t *testing.T) {
	ts := newTestServer(t, &Options{MaxConcurrentRequests: -1})
	ts.mustSQL("create table ev (id bigint primary key, who int)")
	const clients, requests, rows = 32, 4, 50
	var wg sync.WaitGroup
	errs := make(chan string, clients*requests)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < requests; r++ {
				var sb strings.Builder
				for i := 0; i < rows; i++ {
					fmt.Fprintf(&sb, "{\"id\": %d, \"who\": %d}\n", (c*requests+r)*rows+i, c)
				}
				if status, _, got := ts.post("/v1/tables/ev/ingest", []byte(sb.String())); status != 200 {
					errs <- fmt.Sprint(status, got)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	want := fmt.Sprintf(`"rows":[[%d,%d]]}`, clients*requests*rows, clients)
	if got := rowsOf(ts.mustSQL("select count(*), count(distinct who) from ev")); got != want {
		t.Errorf("totals: %s, want %s", got, want)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	ts := newTestServer(t, &Options{MaxConcurrentRequests: 1})
	ts.mustSQL("create table ev (id bigint primary key)")
	// A request whose body never ends holds the only slot. If one of the
	// probes below holds the slot when it arrives, it is refused itself:
	// then start another.
	var pw *io.PipeWriter
	done := make(chan int, 1)
	slowID := 1
	startSlow := func() {
		pr, w := io.Pipe()
		pw = w
		// Runs before the server's cleanup: a server still reading a body
		// that never ends would block httptest.Server.Close.
		t.Cleanup(func() { w.Close() })
		go func() {
			req, _ := http.NewRequest(http.MethodPost, ts.srv.URL+"/v1/tables/ev/ingest", pr)
			resp, err := ts.srv.Client().Do(req)
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		// More than the client's write buffer, so that the request is on
		// the wire (a short first write may sit in the transport's buffer
		// until the body ends, leaving the slot free).
		var body bytes.Buffer
		for i := 1; i <= 10000; i++ {
			fmt.Fprintf(&body, "{\"id\": %d}\n", slowID)
			slowID++
		}
		_, _ = w.Write(body.Bytes())
	}
	startSlow()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case status := <-done:
			if status != http.StatusTooManyRequests {
				t.Fatalf("the slow request ended early with %d", status)
			}
			startSlow()
			continue
		default:
		}
		status, hdr, got := ts.post("/v1/sql", []byte(`{"sql": "select 1"}`))
		if status == 429 {
			if e := errorOf(t, got); e.Code != sqlstate.TooManyConnections || hdr.Get("Retry-After") == "" {
				t.Errorf("429 answer: %v %s", hdr, got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 429 while the slot is taken: %d %s", status, got)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Probes are not limited.
	if status, _ := ts.do(http.MethodGet, "/healthz", "", nil); status != 200 {
		t.Errorf("healthz under the limit: %d", status)
	}
	pw.Close()
	if status := <-done; status != 200 {
		t.Errorf("slow request: %d", status)
	}
	if status, _ := ts.sql("select 1"); status != 200 {
		t.Errorf("after the slot is free: %d", status)
	}
}

func TestMultiStatementAndParams(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.mustSQL("create table acct (id bigint primary key, balance decimal(12,2), note varchar)")
	// Several statements are one transaction: a failure in the middle
	// leaves nothing.
	status, got := ts.sql("insert into acct values (1, 10, 'a'); insert into acct values (1, 20, 'dup'); insert into acct values (2, 5, 'b')")
	if e := errorOf(t, got); status != 409 || e.Code != sqlstate.UniqueViolation || e.Details["statement"] != float64(2) {
		t.Errorf("failing script: %d %s", status, got)
	}
	if got := rowsOf(ts.mustSQL("select count(*) from acct")); got != `"rows":[[0]]}` {
		t.Errorf("rows after a failed script: %s", got)
	}
	got = ts.mustSQL("insert into acct values (1, 10, 'a'); insert into acct values (2, 5.5, 'b;c'); select id, balance from acct order by id")
	if rowsOf(got) != `"rows":[[1,10.00],[2,5.50]]}` {
		t.Errorf("script result: %s", got)
	}
	// Parameters.
	status, _, got = ts.post("/v1/sql", []byte(`{"sql": "select id, note from acct where balance > $1 and note <> $2 order by id", "params": [5.25, "zzz"]}`))
	if status != 200 || rowsOf(got) != `"rows":[[1,"a"],[2,"b;c"]]}` {
		t.Errorf("params: %d %s", status, got)
	}
	status, _, got = ts.post("/v1/sql", []byte(`{"sql": "insert into acct values ($1, $2, $3)", "params": [3, "1.25", null]}`))
	if status != 200 || !strings.Contains(got, `"rows_affected":1`) {
		t.Errorf("insert with params: %d %s", status, got)
	}
	for _, tt := range []struct {
		body   string
		status int
		code   sqlstate.Code
	}{
		{`{"sql": "select id from acct where id = $1"}`, 400, sqlstate.ParamCountMismatch},
		{`{"sql": "select id from acct where id = $1", "params": [1, 2]}`, 400, sqlstate.ParamCountMismatch},
		{`{"sql": "select 1; select 2", "params": [1]}`, 400, sqlstate.InvalidParameterValue},
		{`{"sql": "select 1", "timeout": "soon"}`, 400, sqlstate.InvalidParameterValue},
		{`{"sql": "select 1", "timeout": -1}`, 400, sqlstate.InvalidParameterValue},
	} {
		status, _, got := ts.post("/v1/sql", []byte(tt.body))
		if e := errorOf(t, got); status != tt.status || e.Code != tt.code {
			t.Errorf("%s: %d %s, want %d %s", tt.body, status, got, tt.status, tt.code)
		}
	}
	if status, _, got := ts.post("/v1/sql?timeout=30s", []byte(`{"sql": "select count(*) from acct", "timeout": 10}`)); status != 200 || rowsOf(got) != `"rows":[[3]]}` {
		t.Errorf("with a timeout: %d %s", status, got)
	}
}

func TestAdmin(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.mustSQL("create table ev (id bigint primary key, name varchar not null)")
	ts.mustSQL("insert into ev values (1, 'a'), (2, 'b')")

	status, got := ts.do(http.MethodGet, "/v1/tables", "", nil)
	if status != 200 || !strings.Contains(got, `{"name":"ev","columns":[{"name":"id","type":"BIGINT","nullable":false,"primary_key":true},{"name":"name","type":"VARCHAR","nullable":false}],"primary_key":["id"]}`) {
		t.Errorf("tables: %d %s", status, got)
	}
	status, got = ts.do(http.MethodGet, "/v1/tables/EV", "", nil)
	if status != 200 || !strings.Contains(got, `"rows":2,"row_store_rows":2`) {
		t.Errorf("table: %d %s", status, got)
	}
	status, got = ts.do(http.MethodPost, "/v1/tables/ev/compact", "", nil)
	if status != 200 || !strings.Contains(got, `"rows":2`) {
		t.Errorf("compact: %d %s", status, got)
	}
	status, got = ts.do(http.MethodGet, "/v1/tables/ev", "", nil)
	if status != 200 || !strings.Contains(got, `"rows":2,`) || !strings.Contains(got, `"segment_rows":2,"segments":[{"id":`) {
		t.Errorf("table after compaction: %d %s", status, got)
	}
	if status, got := ts.do(http.MethodGet, "/v1/tables/nope", "", nil); status != 404 {
		t.Errorf("unknown table: %d %s", status, got)
	}
	if status, got := ts.do(http.MethodPost, "/v1/tables/nope/compact", "", nil); status != 404 {
		t.Errorf("compact unknown table: %d %s", status, got)
	}
	status, got = ts.do(http.MethodGet, "/v1/status", "", nil)
	var st map[string]any
	if err := json.Unmarshal([]byte(got), &st); status != 200 || err != nil || st["tables"] != float64(2) || st["segments"] != float64(1) {
		t.Errorf("status: %d %s", status, got)
	}
	if status, got := ts.do(http.MethodGet, "/readyz", "", nil); status != 200 {
		t.Errorf("readyz: %d %s", status, got)
	}
}

func TestReadyzShuttingDown(t *testing.T) {
	ts := newTestServer(t, nil)
	h := ts.srv.Config.Handler.(*Handler)
	h.SetReady(false)
	if status, got := ts.do(http.MethodGet, "/readyz", "", nil); status != 503 {
		t.Errorf("readyz while shutting down: %d %s", status, got)
	}
	if status, _ := ts.do(http.MethodGet, "/healthz", "", nil); status != 200 {
		t.Errorf("healthz while shutting down: %d", status)
	}
}

// TestOpenAPIMatchesRoutes checks the embedded OpenAPI document against
// the router: every route documented, nothing documented that is not
// served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	ts := newTestServer(t, nil)
	status, got := ts.do(http.MethodGet, "/v1/openapi.json", "", nil)
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(got), &doc); status != 200 || err != nil || !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Fatalf("openapi.json: %d %v", status, err)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	var served []string
	h := ts.srv.Config.Handler.(*Handler)
	err := chi.Walk(h.router, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		served = append(served, method+" "+strings.TrimSuffix(route, "/"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(documented)
	sort.Strings(served)
	if strings.Join(documented, "\n") != strings.Join(served, "\n") {
		t.Errorf("routes and OpenAPI paths differ:\nserved:\n%s\ndocumented:\n%s", strings.Join(served, "\n"), strings.Join(documented, "\n"))
	}
}

func TestMetrics(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.mustSQL("create table ev (id bigint primary key)")
	if status, _, got := ts.post("/v1/tables/ev/ingest", []byte("id\n1\n2\n3\n"), "Content-Type", mediaCSV); status != 200 {
		t.Fatalf("ingest: %d %s", status, got)
	}
	ts.sql("select nope")
	status, got := ts.do(http.MethodGet, "/metrics", "", nil)
	if status != 200 {
		t.Fatalf("metrics: %d", status)
	}
	for _, want := range []string{
		`mantis_http_requests_total{code="200",method="POST",route="/v1/tables/{table}/ingest"} 1`,
		`mantis_http_requests_total{code="404",method="POST",route="/v1/sql"} 1`,
		`mantis_http_request_duration_seconds_bucket{method="POST",route="/v1/sql",le="+Inf"} 2`,
		`mantis_ingest_rows_total{format="csv"} 3`,
		`mantis_ingest_bytes_total{format="csv"} 9`,
		`mantis_queries_total{outcome="error"} 1`,
		`mantis_queries_total{outcome="ok"} 1`,
		`mantis_query_duration_seconds_count 2`,
		`go_goroutines`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Every metric of this package follows the naming conventions.
	re := regexp.MustCompile(`(?m)^# TYPE (mantis_\S+) (\w+)$`)
	for _, m := range re.FindAllStringSubmatch(got, -1) {
		name, typ := m[1], m[2]
		if typ == "counter" && !strings.HasSuffix(name, "_total") {
			t.Errorf("counter %s does not end in _total", name)
		}
		if typ == "histogram" && !strings.HasSuffix(name, "_seconds") {
			t.Errorf("histogram %s does not end in a unit", name)
		}
	}
	// A second handler over the same DB shares the collectors.
	NewHandler(ts.db, &Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// TestClientDisconnectCancels checks that a query whose client goes away
// stops: the DB can close afterwards (Close waits for running statements).
func TestClientDisconnectCancels(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.mustSQL("create table n (id bigint primary key)")
	var sb strings.Builder
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&sb, "{\"id\": %d}\n", i)
	}
	if status, got := ts.ingest("n", sb.String()); status != 200 {
		t.Fatalf("ingest: %d %s", status, got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.srv.URL+"/v1/sql?q=select+a.id+from+n+a,+n+b", nil)
	resp, err := ts.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1024)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	// 4M rows take far longer than this to stream: the request must stop
	// once its client is gone.
	h := ts.srv.Config.Handler.(*Handler)
	deadline := time.Now().Add(5 * time.Second)
	inFlight := func() float64 {
		var m dto.Metric
		if err := h.metrics.inFlight.Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetGauge().GetValue()
	}
	for inFlight() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the query still runs after its client went away")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSystemTablesOverSQL reads a system table through /v1/sql and gets
// 42809 for a write to one.
func TestSystemTablesOverSQL(t *testing.T) {
	ts := newTestServer(t, nil)
	if got := rowsOf(ts.mustSQL("select table_name, total_rows from system.tables where table_name = 'probe'")); got != `"rows":[["probe",0]]}` {
		t.Errorf("system.tables: %s", got)
	}
	status, body := ts.sql("drop table system.tables")
	if e := errorOf(t, body); status != 400 || e.Code != sqlstate.WrongObjectType {
		t.Errorf("drop table system.tables: %d %s", status, body)
	}
}

// TestBackupEndpoint: POST /v1/backup is refused without a backup
// directory, writes a backup that opens with the table's rows, refuses an
// existing name (409) and a name that leaves the directory (400).
func TestBackupEndpoint(t *testing.T) {
	post := func(ts *testServer, body string) (int, string) {
		return ts.do(http.MethodPost, "/v1/backup", "application/json", strings.NewReader(body))
	}
	off := newTestServer(t, nil)
	if status, _ := post(off, `{"name":"b1"}`); status != http.StatusForbidden {
		t.Errorf("backup without a backup directory: status %d, want 403", status)
	}
	bdir := t.TempDir()
	ts := newTestServer(t, &Options{BackupDir: bdir})
	ts.mustSQL("create table bt (k bigint primary key, v varchar)")
	ts.mustSQL("insert into bt values (1, 'a'), (2, 'b')")
	if status, body := post(ts, `{"name":"b1"}`); status != http.StatusCreated {
		t.Fatalf("backup: %d %s", status, body)
	}
	if status, body := post(ts, `{"name":"b1"}`); status != http.StatusConflict || !strings.Contains(body, "58P02") {
		t.Errorf("backup into an existing name: %d %s, want 409 58P02", status, body)
	}
	for _, name := range []string{"../x", "a/b", ".hidden", ".."} {
		if status, _ := post(ts, `{"name":"`+name+`"}`); status != http.StatusBadRequest {
			t.Errorf("backup name %q: status %d, want 400", name, status)
		}
	}
	if status, body := ts.do(http.MethodPost, "/v1/backup", "", nil); status != http.StatusCreated || !strings.Contains(body, `"name":"backup-`) {
		t.Errorf("backup without a body: %d %s, want 201 with a default name", status, body)
	}
	db, err := mantisdb.Open(filepath.Join(bdir, "b1"), &mantisdb.Options{CompactInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(context.Background(), "select count(*) from bt")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if !rows.Next() || rows.Record().Column(0).ValueStr(0) != "2" {
		t.Errorf("the backup holds other rows than the table's 2 (err %v)", rows.Err())
	}
}

// TestConcurrencyLimitUnreadBody: a request refused by the concurrency
// limit while its body is still arriving gets its 429 at once, not after
// net/http has tried to read 256 KiB of the body (the slow request of
// TestConcurrencyLimit, refused because a probe held the slot, waited for
// its answer until the test gave up).
func TestConcurrencyLimitUnreadBody(t *testing.T) {
	ts := newTestServer(t, &Options{MaxConcurrentRequests: 1})
	ts.mustSQL("create table ev (id bigint primary key)")
	h := ts.srv.Config.Handler.(*Handler)
	h.limit <- struct{}{} // the only slot is taken
	defer func() { <-h.limit }()
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() { _, _ = pw.Write([]byte("{\"id\": 1}\n")) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ts.srv.URL+"/v1/tables/ev/ingest", pr)
	resp, err := ts.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("no answer while the body is open: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429", resp.StatusCode)
	}
}

// TestIngestEarlyErrorUnreadBody checks that an ingest refused before its
// body is read to the end (an unknown table, an unsupported Content-Type,
// a bad first row) is answered at once, with the connection closed after
// the answer, while the client is still sending the body; net/http would
// otherwise read up to 256 KiB of it first.
func TestIngestEarlyErrorUnreadBody(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.mustSQL("create table ev (id bigint primary key)")
	for _, tc := range []struct {
		name, path, ctype, first string
		status                   int
	}{
		{"unknown table", "/v1/tables/nosuch/ingest", "application/x-ndjson", "{\"id\": 1}\n", http.StatusNotFound},
		{"media type", "/v1/tables/ev/ingest", "application/msword", "{\"id\": 1}\n", http.StatusUnsupportedMediaType},
		{"bad row", "/v1/tables/ev/ingest", "application/x-ndjson", "{\"id\": \"x\"}\n{\"id\": 2}\n", http.StatusUnprocessableEntity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr, pw := io.Pipe()
			defer pw.Close()
			go func() { _, _ = pw.Write([]byte(tc.first)) }() // and nothing more
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			// The transport's writer of the body waits in the pipe: end it,
			// or a request that gets no answer never returns.
			context.AfterFunc(ctx, func() { pw.CloseWithError(ctx.Err()) })
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ts.srv.URL+tc.path, pr)
			req.Header.Set("Content-Type", tc.ctype)
			resp, err := ts.srv.Client().Do(req)
			if err != nil {
				t.Fatalf("no answer while the body is open: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status || !resp.Close {
				t.Fatalf("status %d (close %v), want %d and the connection closed", resp.StatusCode, resp.Close, tc.status)
			}
		})
	}
	// A body read to its end keeps the connection.
	status, hdr, got := ts.post("/v1/tables/ev/ingest", []byte(`{"id": "x"}`))
	if status != http.StatusUnprocessableEntity || hdr.Get("Connection") == "close" {
		t.Errorf("whole bad body: %d %q %s", status, hdr.Get("Connection"), got)
	}
}

// TestQueryOverMemoryBudget checks that a query over the database's
// statement memory budget is answered 507 with 53200, and that the server
// goes on answering.
func TestQueryOverMemoryBudget(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := mantisdb.Open(t.TempDir(), &mantisdb.Options{Logger: quiet, QueryMemory: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t, db: db, srv: httptest.NewServer(NewHandler(db, &Options{Logger: quiet}))}
	defer func() {
		ts.srv.Close()
		db.Close()
	}()
	ts.mustSQL("create table s (id bigint primary key, v varchar)")
	var body strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&body, "{\"id\": %d, \"v\": \"%0100d\"}\n", i, i)
	}
	if status, got := ts.ingest("s", body.String()); status != 200 {
		t.Fatalf("ingest: %d %s", status, got)
	}
	status, got := ts.sql("select string_agg(v, ',') from s")
	if e := errorOf(t, got); status != http.StatusInsufficientStorage || e.Code != sqlstate.OutOfMemory {
		t.Errorf("over the budget: %d %s", status, got)
	}
	if got := rowsOf(ts.mustSQL("select count(*) from s")); got != `"rows":[[2000]]}` {
		t.Errorf("after: %s", got)
	}
}
