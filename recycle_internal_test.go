package mantisdb

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb/internal/bufpool"
	"github.com/mantisdb/mantisdb/segments"
)

// recycleDB returns a DB whose table t is in one segment of 1000-row row
// groups, read in batches of 600 rows (so that every value buffer is of a
// size the pool serves): strings that get shorter and NULL
// more often from batch to batch, NULLs in every type, some rows deleted
// (whose row groups go through the scan's gather).
func recycleDB(t *testing.T) *DB {
	t.Helper()
	ctx := context.Background()
	db, run := openTestDB(t, &Options{CompactInterval: -1, BatchSize: 600,
		Segment: &segments.WriterOptions{RowGroupSize: 1000}})
	run("create table t (k bigint primary key, s varchar(200), i int, d decimal(12,2), f double, dt date, c varchar(10) not null)")
	const rows = 5000
	var sb strings.Builder
	for k := 0; k < rows; k++ {
		if k > 0 {
			sb.WriteString(", ")
		}
		s := "NULL"
		if k%(2+k/1000) != 1 { // NULL more often later
			s = "'" + strings.Repeat(string(rune('a'+k%26)), (rows-k)/40+k%3) + "'" // shorter later
		}
		val := func(every int, v string) string {
			if k%every == 0 {
				return "NULL"
			}
			return v
		}
		fmt.Fprintf(&sb, "(%d, %s, %s, %s, %s, %s, 'c%d')", k, s,
			val(3, fmt.Sprint(k*7)), val(4, fmt.Sprintf("%d.%02d", k, k%100)),
			val(6, fmt.Sprintf("%d.5", k)), val(5, "DATE '"+time.Date(2020, 1, 1+k, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)+"'"), k%4)
	}
	run("insert into t values " + sb.String())
	if _, err := db.Compact(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	run("delete from t where k >= 2700 and k < 2760 and k % 2 = 0")
	return db
}

// ipcStream runs query and writes every batch into an Arrow IPC stream as
// it arrives, before the next one is asked for (as Flight DoGet does), and
// returns the stream's bytes: the buffers of each batch as they would go
// on the wire, NULL slots included.
func ipcStream(t *testing.T, ctx context.Context, db *DB, query string) []byte {
	t.Helper()
	rows, err := db.Query(ctx, query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(rows.Schema()))
	for rows.Next() {
		if err := w.Write(rows.Record()); err != nil {
			t.Fatal(err)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestRecycledBatches: a scan that decodes into the recycled (and, here,
// poisoned) buffers of its earlier batches yields the same bytes as one
// that allocates fresh buffers, with and without readahead and through a
// projection; plans with other operators do not recycle. The pools give
// every byte back to the DB's allocator.
func TestRecycledBatches(t *testing.T) {
	db := recycleDB(t)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	db.mem = mem // the scans' batches and the pools' memory
	defer mem.AssertSize(t, 0)
	var pools []*bufpool.Pool
	defer func(f func(memory.Allocator) *bufpool.Pool) { newDataPool = f }(newDataPool)
	newDataPool = func(parent memory.Allocator) *bufpool.Pool {
		if parent != mem {
			t.Errorf("pool over %T, not the DB's allocator", parent)
		}
		p := bufpool.New(parent, 0)
		p.SetPoison(0xAA)
		pools = append(pools, p)
		return p
	}
	bg := context.Background()
	recycled := WithRecycledBatches(bg)
	for _, tc := range []struct {
		query   string
		recycle bool
	}{
		{"SELECT * FROM t", true},
		{"SELECT s, k, c, s FROM t", true},
		{"SELECT d, f, dt, i FROM t", true},
		{"SELECT k, s FROM t WHERE k > 10", false},
		{"SELECT k + 1, s FROM t", false},
		{"SELECT * FROM t ORDER BY k DESC LIMIT 5", false},
	} {
		for _, readahead := range []bool{false, true} {
			name := fmt.Sprintf("%s/readahead=%v", tc.query, readahead)
			want := ipcStream(t, bg, db, tc.query)
			pools = nil
			got := withReadahead(readahead, func() []byte { return ipcStream(t, recycled, db, tc.query) })
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: recycled stream of %d bytes differs from a fresh one of %d", name, len(got), len(want))
			}
			if !tc.recycle {
				if len(pools) != 0 {
					t.Fatalf("%s: the query recycled its batches", name)
				}
				continue
			}
			if len(pools) != 1 {
				t.Fatalf("%s: %d pools, want 1", name, len(pools))
			}
			if allocs, reused := pools[0].Stats(); reused == 0 || reused > allocs {
				t.Fatalf("%s: %d of %d allocations reused", name, reused, allocs)
			}
		}
	}
}

// withReadahead runs f with GOMAXPROCS set so that scans decode ahead on
// two goroutines, or serially.
func withReadahead(on bool, f func() []byte) []byte {
	n := 1
	if on {
		n = 2
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(n))
	return f()
}

// TestRecycledAggregateScans: a scan that feeds a hash aggregate decodes
// into recycled (here poisoned) buffers whether or not the caller opted
// in, and the results equal those of fresh buffers (a pool that keeps
// nothing); plans where a scan's batches may outlive the aggregate's use
// of them do not recycle.
func TestRecycledAggregateScans(t *testing.T) {
	db := recycleDB(t)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	db.mem = mem
	defer mem.AssertSize(t, 0)
	var pools []*bufpool.Pool
	fresh := false
	defer func(f func(memory.Allocator) *bufpool.Pool) { newDataPool = f }(newDataPool)
	newDataPool = func(parent memory.Allocator) *bufpool.Pool {
		if fresh {
			return bufpool.New(parent, 1) // keeps no buffer: every one is new
		}
		p := bufpool.New(parent, 0)
		p.SetPoison(0xAA)
		pools = append(pools, p)
		return p
	}
	bg := context.Background()
	for _, tc := range []struct {
		query   string
		recycle bool
	}{
		{"SELECT c, count(*), sum(d), min(s), max(s), avg(f), sum(i), min(dt), max(d) FROM t WHERE k % 7 <> 3 GROUP BY c ORDER BY c", true},
		{"SELECT count(*), sum(d * 2), avg(i) FROM t WHERE i > 100 AND d < 3000", true},
		{"SELECT k, sum(d), max(s) FROM t GROUP BY k ORDER BY k DESC LIMIT 5", true},
		{"SELECT s, count(*) FROM t GROUP BY s ORDER BY s LIMIT 7", true},
		{"SELECT c, count(*) FROM t WHERE k IN (SELECT i FROM t) GROUP BY c ORDER BY c", false},
		{"SELECT k, s FROM t WHERE k > 4990 ORDER BY k", false},
	} {
		fresh = true
		want := ipcStream(t, bg, db, tc.query)
		fresh, pools = false, nil
		got := withReadahead(true, func() []byte { return ipcStream(t, bg, db, tc.query) })
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: recycled stream of %d bytes differs from a fresh one of %d", tc.query, len(got), len(want))
		}
		if !tc.recycle {
			if len(pools) != 0 {
				t.Fatalf("%s: the query recycled its batches", tc.query)
			}
			continue
		}
		if len(pools) != 1 {
			t.Fatalf("%s: %d pools, want 1", tc.query, len(pools))
		}
		if allocs, reused := pools[0].Stats(); reused == 0 || reused > allocs {
			t.Fatalf("%s: %d of %d allocations reused", tc.query, reused, allocs)
		}
	}
}
