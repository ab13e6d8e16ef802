package mantisdb

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/lockmgr"
	"github.com/mantisdb/mantisdb/oltp"
)

// Bulk ingest (DB.Ingest, Tx.Ingest, and through them REST, Flight and
// CREATE TABLE … AS): the records of the reader are encoded into batch
// entries (oltp.Store.EncodeBatch) before the table is locked, on every
// core while the next record is read, and only the uniqueness checks and
// the writes into the transaction's batch run under the table lock (see
// docs/design/batch.md, "Writing").

// maxStagedBytes bounds the Arrow data of the records an ingest encodes
// ahead of its table lock. An ingest larger than this takes the lock when
// it has staged this much and checks the rest of its batches as they are
// encoded (still ahead on the other cores, but under the lock).
var maxStagedBytes int64 = 256 << 20 // a variable for tests

func (db *DB) ingest(ctx context.Context, table string, rdr array.RecordReader) (int64, error) {
	if err := db.begin(); err != nil {
		return 0, err
	}
	defer db.running.Done()
	tx, v := db.beginTxn()
	defer db.tiers.release(v)
	defer tx.Rollback()
	n, err := db.ingestIn(ctx, tx, table, rdr)
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	return n, nil
}

// ingestIn appends every record of rdr to table inside tx.
//
// The records are conformed to the table as they are read and encoded by
// workers (at most GOMAXPROCS at a time); the encoded batches are added
// to tx in the order of rdr. No table lock is held while records are read
// and encoded: a slow client or a large batch keeps no other writer of
// the table waiting. The table lock is taken once everything is encoded
// (or maxStagedBytes is staged), in the mode the batches need, and
// lockTargetMode then fails the ingest if an ALTER TABLE committed since
// the records were conformed to t.
func (db *DB) ingestIn(ctx context.Context, tx *oltp.Txn, table string, rdr array.RecordReader) (int64, error) {
	t, ok := db.cat.Table(table)
	if !ok {
		return 0, sqlstate.Errorf(sqlstate.UndefinedTable, "relation %q does not exist", table)
	}
	in := &ingester{db: db, tx: tx, t: t, sem: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))}
	defer in.close()
	ctx = compute.WithAllocator(ctx, db.mem)
	var n int64
	for rdr.Next() {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		rec, err := conform(ctx, t, rdr.RecordBatch())
		if err != nil {
			// A batch before this one may have a bad row too: the
			// first one is reported.
			if perr := in.wait(); perr != nil {
				return 0, perr
			}
			return 0, sqlstate.ShiftRows(err, n)
		}
		in.add(rec, n)
		n += rec.NumRows()
		if err := in.poll(ctx); err != nil {
			return 0, err
		}
	}
	if err := rdr.Err(); err != nil {
		return 0, sqlstate.Wrap(err, sqlstate.InvalidParameterValue, "cannot read ingest data: %v", err)
	}
	if err := in.flush(ctx, 0); err != nil {
		return 0, err
	}
	db.noteWrite(t.ID, n)
	return n, nil
}

// ingester is the state of one ingestIn: the batches encoded or being
// encoded, in input order, that are not in the transaction yet.
type ingester struct {
	db *DB
	tx *oltp.Txn
	t  *catalog.Table
	// sem bounds the concurrent encoders.
	sem     chan struct{}
	pending []*pendingBatch
	staged  int64 // Arrow bytes of pending
	bulk    bool  // a batch entry was staged: tables with a key need X
	locked  bool
	// bulkBatches counts the batches encoded as batch entries; from the
	// second on, their bodies are synced while the stream goes on
	// (syncAhead), at most one sync at a time (syncing).
	bulkBatches int
	syncing     atomic.Bool
	syncs       sync.WaitGroup
}

// pendingBatch is one record being encoded.
type pendingBatch struct {
	size  int64
	first int64         // the rows of the stream before it
	done  chan struct{} // closed when b or err is set
	b     *oltp.EncodedBatch
	err   error
}

// add starts encoding rec, which follows first rows of the stream, and
// releases it. An error about one of its rows (sqlstate.Error.Row) names
// the row of the stream.
func (in *ingester) add(rec arrow.RecordBatch, first int64) {
	p := &pendingBatch{size: recordBytes(rec), first: first, done: make(chan struct{})}
	in.pending = append(in.pending, p)
	in.staged += p.size
	st := in.db.store
	if !in.db.bulk(rec.NumRows()) {
		// Rows for row entries are only validated: not worth a
		// goroutine.
		p.b, p.err = st.EncodeBatch(in.t, rec)
		p.err = sqlstate.ShiftRows(p.err, first)
		rec.Release()
		close(p.done)
		return
	}
	in.bulk = true
	in.bulkBatches++
	more := in.bulkBatches > 1
	// The entry's id is taken here, in stream order, not by the encoder
	// that finishes first: scans return a table's entries by id.
	id := st.NewSegmentID()
	in.sem <- struct{}{}
	go func() {
		defer func() { <-in.sem }()
		defer close(p.done)
		defer sqlstate.Recover(&p.err)
		p.b, p.err = st.EncodeBatch(in.t, rec)
		p.err = sqlstate.ShiftRows(p.err, first)
		rec.Release()
		if p.err == nil {
			// The body goes to the store now, not with the commit (see
			// oltp.Store.WriteBody).
			p.err = st.WriteBody(p.b, id)
		}
		if p.err == nil && more {
			// Before done: close waits for done, then for the syncs.
			in.syncAhead()
		}
	}()
}

// syncAhead starts a WAL sync of the bodies written so far, unless one is
// under way. An ingest of several batches syncs while it streams, so that
// its commit waits for the sync of its last bodies only, not of all of
// them: the disk writes while the next batches arrive and encode. A
// single-batch ingest does not (its commit syncs once).
func (in *ingester) syncAhead() {
	if !in.syncing.CompareAndSwap(false, true) {
		return
	}
	in.syncs.Add(1)
	go func() {
		defer in.syncs.Done()
		// An error fails the store, and so the commit.
		_ = in.db.store.SyncWAL()
		in.syncing.Store(false)
	}()
}

// wait waits for the pending batches to encode and returns the first
// one's error, if any.
func (in *ingester) wait() error {
	for _, p := range in.pending {
		<-p.done
		if p.err != nil {
			return p.err
		}
	}
	return nil
}

// poll fails with the error of the first pending batches that failed to
// encode, and flushes the pending batches beyond maxStagedBytes (or all
// once the table is locked).
func (in *ingester) poll(ctx context.Context) error {
	for _, p := range in.pending {
		select {
		case <-p.done:
			if p.err != nil {
				return p.err
			}
			continue
		default:
		}
		break
	}
	if in.staged <= maxStagedBytes {
		return nil
	}
	return in.flush(ctx, maxStagedBytes/2)
}

// flush locks the table (once) and adds pending batches to the
// transaction, in order, until at most keep bytes are pending.
func (in *ingester) flush(ctx context.Context, keep int64) error {
	// Wait for the batches to insert before taking the lock: their
	// encoding must not run under it, or concurrent ingests of the table
	// (many clients of small requests) queue behind each other's encoding
	// as well as behind the checks and the commit.
	staged := in.staged
	for _, p := range in.pending {
		if staged <= keep {
			break
		}
		<-p.done
		if p.err != nil {
			return p.err
		}
		staged -= p.size
	}
	if !in.locked {
		mode := lockmgr.IntentExclusive
		if in.bulk && in.t.HasPrimaryKey() {
			// The batch entries of a table with a primary key are
			// checked under X (oltp.Txn.InsertEncoded); taking it
			// first, rather than IX and then X, keeps two concurrent
			// ingests from deadlocking on the upgrade. Nothing is held
			// while the batches were encoded.
			mode = lockmgr.Exclusive
		}
		if err := in.db.lockTargetMode(ctx, in.tx, in.t, mode); err != nil {
			return err
		}
		in.locked = true
	}
	for len(in.pending) > 0 && in.staged > keep {
		p := in.pending[0]
		<-p.done
		in.pending = in.pending[1:]
		in.staged -= p.size
		if p.err != nil {
			return p.err
		}
		err := in.tx.InsertEncoded(ctx, in.t, p.b)
		p.b.Release()
		p.b = nil
		if err != nil {
			return sqlstate.ShiftRows(err, p.first)
		}
	}
	return nil
}

// close waits for the encoders still running and releases what they
// made.
func (in *ingester) close() {
	for _, p := range in.pending {
		<-p.done
		if p.b != nil {
			p.b.Release()
		}
	}
	in.pending = nil
	in.syncs.Wait()
}

// recordBytes is the size of rec's Arrow buffers.
func recordBytes(rec arrow.RecordBatch) int64 {
	var n int64
	for _, c := range rec.Columns() {
		for _, b := range c.Data().Buffers() {
			if b != nil {
				n += int64(b.Len())
			}
		}
	}
	return n
}

// bulk reports whether an ingest batch of n rows becomes a batch entry
// (see Options.BulkMinRows).
func (db *DB) bulk(n int64) bool {
	lim := int64(db.opts.BulkMinRows)
	if lim == 0 {
		lim = oltp.DefaultBulkMinRows
	}
	return n >= lim
}
