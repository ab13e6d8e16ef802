package mantisdb

import (
	"github.com/mantisdb/mantisdb/arrowexec"
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
	// Insertion sort of the few filters, the sparsest first.
	for i := 1; i < len(kfs); i++ {
		for j := i; j > 0 && narrower(kfs[j].Keys, kfs[j-1].Keys); j-- {
			kfs[j], kfs[j-1] = kfs[j-1], kfs[j]
			from[j], from[j-1] = from[j-1], from[j]
		}
	}
	return kfs, from
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
		if i < len(st.KeyFilters) {
			f.RowGroupsSkipped.Add(int64(st.KeyFilters[i].RowGroupsSkipped))
			f.RowsDropped.Add(st.KeyFilters[i].RowsDropped)
		}
	}
}
