package sql

import (
	"strings"

	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// bindAlter binds ALTER TABLE (column changes, RENAME TO) and CREATE /
// DROP INDEX, which the parser returns as ALTER TABLE with an index spec.
func (b *binder) bindAlter(s *sqlparser.AlterTable) (Statement, error) {
	if len(s.PartitionSpecs) > 0 {
		return nil, b.unsupportedAt("ALTER TABLE … PARTITION", "partition")
	}
	if len(s.Statements) == 1 && s.Statements[0].IndexSpec != nil {
		return b.bindIndex(s.Table, s.Statements[0].IndexSpec)
	}
	t, err := b.writable(s.Table)
	if err != nil {
		return nil, err
	}
	st := &AlterTable{Table: t}
	for _, d := range s.Statements {
		op, err := b.alterOp(d)
		if err != nil {
			return nil, err
		}
		st.Ops = append(st.Ops, op)
	}
	if len(st.Ops) == 0 {
		return nil, b.unsupported("an empty ALTER TABLE")
	}
	return st, nil
}

func (b *binder) alterOp(d *sqlparser.DDL) (AlterOp, error) {
	switch {
	case d.IndexSpec != nil:
		return AlterOp{}, b.unsupportedAt("index changes combined with other ALTER TABLE changes", "index")
	case d.ColumnOrder != nil:
		return AlterOp{}, b.unsupportedAt("FIRST / AFTER in ALTER TABLE", "first")
	case strings.EqualFold(d.Action, sqlparser.RenameStr):
		if len(d.ToTables) != 1 || !d.ToTables[0].DbQualifier.IsEmpty() {
			return AlterOp{}, b.unsupported("this RENAME")
		}
		name := d.ToTables[0].Name.String()
		if b.cat.Relation(name) {
			return AlterOp{}, b.errAt(name, sqlstate.DuplicateTable, "relation %q already exists", name)
		}
		return AlterOp{Kind: AlterRenameTable, Name: name}, nil
	case !strings.EqualFold(d.Action, sqlparser.AlterStr):
		return AlterOp{}, b.unsupported("ALTER TABLE " + strings.ToUpper(d.Action))
	}
	switch strings.ToLower(d.ColumnAction) {
	case sqlparser.AddStr:
		if d.TableSpec == nil || len(d.TableSpec.Columns) != 1 {
			return AlterOp{}, b.unsupported("this ADD")
		}
		c, err := b.addedColumn(d.TableSpec.Columns[0])
		if err != nil {
			return AlterOp{}, err
		}
		return AlterOp{Kind: AlterAddColumn, Column: c}, nil
	case sqlparser.DropStr:
		return AlterOp{Kind: AlterDropColumn, Name: d.Column.String()}, nil
	case sqlparser.RenameStr:
		return AlterOp{Kind: AlterRenameColumn, Name: d.Column.String(), To: d.ToColumn.String()}, nil
	case "":
		return AlterOp{}, b.unsupported("this ALTER TABLE change")
	}
	return AlterOp{}, b.unsupported("ALTER TABLE … " + strings.ToUpper(d.ColumnAction) + " COLUMN")
}

// addedColumn binds the definition of ADD COLUMN: a nullable column
// without a default (the rows already stored read it as NULL).
func (b *binder) addedColumn(cd *sqlparser.ColumnDefinition) (catalog.Column, error) {
	name := cd.Name.String()
	ct := cd.Type
	switch {
	case ct.Default != nil:
		return catalog.Column{}, b.unsupportedAt("ADD COLUMN … DEFAULT", "default")
	case bool(ct.NotNull):
		return catalog.Column{}, b.unsupportedAt("ADD COLUMN … NOT NULL (the rows already stored would be NULL)", "not")
	case ct.KeyOpt != 0:
		return catalog.Column{}, b.unsupported("keys in ADD COLUMN")
	case bool(ct.Autoincrement), ct.OnUpdate != nil, ct.GeneratedExpr != nil, ct.ForeignKeyDef != nil,
		ct.Constraint != nil, bool(ct.Unsigned), bool(ct.Zerofill), ct.Charset != "", ct.Collate != "",
		ct.Comment != nil, len(ct.EnumValues) > 0, ct.SRID != nil:
		return catalog.Column{}, b.unsupported("this column option in ADD COLUMN")
	}
	p, err := sqlInt(ct.Length)
	if err != nil {
		return catalog.Column{}, err
	}
	s, err := sqlInt(ct.Scale)
	if err != nil {
		return catalog.Column{}, err
	}
	typ, err := catalog.TypeByName(ct.Type, p, s)
	if err != nil {
		return catalog.Column{}, b.errAt(ct.Type, sqlstate.InvalidColumnDef, "column %q: %v", name, err)
	}
	if !typ.Valid() {
		return catalog.Column{}, sqlstate.Errorf(sqlstate.InvalidColumnDef, "column %q has invalid type %s", name, typ)
	}
	return catalog.Column{Name: name, Type: typ}, nil
}

func (b *binder) bindIndex(tn sqlparser.TableName, ix *sqlparser.IndexSpec) (Statement, error) {
	t, err := b.writable(tn)
	if err != nil {
		return nil, err
	}
	name := ix.ToName.String()
	switch strings.ToLower(ix.Action) {
	case sqlparser.CreateStr:
		switch {
		case ix.Type != "":
			return nil, b.unsupportedAt(strings.ToUpper(ix.Type)+" indexes", ix.Type)
		case !ix.Using.IsEmpty():
			return nil, b.unsupportedAt("USING in CREATE INDEX", "using")
		case len(ix.Columns) != 1:
			return nil, b.unsupported("indexes on several columns")
		case ix.Columns[0].Length != nil:
			return nil, b.unsupported("key prefix lengths")
		}
		col := ix.Columns[0].Column.String()
		if t.ColumnIndex(col) < 0 {
			return nil, b.errAt(col, sqlstate.UndefinedColumn, "column %q of relation %q does not exist", col, t.Name)
		}
		if t.IndexNamed(name) >= 0 {
			return nil, b.errAt(name, sqlstate.DuplicateTable, "index %q already exists on %q", name, t.Name)
		}
		return &CreateIndex{Table: t, Name: name, Column: col}, nil
	case sqlparser.DropStr:
		if t.IndexNamed(name) < 0 {
			return nil, b.errAt(name, sqlstate.UndefinedObject, "index %q of relation %q does not exist", name, t.Name)
		}
		return &DropIndex{Table: t, Name: name}, nil
	}
	return nil, b.unsupported(strings.ToUpper(ix.Action) + " INDEX")
}
