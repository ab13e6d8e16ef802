package oltp

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
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
//
// InsertBatch is EncodeBatch followed by InsertEncoded; callers with many
// batches encode them with EncodeBatch first (concurrently, and before
// they lock anything) and keep the table lock for the checks alone.
func (tx *Txn) InsertBatch(ctx context.Context, t *catalog.Table, rows arrow.RecordBatch) error {
	if rows.NumRows() == 0 {
		return nil
	}
	if err := tx.usable(); err != nil {
		return err
	}
	b, err := tx.s.EncodeBatch(t, rows)
	if err != nil {
		return tx.abort(err)
	}
	defer b.Release()
	return tx.InsertEncoded(ctx, t, b)
}

// EncodedBatch is a batch of rows of one table version, validated and
// encoded by Store.EncodeBatch for Txn.InsertEncoded: the rows in key
// order, their sorted row keys, the bloom filter and the body value of a
// batch entry. Batches under Options.BulkMinRows rows keep only their rows
// (they become row entries). An EncodedBatch holds Arrow memory until
// Release; it is not safe for concurrent use.
type EncodedBatch struct {
	t     *catalog.Table
	rows  arrow.RecordBatch // retained; in key order for keyed bulk batches
	cols  []colReader       // over rows
	meta  *batchMeta        // keys, range, bloom, body length; nil for small batches
	body  *encodedBody      // the body value, in parts; nil once written ahead
	small bool              // becomes row entries (Insert)
	// ahead names the body once Store.WriteBody wrote it to store; it
	// is dropped by Release unless a Txn took it (InsertEncoded).
	ahead *aheadRef
	store *Store
}

// NumRows returns the number of rows of b.
func (b *EncodedBatch) NumRows() int64 { return b.rows.NumRows() }

// Release frees b's memory. It is idempotent.
func (b *EncodedBatch) Release() {
	if b.rows != nil {
		b.rows.Release()
		b.rows = nil
	}
	if b.body != nil {
		b.body.release()
		b.body = nil
	}
	if b.ahead != nil {
		b.store.dropBodies([]aheadRef{*b.ahead})
		b.ahead = nil
	}
	b.cols, b.meta = nil, nil
}

// EncodeBatch validates rows for t (exactly t.Schema()'s types in column
// order; NOT NULL, VARCHAR lengths, and for tables with a primary key no
// key twice) and encodes them as the body of a batch entry, sorted by
// primary key. It takes no lock and reads nothing of the store but its
// options, so that the expensive part of a bulk insert (key encoding,
// sort, bloom filter, column stream and S2) runs outside every table lock
// and concurrently: it is safe for concurrent use. The checks against
// other rows happen in Txn.InsertEncoded. rows is retained by the result
// (or a sorted copy is made); the caller releases the result.
func (s *Store) EncodeBatch(t *catalog.Table, rows arrow.RecordBatch) (*EncodedBatch, error) {
	n := int(rows.NumRows())
	cols := make([]colReader, len(t.Columns))
	if err := validateRows(t, rows, cols); err != nil {
		return nil, err
	}
	rows.Retain()
	b := &EncodedBatch{t: t, rows: rows, cols: cols}
	if lim := s.opts.BulkMinRows; n == 0 || lim > 0 && n < lim {
		b.small = true
		return b, nil
	}
	m := &batchMeta{table: t.ID, rows: n, ncols: len(t.Columns), hasPK: t.HasPrimaryKey()}
	b.meta = m
	size := recordBytes(rows)
	if !m.hasPK {
		body, err := newEncodedBody(rows)
		if err != nil {
			b.Release()
			return nil, err
		}
		b.body, m.bodyLen = body, body.size
		return b, nil
	}
	// The body does not depend on the keys when the rows are in key
	// order already (bulk loads usually are): then it is encoded on
	// another core while the keys are sorted and the bloom filter is
	// built. A sample of five keys decides; if the rows turn out not
	// to be in order, the body is encoded again from the sorted rows.
	var (
		wg      sync.WaitGroup
		bodyErr error
		ahead   = size >= compressMinBytes && runtime.GOMAXPROCS(0) > 1 && looksSorted(t, cols, n)
	)
	if ahead {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.body, bodyErr = newEncodedBody(rows)
		}()
	}
	sorted, err := sortRows(s.opts.Allocator, t, rows, cols, m)
	if err == nil {
		m.bloom = buildBloom(m.keys, m.offs, n)
	}
	wg.Wait()
	if err == nil && ahead && sorted == rows {
		err = bodyErr
	}
	if err != nil {
		if sorted != nil && sorted != rows {
			sorted.Release()
		}
		b.Release()
		return nil, err
	}
	if sorted != rows {
		rows.Release()
		b.rows = sorted
		for i := range t.Columns {
			// Same types as validated above: reset cannot fail.
			_ = cols[i].reset(t.Columns[i].Type, sorted.Column(i))
		}
	}
	if !ahead || sorted != rows {
		if b.body != nil {
			b.body.release()
		}
		var err error
		if b.body, err = newEncodedBody(b.rows); err != nil {
			b.Release()
			return nil, err
		}
	}
	m.bodyLen = b.body.size
	return b, nil
}

// looksSorted reports whether five rows of cols spread over the n rows
// are in strictly ascending key order (a guess that the batch is sorted).
func looksSorted(t *catalog.Table, cols []colReader, n int) bool {
	var prev, key []byte
	for j := 0; j < 5; j++ {
		i := j * (n - 1) / 4
		key = key[:0]
		for _, k := range t.PrimaryKey {
			key = appendKeyValue(key, &cols[k], i)
		}
		if j > 0 && bytes.Compare(prev, key) >= 0 {
			return false
		}
		prev = append(prev[:0], key...)
	}
	return true
}

// InsertEncoded adds the rows of b, encoded for t by EncodeBatch, to t like
// InsertBatch: batches of Options.BulkMinRows rows or more as one batch
// entry, smaller ones as row entries (Insert). For a table with a primary
// key it takes the table's Exclusive lock and checks the keys against the
// row entries, the batch entries and the segments; the lock is what keeps
// those checks true until the commit (see doc.go, "Batch entries"). b
// stays owned by the caller.
func (tx *Txn) InsertEncoded(ctx context.Context, t *catalog.Table, b *EncodedBatch) error {
	if b.t.ID != t.ID || b.t.Version != t.Version {
		return tx.abort(fmt.Errorf("oltp: batch encoded for table %d version %d inserted into table %d version %d",
			b.t.ID, b.t.Version, t.ID, t.Version))
	}
	if b.small {
		return tx.Insert(ctx, t, b.rows)
	}
	if err := tx.usable(); err != nil {
		return err
	}
	mode := lockmgr.IntentExclusive
	if t.HasPrimaryKey() {
		// One lock for the whole batch: no row inserter of t and no
		// other bulk insert can race with the uniqueness checks below.
		mode = lockmgr.Exclusive
	}
	l, err := tx.lockTable(ctx, t, mode)
	if err != nil {
		return tx.abort(err)
	}
	// The entry is the Txn's own from here: a copy of the shared meta
	// with its id (and hidden row ids).
	id := uint64(0)
	if b.ahead != nil {
		id = b.ahead.id
	} else {
		id = tx.s.NewSegmentID()
	}
	m := &batchMeta{table: t.ID, id: id, rows: b.meta.rows, ncols: b.meta.ncols,
		hasPK: b.meta.hasPK, bloom: b.meta.bloom, bodyLen: b.meta.bodyLen,
		keys: b.meta.keys, offs: b.meta.offs, min: b.meta.min, max: b.meta.max}
	if m.hasPK {
		// The error messages of the checks name the key values of
		// tx.cols.
		tx.cols = append(tx.cols[:0], b.cols...)
		err := tx.checkBulkUnique(ctx, l, t, b.rows, m)
		clear(tx.cols) // b's buffers are the caller's
		if err != nil {
			return tx.abort(err)
		}
	} else {
		n := uint64(m.rows)
		m.rowIDBase = l.ts.nextRowID.Add(n) - n
		l.seqDirty = true
		m.min = appendInt64Key(appendRowPrefix(nil, t.ID), int64(m.rowIDBase))
		m.max = appendInt64Key(appendRowPrefix(nil, t.ID), int64(m.rowIDBase)+int64(n)-1)
	}
	if b.ahead != nil {
		// The body is in the store: the commit takes it by deleting its
		// marker in the batch that writes the header.
		if err := tx.b.Delete(aheadKey(t.ID, id), nil); err != nil {
			return tx.abort(fmt.Errorf("cannot write batch of table %q: %w", t.Name, err))
		}
		tx.ahead = append(tx.ahead, *b.ahead)
		b.ahead = nil
	} else {
		// The body goes straight from its encoding buffers into the
		// batch.
		key := batchBodyKey(t.ID, m.id)
		op := tx.b.SetDeferred(len(key), b.body.size)
		copy(op.Key, key)
		b.body.copyTo(op.Value)
		if err := op.Finish(); err != nil {
			return tx.abort(fmt.Errorf("cannot write batch of table %q: %w", t.Name, err))
		}
	}
	if err := tx.b.Set(batchKey(t.ID, m.id), m.encodeHeader(), nil); err != nil {
		return tx.abort(fmt.Errorf("cannot write batch of table %q: %w", t.Name, err))
	}
	tx.batches = append(tx.batches, m)
	l.batchDirty = true
	return nil
}

// sortRows computes the row keys of rows (cols, t's columns), sorted, into
// m and returns rows in key order: rows itself when already sorted, else a
// new batch the caller releases. Two equal keys fail with
// UniqueViolation.
func sortRows(mem memory.Allocator, t *catalog.Table, rows arrow.RecordBatch, cols []colReader, m *batchMeta) (arrow.RecordBatch, error) {
	n := m.rows
	keys, offs := appendRowKeys(make([]byte, 0, n*24), make([]uint32, 0, n+1), t, cols, n)
	key := func(i int32) []byte { return keys[offs[i]:offs[i+1]] }
	sorted := true
	for i := 1; i < n && sorted; i++ {
		sorted = bytes.Compare(key(int32(i-1)), key(int32(i))) < 0
	}
	if sorted {
		m.keys, m.offs = keys, offs
		m.min, m.max = bytes.Clone(m.keyAt(0)), bytes.Clone(m.keyAt(n-1))
		return rows, nil
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
			return nil, duplicateKey(t, cols, int(p))
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
	out := make([]arrow.Array, len(t.Columns))
	for i := range t.Columns {
		out[i] = gather(mem, t.Columns[i].Type, cols[i:i+1], refs)
	}
	rec := array.NewRecordBatch(t.Schema(), out, int64(n))
	for _, c := range out {
		c.Release()
	}
	return rec, nil
}

// checkBulkUnique fails when a key of m (sorted, loaded; row i of rows and
// tx.cols, which are in key order) exists as a row entry, in another batch
// entry or in a segment: with UniqueViolation when the Txn sees the row,
// else with SerializationFailure. The caller holds t's Exclusive lock.
func (tx *Txn) checkBulkUnique(ctx context.Context, l *txnTable, t *catalog.Table, rows arrow.RecordBatch, m *batchMeta) error {
	// Row entries: the indexed batch's iterator sees the latest committed
	// rows (stable under the table lock) and the Txn's own writes. Keys
	// are visited in order; the iterator seeks only when it fell behind.
	// end bounds the batch's keys from above (exclusive).
	end := append(bytes.Clone(m.max), 0)
	it, err := tx.b.NewIter(&pebble.IterOptions{LowerBound: m.min, UpperBound: end})
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
		if err := tx.rowExistsErr(t, k, i); err != nil {
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
		if o.table != t.ID || !o.overlaps(m.min, end) {
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
			if err := tx.checkBatchKey(t, o, k, i); err != nil {
				return err
			}
		}
	}
	// Segments: per row, unless no segment's key range meets the batch's.
	if tx.s.rangeProbe != nil && tx.s.probe != nil {
		may, err := tx.s.rangeProbe(ctx, t, rows, 0, m.rows-1)
		if err != nil {
			return fmt.Errorf("cannot check primary keys of table %q: %w", t.Name, err)
		}
		if !may {
			return nil
		}
	}
	if tx.s.probe != nil {
		for i := 0; i < m.rows; i++ {
			if err := tx.checkSegments(ctx, t, rows, i); err != nil {
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
