package mantisdb

import (
	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/internal/keyset"
	"github.com/mantisdb/mantisdb/segments"
)

// Runtime filters of segment scans (planner/rtfilter.go,
// segments/keyfilter.go). A tierSource holds the runtime filters the
// planner gave its scan; each segment scan it starts takes, among those
// whose keys are published by then, the one expected to drop the most
// rows, and reports what it dropped to that filter. The row store is read
// whole: a runtime filter only narrows a superset, and the join above
// tests every row.

// keyFilter returns the segments.KeyFilter for the next segment scan and
// the runtime filter it comes from, or nils when no filter is published.
func (s *tierSource) keyFilter() (*segments.KeyFilter, *arrowexec.RuntimeFilter) {
	if s.withKey {
		// withKeys numbers the rows of a segment scan by the positions
		// it selected: a scan that drops rows would key the rows it
		// returns with the positions of others (the planner gives
		// such scans no runtime filter either).
		return nil, nil
	}
	var best *keyset.Set
	var from *arrowexec.RuntimeFilter
	col := -1
	for _, k := range s.runtime {
		ks := k.Filter.Keys()
		if ks == nil || k.Col < 0 || k.Col >= len(s.t.Columns) {
			continue
		}
		if best == nil || narrower(ks, best) {
			best, from, col = ks, k.Filter, k.Col
		}
	}
	if best == nil {
		return nil, nil
	}
	return &segments.KeyFilter{Column: s.t.Columns[col].Name, Keys: best}, from
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

// noteRuntime adds what the scan st dropped to the runtime filter f.
func noteRuntime(f *arrowexec.RuntimeFilter, st segments.ScanStats) {
	if f == nil {
		return
	}
	f.RowGroupsSkipped.Add(int64(st.Pruned.Runtime))
	f.RowsDropped.Add(st.RowsFiltered)
}
