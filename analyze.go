package mantisdb

// EXPLAIN ANALYZE counters of tierSource (planner.ScanStats): the source
// takes the ScanStats of the context it is opened with and adds to it
// the row-store rows it returns, the segments it skips and, as each
// segment scan ends, the segments.ScanStats of that scan.

// noteSkipped counts a segment that is not read at all.
func (s *tierSource) noteSkipped() {
	if s.stats != nil {
		s.stats.Segments.Add(1)
		s.stats.SegmentsSkipped.Add(1)
	}
}

// noteScan adds the counters of the current segment scan. Row groups
// outside the scan's positions are pruned by key for a key lookup; for a
// partition of a parallel scan they belong to another partition and are
// not counted here.
func (s *tierSource) noteScan() {
	if s.cur != nil {
		noteRuntime(s.curRT, s.cur.Stats())
	}
	if s.stats == nil || s.cur == nil {
		return
	}
	st := s.cur.Stats()
	// A segment split over the partitions of a parallel scan counts once,
	// in the partition that holds its first row.
	if r := s.curSeg.rows; r == nil || r.Contains(0) {
		s.stats.Segments.Add(1)
	}
	rowGroups := st.RowGroups
	if s.ka != nil && s.ka.points != nil {
		s.stats.PrunedKey.Add(int64(st.Pruned.Rows))
	} else {
		rowGroups -= st.Pruned.Rows
	}
	s.stats.RowGroups.Add(int64(rowGroups))
	s.stats.RowGroupsRead.Add(int64(st.RowGroupsRead))
	s.stats.PrunedZoneMap.Add(int64(st.Pruned.ZoneMap))
	s.stats.PrunedBloom.Add(int64(st.Pruned.Bloom))
	s.stats.PrunedBitmap.Add(int64(st.Pruned.Bitmap))
	s.stats.SegmentRows.Add(st.RowsRead)
	s.stats.PrunedRuntime.Add(int64(st.Pruned.Runtime))
	s.stats.RowsFiltered.Add(st.RowsFiltered)
}
