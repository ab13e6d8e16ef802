package mantisdb_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/segments"
)

var errInjected = errors.New("injected segment I/O error")

// segmentFaults fails the k-th segment file operation that pick selects
// while armed; Pebble's files are never touched.
type segmentFaults struct {
	armed atomic.Bool
	k     int64
	n     atomic.Int64
	pick  func(errorfs.Op) bool
}

func (f *segmentFaults) MaybeError(op errorfs.Op) error {
	if !f.armed.Load() || !strings.Contains(op.Path, "/segments/") || !f.pick(op) {
		return nil
	}
	if f.n.Add(1) == f.k {
		return errInjected
	}
	return nil
}

func (f *segmentFaults) String() string { return "segmentFaults" }

// openFS opens the database in dir of fs with a manual compactor and small
// row groups.
func openFS(t *testing.T, fs vfs.FS) *mantisdb.DB {
	t.Helper()
	db, err := mantisdb.Open("db", &mantisdb.Options{FS: fs, CompactInterval: -1,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Segment: &segments.WriterOptions{RowGroupSize: 64}})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

const faultRows = 300

func checkAllRows(t *testing.T, db *mantisdb.DB) {
	t.Helper()
	got := render(query(t, db, "select count(*), sum(k), sum(v) from t"))
	if want := "300|44850|448500\n"; got != want {
		t.Fatalf("rows after fault: %q, want %q", got, want)
	}
}

// TestCompactionWriteFaults fails, one after the other, every segment file
// operation a compaction makes (creates, writes, syncs, renames, and the
// reads that open the new segment): the compaction fails cleanly (no
// manifest change, every row still read once from the row store), no
// segment file survives a reopen, and a retry succeeds.
func TestCompactionWriteFaults(t *testing.T) {
	ctx := context.Background()
	for k := int64(1); ; k++ {
		base := vfs.NewMem()
		inj := &segmentFaults{k: k, pick: func(op errorfs.Op) bool {
			return op.Kind != errorfs.OpRemove && op.Kind != errorfs.OpRemoveAll && op.Kind != errorfs.OpFileClose
		}}
		db := openFS(t, errorfs.Wrap(base, inj))
		exec(t, db, "create table t (k bigint primary key, v bigint, s varchar)")
		insertRange(t, db, 0, faultRows)
		inj.armed.Store(true)
		_, err := db.Compact(ctx, "t")
		inj.armed.Store(false)
		if inj.n.Load() < k {
			// The compaction made fewer than k operations: it must have
			// succeeded, and every earlier k failed it.
			if err != nil {
				t.Fatalf("compaction without a fault: %v", err)
			}
			if k < 5 {
				t.Fatalf("compaction made only %d segment file operations", k-1)
			}
			checkAllRows(t, db)
			db.Close()
			t.Logf("%d faults injected", k-1)
			return
		}
		if err == nil {
			t.Fatalf("fault %d: compaction succeeded", k)
		}
		if !errors.Is(err, errInjected) {
			t.Fatalf("fault %d: compaction error %v is not the injected one", k, err)
		}
		st := stats(t, db, "t")
		if len(st.Segments) != 0 || st.FreshRows != faultRows {
			t.Fatalf("fault %d: after a failed compaction %+v", k, st)
		}
		checkAllRows(t, db)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}

		db = openFS(t, base)
		names, err := base.List("db/segments")
		if err != nil {
			t.Fatal(err)
		}
		if len(names) != 0 {
			t.Fatalf("fault %d: files left after reopen: %v", k, names)
		}
		checkAllRows(t, db)
		res := compact(t, db, "t")
		if res.Rows != faultRows || res.Moved != faultRows {
			t.Fatalf("fault %d: retry %+v", k, res)
		}
		if st := stats(t, db, "t"); len(st.Segments) != 1 || st.FreshRows != 0 {
			t.Fatalf("fault %d: after the retry %+v", k, st)
		}
		checkAllRows(t, db)
		db.Close()
	}
}

// TestSegmentReadFaults fails the k-th read of a segment file during a
// query: the query fails with the error (SQLSTATE 58030), never returns a
// wrong result.
func TestSegmentReadFaults(t *testing.T) {
	base := vfs.NewMem()
	inj := &segmentFaults{pick: func(op errorfs.Op) bool { return op.Kind == errorfs.OpFileReadAt }}
	db := openFS(t, errorfs.Wrap(base, inj))
	defer db.Close()
	exec(t, db, "create table t (k bigint primary key, v bigint, s varchar)")
	insertRange(t, db, 0, faultRows)
	compact(t, db, "t")
	for k := int64(1); ; k++ {
		inj.n.Store(0)
		inj.k = k
		inj.armed.Store(true)
		rows, err := db.Query(context.Background(), "select count(*), sum(k), sum(v), max(s) from t")
		var got string
		if err == nil {
			for rows.Next() {
				rec := rows.Record()
				for i := 0; i < int(rec.NumRows()); i++ {
					for j, c := range rec.Columns() {
						if j > 0 {
							got += "|"
						}
						got += c.ValueStr(i)
					}
				}
			}
			err = rows.Err()
			rows.Close()
		}
		inj.armed.Store(false)
		if inj.n.Load() < k {
			if err != nil || got != "300|44850|448500|v99" {
				t.Fatalf("query without a fault: %q, %v", got, err)
			}
			if k < 3 {
				t.Fatalf("query made only %d segment reads", k-1)
			}
			t.Logf("%d faults injected", k-1)
			return
		}
		if !errors.Is(err, errInjected) {
			t.Fatalf("read fault %d: query returned %q and error %v", k, got, err)
		}
		if c := sqlstate.CodeOf(err); c != sqlstate.IOError {
			t.Fatalf("read fault %d: error %v has code %s, want %s", k, err, c, sqlstate.IOError)
		}
	}
}
