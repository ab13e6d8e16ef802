package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/parquet/file"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mantisdb/mantisdb/flight"
	"github.com/mantisdb/mantisdb/rest"
)

// serveResult is the outcome of the serve workload: how fast MantisDB's
// servers hand a whole table to a client, by protocol and format.
type serveResult struct {
	Rows  int64        `json:"rows"`
	Runs  int          `json:"runs"`
	Paths []*servePath `json:"paths"`
	// Load is how the table got there: rows/s of DB.Ingest and the
	// compaction time.
	LoadRowsPerSec float64 `json:"load_rows_per_sec"`
	CompactSeconds float64 `json:"compact_seconds"`
	// Scans are queries over the compacted table, run in the process.
	Scans        []*scanQuery `json:"scans"`
	PeakRSSBytes int64        `json:"peak_rss_bytes"`
	Error        string       `json:"error,omitempty"`
}

// servePath is one protocol and format: the median of the runs.
type servePath struct {
	Path string `json:"path"`
	// Bytes is what the client read from the socket (gRPC frames, or the
	// HTTP response body).
	Bytes      int64   `json:"bytes"`
	Rows       int64   `json:"rows"`
	Seconds    float64 `json:"seconds"`
	MBPerSec   float64 `json:"mb_per_sec"`
	RowsPerSec float64 `json:"rows_per_sec"`
	Error      string  `json:"error,omitempty"`
}

type serveParams struct {
	Dir  string `json:"dir"`
	Data string `json:"data"`
	Rows int64  `json:"rows"`
	Runs int    `json:"runs"`
}

// scanQuery is one scan-bound query over the compacted lineitem: the
// median of the runs, rows/s over the table's rows and GB/s over the bytes
// of the columns it reads (their Arrow widths).
type scanQuery struct {
	Name       string  `json:"name"`
	SQL        string  `json:"sql"`
	Seconds    float64 `json:"seconds"`
	RowsPerSec float64 `json:"rows_per_sec"`
	GBPerSec   float64 `json:"gb_per_sec"`
	Error      string  `json:"error,omitempty"`
}

// scanQueries measure the segment scan path (issue #4): a one-column SUM,
// a filter over four columns, and a selective predicate on the sort key
// (l_orderkey, the first primary-key column) beside the same predicate
// hidden from pruning by arithmetic. bytesPerRow is the Arrow width of the
// columns read (DECIMAL 16, DATE 4, BIGINT 8, VARCHAR(1) ~1+4 offset).
var scanQueries = []struct {
	name, sql   string
	bytesPerRow int
}{
	{"SUM of one column", "SELECT sum(l_extendedprice) FROM lineitem", 16},
	{"filter on four columns", "SELECT count(*) FROM lineitem WHERE l_shipdate >= DATE '1994-01-01' AND " +
		"l_discount BETWEEN 0.05 AND 0.07 AND l_quantity < 24 AND l_returnflag = 'R'", 4 + 16 + 16 + 5},
	{"sort-key point predicate (pruned)", "SELECT count(*), sum(l_quantity) FROM lineitem WHERE l_orderkey = %d", 8 + 16},
	{"same predicate, unprunable", "SELECT count(*), sum(l_quantity) FROM lineitem WHERE l_orderkey + 0 = %d", 8 + 16},
}

// restFormats are the result formats of POST /v1/sql the workload reads,
// by Accept header.
var restFormats = []struct{ name, accept string }{
	{"JSON", "application/json"},
	{"NDJSON", "application/x-ndjson"},
	{"CSV", "text/csv"},
	{"Arrow IPC stream", "application/vnd.apache.arrow.stream"},
	{"Parquet", "application/vnd.apache.parquet"},
}

// lineitemRows is the number of lineitem rows at scale factor 1.
const lineitemRows = 6_001_215

func runServe(ctx context.Context, o *options, pr *progress) (*serveResult, error) {
	rows := int64(float64(lineitemRows) * o.SF)
	data, have, err := lineitemFile(o, rows, pr)
	if err != nil {
		return nil, err
	}
	rows = min(rows, have)
	pr.Phase("serve", 1)
	pr.Detail(fmt.Sprintf("%d lineitem rows", rows))
	res := &serveResult{}
	p := serveParams{Dir: filepath.Join(o.WorkDir, "serve"), Data: data, Rows: rows, Runs: o.Runs}
	st, err := runChild(ctx, "serve", o.Threads, p, res, o.ChildTimeout, nil)
	if err != nil {
		res.Error = err.Error()
	}
	res.Rows, res.Runs, res.PeakRSSBytes = rows, o.Runs, st.PeakRSS
	pr.Add(1, "")
	return res, nil
}

func init() {
	childJobs["serve"] = func(ctx context.Context, raw json.RawMessage) (any, error) {
		var p serveParams
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, err
		}
		out := &serveResult{}
		e, err := openEngine(engineMantis, p.Dir, 0)
		if err != nil {
			return nil, err
		}
		defer e.Close()
		me := e.(*mantisEngine)
		if err := loadLineitem(ctx, me, p, out); err != nil {
			out.Error = err.Error()
			return out, nil
		}
		// The point predicates look for the order in the middle of the table.
		mid, err := me.Query(ctx, "SELECT min(l_orderkey) FROM lineitem WHERE l_orderkey >= (SELECT max(l_orderkey) / 2 FROM lineitem)")
		if err != nil || len(mid) != 1 {
			out.Error = fmt.Sprintf("middle order key: %v %v", mid, err)
			return out, nil
		}
		for _, q := range scanQueries {
			sql := q.sql
			if strings.Contains(sql, "%d") {
				sql = fmt.Sprintf(sql, int64(mid[0][0].(float64)))
			}
			out.Scans = append(out.Scans, measureScan(ctx, me, q.name, sql, q.bytesPerRow, p.Rows, p.Runs))
		}
		quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
		const query = "SELECT * FROM lineitem"

		// Flight SQL: Execute, then DoGet of every endpoint.
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		srv := flight.NewServer(me.db, &flight.Options{Logger: quiet})
		go srv.Serve(lis)
		defer srv.Stop()
		var wire atomic.Int64
		client, err := flightsql.NewClient(lis.Addr().String(), nil, nil,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
				c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
				if err != nil {
					return nil, err
				}
				return &countingConn{Conn: c, n: &wire}, nil
			}))
		if err != nil {
			return nil, err
		}
		defer client.Close()
		out.Paths = append(out.Paths, measureServe("Flight SQL DoGet (Arrow IPC over gRPC)", p.Runs, p.Rows, func() (int64, int64, error) {
			before := wire.Load()
			n, err := flightQuery(ctx, client, query)
			return n, wire.Load() - before, err
		}))

		// REST: POST /v1/sql with each Accept format.
		hs := httptest.NewServer(rest.NewHandler(me.db, &rest.Options{Logger: quiet}))
		defer hs.Close()
		for _, f := range restFormats {
			out.Paths = append(out.Paths, measureServe("REST "+f.name+" (POST /v1/sql)", p.Runs, p.Rows, func() (int64, int64, error) {
				return restQuery(ctx, hs.Client(), hs.URL, query, f.accept)
			}))
		}
		return out, nil
	}
}

// loadLineitem creates lineitem, ingests p's rows with DB.Ingest and
// compacts them into segments, so that reads measure the columnar tier.
func loadLineitem(ctx context.Context, me *mantisEngine, p serveParams, out *serveResult) error {
	recs, err := readBatches(p.Data, p.Rows)
	if err != nil {
		return err
	}
	defer releaseAll(recs)
	if _, err := me.Exec(ctx, tpchTable("lineitem").ddl()); err != nil {
		return fmt.Errorf("create table: %w", err)
	}
	start := time.Now()
	for _, rec := range recs {
		if err := me.Load(ctx, "lineitem", rec); err != nil {
			return fmt.Errorf("ingest: %w", err)
		}
	}
	out.LoadRowsPerSec = float64(p.Rows) / time.Since(start).Seconds()
	start = time.Now()
	if err := me.compact(ctx); err != nil {
		return err
	}
	out.CompactSeconds = time.Since(start).Seconds()
	return nil
}

// measureScan runs sql runs times (after one warm-up) and reports the
// median.
func measureScan(ctx context.Context, me *mantisEngine, name, sql string, bytesPerRow int, rows int64, runs int) *scanQuery {
	sq := &scanQuery{Name: name, SQL: sql}
	var secs []float64
	for i := -1; i < runs; i++ {
		start := time.Now()
		if _, err := me.Query(ctx, sql); err != nil {
			sq.Error = err.Error()
			return sq
		}
		if i >= 0 {
			secs = append(secs, time.Since(start).Seconds())
		}
	}
	sq.Seconds = median(secs)
	if sq.Seconds > 0 {
		sq.RowsPerSec = float64(rows) / sq.Seconds
		sq.GBPerSec = float64(rows) * float64(bytesPerRow) / 1e9 / sq.Seconds
	}
	return sq
}

// measureServe runs read runs times and reports the median run; a run
// that reads other than want rows ends it with an error.
func measureServe(path string, runs int, want int64, read func() (rows, bytes int64, err error)) *servePath {
	sp := &servePath{Path: path}
	var secs []float64
	for range runs {
		start := time.Now()
		rows, n, err := read()
		if err != nil {
			sp.Error = err.Error()
			return sp
		}
		secs = append(secs, time.Since(start).Seconds())
		sp.Rows, sp.Bytes = rows, n
		if rows != want {
			sp.Error = fmt.Sprintf("run %d of %d read %d rows, want %d", len(secs), runs, rows, want)
			return sp
		}
	}
	sp.Seconds = median(secs)
	if sp.Seconds > 0 {
		sp.MBPerSec = float64(sp.Bytes) / 1e6 / sp.Seconds
		sp.RowsPerSec = float64(sp.Rows) / sp.Seconds
	}
	return sp
}

// flightQuery runs query over Flight SQL and reads every endpoint's stream
// to its end, returning the rows read.
func flightQuery(ctx context.Context, client *flightsql.Client, query string) (int64, error) {
	info, err := client.Execute(ctx, query)
	if err != nil {
		return 0, err
	}
	var rows int64
	for _, ep := range info.Endpoint {
		rdr, err := client.DoGet(ctx, ep.Ticket)
		if err != nil {
			return rows, err
		}
		for rdr.Next() {
			rows += rdr.RecordBatch().NumRows()
		}
		err = rdr.Err()
		rdr.Release()
		if err != nil {
			return rows, err
		}
	}
	return rows, nil
}

// restQuery posts query to /v1/sql asking for the given format, reads the
// whole body and returns the rows in it and its bytes. Rows are counted
// as the body streams by, cheaply: Arrow IPC by its batches, Parquet by its
// footer, NDJSON and CSV (less the header) by their newlines, JSON by the
// "],[" between its row arrays (the workload's strings hold none).
func restQuery(ctx context.Context, client *http.Client, base, query, accept string) (int64, int64, error) {
	body, _ := json.Marshal(map[string]string{"sql": query})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/sql", bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", accept)
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, 0, fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
	}
	cr := &countingReader{r: resp.Body}
	var rows int64
	switch accept {
	case "application/vnd.apache.arrow.stream":
		rdr, err := ipc.NewReader(cr)
		if err != nil {
			return 0, cr.n, err
		}
		defer rdr.Release()
		for rdr.Next() {
			rows += rdr.RecordBatch().NumRows()
		}
		if err := rdr.Err(); err != nil {
			return rows, cr.n, err
		}
	case "application/vnd.apache.parquet":
		raw, err := io.ReadAll(cr)
		if err != nil {
			return 0, cr.n, err
		}
		pr, err := file.NewParquetReader(bytes.NewReader(raw))
		if err != nil {
			return 0, cr.n, err
		}
		rows = pr.NumRows()
		_ = pr.Close()
	default:
		sep := []byte("\n")
		if accept == "application/json" {
			sep = []byte("],[")
		}
		sc := &sepCounter{sep: sep}
		if _, err := io.Copy(sc, cr); err != nil {
			return 0, cr.n, err
		}
		rows = sc.n
		switch {
		case accept == "text/csv":
			rows-- // the header
		case accept == "application/json" && bytes.Contains(sc.head, []byte(`"rows":[[`)):
			rows++ // n rows have n-1 separators
		}
	}
	_, err = io.Copy(io.Discard, cr)
	return rows, cr.n, err
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// sepCounter counts the occurrences of sep in what is written to it, also
// those split between two writes; it keeps the first bytes written in head.
type sepCounter struct {
	sep  []byte
	n    int64
	tail []byte
	head []byte
}

func (c *sepCounter) Write(p []byte) (int, error) {
	if len(c.head) < 4096 {
		c.head = append(c.head, p[:min(len(p), 4096-len(c.head))]...)
	}
	// Occurrences that straddle the previous write and this one.
	k := len(c.sep) - 1
	if k > 0 && len(c.tail) > 0 {
		joint := append(append([]byte(nil), c.tail...), p[:min(len(p), k)]...)
		c.n += int64(bytes.Count(joint, c.sep))
	}
	c.n += int64(bytes.Count(p, c.sep))
	if k > 0 {
		c.tail = append(c.tail[:0], p[max(0, len(p)-k):]...)
	}
	return len(p), nil
}

// countingConn counts the bytes read from a connection.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (r *report) serveMarkdown() string {
	s := r.Serve
	var sb strings.Builder
	sb.WriteString("## Serving\n\n")
	r.runLine(&sb)
	fmt.Fprintf(&sb, "`SELECT * FROM lineitem` (%d rows, loaded with `DB.Ingest` at %s rows/s and compacted into segments in "+
		"%s s) read whole by a client over loopback TCP, the real Flight SQL and HTTP handlers in the measuring process; "+
		"median of %d runs. Bytes are what the client read from the socket (gRPC frames; the HTTP body). DuckDB has no "+
		"server, so there is no DuckDB column; Go Flight's loopback ceiling on this machine class is about 1.1 GB/s.\n\n",
		s.Rows, rate(s.LoadRowsPerSec), num(s.CompactSeconds), s.Runs)
	if s.Error != "" {
		fmt.Fprintf(&sb, "Error: %s\n\n", cell(s.Error))
	}
	sb.WriteString("| path | rows | MB read | seconds | MB/s | rows/s | error |\n|---|---:|---:|---:|---:|---:|---|\n")
	for _, p := range s.Paths {
		mbs, rps, secs := "–", "–", "–"
		if p.Error == "" {
			mbs, rps, secs = num(p.MBPerSec), rate(p.RowsPerSec), num(p.Seconds)
		}
		fmt.Fprintf(&sb, "| %s | %d | %s | %s | %s | %s | %s |\n", p.Path, p.Rows, num(float64(p.Bytes)/1e6), secs, mbs, rps, cell(p.Error))
	}
	fmt.Fprintf(&sb, "\nPeak RSS of the serving process: %s.\n\n", bytesText(s.PeakRSSBytes))
	if len(s.Scans) > 0 {
		fmt.Fprintf(&sb, "Scans of the same compacted table, embedded (`DB.Query`), median of %d runs after a warm-up; rows/s "+
			"over the table's %d rows, GB/s over the Arrow width of the columns each query reads. Compaction of the "+
			"table: %s rows/s.\n\n", s.Runs, s.Rows, rate(float64(s.Rows)/max(s.CompactSeconds, 1e-9)))
		sb.WriteString("| scan | seconds | rows/s | GB/s | error |\n|---|---:|---:|---:|---|\n")
		for _, q := range s.Scans {
			secs, rps, gbs := "–", "–", "–"
			if q.Error == "" {
				secs, rps, gbs = num(q.Seconds), rate(q.RowsPerSec), num(q.GBPerSec)
			}
			fmt.Fprintf(&sb, "| %s | %s | %s | %s | %s |\n", q.Name, secs, rps, gbs, cell(q.Error))
		}
		sb.WriteString("\n")
	}
	return sb.String()
}
