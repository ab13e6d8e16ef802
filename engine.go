package mantisdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/bufpool"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/lockmgr"
	"github.com/mantisdb/mantisdb/oltp"
	"github.com/mantisdb/mantisdb/planner"
	"github.com/mantisdb/mantisdb/sql"
)

// errClosed is returned by every call on a closed DB.
var errClosed = sqlstate.Errorf(sqlstate.AdminShutdown, "database is closed")

// impl holds the DB's state; DB embeds it so that db.go shows only the API.
type impl struct {
	opts  Options
	log   *slog.Logger
	mem   memory.Allocator
	store *oltp.Store
	cat   *catalog.Catalog
	reg   *prometheus.Registry
	// plans caches prepared statements by shape (planner.Cache): a
	// statement text repeated with other constants is planned once.
	plans *planner.Cache

	// txMu guards txs, the explicit transactions still open, which Close
	// rolls back.
	txMu sync.Mutex
	txs  map[*Tx]struct{}

	// ddlMu serialises schema changes: each one persists a descriptor and
	// then publishes it in the catalog. ddlActive counts the changes in
	// progress (lockDDL), from before they write to after they publish,
	// for readView.stable.
	ddlMu     sync.Mutex
	ddlActive atomic.Int32

	// tiers holds the open segments; comp is the compactor.
	tiers *tierSet
	comp  compactor

	// running counts statements in flight so that Close can wait for them.
	running sync.WaitGroup
	closed  atomic.Bool

	// queryPool is the budget the statements' budgets draw from
	// (Options.TotalQueryMemory), or nil.
	queryPool *arrowexec.Budget
	// spillDir is where sorts spill (spill.go), or "".
	spillDir string
}

func open(dir string, opts *Options) (*DB, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 8192
	}
	if o.CompactRows == 0 {
		o.CompactRows = DefaultCompactRows
	} else if o.CompactRows < 0 {
		o.CompactRows = math.MaxInt64
	}
	if o.CompactBytes == 0 {
		o.CompactBytes = DefaultCompactBytes
	} else if o.CompactBytes < 0 {
		o.CompactBytes = math.MaxInt64
	}
	if o.CompactAge == 0 {
		o.CompactAge = DefaultCompactAge
	} else if o.CompactAge < 0 {
		o.CompactAge = math.MaxInt64
	}
	if o.CompactInterval == 0 {
		o.CompactInterval = DefaultCompactInterval
	}
	if o.CompactSettle == 0 {
		o.CompactSettle = DefaultCompactSettle
	} else if o.CompactSettle < 0 {
		o.CompactSettle = 0
	}
	if o.CompactLockWait <= 0 {
		o.CompactLockWait = DefaultCompactLockWait
	}
	switch {
	case o.MergeRows == 0 && o.CompactRows <= math.MaxInt64/DefaultMergeRowsFactor:
		o.MergeRows = o.CompactRows * DefaultMergeRowsFactor
	case o.MergeRows <= 0:
		o.MergeRows = math.MaxInt64
	}
	if o.MergeSegments == 0 {
		o.MergeSegments = DefaultMergeSegments
	} else if o.MergeSegments < 0 {
		o.MergeSegments = math.MaxInt
	}
	if o.MergeDeletedFraction == 0 {
		o.MergeDeletedFraction = DefaultMergeDeletedFraction
	} else if o.MergeDeletedFraction < 0 {
		o.MergeDeletedFraction = 2 // never reached
	}
	if o.FS == nil {
		o.FS = vfs.Default
	}
	mem := memory.Allocator(memory.DefaultAllocator)
	st, err := oltp.Open(dir, &oltp.Options{Allocator: mem, BatchSize: o.BatchSize, Logger: o.Logger, Locks: o.Locks, FS: o.FS,
		BulkMinRows: o.BulkMinRows, CacheSize: o.CacheSize})
	if err != nil {
		return nil, fmt.Errorf("cannot open database in %s: %w", dir, err)
	}
	tables, err := st.LoadTables()
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("cannot load catalog: %w", err)
	}
	cat := catalog.New()
	for _, t := range tables {
		cat.Put(t)
	}
	views, err := st.LoadViews()
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("cannot load catalog: %w", err)
	}
	for _, v := range views {
		cat.PutView(v)
	}
	registerSystemTables(cat)
	reg := prometheus.NewRegistry()
	for _, c := range st.Locks().Collectors() {
		if err := reg.Register(c); err != nil {
			st.Close()
			return nil, fmt.Errorf("cannot register lock metrics: %w", err)
		}
	}
	tiers, err := openTiers(o.FS, o.FS.PathJoin(dir, segmentDir), o.Logger, st, tables)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("cannot open segments: %w", err)
	}
	db := &DB{impl{opts: o, log: o.Logger, mem: mem, store: st, cat: cat, reg: reg, txs: map[*Tx]struct{}{}, tiers: tiers,
		plans: planner.NewCache(0)}}
	if db.spillDir, err = openSpillDir(dir, &o); err != nil {
		tiers.close()
		st.Close()
		return nil, err
	}
	if o.TotalQueryMemory > 0 || o.QueryMemory > 0 {
		// With statement budgets only, the pool has no limit of its own
		// and counts what they hold, for the metric.
		db.queryPool = arrowexec.NewSharedBudget(o.TotalQueryMemory)
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mantis_query_memory_bytes",
		Help: "Bytes the operators of running statements hold against their memory budgets (0 when statements have none).",
	}, func() float64 { return float64(db.queryPool.Used()) }))
	st.SetSegmentProbe(db.probe)
	st.SetSegmentRangeProbe(db.probeRange)
	// Rows left in the row store count as fresh from now on.
	snap := st.Snapshot()
	for _, t := range tables {
		n, err := snap.CountRows(t)
		if err != nil {
			snap.Close()
			tiers.close()
			st.Close()
			return nil, err
		}
		db.noteWrite(t.ID, n)
	}
	snap.Close()
	db.startCompactor()
	o.Logger.Info("database opened", "dir", dir, "tables", len(tables))
	return db, nil
}

// segmentDir is the directory of segment files inside the data directory.
const segmentDir = "segments"

func (db *DB) close() error {
	if db.closed.Swap(true) {
		return nil
	}
	// The compactor stops first: its lock waits end with its context.
	db.stopCompactor()
	db.running.Wait()
	// Statements have ended; roll back the transactions left open.
	db.txMu.Lock()
	txs := make([]*Tx, 0, len(db.txs))
	for t := range db.txs {
		txs = append(txs, t)
	}
	db.txMu.Unlock()
	for _, t := range txs {
		t.Rollback()
	}
	db.tiers.close()
	return db.store.Close()
}

// begin registers a running statement; the caller calls db.running.Done.
func (db *DB) begin() error {
	if db.closed.Load() {
		return errClosed
	}
	db.running.Add(1)
	if db.closed.Load() {
		db.running.Done()
		return errClosed
	}
	return nil
}

func (db *DB) prepare(ctx context.Context, text string) (*Stmt, error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	p, err := db.plans.Prepare(text, db.cat)
	if err != nil {
		return nil, err
	}
	return &Stmt{stmtImpl{db: db, text: text, p: p}}, nil
}

type stmtImpl struct {
	db   *DB
	text string
	// tx is the transaction the statement belongs to (Tx.Prepare); sess the
	// session (Session.Prepare), whose transaction at execution time runs
	// it. Both nil: every execution is its own transaction.
	tx   *Tx
	sess *Session
	ctl  control // a transaction control statement of sess

	mu sync.Mutex
	p  *planner.Prepared
}

// plan returns the statement's plan, bound again when the catalog changed
// since it was bound.
func (s *Stmt) plan() (*planner.Prepared, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p.CatalogVersion != s.db.cat.Version() {
		p, err := s.db.plans.Prepare(s.text, s.db.cat)
		if err != nil {
			return nil, err
		}
		s.p = p
	}
	return s.p, nil
}

func (s *Stmt) isQuery() bool {
	if s.ctl != ctlNone {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.p.ReturnsRows()
}

func (s *Stmt) schema() *arrow.Schema {
	if s.ctl != ctlNone {
		return emptySchema
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.p.Schema
}

// maxSchemaRetries bounds how often a single statement is bound again
// because an ALTER TABLE committed while it started (a burst of schema
// changes can invalidate several attempts in a row).
const maxSchemaRetries = 20

// retrySchema reports whether a single statement that failed with err on
// attempt should be bound again and retried, after a short backoff.
func (s *Stmt) retrySchema(ctx context.Context, err error, attempt int) bool {
	if err == nil || attempt >= maxSchemaRetries || !errors.Is(err, errSchemaChanged) || s.ctl != ctlNone || s.txn() != nil {
		return false
	}
	select {
	case <-time.After(time.Duration(rand.Int64N(int64(100*time.Microsecond) << min(attempt, 5)))):
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Stmt) query(ctx context.Context) (*Rows, error) {
	for attempt := 0; ; attempt++ {
		r, err := s.queryOnce(ctx)
		if !s.retrySchema(ctx, err, attempt) {
			return r, err
		}
	}
}

func (s *Stmt) exec(ctx context.Context) (int64, error) {
	for attempt := 0; ; attempt++ {
		n, err := s.execOnce(ctx)
		if !s.retrySchema(ctx, err, attempt) {
			return n, err
		}
	}
}

func (s *Stmt) queryOnce(ctx context.Context) (*Rows, error) {
	if s.ctl != ctlNone {
		if err := s.sess.control(ctx, s.ctl); err != nil {
			return nil, err
		}
		return &Rows{rowsImpl{sch: emptySchema, done: true}}, nil
	}
	if tx := s.txn(); tx != nil {
		return tx.query(ctx, s)
	}
	p, err := s.plan()
	if err != nil {
		return nil, err
	}
	if !p.ReturnsRows() {
		if _, err := s.db.run(ctx, p); err != nil {
			return nil, err
		}
		return &Rows{rowsImpl{sch: p.Schema, done: true}}, nil
	}
	if err := s.db.begin(); err != nil {
		return nil, err
	}
	rv, err := s.db.readSnapshot()
	if err != nil {
		s.db.running.Done()
		return nil, err
	}
	ctx, pool := s.db.recycling(ctx, p)
	op, err := build(ctx, p, scanProvider{&rv})
	if err == nil {
		err = op.Open(s.db.execCtx(ctx))
	}
	r := &Rows{rowsImpl{sch: p.Schema, op: op, rv: &rv, db: s.db, pool: pool}}
	if err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

func (s *Stmt) execOnce(ctx context.Context) (int64, error) {
	if s.ctl != ctlNone {
		return 0, s.sess.control(ctx, s.ctl)
	}
	if tx := s.txn(); tx != nil {
		return tx.exec(ctx, s)
	}
	p, err := s.plan()
	if err != nil {
		return 0, err
	}
	return s.db.run(ctx, p)
}

// run executes a prepared statement that is not read through Rows. A query
// runs to completion and its rows are discarded.
func (db *DB) run(ctx context.Context, p *planner.Prepared) (int64, error) {
	if err := db.begin(); err != nil {
		return 0, err
	}
	defer db.running.Done()
	switch p.Kind {
	case planner.KindCreateTable:
		return 0, db.createTable(ctx, p.Create, p.IfNotExists)
	case planner.KindDropTable:
		return 0, db.dropTable(ctx, p.Table, p.IfExists)
	case planner.KindInsert, planner.KindUpdate, planner.KindDelete:
		return db.write(ctx, p)
	case planner.KindCreateView, planner.KindDropView, planner.KindTruncate, planner.KindCreateTableAs,
		planner.KindAlterTable, planner.KindCreateIndex, planner.KindDropIndex:
		return db.runDDL(ctx, p)
	case planner.KindQuery, planner.KindExplain:
		rv, err := db.readSnapshot()
		if err != nil {
			return 0, err
		}
		defer rv.close()
		op, err := build(ctx, p, scanProvider{&rv})
		if err != nil {
			return 0, err
		}
		defer op.Close()
		if err := op.Open(db.execCtx(ctx)); err != nil {
			return 0, err
		}
		for {
			rec, err := op.Next()
			if err != nil || rec == nil {
				return 0, err
			}
		}
	}
	return 0, sqlstate.Errorf(sqlstate.Internal, "unknown statement kind %d", p.Kind)
}

func (db *DB) createTable(ctx context.Context, desc *catalog.Table, ifNotExists bool) error {
	defer db.lockDDL()()
	if db.cat.Relation(desc.Name) {
		if ifNotExists {
			return nil
		}
		return sqlstate.Errorf(sqlstate.DuplicateTable, "relation %q already exists", desc.Name)
	}
	d := *desc
	d.ID = db.store.NextTableID()
	t, err := db.cat.Prepare(&d)
	if err != nil {
		return sqlstate.Wrap(err, sqlstate.InvalidTableDef, "%v", err)
	}
	if err := db.store.CreateTable(ctx, t); err != nil {
		return err
	}
	db.cat.Put(t)
	return nil
}

func (db *DB) dropTable(ctx context.Context, t *catalog.Table, ifExists bool) error {
	defer db.lockDDL()()
	if t == nil {
		if ifExists {
			return nil
		}
		return sqlstate.Errorf(sqlstate.UndefinedTable, "table does not exist")
	}
	cur, ok := db.cat.Table(t.Name)
	if !ok || cur.ID != t.ID {
		if ifExists {
			return nil
		}
		return sqlstate.Errorf(sqlstate.UndefinedTable, "relation %q does not exist", t.Name)
	}
	// DropTable waits for an exclusive table lock, so the table's writers
	// have finished and later ones fail.
	if err := db.store.DropTable(ctx, cur); err != nil {
		return err
	}
	// Its segments left the manifest with the table; their files go when
	// the last snapshot that can read them is closed.
	db.tiers.dropTable(cur.ID)
	db.comp.fresh.Delete(cur.ID)
	db.cat.Remove(cur.Name)
	return nil
}

// lockDDL takes ddlMu for a schema change and marks it in progress until
// the returned function, which releases ddlMu, runs.
func (db *DB) lockDDL() (unlock func()) {
	db.ddlMu.Lock()
	db.ddlActive.Add(1)
	return func() {
		db.ddlActive.Add(-1)
		db.ddlMu.Unlock()
	}
}

// lockTarget locks the table written by a statement (IX: rows are locked
// as they are written) and checks that it still exists as the statement was
// bound.
func (db *DB) lockTarget(ctx context.Context, tx *oltp.Txn, t *catalog.Table) error {
	return db.lockTargetMode(ctx, tx, t, lockmgr.IntentExclusive)
}

// lockTargetMode is lockTarget with the table lock mode.
func (db *DB) lockTargetMode(ctx context.Context, tx *oltp.Txn, t *catalog.Table, mode lockmgr.Mode) error {
	if err := tx.LockTable(ctx, t, mode); err != nil {
		return err
	}
	if cur, ok := db.cat.Table(t.Name); !ok || cur.ID != t.ID {
		return sqlstate.Errorf(sqlstate.UndefinedTable, "relation %q does not exist", t.Name)
	} else if cur.Version != t.Version {
		// An ALTER TABLE committed since the statement was bound: its
		// rows would be written in the old layout.
		return schemaChanged(t)
	}
	// The rows the transaction reads are in the layout of t (alter.go).
	return checkSchema(tx, t)
}

// maxAutoRetries bounds the automatic retries of a single statement that
// lost a write-write conflict or a deadlock.
const maxAutoRetries = 20

// retryable reports whether err aborted a transaction that a retry from a
// new snapshot can succeed: a write-write conflict or a deadlock.
func retryable(err error) bool {
	return errors.Is(err, oltp.ErrConflict) || errors.Is(err, lockmgr.ErrDeadlock)
}

// write runs INSERT, UPDATE or DELETE as its own transaction: its source
// reads the transaction's snapshot, every change goes into one batch, and
// the commit is synced before the count returns. A statement that loses a
// write-write conflict or a deadlock ran without the client seeing any of
// its effects, so it is retried from a new snapshot (up to maxAutoRetries
// times, with a short random backoff) before the error is returned.
func (db *DB) write(ctx context.Context, p *planner.Prepared) (int64, error) {
	for attempt := 0; ; attempt++ {
		tx, v := db.beginTxn()
		n, err := db.writeIn(ctx, tx, v, p)
		if err == nil {
			err = tx.Commit(ctx)
		} else {
			tx.Rollback()
		}
		db.tiers.release(v)
		if err == nil {
			return n, nil
		}
		if attempt >= maxAutoRetries || !retryable(err) || ctx.Err() != nil {
			return 0, err
		}
		backoff := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 5)))
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return 0, err
		}
	}
}

// writeIn runs INSERT, UPDATE or DELETE inside tx, which reads its source.
func (db *DB) writeIn(ctx context.Context, tx *oltp.Txn, v *version, p *planner.Prepared) (int64, error) {
	t := p.Table
	if err := db.lockTarget(ctx, tx, t); err != nil {
		return 0, err
	}
	op, err := build(ctx, p, txnProvider{db, tx, v})
	if err != nil {
		return 0, err
	}
	defer op.Close()
	if err := op.Open(db.execCtx(ctx)); err != nil {
		return 0, err
	}
	var set []arrowexec.Expr
	if p.OnConflict == sql.ConflictUpdate {
		if set, err = conflictSet(ctx, p); err != nil {
			return 0, err
		}
	}
	var n int64
	for {
		rec, err := op.Next()
		if err != nil {
			return 0, err
		}
		if rec == nil {
			break
		}
		if p.Kind == planner.KindInsert && p.OnConflict != sql.ConflictError {
			k, err := db.upsertIn(ctx, tx, v, t, rec, p.OnConflict, set)
			if err != nil {
				return 0, err
			}
			n += k
			continue
		}
		if err := applyBatch(ctx, tx, p.Kind, t, rec); err != nil {
			return 0, sqlstate.ShiftRows(err, n)
		}
		n += rec.NumRows()
	}
	db.noteWrite(t.ID, n)
	return n, nil
}

// applyBatch adds one batch of a write statement's source to tx; the batch
// shapes are those documented on planner.Prepared.Build.
func applyBatch(ctx context.Context, tx *oltp.Txn, kind planner.Kind, t *catalog.Table, rec arrow.RecordBatch) error {
	switch kind {
	case planner.KindInsert:
		return tx.Insert(ctx, t, rec)
	case planner.KindDelete:
		return tx.Delete(ctx, t, rec.Column(0).(*array.Binary))
	case planner.KindUpdate:
		rows := array.NewRecordBatch(t.Schema(), rec.Columns()[1:], rec.NumRows())
		defer rows.Release()
		err := tx.Update(ctx, t, rec.Column(0).(*array.Binary), rows)
		if e := sqlstate.From(err); e != nil && e.Row > 0 {
			// The rows of an UPDATE are the new versions, in no order the
			// user wrote: a row number would mislead.
			return e.InRow(0, "")
		}
		return err
	}
	return sqlstate.Errorf(sqlstate.Internal, "statement kind %d is not a write", kind)
}

// execCtx returns the context in which a statement's operators run: ctx
// with the database's allocator and, unless ctx carries a budget, one of
// Options.QueryMemory bytes for this statement alone, drawn from the
// budget all statements share (Options.TotalQueryMemory).
func (db *impl) execCtx(ctx context.Context) context.Context {
	ctx = compute.WithAllocator(ctx, db.mem)
	if db.queryPool != nil && arrowexec.BudgetFrom(ctx) == nil {
		ctx = arrowexec.WithBudget(ctx, arrowexec.NewBudgetIn(db.opts.QueryMemory, db.queryPool))
	}
	if db.spillDir != "" {
		ctx = arrowexec.WithSpillDir(ctx, db.spillDir)
	}
	return ctx
}

// conform returns rec rearranged into t's schema: fields matched to columns
// by name (case-insensitive), cast to the column types, absent columns NULL.
// The caller releases the result.
func conform(ctx context.Context, t *catalog.Table, rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	sch := t.Schema()
	n := rec.NumRows()
	byCol := make([]int, len(t.Columns))
	for i := range byCol {
		byCol[i] = -1
	}
	for i, f := range rec.Schema().Fields() {
		c := t.ColumnIndex(f.Name)
		if c < 0 {
			return nil, sqlstate.Errorf(sqlstate.UndefinedColumn, "column %q of relation %q does not exist", f.Name, t.Name)
		}
		if byCol[c] >= 0 {
			return nil, sqlstate.Errorf(sqlstate.DuplicateColumn, "column %q given more than once", f.Name)
		}
		byCol[c] = i
	}
	mem := compute.GetAllocator(ctx)
	cols := make([]arrow.Array, len(t.Columns))
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for c, i := range byCol {
		want := sch.Field(c).Type
		if i < 0 {
			a, err := t.Columns[c].MissingArray(mem, int(n))
			if err != nil {
				return nil, sqlstate.Wrap(err, sqlstate.Internal, "table %q: %v", t.Name, err)
			}
			cols[c] = a
			continue
		}
		in := rec.Column(i)
		if arrow.TypeEqual(in.DataType(), want) {
			in.Retain()
			cols[c] = in
			continue
		}
		out, err := compute.CastArray(ctx, in, compute.SafeCastOptions(want))
		if err != nil {
			name := t.Columns[c].Name
			return nil, sqlstate.Wrap(err, sqlstate.DatatypeMismatch,
				"column %q is of type %s but the data is %s: %v", name, t.Columns[c].Type, in.DataType(), err).
				InRow(firstCastFailure(ctx, in, want), name)
		}
		cols[c] = out
	}
	return array.NewRecordBatch(sch, cols, n), nil
}

// firstCastFailure returns the row, 1-based, of the first value of a that
// does not cast to want (a cast of a fails), or 0 if it finds none. Arrow's
// cast reports a failure without its row; bisecting the array with casts
// of slices finds it in about 2·len(a) values cast, on the error path only.
func firstCastFailure(ctx context.Context, a arrow.Array, want arrow.DataType) int64 {
	fails := func(lo, hi int) bool {
		s := array.NewSlice(a, int64(lo), int64(hi))
		defer s.Release()
		out, err := compute.CastArray(ctx, s, compute.SafeCastOptions(want))
		if err != nil {
			return true
		}
		out.Release()
		return false
	}
	// Invariant: [lo, hi) holds a failing value.
	lo, hi := 0, a.Len()
	if hi == 0 || !fails(lo, hi) {
		return 0
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if fails(lo, mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return int64(lo) + 1
}

// emptySchema is the schema of statements without rows.
var emptySchema = arrow.NewSchema(nil, nil)

type rowsImpl struct {
	sch  *arrow.Schema
	op   arrowexec.Operator
	rv   *readView
	db   *DB
	pool *bufpool.Pool // the query's recycled buffers (recycle.go), or nil
	cur  arrow.RecordBatch
	err  error
	done bool
}

func (r *Rows) next() bool {
	if r.done {
		return false
	}
	rec, err := r.op.Next()
	if err != nil || rec == nil {
		r.err = err
		r.cur = nil
		r.close()
		return false
	}
	r.cur = rec
	return true
}

func (r *Rows) close() error {
	if r.done && r.op == nil {
		return nil
	}
	r.done = true
	var err error
	if r.op != nil {
		err = r.op.Close()
		r.op = nil
	}
	if r.pool != nil {
		r.pool.Close()
		r.pool = nil
	}
	if r.rv != nil {
		err = errors.Join(err, r.rv.close())
		r.rv = nil
	}
	if r.db != nil {
		r.db.running.Done()
		r.db = nil
	}
	r.cur = nil
	return err
}
