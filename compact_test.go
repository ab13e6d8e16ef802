package mantisdb_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/segments"
)

// manual opens a database whose compactor runs only when asked.
func manual(t testing.TB, dir string) *mantisdb.DB {
	t.Helper()
	db, err := mantisdb.Open(dir, &mantisdb.Options{CompactInterval: -1,
		Segment: &segments.WriterOptions{RowGroupSize: 64, VerifyOrder: true}})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func compact(t testing.TB, db *mantisdb.DB, table string) mantisdb.CompactionResult {
	t.Helper()
	res, err := db.Compact(context.Background(), table)
	if err != nil {
		t.Fatalf("compact %s: %v", table, err)
	}
	return res
}

func stats(t testing.TB, db *mantisdb.DB, table string) mantisdb.TableStats {
	t.Helper()
	st, err := db.TableStats(context.Background(), table)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func insertRange(t testing.TB, db *mantisdb.DB, lo, hi int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("insert into t values ")
	for i := lo; i < hi; i++ {
		if i > lo {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "(%d, %d, 'v%d')", i, i*10, i)
	}
	if _, err := db.Exec(context.Background(), b.String()); err != nil {
		t.Fatal(err)
	}
}

func TestCompactReadsEachRowOnce(t *testing.T) {
	for _, pk := range []bool{true, false} {
		t.Run(fmt.Sprintf("pk=%v", pk), func(t *testing.T) {
			dir := t.TempDir()
			db := manual(t, dir)
			ddl := "create table t (k bigint primary key, v bigint, s varchar)"
			if !pk {
				ddl = "create table t (k bigint, v bigint, s varchar)"
			}
			exec(t, db, ddl)
			insertRange(t, db, 0, 300)
			res := compact(t, db, "t")
			if res.Rows != 300 || res.Moved != 300 || res.Segment == 0 {
				t.Fatalf("compaction %+v, want 300 rows moved", res)
			}
			insertRange(t, db, 300, 400)
			st := stats(t, db, "t")
			if st.FreshRows != 100 || st.SegmentRows != 300 || len(st.Segments) != 1 {
				t.Fatalf("stats %+v", st)
			}
			check := func(db *mantisdb.DB) {
				t.Helper()
				if n := one(t, db, "select count(*) from t"); n != 400 {
					t.Fatalf("count %d, want 400", n)
				}
				if s := one(t, db, "select sum(v) from t"); s != 10*399*400/2 {
					t.Fatalf("sum %d", s)
				}
				if got := render(query(t, db, "select k, s from t where k = 150")); got != "150|v150\n" {
					t.Fatalf("k=150: %q", got)
				}
			}
			check(db)
			compact(t, db, "t")
			check(db)
			if st := stats(t, db, "t"); st.FreshRows != 0 || st.SegmentRows != 400 {
				t.Fatalf("stats %+v", st)
			}
			db.Close()

			// An orphan (an interrupted compaction's file) goes at open.
			orphan := filepath.Join(dir, "segments", segments.FileName(999))
			if err := os.WriteFile(orphan, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			db = manual(t, dir)
			defer db.Close()
			if _, err := os.Stat(orphan); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("orphan survived open: %v", err)
			}
			check(db)
		})
	}
}

func TestCompactedUpdateDelete(t *testing.T) {
	db := manual(t, t.TempDir())
	defer db.Close()
	exec(t, db, "create table t (k bigint primary key, v bigint, s varchar)")
	insertRange(t, db, 0, 200)
	compact(t, db, "t")
	if n := exec(t, db, "update t set v = v + 1 where k < 50"); n != 50 {
		t.Fatalf("updated %d", n)
	}
	if n := exec(t, db, "delete from t where k >= 150"); n != 50 {
		t.Fatalf("deleted %d", n)
	}
	// A key change of a compacted row and of an updated one.
	exec(t, db, "update t set k = 1000 where k = 100")
	exec(t, db, "update t set k = 1001 where k = 10")
	want := func() {
		t.Helper()
		if n := one(t, db, "select count(*) from t"); n != 150 {
			t.Fatalf("count %d, want 150", n)
		}
		if s := one(t, db, "select sum(v) from t"); s != 10*149*150/2+50 {
			t.Fatalf("sum %d", s)
		}
		if got := render(query(t, db, "select k, v from t where k in (10, 100, 1000, 1001) order by k")); got != "1000|1000\n1001|101\n" {
			t.Fatalf("moved keys: %q", got)
		}
	}
	want()
	st := stats(t, db, "t")
	if st.FreshRows != 51 || st.Segments[0].Deleted != 101 {
		t.Fatalf("stats %+v", st)
	}
	// Compacting again moves the updated rows; the deleted fraction (101
	// of 200) makes the merge rewrite the first segment.
	compact(t, db, "t")
	want()
	st = stats(t, db, "t")
	if st.FreshRows != 0 || st.SegmentRows != 150 {
		t.Fatalf("stats after merge %+v", st)
	}
	for _, s := range st.Segments {
		if s.Deleted != 0 {
			t.Fatalf("segment %+v still has deleted rows after the rewrite", s)
		}
	}
}

func TestUniquenessAcrossTiers(t *testing.T) {
	db := manual(t, t.TempDir())
	defer db.Close()
	ctx := context.Background()
	exec(t, db, "create table t (k bigint primary key, v bigint, s varchar)")
	insertRange(t, db, 0, 100)
	compact(t, db, "t")
	_, err := db.Exec(ctx, "insert into t values (42, 0, 'dup')")
	wantCode(t, err, sqlstate.UniqueViolation)
	_, err = db.Exec(ctx, "update t set k = 43 where k = 44")
	wantCode(t, err, sqlstate.UniqueViolation)
	// Delete, then the key is free again.
	exec(t, db, "delete from t where k = 42")
	exec(t, db, "insert into t values (42, 1, 'again')")
	// Swapping keys inside one statement moves both segment rows.
	exec(t, db, "update t set k = 200 where k = 43")
	exec(t, db, "insert into t values (43, 2, 'new')")
	// A transaction deletes a compacted row and inserts its key.
	tx := begin(t, db)
	txExec(t, tx, "delete from t where k = 50")
	txExec(t, tx, "insert into t values (50, 3, 'tx')")
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := render(query(t, db, "select k, v, s from t where k in (42, 43, 50, 200) order by k")); got != "42|1|again\n43|2|new\n50|3|tx\n200|430|v43\n" {
		t.Fatalf("got %q", got)
	}
	if n := one(t, db, "select count(*) from t"); n != 101 {
		t.Fatalf("count %d", n)
	}
}

func TestCompactedRowConflict(t *testing.T) {
	db := manual(t, t.TempDir())
	defer db.Close()
	ctx := context.Background()
	exec(t, db, "create table t (k bigint primary key, v bigint, s varchar)")
	insertRange(t, db, 0, 10)
	compact(t, db, "t")
	a, b := begin(t, db), begin(t, db)
	txExec(t, a, "update t set v = 1 where k = 5")
	done := make(chan error, 1)
	go func() { _, err := b.Exec(ctx, "delete from t where k = 5"); done <- err }()
	time.Sleep(20 * time.Millisecond)
	if err := a.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	err := <-done
	wantCode(t, err, sqlstate.SerializationFailure)
	b.Rollback()
	if got := render(query(t, db, "select v from t where k = 5")); got != "1\n" {
		t.Fatalf("got %q", got)
	}
	// A snapshot taken before a compaction keeps reading the rows it saw.
	c := begin(t, db)
	if n := one(t, c, "select count(*) from t"); n != 10 {
		t.Fatalf("count %d", n)
	}
	exec(t, db, "delete from t where k = 1")
	compact(t, db, "t")
	if n := one(t, c, "select count(*) from t"); n != 10 {
		t.Fatalf("count in old snapshot %d, want 10", n)
	}
	c.Rollback()
	if n := one(t, db, "select count(*) from t"); n != 9 {
		t.Fatalf("count %d, want 9", n)
	}
}

// TestCompactConcurrentModel runs writers (each owning a key range and a
// model of it), readers checking that no key is seen twice, and the
// background compactor with low thresholds, then compares with the model.
func TestCompactConcurrentModel(t *testing.T) {
	dir := t.TempDir()
	db, err := mantisdb.Open(dir, &mantisdb.Options{CompactRows: 150, CompactInterval: 5 * time.Millisecond, CompactSettle: -1,
		MergeSegments: 3, Segment: &segments.WriterOptions{RowGroupSize: 32}, BulkMinRows: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	exec(t, db, "create table t (k bigint primary key, v bigint, s varchar)")
	const writers, span = 3, 200
	models := make([]map[int64]int64, writers)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errc := make(chan error, writers+2)
	for w := 0; w < writers; w++ {
		models[w] = map[int64]int64{}
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			m := models[w]
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; i < 400; i++ {
				k := int64(w*span + rng.IntN(span))
				v := rng.Int64N(1000)
				var sql string
				_, exists := m[k]
				if !exists && rng.IntN(3) == 0 {
					// A bulk insert of up to 8 absent keys: one batch
					// entry.
					batch := map[int64]int64{k: v}
					for j := 0; j < 7; j++ {
						k2 := int64(w*span + rng.IntN(span))
						if _, ok := m[k2]; !ok {
							batch[k2] = rng.Int64N(1000)
						}
					}
					if err := ingestKV(ctx, db, batch); err != nil {
						errc <- fmt.Errorf("ingest %v: %w", batch, err)
						return
					}
					for k2, v2 := range batch {
						m[k2] = v2
					}
					continue
				}
				switch op := rng.IntN(4); {
				case !exists:
					sql = fmt.Sprintf("insert into t values (%d, %d, 'x')", k, v)
				case op == 0:
					sql = fmt.Sprintf("delete from t where k = %d", k)
				default:
					sql = fmt.Sprintf("update t set v = %d where k = %d", v, k)
				}
				if _, err := db.Exec(ctx, sql); err != nil {
					errc <- fmt.Errorf("%s: %w", sql, err)
					return
				}
				switch {
				case !exists:
					m[k] = v
				case strings.HasPrefix(sql, "delete"):
					delete(m, k)
				default:
					m[k] = v
				}
			}
		}(w)
	}
	var rg sync.WaitGroup
	rg.Add(1)
	go func() {
		defer rg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			keys, err := ints(t, db, "select k from t")
			if err != nil {
				errc <- err
				return
			}
			seen := map[int64]bool{}
			for _, k := range keys {
				if seen[k] {
					errc <- fmt.Errorf("key %d read twice", k)
					return
				}
				seen[k] = true
			}
		}
	}()
	wg.Wait()
	close(stop)
	rg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	verify := func(db *mantisdb.DB) {
		t.Helper()
		var want []string
		for _, m := range models {
			for k, v := range m {
				want = append(want, fmt.Sprintf("%d|%d", k, v))
			}
		}
		sort.Strings(want)
		var got []string
		for _, r := range query(t, db, "select k, v from t") {
			got = append(got, r[0]+"|"+r[1])
		}
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("rows differ from the model:\n got %d rows\nwant %d rows", len(got), len(want))
		}
	}
	verify(db)
	if c := db.CompactorStats(); c.Compactions == 0 {
		t.Fatalf("the compactor never ran: %+v", c)
	}
	compact(t, db, "t")
	verify(db)
	db.Close()
	db = manual(t, dir)
	defer db.Close()
	verify(db)
}

func TestDropTableRemovesSegments(t *testing.T) {
	dir := t.TempDir()
	db := manual(t, dir)
	defer db.Close()
	exec(t, db, "create table t (k bigint primary key, v bigint, s varchar)")
	insertRange(t, db, 0, 10)
	compact(t, db, "t")
	// A query open across the drop keeps reading the segment.
	rows, err := db.Query(context.Background(), "select k from t")
	if err != nil {
		t.Fatal(err)
	}
	exec(t, db, "drop table t")
	n := 0
	for rows.Next() {
		n += int(rows.Record().NumRows())
	}
	if err := rows.Err(); err != nil || n != 10 {
		t.Fatalf("open query read %d rows, err %v", n, err)
	}
	rows.Close()
	ents, _ := os.ReadDir(filepath.Join(dir, "segments"))
	if len(ents) != 0 {
		t.Fatalf("segment files left after drop: %v", ents)
	}
}

// ingestKV ingests the rows (k, v, 'b') of kv into t in one DB.Ingest.
func ingestKV(ctx context.Context, db *mantisdb.DB, kv map[int64]int64) error {
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64},
		{Name: "v", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: arrow.BinaryTypes.String},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
	defer b.Release()
	for k, v := range kv {
		b.Field(0).(*array.Int64Builder).Append(k)
		b.Field(1).(*array.Int64Builder).Append(v)
		b.Field(2).(*array.StringBuilder).Append("b")
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	rdr, err := array.NewRecordReader(sch, []arrow.RecordBatch{rec})
	if err != nil {
		return err
	}
	defer rdr.Release()
	_, err = db.Ingest(ctx, "t", rdr)
	return err
}

// TestBulkUniqueAgainstSegments: a bulk ingest is checked against the
// segments (per row only when its key range meets a segment's).
func TestBulkUniqueAgainstSegments(t *testing.T) {
	ctx := context.Background()
	db := manual(t, t.TempDir())
	defer db.Close()
	exec(t, db, "create table t (k bigint primary key, v bigint, s varchar)")
	kv := func(lo, hi, step int64) map[int64]int64 {
		m := map[int64]int64{}
		for k := lo; k < hi; k += step {
			m[k] = k
		}
		return m
	}
	if err := ingestKV(ctx, db, kv(0, 200, 2)); err != nil { // even keys 0..198
		t.Fatal(err)
	}
	compact(t, db, "t")
	wantCode(t, ingestKV(ctx, db, kv(150, 250, 1)), sqlstate.UniqueViolation) // meets the segment's keys
	// Odd keys inside the segment's range.
	if err := ingestKV(ctx, db, kv(1, 200, 2)); err != nil {
		t.Fatal(err)
	}
	// Beyond every segment.
	if err := ingestKV(ctx, db, kv(1000, 1100, 1)); err != nil {
		t.Fatal(err)
	}
	if n := one(t, db, "select count(*) from t"); n != 300 {
		t.Fatalf("count %d, want 300", n)
	}
}

// TestMergeOlderLayouts: segments written before ALTER TABLE (a renamed,
// a dropped and an added column with a default) merge with newer ones into one segment
// of the current layout and level 1; the rows read the same before and
// after, and a merge of merged segments has level 2.
func TestMergeOlderLayouts(t *testing.T) {
	ctx := context.Background()
	db, err := mantisdb.Open(t.TempDir(), &mantisdb.Options{CompactInterval: -1, MergeSegments: 3,
		Segment: &segments.WriterOptions{RowGroupSize: 64, VerifyOrder: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec(t, db, "create table t (k bigint primary key, a varchar, b bigint)")
	exec(t, db, "insert into t values (1, 'x', 10), (2, 'y', 20)")
	compact(t, db, "t")
	exec(t, db, "alter table t rename column b to c")
	exec(t, db, "insert into t values (3, 'z', 30)")
	compact(t, db, "t")
	exec(t, db, "alter table t drop column a")
	exec(t, db, "alter table t add column d varchar default 'dflt'")
	exec(t, db, "insert into t values (4, 40, 'w')")
	const want = "1|10|dflt\n2|20|dflt\n3|30|dflt\n4|40|w\n"
	if got := render(query(t, db, "select * from t order by k")); got != want {
		t.Fatalf("before the merge:\n%s", got)
	}
	// The third compaction makes three segments: the merge takes all.
	compact(t, db, "t")
	segs := func() string {
		t.Helper()
		return render(query(t, db, "select total_rows, deleted_rows, schema_version, level from system.segments order by segment_id"))
	}
	if got := segs(); got != "4|0|4|1\n" {
		t.Fatalf("segments after the merge (total, deleted, schema version, level):\n%s", got)
	}
	if got := render(query(t, db, "select * from t order by k")); got != want {
		t.Fatalf("after the merge:\n%s", got)
	}
	if got := render(query(t, db, "select k from t where c = 30")); got != "3\n" {
		t.Fatalf("c = 30 after the merge: %s", got)
	}
	for k := 5; k <= 6; k++ {
		exec(t, db, fmt.Sprintf("insert into t values (%d, %d, 'v')", k, k*10))
		compact(t, db, "t")
	}
	if got := segs(); got != "6|0|4|2\n" {
		t.Fatalf("segments after the second merge:\n%s", got)
	}
	if st, err := db.TableStats(ctx, "t"); err != nil || len(st.Segments) != 1 || st.Segments[0].Level != 2 {
		t.Fatalf("TableStats %+v, %v", st, err)
	}
}

// TestCompactIdleTail: the tail of a burst of writes (below CompactRows,
// at least CompactRows/32) is compacted once the table has had no writes
// for a while; fewer rows wait for the age threshold.
func TestCompactIdleTail(t *testing.T) {
	db, err := mantisdb.Open(t.TempDir(), &mantisdb.Options{CompactRows: 3200, CompactInterval: 20 * time.Millisecond, CompactSettle: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec(t, db, "create table t (k bigint primary key, v bigint, s varchar)")
	exec(t, db, "create table u (k bigint primary key, v bigint, s varchar)")
	insertRange(t, db, 0, 150)
	exec(t, db, "insert into u values (1, 1, 'x')")
	deadline := time.Now().Add(10 * time.Second)
	for stats(t, db, "t").FreshRows != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the tail was not compacted: %+v", stats(t, db, "t"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := stats(t, db, "u"); st.FreshRows != 1 || len(st.Segments) != 0 {
		t.Fatalf("one row was compacted: %+v", st)
	}
}
