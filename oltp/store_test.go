package oltp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/lockmgr"
)

// usersTable: id INT PRIMARY KEY, name VARCHAR(5) NOT NULL, score DOUBLE.
func usersTable(id uint64) *catalog.Table {
	return finished(&catalog.Table{ID: id, Name: "users", Version: 1, PrimaryKey: []int{0}, Columns: []catalog.Column{
		{Name: "id", Type: catalog.Int},
		{Name: "name", Type: catalog.Type{Kind: catalog.KindVarchar, Length: 5}, NotNull: true},
		{Name: "score", Type: catalog.Double},
	}})
}

// logTable has no primary key: rows get hidden row ids.
func logTable(id uint64) *catalog.Table {
	return finished(&catalog.Table{ID: id, Name: "log", Version: 1, Columns: []catalog.Column{
		{Name: "msg", Type: catalog.Varchar},
	}})
}

func create(t testing.TB, s *Store, tbl *catalog.Table) {
	t.Helper()
	if err := s.CreateTable(context.Background(), tbl); err != nil {
		t.Fatal(err)
	}
}

// insert runs one Insert in its own Txn and commits it.
func insert(t testing.TB, s *Store, tbl *catalog.Table, rows ...[]any) error {
	t.Helper()
	rec := makeRecord(t, memory.DefaultAllocator, tbl, rows...)
	defer rec.Release()
	tx := s.Begin()
	if err := tx.Insert(context.Background(), tbl, rec); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit(context.Background())
}

func mustInsert(t testing.TB, s *Store, tbl *catalog.Table, rows ...[]any) {
	t.Helper()
	if err := insert(t, s, tbl, rows...); err != nil {
		t.Fatal(err)
	}
}

func snapRows(t testing.TB, s *Store, tbl *catalog.Table) []string {
	t.Helper()
	sn := s.Snapshot()
	defer sn.Close()
	cols := make([]int, len(tbl.Columns))
	for i := range cols {
		cols[i] = i
	}
	return scanAll(t, sn, tbl, cols)
}

func wantRows(t testing.TB, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("rows:\n got %q\nwant %q", got, want)
	}
}

func wantCode(t testing.TB, err error, code sqlstate.Code, msgPart string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", code)
	}
	if got := sqlstate.CodeOf(err); got != code {
		t.Fatalf("error %v has code %s, want %s", err, got, code)
	}
	if !strings.Contains(err.Error(), msgPart) {
		t.Fatalf("error %q does not mention %q", err, msgPart)
	}
}

// keysOf returns the storage keys of t's rows in scan order.
func keysOf(t testing.TB, s *Store, tbl *catalog.Table) *array.Binary {
	t.Helper()
	sn := s.Snapshot()
	defer sn.Close()
	sc, err := sn.Scan(tbl, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	b := array.NewBinaryBuilder(memory.DefaultAllocator, arrow.BinaryTypes.Binary)
	defer b.Release()
	for sc.Next() {
		k := sc.Record().Column(0).(*array.Binary)
		for i := 0; i < k.Len(); i++ {
			b.Append(k.Value(i))
		}
	}
	if sc.Err() != nil {
		t.Fatal(sc.Err())
	}
	return b.NewBinaryArray()
}

func TestScan(t *testing.T) {
	mem := checkedAlloc(t)
	s, _ := openMem(t, &Options{Allocator: mem, BatchSize: 3})
	defer s.Close()
	tbl := allTypesTable(1)
	create(t, s, tbl)
	var rows [][]any
	for i := 9; i >= 0; i-- { // inserted out of order, scanned in key order
		rows = append(rows, []any{i - 5, i%2 == 0, i, i * 10, float64(i) / 2, float64(i), i * 100, fmt.Sprint("v", i), i, i * 1000})
	}
	rows[3][7] = nil
	mustInsert(t, s, tbl, rows...)

	sn := s.Snapshot()
	defer sn.Close()
	for _, tc := range []struct {
		name    string
		cols    []int
		withKey bool
	}{
		{"all", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, false},
		{"projection", []int{7, 0}, false},
		{"projection+key", []int{3}, true},
		{"count", nil, false},
		{"count+key", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := sn.Scan(tbl, tc.cols, tc.withKey)
			if err != nil {
				t.Fatal(err)
			}
			defer sc.Close()
			var sizes []int64
			var ids []int64
			var prevKey []byte
			for sc.Next() {
				rec := sc.Record()
				if !rec.Schema().Equal(sc.Schema()) {
					t.Fatalf("batch schema %v != scanner schema %v", rec.Schema(), sc.Schema())
				}
				sizes = append(sizes, rec.NumRows())
				nf := len(tc.cols)
				if tc.withKey {
					nf++
					if f := rec.Schema().Field(nf - 1); f.Name != KeyField || f.Type.ID() != arrow.BINARY {
						t.Fatalf("last field %v", f)
					}
					k := rec.Column(nf - 1).(*array.Binary)
					for i := 0; i < k.Len(); i++ {
						if string(k.Value(i)) <= string(prevKey) {
							t.Fatalf("keys not increasing")
						}
						prevKey = append(prevKey[:0], k.Value(i)...)
						if found, err := sn.Get(tbl, k.Value(i)); err != nil || !found {
							t.Fatalf("Get(scanned key) = %v, %v", found, err)
						}
					}
				}
				if int(rec.NumCols()) != nf {
					t.Fatalf("batch has %d columns, want %d", rec.NumCols(), nf)
				}
				for j, c := range tc.cols {
					if rec.Schema().Field(j).Name != tbl.Columns[c].Name {
						t.Fatalf("field %d is %s, want %s", j, rec.Schema().Field(j).Name, tbl.Columns[c].Name)
					}
					if c == 0 {
						ids = append(ids, rec.Column(j).(*array.Int64).Int64Values()...)
					}
				}
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(sizes, []int64{3, 3, 3, 1}) {
				t.Errorf("batch sizes %v, want [3 3 3 1]", sizes)
			}
			if ids != nil && !slices.Equal(ids, []int64{-5, -4, -3, -2, -1, 0, 1, 2, 3, 4}) {
				t.Errorf("ids %v not in key order", ids)
			}
			if sc.Next() {
				t.Error("Next after end returned true")
			}
		})
	}
	got := scanAll(t, sn, tbl, []int{7, 0})
	if got[9] != "v9|4" || got[3] != "v3|-2" || !strings.HasPrefix(got[6], "(null)") {
		t.Errorf("projected rows %q", got)
	}

	// The snapshot does not see later commits.
	mustInsert(t, s, tbl, []any{100, nil, nil, nil, nil, nil, nil, nil, nil, nil})
	if n := len(scanAll(t, sn, tbl, []int{0})); n != 10 {
		t.Errorf("snapshot sees %d rows after a later commit, want 10", n)
	}
	if n := len(snapRows(t, s, tbl)); n != 11 {
		t.Errorf("new snapshot sees %d rows, want 11", n)
	}
	// Empty table.
	empty := usersTable(2)
	create(t, s, empty)
	wantRows(t, snapRows(t, s, empty))
}

func TestInsertErrors(t *testing.T) {
	s, _ := openMem(t, nil)
	defer s.Close()
	users := usersTable(1)
	create(t, s, users)
	mustInsert(t, s, users, []any{1, "ann", 1.5})

	t.Run("duplicate committed", func(t *testing.T) {
		err := insert(t, s, users, []any{2, "bob", nil}, []any{1, "again", nil})
		wantCode(t, err, sqlstate.UniqueViolation, "Key (id)=(1) already exists")
	})
	t.Run("duplicate in batch", func(t *testing.T) {
		err := insert(t, s, users, []any{3, "c", nil}, []any{3, "c2", nil})
		wantCode(t, err, sqlstate.UniqueViolation, "(id)=(3)")
	})
	t.Run("duplicate across statements", func(t *testing.T) {
		tx := s.Begin()
		defer tx.Rollback()
		r1 := makeRecord(t, memory.DefaultAllocator, users, []any{4, "d", nil})
		defer r1.Release()
		if err := tx.Insert(context.Background(), users, r1); err != nil {
			t.Fatal(err)
		}
		wantCode(t, tx.Insert(context.Background(), users, r1), sqlstate.UniqueViolation, "(id)=(4)")
		// The Txn is unusable now.
		wantCode(t, tx.Insert(context.Background(), users, r1), sqlstate.InvalidTxnState, "aborted")
		wantCode(t, tx.Commit(context.Background()), sqlstate.InvalidTxnState, "aborted")
	})
	t.Run("not null", func(t *testing.T) {
		err := insert(t, s, users, []any{5, nil, 1.0})
		wantCode(t, err, sqlstate.NotNullViolation, `column "name"`)
		err = insert(t, s, users, []any{nil, "x", 1.0})
		wantCode(t, err, sqlstate.NotNullViolation, `column "id"`)
	})
	t.Run("varchar length", func(t *testing.T) {
		err := insert(t, s, users, []any{6, "toolong", nil})
		wantCode(t, err, sqlstate.StringDataTooLong, "character varying(5)")
		// Five characters in more than five bytes fit.
		mustInsert(t, s, users, []any{7, "ééééé", nil})
	})
	t.Run("types", func(t *testing.T) {
		rec := makeRecord(t, memory.DefaultAllocator, logTable(9), []any{"x"})
		defer rec.Release()
		tx := s.Begin()
		defer tx.Rollback()
		wantCode(t, tx.Insert(context.Background(), users, rec), sqlstate.DatatypeMismatch, "columns")
	})
	// Nothing of the failed statements was written.
	wantRows(t, snapRows(t, s, users), "1|ann|1.5", "7|ééééé|(null)")
}

func TestUpdateDelete(t *testing.T) {
	s, _ := openMem(t, nil)
	defer s.Close()
	users := usersTable(1)
	create(t, s, users)
	mustInsert(t, s, users, []any{1, "a", 1.0}, []any{2, "b", 2.0}, []any{3, "c", 3.0}, []any{10, "z", nil})
	ctx := context.Background()

	update := func(keys *array.Binary, rows ...[]any) error {
		rec := makeRecord(t, memory.DefaultAllocator, users, rows...)
		defer rec.Release()
		tx := s.Begin()
		if err := tx.Update(context.Background(), users, keys, rec); err != nil {
			tx.Rollback()
			return err
		}
		return tx.Commit(ctx)
	}
	slice := func(k *array.Binary, i, j int) *array.Binary {
		return array.NewSlice(k, int64(i), int64(j)).(*array.Binary)
	}

	// In place.
	keys := keysOf(t, s, users)
	if err := update(slice(keys, 0, 1), []any{1, "aa", nil}); err != nil {
		t.Fatal(err)
	}
	wantRows(t, snapRows(t, s, users), "1|aa|(null)", "2|b|2", "3|c|3", "10|z|(null)")

	// Shift keys: id = id + 1 over 1..3; rows moved by the statement do not
	// conflict with each other.
	if err := update(slice(keys, 0, 3), []any{2, "aa", nil}, []any{3, "b", 2.0}, []any{4, "c", 3.0}); err != nil {
		t.Fatal(err)
	}
	wantRows(t, snapRows(t, s, users), "2|aa|(null)", "3|b|2", "4|c|3", "10|z|(null)")

	// Moving onto a row the statement does not move conflicts.
	keys.Release()
	keys = keysOf(t, s, users)
	defer keys.Release()
	err := update(slice(keys, 0, 1), []any{10, "x", nil})
	wantCode(t, err, sqlstate.UniqueViolation, "(id)=(10)")
	// Two rows moved onto the same key conflict.
	err = update(slice(keys, 0, 2), []any{20, "x", nil}, []any{20, "y", nil})
	wantCode(t, err, sqlstate.UniqueViolation, "(id)=(20)")
	// Update checks NOT NULL and lengths too.
	wantCode(t, update(slice(keys, 0, 1), []any{2, nil, nil}), sqlstate.NotNullViolation, "name")
	wantCode(t, update(slice(keys, 0, 1), []any{2, "123456", nil}), sqlstate.StringDataTooLong, "name")
	wantRows(t, snapRows(t, s, users), "2|aa|(null)", "3|b|2", "4|c|3", "10|z|(null)")

	// Keys of another table are refused.
	other := usersTable(2)
	create(t, s, other)
	tx := s.Begin()
	if err := tx.Delete(context.Background(), other, keys); err == nil {
		t.Fatal("Delete accepted keys of another table")
	}
	tx.Rollback()

	// Delete, then roll back: nothing changes.
	tx = s.Begin()
	if err := tx.Delete(context.Background(), users, slice(keys, 1, 3)); err != nil {
		t.Fatal(err)
	}
	// The Txn sees its own writes.
	wantRows(t, scanAll(t, tx, users, []int{0}), "2", "10")
	tx.Rollback()
	tx.Rollback() // idempotent
	wantRows(t, snapRows(t, s, users), "2|aa|(null)", "3|b|2", "4|c|3", "10|z|(null)")

	tx = s.Begin()
	if err := tx.Delete(context.Background(), users, slice(keys, 1, 3)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); !errors.Is(err, ErrTxnDone) {
		t.Fatalf("second Commit: %v", err)
	}
	wantRows(t, snapRows(t, s, users), "2|aa|(null)", "10|z|(null)")
	// A deleted key may be inserted again.
	mustInsert(t, s, users, []any{3, "again", nil})
	wantRows(t, snapRows(t, s, users), "2|aa|(null)", "3|again|(null)", "10|z|(null)")
}

func TestCompositeKeyAndHiddenRowID(t *testing.T) {
	s, _ := openMem(t, nil)
	defer s.Close()
	tbl := finished(&catalog.Table{ID: 3, Name: "c", Version: 1, PrimaryKey: []int{1, 0}, Columns: []catalog.Column{
		{Name: "n", Type: catalog.Int}, {Name: "s", Type: catalog.Varchar},
	}})
	create(t, s, tbl)
	mustInsert(t, s, tbl, []any{2, "a"}, []any{1, "a\x00"}, []any{1, "a"}, []any{0, "b"})
	wantRows(t, snapRows(t, s, tbl), "1|a", "2|a", "1|a\x00", "0|b")
	wantCode(t, insert(t, s, tbl, []any{2, "a"}), sqlstate.UniqueViolation, "Key (s, n)=(a, 2)")

	lg := logTable(4)
	create(t, s, lg)
	mustInsert(t, s, lg, []any{"x"}, []any{"x"})
	mustInsert(t, s, lg, []any{"y"})
	wantRows(t, snapRows(t, s, lg), "x", "x", "y")
}

func TestPersistence(t *testing.T) {
	fs := vfs.NewMem()
	s, _ := openMem(t, &Options{FS: fs})
	users := usersTable(s.NextTableID())
	create(t, s, users)
	lg := logTable(s.NextTableID())
	create(t, s, lg)
	dropped := usersTable(s.NextTableID())
	dropped.Name = "dropped"
	create(t, s, dropped)
	mustInsert(t, s, users, []any{1, "a", 1.0})
	mustInsert(t, s, lg, []any{"one"}, []any{"two"})
	mustInsert(t, s, dropped, []any{1, "gone", nil})
	lgKeys := keysOf(t, s, lg)
	defer lgKeys.Release()
	// Delete the last hidden row: its id must not be reused after restart.
	tx := s.Begin()
	if err := tx.Delete(context.Background(), lg, array.NewSlice(lgKeys, 1, 2).(*array.Binary)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.DropTable(context.Background(), dropped); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open("db", &Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tables, err := s.LoadTables()
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) != 2 || tables[0].Name != "users" || tables[1].Name != "log" || !tables[0].Columns[0].NotNull {
		t.Fatalf("tables after reopen: %+v", tables)
	}
	if id := s.NextTableID(); id <= dropped.ID {
		t.Errorf("NextTableID %d reuses the ID of dropped table %d", id, dropped.ID)
	}
	wantRows(t, snapRows(t, s, users), "1|a|1")
	wantRows(t, snapRows(t, s, dropped))
	mustInsert(t, s, lg, []any{"three"})
	wantRows(t, snapRows(t, s, lg), "one", "three")
	keys := keysOf(t, s, lg)
	defer keys.Release()
	if string(keys.Value(1)) <= string(lgKeys.Value(1)) {
		t.Errorf("hidden row id reused after restart: %x <= %x", keys.Value(1), lgKeys.Value(1))
	}
}

func TestFormatVersion(t *testing.T) {
	fs := vfs.NewMem()
	s, _ := openMem(t, &Options{FS: fs})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := pebble.Open("db", &pebble.Options{FS: fs, Logger: pebbleLogger{slog.New(slog.DiscardHandler)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set(formatKey, []byte{FormatVersion + 1}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open("db", &Options{FS: fs}); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a newer format: %v", err)
	}
}

func TestDropTableLocks(t *testing.T) {
	s, _ := openMem(t, nil)
	defer s.Close()
	users := usersTable(1)
	create(t, s, users)
	ctx := context.Background()
	tx := s.Begin()
	if err := tx.LockTable(ctx, users, lockmgr.IntentExclusive); err != nil {
		t.Fatal(err)
	}
	// Drop waits for the lock; a canceled wait fails with 57014.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	wantCode(t, s.DropTable(cctx, users), sqlstate.QueryCanceled, "")
	done := make(chan error)
	go func() { done <- s.DropTable(ctx, users) }()
	tx.Rollback()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Writers of the dropped table fail instead of writing orphan rows.
	wantCode(t, insert(t, s, users, []any{1, "a", nil}), sqlstate.UndefinedTable, "dropped")
}

func TestConcurrentInserts(t *testing.T) {
	s, _ := openMem(t, nil)
	defer s.Close()
	users := usersTable(1)
	lg := logTable(2)
	create(t, s, users)
	create(t, s, lg)
	const workers, perWorker = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				id := w*perWorker + i
				if err := insert(t, s, users, []any{id, "u", nil}); err != nil {
					errs <- err
					return
				}
				if err := insert(t, s, lg, []any{fmt.Sprint(id)}); err != nil {
					errs <- err
					return
				}
				// Everyone also races on one shared key: exactly one wins.
				// A loser whose snapshot predates the winner's commit gets
				// 40001 (retryable; the root retries single statements),
				// a later one 23505.
				err := insert(t, s, users, []any{-1, "race", nil})
				if code := sqlstate.CodeOf(err); err != nil && code != sqlstate.UniqueViolation && code != sqlstate.SerializationFailure {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := len(snapRows(t, s, users)); n != workers*perWorker+1 {
		t.Errorf("users has %d rows, want %d", n, workers*perWorker+1)
	}
	msgs := snapRows(t, s, lg)
	slices.Sort(msgs)
	if len(slices.Compact(msgs)) != workers*perWorker {
		t.Errorf("log has %d distinct rows, want %d", len(msgs), workers*perWorker)
	}
}

func TestClosed(t *testing.T) {
	s, _ := openMem(t, nil)
	users := usersTable(1)
	create(t, s, users)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	tx := s.Begin()
	rec := makeRecord(t, memory.DefaultAllocator, users, []any{1, "a", nil})
	defer rec.Release()
	if err := tx.Insert(context.Background(), users, rec); !errors.Is(err, ErrClosed) {
		t.Errorf("Insert on closed store: %v", err)
	}
	tx.Rollback()
	sn := s.Snapshot()
	if _, err := sn.Scan(users, nil, false); !errors.Is(err, ErrClosed) {
		t.Errorf("Scan on closed store: %v", err)
	}
	if err := s.CreateTable(context.Background(), usersTable(2)); !errors.Is(err, ErrClosed) {
		t.Errorf("CreateTable on closed store: %v", err)
	}
}

// TestWaitDurable checks that WaitDurable writes nothing while no commit
// is between apply and sync, and syncs the WAL behind the ones that are;
// and that readers waiting beside committing writers neither block nor
// fail.
func TestWaitDurable(t *testing.T) {
	s, _ := openMem(t, nil)
	defer s.Close()
	walBytes := func() uint64 { return s.db.Metrics().WAL.BytesIn }
	before := walBytes()
	if err := s.WaitDurable(); err != nil {
		t.Fatal(err)
	}
	if got := walBytes(); got != before {
		t.Fatalf("WaitDurable with no commit in flight wrote %d WAL bytes", got-before)
	}
	s.unsynced.Add(1) // a commit between apply and sync
	if err := s.WaitDurable(); err != nil {
		t.Fatal(err)
	}
	s.unsynced.Add(-1)
	if got := walBytes(); got == before {
		t.Fatal("WaitDurable with a commit in flight wrote no WAL record to sync")
	}

	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := s.writeSynced(ctx, func(b *pebble.Batch) error {
					return b.Set([]byte(fmt.Sprintf("wait-durable-%d-%d", w, i)), nil, nil)
				}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range 200 {
		if err := s.WaitDurable(); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if n := s.unsynced.Load(); n != 0 {
		t.Fatalf("unsynced = %d after every commit returned", n)
	}
}
