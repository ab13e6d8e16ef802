package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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
	Path       string           `json:"path"`
	Rows       int64            `json:"rows"`
	Tables     map[string]int64 `json:"tables"`
	Seconds    float64          `json:"seconds"`
	RowsPerSec float64          `json:"rows_per_sec"`
	Error      string           `json:"error,omitempty"`
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
		params := tpchChildParams{Engine: name, Path: lr.Path, Threads: o.Threads, Runs: o.Runs, Warmup: o.Warmup,
			Queries: queries, TimeoutMS: o.QueryTimeout.Milliseconds()}
		var out []tpchChildQuery
		st, err := runChild(ctx, "tpch-query", o.Threads, params, &out, o.ChildTimeout, func(s string) { pr.Add(1, name+" "+s) })
		pres.PeakRSSBytes, pres.WallSeconds = st.PeakRSS, st.Wall.Seconds()
		if err != nil {
			pres.Error = err.Error()
		}
		answers[name] = out
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
}

// tpchChildQuery is one query's outcome in a child.
type tpchChildQuery struct {
	Query  int       `json:"query"`
	RunsMS []float64 `json:"runs_ms,omitempty"`
	Rows   [][]any   `json:"rows,omitempty"`
	Error  string    `json:"error,omitempty"`
}

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
		var out []tpchChildQuery
		for _, q := range p.Queries {
			out = append(out, runTPCHQuery(ctx, e, q, &p))
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
	text := tpchQueries[q-1]
	run := func() ([][]any, time.Duration, error) {
		qctx, cancel := ctx, context.CancelFunc(func() {})
		if p.TimeoutMS > 0 {
			qctx, cancel = context.WithTimeout(ctx, time.Duration(p.TimeoutMS)*time.Millisecond)
		}
		defer cancel()
		start := time.Now()
		rows, err := e.Query(qctx, text)
		d := time.Since(start)
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
