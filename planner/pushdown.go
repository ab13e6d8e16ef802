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
	}
	return mapInputs(n, pushFilters)
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

// pushSemiJoins moves each semi or anti join (EXISTS, IN, NOT EXISTS, NOT
// IN) whose keys and condition read only one input of the inner join below
// it down to that input, as deep as it goes, when its right input is
// expected to be much smaller than that input (semiPushFactor): it keeps or
// drops rows of that input alone, and an inner join keeps a row of an
// input with all its matches or not at all, so the result is the same, but
// the joins above see fewer rows. TPC-H Q18's IN (orders of more than 300
// items) keeps 57 of 1.5M orders and ran after they were joined with
// customer and lineitem. A semi join whose own right input is large (Q21's
// EXISTS over all of lineitem) stays above the joins, which leave it fewer
// rows to probe with. It needs the source's estimates and is part of
// reorderJoins.
func (b *builder) pushSemiJoins(n sql.Node) sql.Node {
	out := mapInputs(n, b.pushSemiJoins)
	if j, ok := out.(*sql.Join); ok && isFilterJoin(j.Type) {
		return b.pushSemiJoin(j)
	}
	return out
}

// mapInputs returns n with each of its inputs replaced by f(input) (a copy
// of n when it has any; n itself when it has none or cannot be copied).
func mapInputs(n sql.Node, f func(sql.Node) sql.Node) sql.Node {
	switch x := n.(type) {
	case *sql.Join:
		out := *x
		out.Left, out.Right = f(x.Left), f(x.Right)
		return &out
	case *sql.UnionAll:
		out := *x
		out.Left, out.Right = f(x.Left), f(x.Right)
		return &out
	}
	c := input(n)
	if c == nil {
		return n
	}
	out, err := mapExprs(n, f(c), func(e sql.Expr) (sql.Expr, error) { return e, nil })
	if err != nil {
		return n
	}
	return out
}

// semiPushFactor is how much smaller than the input it moves into a semi or
// anti join's right input must be expected to be.
const semiPushFactor = 4

// isFilterJoin reports whether joins of type t only keep or drop rows of
// their left input.
func isFilterJoin(t sql.JoinType) bool {
	return t == sql.JoinSemi || t == sql.JoinAnti || t == sql.JoinAntiNullAware
}

// pushSemiJoin pushes the semi or anti join s into its left input when
// that is an inner join and s reads one side of it only.
func (b *builder) pushSemiJoin(s *sql.Join) sql.Node {
	j, ok := s.Left.(*sql.Join)
	if !ok || j.Type != sql.JoinInner {
		return s
	}
	small := func(target sql.Node) bool {
		r, rok := b.estimateRows(s.Right)
		t, tok := b.estimateRows(target)
		return rok && tok && r*semiPushFactor <= t
	}
	nl := len(j.Left.Columns())
	n := nl + len(j.Right.Columns()) // s's left columns; its right ones follow
	var refs []sql.Expr
	refs = append(refs, s.LeftKeys...)
	inLeft, inRight := true, true
	for _, e := range refs {
		lo, hi, any := refRange(e)
		inLeft = inLeft && (!any || hi < nl)
		inRight = inRight && (!any || lo >= nl)
	}
	if s.Cond != nil {
		sql.Walk(s.Cond, func(x sql.Expr) bool {
			if r, ok := x.(*sql.ColumnRef); ok && r.Idx < n {
				inLeft = inLeft && r.Idx < nl
				inRight = inRight && r.Idx >= nl
			}
			return true
		})
	}
	out := *j
	inner := *s
	switch {
	case inLeft && len(s.LeftKeys) > 0 && small(j.Left):
		// s's right columns move from n on to nl on.
		inner.Left = j.Left
		inner.Cond = remapCond(s.Cond, func(i int) int {
			if i >= n {
				return i - (n - nl)
			}
			return i
		})
		out.Left = b.pushSemiJoin(&inner)
	case inRight && len(s.LeftKeys) > 0 && small(j.Right):
		inner.Left = j.Right
		inner.LeftKeys = make([]sql.Expr, len(s.LeftKeys))
		for i, k := range s.LeftKeys {
			inner.LeftKeys[i] = remapAll(k, func(i int) int { return i - nl })
		}
		inner.Cond = remapCond(s.Cond, func(i int) int { return i - nl })
		out.Right = b.pushSemiJoin(&inner)
	default:
		return s
	}
	return &out
}

func remapCond(e sql.Expr, f func(int) int) sql.Expr {
	if e == nil {
		return nil
	}
	return remapAll(e, f)
}
