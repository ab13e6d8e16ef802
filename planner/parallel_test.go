package planner

import (
	"fmt"
	"runtime"
	"sort"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/catalog"
)

// partStore is a store whose scans split into parts of whole batches.
type partStore struct {
	*store
	splits int // ScanPartitions calls
}

func (p *partStore) ScanPartitions(t *catalog.Table, cols []int, withKey bool, n int) []arrowexec.OpenSource {
	p.splits++
	recs := p.tables[t.ID]
	var out []arrowexec.OpenSource
	for i := 0; i < n; i++ {
		lo, hi := len(recs)*i/n, len(recs)*(i+1)/n
		part := &store{t: p.t, mem: p.mem, cat: p.cat, tables: map[uint64][]arrow.RecordBatch{t.ID: recs[lo:hi]}}
		out = append(out, part.Scan(t, cols, withKey))
	}
	return out
}

// estPartStore is a partStore that estimates table sizes, so that joins
// choose their build sides and pipelines share them (sharedJoinProbe).
type estPartStore struct{ *partStore }

func (e estPartStore) EstimateRows(t *catalog.Table) (int64, bool) {
	return estimating{e.store}.EstimateRows(t)
}

// TestParallelTPCH runs the TPC-H queries serially and with partitioned
// scans (whose pipelines run through hash joins, probing build sides they
// share) and compares the results as multisets, without and with row
// estimates.
func TestParallelTPCH(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	s := newStore(t)
	for _, q := range tpchDDL {
		s.mustRun(q)
	}
	for _, q := range tpchInserts(1) {
		s.mustRun(q)
	}
	ps := &partStore{store: s}
	for _, src := range []SourceProvider{ps, estPartStore{ps}} {
		testParallelTPCH(t, s, src)
	}
	if ps.splits == 0 {
		t.Error("no scan was partitioned")
	}
}

func testParallelTPCH(t *testing.T, s *store, src SourceProvider) {
	for i, q := range tpchQueryTexts {
		p, err := Prepare(q, s.cat)
		if err != nil {
			t.Fatal(err)
		}
		serial, err := p.Build(s)
		if err != nil {
			t.Fatal(err)
		}
		want, err := drain(s, serial)
		if err != nil {
			t.Fatalf("Q%d serial: %v", i+1, err)
		}
		par, err := p.Build(src)
		if err != nil {
			t.Fatal(err)
		}
		got, err := drain(s, par)
		if err != nil {
			t.Fatalf("Q%d parallel (%T): %v", i+1, src, err)
		}
		if a, b := sortedRows(got), sortedRows(want); a != b {
			t.Errorf("Q%d (%T): parallel %s\nserial %s", i+1, src, a, b)
		}
	}
}

func sortedRows(rows [][]string) string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = fmt.Sprint(r)
	}
	sort.Strings(out)
	return fmt.Sprint(out)
}
