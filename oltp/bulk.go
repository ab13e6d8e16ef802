package oltp

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/cockroachdb/pebble/v2"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/lockmgr"
)

// InsertBatch adds rows to t like Insert, as one batch entry (see doc.go,
// "Batch entries") when rows has at least Options.BulkMinRows rows: one
// Pebble key for the whole batch instead of one per row. Rows are checked
// like Insert's (types, NOT NULL, VARCHAR lengths; primary keys unique in
// the batch, against the row entries and batch entries the Txn sees or
// that committed since its snapshot, and against the segments), with the
// same errors. For a table with a primary key the Txn takes the table's
// Exclusive lock, held until Commit or Rollback (released once the batch
// is applied, before the sync wait); other tables need IntentExclusive
// only. rows is not retained.
func (tx *Txn) InsertBatch(ctx context.Context, t *catalog.Table, rows arrow.RecordBatch) error {
	n := int(rows.NumRows())
	if n == 0 {
		return nil
	}
	if lim := tx.s.opts.BulkMinRows; lim > 0 && n < lim {
		return tx.Insert(ctx, t, rows)
	}
	if err := tx.usable(); err != nil {
		return err
	}
	if t.HasPrimaryKey() {
		// One lock for the whole batch: no row inserter of t can race
		// with the uniqueness checks below.
		if _, err := tx.lockTable(ctx, t, lockmgr.Exclusive); err != nil {
			return tx.abort(err)
		}
	}
	l, err := tx.prepare(ctx, t, rows)
	if err != nil {
		return err
	}
	m := &batchMeta{table: t.ID, id: tx.s.NewSegmentID(), rows: n, ncols: len(t.Columns), hasPK: t.HasPrimaryKey()}
	rec := rows
	if m.hasPK {
		var perm []int32
		if rec, perm, err = tx.sortBatch(t, rows, m); err != nil {
			return tx.abort(err)
		}
		if rec != rows {
			defer rec.Release()
		}
		if err := tx.checkBulkUnique(ctx, l, t, rows, m, perm); err != nil {
			return tx.abort(err)
		}
		m.bloom = buildBloom(m.keys, m.offs, n)
	} else {
		m.rowIDBase = l.ts.nextRowID.Add(uint64(n)) - uint64(n)
		l.seqDirty = true
		m.min = appendInt64Key(appendRowPrefix(nil, t.ID), int64(m.rowIDBase))
		m.max = appendInt64Key(appendRowPrefix(nil, t.ID), int64(m.rowIDBase)+int64(n)-1)
	}
	var body bytes.Buffer
	body.Grow(n * 32)
	if err := encodeBody(tx.s.opts.Allocator, rec, &body); err != nil {
		return tx.abort(err)
	}
	m.bodyLen = body.Len()
	if err := tx.b.Set(batchBodyKey(t.ID, m.id), body.Bytes(), nil); err != nil {
		return tx.abort(fmt.Errorf("cannot write batch of table %q: %w", t.Name, err))
	}
	if err := tx.b.Set(batchKey(t.ID, m.id), m.encodeHeader(), nil); err != nil {
		return tx.abort(fmt.Errorf("cannot write batch of table %q: %w", t.Name, err))
	}
	tx.batches = append(tx.batches, m)
	l.batchDirty = true
	return nil
}

// sortBatch computes the row keys of rows (tx.cols), sorted, into m and
// returns rows in key order (rows itself when already sorted, else a new
// batch the caller releases) with the permutation: row i of the result is
// row perm[i] of rows (nil when sorted). Two equal keys fail with
// UniqueViolation.
func (tx *Txn) sortBatch(t *catalog.Table, rows arrow.RecordBatch, m *batchMeta) (arrow.RecordBatch, []int32, error) {
	n := m.rows
	keys, offs := appendRowKeys(make([]byte, 0, n*24), make([]uint32, 0, n+1), t, tx.cols, n)
	key := func(i int32) []byte { return keys[offs[i]:offs[i+1]] }
	sorted := true
	for i := 1; i < n && sorted; i++ {
		sorted = bytes.Compare(key(int32(i-1)), key(int32(i))) < 0
	}
	if sorted {
		m.keys, m.offs = keys, offs
		m.min, m.max = bytes.Clone(m.keyAt(0)), bytes.Clone(m.keyAt(n-1))
		return rows, nil, nil
	}
	perm := make([]int32, n)
	for i := range perm {
		perm[i] = int32(i)
	}
	slices.SortFunc(perm, func(a, b int32) int { return bytes.Compare(key(a), key(b)) })
	sk := make([]byte, 0, len(keys))
	so := make([]uint32, 1, n+1)
	for i, p := range perm {
		if i > 0 && bytes.Equal(key(perm[i-1]), key(p)) {
			return nil, nil, duplicateKey(t, tx.cols, int(p))
		}
		sk = append(sk, key(p)...)
		so = append(so, uint32(len(sk)))
	}
	m.keys, m.offs = sk, so
	m.min, m.max = bytes.Clone(m.keyAt(0)), bytes.Clone(m.keyAt(n-1))
	refs := make([]rowRef, n)
	for i, p := range perm {
		refs[i] = rowRef{pos: p}
	}
	cols := make([]arrow.Array, len(t.Columns))
	for i := range t.Columns {
		cols[i] = gather(tx.s.opts.Allocator, t.Columns[i].Type, tx.cols[i:i+1], refs)
	}
	out := array.NewRecordBatch(t.Schema(), cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	return out, perm, nil
}

// checkBulkUnique fails when a key of m (sorted, loaded; row perm[i] of
// rows, or row i when perm is nil) exists as a row entry, in another batch
// entry or in a segment: with UniqueViolation when the Txn sees the row,
// else with SerializationFailure. The caller holds t's Exclusive lock.
func (tx *Txn) checkBulkUnique(ctx context.Context, l *txnTable, t *catalog.Table, rows arrow.RecordBatch, m *batchMeta, perm []int32) error {
	orig := func(i int) int {
		if perm == nil {
			return i
		}
		return int(perm[i])
	}
	// Row entries: the indexed batch's iterator sees the latest committed
	// rows (stable under the table lock) and the Txn's own writes. Keys
	// are visited in order; the iterator seeks only when it fell behind.
	it, err := tx.b.NewIter(&pebble.IterOptions{LowerBound: m.min, UpperBound: append(bytes.Clone(m.max), 0)})
	if err != nil {
		return fmt.Errorf("cannot check primary keys of table %q: %w", t.Name, err)
	}
	valid := it.First()
	for i := 0; i < m.rows && valid; i++ {
		k := m.keyAt(i)
		c := bytes.Compare(it.Key(), k)
		if c < 0 {
			valid = it.SeekGE(k)
			if !valid {
				break
			}
			c = bytes.Compare(it.Key(), k)
		}
		if c != 0 {
			continue
		}
		if err := tx.rowExistsErr(t, k, orig(i)); err != nil {
			_ = it.Close()
			return err
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("cannot check primary keys of table %q: %w", t.Name, err)
	}
	// Other batch entries: by key range, bloom filter and binary search.
	others, err := tx.s.latestBatches(l.ts, t.ID)
	if err != nil {
		return err
	}
	for _, o := range append(others[:len(others):len(others)], tx.batches...) {
		if o.table != t.ID || !o.overlaps(m.min, append(bytes.Clone(m.max), 0)) {
			continue
		}
		lo := max(0, m.lowerBound(o.min))
		for i := lo; i < m.rows; i++ {
			k := m.keyAt(i)
			if bytes.Compare(k, o.max) > 0 {
				break
			}
			if !o.mayContain(k) {
				continue
			}
			if err := tx.checkBatchKey(t, o, k, orig(i)); err != nil {
				return err
			}
		}
	}
	// Segments: per row, unless no segment's key range meets the batch's.
	if tx.s.rangeProbe != nil && tx.s.probe != nil {
		may, err := tx.s.rangeProbe(ctx, t, rows, orig(0), orig(m.rows-1))
		if err != nil {
			return fmt.Errorf("cannot check primary keys of table %q: %w", t.Name, err)
		}
		if !may {
			return nil
		}
	}
	if tx.s.probe != nil {
		for i := 0; i < m.rows; i++ {
			if err := tx.checkSegments(ctx, t, rows, orig(i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// rowExistsErr is the error for an insert of row i of tx.cols whose key k
// exists as a row entry in the latest state: UniqueViolation when the Txn
// sees it (its own write or in its snapshot), else SerializationFailure.
func (tx *Txn) rowExistsErr(t *catalog.Table, k []byte, i int) error {
	if _, ok := tx.touched[string(k)]; ok {
		return duplicateKey(t, tx.cols, i)
	}
	found, err := getRow(tx.snap, t, k)
	if err != nil {
		return err
	}
	if found {
		return duplicateKey(t, tx.cols, i)
	}
	return sqlstate.Wrap(ErrConflict, sqlstate.SerializationFailure,
		"could not serialize access due to concurrent update of table %q", t.Name)
}

// checkBatchKey fails when key, the key of row i of tx.cols, is a live row
// of batch entry o (committed or the Txn's own): with UniqueViolation when
// the Txn sees the row, else with SerializationFailure.
func (tx *Txn) checkBatchKey(t *catalog.Table, o *batchMeta, key []byte, i int) error {
	if err := tx.s.loadKeys(tx.s.db, t, o); err != nil {
		return err
	}
	pos, found := o.find(key)
	if !found {
		return nil
	}
	st, err := tx.seg(t.ID, o.id)
	if err != nil {
		return err
	}
	if st.own != nil && st.own.Contains(uint32(pos)) {
		return nil
	}
	if st.ownBatch {
		return duplicateKey(t, tx.cols, i)
	}
	in, bm, err := tx.latest(st, o.id)
	if err != nil {
		return err
	}
	if !in || bm != nil && bm.Contains(uint32(pos)) {
		return nil
	}
	if st.inSnap && (st.snapBM == nil || !st.snapBM.Contains(uint32(pos))) {
		return duplicateKey(t, tx.cols, i)
	}
	return sqlstate.Wrap(ErrConflict, sqlstate.SerializationFailure,
		"could not serialize access due to concurrent update of table %q", t.Name)
}

// checkBatches fails when key, the row key of row i of tx.cols that a row
// insert or update writes, is a live row of a batch entry (see
// checkBatchKey). The caller holds the row's lock under the table's IX,
// which keeps the table's batch entries as they are.
func (tx *Txn) checkBatches(l *txnTable, t *catalog.Table, key []byte, i int) error {
	others, err := tx.s.latestBatches(l.ts, t.ID)
	if err != nil {
		return err
	}
	for _, list := range [2][]*batchMeta{others, tx.batches} {
		for _, o := range list {
			if o.table != t.ID || bytes.Compare(key, o.min) < 0 || bytes.Compare(key, o.max) > 0 || !o.mayContain(key) {
				continue
			}
			if err := tx.checkBatchKey(t, o, key, i); err != nil {
				return err
			}
		}
	}
	return nil
}

// ownBatch returns the Txn's own batch entry id, or nil.
func (tx *Txn) ownBatch(id uint64) *batchMeta {
	for _, m := range tx.batches {
		if m.id == id {
			return m
		}
	}
	return nil
}
