package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// mixedResult is the outcome of the mixed workload.
type mixedResult struct {
	PreloadRows  int64   `json:"preload_rows"`
	RowsPerBatch int     `json:"rows_per_batch"`
	Seconds      float64 `json:"seconds"`
	// Rate is the paced ingest of the mixed phase, rows/s, the same for
	// every engine (0 in results written before it was paced).
	Rate    int64          `json:"rate,omitempty"`
	Engines []*mixedEngine `json:"engines"`
}

// mixedEngine is one engine's mixed process: one goroutine ingests
// lineitem batches through the bulk path while another runs TPC-H Q1 and
// Q6 over the growing table.
type mixedEngine struct {
	Engine        string       `json:"engine"`
	IngestRows    int64        `json:"ingest_rows"`
	IngestPerSec  float64      `json:"ingest_rows_per_sec"`
	IngestError   string       `json:"ingest_error,omitempty"`
	Queries       int          `json:"queries"`
	QueryLatency  latencyStats `json:"query_latency"`
	QueryError    string       `json:"query_error,omitempty"`
	QueriesAlone  latencyStats `json:"query_latency_alone"`
	IngestAlonePS float64      `json:"ingest_alone_rows_per_sec"`
	PeakRSSBytes  int64        `json:"peak_rss_bytes"`
	Error         string       `json:"error,omitempty"`
}

type mixedParams struct {
	Engine   string `json:"engine"`
	Dir      string `json:"dir"`
	Data     string `json:"data"`
	Rows     int64  `json:"rows"`
	Batch    int    `json:"rows_per_batch"`
	Duration int64  `json:"duration_ns"`
	Rate     int64  `json:"rate"`
}

func runMixed(ctx context.Context, o *options, pr *progress) (*mixedResult, error) {
	n := int64(o.IngestRows)
	data, have, err := lineitemFile(o, n, pr)
	if err != nil {
		return nil, err
	}
	n = min(n, have)
	res := &mixedResult{PreloadRows: n, RowsPerBatch: o.MixedBatchRows, Seconds: o.MixedDuration.Seconds(), Rate: int64(o.MixedRate)}
	pr.Phase("mixed", int64(len(o.Engines)))
	for _, e := range o.Engines {
		pr.Detail(e)
		run := &mixedEngine{}
		p := mixedParams{Engine: e, Dir: o.WorkDir, Data: data, Rows: n, Batch: o.MixedBatchRows, Duration: int64(o.MixedDuration),
			Rate: int64(o.MixedRate)}
		st, err := runChild(ctx, "mixed", o.Threads, p, run, o.ChildTimeout, nil)
		run.Engine = e
		if err != nil {
			run.Error = err.Error()
		}
		run.PeakRSSBytes = st.PeakRSS
		res.Engines = append(res.Engines, run)
		pr.Add(1, "")
	}
	return res, nil
}

// mixedQueries are the analytical queries of the mixed workload: TPC-H Q1
// (a scan with a wide aggregation) and Q6 (a selective scan).
var mixedQueries = []string{tpchQueries[0], tpchQueries[5]}

// shiftKeys returns rec with offset added to its first column (the order
// key), so that the same rows can be ingested again without key conflicts.
func shiftKeys(rec arrow.RecordBatch, offset int64) arrow.RecordBatch {
	keys := rec.Column(0).(*array.Int64)
	b := array.NewInt64Builder(memory.NewGoAllocator())
	defer b.Release()
	b.Reserve(keys.Len())
	for _, k := range keys.Int64Values() {
		b.UnsafeAppend(k + offset)
	}
	shifted := b.NewInt64Array()
	defer shifted.Release()
	cols := append([]arrow.Array{shifted}, rec.Columns()[1:]...)
	return array.NewRecordBatch(rec.Schema(), cols, rec.NumRows())
}

func init() {
	childJobs["mixed"] = func(ctx context.Context, raw json.RawMessage) (any, error) {
		var p mixedParams
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, err
		}
		recs, err := readBatches(p.Data, p.Rows)
		if err != nil {
			return nil, err
		}
		defer releaseAll(recs)
		e, err := openEngine(p.Engine, filepath.Join(p.Dir, "mixed-"+p.Engine), 0)
		if err != nil {
			return nil, err
		}
		defer e.Close()
		out := &mixedEngine{Engine: p.Engine}
		if err := createAndLoad(ctx, e, tpchTable("lineitem"), recs); err != nil {
			out.Error = err.Error()
			return out, nil
		}
		if me, ok := e.(*mantisEngine); ok {
			// The preload in segments, as the background compactor would
			// have it a few seconds later, so that the queries alone do
			// not race the compaction of the preload.
			if err := me.compact(ctx); err != nil {
				out.Error = "compact after load: " + err.Error()
				return out, nil
			}
		}
		// The ingest-alone measurement writes to a table of its own, so
		// that the queries of every engine see the same table: the
		// preloaded rows, then those of the paced mixed phase.
		aloneTable := *tpchTable("lineitem")
		aloneTable.name = "lineitem_alone"
		if _, err := e.Exec(ctx, aloneTable.ddl()); err != nil {
			out.Error = "create table: " + err.Error()
			return out, nil
		}
		// The ingest side writes the same rows again, in batches of its own size.
		var batches []arrow.RecordBatch
		for _, rec := range recs {
			for off := int64(0); off < rec.NumRows(); off += int64(p.Batch) {
				batches = append(batches, rec.NewSlice(off, min(off+int64(p.Batch), rec.NumRows())))
			}
		}
		defer releaseAll(batches)
		d := time.Duration(p.Duration)
		round := int64(0)
		// ingest loads batches into table until the deadline, paced at rate
		// rows/s when rate > 0 (a batch waits for its due time).
		ingest := func(ctx context.Context, table string, until time.Time, rate int64) (int64, error) {
			var rows int64
			start := time.Now()
			for i := 0; time.Now().Before(until) && ctx.Err() == nil; i++ {
				if rate > 0 {
					due := start.Add(time.Duration(float64(rows) / float64(rate) * float64(time.Second)))
					if wait := time.Until(due); wait > 0 {
						if due.After(until) {
							break
						}
						time.Sleep(wait)
					}
				}
				if i%len(batches) == 0 {
					round++
				}
				rec := shiftKeys(batches[i%len(batches)], round*10_000_000_000)
				err := e.Load(ctx, table, rec)
				rec.Release()
				if err != nil {
					return rows, err
				}
				rows += rec.NumRows()
			}
			return rows, nil
		}
		query := func(ctx context.Context, until time.Time) ([]time.Duration, error) {
			var lat []time.Duration
			for i := 0; time.Now().Before(until) && ctx.Err() == nil; i++ {
				t := time.Now()
				if _, err := e.Query(ctx, mixedQueries[i%len(mixedQueries)]); err != nil {
					return lat, err
				}
				lat = append(lat, time.Since(t))
			}
			return lat, nil
		}
		// Each side alone first, for reference, then both at once.
		childProgress("%s queries alone", p.Engine)
		alone, qerr := query(ctx, time.Now().Add(d/2))
		out.QueriesAlone = summarize(alone)
		childProgress("%s ingest alone", p.Engine)
		t := time.Now()
		n, ierr := ingest(ctx, aloneTable.name, t.Add(d/2), 0)
		out.IngestAlonePS = float64(n) / time.Since(t).Seconds()
		if qerr != nil || ierr != nil {
			if qerr != nil {
				out.QueryError = qerr.Error()
			}
			if ierr != nil {
				out.IngestError = ierr.Error()
			}
			return out, nil
		}
		childProgress("%s ingest and queries", p.Engine)
		var wg sync.WaitGroup
		start := time.Now()
		until := start.Add(d)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			out.IngestRows, err = ingest(ctx, "lineitem", until, p.Rate)
			out.IngestPerSec = float64(out.IngestRows) / time.Since(start).Seconds()
			if err != nil {
				out.IngestError = err.Error()
			}
		}()
		lat, err := query(ctx, until)
		wg.Wait()
		if err != nil {
			out.QueryError = err.Error()
		}
		out.Queries = len(lat)
		out.QueryLatency = summarize(lat)
		return out, nil
	}
}

func (r *report) mixedMarkdown() string {
	m := r.Mixed
	var sb strings.Builder
	sb.WriteString("## Mixed\n\n")
	r.runLine(&sb)
	d := time.Duration(m.Seconds * float64(time.Second))
	if m.Rate > 0 {
		fmt.Fprintf(&sb, "A lineitem table preloaded with %d rows (MantisDB: then compacted). Alone, for %s each: TPC-H Q1 and Q6 in turn, one query at a "+
			"time; bulk ingest of %d-row batches (the same rows again with shifted keys) as fast as the engine takes them, "+
			"into a table of its own. Then both together for %s, the ingest into lineitem paced at %s rows/s for every "+
			"engine, so that every engine's queries see the same table growing alike. Query latency in milliseconds.\n\n",
			m.PreloadRows, d/2, m.RowsPerBatch, d, rate(float64(m.Rate)))
	} else {
		fmt.Fprintf(&sb, "A lineitem table preloaded with %d rows; then bulk ingest of %d-row batches (the same rows again with "+
			"shifted keys) and TPC-H Q1 and Q6 in turn, one query at a time: each side alone for %s, then both together for "+
			"%s. Query latency in milliseconds.\n\n", m.PreloadRows, m.RowsPerBatch, d/2, d)
	}
	sb.WriteString("| engine | ingest rows/s alone | ingest rows/s mixed | query p50 ms alone | query p50 ms mixed | query p99 ms mixed | queries | error |\n|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, e := range m.Engines {
		errText := e.Error
		for _, x := range []string{e.IngestError, e.QueryError} {
			if errText == "" {
				errText = x
			}
		}
		fmt.Fprintf(&sb, "| %s | %s | %s | %s | %s | %s | %d | %s |\n", e.Engine, rate(e.IngestAlonePS), rate(e.IngestPerSec),
			num(e.QueriesAlone.P50US/1000), num(e.QueryLatency.P50US/1000), num(e.QueryLatency.P99US/1000), e.Queries, cell(errText))
	}
	sb.WriteString("\n")
	return sb.String()
}
