package rest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

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
	var bodies [][]byte
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		if i%rowsPerBody == 0 {
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

// BenchmarkIngestSmallRequests posts lineitem-shaped bodies of 1K rows to
// the ingest handler from 4 goroutines, every request its own durable
// transaction: the REST "1K-row requests" path of the bench harness.
// "handler" calls the handler directly (the server's own cost); "loopback"
// goes through an HTTP server and client over loopback TCP. Besides rows/s
// it reports cpu-µs/row (process CPU time, client included for loopback),
// which is the steadier number on a shared machine.
//
//	go test ./rest -run '^$' -bench IngestSmallRequests -benchtime 100x -cpuprofile cpu.out
func BenchmarkIngestSmallRequests(b *testing.B) {
	const rowsPerBody, clients = 1000, 4
	for _, format := range []string{"ndjson", "csv"} {
		ctype := mediaNDJSON
		if format == "csv" {
			ctype = mediaCSV
		}
		for _, mode := range []string{"handler", "loopback"} {
			b.Run(format+"/"+mode, func(b *testing.B) {
				db, err := mantisdb.Open(b.TempDir(), &mantisdb.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				if _, err := db.Exec(context.Background(), lineitemDDL); err != nil {
					b.Fatal(err)
				}
				h := NewHandler(db, &Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
				// Each iteration is one request; bodies are reused with
				// fresh keys by giving each one a distinct offset in the
				// key space: render enough for b.N requests.
				bodies := lineitemBodies(b.N*rowsPerBody, rowsPerBody, format == "csv")
				path := "/v1/tables/lineitem/ingest"
				var post func(body []byte) error
				switch mode {
				case "handler":
					post = func(body []byte) error {
						req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
						req.Header.Set("Content-Type", ctype)
						rec := httptest.NewRecorder()
						h.ServeHTTP(rec, req)
						if rec.Code != http.StatusOK {
							return fmt.Errorf("HTTP %d: %s", rec.Code, rec.Body.String())
						}
						return nil
					}
				default:
					srv := httptest.NewServer(h)
					defer srv.Close()
					client := srv.Client()
					client.Transport.(*http.Transport).MaxIdleConnsPerHost = clients
					post = func(body []byte) error {
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
				}
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
							if err := post(bodies[i]); err != nil {
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
				rows := float64(b.N * rowsPerBody)
				b.ReportMetric(rows/wall.Seconds(), "rows/s")
				b.ReportMetric(float64(cpu.Microseconds())/rows, "cpu-µs/row")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
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
	}{{"json", func() resultEncoder { return &jsonEncoder{} }}, {"ndjson", func() resultEncoder { return &ndjsonEncoder{} }}, {"csv", func() resultEncoder { return &csvEncoder{} }}} {
		b.Run(f.name, func(b *testing.B) {
			var w countingWriter
			enc := f.enc()
			if err := enc.begin(&w, rec.Schema(), nil); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				if err := enc.batch(rec); err != nil {
					b.Fatal(err)
				}
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
