package planner

import (
	"slices"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/sql"
)

// Join order.
//
// The binder joins the items of a FROM list in their written order (each
// next item the first one with an equality to those joined so far), which
// for TPC-H Q7 joins lineitem to supplier, orders and customer before the
// two nations whose names select 2 of 25 rows. reorderJoins replaces every
// tree of three or more inner joins by a left-deep one in the order a
// greedy search finds: from a first input, add the input whose join is
// best — a join on a primary key before one on other columns before a
// cross product, and within a kind the one expected to produce the fewest
// rows. The search runs from every input as the first (from the smallest
// only above maxReorderStarts inputs) and keeps the order whose joins
// produce the fewest rows in all, rows of joins on other columns than a
// key weighted by equiPenalty. Estimates come from the source's
// RowEstimator, a fixed selectivity per Filter (estimateRows) and primary
// keys: a join whose equalities cover an input's whole primary key matches
// each row of the other side with at most one row of it, so it keeps the
// other side's rows times the fraction of that input its filters keep.
// When the order changes, a Project on top restores the columns' order, so
// nothing above the joins changes.

// minReorderInputs is the fewest inputs of an inner join tree that are
// reordered; two inputs only need a build side (buildOnLeft).
const minReorderInputs = 3

// joinInput is one input of a flattened inner join tree.
type joinInput struct {
	n     sql.Node
	off   int   // its first column in the tree's original output
	width int   // its columns
	rows  int64 // the rows it is expected to produce
	base  int64 // the rows of its table before its filters; rows when unknown
	pk    []int // its output columns that make its table's primary key, in key order; nil when unknown
}

// reorderJoins returns n with the aggregates joins look up in reduced to
// the keys they look up (reduceAggregates), semi joins pushed down
// (pushSemiJoins) and its inner join trees reordered. Without a
// RowEstimator it returns n.
func (b *builder) reorderJoins(n sql.Node) sql.Node {
	if b.estimator() == nil || n == nil {
		return n
	}
	return b.reorderNode(b.pushSemiJoins(b.reduceAggregates(n)))
}

func (b *builder) reorderNode(n sql.Node) sql.Node {
	if j, ok := n.(*sql.Join); ok && j.Type == sql.JoinInner {
		if out, ok := b.reorderTree(j); ok {
			return out
		}
	}
	return mapInputs(n, b.reorderNode)
}

// reorderTree reorders the inner join tree j; ok is false when it has too
// few inputs or an input cannot be estimated.
func (b *builder) reorderTree(j *sql.Join) (sql.Node, bool) {
	var ins []*joinInput
	var preds []sql.Expr
	var flatten func(n sql.Node, off int)
	flatten = func(n sql.Node, off int) {
		if x, ok := n.(*sql.Join); ok && x.Type == sql.JoinInner {
			nl := len(x.Left.Columns())
			flatten(x.Left, off)
			flatten(x.Right, off+nl)
			for i := range x.LeftKeys {
				preds = append(preds, &sql.Compare{Op: arrowexec.OpEq,
					L: remapAll(x.LeftKeys[i], func(c int) int { return c + off }),
					R: remapAll(x.RightKeys[i], func(c int) int { return c + off + nl })})
			}
			if x.Cond != nil {
				for _, c := range splitAnd(x.Cond, nil) {
					preds = append(preds, remapAll(c, func(c int) int { return c + off }))
				}
			}
			return
		}
		ins = append(ins, &joinInput{n: n, off: off, width: len(n.Columns())})
	}
	flatten(j, 0)
	if len(ins) < minReorderInputs {
		return nil, false
	}
	for _, in := range ins {
		rows, ok := b.estimateRows(in.n)
		if !ok {
			return nil, false
		}
		in.rows = min(max(rows, 1), maxEstimate)
		in.base = in.rows
		if scan, cols := rowScan(in.n); scan != nil {
			if base, ok := b.estimateRows(scan); ok {
				in.base = min(max(base, in.rows), maxEstimate)
			}
			in.pk = scanKey(scan, cols)
		}
	}
	for _, in := range ins {
		in.n = b.reorderNode(in.n)
	}
	owner := make([]int, 0, len(j.Columns())) // input of each original column
	for i, in := range ins {
		for range in.width {
			owner = append(owner, i)
		}
	}
	inputsOf := func(e sql.Expr) []int {
		var out []int
		sql.Walk(e, func(x sql.Expr) bool {
			if r, ok := x.(*sql.ColumnRef); ok && !slices.Contains(out, owner[r.Idx]) {
				out = append(out, owner[r.Idx])
			}
			return true
		})
		return out
	}
	predIns := make([][]int, len(preds))
	for k, p := range preds {
		predIns[k] = inputsOf(p)
	}

	// Greedy orders from every start (from the smallest input only when
	// there are many); the one whose joins are expected to produce the
	// fewest rows in all wins.
	starts := []int{0}
	for i, in := range ins {
		if in.rows < ins[starts[0]].rows {
			starts[0] = i
		}
	}
	if len(ins) <= maxReorderStarts {
		starts = starts[:0]
		for i := range ins {
			starts = append(starts, i)
		}
	}
	var order []int
	var est []int64 // est[k]: rows of the first k+1 inputs of order, joined
	var cost int64
	for _, s := range starts {
		o, e, c := b.greedyOrder(ins, s, preds, predIns)
		if order == nil || c < cost {
			order, est, cost = o, e, c
		}
	}
	if slices.IsSorted(order) {
		// The written order is the one found: keep the tree's shape, with
		// the inputs' own trees reordered.
		k := 0
		return replaceInputs(j, ins, &k), true
	}

	// The left-deep tree in that order.
	pos := make([]int, len(owner)) // original column -> column of cur
	placed := make([]bool, len(ins))
	used := make([]bool, len(preds))
	first := ins[order[0]]
	for c := range first.width {
		pos[first.off+c] = c
	}
	placed[order[0]] = true
	cur, ncur := first.n, first.width
	for step, i := range order[1:] {
		in := ins[i]
		var lk, rk, rest []sql.Expr
		for k, p := range preds {
			if used[k] || !allPlacedOr(predIns[k], placed, i) {
				continue
			}
			used[k] = true
			if cmp, ok := p.(*sql.Compare); ok && cmp.Op == arrowexec.OpEq {
				l, r := inputsOf(cmp.L), inputsOf(cmp.R)
				switch {
				case len(l) > 0 && len(r) == 1 && r[0] == i && !slices.Contains(l, i):
					lk, rk = append(lk, remapAll(cmp.L, func(c int) int { return pos[c] })),
						append(rk, remapAll(cmp.R, func(c int) int { return c - in.off }))
					continue
				case len(r) > 0 && len(l) == 1 && l[0] == i && !slices.Contains(r, i):
					lk, rk = append(lk, remapAll(cmp.R, func(c int) int { return pos[c] })),
						append(rk, remapAll(cmp.L, func(c int) int { return c - in.off }))
					continue
				}
			}
			rest = append(rest, p)
		}
		for c := range in.width {
			pos[in.off+c] = ncur + c
		}
		placed[i] = true
		for k, p := range rest {
			rest[k] = remapAll(p, func(c int) int { return pos[c] })
		}
		join := &sql.Join{Type: sql.JoinInner, Left: cur, Right: in.n, LeftKeys: lk, RightKeys: rk, Cond: andAll(rest)}
		if b.joinEst == nil {
			b.joinEst = map[*sql.Join]int64{}
		}
		b.joinEst[join] = est[step+1]
		cur, ncur = join, ncur+in.width
	}
	cols := j.Columns()
	proj := &sql.Project{Input: cur, Exprs: make([]sql.Expr, len(cols)), Names: make([]string, len(cols))}
	for c, col := range cols {
		proj.Exprs[c] = &sql.ColumnRef{Idx: pos[c], Name: col.Name, Typ: col.Type, Null: col.Nullable}
		proj.Names[c] = col.Name
	}
	return proj, true
}

// maxReorderStarts is the most inputs for which the greedy search tries
// every input as the first one.
const maxReorderStarts = 10

// maxEstimate caps row estimates, so that products of them cannot
// overflow.
const maxEstimate = 1 << 40

// equiPenalty weighs the estimated rows of a join on other columns than a
// primary key when orders are compared: its estimate knows nothing of how
// many rows share a value.
const equiPenalty = 10

// greedyOrder returns the join order the greedy search finds from input
// start, the rows expected after each join and the order's cost: the sum of
// those rows, weighted by the kind of each join.
func (b *builder) greedyOrder(ins []*joinInput, start int, preds []sql.Expr, predIns [][]int) (order []int, est []int64, cost int64) {
	joined := make([]bool, len(ins))
	order = []int{start}
	joined[start] = true
	rows := ins[start].rows
	est = []int64{rows}
	for len(order) < len(ins) {
		best, bestRows, bestKind := -1, int64(0), joinCross
		for i := range ins {
			if joined[i] {
				continue
			}
			r, kind := b.joinRows(ins, joined, rows, i, preds, predIns)
			if best < 0 || kind < bestKind || kind == bestKind && r < bestRows {
				best, bestRows, bestKind = i, r, kind
			}
		}
		order = append(order, best)
		joined[best] = true
		rows = min(max(bestRows, 1), maxEstimate)
		est = append(est, rows)
		if bestKind == joinEqui {
			cost += equiPenalty * rows
		} else {
			cost += rows
		}
		cost = min(cost, maxEstimate*equiPenalty)
	}
	return order, est, cost
}

// Kinds of join, in the order the greedy search prefers them whatever the
// estimates say: a join on a primary key cannot multiply rows; one on other
// columns can, by more than the estimates (without column statistics)
// know; a cross product does.
const (
	joinKey = iota
	joinEqui
	joinCross
)

// joinRows estimates the rows of joining input i to the inputs joined so
// far (rows of them) and returns the kind of that join.
func (b *builder) joinRows(ins []*joinInput, joined []bool, rows int64, i int, preds []sql.Expr, predIns [][]int) (int64, int) {
	in := ins[i]
	connected := false
	var inCols []int              // columns of input i equated with the joined inputs
	joinedCols := map[int][]int{} // per joined input, its columns equated with input i
	for k, p := range preds {
		cmp, ok := p.(*sql.Compare)
		if !ok || cmp.Op != arrowexec.OpEq || !slices.Contains(predIns[k], i) || !allPlacedOr(predIns[k], joined, i) || len(predIns[k]) < 2 {
			continue
		}
		connected = true
		for _, side := range [2]sql.Expr{cmp.L, cmp.R} {
			r, ok := side.(*sql.ColumnRef)
			if !ok {
				continue
			}
			o := ownerOf(ins, r.Idx)
			if o == i {
				inCols = append(inCols, r.Idx-in.off)
			} else {
				joinedCols[o] = append(joinedCols[o], r.Idx-ins[o].off)
			}
		}
	}
	if !connected {
		return mulDiv(rows, in.rows, 1), joinCross
	}
	// Each joined row meets at most one row of input i: the joined rows,
	// times the fraction of input i's table that its filters keep.
	if coversKey(in.pk, inCols) {
		return mulDiv(rows, in.rows, in.base), joinKey
	}
	// Each row of input i meets at most one row of a joined input o: input
	// i's rows times the fraction of o's table still in the joined rows.
	for o, cs := range joinedCols {
		if coversKey(ins[o].pk, cs) {
			return mulDiv(in.rows, min(rows, ins[o].base), ins[o].base), joinKey
		}
	}
	return max(rows, in.rows), joinEqui
}

// mulDiv returns a*b/c (c > 0) in floating point, clamped to [1,
// maxEstimate]: estimates multiply, and must not overflow.
func mulDiv(a, b, c int64) int64 {
	v := float64(a) * float64(b) / float64(c)
	if v >= maxEstimate {
		return maxEstimate
	}
	return max(int64(v), 1)
}

// replaceInputs returns the inner join tree n with its inputs, in the
// order flatten found them from *k on, replaced by ins[*k].n.
func replaceInputs(n sql.Node, ins []*joinInput, k *int) sql.Node {
	if x, ok := n.(*sql.Join); ok && x.Type == sql.JoinInner {
		out := *x
		out.Left = replaceInputs(x.Left, ins, k)
		out.Right = replaceInputs(x.Right, ins, k)
		return &out
	}
	in := ins[*k].n
	*k++
	return in
}

// allPlacedOr reports whether every input in is placed or is i.
func allPlacedOr(in []int, placed []bool, i int) bool {
	for _, x := range in {
		if x != i && !placed[x] {
			return false
		}
	}
	return true
}

func ownerOf(ins []*joinInput, col int) int {
	for i, in := range ins {
		if col >= in.off && col < in.off+in.width {
			return i
		}
	}
	return -1
}

// coversKey reports whether cols include every column of key (non-empty).
func coversKey(key, cols []int) bool {
	if len(key) == 0 {
		return false
	}
	for _, k := range key {
		if !slices.Contains(cols, k) {
			return false
		}
	}
	return true
}

// rowScan returns the scan whose rows n is a subset of (n itself, or a scan
// under filters, semi and anti joins and projections of its columns) and,
// for each column of n, the scan's column it is (-1 for none); nil when
// there is no such scan.
func rowScan(n sql.Node) (*sql.Scan, []int) {
	switch x := n.(type) {
	case *sql.Scan:
		cols := make([]int, len(x.Cols))
		for i := range cols {
			cols[i] = i
		}
		return x, cols
	case *sql.Filter:
		return rowScan(x.Input)
	case *sql.Join:
		if isFilterJoin(x.Type) {
			return rowScan(x.Left)
		}
	case *sql.Project:
		scan, in := rowScan(x.Input)
		if scan == nil {
			return nil, nil
		}
		cols := make([]int, len(x.Exprs))
		for j, e := range x.Exprs {
			cols[j] = -1
			if r, ok := e.(*sql.ColumnRef); ok && r.Idx < len(in) {
				cols[j] = in[r.Idx]
			}
		}
		return scan, cols
	}
	return nil, nil
}

// scanKey returns the columns of a node (cols: the scan column each one
// is, from rowScan) that hold the scan's table's primary key, or nil when
// the table has none or the node does not pass all of it on.
func scanKey(scan *sql.Scan, cols []int) []int {
	var out []int
	for _, k := range scan.Table.PrimaryKey {
		i := slices.Index(scan.Cols, k)
		j := slices.Index(cols, i)
		if i < 0 || j < 0 {
			return nil
		}
		out = append(out, j)
	}
	return out
}
