package mantisdb_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/segments"
)

// BenchmarkPointRead reads one row by primary key with a prepared statement,
// from a table whose first half is in a segment and second half in the row
// store; reads/s is the metric.
func BenchmarkPointRead(b *testing.B) {
	ctx := context.Background()
	const n = 100_000
	db, err := mantisdb.Open(b.TempDir(), &mantisdb.Options{CompactInterval: -1,
		Segment: &segments.WriterOptions{RowGroupSize: 16 << 10}})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(ctx, "create table t (k bigint primary key, v varchar)"); err != nil {
		b.Fatal(err)
	}
	load := func(lo, hi int) {
		for i := lo; i < hi; i += 1000 {
			sql := "insert into t values "
			for j := i; j < i+1000; j++ {
				if j > i {
					sql += ", "
				}
				sql += fmt.Sprintf("(%d, 'v%d')", j, j)
			}
			if _, err := db.Exec(ctx, sql); err != nil {
				b.Fatal(err)
			}
		}
	}
	load(0, n/2)
	if _, err := db.Compact(ctx, "t"); err != nil {
		b.Fatal(err)
	}
	load(n/2, n)
	st, err := db.Prepare(ctx, "select v from t where k = ?")
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := int64(i*7919) % n
		rows, err := st.QueryParams(ctx, []scalar.Scalar{scalar.NewInt64Scalar(k)})
		readOne(b, rows, err, k)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
}

// BenchmarkPointReadSQL reads one row by primary key with a new SQL text
// per read (DB.Query, the literal key in the text), as the OLTP workload of
// the bench harness does, from a table of the harness's shape; reads/s
// and the process CPU time per read (cpu-µs/read, steadier than wall time
// on a shared machine) are the metrics.
func BenchmarkPointReadSQL(b *testing.B) {
	for _, compact := range []bool{false, true} {
		name := "rowstore"
		if compact {
			name = "segments"
		}
		b.Run(name, func(b *testing.B) { benchPointReadSQL(b, compact) })
	}
}

// benchPointReadSQL is BenchmarkPointReadSQL with the table's rows in the
// row store or, compacted, in a segment.
func benchPointReadSQL(b *testing.B, compact bool) {
	ctx := context.Background()
	const n = 100_000
	db, err := mantisdb.Open(b.TempDir(), &mantisdb.Options{CompactInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(ctx, "create table accounts (id bigint primary key, owner bigint, balance decimal(15,2), note varchar)"); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i += 1000 {
		sql := "insert into accounts values "
		for j := i; j < i+1000; j++ {
			if j > i {
				sql += ", "
			}
			sql += fmt.Sprintf("(%d, %d, %d.25, 'account %d')", j, j%1000, j%100000, j)
		}
		if _, err := db.Exec(ctx, sql); err != nil {
			b.Fatal(err)
		}
	}
	if compact {
		if _, err := db.Compact(ctx, "accounts"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := int64(i*7919) % n
		rows, err := db.Query(ctx, fmt.Sprintf("SELECT owner, balance, note FROM accounts WHERE id = %d", k))
		readOne(b, rows, err, k)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/read")
}

// readOne reads rows, the result of a point read of key k, and fails b
// unless they hold exactly one row.
func readOne(b *testing.B, rows *mantisdb.Rows, err error, k int64) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	got := 0
	for rows.Next() {
		got += int(rows.Record().NumRows())
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	if got != 1 {
		b.Fatalf("key %d: %d rows", k, got)
	}
}

// cpuTime returns the CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
