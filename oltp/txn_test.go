package oltp

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/lockmgr"
)

// keyOf returns the storage key of the row with primary key id in users.
func keyOf(t testing.TB, s *Store, tbl *catalog.Table, id int) *array.Binary {
	t.Helper()
	rec := makeRecord(t, memory.DefaultAllocator, tbl, []any{id, "k", nil})
	defer rec.Release()
	tx := &Txn{s: s}
	tx.cols = make([]colReader, len(tbl.Columns))
	for i := range tbl.Columns {
		if err := tx.cols[i].reset(tbl.Columns[i].Type, rec.Column(i)); err != nil {
			t.Fatal(err)
		}
	}
	b := array.NewBinaryBuilder(memory.DefaultAllocator, arrow.BinaryTypes.Binary)
	defer b.Release()
	b.Append(tx.appendPK(nil, tbl, 0))
	return b.NewBinaryArray()
}

// update sets row id of users to (id, name, score) in tx.
func update(t testing.TB, tx *Txn, tbl *catalog.Table, id int, name string) error {
	t.Helper()
	keys := keyOf(t, tx.s, tbl, id)
	defer keys.Release()
	rec := makeRecord(t, memory.DefaultAllocator, tbl, []any{id, name, nil})
	defer rec.Release()
	return tx.Update(context.Background(), tbl, keys, rec)
}

func commitUpdate(t testing.TB, s *Store, tbl *catalog.Table, id int, name string) {
	t.Helper()
	tx := s.Begin()
	if err := update(t, tx, tbl, id, name); err != nil {
		tx.Rollback()
		t.Fatal(err)
	}
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestTxnConflict: a write to a row changed since the Txn's snapshot fails
// with 40001, also when the row was changed back to the same values (ABA).
func TestTxnConflict(t *testing.T) {
	for _, aba := range []bool{false, true} {
		s, _ := openMem(t, nil)
		users := usersTable(1)
		create(t, s, users)
		mustInsert(t, s, users, []any{1, "a", nil})
		tx := s.Begin()
		commitUpdate(t, s, users, 1, "b")
		if aba {
			commitUpdate(t, s, users, 1, "a")
		}
		err := update(t, tx, users, 1, "c")
		wantCode(t, err, sqlstate.SerializationFailure, "concurrent update")
		if !errors.Is(err, ErrConflict) {
			t.Errorf("aba=%v: %v does not wrap ErrConflict", aba, err)
		}
		tx.Rollback()
		want := "1|b|(null)"
		if aba {
			want = "1|a|(null)"
		}
		if got := strings.Join(snapRows(t, s, users), ","); got != want {
			t.Errorf("aba=%v: rows %s, want %s", aba, got, want)
		}
		s.Close()
	}
}

// TestTxnInsertConflict: inserting a key that a concurrent transaction
// committed after the snapshot is a conflict (40001), inserting one the
// snapshot holds a duplicate (23505).
func TestTxnInsertConflict(t *testing.T) {
	s, _ := openMem(t, nil)
	defer s.Close()
	users := usersTable(1)
	create(t, s, users)
	mustInsert(t, s, users, []any{1, "a", nil})
	ins := func(tx *Txn, id int) error {
		rec := makeRecord(t, memory.DefaultAllocator, users, []any{id, "x", nil})
		defer rec.Release()
		return tx.Insert(context.Background(), users, rec)
	}
	tx := s.Begin()
	mustInsert(t, s, users, []any{9, "late", nil})
	wantCode(t, ins(tx, 9), sqlstate.SerializationFailure, "users")
	tx.Rollback()
	tx = s.Begin()
	wantCode(t, ins(tx, 1), sqlstate.UniqueViolation, "(id)=(1)")
	tx.Rollback()
}

// TestTxnScanMerge: a Txn's scan is its snapshot merged with its own
// writes, in key order; writes after the scan opened are not in it.
func TestTxnScanMerge(t *testing.T) {
	s, _ := openMem(t, nil)
	defer s.Close()
	users := usersTable(1)
	create(t, s, users)
	mustInsert(t, s, users, []any{1, "a", nil}, []any{3, "c", nil}, []any{5, "e", nil})
	tx := s.Begin()
	defer tx.Rollback()
	mustInsert(t, s, users, []any{4, "late", nil}) // after the snapshot
	rec := makeRecord(t, memory.DefaultAllocator, users, []any{2, "b", nil}, []any{6, "f", nil})
	if err := tx.Insert(context.Background(), users, rec); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	k3 := keyOf(t, s, users, 3)
	if err := tx.Delete(context.Background(), users, k3); err != nil {
		t.Fatal(err)
	}
	k3.Release()
	if err := update(t, tx, users, 5, "E"); err != nil {
		t.Fatal(err)
	}
	sc, err := tx.Scan(users, []int{0, 1}, false)
	if err != nil {
		t.Fatal(err)
	}
	// Written while sc is open: 1 is updated, 7 inserted. sc reads the
	// snapshot's 1 and no 7.
	if err := update(t, tx, users, 1, "A"); err != nil {
		t.Fatal(err)
	}
	rec = makeRecord(t, memory.DefaultAllocator, users, []any{7, "g", nil})
	if err := tx.Insert(context.Background(), users, rec); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	var got []string
	for sc.Next() {
		r := sc.Record()
		for i := 0; i < int(r.NumRows()); i++ {
			got = append(got, r.Column(0).ValueStr(i)+r.Column(1).ValueStr(i))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	sc.Close()
	if s := strings.Join(got, ","); s != "1a,2b,5E,6f" {
		t.Errorf("open scan saw %s, want 1a,2b,5E,6f", s)
	}
	if s := strings.Join(scanAll(t, tx, users, []int{0, 1}), ","); s != "1|A,2|b,5|E,6|f,7|g" {
		t.Errorf("new scan saw %s", s)
	}
}

// TestTxnLocks: row writes hold row X under table IX; after EscalateRows
// row locks the table is locked X; a second writer of a locked row waits
// and gives up with its context.
func TestTxnLocks(t *testing.T) {
	s, _ := openMem(t, &Options{EscalateRows: 3})
	defer s.Close()
	users := usersTable(1)
	create(t, s, users)
	mustInsert(t, s, users, []any{1, "a", nil}, []any{2, "b", nil})
	tx := s.Begin()
	defer tx.Rollback()
	if err := update(t, tx, users, 1, "x"); err != nil {
		t.Fatal(err)
	}
	modes := func() map[string]string {
		m := map[string]string{}
		for _, li := range s.Locks().Snapshot() {
			if li.Txn == lockmgr.TxnID(tx.ID()) && li.Granted {
				m[li.Resource.Level.String()] += li.Mode.String()
			}
		}
		return m
	}
	if m := modes(); m["table"] != "IX" || m["row"] != "X" {
		t.Errorf("locks after one update: %v, want table IX and row X", m)
	}
	other := s.Begin()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	err := func() error {
		keys := keyOf(t, s, users, 1)
		defer keys.Release()
		return other.Delete(ctx, users, keys)
	}()
	cancel()
	wantCode(t, err, sqlstate.QueryCanceled, "")
	other.Rollback()
	rec := makeRecord(t, memory.DefaultAllocator, users, []any{3, "c", nil}, []any{4, "d", nil}, []any{5, "e", nil})
	defer rec.Release()
	if err := tx.Insert(context.Background(), users, rec); err != nil {
		t.Fatal(err)
	}
	if m := modes(); m["table"] != "X" {
		t.Errorf("locks after %d row locks: %v, want table X", 4, m)
	}
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Locks().Snapshot()); n != 0 {
		t.Errorf("%d locks left after commit", n)
	}
}
