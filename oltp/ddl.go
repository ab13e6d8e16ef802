package oltp

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/lockmgr"
)

// Schema changes other than CREATE and DROP TABLE: view descriptors,
// TRUNCATE and descriptor replacement (ALTER TABLE).

// viewKey returns the key of view id's descriptor.
func viewKey(id uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{tagView}, id)
}

// PutView persists a view descriptor (v.ID set, typically from
// NextTableID), new or replacing the one with the same ID, in one synced
// batch with the table ID counter.
func (s *Store) PutView(ctx context.Context, v *catalog.View) error {
	if v.ID == 0 {
		return fmt.Errorf("cannot create view %q: no ID assigned", v.Name)
	}
	enc, err := v.Encode()
	if err != nil {
		return fmt.Errorf("cannot encode view %q: %w", v.Name, err)
	}
	for {
		cur := s.nextTableID.Load()
		if cur > v.ID || s.nextTableID.CompareAndSwap(cur, v.ID+1) {
			break
		}
	}
	return s.writeSynced(ctx, func(b *pebble.Batch) error {
		_ = b.Set(viewKey(v.ID), enc, nil)
		_ = b.Set(nextTableIDKey, binary.BigEndian.AppendUint64(nil, s.nextTableID.Load()), nil)
		return nil
	})
}

// DeleteView deletes view id's descriptor in one synced batch.
func (s *Store) DeleteView(ctx context.Context, id uint64) error {
	return s.writeSynced(ctx, func(b *pebble.Batch) error {
		return b.Delete(viewKey(id), nil)
	})
}

// LoadViews returns every persisted view descriptor, ordered by ID.
func (s *Store) LoadViews() ([]*catalog.View, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{tagView}, UpperBound: []byte{tagView + 1}})
	if err != nil {
		return nil, fmt.Errorf("cannot read views: %w", err)
	}
	var out []*catalog.View
	for ok := it.First(); ok; ok = it.Next() {
		val, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return nil, fmt.Errorf("cannot read views: %w", err)
		}
		v, err := catalog.DecodeView(val)
		if err != nil {
			_ = it.Close()
			return nil, fmt.Errorf("cannot load view descriptor %x: %w", it.Key(), err)
		}
		out = append(out, v)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("cannot read views: %w", err)
	}
	return out, nil
}

// TruncateTable removes every row of t from every tier in one synced
// batch: its row entries, bulk batch entries, delete bitmaps and segment
// manifest entries (the range from the row entries to the end of the
// table's keys; the hidden row id sequence stays, so row ids are not
// reused). It waits for an exclusive lock of the table, like DropTable, so
// no transaction that wrote t is still running, and returns the ids of the
// segments that left the manifest: the caller forgets them, and removes
// their files once no snapshot reads them.
func (s *Store) TruncateTable(ctx context.Context, t *catalog.Table) (removed []uint64, err error) {
	lk := s.locks.Begin(lockmgr.TxnID(s.newTxnID()))
	defer lk.End()
	if err := lk.Lock(ctx, lockmgr.Table(t.ID), lockmgr.Exclusive); err != nil {
		return nil, err
	}
	if s.table(t.ID).dropped.Load() {
		return nil, sqlstate.Errorf(sqlstate.UndefinedTable, "table %q was dropped", t.Name)
	}
	// Under the exclusive lock no writer or compaction commit of t runs,
	// so the manifest read here is the one the batch removes.
	ents, err := segmentsOf(s.db, t.ID)
	if err != nil {
		return nil, err
	}
	start, _ := rowSpan(t.ID)
	_, end := tableSpan(t.ID)
	err = s.writeSynced(ctx, func(b *pebble.Batch) error {
		return b.DeleteRange(start, end, nil)
	})
	if err != nil {
		return nil, err
	}
	s.invalidateBatches(t.ID)
	for _, e := range ents {
		removed = append(removed, e.ID)
	}
	return removed, nil
}

// ReplaceTable persists t's changed descriptor (same ID, higher Version)
// in one synced batch. It waits for an exclusive lock of the table, so the
// transactions that wrote t under its old descriptor have finished; the
// caller publishes t in the catalog before the lock is released, through
// publish, so later writers bind and write under the new descriptor.
func (s *Store) ReplaceTable(ctx context.Context, t *catalog.Table, publish func()) error {
	lk := s.locks.Begin(lockmgr.TxnID(s.newTxnID()))
	defer lk.End()
	if err := lk.Lock(ctx, lockmgr.Table(t.ID), lockmgr.Exclusive); err != nil {
		return err
	}
	if s.table(t.ID).dropped.Load() {
		return sqlstate.Errorf(sqlstate.UndefinedTable, "table %q was dropped", t.Name)
	}
	enc, err := t.Encode()
	if err != nil {
		return fmt.Errorf("cannot encode table %q: %w", t.Name, err)
	}
	if err := s.writeSynced(ctx, func(b *pebble.Batch) error {
		return b.Set(descKey(t.ID), enc, nil)
	}); err != nil {
		return err
	}
	if publish != nil {
		publish()
	}
	return nil
}
