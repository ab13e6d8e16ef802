package sql

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// Bind resolves a parsed statement against cat.
func Bind(p *Parsed, cat *catalog.Catalog) (Statement, error) {
	return (&binder{p: p, cat: cat}).bind()
}

// bind binds b's statement.
func (b *binder) bind() (Statement, error) {
	p := b.p
	st, err := b.bindStatement()
	if err != nil {
		return nil, err
	}
	var target *catalog.Table
	switch st := st.(type) {
	case *Insert:
		target = st.Table
	case *Update:
		target = st.Table
	case *Delete:
		target = st.Table
	case *Truncate:
		target = st.Table
	case *Explain:
		// EXPLAIN ANALYZE of a write would run it.
		if st.Analyze {
			switch st := st.Stmt.(type) {
			case *Insert:
				target = st.Table
			case *Update:
				target = st.Table
			case *Delete:
				target = st.Table
			}
		}
	}
	if target != nil && target.System {
		return nil, readOnly(target)
	}
	if err := b.checkParams(); err != nil {
		return nil, err
	}
	if len(b.params) > 0 {
		ps := b.paramTypes()
		switch st := st.(type) {
		case *Query:
			st.Params = ps
		case *Insert:
			st.Params = ps
		case *Update:
			st.Params = ps
		case *Delete:
			st.Params = ps
		default:
			return nil, b.unsupported("parameters in " + stmtName(p.Stmt))
		}
	}
	return st, nil
}

func (b *binder) bindStatement() (Statement, error) {
	switch s := b.p.Stmt.(type) {
	case *sqlparser.Select:
		return b.bindSelect(s)
	case *sqlparser.SetOp:
		return b.bindSetOpStatement(s)
	case *sqlparser.Insert:
		return b.bindInsert(s)
	case *sqlparser.Update:
		return b.bindUpdate(s)
	case *sqlparser.Delete:
		return b.bindDelete(s)
	case *sqlparser.DDL:
		return b.bindDDL(s)
	case *sqlparser.Explain:
		return b.bindExplain(s)
	case *sqlparser.AlterTable:
		return b.bindAlter(s)
	}
	return nil, b.unsupported(fmt.Sprintf("statement %s", stmtName(b.p.Stmt)))
}

// ParseAndBind parses and binds one statement.
func ParseAndBind(text string, cat *catalog.Catalog) (Statement, error) {
	p, err := Parse(text)
	if err != nil {
		return nil, err
	}
	return Bind(p, cat)
}

func stmtName(s sqlparser.Statement) string {
	n := fmt.Sprintf("%T", s)
	return strings.ToUpper(strings.TrimPrefix(n, "*sqlparser."))
}

type binder struct {
	p      *Parsed
	cat    *catalog.Catalog
	ctes   []*cte       // CTEs in scope, innermost last
	params []*paramSlot // statement parameters by index
	depth  int          // views being expanded around this binder
	// views holds the plan of every view bound so far in the statement
	// (the binders of nested views share it), so that a view named twice
	// is one plan node referenced twice, like a CTE.
	views map[*catalog.View]Node
	// constParams: the parameters stand for constants (BindShape), so
	// they are never NULL.
	constParams bool
}

func (b *binder) unsupported(what string) error {
	return sqlstate.Errorf(sqlstate.FeatureNotSupported, "%s is not supported", what)
}

// errAt returns an error located at the first token spelled ident.
func (b *binder) errAt(ident string, code sqlstate.Code, format string, args ...any) error {
	e := sqlstate.Errorf(code, format, args...)
	if l, c := b.p.locate(ident, 0); l > 0 {
		return e.At(l, c)
	}
	return e
}

func (b *binder) table(name sqlparser.TableName) (*catalog.Table, error) {
	if schema, ok := systemQualified(name); ok {
		n := name.Name.String()
		if !schema {
			return nil, b.unsupported("a qualified table name")
		}
		t, ok := b.cat.SystemTable(n)
		if !ok {
			return nil, b.errAt(n, sqlstate.UndefinedTable, "relation \"%s.%s\" does not exist", catalog.SystemSchema, n)
		}
		return t, nil
	}
	n := name.Name.String()
	t, ok := b.cat.Table(n)
	if !ok {
		if _, isView := b.cat.View(n); isView {
			return nil, b.errAt(n, sqlstate.WrongObjectType, "%q is a view; views cannot be written or altered", n)
		}
		return nil, b.errAt(n, sqlstate.UndefinedTable, "relation %q does not exist", n)
	}
	return t, nil
}

// systemQualified reports whether name is qualified (qualified) and, if
// so, whether by the system schema alone (system).
func systemQualified(name sqlparser.TableName) (system, qualified bool) {
	if name.DbQualifier.IsEmpty() && name.SchemaQualifier.IsEmpty() {
		return false, false
	}
	q := name.DbQualifier.String()
	if q == "" {
		q = name.SchemaQualifier.String()
	} else if !name.SchemaQualifier.IsEmpty() {
		return false, true
	}
	return strings.EqualFold(q, catalog.SystemSchema), true
}

// readOnly is the error of a statement that would change system table t
// (write, alter or index it): 42809, wrong object type, as PostgreSQL
// answers for an object that exists but cannot take the statement.
func readOnly(t *catalog.Table) error {
	return sqlstate.Errorf(sqlstate.WrongObjectType, "cannot change %s.%s: system tables are read-only", catalog.SystemSchema, t.Name)
}

// writable returns the table name names for a statement that changes it:
// a system table is readOnly.
func (b *binder) writable(name sqlparser.TableName) (*catalog.Table, error) {
	t, err := b.table(name)
	if err == nil && t.System {
		return nil, readOnly(t)
	}
	return t, err
}

// qualifiedName is the error of a statement that creates (or drops the
// view) name qualified by a schema: in the system schema 42501, as
// PostgreSQL refuses to create objects in pg_catalog; any other schema is
// not supported (0A000). ok is false when name is not qualified.
func (b *binder) qualifiedName(name sqlparser.TableName, verb, what string) (err error, ok bool) {
	system, qualified := systemQualified(name)
	switch {
	case !qualified:
		return nil, false
	case system:
		return sqlstate.Errorf(sqlstate.InsufficientPrivilege, "permission denied to %s %s.%s: the %s schema is read-only",
			verb, catalog.SystemSchema, name.Name.String(), catalog.SystemSchema), true
	}
	return b.unsupported("a qualified " + what + " name"), true
}

// from binds a FROM clause of at most one plain table.
func (b *binder) from(from sqlparser.TableExprs) (*scope, error) {
	if len(from) == 0 {
		return nil, nil
	}
	if len(from) > 1 {
		return nil, b.unsupported("a FROM list of several tables (joins)")
	}
	switch te := from[0].(type) {
	case *sqlparser.AliasedTableExpr:
		if te.AsOf != nil {
			return nil, b.unsupported("AS OF")
		}
		if te.Hints != nil {
			return nil, b.unsupported("index hints")
		}
		if len(te.Partitions) > 0 {
			return nil, b.unsupported("PARTITION")
		}
		if te.Lateral {
			return nil, b.unsupported("LATERAL")
		}
		tn, ok := te.Expr.(sqlparser.TableName)
		if !ok {
			switch te.Expr.(type) {
			case *sqlparser.Subquery:
				return nil, b.unsupported("a subquery in FROM")
			}
			return nil, b.unsupported(fmt.Sprintf("table expression %s", sqlparser.String(te.Expr)))
		}
		if tn.Name.String() == "dual" && tn.DbQualifier.IsEmpty() {
			if _, ok := b.cat.Table("dual"); !ok {
				return nil, nil
			}
		}
		t, err := b.table(tn)
		if err != nil {
			return nil, err
		}
		alias := t.Name
		if !te.As.IsEmpty() {
			alias = te.As.String()
		}
		return tableScope(t, alias), nil
	case *sqlparser.JoinTableExpr:
		return nil, b.unsupported("JOIN")
	case *sqlparser.ParenTableExpr:
		return nil, b.unsupported("parenthesized FROM")
	}
	return nil, b.unsupported(fmt.Sprintf("FROM %s", sqlparser.String(from[0])))
}

// exprCtx says where an expression is bound.
type exprCtx struct {
	sc       *scope
	plan     *Node // when set, correlated subqueries may join onto it
	allowAgg bool  // aggregate calls are allowed (SELECT, HAVING, ORDER BY)
	inAgg    bool  // inside an aggregate's argument
	// allowWindow allows window function calls (SELECT, ORDER BY);
	// inWindow is set inside one.
	allowWindow, inWindow bool
	clause                string // for messages: "WHERE", "GROUP BY", ...
}

func (b *binder) column(ctx *exprCtx, c *sqlparser.ColName) (Expr, error) {
	name := c.Name.String()
	qual := ""
	if !c.Qualifier.IsEmpty() {
		if !c.Qualifier.DbQualifier.IsEmpty() {
			return nil, b.unsupported("a database-qualified column")
		}
		qual = c.Qualifier.Name.String()
	}
	for sc, depth := ctx.sc, 0; sc != nil; sc, depth = sc.parent, depth+1 {
		m := sc.find(qual, name)
		if len(m) > 1 {
			return nil, b.errAt(name, sqlstate.AmbiguousColumn, "column reference %q is ambiguous", name)
		}
		if len(m) == 0 {
			continue
		}
		col := sc.cols[m[0]]
		if depth == 0 {
			return &ColumnRef{Idx: m[0], Name: col.name, Typ: col.typ, Null: col.null}, nil
		}
		if depth > 1 || !ctx.sc.corr {
			return nil, b.unsupported(fmt.Sprintf("the correlated reference to %q here (only in the WHERE clause of a subquery of the query that defines it)", name))
		}
		return &OuterRef{Idx: m[0], Name: col.name, Typ: col.typ, Null: col.null}, nil
	}
	if qual != "" {
		found := false
		for sc := ctx.sc; sc != nil; sc = sc.parent {
			found = found || sc.hasQual(qual)
		}
		if !found {
			return nil, b.errAt(qual, sqlstate.UndefinedTable, "missing FROM-clause entry for table %q", qual)
		}
	}
	return nil, b.errAt(name, sqlstate.UndefinedColumn, "column %q does not exist", name)
}

func (b *binder) literal(v *sqlparser.SQLVal) (Expr, error) {
	switch v.Type {
	case sqlparser.StrVal:
		lit := NewLiteral(catalog.Varchar, string(v.Val))
		switch b.p.typed[v] {
		case sqlparser.DATE:
			return CastLiteral(lit, catalog.Date)
		case sqlparser.TIMESTAMP:
			return CastLiteral(lit, catalog.Timestamp)
		case sqlparser.TIME:
			return nil, b.unsupported("type TIME")
		}
		return lit, nil
	case sqlparser.IntVal:
		return numberLiteral(strings.ReplaceAll(string(v.Val), " ", ""), false)
	case sqlparser.FloatVal:
		return numberLiteral(strings.ReplaceAll(string(v.Val), " ", ""), true)
	case sqlparser.ValArg:
		return b.param(v)
	}
	return nil, b.unsupported(fmt.Sprintf("literal %s", sqlparser.String(v)))
}

var cmpOps = map[string]arrowexec.CmpOp{
	sqlparser.EqualStr: arrowexec.OpEq, sqlparser.NotEqualStr: arrowexec.OpNe, "<>": arrowexec.OpNe,
	sqlparser.LessThanStr: arrowexec.OpLt, sqlparser.LessEqualStr: arrowexec.OpLe,
	sqlparser.GreaterThanStr: arrowexec.OpGt, sqlparser.GreaterEqualStr: arrowexec.OpGe,
}

var arithOps = map[string]arrowexec.ArithOp{
	sqlparser.PlusStr: arrowexec.OpAdd, sqlparser.MinusStr: arrowexec.OpSub, sqlparser.MultStr: arrowexec.OpMul,
	sqlparser.DivStr: arrowexec.OpDiv, sqlparser.ModStr: arrowexec.OpMod,
}

var aggFuncs = map[string]arrowexec.AggFunc{
	"count": arrowexec.AggCount, "sum": arrowexec.AggSum, "min": arrowexec.AggMin, "max": arrowexec.AggMax, "avg": arrowexec.AggAvg,
}

// expr binds e.
func (b *binder) expr(ctx *exprCtx, e sqlparser.Expr) (Expr, error) {
	switch e := e.(type) {
	case *sqlparser.ColName:
		return b.column(ctx, e)
	case *sqlparser.ValuesFuncExpr:
		return b.valuesFunc(ctx, e)
	case *sqlparser.SQLVal:
		return b.literal(e)
	case *sqlparser.NullVal:
		return NewLiteral(catalog.Null, nil), nil
	case sqlparser.BoolVal:
		return NewLiteral(catalog.Boolean, bool(e)), nil
	case *sqlparser.ParenExpr:
		return b.expr(ctx, e.Expr)
	case *sqlparser.AndExpr, *sqlparser.OrExpr:
		var l, r sqlparser.Expr
		op := OpAnd
		if a, ok := e.(*sqlparser.AndExpr); ok {
			l, r = a.Left, a.Right
		} else {
			o := e.(*sqlparser.OrExpr)
			l, r, op = o.Left, o.Right, OpOr
		}
		le, err := b.boolExpr(ctx, l, opName(op))
		if err != nil {
			return nil, err
		}
		re, err := b.boolExpr(ctx, r, opName(op))
		if err != nil {
			return nil, err
		}
		return &Logic{Op: op, L: le, R: re}, nil
	case *sqlparser.NotExpr:
		a, err := b.boolExpr(ctx, e.Expr, "NOT")
		if err != nil {
			return nil, err
		}
		return &Not{Arg: a}, nil
	case *sqlparser.XorExpr:
		return nil, b.unsupported("XOR")
	case *sqlparser.ComparisonExpr:
		return b.comparison(ctx, e)
	case *sqlparser.RangeCond:
		return b.between(ctx, e)
	case *sqlparser.IsExpr:
		a, err := b.expr(ctx, e.Expr)
		if err != nil {
			return nil, err
		}
		switch e.Operator {
		case sqlparser.IsNullStr:
			return &IsNull{Arg: a}, nil
		case sqlparser.IsNotNullStr:
			return &IsNull{Arg: a, Negate: true}, nil
		}
		return nil, b.unsupported(strings.ToUpper(e.Operator))
	case *sqlparser.BinaryExpr:
		if iv, ok := e.Right.(*sqlparser.IntervalExpr); ok && (e.Operator == sqlparser.PlusStr || e.Operator == sqlparser.MinusStr) {
			return b.dateInterval(ctx, e.Left, iv, e.Operator == sqlparser.MinusStr)
		}
		if iv, ok := e.Left.(*sqlparser.IntervalExpr); ok && e.Operator == sqlparser.PlusStr {
			return b.dateInterval(ctx, e.Right, iv, false)
		}
		if e.Operator == sqlparser.BitOrStr {
			l, err := b.expr(ctx, e.Left)
			if err != nil {
				return nil, err
			}
			r, err := b.expr(ctx, e.Right)
			if err != nil {
				return nil, err
			}
			return b.concatOp(l, r)
		}
		op, ok := arithOps[e.Operator]
		if !ok {
			return nil, b.unsupported(fmt.Sprintf("operator %s", strings.ToUpper(e.Operator)))
		}
		l, err := b.expr(ctx, e.Left)
		if err != nil {
			return nil, err
		}
		r, err := b.expr(ctx, e.Right)
		if err != nil {
			return nil, err
		}
		return b.arith(op, l, r, e.Operator)
	case *sqlparser.UnaryExpr:
		a, err := b.expr(ctx, e.Expr)
		if err != nil {
			return nil, err
		}
		switch e.Operator {
		case sqlparser.UPlusStr:
			if !a.Type().IsNumeric() && a.Type().Kind != catalog.KindNull {
				return nil, sqlstate.Errorf(sqlstate.UndefinedFunction, "operator does not exist: + %s", a.Type())
			}
			return a, nil
		case sqlparser.UMinusStr:
			return b.negate(a)
		}
		return nil, b.unsupported(fmt.Sprintf("operator %s", strings.TrimSpace(e.Operator)))
	case *sqlparser.ConvertExpr:
		return b.cast(ctx, e)
	case *sqlparser.FuncExpr:
		return b.funcCall(ctx, e)
	case *sqlparser.Subquery:
		return b.scalarSubquery(ctx, e)
	case *sqlparser.ExistsExpr:
		if ctx.plan == nil {
			return nil, b.unsupported("EXISTS outside a WHERE conjunct or a select list")
		}
		return b.markExists(ctx, e)
	case *sqlparser.CaseExpr:
		return b.caseExpr(ctx, e)
	case *sqlparser.ExtractFuncExpr:
		return b.extract(ctx, e)
	case *sqlparser.SubstrExpr:
		return b.substr(ctx, e)
	case *sqlparser.TrimExpr:
		return b.trimExpr(ctx, e)
	case *sqlparser.IntervalExpr:
		return nil, b.unsupported("INTERVAL outside date arithmetic with a constant")
	case *sqlparser.CollateExpr:
		return nil, b.unsupported("COLLATE")
	case sqlparser.ValTuple:
		return nil, b.unsupported("row values")
	case *sqlparser.Default:
		return nil, b.unsupported("DEFAULT")
	}
	return nil, b.unsupported(fmt.Sprintf("expression %s", sqlparser.String(e)))
}

func opName(op LogicOp) string {
	if op == OpOr {
		return "OR"
	}
	return "AND"
}

// boolExpr binds e and requires a BOOLEAN (or NULL) result.
func (b *binder) boolExpr(ctx *exprCtx, e sqlparser.Expr, what string) (Expr, error) {
	x, err := b.expr(ctx, e)
	if err != nil {
		return nil, err
	}
	return b.requireBool(x, what)
}

func (b *binder) requireBool(x Expr, what string) (Expr, error) {
	switch x.Type().Kind {
	case catalog.KindBoolean:
		return x, nil
	case catalog.KindNull:
		return nullOf(x, catalog.Boolean), nil
	case catalog.KindVarchar:
		if l, ok := x.(*Literal); ok {
			return CastLiteral(l, catalog.Boolean)
		}
	}
	return nil, sqlstate.Errorf(sqlstate.DatatypeMismatch, "argument of %s must be type BOOLEAN, not type %s", what, x.Type())
}

// coerce converts x to type t: literals at bind time, other expressions by
// a Cast. It does not check that the conversion is allowed.
func coerce(x Expr, t catalog.Type) (Expr, error) {
	if x.Type() == t {
		return x, nil
	}
	if p, ok := x.(*Param); ok && p.Typ.Kind == catalog.KindNull && t.Kind != catalog.KindNull {
		return typeParam(p, t), nil
	}
	if l, ok := x.(*Literal); ok {
		out, err := CastLiteral(l, t)
		if err != nil {
			return nil, err
		}
		if out != nil {
			return out, nil
		}
	}
	return &Cast{Arg: x, To: t}, nil
}

// unify gives l and r a common type for a comparison or arithmetic: it
// applies the literal rules of the package doc and widens otherwise. keepDec
// leaves two DECIMALs of different precision alone.
func (b *binder) unify(l, r Expr, keepDec bool, op string) (Expr, Expr, error) {
	l, r = inferParams(l, r)
	lt, rt := l.Type(), r.Type()
	if lt.Kind == catalog.KindNull && rt.Kind == catalog.KindNull {
		return l, r, nil
	}
	if keepDec && lt.Kind == catalog.KindDecimal && rt.Kind == catalog.KindDecimal {
		return l, r, nil
	}
	if lt == rt || (lt.Kind == catalog.KindVarchar && rt.Kind == catalog.KindVarchar) {
		return l, r, nil
	}
	ll, lok := l.(*Literal)
	rl, rok := r.(*Literal)
	// A string literal or NULL takes the type of the other operand.
	if lok && (lt.Kind == catalog.KindVarchar || lt.Kind == catalog.KindNull) && rt.Kind != catalog.KindNull {
		if rt.Kind != catalog.KindVarchar {
			x, err := CastLiteral(ll, rt)
			if err != nil {
				return nil, nil, err
			}
			if x != nil {
				return x, r, nil
			}
		}
	}
	if rok && (rt.Kind == catalog.KindVarchar || rt.Kind == catalog.KindNull) && lt.Kind != catalog.KindNull {
		if lt.Kind != catalog.KindVarchar {
			x, err := CastLiteral(rl, lt)
			if err != nil {
				return nil, nil, err
			}
			if x != nil {
				return l, x, nil
			}
		}
	}
	// A numeric literal keeps the other operand's type when exact.
	if rok && !lok {
		if x := exactLiteral(rl, lt); x != nil {
			return l, x, nil
		}
	}
	if lok && !rok {
		if x := exactLiteral(ll, rt); x != nil {
			return x, r, nil
		}
	}
	t, ok := CommonType(lt, rt)
	if !ok {
		return nil, nil, sqlstate.Errorf(sqlstate.DatatypeMismatch, "operator does not exist: %s %s %s", lt, op, rt)
	}
	if keepDec && t.Kind == catalog.KindDecimal {
		// Integers become DECIMAL(p,0); decimals stay as they are.
		var err error
		if lt.Kind != catalog.KindDecimal {
			if l, err = coerce(l, integerDecimal(lt)); err != nil {
				return nil, nil, err
			}
		}
		if rt.Kind != catalog.KindDecimal {
			if r, err = coerce(r, integerDecimal(rt)); err != nil {
				return nil, nil, err
			}
		}
		return l, r, nil
	}
	var err error
	if l, err = coerce(l, t); err != nil {
		return nil, nil, err
	}
	if r, err = coerce(r, t); err != nil {
		return nil, nil, err
	}
	return l, r, nil
}

func (b *binder) comparison(ctx *exprCtx, e *sqlparser.ComparisonExpr) (Expr, error) {
	l, err := b.expr(ctx, e.Left)
	if err != nil {
		return nil, err
	}
	switch e.Operator {
	case sqlparser.InStr, sqlparser.NotInStr:
		tuple, ok := e.Right.(sqlparser.ValTuple)
		if sq, isSub := e.Right.(*sqlparser.Subquery); isSub && ctx.plan != nil {
			return b.markIn(ctx, l, sq, e.Operator == sqlparser.NotInStr)
		}
		if !ok {
			return nil, b.unsupported("IN (subquery) outside a WHERE conjunct or a select list")
		}
		return b.in(ctx, l, tuple, e.Operator == sqlparser.NotInStr)
	case sqlparser.LikeStr, sqlparser.NotLikeStr:
		if isUntypedParam(l) {
			l = nullOf(l, catalog.Varchar)
		}
		if l.Type().Kind != catalog.KindVarchar && l.Type().Kind != catalog.KindNull {
			return nil, sqlstate.Errorf(sqlstate.UndefinedFunction, "operator does not exist: %s LIKE", l.Type())
		}
		r, err := b.expr(ctx, e.Right)
		if err != nil {
			return nil, err
		}
		pl, ok := r.(*Literal)
		if !ok || (pl.Typ.Kind != catalog.KindVarchar && !pl.IsNull()) {
			return nil, b.unsupported("LIKE with a pattern that is not a string constant")
		}
		if pl.IsNull() || l.Type().Kind == catalog.KindNull {
			return NewLiteral(catalog.Boolean, nil), nil
		}
		v, _ := literalValue(pl)
		pattern := v.s
		if e.Escape != nil {
			x, err := b.expr(ctx, e.Escape)
			if err != nil {
				return nil, err
			}
			el, ok := x.(*Literal)
			if !ok || el.Typ.Kind != catalog.KindVarchar {
				return nil, b.unsupported("LIKE … ESCAPE with an escape that is not a string constant")
			}
			ev, _ := literalValue(el)
			if pattern, err = escapePattern(pattern, ev.s); err != nil {
				return nil, err
			}
		}
		return &Like{Arg: l, Pattern: pattern, Negate: e.Operator == sqlparser.NotLikeStr, CaseInsensitive: b.p.ilike[e]}, nil
	}
	op, ok := cmpOps[e.Operator]
	if !ok {
		return nil, b.unsupported(fmt.Sprintf("operator %s", strings.ToUpper(e.Operator)))
	}
	r, err := b.expr(ctx, e.Right)
	if err != nil {
		return nil, err
	}
	return b.compare(op, l, r)
}

func (b *binder) compare(op arrowexec.CmpOp, l, r Expr) (Expr, error) {
	l, r, err := b.unify(l, r, true, cmpNames[op])
	if err != nil {
		return nil, err
	}
	if l.Type().Kind == catalog.KindNull || r.Type().Kind == catalog.KindNull {
		return NewLiteral(catalog.Boolean, nil), nil
	}
	return &Compare{Op: op, L: l, R: r}, nil
}

func (b *binder) between(ctx *exprCtx, e *sqlparser.RangeCond) (Expr, error) {
	a, err := b.expr(ctx, e.Left)
	if err != nil {
		return nil, err
	}
	from, err := b.expr(ctx, e.From)
	if err != nil {
		return nil, err
	}
	to, err := b.expr(ctx, e.To)
	if err != nil {
		return nil, err
	}
	if e.Operator == sqlparser.NotBetweenStr {
		lo, err := b.compare(arrowexec.OpLt, a, from)
		if err != nil {
			return nil, err
		}
		hi, err := b.compare(arrowexec.OpGt, a, to)
		if err != nil {
			return nil, err
		}
		return &Logic{Op: OpOr, L: lo, R: hi}, nil
	}
	lo, err := b.compare(arrowexec.OpGe, a, from)
	if err != nil {
		return nil, err
	}
	hi, err := b.compare(arrowexec.OpLe, a, to)
	if err != nil {
		return nil, err
	}
	return &Logic{Op: OpAnd, L: lo, R: hi}, nil
}

func (b *binder) in(ctx *exprCtx, a Expr, tuple sqlparser.ValTuple, negate bool) (Expr, error) {
	list := make([]Expr, len(tuple))
	for i, x := range tuple {
		var err error
		if list[i], err = b.expr(ctx, x); err != nil {
			return nil, err
		}
	}
	// The target type: a's type, widened by non-literal or non-fitting
	// elements.
	t := a.Type()
	for _, x := range list {
		if l, ok := x.(*Literal); ok && t.Kind != catalog.KindNull {
			if l.IsNull() {
				continue
			}
			if l.Typ.Kind == catalog.KindVarchar && t.Kind != catalog.KindVarchar {
				continue // cast to t below
			}
			if exactLiteral(l, t) != nil {
				continue
			}
		}
		nt, ok := CommonType(t, x.Type())
		if !ok {
			return nil, sqlstate.Errorf(sqlstate.DatatypeMismatch, "IN types %s and %s cannot be matched", t, x.Type())
		}
		t = nt
	}
	if t.Kind == catalog.KindNull {
		return NewLiteral(catalog.Boolean, nil), nil
	}
	var err error
	if a, err = coerce(a, t); err != nil {
		return nil, err
	}
	for i := range list {
		if list[i], err = coerce(list[i], t); err != nil {
			return nil, err
		}
	}
	return &In{Arg: a, List: list, Negate: negate}, nil
}

func (b *binder) arith(op arrowexec.ArithOp, l, r Expr, opText string) (Expr, error) {
	l, r, err := b.unify(l, r, true, opText)
	if err != nil {
		return nil, err
	}
	lt, rt := l.Type(), r.Type()
	if lt.Kind == catalog.KindNull && rt.Kind == catalog.KindNull {
		return NewLiteral(catalog.Null, nil), nil
	}
	if !lt.IsNumeric() || !rt.IsNumeric() {
		return nil, sqlstate.Errorf(sqlstate.UndefinedFunction, "operator does not exist: %s %s %s", lt, opText, rt)
	}
	return &Arith{Op: op, L: l, R: r, Typ: ArithType(op, lt, rt)}, nil
}

func (b *binder) negate(a Expr) (Expr, error) {
	t := a.Type()
	if t.Kind == catalog.KindNull {
		return a, nil
	}
	if !t.IsNumeric() {
		return nil, sqlstate.Errorf(sqlstate.UndefinedFunction, "operator does not exist: - %s", t)
	}
	return &Negate{Arg: a}, nil
}

// castType maps a CAST target of the (MySQL-flavoured) grammar to a type.
func castType(ct *sqlparser.ConvertType) (catalog.Type, error) {
	p, s := int32(-1), int32(-1)
	if ct.Length != nil {
		n, err := strconv.Atoi(string(ct.Length.Val))
		if err != nil {
			return catalog.Type{}, sqlstate.Errorf(sqlstate.SyntaxError, "invalid type length %s", ct.Length.Val)
		}
		p = int32(n)
	}
	if ct.Scale != nil {
		n, err := strconv.Atoi(string(ct.Scale.Val))
		if err != nil {
			return catalog.Type{}, sqlstate.Errorf(sqlstate.SyntaxError, "invalid type scale %s", ct.Scale.Val)
		}
		s = int32(n)
	}
	name := strings.ToLower(ct.Type)
	if cs := strings.ToLower(ct.Charset); strings.HasPrefix(cs, castCharsetPrefix) {
		name = strings.TrimPrefix(cs, castCharsetPrefix) // rewritten target (rewrite.go)
	}
	switch name {
	case "signed", "signed integer":
		return catalog.Bigint, nil
	case "double", "double precision":
		return catalog.Double, nil
	case "real", "float4":
		return catalog.Real, nil
	case "float8":
		return catalog.Double, nil
	case "unsigned", "unsigned integer", "time", "binary", "json", "year":
		return catalog.Type{}, sqlstate.Errorf(sqlstate.FeatureNotSupported, "CAST to %s is not supported", strings.ToUpper(name))
	}
	t, err := catalog.TypeByName(name, p, s)
	if err != nil {
		return catalog.Type{}, sqlstate.Wrap(err, sqlstate.UndefinedFunction, "type %q does not exist", name)
	}
	return t, nil
}

// castable reports whether an explicit CAST from f to t is defined.
func castable(f, t catalog.Type) bool {
	switch {
	case f.Kind == catalog.KindNull || f.Kind == t.Kind:
		return true
	case f.Kind == catalog.KindVarchar || t.Kind == catalog.KindVarchar:
		return true
	case f.IsNumeric() && t.IsNumeric():
		return true
	case f.Kind == catalog.KindBoolean && t.IsInteger(), f.IsInteger() && t.Kind == catalog.KindBoolean:
		return true
	case (f.Kind == catalog.KindDate || f.Kind == catalog.KindTimestamp) && (t.Kind == catalog.KindDate || t.Kind == catalog.KindTimestamp):
		return true
	}
	return false
}

func (b *binder) cast(ctx *exprCtx, e *sqlparser.ConvertExpr) (Expr, error) {
	if !strings.EqualFold(e.Name, "cast") && !strings.EqualFold(e.Name, "convert") {
		return nil, b.unsupported(strings.ToUpper(e.Name))
	}
	a, err := b.expr(ctx, e.Expr)
	if err != nil {
		return nil, err
	}
	if e.Type == nil || e.Type.Charset != "" && !strings.HasPrefix(strings.ToLower(e.Type.Charset), castCharsetPrefix) {
		return nil, b.unsupported("CONVERT … USING / CHARACTER SET")
	}
	t, err := castType(e.Type)
	if err != nil {
		return nil, err
	}
	if !castable(a.Type(), t) {
		return nil, sqlstate.Errorf(sqlstate.DatatypeMismatch, "cannot cast type %s to %s", a.Type(), t)
	}
	return coerce(a, t)
}

func (b *binder) funcCall(ctx *exprCtx, e *sqlparser.FuncExpr) (Expr, error) {
	name := strings.ToLower(e.Name.String())
	if e.Over != nil {
		return b.windowCall(ctx, name, e)
	}
	if derivedAggs[name] && e.Qualifier.IsEmpty() {
		return b.derivedAgg(ctx, name, e)
	}
	if name == "string_agg" && e.Qualifier.IsEmpty() {
		return b.stringAgg(ctx, e)
	}
	fn, ok := aggFuncs[name]
	if !ok && e.Qualifier.IsEmpty() {
		if x, err := b.scalarFunc(ctx, name, e); x != nil || err != nil {
			return x, err
		}
	}
	if !ok && e.Qualifier.IsEmpty() && unsupportedAggs[name] {
		return nil, b.unsupported("aggregate " + strings.ToUpper(name))
	}
	if !ok || !e.Qualifier.IsEmpty() {
		return nil, b.errAt(e.Name.String(), sqlstate.UndefinedFunction, "function %s does not exist", name)
	}
	if !ctx.allowAgg {
		return nil, b.errAt(e.Name.String(), sqlstate.GroupingError, "aggregate functions are not allowed in %s", ctx.clause)
	}
	if ctx.inAgg {
		return nil, b.errAt(e.Name.String(), sqlstate.GroupingError, "aggregate function calls cannot be nested")
	}
	if len(e.Exprs) != 1 {
		return nil, sqlstate.Errorf(sqlstate.UndefinedFunction, "function %s takes exactly one argument", name)
	}
	if _, star := e.Exprs[0].(*sqlparser.StarExpr); star {
		if fn != arrowexec.AggCount || e.Distinct {
			return nil, sqlstate.Errorf(sqlstate.SyntaxError, "%s(*) is not valid", name)
		}
		return &AggCall{Func: arrowexec.AggCountStar, Typ: catalog.Bigint}, nil
	}
	ae, ok := e.Exprs[0].(*sqlparser.AliasedExpr)
	if !ok {
		return nil, b.unsupported(fmt.Sprintf("argument of %s", name))
	}
	inner := *ctx
	inner.inAgg = true
	arg, err := b.expr(&inner, ae.Expr)
	if err != nil {
		return nil, err
	}
	if isUntypedParam(arg) {
		return nil, sqlstate.Errorf(sqlstate.IndeterminateDatatype, "could not determine data type of parameter %s", arg)
	}
	if arg.Type().Kind == catalog.KindNull {
		arg = NewLiteral(catalog.Bigint, nil)
	}
	rt, ok := AggType(fn, arg.Type())
	if !ok {
		return nil, b.errAt(e.Name.String(), sqlstate.UndefinedFunction, "function %s(%s) does not exist", name, arg.Type())
	}
	return &AggCall{Func: fn, Arg: arg, Distinct: e.Distinct, Typ: rt, Null: fn != arrowexec.AggCount}, nil
}

// escapePattern rewrites a LIKE pattern with escape character esc (""
// means none) into the executor's form, whose escape is a backslash.
func escapePattern(p, esc string) (string, error) {
	if esc == `\` {
		return p, nil
	}
	if utf8.RuneCountInString(esc) > 1 {
		return "", sqlstate.Errorf(sqlstate.InvalidEscapeSequence, "invalid escape string: it must be empty or one character")
	}
	e, _ := utf8.DecodeRuneInString(esc)
	var sb strings.Builder
	for i := 0; i < len(p); {
		r, sz := utf8.DecodeRuneInString(p[i:])
		i += sz
		switch {
		case esc != "" && r == e:
			if i >= len(p) {
				return "", sqlstate.Errorf(sqlstate.InvalidEscapeSequence, "LIKE pattern must not end with escape character")
			}
			r, sz = utf8.DecodeRuneInString(p[i:])
			i += sz
			sb.WriteByte('\\')
			sb.WriteRune(r)
		case r == '\\':
			sb.WriteString(`\\`)
		default:
			sb.WriteRune(r)
		}
	}
	return sb.String(), nil
}

// unsupportedAggs are standard aggregates MantisDB does not implement yet;
// they are refused with 0A000 rather than "does not exist".
var unsupportedAggs = map[string]bool{
	"array_agg": true, "listagg": true, "percentile_cont": true, "percentile_disc": true,
	"mode": true, "median": true, "corr": true, "covar_pop": true, "covar_samp": true,
}
