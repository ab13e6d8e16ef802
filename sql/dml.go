package sql

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// assignable reports whether a value of type f may be stored in a column of
// type t (with an implicit cast).
func assignable(f, t catalog.Type) bool {
	switch {
	case f.Kind == catalog.KindNull || f.Kind == t.Kind:
		return true
	case f.IsNumeric() && t.IsNumeric():
		return true
	case (f.Kind == catalog.KindDate || f.Kind == catalog.KindTimestamp) && (t.Kind == catalog.KindDate || t.Kind == catalog.KindTimestamp):
		return true
	}
	return false
}

// assign converts x to the type of column col of t for INSERT and UPDATE.
func (b *binder) assign(x Expr, t *catalog.Table, col int) (Expr, error) {
	c := t.Columns[col]
	if p, ok := x.(*Param); ok {
		p.slot.notNull = p.slot.notNull || c.NotNull || t.IsKeyColumn(col)
		if p.Typ.Kind == catalog.KindNull {
			return coerce(x, c.Type)
		}
	}
	if l, ok := x.(*Literal); ok {
		if l.IsNull() {
			if c.NotNull || t.IsKeyColumn(col) {
				return nil, sqlstate.Errorf(sqlstate.NotNullViolation, "null value in column %q violates not-null constraint", c.Name)
			}
			return NewLiteral(c.Type, nil), nil
		}
		if l.Typ.Kind == catalog.KindVarchar || assignable(l.Typ, c.Type) {
			out, err := CastLiteral(l, c.Type)
			if err != nil {
				return nil, fmt.Errorf("column %q: %w", c.Name, err)
			}
			if out != nil {
				if c.Type.Kind == catalog.KindVarchar && c.Type.Length > 0 {
					v, _ := literalValue(out)
					if utf8.RuneCountInString(v.s) > int(c.Type.Length) {
						return nil, sqlstate.Errorf(sqlstate.StringDataTooLong, "value too long for type %s of column %q", c.Type, c.Name)
					}
				}
				return out, nil
			}
		}
	}
	if !assignable(x.Type(), c.Type) {
		return nil, sqlstate.Errorf(sqlstate.DatatypeMismatch, "column %q is of type %s but expression is of type %s", c.Name, c.Type, x.Type())
	}
	if x.Type() == c.Type {
		return x, nil
	}
	return &Cast{Arg: x, To: c.Type}, nil
}

func (b *binder) bindInsert(s *sqlparser.Insert) (Statement, error) {
	switch {
	case s.Action == sqlparser.ReplaceStr:
		return nil, b.unsupported("REPLACE")
	case s.With != nil:
		return nil, b.unsupported("WITH")
	case s.Ignore != "" && len(s.OnDup) > 0:
		return nil, b.unsupportedAt("INSERT IGNORE … ON DUPLICATE KEY UPDATE", "ignore")
	case len(s.Partitions) > 0:
		return nil, b.unsupported("PARTITION")
	case len(s.Returning) > 0:
		return nil, b.unsupported("RETURNING")
	}
	t, err := b.table(s.Table)
	if err != nil {
		return nil, err
	}
	if t.System {
		return nil, readOnly(t)
	}
	var rows sqlparser.Values
	var sel sqlparser.SelectStatement
	switch r := s.Rows.(type) {
	case sqlparser.Values:
		rows = r
	case *sqlparser.AliasedValues:
		if !r.As.IsEmpty() || len(r.Columns) > 0 {
			return nil, b.unsupported("aliased VALUES")
		}
		rows = r.Values
	case sqlparser.SelectStatement:
		sel = r
	default:
		return nil, b.unsupported(fmt.Sprintf("INSERT source %T", s.Rows))
	}
	// target[i] is the table column of value i.
	var target []int
	if len(s.Columns) == 0 {
		for i := range t.Columns {
			target = append(target, i)
		}
	} else {
		seen := make(map[int]bool)
		for _, c := range s.Columns {
			i := t.ColumnIndex(c.String())
			if i < 0 {
				return nil, b.errAt(c.String(), sqlstate.UndefinedColumn, "column %q of relation %q does not exist", c.String(), t.Name)
			}
			if seen[i] {
				return nil, b.errAt(c.String(), sqlstate.DuplicateColumn, "column %q specified more than once", c.String())
			}
			seen[i] = true
			target = append(target, i)
		}
		for i, c := range t.Columns {
			if !seen[i] && (c.NotNull || t.IsKeyColumn(i)) && c.Default == nil {
				return nil, sqlstate.Errorf(sqlstate.NotNullViolation, "null value in column %q violates not-null constraint", c.Name)
			}
		}
	}
	st, err := b.insertRows(t, target, rows, sel)
	if err != nil {
		return nil, err
	}
	switch {
	case s.Ignore != "":
		st.OnConflict = ConflictIgnore
	case len(s.OnDup) > 0:
		st.OnConflict = ConflictUpdate
		if st.Set, err = b.bindOnDup(t, s.OnDup); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// insertRows binds the rows of INSERT: VALUES rows, or the query sel.
func (b *binder) insertRows(t *catalog.Table, target []int, rows sqlparser.Values, sel sqlparser.SelectStatement) (*Insert, error) {
	if sel != nil {
		return b.insertSelect(t, target, sel)
	}
	var err error
	ctx := &exprCtx{clause: "VALUES"}
	out := make([][]Expr, len(rows))
	for r, tuple := range rows {
		if len(tuple) > len(target) {
			return nil, sqlstate.Errorf(sqlstate.SyntaxError, "INSERT has more expressions than target columns")
		}
		if len(tuple) < len(target) {
			return nil, sqlstate.Errorf(sqlstate.SyntaxError, "INSERT has more target columns than expressions")
		}
		row := make([]Expr, len(t.Columns))
		for i := range row {
			if row[i], err = columnDefault(t, i); err != nil {
				return nil, err
			}
		}
		for i, v := range tuple {
			var x Expr
			if _, def := v.(*sqlparser.Default); def {
				if x, err = columnDefault(t, target[i]); err != nil {
					return nil, err
				}
			} else if x, err = b.expr(ctx, v); err != nil {
				return nil, err
			}
			if row[target[i]], err = b.assign(x, t, target[i]); err != nil {
				return nil, err
			}
		}
		out[r] = row
	}
	cols := make([]Column, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = Column{Name: c.Name, Type: c.Type, Nullable: !c.NotNull}
	}
	return &Insert{Table: t, Plan: &Values{Cols: cols, Rows: out}}, nil
}

// dmlInput binds the table and WHERE clause of UPDATE and DELETE into a
// key-carrying scan of every column, filtered.
func (b *binder) dmlInput(from sqlparser.TableExprs, where *sqlparser.Where) (*scope, Node, error) {
	sc, err := b.from(from)
	if err != nil {
		return nil, nil, err
	}
	if sc == nil {
		return nil, nil, sqlstate.Errorf(sqlstate.SyntaxError, "missing table")
	}
	if sc.table.System {
		return nil, nil, readOnly(sc.table)
	}
	all := make([]int, len(sc.table.Columns))
	for i := range all {
		all[i] = i
	}
	var n Node = &Scan{Table: sc.table, Cols: all, WithKey: true}
	if where == nil {
		return sc, n, nil
	}
	// As in SELECT: conjuncts with subqueries become semi, anti or
	// decorrelating joins that keep the scan's columns (and key) first.
	var plain []Expr
	var subConjs []sqlparser.Expr
	for _, c := range splitAndAST(where.Expr, nil) {
		if hasSubquery(c) {
			subConjs = append(subConjs, c)
			continue
		}
		x, err := b.boolExpr(&exprCtx{sc: sc, clause: "WHERE"}, c, "WHERE")
		if err != nil {
			return nil, nil, err
		}
		plain = append(plain, x)
	}
	if len(plain) > 0 {
		n = &Filter{Input: n, Pred: andAll(plain)}
	}
	for _, c := range subConjs {
		var pred Expr
		var err error
		if n, pred, err = b.whereSubquery(n, sc, c); err != nil {
			return nil, nil, err
		}
		if pred != nil {
			n = &Filter{Input: n, Pred: pred}
		}
	}
	return sc, n, nil
}

func keyRef(t *catalog.Table) *ColumnRef {
	return &ColumnRef{Idx: len(t.Columns), Name: KeyColumnName}
}

func (b *binder) bindUpdate(s *sqlparser.Update) (Statement, error) {
	switch {
	case s.With != nil:
		return nil, b.unsupported("WITH")
	case s.Ignore != "":
		return nil, b.unsupported("UPDATE IGNORE")
	case len(s.OrderBy) > 0:
		return nil, b.unsupported("UPDATE … ORDER BY")
	case s.Limit != nil:
		return nil, b.unsupported("UPDATE … LIMIT")
	case len(s.Returning) > 0:
		return nil, b.unsupported("RETURNING")
	}
	sc, input, err := b.dmlInput(s.TableExprs, s.Where)
	if err != nil {
		return nil, err
	}
	t := sc.table
	exprs := make([]Expr, 1+len(t.Columns))
	names := make([]string, 1+len(t.Columns))
	exprs[0], names[0] = keyRef(t), KeyColumnName
	for i, c := range t.Columns {
		exprs[1+i] = &ColumnRef{Idx: i, Name: c.Name, Typ: c.Type, Null: !c.NotNull}
		names[1+i] = c.Name
	}
	set := make(map[int]bool)
	ctx := &exprCtx{sc: sc, clause: "UPDATE"}
	for _, a := range s.Exprs {
		i, err := b.assignTarget(a, t, sc.alias, set)
		if err != nil {
			return nil, err
		}
		var x Expr
		if _, def := a.Expr.(*sqlparser.Default); def {
			x = NewLiteral(catalog.Null, nil)
		} else if x, err = b.expr(ctx, a.Expr); err != nil {
			return nil, err
		}
		if exprs[1+i], err = b.assign(x, t, i); err != nil {
			return nil, err
		}
	}
	return &Update{Table: t, Plan: &Project{Input: input, Exprs: exprs, Names: names}}, nil
}

func (b *binder) bindDelete(s *sqlparser.Delete) (Statement, error) {
	switch {
	case s.With != nil:
		return nil, b.unsupported("WITH")
	case len(s.Targets) > 0:
		return nil, b.unsupported("multi-table DELETE")
	case len(s.Partitions) > 0:
		return nil, b.unsupported("PARTITION")
	case len(s.OrderBy) > 0:
		return nil, b.unsupported("DELETE … ORDER BY")
	case s.Limit != nil:
		return nil, b.unsupported("DELETE … LIMIT")
	case len(s.Returning) > 0:
		return nil, b.unsupported("RETURNING")
	}
	sc, input, err := b.dmlInput(s.TableExprs, s.Where)
	if err != nil {
		return nil, err
	}
	return &Delete{Table: sc.table, Plan: &Project{Input: input, Exprs: []Expr{keyRef(sc.table)}, Names: []string{KeyColumnName}}}, nil
}

// columnDefault returns the value an INSERT gives column i of t when it
// omits it or says DEFAULT: the column's default, or NULL.
func columnDefault(t *catalog.Table, i int) (*Literal, error) {
	c := &t.Columns[i]
	v, err := c.DefaultScalar()
	if err != nil {
		return nil, sqlstate.Errorf(sqlstate.Internal, "table %q: %v", t.Name, err)
	}
	if v == nil {
		return NewLiteral(c.Type, nil), nil
	}
	return &Literal{Value: v, Typ: c.Type}, nil
}

// insertSelect binds INSERT … SELECT: the query's rows, cast to the
// table's columns in order (omitted columns take their default).
func (b *binder) insertSelect(t *catalog.Table, target []int, sel sqlparser.SelectStatement) (*Insert, error) {
	plan, err := b.queryPlan(sel, nil)
	if err != nil {
		return nil, err
	}
	cols := plan.Columns()
	if len(cols) > len(target) {
		return nil, sqlstate.Errorf(sqlstate.SyntaxError, "INSERT has more expressions than target columns")
	}
	if len(cols) < len(target) {
		return nil, sqlstate.Errorf(sqlstate.SyntaxError, "INSERT has more target columns than expressions")
	}
	exprs := make([]Expr, len(t.Columns))
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		if exprs[i], err = columnDefault(t, i); err != nil {
			return nil, err
		}
		names[i] = c.Name
	}
	for k, i := range target {
		c := cols[k]
		ref := Expr(&ColumnRef{Idx: k, Name: c.Name, Typ: c.Type, Null: c.Nullable})
		if c.Type.Kind == catalog.KindNull || isNullItem(plan, k) {
			// A bare NULL in the select list takes the column's type.
			ref = NewLiteral(catalog.Null, nil)
		}
		if exprs[i], err = b.assign(ref, t, i); err != nil {
			return nil, err
		}
	}
	return &Insert{Table: t, Plan: &Project{Input: plan, Exprs: exprs, Names: names}}, nil
}

// isNullItem reports whether output k of a query plan is a NULL constant
// (which the binder types VARCHAR when nothing else gives it a type).
func isNullItem(plan Node, k int) bool {
	p, ok := plan.(*Project)
	if !ok {
		return false
	}
	l, ok := p.Exprs[k].(*Literal)
	if !ok {
		if c, isCast := p.Exprs[k].(*Cast); isCast {
			l, ok = c.Arg.(*Literal)
		}
	}
	return ok && l.IsNull()
}

// assignTarget resolves the column that assignment a of UPDATE … SET or ON
// DUPLICATE KEY UPDATE writes in t (qualified, if at all, by qual) and
// marks it in assigned; a column assigned twice is 42701.
func (b *binder) assignTarget(a *sqlparser.AssignmentExpr, t *catalog.Table, qual string, assigned map[int]bool) (int, error) {
	name := a.Name.Name.String()
	if !a.Name.Qualifier.IsEmpty() && !strings.EqualFold(a.Name.Qualifier.Name.String(), qual) {
		q := a.Name.Qualifier.Name.String()
		return 0, b.errAt(q, sqlstate.UndefinedTable, "missing FROM-clause entry for table %q", q)
	}
	i := t.ColumnIndex(name)
	if i < 0 {
		return 0, b.errAt(name, sqlstate.UndefinedColumn, "column %q of relation %q does not exist", name, t.Name)
	}
	if assigned[i] {
		return 0, b.errAt(name, sqlstate.DuplicateColumn, "multiple assignments to same column %q", name)
	}
	assigned[i] = true
	return i, nil
}
