package flight

import (
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	arrowflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql/schema_ref"
	pb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc/codes"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/internal/arrowsize"
)

func TestTransactions(t *testing.T) {
	e := startServer(t, nil, nil)
	e.exec(t, "CREATE TABLE t (id BIGINT NOT NULL, v DOUBLE)")

	// Committed: an update, a query that sees it and an ingest.
	tx, err := e.client.BeginTransaction(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := tx.ExecuteUpdate(e.ctx, "INSERT INTO t VALUES (1, 1.5), (2, 2.5)"); err != nil || n != 2 {
		t.Fatalf("insert in txn: %d, %v", n, err)
	}
	info, err := tx.Execute(e.ctx, "SELECT count(*) FROM t")
	if err != nil {
		t.Fatal(err)
	}
	_, recs := e.fetch(t, info)
	if got := rowStrings(recs); len(got) != 1 || got[0] != "2" {
		t.Fatalf("count inside txn: %v, want 2", got)
	}
	releaseAll(recs)
	if got := e.count(t, "t"); got != "0" {
		t.Fatalf("count outside txn before commit: %s, want 0", got)
	}
	opts := ingestOpts("t", flightsql.TableDefinitionOptionsTableNotExistOptionFail, flightsql.TableDefinitionOptionsTableExistsOptionAppend)
	opts.TransactionId = tx.ID()
	if n, err := e.client.ExecuteIngest(e.ctx, recordReader(t, narrowSchema, narrowBatches(e.client.Alloc, 10, 5, 5)), opts); err != nil || n != 5 {
		t.Fatalf("ingest in txn: %d, %v", n, err)
	}
	// A prepared statement of the transaction.
	prep, err := tx.Prepare(e.ctx, "DELETE FROM t WHERE id = 1")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := prep.ExecuteUpdate(e.ctx); err != nil || n != 1 {
		t.Fatalf("prepared delete in txn: %d, %v", n, err)
	}
	if err := prep.Close(e.ctx); err != nil {
		t.Fatal(err)
	}
	// DDL is refused inside a transaction: FailedPrecondition (25001)
	// aborts it, so this test runs it in a second transaction.
	if err := tx.Commit(e.ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.count(t, "t"); got != "6" {
		t.Fatalf("count after commit: %s, want 6", got)
	}

	// Rolled back.
	tx, err = e.client.BeginTransaction(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecuteUpdate(e.ctx, "DELETE FROM t"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(e.ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.count(t, "t"); got != "6" {
		t.Fatalf("count after rollback: %s, want 6", got)
	}

	// A failed statement aborts the transaction: later ones and the commit
	// answer FailedPrecondition.
	tx, err = e.client.BeginTransaction(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecuteUpdate(e.ctx, "CREATE TABLE u (a INT)"); codeOf(err) != codes.FailedPrecondition {
		t.Fatalf("DDL in txn: %v, want FailedPrecondition", err)
	}
	if _, err := tx.ExecuteUpdate(e.ctx, "DELETE FROM t"); codeOf(err) != codes.FailedPrecondition {
		t.Fatalf("statement after failure: %v, want FailedPrecondition", err)
	}
	if err := tx.Commit(e.ctx); codeOf(err) != codes.FailedPrecondition {
		t.Fatalf("commit after failure: %v, want FailedPrecondition", err)
	}
	if got := e.count(t, "t"); got != "6" {
		t.Fatalf("count after failed txn: %s, want 6", got)
	}
}

func TestTransactionIdleTimeout(t *testing.T) {
	e := startServer(t, &Options{TransactionIdleTimeout: time.Millisecond}, nil)
	e.exec(t, "CREATE TABLE t (id BIGINT)")
	tx, err := e.client.BeginTransaction(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecuteUpdate(e.ctx, "INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	// Beginning another transaction sweeps the idle one.
	tx2, err := e.client.BeginTransaction(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx2.Rollback(e.ctx)
	if err := tx.Commit(e.ctx); codeOf(err) != codes.NotFound {
		t.Fatalf("commit of an expired transaction: %v, want NotFound", err)
	}
	if got := e.count(t, "t"); got != "0" {
		t.Fatalf("count %s, want 0", got)
	}
}

func TestCancelFlightInfo(t *testing.T) {
	e := startServer(t, nil, &mantisdb.Options{BatchSize: 64})
	e.exec(t, "CREATE TABLE big (id BIGINT PRIMARY KEY, v VARCHAR)")
	ingestBig(t, e, 100_000)
	info, err := e.client.Execute(e.ctx, "SELECT id, v FROM big")
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.client.CancelFlightInfo(e.ctx, &arrowflight.CancelFlightInfoRequest{Info: info})
	if err != nil || res.Status != arrowflight.CancelStatusNotCancellable {
		t.Fatalf("cancel before DoGet: %v %v", res, err)
	}
	rdr, err := e.client.DoGet(e.ctx, info.Endpoint[0].Ticket)
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Release()
	if !rdr.Next() {
		t.Fatalf("no first batch: %v", rdr.Err())
	}
	res, err = e.client.CancelFlightInfo(e.ctx, &arrowflight.CancelFlightInfoRequest{Info: info})
	if err != nil || res.Status != arrowflight.CancelStatusCancelled {
		t.Fatalf("cancel during DoGet: %v %v", res, err)
	}
	rows := int64(0)
	for rdr.Next() {
		rows += rdr.RecordBatch().NumRows()
	}
	if code, msg := statusOf(rdr.Err()); code != codes.Canceled || !strings.HasPrefix(msg, "57014") {
		t.Fatalf("stream after cancel: %v %q (%d rows), want Canceled 57014", code, msg, rows)
	}
}

// TestDoGetSlicesLargeBatches checks that no DoGet message exceeds the
// configured size, and that slicing keeps every row.
func TestDoGetSlicesLargeBatches(t *testing.T) {
	e := startServer(t, &Options{MaxBatchBytes: 64 << 10}, &mantisdb.Options{BatchSize: 100_000})
	e.exec(t, "CREATE TABLE big (id BIGINT PRIMARY KEY, v VARCHAR)")
	ingestBig(t, e, 100_000)
	_, recs := e.query(t, "SELECT id, v FROM big")
	defer releaseAll(recs)
	var rows int64
	for _, rec := range recs {
		rows += rec.NumRows()
		size := int64(0)
		for _, c := range rec.Columns() {
			size += arrowsize.Array(c)
		}
		if size > 80<<10 {
			t.Fatalf("batch of %d bytes, want about 64 KiB at most", size)
		}
	}
	if rows != 100_000 || len(recs) < 20 {
		t.Fatalf("%d rows in %d batches, want 100000 in at least 20", rows, len(recs))
	}
}

func TestSliceRows(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := array.NewRecordBuilder(mem, arrow.NewSchema([]arrow.Field{
		{Name: "a", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: arrow.BinaryTypes.String},
	}, nil))
	defer b.Release()
	for i := 0; i < 1000; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.StringBuilder).Append(strings.Repeat("x", 88))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	// 1000 rows of about 8 + 88 + 4 bytes (+ validity bits).
	for _, tc := range []struct {
		max  int
		want int64
	}{
		{1 << 20, 1000},
		{50_000, 498}, // 100250 bytes in all
		{10, 1},
	} {
		if got := sliceRows(rec, tc.max); got != tc.want {
			t.Errorf("sliceRows(max %d) = %d, want %d", tc.max, got, tc.want)
		}
	}
	// A slice is measured by its own rows.
	s := rec.NewSlice(500, 600)
	defer s.Release()
	if got := arrowsize.Array(s.Column(1)); got != 100*92+13 {
		t.Errorf("size of sliced strings %d, want %d", got, 100*92+13)
	}
}

func TestXdbcTypeInfoAndKeys(t *testing.T) {
	e := startServer(t, nil, nil)
	info, err := e.client.GetXdbcTypeInfo(e.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	sch, recs := e.fetch(t, info)
	if !sch.Equal(schema_ref.XdbcTypeInfo) {
		t.Errorf("schema %v", sch)
	}
	n := 0
	for _, r := range recs {
		n += int(r.NumRows())
	}
	releaseAll(recs)
	if n != len(xdbcTypes) {
		t.Errorf("%d types, want %d", n, len(xdbcTypes))
	}
	dt := int32(pb.XdbcDataType_XDBC_VARCHAR)
	info, err = e.client.GetXdbcTypeInfo(e.ctx, &dt)
	if err != nil {
		t.Fatal(err)
	}
	_, recs = e.fetch(t, info)
	if got := rowStrings(recs); len(got) != 1 || !strings.HasPrefix(got[0], "VARCHAR|12|") {
		t.Errorf("VARCHAR: %v", got)
	}
	releaseAll(recs)

	ref := flightsql.TableRef{Table: "t"}
	for name, get := range map[string]func() (*arrowflight.FlightInfo, error){
		"imported": func() (*arrowflight.FlightInfo, error) { return e.client.GetImportedKeys(e.ctx, ref) },
		"exported": func() (*arrowflight.FlightInfo, error) { return e.client.GetExportedKeys(e.ctx, ref) },
		"cross": func() (*arrowflight.FlightInfo, error) {
			return e.client.GetCrossReference(e.ctx, ref, flightsql.TableRef{Table: "u"})
		},
	} {
		info, err := get()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sch, recs := e.fetch(t, info)
		if !sch.Equal(schema_ref.ImportedExportedKeysAndCrossReference) || len(rowStrings(recs)) != 0 {
			t.Errorf("%s: schema %v, rows %v", name, sch, rowStrings(recs))
		}
		releaseAll(recs)
	}
}
