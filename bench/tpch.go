package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// tpchResult is the outcome of the tpch workload.
type tpchResult struct {
	SF      float64 `json:"sf"`
	Runs    int     `json:"runs"`
	Warmup  int     `json:"warmup"`
	Threads int     `json:"threads"`
	// Load is the bulk load of each engine, by engine name.
	Load map[string]*loadResult `json:"load"`
	// QueryProcess describes each engine's query process, by engine name.
	QueryProcess map[string]*processResult `json:"query_process"`
	Queries      []*tpchQuery              `json:"queries"`
	// GeoMeanRatio is the geometric mean of MantisDB/DuckDB over the
	// GeoMeanQueries queries that both engines answered.
	GeoMeanRatio   float64 `json:"geomean_ratio,omitempty"`
	GeoMeanQueries int     `json:"geomean_queries"`
	// Answered counts the queries each engine answered, by engine name.
	Answered map[string]int `json:"answered"`
	// Mismatches counts queries whose results differ between the engines.
	Mismatches int `json:"mismatches"`
}

// loadResult is one engine's bulk load.
type loadResult struct {
	Path       string           `json:"-"` // the database directory, not reported
	Rows       int64            `json:"rows"`
	Tables     map[string]int64 `json:"tables"`
	Seconds    float64          `json:"seconds"`
	RowsPerSec float64          `json:"rows_per_sec"`
	// Compaction says whether the loaded rows were compacted into segments
	// before the queries ("compacted" or the failure),
	// and CompactSeconds how long that took (not part of Seconds).
	Compaction     string  `json:"compaction,omitempty"`
	CompactSeconds float64 `json:"compact_seconds,omitempty"`
	Error          string  `json:"error,omitempty"`
}

// processResult describes one measured child process.
type processResult struct {
	PeakRSSBytes int64   `json:"peak_rss_bytes"`
	WallSeconds  float64 `json:"wall_seconds"`
	Error        string  `json:"error,omitempty"`
}

// tpchQuery is one query's outcome on every engine.
type tpchQuery struct {
	Query  int                     `json:"query"`
	Engine map[string]*queryTiming `json:"engine"`
	// Ratio is MantisDB's median over DuckDB's; 0 unless both answered.
	Ratio float64 `json:"ratio,omitempty"`
	// Check is "ok", "mismatch: ..." or "n/a" (an engine did not answer).
	Check string `json:"check"`
}

// queryTiming is one query on one engine.
type queryTiming struct {
	MedianMS float64   `json:"median_ms,omitempty"`
	RunsMS   []float64 `json:"runs_ms,omitempty"`
	Rows     int       `json:"rows"`
	Error    string    `json:"error,omitempty"`
}

// tpchTotalRows approximates the number of rows at scale 1 (lineitem's
// count varies slightly), for the progress bar.
const tpchTotalRows = 8_661_245

func runTPCH(ctx context.Context, o *options, pr *progress) (*tpchResult, error) {
	res := &tpchResult{SF: o.SF, Runs: o.Runs, Warmup: o.Warmup, Threads: o.Threads,
		Load: map[string]*loadResult{}, QueryProcess: map[string]*processResult{}, Answered: map[string]int{}}
	dir := filepath.Join(o.WorkDir, fmt.Sprintf("tpch-sf%g", o.SF))
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if !o.Keep {
		defer os.RemoveAll(dir)
	}

	// Load: generate once, hand every batch to each engine's bulk path.
	open := map[string]engine{}
	for _, name := range o.Engines {
		lr := &loadResult{Path: enginePath(dir, name), Tables: map[string]int64{}}
		res.Load[name] = lr
		e, err := openEngine(name, lr.Path, o.Threads)
		if err != nil {
			lr.Error = err.Error()
			continue
		}
		start := time.Now()
		for i := range tpchTables {
			if _, err := e.Exec(ctx, tpchTables[i].ddl()); err != nil {
				lr.Error = fmt.Sprintf("create table %s: %v", tpchTables[i].name, err)
				break
			}
		}
		lr.Seconds += time.Since(start).Seconds()
		if lr.Error != "" {
			e.Close()
			continue
		}
		open[name] = e
	}
	pr.Phase(fmt.Sprintf("tpch sf=%g: generate and load", o.SF), int64(o.SF*tpchTotalRows))
	mem := memory.NewGoAllocator()
	sink := func(table string, rec arrow.RecordBatch) error {
		for name, e := range open {
			lr := res.Load[name]
			start := time.Now()
			err := e.Load(ctx, table, rec)
			lr.Seconds += time.Since(start).Seconds()
			if err != nil {
				lr.Error = fmt.Sprintf("load %s: %v", table, err)
				e.Close()
				delete(open, name)
				continue
			}
			lr.Rows += rec.NumRows()
			lr.Tables[table] += rec.NumRows()
		}
		pr.Add(rec.NumRows(), table)
		return ctx.Err()
	}
	genErr := generateTPCH(o.SF, o.BatchRows, mem, sink)
	for name, e := range open {
		lr := res.Load[name]
		if me, ok := e.(*mantisEngine); ok && genErr == nil {
			start := time.Now()
			if err := me.compact(ctx); err != nil {
				lr.Compaction = "failed: " + err.Error()
			} else {
				lr.Compaction = "compacted"
				lr.CompactSeconds = time.Since(start).Seconds()
			}
		}
		start := time.Now()
		if err := e.Close(); err != nil && lr.Error == "" {
			lr.Error = fmt.Sprintf("close after load: %v", err)
		}
		lr.Seconds += time.Since(start).Seconds()
	}
	pr.Done()
	if genErr != nil {
		return nil, fmt.Errorf("tpch generation: %w", genErr)
	}
	for _, lr := range res.Load {
		if lr.Seconds > 0 {
			lr.RowsPerSec = float64(lr.Rows) / lr.Seconds
		}
	}

	// Query: each engine in a fresh process on the data loaded above.
	queries := o.Queries
	answers := map[string][]tpchChildQuery{}
	pr.Phase(fmt.Sprintf("tpch sf=%g: queries", o.SF), int64(len(queries)*len(o.Engines)))
	for _, name := range o.Engines {
		lr := res.Load[name]
		pres := &processResult{}
		res.QueryProcess[name] = pres
		if lr.Error != "" {
			pres.Error = "not loaded: " + lr.Error
			pr.Add(int64(len(queries)), name+" not loaded")
			continue
		}
		answers[name] = runTPCHChildren(ctx, o, name, lr.Path, queries, pres, pr)
	}
	pr.Done()

	var ratios []float64
	for _, q := range queries {
		tq := &tpchQuery{Query: q, Engine: map[string]*queryTiming{}}
		rows := map[string][][]any{}
		for _, name := range o.Engines {
			qt := &queryTiming{Error: "not run"}
			if e := res.QueryProcess[name].Error; e != "" {
				qt.Error = e
			}
			for _, a := range answers[name] {
				if a.Query == q {
					qt = &queryTiming{MedianMS: median(a.RunsMS), RunsMS: a.RunsMS, Rows: len(a.Rows), Error: a.Error}
					if a.Error == "" {
						rows[name] = a.Rows
						res.Answered[name]++
					}
				}
			}
			tq.Engine[name] = qt
		}
		tq.Check = "n/a"
		m, mok := rows[engineMantis]
		d, dok := rows[engineDuck]
		if mok && dok {
			tq.Ratio = tq.Engine[engineMantis].MedianMS / tq.Engine[engineDuck].MedianMS
			ratios = append(ratios, tq.Ratio)
			if diff := compareResults(d, m); diff != "" {
				tq.Check = "mismatch: " + diff
				res.Mismatches++
			} else {
				tq.Check = "ok"
			}
		}
		res.Queries = append(res.Queries, tq)
	}
	res.GeoMeanRatio, res.GeoMeanQueries = geomean(ratios)
	return res, nil
}

// runTPCHChildren runs queries on one engine in a fresh child process. If
// the child dies (a crash, an out-of-memory kill, a timeout), the queries it
// finished are kept, the query it was running gets the error, and a new child
// runs the rest.
func runTPCHChildren(ctx context.Context, o *options, name, path string, queries []int, pres *processResult, pr *progress) []tpchChildQuery {
	var out []tpchChildQuery
	partial, err := os.CreateTemp("", "mantisbench-partial-")
	if err != nil {
		pres.Error = err.Error()
		return nil
	}
	partial.Close()
	defer os.Remove(partial.Name())
	stalls := 0
	for len(queries) > 0 && ctx.Err() == nil {
		os.Truncate(partial.Name(), 0)
		params := tpchChildParams{Engine: name, Path: path, Threads: o.Threads, Runs: o.Runs, Warmup: o.Warmup,
			Queries: queries, TimeoutMS: o.QueryTimeout.Milliseconds(), PartialPath: partial.Name()}
		var got []tpchChildQuery
		st, err := runChild(ctx, "tpch-query", o.Threads, params, &got, o.ChildTimeout, func(s string) { pr.Add(1, name+" "+s) })
		pres.PeakRSSBytes = max(pres.PeakRSSBytes, st.PeakRSS)
		pres.WallSeconds += st.Wall.Seconds()
		if err == nil {
			return append(out, got...)
		}
		// Keep what the child finished; the next query is the one it died in.
		got = readPartial(partial.Name())
		out = append(out, got...)
		failed := queries[len(got)]
		out = append(out, tpchChildQuery{Query: failed, Error: "process died: " + err.Error()})
		pr.Add(1, fmt.Sprintf("%s q%d failed", name, failed))
		if pres.Error == "" {
			pres.Error = fmt.Sprintf("Q%d: %v", failed, err)
		}
		queries = queries[len(got)+1:]
		if len(got) == 0 {
			// The child failed before finishing any query; if it fails that
			// way again, it is the engine or its data, not one query.
			stalls++
			if stalls == 2 {
				for _, q := range queries {
					out = append(out, tpchChildQuery{Query: q, Error: "process died: " + err.Error()})
				}
				pr.Add(int64(len(queries)), "")
				return out
			}
		} else {
			stalls = 0
		}
	}
	return out
}

// readPartial reads the per-query results a child appended to path.
func readPartial(path string) []tpchChildQuery {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []tpchChildQuery
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		var q tpchChildQuery
		if err := dec.Decode(&q); err != nil {
			return out
		}
		out = append(out, q)
	}
}

// enginePath is where an engine keeps its database inside a workload dir.
func enginePath(dir, engine string) string {
	if engine == engineDuck {
		return filepath.Join(dir, "duckdb.db")
	}
	return filepath.Join(dir, engine)
}

// tpchChildParams are the parameters of a tpch-query child.
type tpchChildParams struct {
	Engine    string `json:"engine"`
	Path      string `json:"path"`
	Threads   int    `json:"threads"`
	Runs      int    `json:"runs"`
	Warmup    int    `json:"warmup"`
	Queries   []int  `json:"queries"`
	TimeoutMS int64  `json:"timeout_ms"`
	// PartialPath receives each query's result as a JSON line as soon as
	// it is known, so that a child that dies loses only the query it ran.
	PartialPath string `json:"partial_path"`
}

// tpchChildQuery is one query's outcome in a child.
type tpchChildQuery struct {
	Query  int       `json:"query"`
	RunsMS []float64 `json:"runs_ms,omitempty"`
	Rows   [][]any   `json:"rows,omitempty"`
	Error  string    `json:"error,omitempty"`
}

// crashEnv makes a tpch-query child exit when it reaches the query it
// names; tests use it to check that the harness survives a dying engine.
const crashEnv = "MANTISBENCH_TEST_CRASH"

// slowQuery is the warm-up time above which a query runs once more only:
// the median of several runs of a query this slow adds little but time.
const slowQuery = 20 * time.Second

func init() {
	childJobs["tpch-query"] = func(ctx context.Context, raw json.RawMessage) (any, error) {
		var p tpchChildParams
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, err
		}
		e, err := openEngine(p.Engine, p.Path, p.Threads)
		if err != nil {
			return nil, err
		}
		defer e.Close()
		var partial *os.File
		if p.PartialPath != "" {
			if partial, err = os.OpenFile(p.PartialPath, os.O_WRONLY|os.O_APPEND, 0); err != nil {
				return nil, err
			}
			defer partial.Close()
		}
		var out []tpchChildQuery
		crashAt := os.Getenv(crashEnv)
		for _, q := range p.Queries {
			if crashAt == strconv.Itoa(q) {
				os.Exit(3) // tests: a child that dies in query q
			}
			r := runTPCHQuery(ctx, e, q, &p)
			out = append(out, r)
			if partial != nil {
				b, _ := json.Marshal(r)
				partial.Write(append(b, '\n'))
			}
			childProgress("q%d", q)
		}
		return out, nil
	}
}

// runTPCHQuery runs query q warm-up times, then measures it.
func runTPCHQuery(ctx context.Context, e engine, q int, p *tpchChildParams) tpchChildQuery {
	res := tpchChildQuery{Query: q}
	if q < 1 || q > len(tpchQueries) {
		res.Error = "no such query"
		return res
	}
	sc := tpchScript(q)
	text := sc.Query
	run := func() (rows [][]any, d time.Duration, err error) {
		qctx, cancel := ctx, context.CancelFunc(func() {})
		if p.TimeoutMS > 0 {
			qctx, cancel = context.WithTimeout(ctx, time.Duration(p.TimeoutMS)*time.Millisecond)
		}
		defer cancel()
		// Only the query is timed, not Q15's CREATE and DROP VIEW.
		err = runScript(qctx, e, sc, func() error {
			start := time.Now()
			var qerr error
			rows, qerr = e.Query(qctx, text)
			d = time.Since(start)
			return qerr
		})
		if err != nil && qctx.Err() != nil {
			err = fmt.Errorf("timed out after %s: %w", d.Round(time.Millisecond), err)
		}
		return rows, d, err
	}
	runs := p.Runs
	for i := 0; i < p.Warmup; i++ {
		_, d, err := run()
		if err != nil {
			res.Error = err.Error()
			return res
		}
		if d > slowQuery {
			runs = 1
		}
	}
	for i := 0; i < max(runs, 1); i++ {
		rows, d, err := run()
		if err != nil {
			res.Error = err.Error()
			res.RunsMS = nil
			return res
		}
		res.RunsMS = append(res.RunsMS, ms(d))
		res.Rows = rows
	}
	return res
}
