package oltp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/cockroachdb/pebble/v2"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/lockmgr"
)

// This file holds the row store's side of the columnar tier: the per-table
// segment manifest, the segments' delete bitmaps, the storage keys of
// segment rows, and the two batches that change the manifest (a compaction
// and a merge). The segment files themselves belong to package segments and
// the root package; oltp stores manifest values as opaque bytes.

// bitmapFormat is the format version byte of a delete bitmap value.
const bitmapFormat byte = 1

// segRowKeyLen is the length of a segment row key:
// 0x10 <table id> 0x03 <segment id> <position uint32 BE>.
const segRowKeyLen = rowPrefixLen + 8 + 4

// appendSegPrefix appends 0x10 <table id> <sub> <segment id>.
func appendSegPrefix(dst []byte, sub byte, table, seg uint64) []byte {
	dst = append(appendTablePrefix(dst, table), sub)
	return binary.BigEndian.AppendUint64(dst, seg)
}

func manifestKey(table, seg uint64) []byte { return appendSegPrefix(nil, subManifest, table, seg) }

func bitmapKey(table, seg uint64) []byte { return appendSegPrefix(nil, subBitmap, table, seg) }

// manifestSpan returns the span of table's manifest entries.
func manifestSpan(table uint64) (start, end []byte) {
	start = append(appendTablePrefix(nil, table), subManifest)
	end = append(appendTablePrefix(nil, table), subManifest+1)
	return start, end
}

// AppendSegmentRowKey appends the storage key of row pos of segment seg of
// table: the "__key" of segment rows in scans opened with withKey, which
// Txn.Update and Txn.Delete accept like row keys. It shares the prefix of
// the segment's delete bitmap key, so it is never a row entry's key.
func AppendSegmentRowKey(dst []byte, table, seg uint64, pos uint32) []byte {
	return binary.BigEndian.AppendUint32(appendSegPrefix(dst, subBitmap, table, seg), pos)
}

// parseSegmentRowKey returns the segment and position of a segment row key
// of table, or ok false.
func parseSegmentRowKey(table uint64, key []byte) (seg uint64, pos uint32, ok bool) {
	if len(key) != segRowKeyLen || key[0] != tagTable || key[rowPrefixLen-1] != subBitmap ||
		binary.BigEndian.Uint64(key[1:9]) != table {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(key[rowPrefixLen:]), binary.BigEndian.Uint32(key[rowPrefixLen+8:]), true
}

func encodeBitmap(bm *roaring.Bitmap) ([]byte, error) {
	bm.RunOptimize()
	var buf bytes.Buffer
	buf.WriteByte(bitmapFormat)
	if _, err := bm.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("cannot encode delete bitmap: %w", err)
	}
	return buf.Bytes(), nil
}

func decodeBitmap(b []byte) (*roaring.Bitmap, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("empty delete bitmap: %w", ErrCorruption)
	}
	if b[0] > bitmapFormat {
		return nil, fmt.Errorf("delete bitmap format %d is newer than this binary supports (%d); upgrade MantisDB", b[0], bitmapFormat)
	}
	bm := roaring.New()
	if _, err := bm.FromUnsafeBytes(b[1:]); err != nil {
		return nil, fmt.Errorf("cannot decode delete bitmap: %w: %v", ErrCorruption, err)
	}
	// FromUnsafeBytes aliases b, which the caller may not own.
	return bm.Clone(), nil
}

// readBitmap reads the delete bitmap of seg from r; nil when no row of it
// is deleted.
func readBitmap(r reader, table, seg uint64) (*roaring.Bitmap, error) {
	v, closer, err := r.Get(bitmapKey(table, seg))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read delete bitmap of segment %d: %w", seg, err)
	}
	defer closer.Close()
	bm, err := decodeBitmap(v)
	if err != nil {
		return nil, fmt.Errorf("segment %d: %w", seg, err)
	}
	return bm, nil
}

// hasSegment reports whether seg is in table's manifest in r.
func hasSegment(r reader, table, seg uint64) (bool, error) {
	_, closer, err := r.Get(manifestKey(table, seg))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("cannot read manifest of segment %d: %w", seg, err)
	}
	_ = closer.Close()
	return true, nil
}

// SegmentEntry is one live segment of a table as a snapshot (or a Txn) sees
// it. Its fields are owned by the caller.
type SegmentEntry struct {
	// ID is the segment id.
	ID uint64
	// Meta is the manifest value (segments.Meta.Encode()).
	Meta []byte
	// Deleted holds the positions of the segment's deleted rows; nil when
	// none is.
	Deleted *roaring.Bitmap
}

// segmentsOf lists table's manifest in r, ordered by segment id.
func segmentsOf(r reader, table uint64) ([]SegmentEntry, error) {
	lo, hi := manifestSpan(table)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, fmt.Errorf("cannot read segment manifest of table %d: %w", table, err)
	}
	var out []SegmentEntry
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) != rowPrefixLen+8 {
			_ = it.Close()
			return nil, fmt.Errorf("bad manifest key %x: %w", k, ErrCorruption)
		}
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return nil, fmt.Errorf("cannot read segment manifest of table %d: %w", table, err)
		}
		out = append(out, SegmentEntry{ID: binary.BigEndian.Uint64(k[rowPrefixLen:]), Meta: bytes.Clone(v)})
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("cannot read segment manifest of table %d: %w", table, err)
	}
	for i := range out {
		bm, err := readBitmap(r, table, out[i].ID)
		if err != nil {
			return nil, err
		}
		out[i].Deleted = bm
	}
	return out, nil
}

// Segments returns the live segments of table id at the snapshot, with
// their delete bitmaps, ordered by segment id.
func (sn *Snapshot) Segments(table uint64) ([]SegmentEntry, error) {
	if err := sn.check(); err != nil {
		return nil, err
	}
	return segmentsOf(sn.snap, table)
}

// Segments returns the live segments of table id as the Txn sees them: its
// snapshot's, with the rows the Txn deleted or updated added to the delete
// bitmaps.
func (tx *Txn) Segments(table uint64) ([]SegmentEntry, error) {
	if err := tx.usable(); err != nil {
		return nil, err
	}
	out, err := segmentsOf(tx.snap, table)
	if err != nil {
		return nil, err
	}
	for i := range out {
		st := tx.segs[out[i].ID]
		if st == nil || st.own == nil {
			continue
		}
		if out[i].Deleted == nil {
			out[i].Deleted = st.own.Clone()
		} else {
			out[i].Deleted.Or(st.own)
		}
	}
	return out, nil
}

// NewSegmentID returns a segment id never handed out before. Ids reserved
// but never committed to a manifest may be handed out again after a
// restart; their files are orphans, removed at open before new ids are used.
func (s *Store) NewSegmentID() uint64 { return s.nextSegID.Add(1) - 1 }

// loadSegmentIDs sets the segment id counter above the persisted counter
// and every id in the manifests of tables.
func (s *Store) loadSegmentIDs(tables []*catalog.Table) error {
	next := uint64(1)
	val, closer, err := s.db.Get(nextSegIDKey)
	switch {
	case err == nil:
		if len(val) == 8 {
			next = binary.BigEndian.Uint64(val)
		}
		_ = closer.Close()
	case !errors.Is(err, pebble.ErrNotFound):
		return fmt.Errorf("cannot read segment id counter: %w", err)
	}
	// Batch entries take their ids from the same space and are committed
	// without the counter.
	for _, t := range tables {
		for _, span := range [2]func(uint64) ([]byte, []byte){manifestSpan, batchSpan} {
			lo, hi := span(t.ID)
			it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
			if err != nil {
				return fmt.Errorf("cannot read segment manifest: %w", err)
			}
			if it.Last() && len(it.Key()) == rowPrefixLen+8 {
				if id := binary.BigEndian.Uint64(it.Key()[rowPrefixLen:]); id >= next {
					next = id + 1
				}
			}
			if err := it.Close(); err != nil {
				return fmt.Errorf("cannot read segment manifest: %w", err)
			}
		}
	}
	s.nextSegID.Store(next)
	return nil
}

// LockTable locks t in mode outside any transaction, for the compactor:
// Shared keeps every writer of t out (they hold IntentExclusive from their
// first write until their batch is applied), so that the rows and delete
// bitmaps of t stay as they are until release is called. It fails with
// UndefinedTable if t was dropped, and with the lock manager's errors.
func (s *Store) LockTable(ctx context.Context, t *catalog.Table, mode lockmgr.Mode) (release func(), err error) {
	lk := s.locks.Begin(lockmgr.TxnID(s.newTxnID()))
	if err := lk.Lock(ctx, lockmgr.Table(t.ID), mode); err != nil {
		lk.End()
		return nil, err
	}
	if s.table(t.ID).dropped.Load() {
		lk.End()
		return nil, sqlstate.Errorf(sqlstate.UndefinedTable, "table %q was dropped", t.Name)
	}
	return lk.End, nil
}

// SegmentAdd is a segment to add to a table's manifest.
type SegmentAdd struct {
	// ID is the segment id (from NewSegmentID).
	ID uint64
	// Meta is the manifest value, segments.Meta.Encode().
	Meta []byte
	// Rows is the number of rows of the segment.
	Rows int64
	// Placement, for a compaction written from a CompactionScan, tells
	// where each fresh row went; nil when the segment was written from
	// the row entries alone in key order (then the snapshot must hold no
	// batch entries).
	Placement *Placement
}

// CompactionResult tells what CommitCompaction did.
type CompactionResult struct {
	// Moved is the number of row entries deleted from the row store: their
	// version is now the segment's.
	Moved int64
	// Changed is the number of rows changed or deleted since the compaction
	// snapshot; their segment copies are marked deleted.
	Changed int64
}

// CommitCompaction adds segment add (none when add.Meta is nil: then the
// snapshot's fresh tier holds only fully deleted batch entries, which it
// removes), written from every row of table t at
// snapshot from (all of them, in key order, so that the i-th row of the
// snapshot is at position i), to the manifest in one synced batch that
// deletes each row entry still holding the version that went into the
// segment; a row changed or deleted since from keeps its row-store state
// and its segment copy is marked deleted in the segment's delete bitmap.
//
// The caller holds t's Shared lock (LockTable) from before it reads the
// latest rows to after this call returns, so no writer of t commits in
// between. On error nothing is written and the caller removes the segment's
// files.
func (s *Store) CommitCompaction(ctx context.Context, t *catalog.Table, from *Snapshot, add SegmentAdd) (CompactionResult, error) {
	var res CompactionResult
	if err := from.check(); err != nil {
		return res, err
	}
	lo, hi := rowSpan(t.ID)
	old, err := from.snap.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return res, fmt.Errorf("cannot compact table %q: %w", t.Name, err)
	}
	defer old.Close()
	cur, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return res, fmt.Errorf("cannot compact table %q: %w", t.Name, err)
	}
	defer cur.Close()
	deleted := roaring.New()
	pl := add.Placement
	if pl == nil {
		ms, err := s.batchMetas(from.snap, t.ID)
		if err != nil {
			return res, err
		}
		if len(ms) > 0 {
			return res, fmt.Errorf("cannot compact table %q: the snapshot holds batch entries but the segment has no placement", t.Name)
		}
	}
	var dropped []uint64
	err = s.writeSynced(ctx, func(b *pebble.Batch) error {
		var pos int64
		segPos := func(i int64) uint32 {
			if pl == nil {
				return uint32(i)
			}
			return pl.rowPos[i]
		}
		curOK := cur.First()
		for ok := old.First(); ok; ok = old.Next() {
			k := old.Key()
			for curOK && bytes.Compare(cur.Key(), k) < 0 {
				curOK = cur.Next()
			}
			same := false
			if curOK && bytes.Equal(cur.Key(), k) {
				ov, err := old.ValueAndErr()
				if err != nil {
					return err
				}
				cv, err := cur.ValueAndErr()
				if err != nil {
					return err
				}
				same = bytes.Equal(ov, cv)
			}
			if pl != nil && pos >= int64(len(pl.rowPos)) {
				return fmt.Errorf("segment %d holds fewer row entries than the snapshot of table %q", add.ID, t.Name)
			}
			if same {
				_ = b.Delete(k, nil)
				res.Moved++
			} else {
				deleted.Add(segPos(pos))
				res.Changed++
			}
			pos++
		}
		if err := errors.Join(old.Error(), cur.Error()); err != nil {
			return err
		}
		total := pos
		if pl != nil {
			if pos != int64(len(pl.rowPos)) {
				return fmt.Errorf("segment %d holds %d row entries, the snapshot of table %q %d", add.ID, len(pl.rowPos), t.Name, pos)
			}
			total = pl.total
			n, err := s.placeBatches(b, t, from, pl, deleted, &res)
			if err != nil {
				return err
			}
			dropped = n
		}
		if total != add.Rows {
			return fmt.Errorf("segment %d has %d rows, the snapshot of table %q %d", add.ID, add.Rows, t.Name, total)
		}
		if add.Meta == nil {
			// Nothing to add: only batch entries whose rows were all
			// deleted leave the fresh tier.
			if total != 0 {
				return fmt.Errorf("compaction of table %q without a segment moves %d rows", t.Name, total)
			}
			return nil
		}
		_ = b.Set(manifestKey(t.ID, add.ID), add.Meta, nil)
		if !deleted.IsEmpty() {
			v, err := encodeBitmap(deleted)
			if err != nil {
				return err
			}
			_ = b.Set(bitmapKey(t.ID, add.ID), v, nil)
		}
		_ = b.Set(nextSegIDKey, binary.BigEndian.AppendUint64(nil, s.nextSegID.Load()), nil)
		return nil
	})
	if err != nil {
		return CompactionResult{}, fmt.Errorf("cannot commit compaction of table %q: %w", t.Name, err)
	}
	if len(dropped) > 0 {
		s.invalidateBatches(t.ID)
		s.batches.drop(dropped)
	}
	return res, nil
}

// placeBatches adds to b the deletion of every batch entry placed in the
// segment, and to deleted the segment positions of their rows deleted
// since the snapshot from. It returns the ids of the entries.
func (s *Store) placeBatches(b *pebble.Batch, t *catalog.Table, from *Snapshot, pl *Placement, deleted *roaring.Bitmap, res *CompactionResult) ([]uint64, error) {
	var ids []uint64
	for _, pb := range pl.batches {
		ok, err := hasBatch(s.db, t.ID, pb.id)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("batch entry %d of table %q left the fresh tier during its compaction: %w", pb.id, t.Name, ErrConflict)
		}
		was, err := getRaw(from.snap, bitmapKey(t.ID, pb.id))
		if err != nil {
			return nil, err
		}
		now, err := getRaw(s.db, bitmapKey(t.ID, pb.id))
		if err != nil {
			return nil, err
		}
		var live int64
		for _, p := range pb.posOf {
			if p != noPos {
				live++
			}
		}
		// Every row live at the snapshot must have a place in the
		// segment: a row without one would leave the fresh tier with its
		// entry and be lost.
		want := int64(len(pb.posOf))
		if was != nil && want > 0 {
			wbm, err := decodeBitmap(was)
			if err != nil {
				return nil, err
			}
			want -= int64(wbm.Rank(uint32(want - 1)))
		}
		if live != want {
			return nil, fmt.Errorf("batch entry %d of table %q: %d of its %d live rows are in the segment",
				pb.id, t.Name, live, want)
		}
		if !bytes.Equal(was, now) {
			// Rows deleted since the snapshot: their segment copies
			// are deleted too.
			nbm, err := decodeBitmap(now)
			if err != nil {
				return nil, err
			}
			if was != nil {
				wbm, err := decodeBitmap(was)
				if err != nil {
					return nil, err
				}
				nbm.AndNot(wbm)
			}
			it := nbm.Iterator()
			for it.HasNext() {
				p := it.Next()
				if int(p) < len(pb.posOf) && pb.posOf[p] != noPos {
					deleted.Add(pb.posOf[p])
					res.Changed++
					live--
				}
			}
		}
		res.Moved += live
		_ = b.Delete(batchKey(t.ID, pb.id), nil)
		_ = b.Delete(batchBodyKey(t.ID, pb.id), nil)
		_ = b.Delete(bitmapKey(t.ID, pb.id), nil)
		ids = append(ids, pb.id)
	}
	return ids, nil
}

// CommitMerge replaces segments remove of table t by add (nil when every
// row of them was deleted) in one synced batch. add was written from the
// live rows of remove at snapshot from; if any of their delete bitmaps
// changed since (or a segment left the manifest), nothing is written and
// the error wraps ErrConflict: the caller drops add and tries later. The
// caller holds t's Shared lock, as for CommitCompaction.
func (s *Store) CommitMerge(ctx context.Context, t *catalog.Table, from *Snapshot, remove []uint64, add *SegmentAdd) error {
	if err := from.check(); err != nil {
		return err
	}
	err := s.writeSynced(ctx, func(b *pebble.Batch) error {
		for _, id := range remove {
			ok, err := hasSegment(s.db, t.ID, id)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("segment %d left the manifest: %w", id, ErrConflict)
			}
			was, err := getRaw(from.snap, bitmapKey(t.ID, id))
			if err != nil {
				return err
			}
			now, err := getRaw(s.db, bitmapKey(t.ID, id))
			if err != nil {
				return err
			}
			if !bytes.Equal(was, now) {
				return fmt.Errorf("rows of segment %d were deleted meanwhile: %w", id, ErrConflict)
			}
			_ = b.Delete(manifestKey(t.ID, id), nil)
			_ = b.Delete(bitmapKey(t.ID, id), nil)
		}
		if add != nil {
			_ = b.Set(manifestKey(t.ID, add.ID), add.Meta, nil)
		}
		_ = b.Set(nextSegIDKey, binary.BigEndian.AppendUint64(nil, s.nextSegID.Load()), nil)
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot commit merge of table %q: %w", t.Name, err)
	}
	return nil
}

// getRaw returns a copy of key's value in r, nil when absent.
func getRaw(r reader, key []byte) ([]byte, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return bytes.Clone(v), nil
}

// SegmentPos is a row of a segment: its id and row position.
type SegmentPos struct {
	Segment uint64
	Pos     uint32
}

// SegmentProbe finds the primary key of row row of rows (t's schema) in the
// latest live segments of t, ignoring delete bitmaps, and appends each
// (segment, position) holding it to dst. It is called while the caller's
// Txn holds t's IntentExclusive lock, so that no compaction or merge
// changes t's manifest meanwhile. The root package installs it with
// SetSegmentProbe.
type SegmentProbe func(ctx context.Context, t *catalog.Table, rows arrow.RecordBatch, row int, dst []SegmentPos) ([]SegmentPos, error)

// SegmentRangeProbe reports whether a live segment of t may hold a
// primary key between the keys of rows first and last of rows (first's
// key is not greater than last's), so that InsertBatch can skip the
// per-row SegmentProbe for batches outside every segment's key range. It
// is called under the same locks as SegmentProbe. The root package
// installs it with SetSegmentRangeProbe.
type SegmentRangeProbe func(ctx context.Context, t *catalog.Table, rows arrow.RecordBatch, first, last int) (bool, error)

// SetSegmentRangeProbe installs the range probe of bulk inserts; without
// one every row is probed. Call it before the first transaction.
func (s *Store) SetSegmentRangeProbe(p SegmentRangeProbe) { s.rangeProbe = p }

// SetSegmentProbe installs the probe that inserts and key-changing updates
// use to keep primary keys unique across the row store and the segments.
// Without one, only the row store is checked. Call it before the first
// transaction.
func (s *Store) SetSegmentProbe(p SegmentProbe) { s.probe = p }

// txnSeg is a Txn's state of one segment it read or wrote.
type txnSeg struct {
	table     uint64
	inSnap    bool            // the segment is in the Txn's snapshot manifest
	snapBM    *roaring.Bitmap // delete bitmap at the snapshot; nil: none
	latestBM  *roaring.Bitmap // latest committed bitmap read at latestGen
	latestGen uint64
	latestOK  bool
	inLatest  bool
	own       *roaring.Bitmap // rows the Txn deleted; nil: none
	ownBatch  bool            // a batch entry the Txn wrote itself
}

// seg returns the Txn's state of segment id of table, reading its snapshot
// state on first use.
func (tx *Txn) seg(table, id uint64) (*txnSeg, error) {
	if st := tx.segs[id]; st != nil {
		return st, nil
	}
	st := &txnSeg{table: table}
	var err error
	if st.inSnap, err = hasSegment(tx.snap, table, id); err != nil {
		return nil, err
	}
	if !st.inSnap {
		// A batch entry is addressed like a segment.
		if st.inSnap, err = hasBatch(tx.snap, table, id); err != nil {
			return nil, err
		}
		if !st.inSnap {
			st.ownBatch = tx.ownBatch(id) != nil
		}
	}
	if st.inSnap {
		if st.snapBM, err = readBitmap(tx.snap, table, id); err != nil {
			return nil, err
		}
	}
	if tx.segs == nil {
		tx.segs = make(map[uint64]*txnSeg)
	}
	tx.segs[id] = st
	return st, nil
}

// latest returns whether segment id is in the latest manifest and its
// latest committed delete bitmap. Bits are only ever added, and every
// commit that adds some bumps Store.bmGen after its batch is applied and
// before its locks are released, so a bitmap read at the current bmGen is
// still current.
func (tx *Txn) latest(st *txnSeg, id uint64) (bool, *roaring.Bitmap, error) {
	gen := tx.s.bmGen.Load()
	if st.latestOK && st.latestGen == gen {
		return st.inLatest, st.latestBM, nil
	}
	in, err := hasSegment(tx.s.db, st.table, id)
	if err == nil && !in {
		in, err = hasBatch(tx.s.db, st.table, id)
	}
	if err != nil {
		return false, nil, err
	}
	var bm *roaring.Bitmap
	if in {
		if bm, err = readBitmap(tx.s.db, st.table, id); err != nil {
			return false, nil, err
		}
	}
	st.inLatest, st.latestBM, st.latestGen, st.latestOK = in, bm, gen, true
	return in, bm, nil
}

// deleteSegRow deletes row pos of segment id, as the write of a row-store
// row does: it locks the row and checks that it is unchanged since the
// Txn's snapshot (else SerializationFailure). It reports whether the row
// was live for the Txn.
func (tx *Txn) deleteSegRow(ctx context.Context, tt *txnTable, key []byte, id uint64, pos uint32) (bool, error) {
	st, err := tx.seg(tt.t.ID, id)
	if err != nil {
		return false, err
	}
	if !st.inSnap && !st.ownBatch {
		return false, fmt.Errorf("oltp: segment %d of table %q is not in the transaction's snapshot", id, tt.t.Name)
	}
	if st.own != nil && st.own.Contains(pos) {
		return false, nil
	}
	if st.ownBatch {
		// Nobody else sees the Txn's own batch entry: no lock, no
		// conflict.
		if m := tx.ownBatch(id); m == nil || int(pos) >= m.rows {
			return false, nil
		}
		if st.own == nil {
			st.own = roaring.New()
		}
		st.own.Add(pos)
		tx.segDirty = true
		return true, nil
	}
	if st.snapBM != nil && st.snapBM.Contains(pos) {
		return false, nil
	}
	if err := tx.lockRow(ctx, tt, key); err != nil {
		return false, err
	}
	in, bm, err := tx.latest(st, id)
	if err != nil {
		return false, err
	}
	if !in || bm != nil && bm.Contains(pos) {
		return false, sqlstate.Wrap(ErrConflict, sqlstate.SerializationFailure,
			"could not serialize access due to concurrent update of table %q", tt.t.Name)
	}
	if st.own == nil {
		st.own = roaring.New()
	}
	st.own.Add(pos)
	tx.segDirty = true
	return true, nil
}

// checkSegments fails when the primary key of row i of rows, not found in
// the row store, is live in a segment: with UniqueViolation when the
// Txn's snapshot sees it there, else with SerializationFailure.
func (tx *Txn) checkSegments(ctx context.Context, t *catalog.Table, rows arrow.RecordBatch, i int) error {
	if tx.s.probe == nil {
		return nil
	}
	var err error
	tx.probeBuf, err = tx.s.probe(ctx, t, rows, i, tx.probeBuf[:0])
	if err != nil {
		return fmt.Errorf("cannot check primary key of table %q: %w", t.Name, err)
	}
	for _, c := range tx.probeBuf {
		st, err := tx.seg(t.ID, c.Segment)
		if err != nil {
			return err
		}
		if st.own != nil && st.own.Contains(c.Pos) {
			continue
		}
		in, bm, err := tx.latest(st, c.Segment)
		if err != nil {
			return err
		}
		if !in || bm != nil && bm.Contains(c.Pos) {
			continue
		}
		if st.inSnap && (st.snapBM == nil || !st.snapBM.Contains(c.Pos)) {
			return duplicateKey(t, tx.cols, i)
		}
		return sqlstate.Wrap(ErrConflict, sqlstate.SerializationFailure,
			"could not serialize access due to concurrent update of table %q", t.Name)
	}
	return nil
}

// addSegmentBitsLocked adds the Txn's deleted segment rows to their
// committed delete bitmaps in its batch. The caller holds Store.bmMu until
// the batch is applied, so that no other commit's bits are lost.
func (tx *Txn) addSegmentBitsLocked(b *pebble.Batch) error {
	for id, st := range tx.segs {
		if st.own == nil || st.own.IsEmpty() {
			continue
		}
		bm, err := readBitmap(tx.s.db, st.table, id)
		if err != nil {
			return err
		}
		if bm == nil {
			bm = st.own
		} else {
			bm.Or(st.own)
		}
		v, err := encodeBitmap(bm)
		if err != nil {
			return err
		}
		if err := b.Set(bitmapKey(st.table, id), v, nil); err != nil {
			return err
		}
	}
	return nil
}

// CountRows returns the number of rows of t's fresh tier at the snapshot:
// row entries and the live rows of batch entries (rows in segments not
// included). It reads keys, batch entry headers and delete bitmaps only.
func (sn *Snapshot) CountRows(t *catalog.Table) (int64, error) {
	if err := sn.check(); err != nil {
		return 0, err
	}
	lo, hi := rowSpan(t.ID)
	it, err := sn.snap.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return 0, fmt.Errorf("cannot count rows of table %q: %w", t.Name, err)
	}
	var n int64
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	if err := it.Close(); err != nil {
		return 0, fmt.Errorf("cannot count rows of table %q: %w", t.Name, err)
	}
	refs, err := sn.s.batchRefs(sn.snap, t, nil, nil)
	if err != nil {
		return 0, err
	}
	for _, r := range refs {
		n += int64(r.m.rows)
		if r.deleted != nil {
			n -= int64(r.deleted.GetCardinality())
		}
	}
	return n, nil
}

// RowBytes estimates the bytes of table id's fresh tier on disk, row
// entries and batch entries (flushed sstables only; the memtable is not
// counted).
func (s *Store) RowBytes(table uint64) int64 {
	lo, _ := rowSpan(table)
	_, hi := tableSpan(table)
	n, err := s.db.EstimateDiskUsage(lo, hi)
	if err != nil {
		return 0
	}
	return int64(n)
}
