package mantisdb

import (
	"context"
	"errors"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/oltp"
	"github.com/mantisdb/mantisdb/segments"
	"github.com/mantisdb/mantisdb/sql"
)

// ALTER TABLE, CREATE INDEX and DROP INDEX: each publishes a new
// descriptor of the table (same ID, higher Version) through
// oltp.Store.ReplaceTable, under the table's exclusive lock, with the
// segment barrier (tierSet.mu) held over the commit and the publication:
// a snapshot taken under the barrier (every readView and transaction)
// sees the rows and the catalog of the same schema version.
//
// Readers bind statements against the catalog and read snapshots, which
// may be of another schema version when an ALTER TABLE commits in between
// (or, in a transaction, after its BEGIN). Every scan and every write
// checks that the descriptor in its snapshot is the one it was bound
// against (checkSchema); if not, it fails with errSchemaChanged (40001):
// single statements are bound again and retried, a transaction must be
// retried by its client.
//
// Segments keep the names and schema version they were written with;
// scans read them through catalog.Table.SchemaAt, so renamed columns keep
// their data, dropped ones are skipped and added ones read as NULL.

// errSchemaChanged marks the error of a statement whose table changed
// under it.
var errSchemaChanged = errors.New("table schema changed")

func schemaChanged(t *catalog.Table) error {
	return sqlstate.Wrap(errSchemaChanged, sqlstate.SerializationFailure,
		"table %q was altered after the statement was bound or the transaction began; retry", t.Name)
}

// descReader reads the table descriptors of a snapshot.
type descReader interface {
	Descriptor(id uint64) ([]byte, error)
}

// checkSchema fails with errSchemaChanged unless r's snapshot holds the
// descriptor t of t's table.
func checkSchema(r descReader, t *catalog.Table) error {
	if t.System {
		return nil // materialized at every scan, never altered
	}
	enc, err := r.Descriptor(t.ID)
	if err != nil {
		return err
	}
	if enc == nil || !t.SameAs(enc) {
		return schemaChanged(t)
	}
	return nil
}

func (db *DB) alterTable(ctx context.Context, st *sql.AlterTable) error {
	defer db.lockDDL()()
	cur, ok := db.cat.Table(st.Table.Name)
	if !ok || cur.ID != st.Table.ID {
		return sqlstate.Errorf(sqlstate.UndefinedTable, "relation %q does not exist", st.Table.Name)
	}
	nt := cur
	// src[i] is the old position of new column i (-1: added).
	src := make([]int, len(cur.Columns))
	for i := range src {
		src[i] = i
	}
	rewrite := false
	// notNull names an added NOT NULL column without a default: the
	// table must be empty (checked under its exclusive lock).
	notNull := ""
	for _, op := range st.Ops {
		var err error
		switch op.Kind {
		case sql.AlterAddColumn:
			if nt.ColumnIndex(op.Column.Name) >= 0 {
				return sqlstate.Errorf(sqlstate.DuplicateColumn, "column %q of relation %q already exists", op.Column.Name, nt.Name)
			}
			if op.Column.NotNull && op.Column.Default == nil && notNull == "" {
				notNull = op.Column.Name
			}
			if nt, err = nt.WithColumnAdded(op.Column, true); err != nil {
				return sqlstate.Wrap(err, sqlstate.InvalidColumnDef, "%v", err)
			}
			src = append(src, -1)
		case sql.AlterDropColumn:
			i := nt.ColumnIndex(op.Name)
			switch {
			case i < 0:
				return sqlstate.Errorf(sqlstate.UndefinedColumn, "column %q of relation %q does not exist", op.Name, nt.Name)
			case nt.IsKeyColumn(i):
				return sqlstate.Errorf(sqlstate.InvalidTableDef, "cannot drop column %q: it is part of the primary key of %q", op.Name, nt.Name)
			case len(nt.Columns) == 1:
				return sqlstate.Errorf(sqlstate.InvalidTableDef, "cannot drop column %q: it is the only column of %q", op.Name, nt.Name)
			}
			if nt, err = nt.WithColumnDropped(op.Name); err != nil {
				return sqlstate.Wrap(err, sqlstate.InvalidTableDef, "%v", err)
			}
			src = append(src[:i:i], src[i+1:]...)
			rewrite = true
		case sql.AlterRenameColumn:
			switch i, j := nt.ColumnIndex(op.Name), nt.ColumnIndex(op.To); {
			case i < 0:
				return sqlstate.Errorf(sqlstate.UndefinedColumn, "column %q of relation %q does not exist", op.Name, nt.Name)
			case j >= 0 && j != i:
				return sqlstate.Errorf(sqlstate.DuplicateColumn, "column %q of relation %q already exists", op.To, nt.Name)
			}
			if nt, err = nt.WithColumnRenamed(op.Name, op.To); err != nil {
				return sqlstate.Wrap(err, sqlstate.InvalidColumnDef, "%v", err)
			}
		case sql.AlterRenameTable:
			if !strings.EqualFold(op.Name, cur.Name) && db.cat.Relation(op.Name) {
				return sqlstate.Errorf(sqlstate.DuplicateTable, "relation %q already exists", op.Name)
			}
			if nt, err = nt.Renamed(op.Name); err != nil {
				return sqlstate.Wrap(err, sqlstate.InvalidTableDef, "%v", err)
			}
		default:
			return sqlstate.Errorf(sqlstate.Internal, "unknown ALTER TABLE change %d", op.Kind)
		}
	}
	if !rewrite {
		src = nil
	}
	var check func() error
	if notNull != "" {
		check = func() error { return db.checkEmpty(cur, notNull) }
	}
	return db.replaceTableChecked(ctx, cur, nt, src, check)
}

// checkEmpty fails with 23502 unless table t has no rows, for the ADD
// COLUMN of NOT NULL column col without a default.
func (db *DB) checkEmpty(t *catalog.Table, col string) error {
	rv := db.snapshot()
	defer rv.close()
	st, err := db.statsOf(&rv, t)
	if err != nil {
		return err
	}
	if st.FreshRows+st.SegmentRows > 0 {
		return sqlstate.Errorf(sqlstate.NotNullViolation,
			"column %q of relation %q contains null values: a NOT NULL column added to a table with rows needs a DEFAULT", col, t.Name)
	}
	return nil
}

// replaceTable persists and publishes nt, the new descriptor of cur.
func (db *DB) replaceTable(ctx context.Context, cur, nt *catalog.Table, src []int) error {
	return db.replaceTableChecked(ctx, cur, nt, src, nil)
}

// replaceTableChecked is replaceTable with check, run under the table's
// exclusive lock before anything is written (oltp.Store.ReplaceTableChecked).
func (db *DB) replaceTableChecked(ctx context.Context, cur, nt *catalog.Table, src []int, check func() error) error {
	// Versions step by one per change, so one ALTER of several changes
	// moves the version by several; storage only compares them.
	return db.store.ReplaceTableChecked(ctx, cur, nt, src, &db.tiers.mu, check, func() { db.cat.Replace(cur, nt) })
}

func (db *DB) createIndex(ctx context.Context, st *sql.CreateIndex) error {
	defer db.lockDDL()()
	cur, ok := db.cat.Table(st.Table.Name)
	if !ok || cur.ID != st.Table.ID {
		return sqlstate.Errorf(sqlstate.UndefinedTable, "relation %q does not exist", st.Table.Name)
	}
	if cur.IndexNamed(st.Name) >= 0 {
		return sqlstate.Errorf(sqlstate.DuplicateTable, "index %q already exists on %q", st.Name, cur.Name)
	}
	nt, err := cur.WithIndex(st.Name, st.Column)
	if err != nil {
		return sqlstate.Wrap(err, sqlstate.UndefinedColumn, "%v", err)
	}
	return db.replaceTable(ctx, cur, nt, nil)
}

func (db *DB) dropIndex(ctx context.Context, st *sql.DropIndex) error {
	defer db.lockDDL()()
	cur, ok := db.cat.Table(st.Table.Name)
	if !ok || cur.ID != st.Table.ID {
		return sqlstate.Errorf(sqlstate.UndefinedTable, "relation %q does not exist", st.Table.Name)
	}
	nt, err := cur.WithoutIndex(st.Name)
	if err != nil {
		return sqlstate.Wrap(err, sqlstate.UndefinedObject, "%v", err)
	}
	return db.replaceTable(ctx, cur, nt, nil)
}

// segmentSchema returns the schema and filter to scan segment h of t
// with: t's schema named as in the segment (catalog.Table.SchemaAt) and
// filter's columns renamed likewise. mapped is false when the segment
// has t's current layout.
func segmentSchema(t *catalog.Table, h *segHandle, filter segments.Predicate) (sch *arrow.Schema, f segments.Predicate, mapped bool) {
	if h.meta.SchemaVersion >= t.Version {
		return t.Schema(), filter, false
	}
	sch = t.SchemaAt(h.meta.SchemaVersion)
	if sch == t.Schema() {
		return sch, filter, false
	}
	if len(filter) > 0 {
		f = make(segments.Predicate, 0, len(filter))
		for _, cond := range filter {
			if c := t.ColumnIndex(cond.Column); c >= 0 {
				if sch.Field(c).Metadata.FindKey(catalog.DefaultMetadataKey) >= 0 {
					// The segment lacks the column, which reads as its
					// default there: its index cannot answer (it would
					// take the column for NULL); the filter above the
					// scan does.
					continue
				}
				cond.Column = sch.Field(c).Name
			}
			f = append(f, cond)
		}
	}
	return sch, f, true
}

var _ descReader = (*oltp.Snapshot)(nil)
var _ descReader = (*oltp.Txn)(nil)

// segmentOptions returns the writer options for new segments of t: the
// database's, plus a bitmap index on every column t has an index on.
func (db *DB) segmentOptions(t *catalog.Table) *segments.WriterOptions {
	cols := t.IndexedColumns()
	if len(cols) == 0 {
		return db.opts.Segment
	}
	var o segments.WriterOptions
	if db.opts.Segment != nil {
		o = *db.opts.Segment
	}
	o.BitmapColumns = append(append([]string(nil), o.BitmapColumns...), cols...)
	return &o
}
