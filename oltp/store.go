package oltp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/lockmgr"
)

// FormatVersion is the version of the store's keyspace and encodings. Open
// refuses a store written with a newer version.
const FormatVersion = 1

// memTableSize is the size of Pebble's memtable (see Open).
var memTableSize uint64 = 64 << 20

// DefaultBatchSize is the number of rows per scan batch when
// Options.BatchSize is zero.
const DefaultBatchSize = 8192

// Marker errors callers can branch on with errors.Is.
var (
	// ErrClosed is returned by operations on a closed Store.
	ErrClosed = errors.New("oltp: store is closed")
	// ErrStoreFailed wraps the cause of a fatal storage failure (a failed
	// WAL fsync); the store accepts no more writes.
	ErrStoreFailed = errors.New("oltp: store failed")
	// ErrTxnDone is returned by operations on a committed or rolled back Txn.
	ErrTxnDone = errors.New("oltp: transaction already committed or rolled back")
	// ErrConflict marks a write-write conflict: the row was changed by a
	// transaction that committed after this one's snapshot (first writer
	// wins). It is wrapped in a SQLSTATE 40001 error; the client retries.
	ErrConflict = errors.New("oltp: write-write conflict")
)

// Options configure a Store. The zero value is valid.
type Options struct {
	// Allocator allocates the Arrow buffers of scan batches; nil means
	// memory.DefaultAllocator. The columns of a compressed batch entry
	// are slices of its decompressed body, which the Go heap holds.
	Allocator memory.Allocator
	// BatchSize is the number of rows per scan batch; 0 means
	// DefaultBatchSize.
	BatchSize int
	// Logger receives operational messages, including Pebble's; nil means
	// slog.Default().
	Logger *slog.Logger
	// FS is the file system of all the store's files; nil means vfs.Default.
	// Tests use vfs.NewMem or vfs.NewCrashableMem.
	FS vfs.FS
	// Locks configures the lock manager of the store's transactions; nil
	// means lockmgr's defaults (10 s lock timeout, 50 ms deadlock
	// detection interval).
	Locks *lockmgr.Options
	// EscalateRows is the number of row locks a transaction takes in one
	// table before it locks the whole table exclusively instead; zero means
	// DefaultEscalateRows, a negative value never escalates.
	EscalateRows int
	// BulkMinRows is the smallest batch Txn.InsertBatch writes as a batch
	// entry; smaller ones become row entries. Zero means
	// DefaultBulkMinRows; a negative value writes every batch as a batch
	// entry.
	BulkMinRows int
	// CacheSize is the size of Pebble's block cache; zero means
	// DefaultCacheSize, negative Pebble's own default (8 MiB).
	CacheSize int64
}

// DefaultCacheSize is Options.CacheSize when it is zero. Every query opens
// its scan by reading the table's segment manifest, batch-entry headers and
// delete bitmaps from Pebble, whose blocks neighbour the megabytes of
// batch-entry bodies: with Pebble's 8 MiB default those blocks were read
// and decompressed again by every query (20–25 ms of a 500K-row DoGet).
const DefaultCacheSize = 256 << 20

// DefaultEscalateRows is the row lock count per table at which a
// transaction escalates to a table lock when Options.EscalateRows is zero.
const DefaultEscalateRows = 4096

// Store is the Pebble-backed row store. It is safe for concurrent use.
type Store struct {
	db   *pebble.DB
	opts Options

	// closeMu orders Close after in-flight commits and snapshots.
	closeMu sync.RWMutex
	closed  bool

	// failed holds the cause of a fatal failure; nil while healthy.
	failed atomic.Pointer[error]

	// unsynced counts the commits between their apply, from which on
	// snapshots see them, and the end of their WAL sync (WaitDurable).
	unsynced atomic.Int64

	nextTableID atomic.Uint64

	// locks is the lock manager of the store's transactions.
	locks *lockmgr.Manager
	// txnEpoch is the high part of every transaction id handed out since
	// Open (persisted, one more at every Open); nextTxn the low part.
	txnEpoch uint64
	nextTxn  atomic.Uint64

	// seqMu orders the commits that persist hidden row id sequences, so
	// that a sequence value is never overwritten by a smaller one.
	seqMu sync.Mutex

	mu     sync.Mutex
	tables map[uint64]*tableState // by table ID

	// probe finds primary keys in segments (SetSegmentProbe);
	// rangeProbe rules out segments for a key range (SetSegmentRangeProbe).
	probe      SegmentProbe
	rangeProbe SegmentRangeProbe
	// nextSegID is the next segment id to hand out (NewSegmentID).
	nextSegID atomic.Uint64
	// bmMu orders the commits that add bits to delete bitmaps (each reads
	// the committed bitmap and writes it back with its bits); bmGen counts
	// them (see Txn.latest).
	bmMu  sync.Mutex
	bmGen atomic.Uint64
	// batches caches the headers of committed batch entries.
	batches batchCache
}

// tableState is the per-table state of a Store shared by its transactions.
type tableState struct {
	// dropped is set (under the table's exclusive lock) once the table is
	// dropped; writers check it after their table lock is granted.
	dropped atomic.Bool
	// seqMu guards the loading of nextRowID.
	seqMu     sync.Mutex
	seqLoaded bool
	nextRowID atomic.Uint64 // next hidden row id, valid once seqLoaded
	// batchMu guards latest, the committed batch entries of the table
	// when batchesOK (see Store.latestBatches).
	batchMu   sync.Mutex
	latest    []*batchMeta
	batchesOK bool
}

// txnIDBits is the number of low bits of a transaction id that count
// transactions within one epoch (one Open of the store).
const txnIDBits = 40

// Open opens the store in dir, creating it when it does not exist.
func Open(dir string, opts *Options) (*Store, error) {
	s := &Store{tables: make(map[uint64]*tableState)}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.Allocator == nil {
		s.opts.Allocator = memory.DefaultAllocator
	}
	if s.opts.BatchSize <= 0 {
		s.opts.BatchSize = DefaultBatchSize
	}
	if s.opts.Logger == nil {
		s.opts.Logger = slog.Default()
	}
	if s.opts.FS == nil {
		s.opts.FS = vfs.Default
	}
	if s.opts.BulkMinRows == 0 {
		s.opts.BulkMinRows = DefaultBulkMinRows
	}
	if s.opts.EscalateRows == 0 {
		s.opts.EscalateRows = DefaultEscalateRows
	}
	if err := s.opts.FS.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create store directory: %w", err)
	}
	cacheSize := s.opts.CacheSize
	switch {
	case cacheSize == 0:
		cacheSize = DefaultCacheSize
	case cacheSize < 0:
		cacheSize = 0 // Pebble's default
	}
	popts := &pebble.Options{
		FS:        s.opts.FS,
		Logger:    pebbleLogger{s.opts.Logger},
		CacheSize: cacheSize,
		// Batch entries put megabytes into the memtable per commit:
		// a larger memtable than Pebble's 4 MiB default flushes (and
		// compacts L0) far less often under bulk ingest.
		MemTableSize: memTableSize,
	}
	// No block compression: the large values are batch-entry bodies,
	// compressed already (S2), which Pebble's flushes and compactions
	// otherwise compressed and decompressed again (18 of 88 CPU-ms per
	// 100K-row lineitem batch in a profile of sustained DB.Ingest); the
	// rest (row entries, headers, bitmaps) is small or short-lived, since
	// compaction moves rows into segments.
	popts.ApplyCompressionSettings(func() pebble.DBCompressionSettings { return pebble.DBCompressionNone })
	db, err := pebble.Open(dir, popts)
	if err != nil {
		return nil, fmt.Errorf("cannot open store: %w", err)
	}
	s.db = db
	if err := s.init(); err != nil {
		_ = db.Close()
		return nil, err
	}
	s.locks = lockmgr.New(s.opts.Locks)
	return s, nil
}

// init checks or writes the format version and recovers the table ID
// counter.
func (s *Store) init() error {
	v, err := s.getUvarint(formatKey)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		b := s.db.NewBatch()
		defer b.Close()
		_ = b.Set(formatKey, binary.AppendUvarint(nil, FormatVersion), nil)
		_ = b.Set(nextTableIDKey, binary.BigEndian.AppendUint64(nil, 1), nil)
		if err := b.Commit(pebble.Sync); err != nil {
			return fmt.Errorf("cannot initialize store: %w", err)
		}
	case err != nil:
		return fmt.Errorf("cannot read store format: %w", err)
	case v > FormatVersion:
		return fmt.Errorf("store format %d is newer than this binary supports (%d); upgrade MantisDB", v, FormatVersion)
	}
	next := uint64(1)
	val, closer, err := s.db.Get(nextTableIDKey)
	switch {
	case err == nil:
		if len(val) == 8 {
			next = binary.BigEndian.Uint64(val)
		}
		_ = closer.Close()
	case !errors.Is(err, pebble.ErrNotFound):
		return fmt.Errorf("cannot read table ID counter: %w", err)
	}
	// A new transaction epoch: transaction ids (and so the writer stamps of
	// row values) never repeat across restarts.
	epoch := uint64(0)
	if val, closer, err := s.db.Get(txnEpochKey); err == nil {
		if len(val) == 8 {
			epoch = binary.BigEndian.Uint64(val)
		}
		_ = closer.Close()
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return fmt.Errorf("cannot read transaction epoch: %w", err)
	}
	epoch++
	if err := s.db.Set(txnEpochKey, binary.BigEndian.AppendUint64(nil, epoch), pebble.Sync); err != nil {
		return fmt.Errorf("cannot write transaction epoch: %w", err)
	}
	s.txnEpoch = epoch
	// Defensively also stay above every descriptor present.
	tables, err := s.LoadTables()
	if err != nil {
		return err
	}
	for _, t := range tables {
		if t.ID >= next {
			next = t.ID + 1
		}
	}
	s.nextTableID.Store(next)
	if err := s.dropAhead(); err != nil {
		return err
	}
	return s.loadSegmentIDs(tables)
}

func (s *Store) getUvarint(key []byte) (uint64, error) {
	val, closer, err := s.db.Get(key)
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	v, n := binary.Uvarint(val)
	if n <= 0 {
		return 0, fmt.Errorf("bad value of key %q: %w", key, ErrCorruption)
	}
	return v, nil
}

// Close closes the store. Snapshots, scanners and transactions must be
// closed or finished first. Close is idempotent.
func (s *Store) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.locks.Close()
	s.batches.close()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("cannot close store: %w", err)
	}
	return nil
}

// Locks returns the lock manager of the store's transactions, for its
// metrics (Collectors) and lock listing (Snapshot). It is owned by the
// Store and closed with it.
func (s *Store) Locks() *lockmgr.Manager { return s.locks }

// newTxnID returns a transaction id never handed out before, also across
// restarts; later calls return larger ids.
func (s *Store) newTxnID() uint64 {
	return s.txnEpoch<<txnIDBits | s.nextTxn.Add(1)
}

// Metrics returns Pebble's metrics of the store.
func (s *Store) Metrics() *pebble.Metrics { return s.db.Metrics() }

// Err returns nil while the store accepts writes, or the error (wrapping
// ErrStoreFailed) that made it stop.
func (s *Store) Err() error {
	if p := s.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// fail marks the store failed; every later write returns the error.
func (s *Store) fail(cause error) error {
	var err error = sqlstate.Wrap(fmt.Errorf("%w: %w", ErrStoreFailed, cause), sqlstate.IOError,
		"storage failure, the store accepts no more writes: %v", cause)
	if s.failed.CompareAndSwap(nil, &err) {
		s.opts.Logger.Error("oltp: fatal storage failure; refusing further writes", "err", cause)
	}
	return s.Err()
}

// table returns the state of table id, creating it on first use.
func (s *Store) table(id uint64) *tableState {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := s.tables[id]
	if ts == nil {
		ts = &tableState{}
		s.tables[id] = ts
	}
	return ts
}

// loadSeq recovers, once, the next hidden row id of table id: the larger
// of the persisted sequence and one past the last row key.
func (s *Store) loadSeq(ts *tableState, id uint64) error {
	ts.seqMu.Lock()
	defer ts.seqMu.Unlock()
	if ts.seqLoaded {
		return nil
	}
	next := uint64(0)
	val, closer, err := s.db.Get(seqKey(id))
	switch {
	case err == nil:
		if len(val) != 8 {
			_ = closer.Close()
			return fmt.Errorf("bad row id sequence of table %d: %w", id, ErrCorruption)
		}
		next = binary.BigEndian.Uint64(val)
		_ = closer.Close()
	case !errors.Is(err, pebble.ErrNotFound):
		return fmt.Errorf("cannot read row id sequence of table %d: %w", id, err)
	}
	lo, hi := rowSpan(id)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return fmt.Errorf("cannot read rows of table %d: %w", id, err)
	}
	if it.Last() {
		k := it.Key()
		if len(k) == rowPrefixLen+8 {
			if last := uint64(decodeInt64Key(k[rowPrefixLen:])); last+1 > next {
				next = last + 1
			}
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("cannot read rows of table %d: %w", id, err)
	}
	ts.nextRowID.Store(next)
	ts.seqLoaded = true
	return nil
}

// NextTableID reserves and returns a new table ID. IDs are never handed out
// twice, also across restarts and after tables are dropped: CreateTable
// persists the counter. An ID reserved but never created is skipped.
func (s *Store) NextTableID() uint64 {
	return s.nextTableID.Add(1) - 1
}

// LoadTables returns every persisted table descriptor, ordered by ID.
func (s *Store) LoadTables() ([]*catalog.Table, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: descPrefix, UpperBound: descPrefixEnd})
	if err != nil {
		return nil, fmt.Errorf("cannot read catalog: %w", err)
	}
	var out []*catalog.Table
	for ok := it.First(); ok; ok = it.Next() {
		val, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return nil, fmt.Errorf("cannot read catalog: %w", err)
		}
		t, err := catalog.Decode(val)
		if err != nil {
			_ = it.Close()
			return nil, fmt.Errorf("cannot load table descriptor %x: %w", it.Key(), err)
		}
		if k := it.Key(); len(k) != 9 || binary.BigEndian.Uint64(k[1:]) != t.ID {
			_ = it.Close()
			return nil, fmt.Errorf("table descriptor key %x does not match table ID %d: %w", k, t.ID, ErrCorruption)
		}
		out = append(out, t)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("cannot read catalog: %w", err)
	}
	return out, nil
}

// CreateTable persists the descriptor of a new table (t.ID set, typically
// from NextTableID) and the table ID counter in one synced batch.
func (s *Store) CreateTable(ctx context.Context, t *catalog.Table) error {
	if t.ID == 0 {
		return fmt.Errorf("cannot create table %q: no table ID assigned", t.Name)
	}
	enc, err := t.Encode()
	if err != nil {
		return fmt.Errorf("cannot encode table %q: %w", t.Name, err)
	}
	// Keep the counter above t.ID even when the ID did not come from
	// NextTableID.
	for {
		cur := s.nextTableID.Load()
		if cur > t.ID || s.nextTableID.CompareAndSwap(cur, t.ID+1) {
			break
		}
	}
	return s.writeSynced(ctx, func(b *pebble.Batch) error {
		if _, closer, err := s.db.Get(descKey(t.ID)); err == nil {
			_ = closer.Close()
			return sqlstate.Errorf(sqlstate.DuplicateTable, "table ID %d of %q is already in use", t.ID, t.Name)
		} else if !errors.Is(err, pebble.ErrNotFound) {
			return err
		}
		_ = b.Set(descKey(t.ID), enc, nil)
		_ = b.Set(nextTableIDKey, binary.BigEndian.AppendUint64(nil, s.nextTableID.Load()), nil)
		return nil
	})
}

// DropTable deletes t's descriptor and everything the table owns in one
// synced batch. It waits for an exclusive lock of the table (or ctx, or the
// lock timeout), so every transaction that wrote the table has finished;
// writers whose table lock is granted afterwards fail with UndefinedTable.
func (s *Store) DropTable(ctx context.Context, t *catalog.Table) error {
	lk := s.locks.Begin(lockmgr.TxnID(s.newTxnID()))
	defer lk.End()
	if err := lk.Lock(ctx, lockmgr.Table(t.ID), lockmgr.Exclusive); err != nil {
		return err
	}
	ts := s.table(t.ID)
	if ts.dropped.Load() {
		return sqlstate.Errorf(sqlstate.UndefinedTable, "table %q was dropped", t.Name)
	}
	start, end := tableSpan(t.ID)
	err := s.writeSynced(ctx, func(b *pebble.Batch) error {
		_ = b.Delete(descKey(t.ID), nil)
		return b.DeleteRange(start, end, nil)
	})
	if err == nil {
		ts.dropped.Store(true)
	}
	return err
}

// writeSynced builds a batch with fill and commits it synced.
func (s *Store) writeSynced(ctx context.Context, fill func(b *pebble.Batch) error) error {
	if err := ctx.Err(); err != nil {
		return sqlstate.Wrap(err, sqlstate.QueryCanceled, "canceling statement: %v", err)
	}
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if err := s.openErr(); err != nil {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	if err := fill(b); err != nil {
		return err
	}
	s.unsynced.Add(1)
	defer s.unsynced.Add(-1)
	if err := s.db.ApplyNoSyncWait(b, pebble.Sync); err != nil {
		return s.fail(err)
	}
	if err := b.SyncWait(); err != nil {
		return s.fail(err)
	}
	return nil
}

// openErr returns ErrClosed for a closed store, else the error that failed
// it, if any; the caller holds closeMu.RLock.
func (s *Store) openErr() error {
	if s.closed {
		return ErrClosed
	}
	return s.Err()
}

// WaitDurable returns once every commit that a snapshot taken before the
// call can see is durable. Pebble publishes a commit (a new snapshot sees
// it) after its memtable apply and before its WAL sync has completed, so
// a reader that returned rows at once could show a client a commit that a
// crash then loses (its writer was never acknowledged, but the row was
// read). Query paths call WaitDurable after taking their snapshot and
// before returning a row:
//
//   - when no commit is between apply and the end of its sync (unsynced
//     is zero), every commit the snapshot sees has synced: a commit counts
//     itself before it is applied and uncounts itself after its sync;
//   - otherwise a synced log record written now follows, in the WAL, every
//     commit the snapshot sees (Pebble writes the WAL in sequence order),
//     so its sync, which joins the group commit of the ones in flight,
//     makes them durable.
//
// Writers need not wait: a commit whose checks read another's rows is
// written to the WAL after them, so it is never durable without them.
func (s *Store) WaitDurable() error {
	if s.unsynced.Load() == 0 {
		return nil
	}
	return s.SyncWAL()
}

// SyncWAL makes everything written to the store so far durable: it writes
// an empty synced log record, which joins the group commit in flight. A
// bulk ingest calls it while it streams, so that the bodies it wrote
// ahead (WriteBody) reach the disk before its commit has to wait for them.
func (s *Store) SyncWAL() error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if err := s.db.LogData(nil, pebble.Sync); err != nil {
		return s.fail(err)
	}
	return nil
}

// pebbleLogger routes Pebble's log lines to slog.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug("pebble: " + fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("pebble: " + fmt.Sprintf(format, args...))
}

// Fatalf logs and then defers to Pebble's default, which exits: Pebble
// calls it only when it cannot continue safely.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error("pebble: fatal: " + fmt.Sprintf(format, args...))
	pebble.DefaultLogger.Fatalf(format, args...)
}

// Checkpoint writes a consistent copy of the store into dir, which must
// not exist: Pebble's checkpoint (SSTables hard-linked where the file
// system allows, the WAL flushed and copied), openable with Open. Writes
// acknowledged before Checkpoint is called are in the copy; later ones
// may be.
func (s *Store) Checkpoint(dir string) error {
	if err := s.db.Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
		return fmt.Errorf("cannot checkpoint the store into %s: %w", dir, err)
	}
	return nil
}
