package mantisdb_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/lockmgr"
)

// gatedReader yields its records one by one; before record gate it waits
// until open is closed.
type gatedReader struct {
	sch  *arrow.Schema
	recs []arrow.RecordBatch
	gate int
	open chan struct{}
	at   chan struct{} // closed when the reader waits at the gate
	i    int
	cur  arrow.RecordBatch
}

func (r *gatedReader) Retain()                        {}
func (r *gatedReader) Release()                       {}
func (r *gatedReader) Schema() *arrow.Schema          { return r.sch }
func (r *gatedReader) Record() arrow.RecordBatch      { return r.cur }
func (r *gatedReader) RecordBatch() arrow.RecordBatch { return r.cur }
func (r *gatedReader) Err() error                     { return nil }
func (r *gatedReader) Next() bool {
	if r.i == r.gate {
		close(r.at)
		<-r.open
	}
	if r.i >= len(r.recs) {
		return false
	}
	r.cur = r.recs[r.i]
	r.i++
	return true
}

var kvSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "v", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

// kvRecord builds rows with ids ids and v "v<id>" (NULL where null).
func kvRecord(mem memory.Allocator, ids []int64, null func(int64) bool) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, kvSchema)
	defer b.Release()
	for _, id := range ids {
		b.Field(0).(*array.Int64Builder).Append(id)
		if null != nil && null(id) {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.StringBuilder).Append(fmt.Sprint("v", id))
		}
	}
	return b.NewRecordBatch()
}

func idRange(lo, hi int64) []int64 {
	ids := make([]int64, 0, hi-lo)
	for i := lo; i < hi; i++ {
		ids = append(ids, i)
	}
	return ids
}

// TestIngestHoldsNoLockWhileReading: an ingest into a table with a primary
// key whose client is slow keeps no writer of the table waiting: the rows
// are read and encoded before the table lock is taken (it used to hold the
// table's X lock from its first batch on, and writers timed out).
func TestIngestHoldsNoLockWhileReading(t *testing.T) {
	db, err := mantisdb.Open(t.TempDir(), &mantisdb.Options{Locks: &lockmgr.Options{LockTimeout: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec(t, db, "create table kv (id bigint primary key, v varchar)")
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	r := &gatedReader{sch: kvSchema, gate: 1, open: make(chan struct{}), at: make(chan struct{}),
		recs: []arrow.RecordBatch{kvRecord(mem, idRange(0, 1000), nil), kvRecord(mem, idRange(1000, 2000), nil)}}
	defer func() {
		for _, rec := range r.recs {
			rec.Release()
		}
	}()
	var wg sync.WaitGroup
	var n int64
	var ingestErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		n, ingestErr = db.Ingest(context.Background(), "kv", r)
	}()
	var openOnce sync.Once
	release := func() { openOnce.Do(func() { close(r.open) }) }
	defer wg.Wait()
	defer release() // also when the test fails before its end
	<-r.at
	// The ingest has encoded its first batch and waits for its client.
	exec(t, db, "insert into kv values (5000, 'row')")
	rec := kvRecord(mem, idRange(3000, 3500), nil)
	other, err := array.NewRecordReader(kvSchema, []arrow.RecordBatch{rec})
	rec.Release()
	if err != nil {
		t.Fatal(err)
	}
	if k, err := db.Ingest(context.Background(), "kv", other); err != nil || k != 500 {
		t.Fatalf("concurrent ingest: %d rows, %v", k, err)
	}
	other.Release()
	release()
	wg.Wait()
	if ingestErr != nil || n != 2000 {
		t.Fatalf("gated ingest: %d rows, %v", n, ingestErr)
	}
	if got := render(query(t, db, "select count(*), min(id), max(id) from kv")); got != "2501|0|5000\n" {
		t.Errorf("after the ingests: %s", got)
	}
}

// TestIngestBatches: ingests of many batches, encoded ahead of the lock or
// (beyond the staging limit) under it, are all or nothing.
func TestIngestBatches(t *testing.T) {
	for _, staged := range []int64{256 << 20, 1} {
		t.Run(fmt.Sprint("staged=", staged), func(t *testing.T) {
			defer mantisdb.SetMaxStagedBytes(staged)()
			db := open(t, t.TempDir())
			defer db.Close()
			exec(t, db, "create table kv (id bigint primary key, v varchar not null)")
			mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer mem.AssertSize(t, 0)
			ingest := func(batches ...[]int64) (int64, error) {
				recs := make([]arrow.RecordBatch, len(batches))
				for i, ids := range batches {
					recs[i] = kvRecord(mem, ids, func(id int64) bool { return id < 0 })
				}
				rdr, err := array.NewRecordReader(kvSchema, recs)
				for _, r := range recs {
					r.Release()
				}
				if err != nil {
					t.Fatal(err)
				}
				defer rdr.Release()
				return db.Ingest(context.Background(), "kv", rdr)
			}
			// Sorted, reversed and small batches (row entries) mixed.
			rev := idRange(1000, 2000)
			for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
				rev[i], rev[j] = rev[j], rev[i]
			}
			if n, err := ingest(idRange(0, 1000), rev, []int64{5000, 5001}, idRange(2000, 3000)); err != nil || n != 3002 {
				t.Fatalf("ingest: %d rows, %v", n, err)
			}
			for _, c := range []struct {
				name    string
				batches [][]int64
				code    sqlstate.Code
			}{
				{"duplicate across batches", [][]int64{idRange(10000, 11000), idRange(10500, 10600)}, sqlstate.UniqueViolation},
				{"duplicate in a batch", [][]int64{idRange(10000, 11000), append(idRange(11000, 11100), 11050)}, sqlstate.UniqueViolation},
				{"existing key in the last batch", [][]int64{idRange(10000, 11000), idRange(2900, 3100)}, sqlstate.UniqueViolation},
				{"existing row entry", [][]int64{idRange(10000, 11000), idRange(4990, 5010)}, sqlstate.UniqueViolation},
				{"null in the last batch", [][]int64{idRange(10000, 11000), append(idRange(11000, 11100), -1)}, sqlstate.NotNullViolation},
			} {
				_, err := ingest(c.batches...)
				if sqlstate.CodeOf(err) != c.code {
					t.Errorf("%s: got %v, want %s", c.name, err, c.code)
				}
			}
			if got := render(query(t, db, "select count(*), min(id), max(id) from kv")); got != "3002|0|5001\n" {
				t.Errorf("after the ingests: %s", got)
			}
		})
	}
}

// TestIngestKeepsStreamOrder: the batches of one ingest are encoded
// concurrently, and a small batch after a large one finishes first; the
// entries still take their ids in stream order, so that a scan of a table
// without a primary key returns the rows in the order they were ingested.
func TestIngestKeepsStreamOrder(t *testing.T) {
	db := open(t, t.TempDir())
	defer db.Close()
	exec(t, db, "create table log (id bigint, v varchar)")
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	recs := []arrow.RecordBatch{kvRecord(mem, idRange(0, 200_000), nil)}
	for lo := int64(200_000); lo < 201_000; lo += 100 {
		recs = append(recs, kvRecord(mem, idRange(lo, lo+100), nil))
	}
	ingestRecords(t, db, "log", recs...)
	rows := query(t, db, "select id from log")
	if len(rows) != 201_000 {
		t.Fatalf("%d rows, want 201000", len(rows))
	}
	for i, r := range rows {
		if r[0] != fmt.Sprint(i) {
			t.Fatalf("row %d is id %v: the rows are not in ingest order", i, r[0])
		}
	}
}

// ingestRecords ingests recs (of kvSchema) into table in one DB.Ingest
// and releases them.
func ingestRecords(t *testing.T, db *mantisdb.DB, table string, recs ...arrow.RecordBatch) {
	t.Helper()
	rows := int64(0)
	for _, r := range recs {
		rows += r.NumRows()
	}
	rdr, err := array.NewRecordReader(kvSchema, recs)
	for _, r := range recs {
		r.Release()
	}
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Release()
	if n, err := db.Ingest(context.Background(), table, rdr); err != nil || n != rows {
		t.Fatalf("ingest into %s: %d rows, %v", table, n, err)
	}
}

// TestRowErrorsNameTheRow: a value the table refuses is reported with its
// row of the write's input, 1-based and counted across batches
// (sqlstate.Error.Row): of an ingest stream (small batches written as
// rows, large ones as batch entries), of the rows an INSERT ... SELECT
// produces, and through an upsert; an UPDATE's error names no row.
func TestRowErrorsNameTheRow(t *testing.T) {
	ctx := context.Background()
	db := open(t, t.TempDir())
	defer db.Close()
	exec(t, db, "create table t (id bigint, v varchar not null)")
	exec(t, db, "create table k (id bigint primary key, v varchar not null)")
	const bad = 30_007
	isBad := func(id int64) bool { return id == bad }
	check := func(what string, err error, row int64) {
		t.Helper()
		if e := sqlstate.From(err); e == nil || e.Code != sqlstate.NotNullViolation || e.Row != row || e.Field != "v" {
			t.Errorf("%s: %v, want 23502 at row %d of v", what, err, row)
		}
	}
	for _, size := range []int64{100, 10_000} { // rows, batch entries
		var recs []arrow.RecordBatch
		for lo := int64(1); lo <= 40_000; lo += size {
			recs = append(recs, kvRecord(memory.DefaultAllocator, idRange(lo, lo+size), isBad))
		}
		for _, table := range []string{"t", "k"} {
			for _, r := range recs {
				r.Retain()
			}
			rdr, _ := array.NewRecordReader(kvSchema, recs)
			_, err := db.Ingest(ctx, table, rdr)
			rdr.Release()
			check(fmt.Sprintf("ingest into %s in batches of %d", table, size), err, bad)
			rdr, _ = array.NewRecordReader(kvSchema, recs)
			_, err = db.IngestWith(ctx, table, rdr, mantisdb.IngestOptions{OnConflict: mantisdb.ConflictReplace})
			rdr.Release()
			check(fmt.Sprintf("upsert into %s in batches of %d", table, size), err, bad)
		}
		for _, r := range recs {
			r.Release()
		}
	}
	exec(t, db, "create table s (id bigint, v varchar)")
	ingestRecords(t, db, "s", kvRecord(memory.DefaultAllocator, idRange(1, 40_001), isBad))
	_, err := db.Exec(ctx, "insert into k select id, v from s order by id")
	check("insert ... select", err, bad)
	// An upsert whose bad row replaces an existing row: its row of the
	// input, not its place among the rows that hit existing ones.
	exec(t, db, "insert into k values (1000, 'x')")
	recs := []arrow.RecordBatch{
		kvRecord(memory.DefaultAllocator, idRange(1, 11), nil),
		kvRecord(memory.DefaultAllocator, append(idRange(11, 21), 1000), func(id int64) bool { return id == 1000 }),
	}
	rdr, _ := array.NewRecordReader(kvSchema, recs)
	_, err = db.IngestWith(ctx, "k", rdr, mantisdb.IngestOptions{OnConflict: mantisdb.ConflictReplace})
	rdr.Release()
	for _, r := range recs {
		r.Release()
	}
	check("upsert replacing a row", err, 21)
	// A bad row in a batch still encoding when a later batch fails to
	// convert: the first bad row is the one named.
	exec(t, db, "create table c (id bigint, v varchar not null)")
	wide := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "v", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	first := kvRecord(memory.DefaultAllocator, idRange(1, 20_001), func(id int64) bool { return id == 5 })
	// The second batch's id is a string that is no number.
	b := array.NewRecordBuilder(memory.DefaultAllocator, arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.BinaryTypes.String},
		{Name: "v", Type: arrow.BinaryTypes.String},
	}, nil))
	b.Field(0).(*array.StringBuilder).AppendValues([]string{"1", "x"}, nil)
	b.Field(1).(*array.StringBuilder).AppendValues([]string{"a", "b"}, nil)
	second := b.NewRecordBatch()
	b.Release()
	_, err = db.Ingest(ctx, "c", &twoSchemas{recs: []arrow.RecordBatch{first, second}, sch: wide})
	first.Release()
	second.Release()
	check("a bad row before a failed conversion", err, 5)
	exec(t, db, "insert into k values (3, 'x')")
	_, err = db.Exec(ctx, "update k set v = null where id = 3")
	if e := sqlstate.From(err); e == nil || e.Code != sqlstate.NotNullViolation || e.Row != 0 {
		t.Errorf("update: %v, want 23502 without a row", err)
	}
}

// twoSchemas is a record reader whose batches may differ from its schema
// (a client's stream the server has not checked): conform meets each.
type twoSchemas struct {
	recs []arrow.RecordBatch
	sch  *arrow.Schema
	cur  arrow.RecordBatch
}

func (r *twoSchemas) Retain()                        {}
func (r *twoSchemas) Release()                       {}
func (r *twoSchemas) Schema() *arrow.Schema          { return r.sch }
func (r *twoSchemas) Err() error                     { return nil }
func (r *twoSchemas) Record() arrow.RecordBatch      { return r.cur }
func (r *twoSchemas) RecordBatch() arrow.RecordBatch { return r.cur }
func (r *twoSchemas) Next() bool {
	if len(r.recs) == 0 {
		return false
	}
	r.cur, r.recs = r.recs[0], r.recs[1:]
	return true
}
