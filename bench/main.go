package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// workloads in the order they run with -bench all.
var workloads = []string{"tpch", "ingest", "serve", "oltp", "freshness", "lag", "mixed"}

// options configure one harness run; flags fill them (see parseFlags).
type options struct {
	Benches      []string
	Engines      []string
	SF           float64
	Runs         int
	Warmup       int
	Threads      int
	Queries      []int
	BatchRows    int
	WorkDir      string
	ResultsDir   string
	DocsDir      string
	Keep         bool
	Quiet        bool
	RegenOnly    bool
	QueryTimeout time.Duration
	ChildTimeout time.Duration

	IngestRows     int
	IngestPaths    []string
	InsertBatch    int
	OLTPRows       int
	OLTPDuration   time.Duration
	Clients        []int
	FreshWrites    int
	LagRate        int
	LagDuration    time.Duration
	LagCompactRows int64
	MixedDuration  time.Duration
	MixedBatchRows int
	MixedRate      int

	// Command is the command line as run, for the report.
	Command string
}

func main() {
	if isChild() {
		os.Exit(childMain(os.Args[1:]))
	}
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	o := &options{}
	bench := fs.String("bench", "all", "workloads to run, comma-separated: "+strings.Join(workloads, ", ")+" or all")
	eng := fs.String("engines", strings.Join(engines, ","), "engines to measure, comma-separated")
	fs.Float64Var(&o.SF, "sf", 1, "TPC-H scale factor (whole numbers, or below 1 for a prefix of SF 1)")
	fs.IntVar(&o.Runs, "runs", 3, "measured runs per query (the median is reported)")
	fs.IntVar(&o.Warmup, "warmup", 1, "warm-up runs per query")
	fs.IntVar(&o.Threads, "threads", runtime.NumCPU(), "worker threads of both engines (DuckDB SET threads, GOMAXPROCS)")
	queries := fs.String("queries", "1-22", "TPC-H queries to run, e.g. 1,3,5-7")
	fs.IntVar(&o.BatchRows, "batch", 100_000, "rows per Arrow batch for bulk loads")
	fs.StringVar(&o.WorkDir, "dir", "", "directory for the databases (default: a temporary directory)")
	fs.StringVar(&o.ResultsDir, "results", "results", "directory of the JSON results")
	fs.StringVar(&o.DocsDir, "docs", "../docs", "directory that receives benchmarks.md and the charts (empty: none)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the databases after the run")
	fs.BoolVar(&o.Quiet, "q", false, "no progress output")
	fs.BoolVar(&o.RegenOnly, "regen", false, "run nothing: regenerate the docs from the results directory")
	fs.DurationVar(&o.QueryTimeout, "query-timeout", 5*time.Minute, "timeout of one query run")
	fs.DurationVar(&o.ChildTimeout, "child-timeout", 30*time.Minute, "timeout of one measured child process")
	fs.IntVar(&o.IngestRows, "ingest-rows", 1_000_000, "rows per ingest method (bulk paths; SQL INSERT paths use a tenth)")
	paths := fs.String("ingest-paths", "all", "ingest paths to measure, comma-separated: "+strings.Join(ingestMethods(), ", ")+" or all")
	fs.IntVar(&o.InsertBatch, "insert-batch", 1000, "rows per multi-row INSERT statement")
	fs.IntVar(&o.OLTPRows, "oltp-rows", 100_000, "rows in the OLTP table")
	fs.DurationVar(&o.OLTPDuration, "oltp-duration", 5*time.Second, "duration of each OLTP measurement")
	clients := fs.String("clients", "1,16", "OLTP client counts")
	fs.IntVar(&o.FreshWrites, "fresh-writes", 1000, "acknowledged writes probed by the freshness workload")
	fs.IntVar(&o.LagRate, "lag-rate", 100_000, "rows/s of the sustained ingest of the lag workload")
	fs.DurationVar(&o.LagDuration, "lag-duration", 30*time.Second, "duration of the sustained ingest of the lag workload")
	fs.Int64Var(&o.LagCompactRows, "lag-compact-rows", 0, "compactor row threshold during the lag workload (0: the default)")
	fs.DurationVar(&o.MixedDuration, "mixed-duration", 10*time.Second, "duration of the mixed workload per engine")
	fs.IntVar(&o.MixedBatchRows, "mixed-batch", 10_000, "rows per ingest batch in the mixed workload")
	fs.IntVar(&o.MixedRate, "mixed-rate", 50_000, "rows/s of the paced ingest beside the queries of the mixed workload, the same for every engine")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.Command = commandLine(args)
	var err error
	if o.Benches, err = parseList(*bench, workloads); err != nil {
		return nil, err
	}
	if o.Engines, err = parseList(*eng, engines); err != nil {
		return nil, err
	}
	if o.IngestPaths, err = parseList(*paths, ingestMethods()); err != nil {
		return nil, err
	}
	if o.Queries, err = parseRanges(*queries, 1, len(tpchQueries)); err != nil {
		return nil, err
	}
	cs, err := parseRanges(*clients, 1, 1024)
	if err != nil {
		return nil, err
	}
	o.Clients = cs
	if o.SF <= 0 || (o.SF > 1 && o.SF != float64(int64(o.SF))) {
		return nil, fmt.Errorf("-sf %v: want a whole number, or a fraction below 1", o.SF)
	}
	if o.Runs < 1 || o.Warmup < 0 || o.Threads < 1 || o.BatchRows < 1 || o.InsertBatch < 1 {
		return nil, fmt.Errorf("-runs, -threads, -batch and -insert-batch must be positive, -warmup not negative")
	}
	return o, nil
}

// commandLine is how the run is shown in reports: the way the README says
// to run it, with the flags given.
func commandLine(args []string) string {
	return strings.TrimSpace("cd bench && go run . " + strings.Join(args, " "))
}

// parseList parses a comma-separated subset of known ("all" = every one),
// keeping the order of known.
func parseList(s string, known []string) ([]string, error) {
	if s == "all" {
		return slices.Clone(known), nil
	}
	want := map[string]bool{}
	for _, w := range strings.Split(s, ",") {
		w = strings.TrimSpace(w)
		if !slices.Contains(known, w) {
			return nil, fmt.Errorf("unknown %q (want %s)", w, strings.Join(known, ", "))
		}
		want[w] = true
	}
	var out []string
	for _, k := range known {
		if want[k] {
			out = append(out, k)
		}
	}
	return out, nil
}

// parseRanges parses "1,3,5-7" into the numbers it names, each in [lo, hi].
func parseRanges(s string, lo, hi int) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(strings.TrimSpace(part), "-")
		from, err := strconv.Atoi(a)
		if err != nil {
			return nil, fmt.Errorf("bad number %q", part)
		}
		to := from
		if isRange {
			if to, err = strconv.Atoi(b); err != nil {
				return nil, fmt.Errorf("bad range %q", part)
			}
		}
		if from < lo || to > hi || from > to {
			return nil, fmt.Errorf("%q out of range %d-%d", part, lo, hi)
		}
		for i := from; i <= to; i++ {
			out = append(out, i)
		}
	}
	return out, nil
}

// run runs the chosen workloads and writes the reports.
func run(ctx context.Context, o *options) error {
	if o.RegenOnly {
		return writeDocs(o.ResultsDir, o.DocsDir)
	}
	if o.WorkDir == "" {
		d, err := os.MkdirTemp("", "mantisbench-")
		if err != nil {
			return err
		}
		if !o.Keep {
			defer os.RemoveAll(d)
		}
		o.WorkDir = d
	}
	pr := newProgress(os.Stderr, o.Quiet)
	rep := newReport(o)
	for _, w := range o.Benches {
		start := time.Now()
		var err error
		switch w {
		case "tpch":
			rep.TPCH, err = runTPCH(ctx, o, pr)
		case "ingest":
			rep.Ingest, err = runIngest(ctx, o, pr)
		case "serve":
			rep.Serve, err = runServe(ctx, o, pr)
		case "oltp":
			rep.OLTP, err = runOLTP(ctx, o, pr)
		case "freshness":
			rep.Freshness, err = runFreshness(ctx, o, pr)
		case "lag":
			rep.Lag, err = runLag(ctx, o, pr)
		case "mixed":
			rep.Mixed, err = runMixed(ctx, o, pr)
		}
		pr.Done()
		if err != nil {
			return fmt.Errorf("%s: %w", w, err)
		}
		rep.Seconds[w] = time.Since(start).Seconds()
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	path, err := rep.write(o.ResultsDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "results: %s\n", path)
	if o.DocsDir != "" {
		if err := writeDocs(o.ResultsDir, o.DocsDir); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "report: %s\n", o.DocsDir+"/benchmarks.md")
	}
	fmt.Print(rep.text())
	return nil
}
