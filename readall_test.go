package mantisdb_test

import (
	"context"
	"testing"
	"time"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/segments"
)

// TestScanCompleteDuringCompaction: rows that nobody changes are all seen
// by every full scan while the background compactor compacts and merges.
func TestScanCompleteDuringCompaction(t *testing.T) {
	db, err := mantisdb.Open(t.TempDir(), &mantisdb.Options{CompactRows: 3000, CompactInterval: 2 * time.Millisecond,
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
