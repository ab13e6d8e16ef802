package mantisdb

import (
	"context"
	"errors"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/planner"
	"github.com/mantisdb/mantisdb/sql"
)

// Schema changes beyond CREATE and DROP TABLE (engine.go): views, TRUNCATE,
// CREATE TABLE AS, ALTER TABLE and indexes. Each runs as its own
// statement, never inside an explicit transaction (checkKind). Changes of
// the catalog are serialised by ddlMu: each persists its descriptor in one
// synced batch and then publishes it, so a statement bound afterwards sees
// it and a prepared statement bound before is bound again (the catalog's
// version moved).

// runDDL executes the statements that carry their bound form in
// planner.Prepared.DDL.
func (db *DB) runDDL(ctx context.Context, p *planner.Prepared) (int64, error) {
	switch st := p.DDL.(type) {
	case *sql.CreateView:
		return 0, db.createView(ctx, st)
	case *sql.DropView:
		return 0, db.dropViews(ctx, st)
	case *sql.Truncate:
		return 0, db.truncate(ctx, st.Table)
	case *sql.CreateTableAs:
		return db.createTableAs(ctx, p)
	case *sql.AlterTable:
		return 0, db.alterTable(ctx, st)
	case *sql.CreateIndex:
		return 0, db.createIndex(ctx, st)
	case *sql.DropIndex:
		return 0, db.dropIndex(ctx, st)
	}
	return 0, sqlstate.Errorf(sqlstate.Internal, "unknown schema change %T", p.DDL)
}

func (db *DB) createView(ctx context.Context, st *sql.CreateView) error {
	defer db.lockDDL()()
	v := *st.View
	if t, ok := db.cat.Table(v.Name); ok {
		return sqlstate.Errorf(sqlstate.DuplicateTable, "relation %q already exists and is a table", t.Name)
	}
	if old, ok := db.cat.View(v.Name); ok {
		if !st.OrReplace {
			return sqlstate.Errorf(sqlstate.DuplicateTable, "view %q already exists", old.Name)
		}
		v.ID, v.Version = old.ID, old.Version+1
		if v.Name != old.Name {
			v.Name = old.Name // keep the spelling of creation
		}
	} else {
		v.ID, v.Version = db.store.NextTableID(), 1
	}
	if err := db.store.PutView(ctx, &v); err != nil {
		return err
	}
	db.cat.PutView(&v)
	return nil
}

func (db *DB) dropViews(ctx context.Context, st *sql.DropView) error {
	defer db.lockDDL()()
	// Check every name before dropping any, so a missing one drops none.
	views := make([]*catalog.View, 0, len(st.Names))
	for _, name := range st.Names {
		v, ok := db.cat.View(name)
		if !ok {
			if st.IfExists {
				continue
			}
			return sqlstate.Errorf(sqlstate.UndefinedTable, "view %q does not exist", name)
		}
		views = append(views, v)
	}
	for _, v := range views {
		if err := db.store.DeleteView(ctx, v.ID); err != nil {
			return err
		}
		db.cat.RemoveView(v.Name)
	}
	return nil
}

// truncate removes every row of t from every tier at once (oltp's
// TruncateTable, under the table's exclusive lock) and forgets the
// segments that left the manifest; their files go when the last snapshot
// that can read them is released.
func (db *DB) truncate(ctx context.Context, t *catalog.Table) error {
	cur, ok := db.cat.Table(t.Name)
	if !ok || cur.ID != t.ID {
		return sqlstate.Errorf(sqlstate.UndefinedTable, "relation %q does not exist", t.Name)
	}
	removed, err := db.store.TruncateTable(ctx, cur)
	if err != nil {
		return err
	}
	if len(removed) > 0 {
		// Only the segments of the manifest: a compaction may have
		// installed a segment it has not committed yet; its commit marks
		// every row of it deleted, as none of them is in the row store
		// any more.
		db.tiers.remove(cur.ID, removed...)
	}
	db.comp.fresh.Delete(cur.ID)
	return nil
}

// createTableAs creates the table of CREATE TABLE … AS SELECT and inserts
// the query's rows through the bulk ingest path in one transaction. If the
// insert fails the table is dropped again, so the statement leaves either
// the full table or none.
func (db *DB) createTableAs(ctx context.Context, p *planner.Prepared) (int64, error) {
	if _, ok := db.cat.Table(p.Create.Name); ok && p.IfNotExists {
		return 0, nil
	}
	if err := db.createTable(ctx, p.Create, false); err != nil {
		return 0, err
	}
	t, ok := db.cat.Table(p.Create.Name)
	if !ok {
		return 0, sqlstate.Errorf(sqlstate.UndefinedTable, "relation %q was dropped while it was filled", p.Create.Name)
	}
	n, err := db.fillTable(ctx, p, t)
	if err != nil {
		if derr := db.dropTable(context.WithoutCancel(ctx), t, true); derr != nil {
			db.log.Warn("cannot drop the table of a failed CREATE TABLE AS", "table", t.Name, "err", derr)
		}
		return 0, err
	}
	return n, nil
}

func (db *DB) fillTable(ctx context.Context, p *planner.Prepared, t *catalog.Table) (int64, error) {
	tx, v := db.beginTxn()
	defer db.tiers.release(v)
	defer tx.Rollback()
	op, err := build(ctx, p, txnProvider{db, tx, v})
	if err != nil {
		return 0, err
	}
	rdr := &opReader{op: op, schema: t.Schema()}
	defer rdr.close()
	if err := op.Open(db.execCtx(ctx)); err != nil {
		return 0, err
	}
	n, err := db.ingestIn(ctx, tx, t.Name, rdr)
	if rdr.err != nil {
		return 0, rdr.err // the query's own error, not wrapped as bad ingest data
	}
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	return n, nil
}

// opReader reads an operator's batches as an array.RecordReader, for the
// ingest path. Its batches are valid until the next call of Next; the
// operator is closed by close, not by Release.
type opReader struct {
	op     arrowexec.Operator
	schema *arrow.Schema
	cur    arrow.RecordBatch
	err    error
}

var _ array.RecordReader = (*opReader)(nil)

func (r *opReader) Retain()  {}
func (r *opReader) Release() {}

func (r *opReader) Schema() *arrow.Schema { return r.schema }

func (r *opReader) Next() bool {
	if r.err != nil {
		return false
	}
	rec, err := r.op.Next()
	if err != nil || rec == nil {
		r.err, r.cur = err, nil
		return false
	}
	r.cur = rec
	return true
}

func (r *opReader) RecordBatch() arrow.RecordBatch { return r.cur }

// Record returns the current batch.
//
// Deprecated: use RecordBatch.
func (r *opReader) Record() arrow.RecordBatch { return r.cur }

func (r *opReader) Err() error { return r.err }

func (r *opReader) close() {
	if err := r.op.Close(); err != nil && !errors.Is(err, context.Canceled) {
		r.err = errors.Join(r.err, err)
	}
}
