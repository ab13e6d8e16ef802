package flight

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	arrowflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestIngestClient writes through Ingest to both ingest paths and checks
// the answered counts, the rows the table then holds, and (startServer's
// cleanup) that every client buffer was released, also those gRPC held
// by reference.
func TestIngestClient(t *testing.T) {
	e := startServer(t, nil, nil)
	e.exec(t, "CREATE TABLE t (id BIGINT NOT NULL, v DOUBLE)")
	create, err := IngestDescriptor(ingestOpts("created", flightsql.TableDefinitionOptionsTableNotExistOptionCreate,
		flightsql.TableDefinitionOptionsTableExistsOptionFail))
	if err != nil {
		t.Fatal(err)
	}
	appendT, err := IngestDescriptor(ingestOpts("t", flightsql.TableDefinitionOptionsTableNotExistOptionFail,
		flightsql.TableDefinitionOptionsTableExistsOptionAppend))
	if err != nil {
		t.Fatal(err)
	}
	path := &arrowflight.FlightDescriptor{Type: arrowflight.DescriptorPATH, Path: []string{"t"}}
	steps := []struct {
		name       string
		desc       *arrowflight.FlightDescriptor
		from, n    int
		batch      int
		table, sum string // the table and its SELECT count(*), sum(id), count(v) after the step
	}{
		{"doput", path, 0, 50_000, 20_000, "t", "50000|1249975000|42857"},
		{"statement-ingest append", appendT, 50_000, 1000, 1000, "t", "51000|1300474500|43714"},
		{"statement-ingest create", create, 0, 7, 3, "created", "7|21|6"},
		{"doput, no batches", path, 0, 0, 1, "t", "51000|1300474500|43714"},
	}
	for _, s := range steps {
		recs := narrowBatches(e.client.Alloc, s.from, s.n, s.batch)
		rdr := recordReader(t, narrowSchema, recs)
		n, err := Ingest(e.ctx, e.client.Client, s.desc, rdr, &IngestOptions{Allocator: e.client.Alloc})
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if n != int64(s.n) {
			t.Errorf("%s: answered %d rows, want %d", s.name, n, s.n)
		}
		_, res := e.query(t, "SELECT count(*), sum(id), count(v) FROM "+s.table)
		if got := strings.Join(rowStrings(res), ";"); got != s.sum {
			t.Errorf("%s: table %s holds %q, want %q", s.name, s.table, got, s.sum)
		}
		releaseAll(res)
	}
}

// failingReader yields its batches, then fails.
type failingReader struct {
	array.RecordReader
	err error
}

func (r *failingReader) Err() error { return r.err }

// TestIngestClientWritesNothingOnFailure checks that a call whose reader
// fails, or whose batches change schema, or that the server refuses,
// writes no row and returns the cause.
func TestIngestClientWritesNothingOnFailure(t *testing.T) {
	e := startServer(t, nil, nil)
	e.exec(t, "CREATE TABLE t (id BIGINT NOT NULL, v DOUBLE)")
	path := &arrowflight.FlightDescriptor{Type: arrowflight.DescriptorPATH, Path: []string{"t"}}
	opts := &IngestOptions{Allocator: e.client.Alloc}

	readErr := errors.New("reader broke")
	rdr := &failingReader{RecordReader: recordReader(t, narrowSchema, narrowBatches(e.client.Alloc, 0, 3000, 1000)), err: readErr}
	if _, err := Ingest(e.ctx, e.client.Client, path, rdr, opts); !errors.Is(err, readErr) {
		t.Errorf("failing reader: %v, want %v", err, readErr)
	}

	other := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	b := array.NewInt64Builder(e.client.Alloc)
	b.AppendValues([]int64{1, 2}, nil)
	col := b.NewArray()
	b.Release()
	odd := array.NewRecordBatch(other, []arrow.Array{col}, 2)
	col.Release()
	mixed := &batchList{sch: narrowSchema, recs: append(narrowBatches(e.client.Alloc, 0, 1000, 1000), odd)}
	t.Cleanup(func() { releaseAll(mixed.recs) })
	if _, err := Ingest(e.ctx, e.client.Client, path, mixed, opts); err == nil || !strings.Contains(err.Error(), "schema") {
		t.Errorf("batch of another schema: %v, want a schema error", err)
	}

	// The server refuses the second batch (a duplicate key) while the
	// client may still be sending: the first is not written either.
	e.exec(t, "CREATE TABLE pk (id BIGINT NOT NULL PRIMARY KEY, v DOUBLE)")
	dup := append(narrowBatches(e.client.Alloc, 0, 20_000, 10_000), narrowBatches(e.client.Alloc, 19_999, 20_000, 20_000)...)
	pkPath := &arrowflight.FlightDescriptor{Type: arrowflight.DescriptorPATH, Path: []string{"pk"}}
	_, err := Ingest(e.ctx, e.client.Client, pkPath, recordReader(t, narrowSchema, dup), opts)
	if st, _ := status.FromError(err); !strings.HasPrefix(st.Message(), "23505") {
		t.Errorf("duplicate key: %v, want 23505", err)
	}
	if got := e.count(t, "pk"); got != "0" {
		t.Errorf("pk holds %s rows after a failed ingest, want 0", got)
	}

	missing := &arrowflight.FlightDescriptor{Type: arrowflight.DescriptorPATH, Path: []string{"nope"}}
	_, err = Ingest(e.ctx, e.client.Client, missing, recordReader(t, narrowSchema, narrowBatches(e.client.Alloc, 0, 10, 10)), opts)
	if st, _ := status.FromError(err); st.Code() != codes.NotFound || !strings.HasPrefix(st.Message(), "42P01") {
		t.Errorf("missing table: %v, want NotFound 42P01", err)
	}
	if got := e.count(t, "t"); got != "0" {
		t.Errorf("t holds %s rows after failed ingests, want 0", got)
	}

	if _, err := Ingest(e.ctx, e.client.Client, nil, recordReader(t, narrowSchema, nil), opts); err == nil {
		t.Error("Ingest without a descriptor: no error")
	}
	if _, err := IngestDescriptor(&flightsql.ExecuteIngestOpts{Table: "t"}); err == nil {
		t.Error("IngestDescriptor without TableDefinitionOptions: no error")
	}
}

// batchList yields recs under the schema sch, whatever their own: a
// reader that array.NewRecordReader would refuse. Its owner releases recs.
type batchList struct {
	sch  *arrow.Schema
	recs []arrow.RecordBatch
	i    int
}

func (r *batchList) Retain()                        {}
func (r *batchList) Release()                       {}
func (r *batchList) Schema() *arrow.Schema          { return r.sch }
func (r *batchList) Next() bool                     { r.i++; return r.i <= len(r.recs) }
func (r *batchList) RecordBatch() arrow.RecordBatch { return r.recs[r.i-1] }
func (r *batchList) Record() arrow.RecordBatch      { return r.RecordBatch() }
func (r *batchList) Err() error                     { return nil }

// TestIngestClientDictionary sends a dictionary-encoded column, which
// Ingest writes with arrow-go's writer: the server must answer exactly as
// it answers arrow-go's own ExecuteIngest of the same batch.
func TestIngestClientDictionary(t *testing.T) {
	e := startServer(t, nil, nil)
	e.exec(t, "CREATE TABLE d (s VARCHAR)")
	dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	sch := arrow.NewSchema([]arrow.Field{{Name: "s", Type: dt, Nullable: true}}, nil)
	batch := func() []arrow.RecordBatch {
		b := array.NewDictionaryBuilder(e.client.Alloc, dt).(*array.BinaryDictionaryBuilder)
		defer b.Release()
		for _, v := range []string{"a", "b", "a", "c"} {
			if err := b.AppendString(v); err != nil {
				t.Fatal(err)
			}
		}
		col := b.NewArray()
		defer col.Release()
		return []arrow.RecordBatch{array.NewRecordBatch(sch, []arrow.Array{col}, 4)}
	}
	opts := ingestOpts("d", flightsql.TableDefinitionOptionsTableNotExistOptionFail, flightsql.TableDefinitionOptionsTableExistsOptionAppend)
	wantN, wantErr := e.client.ExecuteIngest(e.ctx, recordReader(t, sch, batch()), opts)
	desc, err := IngestDescriptor(opts)
	if err != nil {
		t.Fatal(err)
	}
	gotN, gotErr := Ingest(e.ctx, e.client.Client, desc, recordReader(t, sch, batch()), &IngestOptions{Allocator: e.client.Alloc})
	if gotN != wantN || status.Code(gotErr) != status.Code(wantErr) || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Errorf("Ingest: %d, %v; ExecuteIngest: %d, %v", gotN, gotErr, wantN, wantErr)
	}
	if wantErr == nil {
		_, res := e.query(t, "SELECT s, count(*) FROM d GROUP BY s ORDER BY s")
		if got := strings.Join(rowStrings(res), ";"); got != "a|4;b|2;c|2" {
			t.Errorf("d holds %q after both ingests, want a|4;b|2;c|2", got)
		}
		releaseAll(res)
	}
}
