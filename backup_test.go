package mantisdb_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/segments"
)

// TestBackup takes a backup while transactions commit and the compactor
// compacts and merges: the backup opens as a database holding every row
// acknowledged before the backup started, segments included, and every
// transaction whole or not at all; a second backup into the same
// directory is refused with 58P02.
func TestBackup(t *testing.T) {
	ctx := context.Background()
	db, err := mantisdb.Open(t.TempDir(), &mantisdb.Options{CompactRows: 2000, CompactInterval: 5 * time.Millisecond, CompactSettle: -1,
		MergeSegments: 2, Segment: &segments.WriterOptions{RowGroupSize: 512}, BulkMinRows: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec(t, db, "create table t (k bigint primary key, v bigint, s varchar)")
	// Base rows: bulk ingests, compacted into segments, some deleted.
	for b := 0; b < 10; b++ {
		kv := map[int64]int64{}
		for i := 0; i < 1000; i++ {
			kv[int64(b*1000+i)] = int64(i)
		}
		if err := ingestKV(ctx, db, kv); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Compact(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	exec(t, db, "delete from t where k % 10 = 0")
	wantBase := query(t, db, "select count(*), sum(v) from t where k < 1000000")

	// Writers: each transaction inserts a pair of rows; acked counts the
	// pairs acknowledged.
	var acked atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := int64(1_000_000 + w*1_000_000 + 2*i)
				_, err := db.Exec(ctx, fmt.Sprintf("insert into t values (%d, 1, 'x'), (%d, 1, 'y')", k, k+1))
				if err != nil {
					t.Error(err)
					return
				}
				acked.Add(1)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	before := acked.Load()
	dir := filepath.Join(t.TempDir(), "backup")
	info, err := db.Backup(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	close(stop)
	wg.Wait()
	if info.Segments == 0 {
		t.Errorf("backup copied no segment: %+v", info)
	}
	_, err = db.Backup(ctx, dir)
	var se *sqlstate.Error
	if !errors.As(err, &se) || se.Code != sqlstate.DuplicateFile {
		t.Errorf("backup into an existing directory: %v, want 58P02", err)
	}

	bk, err := mantisdb.Open(dir, &mantisdb.Options{CompactInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Close()
	if got := query(t, bk, "select count(*), sum(v) from t where k < 1000000"); fmt.Sprint(got) != fmt.Sprint(wantBase) {
		t.Errorf("base rows in the backup: %v, want %v", got, wantBase)
	}
	var pairs int64
	if _, err := fmt.Sscan(query(t, bk, "select count(*) from t where k >= 1000000")[0][0], &pairs); err != nil {
		t.Fatal(err)
	}
	if pairs%2 != 0 {
		t.Errorf("backup holds %d rows of two-row transactions: one is torn", pairs)
	}
	if pairs/2 < before {
		t.Errorf("backup holds %d transactions, %d were acknowledged before it started", pairs/2, before)
	}
	// The backup is a database of its own: it takes writes and compacts.
	exec(t, bk, "insert into t values (-1, 0, 'z')")
	if _, err := bk.Compact(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d transactions acknowledged before the backup, %d in it; %+v", before, pairs/2, info)
}

// TestBackupSameDirConcurrently starts two backups into one directory at
// once: one writes it, the other fails with 58P02 and leaves the first
// one's files alone, so the backup opens with every row.
func TestBackupSameDirConcurrently(t *testing.T) {
	ctx := context.Background()
	db, err := mantisdb.Open(t.TempDir(), &mantisdb.Options{CompactInterval: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(ctx, "create table t (k bigint primary key)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, "insert into t values (1), (2), (3)"); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "backup")
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := db.Backup(ctx, dir)
			errs <- err
		}()
	}
	var failed int
	for range 2 {
		if err := <-errs; err != nil {
			var se *sqlstate.Error
			if !errors.As(err, &se) || se.Code != sqlstate.DuplicateFile {
				t.Fatalf("backup: %v, want nil or %s", err, sqlstate.DuplicateFile)
			}
			failed++
		}
	}
	if failed != 1 {
		t.Fatalf("%d of 2 backups into one directory failed, want 1", failed)
	}
	bk, err := mantisdb.Open(dir, &mantisdb.Options{CompactInterval: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Close()
	rows, err := bk.Query(ctx, "select count(*) from t")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if !rows.Next() {
		t.Fatal(rows.Err())
	}
	if n := rows.Record().Column(0).(*array.Int64).Value(0); n != 3 {
		t.Fatalf("backup holds %d rows, want 3", n)
	}
}
