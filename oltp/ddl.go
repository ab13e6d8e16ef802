package oltp

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
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

// ReplaceTable persists t, the changed descriptor of old (same ID, higher
// Version), in one synced batch. It waits for an exclusive lock of the
// table, so the transactions that wrote it under old have finished. When
// src is not nil the row entries are rewritten in the same batch into t's
// layout: column i of the new row is column src[i] of the old row, or NULL
// when src[i] is -1 (needed when columns were dropped; added columns need
// no rewrite, rows read missing trailing columns as NULL). The writer
// stamps stay, so a compaction that read a row before sees it changed.
//
// barrier, when not nil, is held from before the batch is committed until
// after publish returned: a reader that takes its snapshot under barrier
// sees either the old rows and the old catalog or the new ones. publish
// (may be nil) publishes t in the catalog; it runs under the table's lock.
func (s *Store) ReplaceTable(ctx context.Context, old, t *catalog.Table, src []int, barrier sync.Locker, publish func()) error {
	return s.ReplaceTableChecked(ctx, old, t, src, barrier, nil, publish)
}

// ReplaceTableChecked is ReplaceTable with check, which runs once the
// table's exclusive lock is held (no writer of the table is running or
// can start) and before anything is written; its error ends the change.
// ALTER TABLE … ADD COLUMN … NOT NULL checks there that the table is
// empty.
func (s *Store) ReplaceTableChecked(ctx context.Context, old, t *catalog.Table, src []int, barrier sync.Locker,
	check func() error, publish func()) error {
	lk := s.locks.Begin(lockmgr.TxnID(s.newTxnID()))
	defer lk.End()
	if err := lk.Lock(ctx, lockmgr.Table(t.ID), lockmgr.Exclusive); err != nil {
		return err
	}
	if check != nil {
		if err := check(); err != nil {
			return err
		}
	}
	if s.table(t.ID).dropped.Load() {
		return sqlstate.Errorf(sqlstate.UndefinedTable, "table %q was dropped", t.Name)
	}
	enc, err := t.Encode()
	if err != nil {
		return fmt.Errorf("cannot encode table %q: %w", t.Name, err)
	}
	if barrier != nil {
		barrier.Lock()
		defer barrier.Unlock()
	}
	var rewritten []uint64
	if err := s.writeSynced(ctx, func(b *pebble.Batch) error {
		if src != nil {
			if err := s.rewriteRows(b, old, t, src); err != nil {
				return err
			}
			var err error
			if rewritten, err = s.rewriteBatches(b, old, t, src); err != nil {
				return err
			}
		}
		return b.Set(descKey(t.ID), enc, nil)
	}); err != nil {
		return err
	}
	if len(rewritten) > 0 {
		// The cached headers describe the old bodies.
		s.batches.drop(rewritten)
		s.invalidateBatches(t.ID)
	}
	if publish != nil {
		publish()
	}
	return nil
}

// rewriteRows adds to b every row entry of table old rewritten by src
// (see ReplaceTable) into the columns of t, whose defaults fill the
// columns a row lacks.
func (s *Store) rewriteRows(b *pebble.Batch, old, t *catalog.Table, src []int) error {
	defs, err := defaultFields(t)
	if err != nil {
		return err
	}
	lo, hi := rowSpan(old.ID)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	kinds := make([]catalog.Kind, len(old.Columns))
	for i, c := range old.Columns {
		kinds[i] = c.Type.Kind
	}
	var buf []byte
	var fields [][]byte
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return err
		}
		buf, fields, err = rewriteRow(buf[:0], fields, v, kinds, src, defs)
		if err != nil {
			_ = it.Close()
			return fmt.Errorf("cannot rewrite row %x of table %q: %w", it.Key(), old.Name, err)
		}
		if err := b.Set(it.Key(), buf, nil); err != nil {
			_ = it.Close()
			return err
		}
	}
	return it.Close()
}

// rewriteBatches adds to b every batch entry of table old with its body
// rewritten into the columns of t by src (see ReplaceTable) and its header
// updated to match, and returns the ids of the entries. Keys, key ranges
// and blooms stay: primary-key columns are never dropped.
func (s *Store) rewriteBatches(b *pebble.Batch, old, t *catalog.Table, src []int) ([]uint64, error) {
	metas, err := s.batchMetas(s.db, old.ID)
	if err != nil {
		return nil, err
	}
	mem := s.opts.Allocator
	sch := t.Schema()
	var ids []uint64
	var buf bytes.Buffer
	for _, m := range metas {
		hraw, err := getRaw(s.db, batchKey(old.ID, m.id))
		if err != nil {
			return nil, err
		}
		h, err := decodeBatchHeader(old.ID, m.id, hraw)
		if err != nil {
			return nil, err
		}
		body, err := getRaw(s.db, batchBodyKey(old.ID, m.id))
		if err != nil {
			return nil, err
		}
		rec, err := decodeBody(mem, old, h, body)
		if err != nil {
			return nil, err
		}
		cols := make([]arrow.Array, len(src))
		for i, c := range src {
			if c < 0 {
				cols[i] = missingColumn(mem, t, i, h.rows)
			} else {
				cols[i] = rec.Column(c)
				cols[i].Retain()
			}
		}
		nrec := array.NewRecordBatch(sch, cols, int64(h.rows))
		for _, c := range cols {
			c.Release()
		}
		rec.Release()
		buf.Reset()
		err = encodeBody(mem, nrec, &buf)
		nrec.Release()
		if err != nil {
			return nil, err
		}
		h.ncols, h.bodyLen = len(src), buf.Len()
		if err := b.Set(batchKey(old.ID, m.id), h.encodeHeader(), nil); err != nil {
			return nil, err
		}
		if err := b.Set(batchBodyKey(old.ID, m.id), bytes.Clone(buf.Bytes()), nil); err != nil {
			return nil, err
		}
		ids = append(ids, m.id)
	}
	return ids, nil
}

// rewriteRow appends to dst the row value v (columns of kinds) with its
// columns rearranged by src: new column i is old column src[i], or, for
// -1 or a column the row lacks, defs[i] (an encoded default) or NULL when
// defs or defs[i] is nil. fields is scratch space, returned for reuse.
func rewriteRow(dst []byte, fields [][]byte, v []byte, kinds []catalog.Kind, src []int, defs [][]byte) ([]byte, [][]byte, error) {
	if len(v) == 0 || v[0] < rowFormatV1 || v[0] > rowFormatMax {
		return dst, fields, fmt.Errorf("bad row value header: %w", ErrCorruption)
	}
	p := 1
	var stamp uint64
	if v[0] == rowFormatV2 {
		st, w := binary.Uvarint(v[1:])
		if w <= 0 {
			return dst, fields, fmt.Errorf("bad writer stamp in row value: %w", ErrCorruption)
		}
		stamp, p = st, p+w
	}
	nc, w := binary.Uvarint(v[p:])
	if w <= 0 || nc > uint64(len(kinds)) {
		return dst, fields, fmt.Errorf("bad column count in row value: %w", ErrCorruption)
	}
	n := int(nc)
	p += w
	bm := v[p:]
	p += (n + 7) / 8
	if p > len(v) {
		return dst, fields, fmt.Errorf("truncated row value: %w", ErrCorruption)
	}
	// fields[c] is the encoded value of old column c, nil when NULL or
	// absent.
	fields = append(fields[:0], make([][]byte, len(kinds))...)
	for c := 0; c < n; c++ {
		if bm[c>>3]&(1<<(c&7)) != 0 {
			continue
		}
		start := p
		if wd := fixedWidth(kinds[c]); wd > 0 {
			p += wd
		} else {
			l, lw := binary.Uvarint(v[p:])
			if lw <= 0 || l > uint64(len(v)-p-lw) {
				return dst, fields, fmt.Errorf("bad string length in row value: %w", ErrCorruption)
			}
			p += lw + int(l)
		}
		if p > len(v) {
			return dst, fields, fmt.Errorf("truncated row value: %w", ErrCorruption)
		}
		fields[c] = v[start:p]
	}
	dst = append(dst, rowFormatV2)
	dst = binary.AppendUvarint(dst, stamp)
	dst = binary.AppendUvarint(dst, uint64(len(src)))
	nbm := len(dst)
	for k := (len(src) + 7) / 8; k > 0; k-- {
		dst = append(dst, 0)
	}
	for i, c := range src {
		if c < 0 || fields[c] == nil {
			// A column the row lacks (added after it was written, c >= n)
			// reads as its default; a NULL stays NULL.
			if (c < 0 || c >= n) && defs != nil && defs[i] != nil {
				dst = append(dst, defs[i]...)
				continue
			}
			dst[nbm+(i>>3)] |= 1 << (i & 7)
			continue
		}
		dst = append(dst, fields[c]...)
	}
	return dst, fields, nil
}

// Descriptor returns a copy of the encoded descriptor of table id in the
// snapshot, nil when the table does not exist there. Readers compare it
// with the descriptor they bound against (the catalog's) to find out
// whether an ALTER TABLE committed in between.
func (sn *Snapshot) Descriptor(id uint64) ([]byte, error) {
	if err := sn.check(); err != nil {
		return nil, err
	}
	return getRaw(sn.snap, descKey(id))
}

// Descriptor is Snapshot.Descriptor at the transaction's snapshot.
func (tx *Txn) Descriptor(id uint64) ([]byte, error) {
	if err := tx.usable(); err != nil {
		return nil, err
	}
	return getRaw(tx.snap, descKey(id))
}
