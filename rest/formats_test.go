package rest

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/klauspost/compress/zstd"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// rtTable is the table of the round-trip tests: every kind of value that
// formats get wrong (NULLs, unicode, decimals, dates, timestamps).
const rtTable = `(id bigint primary key, name varchar, price decimal(12,3), day date, at timestamp, f double, ok boolean)`

// rtRows are the rows in the JSON answer of "select * from T order by id".
const rtRows = `"rows":[[1,"ada, \"the\" first",12.345,"2024-01-02","2024-01-02T03:04:05.123456",1.5,true],` +
	`[2,"日本語 🦐",-0.005,"1969-12-31","1970-01-01T00:00:00",-2.25,false],` +
	`[3,null,null,null,null,null,null]]}`

// rtBodies are the rows of rtRows in every text ingest format.
var rtBodies = map[string]string{
	mediaNDJSON: `{"id":1,"name":"ada, \"the\" first","price":12.345,"day":"2024-01-02","at":"2024-01-02T03:04:05.123456","f":1.5,"ok":true}
{"id":2,"name":"日本語 🦐","price":"-0.005","day":"1969-12-31","at":"1970-01-01 00:00:00","f":-2.25,"ok":false}
{"id":3}
`,
	mediaJSON: `[
 {"id":1,"name":"ada, \"the\" first","price":12.345,"day":"2024-01-02","at":"2024-01-02T03:04:05.123456","f":1.5,"ok":true},
 {"id":2,"name":"日本語 🦐","price":"-0.005","day":"1969-12-31","at":"1970-01-01 00:00:00","f":-2.25,"ok":false},
 {"id":3, "name": null}
]`,
	mediaCSV: "id,name,price,day,at,f,ok\r\n" +
		"1,\"ada, \"\"the\"\" first\",12.345,2024-01-02,2024-01-02T03:04:05.123456,1.5,true\n" +
		"2,日本語 🦐,-0.005,1969-12-31,1970-01-01 00:00:00,-2.25,f\n" +
		"3,,,,,,\n",
}

// rtRecord returns the rows of rtRows as an Arrow record (the caller
// releases it).
func rtRecord(mem memory.Allocator) arrow.RecordBatch {
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "price", Type: &arrow.Decimal128Type{Precision: 12, Scale: 3}, Nullable: true},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Microsecond}, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(mem, sch)
	defer b.Release()
	b.Field(0).(*array.Int64Builder).AppendValues([]int64{1, 2, 3}, nil)
	b.Field(1).(*array.StringBuilder).AppendValues([]string{`ada, "the" first`, "日本語 🦐", ""}, []bool{true, true, false})
	b.Field(2).(*array.Decimal128Builder).AppendValues([]decimal128.Num{decimal128.FromI64(12345), decimal128.FromI64(-5), {}}, []bool{true, true, false})
	b.Field(3).(*array.Date32Builder).AppendValues([]arrow.Date32{19724, -1, 0}, []bool{true, true, false})
	b.Field(4).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{1704164645123456, 0, 0}, []bool{true, true, false})
	b.Field(5).(*array.Float64Builder).AppendValues([]float64{1.5, -2.25, 0}, []bool{true, true, false})
	b.Field(6).(*array.BooleanBuilder).AppendValues([]bool{true, false, false}, []bool{true, true, false})
	return b.NewRecordBatch()
}

func arrowStream(t *testing.T, rec arrow.RecordBatch) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()))
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func parquetFile(t *testing.T, rec arrow.RecordBatch) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := pqarrow.NewFileWriter(rec.Schema(), &buf, nil, pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipped(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstded(t *testing.T, b []byte) []byte {
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer zw.Close()
	return zw.EncodeAll(b, nil)
}

// post sends a request with headers and returns status, headers and body.
func (ts *testServer) post(path string, body []byte, headers ...string) (int, http.Header, string) {
	ts.t.Helper()
	req, err := http.NewRequest(http.MethodPost, ts.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		ts.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
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
	return resp.StatusCode, resp.Header, string(b)
}

// rowsOf returns the "rows" part of a JSON query answer.
func rowsOf(body string) string {
	if i := strings.Index(body, `"rows":`); i >= 0 {
		return strings.TrimSpace(body[i:])
	}
	return body
}

// TestIngestFormats ingests the same rows in every format and encoding and
// reads them back.
func TestIngestFormats(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	ts := newTestServer(t, &Options{Allocator: mem, IngestBatchRows: 2})
	rec := rtRecord(mem)
	defer rec.Release()
	bodies := map[string][]byte{
		mediaArrow:   arrowStream(t, rec),
		mediaParquet: parquetFile(t, rec),
	}
	for k, v := range rtBodies {
		bodies[k] = []byte(v)
	}
	n := 0
	for _, media := range []string{mediaNDJSON, mediaJSON, mediaCSV, mediaArrow, mediaParquet} {
		for _, enc := range []string{"", "gzip", "zstd"} {
			n++
			table := fmt.Sprintf("rt%d", n)
			t.Run(formatShortName(media)+"/"+enc, func(t *testing.T) {
				ts.mustSQL("create table " + table + " " + rtTable)
				body := bodies[media]
				switch enc {
				case "gzip":
					body = gzipped(t, body)
				case "zstd":
					body = zstded(t, body)
				}
				status, _, got := ts.post("/v1/tables/"+table+"/ingest", body, "Content-Type", media, "Content-Encoding", enc)
				if status != 200 || strings.TrimSpace(got) != `{"rows_written":3}` {
					t.Fatalf("ingest: %d %s", status, got)
				}
				if got := rowsOf(ts.mustSQL("select * from " + table + " order by id")); got != rtRows {
					t.Errorf("read back:\n got %s\nwant %s", got, rtRows)
				}
			})
		}
	}
}

// TestQueryFormats answers a query in every result format and ingests the
// answer into a new table: what comes back must be what went in.
func TestQueryFormats(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	ts := newTestServer(t, &Options{Allocator: mem})
	ts.mustSQL("create table src " + rtTable)
	if status, body := ts.do(http.MethodPost, "/v1/tables/src/ingest", mediaNDJSON, strings.NewReader(rtBodies[mediaNDJSON])); status != 200 {
		t.Fatalf("ingest: %d %s", status, body)
	}
	for i, media := range []string{mediaNDJSON, mediaCSV, mediaArrow, mediaParquet} {
		t.Run(formatShortName(media), func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, ts.srv.URL+"/v1/sql?q="+strings.ReplaceAll("select * from src order by id", " ", "+"), nil)
			req.Header.Set("Accept", media+", application/json;q=0.5")
			resp, err := ts.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), media) {
				t.Fatalf("query: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), out)
			}
			table := fmt.Sprintf("copy%d", i)
			ts.mustSQL("create table " + table + " " + rtTable)
			status, _, got := ts.post("/v1/tables/"+table+"/ingest", out, "Content-Type", media)
			if status != 200 {
				t.Fatalf("ingest of the answer: %d %s\n%s", status, got, out)
			}
			if got := rowsOf(ts.mustSQL("select * from " + table + " order by id")); got != rtRows {
				t.Errorf("round trip:\n got %s\nwant %s", got, rtRows)
			}
		})
	}
	// The CSV text itself, and the JSON default.
	if _, _, got := ts.post("/v1/sql?format=csv", []byte(`{"sql": "select id, name, price, day from src order by id"}`)); got !=
		"id,name,price,day\r\n1,\"ada, \"\"the\"\" first\",12.345,2024-01-02\r\n2,日本語 🦐,-0.005,1969-12-31\r\n3,,,\r\n" {
		t.Errorf("csv: %q", got)
	}
	if _, _, got := ts.post("/v1/sql?format=ndjson", []byte(`{"sql": "select id, name from src where id < 3 order by id"}`)); got !=
		"{\"id\":1,\"name\":\"ada, \\\"the\\\" first\"}\n{\"id\":2,\"name\":\"日本語 🦐\"}\n" {
		t.Errorf("ndjson: %q", got)
	}
	status, _, got := ts.post("/v1/sql", []byte(`{"sql": "select 1"}`), "Accept", "application/xml")
	if e := errorOf(t, got); status != 406 || e.Code != sqlstate.FeatureNotSupported {
		t.Errorf("unacceptable: %d %s", status, got)
	}
}

// TestIngestBadRowDeep sends 100K rows with one bad row in the middle, in
// CSV and as a JSON array: 422 naming the row, nothing written.
func TestIngestBadRowDeep(t *testing.T) {
	ts := newTestServer(t, &Options{MaxBodyBytes: 64 << 20})
	ts.mustSQL("create table big (id bigint primary key, name varchar, amount decimal(12,2))")
	const rows, bad = 100_000, 54_321
	var csvBody, jsonBody strings.Builder
	csvBody.WriteString("id,name,amount\n")
	jsonBody.WriteString("[\n")
	for i := 1; i <= rows; i++ {
		amount := fmt.Sprintf("%d.5", i)
		if i == bad {
			amount = "12x"
		}
		fmt.Fprintf(&csvBody, "%d,n%d,%s\n", i, i, amount)
		if i > 1 {
			jsonBody.WriteString(",\n")
		}
		fmt.Fprintf(&jsonBody, `{"id":%d,"name":"n%d","amount":"%s"}`, i, i, amount)
	}
	jsonBody.WriteString("\n]")
	for _, tt := range []struct {
		media, body string
		line        float64
	}{
		{mediaCSV, csvBody.String(), bad + 1},
		{mediaJSON, jsonBody.String(), bad + 1},
	} {
		status, _, got := ts.post("/v1/tables/big/ingest", []byte(tt.body), "Content-Type", tt.media)
		e := errorOf(t, got)
		if status != 422 || e.Code != sqlstate.InvalidText || e.Details["row"] != float64(bad) || e.Details["line"] != tt.line || e.Details["column"] != "amount" {
			t.Errorf("%s: %d %s", tt.media, status, got)
		}
		if got := rowsOf(ts.mustSQL("select count(*) from big")); got != `"rows":[[0]]}` {
			t.Errorf("%s: rows written by a failed ingest: %s", tt.media, got)
		}
	}
	// Without the bad row, all of it.
	fixed := strings.Replace(csvBody.String(), "12x", "1", 1)
	if status, _, got := ts.post("/v1/tables/big/ingest", []byte(fixed), "Content-Type", mediaCSV, "Content-Encoding", "gzip"); status != 400 {
		t.Errorf("plain body sent as gzip: %d %s", status, got)
	}
	if status, _, got := ts.post("/v1/tables/big/ingest", gzipped(t, []byte(fixed)), "Content-Type", mediaCSV, "Content-Encoding", "gzip"); status != 200 || !strings.Contains(got, `"rows_written":100000`) {
		t.Errorf("fixed body: %d %s", status, got)
	}
}

func TestIngestErrors(t *testing.T) {
	ts := newTestServer(t, &Options{MaxBodyBytes: 1 << 20, MaxDecodedBytes: 2 << 20})
	ts.mustSQL("create table e (id bigint primary key, name varchar not null, ok boolean)")
	bomb := gzipped(t, bytes.Repeat([]byte("x"), 8<<20)) // 8 MiB of text in a few KiB
	tests := []struct {
		name    string
		path    string
		body    []byte
		headers []string
		status  int
		code    sqlstate.Code
	}{
		{"malformed csv", "e", []byte("id,name\n1,\"x\n"), []string{"Content-Type", mediaCSV}, 400, sqlstate.InvalidText},
		{"csv short row", "e", []byte("id,name\n1,a\n2\n"), []string{"Content-Type", mediaCSV}, 400, sqlstate.InvalidText},
		{"csv unknown column", "e", []byte("id,colour\n1,red\n"), []string{"Content-Type", mediaCSV}, 422, sqlstate.UndefinedColumn},
		{"csv missing not null", "e", []byte("id\n1\n"), []string{"Content-Type", mediaCSV}, 422, sqlstate.NotNullViolation},
		{"csv null in not null", "e", []byte("id,name\n1,\n"), []string{"Content-Type", mediaCSV}, 422, sqlstate.NotNullViolation},
		{"csv bad boolean", "e", []byte("id,name,ok\n1,a,maybe\n"), []string{"Content-Type", mediaCSV}, 422, sqlstate.InvalidText},
		{"json not an array", "e", []byte(`{"id": 1}`), []string{"Content-Type", mediaJSON}, 400, sqlstate.InvalidText},
		{"json unterminated", "e", []byte(`[{"id": 1, "name": "a"}`), []string{"Content-Type", mediaJSON}, 400, sqlstate.InvalidText},
		{"json trailing", "e", []byte(`[{"id": 1, "name": "a"}] x`), []string{"Content-Type", mediaJSON}, 400, sqlstate.InvalidText},
		{"json not objects", "e", []byte(`[1, 2]`), []string{"Content-Type", mediaJSON}, 400, sqlstate.InvalidText},
		{"arrow garbage", "e", []byte("not arrow"), []string{"Content-Type", mediaArrow}, 400, sqlstate.InvalidText},
		{"parquet garbage", "e", []byte("not parquet"), []string{"Content-Type", mediaParquet}, 400, sqlstate.InvalidText},
		{"unknown encoding", "e", []byte(`{"id": 1}`), []string{"Content-Encoding", "br"}, 415, sqlstate.FeatureNotSupported},
		{"gzip bomb", "e", bomb, []string{"Content-Type", mediaCSV, "Content-Encoding", "gzip"}, 413, sqlstate.ProgramLimitExceeded},
		{"bad on_conflict", "e?on_conflict=merge", []byte(`{"id": 1, "name": "a"}`), nil, 400, sqlstate.InvalidParameterValue},
		{"bad option", "e?colour=red", []byte(`{"id": 1, "name": "a"}`), nil, 400, sqlstate.InvalidParameterValue},
		{"bad delimiter", "e?delimiter=ab", []byte("id;name\n"), []string{"Content-Type", mediaCSV}, 400, sqlstate.InvalidParameterValue},
		{"unknown table", "nope", []byte(`{"id": 1}`), nil, 404, sqlstate.UndefinedTable},
		{"bad idempotency key", "e", []byte(`{"id": 1, "name": "a"}`), []string{"Idempotency-Key", "it's"}, 400, sqlstate.InvalidParameterValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, query, _ := strings.Cut(tt.path, "?")
			status, _, got := ts.post("/v1/tables/"+path+"/ingest?"+query, tt.body, tt.headers...)
			if e := errorOf(t, got); status != tt.status || e.Code != tt.code {
				t.Errorf("got %d %s, want %d %s", status, got, tt.status, tt.code)
			}
		})
	}
	if got := rowsOf(ts.mustSQL("select count(*) from e")); got != `"rows":[[0]]}` {
		t.Errorf("rows written by failed ingests: %s", got)
	}
	// Options: a tab delimiter and a NULL spelling.
	status, _, got := ts.post("/v1/tables/e/ingest?delimiter=tab&null=%5CN", []byte("id\tname\tok\n1\ta,b\t\\N\n2\t\\N x\tyes\n"), "Content-Type", mediaCSV)
	if status != 200 {
		t.Fatalf("tsv: %d %s", status, got)
	}
	if got := rowsOf(ts.mustSQL("select * from e order by id")); got != `"rows":[[1,"a,b",null],[2,"\\N x",true]]}` {
		t.Errorf("tsv rows: %s", got)
	}
}

func TestIngestCreate(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	ts := newTestServer(t, &Options{Allocator: mem})
	rec := rtRecord(mem)
	defer rec.Release()
	tests := []struct {
		media string
		body  []byte
		types string // the column types GET /v1/tables/{t} reports
	}{
		{mediaNDJSON, []byte("{\"id\": 1, \"name\": \"a\", \"f\": 1}\n{\"id\": 2, \"f\": 2.5, \"day\": \"2024-01-02\", \"ok\": true}\n"), "BIGINT VARCHAR DOUBLE DATE BOOLEAN"},
		{mediaJSON, []byte(`[{"id": 1, "at": "2024-01-02T03:04:05"}, {"id": 2, "at": null}]`), "BIGINT TIMESTAMP"},
		{mediaCSV, []byte("id,name,price,day\n1,x,1.5,2024-01-02\n2,,2,2024-01-03\n"), "BIGINT VARCHAR DOUBLE DATE"},
		{mediaArrow, arrowStream(t, rec), "BIGINT VARCHAR DECIMAL(12,3) DATE TIMESTAMP DOUBLE BOOLEAN"},
		{mediaParquet, parquetFile(t, rec), "BIGINT VARCHAR DECIMAL(12,3) DATE TIMESTAMP DOUBLE BOOLEAN"},
	}
	for i, tt := range tests {
		t.Run(formatShortName(tt.media), func(t *testing.T) {
			table := fmt.Sprintf("made%d", i)
			status, _, got := ts.post("/v1/tables/"+table+"/ingest?create=true", tt.body, "Content-Type", tt.media)
			if status != 200 || !strings.Contains(got, `"rows_written"`) {
				t.Fatalf("ingest: %d %s", status, got)
			}
			status, desc := ts.do(http.MethodGet, "/v1/tables/"+table, "", nil)
			var types []string
			for _, part := range strings.Split(desc, `"type":"`)[1:] {
				types = append(types, part[:strings.IndexByte(part, '"')])
			}
			if status != 200 || strings.Join(types, " ") != tt.types {
				t.Errorf("table: %d %s, want types %s", status, desc, tt.types)
			}
		})
	}
	if got := rowsOf(ts.mustSQL("select * from made3 order by id")); got != rtRows {
		t.Errorf("arrow-created table:\n got %s\nwant %s", got, rtRows)
	}
}

// TestIngestOnConflict checks on_conflict=error|ignore|upsert: a taken key
// fails the whole request (409, nothing written), is skipped, or replaces
// the row; a key repeated inside one body counts as taken by its first row.
func TestIngestOnConflict(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.mustSQL("create table u (id bigint primary key, name varchar, n int)")
	ingest := func(query, body string) (int, string) {
		status, _, got := ts.post("/v1/tables/u/ingest"+query, []byte(body), "Content-Type", mediaNDJSON)
		return status, string(got)
	}
	rows := func() string { return rowsOf(ts.mustSQL("select * from u order by id")) }
	if status, got := ingest("", `{"id": 1, "name": "a", "n": 1}`+"\n"+`{"id": 2, "name": "b", "n": 2}`); status != 200 {
		t.Fatalf("first ingest: %d %s", status, got)
	}
	if status, got := ingest("?on_conflict=error", `{"id": 3, "name": "c"}`+"\n"+`{"id": 2, "name": "x"}`); status != 409 ||
		errorOf(t, got).Code != sqlstate.UniqueViolation {
		t.Errorf("on_conflict=error: got %d %s, want 409 23505", status, got)
	}
	if got := rows(); got != `"rows":[[1,"a",1],[2,"b",2]]}` {
		t.Fatalf("after the failed ingest: %s", got)
	}
	if status, got := ingest("?on_conflict=ignore", `{"id": 3, "name": "c", "n": 3}`+"\n"+`{"id": 2, "name": "x"}`+"\n"+`{"id": 3, "name": "again"}`); status != 200 {
		t.Fatalf("on_conflict=ignore: %d %s", status, got)
	}
	if got := rows(); got != `"rows":[[1,"a",1],[2,"b",2],[3,"c",3]]}` {
		t.Errorf("after on_conflict=ignore: %s", got)
	}
	if status, got := ingest("?on_conflict=upsert", `{"id": 1, "name": "A"}`+"\n"+`{"id": 4, "name": "d", "n": 4}`); status != 200 {
		t.Fatalf("on_conflict=upsert: %d %s", status, got)
	}
	if got := rows(); got != `"rows":[[1,"A",null],[2,"b",2],[3,"c",3],[4,"d",4]]}` {
		t.Errorf("after on_conflict=upsert: %s", got)
	}
	// With an idempotency key: the retry writes nothing again.
	for i := 0; i < 2; i++ {
		status, _, got := ts.post("/v1/tables/u/ingest?on_conflict=upsert", []byte(`{"id": 5, "name": "e"}`),
			"Content-Type", mediaNDJSON, "Idempotency-Key", "upsert-5")
		if status != 200 {
			t.Fatalf("idempotent upsert %d: %d %s", i, status, got)
		}
	}
	if got := rowsOf(ts.mustSQL("select count(*) from u")); got != `"rows":[[5]]}` {
		t.Errorf("count after idempotent upserts: %s", got)
	}
}

// TestIngestArrowBadRow checks that a bad value in an Arrow IPC or Parquet
// body is answered like one in a text body: 422 with the code, the
// 1-based row of the body (counted across batches) and the column; and
// that nothing is written.
func TestIngestArrowBadRow(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.mustSQL("create table ab (id bigint primary key, amount decimal(5,2), name varchar(3), code int not null)")
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "amount", Type: &arrow.Decimal128Type{Precision: 5, Scale: 2}, Nullable: true},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "code", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	}, nil)
	// batches returns rows 1..6 in two batches; bad, when set, spoils row 5.
	batches := func(bad string) []arrow.RecordBatch {
		var out []arrow.RecordBatch
		for lo := 1; lo <= 6; lo += 3 {
			b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
			for id := lo; id < lo+3; id++ {
				amount, name, codeNull := decimal128.FromI64(-99999), "日本語", false // the extremes that fit
				if id == 5 {
					switch bad {
					case "amount":
						amount = decimal128.FromI64(100000) // 1000.00: 6 digits
					case "name":
						name = "abcd"
					case "code":
						codeNull = true
					}
				}
				b.Field(0).(*array.Int64Builder).Append(int64(id))
				b.Field(1).(*array.Decimal128Builder).Append(amount)
				b.Field(2).(*array.StringBuilder).Append(name)
				b.Field(3).(*array.Int32Builder).AppendValues([]int32{7}, []bool{!codeNull})
			}
			out = append(out, b.NewRecordBatch())
			b.Release()
		}
		return out
	}
	bodies := func(bad string) map[string][]byte {
		recs := batches(bad)
		defer func() {
			for _, r := range recs {
				r.Release()
			}
		}()
		var buf bytes.Buffer
		w := ipc.NewWriter(&buf, ipc.WithSchema(sch))
		for _, r := range recs {
			if err := w.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		var pq bytes.Buffer
		pw, err := pqarrow.NewFileWriter(sch, &pq, nil, pqarrow.DefaultWriterProps())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if err := pw.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := pw.Close(); err != nil {
			t.Fatal(err)
		}
		return map[string][]byte{mediaArrow: buf.Bytes(), mediaParquet: pq.Bytes()}
	}
	for _, tc := range []struct {
		column string
		code   sqlstate.Code
	}{
		{"amount", sqlstate.NumericOutOfRange},
		{"name", sqlstate.StringDataTooLong},
		{"code", sqlstate.NotNullViolation},
	} {
		for media, body := range bodies(tc.column) {
			status, _, got := ts.post("/v1/tables/ab/ingest", body, "Content-Type", media)
			e := errorOf(t, got)
			if status != 422 || e.Code != tc.code || e.Details["row"] != float64(5) || e.Details["column"] != tc.column ||
				!strings.HasPrefix(e.Message, `row 5, column "`+tc.column+`": `) {
				t.Errorf("%s, bad %s: %d %s", media, tc.column, status, got)
			}
		}
		if got := rowsOf(ts.mustSQL("select count(*) from ab")); got != `"rows":[[0]]}` {
			t.Errorf("bad %s: rows written by a failed ingest: %s", tc.column, got)
		}
	}
	for media, body := range bodies("") {
		if status, _, got := ts.post("/v1/tables/ab/ingest", body, "Content-Type", media); status != 200 || !strings.Contains(got, `"rows_written":6`) {
			t.Errorf("%s, good body: %d %s", media, status, got)
		}
		ts.mustSQL("delete from ab")
	}
}
