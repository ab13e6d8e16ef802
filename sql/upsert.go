package sql

import (
	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/mantisdb/mantisdb/catalog"
)

// Conflict says what an INSERT does with a row whose primary key is
// already taken (by a committed row or an earlier row of the statement).
type Conflict uint8

// Conflict actions.
const (
	// ConflictError fails the statement with 23505 (plain INSERT).
	ConflictError Conflict = iota
	// ConflictIgnore skips the row (INSERT IGNORE).
	ConflictIgnore
	// ConflictUpdate updates the existing row by Insert.Set (INSERT … ON
	// DUPLICATE KEY UPDATE).
	ConflictUpdate
)

// valuesQual is the qualifier of the inserted row's columns in the scope
// of ON DUPLICATE KEY UPDATE: no identifier a user can write, so the
// columns are reached through VALUES(col) only.
const valuesQual = "\x00values"

// bindOnDup binds the assignments of ON DUPLICATE KEY UPDATE into one
// expression per column of t over the existing row's columns followed by
// the inserted row's (VALUES(col)); unassigned columns keep their value.
func (b *binder) bindOnDup(t *catalog.Table, dup sqlparser.OnDup) ([]Expr, error) {
	sc := tableScope(t, t.Name)
	for _, c := range t.Columns {
		sc.cols = append(sc.cols, scopeCol{qual: valuesQual, name: c.Name, typ: c.Type, null: !c.NotNull, hidden: true})
	}
	set := make([]Expr, len(t.Columns))
	for i, c := range t.Columns {
		set[i] = &ColumnRef{Idx: i, Name: c.Name, Typ: c.Type, Null: !c.NotNull}
	}
	assigned := make(map[int]bool)
	ctx := &exprCtx{sc: sc, clause: onDupClause}
	for _, a := range dup {
		i, err := b.assignTarget(a, t, t.Name, assigned)
		if err != nil {
			return nil, err
		}
		var x Expr
		if _, def := a.Expr.(*sqlparser.Default); def {
			x = NewLiteral(catalog.Null, nil)
		} else if hasSubquery(a.Expr) {
			return nil, b.unsupportedAt("a subquery in ON DUPLICATE KEY UPDATE", "select")
		} else if x, err = b.expr(ctx, a.Expr); err != nil {
			return nil, err
		}
		if set[i], err = b.assign(x, t, i); err != nil {
			return nil, err
		}
	}
	return set, nil
}

// valuesFunc binds VALUES(col) of ON DUPLICATE KEY UPDATE: the value the
// statement tried to insert into col.
func (b *binder) valuesFunc(ctx *exprCtx, e *sqlparser.ValuesFuncExpr) (Expr, error) {
	if ctx.clause != onDupClause || e.Name == nil {
		return nil, b.unsupportedAt("VALUES() outside ON DUPLICATE KEY UPDATE", "values")
	}
	return b.column(ctx, &sqlparser.ColName{Name: e.Name.Name, Qualifier: sqlparser.TableName{Name: sqlparser.NewTableIdent(valuesQual)}})
}

const onDupClause = "ON DUPLICATE KEY UPDATE"
