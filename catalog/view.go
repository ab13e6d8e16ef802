package catalog

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// ViewFormatVersion is the on-disk version of encoded view descriptors.
// DecodeView reads every version up to it and refuses newer ones.
const ViewFormatVersion = 1

// View describes a named query. A *View is immutable after it is published
// in a Catalog; it is safe for concurrent use. A view stores the text of
// its query, not a bound plan: every statement that names the view binds
// the text again against the catalog of the moment, the way a derived
// table in FROM is bound. A table the view reads may therefore be dropped
// or changed after the view was created; the view then fails when it is
// used, naming itself and what is missing.
type View struct {
	// ID identifies the view's descriptor in storage; it comes from the
	// same counter as table IDs and is never reused.
	ID uint64 `json:"id"`
	// Name is the view name as created.
	Name string `json:"name"`
	// Query is the text of the view's SELECT statement.
	Query string `json:"query"`
	// Columns renames the query's output columns (CREATE VIEW v (a, b)
	// AS …); empty keeps the query's own names.
	Columns []string `json:"columns,omitempty"`
	// Version increases with every CREATE OR REPLACE of the view.
	Version uint64 `json:"version"`
}

type encodedView struct {
	Format int `json:"format"`
	*View
}

// Encode returns the on-disk form of the view descriptor.
func (v *View) Encode() ([]byte, error) {
	return json.Marshal(encodedView{Format: ViewFormatVersion, View: v})
}

// DecodeView parses a view descriptor written by Encode of this or an
// older version.
func DecodeView(b []byte) (*View, error) {
	e := encodedView{View: new(View)}
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("cannot decode view descriptor: %w", err)
	}
	if e.Format > ViewFormatVersion {
		return nil, fmt.Errorf("view descriptor format %d is newer than this binary supports (%d); upgrade MantisDB", e.Format, ViewFormatVersion)
	}
	if e.Name == "" || e.Query == "" {
		return nil, fmt.Errorf("corrupt view descriptor: no name or query")
	}
	return e.View, nil
}

// View returns the named view (case-insensitive).
func (c *Catalog) View(name string) (*View, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.views[strings.ToLower(name)]
	return v, ok
}

// Views returns all views sorted by name.
func (c *Catalog) Views() []*View {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*View, 0, len(c.views))
	for _, v := range c.views {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// PutView publishes a view descriptor (new or replaced), e.g. after it was
// persisted or when loading the catalog at open.
func (c *Catalog) PutView(v *View) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.views[strings.ToLower(v.Name)] = v
	if v.ID >= c.nextID {
		c.nextID = v.ID + 1
	}
	c.version++
}

// RemoveView unpublishes the named view and reports whether it existed.
func (c *Catalog) RemoveView(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := strings.ToLower(name)
	_, ok := c.views[k]
	delete(c.views, k)
	c.version++
	return ok
}

// Relation reports whether a table or a view is named name
// (case-insensitive): tables and views share one namespace.
func (c *Catalog) Relation(name string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	k := strings.ToLower(name)
	_, t := c.tables[k]
	_, v := c.views[k]
	return t || v
}
