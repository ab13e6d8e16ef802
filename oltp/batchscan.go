package oltp

import (
	"fmt"
	"sort"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb/catalog"
)

// batchRef is a batch entry a scan reads: where its body is, and which of
// its rows are deleted for the reader.
type batchRef struct {
	m       *batchMeta
	r       reader
	deleted *roaring.Bitmap // nil: none
}

// batchRefs lists the batch entries of t that a scan of r (restricted to
// spans unless nil) reads, with their delete bitmaps. With tx, the Txn's own
// batch entries and its own deletions are included.
func (s *Store) batchRefs(r reader, t *catalog.Table, spans []KeySpan, tx *Txn) ([]batchRef, error) {
	if spans != nil && len(spans) == 0 {
		return nil, nil
	}
	metas, err := s.batchMetas(r, t.ID)
	if err != nil {
		return nil, err
	}
	var refs []batchRef
	add := func(m *batchMeta, r reader, committed bool) error {
		if spans != nil {
			hit := false
			for _, sp := range spans {
				hit = hit || m.overlaps(sp.Start, sp.End)
			}
			if !hit {
				return nil
			}
		}
		var del *roaring.Bitmap
		if committed {
			var err error
			if del, err = readBitmap(r, t.ID, m.id); err != nil {
				return err
			}
		}
		if tx != nil {
			if st := tx.segs[m.id]; st != nil && st.own != nil && !st.own.IsEmpty() {
				if del == nil {
					del = st.own.Clone()
				} else {
					del.Or(st.own)
				}
			}
		}
		if del != nil && del.GetCardinality() >= uint64(m.rows) {
			return nil
		}
		refs = append(refs, batchRef{m: m, r: r, deleted: del})
		return nil
	}
	for _, m := range metas {
		if err := add(m, r, true); err != nil {
			return nil, err
		}
	}
	if tx != nil {
		for _, m := range tx.batches {
			if m.table == t.ID {
				if err := add(m, tx.b, false); err != nil {
					return nil, err
				}
			}
		}
	}
	return refs, nil
}

// batchScan is the part of a Scanner that reads batch entries: each
// entry's body is decoded once and handed out in slices (zero-copy when no
// row of the slice is deleted or outside the spans, else gathered).
type batchScan struct {
	t     *catalog.Table
	mem   memory.Allocator
	cache *batchCache
	cols  []int
	refs  []batchRef
	next  int // next entry of refs

	cur  arrow.RecordBatch // decoded entry being read; nil between entries
	ref  *batchRef
	all  bool     // every row of cur is returned
	sel  []uint32 // else the positions returned
	pos  int      // next row (all) or next index into sel
	cr   []colReader
	refv []rowRef
	keys *array.BinaryBuilder
	kbuf []byte
}

func (b *batchScan) release() {
	if b.cur != nil {
		b.cur.Release()
		b.cur = nil
	}
	if b.keys != nil {
		b.keys.Release()
		b.keys = nil
	}
}

// selectRows returns the positions of ref's rows to read: all, or those
// in sel (sorted).
func (sc *Scanner) selectRows(ref *batchRef) (all bool, sel []uint32, err error) {
	m := ref.m
	if sc.spans == nil {
		if ref.deleted == nil || ref.deleted.IsEmpty() {
			return true, nil, nil
		}
		return false, liveBitmap(m.rows, ref.deleted).ToArray(), nil
	}
	if err := sc.bs.loadKeys(ref); err != nil {
		return false, nil, err
	}
	bm := roaring.New()
	for _, sp := range sc.spans {
		if !m.overlaps(sp.Start, sp.End) {
			continue
		}
		lo, hi := 0, m.rows
		if sp.Start != nil {
			lo = m.lowerBound(sp.Start)
		}
		if sp.End != nil {
			hi = m.lowerBound(sp.End)
		}
		if lo < hi {
			bm.AddRange(uint64(lo), uint64(hi))
		}
	}
	if ref.deleted != nil {
		bm.AndNot(ref.deleted)
	}
	return false, bm.ToArray(), nil
}

// loadKeys loads the row keys of ref's entry.
func (b *batchScan) loadKeys(ref *batchRef) error {
	m := ref.m
	if !m.hasPK {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.keys == nil {
			keys := make([]byte, 0, m.rows*(rowPrefixLen+8))
			offs := make([]uint32, 1, m.rows+1)
			for i := 0; i < m.rows; i++ {
				keys = appendInt64Key(appendRowPrefix(keys, b.t.ID), int64(m.rowIDBase)+int64(i))
				offs = append(offs, uint32(len(keys)))
			}
			m.keys, m.offs = keys, offs
		}
		return nil
	}
	return loadKeysFrom(ref.r, b.mem, b.t, m)
}

// loadKeysFrom is Store.loadKeys without the cache accounting.
func loadKeysFrom(r reader, mem memory.Allocator, t *catalog.Table, m *batchMeta) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.keys != nil {
		return nil
	}
	rec, err := readBody(r, mem, t, m, nil, false)
	if err != nil {
		return err
	}
	defer rec.Release()
	cols := make([]colReader, len(t.Columns))
	for _, k := range t.PrimaryKey {
		if err := cols[k].reset(t.Columns[k].Type, rec.Column(k)); err != nil {
			return fmt.Errorf("batch entry %d: %w: %v", m.id, ErrCorruption, err)
		}
	}
	m.keys, m.offs = appendRowKeys(nil, nil, t, cols, m.rows)
	return nil
}

// nextBatchRows reads the next batch of rows of batch entries.
func (sc *Scanner) nextBatchRows() bool {
	b := &sc.bs
	for sc.err == nil {
		if b.cur == nil {
			if b.next >= len(b.refs) {
				return false
			}
			ref := &b.refs[b.next]
			b.next++
			all, sel, err := sc.selectRows(ref)
			if err != nil {
				sc.err = err
				return false
			}
			if !all && len(sel) == 0 {
				continue
			}
			rec, err := readBody(ref.r, b.mem, b.t, ref.m, b.cache, true)
			if err != nil {
				sc.err = err
				return false
			}
			b.cur, b.ref, b.all, b.sel, b.pos = rec, ref, all, sel, 0
			if !all {
				if b.cr == nil {
					b.cr = make([]colReader, len(b.t.Columns))
				}
				for _, c := range b.cols {
					if err := b.cr[c].reset(b.t.Columns[c].Type, rec.Column(c)); err != nil {
						sc.err = fmt.Errorf("batch entry %d: %w: %v", ref.m.id, ErrCorruption, err)
						return false
					}
				}
			}
		}
		sc.emitBatchRows()
		return true
	}
	return false
}

// emitBatchRows makes the next up to batchSize rows of the current entry
// the Scanner's record.
func (sc *Scanner) emitBatchRows() {
	b := &sc.bs
	n, first, contiguous := 0, 0, true
	if b.all {
		first = b.pos
		n = min(int(b.cur.NumRows())-b.pos, sc.batchSize)
	} else {
		n = min(len(b.sel)-b.pos, sc.batchSize)
		first = int(b.sel[b.pos])
		contiguous = int(b.sel[b.pos+n-1])-first == n-1
	}
	var sel []uint32
	if !contiguous {
		sel = b.sel[b.pos : b.pos+n]
		b.refv = b.refv[:0]
		for _, p := range sel {
			b.refv = append(b.refv, rowRef{pos: int32(p)})
		}
	}
	for i, c := range b.cols {
		if contiguous {
			sc.arrs[i] = array.NewSlice(b.cur.Column(c), int64(first), int64(first+n))
		} else {
			sc.arrs[i] = gather(b.mem, b.t.Columns[c].Type, b.cr[c:c+1], b.refv)
		}
	}
	if sc.key != nil {
		sc.key.Reserve(n)
		for i := 0; i < n; i++ {
			p := uint32(first + i)
			if sel != nil {
				p = sel[i]
			}
			b.kbuf = AppendSegmentRowKey(b.kbuf[:0], b.t.ID, b.ref.m.id, p)
			sc.key.Append(b.kbuf)
		}
		sc.arrs[len(b.cols)] = sc.key.NewArray()
	}
	sc.rec = array.NewRecordBatch(sc.schema, sc.arrs, int64(n))
	for i, a := range sc.arrs {
		a.Release()
		sc.arrs[i] = nil
	}
	b.pos += n
	if b.all && b.pos >= int(b.cur.NumRows()) || !b.all && b.pos >= len(b.sel) {
		b.cur.Release()
		b.cur = nil
	}
}

// keysFromRec sets the row keys of m from its decoded rows rec, unless
// they are loaded.
func keysFromRec(t *catalog.Table, m *batchMeta, rec arrow.RecordBatch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.keys != nil {
		return nil
	}
	if !m.hasPK {
		keys := make([]byte, 0, m.rows*(rowPrefixLen+8))
		offs := make([]uint32, 1, m.rows+1)
		for i := 0; i < m.rows; i++ {
			keys = appendInt64Key(appendRowPrefix(keys, t.ID), int64(m.rowIDBase)+int64(i))
			offs = append(offs, uint32(len(keys)))
		}
		m.keys, m.offs = keys, offs
		return nil
	}
	cols := make([]colReader, len(t.Columns))
	for _, k := range t.PrimaryKey {
		if err := cols[k].reset(t.Columns[k].Type, rec.Column(k)); err != nil {
			return fmt.Errorf("batch entry %d: %w: %v", m.id, ErrCorruption, err)
		}
	}
	m.keys, m.offs = appendRowKeys(nil, nil, t, cols, m.rows)
	return nil
}

// Placement tells CommitCompaction where the rows of the fresh tier went
// in a segment written from a CompactionScan. It is owned by the scan.
type Placement struct {
	rowPos  []uint32 // segment position of the i-th row entry in key order
	batches []placedBatch
	total   int64
}

// placedBatch is where the rows of one batch entry went: posOf[i] is the
// segment position of row i, noPos for rows deleted at the snapshot.
type placedBatch struct {
	id    uint64
	posOf []uint32
}

const noPos = ^uint32(0)

// compSource is one input of a CompactionScan: a batch of row entries or
// a batch entry.
type compSource struct {
	rec  arrow.RecordBatch
	cr   []colReader
	slot int // index in the current output's sources, valid when gen matches
	gen  int
	// Batch entries only:
	m     *batchMeta
	live  []uint32 // positions not deleted at the snapshot
	i     int      // next index into live
	place *placedBatch
}

// CompactionScan reads the fresh tier of a table at a snapshot — its row
// entries and the live rows of its batch entries — merged in key order,
// with every column, for the compactor. It is not safe for concurrent use;
// close it before the Snapshot.
type CompactionScan struct {
	t         *catalog.Table
	mem       memory.Allocator
	batchSize int
	snap      reader
	cache     *batchCache

	rows    *Scanner // row entries only, with keys
	rowSrc  *compSource
	rowKeys *array.Binary
	rowI    int
	rowsEOF bool

	pending []*compSource // batch entries by first key, not yet decoded
	active  []*compSource

	place Placement
	gen   int
	srcs  []*compSource // sources of the output being built
	hold  []arrow.RecordBatch
	refs  []rowRef
	colv  []colReader
	rec   arrow.RecordBatch
	err   error
}

// CompactionScan returns a scan of t's fresh tier at the snapshot in key
// order; its Placement goes into SegmentAdd.Placement.
func (sn *Snapshot) CompactionScan(t *catalog.Table) (*CompactionScan, error) {
	if err := sn.check(); err != nil {
		return nil, err
	}
	all := make([]int, len(t.Columns))
	for i := range all {
		all[i] = i
	}
	rs, err := newScanner(sn.snap, sn.s.opts.Allocator, sn.s.opts.BatchSize, t, all, true, nil, nil, nil)
	if err != nil {
		return nil, err
	}
	cs := &CompactionScan{t: t, mem: sn.s.opts.Allocator, batchSize: sn.s.opts.BatchSize, snap: sn.snap, rows: rs,
		cache: &sn.s.batches}
	refs, err := sn.s.batchRefs(sn.snap, t, nil, nil)
	if err != nil {
		_ = rs.Close()
		return nil, err
	}
	// batchRefs leaves out entries whose rows are all deleted; they are
	// placed too, so that the swap removes them.
	metas, err := sn.s.batchMetas(sn.snap, t.ID)
	if err != nil {
		_ = rs.Close()
		return nil, err
	}
	for _, m := range metas {
		pb := placedBatch{id: m.id}
		cs.place.batches = append(cs.place.batches, pb)
	}
	for i := range refs {
		var place *placedBatch
		for j := range cs.place.batches {
			if cs.place.batches[j].id == refs[i].m.id {
				place = &cs.place.batches[j]
			}
		}
		place.posOf = make([]uint32, refs[i].m.rows)
		for k := range place.posOf {
			place.posOf[k] = noPos
		}
		src := &compSource{m: refs[i].m, place: place, gen: -1}
		if d := refs[i].deleted; d != nil {
			src.live = liveBitmap(refs[i].m.rows, d).ToArray()
		}
		cs.pending = append(cs.pending, src)
	}
	slicesSortByMin(cs.pending)
	return cs, nil
}

// minSliceRows is the shortest run of a batch entry's rows that Next hands
// on as a zero-copy slice of the decoded entry instead of gathering it row
// by row: shorter runs (entries whose keys interleave with other sources)
// would make the segment writer take many tiny records. A variable for
// tests.
var minSliceRows = 256

// Next advances to the next batch of at most the store's batch size rows.
//
// A batch entry's live rows are in key order already: a run of them that no
// other source's key interleaves with and that has no deleted row inside
// (the whole entry, in the common case of a bulk load) becomes a slice of
// the decoded entry's columns; only the rows around interleavings and
// deletions are gathered one by one.
func (cs *CompactionScan) Next() bool {
	if cs.rec != nil {
		cs.rec.Release()
		cs.rec = nil
	}
	if cs.err != nil {
		return false
	}
	cs.gen++
	cs.srcs = cs.srcs[:0]
	cs.refs = cs.refs[:0]
	for len(cs.refs) < cs.batchSize {
		src, key, bound, err := cs.head()
		if err != nil {
			cs.err = err
			break
		}
		for len(cs.pending) > 0 && (src == nil || bytesCompare(cs.pending[0].m.min, key) <= 0) {
			if err := cs.activate(); err != nil {
				cs.err = err
				break
			}
			if src, key, bound, err = cs.head(); err != nil {
				cs.err = err
				break
			}
		}
		if cs.err != nil || src == nil {
			break
		}
		if src.m != nil {
			// Pending entries start after key: the first one bounds the
			// run of src too.
			if len(cs.pending) > 0 && (bound == nil || bytesCompare(cs.pending[0].m.min, bound) < 0) {
				bound = cs.pending[0].m.min
			}
			if n := src.run(bound, cs.batchSize); n >= minSliceRows {
				if len(cs.refs) == 0 {
					cs.emitSlice(src, n)
				}
				// Else the rows gathered so far go first; the run is
				// sliced by the next call.
				break
			}
		}
		if src.gen != cs.gen {
			src.gen, src.slot = cs.gen, len(cs.srcs)
			cs.srcs = append(cs.srcs, src)
		}
		pos := cs.place.total
		cs.place.total++
		if src.m == nil {
			cs.refs = append(cs.refs, rowRef{src: int32(src.slot), pos: int32(cs.rowI)})
			cs.place.rowPos = append(cs.place.rowPos, uint32(pos))
			cs.rowI++
		} else {
			p := src.pos()
			cs.refs = append(cs.refs, rowRef{src: int32(src.slot), pos: int32(p)})
			src.place.posOf[p] = uint32(pos)
			src.i++
		}
	}
	if cs.err == nil && cs.rec == nil && len(cs.refs) > 0 {
		cols := make([]arrow.Array, len(cs.t.Columns))
		for c := range cs.t.Columns {
			cs.colv = cs.colv[:0]
			for _, s := range cs.srcs {
				cs.colv = append(cs.colv, s.cr[c])
			}
			cols[c] = gather(cs.mem, cs.t.Columns[c].Type, cs.colv, cs.refs)
		}
		cs.rec = array.NewRecordBatch(cs.t.Schema(), cols, int64(len(cs.refs)))
		for _, c := range cols {
			c.Release()
		}
	}
	for _, r := range cs.hold {
		r.Release()
	}
	cs.hold = cs.hold[:0]
	return cs.rec != nil
}

// emitSlice makes the next n live rows of the batch entry source src, which
// are consecutive rows of the entry (see run), the current record: a slice
// of the decoded entry, no copy.
func (cs *CompactionScan) emitSlice(src *compSource, n int) {
	first := src.pos()
	base := uint32(cs.place.total)
	posOf := src.place.posOf[first : first+n]
	for k := range posOf {
		posOf[k] = base + uint32(k)
	}
	cs.place.total += int64(n)
	src.i += n
	cs.rec = src.rec.NewSlice(int64(first), int64(first+n))
}

// run returns how many of the next live rows of the batch entry source s,
// at most limit, are consecutive rows of the entry (no deleted row between
// them) with keys below bound (nil: no bound). It returns 0 early when the
// run is shorter than minSliceRows, at the cost of one key comparison, so
// that interleaved sources pay little for the check.
func (s *compSource) run(bound []byte, limit int) int {
	left := s.m.rows - s.i
	if s.live != nil {
		left = len(s.live) - s.i
	}
	n := min(left, limit)
	if n < minSliceRows || n <= 0 {
		return 0
	}
	first := s.pos()
	if s.live != nil {
		// live is strictly increasing, so live[j]-j never decreases and
		// the rows from s.i on are consecutive while it stays the same.
		d := s.live[s.i] - uint32(s.i)
		if s.live[s.i+minSliceRows-1]-uint32(s.i+minSliceRows-1) != d {
			return 0
		}
		n = sort.Search(n, func(k int) bool { return s.live[s.i+k]-uint32(s.i+k) != d })
	}
	// Rows first..first+n-1 of the entry are live; cut them at bound.
	if bound == nil {
		return n
	}
	if bytesCompare(s.m.keyAt(first+minSliceRows-1), bound) >= 0 {
		return 0
	}
	if bytesCompare(s.m.keyAt(first+n-1), bound) < 0 {
		return n
	}
	return sort.Search(n, func(k int) bool { return bytesCompare(s.m.keyAt(first+k), bound) >= 0 })
}

// pos returns the position of the next live row of a batch entry source.
func (s *compSource) pos() int {
	if s.live == nil {
		return s.i
	}
	return int(s.live[s.i])
}

func (s *compSource) done() bool {
	if s.live == nil {
		return s.i >= s.m.rows
	}
	return s.i >= len(s.live)
}

// head returns the source holding the smallest next key, that key, and the
// smallest next key of the other active sources (nil: none); a nil source
// at the end of every active source.
func (cs *CompactionScan) head() (best *compSource, bestKey, bound []byte, err error) {
	if !cs.rowsEOF {
		if cs.rowSrc == nil || cs.rowI >= int(cs.rowSrc.rec.NumRows()) {
			if err := cs.nextRowRec(); err != nil {
				return nil, nil, nil, err
			}
		}
		if !cs.rowsEOF {
			best, bestKey = cs.rowSrc, cs.rowKeys.Value(cs.rowI)
		}
	}
	kept := cs.active[:0]
	for _, s := range cs.active {
		if s.done() {
			cs.hold = append(cs.hold, s.rec)
			continue
		}
		kept = append(kept, s)
		k := s.m.keyAt(s.pos())
		switch {
		case best == nil:
			best, bestKey = s, k
		case bytesCompare(k, bestKey) < 0:
			bound = bestKey
			best, bestKey = s, k
		case bound == nil || bytesCompare(k, bound) < 0:
			bound = k
		}
	}
	clear(cs.active[len(kept):])
	cs.active = kept
	return best, bestKey, bound, nil
}

// nextRowRec moves to the next batch of row entries.
func (cs *CompactionScan) nextRowRec() error {
	if cs.rowSrc != nil {
		cs.hold = append(cs.hold, cs.rowSrc.rec)
		cs.rowSrc = nil
	}
	if !cs.rows.Next() {
		cs.rowsEOF = true
		return cs.rows.Err()
	}
	rec := cs.rows.Record()
	rec.Retain()
	src := &compSource{rec: rec, cr: make([]colReader, len(cs.t.Columns)), gen: -1}
	for c := range cs.t.Columns {
		if err := src.cr[c].reset(cs.t.Columns[c].Type, rec.Column(c)); err != nil {
			rec.Release()
			return err
		}
	}
	cs.rowSrc, cs.rowI = src, 0
	cs.rowKeys = rec.Column(len(cs.t.Columns)).(*array.Binary)
	return nil
}

// activate decodes the next pending batch entry.
func (cs *CompactionScan) activate() error {
	src := cs.pending[0]
	cs.pending = cs.pending[1:]
	rec, err := readBody(cs.snap, cs.mem, cs.t, src.m, cs.cache, false)
	if err != nil {
		return err
	}
	if err := keysFromRec(cs.t, src.m, rec); err != nil {
		rec.Release()
		return err
	}
	src.rec = rec
	src.cr = make([]colReader, len(cs.t.Columns))
	for c := range cs.t.Columns {
		if err := src.cr[c].reset(cs.t.Columns[c].Type, rec.Column(c)); err != nil {
			return err
		}
	}
	cs.active = append(cs.active, src)
	return nil
}

// Record returns the current batch, valid until the next call of Next.
func (cs *CompactionScan) Record() arrow.RecordBatch { return cs.rec }

// Err returns the error that ended the scan.
func (cs *CompactionScan) Err() error { return cs.err }

// Entries returns the number of batch entries the scan placed (including
// those whose rows were all deleted).
func (p *Placement) Entries() int { return len(p.batches) }

// Placement returns where the rows went; complete once Next returned
// false without error.
func (cs *CompactionScan) Placement() *Placement { return &cs.place }

// Close releases the scan. It is idempotent.
func (cs *CompactionScan) Close() error {
	if cs.rec != nil {
		cs.rec.Release()
		cs.rec = nil
	}
	for _, r := range cs.hold {
		r.Release()
	}
	cs.hold = nil
	if cs.rowSrc != nil {
		cs.rowSrc.rec.Release()
		cs.rowSrc = nil
	}
	for _, s := range cs.active {
		s.rec.Release()
	}
	cs.active = nil
	if cs.rows == nil {
		return nil
	}
	err := cs.rows.Close()
	cs.rows = nil
	return err
}
