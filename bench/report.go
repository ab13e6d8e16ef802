package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// report is one harness run: where and how it ran, and the result of each
// workload it ran. It is what bench/results/<date>-<commit>.json holds.
type report struct {
	Date      time.Time          `json:"date"`
	Commit    string             `json:"commit"`
	Dirty     bool               `json:"dirty"`
	Command   string             `json:"command"`
	GoVersion string             `json:"go_version"`
	DuckDB    string             `json:"duckdb_version"`
	Machine   machine            `json:"machine"`
	Seconds   map[string]float64 `json:"seconds"`

	TPCH      *tpchResult      `json:"tpch,omitempty"`
	Ingest    *ingestResult    `json:"ingest,omitempty"`
	Serve     *serveResult     `json:"serve,omitempty"`
	OLTP      *oltpResult      `json:"oltp,omitempty"`
	Freshness *freshnessResult `json:"freshness,omitempty"`
	Lag       *lagResult       `json:"lag,omitempty"`
	Mixed     *mixedResult     `json:"mixed,omitempty"`

	file string
}

// machine describes the host of a run.
type machine struct {
	Cores       int    `json:"cores"`
	MemoryBytes int64  `json:"memory_bytes"`
	CPU         string `json:"cpu"`
	OS          string `json:"os"`
}

func newReport(o *options) *report {
	commit, dirty := gitCommit()
	return &report{
		Date:      time.Now().UTC().Truncate(time.Second),
		Commit:    commit,
		Dirty:     dirty,
		Command:   o.Command,
		GoVersion: runtime.Version(),
		DuckDB:    duckVersion(),
		Machine:   hostMachine(),
		Seconds:   map[string]float64{},
	}
}

// gitCommit returns the short commit of the MantisDB checkout and whether
// tracked files differ from it.
func gitCommit() (string, bool) {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown", false
	}
	st, _ := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output()
	return strings.TrimSpace(string(out)), len(strings.TrimSpace(string(st))) > 0
}

func duckVersion() string {
	e, err := openDuck("", 0)
	if err != nil {
		return "unknown"
	}
	defer e.Close()
	rows, err := e.Query(context.Background(), "select version()")
	if err != nil || len(rows) != 1 || len(rows[0]) != 1 {
		return "unknown"
	}
	return fmt.Sprint(rows[0][0])
}

func hostMachine() machine {
	m := machine{Cores: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var kb int64
			if n, _ := fmt.Sscanf(sc.Text(), "MemTotal: %d kB", &kb); n == 1 {
				m.MemoryBytes = kb * 1024
				break
			}
		}
		f.Close()
	}
	return m
}

// write stores the report as dir/<date>-<commit>.json. A report of the same
// day and commit already there keeps the workloads this run did not run, so
// running workloads one at a time builds one complete file.
func (r *report) write(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	name := r.Date.Format("2006-01-02") + "-" + r.Commit
	if r.Dirty {
		name += "-dirty"
	}
	path := filepath.Join(dir, name+".json")
	if old, err := readReport(path); err == nil {
		for w, s := range old.Seconds {
			if _, ok := r.Seconds[w]; !ok {
				r.Seconds[w] = s
			}
		}
		if r.TPCH == nil {
			r.TPCH = old.TPCH
		}
		if r.Ingest == nil {
			r.Ingest = old.Ingest
		}
		if r.Serve == nil {
			r.Serve = old.Serve
		}
		if r.OLTP == nil {
			r.OLTP = old.OLTP
		}
		if r.Freshness == nil {
			r.Freshness = old.Freshness
		}
		if r.Lag == nil {
			r.Lag = old.Lag
		}
		if r.Mixed == nil {
			r.Mixed = old.Mixed
		}
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, append(b, '\n'), 0o644)
}

func readReport(path string) (*report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r := &report{file: filepath.Base(path)}
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// text is the summary printed at the end of a run: the Markdown sections
// of the workloads that ran.
func (r *report) text() string {
	var sb strings.Builder
	for _, s := range r.sections() {
		sb.WriteString(s)
	}
	return sb.String()
}

// sections renders the report's workloads as Markdown sections.
func (r *report) sections() []string {
	var out []string
	if r.TPCH != nil {
		out = append(out, r.tpchMarkdown())
	}
	if r.Ingest != nil {
		out = append(out, r.ingestMarkdown())
	}
	if r.Serve != nil {
		out = append(out, r.serveMarkdown())
	}
	if r.OLTP != nil {
		out = append(out, r.oltpMarkdown())
	}
	if r.Freshness != nil {
		out = append(out, r.freshnessMarkdown())
	}
	if r.Lag != nil {
		out = append(out, r.lagMarkdown())
	}
	if r.Mixed != nil {
		out = append(out, r.mixedMarkdown())
	}
	return out
}

// runLine describes where a section's numbers come from.
func (r *report) runLine(w io.Writer) {
	dirty := ""
	if r.Dirty {
		dirty = " (with uncommitted changes)"
	}
	fmt.Fprintf(w, "Run %s UTC, commit `%s`%s, `%s`; %s; %d cores, %s RAM, %s; %s; DuckDB %s.\n\n",
		r.Date.Format("2006-01-02 15:04"), r.Commit, dirty, r.Command, r.Machine.OS, r.Machine.Cores,
		bytesText(r.Machine.MemoryBytes), orUnknown(r.Machine.CPU), r.GoVersion, r.DuckDB)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown CPU"
	}
	return s
}

// writeDocs regenerates docsDir/benchmarks.md (and its charts) from the
// newest result of each workload in resultsDir.
func writeDocs(resultsDir, docsDir string) error {
	paths, err := filepath.Glob(filepath.Join(resultsDir, "*.json"))
	if err != nil {
		return err
	}
	var reps []*report
	for _, p := range paths {
		r, err := readReport(p)
		if err != nil {
			return err
		}
		reps = append(reps, r)
	}
	sort.SliceStable(reps, func(i, j int) bool { return reps[i].Date.After(reps[j].Date) })
	newest := func(has func(*report) bool) *report {
		for _, r := range reps {
			if has(r) {
				return r
			}
		}
		return nil
	}
	if err := os.MkdirAll(docsDir, 0o755); err != nil {
		return err
	}
	var sb strings.Builder
	sb.WriteString(docsHeader)
	type part struct {
		name string
		has  func(*report) bool
		md   func(*report) string
	}
	parts := []part{
		{"tpch", func(r *report) bool { return r.TPCH != nil }, (*report).tpchMarkdown},
		{"ingest", func(r *report) bool { return r.Ingest != nil }, (*report).ingestMarkdown},
		{"serve", func(r *report) bool { return r.Serve != nil }, (*report).serveMarkdown},
		{"oltp", func(r *report) bool { return r.OLTP != nil }, (*report).oltpMarkdown},
		{"freshness", func(r *report) bool { return r.Freshness != nil }, (*report).freshnessMarkdown},
		{"lag", func(r *report) bool { return r.Lag != nil }, (*report).lagMarkdown},
		{"mixed", func(r *report) bool { return r.Mixed != nil }, (*report).mixedMarkdown},
	}
	for _, p := range parts {
		r := newest(p.has)
		if r == nil {
			fmt.Fprintf(&sb, "## %s\n\nNot measured yet: run `cd bench && go run . -bench %s`.\n\n", p.name, p.name)
			continue
		}
		sb.WriteString(p.md(r))
		if p.name == "tpch" {
			if err := os.WriteFile(filepath.Join(docsDir, tpchChartFile), []byte(r.TPCH.svg()), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(&sb, "![MantisDB/DuckDB time per TPC-H query](%s)\n\n", tpchChartFile)
		}
	}
	return os.WriteFile(filepath.Join(docsDir, "benchmarks.md"), []byte(sb.String()), 0o644)
}

// tpchChartFile is the chart of per-query ratios, beside benchmarks.md.
const tpchChartFile = "benchmarks-tpch.svg"

const docsHeader = `# Benchmarks

MantisDB measured beside DuckDB on the same machine, in the same run, with the same data and the same number
of threads. This page is generated by the benchmark harness (` + "`bench/`" + `, see bench/README.md) from the newest
result of each workload in ` + "`bench/results/`" + `; do not edit it by hand. Each section names the run it comes from.
Ratios are MantisDB time over DuckDB time (lower is better for MantisDB; 1 means equal). An engine that cannot
run a query or an ingest path yet shows its error instead of a number.

`

// cell makes an error or other text safe for a Markdown table cell.
func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.ReplaceAll(s, "|", `\|`)
	const limit = 90
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	return s
}

func bytesText(b int64) string {
	switch {
	case b <= 0:
		return "?"
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	default:
		return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
	}
}

// num formats a measurement with about three significant digits.
func num(x float64) string {
	switch {
	case x == 0:
		return "0"
	case math.Abs(x) >= 100:
		return fmt.Sprintf("%.0f", x)
	case math.Abs(x) >= 10:
		return fmt.Sprintf("%.1f", x)
	default:
		return fmt.Sprintf("%.2f", x)
	}
}

// rate formats a rows/s figure.
func rate(x float64) string {
	switch {
	case x >= 1e6:
		return fmt.Sprintf("%.2fM", x/1e6)
	case x >= 1e3:
		return fmt.Sprintf("%.1fK", x/1e3)
	default:
		return fmt.Sprintf("%.0f", x)
	}
}

func (r *report) tpchMarkdown() string {
	t := r.TPCH
	var sb strings.Builder
	fmt.Fprintf(&sb, "## TPC-H, scale factor %g\n\n", t.SF)
	r.runLine(&sb)
	fmt.Fprintf(&sb, "Data from go-tpc dbgen, loaded into each engine through its bulk path (MantisDB `DB.Ingest` of Arrow "+
		"batches, DuckDB's appender), then the 22 queries in a fresh process per engine: %d warm-up run(s), median of %d, "+
		"%d threads each. Results are compared (numbers within 0.01 or 1e-6 relative). Both engines load with primary "+
		"keys; DuckDB's load goes through the Go driver's row-at-a-time appender, slower than DuckDB's native COPY.\n\n", t.Warmup, t.Runs, t.Threads)
	sb.WriteString("| engine | rows loaded | load s | rows/s | query process peak RSS | query process s | error |\n|---|---:|---:|---:|---:|---:|---|\n")
	for _, e := range sortedKeys(t.Load) {
		l, p := t.Load[e], t.QueryProcess[e]
		if p == nil {
			p = &processResult{}
		}
		errText := l.Error
		if errText == "" {
			errText = p.Error
		}
		fmt.Fprintf(&sb, "| %s | %d | %s | %s | %s | %s | %s |\n", e, l.Rows, num(l.Seconds), rate(l.RowsPerSec),
			bytesText(p.PeakRSSBytes), num(p.WallSeconds), cell(errText))
	}
	if l := t.Load[engineMantis]; l != nil && l.Compaction != "" {
		fmt.Fprintf(&sb, "\nMantisDB compaction after the load: %s", l.Compaction)
		if l.CompactSeconds > 0 {
			fmt.Fprintf(&sb, " in %s s", num(l.CompactSeconds))
		}
		sb.WriteString(".\n")
	}
	sb.WriteString("\n| query | MantisDB ms | DuckDB ms | ratio | result check |\n|---|---:|---:|---:|---|\n")
	for _, q := range t.Queries {
		ratio := "–"
		if q.Ratio > 0 {
			ratio = num(q.Ratio)
		}
		fmt.Fprintf(&sb, "| Q%d | %s | %s | %s | %s |\n", q.Query, timingCell(q.Engine[engineMantis]),
			timingCell(q.Engine[engineDuck]), ratio, cell(q.Check))
	}
	fmt.Fprintf(&sb, "\nAnswered: MantisDB %d, DuckDB %d of %d queries; result mismatches: %d. ",
		t.Answered[engineMantis], t.Answered[engineDuck], len(t.Queries), t.Mismatches)
	if t.GeoMeanQueries > 0 {
		fmt.Fprintf(&sb, "Geometric mean of MantisDB/DuckDB over the %d queries both answered: **%s**.\n\n", t.GeoMeanQueries, num(t.GeoMeanRatio))
	} else {
		sb.WriteString("No query was answered by both engines, so there is no ratio yet.\n\n")
	}
	return sb.String()
}

func timingCell(q *queryTiming) string {
	if q == nil {
		return "–"
	}
	if q.Error != "" {
		return "error: " + cell(q.Error)
	}
	return num(q.MedianMS)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
