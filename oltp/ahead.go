package oltp

import (
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Bodies written ahead.
//
// A bulk ingest of many batches used to put every batch entry's body into
// its transaction's Pebble batch and write them all at its commit: the
// stream had been read by then, so the WAL write of every body, its
// memtable copy and the fsync of all of it ran after the last batch
// arrived, while the client waited and the cores idled (a third of a
// streamed 1M-row lineitem ingest). Store.WriteBody instead writes a body
// to the store as soon as it is encoded, unsynced, while the next batches
// are read and encoded; the commit carries the entry's header, and its
// sync makes the bodies before it in the WAL durable with it.
//
// A body is invisible until its header commits: every reader finds batch
// entries through their headers. Until then a marker (tagAhead <table>
// <batch id>, written in the body's Pebble batch) records that the body
// is nobody's yet:
//
//   - Txn.InsertEncoded takes the body into the transaction: its commit
//     deletes the marker in the batch that writes the header, so a crash
//     leaves either both (committed) or the marker (not committed);
//   - a rollback, and the Release of an EncodedBatch that no transaction
//     took, delete the body and its marker (unsynced: a crash before that
//     delete is durable leaves the marker);
//   - Open deletes the body of every marker left (dropAhead).

// aheadKey returns the marker of the body of batch entry id of table,
// written ahead of its header.
func aheadKey(table, id uint64) []byte {
	k := make([]byte, 0, 17)
	k = append(k, tagAhead)
	k = binary.BigEndian.AppendUint64(k, table)
	return binary.BigEndian.AppendUint64(k, id)
}

// aheadRef names a body written ahead.
type aheadRef struct{ table, id uint64 }

// WriteBody writes the body of b to the store now, ahead of the
// transaction that inserts b (see "Bodies written ahead" above), as the
// body of batch entry id, and frees b's copy of it. id comes from
// NewSegmentID: a caller that writes the bodies of a stream concurrently
// takes the ids in stream order, so that the entries' ids (the order in
// which scans return them) follow the stream. WriteBody does nothing for
// batches that become row entries, and for a b whose body is written
// already. The write is not synced: the commit of the transaction that
// takes b syncs the WAL, which holds the body before the header.
// WriteBody is safe for concurrent use with other WriteBody calls on
// other batches.
func (s *Store) WriteBody(b *EncodedBatch, id uint64) error {
	if b.small || b.meta == nil || b.ahead != nil || b.body == nil {
		return nil
	}
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if err := s.openErr(); err != nil {
		return err
	}
	key := batchBodyKey(b.t.ID, id)
	mark := aheadKey(b.t.ID, id)
	// Sized for both keys and the body, so that the body is copied once
	// and the batch never grows.
	wb := s.db.NewBatchWithSize(len(key) + len(mark) + b.body.size + 32)
	defer wb.Close()
	op := wb.SetDeferred(len(key), b.body.size)
	copy(op.Key, key)
	b.body.copyTo(op.Value)
	if err := op.Finish(); err != nil {
		return fmt.Errorf("cannot write batch of table %q: %w", b.t.Name, err)
	}
	if err := wb.Set(mark, nil, nil); err != nil {
		return fmt.Errorf("cannot write batch of table %q: %w", b.t.Name, err)
	}
	if err := s.db.Apply(wb, pebble.NoSync); err != nil {
		return s.fail(err)
	}
	b.ahead = &aheadRef{table: b.t.ID, id: id}
	b.store = s
	b.body.release()
	b.body = nil
	return nil
}

// dropBodies deletes bodies written ahead that no commit took, and their
// markers. It is best effort: what a closed or failed store, or a crash,
// leaves is deleted by the next Open.
func (s *Store) dropBodies(refs []aheadRef) {
	if len(refs) == 0 {
		return
	}
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	s.dropBodiesLocked(refs)
}

// dropBodiesLocked is dropBodies for a caller that holds closeMu.RLock.
func (s *Store) dropBodiesLocked(refs []aheadRef) {
	if len(refs) == 0 || s.closed || s.Err() != nil {
		return
	}
	wb := s.db.NewBatch()
	defer wb.Close()
	for _, r := range refs {
		_ = wb.Delete(batchBodyKey(r.table, r.id), nil)
		_ = wb.Delete(aheadKey(r.table, r.id), nil)
	}
	if err := s.db.Apply(wb, pebble.NoSync); err != nil {
		_ = s.fail(err)
	}
}

// dropAhead deletes, at Open, the bodies whose markers a crash left: no
// commit took them.
func (s *Store) dropAhead() error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{tagAhead}, UpperBound: []byte{tagAhead + 1}})
	if err != nil {
		return fmt.Errorf("cannot read pending batch bodies: %w", err)
	}
	wb := s.db.NewBatch()
	defer wb.Close()
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		if len(k) != 17 {
			continue
		}
		table, id := binary.BigEndian.Uint64(k[1:9]), binary.BigEndian.Uint64(k[9:])
		_ = wb.Delete(batchBodyKey(table, id), nil)
		_ = wb.Delete(k, nil)
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("cannot read pending batch bodies: %w", err)
	}
	if wb.Empty() {
		return nil
	}
	if err := wb.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("cannot delete pending batch bodies: %w", err)
	}
	return nil
}
