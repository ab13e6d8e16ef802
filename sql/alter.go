package sql

import (
	"math"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow/scalar"

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

// addedColumn binds the definition of ADD COLUMN: its type, NOT NULL and
// DEFAULT <constant>, which the rows already stored read (catalog,
// default.go). NOT NULL without a default is checked against the table's
// rows when the change runs.
func (b *binder) addedColumn(cd *sqlparser.ColumnDefinition) (catalog.Column, error) {
	name := cd.Name.String()
	ct := cd.Type
	switch {
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
	col := catalog.Column{Name: name, Type: typ, NotNull: bool(ct.NotNull)}
	if ct.Default != nil {
		lit, err := b.constant(ct.Default, typ, "DEFAULT")
		if err != nil {
			return catalog.Column{}, err
		}
		if !lit.IsNull() {
			text, err := catalog.DefaultText(typ, lit.Value)
			if err != nil {
				return catalog.Column{}, b.unsupportedAt("a DEFAULT of type "+typ.String(), "default")
			}
			col.Default = &text
		}
	}
	return col, nil
}

// constant binds e, a constant (a literal, possibly negated or cast), as a
// value of type t (assignment rules: 22P02, 22003, 22001 for values that
// do not fit). clause names the construct in errors.
func (b *binder) constant(e sqlparser.Expr, t catalog.Type, clause string) (*Literal, error) {
	x, err := b.expr(&exprCtx{clause: clause}, e)
	if err != nil {
		return nil, err
	}
	lit, err := constLiteral(x)
	if err != nil {
		return nil, err
	}
	if lit == nil {
		return nil, b.unsupportedAt(clause+" with an expression that is not a constant", strings.ToLower(clause))
	}
	out, err := CastLiteral(lit, t)
	if err != nil {
		return nil, err
	}
	if out == nil {
		return nil, sqlstate.Errorf(sqlstate.DatatypeMismatch, "%s value of type %s cannot be used for a column of type %s", clause, lit.Typ, t)
	}
	if t.Kind == catalog.KindVarchar && t.Length > 0 && !out.IsNull() {
		s, _ := literalValue(out)
		if utf8.RuneCountInString(s.s) > int(t.Length) {
			return nil, sqlstate.Errorf(sqlstate.StringDataTooLong, "value too long for type %s", t)
		}
	}
	return out, nil
}

// constLiteral returns x as a literal when it is one, a negated numeric
// literal or a cast literal; nil when it is not constant.
func constLiteral(x Expr) (*Literal, error) {
	switch x := x.(type) {
	case *Literal:
		return x, nil
	case *Cast:
		l, err := constLiteral(x.Arg)
		if l == nil || err != nil {
			return nil, err
		}
		return CastLiteral(l, x.To)
	case *Negate:
		l, err := constLiteral(x.Arg)
		if l == nil || err != nil || l.IsNull() {
			return l, err
		}
		switch s := l.Value.(type) {
		case *scalar.Int16:
			return &Literal{Value: scalar.NewInt16Scalar(-s.Value), Typ: l.Typ}, nil
		case *scalar.Int32:
			return &Literal{Value: scalar.NewInt32Scalar(-s.Value), Typ: l.Typ}, nil
		case *scalar.Int64:
			if s.Value == math.MinInt64 {
				return nil, sqlstate.Errorf(sqlstate.NumericOutOfRange, "bigint out of range")
			}
			return &Literal{Value: scalar.NewInt64Scalar(-s.Value), Typ: l.Typ}, nil
		case *scalar.Float32:
			return &Literal{Value: scalar.NewFloat32Scalar(-s.Value), Typ: l.Typ}, nil
		case *scalar.Float64:
			return &Literal{Value: scalar.NewFloat64Scalar(-s.Value), Typ: l.Typ}, nil
		case *scalar.Decimal128:
			return &Literal{Value: scalar.NewDecimal128Scalar(s.Value.Negate(), s.Type), Typ: l.Typ}, nil
		}
	}
	return nil, nil
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
