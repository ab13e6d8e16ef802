package mantisdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/oltp"
	"github.com/mantisdb/mantisdb/planner"
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

	// ddlMu serialises schema changes: each one persists a descriptor and
	// then publishes it in the catalog.
	ddlMu sync.Mutex
	// running counts statements in flight so that Close can wait for them.
	running sync.WaitGroup
	closed  atomic.Bool
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
	mem := memory.Allocator(memory.DefaultAllocator)
	st, err := oltp.Open(dir, &oltp.Options{Allocator: mem, BatchSize: o.BatchSize, Logger: o.Logger})
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
	o.Logger.Info("database opened", "dir", dir, "tables", len(tables))
	return &DB{impl{opts: o, log: o.Logger, mem: mem, store: st, cat: cat}}, nil
}

func (db *DB) close() error {
	if db.closed.Swap(true) {
		return nil
	}
	db.running.Wait()
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
	p, err := planner.Prepare(text, db.cat)
	if err != nil {
		return nil, err
	}
	return &Stmt{stmtImpl{db: db, text: text, p: p}}, nil
}

type stmtImpl struct {
	db   *DB
	text string

	mu sync.Mutex
	p  *planner.Prepared
}

// plan returns the statement's plan, bound again when the catalog changed
// since it was bound.
func (s *Stmt) plan() (*planner.Prepared, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p.CatalogVersion != s.db.cat.Version() {
		p, err := planner.Prepare(s.text, s.db.cat)
		if err != nil {
			return nil, err
		}
		s.p = p
	}
	return s.p, nil
}

func (s *Stmt) isQuery() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.p.Kind == planner.KindQuery
}

func (s *Stmt) schema() *arrow.Schema {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.p.Schema
}

func (s *Stmt) query(ctx context.Context) (*Rows, error) {
	p, err := s.plan()
	if err != nil {
		return nil, err
	}
	if p.Kind != planner.KindQuery {
		if _, err := s.db.run(ctx, p); err != nil {
			return nil, err
		}
		return &Rows{rowsImpl{sch: p.Schema, done: true}}, nil
	}
	if err := s.db.begin(); err != nil {
		return nil, err
	}
	snap := s.db.store.Snapshot()
	op, err := p.Build(scanProvider{snap})
	if err == nil {
		err = op.Open(compute.WithAllocator(ctx, s.db.mem))
	}
	r := &Rows{rowsImpl{sch: p.Schema, op: op, snap: snap, db: s.db}}
	if err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

func (s *Stmt) exec(ctx context.Context) (int64, error) {
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
	case planner.KindQuery:
		snap := db.store.Snapshot()
		defer snap.Close()
		op, err := p.Build(scanProvider{snap})
		if err != nil {
			return 0, err
		}
		defer op.Close()
		if err := op.Open(compute.WithAllocator(ctx, db.mem)); err != nil {
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
	db.ddlMu.Lock()
	defer db.ddlMu.Unlock()
	if _, ok := db.cat.Table(desc.Name); ok {
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
	db.ddlMu.Lock()
	defer db.ddlMu.Unlock()
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
	// Wait for the table's writers: the drop deletes its rows, and a writer
	// that started before must not leave rows behind.
	tx := db.store.Begin()
	defer tx.Rollback()
	if err := tx.LockTable(ctx, cur); err != nil {
		return err
	}
	if err := db.store.DropTable(ctx, cur); err != nil {
		return err
	}
	db.cat.Remove(cur.Name)
	return nil
}

// lockTarget locks the table written by a statement and checks that it
// still exists as the statement was bound.
func (db *DB) lockTarget(ctx context.Context, tx *oltp.Txn, t *catalog.Table) error {
	if err := tx.LockTable(ctx, t); err != nil {
		return err
	}
	if cur, ok := db.cat.Table(t.Name); !ok || cur.ID != t.ID {
		return sqlstate.Errorf(sqlstate.UndefinedTable, "relation %q does not exist", t.Name)
	}
	return nil
}

// write runs INSERT, UPDATE or DELETE as one transaction: the table is locked,
// the statement's source reads a snapshot taken under the lock, every change
// goes into one batch, and the commit is synced before the count returns.
func (db *DB) write(ctx context.Context, p *planner.Prepared) (int64, error) {
	t := p.Table
	tx := db.store.Begin()
	defer tx.Rollback()
	if err := db.lockTarget(ctx, tx, t); err != nil {
		return 0, err
	}
	snap := db.store.Snapshot()
	defer snap.Close()
	op, err := p.Build(scanProvider{snap})
	if err != nil {
		return 0, err
	}
	defer op.Close()
	if err := op.Open(compute.WithAllocator(ctx, db.mem)); err != nil {
		return 0, err
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
		if err := applyBatch(tx, p.Kind, t, rec); err != nil {
			return 0, err
		}
		n += rec.NumRows()
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	return n, nil
}

// applyBatch adds one batch of a write statement's source to tx; the batch
// shapes are those documented on planner.Prepared.Build.
func applyBatch(tx *oltp.Txn, kind planner.Kind, t *catalog.Table, rec arrow.RecordBatch) error {
	switch kind {
	case planner.KindInsert:
		return tx.Insert(t, rec)
	case planner.KindDelete:
		return tx.Delete(t, rec.Column(0).(*array.Binary))
	case planner.KindUpdate:
		rows := array.NewRecordBatch(t.Schema(), rec.Columns()[1:], rec.NumRows())
		defer rows.Release()
		return tx.Update(t, rec.Column(0).(*array.Binary), rows)
	}
	return sqlstate.Errorf(sqlstate.Internal, "statement kind %d is not a write", kind)
}

func (db *DB) ingest(ctx context.Context, table string, rdr array.RecordReader) (int64, error) {
	if err := db.begin(); err != nil {
		return 0, err
	}
	defer db.running.Done()
	t, ok := db.cat.Table(table)
	if !ok {
		return 0, sqlstate.Errorf(sqlstate.UndefinedTable, "relation %q does not exist", table)
	}
	tx := db.store.Begin()
	defer tx.Rollback()
	if err := db.lockTarget(ctx, tx, t); err != nil {
		return 0, err
	}
	ctx = compute.WithAllocator(ctx, db.mem)
	var n int64
	for rdr.Next() {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		rec, err := conform(ctx, t, rdr.RecordBatch())
		if err != nil {
			return 0, err
		}
		err = tx.Insert(t, rec)
		n += rec.NumRows()
		rec.Release()
		if err != nil {
			return 0, err
		}
	}
	if err := rdr.Err(); err != nil {
		return 0, sqlstate.Wrap(err, sqlstate.InvalidParameterValue, "cannot read ingest data: %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	return n, nil
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
			cols[c] = array.MakeArrayOfNull(mem, want, int(n))
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
			return nil, sqlstate.Wrap(err, sqlstate.DatatypeMismatch,
				"column %q is of type %s but the data is %s: %v", t.Columns[c].Name, t.Columns[c].Type, in.DataType(), err)
		}
		cols[c] = out
	}
	return array.NewRecordBatch(sch, cols, n), nil
}

// scanProvider opens row-store scans of one snapshot for the planner.
type scanProvider struct{ snap *oltp.Snapshot }

func (p scanProvider) Scan(t *catalog.Table, cols []int, withKey bool) arrowexec.OpenSource {
	return func(ctx context.Context) (arrowexec.Source, error) {
		return p.snap.Scan(t, cols, withKey)
	}
}

type rowsImpl struct {
	sch  *arrow.Schema
	op   arrowexec.Operator
	snap *oltp.Snapshot
	db   *DB
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
	if r.snap != nil {
		err = errors.Join(err, r.snap.Close())
		r.snap = nil
	}
	if r.db != nil {
		r.db.running.Done()
		r.db = nil
	}
	r.cur = nil
	return err
}
