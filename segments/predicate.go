package segments

import (
	"fmt"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
)

// Op is the operator of a Cond.
type Op uint8

// Operators of a Cond. A comparison with a NULL constant matches no row, as
// in SQL.
const (
	OpEq Op = iota + 1
	OpLt
	OpLe
	OpGt
	OpGe
	OpIn
	OpIsNull
)

var opNames = [...]string{OpEq: "=", OpLt: "<", OpLe: "<=", OpGt: ">", OpGe: ">=", OpIn: "IN", OpIsNull: "IS NULL"}

// String returns the SQL spelling of op.
func (op Op) String() string {
	if int(op) < len(opNames) && opNames[op] != "" {
		return opNames[op]
	}
	return fmt.Sprintf("Op(%d)", uint8(op))
}

// Cond is one pushed-down condition: column op constant. Value is the
// constant of a comparison, Values the list of IN; both are of the column's
// kind (the binder has cast them), a DECIMAL in the column's scale.
type Cond struct {
	// Column names a column of the table schema the scan reads with
	// (case-insensitive).
	Column string
	Op     Op
	Value  Value
	Values []Value
}

// String renders c for EXPLAIN and tests.
func (c Cond) String() string {
	switch c.Op {
	case OpIsNull:
		return c.Column + " IS NULL"
	case OpIn:
		vs := make([]string, len(c.Values))
		for i, v := range c.Values {
			vs[i] = v.String()
		}
		return fmt.Sprintf("%s IN (%s)", c.Column, strings.Join(vs, ", "))
	}
	return fmt.Sprintf("%s %s %s", c.Column, c.Op, c.Value)
}

// Predicate is a conjunction (AND) of conditions; the empty Predicate is
// true. It is a pruning device: see Selection for what a scan guarantees.
type Predicate []Cond

// String renders p for EXPLAIN and tests.
func (p Predicate) String() string {
	if len(p) == 0 {
		return "true"
	}
	s := make([]string, len(p))
	for i, c := range p {
		s[i] = c.String()
	}
	return strings.Join(s, " AND ")
}

// zoneVerdict says what a zone map proves about a condition in a row group.
type zoneVerdict uint8

const (
	zoneNone zoneVerdict = iota // no row matches: skip the row group
	zoneSome                    // some rows may match
	zoneAll                     // every row matches
)

// evalZone evaluates c against the zone map z of a row group of rows rows.
func evalZone(c *Cond, z *zone, rows uint32) zoneVerdict {
	allNull := z.min.Null
	if c.Op == OpIsNull {
		switch {
		case z.nulls == 0:
			return zoneNone
		case z.nulls == rows:
			return zoneAll
		}
		return zoneSome
	}
	if allNull {
		return zoneNone
	}
	inRange := func(v Value) (lo, hi int) { return Compare(v, z.min), Compare(v, z.max) }
	full := func(ok bool) zoneVerdict {
		if ok && z.nulls == 0 {
			return zoneAll
		}
		return zoneSome
	}
	switch c.Op {
	case OpEq:
		if c.Value.Null {
			return zoneNone
		}
		lo, hi := inRange(c.Value)
		if lo < 0 || hi > 0 {
			return zoneNone
		}
		return full(Compare(z.min, z.max) == 0)
	case OpIn:
		any := false
		for _, v := range c.Values {
			if v.Null {
				continue
			}
			if lo, hi := inRange(v); lo >= 0 && hi <= 0 {
				any = true
				break
			}
		}
		if !any {
			return zoneNone
		}
		return zoneSome
	}
	if c.Value.Null {
		return zoneNone
	}
	lo, hi := inRange(c.Value)
	switch c.Op {
	case OpLt: // col < v
		if lo <= 0 {
			return zoneNone
		}
		return full(hi > 0)
	case OpLe:
		if lo < 0 {
			return zoneNone
		}
		return full(hi >= 0)
	case OpGt: // col > v
		if hi >= 0 {
			return zoneNone
		}
		return full(lo < 0)
	case OpGe:
		if hi > 0 {
			return zoneNone
		}
		return full(lo <= 0)
	}
	return zoneSome
}

// Selection is the result of pruning a segment with a Predicate.
type Selection struct {
	// RowGroups lists, ascending, the row groups that may hold matching
	// rows; the others need not be read.
	RowGroups []int
	// Rows, when not nil, holds the only positions that may match (already
	// without deleted rows); nil means every non-deleted row of RowGroups.
	Rows *roaring.Bitmap
	// Exact reports that the selected rows are exactly the rows matching
	// the predicate: every condition was answered by a bitmap or proven by
	// zone maps. When false the caller must still evaluate the predicate on
	// the rows it gets.
	Exact bool
	// RowGroupsSkipped counts the row groups pruned by zone maps, bitmaps,
	// bloom filters or the delete bitmap.
	RowGroupsSkipped int
	// Pruned splits RowGroupsSkipped by what pruned each row group first.
	Pruned Pruned
}

// Pruned counts skipped row groups by cause, for EXPLAIN ANALYZE.
type Pruned struct {
	ZoneMap int // zone maps (min/max, null counts; a column absent from the segment)
	Bloom   int // a bloom filter ruled out every value asked for
	Bitmap  int // value bitmaps or the delete bitmap left no row
	Rows    int // no position of ScanOptions.Rows (key lookups, partitions)
	Runtime int // ScanOptions.KeyFilter: the zone map misses its keys
}
