package planner

import (
	"runtime"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/sql"
)

// PartitionedScanner is optionally implemented by a SourceProvider that
// can split a scan into parts read concurrently (row groups of segments,
// key ranges of the row store: morsels). The planner then runs a
// scan → filter → project → partial aggregate pipeline per part on its own
// goroutine and merges the partial aggregates.
type PartitionedScanner interface {
	// ScanPartitions returns at most n openers whose sources together
	// yield exactly the rows of Scan(t, cols, withKey), each row once, in
	// batches of the same schema. Fewer than two means no split.
	ScanPartitions(t *catalog.Table, cols []int, withKey bool, n int) []arrowexec.OpenSource
}

// FilteredPartitionedScanner is optionally implemented by a
// PartitionedScanner whose parts can prune with a pushed-down predicate, as
// FilteredScanner's scans do: ScanPartitionsFiltered is ScanPartitions
// whose sources may leave out rows for which pred is not true. The
// planner keeps its Filter above every part.
type FilteredPartitionedScanner interface {
	ScanPartitionsFiltered(t *catalog.Table, cols []int, withKey bool, n int, pred ScanPredicate) []arrowexec.OpenSource
}

// partitions returns the openers of the parts of scan, the last node of
// path (a parallel chain, see parallelChain): pruned by the Filters
// directly above the scan when the provider can.
func (b *builder) partitions(ps PartitionedScanner, path []sql.Node, n int) []arrowexec.OpenSource {
	scan := path[len(path)-1].(*sql.Scan)
	if fps, ok := ps.(FilteredPartitionedScanner); ok {
		for _, x := range path {
			s, filters := scanBelow(x)
			if s != scan {
				continue
			}
			var preds []ColumnPred
			for _, f := range filters {
				for _, e := range splitAnd(f.Pred, nil) {
					if p, ok := b.columnPred(scan, e); ok {
						preds = append(preds, p)
					}
				}
			}
			if rtKeys := b.scanRuntimeKeys(scan); len(preds) > 0 || len(rtKeys) > 0 {
				return fps.ScanPartitionsFiltered(scan.Table, scan.Cols, scan.WithKey, n, ScanPredicate{Conjuncts: preds, Runtime: rtKeys})
			}
			break
		}
	}
	return ps.ScanPartitions(scan.Table, scan.Cols, scan.WithKey, n)
}

// partProvider serves one part of a partitioned scan. The pipeline's
// builder keeps the whole source's estimates (builder.est), so that its
// joins choose the sides the shared build sides were chosen for.
type partProvider struct{ open arrowexec.OpenSource }

func (p partProvider) Scan(*catalog.Table, []int, bool) arrowexec.OpenSource { return p.open }

// parallelChain returns the path from n down to the scan that a parallel
// pipeline partitions: through Filters, Projects and key filters
// (semi-join reductions, keyfilter.go), and through hash joins by their
// probe side, whose build side is built once and shared by the pipelines
// (sharedJoin). It returns nil when there is no such scan,
// or when an expression on the path has a subquery (its operators are
// stateful).
func (b *builder) parallelChain(n sql.Node) []sql.Node {
	var path []sql.Node
	for {
		path = append(path, n)
		var es []sql.Expr
		next := input(n)
		switch x := n.(type) {
		case *sql.Scan:
			return path
		case *sql.Filter:
			es = []sql.Expr{x.Pred}
		case *sql.Project:
			es = x.Exprs
		case *sql.Join:
			if keyFilterKey(x) >= 0 {
				// A key filter of its left input: its key set is shared
				// (prepareKeySets).
				es = x.LeftKeys
				break
			}
			probe, ok := b.sharedJoinProbe(x)
			if !ok {
				return nil
			}
			es = append(append(append(es, x.LeftKeys...), x.RightKeys...), x.Cond)
			next = probe
		default:
			return nil
		}
		if hasSubquery(es) {
			return nil
		}
		n = next
	}
}

// sharedJoinProbe returns the probe input of the hash join that j
// becomes, whose build is shared by the pipelines that probe it at once.
// Joins that emit build rows after their probe side ends (full joins,
// left joins that build their left input, semi and anti joins that build
// their left input) emit them from the last pipeline to finish
// (arrowexec.NewSharedHashJoin).
func (b *builder) sharedJoinProbe(j *sql.Join) (sql.Node, bool) {
	if len(j.LeftKeys) == 0 {
		return nil, false
	}
	swapped := b.buildsLeft(j)
	if swapped {
		return j.Right, true
	}
	return j.Left, true
}

func hasSubquery(es []sql.Expr) bool {
	sub := false
	for _, e := range es {
		if e == nil {
			continue
		}
		sql.Walk(e, func(x sql.Expr) bool {
			if _, ok := x.(*sql.Subquery); ok {
				sub = true
			}
			return !sub
		})
	}
	return sub
}

// buildParallelAggregate builds n over partitions of its scan when the
// provider can split it; ok is false when it does not apply.
func (b *builder) buildParallelAggregate(n *sql.Aggregate) (arrowexec.Operator, bool, error) {
	ps, isPS := b.src.(PartitionedScanner)
	workers := runtime.GOMAXPROCS(0)
	if !isPS || workers < 2 {
		return nil, false, nil
	}
	for _, e := range append(append([]sql.Expr(nil), n.Groups...), aggArgs(n)...) {
		hasSub := false
		sql.Walk(e, func(x sql.Expr) bool {
			_, hasSub = x.(*sql.Subquery)
			return !hasSub
		})
		if hasSub {
			return nil, false, nil
		}
	}
	path := b.parallelChain(n.Input)
	if path == nil {
		return nil, false, nil
	}
	// The runtime filters of the joins on the path go to every part of
	// the scan: plan them before it is partitioned.
	for _, x := range path {
		if j, ok := x.(*sql.Join); ok {
			b.runtimeFilters(j)
		}
	}
	opens := b.partitions(ps, path, workers)
	if len(opens) < 2 {
		return nil, false, nil
	}
	// The build sides of the joins on the path are built once, with the
	// whole source, and shared by the pipelines.
	shared := map[*sql.Join]*arrowexec.SharedBuild{}
	defer func() {
		for _, sb := range shared {
			sb.Release()
		}
	}()
	releaseKeySets, err := b.prepareKeySets(path)
	defer releaseKeySets()
	if err != nil {
		return nil, true, err
	}
	for _, x := range path {
		j, ok := x.(*sql.Join)
		if !ok || keyFilterKey(j) >= 0 {
			continue
		}
		probe, _ := b.sharedJoinProbe(j)
		buildSide := j.Right
		if probe == j.Right {
			buildSide = j.Left
		}
		op, err := b.build(buildSide)
		if err != nil {
			return nil, true, err
		}
		shared[j] = arrowexec.NewSharedBuild(op)
	}
	var ins []arrowexec.Operator
	closeAll := func() {
		for _, op := range ins {
			op.Close()
		}
	}
	for _, open := range opens {
		sub := *b
		sub.src = partProvider{open: open}
		sub.shared = shared
		op, err := sub.build(n.Input)
		if err != nil {
			closeAll()
			return nil, true, err
		}
		ins = append(ins, op)
	}
	sch := ins[0].Schema()
	gs, err := b.compileList(n.Groups, sch)
	if err != nil {
		closeAll()
		return nil, true, err
	}
	aggs := make([]arrowexec.Aggregate, len(n.Aggs))
	for i, a := range n.Aggs {
		aggs[i] = arrowexec.Aggregate{Func: a.Func, Distinct: a.Distinct, Sep: a.Sep, Name: n.AggNames[i]}
		if a.Arg != nil {
			if aggs[i].Arg, err = b.compile(a.Arg, sch); err != nil {
				closeAll()
				return nil, true, err
			}
		}
	}
	if !arrowexec.CanParallelAggregate(aggs) {
		closeAll()
		return nil, false, nil
	}
	op, err := arrowexec.NewParallelHashAggregate(ins, gs, n.GroupNames, aggs)
	if err != nil {
		closeAll()
		return nil, true, err
	}
	out, err := conform(op, n.Columns())
	if err != nil {
		op.Close()
		return nil, true, err
	}
	return out, true, nil
}

func aggArgs(n *sql.Aggregate) []sql.Expr {
	var es []sql.Expr
	for _, a := range n.Aggs {
		if a.Arg != nil {
			es = append(es, a.Arg)
		}
	}
	return es
}
