package oltp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// TestCrash runs concurrent committers, simulates a crash at an arbitrary
// instant with a crash clone of the file system (losing a random part of
// every unsynced write) and checks after recovery that every acknowledged
// transaction survived, no transaction is partially visible and an open
// transaction left no trace.
func TestCrash(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		fs := vfs.NewCrashableMem()
		s, _ := openMem(t, &Options{FS: fs})
		users := usersTable(s.NextTableID())
		create(t, s, users)

		// An open transaction at crash time (on another table: it holds
		// that table's write lock until it ends).
		other := usersTable(s.NextTableID())
		other.Name = "other"
		create(t, s, other)
		open := s.Begin()
		rec := makeRecord(t, memory.DefaultAllocator, other, []any{-1, "open", nil})
		if err := open.Insert(context.Background(), other, rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()

		const writers = 4
		var (
			mu    sync.Mutex
			acked []int
			stop  atomic.Bool
			wg    sync.WaitGroup
			next  atomic.Int64
		)
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					id := int(next.Add(1))
					// Each transaction writes two rows: id and id+1e6.
					if err := insert(t, s, users, []any{id, "a", nil}, []any{id + 1e6, "b", nil}); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				}
			}()
		}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
			mu.Lock()
			n := len(acked)
			mu.Unlock()
			if n >= 50 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("only %d commits in 30s", n)
			}
		}
		mu.Lock()
		durable := append([]int(nil), acked...)
		mu.Unlock()
		rng := rand.New(rand.NewPCG(seed, 0))
		crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rng})
		stop.Store(true)
		wg.Wait()
		open.Rollback()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}

		s2, err := Open("db", &Options{FS: crashed})
		if err != nil {
			t.Fatal(err)
		}
		present := map[string]bool{}
		for _, r := range snapRows(t, s2, users) {
			present[strings.SplitN(r, "|", 2)[0]] = true
		}
		for _, id := range durable {
			if !present[itoa(id)] || !present[itoa(id+1e6)] {
				t.Errorf("seed %d: acknowledged transaction %d lost", seed, id)
			}
		}
		if rows := snapRows(t, s2, other); len(rows) != 0 {
			t.Errorf("seed %d: uncommitted rows visible after crash: %q", seed, rows)
		}
		for id := 1; id <= int(next.Load()); id++ {
			if present[itoa(id)] != present[itoa(id+1e6)] {
				t.Errorf("seed %d: transaction %d partially visible", seed, id)
			}
		}
		t.Logf("seed %d: %d acknowledged before crash, %d rows recovered", seed, len(durable), len(present))
		if err := s2.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFsyncFailure: a failed WAL sync fails the commit and every later
// write, even once the disk works again.
func TestFsyncFailure(t *testing.T) {
	var failing atomic.Bool
	inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
		if failing.Load() && strings.HasSuffix(op.Path, ".log") &&
			(op.Kind == errorfs.OpFileSync || op.Kind == errorfs.OpFileSyncData || op.Kind == errorfs.OpFileSyncTo) {
			return errors.New("injected fsync failure")
		}
		return nil
	})
	s, _ := openMem(t, &Options{FS: errorfs.Wrap(vfs.NewMem(), inj), Logger: slog.New(slog.DiscardHandler)})
	users := usersTable(1)
	create(t, s, users)
	mustInsert(t, s, users, []any{1, "a", nil})
	failing.Store(true)
	err := insert(t, s, users, []any{2, "b", nil})
	wantCode(t, err, sqlstate.IOError, "injected fsync failure")
	failing.Store(false)
	for _, err := range []error{
		insert(t, s, users, []any{3, "c", nil}),
		s.CreateTable(context.Background(), usersTable(2)),
		s.Err(),
	} {
		if !errors.Is(err, ErrStoreFailed) {
			t.Errorf("after fsync failure: %v, want ErrStoreFailed", err)
		}
	}
	_ = s.Close()
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestCrashBatches is TestCrash for batch entries: concurrent bulk
// inserts into a table with a primary key and one without, a crash at an
// arbitrary instant, and after recovery every acknowledged batch is there
// whole and no batch is partially visible.
//
// With ahead, the bodies are written ahead of their transactions
// (Store.WriteBody, as the root's ingest does), every fifth transaction
// rolls back after writing its bodies, and after recovery no body that no
// commit took is left.
func TestCrashBatches(t *testing.T) {
	for _, ahead := range []bool{false, true} {
		t.Run(fmt.Sprintf("ahead=%v", ahead), func(t *testing.T) { testCrashBatches(t, ahead) })
	}
}

func testCrashBatches(t *testing.T, ahead bool) {
	for seed := uint64(1); seed <= 2; seed++ {
		fs := vfs.NewCrashableMem()
		s, _ := openMem(t, &Options{FS: fs, BulkMinRows: -1})
		users := usersTable(s.NextTableID())
		create(t, s, users)
		logT := logTable(s.NextTableID())
		create(t, s, logT)
		var (
			mu    sync.Mutex
			acked []int
			stop  atomic.Bool
			wg    sync.WaitGroup
			next  atomic.Int64
		)
		for w := 0; w < 3; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					id := int(next.Add(1))
					tag := "b" + itoa(id)
					urec := makeRecord(t, memory.DefaultAllocator, users,
						[]any{id + 2e6, "c", nil}, []any{id, "a", nil}, []any{id + 1e6, "b", nil})
					lrec := makeRecord(t, memory.DefaultAllocator, logT, []any{tag}, []any{tag})
					tx := s.Begin()
					insert := tx.InsertBatch
					if ahead {
						insert = func(ctx context.Context, tbl *catalog.Table, rec arrow.RecordBatch) error {
							b, err := s.EncodeBatch(tbl, rec)
							if err != nil {
								return err
							}
							defer b.Release()
							if err := s.WriteBody(b, s.NewSegmentID()); err != nil {
								return err
							}
							return tx.InsertEncoded(ctx, tbl, b)
						}
					}
					err := insert(context.Background(), users, urec)
					if err == nil {
						err = insert(context.Background(), logT, lrec)
					}
					rollback := ahead && id%5 == 0
					if err == nil && !rollback {
						err = tx.Commit(context.Background())
					} else {
						tx.Rollback()
					}
					urec.Release()
					lrec.Release()
					if err != nil {
						t.Error(err)
						return
					}
					if rollback {
						continue
					}
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				}
			}()
		}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
			mu.Lock()
			n := len(acked)
			mu.Unlock()
			if n >= 30 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("only %d commits in 30s", n)
			}
		}
		mu.Lock()
		durable := append([]int(nil), acked...)
		mu.Unlock()
		rng := rand.New(rand.NewPCG(seed, 1))
		crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rng})
		stop.Store(true)
		wg.Wait()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}

		s2, err := Open("db", &Options{FS: crashed})
		if err != nil {
			t.Fatal(err)
		}
		present := map[string]bool{}
		for _, r := range snapRows(t, s2, users) {
			present[strings.SplitN(r, "|", 2)[0]] = true
		}
		logs := map[string]int{}
		for _, r := range snapRows(t, s2, logT) {
			logs[r]++
		}
		for _, id := range durable {
			if !present[itoa(id)] || logs["b"+itoa(id)] != 2 {
				t.Errorf("seed %d: acknowledged transaction %d lost", seed, id)
			}
		}
		for id := 1; id <= int(next.Load()); id++ {
			n := 0
			for _, k := range []int{id, id + 1e6, id + 2e6} {
				if present[itoa(k)] {
					n++
				}
			}
			if n%3 != 0 || (n == 3) != (logs["b"+itoa(id)] == 2) || logs["b"+itoa(id)]%2 != 0 {
				t.Errorf("seed %d: transaction %d partially visible", seed, id)
			}
		}
		wantNoAhead(t, s2, users)
		wantNoAhead(t, s2, logT)
		t.Logf("seed %d: %d acknowledged before crash, %d rows recovered", seed, len(durable), len(present))
		if err := s2.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
