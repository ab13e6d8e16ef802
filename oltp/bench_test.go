package oltp

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// BenchmarkScan measures decode throughput of a full-table scan of the
// all-types table (rows/s), with all columns and with a two-column
// projection.
func BenchmarkScan(b *testing.B) {
	const rows = 100_000
	s, _ := openMem(b, nil)
	defer s.Close()
	tbl := allTypesTable(1)
	create(b, s, tbl)
	data := make([][]any, 0, 10_000)
	for i := 0; i < rows; i++ {
		data = append(data, []any{i, i%2 == 0, i % 1000, i, float64(i), float64(i), i, fmt.Sprint("value-", i), i % 10000, i})
		if len(data) == cap(data) {
			mustInsert(b, s, tbl, data...)
			data = data[:0]
		}
	}
	for _, bc := range []struct {
		name string
		cols []int
	}{
		{"all", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"two", []int{3, 7}},
		{"count", nil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			sn := s.Snapshot()
			defer sn.Close()
			b.ResetTimer()
			n := 0
			for i := 0; i < b.N; i++ {
				sc, err := sn.Scan(tbl, bc.cols, false)
				if err != nil {
					b.Fatal(err)
				}
				for sc.Next() {
					n += int(sc.Record().NumRows())
				}
				if err := sc.Err(); err != nil {
					b.Fatal(err)
				}
				sc.Close()
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkCommit measures synced single-row commits from 1 and 16
// goroutines; with 16, commits share WAL fsyncs (group commit). It uses the
// real file system, since an in-memory fsync costs nothing.
func BenchmarkCommit(b *testing.B) {
	for _, workers := range []int{1, 16} {
		b.Run(fmt.Sprintf("goroutines=%d", workers), func(b *testing.B) {
			s, err := Open(b.TempDir(), &Options{FS: vfs.Default})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			tbl := usersTable(1)
			create(b, s, tbl)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						id := next.Add(1)
						if id > int64(b.N) {
							return
						}
						rec := makeRecord(b, memory.DefaultAllocator, tbl, []any{int(id), "x", nil})
						tx := s.Begin()
						err := tx.Insert(context.Background(), tbl, rec)
						if err == nil {
							err = tx.Commit(context.Background())
						} else {
							tx.Rollback()
						}
						rec.Release()
						if err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
		})
	}
}
