package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/mantisdb/mantisdb"
)

// lagResult is MantisDB's compaction lag under sustained ingest: how long a
// committed row stays in the fresh tier before the background compactor
// (default thresholds) moves it into a columnar segment.
type lagResult struct {
	TargetRowsPerSec int     `json:"target_rows_per_sec"`
	RowsPerSec       float64 `json:"rows_per_sec"`
	Seconds          float64 `json:"seconds"`
	Rows             int64   `json:"rows"`
	BatchRows        int     `json:"batch_rows"`
	// Lag is commit → in a segment, per batch; batches not yet in a
	// segment when the ingest ended count until they are (the workload
	// waits up to a minute for them).
	Lag          latencyStats `json:"lag"`
	Compactions  int64        `json:"compactions"`
	PeakRSSBytes int64        `json:"peak_rss_bytes"`
	Error        string       `json:"error,omitempty"`
}

type lagParams struct {
	Dir       string        `json:"dir"`
	Data      string        `json:"data"`
	Rows      int64         `json:"rows"`
	Rate      int           `json:"rate"`
	BatchRows int           `json:"batch_rows"`
	Duration  time.Duration `json:"duration"`
	// CompactRows is the compactor's row threshold; 0 is the default.
	CompactRows int64 `json:"compact_rows"`
}

// lagBatchRows is the size of each ingest batch of the lag measurement: an
// application's bulk writer, ten commits a second at 100K rows/s.
const lagBatchRows = 10_000

func runLag(ctx context.Context, o *options, pr *progress) (*lagResult, error) {
	batch := min(lagBatchRows, max(o.LagRate/10, 1))
	rows := int64(float64(o.LagRate) * o.LagDuration.Seconds())
	rows -= rows % int64(batch)
	if rows < int64(batch) {
		rows = int64(batch)
	}
	data, have, err := lineitemFile(o, rows, pr)
	if err != nil {
		return nil, err
	}
	rows = min(rows, have-have%int64(batch))
	pr.Phase("compaction lag", 1)
	res := &lagResult{TargetRowsPerSec: o.LagRate, BatchRows: batch}
	p := lagParams{Dir: filepath.Join(o.WorkDir, "lag"), Data: data, Rows: rows, Rate: o.LagRate, BatchRows: batch, Duration: o.LagDuration,
		CompactRows: o.LagCompactRows}
	st, err := runChild(ctx, "lag", o.Threads, p, res, o.ChildTimeout, nil)
	if err != nil {
		res.Error = err.Error()
	}
	res.PeakRSSBytes = st.PeakRSS
	pr.Add(1, "")
	return res, nil
}

func init() {
	childJobs["lag"] = func(ctx context.Context, raw json.RawMessage) (any, error) {
		var p lagParams
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, err
		}
		recs, err := readBatches(p.Data, p.Rows)
		if err != nil {
			return nil, err
		}
		defer releaseAll(recs)
		me, err := openMantis(p.Dir, &mantisdb.Options{CompactRows: p.CompactRows})
		if err != nil {
			return nil, err
		}
		defer me.Close()
		out := &lagResult{TargetRowsPerSec: p.Rate, BatchRows: p.BatchRows}
		if _, err := me.Exec(ctx, tpchTable("lineitem").ddl()); err != nil {
			out.Error = "create table: " + err.Error()
			return out, nil
		}
		before := me.db.CompactorStats().Compactions

		// commits[i] is when the batch that brings the table to ends[i]
		// rows was acknowledged; a watcher polls the rows in segments.
		var ends []int64
		var commits []time.Time
		var committed atomic.Int64
		stop := make(chan struct{})
		watched := make(chan error, 1)
		var segRows []struct {
			at   time.Time
			rows int64
		}
		go func() {
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					watched <- nil
					return
				case <-tick.C:
				}
				st, err := me.db.TableStats(ctx, "lineitem")
				if err != nil {
					watched <- err
					return
				}
				segRows = append(segRows, struct {
					at   time.Time
					rows int64
				}{time.Now(), st.SegmentRows})
				if st.SegmentRows >= p.Rows && committed.Load() >= p.Rows {
					watched <- nil
					return
				}
			}
		}()

		// Ingest at the target rate: batch i is due at start + i·interval.
		interval := time.Duration(float64(time.Second) * float64(p.BatchRows) / float64(p.Rate))
		start := time.Now()
		var total int64
		for i, rec := range splitBatches(recs, p.BatchRows) {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d)
			}
			err := me.Load(ctx, "lineitem", rec)
			rec.Release()
			if err != nil {
				out.Error = "ingest: " + err.Error()
				break
			}
			total += rec.NumRows()
			commits = append(commits, time.Now())
			ends = append(ends, total)
			committed.Store(total)
		}
		out.Seconds = time.Since(start).Seconds()
		out.Rows = total
		out.RowsPerSec = float64(total) / out.Seconds
		if out.Error != "" {
			close(stop)
			<-watched
			return out, nil
		}
		select {
		case err = <-watched:
		case <-time.After(time.Minute):
			close(stop)
			err = <-watched
			if err == nil {
				err = fmt.Errorf("rows still outside segments a minute after the ingest ended")
			}
		}
		if err != nil {
			out.Error = err.Error()
		}
		// Each batch reached a segment at the first poll that saw at least
		// its end row there (compactions move the fresh tier whole, in
		// commit order, and nothing is updated or deleted).
		var lags []time.Duration
		for i, end := range ends {
			j := sort.Search(len(segRows), func(k int) bool { return segRows[k].rows >= end })
			if j == len(segRows) {
				continue
			}
			lags = append(lags, segRows[j].at.Sub(commits[i]))
		}
		if len(lags) < len(ends) && out.Error == "" {
			out.Error = fmt.Sprintf("%d of %d batches never reached a segment", len(ends)-len(lags), len(ends))
		}
		out.Lag = summarize(lags)
		out.Compactions = me.db.CompactorStats().Compactions - before
		return out, nil
	}
}

// splitBatches returns recs cut into slices of n rows (the last may be
// shorter); the caller releases each.
func splitBatches(recs []arrow.RecordBatch, n int) []arrow.RecordBatch {
	var out []arrow.RecordBatch
	for _, rec := range recs {
		for off := int64(0); off < rec.NumRows(); off += int64(n) {
			out = append(out, rec.NewSlice(off, min(off+int64(n), rec.NumRows())))
		}
	}
	return out
}

func (r *report) lagMarkdown() string {
	l := r.Lag
	var sb strings.Builder
	sb.WriteString("## Compaction lag\n\n")
	r.runLine(&sb)
	fmt.Fprintf(&sb, "MantisDB only: lineitem rows ingested with `DB.Ingest` in batches of %d rows at a steady %s rows/s "+
		"while the background compactor runs with its default thresholds (unless the command sets -lag-compact-rows); for each batch, the time from its durable "+
		"acknowledgement to the first moment its rows are in a columnar segment (`DB.TableStats` polled every 20 ms). "+
		"Target (issue #4): p99 ≤ 10 s at 100K rows/s.\n\n", l.BatchRows, rate(float64(l.TargetRowsPerSec)))
	sb.WriteString("| rows | seconds | achieved rows/s | compactions | lag p50 s | lag p99 s | lag max s | peak RSS | error |\n" +
		"|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	fmt.Fprintf(&sb, "| %d | %s | %s | %d | %s | %s | %s | %s | %s |\n\n", l.Rows, num(l.Seconds), rate(l.RowsPerSec), l.Compactions,
		num(l.Lag.P50US/1e6), num(l.Lag.P99US/1e6), num(l.Lag.MaxUS/1e6), bytesText(l.PeakRSSBytes), cell(l.Error))
	return sb.String()
}
