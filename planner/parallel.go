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

// partitions returns the openers of the parts of scan, the input (through
// Filters and Projects) of in: pruned by the Filters directly above the
// scan when the provider can.
func (b *builder) partitions(ps PartitionedScanner, in sql.Node, scan *sql.Scan, n int) []arrowexec.OpenSource {
	if fps, ok := ps.(FilteredPartitionedScanner); ok {
		for x := in; x != scan; x = input(x) {
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
			if len(preds) > 0 {
				return fps.ScanPartitionsFiltered(scan.Table, scan.Cols, scan.WithKey, n, ScanPredicate{Conjuncts: preds})
			}
			break
		}
	}
	return ps.ScanPartitions(scan.Table, scan.Cols, scan.WithKey, n)
}

// partProvider serves one part of a partitioned scan.
type partProvider struct{ open arrowexec.OpenSource }

func (p partProvider) Scan(*catalog.Table, []int, bool) arrowexec.OpenSource { return p.open }

// parallelInput returns the scan under a chain of Filters and Projects
// without subqueries (their operators are stateful), or nil.
func parallelInput(n sql.Node) *sql.Scan {
	for {
		var es []sql.Expr
		switch x := n.(type) {
		case *sql.Scan:
			return x
		case *sql.Filter:
			es = []sql.Expr{x.Pred}
		case *sql.Project:
			es = x.Exprs
		default:
			return nil
		}
		for _, e := range es {
			sub := false
			sql.Walk(e, func(x sql.Expr) bool {
				if _, ok := x.(*sql.Subquery); ok {
					sub = true
				}
				return !sub
			})
			if sub {
				return nil
			}
		}
		n = input(n)
	}
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
	scan := parallelInput(n.Input)
	if scan == nil {
		return nil, false, nil
	}
	opens := b.partitions(ps, n.Input, scan, workers)
	if len(opens) < 2 {
		return nil, false, nil
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
