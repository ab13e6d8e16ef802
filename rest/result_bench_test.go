package rest

import (
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb"
)

// commentWords are words of dbgen's text grammar, for comments that are
// as varied as TPC-H's (nearly every l_comment is distinct).
var commentWords = strings.Fields(`furiously quickly carefully slyly blithely ironic regular final express
special pending bold even unusual silent packages requests accounts deposits foxes ideas theodolites pinto
beans instructions dependencies excuses platelets asymptotes courts dolphins sleep wake are cajole haggle
nag use boost affix detect integrate maintain among across above against along about after`)

// lineitemRecords returns count batches of n lineitem rows (the rows of
// lineitemBodies, each batch with its own keys) whose l_comment is
// dbgen-like random text of 10 to 43 characters. The caller releases them.
func lineitemRecords(b *testing.B, count, n int) []arrow.RecordBatch {
	r := newNDJSONReader(memory.DefaultAllocator, lineitemTable(), bytes.NewReader(lineitemBodies(n, n, false)[0]), n)
	defer r.Release()
	if !r.Next() {
		b.Fatal(r.Err())
	}
	rec := r.RecordBatch()
	keys := rec.Column(0).(*array.Int64).Int64Values()
	rnd := rand.New(rand.NewPCG(1, 2))
	recs := make([]arrow.RecordBatch, count)
	for i := range recs {
		cols := slices.Clone(rec.Columns())
		kb := array.NewInt64Builder(memory.DefaultAllocator)
		for _, k := range keys {
			kb.Append(k + int64(i*n))
		}
		cols[0] = kb.NewArray()
		kb.Release()
		cb := array.NewStringBuilder(memory.DefaultAllocator)
		var s []byte
		for range n {
			s = s[:0]
			limit := 10 + rnd.IntN(34)
			for len(s) < limit {
				if len(s) > 0 {
					s = append(s, ' ')
				}
				s = append(s, commentWords[rnd.IntN(len(commentWords))]...)
			}
			cb.BinaryBuilder.Append(s[:min(len(s), limit)])
		}
		last := len(cols) - 1
		cols[last] = cb.NewArray()
		cb.Release()
		recs[i] = array.NewRecordBatch(rec.Schema(), cols, int64(n))
		cols[0].Release()
		cols[last].Release()
	}
	return recs
}

// discardResponse is an http.ResponseWriter that counts the body and
// throws it away.
type discardResponse struct {
	h      http.Header
	status int
	n      int64
}

func (d *discardResponse) Header() http.Header { return d.h }
func (d *discardResponse) WriteHeader(s int)   { d.status = s }
func (d *discardResponse) Write(p []byte) (int, error) {
	d.n += int64(len(p))
	return len(p), nil
}
func (d *discardResponse) Flush() {}

// BenchmarkQueryAnswer answers SELECT * FROM lineitem (300K rows,
// compacted into a segment) through the handler in each result format:
// the server's side of the bench harness's serve workload, without the
// loopback client. It reports body MB/s, rows/s and CPU per row.
//
//	go test ./rest -run '^$' -bench QueryAnswer -benchtime 3x -cpuprofile cpu.out
func BenchmarkQueryAnswer(b *testing.B) {
	const batches, rowsPerBatch = 3, 100_000
	quiet := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	db, err := mantisdb.Open(b.TempDir(), &mantisdb.Options{CompactInterval: -1, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(ctx, lineitemDDL); err != nil {
		b.Fatal(err)
	}
	recs := lineitemRecords(b, batches, rowsPerBatch)
	rdr, err := array.NewRecordReader(recs[0].Schema(), recs)
	if err != nil {
		b.Fatal(err)
	}
	for _, rec := range recs {
		rec.Release()
	}
	_, err = db.Ingest(ctx, "lineitem", rdr)
	rdr.Release()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.Compact(ctx, "lineitem"); err != nil {
		b.Fatal(err)
	}
	h := NewHandler(db, &Options{Logger: quiet})
	for _, f := range resultFormats {
		b.Run(formatShortName(f.media), func(b *testing.B) {
			var body int64
			b.ReportAllocs()
			cpu0, t0 := cpuTime(), time.Now()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/v1/sql", strings.NewReader(`{"sql":"SELECT * FROM lineitem"}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", f.media)
				w := &discardResponse{h: http.Header{}}
				h.ServeHTTP(w, req)
				if w.status != http.StatusOK {
					b.Fatalf("HTTP %d", w.status)
				}
				body += w.n
			}
			cpu, wall := cpuTime()-cpu0, time.Since(t0)
			rows := float64(b.N * batches * rowsPerBatch)
			b.SetBytes(body / int64(b.N))
			b.ReportMetric(rows/wall.Seconds(), "rows/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/rows, "cpu-ns/row")
		})
	}
}
