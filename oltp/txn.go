package oltp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/cockroachdb/pebble/v2"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/lockmgr"
)

// Txn is a transaction under snapshot isolation. It reads the Pebble
// snapshot taken when it began plus its own writes, buffers its writes in a
// Pebble indexed batch and locks the rows it writes through the store's
// lock manager (row X under table IX; table X after Options.EscalateRows
// row locks in one table). A write to a row whose committed version is not
// the one in the Txn's snapshot fails with SQLSTATE 40001 (first writer
// wins); lock waits fail with 40P01 (deadlock victim), 55P03 (lock timeout)
// or 57014 (context). See doc.go for the invariants.
//
// A Txn is not safe for concurrent use. After any write returns an error the
// Txn is unusable: the caller must call Rollback, and nothing of it is
// written.
type Txn struct {
	s    *Store
	id   uint64
	snap *pebble.Snapshot
	b    *pebble.Batch
	lk   *lockmgr.Txn
	// tables holds the state of every table the Txn locked.
	tables []txnTable
	// touched maps every row key the Txn wrote (set or deleted) to the
	// scan generation of its first write; see Scan.
	touched map[string]uint32
	gen     uint32
	err     error // first write error; the Txn is unusable

	cols   []colReader
	key    []byte
	val    []byte
	keyBuf []byte // Update: new keys, concatenated
	keyEnd []int  // Update: end of each new key in keyBuf, -1 when unchanged

	// segs holds the Txn's state of the segments it read or wrote rows
	// of; segDirty is set once it deleted a segment row.
	segs     map[uint64]*txnSeg
	segDirty bool
	probeBuf []SegmentPos

	// batches holds the batch entries the Txn wrote (InsertBatch).
	batches []*batchMeta
	// ahead names the bodies of batches that Store.WriteBody wrote
	// before the Txn took them: its commit keeps them, else they are
	// deleted.
	ahead []aheadRef
}

// txnTable is a Txn's state of one table it locked.
type txnTable struct {
	t          *catalog.Table
	ts         *tableState
	mode       lockmgr.Mode // table lock held (IX or X)
	rowLocks   int          // row locks taken in this table
	seqDirty   bool         // hidden row ids were allocated; persist the sequence
	batchDirty bool         // batch entries were written
	escalated  bool         // the table is locked X: no more row locks
}

// Begin starts a transaction: it takes the snapshot its reads see. The
// caller must Commit or Rollback it. Writes of a Txn that is still open
// when the Store is closed are a caller bug.
func (s *Store) Begin() *Txn {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return &Txn{s: s, err: ErrClosed}
	}
	id := s.newTxnID()
	return &Txn{
		s:    s,
		id:   id,
		snap: s.db.NewSnapshot(),
		b:    s.db.NewIndexedBatch(),
		lk:   s.locks.Begin(lockmgr.TxnID(id)),
	}
}

// ID returns the transaction id: unique across restarts, larger for younger
// transactions, and the lock manager's id of the Txn.
func (tx *Txn) ID() uint64 { return tx.id }

func (tx *Txn) usable() error {
	if tx.b == nil {
		if tx.err == ErrClosed {
			return ErrClosed
		}
		return ErrTxnDone
	}
	if tx.err != nil {
		return sqlstate.Wrap(tx.err, sqlstate.InvalidTxnState,
			"current transaction is aborted, commands ignored until end of transaction block")
	}
	return nil
}

// abort records err as the reason the Txn is unusable and returns it.
func (tx *Txn) abort(err error) error {
	if tx.err == nil {
		tx.err = err
	}
	return err
}

// LockTable locks t in mode (lockmgr.IntentExclusive before writing rows,
// lockmgr.Exclusive to keep every other writer out), held until Commit or
// Rollback. Writes lock what they need themselves; LockTable lets the
// caller lock early, or lock the whole table for a statement that will
// write much of it. It fails with UndefinedTable if t was dropped.
func (tx *Txn) LockTable(ctx context.Context, t *catalog.Table, mode lockmgr.Mode) error {
	if err := tx.usable(); err != nil {
		return err
	}
	_, err := tx.lockTable(ctx, t, mode)
	return err
}

// lockTable returns the Txn's state of t, locking t in at least mode.
func (tx *Txn) lockTable(ctx context.Context, t *catalog.Table, mode lockmgr.Mode) (*txnTable, error) {
	var tt *txnTable
	for i := range tx.tables {
		if tx.tables[i].t.ID == t.ID {
			tt = &tx.tables[i]
			break
		}
	}
	if tt != nil && lockmgr.Supremum(tt.mode, mode) == tt.mode {
		return tt, nil
	}
	if err := tx.lk.Lock(ctx, lockmgr.Table(t.ID), mode); err != nil {
		return nil, err
	}
	if tt == nil {
		ts := tx.s.table(t.ID)
		if ts.dropped.Load() {
			return nil, sqlstate.Errorf(sqlstate.UndefinedTable, "table %q was dropped", t.Name)
		}
		if !t.HasPrimaryKey() {
			if err := tx.s.loadSeq(ts, t.ID); err != nil {
				return nil, err
			}
		}
		tx.tables = append(tx.tables, txnTable{t: t, ts: ts})
		tt = &tx.tables[len(tx.tables)-1]
	}
	tt.mode = lockmgr.Supremum(tt.mode, mode)
	tt.escalated = tt.mode == lockmgr.Exclusive
	return tt, nil
}

// lockRow locks row key of tt's table exclusively, escalating to a table
// lock after Options.EscalateRows row locks.
func (tx *Txn) lockRow(ctx context.Context, tt *txnTable, key []byte) error {
	if tt.escalated {
		return nil
	}
	if lim := tx.s.opts.EscalateRows; lim > 0 && tt.rowLocks >= lim {
		if _, err := tx.lockTable(ctx, tt.t, lockmgr.Exclusive); err != nil {
			return err
		}
		return nil
	}
	if err := tx.lk.Lock(ctx, lockmgr.Row(tt.t.ID, key), lockmgr.Exclusive); err != nil {
		return err
	}
	tt.rowLocks++
	return nil
}

// touch records that the Txn wrote key.
func (tx *Txn) touch(key []byte) {
	if tx.touched == nil {
		tx.touched = make(map[string]uint32)
	}
	if _, ok := tx.touched[string(key)]; !ok {
		tx.touched[string(key)] = tx.gen
	}
}

// writable locks row key for writing and returns whether the row exists as
// the Txn sees it. A row the Txn has not written yet must be unchanged since
// the Txn's snapshot: its latest committed value (read after the lock is
// held, so it cannot change any more) must equal its value in the snapshot,
// absent or byte for byte. Row values carry their writer's transaction id,
// so equal bytes mean the same version. Otherwise the write fails with
// SerializationFailure.
func (tx *Txn) writable(ctx context.Context, tt *txnTable, key []byte) (bool, error) {
	if _, ok := tx.touched[string(key)]; ok {
		// Locked when first written; the batch holds the Txn's version.
		return tx.exists(key)
	}
	if err := tx.lockRow(ctx, tt, key); err != nil {
		return false, err
	}
	latest, lcloser, err := tx.s.db.Get(key)
	if err != nil && !errors.Is(err, pebble.ErrNotFound) {
		return false, fmt.Errorf("cannot read row of table %q: %w", tt.t.Name, err)
	}
	if lcloser != nil {
		defer lcloser.Close()
	}
	old, scloser, err := tx.snap.Get(key)
	if err != nil && !errors.Is(err, pebble.ErrNotFound) {
		return false, fmt.Errorf("cannot read row of table %q: %w", tt.t.Name, err)
	}
	if scloser != nil {
		defer scloser.Close()
	}
	if (latest == nil) != (old == nil) || !bytes.Equal(latest, old) {
		return false, sqlstate.Wrap(ErrConflict, sqlstate.SerializationFailure,
			"could not serialize access due to concurrent update of table %q", tt.t.Name)
	}
	return latest != nil, nil
}

// prepare locks t and checks rows against it: types, NOT NULL and VARCHAR
// lengths. It fills tx.cols.
func (tx *Txn) prepare(ctx context.Context, t *catalog.Table, rows arrow.RecordBatch) (*txnTable, error) {
	if err := tx.usable(); err != nil {
		return nil, err
	}
	l, err := tx.lockTable(ctx, t, lockmgr.IntentExclusive)
	if err != nil {
		return nil, tx.abort(err)
	}
	if cap(tx.cols) < len(t.Columns) {
		tx.cols = make([]colReader, len(t.Columns))
	}
	tx.cols = tx.cols[:len(t.Columns)]
	if err := validateRows(t, rows, tx.cols); err != nil {
		return nil, tx.abort(err)
	}
	return l, nil
}

// validateRows checks rows against t: column count and types, NOT NULL,
// DECIMAL precisions and VARCHAR lengths. An error about a value names its
// row within rows (sqlstate.Error.Row, 1-based) and column. It fills cols
// (len(t.Columns) readers) over rows.
func validateRows(t *catalog.Table, rows arrow.RecordBatch, cols []colReader) error {
	if int(rows.NumCols()) != len(t.Columns) {
		return sqlstate.Errorf(sqlstate.DatatypeMismatch,
			"table %q has %d columns but %d were given", t.Name, len(t.Columns), rows.NumCols())
	}
	for i := range t.Columns {
		col := &t.Columns[i]
		arr := rows.Column(i)
		// Exactly the column's type: body format 3 stores values without
		// their Arrow type (a TIMESTAMP unit, a DECIMAL scale) and reads
		// them back as the table's.
		if want := col.Type.ArrowType(); !arrow.TypeEqual(arr.DataType(), want) {
			return sqlstate.Errorf(sqlstate.DatatypeMismatch,
				"column %q of table %q is %s but %s was given", col.Name, t.Name, col.Type, arr.DataType())
		}
		if err := cols[i].reset(col.Type, arr); err != nil {
			return sqlstate.Wrap(err, sqlstate.DatatypeMismatch,
				"column %q of table %q is %s but %s was given", col.Name, t.Name, col.Type, arr.DataType())
		}
		if col.Type.Kind == catalog.KindDecimal {
			if err := checkPrecision(col, arr.(*array.Decimal128)); err != nil {
				return err
			}
		}
		if col.NotNull && arr.NullN() > 0 {
			return sqlstate.Errorf(sqlstate.NotNullViolation,
				"null value in column %q of relation %q violates not-null constraint", col.Name, t.Name).
				InRow(firstNull(arr), col.Name)
		}
		if col.Type.Kind == catalog.KindVarchar && col.Type.Length > 0 {
			if err := checkLength(col, &cols[i], arr.Len()); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkPrecision refuses a DECIMAL(p,s) value with more than p digits: a
// bulk write's Arrow batch can hold one (its type only declares p), and it
// would be stored as given.
func checkPrecision(col *catalog.Column, a *array.Decimal128) error {
	p := col.Type.Precision
	// |v| < 10^p tested on the low word for the values of an int64's
	// range (all of them, in practice): FitsInPrecision per value was 8%
	// of a lineitem batch's encoding.
	bound := uint64(math.MaxUint64)
	if p <= 19 {
		bound = 1
		for range p {
			bound *= 10
		}
	}
	for i, v := range a.Values() {
		hi, lo := v.HighBits(), v.LowBits()
		if hi == 0 && lo < bound || hi == -1 && lo != 0 && -lo < bound {
			continue
		}
		if !v.FitsInPrecision(p) && a.IsValid(i) {
			return sqlstate.Errorf(sqlstate.NumericOutOfRange,
				"value %s of column %q does not fit DECIMAL(%d,%d)", v.ToString(col.Type.Scale), col.Name, p, col.Type.Scale).
				InRow(int64(i)+1, col.Name)
		}
	}
	return nil
}

// checkLength enforces VARCHAR(n) (n counts characters, as in PostgreSQL).
func checkLength(col *catalog.Column, c *colReader, n int) error {
	limit := int(col.Type.Length)
	for i := 0; i < n; i++ {
		if int(c.offs[i+1]-c.offs[i]) <= limit || c.isNull(i) {
			continue
		}
		if utf8.RuneCount(c.str(i)) > limit {
			return sqlstate.Errorf(sqlstate.StringDataTooLong,
				"value too long for type character varying(%d) in column %q", limit, col.Name).
				InRow(int64(i)+1, col.Name)
		}
	}
	return nil
}

// firstNull returns the row, 1-based, of a's first NULL (a has one).
func firstNull(a arrow.Array) int64 {
	for i := 0; i < a.Len(); i++ {
		if a.IsNull(i) {
			return int64(i) + 1
		}
	}
	return 0
}

// exists reports whether key, which the Txn wrote, exists in its batch.
// (For a key in touched the batch shadows the database.)
func (tx *Txn) exists(key []byte) (bool, error) {
	_, closer, err := tx.b.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	_ = closer.Close()
	return true, nil
}

// appendPK appends the storage key of row i of tx.cols.
func (tx *Txn) appendPK(dst []byte, t *catalog.Table, i int) []byte {
	dst = appendRowPrefix(dst, t.ID)
	for _, k := range t.PrimaryKey {
		dst = appendKeyValue(dst, &tx.cols[k], i)
	}
	return dst
}

func duplicateKey(t *catalog.Table, cols []colReader, i int) error {
	return sqlstate.Errorf(sqlstate.UniqueViolation,
		"duplicate key value violates unique constraint \"%s_pkey\": Key %s already exists",
		t.Name, formatPK(t, cols, i))
}

// Insert adds rows to t. rows has exactly t.Schema()'s types in column
// order. A row whose primary key exists (committed, or written earlier in
// this Txn) fails with UniqueViolation; one committed by a transaction the
// Txn's snapshot does not see fails with SerializationFailure. Inserted
// primary keys are locked; rows of a table without a primary key get fresh
// hidden row ids and need no row locks.
func (tx *Txn) Insert(ctx context.Context, t *catalog.Table, rows arrow.RecordBatch) error {
	l, err := tx.prepare(ctx, t, rows)
	if err != nil {
		return err
	}
	n := int(rows.NumRows())
	for i := 0; i < n; i++ {
		if t.HasPrimaryKey() {
			tx.key = tx.appendPK(tx.key[:0], t, i)
			found, err := tx.writable(ctx, l, tx.key)
			if err != nil {
				return tx.abort(err)
			}
			if found {
				return tx.abort(duplicateKey(t, tx.cols, i))
			}
			if err := tx.checkBatches(l, t, tx.key, i); err != nil {
				return tx.abort(err)
			}
			if err := tx.checkSegments(ctx, t, rows, i); err != nil {
				return tx.abort(err)
			}
			tx.touch(tx.key)
		} else {
			tx.key = appendInt64Key(appendRowPrefix(tx.key[:0], t.ID), int64(l.ts.nextRowID.Add(1)-1))
			l.seqDirty = true
		}
		tx.val = appendRow(tx.val[:0], tx.id, tx.cols, i)
		if err := tx.b.Set(tx.key, tx.val, nil); err != nil {
			return tx.abort(fmt.Errorf("cannot write row of table %q: %w", t.Name, err))
		}
	}
	return nil
}

// Update replaces row keys[i] of t by rows[i]. keys come from a scan with
// withKey. A row whose primary key changes is deleted and inserted under its
// new key; the new key must not exist, except as the old key of a row this
// statement also moves. Every row written is locked and must be unchanged
// since the Txn's snapshot (else SerializationFailure).
func (tx *Txn) Update(ctx context.Context, t *catalog.Table, keys *array.Binary, rows arrow.RecordBatch) error {
	l, err := tx.prepare(ctx, t, rows)
	if err != nil {
		return err
	}
	n := int(rows.NumRows())
	if keys.Len() != n || keys.NullN() > 0 {
		return tx.abort(fmt.Errorf("oltp: update of table %q has %d keys (%d NULL) for %d rows", t.Name, keys.Len(), keys.NullN(), n))
	}
	for i := 0; i < n; i++ {
		if err := checkWriteKey(t, keys.Value(i)); err != nil {
			return tx.abort(err)
		}
	}
	if !t.HasPrimaryKey() {
		for i := 0; i < n; i++ {
			key := keys.Value(i)
			if seg, pos, ok := parseSegmentRowKey(t.ID, key); ok {
				// The segment copy is deleted; the new version is a
				// row entry under a fresh hidden row id.
				if _, err := tx.deleteSegRow(ctx, l, key, seg, pos); err != nil {
					return tx.abort(err)
				}
				key = appendInt64Key(appendRowPrefix(tx.key[:0], t.ID), int64(l.ts.nextRowID.Add(1)-1))
				tx.key = key
				l.seqDirty = true
			} else {
				if _, err := tx.writable(ctx, l, key); err != nil {
					return tx.abort(err)
				}
				tx.touch(key)
			}
			tx.val = appendRow(tx.val[:0], tx.id, tx.cols, i)
			if err := tx.b.Set(key, tx.val, nil); err != nil {
				return tx.abort(fmt.Errorf("cannot write row of table %q: %w", t.Name, err))
			}
		}
		return nil
	}
	// Pass 1: compute new keys and delete the old entries of moved rows, so
	// that rows moved by this statement do not conflict with each other.
	tx.keyBuf = tx.keyBuf[:0]
	tx.keyEnd = tx.keyEnd[:0]
	for i := 0; i < n; i++ {
		start := len(tx.keyBuf)
		tx.keyBuf = tx.appendPK(tx.keyBuf, t, i)
		old := keys.Value(i)
		if seg, pos, ok := parseSegmentRowKey(t.ID, old); ok {
			// A segment row always moves: its copy is deleted and the
			// new version becomes a row entry.
			if _, err := tx.deleteSegRow(ctx, l, old, seg, pos); err != nil {
				return tx.abort(err)
			}
			tx.keyEnd = append(tx.keyEnd, len(tx.keyBuf))
			continue
		}
		if _, err := tx.writable(ctx, l, old); err != nil {
			return tx.abort(err)
		}
		tx.touch(old)
		if bytes.Equal(tx.keyBuf[start:], old) {
			tx.keyBuf = tx.keyBuf[:start]
			tx.keyEnd = append(tx.keyEnd, -1)
			continue
		}
		tx.keyEnd = append(tx.keyEnd, len(tx.keyBuf))
		if err := tx.b.Delete(old, nil); err != nil {
			return tx.abort(fmt.Errorf("cannot delete row of table %q: %w", t.Name, err))
		}
	}
	// Pass 2: write every row, checking moved rows' new keys.
	start := 0
	for i := 0; i < n; i++ {
		key := keys.Value(i)
		if end := tx.keyEnd[i]; end >= 0 {
			key = tx.keyBuf[start:end]
			start = end
			found, err := tx.writable(ctx, l, key)
			if err != nil {
				return tx.abort(err)
			}
			if found {
				return tx.abort(duplicateKey(t, tx.cols, i))
			}
			if err := tx.checkBatches(l, t, key, i); err != nil {
				return tx.abort(err)
			}
			if err := tx.checkSegments(ctx, t, rows, i); err != nil {
				return tx.abort(err)
			}
			tx.touch(key)
		}
		tx.val = appendRow(tx.val[:0], tx.id, tx.cols, i)
		if err := tx.b.Set(key, tx.val, nil); err != nil {
			return tx.abort(fmt.Errorf("cannot write row of table %q: %w", t.Name, err))
		}
	}
	return nil
}

// Delete removes rows keys[i] of t. keys come from a scan with withKey;
// deleting a missing row is not an error. Every row is locked and must be
// unchanged since the Txn's snapshot (else SerializationFailure).
func (tx *Txn) Delete(ctx context.Context, t *catalog.Table, keys *array.Binary) error {
	if err := tx.usable(); err != nil {
		return err
	}
	l, err := tx.lockTable(ctx, t, lockmgr.IntentExclusive)
	if err != nil {
		return tx.abort(err)
	}
	if keys.NullN() > 0 {
		return tx.abort(fmt.Errorf("oltp: delete from table %q with NULL keys", t.Name))
	}
	for i := 0; i < keys.Len(); i++ {
		key := keys.Value(i)
		if err := checkWriteKey(t, key); err != nil {
			return tx.abort(err)
		}
		if seg, pos, ok := parseSegmentRowKey(t.ID, key); ok {
			if _, err := tx.deleteSegRow(ctx, l, key, seg, pos); err != nil {
				return tx.abort(err)
			}
			continue
		}
		if _, err := tx.writable(ctx, l, key); err != nil {
			return tx.abort(err)
		}
		tx.touch(key)
		if err := tx.b.Delete(key, nil); err != nil {
			return tx.abort(fmt.Errorf("cannot delete row of table %q: %w", t.Name, err))
		}
	}
	return nil
}

// Scan returns a Scanner over t as this Txn sees it: the rows of its
// snapshot merged with its own writes made before the call (writes made
// while the Scanner is open are not seen by it). See Snapshot.Scan. The
// Scanner must be closed before the Txn ends.
func (tx *Txn) Scan(t *catalog.Table, cols []int, withKey bool) (*Scanner, error) {
	return tx.scan(t, cols, withKey, nil)
}

// ScanSpans is Scan restricted to the row keys in spans; see
// Snapshot.ScanSpans.
func (tx *Txn) ScanSpans(t *catalog.Table, cols []int, withKey bool, spans []KeySpan) (*Scanner, error) {
	if spans == nil {
		spans = []KeySpan{}
	}
	return tx.scan(t, cols, withKey, spans)
}

func (tx *Txn) scan(t *catalog.Table, cols []int, withKey bool, spans []KeySpan) (*Scanner, error) {
	if err := tx.usable(); err != nil {
		return nil, err
	}
	refs, err := tx.s.batchRefs(tx.snap, t, spans, tx)
	if err != nil {
		return nil, err
	}
	sc, err := newScanner(tx.snap, tx.s.opts.Allocator, tx.s.opts.BatchSize, t, cols, withKey, spans, refs, &tx.s.batches)
	if err != nil || len(tx.touched) == 0 && !tx.wroteTable(t.ID) {
		return sc, err
	}
	lo, hi := rowSpan(t.ID)
	if len(spans) > 0 {
		lo, hi = spans[0].Start, spans[0].End
	}
	own, err := tx.b.NewBatchOnlyIter(context.Background(), &pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		_ = sc.Close()
		return nil, fmt.Errorf("cannot scan table %q: %w", t.Name, err)
	}
	// Keys first written from now on are not in own: the snapshot's
	// version of them must still be read.
	sc.own, sc.touched, sc.gen = own, tx.touched, tx.gen
	tx.gen++
	return sc, nil
}

// wroteTable reports whether the Txn may have written rows of table id
// that are not in touched (inserts into tables without a primary key).
func (tx *Txn) wroteTable(id uint64) bool {
	for i := range tx.tables {
		if tx.tables[i].t.ID == id && tx.tables[i].seqDirty {
			return true
		}
	}
	return false
}

// Commit makes the Txn's writes durable and visible. Its batch is applied
// (visible to new snapshots), then its locks are released, then Commit
// waits for the WAL sync that makes it durable; concurrent commits share
// fsyncs (group commit). If ctx is done before the batch is applied,
// nothing is written. The Txn is finished either way.
func (tx *Txn) Commit(ctx context.Context) error {
	if err := tx.usable(); err != nil {
		tx.Rollback()
		return err
	}
	if err := ctx.Err(); err != nil {
		tx.Rollback()
		return sqlstate.Wrap(err, sqlstate.QueryCanceled, "canceling statement: %v", err)
	}
	s := tx.s
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		tx.ahead = nil // the next Open deletes them
		tx.Rollback()
		return ErrClosed
	}
	if err := s.Err(); err != nil {
		tx.ahead = nil // the next Open deletes them
		tx.Rollback()
		return err
	}
	if tx.b.Empty() && !tx.segDirty {
		tx.Rollback()
		return nil
	}
	seq := false
	for i := range tx.tables {
		seq = seq || tx.tables[i].seqDirty
	}
	if seq {
		// Under seqMu the persisted sequences only grow: each commit
		// writes the counters' values at its apply, and applies are
		// ordered by seqMu.
		s.seqMu.Lock()
		for i := range tx.tables {
			if l := &tx.tables[i]; l.seqDirty {
				_ = tx.b.Set(seqKey(l.t.ID), binary.BigEndian.AppendUint64(nil, l.ts.nextRowID.Load()), nil)
			}
		}
	}
	b := tx.b
	tx.b = nil
	defer b.Close()
	if tx.segDirty {
		// Under bmMu each commit reads the committed bitmaps and writes
		// them back with its own bits, so no bit is lost.
		s.bmMu.Lock()
		if err := tx.addSegmentBitsLocked(b); err != nil {
			s.bmMu.Unlock()
			if seq {
				s.seqMu.Unlock()
			}
			s.dropBodiesLocked(tx.ahead)
			tx.finish()
			return fmt.Errorf("cannot commit: %w", err)
		}
	}
	s.unsynced.Add(1) // until the sync below ended (Store.WaitDurable)
	defer s.unsynced.Add(-1)
	err := s.db.ApplyNoSyncWait(b, pebble.Sync)
	if tx.segDirty {
		s.bmGen.Add(1)
		s.bmMu.Unlock()
	}
	if seq {
		s.seqMu.Unlock()
	}
	if err == nil {
		tx.ahead = nil // committed with their headers
		// The cache's meta of an entry is the one every reader shares
		// (a reader may have decoded it from the applied batch first).
		for i, m := range tx.batches {
			tx.batches[i] = s.batches.put(m)
		}
		// Still under the table locks: writers of these tables read
		// the new list.
		for i := range tx.tables {
			if tx.tables[i].batchDirty {
				s.addBatches(tx.tables[i].t.ID, tx.batches)
			}
		}
	}
	// The batch is visible now: release the locks, so that later writers
	// of these rows proceed while we wait for the sync (their own commits
	// sync a WAL that holds ours first).
	tx.finish()
	if err != nil {
		return s.fail(err)
	}
	if err := b.SyncWait(); err != nil {
		return s.fail(err)
	}
	return nil
}

// finish releases the Txn's locks and snapshot.
func (tx *Txn) finish() {
	if tx.lk != nil {
		tx.lk.End()
		tx.lk = nil
	}
	if tx.snap != nil {
		_ = tx.snap.Close()
		tx.snap = nil
	}
	tx.touched = nil
	tx.tables = nil
	tx.segs = nil
	tx.batches = nil
	tx.ahead = nil
}

// Rollback discards the Txn's writes and releases its locks. It is
// idempotent and a no-op after Commit.
func (tx *Txn) Rollback() {
	if tx.b == nil {
		return
	}
	_ = tx.b.Close()
	tx.b = nil
	tx.s.dropBodies(tx.ahead)
	tx.finish()
}
