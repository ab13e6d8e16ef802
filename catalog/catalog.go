// Package catalog owns the schema of a MantisDB database: tables, their
// columns, SQL types and the fixed mapping of each type to Arrow.
//
// A Catalog is the in-memory view of the table and view descriptors that
// the oltp package persists in Pebble. Descriptors are immutable once
// published: a schema change publishes a new *Table with a higher Version,
// so a reader holding a *Table never sees it change. Names are matched
// without regard to case and are kept as written at creation; tables and
// views share one namespace and one ID counter. Every column has an ID
// that is never reused within its table, and a table keeps the layouts of
// its past schema versions (alter.go), so storage can read data written
// under any of them.
package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
)

// FormatVersion is the on-disk version of encoded table descriptors. Decode
// reads every version up to it and refuses newer ones. Version 2 added
// column IDs, past layouts and indexes (ALTER TABLE, CREATE INDEX); a
// version 1 descriptor gets the IDs 1..n of its columns in order.
// Version 3 added column defaults (default.go); a descriptor without one
// is still written as version 2, which older binaries read.
const FormatVersion = 3

// Column is one column of a table.
type Column struct {
	// ID identifies the column within its table (see alter.go); assigned
	// when the table is created or the column added, never reused.
	ID      uint32 `json:"id,omitempty"`
	Name    string `json:"name"`
	Type    Type   `json:"type"`
	NotNull bool   `json:"not_null,omitempty"`
	// Default is the column's default value in its descriptor form
	// (default.go), or nil for none (NULL).
	Default *string `json:"default,omitempty"`
}

// Table describes one table. A *Table is immutable after it is published in
// a Catalog; it is safe for concurrent use.
type Table struct {
	// ID identifies the table in storage keys; never reused.
	ID uint64 `json:"id"`
	// Name is the table name as created.
	Name string `json:"name"`
	// Columns in declaration order.
	Columns []Column `json:"columns"`
	// PrimaryKey lists column indexes of the primary key in key order. Empty
	// when the table has none: rows are then keyed by a hidden row id.
	PrimaryKey []int `json:"primary_key,omitempty"`
	// Version increases with every schema change of the table.
	Version uint64 `json:"version"`
	// System marks a read-only virtual table of the schema SystemSchema
	// (system.tables, system.locks, ...): the database materializes its
	// rows at every scan. It is never persisted and never in Tables; its
	// ID is SystemTableID(n).
	System bool `json:"-"`
	// NextColumnID is the ID the next added column gets.
	NextColumnID uint32 `json:"next_column_id,omitempty"`
	// Layouts are the column layouts of past schema versions, oldest
	// first, one per change of the columns (see NamesAt).
	Layouts []Layout `json:"layouts,omitempty"`
	// Indexes are the table's secondary indexes (CREATE INDEX).
	Indexes []Index `json:"indexes,omitempty"`

	schema *arrow.Schema
	enc    []byte // Encode() of the published descriptor
	stored []byte // the bytes it was decoded from (an older format encodes differently)
}

// ColumnIndex returns the index of the named column (case-insensitive), or -1.
func (t *Table) ColumnIndex(name string) int {
	for i := range t.Columns {
		if strings.EqualFold(t.Columns[i].Name, name) {
			return i
		}
	}
	return -1
}

// HasPrimaryKey reports whether the table declares a primary key.
func (t *Table) HasPrimaryKey() bool { return len(t.PrimaryKey) > 0 }

// IsKeyColumn reports whether column i is part of the primary key.
func (t *Table) IsKeyColumn(i int) bool {
	for _, k := range t.PrimaryKey {
		if k == i {
			return true
		}
	}
	return false
}

// Schema returns the Arrow schema of the table's rows: one field per column,
// nullable unless NOT NULL. The schema is shared; do not modify it.
func (t *Table) Schema() *arrow.Schema {
	if t.schema == nil {
		t.schema = buildSchema(t.Columns)
	}
	return t.schema
}

func buildSchema(cols []Column) *arrow.Schema {
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = arrow.Field{Name: c.Name, Type: c.Type.ArrowType(), Nullable: !c.NotNull}
	}
	return arrow.NewSchema(fields, nil)
}

// Validate checks the descriptor: a name, at least one column, valid and
// distinct columns, and a primary key of distinct existing columns.
func (t *Table) Validate() error {
	if t.Name == "" {
		return fmt.Errorf("table name is empty")
	}
	if len(t.Columns) == 0 {
		return fmt.Errorf("table %q has no columns", t.Name)
	}
	seen := make(map[string]bool, len(t.Columns))
	for _, c := range t.Columns {
		if c.Name == "" {
			return fmt.Errorf("table %q has a column without a name", t.Name)
		}
		k := strings.ToLower(c.Name)
		if seen[k] {
			return fmt.Errorf("column %q specified more than once", c.Name)
		}
		seen[k] = true
		if !c.Type.Valid() {
			return fmt.Errorf("column %q has invalid type %s", c.Name, c.Type)
		}
		if _, err := c.DefaultScalar(); err != nil {
			return fmt.Errorf("column %q: %w", c.Name, err)
		}
	}
	inKey := make(map[int]bool, len(t.PrimaryKey))
	for _, k := range t.PrimaryKey {
		if k < 0 || k >= len(t.Columns) || inKey[k] {
			return fmt.Errorf("invalid primary key of table %q", t.Name)
		}
		inKey[k] = true
	}
	return nil
}

// finish normalises a descriptor before it is published: primary key
// columns are NOT NULL.
func (t *Table) finish() {
	for _, k := range t.PrimaryKey {
		t.Columns[k].NotNull = true
	}
	// Descriptors of format 1 (and new ones) get their column IDs here:
	// positions 1..n, the same at every load.
	var maxID uint32
	for i := range t.Columns {
		if t.Columns[i].ID == 0 {
			t.Columns[i].ID = uint32(i + 1)
		}
		maxID = max(maxID, t.Columns[i].ID)
	}
	if t.NextColumnID <= maxID {
		t.NextColumnID = maxID + 1
	}
	t.schema = buildSchema(t.Columns)
	t.enc, _ = t.Encode()
}

// SameAs reports whether enc, a descriptor as stored, describes t's
// version of t's table: storage readers check that the rows of their
// snapshot are in the layout of the descriptor they bound against.
func (t *Table) SameAs(enc []byte) bool {
	if bytes.Equal(enc, t.enc) || t.stored != nil && bytes.Equal(enc, t.stored) {
		return true
	}
	// A descriptor of an older format encodes differently.
	d, err := Decode(enc)
	return err == nil && d.ID == t.ID && d.Version == t.Version
}

type encodedTable struct {
	Format int `json:"format"`
	*Table
}

// Encode returns the on-disk form of the descriptor.
func (t *Table) Encode() ([]byte, error) {
	format := 2
	if t.hasDefaults() {
		format = FormatVersion
	}
	return json.Marshal(encodedTable{Format: format, Table: t})
}

// Decode parses a descriptor written by Encode of this or an older version.
func Decode(b []byte) (*Table, error) {
	var e encodedTable
	e.Table = new(Table)
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("cannot decode table descriptor: %w", err)
	}
	if e.Format > FormatVersion {
		return nil, fmt.Errorf("table descriptor format %d is newer than this binary supports (%d); upgrade MantisDB", e.Format, FormatVersion)
	}
	if err := e.Table.Validate(); err != nil {
		return nil, fmt.Errorf("corrupt table descriptor: %w", err)
	}
	e.Table.finish()
	e.Table.stored = bytes.Clone(b)
	return e.Table, nil
}

// SystemSchema is the schema of the system tables (Table.System); a name
// qualified with it, e.g. system.tables, resolves through SystemTable.
const SystemSchema = "system"

// SystemTableID returns the ID of the n-th system table: the top half of
// the ID space, which storage never assigns.
func SystemTableID(n uint64) uint64 { return 1<<63 | n }

// Catalog is the set of tables of a database. It is safe for concurrent use.
// It does not persist anything itself: the caller writes descriptors to
// storage and then publishes them here.
type Catalog struct {
	mu      sync.RWMutex
	tables  map[string]*Table // by lower-case name
	views   map[string]*View  // by lower-case name
	system  map[string]*Table // system tables by lower-case name
	nextID  uint64
	version uint64
}

// New returns an empty catalog whose first table ID is 1.
func New() *Catalog {
	return &Catalog{tables: make(map[string]*Table), views: make(map[string]*View), system: make(map[string]*Table), nextID: 1}
}

// PutSystem publishes a system table (t.System is set), named without its
// schema. It is meant for Open, before the catalog is shared.
func (c *Catalog) PutSystem(t *Table) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t.System = true
	t.finish()
	c.system[strings.ToLower(t.Name)] = t
	c.version++
}

// SystemTable returns the system table of that name without its schema
// (case-insensitive).
func (c *Catalog) SystemTable(name string) (*Table, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.system[strings.ToLower(name)]
	return t, ok
}

// SystemTables returns the system tables sorted by name.
func (c *Catalog) SystemTables() []*Table {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*Table, 0, len(c.system))
	for _, t := range c.system {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Table returns the named table (case-insensitive).
func (c *Catalog) Table(name string) (*Table, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.tables[strings.ToLower(name)]
	return t, ok
}

// Tables returns all tables sorted by name.
func (c *Catalog) Tables() []*Table {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*Table, 0, len(c.tables))
	for _, t := range c.tables {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Version returns a counter that increases with every change of the catalog;
// a plan bound at one version is stale at another.
func (c *Catalog) Version() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.version
}

// Prepare validates a new table descriptor and returns a copy ready to be
// persisted, without publishing it: primary-key columns are made NOT NULL and
// a zero ID is replaced by the catalog's next ID (storage that never reuses
// IDs sets ID itself). The caller persists the result and then calls Put.
func (c *Catalog) Prepare(t *Table) (*Table, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.tables[strings.ToLower(t.Name)]; ok {
		return nil, fmt.Errorf("table %q already exists", t.Name)
	}
	if _, ok := c.views[strings.ToLower(t.Name)]; ok {
		return nil, fmt.Errorf("a view named %q already exists", t.Name)
	}
	nt := *t
	nt.Columns = append([]Column(nil), t.Columns...)
	nt.PrimaryKey = append([]int(nil), t.PrimaryKey...)
	for i := range nt.Columns {
		nt.Columns[i].ID = uint32(i + 1)
	}
	nt.NextColumnID = uint32(len(nt.Columns) + 1)
	nt.Layouts, nt.Indexes = nil, nil
	if nt.ID == 0 {
		nt.ID = c.nextID
		c.nextID++
	}
	if nt.Version == 0 {
		nt.Version = 1
	}
	nt.finish()
	return &nt, nil
}

// Put publishes a table descriptor (new or changed), e.g. after it was
// persisted or when loading the catalog at open.
func (c *Catalog) Put(t *Table) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.schema == nil {
		t.finish()
	}
	c.tables[strings.ToLower(t.Name)] = t
	if t.ID >= c.nextID {
		c.nextID = t.ID + 1
	}
	c.version++
}

// Remove unpublishes the named table and reports whether it existed.
func (c *Catalog) Remove(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := strings.ToLower(name)
	_, ok := c.tables[k]
	delete(c.tables, k)
	c.version++
	return ok
}
