package catalog

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// Schema changes of a table (ALTER TABLE) and what storage needs to read
// data written under an older schema version.
//
// Every column has a stable ID, unique within its table and never reused:
// a column dropped and added again under the same name is a new column.
// Row-store rows are positional and are rewritten by a DROP COLUMN (see
// package oltp); segment files name their columns as they were named when
// the segment was written, with the schema version they were written at.
// The descriptor keeps, for every change of its columns, the layout (IDs
// and names) the columns had before it, so a reader maps each current
// column to the name an older segment knows it by, or to nothing (NULL)
// when the column was added later.

// LayoutColumn is one column of a past layout.
type LayoutColumn struct {
	ID   uint32 `json:"id"`
	Name string `json:"name"`
}

// Layout is the column layout a table had up to and including schema
// version Version.
type Layout struct {
	Version uint64         `json:"version"`
	Columns []LayoutColumn `json:"columns"`
}

// Index is a secondary index of a table: a roaring-bitmap index of one
// column in every segment written after it was created.
type Index struct {
	Name string `json:"name"`
	// Column is the ID of the indexed column.
	Column uint32 `json:"column"`
}

// ColumnByID returns the index of the column with the given ID, or -1.
func (t *Table) ColumnByID(id uint32) int {
	for i := range t.Columns {
		if t.Columns[i].ID == id {
			return i
		}
	}
	return -1
}

// IndexNamed returns the index of the named index (case-insensitive), or -1.
func (t *Table) IndexNamed(name string) int {
	for i := range t.Indexes {
		if strings.EqualFold(t.Indexes[i].Name, name) {
			return i
		}
	}
	return -1
}

// IndexedColumns returns the names of the columns that have an index.
func (t *Table) IndexedColumns() []string {
	var out []string
	for _, ix := range t.Indexes {
		if i := t.ColumnByID(ix.Column); i >= 0 {
			out = append(out, t.Columns[i].Name)
		}
	}
	return out
}

// NamesAt returns, for every column of t in order, the name the column had
// at schema version v, or "" when the column did not exist then. ok is
// false when the layout at v is the current one (every name is current).
func (t *Table) NamesAt(v uint64) (names []string, ok bool) {
	var l *Layout
	for i := range t.Layouts {
		if t.Layouts[i].Version >= v {
			l = &t.Layouts[i]
			break
		}
	}
	if l == nil {
		return nil, false
	}
	names = make([]string, len(t.Columns))
	for i, c := range t.Columns {
		for _, lc := range l.Columns {
			if lc.ID == c.ID {
				names[i] = lc.Name
				break
			}
		}
	}
	return names, true
}

// SchemaAt returns the schema to read data written at schema version v
// with: t.Schema() with each field named as at v; a column added after v
// gets a name no data has, so it reads as NULL, or as its default, which
// the field carries in its metadata (MissingColumn). It returns t.Schema()
// itself when nothing changed since v.
func (t *Table) SchemaAt(v uint64) *arrow.Schema {
	names, ok := t.NamesAt(v)
	if !ok {
		return t.Schema()
	}
	fields := append([]arrow.Field(nil), t.Schema().Fields()...)
	for i := range fields {
		if names[i] == "" {
			fields[i].Name = fmt.Sprintf("\x00added column %d", t.Columns[i].ID)
			if d := t.Columns[i].Default; d != nil {
				fields[i].Metadata = arrow.NewMetadata([]string{DefaultMetadataKey}, []string{*d})
			}
		} else {
			fields[i].Name = names[i]
		}
	}
	return arrow.NewSchema(fields, nil)
}

// clone returns a deep copy of t without its cached schema, with Version
// one higher: the start of a changed descriptor.
func (t *Table) clone() *Table {
	n := *t
	n.Columns = append([]Column(nil), t.Columns...)
	n.PrimaryKey = append([]int(nil), t.PrimaryKey...)
	n.Layouts = append([]Layout(nil), t.Layouts...)
	n.Indexes = append([]Index(nil), t.Indexes...)
	n.Version = t.Version + 1
	n.schema, n.enc, n.stored = nil, nil, nil
	return &n
}

// recordLayout appends t's current layout, valid up to its Version, to
// n's history.
func (n *Table) recordLayout(t *Table) {
	l := Layout{Version: t.Version}
	for _, c := range t.Columns {
		l.Columns = append(l.Columns, LayoutColumn{ID: c.ID, Name: c.Name})
	}
	n.Layouts = append(n.Layouts, l)
}

// WithColumnAdded returns a copy of t with column c added last (its ID
// assigned). Rows already stored read it as its default, or NULL without
// one; a NOT NULL column needs a default (or a table without rows, which
// the caller checks: empty says so).
func (t *Table) WithColumnAdded(c Column, empty bool) (*Table, error) {
	if t.ColumnIndex(c.Name) >= 0 {
		return nil, fmt.Errorf("column %q of relation %q already exists", c.Name, t.Name)
	}
	if !c.Type.Valid() {
		return nil, fmt.Errorf("column %q has invalid type %s", c.Name, c.Type)
	}
	if c.NotNull && c.Default == nil && !empty {
		return nil, fmt.Errorf("column %q cannot be added NOT NULL without a default: the rows already stored have no value", c.Name)
	}
	if c.Default != nil {
		if _, err := c.DefaultScalar(); err != nil {
			return nil, err
		}
	}
	n := t.clone()
	n.recordLayout(t)
	c.ID = n.NextColumnID
	n.NextColumnID++
	n.Columns = append(n.Columns, c)
	n.finish()
	return n, nil
}

// WithColumnDropped returns a copy of t without the named column and the
// indexes on it. It refuses the last column and primary-key columns.
func (t *Table) WithColumnDropped(name string) (*Table, error) {
	i := t.ColumnIndex(name)
	if i < 0 {
		return nil, fmt.Errorf("column %q of relation %q does not exist", name, t.Name)
	}
	if t.IsKeyColumn(i) {
		return nil, fmt.Errorf("column %q is part of the primary key of %q", t.Columns[i].Name, t.Name)
	}
	if len(t.Columns) == 1 {
		return nil, fmt.Errorf("cannot drop the only column of %q", t.Name)
	}
	n := t.clone()
	n.recordLayout(t)
	id := t.Columns[i].ID
	n.Columns = append(n.Columns[:i:i], t.Columns[i+1:]...)
	for k, p := range n.PrimaryKey {
		if p > i {
			n.PrimaryKey[k] = p - 1
		}
	}
	n.Indexes = n.Indexes[:0]
	for _, ix := range t.Indexes {
		if ix.Column != id {
			n.Indexes = append(n.Indexes, ix)
		}
	}
	n.finish()
	return n, nil
}

// WithColumnRenamed returns a copy of t with column from named to.
func (t *Table) WithColumnRenamed(from, to string) (*Table, error) {
	i := t.ColumnIndex(from)
	if i < 0 {
		return nil, fmt.Errorf("column %q of relation %q does not exist", from, t.Name)
	}
	if j := t.ColumnIndex(to); j >= 0 && j != i {
		return nil, fmt.Errorf("column %q of relation %q already exists", to, t.Name)
	}
	if to == "" {
		return nil, fmt.Errorf("column name is empty")
	}
	n := t.clone()
	n.recordLayout(t)
	n.Columns[i].Name = to
	n.finish()
	return n, nil
}

// Renamed returns a copy of t named name.
func (t *Table) Renamed(name string) (*Table, error) {
	if name == "" {
		return nil, fmt.Errorf("table name is empty")
	}
	n := t.clone()
	n.Name = name
	n.finish()
	return n, nil
}

// WithIndex returns a copy of t with index name on column col.
func (t *Table) WithIndex(name, col string) (*Table, error) {
	if t.IndexNamed(name) >= 0 {
		return nil, fmt.Errorf("index %q already exists on %q", name, t.Name)
	}
	i := t.ColumnIndex(col)
	if i < 0 {
		return nil, fmt.Errorf("column %q of relation %q does not exist", col, t.Name)
	}
	n := t.clone()
	n.Indexes = append(n.Indexes, Index{Name: name, Column: t.Columns[i].ID})
	n.finish()
	return n, nil
}

// WithoutIndex returns a copy of t without the named index.
func (t *Table) WithoutIndex(name string) (*Table, error) {
	k := t.IndexNamed(name)
	if k < 0 {
		return nil, fmt.Errorf("index %q of relation %q does not exist", name, t.Name)
	}
	n := t.clone()
	n.Indexes = append(n.Indexes[:k:k], t.Indexes[k+1:]...)
	n.finish()
	return n, nil
}

// Replace publishes t, a changed descriptor of a published table (same
// ID), removing the entry under its old name when it was renamed.
func (c *Catalog) Replace(old, t *Table) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.schema == nil {
		t.finish()
	}
	delete(c.tables, strings.ToLower(old.Name))
	c.tables[strings.ToLower(t.Name)] = t
	c.version++
}
