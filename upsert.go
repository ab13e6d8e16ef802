package mantisdb

import (
	"context"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/oltp"
	"github.com/mantisdb/mantisdb/planner"
	"github.com/mantisdb/mantisdb/sql"
)

// Upserts: INSERT IGNORE, INSERT … ON DUPLICATE KEY UPDATE and the ingest
// API's IngestOptions.OnConflict. Rows are written inside the caller's
// transaction: a key taken by a committed row (in any tier) or by an
// earlier row of the same statement is found by a primary-key scan of
// what the transaction sees, and the existing row is skipped or updated
// (a segment or batch row by delete + insert, as UPDATE does) under its
// row lock. The rows of one statement apply in order: the k-th row of a
// key is applied in round k, after the rows before it.
//
// This is the simple form the issue asks for: one point scan per round
// and a small allocation per row for its encoded key. It is meant for
// the modest batches of application upserts, not for bulk loads.

// OnConflict says what an ingest does with a row whose primary key is
// already taken.
type OnConflict uint8

// OnConflict values.
const (
	// ConflictError fails the ingest with 23505 (as DB.Ingest does).
	ConflictError OnConflict = iota
	// ConflictIgnore keeps the existing row and skips the new one.
	ConflictIgnore
	// ConflictReplace replaces the existing row by the new one; columns
	// the new data lacks become NULL.
	ConflictReplace
)

// IngestOptions configure DB.IngestWith and Tx.IngestWith. The zero value
// behaves like Ingest.
type IngestOptions struct {
	// OnConflict is what happens to rows whose primary key is taken.
	// Tables without a primary key have no conflicts.
	OnConflict OnConflict
}

func (db *DB) ingestWith(ctx context.Context, table string, rdr array.RecordReader, o IngestOptions) (int64, error) {
	if o.OnConflict == ConflictError {
		return db.ingest(ctx, table, rdr)
	}
	if err := db.begin(); err != nil {
		return 0, err
	}
	defer db.running.Done()
	tx, v := db.beginTxn()
	defer db.tiers.release(v)
	defer tx.Rollback()
	n, err := db.upsertIngestIn(ctx, tx, v, table, rdr, o)
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	return n, nil
}

// upsertIngestIn is ingestIn with conflict handling: every record of rdr,
// conformed to the table, goes through upsertIn.
func (db *DB) upsertIngestIn(ctx context.Context, tx *oltp.Txn, v *version, table string, rdr array.RecordReader, o IngestOptions) (int64, error) {
	t, ok := db.cat.Table(table)
	if !ok {
		return 0, sqlstate.Errorf(sqlstate.UndefinedTable, "relation %q does not exist", table)
	}
	if err := db.lockTarget(ctx, tx, t); err != nil {
		return 0, err
	}
	mode := sql.ConflictIgnore
	if o.OnConflict == ConflictReplace {
		mode = sql.ConflictUpdate
	}
	ctx = compute.WithAllocator(ctx, db.mem)
	var n, seen int64 // rows written, rows read
	for rdr.Next() {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		rec, err := conform(ctx, t, rdr.RecordBatch())
		if err != nil {
			return 0, sqlstate.ShiftRows(err, seen)
		}
		k, err := db.upsertIn(ctx, tx, v, t, rec, mode, nil)
		rows := rec.NumRows()
		rec.Release()
		if err != nil {
			return 0, sqlstate.ShiftRows(err, seen)
		}
		n += k
		seen += rows
	}
	if err := rdr.Err(); err != nil {
		return 0, sqlstate.Wrap(err, sqlstate.InvalidParameterValue, "cannot read ingest data: %v", err)
	}
	db.noteWrite(t.ID, n)
	return n, nil
}

// conflictSet compiles the ON DUPLICATE KEY UPDATE of p with the
// execution's parameters.
func conflictSet(ctx context.Context, p *planner.Prepared) ([]arrowexec.Expr, error) {
	params, _ := ctx.Value(paramsKey{}).([]scalar.Scalar)
	return p.ConflictSet(params)
}

// upsertIn writes rec (rows in t.Schema()) to t inside tx; rows whose key
// is taken are skipped (sql.ConflictIgnore) or update the existing row
// (sql.ConflictUpdate): by set, expressions over the existing row's
// columns followed by the new row's, or, with a nil set, to the new row.
// It returns the number of rows inserted or updated. The caller holds
// t's table lock (lockTarget).
func (db *DB) upsertIn(ctx context.Context, tx *oltp.Txn, v *version, t *catalog.Table, rec arrow.RecordBatch, mode sql.Conflict, set []arrowexec.Expr) (int64, error) {
	n := int(rec.NumRows())
	if !t.HasPrimaryKey() || mode == sql.ConflictError || n == 0 {
		return rec.NumRows(), tx.Insert(ctx, t, rec)
	}
	keys := make([]string, n)
	vals := make([][]scalar.Scalar, n)
	round := make([]int, n)
	seen := make(map[string]int, n)
	rounds := 0
	for i := 0; i < n; i++ {
		k, sv, err := rowKey(t, rec, i)
		if err != nil {
			return 0, err
		}
		keys[i], vals[i] = k, sv
		round[i] = seen[k]
		seen[k]++
		rounds = max(rounds, round[i]+1)
	}
	var written int64
	for r := 0; r < rounds; r++ {
		var idx []int
		for i := 0; i < n; i++ {
			if round[i] == r {
				idx = append(idx, i)
			}
		}
		k, err := db.upsertRound(ctx, tx, v, t, rec, idx, keys, vals, mode, set)
		if err != nil {
			return 0, err
		}
		written += k
	}
	return written, nil
}

// rowKey returns the encoded primary key of row i of rec (a string for
// map lookups) and its key values.
func rowKey(t *catalog.Table, rec arrow.RecordBatch, i int) (string, []scalar.Scalar, error) {
	sv := make([]scalar.Scalar, len(t.PrimaryKey))
	for j, c := range t.PrimaryKey {
		s, err := scalar.GetScalar(rec.Column(c), i)
		if err != nil {
			return "", nil, err
		}
		sv[j] = s
	}
	sp, err := oltp.PrimaryKeySpan(t, sv, true, sv, true)
	if err != nil {
		return "", nil, err
	}
	return string(sp.Start), sv, nil
}

// upsertRound applies rows idx of rec, whose keys are distinct.
func (db *DB) upsertRound(ctx context.Context, tx *oltp.Txn, v *version, t *catalog.Table, rec arrow.RecordBatch,
	idx []int, keys []string, vals [][]scalar.Scalar, mode sql.Conflict, set []arrowexec.Expr) (int64, error) {
	sort.Slice(idx, func(a, b int) bool { return keys[idx[a]] < keys[idx[b]] })
	ranges := make([]planner.KeyRange, len(idx))
	want := make(map[string]int, len(idx))
	for j, i := range idx {
		ranges[j] = planner.KeyRange{Start: vals[i], End: vals[i], StartInclusive: true, EndInclusive: true}
		want[keys[i]] = i
	}
	all := make([]int, len(t.Columns))
	for i := range all {
		all[i] = i
	}
	// Find the existing rows: their columns and storage keys (the last
	// field), taken out of the scan's batches before they are reused.
	src, err := txnProvider{db, tx, v}.ScanKeyRange(t, all, true, ranges)(ctx)
	if err != nil {
		return 0, err
	}
	matched := make(map[int]bool)
	var old []arrow.RecordBatch // existing rows, with their key
	var newIdx [][]int          // the rows of rec that hit them
	defer func() {
		for _, r := range old {
			r.Release()
		}
	}()
	for src.Next() {
		e := src.Record()
		var eIdx []int
		var cIdx []int
		for j := 0; j < int(e.NumRows()); j++ {
			k, _, err := rowKey(t, e, j)
			if err != nil {
				_ = src.Close()
				return 0, err
			}
			if i, ok := want[k]; ok && !matched[i] {
				matched[i] = true
				eIdx = append(eIdx, j)
				cIdx = append(cIdx, i)
			}
		}
		if len(eIdx) == 0 || mode != sql.ConflictUpdate {
			continue
		}
		taken, err := takeRows(ctx, e, eIdx)
		if err != nil {
			_ = src.Close()
			return 0, err
		}
		old = append(old, taken)
		newIdx = append(newIdx, cIdx)
	}
	if err := src.Err(); err != nil {
		_ = src.Close()
		return 0, err
	}
	if err := src.Close(); err != nil {
		return 0, err
	}
	var written int64
	for b, e := range old {
		if err := db.updateExisting(ctx, tx, t, rec, e, newIdx[b], set); err != nil {
			return 0, rowOfBatch(err, newIdx[b])
		}
		written += e.NumRows()
	}
	var ins []int
	for _, i := range idx {
		if !matched[i] {
			ins = append(ins, i)
		}
	}
	sort.Ints(ins)
	if len(ins) > 0 {
		fresh, err := takeRows(ctx, rec, ins)
		if err != nil {
			return 0, err
		}
		err = tx.Insert(ctx, t, fresh)
		fresh.Release()
		if err != nil {
			return 0, rowOfBatch(err, ins)
		}
		written += int64(len(ins))
	}
	return written, nil
}

// rowOfBatch maps the row of err's *sqlstate.Error, a row of a batch of
// rows rows of rec (row j of the batch is rows[j] of rec), to its row of
// rec.
func rowOfBatch(err error, rows []int) error {
	if e := sqlstate.From(err); e != nil && e.Row > 0 && e.Row <= int64(len(rows)) {
		return e.InRow(int64(rows[e.Row-1])+1, e.Field)
	}
	return err
}

// updateExisting updates the existing rows e (t's columns, then the
// storage key) hit by rows cIdx of rec.
func (db *DB) updateExisting(ctx context.Context, tx *oltp.Txn, t *catalog.Table, rec, e arrow.RecordBatch, cIdx []int, set []arrowexec.Expr) error {
	nc := len(t.Columns)
	newRows, err := takeRows(ctx, rec, cIdx)
	if err != nil {
		return err
	}
	defer newRows.Release()
	keys := e.Column(nc).(*array.Binary)
	if set == nil {
		return tx.Update(ctx, t, keys, newRows)
	}
	fields := t.Schema().Fields()
	both := arrow.NewSchema(append(append([]arrow.Field(nil), fields...), fields...), nil)
	cols := append(append(make([]arrow.Array, 0, 2*nc), e.Columns()[:nc]...), newRows.Columns()...)
	in := array.NewRecordBatch(both, cols, e.NumRows())
	defer in.Release()
	out := make([]arrow.Array, nc)
	defer func() {
		for _, a := range out {
			if a != nil {
				a.Release()
			}
		}
	}()
	for i, x := range set {
		if out[i], err = x.Eval(ctx, in); err != nil {
			return err
		}
	}
	rows := array.NewRecordBatch(t.Schema(), out, e.NumRows())
	defer rows.Release()
	return tx.Update(ctx, t, keys, rows)
}

// takeRows returns rows idx of rec, in that order; the caller releases it.
func takeRows(ctx context.Context, rec arrow.RecordBatch, idx []int) (arrow.RecordBatch, error) {
	mem := compute.GetAllocator(ctx)
	b := array.NewInt32Builder(mem)
	defer b.Release()
	for _, i := range idx {
		b.Append(int32(i))
	}
	ix := b.NewArray()
	defer ix.Release()
	cols := make([]arrow.Array, rec.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for c := range cols {
		var err error
		if cols[c], err = compute.TakeArray(ctx, rec.Column(c), ix); err != nil {
			return nil, err
		}
	}
	return array.NewRecordBatch(rec.Schema(), cols, int64(len(idx))), nil
}

func (t *Tx) ingestWith(ctx context.Context, table string, rdr array.RecordReader, o IngestOptions) (int64, error) {
	if o.OnConflict == ConflictError {
		return t.ingest(ctx, table, rdr)
	}
	if err := t.enter(); err != nil {
		return 0, err
	}
	defer t.leave()
	n, err := t.db.upsertIngestIn(ctx, t.tx, t.v, table, rdr, o)
	return n, t.fail(err)
}
