package mantisdb_test

import (
	"context"
	"flag"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/segments"
)

// TestScanCompleteDuringCompaction: rows that nobody changes are all seen
// by every full scan while the background compactor compacts and merges.
func TestScanCompleteDuringCompaction(t *testing.T) {
	db, err := mantisdb.Open(t.TempDir(), &mantisdb.Options{CompactRows: 3000, CompactInterval: 2 * time.Millisecond, CompactSettle: -1,
		MergeSegments: 2, Segment: &segments.WriterOptions{RowGroupSize: 512}, BulkMinRows: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	exec(t, db, "create table t (k bigint primary key, v bigint, s varchar)")
	var want int
	deadline := time.Now().Add(3 * time.Second)
	for b := 0; time.Now().Before(deadline); b++ {
		kv := map[int64]int64{}
		for i := 0; i < 1000; i++ {
			kv[int64(b*1000+i)] = int64(i)
		}
		if err := ingestKV(ctx, db, kv); err != nil {
			t.Fatal(err)
		}
		want += 1000
		for r := 0; r < 3; r++ {
			rows, err := db.Query(ctx, "select k from t")
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for rows.Next() {
				n += int(rows.Record().NumRows())
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			rows.Close()
			if n != want {
				t.Fatalf("batch %d read %d: %d rows, want %d", b, r, n, want)
			}
		}
	}
	st := db.CompactorStats()
	t.Logf("%d rows, %d compactions, %d merges", want, st.Compactions, st.Merges)
}

var (
	stressRows         = flag.Int("stress.rows", 0, "TestScanCompleteLineitem: lineitem rows to load (0 skips the test)")
	stressCompactRows  = flag.Int64("stress.compactrows", 0, "TestScanCompleteLineitem: Options.CompactRows (0: the default)")
	stressCompactBytes = flag.Int64("stress.compactbytes", 0, "TestScanCompleteLineitem: Options.CompactBytes (0: the default)")
)

// TestScanCompleteLineitem loads -stress.rows lineitem-shaped rows with
// DB.Ingest in 100K-row batches under the default compactor, compacts, and
// reads the whole table again and again (every column, embedded and over
// Flight SQL) while background merges run: every read must return every
// row.
//
//	go test -run TestScanCompleteLineitem -stress.rows 6000000 -timeout 30m .
func TestScanCompleteLineitem(t *testing.T) {
	if *stressRows == 0 {
		t.Skip("-stress.rows not set")
	}
	db, err := mantisdb.Open(t.TempDir(), &mantisdb.Options{CompactRows: *stressCompactRows, CompactBytes: *stressCompactBytes})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	exec(t, db, `create table lineitem (l_orderkey bigint, l_partkey bigint, l_suppkey bigint, l_linenumber int,
		l_quantity decimal(15,2), l_extendedprice decimal(15,2), l_discount decimal(15,2), l_tax decimal(15,2),
		l_returnflag varchar(1), l_linestatus varchar(1), l_shipdate date, l_commitdate date, l_receiptdate date,
		l_shipinstruct varchar(25), l_shipmode varchar(10), l_comment varchar(44), primary key (l_orderkey, l_linenumber))`)
	const batch = 100_000
	for first := 0; first < *stressRows; first += batch {
		rec := lineitemRecord(first, min(batch, *stressRows-first))
		rdr, err := array.NewRecordReader(rec.Schema(), []arrow.RecordBatch{rec})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Ingest(ctx, "lineitem", rdr); err != nil {
			t.Fatal(err)
		}
		rdr.Release()
		rec.Release()
		if got, want := count(t, db, "select * from lineitem"), int64(min(first+batch, *stressRows)); got != want {
			t.Fatalf("after ingest: %d rows, want %d", got, want)
		}
	}
	if _, err := db.Compact(ctx, "lineitem"); err != nil {
		t.Fatal(err)
	}
	want := int64(*stressRows)
	deadline := time.Now().Add(2 * time.Minute)
	for i := 0; time.Now().Before(deadline); i++ {
		if n := count(t, db, "select * from lineitem"); n != want {
			segs := count(t, db, "select * from system.segments")
			t.Fatalf("read %d: %d rows, want %d (%d segments)", i, n, want, segs)
		}
	}
	st := db.CompactorStats()
	t.Logf("%d compactions, %d merges", st.Compactions, st.Merges)
}

// count returns the number of rows sql returns.
func count(t *testing.T, db *mantisdb.DB, sql string) int64 {
	t.Helper()
	rows, err := db.Query(context.Background(), sql)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var n int64
	for rows.Next() {
		n += rows.Record().NumRows()
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}
