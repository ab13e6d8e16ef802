package sql

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// selectItem is one output column of a SELECT before aggregation rewrites.
type selectItem struct {
	expr  Expr
	name  string
	alias bool // name came from AS
	isCol bool // the item is a plain column reference (GROUP BY by name)
}

func (b *binder) checkSelectClauses(s *sqlparser.Select) error {
	switch {
	case s.Into != nil:
		return b.unsupported("SELECT … INTO")
	case s.Lock != "":
		return b.unsupported(strings.ToUpper(strings.TrimSpace(s.Lock)))
	case len(s.Window) > 0:
		return b.unsupported("WINDOW")
	case s.QueryOpts.SQLCalcFoundRows, s.QueryOpts.SQLCache, s.QueryOpts.SQLNoCache, s.QueryOpts.StraightJoinHint:
		return b.unsupported("MySQL SELECT options")
	}
	return nil
}

func (b *binder) bindSelect(s *sqlparser.Select) (Statement, error) {
	r, err := b.selectPlan(s, nil)
	if err != nil {
		return nil, err
	}
	return &Query{Plan: r.plan}, nil
}

// selectPlan binds a SELECT. outer is the scope of the enclosing query when
// s is a subquery: its WHERE may then refer to outer's columns, and the
// result describes the correlation.
func (b *binder) selectPlan(s *sqlparser.Select, outer *scope) (*subqueryResult, error) {
	if err := b.checkSelectClauses(s); err != nil {
		return nil, err
	}
	pushed, err := b.bindWith(s.With)
	if err != nil {
		return nil, err
	}
	defer func() { b.ctes = b.ctes[:len(b.ctes)-pushed] }()
	fromItems, err := b.fromItems(s.From)
	if err != nil {
		return nil, err
	}
	var sc *scope
	if len(fromItems) > 0 || outer != nil {
		sc = &scope{parent: outer}
		for _, it := range fromItems {
			sc.cols = append(sc.cols, it.cols...)
		}
	}
	// WHERE: plain conjuncts order the joins; correlated ones describe the
	// subquery's join; conjuncts with subqueries become joins above.
	var plain, corr []Expr
	var subConjs []sqlparser.Expr
	if s.Where != nil {
		for _, c := range splitAndAST(s.Where.Expr, nil) {
			if hasSubquery(c) {
				subConjs = append(subConjs, c)
				continue
			}
			if sc != nil {
				sc.corr = outer != nil
			}
			x, err := b.boolExpr(&exprCtx{sc: sc, clause: "WHERE"}, c, "WHERE")
			if sc != nil {
				sc.corr = false
			}
			if err != nil {
				return nil, err
			}
			for _, x := range splitAnd(factorOr(x), nil) {
				if hasOuterRef(x) {
					corr = append(corr, x)
				} else {
					plain = append(plain, x)
				}
			}
		}
	}
	var input Node
	switch len(fromItems) {
	case 0:
		input = &Values{Rows: [][]Expr{{}}}
		if len(plain) > 0 {
			input = &Filter{Input: input, Pred: andAll(plain)}
		}
	case 1:
		input = fromItems[0].plan
		if len(plain) > 0 {
			input = &Filter{Input: input, Pred: andAll(plain)}
		}
	default:
		input = joinItems(fromItems, plain)
	}
	for _, c := range subConjs {
		var pred Expr
		if input, pred, err = b.whereSubquery(input, sc, c); err != nil {
			return nil, err
		}
		if pred != nil {
			input = &Filter{Input: input, Pred: pred}
		}
	}

	selCtx := &exprCtx{sc: sc, plan: &input, allowAgg: true, allowWindow: true, clause: "SELECT"}
	var items []selectItem
	for _, se := range s.SelectExprs {
		switch se := se.(type) {
		case *sqlparser.StarExpr:
			if len(fromItems) == 0 {
				return nil, sqlstate.Errorf(sqlstate.SyntaxError, "SELECT * with no tables specified is not valid")
			}
			q := ""
			if !se.TableName.IsEmpty() {
				q = se.TableName.Name.String()
				if !sc.hasQual(q) {
					return nil, b.errAt(q, sqlstate.UndefinedTable, "missing FROM-clause entry for table %q", q)
				}
			}
			for i, c := range sc.cols {
				if c.hidden || q != "" && !strings.EqualFold(c.qual, q) {
					continue
				}
				items = append(items, selectItem{
					expr: &ColumnRef{Idx: i, Name: c.name, Typ: c.typ, Null: c.null}, name: c.name, isCol: true})
			}
		case *sqlparser.AliasedExpr:
			x, err := b.expr(selCtx, se.Expr)
			if err != nil {
				return nil, err
			}
			it := selectItem{expr: x}
			switch {
			case !se.As.IsEmpty():
				it.name, it.alias = se.As.String(), true
			case isColName(se.Expr):
				it.name, it.isCol = se.Expr.(*sqlparser.ColName).Name.String(), true
			case se.InputExpression != "":
				it.name = se.InputExpression
			default:
				it.name = sqlparser.String(se.Expr)
			}
			items = append(items, it)
		default:
			return nil, b.unsupported(fmt.Sprintf("select expression %s", sqlparser.String(se)))
		}
	}

	// GROUP BY.
	grouped := len(s.GroupBy) > 0
	var groups []Expr
	for _, g := range s.GroupBy {
		x, err := b.groupExpr(sc, g, items)
		if err != nil {
			return nil, err
		}
		groups = append(groups, x)
	}

	// Correlation: equalities inner = outer become join keys (and group
	// keys when the subquery aggregates); the rest is a join condition.
	var ci *corrInfo
	if len(corr) > 0 {
		ci = &corrInfo{}
		var residual []Expr
		for _, c := range corr {
			if cmp, ok := c.(*Compare); ok && cmp.Op == arrowexec.OpEq {
				lo, ro := onlyOuter(cmp.L), onlyOuter(cmp.R)
				li, ri := !hasOuterRef(cmp.L) && len(refsOf(cmp.L)) > 0, !hasOuterRef(cmp.R) && len(refsOf(cmp.R)) > 0
				if li && ro {
					ci.innerKeys, ci.outerKeys = append(ci.innerKeys, cmp.L), append(ci.outerKeys, cmp.R)
					continue
				}
				if ri && lo {
					ci.innerKeys, ci.outerKeys = append(ci.innerKeys, cmp.R), append(ci.outerKeys, cmp.L)
					continue
				}
			}
			residual = append(residual, c)
		}
		ci.residual = andAll(residual)
		agg := grouped || s.Having != nil
		for _, it := range items {
			agg = agg || containsAgg(it.expr)
		}
		if agg {
			if grouped || ci.residual != nil || len(ci.innerKeys) == 0 {
				return nil, b.unsupported("this correlated subquery with aggregation (only equalities between inner and outer columns, no GROUP BY)")
			}
			for i, it := range items {
				if a, ok := it.expr.(*AggCall); ok && i == 0 && len(items) == 1 && (a.Func == arrowexec.AggCount || a.Func == arrowexec.AggCountStar) {
					// A bare COUNT: the enclosing query turns the NULL of
					// an unmatched outer row into 0 (scalarSubquery).
					ci.count = true
					continue
				}
				Walk(it.expr, func(x Expr) bool {
					if a, ok := x.(*AggCall); ok && (a.Func == arrowexec.AggCount || a.Func == arrowexec.AggCountStar) {
						err = b.unsupported("COUNT inside an expression in a correlated scalar subquery")
					}
					return err == nil
				})
			}
			if err != nil {
				return nil, err
			}
			ci.grouped = true
			grouped = true
			groups = append(groups, ci.innerKeys...)
		}
	}

	var having Expr
	if s.Having != nil {
		if having, err = b.boolExpr(&exprCtx{sc: sc, allowAgg: true, clause: "HAVING"}, s.Having.Expr, "HAVING"); err != nil {
			return nil, err
		}
	}

	// ORDER BY: resolve against output names and ordinals first.
	type orderItem struct {
		out   int // output column, or -1
		expr  Expr
		desc  bool
		nulls nullsOrder
	}
	var orders []orderItem
	for _, o := range s.OrderBy {
		oi := orderItem{out: -1, desc: o.Direction == sqlparser.DescScr, nulls: b.p.nulls[o]}
		if v, ok := o.Expr.(*sqlparser.SQLVal); ok && v.Type == sqlparser.IntVal {
			k, err := strconv.Atoi(string(v.Val))
			if err != nil || k < 1 || k > len(items) {
				return nil, sqlstate.Errorf(sqlstate.InvalidColumnRef, "ORDER BY position %s is not in select list", v.Val)
			}
			oi.out = k - 1
		} else if c, ok := o.Expr.(*sqlparser.ColName); ok && c.Qualifier.IsEmpty() {
			match := -1
			for i, it := range items {
				if strings.EqualFold(it.name, c.Name.String()) {
					if match >= 0 && items[match].expr.String() != it.expr.String() {
						return nil, b.errAt(c.Name.String(), sqlstate.AmbiguousColumn, "ORDER BY %q is ambiguous", c.Name.String())
					}
					if match < 0 {
						match = i
					}
				}
			}
			oi.out = match
		}
		if oi.out < 0 {
			x, err := b.expr(&exprCtx{sc: sc, allowAgg: true, allowWindow: true, clause: "ORDER BY"}, o.Expr)
			if err != nil {
				return nil, err
			}
			oi.expr = x
		}
		orders = append(orders, oi)
	}

	// Aggregation.
	hasAgg := grouped || having != nil
	for _, it := range items {
		hasAgg = hasAgg || containsAgg(it.expr)
	}
	for _, o := range orders {
		hasAgg = hasAgg || (o.expr != nil && containsAgg(o.expr))
	}
	if hasAgg {
		ab := &aggBuilder{b: b, groupIdx: map[string]int{}, aggIdx: map[string]int{}, grouped: grouped}
		for _, g := range groups {
			ab.addGroup(g)
		}
		for i := range items {
			if items[i].expr, err = ab.rewrite(items[i].expr); err != nil {
				return nil, err
			}
		}
		if having != nil {
			if having, err = ab.rewrite(having); err != nil {
				return nil, err
			}
		}
		for i := range orders {
			if orders[i].expr != nil {
				if orders[i].expr, err = ab.rewrite(orders[i].expr); err != nil {
					return nil, err
				}
			}
		}
		input = &Aggregate{Input: input, Groups: ab.groups, GroupNames: ab.groupNames, Aggs: ab.aggs, AggNames: ab.aggNames}
		if having != nil {
			input = &Filter{Input: input, Pred: having}
		}
	}

	// Window functions run after aggregation and HAVING, before DISTINCT,
	// ORDER BY and LIMIT.
	var wexprs []*Expr
	for i := range items {
		if containsWindow(items[i].expr) {
			wexprs = append(wexprs, &items[i].expr)
		}
	}
	for i := range orders {
		if orders[i].expr != nil && containsWindow(orders[i].expr) {
			wexprs = append(wexprs, &orders[i].expr)
		}
	}
	if len(wexprs) > 0 {
		if ci != nil {
			return nil, b.unsupported("window functions in a correlated subquery")
		}
		if input, err = planWindows(input, wexprs); err != nil {
			return nil, err
		}
	}

	if ci != nil {
		return b.correlatedOutput(input, items, ci, groups, len(s.GroupBy))
	}

	// Projection (with hidden sort columns).
	exprs := make([]Expr, len(items))
	names := make([]string, len(items))
	for i, it := range items {
		exprs[i], names[i] = it.expr, it.name
	}
	distinct := s.QueryOpts.Distinct
	var keys []SortKey
	for _, o := range orders {
		out := o.out
		if out < 0 {
			for i, e := range exprs {
				if e.String() == o.expr.String() {
					out = i
					break
				}
			}
		}
		if out < 0 {
			if distinct {
				return nil, sqlstate.Errorf(sqlstate.InvalidColumnRef, "for SELECT DISTINCT, ORDER BY expressions must appear in select list")
			}
			out = len(exprs)
			exprs = append(exprs, o.expr)
			names = append(names, fmt.Sprintf("__sort%d", out))
		}
		e := exprs[out]
		if e.Type().Kind == catalog.KindNull {
			continue // ordering by a NULL constant is a no-op
		}
		keys = append(keys, SortKey{Expr: &ColumnRef{Idx: out, Name: names[out], Typ: e.Type(), Null: e.Nullable()},
			Desc: o.desc, NullsFirst: o.nulls == nullsFirst || o.nulls == nullsDefault && o.desc})
	}
	for i, e := range exprs {
		// An untyped NULL in the result becomes a VARCHAR NULL (Arrow
		// clients get a typed column).
		if e.Type().Kind == catalog.KindNull {
			exprs[i] = nullOf(e, catalog.Varchar)
		}
	}
	var plan Node = &Project{Input: input, Exprs: exprs, Names: names}
	if distinct {
		gs := make([]Expr, len(exprs))
		for i, e := range exprs {
			gs[i] = &ColumnRef{Idx: i, Name: names[i], Typ: e.Type(), Null: e.Nullable()}
		}
		plan = &Aggregate{Input: plan, Groups: gs, GroupNames: names}
	}
	if len(keys) > 0 {
		plan = &Sort{Input: plan, Keys: keys}
	}
	if s.Limit != nil {
		off, cnt, err := b.limit(s.Limit)
		if err != nil {
			return nil, err
		}
		plan = &Limit{Input: plan, Offset: off, Count: cnt}
	}
	if len(exprs) > len(items) {
		vis := make([]Expr, len(items))
		for i := range items {
			vis[i] = &ColumnRef{Idx: i, Name: names[i], Typ: exprs[i].Type(), Null: exprs[i].Nullable()}
		}
		plan = &Project{Input: plan, Exprs: vis, Names: names[:len(items)]}
	}
	return &subqueryResult{plan: plan, nitems: len(items)}, nil
}

// onlyOuter reports whether e refers to the enclosing query only.
func onlyOuter(e Expr) bool { return hasOuterRef(e) && len(refsOf(e)) == 0 }

// correlatedOutput finishes a correlated subquery: its select items, then
// (aggregated) the correlation group keys or (not aggregated) all input
// columns, which the join keys and condition refer to. ORDER BY, DISTINCT
// and LIMIT do not change which rows match and are dropped.
func (b *binder) correlatedOutput(input Node, items []selectItem, ci *corrInfo, groups []Expr, userGroups int) (*subqueryResult, error) {
	var exprs []Expr
	var names []string
	for _, it := range items {
		exprs = append(exprs, it.expr)
		names = append(names, it.name)
	}
	n := len(items)
	if ci.grouped {
		keys := make([]Expr, len(ci.innerKeys))
		for i := range ci.innerKeys {
			g := userGroups + i
			keys[i] = &ColumnRef{Idx: len(exprs), Name: fmt.Sprintf("__corr%d", i), Typ: groups[g].Type(), Null: groups[g].Nullable()}
			exprs = append(exprs, &ColumnRef{Idx: g, Name: fmt.Sprintf("group%d", g), Typ: groups[g].Type(), Null: groups[g].Nullable()})
			names = append(names, fmt.Sprintf("__corr%d", i))
		}
		ci.innerKeys = keys
	} else {
		for i, c := range input.Columns() {
			exprs = append(exprs, &ColumnRef{Idx: i, Name: c.Name, Typ: c.Type, Null: c.Nullable})
			names = append(names, c.Name)
		}
		for i, k := range ci.innerKeys {
			ci.innerKeys[i] = shiftRefs(k, n)
		}
		if ci.residual != nil {
			ci.residual = shiftRefs(ci.residual, n)
		}
	}
	for i, e := range exprs {
		if e.Type().Kind == catalog.KindNull {
			exprs[i] = nullOf(e, catalog.Varchar)
		}
	}
	return &subqueryResult{plan: &Project{Input: input, Exprs: exprs, Names: names}, nitems: n, corr: ci}, nil
}

func isColName(e sqlparser.Expr) bool {
	_, ok := e.(*sqlparser.ColName)
	return ok
}

func containsAgg(e Expr) bool {
	found := false
	Walk(e, func(x Expr) bool {
		if _, ok := x.(*AggCall); ok {
			found = true
		}
		return !found
	})
	return found
}

// groupExpr binds one GROUP BY item: an ordinal, a select alias, or an
// expression over the table (input columns win over aliases, as in
// PostgreSQL).
func (b *binder) groupExpr(sc *scope, g sqlparser.Expr, items []selectItem) (Expr, error) {
	if v, ok := g.(*sqlparser.SQLVal); ok && v.Type == sqlparser.IntVal {
		k, err := strconv.Atoi(string(v.Val))
		if err != nil || k < 1 || k > len(items) {
			return nil, sqlstate.Errorf(sqlstate.InvalidColumnRef, "GROUP BY position %s is not in select list", v.Val)
		}
		x := items[k-1].expr
		if containsAgg(x) {
			return nil, sqlstate.Errorf(sqlstate.GroupingError, "aggregate functions are not allowed in GROUP BY")
		}
		return x, nil
	}
	if c, ok := g.(*sqlparser.ColName); ok && c.Qualifier.IsEmpty() && (sc == nil || len(sc.find("", c.Name.String())) == 0) {
		for _, it := range items {
			if it.alias && strings.EqualFold(it.name, c.Name.String()) {
				if containsAgg(it.expr) {
					return nil, sqlstate.Errorf(sqlstate.GroupingError, "aggregate functions are not allowed in GROUP BY")
				}
				return it.expr, nil
			}
		}
	}
	return b.expr(&exprCtx{sc: sc, clause: "GROUP BY"}, g)
}

// aggBuilder collects the groups and aggregates of a query and rewrites
// expressions above the aggregation to refer to its output.
type aggBuilder struct {
	b          *binder
	grouped    bool
	groups     []Expr
	groupNames []string
	groupIdx   map[string]int
	aggs       []*AggCall
	aggNames   []string
	aggIdx     map[string]int
}

func (a *aggBuilder) addGroup(g Expr) {
	k := g.String()
	if _, ok := a.groupIdx[k]; ok {
		return
	}
	a.groupIdx[k] = len(a.groups)
	name := fmt.Sprintf("group%d", len(a.groups))
	if c, ok := g.(*ColumnRef); ok {
		name = c.Name
	}
	a.groups = append(a.groups, g)
	a.groupNames = append(a.groupNames, name)
}

func (a *aggBuilder) rewrite(e Expr) (Expr, error) {
	if i, ok := a.groupIdx[e.String()]; ok {
		g := a.groups[i]
		return &ColumnRef{Idx: i, Name: a.groupNames[i], Typ: g.Type(), Null: g.Nullable()}, nil
	}
	switch x := e.(type) {
	case *AggCall:
		if a.grouped && x.Func != arrowexec.AggCount && x.Func != arrowexec.AggCountStar && x.Arg != nil && !x.Arg.Nullable() {
			c := *x
			c.Null = false
			x = &c
		}
		k := x.String()
		j, ok := a.aggIdx[k]
		if !ok {
			j = len(a.aggs)
			a.aggIdx[k] = j
			a.aggs = append(a.aggs, x)
			a.aggNames = append(a.aggNames, fmt.Sprintf("agg%d", j))
		}
		return &ColumnRef{Idx: len(a.groups) + j, Name: a.aggNames[j], Typ: x.Typ, Null: x.Null}, nil
	case *ColumnRef:
		return nil, a.b.errAt(x.Name, sqlstate.GroupingError,
			"column %q must appear in the GROUP BY clause or be used in an aggregate function", x.Name)
	}
	return MapChildren(e, a.rewrite)
}

// limit binds LIMIT and OFFSET constants.
func (b *binder) limit(l *sqlparser.Limit) (offset, count int64, err error) {
	count = -1
	get := func(e sqlparser.Expr, what string) (int64, error) {
		x, err := b.expr(&exprCtx{clause: what}, e)
		if err != nil {
			return 0, err
		}
		lit, ok := x.(*Literal)
		if !ok || !lit.Typ.IsInteger() {
			if ok && lit.IsNull() {
				return -1, nil
			}
			return 0, sqlstate.Errorf(sqlstate.DatatypeMismatch, "argument of %s must be an integer constant", what)
		}
		v, _ := literalValue(lit)
		if v.i < 0 {
			return 0, sqlstate.Errorf(sqlstate.InvalidParameterValue, "%s must not be negative", what)
		}
		return v.i, nil
	}
	if l.Rowcount != nil {
		if count, err = get(l.Rowcount, "LIMIT"); err != nil {
			return 0, 0, err
		}
	}
	if l.Offset != nil {
		if offset, err = get(l.Offset, "OFFSET"); err != nil {
			return 0, 0, err
		}
		if offset < 0 {
			offset = 0
		}
	}
	return offset, count, nil
}
