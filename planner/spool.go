package planner

import (
	"fmt"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/sql"
)

// Materialized common table expressions.
//
// The binder inlines a CTE at each reference by pointing every reference
// at the same bound plan node, so a plan is a DAG where a query names a CTE
// twice (TPC-H Q15 joins its revenue view with supplier and searches it
// for its maximum). Left as it is, every reference runs the subtree again:
// two scans and two aggregates of lineitem for Q15. spoolShared finds the
// nodes referenced more than once (from the plan or from the plan of a
// scalar subquery in it) and, when the subtree does enough work to be
// worth keeping (it aggregates, sorts or computes a window), replaces
// every reference by a spoolScan of one spoolDef: the subtree is optimized
// once on its own and, per execution, built once into an arrowexec.Spool
// whose readers replay its batches.
//
// Semantics are kept: a bound plan has no correlated references (the
// binder turns them into joins before a plan exists), WITH RECURSIVE is
// not bound, the engine has no volatile function (NOW() and CURRENT_DATE
// are fixed per execution), and every reference of a CTE reads the same
// snapshot, so one evaluation gives each reference the rows its own
// evaluation would. What a spool gives up is pushing a reference's
// filters and column pruning into the CTE, which is why plain scans,
// filters, projections and joins are still inlined. A subtree shared but
// not worth spooling is copied to each reference, as before.

// spoolDef is a subtree referenced more than once, computed once per
// execution.
type spoolDef struct {
	id   int      // 1, 2, … in the plan, for EXPLAIN
	plan sql.Node // optimized on its own, all its columns kept
	refs int      // spoolScans that read it
}

// spoolScan is one reference of a spoolDef: a leaf of the plan whose
// columns are the def's.
type spoolScan struct {
	def *spoolDef
}

var _ sql.Node = (*spoolScan)(nil)

// Columns implements sql.Node.
func (n *spoolScan) Columns() []sql.Column { return n.def.plan.Columns() }

// Inputs implements sql.Node: a spoolScan is a leaf for the rewrites,
// which never look into the shared subtree (it was optimized on its own).
func (n *spoolScan) Inputs() []sql.Node { return nil }

func (n *spoolScan) String() string { return fmt.Sprintf("SpoolScan #%d", n.def.id) }

// spoolShared returns n with every subtree worth spooling that n
// references more than once replaced by spoolScans of one spoolDef per
// subtree, each def's plan optimized. It returns n itself when there is
// none.
func spoolShared(n sql.Node) (sql.Node, error) {
	counts := map[sql.Node]int{}
	var visit func(n sql.Node)
	visit = func(n sql.Node) {
		counts[n]++
		if counts[n] > 1 {
			return
		}
		for _, c := range n.Inputs() {
			visit(c)
		}
		for _, sq := range subqueriesOf(n) {
			visit(sq)
		}
	}
	visit(n)
	any := false
	for c, k := range counts {
		if k > 1 && worthSpool(c) {
			any = true
			break
		}
	}
	if !any {
		return n, nil
	}
	defs := map[sql.Node]*spoolDef{}
	var rebuild func(n sql.Node) (sql.Node, error)
	rebuild = func(n sql.Node) (sql.Node, error) {
		if counts[n] > 1 && worthSpool(n) {
			d := defs[n]
			if d == nil {
				in, err := rebuildChildren(n, rebuild)
				if err != nil {
					return nil, err
				}
				d = &spoolDef{id: len(defs) + 1}
				defs[n] = d
				if d.plan, err = optimize(in); err != nil {
					return nil, err
				}
			}
			d.refs++
			return &spoolScan{def: d}, nil
		}
		return rebuildChildren(n, rebuild)
	}
	return rebuild(n)
}

// rebuildChildren returns n with its inputs and the plans of its scalar
// subqueries replaced by f of them.
func rebuildChildren(n sql.Node, f func(sql.Node) (sql.Node, error)) (sql.Node, error) {
	var sub func(e sql.Expr) (sql.Expr, error)
	sub = func(e sql.Expr) (sql.Expr, error) {
		if sq, ok := e.(*sql.Subquery); ok {
			p, err := f(sq.Plan)
			if err != nil {
				return nil, err
			}
			return &sql.Subquery{Plan: p, Typ: sq.Typ}, nil
		}
		return sql.MapChildren(e, sub)
	}
	switch x := n.(type) {
	case *sql.Join:
		return mapJoin(x, f, sub)
	case *sql.UnionAll:
		return mapUnion(x, f)
	case *spoolScan:
		return x, nil
	}
	var in sql.Node
	if c := input(n); c != nil {
		var err error
		if in, err = f(c); err != nil {
			return nil, err
		}
	}
	return mapExprs(n, in, sub)
}

// subqueriesOf returns the plans of the scalar subqueries in n's own
// expressions.
func subqueriesOf(n sql.Node) []sql.Node {
	var out []sql.Node
	collect := func(e sql.Expr) (sql.Expr, error) {
		sql.Walk(e, func(x sql.Expr) bool {
			if sq, ok := x.(*sql.Subquery); ok {
				out = append(out, sq.Plan)
				return false
			}
			return true
		})
		return e, nil
	}
	same := func(c sql.Node) (sql.Node, error) { return c, nil }
	switch x := n.(type) {
	case *sql.Join:
		_, _ = mapJoin(x, same, collect)
	case *sql.UnionAll, *sql.Scan, *spoolScan:
	default:
		_, _ = mapExprs(n, input(n), collect)
	}
	return out
}

// worthSpool reports whether keeping n's rows pays for losing the
// rewrites across it: n (not counting its scalar subqueries) aggregates,
// sorts or computes a window function, work that a reference's filters
// could not have been pushed below anyway.
func worthSpool(n sql.Node) bool {
	switch n.(type) {
	case *sql.Aggregate, *sql.Sort, *sql.Window:
		return true
	case *spoolScan:
		return false
	}
	for _, c := range n.Inputs() {
		if worthSpool(c) {
			return true
		}
	}
	return false
}

// spoolPlan returns the plan the builder runs for d: d's plan with its
// joins reordered, the same for every reference (and for EXPLAIN).
func (b *builder) spoolPlan(d *spoolDef) sql.Node {
	if p, ok := b.spoolPlans[d]; ok {
		return p
	}
	p := b.reorderJoins(d.plan)
	if b.spoolPlans != nil {
		b.spoolPlans[d] = p
	}
	return p
}

// collectSpoolPlans fixes the plan of every spool n reads (directly or
// through other spools), for EXPLAIN.
func (b *builder) collectSpoolPlans(n sql.Node) {
	if s, ok := n.(*spoolScan); ok {
		if _, done := b.spoolPlans[s.def]; !done {
			b.collectSpoolPlans(b.spoolPlan(s.def))
		}
		return
	}
	for _, c := range n.Inputs() {
		b.collectSpoolPlans(c)
	}
	for _, sq := range subqueriesOf(n) {
		b.collectSpoolPlans(sq)
	}
}

// buildSpoolScan returns a reader of n's spool, building the spool at its
// def's first reference in this execution. The spool is released when the
// execution's root operator closes (spoolOwner).
func (b *builder) buildSpoolScan(n *spoolScan) (arrowexec.Operator, error) {
	if b.spools == nil {
		// A builder that is not an execution's (no owner to release a
		// spool) runs the subtree at each reference, as if inlined.
		return b.build(b.spoolPlan(n.def))
	}
	s, ok := b.spools[n.def]
	if !ok {
		op, err := b.build(b.spoolPlan(n.def))
		if err != nil {
			return nil, err
		}
		s = arrowexec.NewSpool(op)
		b.spools[n.def] = s
	}
	return s.Reader(), nil
}

// spoolOwner is the root operator of an execution with spools: closing it
// closes the plan, then drops the owner's reference of every spool.
type spoolOwner struct {
	arrowexec.Operator
	spools map[*spoolDef]*arrowexec.Spool
}

func (o *spoolOwner) Close() error {
	err := o.Operator.Close()
	for d, s := range o.spools {
		if serr := s.Release(); err == nil {
			err = serr
		}
		delete(o.spools, d)
	}
	return err
}

// releaseSpools drops the owner's reference of the spools of a build that
// failed.
func releaseSpools(spools map[*spoolDef]*arrowexec.Spool) {
	for d, s := range spools {
		s.Release()
		delete(spools, d)
	}
}
