package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// ingestResult is the outcome of the ingest workload: durable rows/s into a
// lineitem-shaped table (with its primary key) by each engine and path.
type ingestResult struct {
	Methods []*ingestMethod `json:"methods"`
	// NotMeasured lists ingest paths the harness does not measure yet.
	NotMeasured []string `json:"not_measured"`
}

// ingestMethod is one engine's ingest path.
type ingestMethod struct {
	Engine       string  `json:"engine"`
	Method       string  `json:"method"`
	Rows         int64   `json:"rows"`
	RowsPerBatch int     `json:"rows_per_batch"`
	Seconds      float64 `json:"seconds"`
	RowsPerSec   float64 `json:"rows_per_sec"`
	// CompactSeconds is, for MantisDB's bulk path, how long DB.Compact of
	// the ingested rows took right after the ingest: the columnar work
	// that a sustained ingest pays as well (0: not measured).
	CompactSeconds float64 `json:"compact_seconds,omitempty"`
	// Verified is true when count(*) afterwards equals Rows.
	Verified     bool   `json:"verified"`
	PeakRSSBytes int64  `json:"peak_rss_bytes"`
	Error        string `json:"error,omitempty"`
}

// ingest methods: bulk is the engine's bulk path (MantisDB DB.Ingest of
// Arrow batches, DuckDB's appender, flushed per batch); insert is Exec of
// multi-row INSERT statements.
const (
	methodBulk   = "bulk"
	methodInsert = "insert"
)

// ingestMethods lists every ingest method in report order.
func ingestMethods() []string { return append([]string{methodBulk, methodInsert}, serverMethods...) }

func methodName(engine, method string) string {
	if n, ok := serverMethodNames[method]; ok {
		return n
	}
	switch {
	case method == methodInsert:
		return "SQL multi-row INSERT"
	case engine == engineMantis:
		return "DB.Ingest (Arrow batches)"
	default:
		return "appender (flush per batch)"
	}
}

type ingestParams struct {
	Engine       string `json:"engine"`
	Method       string `json:"method"`
	Dir          string `json:"dir"`
	Data         string `json:"data"`
	Rows         int64  `json:"rows"`
	RowsPerBatch int    `json:"rows_per_batch"`
}

func runIngest(ctx context.Context, o *options, pr *progress) (*ingestResult, error) {
	res := &ingestResult{NotMeasured: []string{
		"the server paths in a separate server process (here the server runs in the measuring process, the client over loopback)",
	}}
	bulkRows := int64(o.IngestRows)
	insertRows := max(bulkRows/10, int64(o.InsertBatch))
	data, have, err := lineitemFile(o, bulkRows, pr)
	if err != nil {
		return nil, err
	}
	bulkRows = min(bulkRows, have)
	var jobs []ingestParams
	for _, m := range o.IngestPaths {
		for _, e := range o.Engines {
			if _, server := serverMethodNames[m]; server && e != engineMantis {
				continue // DuckDB has no server
			}
			p := ingestParams{Engine: e, Method: m, Data: data, Rows: bulkRows, RowsPerBatch: o.BatchRows}
			if m == methodInsert {
				p.Rows, p.RowsPerBatch = insertRows, o.InsertBatch
			}
			if m == methodRESTNDJSON1K {
				p.RowsPerBatch = min(o.BatchRows, smallRequestRows)
			}
			jobs = append(jobs, p)
		}
	}
	pr.Phase("ingest", int64(len(jobs)))
	for _, p := range jobs {
		pr.Detail(p.Engine + " " + p.Method)
		dir, err := os.MkdirTemp(o.WorkDir, "ingest-")
		if err != nil {
			return nil, err
		}
		p.Dir = dir
		m := &ingestMethod{Engine: p.Engine, Method: methodName(p.Engine, p.Method), Rows: p.Rows, RowsPerBatch: p.RowsPerBatch}
		var out ingestMethod
		st, err := runChild(ctx, "ingest", o.Threads, p, &out, o.ChildTimeout, nil)
		if err != nil {
			m.Error = err.Error()
		} else {
			m.Seconds, m.Verified, m.CompactSeconds = out.Seconds, out.Verified, out.CompactSeconds
			if out.Seconds > 0 {
				m.RowsPerSec = float64(p.Rows) / out.Seconds
			}
			m.Error = out.Error
		}
		m.PeakRSSBytes = st.PeakRSS
		res.Methods = append(res.Methods, m)
		os.RemoveAll(dir)
		pr.Add(1, "")
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return res, nil
}

func init() {
	childJobs["ingest"] = func(ctx context.Context, raw json.RawMessage) (any, error) {
		var p ingestParams
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, err
		}
		recs, err := readBatches(p.Data, p.Rows)
		if err != nil {
			return nil, err
		}
		defer releaseAll(recs)
		var stmts []string
		if p.Method == methodInsert {
			stmts = insertStatements("lineitem", recs, p.RowsPerBatch)
		}
		e, err := openEngine(p.Engine, enginePath(p.Dir, p.Engine), 0)
		if err != nil {
			return nil, err
		}
		defer e.Close()
		spec := tpchTable("lineitem")
		out := &ingestMethod{}
		if _, err := e.Exec(ctx, spec.ddl()); err != nil {
			out.Error = "create table: " + err.Error()
			return out, nil
		}
		var send func() error
		if _, server := serverMethodNames[p.Method]; server {
			me, ok := e.(*mantisEngine)
			if !ok {
				return nil, fmt.Errorf("%s is a MantisDB server path", p.Method)
			}
			var stop func()
			if send, stop, err = serverIngest(ctx, me.db, p.Method, spec.name, recs); err != nil {
				out.Error = err.Error()
				return out, nil
			}
			defer stop()
		}
		start := time.Now()
		if send != nil {
			err = send()
		} else if p.Method == methodInsert {
			for _, s := range stmts {
				if _, err = e.Exec(ctx, s); err != nil {
					break
				}
			}
		} else {
			for _, rec := range recs {
				if err = e.Load(ctx, spec.name, rec); err != nil {
					break
				}
			}
		}
		out.Seconds = time.Since(start).Seconds()
		if err != nil {
			out.Error = err.Error()
			out.Seconds = 0
			return out, nil
		}
		if me, ok := e.(*mantisEngine); ok && p.Method == methodBulk {
			// The background compactor leaves a burst alone until it
			// settles (Options.CompactSettle); compact it now and time
			// that, so that the report shows the whole cost.
			start := time.Now()
			if err := me.compact(ctx); err != nil {
				out.Error = "compact after ingest: " + err.Error()
				return out, nil
			}
			out.CompactSeconds = time.Since(start).Seconds()
		}
		rows, err := e.Query(ctx, "SELECT count(*) FROM lineitem")
		if err != nil {
			out.Error = "count after ingest: " + err.Error()
		} else if len(rows) == 1 && len(rows[0]) == 1 && rows[0][0] == float64(p.Rows) {
			out.Verified = true
		} else {
			out.Error = fmt.Sprintf("count after ingest: %v, want %d", rows, p.Rows)
		}
		return out, nil
	}
}

func (r *report) ingestMarkdown() string {
	in := r.Ingest
	var sb strings.Builder
	sb.WriteString("## Ingest\n\n")
	r.runLine(&sb)
	sb.WriteString("Durable rows/s into a lineitem-shaped table (TPC-H types, primary key (l_orderkey, l_linenumber)), " +
		"the same dbgen rows for every engine, each path in a fresh process and a fresh database; a write counts when " +
		"the call returned (MantisDB: synced to its WAL; DuckDB: committed to its WAL). SQL INSERT paths get a tenth of " +
		"the rows of the bulk paths. Afterwards count(*) is checked. MantisDB's server paths (REST NDJSON, REST Arrow IPC, " +
		"REST CSV, Flight SQL ExecuteIngest, Flight DoPut; one request per batch, except the 1K-row NDJSON path and the Flight rows marked \"every batch in one call\") run the real handlers inside the measuring process, the client " +
		"over loopback TCP; DuckDB has no server. The Flight rows without a note use arrow-go's stock clients " +
		"(flightsql.Client.ExecuteIngest; flight.Client.DoPut with flight.NewRecordWriter); the rows marked \"tuned Go " +
		"client\" make the same calls through MantisDB's flight.Ingest, which hands the batches' Arrow buffers to gRPC " +
		"instead of copying them twice first (docs/clients.md). The rows marked \"every batch in one call\" use the stock clients " +
		"with all batches streamed in one call, acknowledged once durable at its end, as ADBC's adbc_ingest and pyarrow's " +
		"do_put writer send a DataFrame: the server encodes each batch while the client writes the next. The request bodies are encoded before the clock starts. MantisDB runs " +
		"its background compactor with the default options, which compact a burst once it has settled (CompactSettle, " +
		"2 s after its first row) rather than while it arrives; \"then compacted\" is how long DB.Compact of the " +
		"ingested rows into a segment took right after the bulk path's ingest, the columnar work that a sustained " +
		"ingest pays too.\n\n")
	sb.WriteString("| engine | path | rows | rows/batch | seconds | rows/s | then compacted s | peak RSS | checked | error |\n|---|---|---:|---:|---:|---:|---:|---:|---|---|\n")
	for _, m := range in.Methods {
		rps, secs := "–", "–"
		if m.Error == "" {
			rps, secs = rate(m.RowsPerSec), num(m.Seconds)
		}
		comp := "–"
		if m.CompactSeconds > 0 {
			comp = num(m.CompactSeconds)
		}
		fmt.Fprintf(&sb, "| %s | %s | %d | %d | %s | %s | %s | %s | %v | %s |\n", m.Engine, m.Method, m.Rows, m.RowsPerBatch,
			secs, rps, comp, bytesText(m.PeakRSSBytes), m.Verified, cell(m.Error))
	}
	if len(in.NotMeasured) > 0 {
		sb.WriteString("\nNot measured yet: " + strings.Join(in.NotMeasured, "; ") + ".\n")
	}
	sb.WriteString("\n")
	return sb.String()
}
