package sql

import (
	"strings"

	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// Truncate removes every row of Table.
type Truncate struct {
	Table *catalog.Table
}

// CreateTableAs creates Table (ID unset) with the columns of Plan's output
// and inserts Plan's rows, whose columns are exactly the table's.
type CreateTableAs struct {
	Table       *catalog.Table
	Plan        Node
	IfNotExists bool
}

// AlterOp is one change of an ALTER TABLE.
type AlterOp struct {
	Kind AlterKind
	// Column is the column added (AlterAddColumn).
	Column catalog.Column
	// Name is the column dropped or renamed, or the new table name
	// (AlterRenameTable).
	Name string
	// To is the new name of a renamed column.
	To string
}

// AlterKind is the kind of an AlterOp.
type AlterKind int

// Kinds of ALTER TABLE changes.
const (
	AlterAddColumn AlterKind = iota
	AlterDropColumn
	AlterRenameColumn
	AlterRenameTable
)

// AlterTable changes Table's descriptor by Ops, in order. The changes are
// checked again against the descriptor current when the statement runs.
type AlterTable struct {
	Table *catalog.Table
	Ops   []AlterOp
}

// CreateIndex records a bitmap index Name on column Column of Table.
type CreateIndex struct {
	Table  *catalog.Table
	Name   string
	Column string
}

// DropIndex removes index Name of Table.
type DropIndex struct {
	Table *catalog.Table
	Name  string
}

func (*Truncate) statement()      {}
func (*CreateTableAs) statement() {}
func (*AlterTable) statement()    {}
func (*CreateIndex) statement()   {}
func (*DropIndex) statement()     {}

func (b *binder) bindTruncate(d *sqlparser.DDL) (Statement, error) {
	t, err := b.table(d.Table)
	if err != nil {
		return nil, err
	}
	return &Truncate{Table: t}, nil
}

// bindCreateTableAs binds CREATE TABLE t AS SELECT: the table's columns
// are the query's output columns, named and typed as the query's, all
// nullable.
func (b *binder) bindCreateTableAs(d *sqlparser.DDL) (Statement, error) {
	if err, ok := b.qualifiedName(d.Table, "create", "table"); ok {
		return nil, err
	}
	name := d.Table.Name.String()
	plan, err := b.queryPlan(d.OptSelect.Select, nil)
	if err != nil {
		return nil, err
	}
	t := &catalog.Table{Name: name}
	cols := plan.Columns()
	seen := make(map[string]bool, len(cols))
	for k, c := range cols {
		typ := c.Type
		if typ.Kind == catalog.KindNull || isNullItem(plan, k) {
			return nil, sqlstate.Errorf(sqlstate.IndeterminateDatatype, "column %q of CREATE TABLE AS has no type (a bare NULL); CAST it", c.Name)
		}
		if !typ.Valid() {
			return nil, sqlstate.Errorf(sqlstate.InvalidColumnDef, "column %q has invalid type %s", c.Name, typ)
		}
		if c.Name == "" || strings.HasPrefix(c.Name, "__") {
			return nil, sqlstate.Errorf(sqlstate.InvalidColumnDef, "column %d of CREATE TABLE AS needs a name (AS alias)", k+1)
		}
		if seen[strings.ToLower(c.Name)] {
			return nil, sqlstate.Errorf(sqlstate.DuplicateColumn, "column %q specified more than once", c.Name)
		}
		seen[strings.ToLower(c.Name)] = true
		t.Columns = append(t.Columns, catalog.Column{Name: c.Name, Type: typ})
	}
	if err := t.Validate(); err != nil {
		return nil, sqlstate.Wrap(err, sqlstate.InvalidTableDef, "%v", err)
	}
	if _, ok := b.cat.View(name); ok {
		return nil, b.errAt(name, sqlstate.DuplicateTable, "relation %q already exists and is a view", name)
	}
	return &CreateTableAs{Table: t, Plan: plan, IfNotExists: d.IfNotExists}, nil
}
