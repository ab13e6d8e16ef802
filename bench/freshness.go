package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// freshnessResult is the outcome of the freshness workload.
type freshnessResult struct {
	Writes  int                `json:"writes"`
	Engines []*freshnessEngine `json:"engines"`
	// NotMeasured lists what the workload cannot measure yet.
	NotMeasured []string `json:"not_measured"`
}

// freshnessEngine is one engine's freshness process: each write is a
// single-row INSERT; after its acknowledgement the row is queried until it
// is visible.
type freshnessEngine struct {
	Engine string `json:"engine"`
	// VisibleAtOnce counts writes visible to the first query after the ack.
	VisibleAtOnce int `json:"visible_at_once"`
	// Ack is the latency of the INSERT (write to durable acknowledgement).
	Ack latencyStats `json:"ack"`
	// Visible is the time from the acknowledgement to the first query that
	// saw the row (including that query).
	Visible      latencyStats `json:"visible"`
	PeakRSSBytes int64        `json:"peak_rss_bytes"`
	Error        string       `json:"error,omitempty"`
}

type freshnessParams struct {
	Engine string `json:"engine"`
	Dir    string `json:"dir"`
	Writes int    `json:"writes"`
}

func runFreshness(ctx context.Context, o *options, pr *progress) (*freshnessResult, error) {
	res := &freshnessResult{Writes: o.FreshWrites}
	pr.Phase("freshness", int64(len(o.Engines)))
	for _, e := range o.Engines {
		pr.Detail(e)
		run := &freshnessEngine{}
		st, err := runChild(ctx, "freshness", o.Threads, freshnessParams{Engine: e, Dir: o.WorkDir, Writes: o.FreshWrites}, run, o.ChildTimeout, nil)
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

func init() {
	childJobs["freshness"] = func(ctx context.Context, raw json.RawMessage) (any, error) {
		var p freshnessParams
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, err
		}
		e, err := openEngine(p.Engine, filepath.Join(p.Dir, "fresh-"+p.Engine), 0)
		if err != nil {
			return nil, err
		}
		defer e.Close()
		out := &freshnessEngine{Engine: p.Engine}
		if _, err := e.Exec(ctx, oltpTable.ddl()); err != nil {
			out.Error = "create table: " + err.Error()
			return out, nil
		}
		var ack, vis []time.Duration
		for i := 1; i <= p.Writes; i++ {
			t0 := time.Now()
			if _, err := e.Exec(ctx, fmt.Sprintf("INSERT INTO accounts VALUES (%d, %d, 1.00, 'fresh')", i, i%1000)); err != nil {
				out.Error = "insert: " + err.Error()
				break
			}
			t1 := time.Now()
			ack = append(ack, t1.Sub(t0))
			q := fmt.Sprintf("SELECT id FROM accounts WHERE id = %d", i)
			for attempt := 0; ; attempt++ {
				rows, err := e.Query(ctx, q)
				if err != nil {
					out.Error = "query: " + err.Error()
					break
				}
				if len(rows) == 1 {
					vis = append(vis, time.Since(t1))
					if attempt == 0 {
						out.VisibleAtOnce++
					}
					break
				}
				if time.Since(t1) > 10*time.Second {
					out.Error = fmt.Sprintf("row %d not visible 10s after its acknowledgement", i)
					break
				}
			}
			if out.Error != "" {
				break
			}
		}
		out.Ack, out.Visible = summarize(ack), summarize(vis)
		return out, nil
	}
}

func (r *report) freshnessMarkdown() string {
	f := r.Freshness
	var sb strings.Builder
	sb.WriteString("## Freshness\n\n")
	r.runLine(&sb)
	fmt.Fprintf(&sb, "%d single-row INSERTs, one at a time; after each acknowledgement the row is read back by primary key "+
		"until it is visible. Expected: every row visible to the first read (same snapshot path).\n\n", f.Writes)
	sb.WriteString("| engine | visible at first read | ack p50 µs | ack p99 µs | ack→visible p50 µs | ack→visible p99 µs | error |\n|---|---:|---:|---:|---:|---:|---|\n")
	for _, e := range f.Engines {
		fmt.Fprintf(&sb, "| %s | %d/%d | %s | %s | %s | %s | %s |\n", e.Engine, e.VisibleAtOnce, e.Ack.Count,
			num(e.Ack.P50US), num(e.Ack.P99US), num(e.Visible.P50US), num(e.Visible.P99US), cell(e.Error))
	}
	if len(f.NotMeasured) > 0 {
		sb.WriteString("\nNot measured yet: " + strings.Join(f.NotMeasured, "; ") + ".\n")
	}
	sb.WriteString("\n")
	return sb.String()
}
