package planner

import (
	"github.com/mantisdb/mantisdb/sql"
)

// pushFilters moves filter conjuncts and join conditions that reference
// only one input of a join into that input, as deep as they go, so that
// joins see fewer rows and scans see their predicates (access paths,
// FilteredScanner). It respects outer-join semantics: a WHERE conjunct
// moves to the side whose rows it cannot turn into NULL-extended ones, and
// an ON conjunct only to the side whose unmatched rows are not kept.
func pushFilters(n sql.Node) sql.Node {
	switch x := n.(type) {
	case *sql.Filter:
		var conj []sql.Expr
		c := sql.Node(x)
		for {
			f, ok := c.(*sql.Filter)
			if !ok {
				break
			}
			conj = splitAnd(f.Pred, conj)
			c = f.Input
		}
		if j, ok := c.(*sql.Join); ok {
			var keep []sql.Expr
			j, keep = pushIntoJoin(j, conj, true)
			return withFilter(pushFilters(j), keep)
		}
		return withFilter(pushFilters(c), conj)
	case *sql.Join:
		var cond []sql.Expr
		if x.Cond != nil {
			cond = splitAnd(x.Cond, nil)
		}
		j := *x
		j.Cond = nil
		out, keep := pushIntoJoin(&j, cond, false)
		out.Cond = andAll(keep)
		out.Left, out.Right = pushFilters(out.Left), pushFilters(out.Right)
		return out
	case *sql.UnionAll:
		out := *x
		out.Left, out.Right = pushFilters(x.Left), pushFilters(x.Right)
		return &out
	}
	c := input(n)
	if c == nil {
		return n
	}
	out, err := mapExprs(n, pushFilters(c), func(e sql.Expr) (sql.Expr, error) { return e, nil })
	if err != nil {
		return n
	}
	return out
}

// pushIntoJoin distributes conjuncts over the inputs of j (a copy is
// returned) and returns the ones that must stay where they were. where
// tells a WHERE conjunct above j from a conjunct of j's ON condition.
func pushIntoJoin(j *sql.Join, conj []sql.Expr, where bool) (*sql.Join, []sql.Expr) {
	nl := len(j.Left.Columns())
	var toLeft, toRight bool
	switch j.Type {
	case sql.JoinInner:
		toLeft, toRight = true, true
	case sql.JoinLeft:
		toLeft, toRight = where, !where
	case sql.JoinRight:
		toLeft, toRight = !where, where
	case sql.JoinSemi:
		toLeft, toRight = true, !where
	case sql.JoinAnti:
		toLeft, toRight = where, !where
	case sql.JoinAntiNullAware, sql.JoinMarkNullAware:
		toLeft = where
	case sql.JoinMark:
		toLeft, toRight = where, !where
	}
	out := *j
	var keep, left, right []sql.Expr
	for _, e := range conj {
		lo, hi, any := refRange(e)
		switch {
		case !any:
			keep = append(keep, e)
		case toLeft && hi < nl:
			left = append(left, e)
		case toRight && lo >= nl:
			right = append(right, remapAll(e, func(i int) int { return i - nl }))
		default:
			keep = append(keep, e)
		}
	}
	if len(left) > 0 {
		out.Left = &sql.Filter{Input: j.Left, Pred: andAll(left)}
	}
	if len(right) > 0 {
		out.Right = &sql.Filter{Input: j.Right, Pred: andAll(right)}
	}
	return &out, keep
}

// refRange returns the smallest and largest column index e references.
func refRange(e sql.Expr) (lo, hi int, any bool) {
	sql.Walk(e, func(x sql.Expr) bool {
		if r, ok := x.(*sql.ColumnRef); ok {
			if !any || r.Idx < lo {
				lo = r.Idx
			}
			if !any || r.Idx > hi {
				hi = r.Idx
			}
			any = true
		}
		return true
	})
	return lo, hi, any
}

func andAll(es []sql.Expr) sql.Expr {
	if len(es) == 0 {
		return nil
	}
	out := es[0]
	for _, e := range es[1:] {
		out = &sql.Logic{Op: sql.OpAnd, L: out, R: e}
	}
	return out
}

func withFilter(n sql.Node, conj []sql.Expr) sql.Node {
	if p := andAll(conj); p != nil {
		return &sql.Filter{Input: n, Pred: p}
	}
	return n
}
