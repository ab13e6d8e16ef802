package sql

import (
	"strings"

	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// CreateView creates View (ID unset), or replaces a view of the same name
// when OrReplace.
type CreateView struct {
	View      *catalog.View
	OrReplace bool
}

// DropView drops views. Views[i] is the view named Names[i], nil when it
// does not exist and IfExists.
type DropView struct {
	Names    []string
	Views    []*catalog.View
	IfExists bool
}

func (*CreateView) statement() {}
func (*DropView) statement()   {}

// maxViewDepth bounds how deeply views may name views, which also stops a
// view that (after CREATE OR REPLACE) names itself.
const maxViewDepth = 32

// unsupportedAt is unsupported located at the first token spelled kw.
func (b *binder) unsupportedAt(what, kw string) error {
	e := sqlstate.Errorf(sqlstate.FeatureNotSupported, "%s is not supported", what)
	for _, t := range b.p.tokens {
		if strings.EqualFold(t.val, kw) {
			return e.At(sqlstate.PositionAt(b.p.Text, t.start))
		}
	}
	return e
}

func (b *binder) bindCreateView(d *sqlparser.DDL) (Statement, error) {
	vs := d.ViewSpec
	switch {
	case !vs.ViewName.DbQualifier.IsEmpty() || !vs.ViewName.SchemaQualifier.IsEmpty():
		err, _ := b.qualifiedName(vs.ViewName, "create", "view")
		return nil, err
	case vs.Algorithm != "":
		return nil, b.unsupportedAt("ALGORITHM", "algorithm")
	case vs.Definer != "":
		return nil, b.unsupportedAt("DEFINER", "definer")
	case vs.Security != "":
		return nil, b.unsupportedAt("SQL SECURITY", "security")
	case vs.CheckOption != sqlparser.ViewCheckOptionUnspecified:
		return nil, b.unsupportedAt("WITH CHECK OPTION", "check")
	}
	name := vs.ViewName.Name.String()
	// The query text is everything after the first AS of the statement
	// (a column list has none); binding it checks it now, and every use
	// binds it again.
	start := -1
	for _, t := range b.p.tokens {
		if t.typ == sqlparser.AS {
			start = t.end
			break
		}
	}
	if start < 0 {
		return nil, sqlstate.Errorf(sqlstate.SyntaxError, "CREATE VIEW %q has no AS", name)
	}
	text := strings.TrimSpace(b.p.Text[start:])
	text = strings.TrimSpace(strings.TrimRight(text, "; \t\r\n"))
	plan, err := b.queryPlan(vs.ViewExpr, nil)
	if err != nil {
		return nil, err
	}
	if len(b.params) > 0 {
		return nil, b.unsupported("parameters in CREATE VIEW")
	}
	cols := plan.Columns()
	v := &catalog.View{Name: name, Query: text}
	if len(vs.Columns) > 0 {
		if len(vs.Columns) != len(cols) {
			return nil, sqlstate.Errorf(sqlstate.InvalidTableDef, "view %q has %d column names but its query has %d columns", name, len(vs.Columns), len(cols))
		}
		for _, c := range vs.Columns {
			v.Columns = append(v.Columns, c.String())
		}
	}
	names := v.Columns
	if names == nil {
		for _, c := range cols {
			names = append(names, c.Name)
		}
	}
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if seen[strings.ToLower(n)] {
			return nil, b.errAt(n, sqlstate.DuplicateColumn, "column %q specified more than once in view %q", n, name)
		}
		seen[strings.ToLower(n)] = true
	}
	if t, ok := b.cat.Table(name); ok {
		return nil, b.errAt(name, sqlstate.DuplicateTable, "relation %q already exists and is a table", t.Name)
	}
	if _, ok := b.cat.View(name); ok && !d.OrReplace {
		return nil, b.errAt(name, sqlstate.DuplicateTable, "view %q already exists", name)
	}
	return &CreateView{View: v, OrReplace: d.OrReplace}, nil
}

func (b *binder) bindDropView(d *sqlparser.DDL) (Statement, error) {
	out := &DropView{IfExists: d.IfExists}
	for _, tn := range d.FromViews {
		if system, _ := systemQualified(tn); system {
			if t, ok := b.cat.SystemTable(tn.Name.String()); ok {
				return nil, readOnly(t)
			}
		}
		if err, ok := b.qualifiedName(tn, "drop", "view"); ok {
			return nil, err
		}
		name := tn.Name.String()
		v, ok := b.cat.View(name)
		if !ok && !d.IfExists {
			if _, isTable := b.cat.Table(name); isTable {
				return nil, b.errAt(name, sqlstate.WrongObjectType, "%q is a table, not a view; use DROP TABLE", name)
			}
			return nil, b.errAt(name, sqlstate.UndefinedTable, "view %q does not exist", name)
		}
		out.Names = append(out.Names, name)
		out.Views = append(out.Views, v)
	}
	return out, nil
}

// viewItem binds a view named in FROM as a derived table: its stored query
// is parsed and bound again against the catalog, so it sees the tables as
// they are now.
func (b *binder) viewItem(v *catalog.View, alias string) (fromItem, error) {
	if b.views == nil {
		b.views = map[*catalog.View]Node{}
	}
	if plan, ok := b.views[v]; ok {
		return b.viewCols(v, plan, alias)
	}
	if b.depth >= maxViewDepth {
		return fromItem{}, b.errAt(v.Name, sqlstate.InvalidObjectDefinition, "view %q nests views more than %d deep (does it name itself?)", v.Name, maxViewDepth)
	}
	p, err := Parse(v.Query)
	if err != nil {
		return fromItem{}, b.viewError(v, err)
	}
	sel, ok := p.Stmt.(sqlparser.SelectStatement)
	if !ok {
		return fromItem{}, b.errAt(v.Name, sqlstate.InvalidObjectDefinition, "view %q is not a query", v.Name)
	}
	vb := &binder{p: p, cat: b.cat, depth: b.depth + 1, views: b.views}
	plan, err := vb.queryPlan(sel, nil)
	if err != nil {
		return fromItem{}, b.viewError(v, err)
	}
	if len(vb.params) > 0 {
		return fromItem{}, b.errAt(v.Name, sqlstate.InvalidObjectDefinition, "view %q has parameters", v.Name)
	}
	b.views[v] = plan
	return b.viewCols(v, plan, alias)
}

// viewCols returns the FROM item of view v bound to plan under alias.
func (b *binder) viewCols(v *catalog.View, plan Node, alias string) (fromItem, error) {
	cols := colsOf(plan, alias)
	if len(v.Columns) > 0 {
		if len(v.Columns) != len(cols) {
			return fromItem{}, b.errAt(v.Name, sqlstate.InvalidObjectDefinition,
				"view %q has %d column names but its query now has %d columns", v.Name, len(v.Columns), len(cols))
		}
		for i, c := range v.Columns {
			cols[i].name = c
		}
	}
	return fromItem{plan: plan, cols: cols}, nil
}

// viewError reports an error binding view v's query where the view is
// named, keeping the error's code: a table the view reads that was dropped
// is 42P01, a column that was dropped 42703.
func (b *binder) viewError(v *catalog.View, err error) error {
	code := sqlstate.InvalidObjectDefinition
	msg := err.Error()
	if e, ok := err.(*sqlstate.Error); ok {
		code, msg = e.Code, e.Message
	}
	return b.errAt(v.Name, code, "view %q cannot be used: %s", v.Name, msg)
}
