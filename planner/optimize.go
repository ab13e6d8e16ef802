package planner

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/mantisdb/mantisdb/sql"
)

// optimize applies the logical rewrites to a bound plan.
func optimize(n sql.Node) (sql.Node, error) {
	n, err := foldNode(n)
	if err != nil {
		return nil, err
	}
	return pruneColumns(pushFilters(n)), nil
}

// mapExprs returns n with every expression it holds replaced by f(expr) and
// its inputs replaced by in (when non-nil).
func mapExprs(n sql.Node, in sql.Node, f func(sql.Expr) (sql.Expr, error)) (sql.Node, error) {
	var err error
	list := func(es []sql.Expr) ([]sql.Expr, error) {
		out := make([]sql.Expr, len(es))
		for i, e := range es {
			if out[i], err = f(e); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	switch n := n.(type) {
	case *sql.Scan, *spoolScan:
		return n, nil
	case *sql.Values:
		rows := make([][]sql.Expr, len(n.Rows))
		for i, r := range n.Rows {
			if rows[i], err = list(r); err != nil {
				return nil, err
			}
		}
		return &sql.Values{Cols: n.Cols, Rows: rows}, nil
	case *sql.Filter:
		p, err := f(n.Pred)
		if err != nil {
			return nil, err
		}
		return &sql.Filter{Input: in, Pred: p}, nil
	case *sql.Project:
		es, err := list(n.Exprs)
		if err != nil {
			return nil, err
		}
		return &sql.Project{Input: in, Exprs: es, Names: n.Names}, nil
	case *sql.Aggregate:
		gs, err := list(n.Groups)
		if err != nil {
			return nil, err
		}
		aggs := make([]*sql.AggCall, len(n.Aggs))
		for i, a := range n.Aggs {
			c := *a
			if a.Arg != nil {
				if c.Arg, err = f(a.Arg); err != nil {
					return nil, err
				}
			}
			aggs[i] = &c
		}
		return &sql.Aggregate{Input: in, Groups: gs, GroupNames: n.GroupNames, Aggs: aggs, AggNames: n.AggNames}, nil
	case *sql.Sort:
		keys := make([]sql.SortKey, len(n.Keys))
		for i, k := range n.Keys {
			keys[i] = k
			if keys[i].Expr, err = f(k.Expr); err != nil {
				return nil, err
			}
		}
		return &sql.Sort{Input: in, Keys: keys}, nil
	case *sql.Limit:
		return &sql.Limit{Input: in, Offset: n.Offset, Count: n.Count}, nil
	case *sql.Window:
		return mapWindow(n, in, f)
	}
	return nil, fmt.Errorf("planner: unknown plan node %T", n)
}

func input(n sql.Node) sql.Node {
	if ins := n.Inputs(); len(ins) > 0 {
		return ins[0]
	}
	return nil
}

// foldNode folds the constant subexpressions of every node.
func foldNode(n sql.Node) (sql.Node, error) {
	if j, ok := n.(*sql.Join); ok {
		return mapJoin(j, foldNode, fold)
	}
	if u, ok := n.(*sql.UnionAll); ok {
		return mapUnion(u, foldNode)
	}
	var in sql.Node
	if c := input(n); c != nil {
		var err error
		if in, err = foldNode(c); err != nil {
			return nil, err
		}
	}
	out, err := mapExprs(n, in, fold)
	if err != nil {
		return nil, err
	}
	// WHERE TRUE (after folding) filters nothing.
	if f, ok := out.(*sql.Filter); ok {
		if l, ok := f.Pred.(*sql.Literal); ok && !l.IsNull() {
			if b, ok := l.Value.(*scalar.Boolean); ok && b.Value {
				return f.Input, nil
			}
		}
	}
	return out, nil
}

// fold replaces constant subtrees of e by literals, evaluating them with
// the executor's own kernels so that folding cannot change results. A
// subtree whose evaluation fails (say 1/0) is left for run time, where it
// fails only if a row reaches it.
func fold(e sql.Expr) (sql.Expr, error) {
	if _, ok := e.(*sql.Literal); ok {
		return e, nil
	}
	if sq, ok := e.(*sql.Subquery); ok {
		p, err := optimize(sq.Plan)
		if err != nil {
			return nil, err
		}
		return &sql.Subquery{Plan: p, Typ: sq.Typ}, nil
	}
	if !sql.IsConstant(e) {
		return sql.MapChildren(e, fold)
	}
	if l, ok := evalConstant(e); ok {
		return l, nil
	}
	return sql.MapChildren(e, fold)
}

var oneRow = array.NewRecordBatch(arrow.NewSchema(nil, nil), nil, 1)

func evalConstant(e sql.Expr) (*sql.Literal, bool) {
	x, err := (*builder)(nil).compile(e, oneRow.Schema())
	if err != nil {
		return nil, false
	}
	arr, err := x.Eval(evalContext, oneRow)
	if err != nil {
		return nil, false
	}
	defer arr.Release()
	if arr.Len() != 1 {
		return nil, false
	}
	s, err := scalar.GetScalar(arr, 0)
	if err != nil {
		return nil, false
	}
	if !arrow.TypeEqual(s.DataType(), arrowType(e.Type())) {
		return nil, false
	}
	if r, ok := s.(scalar.Releasable); ok {
		// Values of variable-width scalars are copied so that the literal
		// does not hold the evaluation's buffers.
		defer r.Release()
		if !s.IsValid() {
			// A NULL holds no buffers (and its Data would be nil).
			return &sql.Literal{Value: scalar.MakeNullScalar(s.DataType()), Typ: e.Type()}, true
		}
		switch v := s.(type) {
		case *scalar.String:
			return &sql.Literal{Value: scalar.NewStringScalar(string(v.Data())), Typ: e.Type()}, true
		}
		return nil, false
	}
	return &sql.Literal{Value: s, Typ: e.Type()}, true
}

// mapJoin returns j with its inputs replaced by fn(input) and its
// expressions by fe(expr).
func mapJoin(j *sql.Join, fn func(sql.Node) (sql.Node, error), fe func(sql.Expr) (sql.Expr, error)) (sql.Node, error) {
	out := *j
	var err error
	if out.Left, err = fn(j.Left); err != nil {
		return nil, err
	}
	if out.Right, err = fn(j.Right); err != nil {
		return nil, err
	}
	list := func(es []sql.Expr) ([]sql.Expr, error) {
		r := make([]sql.Expr, len(es))
		for i, e := range es {
			if r[i], err = fe(e); err != nil {
				return nil, err
			}
		}
		return r, nil
	}
	if out.LeftKeys, err = list(j.LeftKeys); err != nil {
		return nil, err
	}
	if out.RightKeys, err = list(j.RightKeys); err != nil {
		return nil, err
	}
	if j.Cond != nil {
		if out.Cond, err = fe(j.Cond); err != nil {
			return nil, err
		}
	}
	return &out, nil
}

// mapUnion returns u with its inputs replaced by fn(input).
func mapUnion(u *sql.UnionAll, fn func(sql.Node) (sql.Node, error)) (sql.Node, error) {
	out := *u
	var err error
	if out.Left, err = fn(u.Left); err != nil {
		return nil, err
	}
	if out.Right, err = fn(u.Right); err != nil {
		return nil, err
	}
	return &out, nil
}

// scanBelow returns the Scan under a chain of Filters starting at n (top
// first), or nil.
func scanBelow(n sql.Node) (*sql.Scan, []*sql.Filter) {
	var filters []*sql.Filter
	for {
		switch x := n.(type) {
		case *sql.Filter:
			filters = append(filters, x)
			n = x.Input
		case *sql.Scan:
			return x, filters
		default:
			return nil, nil
		}
	}
}

func remapRefs(e sql.Expr, m map[int]int) sql.Expr {
	if r, ok := e.(*sql.ColumnRef); ok {
		c := *r
		c.Idx = m[r.Idx]
		return &c
	}
	out, _ := sql.MapChildren(e, func(c sql.Expr) (sql.Expr, error) { return remapRefs(c, m), nil })
	return out
}

// describe renders the physical shape of a plan (Sort under Limit is shown
// as the TopN it becomes).
func describe(n sql.Node) string { return describeWith(n, nil) }

// describeWith is describe with annotate's lines (when not nil) after
// each node's line, indented one level deeper.
func describeWith(n sql.Node, annotate func(n sql.Node, indent string) string) string {
	return describeSpools(n, nil, annotate)
}

// describeSpools is describeWith where the plan of a spool is spools[def]
// when present. A spool's plan is shown once, under its first reference
// ("Spool #i readers=k"); every reference is a "SpoolScan #i" line.
func describeSpools(n sql.Node, spools map[*spoolDef]sql.Node, annotate func(n sql.Node, indent string) string) string {
	var b strings.Builder
	shown := map[*spoolDef]bool{}
	var rec func(sql.Node, int)
	rec = func(n sql.Node, depth int) {
		indent := strings.Repeat("  ", depth)
		if s, ok := n.(*spoolScan); ok {
			b.WriteString(indent + s.String() + "\n")
			if annotate != nil {
				b.WriteString(annotate(n, indent+"  "))
			}
			if !shown[s.def] {
				shown[s.def] = true
				fmt.Fprintf(&b, "%s  Spool #%d readers=%d\n", indent, s.def.id, s.def.refs)
				p, ok := spools[s.def]
				if !ok {
					p = s.def.plan
				}
				rec(p, depth+2)
			}
			return
		}
		b.WriteString(indent)
		if l, ok := n.(*sql.Limit); ok && l.Count >= 0 {
			if s, ok := l.Input.(*sql.Sort); ok {
				fmt.Fprintf(&b, "TopN offset=%d count=%d %s\n", l.Offset, l.Count, strings.TrimPrefix(s.String(), "Sort "))
				if annotate != nil {
					b.WriteString(annotate(n, indent+"  "))
				}
				rec(s.Input, depth+1)
				return
			}
		}
		b.WriteString(n.String())
		b.WriteByte('\n')
		if annotate != nil {
			b.WriteString(annotate(n, indent+"  "))
		}
		for _, c := range n.Inputs() {
			rec(c, depth+1)
		}
	}
	rec(n, 0)
	return b.String()
}

// mapWindow is mapExprs for a Window: the node's and its calls' partition
// and order keys stay identical.
func mapWindow(n *sql.Window, in sql.Node, f func(sql.Expr) (sql.Expr, error)) (sql.Node, error) {
	out := &sql.Window{Input: in, Names: n.Names}
	var err error
	out.Partition = make([]sql.Expr, len(n.Partition))
	for i, p := range n.Partition {
		if out.Partition[i], err = f(p); err != nil {
			return nil, err
		}
	}
	out.Order = make([]sql.SortKey, len(n.Order))
	for i, k := range n.Order {
		out.Order[i] = k
		if out.Order[i].Expr, err = f(k.Expr); err != nil {
			return nil, err
		}
	}
	out.Funcs = make([]*sql.WindowCall, len(n.Funcs))
	for i, w := range n.Funcs {
		c := *w
		c.Partition, c.Order = out.Partition, out.Order
		if w.Arg != nil {
			if c.Arg, err = f(w.Arg); err != nil {
				return nil, err
			}
		}
		if w.Default != nil {
			if c.Default, err = f(w.Default); err != nil {
				return nil, err
			}
		}
		out.Funcs[i] = &c
	}
	return out, nil
}
