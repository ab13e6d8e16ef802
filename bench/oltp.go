package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/catalog"
)

// oltpTable is the table of the oltp and freshness workloads: an orders-like
// row keyed by a BIGINT primary key.
var oltpTable = tableSpec{name: "accounts", pk: []string{"id"}, columns: []column{
	{"id", catalog.Bigint}, {"owner", catalog.Bigint}, {"balance", money}, {"note", varchar(40)},
}}

// oltpResult is the outcome of the oltp workload.
type oltpResult struct {
	Rows    int64         `json:"rows"`
	Seconds float64       `json:"seconds_per_measurement"`
	Runs    []*oltpEngine `json:"engines"`
	// NotMeasured lists what the workload cannot measure yet.
	NotMeasured []string `json:"not_measured"`
}

// oltpEngine is one engine's OLTP process.
type oltpEngine struct {
	Engine string `json:"engine"`
	// Tier is where MantisDB's rows are at the start of the measurements:
	// "row store" (the compactor off) or "segment" (compacted after the
	// load); empty for DuckDB.
	Tier         string     `json:"tier,omitempty"`
	LoadSeconds  float64    `json:"load_seconds"`
	Ops          []*oltpOps `json:"ops"`
	PeakRSSBytes int64      `json:"peak_rss_bytes"`
	Error        string     `json:"error,omitempty"`
}

// oltpOps is one operation at one client count.
type oltpOps struct {
	Op        string       `json:"op"`
	Clients   int          `json:"clients"`
	OpsPerSec float64      `json:"ops_per_sec"`
	Latency   latencyStats `json:"latency"`
	Errors    int          `json:"errors"`
	Error     string       `json:"error,omitempty"`
}

type oltpParams struct {
	Engine   string `json:"engine"`
	Dir      string `json:"dir"`
	Rows     int64  `json:"rows"`
	Clients  []int  `json:"clients"`
	Duration int64  `json:"duration_ns"`
	Tier     string `json:"tier,omitempty"`
}

// MantisDB's tiers of the oltp workload (oltpEngine.Tier).
const (
	tierRowStore = "row store"
	tierSegment  = "segment"
)

func runOLTP(ctx context.Context, o *options, pr *progress) (*oltpResult, error) {
	res := &oltpResult{Rows: int64(o.OLTPRows), Seconds: o.OLTPDuration.Seconds()}
	var jobs []oltpParams
	for _, e := range o.Engines {
		p := oltpParams{Engine: e, Dir: o.WorkDir, Rows: int64(o.OLTPRows), Clients: o.Clients, Duration: int64(o.OLTPDuration)}
		if e != engineMantis {
			jobs = append(jobs, p)
			continue
		}
		for _, tier := range []string{tierRowStore, tierSegment} {
			p.Tier = tier
			jobs = append(jobs, p)
		}
	}
	pr.Phase("oltp", int64(len(jobs)))
	for _, p := range jobs {
		e := p.Engine
		pr.Detail(strings.TrimSpace(e + " " + p.Tier))
		run := &oltpEngine{Engine: e}
		st, err := runChild(ctx, "oltp", o.Threads, p, run, o.ChildTimeout, nil)
		run.Engine, run.Tier = e, p.Tier
		if err != nil {
			run.Error = err.Error()
		}
		run.PeakRSSBytes = st.PeakRSS
		res.Runs = append(res.Runs, run)
		pr.Add(1, "")
	}
	return res, nil
}

// oltpBatches builds the rows of the oltp table: ids 1..n.
func oltpBatches(n int64, batchRows int) []arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.NewGoAllocator(), oltpTable.schema())
	defer b.Release()
	var out []arrow.RecordBatch
	for id := int64(1); id <= n; id++ {
		b.Field(0).(*array.Int64Builder).Append(id)
		b.Field(1).(*array.Int64Builder).Append(id % 1000)
		b.Field(2).(*array.Decimal128Builder).Append(decimal128FromInt(id % 100000 * 100))
		b.Field(3).(*array.StringBuilder).Append(fmt.Sprintf("account %d", id))
		if id%int64(batchRows) == 0 || id == n {
			out = append(out, b.NewRecordBatch())
		}
	}
	return out
}

// createAndLoad creates spec in e and bulk-loads recs.
func createAndLoad(ctx context.Context, e engine, spec *tableSpec, recs []arrow.RecordBatch) error {
	if _, err := e.Exec(ctx, spec.ddl()); err != nil {
		return fmt.Errorf("create table: %w", err)
	}
	for _, rec := range recs {
		if err := e.Load(ctx, spec.name, rec); err != nil {
			return fmt.Errorf("load: %w", err)
		}
	}
	return nil
}

// measureClients runs op from clients goroutines for d and returns the
// throughput and latencies. op gets a per-client random source.
func measureClients(ctx context.Context, clients int, d time.Duration, op func(ctx context.Context, rnd *rand.Rand) error) *oltpOps {
	res := &oltpOps{Clients: clients}
	var mu sync.Mutex
	var all []time.Duration
	var firstErr error
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(seed, 42))
			lat := make([]time.Duration, 0, 1<<16)
			errs := 0
			var ferr error
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t := time.Now()
				if err := op(ctx, rnd); err != nil {
					errs++
					if ferr == nil {
						ferr = err
					}
					if errs > 1000 && len(lat) == 0 {
						break // it never works: do not spin for the whole duration
					}
					continue
				}
				lat = append(lat, time.Since(t))
			}
			mu.Lock()
			all = append(all, lat...)
			res.Errors += errs
			if firstErr == nil {
				firstErr = ferr
			}
			mu.Unlock()
		}(uint64(c + 1))
	}
	wg.Wait()
	elapsed := time.Since(start)
	res.Latency = summarize(all)
	res.OpsPerSec = float64(len(all)) / elapsed.Seconds()
	if firstErr != nil {
		res.Error = firstErr.Error()
	}
	return res
}

func init() {
	childJobs["oltp"] = func(ctx context.Context, raw json.RawMessage) (any, error) {
		var p oltpParams
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, err
		}
		recs := oltpBatches(p.Rows, 50_000)
		defer releaseAll(recs)
		path := filepath.Join(p.Dir, "oltp-"+p.Engine)
		var e engine
		var err error
		switch p.Tier {
		case tierRowStore:
			// The rows stay in the row store: no background compactor.
			path += "-rows"
			e, err = openMantis(path, &mantisdb.Options{CompactInterval: -1})
		case tierSegment:
			path += "-segment"
			e, err = openMantis(path, &mantisdb.Options{})
		default:
			e, err = openEngine(p.Engine, path, 0)
		}
		if err != nil {
			return nil, err
		}
		defer e.Close()
		out := &oltpEngine{Engine: p.Engine, Tier: p.Tier}
		start := time.Now()
		if err := createAndLoad(ctx, e, &oltpTable, recs); err != nil {
			out.Error = err.Error()
			return out, nil
		}
		out.LoadSeconds = time.Since(start).Seconds()
		if p.Tier == tierSegment {
			// What the background compactor does within seconds of the
			// load; updated rows then go to the row store as usual.
			if err := e.(*mantisEngine).compact(ctx); err != nil {
				out.Error = "compact after load: " + err.Error()
				return out, nil
			}
		}
		ops := []struct {
			name string
			f    func(ctx context.Context, rnd *rand.Rand) error
		}{
			{"point read by PK", func(ctx context.Context, rnd *rand.Rand) error {
				id := rnd.Int64N(p.Rows) + 1
				rows, err := e.Query(ctx, fmt.Sprintf("SELECT owner, balance, note FROM accounts WHERE id = %d", id))
				if err == nil && len(rows) != 1 {
					err = fmt.Errorf("id %d: %d rows, want 1", id, len(rows))
				}
				return err
			}},
			{"single-row UPDATE by PK", func(ctx context.Context, rnd *rand.Rand) error {
				id := rnd.Int64N(p.Rows) + 1
				n, err := e.Exec(ctx, fmt.Sprintf("UPDATE accounts SET balance = balance + 1 WHERE id = %d", id))
				if err == nil && n != 1 {
					err = fmt.Errorf("id %d: %d rows updated, want 1", id, n)
				}
				return err
			}},
		}
		for _, op := range ops {
			for _, c := range p.Clients {
				childProgress("%s, %d clients", op.name, c)
				r := measureClients(ctx, c, time.Duration(p.Duration), op.f)
				r.Op = op.name
				out.Ops = append(out.Ops, r)
			}
		}
		return out, nil
	}
}

func (r *report) oltpMarkdown() string {
	ol := r.OLTP
	var sb strings.Builder
	sb.WriteString("## OLTP\n\n")
	r.runLine(&sb)
	fmt.Fprintf(&sb, "A table of %d rows (BIGINT primary key, BIGINT, DECIMAL(15,2), VARCHAR), bulk-loaded, then for %s "+
		"per measurement: point reads `SELECT ... WHERE id = k` and single-row `UPDATE ... WHERE id = k` with random keys, "+
		"each statement as SQL text (not prepared), from 1 and more concurrent clients; each "+
		"engine in a fresh process. MantisDB runs twice: with the rows in the row store (the background compactor off) "+
		"and with the rows compacted into a segment after the load (what the compactor does within seconds; updated "+
		"rows then go to the row store and the background compactor runs). Latency in microseconds.\n\n", ol.Rows, time.Duration(ol.Seconds*float64(time.Second)))
	sb.WriteString("| engine | rows in | operation | clients | ops/s | p50 µs | p99 µs | p99.9 µs | errors | error |\n|---|---|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, run := range ol.Runs {
		if run.Error != "" && len(run.Ops) == 0 {
			fmt.Fprintf(&sb, "| %s | %s | – | – | – | – | – | – | – | %s |\n", run.Engine, orDash(run.Tier), cell(run.Error))
			continue
		}
		for _, op := range run.Ops {
			fmt.Fprintf(&sb, "| %s | %s | %s | %d | %s | %s | %s | %s | %d | %s |\n", run.Engine, orDash(run.Tier), op.Op, op.Clients, rate(op.OpsPerSec),
				num(op.Latency.P50US), num(op.Latency.P99US), num(op.Latency.P999US), op.Errors, cell(op.Error))
		}
	}
	if len(ol.NotMeasured) > 0 {
		sb.WriteString("\nNot measured yet: " + strings.Join(ol.NotMeasured, "; ") + ".\n")
	}
	sb.WriteString("\n")
	return sb.String()
}

// orDash is s, or "–" when s is empty.
func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return cell(s)
}
