package mantisdb

import (
	"math"
	"slices"
	"strings"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/keyset"
	"github.com/mantisdb/mantisdb/segments"
)

// Runtime filters of segment scans (planner/rtfilter.go,
// segments/keyfilter.go). A tierSource holds the runtime filters the
// planner gave its scan; each segment scan it starts takes those whose
// keys are published by then, the one expected to drop the most rows
// first, and reports what each dropped to its filter. The row store is read
// whole: a runtime filter only narrows a superset, and the join above
// tests every row.

// keyFilters returns the segments.KeyFilters for the next segment scan,
// the sparsest first, and the runtime filters they come from: those whose
// keys are published by now.
func (s *tierSource) keyFilters() ([]segments.KeyFilter, []*arrowexec.RuntimeFilter) {
	if s.withKey {
		// withKeys numbers the rows of a segment scan by the positions
		// it selected: a scan that drops rows would key the rows it
		// returns with the positions of others (the planner gives
		// such scans no runtime filter either).
		return nil, nil
	}
	var kfs []segments.KeyFilter
	var from []*arrowexec.RuntimeFilter
	for _, k := range s.runtime {
		ks := k.Filter.Keys()
		if ks == nil || k.Col < 0 || k.Col >= len(s.t.Columns) {
			continue
		}
		kfs = append(kfs, segments.KeyFilter{Column: s.t.Columns[k.Col].Name, Keys: ks})
		from = append(from, k.Filter)
	}
	if f := rangeFilter(s.filter); f != nil {
		// The scan's own predicate, from no join (from is nil).
		kfs = append(kfs, *f)
		from = append(from, nil)
	}
	// Insertion sort of the few filters, the sparsest first.
	for i := 1; i < len(kfs); i++ {
		for j := i; j > 0 && narrower(kfs[j].Keys, kfs[j-1].Keys); j-- {
			kfs[j], kfs[j-1] = kfs[j-1], kfs[j]
			from[j], from[j-1] = from[j-1], from[j]
		}
	}
	return kfs, from
}

// rangeFilter returns a KeyFilter of the range of values that filter (the
// scan's pushed conditions, each implied by the query's WHERE) allows in
// one integer or DATE column, or nil; keyFilters adds it to the runtime
// filters of joins. The segment scan then tests that column first and
// decodes the other columns only for the rows in the range, as it does
// for a join's keys: `l_shipdate >= DATE '1994-01-01' AND l_shipdate <
// DATE '1995-01-01'` keeps 15% of lineitem's rows before its other
// columns are decoded and before the Filter above the scan evaluates the
// whole predicate on them. Of several columns it takes one with an
// equality, else one bounded on both sides, else the first.
func rangeFilter(filter segments.Predicate) *segments.KeyFilter {
	type bounds struct {
		col    string
		lo, hi int64
		eq     bool // an equality
		lower  bool // bounded below
		upper  bool // bounded above
	}
	var cols []bounds
	for _, c := range filter {
		if c.Value.Null {
			continue
		}
		switch c.Value.Kind {
		case catalog.KindSmallint, catalog.KindInt, catalog.KindBigint, catalog.KindDate:
		default:
			continue
		}
		i := slices.IndexFunc(cols, func(b bounds) bool { return strings.EqualFold(b.col, c.Column) })
		if i < 0 {
			cols = append(cols, bounds{col: c.Column, lo: math.MinInt64, hi: math.MaxInt64})
			i = len(cols) - 1
		}
		b, v := &cols[i], c.Value.I
		switch c.Op {
		case segments.OpEq:
			b.lo, b.hi, b.eq = max(b.lo, v), min(b.hi, v), true
		case segments.OpLt:
			if v == math.MinInt64 {
				b.lo, b.hi = 1, 0 // nothing is smaller
			} else {
				b.hi = min(b.hi, v-1)
			}
			b.upper = true
		case segments.OpLe:
			b.hi, b.upper = min(b.hi, v), true
		case segments.OpGt:
			if v == math.MaxInt64 {
				b.lo, b.hi = 1, 0
			} else {
				b.lo = max(b.lo, v+1)
			}
			b.lower = true
		case segments.OpGe:
			b.lo, b.lower = max(b.lo, v), true
		default:
			continue
		}
	}
	two := func(b bounds) bool { return b.lower && b.upper }
	best := -1
	for i, b := range cols {
		if b.lo == math.MinInt64 && b.hi == math.MaxInt64 {
			continue
		}
		if best < 0 || b.eq && !cols[best].eq || two(b) && !two(cols[best]) && !cols[best].eq {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	return &segments.KeyFilter{Column: cols[best].col, Keys: keyset.Range(cols[best].lo, cols[best].hi)}
}

// narrower reports whether a is expected to keep fewer rows than b: an
// empty set, then an exact one, then the one whose keys are sparser in
// their range (25 nation keys in [0, 24] drop no customer; 57K of the
// 150K customer keys drop most).
func narrower(a, b *keyset.Set) bool {
	switch {
	case a.IsEmpty() != b.IsEmpty():
		return a.IsEmpty()
	case a.Exact() != b.Exact():
		return a.Exact()
	}
	return density(a) < density(b)
}

// density is the share of the values in s's range that are keys, about
// (build rows with repeated keys count each time).
func density(s *keyset.Set) float64 {
	if !s.Exact() {
		return 1
	}
	return float64(s.Len()) / (float64(s.Max) - float64(s.Min) + 1)
}

// noteRuntime adds what the scan st dropped to the runtime filters fs,
// those of its ScanOptions.KeyFilters.
func noteRuntime(fs []*arrowexec.RuntimeFilter, st segments.ScanStats) {
	for i, f := range fs {
		if f != nil && i < len(st.KeyFilters) { // nil: the scan's own range (rangeFilter)
			f.RowGroupsSkipped.Add(int64(st.KeyFilters[i].RowGroupsSkipped))
			f.RowsDropped.Add(st.KeyFilters[i].RowsDropped)
		}
	}
}
