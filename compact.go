package mantisdb

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/lockmgr"
	"github.com/mantisdb/mantisdb/oltp"
	"github.com/mantisdb/mantisdb/segments"
)

// Defaults of the compaction Options.
const (
	DefaultCompactRows          = 1 << 20
	DefaultCompactBytes         = 64 << 20
	DefaultCompactAge           = 10 * time.Minute
	DefaultCompactInterval      = time.Second
	DefaultMergeSegments        = 4
	DefaultMergeDeletedFraction = 0.3
	// DefaultCompactLockWait bounds the wait of a compaction or merge for
	// the table lock of its swap; it is retried at the next check.
	DefaultCompactLockWait = 2 * time.Second
)

// freshStats tracks, per table, what the compactor's thresholds look at.
// They are estimates kept in memory: rows written since the last
// compaction, and when the oldest of them was written.
type freshStats struct {
	rows  atomic.Int64
	since atomic.Int64 // unix nanoseconds of the first write since the last compaction; 0: none
}

// compactor is the DB's background compaction state.
type compactor struct {
	mu    sync.Mutex // one compaction or merge at a time
	fresh sync.Map   // table id → *freshStats
	stop  chan struct{}
	done  chan struct{}
	// cancel ends the compaction in progress when the DB closes.
	ctx    context.Context
	cancel context.CancelFunc

	compactions atomic.Int64
	merges      atomic.Int64
	failures    atomic.Int64
	// history holds the latest runs for system.compactions.
	history compactionLog
}

func (db *DB) freshOf(table uint64) *freshStats {
	v, _ := db.comp.fresh.LoadOrStore(table, &freshStats{})
	return v.(*freshStats)
}

// noteWrite records that a statement wrote n rows of table.
func (db *DB) noteWrite(table uint64, n int64) {
	if n <= 0 {
		return
	}
	f := db.freshOf(table)
	f.rows.Add(n)
	f.since.CompareAndSwap(0, time.Now().UnixNano())
}

// startCompactor starts the background compactor unless disabled.
func (db *DB) startCompactor() {
	db.comp.ctx, db.comp.cancel = context.WithCancel(context.Background())
	db.comp.stop = make(chan struct{})
	db.comp.done = make(chan struct{})
	if db.opts.CompactInterval < 0 {
		close(db.comp.done)
		return
	}
	go db.compactLoop()
}

// stopCompactor stops the background compactor and waits for it.
func (db *DB) stopCompactor() {
	db.comp.cancel()
	close(db.comp.stop)
	<-db.comp.done
	// A DB.Compact call in flight holds comp.mu; wait for it too.
	db.comp.mu.Lock()
	db.comp.mu.Unlock() //nolint:staticcheck // an empty critical section waits for the holder
}

func (db *DB) compactLoop() {
	defer close(db.comp.done)
	tick := time.NewTicker(db.opts.CompactInterval)
	defer tick.Stop()
	for {
		select {
		case <-db.comp.stop:
			return
		case <-tick.C:
		}
		for _, t := range db.cat.Tables() {
			if db.comp.ctx.Err() != nil {
				return
			}
			if db.needsCompaction(t) {
				if _, err := db.compact(db.comp.ctx, t); err != nil && db.comp.ctx.Err() == nil {
					db.comp.failures.Add(1)
					db.log.Warn("compaction failed; retrying later", "table", t.Name, "err", err)
				}
			}
			if err := db.merge(db.comp.ctx, t); err != nil && db.comp.ctx.Err() == nil {
				db.comp.failures.Add(1)
				db.log.Warn("merge failed; retrying later", "table", t.Name, "err", err)
			}
		}
	}
}

// needsCompaction applies the thresholds of Options to t's row store.
func (db *DB) needsCompaction(t *catalog.Table) bool {
	f := db.freshOf(t.ID)
	if f.rows.Load() >= db.opts.CompactRows {
		return true
	}
	if s := f.since.Load(); s != 0 && time.Since(time.Unix(0, s)) >= db.opts.CompactAge {
		return true
	}
	return f.rows.Load() > 0 && db.store.RowBytes(t.ID) >= db.opts.CompactBytes
}

// CompactionResult tells what DB.Compact did.
type CompactionResult struct {
	// Segment is the id of the new segment; 0 when the row store was empty.
	Segment uint64
	// Rows is the number of rows written into the segment.
	Rows int64
	// Moved is the number of those rows whose row entries were removed;
	// Rows-Moved rows changed meanwhile and stay in the row store.
	Moved int64
	// Bytes is the size of the segment's files.
	Bytes int64
	// Duration is the time the compaction took.
	Duration time.Duration
}

// compact moves the rows of t's row store into a new segment (see
// DB.Compact).
func (db *DB) compact(ctx context.Context, t *catalog.Table) (CompactionResult, error) {
	db.comp.mu.Lock()
	defer db.comp.mu.Unlock()
	start := time.Now()
	bytesIn := db.store.RowBytes(t.ID)
	res, err := db.compactLocked(ctx, t)
	if err != nil || res.Segment != 0 {
		info := CompactionInfo{Table: t.Name, TableID: t.ID, Kind: "compaction", Started: start,
			Duration: time.Since(start), RowsIn: res.Rows, RowsOut: res.Rows, BytesIn: bytesIn,
			BytesOut: res.Bytes, Segment: res.Segment}
		if res.Segment != 0 {
			info.SegmentsOut = 1
		}
		if err != nil {
			info.Err = err.Error()
		}
		db.comp.history.add(info)
	}
	return res, err
}

// compactLocked is compact; the caller holds db.comp.mu.
func (db *DB) compactLocked(ctx context.Context, t *catalog.Table) (CompactionResult, error) {
	start := time.Now()
	var res CompactionResult
	f := db.freshOf(t.ID)
	pending := f.rows.Load()
	snap := db.store.Snapshot()
	defer snap.Close()
	if err := checkSchema(snap, t); err != nil {
		// t was altered since the caller looked it up: its rows are in
		// another layout now. The next round compacts the new descriptor.
		return res, nil
	}
	// Row entries and batch entries, merged in key order.
	sc, err := snap.CompactionScan(t)
	if err != nil {
		return res, err
	}
	id := db.store.NewSegmentID()
	var w *segments.Writer
	for sc.Next() {
		if w == nil {
			if w, err = segments.NewWriter(db.tiers.fs, db.tiers.dir, id, t, db.segmentOptions(t)); err != nil {
				break
			}
		}
		if err = w.Write(sc.Record()); err != nil {
			break
		}
		if err = ctx.Err(); err != nil {
			break
		}
	}
	if err == nil {
		err = sc.Err()
	}
	// The placement outlives the scan's buffers.
	place := sc.Placement()
	_ = sc.Close()
	if err != nil {
		if w != nil {
			w.Abort()
		}
		return res, fmt.Errorf("cannot compact table %q: %w", t.Name, err)
	}
	if w == nil {
		if place.Entries() > 0 {
			// Batch entries whose rows were all deleted: remove them.
			err := db.swap(ctx, t, func() error {
				_, err := db.store.CommitCompaction(ctx, t, snap, oltp.SegmentAdd{Placement: place})
				return err
			})
			if err != nil {
				return res, err
			}
		}
		f.rows.Store(0)
		f.since.Store(0)
		return res, nil
	}
	meta, err := w.Finish()
	if err != nil {
		return res, fmt.Errorf("cannot compact table %q: %w", t.Name, err)
	}
	r, err := segments.Open(db.tiers.fs, db.tiers.dir, meta)
	if err != nil {
		_ = segments.Remove(db.tiers.fs, db.tiers.dir, id)
		return res, fmt.Errorf("cannot compact table %q: %w", t.Name, err)
	}
	h := &segHandle{table: t.ID, meta: meta, r: r}
	// Readers may see the segment in their manifest from the commit on.
	db.tiers.add(h)
	err = db.swap(ctx, t, func() error {
		cres, err := db.store.CommitCompaction(ctx, t, snap, oltp.SegmentAdd{ID: id, Meta: meta.Encode(), Rows: meta.Rows, Placement: place})
		res.Moved = cres.Moved
		return err
	})
	if err != nil {
		db.tiers.remove(t.ID, id)
		return CompactionResult{}, err
	}
	res.Segment, res.Rows, res.Bytes = id, meta.Rows, meta.FileSize+meta.IndexSize
	res.Duration = time.Since(start)
	// Rows written since the snapshot stay; count them as fresh.
	left := f.rows.Add(-pending)
	if left < 0 {
		f.rows.Add(-left)
		left = 0
	}
	if left == 0 && res.Moved == res.Rows {
		f.since.Store(0)
	} else {
		f.since.Store(time.Now().UnixNano())
	}
	db.comp.compactions.Add(1)
	db.log.Debug("compacted", "table", t.Name, "segment", id, "rows", res.Rows, "moved", res.Moved, "took", res.Duration)
	return res, nil
}

// swap runs commit under t's Shared lock, which keeps t's writers out (see
// oltp.Store.LockTable), waiting at most Options.CompactLockWait for it.
func (db *DB) swap(ctx context.Context, t *catalog.Table, commit func() error) error {
	lctx, cancel := context.WithTimeout(ctx, db.opts.CompactLockWait)
	release, err := db.store.LockTable(lctx, t, lockmgr.Shared)
	cancel()
	if err != nil {
		return fmt.Errorf("cannot lock table %q for the segment swap: %w", t.Name, err)
	}
	defer release()
	return commit()
}

// merge runs at most one merge of t's segments: a rewrite of a segment
// whose deleted fraction passed Options.MergeDeletedFraction, else a
// size-tiered merge of Options.MergeSegments or more small segments (each
// with fewer live rows than Options.CompactRows).
func (db *DB) merge(ctx context.Context, t *catalog.Table) error {
	db.comp.mu.Lock()
	defer db.comp.mu.Unlock()
	info := CompactionInfo{Table: t.Name, TableID: t.ID, Started: time.Now()}
	err := db.mergeLocked(ctx, t, &info)
	if info.Kind != "" {
		info.Duration = time.Since(info.Started)
		if err != nil {
			info.Err = err.Error()
		}
		if info.Err != "" {
			info.Segment, info.SegmentsOut, info.RowsOut, info.BytesOut = 0, 0, 0, 0
		}
		db.comp.history.add(info)
	}
	return err
}

// mergeLocked is merge; the caller holds db.comp.mu. It fills info from
// the moment it has picked the segments to merge.
func (db *DB) mergeLocked(ctx context.Context, t *catalog.Table, info *CompactionInfo) error {
	rv := db.snapshot()
	defer rv.close()
	ents, err := rv.snap.Segments(t.ID)
	if err != nil || len(ents) == 0 {
		return err
	}
	type cand struct {
		e    oltp.SegmentEntry
		h    *segHandle
		live int64
	}
	var cands []cand
	for _, e := range ents {
		h, err := rv.v.handle(t.ID, e.ID)
		if err != nil {
			return err
		}
		var del int64
		if e.Deleted != nil {
			del = int64(e.Deleted.GetCardinality())
		}
		if !sameLayout(t, h) {
			// Merge reads by the current column names; segments of an
			// older layout stay as they are (their scans map the names).
			continue
		}
		cands = append(cands, cand{e: e, h: h, live: h.meta.Rows - del})
	}
	var pick []cand
	for _, c := range cands {
		if c.h.meta.Rows > 0 && float64(c.h.meta.Rows-c.live) >= db.opts.MergeDeletedFraction*float64(c.h.meta.Rows) {
			pick = []cand{c}
			break
		}
	}
	if pick == nil {
		var small []cand
		for _, c := range cands {
			if c.live < db.opts.CompactRows {
				small = append(small, c)
			}
		}
		if len(small) < db.opts.MergeSegments {
			return nil
		}
		// Size-tiered: the smallest ones, so that merged segments grow
		// geometrically and each row is rewritten O(log n) times.
		sort.Slice(small, func(i, j int) bool { return small[i].live < small[j].live })
		pick = small[:min(len(small), 2*db.opts.MergeSegments)]
		// Merge by sort key needs the inputs in id order only for tables
		// without one, where order is insertion order.
		sort.Slice(pick, func(i, j int) bool { return pick[i].e.ID < pick[j].e.ID })
	}
	inputs := make([]segments.MergeInput, len(pick))
	ids := make([]uint64, len(pick))
	info.Kind, info.SegmentsIn = "merge", len(pick)
	if len(pick) == 1 {
		info.Kind = "rewrite"
	}
	for i, c := range pick {
		inputs[i] = segments.MergeInput{Reader: c.h.r, Deleted: c.e.Deleted}
		ids[i] = c.e.ID
		info.RowsIn += c.h.meta.Rows
		info.BytesIn += c.h.meta.FileSize + c.h.meta.IndexSize
	}
	id := db.store.NewSegmentID()
	meta, err := segments.Merge(ctx, db.tiers.fs, db.tiers.dir, id, t, inputs, db.segmentOptions(t))
	if err != nil {
		return fmt.Errorf("cannot merge segments %v of table %q: %w", ids, t.Name, err)
	}
	var add *oltp.SegmentAdd
	if meta != nil {
		r, err := segments.Open(db.tiers.fs, db.tiers.dir, meta)
		if err != nil {
			_ = segments.Remove(db.tiers.fs, db.tiers.dir, id)
			return fmt.Errorf("cannot merge segments of table %q: %w", t.Name, err)
		}
		db.tiers.add(&segHandle{table: t.ID, meta: meta, r: r})
		add = &oltp.SegmentAdd{ID: id, Meta: meta.Encode(), Rows: meta.Rows}
		info.Segment, info.SegmentsOut, info.RowsOut, info.BytesOut = id, 1, meta.Rows, meta.FileSize+meta.IndexSize
	}
	err = db.swap(ctx, t, func() error { return db.store.CommitMerge(ctx, t, rv.snap, ids, add) })
	if err != nil {
		if meta != nil {
			db.tiers.remove(t.ID, id)
		}
		if errors.Is(err, oltp.ErrConflict) {
			info.Err = "deletes raced with the merge; retried later"
			return nil // deletes raced with the merge; try again later
		}
		return err
	}
	db.tiers.remove(t.ID, ids...)
	db.comp.merges.Add(1)
	db.log.Debug("merged segments", "table", t.Name, "inputs", ids, "segment", id)
	return nil
}

// compactTable is DB.Compact.
func (db *DB) compactTable(ctx context.Context, table string) (CompactionResult, error) {
	if err := db.begin(); err != nil {
		return CompactionResult{}, err
	}
	defer db.running.Done()
	t, ok := db.cat.Table(table)
	if !ok {
		return CompactionResult{}, sqlstate.Errorf(sqlstate.UndefinedTable, "relation %q does not exist", table)
	}
	res, err := db.compact(ctx, t)
	if err != nil {
		return res, err
	}
	return res, db.merge(ctx, t)
}

// SegmentInfo describes one live segment (a row of system.segments).
type SegmentInfo struct {
	Table   string
	TableID uint64
	// ID is the segment id; its files are NNNNNN.parquet and NNNNNN.idx.
	ID uint64
	// Rows counts all rows of the segment, Deleted those marked deleted.
	Rows, Deleted int64
	// Bytes is the size of the segment's two files.
	Bytes int64
	// RowGroups is the number of Parquet row groups.
	RowGroups int
	// SchemaVersion is the table schema version the segment was written
	// with.
	SchemaVersion uint64
}

// TableStats describes the storage of one table.
type TableStats struct {
	Table   string
	TableID uint64
	// FreshRows is the number of rows in the row store: row entries and
	// the live rows of batch entries.
	FreshRows int64
	// SegmentRows is the number of live (not deleted) rows in segments.
	SegmentRows int64
	// Segments lists the live segments by id.
	Segments []SegmentInfo
}

// CompactorStats counts the compactor's work since Open.
type CompactorStats struct {
	Compactions, Merges, Failures int64
	// Recent lists the latest compactions and merges, failed ones
	// included, oldest first (at most 256, kept in memory only).
	Recent []CompactionInfo
}

func (db *DB) tableStats(ctx context.Context, table string) (TableStats, error) {
	if err := db.begin(); err != nil {
		return TableStats{}, err
	}
	defer db.running.Done()
	t, ok := db.cat.Table(table)
	if !ok {
		return TableStats{}, sqlstate.Errorf(sqlstate.UndefinedTable, "relation %q does not exist", table)
	}
	rv := db.snapshot()
	defer rv.close()
	return db.statsOf(&rv, t)
}

func (db *DB) statsOf(rv *readView, t *catalog.Table) (TableStats, error) {
	st := TableStats{Table: t.Name, TableID: t.ID}
	n, err := rv.snap.CountRows(t)
	if err != nil {
		return st, err
	}
	st.FreshRows = n
	ents, err := rv.snap.Segments(t.ID)
	if err != nil {
		return st, err
	}
	for _, e := range ents {
		h, err := rv.v.handle(t.ID, e.ID)
		if err != nil {
			return st, err
		}
		si := SegmentInfo{Table: t.Name, TableID: t.ID, ID: e.ID, Rows: h.meta.Rows,
			Bytes: h.meta.FileSize + h.meta.IndexSize, RowGroups: h.meta.RowGroups, SchemaVersion: h.meta.SchemaVersion}
		if e.Deleted != nil {
			si.Deleted = int64(e.Deleted.GetCardinality())
		}
		st.SegmentRows += si.Rows - si.Deleted
		st.Segments = append(st.Segments, si)
	}
	return st, nil
}

func (db *DB) segmentList(ctx context.Context) ([]SegmentInfo, error) {
	if err := db.begin(); err != nil {
		return nil, err
	}
	defer db.running.Done()
	rv := db.snapshot()
	defer rv.close()
	var out []SegmentInfo
	for _, t := range db.cat.Tables() {
		st, err := db.statsOf(&rv, t)
		if err != nil {
			return nil, err
		}
		out = append(out, st.Segments...)
	}
	return out, nil
}
