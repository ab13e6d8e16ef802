package sql

import (
	"strconv"
	"strings"

	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// Set operations.
//
// UNION ALL is a UnionAll node. The distinct forms are built from it:
// UNION is UnionAll under an Aggregate that groups by every column (so
// NULLs are equal, as set operations require); INTERSECT and EXCEPT tag
// each row with its side, group by every column, count the rows of each
// side and keep the groups found on both sides (INTERSECT) or on the left
// only (EXCEPT). INTERSECT ALL and EXCEPT ALL are not supported.
//
// Column i of the result has the common type of column i of both sides
// (42804 when there is none) and the name of the left side's column.
// ORDER BY of a set operation refers to result columns by name or ordinal
// (or expressions over them); LIMIT and OFFSET apply to the result.

// UnionAll yields the rows of Left followed by those of Right; both have
// exactly the output column types.
type UnionAll struct {
	Left, Right Node
	Cols        []Column
}

var _ Node = (*UnionAll)(nil)

// Columns implements Node.
func (n *UnionAll) Columns() []Column { return n.Cols }

// Inputs implements Node.
func (n *UnionAll) Inputs() []Node { return []Node{n.Left, n.Right} }

func (n *UnionAll) String() string { return "UnionAll" }

func (b *binder) bindSetOpStatement(s *sqlparser.SetOp) (Statement, error) {
	plan, err := b.setOpPlan(s)
	if err != nil {
		return nil, err
	}
	return &Query{Plan: plan}, nil
}

// setOpPlan binds a set operation with its ORDER BY and LIMIT.
func (b *binder) setOpPlan(s *sqlparser.SetOp) (Node, error) {
	switch {
	case s.Into != nil:
		return nil, b.unsupported("SELECT … INTO")
	case s.Lock != "":
		return nil, b.unsupported(strings.ToUpper(strings.TrimSpace(s.Lock)))
	}
	pushed, err := b.bindWith(s.With)
	if err != nil {
		return nil, err
	}
	defer func() { b.ctes = b.ctes[:len(b.ctes)-pushed] }()
	left, err := b.queryPlan(s.Left, nil)
	if err != nil {
		return nil, err
	}
	right, err := b.queryPlan(s.Right, nil)
	if err != nil {
		return nil, err
	}
	lc, rc := left.Columns(), right.Columns()
	if len(lc) != len(rc) {
		return nil, sqlstate.Errorf(sqlstate.SyntaxError, "each %s query must have the same number of columns (%d and %d)", strings.ToUpper(s.Type), len(lc), len(rc))
	}
	cols := make([]Column, len(lc))
	for i := range lc {
		t, ok := CommonType(lc[i].Type, rc[i].Type)
		if !ok {
			return nil, sqlstate.Errorf(sqlstate.DatatypeMismatch, "%s types %s and %s cannot be matched (column %d)", strings.ToUpper(s.Type), lc[i].Type, rc[i].Type, i+1)
		}
		if t.Kind == catalog.KindNull {
			t = catalog.Varchar
		}
		cols[i] = Column{Name: lc[i].Name, Type: t, Nullable: lc[i].Nullable || rc[i].Nullable}
	}
	if left, err = conformTo(left, cols); err != nil {
		return nil, err
	}
	if right, err = conformTo(right, cols); err != nil {
		return nil, err
	}
	var plan Node
	switch strings.ToLower(s.Type) {
	case sqlparser.UnionAllStr:
		plan = &UnionAll{Left: left, Right: right, Cols: cols}
	case sqlparser.UnionStr, sqlparser.UnionDistinctStr:
		plan = distinctOf(&UnionAll{Left: left, Right: right, Cols: cols})
	case sqlparser.IntersectStr, sqlparser.ExceptStr, "intersect distinct", "except distinct":
		plan = intersectExcept(left, right, cols, strings.HasPrefix(strings.ToLower(s.Type), "intersect"))
	default:
		return nil, b.unsupported(strings.ToUpper(s.Type))
	}
	if len(s.OrderBy) > 0 {
		sc := &scope{cols: colsOf(plan, "")}
		var keys []SortKey
		for _, o := range s.OrderBy {
			var x Expr
			if v, ok := o.Expr.(*sqlparser.SQLVal); ok && v.Type == sqlparser.IntVal {
				k, err := strconv.Atoi(string(v.Val))
				if err != nil || k < 1 || k > len(cols) {
					return nil, sqlstate.Errorf(sqlstate.InvalidColumnRef, "ORDER BY position %s is not in select list", v.Val)
				}
				c := cols[k-1]
				x = &ColumnRef{Idx: k - 1, Name: c.Name, Typ: c.Type, Null: c.Nullable}
			} else if x, err = b.expr(&exprCtx{sc: sc, clause: "ORDER BY"}, o.Expr); err != nil {
				return nil, err
			}
			if x.Type().Kind == catalog.KindNull {
				continue
			}
			desc := o.Direction == sqlparser.DescScr
			nulls := b.p.nulls[o]
			keys = append(keys, SortKey{Expr: x, Desc: desc, NullsFirst: nulls == nullsFirst || nulls == nullsDefault && desc})
		}
		if len(keys) > 0 {
			plan = &Sort{Input: plan, Keys: keys}
		}
	}
	if s.Limit != nil {
		off, cnt, err := b.limit(s.Limit)
		if err != nil {
			return nil, err
		}
		plan = &Limit{Input: plan, Offset: off, Count: cnt}
	}
	return plan, nil
}

// conformTo projects n onto cols (casting columns whose type differs), or
// returns n when the types already match.
func conformTo(n Node, cols []Column) (Node, error) {
	in := n.Columns()
	same := true
	exprs := make([]Expr, len(cols))
	names := make([]string, len(cols))
	for i, c := range in {
		var x Expr = &ColumnRef{Idx: i, Name: c.Name, Typ: c.Type, Null: c.Nullable}
		names[i] = cols[i].Name
		if c.Type.Kind == catalog.KindNull {
			x, same = NewLiteral(cols[i].Type, nil), false
		} else if !sameArrowType(c.Type, cols[i].Type) {
			var err error
			if x, err = coerce(x, cols[i].Type); err != nil {
				return nil, err
			}
			same = false
		}
		exprs[i] = x
	}
	if same {
		return n, nil
	}
	return &Project{Input: n, Exprs: exprs, Names: names}, nil
}

// sameArrowType reports whether values of a and b have the same Arrow
// representation (VARCHARs of any length do).
func sameArrowType(a, b catalog.Type) bool {
	if a.Kind == catalog.KindVarchar && b.Kind == catalog.KindVarchar {
		return true
	}
	return a == b
}

// refsTo returns column references to every column of cols.
func refsTo(cols []Column) ([]Expr, []string) {
	exprs := make([]Expr, len(cols))
	names := make([]string, len(cols))
	for i, c := range cols {
		exprs[i] = &ColumnRef{Idx: i, Name: c.Name, Typ: c.Type, Null: c.Nullable}
		names[i] = c.Name
	}
	return exprs, names
}

// distinctOf removes duplicate rows of n (NULLs equal).
func distinctOf(n Node) Node {
	gs, names := refsTo(n.Columns())
	return &Aggregate{Input: n, Groups: gs, GroupNames: names}
}

// intersectExcept builds INTERSECT or EXCEPT (distinct) of left and right,
// whose columns are cols.
func intersectExcept(left, right Node, cols []Column, intersect bool) Node {
	tag := func(n Node, l, r int64) Node {
		exprs, names := refsTo(cols)
		exprs = append(exprs, NewLiteral(catalog.Bigint, l), NewLiteral(catalog.Bigint, r))
		names = append(names, "__left", "__right")
		return &Project{Input: n, Exprs: exprs, Names: names}
	}
	tl, tr := tag(left, 1, 0), tag(right, 0, 1)
	all := &UnionAll{Left: tl, Right: tr, Cols: tl.Columns()}
	gs, names := refsTo(cols)
	n := len(cols)
	sum := func(i int) *AggCall {
		return &AggCall{Func: arrowexec.AggSum, Arg: &ColumnRef{Idx: i, Name: all.Cols[i].Name, Typ: catalog.Bigint}, Typ: catalog.Bigint}
	}
	agg := &Aggregate{Input: all, Groups: gs, GroupNames: names,
		Aggs: []*AggCall{sum(n), sum(n + 1)}, AggNames: []string{"__left", "__right"}}
	zero := NewLiteral(catalog.Bigint, int64(0))
	lref := &ColumnRef{Idx: n, Name: "__left", Typ: catalog.Bigint}
	rref := &ColumnRef{Idx: n + 1, Name: "__right", Typ: catalog.Bigint}
	rop := arrowexec.OpGt
	if !intersect {
		rop = arrowexec.OpEq
	}
	pred := &Logic{Op: OpAnd, L: &Compare{Op: arrowexec.OpGt, L: lref, R: zero}, R: &Compare{Op: rop, L: rref, R: zero}}
	exprs, _ := refsTo(cols)
	return &Project{Input: &Filter{Input: agg, Pred: pred}, Exprs: exprs, Names: names}
}
