package mantisdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/oltp"
	"github.com/mantisdb/mantisdb/planner"
	"github.com/mantisdb/mantisdb/segments"
)

// The columnar tier as the root package holds it.
//
// The manifest (which segments are live, with their delete bitmaps) lives
// in Pebble, so every snapshot has its own. The open segment files live
// here: a segHandle per segment, shared by the versions that list it. A
// version is the set of segments that some snapshot may read: the reader
// of a snapshot takes the snapshot and a reference to the current version
// together, under tierSet.mu, and releases the version with the snapshot.
// A compaction or merge installs a version holding its new segment before
// it commits the manifest batch, and one without the segments it removed
// after; so a snapshot taken at any instant finds every segment of its
// manifest in its version. A segment's files are removed when the last
// version listing it is released and the segment has left the manifest
// (obsolete); a crash before that leaves files that Open removes as
// orphans (segments.RemoveOrphans with the manifest's ids).

// segHandle is one open segment.
type segHandle struct {
	table    uint64
	meta     *segments.Meta
	r        *segments.Reader
	refs     atomic.Int32 // versions listing the handle
	obsolete atomic.Bool  // the segment left the manifest: remove its files at the last unref
}

// version is a set of open segments, per table in id order.
type version struct {
	refs   atomic.Int32
	tables map[uint64][]*segHandle
}

// tierSet owns the open segments of a DB.
type tierSet struct {
	fs  vfs.FS
	dir string
	log *slog.Logger

	mu  sync.Mutex
	cur *version
}

func (ts *tierSet) unref(h *segHandle) {
	if h.refs.Add(-1) != 0 {
		return
	}
	if err := h.r.Close(); err != nil {
		ts.log.Warn("cannot close segment", "segment", h.meta.ID, "err", err)
	}
	if h.obsolete.Load() {
		if err := segments.Remove(ts.fs, ts.dir, h.meta.ID); err != nil {
			ts.log.Warn("cannot remove segment files; they are removed at the next open", "segment", h.meta.ID, "err", err)
		}
	}
}

// release drops one reference to v.
func (ts *tierSet) release(v *version) {
	if v == nil || v.refs.Add(-1) != 0 {
		return
	}
	for _, hs := range v.tables {
		for _, h := range hs {
			ts.unref(h)
		}
	}
}

// acquireLocked returns the current version with a reference the caller
// releases. The caller holds ts.mu.
func (ts *tierSet) acquireLocked() *version {
	v := ts.cur
	v.refs.Add(1)
	return v
}

// current returns the handles of table in the current version and the
// version, referenced, for the caller to release. A writer's IX lock does
// not keep the list from changing: a compaction installs its new segment
// before it waits for the table's S lock, and removes it again (closing
// it) when that wait times out; the reference keeps it open meanwhile.
func (ts *tierSet) current(table uint64) ([]*segHandle, *version) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.cur.tables[table], ts.acquireLocked()
}

// install makes a copy of the current version with edit applied current.
func (ts *tierSet) install(edit func(tables map[uint64][]*segHandle)) {
	ts.mu.Lock()
	old := ts.cur
	nv := &version{tables: make(map[uint64][]*segHandle, len(old.tables)+1)}
	for id, hs := range old.tables {
		nv.tables[id] = hs
	}
	edit(nv.tables)
	nv.refs.Store(1)
	for _, hs := range nv.tables {
		for _, h := range hs {
			h.refs.Add(1)
		}
	}
	ts.cur = nv
	ts.mu.Unlock()
	ts.release(old)
}

// add installs a version with h.
func (ts *tierSet) add(h *segHandle) {
	ts.install(func(tables map[uint64][]*segHandle) {
		hs := append(append([]*segHandle(nil), tables[h.table]...), h)
		sort.Slice(hs, func(i, j int) bool { return hs[i].meta.ID < hs[j].meta.ID })
		tables[h.table] = hs
	})
}

// remove marks the segments ids of table obsolete and installs a version
// without them.
func (ts *tierSet) remove(table uint64, ids ...uint64) {
	ts.install(func(tables map[uint64][]*segHandle) {
		var keep []*segHandle
		for _, h := range tables[table] {
			gone := false
			for _, id := range ids {
				gone = gone || h.meta.ID == id
			}
			if gone {
				h.obsolete.Store(true)
			} else {
				keep = append(keep, h)
			}
		}
		if len(keep) == 0 {
			delete(tables, table)
		} else {
			tables[table] = keep
		}
	})
}

// dropTable marks every segment of table obsolete and forgets them.
func (ts *tierSet) dropTable(table uint64) {
	ts.install(func(tables map[uint64][]*segHandle) {
		for _, h := range tables[table] {
			h.obsolete.Store(true)
		}
		delete(tables, table)
	})
}

// close releases the current version; segments still read by open
// snapshots close with them.
func (ts *tierSet) close() {
	ts.mu.Lock()
	v := ts.cur
	ts.cur = &version{}
	ts.mu.Unlock()
	ts.release(v)
}

// openTiers opens the segments of every table's manifest and removes
// orphan files: files of interrupted compactions and merges, of dropped
// tables, and of segments merged away before a crash.
func openTiers(fs vfs.FS, dir string, log *slog.Logger, st *oltp.Store, tables []*catalog.Table) (*tierSet, error) {
	ts := &tierSet{fs: fs, dir: dir, log: log, cur: &version{tables: map[uint64][]*segHandle{}}}
	ts.cur.refs.Store(1)
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create segment directory: %w", err)
	}
	snap := st.Snapshot()
	defer snap.Close()
	live := map[uint64]bool{}
	var handles []*segHandle
	fail := func(err error) (*tierSet, error) {
		for _, h := range handles {
			_ = h.r.Close()
		}
		return nil, err
	}
	for _, t := range tables {
		ents, err := snap.Segments(t.ID)
		if err != nil {
			return fail(err)
		}
		for _, e := range ents {
			m, err := segments.DecodeMeta(e.Meta)
			if err != nil {
				return fail(fmt.Errorf("cannot read manifest entry of segment %d of table %q: %w", e.ID, t.Name, err))
			}
			r, err := segments.Open(fs, dir, m)
			if err != nil {
				return fail(fmt.Errorf("table %q: %w", t.Name, err))
			}
			live[e.ID] = true
			handles = append(handles, &segHandle{table: t.ID, meta: m, r: r})
		}
	}
	removed, err := segments.RemoveOrphans(fs, dir, func(id uint64) bool { return live[id] })
	if err != nil {
		return fail(fmt.Errorf("cannot remove orphan segment files: %w", err))
	}
	if len(removed) > 0 {
		log.Info("removed orphan segment files", "files", len(removed))
	}
	for _, h := range handles {
		h.refs.Store(1)
		ts.cur.tables[h.table] = append(ts.cur.tables[h.table], h)
	}
	return ts, nil
}

// snapshot returns a snapshot of the store and the version of the segments
// it can read; the caller releases both (readView.close).
func (db *DB) snapshot() readView {
	db.tiers.mu.Lock()
	defer db.tiers.mu.Unlock()
	// The catalog is read around the snapshot: when no schema change was
	// in progress and none was published meanwhile, the snapshot's
	// descriptors are those of the catalog at that version (a change is
	// in progress from before it writes until after it publishes).
	v0 := db.cat.Version()
	rv := readView{db: db, snap: db.store.Snapshot(), v: db.tiers.acquireLocked()}
	rv.stable = db.ddlActive.Load() == 0 && db.cat.Version() == v0
	rv.catVersion = v0
	return rv
}

// readSnapshot is snapshot for a read whose rows a client sees: it returns
// once every commit the snapshot can see is durable (oltp.Store.WaitDurable).
func (db *DB) readSnapshot() (readView, error) {
	rv := db.snapshot()
	if err := db.store.WaitDurable(); err != nil {
		rv.close()
		return readView{}, err
	}
	return rv, nil
}

// beginTxn starts a store transaction and returns it with the version of
// the segments its snapshot can read; the caller releases the version once
// the transaction ended.
func (db *DB) beginTxn() (*oltp.Txn, *version) {
	db.tiers.mu.Lock()
	defer db.tiers.mu.Unlock()
	return db.store.Begin(), db.tiers.acquireLocked()
}

// readView is a snapshot with its segments.
type readView struct {
	db   *DB
	snap *oltp.Snapshot
	v    *version
	// stable: the snapshot's table descriptors are those of the catalog
	// at catVersion (see DB.snapshot).
	stable     bool
	catVersion uint64
}

// checkSchema is checkSchema of rv's snapshot. While the catalog is still
// at the version whose descriptors the snapshot holds, a t that is the
// catalog's descriptor passes without reading the snapshot's.
func (rv *readView) checkSchema(t *catalog.Table) error {
	if rv.stable && rv.db.cat.Version() == rv.catVersion {
		if cur, ok := rv.db.cat.Table(t.Name); ok && cur == t {
			return nil
		}
	}
	return checkSchema(rv.snap, t)
}

func (rv *readView) close() error {
	var err error
	if rv.snap != nil {
		err = rv.snap.Close()
		rv.snap = nil
	}
	if rv.v != nil {
		rv.db.tiers.release(rv.v)
		rv.v = nil
	}
	return err
}

// handle returns the open segment id of table in v.
func (v *version) handle(table, id uint64) (*segHandle, error) {
	for _, h := range v.tables[table] {
		if h.meta.ID == id {
			return h, nil
		}
	}
	return nil, sqlstate.Errorf(sqlstate.Internal, "segment %d of table %d is in the manifest but not open", id, table)
}

// scanProvider opens scans of one snapshot (row store and segments) for
// the planner.
type scanProvider struct{ rv *readView }

func (p scanProvider) Scan(t *catalog.Table, cols []int, withKey bool) arrowexec.OpenSource {
	return p.scanPruned(t, cols, withKey, nil, nil)
}

// scanPruned is Scan with a predicate that segment scans use to prune row
// groups and rows (zone maps, bitmaps, bloom filters) and runtime filters
// (tierSource.runtime); the row store is read whole.
func (p scanProvider) scanPruned(t *catalog.Table, cols []int, withKey bool, filter segments.Predicate, rt []planner.RuntimeKey) arrowexec.OpenSource {
	if t.System {
		return p.rv.db.systemScan(t, cols, withKey)
	}
	return func(ctx context.Context) (arrowexec.Source, error) {
		if err := p.rv.checkSchema(t); err != nil {
			return nil, err
		}
		ents, err := p.rv.snap.Segments(t.ID)
		if err != nil {
			return nil, err
		}
		rs, err := p.rv.snap.Scan(t, cols, withKey)
		if err != nil {
			return nil, err
		}
		s, err := p.rv.db.newTierSource(ctx, p.rv.v, t, cols, withKey, filter, nil, rs, ents)
		if err != nil {
			return nil, err
		}
		s.runtime = rt
		return s, nil
	}
}

// txnProvider opens scans of what a transaction sees: its snapshot plus
// its own writes, in the row store and the segments.
type txnProvider struct {
	db *DB
	tx *oltp.Txn
	v  *version
}

func (p txnProvider) Scan(t *catalog.Table, cols []int, withKey bool) arrowexec.OpenSource {
	return p.scanPruned(t, cols, withKey, nil, nil)
}

// scanPruned is Scan with a pruning predicate; see
// scanProvider.scanPruned.
func (p txnProvider) scanPruned(t *catalog.Table, cols []int, withKey bool, filter segments.Predicate, rt []planner.RuntimeKey) arrowexec.OpenSource {
	if t.System {
		return p.db.systemScan(t, cols, withKey)
	}
	return func(ctx context.Context) (arrowexec.Source, error) {
		if err := checkSchema(p.tx, t); err != nil {
			return nil, err
		}
		ents, err := p.tx.Segments(t.ID)
		if err != nil {
			return nil, err
		}
		rs, err := p.tx.Scan(t, cols, withKey)
		if err != nil {
			return nil, err
		}
		s, err := p.db.newTierSource(ctx, p.v, t, cols, withKey, filter, nil, rs, ents)
		if err != nil {
			return nil, err
		}
		s.runtime = rt
		return s, nil
	}
}

// tierSource yields the rows of one table at one snapshot: the row store's,
// then each live segment's without its deleted rows. Each committed row is
// in exactly one of them (invariant 2), so each is returned once. With
// withKey, segment rows carry oltp.AppendSegmentRowKey keys. A filter or a
// keyAccess only prunes: rows that fail them may still be returned.
type tierSource struct {
	ctx context.Context
	mem memory.Allocator
	// dataMem allocates the buffers segment decoding writes whole
	// (segments.ScanOptions.DataAllocator): the query's bufpool.Pool
	// when its reader lets batches be recycled (recycle.go), else nil.
	dataMem memory.Allocator
	batch   int
	t       *catalog.Table
	cols    []int
	withKey bool
	filter  segments.Predicate
	// runtime are the runtime filters of the scan (planner/rtfilter.go):
	// segment scans that start once a filter's keys are published skip
	// the rows whose key is not among them (segments.KeyFilter); the row
	// store is read whole.
	runtime []planner.RuntimeKey
	ka      *keyAccess // nil: no primary-key restriction
	schema  *arrow.Schema

	rs   *oltp.Scanner
	segs []segScan
	next int // next entry of segs to open

	cur     *segments.Scanner
	curSeg  *segScan
	curRT   []*arrowexec.RuntimeFilter // the runtime filters of cur's KeyFilters
	pos     roaring.IntIterable        // positions of the rows of cur (withKey)
	keys    *array.BinaryBuilder
	keyBuf  []byte
	own     arrow.RecordBatch // a batch built here, released on Next
	rec     arrow.RecordBatch
	err     error
	inStore bool
	// stats, when not nil, receives the scan's counters (EXPLAIN ANALYZE).
	stats  *planner.ScanStats
	mapped bool // cur reads a segment of an older layout (segmentSchema)
	// readahead is the number of goroutines that decode the segments'
	// row groups ahead (readahead.go), 0 for a serial scan; ra runs them
	// once the row store is read.
	readahead int
	ra        *readahead
}

type segScan struct {
	h       *segHandle
	deleted *roaring.Bitmap
	rows    *roaring.Bitmap // nil, or the only positions to read (a partition)
}

// restrictSegments limits the scan of segment ents[i] to the positions
// rows[i].
func (s *tierSource) restrictSegments(ents []oltp.SegmentEntry, rows []*roaring.Bitmap) {
	s.readahead = 0 // a partition of a parallel scan: already one goroutine of several
	for i := range s.segs {
		for j, e := range ents {
			if s.segs[i].h.meta.ID == e.ID {
				s.segs[i].rows = rows[j]
			}
		}
	}
}

func (db *DB) newTierSource(ctx context.Context, v *version, t *catalog.Table, cols []int, withKey bool,
	filter segments.Predicate, ka *keyAccess, rs *oltp.Scanner, ents []oltp.SegmentEntry) (*tierSource, error) {
	s := &tierSource{ctx: ctx, mem: db.mem, batch: db.opts.BatchSize, t: t, cols: cols, withKey: withKey,
		filter: filter, ka: ka, schema: rs.Schema(), rs: rs, inStore: true, stats: planner.ScanStatsFrom(ctx)}
	if pool := dataPoolFrom(ctx); pool != nil && !withKey {
		s.dataMem = pool
	}
	if ka != nil && ka.points != nil && len(ka.points) == 0 || ka != nil && len(ka.spans) == 0 {
		ents = nil // no key can match
	}
	if s.cols == nil {
		s.cols = []int{}
	}
	for _, e := range ents {
		h, err := v.handle(t.ID, e.ID)
		if err != nil {
			_ = rs.Close()
			return nil, err
		}
		// Count only positions the segment has: a stray bit past its end
		// must not make a segment with live rows look empty.
		if e.Deleted != nil && h.meta.Rows > 0 && e.Deleted.Rank(uint32(h.meta.Rows-1)) >= uint64(h.meta.Rows) {
			s.noteSkipped()
			continue // every row is deleted
		}
		s.segs = append(s.segs, segScan{h: h, deleted: e.Deleted})
	}
	if withKey && len(s.segs) > 0 {
		s.keys = array.NewBinaryBuilder(db.mem, arrow.BinaryTypes.Binary)
	}
	if !withKey && ka == nil && s.stats == nil && len(filter) == 0 {
		s.readahead = readaheadWorkers()
	}
	return s, nil
}

// Next advances to the next batch.
func (s *tierSource) Next() bool {
	s.releaseOwn()
	s.rec = nil
	if s.err != nil {
		return false
	}
	if s.inStore {
		if s.rs.Next() {
			s.rec = s.rs.Record()
			if s.stats != nil {
				s.stats.RowStoreRows.Add(s.rec.NumRows())
			}
			return true
		}
		if err := s.rs.Err(); err != nil {
			s.err = err
			return false
		}
		s.inStore = false
	}
	if s.readahead > 0 && len(s.segs) > 0 {
		if s.ra == nil {
			s.startReadahead(s.readahead)
		}
		return s.nextReadahead()
	}
	for {
		if s.cur == nil {
			if s.next >= len(s.segs) {
				return false
			}
			if err := s.ctx.Err(); err != nil {
				s.err = sqlstate.Wrap(err, sqlstate.QueryCanceled, "canceling statement: %v", err)
				return false
			}
			s.curSeg = &s.segs[s.next]
			s.next++
			sch, filter, mapped := segmentSchema(s.t, s.curSeg.h, s.filter)
			s.mapped = mapped
			opts := segments.ScanOptions{
				Schema: sch, Columns: s.cols, Deleted: s.curSeg.deleted, Filter: filter,
				BatchSize: s.batch, Allocator: s.mem, DataAllocator: s.dataMem,
			}
			s.curRT = nil
			if !mapped {
				opts.KeyFilters, s.curRT = s.keyFilters()
			}
			if s.ka != nil && s.ka.points != nil {
				rows, err := s.ka.rows(s.ctx, s.t, s.curSeg.h, s.curSeg.deleted)
				if err != nil {
					s.err = err
					return false
				}
				if rows != nil && rows.IsEmpty() {
					s.noteSkipped()
					continue
				}
				opts.Rows = rows
			} else if s.curSeg.rows != nil {
				opts.Rows = s.curSeg.rows
			}
			sc, err := s.curSeg.h.r.Scan(s.ctx, opts)
			if err != nil {
				s.err = segmentErr(err)
				return false
			}
			s.cur = sc
			if s.withKey {
				s.pos = sc.Positions().Iterator()
			}
		}
		if s.cur.Next() {
			rec := s.cur.Record()
			if !s.withKey {
				if s.mapped {
					// Name the fields as the table does now.
					s.own = array.NewRecordBatch(s.schema, rec.Columns(), rec.NumRows())
					rec = s.own
				}
				s.rec = rec
				return true
			}
			s.rec = s.withKeys(rec)
			return s.rec != nil
		}
		if err := s.cur.Err(); err != nil {
			s.err = segmentErr(err)
			return false
		}
		s.noteScan()
		_ = s.cur.Close()
		s.cur = nil
	}
}

// withKeys returns rec with a last column of the segment row keys of its
// rows: the scan returns its rows in the order of Scanner.Positions.
func (s *tierSource) withKeys(rec arrow.RecordBatch) arrow.RecordBatch {
	n := int(rec.NumRows())
	id := s.curSeg.h.meta.ID
	s.keys.Reserve(n)
	for i := 0; i < n; i++ {
		if !s.pos.HasNext() {
			s.err = sqlstate.Errorf(sqlstate.Internal, "segment %d returned more rows than it selected", id)
			s.keys.NewArray().Release() // drop the partial keys
			return nil
		}
		s.keyBuf = oltp.AppendSegmentRowKey(s.keyBuf[:0], s.t.ID, id, s.pos.Next())
		s.keys.Append(s.keyBuf)
	}
	k := s.keys.NewArray()
	defer k.Release()
	cols := append(append(make([]arrow.Array, 0, rec.NumCols()+1), rec.Columns()...), k)
	s.own = array.NewRecordBatch(s.schema, cols, int64(n))
	return s.own
}

func (s *tierSource) releaseOwn() {
	if s.own != nil {
		s.own.Release()
		s.own = nil
	}
}

// Record returns the current batch.
func (s *tierSource) Record() arrow.RecordBatch { return s.rec }

// Err returns the error that ended iteration.
func (s *tierSource) Err() error { return s.err }

// Close releases the source. It is idempotent.
func (s *tierSource) Close() error {
	s.releaseOwn()
	s.rec = nil
	if s.ra != nil {
		s.ra.stop()
		s.ra = nil
	}
	var err error
	if s.cur != nil {
		s.noteScan()
		err = s.cur.Close()
		s.cur = nil
	}
	if s.rs != nil {
		err = errors.Join(err, s.rs.Close())
		s.rs = nil
	}
	if s.keys != nil {
		s.keys.Release()
		s.keys = nil
	}
	return err
}

var _ arrowexec.Source = (*tierSource)(nil)

// segmentErr classifies an error of a segment read for the client: a
// damaged file is XX001, any other I/O failure 58030; errors that carry a
// code already, and cancellations, pass unchanged.
func segmentErr(err error) error {
	var se *sqlstate.Error
	switch {
	case errors.As(err, &se), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, segments.ErrCorruption):
		return sqlstate.Wrap(err, sqlstate.DataCorrupted, "%v", err)
	}
	return sqlstate.Wrap(err, sqlstate.IOError, "%v", err)
}

// probe is the oltp.SegmentProbe of the DB: it finds a primary key in the
// current segments of t by key range, bloom filter and binary search.
func (db *DB) probe(ctx context.Context, t *catalog.Table, rows arrow.RecordBatch, row int, dst []oltp.SegmentPos) ([]oltp.SegmentPos, error) {
	hs, v := db.tiers.current(t.ID)
	defer db.tiers.release(v)
	if len(hs) == 0 {
		return dst, nil
	}
	key := make([]segments.Value, len(t.PrimaryKey))
	for i, c := range t.PrimaryKey {
		key[i] = segments.ValueAt(rows.Column(c), row)
	}
	for _, h := range hs {
		pos, found, err := h.r.Lookup(ctx, key, nil)
		if err != nil {
			return dst, err
		}
		if found {
			dst = append(dst, oltp.SegmentPos{Segment: h.meta.ID, Pos: uint32(pos)})
		}
	}
	return dst, nil
}

// probeRange is the oltp.SegmentRangeProbe of the DB: whether the primary
// key range from row first to row last of rows meets the key range of a
// current segment of t.
func (db *DB) probeRange(_ context.Context, t *catalog.Table, rows arrow.RecordBatch, first, last int) (bool, error) {
	hs, v := db.tiers.current(t.ID)
	defer db.tiers.release(v)
	if len(hs) == 0 {
		return false, nil
	}
	lo := make([]segments.Value, len(t.PrimaryKey))
	hi := make([]segments.Value, len(t.PrimaryKey))
	for i, c := range t.PrimaryKey {
		lo[i] = segments.ValueAt(rows.Column(c), first)
		hi[i] = segments.ValueAt(rows.Column(c), last)
	}
	for _, h := range hs {
		m := h.meta
		if len(m.KeyMin) != len(lo) || len(m.KeyMax) != len(hi) {
			return true, nil // no usable range: probe every row
		}
		if compareValues(hi, m.KeyMin) >= 0 && compareValues(lo, m.KeyMax) <= 0 {
			return true, nil
		}
	}
	return false, nil
}

// compareValues compares two keys column by column.
func compareValues(a, b []segments.Value) int {
	for i := range a {
		if c := segments.Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return 0
}
