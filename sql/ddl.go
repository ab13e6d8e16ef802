package sql

import (
	"strconv"
	"strings"

	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// colKeyPrimary is vitess' (unexported) ColumnKeyOption for an inline
// PRIMARY KEY.
const colKeyPrimary sqlparser.ColumnKeyOption = 1

func (b *binder) bindDDL(d *sqlparser.DDL) (Statement, error) {
	switch strings.ToLower(d.Action) {
	case sqlparser.CreateStr:
		switch {
		case d.ViewSpec != nil:
			return b.bindCreateView(d)
		case d.TriggerSpec != nil:
			return nil, b.unsupported("CREATE TRIGGER")
		case d.ProcedureSpec != nil:
			return nil, b.unsupported("CREATE PROCEDURE")
		case d.EventSpec != nil:
			return nil, b.unsupported("CREATE EVENT")
		case d.IndexSpec != nil:
			return nil, b.unsupported("CREATE INDEX")
		case d.OptSelect != nil && !d.Temporary && !d.OrReplace:
			return b.bindCreateTableAs(d)
		case d.OptLike != nil:
			return nil, b.unsupported("CREATE TABLE … LIKE")
		case d.Temporary:
			return nil, b.unsupported("CREATE TEMPORARY TABLE")
		case d.OrReplace:
			return nil, b.unsupported("CREATE OR REPLACE")
		case d.TableSpec == nil:
			return nil, b.unsupported("this CREATE statement")
		}
		return b.bindCreate(d)
	case sqlparser.DropStr:
		switch {
		case len(d.FromViews) > 0:
			return b.bindDropView(d)
		case d.TriggerSpec != nil || d.ProcedureSpec != nil || d.EventSpec != nil || d.IndexSpec != nil:
			return nil, b.unsupported("this DROP statement")
		case len(d.FromTables) != 1:
			return nil, b.unsupported("DROP TABLE of several tables")
		}
		tn := d.FromTables[0]
		if sys, _ := systemQualified(tn); sys {
			if t, ok := b.cat.SystemTable(tn.Name.String()); ok {
				return nil, readOnly(t)
			}
		}
		if !tn.DbQualifier.IsEmpty() || !tn.SchemaQualifier.IsEmpty() {
			return nil, b.unsupported("a qualified table name")
		}
		name := tn.Name.String()
		t, ok := b.cat.Table(name)
		if !ok && !d.IfExists {
			return nil, b.errAt(name, sqlstate.UndefinedTable, "table %q does not exist", name)
		}
		return &DropTable{Name: name, Table: t, IfExists: d.IfExists}, nil
	case sqlparser.TruncateStr:
		return b.bindTruncate(d)
	}
	return nil, b.unsupported(strings.ToUpper(d.Action) + " statements")
}

func sqlInt(v *sqlparser.SQLVal) (int32, error) {
	if v == nil {
		return -1, nil
	}
	n, err := strconv.ParseInt(string(v.Val), 10, 32)
	if err != nil || n < 0 {
		return 0, sqlstate.Errorf(sqlstate.InvalidColumnDef, "invalid type modifier %s", v.Val)
	}
	return int32(n), nil
}

func (b *binder) bindCreate(d *sqlparser.DDL) (Statement, error) {
	spec := d.TableSpec
	switch {
	case !d.Table.DbQualifier.IsEmpty() || !d.Table.SchemaQualifier.IsEmpty():
		err, _ := b.qualifiedName(d.Table, "create", "table")
		return nil, err
	case len(spec.Constraints) > 0:
		return nil, b.unsupported("CHECK and FOREIGN KEY constraints")
	case len(spec.TableOpts) > 0:
		return nil, b.unsupported("table options")
	case spec.PartitionOpt != nil:
		return nil, b.unsupported("PARTITION BY")
	}
	t := &catalog.Table{Name: d.Table.Name.String()}
	if t.Name == "" {
		return nil, sqlstate.Errorf(sqlstate.InvalidTableDef, "table name is empty")
	}
	seen := make(map[string]bool)
	var pk []int
	pkDeclared := false
	for i, cd := range spec.Columns {
		name := cd.Name.String()
		ct := cd.Type
		if seen[strings.ToLower(name)] {
			return nil, b.errAt(name, sqlstate.DuplicateColumn, "column %q specified more than once", name)
		}
		seen[strings.ToLower(name)] = true
		switch {
		case bool(ct.Autoincrement):
			return nil, b.unsupported("AUTO_INCREMENT")
		case ct.Default != nil:
			return nil, b.unsupported("column DEFAULT")
		case ct.OnUpdate != nil:
			return nil, b.unsupported("ON UPDATE")
		case ct.GeneratedExpr != nil:
			return nil, b.unsupported("generated columns")
		case ct.ForeignKeyDef != nil:
			return nil, b.unsupported("REFERENCES")
		case ct.Constraint != nil:
			return nil, b.unsupported("column constraints")
		case bool(ct.Unsigned) || bool(ct.Zerofill):
			return nil, b.unsupported("UNSIGNED/ZEROFILL")
		case ct.Charset != "" || ct.Collate != "" || ct.BinaryCollate:
			return nil, b.unsupported("CHARACTER SET/COLLATE")
		case ct.Comment != nil:
			return nil, b.unsupported("column COMMENT")
		case len(ct.EnumValues) > 0:
			return nil, b.unsupported("ENUM/SET")
		case ct.SRID != nil:
			return nil, b.unsupported("spatial types")
		case bool(ct.NotNull) && bool(ct.Null):
			return nil, sqlstate.Errorf(sqlstate.InvalidColumnDef, "conflicting NULL/NOT NULL declarations for column %q", name)
		}
		p, err := sqlInt(ct.Length)
		if err != nil {
			return nil, err
		}
		s, err := sqlInt(ct.Scale)
		if err != nil {
			return nil, err
		}
		typ, err := catalog.TypeByName(ct.Type, p, s)
		if err != nil {
			return nil, b.errAt(ct.Type, sqlstate.InvalidColumnDef, "column %q: %v", name, err)
		}
		if !typ.Valid() {
			return nil, sqlstate.Errorf(sqlstate.InvalidColumnDef, "column %q has invalid type %s", name, typ)
		}
		col := catalog.Column{Name: name, Type: typ, NotNull: bool(ct.NotNull)}
		switch ct.KeyOpt {
		case 0:
		case colKeyPrimary:
			if pkDeclared {
				return nil, sqlstate.Errorf(sqlstate.InvalidTableDef, "multiple primary keys for table %q are not allowed", t.Name)
			}
			pkDeclared = true
			pk = []int{i}
		default:
			return nil, b.unsupported("UNIQUE and KEY column options")
		}
		t.Columns = append(t.Columns, col)
	}
	if len(t.Columns) == 0 {
		return nil, sqlstate.Errorf(sqlstate.InvalidTableDef, "table %q must have at least one column", t.Name)
	}
	for _, ix := range spec.Indexes {
		if ix.Info == nil || !ix.Info.Primary {
			return nil, b.unsupported("indexes and UNIQUE constraints")
		}
		if pkDeclared {
			return nil, sqlstate.Errorf(sqlstate.InvalidTableDef, "multiple primary keys for table %q are not allowed", t.Name)
		}
		pkDeclared = true
		inKey := make(map[int]bool)
		for _, ic := range ix.Columns {
			name := ic.Column.String()
			k := t.ColumnIndex(name)
			if k < 0 {
				return nil, b.errAt(name, sqlstate.UndefinedColumn, "column %q named in key does not exist", name)
			}
			if inKey[k] {
				return nil, sqlstate.Errorf(sqlstate.InvalidTableDef, "column %q appears twice in primary key constraint", name)
			}
			if ic.Length != nil {
				return nil, b.unsupported("key prefix lengths")
			}
			if ic.Order != "" && !strings.EqualFold(ic.Order, sqlparser.AscScr) {
				return nil, b.unsupported("descending key columns")
			}
			inKey[k] = true
			pk = append(pk, k)
		}
	}
	for _, k := range pk {
		t.Columns[k].NotNull = true
	}
	t.PrimaryKey = pk
	if err := t.Validate(); err != nil {
		return nil, sqlstate.Wrap(err, sqlstate.InvalidTableDef, "%v", err)
	}
	return &CreateTable{Table: t, IfNotExists: d.IfNotExists}, nil
}
