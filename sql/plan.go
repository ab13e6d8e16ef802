package sql

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mantisdb/mantisdb/catalog"
)

// Column describes one output column of a plan node.
type Column struct {
	Name     string
	Type     catalog.Type
	Nullable bool
}

// Node is a logical plan node. Expressions held by a node refer to the
// output columns of its input by ColumnRef.Idx.
type Node interface {
	// Columns are the node's output columns in order.
	Columns() []Column
	// Inputs are the node's children.
	Inputs() []Node
	// String describes the node alone (for EXPLAIN).
	String() string
}

// KeyColumnName names the storage key field that scans append when asked
// to, and that UPDATE and DELETE plans output first.
const KeyColumnName = "__key"

// Scan reads columns Cols of Table, followed by the storage key (VARBINARY,
// named KeyColumnName) when WithKey.
type Scan struct {
	Table   *catalog.Table
	Cols    []int
	WithKey bool
}

// Values yields constant rows (no input). Every row has len(Cols)
// expressions of the column types; a Values with no columns and one row is
// the input of a query without FROM.
type Values struct {
	Cols []Column
	Rows [][]Expr
}

// Filter keeps the rows for which Pred is true.
type Filter struct {
	Input Node
	Pred  Expr
}

// Project computes Exprs, named Names.
type Project struct {
	Input Node
	Exprs []Expr
	Names []string
}

// Aggregate groups its input by Groups and computes Aggs: its output is the
// groups followed by the aggregates. Without groups it yields one row.
type Aggregate struct {
	Input      Node
	Groups     []Expr
	GroupNames []string
	Aggs       []*AggCall
	AggNames   []string
}

// SortKey is one ORDER BY key.
type SortKey struct {
	Expr       Expr
	Desc       bool
	NullsFirst bool
}

// Sort orders its input by Keys.
type Sort struct {
	Input Node
	Keys  []SortKey
}

// Limit skips Offset rows and returns at most Count rows (Count < 0: all).
type Limit struct {
	Input  Node
	Offset int64
	Count  int64
}

var (
	_ Node = (*Scan)(nil)
	_ Node = (*Values)(nil)
	_ Node = (*Filter)(nil)
	_ Node = (*Project)(nil)
	_ Node = (*Aggregate)(nil)
	_ Node = (*Sort)(nil)
	_ Node = (*Limit)(nil)
)

// Columns implements Node.
func (n *Scan) Columns() []Column {
	out := make([]Column, 0, len(n.Cols)+1)
	for _, c := range n.Cols {
		col := n.Table.Columns[c]
		out = append(out, Column{Name: col.Name, Type: col.Type, Nullable: !col.NotNull})
	}
	if n.WithKey {
		out = append(out, Column{Name: KeyColumnName, Type: catalog.Type{Kind: catalog.KindInvalid}})
	}
	return out
}

// Inputs implements Node.
func (n *Scan) Inputs() []Node { return nil }

func (n *Scan) String() string {
	names := make([]string, len(n.Cols))
	for i, c := range n.Cols {
		names[i] = n.Table.Columns[c].Name
	}
	if n.WithKey {
		names = append(names, KeyColumnName)
	}
	return fmt.Sprintf("Scan %s [%s]", n.Table.Name, strings.Join(names, ", "))
}

// Columns implements Node.
func (n *Values) Columns() []Column { return n.Cols }

// Inputs implements Node.
func (n *Values) Inputs() []Node { return nil }

func (n *Values) String() string {
	return fmt.Sprintf("Values %d rows x %d columns", len(n.Rows), len(n.Cols))
}

// Columns implements Node.
func (n *Filter) Columns() []Column { return n.Input.Columns() }

// Inputs implements Node.
func (n *Filter) Inputs() []Node { return []Node{n.Input} }

func (n *Filter) String() string { return "Filter " + n.Pred.String() }

// Columns implements Node.
func (n *Project) Columns() []Column {
	out := make([]Column, len(n.Exprs))
	for i, e := range n.Exprs {
		out[i] = Column{Name: n.Names[i], Type: e.Type(), Nullable: e.Nullable()}
	}
	return out
}

// Inputs implements Node.
func (n *Project) Inputs() []Node { return []Node{n.Input} }

func (n *Project) String() string { return "Project " + exprList(n.Exprs) }

// Columns implements Node.
func (n *Aggregate) Columns() []Column {
	out := make([]Column, 0, len(n.Groups)+len(n.Aggs))
	for i, g := range n.Groups {
		out = append(out, Column{Name: n.GroupNames[i], Type: g.Type(), Nullable: g.Nullable()})
	}
	for i, a := range n.Aggs {
		out = append(out, Column{Name: n.AggNames[i], Type: a.Type(), Nullable: a.Nullable()})
	}
	return out
}

// Inputs implements Node.
func (n *Aggregate) Inputs() []Node { return []Node{n.Input} }

func (n *Aggregate) String() string {
	aggs := make([]Expr, len(n.Aggs))
	for i, a := range n.Aggs {
		aggs[i] = a
	}
	return fmt.Sprintf("Aggregate groups=%s aggs=%s", exprList(n.Groups), exprList(aggs))
}

// Columns implements Node.
func (n *Sort) Columns() []Column { return n.Input.Columns() }

// Inputs implements Node.
func (n *Sort) Inputs() []Node { return []Node{n.Input} }

func (n *Sort) String() string {
	parts := make([]string, len(n.Keys))
	for i, k := range n.Keys {
		dir := "ASC"
		if k.Desc {
			dir = "DESC"
		}
		nulls := "LAST"
		if k.NullsFirst {
			nulls = "FIRST"
		}
		parts[i] = fmt.Sprintf("%s %s NULLS %s", k.Expr, dir, nulls)
	}
	return "Sort " + strings.Join(parts, ", ")
}

// Columns implements Node.
func (n *Limit) Columns() []Column { return n.Input.Columns() }

// Inputs implements Node.
func (n *Limit) Inputs() []Node { return []Node{n.Input} }

func (n *Limit) String() string { return fmt.Sprintf("Limit offset=%d count=%d", n.Offset, n.Count) }

func exprList(es []Expr) string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.String()
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// Format renders a plan tree, one node per line, children indented.
func Format(n Node) string {
	var b strings.Builder
	var rec func(Node, int)
	rec = func(n Node, depth int) {
		b.WriteString(strings.Repeat("  ", depth))
		b.WriteString(n.String())
		b.WriteByte('\n')
		for _, c := range n.Inputs() {
			rec(c, depth+1)
		}
	}
	rec(n, 0)
	return b.String()
}

// Statement is a bound statement: *Query, *Insert, *Update, *Delete,
// *CreateTable or *DropTable.
type Statement interface{ statement() }

// Query is a SELECT. Plan's output columns are the result columns.
type Query struct {
	Plan Node
	// Params are the types of the statement parameters ($1 is Params[0]).
	Params []ParamType
}

// Insert writes the rows of Plan, whose columns are exactly the table's
// columns in order and types (omitted columns are NULL literals).
type Insert struct {
	Table *catalog.Table
	Plan  Node
	// OnConflict is what happens to a row whose primary key is taken.
	OnConflict Conflict
	// Set (ConflictUpdate) computes the new value of every column of an
	// existing row from the existing row's columns (ordinals 0..n-1)
	// followed by the inserted row's (n..2n-1).
	Set []Expr
	// Params are the types of the statement parameters ($1 is Params[0]).
	Params []ParamType
}

// Update rewrites rows: Plan yields the storage key followed by the full
// new row (the table's columns in order and types) of every matching row.
type Update struct {
	Table *catalog.Table
	Plan  Node
	// Params are the types of the statement parameters ($1 is Params[0]).
	Params []ParamType
}

// Delete removes rows: Plan yields the storage key of every matching row.
type Delete struct {
	Table *catalog.Table
	Plan  Node
	// Params are the types of the statement parameters ($1 is Params[0]).
	Params []ParamType
}

// CreateTable creates Table (ID unset).
type CreateTable struct {
	Table       *catalog.Table
	IfNotExists bool
}

// DropTable drops Table; Table is nil when it does not exist and IfExists.
type DropTable struct {
	Name     string
	Table    *catalog.Table
	IfExists bool
}

func (*Query) statement()       {}
func (*Insert) statement()      {}
func (*Update) statement()      {}
func (*Delete) statement()      {}
func (*CreateTable) statement() {}
func (*DropTable) statement()   {}

// JoinType is the type of a logical join.
type JoinType uint8

// Join types. Semi and anti joins output the left columns only; the others
// output the left columns followed by the right columns.
const (
	JoinInner JoinType = iota
	JoinLeft
	JoinRight
	JoinFull
	JoinSemi
	JoinAnti
	// JoinAntiNullAware is NOT IN: an anti join on one key that yields no
	// row for a NULL left key or when the right side has a NULL key (unless
	// the right side is empty).
	JoinAntiNullAware
	// JoinMark outputs every left row once, followed by a non-nullable
	// BOOLEAN mark column: whether the row has a match (EXISTS in an
	// expression).
	JoinMark
	// JoinMarkNullAware is JoinMark for IN (subquery) on one key and no
	// Cond: the mark is TRUE for a match, FALSE when the right side is
	// empty, and otherwise NULL when the left key is NULL or a right key is
	// NULL, FALSE else.
	JoinMarkNullAware
)

var joinNames = [...]string{"Inner", "Left", "Right", "Full", "Semi", "Anti", "AntiNullAware", "Mark", "MarkNullAware"}

// IsMark reports whether t is a mark join type.
func (t JoinType) IsMark() bool { return t == JoinMark || t == JoinMarkNullAware }

func (t JoinType) String() string { return joinNames[t] }

// Join joins Left and Right where LeftKeys[i] = RightKeys[i] for every i
// (NULLs never match) and Cond holds. LeftKeys are over Left's columns,
// RightKeys over Right's, Cond over Left's columns followed by Right's; a
// nil Cond is true. Without keys it is a nested-loop (cross) join.
type Join struct {
	Type                JoinType
	Left, Right         Node
	LeftKeys, RightKeys []Expr
	Cond                Expr
	// Reduces marks a semi join the planner added below an aggregate to
	// keep only the groups a join above it can look up (semi-join
	// reduction): EXPLAIN says so, and the planner may run it as a filter
	// of the left rows by the set of the right keys (a key filter).
	Reduces bool
}

var _ Node = (*Join)(nil)

// Columns implements Node.
func (n *Join) Columns() []Column {
	l := n.Left.Columns()
	if n.Type == JoinSemi || n.Type == JoinAnti || n.Type == JoinAntiNullAware {
		return l
	}
	if n.Type.IsMark() {
		return append(slices.Clip(l), Column{Name: "mark", Type: catalog.Boolean, Nullable: n.Type == JoinMarkNullAware})
	}
	r := n.Right.Columns()
	out := make([]Column, 0, len(l)+len(r))
	for _, c := range l {
		if n.Type == JoinRight || n.Type == JoinFull {
			c.Nullable = true
		}
		out = append(out, c)
	}
	for _, c := range r {
		if n.Type == JoinLeft || n.Type == JoinFull {
			c.Nullable = true
		}
		out = append(out, c)
	}
	return out
}

// Inputs implements Node.
func (n *Join) Inputs() []Node { return []Node{n.Left, n.Right} }

func (n *Join) String() string {
	s := fmt.Sprintf("Join %s keys=%s=%s", n.Type, exprList(n.LeftKeys), exprList(n.RightKeys))
	if n.Cond != nil {
		s += " cond=" + n.Cond.String()
	}
	if n.Reduces {
		s += " (reduces the aggregate above to the keys its join looks up)"
	}
	return s
}
