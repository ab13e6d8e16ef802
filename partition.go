package mantisdb

import (
	"context"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/oltp"
	"github.com/mantisdb/mantisdb/planner"
	"github.com/mantisdb/mantisdb/segments"
)

// minPartitionRows is the fewest segment rows worth a partition of their
// own: below it the goroutine and reader setup outweigh the work.
const minPartitionRows = 64 << 10

// segPart is the share of one segment a partition reads: the positions of
// whole row groups.
type segPart struct {
	id   uint64
	rows *roaring.Bitmap
}

// ScanPartitions implements planner.PartitionedScanner (morsel
// parallelism): the row groups of the table's segments are dealt out in
// runs of about equal row counts, the first partition also reads the row
// store. Each row is in exactly one partition. It returns nil (no split)
// when the segments are too small to pay for it or their manifest cannot
// be read (the plain scan then reports the error).
func (p scanProvider) ScanPartitions(t *catalog.Table, cols []int, withKey bool, n int) []arrowexec.OpenSource {
	return p.scanPartitions(t, cols, withKey, n, nil, nil)
}

// ScanPartitionsFiltered implements planner.FilteredPartitionedScanner:
// the parts of ScanPartitions, whose segment scans prune row groups and
// rows with pred as ScanFiltered's do.
func (p scanProvider) ScanPartitionsFiltered(t *catalog.Table, cols []int, withKey bool, n int, pred planner.ScanPredicate) []arrowexec.OpenSource {
	return p.scanPartitions(t, cols, withKey, n, segPredicate(t, pred), pred.Runtime)
}

func (p scanProvider) scanPartitions(t *catalog.Table, cols []int, withKey bool, n int, filter segments.Predicate, rt []planner.RuntimeKey) []arrowexec.OpenSource {
	if n < 2 {
		return nil
	}
	ents, err := p.rv.snap.Segments(t.ID)
	if err != nil || len(ents) == 0 {
		return nil
	}
	var total int64
	for _, e := range ents {
		h, err := p.rv.v.handle(t.ID, e.ID)
		if err != nil {
			return nil
		}
		total += h.meta.Rows
	}
	n = int(min(int64(n), total/minPartitionRows))
	if n < 2 {
		return nil
	}
	// Deal row groups in order into n runs of about total/n rows.
	parts := make([][]segPart, n)
	per := (total + int64(n) - 1) / int64(n)
	part, inPart := 0, int64(0)
	for _, e := range ents {
		h, _ := p.rv.v.handle(t.ID, e.ID)
		for rg := 0; rg < h.r.RowGroups(); rg++ {
			start, rows := h.r.RowGroupSpan(rg)
			if inPart >= per && part < n-1 {
				part, inPart = part+1, 0
			}
			ps := parts[part]
			if len(ps) == 0 || ps[len(ps)-1].id != e.ID {
				ps = append(ps, segPart{id: e.ID, rows: roaring.New()})
			}
			ps[len(ps)-1].rows.AddRange(uint64(start), uint64(start+rows))
			parts[part] = ps
			inPart += rows
		}
	}
	opens := make([]arrowexec.OpenSource, 0, n)
	for i, ps := range parts {
		if len(ps) == 0 && i > 0 {
			continue
		}
		opens = append(opens, p.partition(t, cols, withKey, filter, rt, ps, i == 0))
	}
	if len(opens) < 2 {
		return nil
	}
	return opens
}

// partition opens the rows of ps (and of the row store when withStore),
// pruned by filter and the runtime filters rt.
func (p scanProvider) partition(t *catalog.Table, cols []int, withKey bool, filter segments.Predicate, rt []planner.RuntimeKey, ps []segPart, withStore bool) arrowexec.OpenSource {
	return func(ctx context.Context) (arrowexec.Source, error) {
		if err := p.rv.checkSchema(t); err != nil {
			return nil, err
		}
		ents, err := p.rv.snap.Segments(t.ID)
		if err != nil {
			return nil, err
		}
		var rs *oltp.Scanner
		if withStore {
			rs, err = p.rv.snap.Scan(t, cols, withKey)
		} else {
			rs, err = p.rv.snap.ScanSpans(t, cols, withKey, []oltp.KeySpan{}) // no row-store rows
		}
		if err != nil {
			return nil, err
		}
		// Keep the manifest entries of ps's segments, each with its rows.
		kept := ents[:0]
		var restrict []*roaring.Bitmap
		for _, e := range ents {
			for _, sp := range ps {
				if sp.id == e.ID {
					kept = append(kept, e)
					restrict = append(restrict, sp.rows)
				}
			}
		}
		s, err := p.rv.db.newTierSource(ctx, p.rv.v, t, cols, withKey, filter, nil, rs, kept)
		if err != nil {
			return nil, err
		}
		s.restrictSegments(kept, restrict)
		s.runtime = rt
		return s, nil
	}
}

var (
	_ planner.PartitionedScanner         = scanProvider{}
	_ planner.FilteredPartitionedScanner = scanProvider{}
)

// EstimateRows implements planner.RowEstimator: the live rows of the
// table's segments (manifest row counts less their delete bitmaps) plus the
// compactor's in-memory count of rows written to the row store since the
// last compaction. Nothing is read from storage but the manifest.
func (p scanProvider) EstimateRows(t *catalog.Table) (int64, bool) {
	ents, err := p.rv.snap.Segments(t.ID)
	if err != nil {
		return 0, false
	}
	n := max(p.rv.db.freshOf(t.ID).rows.Load(), 0)
	for _, e := range ents {
		h, err := p.rv.v.handle(t.ID, e.ID)
		if err != nil {
			return 0, false
		}
		n += h.meta.Rows
		if e.Deleted != nil {
			n -= int64(e.Deleted.GetCardinality())
		}
	}
	return n, true
}

var _ planner.RowEstimator = scanProvider{}
