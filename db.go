// Package mantisdb is the embedded MantisDB database: Open a data directory,
// run SQL with Exec, Query and Prepare, bulk-load Arrow data with Ingest.
// The wire protocols (packages flight and rest) are thin layers over DB.
//
// A DB is safe for concurrent use. An acknowledged write (a returned nil
// error) is durable.
//
// # Transactions
//
// Transactions run under snapshot isolation (docs/transactions.md): a
// transaction reads the database as of its start plus its own writes, and
// of two concurrent transactions writing the same row the later writer
// fails with SQLSTATE 40001 (retryable). Statements given to DB (Exec,
// Query, Prepare, Ingest) are each their own transaction; a single write
// statement that loses a conflict or a deadlock is retried automatically,
// since the client has seen nothing of it. DB.Begin starts an explicit
// transaction (Tx); DB.NewSession gives a Session that understands the SQL
// statements BEGIN, COMMIT and ROLLBACK, for shells, REST and Flight SQL.
//
// # Storage tiers
//
// Fresh rows are row entries in the oltp row store; a background compactor
// (Options.Compact*) moves a table's rows into an immutable columnar
// segment (package segments) when the rows written since its last
// compaction, the row store's bytes or the age of the oldest of them pass a
// threshold, and merges small segments (size-tiered) and rewrites segments
// with many deleted rows; merges run beside compactions, so that a long
// merge never delays a compaction. A compaction scans the row store at a snapshot,
// writes and syncs the segment files, then, holding the table's S lock
// (writers wait, for at most Options.CompactLockWait), commits one synced
// batch that adds the segment to the manifest and deletes each row entry
// still holding the version written, marking the segment copy of any row
// changed meanwhile deleted. Queries read the row store and every live
// segment of their snapshot, each row exactly once; UPDATE and DELETE of a
// segment row set its bit in the segment's delete bitmap (kept in Pebble)
// and an update writes the new version to the row store. Primary keys are
// unique across tiers (row store, then segments by key range, bloom filter
// and binary search).
//
// Open segments are shared by versions; every snapshot holds the version
// of its moment, and a segment's files are removed when it has left the
// manifest (merged or its table dropped) and the last version listing it
// is released. Files left by a crash (interrupted compactions, or segments
// merged away before their files were removed) are removed at Open. A
// transaction whose snapshot predates a compaction and that then writes a
// row the compaction moved fails with SQLSTATE 40001, like any write of a
// row changed since its snapshot; single statements retry it.
//
// # Access paths
//
// The source provider a query is planned against implements the planner's
// optional interfaces. planner.KeyRangeScanner: primary-key ranges read the
// row store over key spans only (oltp.PrimaryKeySpan) and, in segments,
// the positions Reader.Lookup finds for full keys (a sparse scan that seeks
// through the Parquet page index) or the row groups the first key column's
// zone maps, bitmap and bloom filter allow for other ranges.
// planner.FilteredScanner: column predicates prune segment row groups and
// rows; the row store is read whole, so the scan is never exact.
// planner.PartitionedScanner (snapshot reads only, not inside an explicit
// transaction): segment row groups are dealt out to parallel partitions
// in runs of about equal rows, the first partition also reading the row
// store; with planner.FilteredPartitionedScanner the partitions prune by
// the filters above the scan like FilteredScanner. Segment scans name each row's position (Scanner.Positions), so
// segment row keys stay valid under every pruning.
//
// DB.Compact forces a compaction; DB.TableStats, DB.Segments and
// DB.CompactorStats describe the tiers, and so do the read-only system
// tables (system.tables, system.segments, system.compactions,
// system.locks; see system.go), which any SQL can query. All files go
// through Options.FS. Bulk batch entries (one Pebble key
// per Arrow batch, DESIGN.md "Two write paths") are not implemented yet:
// DB.Ingest writes row entries.
package mantisdb

import (
	"context"
	"log/slog"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/lockmgr"
	"github.com/mantisdb/mantisdb/segments"
)

// Options configure a DB. The zero value is valid.
type Options struct {
	// Logger receives operational messages; nil means slog.Default().
	Logger *slog.Logger
	// BatchSize is the number of rows per Arrow batch that scans produce;
	// zero means 8192.
	BatchSize int
	// Locks configures the lock manager (lock-wait timeout, deadlock
	// detection interval); nil means lockmgr's defaults: 10 s and 50 ms.
	Locks *lockmgr.Options

	// Compaction. The background compactor checks every table each
	// CompactInterval (and at once when a write brings a table to
	// CompactRows) and moves its row store into a new segment when the
	// rows written since the last compaction reach CompactRows, the row
	// store's flushed bytes reach CompactBytes, or the oldest of those rows
	// is CompactAge old. Zero values mean the defaults (256K rows, 64 MiB,
	// 10 min, 1 s); a negative threshold is never reached and a negative
	// CompactInterval disables the background compactor (DB.Compact still
	// works). The row counts are in-memory estimates: rows left at Open
	// count as written at Open.
	CompactRows     int64
	CompactBytes    int64
	CompactAge      time.Duration
	CompactInterval time.Duration
	// CompactSettle defers a compaction that CompactRows or CompactBytes
	// call for while the oldest of the table's fresh rows is younger than
	// this: a bulk load still arriving is not compacted under its feet
	// (its writes would share the CPU with the compaction) and becomes one
	// segment rather than several. A fresh tier of 8 × CompactRows or
	// 8 × CompactBytes is compacted at once. Zero means
	// DefaultCompactSettle (2 s), negative never defers. Under a steady
	// 100K rows/s the row threshold is reached by rows 2.6 s old, so the
	// default defers nothing there.
	CompactSettle time.Duration
	// CompactLockWait bounds how long a compaction or merge waits for the
	// table lock of its swap (writers of the table wait behind it); zero
	// means DefaultCompactLockWait (2 s). A compaction that times out is
	// retried at the next check.
	CompactLockWait time.Duration
	// MergeSegments is the number of segments of one size tier (fewer live
	// rows than MergeRows, within a factor 4 of each other) from which they
	// are merged; zero means DefaultMergeSegments (4), negative never
	// merges.
	MergeSegments int
	// MergeRows is the live row count from which a segment is no longer
	// merged with others; zero means CompactRows × DefaultMergeRowsFactor
	// (16), negative merges segments of any size.
	MergeRows int64
	// MergeDeletedFraction is the deleted fraction of a segment's rows from
	// which it is rewritten without them; zero means
	// DefaultMergeDeletedFraction (0.3), negative never rewrites.
	MergeDeletedFraction float64
	// Segment configures the segment writer (row group size, compression,
	// indexes); nil means segments' defaults.
	Segment *segments.WriterOptions
	// FS is the file system of every file of the database: Pebble's (the
	// row store, catalog and manifest) and the segment files the compactor
	// writes and queries read; nil means vfs.Default. Tests pass
	// vfs.NewMem, vfs.NewCrashableMem or an errorfs wrapper.
	FS vfs.FS
	// BulkMinRows is the smallest Ingest batch stored as one batch entry
	// (one Pebble key per Arrow batch); smaller batches are stored a row
	// per key. Zero means oltp.DefaultBulkMinRows (64); negative stores
	// every batch as a batch entry.
	BulkMinRows int
	// CacheSize is the size of the row store's block cache (Pebble's);
	// zero means oltp.DefaultCacheSize (256 MiB), negative Pebble's
	// default (8 MiB).
	CacheSize int64
	// QueryMemory is the memory budget of one statement's execution, in
	// bytes: the operators that hold data across batches (hash join build
	// sides, hash aggregates and their states, sorts, windows, spools, key
	// sets) charge it, and the statement fails with 53200 when it would
	// exceed it, instead of growing the process. A budget the caller puts
	// in the statement's context (arrowexec.WithBudget) takes its place.
	// Zero or negative means no limit.
	QueryMemory int64
	// TotalQueryMemory bounds the memory that the budgets of all running
	// statements hold together, in bytes: a statement that would pass it
	// fails with 53200 even within its own QueryMemory, so that many
	// large statements at once fail one by one instead of growing the
	// process until the OS kills it. Zero or negative means no limit.
	TotalQueryMemory int64
	// SpillDir is where a sort whose input outgrows a quarter of its
	// statement's budget writes its sorted runs (they are merged at the
	// end; see QueryMemory). Empty means the data directory's tmp (none
	// when FS is not the OS's file system), "-" never spilling: the sort
	// then fails with 53200 at the budget.
	SpillDir string
}

// DB is an open database.
type DB struct {
	impl
}

// Open opens (creating if needed) the database in dir.
func Open(dir string, opts *Options) (*DB, error) { return open(dir, opts) }

// Close closes the database. Statements still running fail.
func (db *DB) Close() error { return db.close() }

// Prepare parses and binds one statement. The statement is re-bound
// automatically if the schema changes before it runs.
func (db *DB) Prepare(ctx context.Context, sql string) (*Stmt, error) { return db.prepare(ctx, sql) }

// Exec runs one statement that returns no rows and returns the number of rows
// it affected. A query given to Exec runs and its rows are discarded.
func (db *DB) Exec(ctx context.Context, sql string) (int64, error) {
	st, err := db.Prepare(ctx, sql)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	return st.Exec(ctx)
}

// Query runs one statement and returns its rows. Statements without rows
// return an empty result.
func (db *DB) Query(ctx context.Context, sql string) (*Rows, error) {
	st, err := db.Prepare(ctx, sql)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return st.Query(ctx)
}

// Ingest appends every record of rdr to table in one transaction: all rows
// or none. Record fields are matched to columns by name (case-insensitive);
// missing nullable columns are NULL. It returns the number of rows written.
func (db *DB) Ingest(ctx context.Context, table string, rdr array.RecordReader) (int64, error) {
	return db.ingest(ctx, table, rdr)
}

// IngestWith is Ingest with options: with OnConflict set, rows whose
// primary key is taken (by a committed row in any tier or an earlier row
// of rdr) are skipped or replace the existing row instead of failing the
// ingest with 23505. It is meant for application upserts of modest size;
// a bulk load without conflicts is faster through Ingest.
func (db *DB) IngestWith(ctx context.Context, table string, rdr array.RecordReader, opts IngestOptions) (int64, error) {
	return db.ingestWith(ctx, table, rdr, opts)
}

// Registry returns the Prometheus registry of the database's metrics (the
// lock manager's today). It is owned by the DB; servers expose it, e.g. with
// promhttp.HandlerFor, and may register more collectors in it.
func (db *DB) Registry() *prometheus.Registry { return db.reg }

// Locks returns the locks held and waited for right now, holders before
// waiters per resource (see lockmgr.Manager.Snapshot); system.locks lists
// them.
func (db *DB) Locks() []lockmgr.LockInfo { return db.store.Locks().Snapshot() }

// Begin starts an explicit transaction: its statements read the database as
// of now plus their own writes. The caller must Commit or Rollback it; Close
// rolls back transactions left open.
func (db *DB) Begin(ctx context.Context) (*Tx, error) { return db.beginTx(ctx) }

// NewSession returns a Session: a sequence of statements, as one client
// connection runs them, in which the SQL statements BEGIN / START
// TRANSACTION, COMMIT / END and ROLLBACK open and end an explicit
// transaction. The caller must Close it.
func (db *DB) NewSession() *Session { return &Session{sessionImpl{db: db}} }

// Compact moves the rows of table's row store into a new columnar segment
// now, whatever the thresholds, and then runs a merge of its segments if
// one is due. It waits for a compaction in progress. Writers do not stop:
// rows changed during the compaction stay in the row store. The bench
// harness and the REST admin endpoints call it.
func (db *DB) Compact(ctx context.Context, table string) (CompactionResult, error) {
	return db.compactTable(ctx, table)
}

// TableStats returns the storage of table as of now: rows in the row
// store, live rows in segments and the segment list (for the REST admin
// endpoints; system.tables shows the same).
func (db *DB) TableStats(ctx context.Context, table string) (TableStats, error) {
	return db.tableStats(ctx, table)
}

// Segments returns every live segment of every table, by table name and
// segment id (system.segments shows the same).
func (db *DB) Segments(ctx context.Context) ([]SegmentInfo, error) { return db.segmentList(ctx) }

// CompactorStats returns the compactor's counters since Open and its
// latest runs (the rows of system.compactions).
func (db *DB) CompactorStats() CompactorStats {
	return CompactorStats{Compactions: db.comp.compactions.Load(), Merges: db.comp.merges.Load(),
		Failures: db.comp.failures.Load(), Recent: db.comp.history.list()}
}

// Table returns the named table's descriptor.
func (db *DB) Table(name string) (*catalog.Table, bool) { return db.cat.Table(name) }

// Tables returns every table, sorted by name; the system tables are not
// among them (see SystemTables).
func (db *DB) Tables() []*catalog.Table { return db.cat.Tables() }

// SystemTables returns the read-only system tables (schema "system":
// tables, segments, compactions, locks), sorted by name; their Name lacks
// the schema.
func (db *DB) SystemTables() []*catalog.Table { return db.cat.SystemTables() }

// Stmt is a prepared statement. Each Query or Exec runs it once. A Stmt of
// DB.Prepare is safe for concurrent use; one of Tx.Prepare or
// Session.Prepare belongs to that transaction or session and shares its
// rule: one statement at a time.
type Stmt struct {
	stmtImpl
}

// SQL returns the statement text.
func (s *Stmt) SQL() string { return s.text }

// IsQuery reports whether the statement returns rows.
func (s *Stmt) IsQuery() bool { return s.isQuery() }

// Schema returns the schema of the statement's rows; for a statement
// without rows it is an empty schema.
func (s *Stmt) Schema() *arrow.Schema { return s.schema() }

// Query runs the statement and returns its rows.
func (s *Stmt) Query(ctx context.Context) (*Rows, error) { return s.query(ctx) }

// Exec runs the statement and returns the number of rows it affected.
func (s *Stmt) Exec(ctx context.Context) (int64, error) { return s.exec(ctx) }

// Close releases the statement. It is idempotent.
func (s *Stmt) Close() error { return nil }

// Rows is the result of a query: a stream of Arrow records. It implements
// array.RecordReader's iteration (Schema, Next, Record, Err) and must be
// closed. It is not safe for concurrent use.
type Rows struct {
	rowsImpl
}

// Schema returns the schema of every record.
func (r *Rows) Schema() *arrow.Schema { return r.sch }

// Next advances to the next record and reports whether there is one.
func (r *Rows) Next() bool { return r.next() }

// Record returns the current record, valid until the next call of Next or
// Close; Retain it to keep it.
func (r *Rows) Record() arrow.RecordBatch { return r.cur }

// Err returns the error that ended iteration, if any.
func (r *Rows) Err() error { return r.err }

// Close ends the query and releases its resources. It is idempotent.
func (r *Rows) Close() error { return r.close() }

// Prepare parses and binds one statement that runs inside the transaction.
// A failure aborts the transaction, as a failed statement does.
func (t *Tx) Prepare(ctx context.Context, sql string) (*Stmt, error) { return t.prepare(ctx, sql) }

// Exec runs one statement inside the transaction and returns the number of
// rows it affected. See Tx for what a failure does.
func (t *Tx) Exec(ctx context.Context, sql string) (int64, error) {
	st, err := t.Prepare(ctx, sql)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	return st.Exec(ctx)
}

// Query runs one statement inside the transaction and returns its rows.
// The Rows must be closed; Commit and Rollback close the ones still open.
func (t *Tx) Query(ctx context.Context, sql string) (*Rows, error) {
	st, err := t.Prepare(ctx, sql)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return st.Query(ctx)
}

// Ingest appends every record of rdr to table inside the transaction (see
// DB.Ingest).
func (t *Tx) Ingest(ctx context.Context, table string, rdr array.RecordReader) (int64, error) {
	return t.ingest(ctx, table, rdr)
}

// IngestWith is Ingest with options inside the transaction (see
// DB.IngestWith).
func (t *Tx) IngestWith(ctx context.Context, table string, rdr array.RecordReader, opts IngestOptions) (int64, error) {
	return t.ingestWith(ctx, table, rdr, opts)
}

// Commit makes the transaction's writes durable and visible, all at once,
// and ends it. A transaction that failed earlier is rolled back instead and
// Commit returns SQLSTATE 25P02 wrapping the first error. Open Rows of the
// transaction are closed first.
func (t *Tx) Commit(ctx context.Context) error { return t.commit(ctx) }

// Rollback discards the transaction's writes and ends it. It is idempotent
// and a no-op after Commit.
func (t *Tx) Rollback() { t.rollback() }

// Session runs statements like one client connection: outside an explicit
// transaction each statement is its own transaction; BEGIN opens one that
// COMMIT or ROLLBACK ends (see Tx for the rules inside). BEGIN inside a
// transaction and COMMIT or ROLLBACK outside one do nothing, as in
// PostgreSQL (without its warning). A Session is not safe for concurrent
// use.
type Session struct {
	sessionImpl
}

// Prepare parses one statement of the session. A transaction control
// statement is recognised without the planner; any other runs, each time it
// is executed, in the session's transaction of that moment (or alone).
func (s *Session) Prepare(ctx context.Context, sql string) (*Stmt, error) { return s.prepare(ctx, sql) }

// Exec runs one statement of the session and returns the number of rows it
// affected.
func (s *Session) Exec(ctx context.Context, sql string) (int64, error) {
	st, err := s.Prepare(ctx, sql)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	return st.Exec(ctx)
}

// Query runs one statement of the session and returns its rows; a
// statement without rows returns an empty result.
func (s *Session) Query(ctx context.Context, sql string) (*Rows, error) {
	st, err := s.Prepare(ctx, sql)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return st.Query(ctx)
}

// InTransaction reports whether an explicit transaction is open, failed
// or not (a shell shows it in its prompt).
func (s *Session) InTransaction() bool { return s.tx != nil }

// Close rolls back the session's open transaction. It is idempotent.
func (s *Session) Close() error {
	if s.tx != nil {
		s.tx.rollback()
		s.tx = nil
	}
	return nil
}
