package planner

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/sql"
)

// EXPLAIN and EXPLAIN ANALYZE.
//
// EXPLAIN prepares its statement and returns the plan's lines as rows.
// EXPLAIN ANALYZE builds the query with every operator wrapped (see
// builder.an): the wrapper counts the rows and batches the operator
// returns and the time spent in its Open and Next (its inputs included;
// summed over the workers of a parallel scan), and gives the operator's
// Open a context with
//   - a child Budget (arrowexec.NewChildBudget) whose peak is the
//     operator's peak memory, its inputs' included, as far as operators
//     account it (sort, top-N, hash aggregate and join, window);
//   - a ScanStats that the storage sources opened below it (and not below
//     a deeper wrapper) fill: row-store rows, segments and row groups read
//     and pruned, by cause;
//   - a SpillStats that a sort fills with the runs it wrote to disk.
//
// The source provider owns what scans report: the planner only carries the
// counters from the context to the rendered plan.

// ExplainSchema is the schema of EXPLAIN's rows: one line of the plan per
// row.
var ExplainSchema = arrow.NewSchema([]arrow.Field{{Name: "plan", Type: arrow.BinaryTypes.String}}, nil)

func prepareExplain(ex *sql.Explain, version uint64) (*Prepared, error) {
	inner, err := prepareBound(ex.Stmt, version)
	if err != nil {
		return nil, err
	}
	if ex.Analyze && inner.Kind != KindQuery {
		return nil, sqlstate.Errorf(sqlstate.FeatureNotSupported, "EXPLAIN ANALYZE of %s is not supported", inner.Kind)
	}
	return &Prepared{Kind: KindExplain, Schema: ExplainSchema, CatalogVersion: version,
		Explained: inner, Analyze: ex.Analyze}, nil
}

// ScanStats count what the storage scans under one plan node read, for
// EXPLAIN ANALYZE. Sources add to the ScanStats of their context
// (ScanStatsFrom) when they close. It is safe for concurrent use.
type ScanStats struct {
	// RowStoreRows counts the rows read from the row store.
	RowStoreRows atomic.Int64
	// Segments counts the segments the scans reached (a LIMIT may stop a
	// scan before its last segments); SegmentsSkipped those of them not
	// read at all (every row deleted, or no key of a key lookup in them).
	Segments, SegmentsSkipped atomic.Int64
	// RowGroups counts the row groups of the segments read, RowGroupsRead
	// those decoded; the pruned ones by cause: zone maps, bloom filters,
	// bitmaps (value bitmaps and delete bitmaps) and key ranges (primary
	// key lookups).
	RowGroups, RowGroupsRead                            atomic.Int64
	PrunedZoneMap, PrunedBloom, PrunedBitmap, PrunedKey atomic.Int64
	// SegmentRows counts the rows decoded from segments.
	SegmentRows atomic.Int64
	// PrunedRuntime counts the row groups skipped because their zone map
	// misses the keys a scan's key filter allows (a join's runtime
	// filter, or the range of the scan's own predicate in one column);
	// RowsFiltered the rows such a filter dropped after their key was
	// decoded, before the other columns were.
	PrunedRuntime, RowsFiltered atomic.Int64
}

type scanStatsKey struct{}

// WithScanStats returns a context in which sources report to s.
func WithScanStats(ctx context.Context, s *ScanStats) context.Context {
	return context.WithValue(ctx, scanStatsKey{}, s)
}

// ScanStatsFrom returns the ScanStats a source opened with ctx reports to,
// or nil when no EXPLAIN ANALYZE is running.
func ScanStatsFrom(ctx context.Context) *ScanStats {
	s, _ := ctx.Value(scanStatsKey{}).(*ScanStats)
	return s
}

func (s *ScanStats) any() bool {
	return s.RowStoreRows.Load() != 0 || s.Segments.Load() != 0
}

// OpStats are the EXPLAIN ANALYZE counters of one plan node.
type OpStats struct {
	Rows, Batches atomic.Int64
	// Nanos is the time spent in Open and Next, inputs included.
	Nanos atomic.Int64
	// PeakMemory is the most bytes the operator and its inputs held at
	// once, as far as they account memory.
	PeakMemory atomic.Int64
	Scan       ScanStats
	// Spill counts what a sort under the node wrote to disk.
	Spill arrowexec.SpillStats
}

// Analysis collects the statistics of one EXPLAIN ANALYZE execution. It
// is filled while the operators run and read after they are closed.
type Analysis struct {
	plan sql.Node
	// spoolPlans are the plans the spools of plan ran.
	spoolPlans map[*spoolDef]sql.Node
	mu         sync.Mutex
	nodes      map[sql.Node]*OpStats
	root       *OpStats
	// runtime lists the runtime filters of each scan (rtfilter.go).
	runtime map[*sql.Scan][]*arrowexec.RuntimeFilter
}

// addRuntime notes that scan has the runtime filter f.
func (a *Analysis) addRuntime(scan *sql.Scan, f *arrowexec.RuntimeFilter) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.runtime == nil {
		a.runtime = map[*sql.Scan][]*arrowexec.RuntimeFilter{}
	}
	a.runtime[scan] = append(a.runtime[scan], f)
}

// runtimeLines renders the runtime filters of n, a line each.
func (a *Analysis) runtimeLines(n sql.Node, indent string) string {
	scan, ok := n.(*sql.Scan)
	if !ok {
		return ""
	}
	a.mu.Lock()
	fs := a.runtime[scan]
	a.mu.Unlock()
	var b strings.Builder
	for _, f := range fs {
		keys := "not published"
		if k := f.Keys(); k != nil {
			kind := "exact"
			if !k.Exact() {
				kind = "range"
			}
			keys = fmt.Sprintf("%d build keys in [%d, %d] (%s)", k.Len(), k.Min, k.Max, kind)
			if k.IsEmpty() {
				keys = "no build keys"
			}
		}
		fmt.Fprintf(&b, "%sruntime filter on %s: %s, row groups skipped=%d rows dropped=%d\n", indent, f.Label, keys,
			f.RowGroupsSkipped.Load(), f.RowsDropped.Load())
	}
	return b.String()
}

// wrap returns op counting for n. Operators built twice for one node (the
// partitions of a parallel scan) share its counters.
func (a *Analysis) wrap(n sql.Node, op arrowexec.Operator) arrowexec.Operator {
	a.mu.Lock()
	st, ok := a.nodes[n]
	if !ok {
		st = &OpStats{}
		a.nodes[n] = st
	}
	a.mu.Unlock()
	return &analyzeOp{in: op, st: st}
}

// BuildAnalyze is Build for EXPLAIN ANALYZE of a query: the caller runs
// and closes the operator, then reads the plan with its statistics from
// Analysis.String.
func (p *Prepared) BuildAnalyze(src SourceProvider) (arrowexec.Operator, *Analysis, error) {
	if p.Kind != KindQuery {
		return nil, nil, sqlstate.Errorf(sqlstate.FeatureNotSupported, "EXPLAIN ANALYZE of %s is not supported", p.Kind)
	}
	if len(p.params) > 0 {
		return nil, nil, sqlstate.Errorf(sqlstate.ParamCountMismatch, "statement has %d parameters, no values given", len(p.params))
	}
	an := &Analysis{plan: p.plan, nodes: map[sql.Node]*OpStats{}}
	op, err := p.build(&builder{src: src, now: time.Now().UTC(), an: an})
	if err != nil {
		return nil, nil, err
	}
	an.root = an.nodes[an.plan]
	return op, an, nil
}

// String renders the plan, each node followed by its statistics.
func (a *Analysis) String() string {
	return describeSpools(a.plan, a.spoolPlans, func(n sql.Node, indent string) string {
		a.mu.Lock()
		st := a.nodes[n]
		a.mu.Unlock()
		if st == nil {
			return indent + "(executed by the operator above)\n" + a.runtimeLines(n, indent)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%sactual rows=%d batches=%d time=%s", indent, st.Rows.Load(), st.Batches.Load(),
			fmtDuration(time.Duration(st.Nanos.Load())))
		if m := st.PeakMemory.Load(); m > 0 {
			fmt.Fprintf(&b, " peak memory=%s", fmtBytes(m))
		}
		if r := st.Spill.Runs.Load(); r > 0 {
			fmt.Fprintf(&b, " spilled=%d runs, %s", r, fmtBytes(st.Spill.Bytes.Load()))
		}
		b.WriteByte('\n')
		if sc := &st.Scan; sc.any() {
			fmt.Fprintf(&b, "%sscan: row store rows=%d segments=%d (skipped %d) row groups read=%d of %d, pruned by zone maps=%d bloom filters=%d bitmaps=%d key ranges=%d segment rows=%d\n",
				indent, sc.RowStoreRows.Load(), sc.Segments.Load(), sc.SegmentsSkipped.Load(),
				sc.RowGroupsRead.Load(), sc.RowGroups.Load(), sc.PrunedZoneMap.Load(), sc.PrunedBloom.Load(),
				sc.PrunedBitmap.Load(), sc.PrunedKey.Load(), sc.SegmentRows.Load())
			if p, f := sc.PrunedRuntime.Load(), sc.RowsFiltered.Load(); p > 0 || f > 0 {
				fmt.Fprintf(&b, "%sscan key filter: row groups skipped=%d rows dropped while decoding=%d\n", indent, p, f)
			}
		}
		b.WriteString(a.runtimeLines(n, indent))
		return b.String()
	})
}

// Total returns the statistics of the plan's root operator.
func (a *Analysis) Total() *OpStats {
	if a.root == nil {
		return &OpStats{}
	}
	return a.root
}

func fmtDuration(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// analyzeOp counts for one plan node what its operator does.
type analyzeOp struct {
	in     arrowexec.Operator
	st     *OpStats
	budget *arrowexec.Budget
}

func (o *analyzeOp) Schema() *arrow.Schema { return o.in.Schema() }

func (o *analyzeOp) Open(ctx context.Context) error {
	start := time.Now()
	o.budget = arrowexec.NewChildBudget(arrowexec.BudgetFrom(ctx))
	ctx = arrowexec.WithBudget(WithScanStats(ctx, &o.st.Scan), o.budget)
	ctx = arrowexec.WithSpillStats(ctx, &o.st.Spill)
	err := o.in.Open(ctx)
	o.st.Nanos.Add(int64(time.Since(start)))
	return err
}

func (o *analyzeOp) Next() (arrow.RecordBatch, error) {
	start := time.Now()
	rec, err := o.in.Next()
	o.st.Nanos.Add(int64(time.Since(start)))
	if rec != nil {
		o.st.Rows.Add(rec.NumRows())
		o.st.Batches.Add(1)
	}
	return rec, err
}

func (o *analyzeOp) Close() error {
	if o.budget != nil {
		peak := o.budget.Peak()
		for p := o.st.PeakMemory.Load(); peak > p && !o.st.PeakMemory.CompareAndSwap(p, peak); p = o.st.PeakMemory.Load() {
		}
	}
	return o.in.Close()
}

var _ arrowexec.Operator = (*analyzeOp)(nil)

// explainOp is the operator of EXPLAIN [ANALYZE]: Open plans (and, for
// ANALYZE, runs) the explained statement and Next returns the lines of its
// plan as one batch of ExplainSchema.
type explainOp struct {
	p   *Prepared // the EXPLAIN
	src SourceProvider
	rec arrow.RecordBatch // the batch still to return
	out arrow.RecordBatch // the batch returned, released at the next call
}

func (o *explainOp) Schema() *arrow.Schema { return ExplainSchema }

func (o *explainOp) Open(ctx context.Context) error {
	ex := o.p.Explained
	var text string
	if o.p.Analyze {
		var err error
		if text, err = analyze(ctx, ex, o.src); err != nil {
			return err
		}
	} else {
		b := &builder{src: o.src, spoolPlans: map[*spoolDef]sql.Node{}}
		plan := b.reorderJoins(ex.plan)
		b.collectSpoolPlans(plan)
		text = ex.explainSpools(plan, b.spoolPlans)
	}
	b := array.NewStringBuilder(exec.GetAllocator(ctx))
	defer b.Release()
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		b.Append(line)
	}
	col := b.NewArray()
	defer col.Release()
	o.rec = array.NewRecordBatch(ExplainSchema, []arrow.Array{col}, int64(col.Len()))
	return nil
}

// analyze runs query p to its end and returns its plan with the
// statistics of every operator and a last line with the totals.
func analyze(ctx context.Context, p *Prepared, src SourceProvider) (string, error) {
	op, an, err := p.BuildAnalyze(src)
	if err != nil {
		return "", err
	}
	start := time.Now()
	err = op.Open(ctx)
	for err == nil {
		var rec arrow.RecordBatch
		if rec, err = op.Next(); rec == nil {
			break
		}
	}
	if cerr := op.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	total := an.Total()
	text := an.String() + fmt.Sprintf("Execution: rows=%d time=%s", total.Rows.Load(), fmtDuration(time.Since(start)))
	if m := total.PeakMemory.Load(); m > 0 {
		text += " peak memory=" + fmtBytes(m)
	}
	return text, nil
}

func (o *explainOp) Next() (arrow.RecordBatch, error) {
	o.releaseOut()
	o.out, o.rec = o.rec, nil
	return o.out, nil
}

func (o *explainOp) releaseOut() {
	if o.out != nil {
		o.out.Release()
		o.out = nil
	}
}

func (o *explainOp) Close() error {
	o.releaseOut()
	if o.rec != nil {
		o.rec.Release()
		o.rec = nil
	}
	return nil
}

var _ arrowexec.Operator = (*explainOp)(nil)
