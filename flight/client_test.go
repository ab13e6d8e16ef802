package flight

import (
	"errors"
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

	missing := &arrowflight.FlightDescriptor{Type: arrowflight.DescriptorPATH, Path: []string{"nope"}}
	_, err := Ingest(e.ctx, e.client.Client, missing, recordReader(t, narrowSchema, narrowBatches(e.client.Alloc, 0, 10, 10)), opts)
	if st, _ := status.FromError(err); st.Code() != codes.NotFound || !strings.HasPrefix(st.Message(), "42P01") {
		t.Errorf("missing table: %v, want NotFound 42P01", err)
	}
	if got := e.count(t, "t"); got != "0" {
		t.Errorf("t holds %s rows after failed ingests, want 0", got)
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
