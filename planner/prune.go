package planner

import (
	"slices"

	"github.com/mantisdb/mantisdb/sql"
)

// pruneColumns rewrites n so that every scan reads, and every node below
// the root passes on, only the columns that some node above references
// (projection pushdown through filters, sorts, limits, aggregates,
// projections and joins). The root keeps exactly its columns.
//
// prune(n, need) returns the rewritten node and, for every column of n in
// need, its index in the rewritten node's output. Columns outside need may
// disappear; need is never empty for a node whose columns are referenced by
// a row count alone (the rewrite keeps at least one column there only when
// the node had one: zero-column batches still carry their row count).
func pruneColumns(n sql.Node) sql.Node {
	all := make(map[int]bool)
	for i := range n.Columns() {
		all[i] = true
	}
	out, m := prune(n, all)
	if identity(m, len(n.Columns())) && len(out.Columns()) == len(n.Columns()) {
		return out
	}
	// Cannot happen: every column was needed. Keep the plan unpruned
	// rather than change the result's shape.
	return n
}

func identity(m map[int]int, n int) bool {
	for i := 0; i < n; i++ {
		if j, ok := m[i]; !ok || j != i {
			return false
		}
	}
	return true
}

// refs adds the input columns e references to need.
func refs(need map[int]bool, es ...sql.Expr) {
	for _, e := range es {
		if e == nil {
			continue
		}
		sql.Walk(e, func(x sql.Expr) bool {
			if r, ok := x.(*sql.ColumnRef); ok {
				need[r.Idx] = true
			}
			return true
		})
	}
}

func remapList(es []sql.Expr, m map[int]int) []sql.Expr {
	out := make([]sql.Expr, len(es))
	for i, e := range es {
		out[i] = remapRefs(e, m)
	}
	return out
}

func identityMap(n int) map[int]int {
	m := make(map[int]int, n)
	for i := 0; i < n; i++ {
		m[i] = i
	}
	return m
}

func prune(n sql.Node, need map[int]bool) (sql.Node, map[int]int) {
	switch n := n.(type) {
	case *spoolScan:
		// The spool keeps all its columns: its references may need
		// different ones.
		return n, identityMap(len(n.Columns()))
	case *sql.Scan:
		m := make(map[int]int)
		var cols []int
		for i, c := range n.Cols {
			if need[i] {
				m[i] = len(cols)
				cols = append(cols, c)
			}
		}
		if n.WithKey {
			// The storage key stays: DML reads it above.
			m[len(n.Cols)] = len(cols)
		}
		return &sql.Scan{Table: n.Table, Cols: cols, WithKey: n.WithKey}, m
	case *sql.Filter:
		in := copySet(need)
		refs(in, n.Pred)
		c, m := prune(n.Input, in)
		return &sql.Filter{Input: c, Pred: remapRefs(n.Pred, m)}, m
	case *sql.Sort:
		in := copySet(need)
		for _, k := range n.Keys {
			refs(in, k.Expr)
		}
		c, m := prune(n.Input, in)
		keys := make([]sql.SortKey, len(n.Keys))
		for i, k := range n.Keys {
			keys[i] = k
			keys[i].Expr = remapRefs(k.Expr, m)
		}
		return &sql.Sort{Input: c, Keys: keys}, m
	case *sql.Limit:
		c, m := prune(n.Input, need)
		return &sql.Limit{Input: c, Offset: n.Offset, Count: n.Count}, m
	case *sql.Project:
		// Drop the expressions nobody needs, but keep one so that the row
		// count survives in a non-empty schema.
		var keep []int
		for i := range n.Exprs {
			if need[i] {
				keep = append(keep, i)
			}
		}
		if len(keep) == 0 && len(n.Exprs) > 0 {
			keep = []int{0}
		}
		in := make(map[int]bool)
		for _, i := range keep {
			refs(in, n.Exprs[i])
		}
		c, m := prune(n.Input, in)
		out := &sql.Project{Input: c}
		om := make(map[int]int, len(keep))
		for j, i := range keep {
			om[i] = j
			out.Exprs = append(out.Exprs, remapRefs(n.Exprs[i], m))
			out.Names = append(out.Names, n.Names[i])
		}
		return out, om
	case *sql.Aggregate:
		in := make(map[int]bool)
		refs(in, n.Groups...)
		for _, a := range n.Aggs {
			refs(in, a.Arg)
		}
		c, m := prune(n.Input, in)
		aggs := make([]*sql.AggCall, len(n.Aggs))
		for i, a := range n.Aggs {
			x := *a
			if a.Arg != nil {
				x.Arg = remapRefs(a.Arg, m)
			}
			aggs[i] = &x
		}
		out := &sql.Aggregate{Input: c, Groups: remapList(n.Groups, m), GroupNames: n.GroupNames, Aggs: aggs, AggNames: n.AggNames}
		return out, identityMap(len(n.Groups) + len(n.Aggs))
	case *sql.Join:
		nl := len(n.Left.Columns())
		ln, rn := make(map[int]bool), make(map[int]bool)
		for i := range need {
			if i < nl {
				ln[i] = true
			} else if !n.Type.IsMark() {
				rn[i-nl] = true
			}
		}
		refs(ln, n.LeftKeys...)
		refs(rn, n.RightKeys...)
		if n.Cond != nil {
			both := make(map[int]bool)
			refs(both, n.Cond)
			for i := range both {
				if i < nl {
					ln[i] = true
				} else {
					rn[i-nl] = true
				}
			}
		}
		l, lm := pruneJoinInput(n.Left, ln)
		r, rm := pruneJoinInput(n.Right, rn)
		nl2 := len(l.Columns())
		out := &sql.Join{Type: n.Type, Left: l, Right: r, LeftKeys: remapList(n.LeftKeys, lm), RightKeys: remapList(n.RightKeys, rm)}
		m := make(map[int]int, len(lm)+len(rm))
		for i, j := range lm {
			m[i] = j
		}
		for i, j := range rm {
			m[i+nl] = j + nl2
		}
		if n.Cond != nil {
			out.Cond = remapRefs(n.Cond, m)
		}
		if n.Type.IsMark() {
			// The output is the left columns and the mark, not the
			// right columns of Cond.
			for i := range rm {
				delete(m, i+nl)
			}
			m[nl] = nl2
		}
		return out, m
	case *sql.Window:
		nin := len(n.Input.Columns())
		in := make(map[int]bool)
		for i := range need {
			if i < nin {
				in[i] = true
			}
		}
		refs(in, n.Partition...)
		for _, k := range n.Order {
			refs(in, k.Expr)
		}
		for _, w := range n.Funcs {
			refs(in, w.Arg, w.Default)
		}
		c, m := prune(n.Input, in)
		out, err := mapWindow(n, c, func(e sql.Expr) (sql.Expr, error) { return remapRefs(e, m), nil })
		if err != nil {
			return n, identityMap(len(n.Columns()))
		}
		nc := len(c.Columns())
		om := make(map[int]int, len(m)+len(n.Funcs))
		for i, j := range m {
			om[i] = j
		}
		for k := range n.Funcs {
			om[nin+k] = nc + k
		}
		return out, om
	case *sql.UnionAll:
		// Set operations are positional: both inputs keep every column.
		l, _ := prune(n.Left, allOf(n.Left))
		r, _ := prune(n.Right, allOf(n.Right))
		return &sql.UnionAll{Left: l, Right: r, Cols: n.Cols}, identityMap(len(n.Cols))
	}
	// Values and anything unknown: keep as is, with all inputs pruned
	// to everything they produce.
	return n, identityMap(len(n.Columns()))
}

func allOf(n sql.Node) map[int]bool {
	m := make(map[int]bool)
	for i := range n.Columns() {
		m[i] = true
	}
	return m
}

func copySet(s map[int]bool) map[int]bool {
	out := make(map[int]bool, len(s))
	for k := range s {
		out[k] = true
	}
	return out
}

// pruneJoinInput is prune for an input of a join: a filter whose predicate
// reads columns that the join does not gets a Project that drops them, so
// that the join's hash table does not hold them (TPC-H Q13 built one of
// 1.5M order comments that only the filter below reads).
func pruneJoinInput(n sql.Node, need map[int]bool) (sql.Node, map[int]int) {
	c, m := prune(n, need)
	if f, ok := c.(*sql.Filter); ok {
		return dropPredicateColumns(f, need, m)
	}
	return c, m
}

// dropPredicateColumns puts a Project over the filter f that passes on only
// the columns in need (m maps them into f's output). It returns f itself
// when there is nothing to drop, or nothing would be left.
func dropPredicateColumns(f *sql.Filter, need map[int]bool, m map[int]int) (sql.Node, map[int]int) {
	cols := f.Columns()
	keep := make([]int, 0, len(need)) // f's columns to pass on, in order
	for k := range need {
		if i, ok := m[k]; ok {
			keep = append(keep, i)
		}
	}
	if len(keep) == 0 || len(keep) == len(cols) {
		return f, m
	}
	slices.Sort(keep)
	p := &sql.Project{Input: f, Exprs: make([]sql.Expr, len(keep)), Names: make([]string, len(keep))}
	pos := make(map[int]int, len(keep))
	for j, i := range keep {
		c := cols[i]
		p.Exprs[j] = &sql.ColumnRef{Idx: i, Name: c.Name, Typ: c.Type, Null: c.Nullable}
		p.Names[j] = c.Name
		pos[i] = j
	}
	out := make(map[int]int, len(keep))
	for k := range need {
		if i, ok := m[k]; ok {
			out[k] = pos[i]
		}
	}
	return p, out
}
