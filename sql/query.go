package sql

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// This file binds FROM clauses (tables, derived tables, CTEs, joins) and
// subqueries. A FROM clause becomes a plan whose output columns are the
// columns of its items in FROM order; the scope names them. Comma joins
// are ordered greedily so that every join has an equality key when one
// exists; the plan then restores the FROM order with a projection.
// Subqueries in WHERE conjuncts become joins (semi, anti, null-aware anti,
// left joins with aggregated, grouped subqueries); uncorrelated scalar
// subqueries elsewhere become Subquery expressions evaluated once.

// scopeCol is one column visible to expressions.
type scopeCol struct {
	qual   string // table name or alias
	name   string
	typ    catalog.Type
	null   bool
	hidden bool // the right column of JOIN … USING: only qualified access
}

// scope is what column names resolve against: the output columns of the
// node an expression is evaluated over.
type scope struct {
	cols   []scopeCol
	parent *scope // the enclosing query of a subquery
	corr   bool   // references into parent are allowed (a subquery's WHERE)
	table  *catalog.Table
	alias  string
}

func tableScope(t *catalog.Table, alias string) *scope {
	sc := &scope{table: t, alias: alias}
	for _, c := range t.Columns {
		sc.cols = append(sc.cols, scopeCol{qual: alias, name: c.Name, typ: c.Type, null: !c.NotNull})
	}
	return sc
}

// find returns the indices of the columns matching qual.name.
func (sc *scope) find(qual, name string) []int {
	var out []int
	for i, c := range sc.cols {
		if !strings.EqualFold(c.name, name) {
			continue
		}
		if qual != "" && !strings.EqualFold(c.qual, qual) {
			continue
		}
		if qual == "" && c.hidden {
			continue
		}
		out = append(out, i)
	}
	return out
}

func (sc *scope) hasQual(q string) bool {
	for _, c := range sc.cols {
		if strings.EqualFold(c.qual, q) {
			return true
		}
	}
	return false
}

func colsOf(n Node, qual string) []scopeCol {
	var out []scopeCol
	for _, c := range n.Columns() {
		out = append(out, scopeCol{qual: qual, name: c.Name, typ: c.Type, null: c.Nullable})
	}
	return out
}

// fromItem is one bound item of a FROM list.
type fromItem struct {
	plan Node
	cols []scopeCol
}

// fromItems binds the items of a FROM clause; none for no FROM (or FROM
// dual when the catalog has no table dual).
func (b *binder) fromItems(from sqlparser.TableExprs) ([]fromItem, error) {
	if len(from) == 1 {
		if te, ok := from[0].(*sqlparser.AliasedTableExpr); ok {
			if tn, ok := te.Expr.(sqlparser.TableName); ok && tn.Name.String() == "dual" && tn.DbQualifier.IsEmpty() && te.As.IsEmpty() {
				if _, ok := b.cat.Table("dual"); !ok {
					return nil, nil
				}
			}
		}
	}
	items := make([]fromItem, len(from))
	for i, te := range from {
		it, err := b.tableExpr(te)
		if err != nil {
			return nil, err
		}
		items[i] = it
	}
	return items, nil
}

func (b *binder) tableExpr(te sqlparser.TableExpr) (fromItem, error) {
	switch te := te.(type) {
	case *sqlparser.AliasedTableExpr:
		if te.AsOf != nil {
			return fromItem{}, b.unsupported("AS OF")
		}
		if te.Hints != nil {
			return fromItem{}, b.unsupported("index hints")
		}
		if len(te.Partitions) > 0 {
			return fromItem{}, b.unsupported("PARTITION")
		}
		if te.Lateral {
			return fromItem{}, b.unsupported("LATERAL")
		}
		switch x := te.Expr.(type) {
		case sqlparser.TableName:
			alias := x.Name.String()
			if !te.As.IsEmpty() {
				alias = te.As.String()
			}
			if x.DbQualifier.IsEmpty() && x.SchemaQualifier.IsEmpty() {
				if cte, ok := b.lookupCTE(x.Name.String()); ok {
					cols := make([]scopeCol, len(cte.cols))
					copy(cols, cte.cols)
					for i := range cols {
						cols[i].qual = alias
					}
					return fromItem{plan: cte.plan, cols: cols}, nil
				}
			}
			if x.DbQualifier.IsEmpty() && x.SchemaQualifier.IsEmpty() {
				if v, ok := b.cat.View(x.Name.String()); ok {
					return b.viewItem(v, alias)
				}
			}
			t, err := b.table(x)
			if err != nil {
				return fromItem{}, err
			}
			all := make([]int, len(t.Columns))
			for i := range all {
				all[i] = i
			}
			return fromItem{plan: &Scan{Table: t, Cols: all}, cols: tableScope(t, alias).cols}, nil
		case *sqlparser.Subquery:
			if te.As.IsEmpty() {
				return fromItem{}, sqlstate.Errorf(sqlstate.SyntaxError, "subquery in FROM must have an alias")
			}
			plan, err := b.queryPlan(x.Select, nil)
			if err != nil {
				return fromItem{}, err
			}
			cols := colsOf(plan, te.As.String())
			if len(x.Columns) > 0 {
				if len(x.Columns) > len(cols) {
					return fromItem{}, sqlstate.Errorf(sqlstate.InvalidColumnRef, "table %q has %d columns available but %d columns specified", te.As.String(), len(cols), len(x.Columns))
				}
				for i, c := range x.Columns {
					cols[i].name = c.String()
				}
			}
			return fromItem{plan: plan, cols: cols}, nil
		}
		return fromItem{}, b.unsupported(fmt.Sprintf("table expression %s", sqlparser.String(te.Expr)))
	case *sqlparser.ParenTableExpr:
		if len(te.Exprs) != 1 {
			return fromItem{}, b.unsupported("parenthesized FROM list")
		}
		return b.tableExpr(te.Exprs[0])
	case *sqlparser.JoinTableExpr:
		return b.joinExpr(te)
	}
	return fromItem{}, b.unsupported(fmt.Sprintf("FROM %s", sqlparser.String(te)))
}

func (b *binder) joinExpr(te *sqlparser.JoinTableExpr) (fromItem, error) {
	l, err := b.tableExpr(te.LeftExpr)
	if err != nil {
		return fromItem{}, err
	}
	r, err := b.tableExpr(te.RightExpr)
	if err != nil {
		return fromItem{}, err
	}
	var typ JoinType
	switch strings.ToLower(te.Join) {
	case sqlparser.JoinStr, "inner join", "cross join", sqlparser.StraightJoinStr:
		typ = JoinInner
	case sqlparser.LeftJoinStr, "left outer join":
		typ = JoinLeft
	case sqlparser.RightJoinStr, "right outer join":
		typ = JoinRight
	case sqlparser.FullOuterJoinStr, "full join":
		typ = JoinFull
	default:
		return fromItem{}, b.unsupported(strings.ToUpper(te.Join))
	}
	nl := len(l.cols)
	cols := append(append([]scopeCol(nil), l.cols...), r.cols...)
	for i := range cols {
		if i < nl && (typ == JoinRight || typ == JoinFull) || i >= nl && (typ == JoinLeft || typ == JoinFull) {
			cols[i].null = true
		}
	}
	j := &Join{Type: typ, Left: l.plan, Right: r.plan}
	sc := &scope{cols: cols}
	var conjs []Expr
	switch {
	case te.Condition.On != nil:
		if hasSubquery(te.Condition.On) {
			return fromItem{}, b.unsupported("a subquery in a JOIN condition")
		}
		on, err := b.boolExpr(&exprCtx{sc: sc, clause: "JOIN ON"}, te.Condition.On, "JOIN ON")
		if err != nil {
			return fromItem{}, err
		}
		conjs = splitAnd(on, nil)
	case len(te.Condition.Using) > 0:
		var merged []Expr // FULL JOIN: COALESCE(l, r) per USING column
		var mergedAt []int
		for _, u := range te.Condition.Using {
			li := (&scope{cols: l.cols}).find("", u.String())
			ri := (&scope{cols: r.cols}).find("", u.String())
			if len(li) != 1 || len(ri) != 1 {
				return fromItem{}, b.errAt(u.String(), sqlstate.UndefinedColumn, "column %q specified in USING clause does not exist in both tables (or is ambiguous)", u.String())
			}
			lc, rc := cols[li[0]], cols[nl+ri[0]]
			c, err := b.compare(cmpOps["="], &ColumnRef{Idx: li[0], Name: lc.name, Typ: lc.typ, Null: lc.null},
				&ColumnRef{Idx: nl + ri[0], Name: rc.name, Typ: rc.typ, Null: rc.null})
			if err != nil {
				return fromItem{}, err
			}
			conjs = append(conjs, c)
			switch typ {
			case JoinRight:
				cols[li[0]].hidden = true
			case JoinFull:
				cmp, ok := c.(*Compare)
				if !ok {
					return fromItem{}, b.unsupported("FULL JOIN … USING on these column types")
				}
				m, err := b.coalesce(nil, "coalesce", []Expr{cmp.L, cmp.R})
				if err != nil {
					return fromItem{}, err
				}
				merged, mergedAt = append(merged, m), append(mergedAt, li[0])
				cols[nl+ri[0]].hidden = true
			default:
				cols[nl+ri[0]].hidden = true
			}
		}
		if len(merged) > 0 {
			lk, rk, rest := equiKeys(conjs, nl, len(cols))
			j.LeftKeys, j.RightKeys, j.Cond = lk, rk, andAll(rest)
			return fullUsing(j, cols, merged, mergedAt), nil
		}
	}
	lk, rk, rest := equiKeys(conjs, nl, len(cols))
	j.LeftKeys, j.RightKeys, j.Cond = lk, rk, andAll(rest)
	return fromItem{plan: j, cols: cols}, nil
}

// fullUsing returns the FROM item of a FULL JOIN … USING: a Project over
// the join whose USING columns are COALESCE(left, right) in the left
// column's place (unqualified, NULL only when both sides are), while the
// sides' own columns stay reachable by qualified name: the right ones where
// they are, the left ones appended, hidden from unqualified names and *.
func fullUsing(j *Join, cols []scopeCol, merged []Expr, at []int) fromItem {
	p := &Project{Input: j}
	var out []scopeCol
	add := func(e Expr, c scopeCol) {
		p.Exprs, p.Names = append(p.Exprs, e), append(p.Names, c.name)
		out = append(out, c)
	}
	for i, c := range cols {
		if k := slices.Index(at, i); k >= 0 {
			add(merged[k], scopeCol{name: c.name, typ: merged[k].Type(), null: merged[k].Nullable()})
			continue
		}
		add(&ColumnRef{Idx: i, Name: c.name, Typ: c.typ, Null: c.null}, c)
	}
	for _, i := range at {
		c := cols[i]
		c.hidden = true
		add(&ColumnRef{Idx: i, Name: c.name, Typ: c.typ, Null: c.null}, c)
	}
	return fromItem{plan: p, cols: out}
}

// equiKeys splits conjuncts over left (columns [0,nl)) ++ right (columns
// [nl,n)) into equality keys and the rest.
func equiKeys(conjs []Expr, nl, n int) (lk, rk []Expr, rest []Expr) {
	for _, c := range conjs {
		if cmp, ok := c.(*Compare); ok && cmp.Op == cmpOps["="] {
			ls, rs := refSide(cmp.L, nl), refSide(cmp.R, nl)
			switch {
			case ls == sideLeft && rs == sideRight:
				lk = append(lk, cmp.L)
				rk = append(rk, shiftRefs(cmp.R, -nl))
				continue
			case ls == sideRight && rs == sideLeft:
				lk = append(lk, cmp.R)
				rk = append(rk, shiftRefs(cmp.L, -nl))
				continue
			}
		}
		rest = append(rest, c)
	}
	return lk, rk, rest
}

const (
	sideNone = iota
	sideLeft
	sideRight
	sideBoth
)

// refSide says which side of a join the column references of e are on.
func refSide(e Expr, nl int) int {
	side := sideNone
	Walk(e, func(x Expr) bool {
		switch r := x.(type) {
		case *ColumnRef:
			s := sideLeft
			if r.Idx >= nl {
				s = sideRight
			}
			if side == sideNone {
				side = s
			} else if side != s {
				side = sideBoth
			}
		case *OuterRef, *Subquery:
			side = sideBoth
		}
		return true
	})
	return side
}

// mapRefs rewrites every ColumnRef of e with f.
func mapRefs(e Expr, f func(*ColumnRef) Expr) Expr {
	if r, ok := e.(*ColumnRef); ok {
		return f(r)
	}
	out, _ := MapChildren(e, func(c Expr) (Expr, error) { return mapRefs(c, f), nil })
	return out
}

func shiftRefs(e Expr, d int) Expr {
	return mapRefs(e, func(r *ColumnRef) Expr {
		c := *r
		c.Idx += d
		return &c
	})
}

func splitAnd(e Expr, out []Expr) []Expr {
	if l, ok := e.(*Logic); ok && l.Op == OpAnd {
		return splitAnd(l.R, splitAnd(l.L, out))
	}
	return append(out, e)
}

// splitOr appends the disjuncts of e to out.
func splitOr(e Expr, out []Expr) []Expr {
	if l, ok := e.(*Logic); ok && l.Op == OpOr {
		return splitOr(l.R, splitOr(l.L, out))
	}
	return append(out, e)
}

// factorOr moves the conjuncts that every disjunct of an OR shares out of
// it: (A AND B) OR (A AND C) becomes A AND (B OR C), and (A) OR (A AND C)
// becomes A. Both laws (distributivity, absorption) hold in SQL's
// three-valued logic. It matters for joins: TPC-H Q19 repeats its join
// condition in every branch of an OR, and only a conjunct of its own can
// become a hash-join key. Expressions are matched by conjunctKey.
func factorOr(e Expr) Expr {
	l, ok := e.(*Logic)
	if !ok || l.Op != OpOr {
		return e
	}
	disj := splitOr(e, nil)
	branches := make([][]Expr, len(disj))
	for i, d := range disj {
		branches[i] = splitAnd(d, nil)
	}
	var common []Expr
	for _, c := range branches[0] {
		key := conjunctKey(c)
		inAll := true
		for _, br := range branches[1:] {
			found := false
			for _, x := range br {
				if conjunctKey(x) == key {
					found = true
					break
				}
			}
			if !found {
				inAll = false
				break
			}
		}
		if inAll {
			common = append(common, c)
		}
	}
	if len(common) == 0 {
		return e
	}
	isCommon := make(map[string]bool, len(common))
	for _, c := range common {
		isCommon[conjunctKey(c)] = true
	}
	var rest Expr
	for _, br := range branches {
		var keep []Expr
		for _, x := range br {
			if !isCommon[conjunctKey(x)] {
				keep = append(keep, x)
			}
		}
		if len(keep) == 0 {
			// Absorption: this branch is just the common part, so the
			// whole OR is.
			return andAll(common)
		}
		if b := andAll(keep); rest == nil {
			rest = b
		} else {
			rest = &Logic{Op: OpOr, L: rest, R: b}
		}
	}
	return andAll(append(common, rest))
}

// impliedFilters returns the single-item filters that the ORs among conjs
// imply: for an OR over several FROM items (itemsOf gives the items a
// condition reads) whose every disjunct has conjuncts over item i alone,
// the OR of those conjuncts. (A1 AND B1) OR (A2 AND B2), A over one item
// and B over another, implies A1 OR A2 and B1 OR B2. The OR itself stays;
// the implied filters only let scans and joins drop rows early (TPC-H Q7's
// pair of nations, Q19's part and quantity conditions). A WHERE keeps the
// rows whose conditions are all true, and an implied filter is true
// wherever the OR is, so adding one does not change the result. Only
// conjuncts that cannot fail are implied (CannotFail).
func impliedFilters(conjs []Expr, itemsOf func(Expr) map[int]bool) []Expr {
	var out []Expr
	for _, c := range conjs {
		if l, ok := c.(*Logic); !ok || l.Op != OpOr {
			continue
		}
		items := itemsOf(c)
		if len(items) < 2 {
			continue
		}
		disj := splitOr(c, nil)
		for _, it := range slices.Sorted(maps.Keys(items)) {
			var implied Expr
			for _, d := range disj {
				var local []Expr
				for _, x := range splitAnd(d, nil) {
					if m := itemsOf(x); len(m) == 1 && m[it] && CannotFail(x) {
						local = append(local, x)
					}
				}
				if len(local) == 0 {
					implied = nil
					break
				}
				if implied == nil {
					implied = andAll(local)
				} else {
					implied = &Logic{Op: OpOr, L: implied, R: andAll(local)}
				}
			}
			if implied != nil {
				out = append(out, implied)
			}
		}
	}
	return out
}

// CannotFail reports whether evaluating e can raise no error on any row:
// comparisons, IN lists, LIKE and IS NULL of columns, constants, constant
// sums and products, and casts to VARCHAR, joined by AND, OR and NOT. An implied filter runs on rows
// that the join would have dropped before the OR saw them, so it must not
// be able to fail where the query did not (a division by zero, a bad cast).
func CannotFail(e Expr) bool {
	switch x := e.(type) {
	case *ColumnRef, *Literal, *Param:
		return true
	case *Cast:
		return x.To.Kind == catalog.KindVarchar && CannotFail(x.Arg)
	case *Arith:
		// Constant +, - and * (Q19's l_quantity <= 1 + 10, folded later):
		// whether they overflow does not depend on the row.
		_, lc := x.L.(*Literal)
		_, rc := x.R.(*Literal)
		return lc && rc && (x.Op == arrowexec.OpAdd || x.Op == arrowexec.OpSub || x.Op == arrowexec.OpMul)
	case *Compare:
		return CannotFail(x.L) && CannotFail(x.R)
	case *Logic:
		return CannotFail(x.L) && CannotFail(x.R)
	case *Not:
		return CannotFail(x.Arg)
	case *IsNull:
		return CannotFail(x.Arg)
	case *Like:
		return CannotFail(x.Arg)
	case *In:
		if !CannotFail(x.Arg) {
			return false
		}
		for _, v := range x.List {
			if !CannotFail(v) {
				return false
			}
		}
		return true
	}
	return false
}

// conjunctKey identifies a condition for factorOr: its String (which
// identifies a bound expression over its input), with the operands of = and
// <> in a fixed order so that a = b and b = a match.
func conjunctKey(e Expr) string {
	if c, ok := e.(*Compare); ok && (c.Op == arrowexec.OpEq || c.Op == arrowexec.OpNe) {
		l, r := c.L.String(), c.R.String()
		if r < l {
			l, r = r, l
		}
		return l + cmpNames[c.Op] + r
	}
	return e.String()
}

func andAll(es []Expr) Expr {
	var out Expr
	for _, e := range es {
		if out == nil {
			out = e
		} else {
			out = &Logic{Op: OpAnd, L: out, R: e}
		}
	}
	return out
}

func hasSubquery(e sqlparser.SQLNode) bool {
	found := false
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		switch n.(type) {
		case *sqlparser.Subquery, *sqlparser.ExistsExpr:
			found = true
		}
		return !found, nil
	}, e)
	return found
}

func splitAndAST(e sqlparser.Expr, out []sqlparser.Expr) []sqlparser.Expr {
	switch x := e.(type) {
	case *sqlparser.AndExpr:
		return splitAndAST(x.Right, splitAndAST(x.Left, out))
	case *sqlparser.ParenExpr:
		if _, ok := x.Expr.(*sqlparser.AndExpr); ok {
			return splitAndAST(x.Expr, out)
		}
	}
	return append(out, e)
}

func hasOuterRef(e Expr) bool {
	found := false
	Walk(e, func(x Expr) bool {
		if _, ok := x.(*OuterRef); ok {
			found = true
		}
		return !found
	})
	return found
}

// refsOf returns the set of column indices e references.
func refsOf(e Expr) map[int]bool {
	m := map[int]bool{}
	Walk(e, func(x Expr) bool {
		if r, ok := x.(*ColumnRef); ok {
			m[r.Idx] = true
		}
		return true
	})
	return m
}

// joinItems joins the items of a FROM list with the conjuncts of WHERE
// (over the concatenated columns): conjuncts of one item filter it, each
// next item is the first one (in FROM order) with an equality to the items
// joined so far, other conjuncts become join conditions as soon as their
// columns are available. The result's columns are in FROM order.
func joinItems(items []fromItem, conjs []Expr) Node {
	start := make([]int, len(items)) // global offset of each item
	owner := []int{}                 // item of each global column
	for i, it := range items {
		start[i] = len(owner)
		for range it.cols {
			owner = append(owner, i)
		}
	}
	itemsOf := func(e Expr) map[int]bool {
		m := map[int]bool{}
		for c := range refsOf(e) {
			m[owner[c]] = true
		}
		return m
	}
	conjs = append(slices.Clip(conjs), impliedFilters(conjs, itemsOf)...)
	used := make([]bool, len(conjs))
	// Single-item filters.
	plans := make([]Node, len(items))
	for i, it := range items {
		plans[i] = it.plan
		var local []Expr
		for k, c := range conjs {
			if m := itemsOf(c); len(m) == 1 && m[i] {
				local = append(local, shiftRefs(c, -start[i]))
				used[k] = true
			}
		}
		if len(local) > 0 {
			plans[i] = &Filter{Input: plans[i], Pred: andAll(local)}
		}
	}
	pos := make([]int, len(owner)) // global column → position in cur, -1
	for i := range pos {
		pos[i] = -1
	}
	joined := make([]bool, len(items))
	place := func(i, at int) {
		for c := range items[i].cols {
			pos[start[i]+c] = at + c
		}
		joined[i] = true
	}
	cur := plans[0]
	ncur := len(items[0].cols)
	place(0, 0)
	toCur := func(e Expr) Expr {
		return mapRefs(e, func(r *ColumnRef) Expr {
			c := *r
			c.Idx = pos[r.Idx]
			return &c
		})
	}
	for n := 1; n < len(items); n++ {
		next := -1
		for i := range items {
			if joined[i] || next >= 0 {
				continue
			}
			for k, c := range conjs {
				if used[k] {
					continue
				}
				if cmp, ok := c.(*Compare); ok && cmp.Op == cmpOps["="] {
					lm, rm := itemsOf(cmp.L), itemsOf(cmp.R)
					if connects(lm, rm, joined, i) {
						next = i
						break
					}
				}
			}
		}
		if next < 0 {
			for i := range items {
				if !joined[i] {
					next = i
					break
				}
			}
		}
		// Conjuncts whose items are all joined once next is.
		var ready []Expr
		for k, c := range conjs {
			if used[k] {
				continue
			}
			ok := true
			for it := range itemsOf(c) {
				if !joined[it] && it != next {
					ok = false
				}
			}
			if ok {
				used[k] = true
				ready = append(ready, c)
			}
		}
		place(next, ncur)
		nn := ncur + len(items[next].cols)
		var local []Expr
		for _, c := range ready {
			local = append(local, toCur(c))
		}
		lk, rk, rest := equiKeys(local, ncur, nn)
		cur = &Join{Type: JoinInner, Left: cur, Right: plans[next], LeftKeys: lk, RightKeys: rk, Cond: andAll(rest)}
		ncur = nn
	}
	// Constant conjuncts.
	var rest []Expr
	for k, c := range conjs {
		if !used[k] {
			rest = append(rest, toCur(c))
		}
	}
	if len(rest) > 0 {
		cur = &Filter{Input: cur, Pred: andAll(rest)}
	}
	identity := true
	for g, p := range pos {
		identity = identity && g == p
	}
	if identity {
		return cur
	}
	cols := cur.Columns()
	exprs := make([]Expr, len(pos))
	names := make([]string, len(pos))
	for g, p := range pos {
		c := cols[p]
		exprs[g] = &ColumnRef{Idx: p, Name: c.Name, Typ: c.Type, Null: c.Nullable}
		names[g] = c.Name
	}
	return &Project{Input: cur, Exprs: exprs, Names: names}
}

// connects reports whether an equality between items lm and rm joins item i
// to the joined items.
func connects(lm, rm map[int]bool, joined []bool, i int) bool {
	only := func(m map[int]bool, f func(int) bool) bool {
		if len(m) == 0 {
			return false
		}
		for k := range m {
			if !f(k) {
				return false
			}
		}
		return true
	}
	isI := func(k int) bool { return k == i }
	isJoined := func(k int) bool { return joined[k] }
	return only(lm, isI) && only(rm, isJoined) || only(rm, isI) && only(lm, isJoined)
}

// cte is a bound common table expression.
type cte struct {
	name string
	plan Node
	cols []scopeCol
}

func (b *binder) lookupCTE(name string) (*cte, bool) {
	for i := len(b.ctes) - 1; i >= 0; i-- {
		if strings.EqualFold(b.ctes[i].name, name) {
			return b.ctes[i], true
		}
	}
	return nil, false
}

// bindWith binds the CTEs of a WITH clause and returns how many it pushed.
func (b *binder) bindWith(w *sqlparser.With) (int, error) {
	if w == nil {
		return 0, nil
	}
	if w.Recursive {
		return 0, b.unsupported("WITH RECURSIVE")
	}
	for _, c := range w.Ctes {
		sq, ok := c.AliasedTableExpr.Expr.(*sqlparser.Subquery)
		if !ok {
			return 0, b.unsupported("this WITH clause")
		}
		plan, err := b.queryPlan(sq.Select, nil)
		if err != nil {
			return 0, err
		}
		name := c.AliasedTableExpr.As.String()
		cols := colsOf(plan, name)
		if len(c.Columns) > 0 {
			if len(c.Columns) > len(cols) {
				return 0, sqlstate.Errorf(sqlstate.InvalidColumnRef, "WITH query %q has %d columns available but %d columns specified", name, len(cols), len(c.Columns))
			}
			for i, col := range c.Columns {
				cols[i].name = col.String()
			}
		}
		b.ctes = append(b.ctes, &cte{name: name, plan: plan, cols: cols})
	}
	return len(w.Ctes), nil
}

// queryPlan binds a SELECT (or parenthesized SELECT) that is not correlated
// with an enclosing query.
func (b *binder) queryPlan(s sqlparser.SelectStatement, outer *scope) (Node, error) {
	switch s := s.(type) {
	case *sqlparser.Select:
		r, err := b.selectPlan(s, outer)
		if err != nil {
			return nil, err
		}
		if r.corr != nil {
			return nil, b.unsupported("a correlated subquery here")
		}
		return r.plan, nil
	case *sqlparser.ParenSelect:
		return b.queryPlan(s.Select, outer)
	case *sqlparser.SetOp:
		return b.setOpPlan(s)
	}
	return nil, b.unsupported(fmt.Sprintf("query %s", sqlparser.String(s)))
}

// corrInfo describes how a correlated subquery joins its enclosing query.
type corrInfo struct {
	outerKeys []Expr // over the enclosing query's columns (OuterRefs)
	innerKeys []Expr // over the subquery plan's columns
	residual  Expr   // OuterRefs and refs to the subquery plan's columns
	grouped   bool   // the subquery aggregates: one row per inner key
	// count: the subquery's one item is COUNT(…), 0 (not NULL) for an
	// outer row without inner rows.
	count bool
}

// subqueryResult is a bound subquery.
type subqueryResult struct {
	plan   Node
	nitems int // visible select items (the plan may carry more columns)
	corr   *corrInfo
}

// subquery binds the SELECT of a subquery in the scope sc of the enclosing
// query.
func (b *binder) subquery(sq *sqlparser.Subquery, sc *scope) (*subqueryResult, error) {
	s, ok := sq.Select.(*sqlparser.Select)
	if !ok {
		if p, ok := sq.Select.(*sqlparser.ParenSelect); ok {
			return b.subquery(&sqlparser.Subquery{Select: p.Select}, sc)
		}
		plan, err := b.queryPlan(sq.Select, nil)
		if err != nil {
			return nil, err
		}
		return &subqueryResult{plan: plan, nitems: len(plan.Columns())}, nil
	}
	return b.selectPlan(s, sc)
}

// attach joins a correlated or uncorrelated subquery to *plan (the
// enclosing query's input) with extra keys, and returns the new plan.
func attach(plan Node, typ JoinType, sub *subqueryResult, lk, rk []Expr) Node {
	n := len(plan.Columns())
	j := &Join{Type: typ, Left: plan, Right: sub.plan, LeftKeys: lk, RightKeys: rk}
	if c := sub.corr; c != nil {
		for _, k := range c.outerKeys {
			j.LeftKeys = append(j.LeftKeys, outerToLocal(k))
		}
		j.RightKeys = append(j.RightKeys, c.innerKeys...)
		if c.residual != nil {
			j.Cond = outerToLocal(shiftRefs(c.residual, n))
		}
	}
	return j
}

// outerToLocal turns the OuterRefs of e into ColumnRefs.
func outerToLocal(e Expr) Expr {
	if r, ok := e.(*OuterRef); ok {
		return &ColumnRef{Idx: r.Idx, Name: r.Name, Typ: r.Typ, Null: r.Null}
	}
	out, _ := MapChildren(e, func(c Expr) (Expr, error) { return outerToLocal(c), nil })
	return out
}

// whereSubquery binds a WHERE conjunct that holds a subquery. It returns
// the new input plan and the predicate to filter it by (nil when the join
// itself filters).
func (b *binder) whereSubquery(plan Node, sc *scope, e sqlparser.Expr) (Node, Expr, error) {
	negate := false
	x := e
	for {
		if p, ok := x.(*sqlparser.ParenExpr); ok {
			x = p.Expr
			continue
		}
		if nx, ok := x.(*sqlparser.NotExpr); ok {
			if _, ok := stripParens(nx.Expr).(*sqlparser.ExistsExpr); ok {
				negate = !negate
				x = nx.Expr
				continue
			}
		}
		break
	}
	switch x := x.(type) {
	case *sqlparser.ExistsExpr:
		sub, err := b.subquery(x.Subquery, sc)
		if err != nil {
			return nil, nil, err
		}
		typ := JoinSemi
		if negate {
			typ = JoinAnti
		}
		return attach(plan, typ, sub, nil, nil), nil, nil
	case *sqlparser.ComparisonExpr:
		sq, ok := x.Right.(*sqlparser.Subquery)
		if ok && (x.Operator == sqlparser.InStr || x.Operator == sqlparser.NotInStr) && !hasSubquery(x.Left) {
			l, err := b.expr(&exprCtx{sc: sc, clause: "WHERE"}, x.Left)
			if err != nil {
				return nil, nil, err
			}
			sub, err := b.subquery(sq, sc)
			if err != nil {
				return nil, nil, err
			}
			if sub.nitems != 1 {
				return nil, nil, sqlstate.Errorf(sqlstate.SyntaxError, "subquery has too many columns")
			}
			c := sub.plan.Columns()[0]
			r := Expr(&ColumnRef{Idx: 0, Name: c.Name, Typ: c.Type, Null: c.Nullable})
			if l, r, err = b.unify(l, r, false, "IN"); err != nil {
				return nil, nil, err
			}
			if x.Operator == sqlparser.InStr {
				return attach(plan, JoinSemi, sub, []Expr{l}, []Expr{r}), nil, nil
			}
			if sub.corr == nil {
				return attach(plan, JoinAntiNullAware, sub, []Expr{l}, []Expr{r}), nil, nil
			}
			// A correlated NOT IN: the expression form below (mark joins).
		}
	}
	ctx := &exprCtx{sc: sc, clause: "WHERE", plan: &plan}
	pred, err := b.boolExpr(ctx, e, "WHERE")
	if err != nil {
		return nil, nil, err
	}
	return plan, pred, nil
}

// markExists binds EXISTS (subquery) inside an expression (under OR, NOT
// or in a select list): a mark join appends a BOOLEAN column to *ctx.plan
// that says whether each row has a match, and the expression refers to it.
func (b *binder) markExists(ctx *exprCtx, e *sqlparser.ExistsExpr) (Expr, error) {
	sub, err := b.subquery(e.Subquery, ctx.sc)
	if err != nil {
		return nil, err
	}
	n := len((*ctx.plan).Columns())
	*ctx.plan = attach(*ctx.plan, JoinMark, sub, nil, nil)
	return &ColumnRef{Idx: n, Name: "exists", Typ: catalog.Boolean}, nil
}

// unsupportedInSubquery is unsupported located at the first IN followed
// by "(SELECT" in the text (the AST keeps no positions).
func (b *binder) unsupportedInSubquery(what string) error {
	e := sqlstate.Errorf(sqlstate.FeatureNotSupported, "%s is not supported", what)
	ts := b.p.tokens
	for i := 0; i+2 < len(ts); i++ {
		if strings.EqualFold(ts[i].val, "in") && ts[i+1].typ == '(' && strings.EqualFold(ts[i+2].val, "select") {
			return e.At(sqlstate.PositionAt(b.p.Text, ts[i].start))
		}
	}
	return e
}

// markIn binds l [NOT] IN (subquery) inside an expression with a
// null-aware mark join (see JoinMarkNullAware); a correlated subquery
// with plain mark joins (markInCorrelated).
func (b *binder) markIn(ctx *exprCtx, l Expr, sq *sqlparser.Subquery, not bool) (Expr, error) {
	if hasOuterRef(l) {
		return nil, b.unsupportedInSubquery("IN with an outer reference on its left inside an expression")
	}
	sub, err := b.subquery(sq, ctx.sc)
	if err != nil {
		return nil, err
	}
	if sub.nitems != 1 {
		return nil, sqlstate.Errorf(sqlstate.SyntaxError, "subquery has too many columns")
	}
	c := sub.plan.Columns()[0]
	r := Expr(&ColumnRef{Idx: 0, Name: c.Name, Typ: c.Type, Null: c.Nullable})
	if l, r, err = b.unify(l, r, false, "IN"); err != nil {
		return nil, err
	}
	if sub.corr != nil {
		return b.markInCorrelated(ctx, l, r, sq, sub, not)
	}
	n := len((*ctx.plan).Columns())
	*ctx.plan = attach(*ctx.plan, JoinMarkNullAware, sub, []Expr{l}, []Expr{r})
	var out Expr = &ColumnRef{Idx: n, Name: "in", Typ: catalog.Boolean, Null: true}
	if not {
		out = &Not{Arg: out}
	}
	return out, nil
}

// markInCorrelated binds l [NOT] IN (correlated subquery) inside an
// expression. The null-aware mark join takes one key and no residual, so
// the three-valued result is assembled from plain mark joins over the
// correlated set S of each outer row (the inner rows its correlation
// admits):
//
//	match  = EXISTS (S WHERE r = l)       -- keys l = r plus the correlation
//	hasNil = EXISTS (S WHERE r IS NULL)
//	any    = EXISTS (S)
//	l IN S = CASE WHEN match THEN TRUE
//	              WHEN hasNil OR (l IS NULL AND any) THEN NULL
//	              ELSE FALSE END
//
// hasNil is left out when r cannot be NULL and any when l cannot; when
// neither can, l IN S is match. Each mark join reads its own binding of
// the subquery. sub is the first binding; l and r are unified.
func (b *binder) markInCorrelated(ctx *exprCtx, l, r Expr, sq *sqlparser.Subquery, sub *subqueryResult, not bool) (Expr, error) {
	n := len((*ctx.plan).Columns())
	*ctx.plan = attach(*ctx.plan, JoinMark, sub, []Expr{l}, []Expr{r})
	var out Expr = &ColumnRef{Idx: n, Name: "in", Typ: catalog.Boolean}
	mark := func(filter bool) (Expr, error) {
		s, err := b.subquery(sq, ctx.sc)
		if err != nil {
			return nil, err
		}
		if filter {
			c := s.plan.Columns()[0]
			s.plan = &Filter{Input: s.plan, Pred: &IsNull{Arg: &ColumnRef{Idx: 0, Name: c.Name, Typ: c.Type, Null: c.Nullable}}}
		}
		k := len((*ctx.plan).Columns())
		*ctx.plan = attach(*ctx.plan, JoinMark, s, nil, nil)
		return &ColumnRef{Idx: k, Name: "exists", Typ: catalog.Boolean}, nil
	}
	var unknown Expr
	if r.Nullable() {
		hasNil, err := mark(true)
		if err != nil {
			return nil, err
		}
		unknown = hasNil
	}
	if l.Nullable() {
		anyRow, err := mark(false)
		if err != nil {
			return nil, err
		}
		u := Expr(&Logic{Op: OpAnd, L: &IsNull{Arg: l}, R: anyRow})
		if unknown != nil {
			u = &Logic{Op: OpOr, L: unknown, R: u}
		}
		unknown = u
	}
	if unknown != nil {
		out = &Case{Whens: []Expr{out, unknown}, Thens: []Expr{NewLiteral(catalog.Boolean, true), NewLiteral(catalog.Boolean, nil)},
			Else: NewLiteral(catalog.Boolean, false), Typ: catalog.Boolean}
	}
	if not {
		out = &Not{Arg: out}
	}
	return out, nil
}

func stripParens(e sqlparser.Expr) sqlparser.Expr {
	for {
		p, ok := e.(*sqlparser.ParenExpr)
		if !ok {
			return e
		}
		e = p.Expr
	}
}

// scalarSubquery binds a subquery used as a value.
func (b *binder) scalarSubquery(ctx *exprCtx, sq *sqlparser.Subquery) (Expr, error) {
	sub, err := b.subquery(sq, ctx.sc)
	if err != nil {
		return nil, err
	}
	if sub.nitems != 1 {
		return nil, sqlstate.Errorf(sqlstate.SyntaxError, "subquery must return only one column")
	}
	c := sub.plan.Columns()[0]
	if sub.corr == nil {
		return &Subquery{Plan: sub.plan, Typ: c.Type}, nil
	}
	if ctx.plan == nil || !sub.corr.grouped {
		return nil, b.unsupported("this correlated scalar subquery")
	}
	n := len((*ctx.plan).Columns())
	*ctx.plan = attach(*ctx.plan, JoinLeft, sub, nil, nil)
	ref := &ColumnRef{Idx: n, Name: c.Name, Typ: c.Type, Null: true}
	if sub.corr.count {
		// The left join leaves NULL where no inner row matched: COUNT of
		// nothing is 0.
		return &Case{Whens: []Expr{&IsNull{Arg: ref, Negate: true}}, Thens: []Expr{ref}, Else: NewLiteral(c.Type, int64(0)), Typ: c.Type}, nil
	}
	return ref, nil
}
