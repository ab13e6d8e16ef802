package planner

import (
	"fmt"
	"strings"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/sql"
)

// indexNote is the EXPLAIN annotation of a filter directly over a scan:
// one line per conjunct col = constant or col IN (constants) on a column
// with an index (CREATE INDEX), whose bitmaps the segment scans use to
// select row groups and rows. Segments written before the index was
// created may lack the bitmap and fall back to zone maps.
func indexNote(n sql.Node, indent string) string {
	f, ok := n.(*sql.Filter)
	if !ok {
		return ""
	}
	s, ok := f.Input.(*sql.Scan)
	if !ok || len(s.Table.Indexes) == 0 {
		return ""
	}
	var b strings.Builder
	for _, c := range splitAnd(f.Pred, nil) {
		var ref *sql.ColumnRef
		op := ""
		switch c := c.(type) {
		case *sql.Compare:
			if c.Op != arrowexec.OpEq {
				continue
			}
			l, lok := c.L.(*sql.ColumnRef)
			r, rok := c.R.(*sql.ColumnRef)
			switch {
			case lok && !rok && isConst(c.R):
				ref = l
			case rok && !lok && isConst(c.L):
				ref = r
			}
			op = "="
		case *sql.In:
			if a, ok := c.Arg.(*sql.ColumnRef); ok && !c.Negate && allConst(c.List) {
				ref, op = a, "IN"
			}
		}
		if ref == nil || ref.Idx < 0 || ref.Idx >= len(s.Cols) {
			continue
		}
		if ix := indexOn(s.Table, s.Cols[ref.Idx]); ix != nil {
			fmt.Fprintf(&b, "%sIndex %s (bitmap) on %s: %s\n", indent, ix.Name, s.Table.Columns[s.Cols[ref.Idx]].Name, op)
		}
	}
	return b.String()
}

// indexOn returns the first index of t on column col, or nil.
func indexOn(t *catalog.Table, col int) *catalog.Index {
	for i := range t.Indexes {
		if t.Indexes[i].Column == t.Columns[col].ID {
			return &t.Indexes[i]
		}
	}
	return nil
}

func isConst(e sql.Expr) bool {
	switch e.(type) {
	case *sql.Literal, *sql.Param:
		return true
	}
	if c, ok := e.(*sql.Cast); ok {
		return isConst(c.Arg)
	}
	return false
}

func allConst(es []sql.Expr) bool {
	for _, e := range es {
		if !isConst(e) {
			return false
		}
	}
	return len(es) > 0
}
