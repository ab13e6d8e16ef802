package oltp

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cockroachdb/pebble/v2"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// encodeAhead encodes rows for tbl and writes the body ahead
// (Store.WriteBody); the caller releases the result.
func encodeAhead(t testing.TB, s *Store, tbl *catalog.Table, rows ...[]any) *EncodedBatch {
	t.Helper()
	rec := makeRecord(t, memory.DefaultAllocator, tbl, rows...)
	defer rec.Release()
	b, err := s.EncodeBatch(tbl, rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteBody(b, s.NewSegmentID()); err != nil {
		b.Release()
		t.Fatal(err)
	}
	return b
}

// bodyKeys counts the markers of bodies written ahead and the batch entry
// bodies of tbl that no header names, in the latest state.
func bodyKeys(t testing.TB, s *Store, tbl *catalog.Table) (markers, orphans int) {
	t.Helper()
	count := func(lo, hi []byte, f func(k []byte)) {
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
		if err != nil {
			t.Fatal(err)
		}
		for it.First(); it.Valid(); it.Next() {
			f(it.Key())
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
	}
	count([]byte{tagAhead}, []byte{tagAhead + 1}, func([]byte) { markers++ })
	lo := append(appendTablePrefix(nil, tbl.ID), subBatchBody)
	hi := append(appendTablePrefix(nil, tbl.ID), subBatchBody+1)
	count(lo, hi, func(k []byte) {
		id := batchBodyKey(tbl.ID, 0)
		copy(id[len(id)-8:], k[len(k)-8:])
		hdr := batchKey(tbl.ID, 0)
		copy(hdr[len(hdr)-8:], k[len(k)-8:])
		if _, closer, err := s.db.Get(hdr); err == nil {
			closer.Close()
		} else {
			orphans++
		}
	})
	return markers, orphans
}

func wantNoAhead(t testing.TB, s *Store, tbl *catalog.Table) {
	t.Helper()
	if markers, orphans := bodyKeys(t, s, tbl); markers != 0 || orphans != 0 {
		t.Fatalf("%d markers of bodies written ahead and %d bodies without a header left", markers, orphans)
	}
}

// TestWriteBody: a body written ahead is read like any other once its
// transaction commits, and leaves nothing behind when the transaction
// rolls back, when no transaction takes it, when the insert fails, and
// when the store closes (or crashes) before a commit took it.
func TestWriteBody(t *testing.T) {
	ctx := context.Background()
	s, fs := openMem(t, &Options{BulkMinRows: -1})
	users := usersTable(s.NextTableID())
	create(t, s, users)
	logT := logTable(s.NextTableID())
	create(t, s, logT)

	// Committed: the rows read back, in the Txn before its commit too.
	tx := s.Begin()
	for _, tbl := range []*catalog.Table{users, logT} {
		rows := userRows(1, 2, 3)
		if tbl == logT {
			rows = [][]any{{"a"}, {"b"}}
		}
		b := encodeAhead(t, s, tbl, rows...)
		if markers, _ := bodyKeys(t, s, tbl); markers == 0 {
			t.Fatal("no marker for a body written ahead")
		}
		if err := tx.InsertEncoded(ctx, tbl, b); err != nil {
			t.Fatal(err)
		}
		b.Release() // the Txn owns the body now
	}
	if got := scanAll(t, tx, users, []int{0, 1, 2}); len(got) != 3 {
		t.Fatalf("the Txn reads %d of its 3 rows", len(got))
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	wantRows(t, sorted(snapRows(t, s, users)), "1|u1|0.5", "2|u2|1", "3|u3|1.5")
	wantRows(t, sorted(snapRows(t, s, logT)), "a", "b")
	wantNoAhead(t, s, users)
	wantNoAhead(t, s, logT)

	// Rolled back.
	tx = s.Begin()
	b := encodeAhead(t, s, users, userRows(4, 5)...)
	if err := tx.InsertEncoded(ctx, users, b); err != nil {
		t.Fatal(err)
	}
	b.Release()
	tx.Rollback()
	wantNoAhead(t, s, users)

	// Taken by no Txn.
	encodeAhead(t, s, users, userRows(6)...).Release()
	wantNoAhead(t, s, users)

	// The insert fails (a duplicate key): the caller's Release drops it.
	tx = s.Begin()
	b = encodeAhead(t, s, users, userRows(2, 7)...)
	wantCode(t, tx.InsertEncoded(ctx, users, b), sqlstate.UniqueViolation, "(id)=(2)")
	b.Release()
	tx.Rollback()
	wantNoAhead(t, s, users)

	// The store closes with a body written ahead: Open drops it.
	pending := encodeAhead(t, s, users, userRows(8)...)
	if markers, orphans := bodyKeys(t, s, users); markers != 1 || orphans != 1 {
		t.Fatalf("%d markers, %d bodies without header; want 1, 1", markers, orphans)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	pending.Release() // after Close: nothing to do
	s, _ = openMem(t, &Options{FS: fs, BulkMinRows: -1})
	defer s.Close()
	wantNoAhead(t, s, users)
	wantRows(t, sorted(snapRows(t, s, users)), "1|u1|0.5", "2|u2|1", "3|u3|1.5")
	mustBulk(t, s, users, userRows(4)...)
	wantRows(t, sorted(snapRows(t, s, users)), "1|u1|0.5", "2|u2|1", "3|u3|1.5", "4|u4|2")
}
