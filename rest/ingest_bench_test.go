package rest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/catalog"
)

// lineitemDDL is the lineitem-shaped table of the ingest benchmarks (the
// bench harness's TPC-H lineitem: 16 columns, a two-column primary key).
const lineitemDDL = `CREATE TABLE lineitem (l_orderkey BIGINT NOT NULL, l_partkey BIGINT NOT NULL,
l_suppkey BIGINT NOT NULL, l_linenumber INT NOT NULL, l_quantity DECIMAL(15,2) NOT NULL,
l_extendedprice DECIMAL(15,2) NOT NULL, l_discount DECIMAL(15,2) NOT NULL, l_tax DECIMAL(15,2) NOT NULL,
l_returnflag VARCHAR(1) NOT NULL, l_linestatus VARCHAR(1) NOT NULL, l_shipdate DATE NOT NULL,
l_commitdate DATE NOT NULL, l_receiptdate DATE NOT NULL, l_shipinstruct VARCHAR(25) NOT NULL,
l_shipmode VARCHAR(10) NOT NULL, l_comment VARCHAR(44) NOT NULL, PRIMARY KEY (l_orderkey, l_linenumber))`

var (
	shipInstructs = []string{"DELIVER IN PERSON", "COLLECT COD", "NONE", "TAKE BACK RETURN"}
	shipModes     = []string{"REG AIR", "AIR", "RAIL", "SHIP", "TRUCK", "MAIL", "FOB"}
)

// lineitemBodies renders n rows of lineitem-shaped data (dbgen-like values)
// as bodies of rowsPerBody rows each, NDJSON or CSV with a header.
func lineitemBodies(n, rowsPerBody int, csv bool) [][]byte {
	return lineitemBodiesAt(0, n, rowsPerBody, csv)
}

// lineitemBodiesAt is lineitemBodies of rows [first, first+n).
func lineitemBodiesAt(first, n, rowsPerBody int, csv bool) [][]byte {
	var bodies [][]byte
	var b bytes.Buffer
	for i := first; i < first+n; i++ {
		if (i-first)%rowsPerBody == 0 {
			if b.Len() > 0 {
				bodies = append(bodies, bytes.Clone(b.Bytes()))
				b.Reset()
			}
			if csv {
				b.WriteString("l_orderkey,l_partkey,l_suppkey,l_linenumber,l_quantity,l_extendedprice,l_discount,l_tax,l_returnflag,l_linestatus,l_shipdate,l_commitdate,l_receiptdate,l_shipinstruct,l_shipmode,l_comment\n")
			}
		}
		ok, ln := int64(i/4+1), i%4+1
		day := 8000 + i%2500
		d := func(off int) string {
			return time.Unix(int64(day+off)*86400, 0).UTC().Format(time.DateOnly)
		}
		qty := i%50 + 1
		price := fmt.Sprintf("%d.%02d", qty*(900+i%1000), i%100)
		disc, tax := fmt.Sprintf("0.%02d", i%11), fmt.Sprintf("0.%02d", i%9)
		comment := fmt.Sprintf("furiously regular packages %d sleep", i%977)
		si, sm := shipInstructs[i%4], shipModes[i%7]
		if csv {
			fmt.Fprintf(&b, "%d,%d,%d,%d,%d.00,%s,%s,%s,%c,%c,%s,%s,%s,%s,%s,%s\n",
				ok, i%200000+1, i%10000+1, ln, qty, price, disc, tax, "RAN"[i%3], "OF"[i%2],
				d(0), d(30), d(45), si, sm, comment)
			continue
		}
		fmt.Fprintf(&b, `{"l_orderkey":%d,"l_partkey":%d,"l_suppkey":%d,"l_linenumber":%d,"l_quantity":%d.00,"l_extendedprice":%s,"l_discount":%s,"l_tax":%s,"l_returnflag":"%c","l_linestatus":"%c","l_shipdate":"%s","l_commitdate":"%s","l_receiptdate":"%s","l_shipinstruct":"%s","l_shipmode":"%s","l_comment":"%s"}`+"\n",
			ok, i%200000+1, i%10000+1, ln, qty, price, disc, tax, "RAN"[i%3], "OF"[i%2],
			d(0), d(30), d(45), si, sm, comment)
	}
	if b.Len() > 0 {
		bodies = append(bodies, bytes.Clone(b.Bytes()))
	}
	return bodies
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchServer is a database with the lineitem table and its handler, for
// the ingest benchmarks: the compactor is off (CompactInterval -1), so that
// they measure the request path, not compactions competing for the cores.
type benchServer struct {
	db   *mantisdb.DB
	h    *Handler
	post func(body []byte) error
	stop func()
}

// newBenchServer opens the database and returns a poster of bodies of the
// given content type: "handler" calls the handler directly (the server's
// own cost), "loopback" goes through an HTTP server and Go's client over
// loopback TCP (the bench harness's client), with up to clients
// connections.
func newBenchServer(b *testing.B, mode, ctype string, clients int) *benchServer {
	quiet := slog.New(slog.DiscardHandler)
	db, err := mantisdb.Open(b.TempDir(), &mantisdb.Options{CompactInterval: -1, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(context.Background(), lineitemDDL); err != nil {
		db.Close()
		b.Fatal(err)
	}
	s := &benchServer{db: db, h: NewHandler(db, &Options{Logger: quiet})}
	path := "/v1/tables/lineitem/ingest"
	switch mode {
	case "direct":
		// Not HTTP at all: the body decoded as Arrow IPC straight into
		// DB.Ingest, what the handler adds nothing to.
		s.post = func(body []byte) error {
			rdr, err := ipc.NewReader(bytes.NewReader(body))
			if err != nil {
				return err
			}
			defer rdr.Release()
			_, err = db.Ingest(context.Background(), "lineitem", rdr)
			return err
		}
		s.stop = func() { db.Close() }
	case "handler":
		s.post = func(body []byte) error {
			req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
			req.Header.Set("Content-Type", ctype)
			rec := httptest.NewRecorder()
			s.h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				return fmt.Errorf("HTTP %d: %s", rec.Code, rec.Body.String())
			}
			return nil
		}
		s.stop = func() { db.Close() }
	default:
		srv := httptest.NewServer(s.h)
		client := srv.Client()
		client.Transport.(*http.Transport).MaxIdleConnsPerHost = clients
		s.post = func(body []byte) error {
			req, err := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", ctype)
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(out)))
			}
			return nil
		}
		s.stop = func() { srv.Close(); db.Close() }
	}
	return s
}

// run posts every body from the given number of clients at once and
// reports rows/s (wall clock) and cpu-µs/row (process CPU time, client
// included for loopback), the steadier number on a shared machine.
func (s *benchServer) run(b *testing.B, bodies [][]byte, rowsPerBody, clients int) {
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, t0 := cpuTime(), time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(bodies)) {
					return
				}
				if err := s.post(bodies[i]); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	cpu, wall := cpuTime()-cpu0, time.Since(t0)
	rows := float64(len(bodies) * rowsPerBody)
	b.ReportMetric(rows/wall.Seconds(), "rows/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/1e3/rows, "cpu-µs/row")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkIngestSmallRequests posts lineitem-shaped bodies of 1K rows to
// the ingest handler from 4 goroutines, every request its own durable
// transaction: the REST "1K-row requests" path of the bench harness (issue
// #8: NDJSON at 300K rows/s or more).
//
//	go test ./rest -run '^$' -bench IngestSmallRequests -benchtime 200x -cpuprofile cpu.out
func BenchmarkIngestSmallRequests(b *testing.B) {
	const rowsPerBody, clients = 1000, 4
	for _, format := range []string{"ndjson", "csv"} {
		ctype := mediaNDJSON
		if format == "csv" {
			ctype = mediaCSV
		}
		for _, mode := range []string{"handler", "loopback"} {
			b.Run(format+"/"+mode, func(b *testing.B) {
				s := newBenchServer(b, mode, ctype, clients)
				defer s.stop()
				// Render enough bodies for b.N requests, each with its
				// own keys.
				bodies := lineitemBodies(b.N*rowsPerBody, rowsPerBody, format == "csv")
				s.run(b, bodies, rowsPerBody, clients)
			})
		}
	}
}

// BenchmarkIngestArrow posts 100K-row lineitem batches as Arrow IPC
// streams, one request after the other: the REST Arrow IPC path of the
// bench harness (issue #8: 1.5M rows/s or more). Compare cpu-µs/row with
// the root's BenchmarkDBIngest/batch100k (the same rows through DB.Ingest).
//
//	go test ./rest -run '^$' -bench IngestArrow -benchtime 20x -cpuprofile cpu.out
func BenchmarkIngestArrow(b *testing.B) {
	const maxArrowBodies = 64
	const rowsPerBody = 100_000
	for _, mode := range []string{"direct", "handler", "loopback"} {
		b.Run(mode, func(b *testing.B) {
			// Every iteration holds its own body of 17 MB in memory.
			if b.N > maxArrowBodies {
				b.Skipf("-benchtime %dx would hold %d bodies of 17 MB: use at most %dx", b.N, b.N, maxArrowBodies)
			}
			s := newBenchServer(b, mode, mediaArrow, 1)
			defer s.stop()
			bodies := lineitemIPC(b, b.N, rowsPerBody)
			b.SetBytes(int64(len(bodies[0])))
			s.run(b, bodies, rowsPerBody, 1)
		})
	}
}

// lineitemIPC returns count Arrow IPC streams of one record batch of n
// lineitem rows each, the rows of lineitemBodies; stream i has the orders
// of rows [i×n, (i+1)×n). The rows are decoded once; each stream gets its
// own l_orderkey column, so that every stream has its own keys.
func lineitemIPC(b *testing.B, count, n int) [][]byte {
	r := newNDJSONReader(memory.DefaultAllocator, lineitemTable(), bytes.NewReader(lineitemBodies(n, n, false)[0]), n)
	defer r.Release()
	if !r.Next() {
		b.Fatal(r.Err())
	}
	rec := r.RecordBatch()
	keys := rec.Column(0).(*array.Int64).Int64Values()
	cols := slices.Clone(rec.Columns())
	bodies := make([][]byte, count)
	for i := range bodies {
		kb := array.NewInt64Builder(memory.DefaultAllocator)
		for _, k := range keys {
			kb.Append(k + int64(i*n))
		}
		cols[0] = kb.NewArray()
		kb.Release()
		part := array.NewRecordBatch(rec.Schema(), cols, rec.NumRows())
		cols[0].Release()
		var buf bytes.Buffer
		w := ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()))
		err := w.Write(part)
		part.Release()
		if err == nil {
			err = w.Close()
		}
		if err != nil {
			b.Fatal(err)
		}
		bodies[i] = buf.Bytes()
	}
	return bodies
}

// lineitemTable is the catalog table of lineitemDDL, for decoding without
// a database.
func lineitemTable() *catalog.Table {
	money := catalog.Decimal(15, 2)
	vc := func(n int32) catalog.Type { return catalog.Type{Kind: catalog.KindVarchar, Length: n} }
	cols := []struct {
		name string
		typ  catalog.Type
	}{
		{"l_orderkey", catalog.Bigint}, {"l_partkey", catalog.Bigint}, {"l_suppkey", catalog.Bigint},
		{"l_linenumber", catalog.Int}, {"l_quantity", money}, {"l_extendedprice", money}, {"l_discount", money},
		{"l_tax", money}, {"l_returnflag", vc(1)}, {"l_linestatus", vc(1)}, {"l_shipdate", catalog.Date},
		{"l_commitdate", catalog.Date}, {"l_receiptdate", catalog.Date}, {"l_shipinstruct", vc(25)},
		{"l_shipmode", vc(10)}, {"l_comment", vc(44)},
	}
	t := &catalog.Table{Name: "lineitem"}
	for _, c := range cols {
		t.Columns = append(t.Columns, catalog.Column{Name: c.name, Type: c.typ, NotNull: true})
	}
	return t
}

// BenchmarkLineitemDecode decodes 1K-row lineitem bodies, NDJSON and CSV,
// into Arrow batches: the decoder's share of BenchmarkIngestSmallRequests.
func BenchmarkLineitemDecode(b *testing.B) {
	for _, format := range []ingestFormat{formatNDJSON, formatCSV} {
		b.Run(format.String(), func(b *testing.B) {
			bodies := lineitemBodies(8000, 1000, format == formatCSV)
			table := lineitemTable()
			var n int
			for _, body := range bodies {
				n += len(body)
			}
			b.SetBytes(int64(n / len(bodies)))
			b.ReportAllocs()
			i := 0
			cpu0 := cpuTime()
			for b.Loop() {
				r := newTextReader(memory.DefaultAllocator, table, bytes.NewReader(bodies[i%len(bodies)]), DefaultIngestBatchRows, format, csvOptions{delimiter: ','})
				for r.Next() {
				}
				if r.Err() != nil {
					b.Fatal(r.Err())
				}
				r.Release()
				i++
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*1000), "cpu-ns/row")
		})
	}
}

// BenchmarkResultEncode renders 8K-row lineitem batches as JSON, NDJSON and
// CSV answers (the encoders of POST /v1/sql), reporting output MB/s and CPU
// time per row.
func BenchmarkResultEncode(b *testing.B) {
	body := lineitemBodies(8192, 8192, false)[0]
	r := newNDJSONReader(memory.DefaultAllocator, lineitemTable(), bytes.NewReader(body), 8192)
	defer r.Release()
	if !r.Next() {
		b.Fatal(r.Err())
	}
	rec := r.RecordBatch()
	for _, f := range []struct {
		name string
		enc  func() resultEncoder
	}{{"json", func() resultEncoder { return &jsonEncoder{} }}, {"ndjson", func() resultEncoder { return &ndjsonEncoder{} }}, {"csv", func() resultEncoder { return &csvEncoder{} }}, {"parquet", func() resultEncoder { return &parquetEncoder{} }}} {
		b.Run(f.name, func(b *testing.B) {
			var w countingWriter
			enc := f.enc()
			if err := enc.begin(&w, rec.Schema(), &Handler{alloc: memory.DefaultAllocator}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				if err := enc.batch(rec); err != nil {
					b.Fatal(err)
				}
			}
			if err := enc.end(); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(w.n / int64(b.N))
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*int(rec.NumRows())), "cpu-ns/row")
		})
	}
}

// countingWriter counts what is written to it.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}
