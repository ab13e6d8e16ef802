package mantisdb

import (
	"context"
	"errors"
	"fmt"
	"math"
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
//
// The row threshold bounds the commit → segment lag under sustained
// ingest: a row waits at most CompactRows/rate for its compaction to be
// triggered (the writer that crosses the threshold wakes the compactor),
// plus the compaction itself. At 100K rows/s, 256K rows trigger every 2.6 s
// and a compaction takes well under a second, so rows reach a segment
// within a few seconds (p99 ≤ 10 s, issue #4, bench -bench lag); 1M rows
// took 10 s to accumulate alone (p99 15.7 s). Size-tiered merges then
// combine the compacted segments into segments of up to MergeRows rows.
const (
	DefaultCompactRows          = 256 << 10
	DefaultCompactBytes         = 64 << 20
	DefaultCompactAge           = 10 * time.Minute
	DefaultCompactInterval      = time.Second
	DefaultCompactSettle        = 2 * time.Second
	DefaultMergeSegments        = 4
	DefaultMergeDeletedFraction = 0.3
	// DefaultMergeRowsFactor sets the default of Options.MergeRows:
	// CompactRows times this factor (4M rows with the defaults).
	DefaultMergeRowsFactor = 16
	// DefaultCompactLockWait bounds the wait of a compaction or merge for
	// the table lock of its swap; it is retried at the next check.
	DefaultCompactLockWait = 2 * time.Second
)

// mergeTierRatio is the size ratio of one merge tier: a merge combines
// segments whose live rows are within this factor of the smallest one (or
// all below CompactRows), so that a big segment is not rewritten for the
// sake of a few small ones.
const mergeTierRatio = 4

// freshStats tracks, per table, what the compactor's thresholds look at.
// They are estimates kept in memory: rows written since the last
// compaction, and when the oldest of them was written.
type freshStats struct {
	rows  atomic.Int64
	since atomic.Int64 // unix nanoseconds of the first write since the last compaction; 0: none
	last  atomic.Int64 // unix nanoseconds of the latest write
}

// A burst of writes that stops leaves its last rows below CompactRows,
// where they would wait for CompactAge. A table without writes for
// compactIdle whose fresh rows reach CompactRows/compactIdleDivisor (8K
// rows with the defaults) is compacted then: one segment per burst, which
// merges combine, while a trickle of small writes still waits for the age
// threshold and makes no tiny segments.
const (
	compactIdle        = 2 * time.Second
	compactIdleDivisor = 32
)

// A table whose fresh tier reaches compactBurstFactor times CompactRows or
// CompactBytes is compacted at once, however young its rows (see
// Options.CompactSettle): a long burst is cut into segments of a few
// million rows, and the fresh tier's size stays bounded.
const compactBurstFactor = 8

// compactor is the DB's background compaction state. Compactions (row
// store → segment) and merges (segments → segment) run in two goroutines
// under two mutexes, so that a long merge never delays the compaction that
// bounds the commit → segment lag. They commit disjoint keys of the
// manifest (a compaction adds a segment and removes fresh entries, a merge
// swaps segments), both under the table's Shared lock.
type compactor struct {
	compactMu sync.Mutex // one compaction at a time
	mergeMu   sync.Mutex // one merge at a time
	fresh     sync.Map   // table id → *freshStats
	// kick wakes the compaction loop early (a table crossed CompactRows);
	// merged wakes the merge loop (a compaction added a segment). Both
	// have a buffer of one: a pending wake-up covers every later one.
	kick   chan struct{}
	merged chan struct{}
	stop   chan struct{}
	wg     sync.WaitGroup
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

// noteWrite records that a statement wrote n rows of table, and wakes the
// compactor when they bring the table to its row threshold or to the
// burst bound (compactBurstFactor × CompactRows).
func (db *DB) noteWrite(table uint64, n int64) {
	if n <= 0 {
		return
	}
	f := db.freshOf(table)
	after := f.rows.Add(n)
	now := time.Now().UnixNano()
	f.since.CompareAndSwap(0, now)
	f.last.Store(now)
	if crossed(after-n, after, db.opts.CompactRows) || crossed(after-n, after, burstBound(db.opts.CompactRows)) {
		wake(db.comp.kick)
	}
}

// crossed reports whether a count going from before to after reaches
// threshold.
func crossed(before, after, threshold int64) bool {
	return after >= threshold && before < threshold
}

// burstBound is compactBurstFactor times threshold, saturating.
func burstBound(threshold int64) int64 {
	if threshold > math.MaxInt64/compactBurstFactor {
		return math.MaxInt64
	}
	return threshold * compactBurstFactor
}

// wake signals c without blocking; a nil c (compactor not started) is a
// no-op.
func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// startCompactor starts the background compactor unless disabled.
func (db *DB) startCompactor() {
	db.comp.ctx, db.comp.cancel = context.WithCancel(context.Background())
	db.comp.stop = make(chan struct{})
	if db.opts.CompactInterval < 0 {
		return
	}
	db.comp.kick = make(chan struct{}, 1)
	db.comp.merged = make(chan struct{}, 1)
	db.comp.wg.Add(2)
	go db.compactLoop()
	go db.mergeLoop()
	// Rows left in the row store at open may be past the threshold.
	wake(db.comp.kick)
}

// stopCompactor stops the background compactor and waits for it.
func (db *DB) stopCompactor() {
	db.comp.cancel()
	close(db.comp.stop)
	db.comp.wg.Wait()
	// A DB.Compact call in flight holds the mutexes; wait for it too.
	db.comp.compactMu.Lock()
	db.comp.compactMu.Unlock() //nolint:staticcheck // an empty critical section waits for the holder
	db.comp.mergeMu.Lock()
	db.comp.mergeMu.Unlock() //nolint:staticcheck // likewise
}

// compactLoop compacts every table past a threshold, each CompactInterval,
// whenever a write crosses CompactRows, and when a deferred table's rows
// have settled.
func (db *DB) compactLoop() {
	// settle wakes the loop when the youngest deferral ends, so that a
	// deferred compaction does not wait for the next tick as well.
	settle := time.AfterFunc(time.Hour, func() { wake(db.comp.kick) })
	settle.Stop()
	defer settle.Stop()
	db.background(db.comp.kick, func() {
		var retry time.Duration
		for _, t := range db.cat.Tables() {
			if db.comp.ctx.Err() != nil {
				return
			}
			need, wait := db.needsCompaction(t, time.Now())
			if !need {
				if wait > 0 && (retry == 0 || wait < retry) {
					retry = wait
				}
				continue
			}
			res, err := db.compact(db.comp.ctx, t)
			if err != nil && db.comp.ctx.Err() == nil {
				db.comp.failures.Add(1)
				db.log.Warn("compaction failed; retrying later", "table", t.Name, "err", err)
			}
			if res.Segment != 0 {
				wake(db.comp.merged)
			}
		}
		if retry > 0 {
			settle.Reset(retry)
		}
	})
}

// mergeLoop merges and rewrites the segments of every table, each
// CompactInterval and after every compaction, as long as there is
// something to merge.
func (db *DB) mergeLoop() {
	db.background(db.comp.merged, func() {
		for _, t := range db.cat.Tables() {
			// A merge can leave another one to do (the next tier, or
			// more than 2·MergeSegments candidates); a bounded number of
			// rounds per table keeps the other tables served.
			for range 4 {
				if db.comp.ctx.Err() != nil {
					return
				}
				did, err := db.merge(db.comp.ctx, t)
				if err != nil && db.comp.ctx.Err() == nil {
					db.comp.failures.Add(1)
					db.log.Warn("merge failed; retrying later", "table", t.Name, "err", err)
				}
				if !did || err != nil {
					break
				}
			}
		}
	})
}

// background runs round each CompactInterval and whenever wakeup fires,
// until the compactor stops; it is the body of one of the compactor's
// goroutines.
func (db *DB) background(wakeup <-chan struct{}, round func()) {
	defer db.comp.wg.Done()
	tick := time.NewTicker(db.opts.CompactInterval)
	defer tick.Stop()
	for {
		select {
		case <-db.comp.stop:
			return
		case <-tick.C:
		case <-wakeup:
		}
		round()
	}
}

// needsCompaction applies the thresholds of Options to t's row store at
// time now. When a size threshold is reached but the rows have not settled
// (Options.CompactSettle), it answers false and how long until they have.
func (db *DB) needsCompaction(t *catalog.Table, now time.Time) (need bool, wait time.Duration) {
	f := db.freshOf(t.ID)
	rows := f.rows.Load()
	if rows <= 0 {
		return false, 0
	}
	var age time.Duration
	if s := f.since.Load(); s != 0 {
		age = now.Sub(time.Unix(0, s))
	}
	if age >= db.opts.CompactAge {
		return true, 0
	}
	if rows >= db.opts.CompactRows/compactIdleDivisor && now.Sub(time.Unix(0, f.last.Load())) >= compactIdle {
		return true, 0
	}
	bytes := db.store.RowBytes(t.ID)
	if rows < db.opts.CompactRows && bytes < db.opts.CompactBytes {
		return false, 0
	}
	// A size threshold is reached. By rows younger than CompactSettle, a
	// burst still arriving, it is compacted once they have settled (or
	// grown to the burst bound), not while its writes compete for the CPU.
	if age >= db.opts.CompactSettle || rows >= burstBound(db.opts.CompactRows) ||
		bytes >= burstBound(db.opts.CompactBytes) {
		return true, 0
	}
	return false, db.opts.CompactSettle - age
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
	db.comp.compactMu.Lock()
	defer db.comp.compactMu.Unlock()
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

// compactLocked is compact; the caller holds db.comp.compactMu.
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
		// The rows left were written after the compaction started (or
		// are older, changed meanwhile): their age counts from then, so
		// that a backlog built up during a long compaction is not taken
		// for a young burst and deferred (CompactSettle).
		f.since.Store(start.UnixNano())
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
// size-tiered merge (see pickMerge). It reports whether it merged.
func (db *DB) merge(ctx context.Context, t *catalog.Table) (bool, error) {
	db.comp.mergeMu.Lock()
	defer db.comp.mergeMu.Unlock()
	info := CompactionInfo{Table: t.Name, TableID: t.ID, Started: time.Now()}
	err := db.mergeLocked(ctx, t, &info)
	did := info.Kind != "" && err == nil && info.Err == ""
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
	return did, err
}

// mergeCand is a segment the merge policy considers.
type mergeCand struct {
	e    oltp.SegmentEntry
	h    *segHandle
	live int64
}

// pickMerge chooses the segments of the next merge among cands (nil: none).
// A segment whose deleted fraction reached MergeDeletedFraction is
// rewritten alone. Otherwise segments with fewer live rows than MergeRows
// are merged size-tiered: sorted by live rows, the first run of at least
// MergeSegments segments within mergeTierRatio of its smallest (segments
// below CompactRows all count as one tier) gives up to 2·MergeSegments of
// its smallest segments. Merged segments thus grow geometrically, each row
// is rewritten O(log(MergeRows/CompactRows)) times, and a big segment is
// never rewritten to absorb a few small ones.
func (db *DB) pickMerge(cands []mergeCand) []mergeCand {
	for _, c := range cands {
		if c.h.meta.Rows > 0 && float64(c.h.meta.Rows-c.live) >= db.opts.MergeDeletedFraction*float64(c.h.meta.Rows) {
			return []mergeCand{c}
		}
	}
	var small []mergeCand
	for _, c := range cands {
		if c.live < db.opts.MergeRows {
			small = append(small, c)
		}
	}
	if len(small) < db.opts.MergeSegments {
		return nil
	}
	sort.Slice(small, func(i, j int) bool { return small[i].live < small[j].live })
	for i := 0; i+db.opts.MergeSegments <= len(small); i++ {
		// Segments hold fewer than 2^32 rows: no overflow.
		limit := max(db.opts.CompactRows, small[i].live*mergeTierRatio)
		j := i
		for j < len(small) && small[j].live <= limit {
			j++
		}
		if j-i < db.opts.MergeSegments {
			continue
		}
		pick := small[i:min(j, i+2*db.opts.MergeSegments)]
		// Merge by sort key needs the inputs in id order only for tables
		// without one, where order is insertion order.
		sort.Slice(pick, func(a, b int) bool { return pick[a].e.ID < pick[b].e.ID })
		return pick
	}
	return nil
}

// mergeLocked is merge; the caller holds db.comp.mergeMu. It fills info
// from the moment it has picked the segments to merge.
func (db *DB) mergeLocked(ctx context.Context, t *catalog.Table, info *CompactionInfo) error {
	rv := db.snapshot()
	defer rv.close()
	ents, err := rv.snap.Segments(t.ID)
	if err != nil || len(ents) == 0 {
		return err
	}
	var cands []mergeCand
	for _, e := range ents {
		h, err := rv.v.handle(t.ID, e.ID)
		if err != nil {
			return err
		}
		var del int64
		if e.Deleted != nil {
			del = int64(e.Deleted.GetCardinality())
		}
		// Segments of an older layout merge like the others: Merge
		// reads them with their column names (MergeInput.Schema) and
		// writes the current layout.
		cands = append(cands, mergeCand{e: e, h: h, live: h.meta.Rows - del})
	}
	pick := db.pickMerge(cands)
	if pick == nil {
		return nil
	}
	inputs := make([]segments.MergeInput, len(pick))
	ids := make([]uint64, len(pick))
	info.Kind, info.SegmentsIn = "merge", len(pick)
	if len(pick) == 1 {
		info.Kind = "rewrite"
	}
	for i, c := range pick {
		inputs[i] = segments.MergeInput{Reader: c.h.r, Deleted: c.e.Deleted}
		if sch, _, mapped := segmentSchema(t, c.h, nil); mapped {
			inputs[i].Schema = sch
		}
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
	_, err = db.merge(ctx, t)
	return res, err
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
	// Level is the segment's merge level: 0 when a compaction wrote it from
	// the row store, one more than its highest input for a merge.
	Level int
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
			Bytes: h.meta.FileSize + h.meta.IndexSize, RowGroups: h.meta.RowGroups, SchemaVersion: h.meta.SchemaVersion,
			Level: int(h.meta.Level)}
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
