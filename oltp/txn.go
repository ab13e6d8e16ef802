package oltp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/cockroachdb/pebble/v2"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// Txn is a write transaction: one statement or one ingest. It buffers its
// writes in a Pebble indexed batch and holds the write lock of every table
// it writes until Commit or Rollback. A Txn is not safe for concurrent use.
//
// After any write returns an error the Txn is unusable: the caller must
// call Rollback, and nothing of it is written.
//
// Table locks are plain mutexes until the lock manager arrives: a Txn that
// writes several tables must take their locks in a consistent order (for
// example with LockTable in table ID order), or two such Txns can deadlock.
type Txn struct {
	s      *Store
	b      *pebble.Batch
	locks  []txnLock
	err    error // first write error; the Txn is unusable
	cols   []colReader
	key    []byte
	val    []byte
	keyBuf []byte // Update: new keys, concatenated
	keyEnd []int  // Update: end of each new key in keyBuf, -1 when unchanged
}

type txnLock struct {
	id       uint64
	ts       *tableState
	seqDirty bool // hidden row ids were allocated; persist the sequence
}

// Begin starts a write transaction. The caller must Commit or Rollback it.
// Writes of a Txn that is still open when the Store is closed are a caller
// bug.
func (s *Store) Begin() *Txn {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return &Txn{s: s, err: ErrClosed}
	}
	return &Txn{s: s, b: s.db.NewIndexedBatch()}
}

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

// LockTable takes the exclusive write lock of t, held until Commit or
// Rollback. Writes take it implicitly; LockTable lets the caller take it
// early and give up when ctx ends.
func (tx *Txn) LockTable(ctx context.Context, t *catalog.Table) error {
	if err := tx.usable(); err != nil {
		return err
	}
	_, err := tx.lock(ctx, t)
	return err
}

// lock returns the Txn's lock entry of t, acquiring the lock when needed.
func (tx *Txn) lock(ctx context.Context, t *catalog.Table) (*txnLock, error) {
	for i := range tx.locks {
		if tx.locks[i].id == t.ID {
			return &tx.locks[i], nil
		}
	}
	ts, err := tx.s.lockTable(ctx, t)
	if err != nil {
		return nil, err
	}
	if !t.HasPrimaryKey() {
		if err := tx.s.loadSeqLocked(ts, t.ID); err != nil {
			<-ts.lock
			return nil, err
		}
	}
	tx.locks = append(tx.locks, txnLock{id: t.ID, ts: ts})
	return &tx.locks[len(tx.locks)-1], nil
}

func (tx *Txn) unlockAll() {
	for _, l := range tx.locks {
		<-l.ts.lock
	}
	tx.locks = tx.locks[:0]
}

// prepare locks t and checks rows against it: types, NOT NULL and VARCHAR
// lengths. It fills tx.cols.
func (tx *Txn) prepare(t *catalog.Table, rows arrow.RecordBatch) (*txnLock, error) {
	if err := tx.usable(); err != nil {
		return nil, err
	}
	l, err := tx.lock(nil, t)
	if err != nil {
		return nil, tx.abort(err)
	}
	if int(rows.NumCols()) != len(t.Columns) {
		return nil, tx.abort(sqlstate.Errorf(sqlstate.DatatypeMismatch,
			"table %q has %d columns but %d were given", t.Name, len(t.Columns), rows.NumCols()))
	}
	if cap(tx.cols) < len(t.Columns) {
		tx.cols = make([]colReader, len(t.Columns))
	}
	tx.cols = tx.cols[:len(t.Columns)]
	for i := range t.Columns {
		col := &t.Columns[i]
		arr := rows.Column(i)
		if err := tx.cols[i].reset(col.Type, arr); err != nil {
			return nil, tx.abort(sqlstate.Wrap(err, sqlstate.DatatypeMismatch,
				"column %q of table %q is %s but %s was given", col.Name, t.Name, col.Type, arr.DataType()))
		}
		if col.NotNull && arr.NullN() > 0 {
			return nil, tx.abort(sqlstate.Errorf(sqlstate.NotNullViolation,
				"null value in column %q of relation %q violates not-null constraint", col.Name, t.Name))
		}
		if col.Type.Kind == catalog.KindVarchar && col.Type.Length > 0 {
			if err := checkLength(col, &tx.cols[i], arr.Len()); err != nil {
				return nil, tx.abort(err)
			}
		}
	}
	return l, nil
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
				"value too long for type character varying(%d) in column %q", limit, col.Name)
		}
	}
	return nil
}

// exists reports whether key is visible to the Txn: committed, or written
// by it and not deleted.
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
// this Txn) fails with UniqueViolation.
func (tx *Txn) Insert(t *catalog.Table, rows arrow.RecordBatch) error {
	l, err := tx.prepare(t, rows)
	if err != nil {
		return err
	}
	n := int(rows.NumRows())
	for i := 0; i < n; i++ {
		if t.HasPrimaryKey() {
			tx.key = tx.appendPK(tx.key[:0], t, i)
			found, err := tx.exists(tx.key)
			if err != nil {
				return tx.abort(fmt.Errorf("cannot check primary key of table %q: %w", t.Name, err))
			}
			if found {
				return tx.abort(duplicateKey(t, tx.cols, i))
			}
		} else {
			tx.key = appendInt64Key(appendRowPrefix(tx.key[:0], t.ID), int64(l.ts.nextRowID))
			l.ts.nextRowID++
			l.seqDirty = true
		}
		tx.val = appendRow(tx.val[:0], tx.cols, i)
		if err := tx.b.Set(tx.key, tx.val, nil); err != nil {
			return tx.abort(fmt.Errorf("cannot write row of table %q: %w", t.Name, err))
		}
	}
	return nil
}

// Update replaces row keys[i] of t by rows[i]. keys come from a scan with
// withKey. A row whose primary key changes is deleted and inserted under its
// new key; the new key must not exist, except as the old key of a row this
// statement also moves.
func (tx *Txn) Update(t *catalog.Table, keys *array.Binary, rows arrow.RecordBatch) error {
	if _, err := tx.prepare(t, rows); err != nil {
		return err
	}
	n := int(rows.NumRows())
	if keys.Len() != n || keys.NullN() > 0 {
		return tx.abort(fmt.Errorf("oltp: update of table %q has %d keys (%d NULL) for %d rows", t.Name, keys.Len(), keys.NullN(), n))
	}
	for i := 0; i < n; i++ {
		if err := checkRowKey(t, keys.Value(i)); err != nil {
			return tx.abort(err)
		}
	}
	if !t.HasPrimaryKey() {
		for i := 0; i < n; i++ {
			tx.val = appendRow(tx.val[:0], tx.cols, i)
			if err := tx.b.Set(keys.Value(i), tx.val, nil); err != nil {
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
			found, err := tx.exists(key)
			if err != nil {
				return tx.abort(fmt.Errorf("cannot check primary key of table %q: %w", t.Name, err))
			}
			if found {
				return tx.abort(duplicateKey(t, tx.cols, i))
			}
		}
		tx.val = appendRow(tx.val[:0], tx.cols, i)
		if err := tx.b.Set(key, tx.val, nil); err != nil {
			return tx.abort(fmt.Errorf("cannot write row of table %q: %w", t.Name, err))
		}
	}
	return nil
}

// Delete removes rows keys[i] of t. keys come from a scan with withKey;
// deleting a missing row is not an error.
func (tx *Txn) Delete(t *catalog.Table, keys *array.Binary) error {
	if err := tx.usable(); err != nil {
		return err
	}
	if _, err := tx.lock(nil, t); err != nil {
		return tx.abort(err)
	}
	if keys.NullN() > 0 {
		return tx.abort(fmt.Errorf("oltp: delete from table %q with NULL keys", t.Name))
	}
	for i := 0; i < keys.Len(); i++ {
		key := keys.Value(i)
		if err := checkRowKey(t, key); err != nil {
			return tx.abort(err)
		}
		if err := tx.b.Delete(key, nil); err != nil {
			return tx.abort(fmt.Errorf("cannot delete row of table %q: %w", t.Name, err))
		}
	}
	return nil
}

// Scan returns a Scanner over t as this Txn sees it: the latest committed
// rows plus the Txn's own writes made before the call. See Snapshot.Scan.
// The Scanner must be closed before the Txn ends.
func (tx *Txn) Scan(t *catalog.Table, cols []int, withKey bool) (*Scanner, error) {
	if err := tx.usable(); err != nil {
		return nil, err
	}
	return newScanner(tx.b, tx.s.opts.Allocator, tx.s.opts.BatchSize, t, cols, withKey)
}

// Commit makes the Txn's writes durable and visible. It returns after the
// WAL is synced; concurrent commits share fsyncs. If ctx is done before the
// batch is applied, nothing is written. The Txn is finished either way.
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
		tx.Rollback()
		return ErrClosed
	}
	if err := s.Err(); err != nil {
		tx.Rollback()
		return err
	}
	for _, l := range tx.locks {
		if l.seqDirty {
			_ = tx.b.Set(seqKey(l.id), binary.BigEndian.AppendUint64(nil, l.ts.nextRowID), nil)
		}
	}
	if tx.b.Empty() {
		tx.Rollback()
		return nil
	}
	b := tx.b
	tx.b = nil
	defer b.Close()
	err := s.db.ApplyNoSyncWait(b, pebble.Sync)
	// The batch is visible now; later writers of these tables may proceed
	// and their commits share our WAL sync.
	tx.unlockAll()
	if err != nil {
		return s.fail(err)
	}
	if err := b.SyncWait(); err != nil {
		return s.fail(err)
	}
	return nil
}

// Rollback discards the Txn's writes and releases its locks. It is
// idempotent and a no-op after Commit.
func (tx *Txn) Rollback() {
	if tx.b == nil {
		return
	}
	tx.unlockAll()
	_ = tx.b.Close()
	tx.b = nil
}
