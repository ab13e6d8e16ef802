package planner

import (
	"github.com/mantisdb/mantisdb/sql"
)

// Semi-join reduction of aggregates.
//
// A correlated scalar subquery is decorrelated into a join with an
// aggregate grouped by the correlation keys (sql/select.go): TPC-H Q17's
// l_quantity < (select 0.2 * avg(l_quantity) from lineitem where
// l_partkey = p_partkey) becomes
//
//	Join Left keys=[p_partkey]=[__corr0]
//	  <lineitem joined with the 204 parts of one brand and container>
//	  Project [agg0 * 0.2, l_partkey]
//	    Aggregate groups=[l_partkey] aggs=[avg(l_quantity)]
//	      Scan lineitem [l_partkey, l_quantity]
//
// which averages the quantities of all 200K parts to look up 204 of them.
// reduceAggregates puts a semi join under such an aggregate that keeps
// only the rows whose group keys occur on the join's other side, read from
// a copy of the subtree of that side that produces the keys (here the
// filtered scan of part), in the manner of magic sets and of DuckDB's delim
// join, which does it at run time:
//
//	Aggregate groups=[l_partkey] aggs=[avg(l_quantity)]
//	  Join Semi keys=[l_partkey]=[p_partkey] (reduces …)
//	    Scan lineitem [l_partkey, l_quantity]
//	    Filter p_brand = 'Brand#23' AND p_container = 'MED BOX'
//	      Scan part [p_partkey, p_brand, p_container]
//
// Why the answer is the same: the semi join keeps or drops the rows of a
// group together (they share its key), so every group that survives has
// exactly the rows, and the aggregates, it had; a group is dropped only
// when its key does not occur among the key columns' values of the other
// side's subtree, a superset of the keys of the rows that reach the join
// (rows of a subtree pass joins, filters and projections of its columns
// unchanged or not at all), so no row of the join's other side can match
// it. The rewrite therefore only needs:
//
//   - the aggregate's unmatched groups not to be output by the join: it
//     reduces the right input of inner, left, semi, anti and mark joins
//     and the left input of inner and right joins, never a preserved
//     side (a full join's, the right of a right join), and never the
//     right input of a null-aware join, whose answer depends on whether
//     the right side holds a NULL key or any row at all;
//   - between the join and the aggregate only Projects that pass the
//     keys on as columns, Filters and Sorts: each keeps or drops whole
//     groups by their own values (HAVING), whatever other groups exist;
//     a Limit or Window above the aggregate does not;
//   - keys that are plain group columns (an aggregate's value is not a
//     key of its input's rows) and plain columns on the other side; keys
//     that are neither are left out of the semi join, which then keeps a
//     superset of the groups;
//   - a copy that reads the same rows again: no Limit (which rows it keeps
//     is not defined) and only expressions that cannot fail
//     (sql.CannotFail, which also excludes subqueries), since the copy
//     evaluates them on rows the original may never have reached.
//
// Groups whose aggregate over no rows matters are not a concern: the
// aggregate has groups, and a group exists only for rows that have its
// key, so a COUNT of a correlated subquery is still 0 for outer rows
// without a group (the CASE the binder put over the left join).
//
// The copy is evaluated once more, so the rewrite applies only when the
// planner expects the subtree to produce far fewer rows than the
// aggregate's input (reduceFactor), fewer than its tables hold (the keys of
// a whole table, Q18's orders, are likely all the aggregate's groups) and
// to read less than half as many table rows. It needs the source's estimates and is part of
// reorderJoins, before pushSemiJoins, which moves the new semi join down
// to the table it filters (Q2's partsupp under its joins).

// reduceFactor is how many times more rows than the key subtree the
// aggregate's input must be expected to produce for a semi-join
// reduction.
const reduceFactor = 4

// reduceAggregates returns n with its joins' aggregate inputs reduced to
// the keys the joins look up, where that applies.
func (b *builder) reduceAggregates(n sql.Node) sql.Node {
	out := mapInputs(n, b.reduceAggregates)
	j, ok := out.(*sql.Join)
	if !ok || len(j.LeftKeys) == 0 {
		return out
	}
	switch j.Type {
	case sql.JoinInner, sql.JoinLeft, sql.JoinSemi, sql.JoinAnti, sql.JoinMark:
		// The right input's unmatched rows are not output.
		if r, ok := b.reduceAggregate(j.Right, j.RightKeys, j.Left, j.LeftKeys); ok {
			c := *j
			c.Right = r
			return &c
		}
	}
	switch j.Type {
	case sql.JoinInner, sql.JoinRight:
		if l, ok := b.reduceAggregate(j.Left, j.LeftKeys, j.Right, j.RightKeys); ok {
			c := *j
			c.Left = l
			return &c
		}
	}
	return j
}

// reduceAggregate returns side, one input of a join on side's keys
// equal to other's keys, with the aggregate under it reduced to the keys
// of other; ok is false when the rewrite does not apply or is not
// expected to pay.
func (b *builder) reduceAggregate(side sql.Node, keys []sql.Expr, other sql.Node, otherKeys []sql.Expr) (sql.Node, bool) {
	var sideCols, otherCols []int
	for i, k := range keys {
		r, ok := k.(*sql.ColumnRef)
		o, ook := otherKeys[i].(*sql.ColumnRef)
		if ok && ook {
			sideCols, otherCols = append(sideCols, r.Idx), append(otherCols, o.Idx)
		}
	}
	if len(sideCols) == 0 {
		return nil, false
	}
	agg, groups := aggregateBelow(side, sideCols)
	if agg == nil {
		return nil, false
	}
	// Keys that are not group columns do not restrict the groups.
	var groupKeys []sql.Expr
	var srcCols []int
	for i, g := range groups {
		if g >= 0 {
			groupKeys, srcCols = append(groupKeys, agg.Groups[g]), append(srcCols, otherCols[i])
		}
	}
	if len(groupKeys) == 0 {
		return nil, false
	}
	src, srcCols := keySource(other, srcCols)
	if !copyable(src) {
		return nil, false
	}
	srcRows, ok1 := b.keyRows(src)
	aggRows, ok2 := b.estimateRows(agg.Input)
	srcRead, ok3 := b.tableRows(src)
	aggRead, ok4 := b.tableRows(agg.Input)
	if !ok1 || !ok2 || !ok3 || !ok4 || srcRows >= srcRead || max(srcRows, 1)*reduceFactor > aggRows || 2*srcRead > aggRead {
		return nil, false
	}
	// The copy reads only the key columns.
	need := map[int]bool{}
	for _, c := range srcCols {
		need[c] = true
	}
	keysOnly, m := prune(cloneNode(src), need)
	cols := src.Columns()
	srcKeys := make([]sql.Expr, len(srcCols))
	for i, c := range srcCols {
		srcKeys[i] = &sql.ColumnRef{Idx: m[c], Name: cols[c].Name, Typ: cols[c].Type, Null: cols[c].Nullable}
	}
	reduced := *agg
	reduced.Input = &sql.Join{Type: sql.JoinSemi, Left: agg.Input, Right: keysOnly,
		LeftKeys: groupKeys, RightKeys: srcKeys, Reduces: true}
	return replaceNode(side, agg, &reduced), true
}

// aggregateBelow returns the Aggregate under n through Projects, Filters
// and Sorts, and for each column cols[k] of n the aggregate's group it
// is (-1 when it is not a group column); nil when there is none.
func aggregateBelow(n sql.Node, cols []int) (*sql.Aggregate, []int) {
	cols = append([]int(nil), cols...)
	for {
		switch x := n.(type) {
		case *sql.Aggregate:
			for k, c := range cols {
				if c >= len(x.Groups) {
					cols[k] = -1
				}
			}
			return x, cols
		case *sql.Project:
			for k, c := range cols {
				if c < 0 {
					continue
				}
				cols[k] = -1
				if r, ok := x.Exprs[c].(*sql.ColumnRef); ok {
					cols[k] = r.Idx
				}
			}
		case *sql.Filter, *sql.Sort:
		default:
			return nil, nil
		}
		n = input(n)
	}
}

// keySource returns the smallest subtree of n whose rows hold the columns
// cols of n (every tuple of their values in n is one of the subtree's)
// and those columns in it. It passes Projects of the columns and inner,
// outer and mark joins whose one input holds all of them (an inner join
// would restrict them further, but evaluating its other input again would
// cost more than it saves: Q17's lineitem), not Filters and semi joins,
// which restrict them to fewer keys.
func keySource(n sql.Node, cols []int) (sql.Node, []int) {
	cols = append([]int(nil), cols...)
	for {
		switch x := n.(type) {
		case *sql.Project:
			next := make([]int, len(cols))
			for k, c := range cols {
				r, ok := x.Exprs[c].(*sql.ColumnRef)
				if !ok {
					return n, cols
				}
				next[k] = r.Idx
			}
			n, cols = x.Input, next
			continue
		case *sql.Join:
			if isFilterJoin(x.Type) {
				break
			}
			nl := len(x.Left.Columns())
			left, right := true, true
			for _, c := range cols {
				left, right = left && c < nl, right && c >= nl
			}
			switch {
			case left:
				// A mark join's mark column (nl) is not a left column.
				n = x.Left
				continue
			case right && !x.Type.IsMark():
				for k := range cols {
					cols[k] -= nl
				}
				n = x.Right
				continue
			}
		}
		return n, cols
	}
}

// copyable reports whether a second evaluation of n yields the same rows
// and cannot fail where the first did not: no Limit or Window, only
// expressions that cannot fail (see reduceAggregates).
func copyable(n sql.Node) bool {
	ok := true
	check := func(es ...sql.Expr) {
		for _, e := range es {
			ok = ok && (e == nil || sql.CannotFail(e))
		}
	}
	var walk func(n sql.Node)
	walk = func(n sql.Node) {
		switch x := n.(type) {
		case *sql.Scan:
		case *sql.Filter:
			check(x.Pred)
		case *sql.Project:
			check(x.Exprs...)
		case *sql.Join:
			check(x.LeftKeys...)
			check(x.RightKeys...)
			check(x.Cond)
		case *sql.Sort:
			for _, k := range x.Keys {
				check(k.Expr)
			}
		case *sql.Aggregate:
			// Aggregates can overflow (SUM) or fail on their values.
			check(x.Groups...)
			ok = ok && len(x.Aggs) == 0
		case *sql.Values:
			for _, r := range x.Rows {
				check(r...)
			}
		case *sql.UnionAll:
		default:
			ok = false
		}
		for _, c := range n.Inputs() {
			if ok {
				walk(c)
			}
		}
	}
	walk(n)
	return ok
}

// keyRows estimates the rows of the key subtree n. It is estimateRows,
// except that a semi join on the primary key of its right input's table
// (an IN over a filtered dimension, Q20's ps_partkey IN (parts named
// 'forest%')) keeps the fraction of its left rows that the right input
// keeps of its table: keys of the left rows are assumed spread over the
// table's keys like foreign keys.
func (b *builder) keyRows(n sql.Node) (int64, bool) {
	j, ok := n.(*sql.Join)
	if !ok || j.Type != sql.JoinSemi {
		return b.estimateRows(n)
	}
	scan, cols := rowScan(j.Right)
	var keyCols []int
	for _, k := range j.RightKeys {
		if r, ok := k.(*sql.ColumnRef); ok {
			keyCols = append(keyCols, r.Idx)
		}
	}
	if scan == nil || !coversKey(scanKey(scan, cols), keyCols) {
		return b.estimateRows(n)
	}
	l, lok := b.keyRows(j.Left)
	r, rok := b.estimateRows(j.Right)
	base, bok := b.estimateRows(scan)
	if !lok || !rok || !bok || base <= 0 {
		return b.estimateRows(n)
	}
	return mulDiv(l, min(r, base), base), true
}

// tableRows returns the rows the scans of n are expected to read.
func (b *builder) tableRows(n sql.Node) (int64, bool) {
	if s, ok := n.(*sql.Scan); ok {
		return b.estimateRows(s)
	}
	var sum int64
	for _, c := range n.Inputs() {
		r, ok := b.tableRows(c)
		if !ok {
			return 0, false
		}
		sum = min(sum+r, maxEstimate)
	}
	return sum, true
}

// cloneNode returns a copy of the plan n made of new nodes (that share
// n's expressions), so that EXPLAIN ANALYZE counts the copy on its own.
func cloneNode(n sql.Node) sql.Node {
	switch x := n.(type) {
	case *sql.Scan:
		c := *x
		return &c
	case *sql.Values:
		c := *x
		return &c
	}
	return mapInputs(n, cloneNode)
}

// replaceNode returns n with the node old in it replaced by repl, copying
// the nodes on the way.
func replaceNode(n, old, repl sql.Node) sql.Node {
	if n == old {
		return repl
	}
	return mapInputs(n, func(c sql.Node) sql.Node { return replaceNode(c, old, repl) })
}
