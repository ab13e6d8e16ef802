package flight

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	arrowflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	pb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// narrowSchema is the schema of the generated ingest data: an id and a
// value that is NULL where the row number is divisible by 7.
var narrowSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "v", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
}, nil)

// narrowBatches returns n rows of narrowSchema in batches of batchRows,
// starting at id from.
func narrowBatches(mem memory.Allocator, from, n, batchRows int) []arrow.RecordBatch {
	var recs []arrow.RecordBatch
	b := array.NewRecordBuilder(mem, narrowSchema)
	defer b.Release()
	ids := b.Field(0).(*array.Int64Builder)
	vs := b.Field(1).(*array.Float64Builder)
	for start := 0; start < n; start += batchRows {
		m := min(batchRows, n-start)
		ids.Reserve(m)
		vs.Reserve(m)
		for i := start; i < start+m; i++ {
			id := from + i
			ids.UnsafeAppend(int64(id))
			if id%7 == 0 {
				vs.UnsafeAppendBoolToBitmap(false)
			} else {
				vs.UnsafeAppend(float64(id) / 2)
			}
		}
		recs = append(recs, b.NewRecordBatch())
	}
	return recs
}

// recordReader returns a reader over recs that releases them when released.
func recordReader(t *testing.T, sch *arrow.Schema, recs []arrow.RecordBatch) array.RecordReader {
	t.Helper()
	rdr, err := array.NewRecordReader(sch, recs)
	if err != nil {
		t.Fatal(err)
	}
	releaseAll(recs)
	t.Cleanup(rdr.Release)
	return rdr
}

func ingestOpts(table string, ifNotExist flightsql.TableDefinitionOptionsTableNotExistOption, ifExists flightsql.TableDefinitionOptionsTableExistsOption) *flightsql.ExecuteIngestOpts {
	return &flightsql.ExecuteIngestOpts{
		Table: table,
		TableDefinitionOptions: &flightsql.TableDefinitionOptions{
			IfNotExist: ifNotExist,
			IfExists:   ifExists,
		},
	}
}

func (e *testEnv) count(t *testing.T, table string) string {
	t.Helper()
	_, recs := e.query(t, "SELECT count(*) FROM "+table)
	defer releaseAll(recs)
	return strings.Join(rowStrings(recs), ";")
}

func TestIngestTableOptions(t *testing.T) {
	e := startServer(t, nil, nil)
	const (
		create     = flightsql.TableDefinitionOptionsTableNotExistOptionCreate
		failAbsent = flightsql.TableDefinitionOptionsTableNotExistOptionFail
		unspecAbs  = flightsql.TableDefinitionOptionsTableNotExistOptionUnspecified
		appendOpt  = flightsql.TableDefinitionOptionsTableExistsOptionAppend
		replace    = flightsql.TableDefinitionOptionsTableExistsOptionReplace
		failExists = flightsql.TableDefinitionOptionsTableExistsOptionFail
		unspecEx   = flightsql.TableDefinitionOptionsTableExistsOptionUnspecified
	)
	ingest := func(opts *flightsql.ExecuteIngestOpts, from, n int) (int64, error) {
		return e.client.ExecuteIngest(e.ctx, recordReader(t, narrowSchema, narrowBatches(e.client.Alloc, from, n, 1000)), opts)
	}
	steps := []struct {
		name  string
		opts  *flightsql.ExecuteIngestOpts
		n     int
		code  codes.Code
		count string
	}{
		{"absent, fail", ingestOpts("t", failAbsent, appendOpt), 10, codes.NotFound, ""},
		{"absent, unspecified", ingestOpts("t", unspecAbs, appendOpt), 10, codes.NotFound, ""},
		{"create", ingestOpts("t", create, failExists), 2500, codes.OK, "2500"},
		{"exists, fail", ingestOpts("t", create, failExists), 10, codes.AlreadyExists, "2500"},
		{"exists, unspecified", ingestOpts("t", create, unspecEx), 10, codes.AlreadyExists, "2500"},
		{"append", ingestOpts("t", failAbsent, appendOpt), 100, codes.OK, "2600"},
		{"replace", ingestOpts("t", failAbsent, replace), 42, codes.OK, "42"},
		{"temporary", func() *flightsql.ExecuteIngestOpts {
			o := ingestOpts("t", create, appendOpt)
			o.Temporary = true
			return o
		}(), 1, codes.Unimplemented, "42"},
		{"catalog", func() *flightsql.ExecuteIngestOpts {
			c := "cat"
			o := ingestOpts("t", create, appendOpt)
			o.Catalog = &c
			return o
		}(), 1, codes.Unimplemented, "42"},
		{"other schema", func() *flightsql.ExecuteIngestOpts {
			sch := "other"
			o := ingestOpts("t", create, appendOpt)
			o.Schema = &sch
			return o
		}(), 1, codes.NotFound, "42"},
		{"public schema", func() *flightsql.ExecuteIngestOpts {
			sch := "PUBLIC"
			o := ingestOpts("t", create, appendOpt)
			o.Schema = &sch
			return o
		}(), 1, codes.OK, "43"},
		{"unknown option", func() *flightsql.ExecuteIngestOpts {
			o := ingestOpts("t", create, appendOpt)
			o.Options = map[string]string{"bogus": "1"}
			return o
		}(), 1, codes.InvalidArgument, "43"},
	}
	for _, st := range steps {
		n, err := ingest(st.opts, 0, st.n)
		if code, msg := statusOf(err); code != st.code {
			t.Fatalf("%s: code %v (%s), want %v", st.name, code, msg, st.code)
		}
		if err == nil && n != int64(st.n) {
			t.Fatalf("%s: %d rows ingested, want %d", st.name, n, st.n)
		}
		if st.count != "" {
			if got := e.count(t, "t"); got != st.count {
				t.Fatalf("%s: count %s, want %s", st.name, got, st.count)
			}
		}
	}
	// The created table has the stream's columns, types and nullability.
	tbl, ok := e.db.Table("t")
	if !ok {
		t.Fatal("table t missing")
	}
	if !tbl.Schema().Equal(narrowSchema) {
		t.Fatalf("created schema\n%v\nwant\n%v", tbl.Schema(), narrowSchema)
	}
	// NULLs arrive as NULLs.
	_, recs := e.query(t, "SELECT count(*), count(v) FROM t")
	defer releaseAll(recs)
	if got := rowStrings(recs); len(got) != 1 || got[0] != "43|36" {
		t.Fatalf("count(*), count(v) = %v, want 43|36", got)
	}
}

func TestIngestMillionRows(t *testing.T) {
	if testing.Short() {
		t.Skip("1M rows")
	}
	e := startServer(t, nil, nil)
	e.exec(t, "CREATE TABLE big (id BIGINT NOT NULL, v DOUBLE)")
	const n = 1_000_000
	got, err := e.client.ExecuteIngest(e.ctx,
		recordReader(t, narrowSchema, narrowBatches(e.client.Alloc, 0, n, 64<<10)),
		ingestOpts("big", flightsql.TableDefinitionOptionsTableNotExistOptionFail, flightsql.TableDefinitionOptionsTableExistsOptionAppend))
	if err != nil {
		t.Fatal(err)
	}
	if got != n {
		t.Fatalf("%d rows ingested, want %d", got, n)
	}
	_, recs := e.query(t, "SELECT count(*), sum(id), count(v) FROM big")
	defer releaseAll(recs)
	want := fmt.Sprintf("%d|%d|%d", n, int64(n)*(n-1)/2, n-(n+6)/7)
	if rows := rowStrings(recs); len(rows) != 1 || rows[0] != want {
		t.Fatalf("got %v, want %s", rows, want)
	}
}

// TestIngestFailureWritesNothing sends a stream whose third batch violates
// NOT NULL: no row of the stream may be written.
func TestIngestFailureWritesNothing(t *testing.T) {
	e := startServer(t, nil, nil)
	e.exec(t, "CREATE TABLE t (id BIGINT NOT NULL, v DOUBLE NOT NULL)")
	e.exec(t, "INSERT INTO t VALUES (1, 1.5)")
	_, err := e.client.ExecuteIngest(e.ctx,
		recordReader(t, narrowSchema, narrowBatches(e.client.Alloc, 1, 20, 6)),
		ingestOpts("t", flightsql.TableDefinitionOptionsTableNotExistOptionFail, flightsql.TableDefinitionOptionsTableExistsOptionAppend))
	if code, msg := statusOf(err); code != codes.InvalidArgument || !strings.HasPrefix(msg, "23502") {
		t.Fatalf("got %v %q, want InvalidArgument 23502", code, msg)
	}
	if got := e.count(t, "t"); got != "1" {
		t.Fatalf("count %s after failed ingest, want 1", got)
	}
}

// TestIngestBadRowNamed: a bad value deep in an ingest stream is answered
// with its row of the stream (1-based, across batches) and column, in the
// message and in the ErrorInfo, through CommandStatementIngest and a plain
// DoPut, and nothing is written. The values are those the database
// checks itself (DECIMAL precision, NOT NULL, VARCHAR length) and one that
// does not convert to its column's type.
func TestIngestBadRowNamed(t *testing.T) {
	e := startServer(t, nil, nil)
	e.exec(t, "CREATE TABLE b (id BIGINT NOT NULL, amount DECIMAL(5,2), name VARCHAR(3), code INT)")
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "amount", Type: &arrow.Decimal128Type{Precision: 5, Scale: 2}, Nullable: true},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "code", Type: arrow.PrimitiveTypes.Int64, Nullable: true}, // cast to INT
	}, nil)
	const batchRows, bad = 100, 250 // row 250: the 50th of the third batch
	batches := func(column string) []arrow.RecordBatch {
		var out []arrow.RecordBatch
		b := array.NewRecordBuilder(e.client.Alloc, sch)
		defer b.Release()
		for lo := 1; lo <= 4*batchRows; lo += batchRows {
			for row := lo; row < lo+batchRows; row++ {
				id, amount, name, code := int64(row), decimal128.FromI64(-99999), "abc", int64(math.MaxInt32)
				isBad := row == bad
				switch {
				case isBad && column == "amount":
					amount = decimal128.FromI64(100000)
				case isBad && column == "name":
					name = "abcd"
				case isBad && column == "code":
					code = math.MaxInt32 + 1
				}
				b.Field(0).(*array.Int64Builder).AppendValues([]int64{id}, []bool{!(isBad && column == "id")})
				b.Field(1).(*array.Decimal128Builder).Append(amount)
				b.Field(2).(*array.StringBuilder).Append(name)
				b.Field(3).(*array.Int64Builder).Append(code)
			}
			out = append(out, b.NewRecordBatch())
		}
		return out
	}
	for _, tc := range []struct {
		column string
		state  string
	}{
		{"id", "23502"},
		{"amount", "22003"},
		{"name", "22001"},
		{"code", "42804"},
	} {
		for _, path := range []string{"ingest", "doput"} {
			var err error
			if path == "ingest" {
				_, err = e.client.ExecuteIngest(e.ctx, recordReader(t, sch, batches(tc.column)),
					ingestOpts("b", flightsql.TableDefinitionOptionsTableNotExistOptionFail, flightsql.TableDefinitionOptionsTableExistsOptionAppend))
			} else {
				_, err = e.doPutPath(t, []string{"b"}, sch, batches(tc.column))
			}
			st := status.Convert(err)
			where := fmt.Sprintf("(row %d, column %q)", bad, tc.column)
			if st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), tc.state) || !strings.Contains(st.Message(), where) {
				t.Errorf("%s, bad %s: %v %q, want InvalidArgument %s ... %s", path, tc.column, st.Code(), st.Message(), tc.state, where)
				continue
			}
			var info *errdetails.ErrorInfo
			for _, d := range st.Details() {
				if i, ok := d.(*errdetails.ErrorInfo); ok {
					info = i
				}
			}
			if info == nil || info.Metadata["row"] != strconv.Itoa(bad) || info.Metadata["column"] != tc.column {
				t.Errorf("%s, bad %s: ErrorInfo %v", path, tc.column, info)
			}
		}
	}
	if got := e.count(t, "b"); got != "0" {
		t.Fatalf("count %s after failed ingests, want 0", got)
	}
}

func TestIngestSchemaMismatch(t *testing.T) {
	e := startServer(t, nil, nil)
	e.exec(t, "CREATE TABLE t (id BIGINT NOT NULL, d DATE)")
	appendOpts := ingestOpts("t", flightsql.TableDefinitionOptionsTableNotExistOptionFail, flightsql.TableDefinitionOptionsTableExistsOptionAppend)
	// v is not a column of t.
	_, err := e.client.ExecuteIngest(e.ctx,
		recordReader(t, narrowSchema, narrowBatches(e.client.Alloc, 0, 10, 10)), appendOpts)
	if code, msg := statusOf(err); code != codes.NotFound || !strings.HasPrefix(msg, "42703") {
		t.Fatalf("unknown column: got %v %q, want NotFound 42703", code, msg)
	}
	// A list cannot become a DATE.
	listSchema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "d", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32), Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(e.client.Alloc, listSchema)
	b.Field(0).(*array.Int64Builder).Append(1)
	b.Field(1).AppendNull()
	rec := b.NewRecordBatch()
	b.Release()
	_, err = e.client.ExecuteIngest(e.ctx, recordReader(t, listSchema, []arrow.RecordBatch{rec}), appendOpts)
	if code, msg := statusOf(err); code == codes.OK || code == codes.Internal || code == codes.Unknown {
		t.Fatalf("list into DATE: got %v %q, want a client error", code, msg)
	}
	// Creating a table from a type without SQL type.
	b = array.NewRecordBuilder(e.client.Alloc, listSchema)
	b.Field(0).(*array.Int64Builder).Append(1)
	b.Field(1).AppendNull()
	rec = b.NewRecordBatch()
	b.Release()
	_, err = e.client.ExecuteIngest(e.ctx, recordReader(t, listSchema, []arrow.RecordBatch{rec}),
		ingestOpts("t2", flightsql.TableDefinitionOptionsTableNotExistOptionCreate, flightsql.TableDefinitionOptionsTableExistsOptionFail))
	if code, msg := statusOf(err); code != codes.Unimplemented || !strings.Contains(msg, "no MantisDB SQL type") {
		t.Fatalf("create with list column: got %v %q", code, msg)
	}
	if got := e.count(t, "t"); got != "0" {
		t.Fatalf("count %s, want 0", got)
	}
}

// doPutPath sends recs with a plain Flight DoPut to the descriptor path
// [table] and returns the row count of the answer.
func (e *testEnv) doPutPath(t testing.TB, path []string, sch *arrow.Schema, recs []arrow.RecordBatch) (int64, error) {
	t.Helper()
	defer releaseAll(recs)
	stream, err := e.client.Client.DoPut(e.ctx)
	if err != nil {
		return 0, err
	}
	w := arrowflight.NewRecordWriter(stream, ipc.WithAllocator(e.client.Alloc), ipc.WithSchema(sch))
	w.SetFlightDescriptor(&arrowflight.FlightDescriptor{Type: arrowflight.DescriptorPATH, Path: path})
	for _, rec := range recs {
		if err := w.Write(rec); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			w.Close()
			return 0, err
		}
	}
	if err := w.Close(); err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	if err := stream.CloseSend(); err != nil {
		return 0, err
	}
	res, err := stream.Recv()
	if err != nil {
		return 0, err
	}
	var upd pb.DoPutUpdateResult
	if err := proto.Unmarshal(res.GetAppMetadata(), &upd); err != nil {
		return 0, err
	}
	if _, err := stream.Recv(); err != io.EOF {
		return 0, fmt.Errorf("after the result: %v, want EOF", err)
	}
	return upd.RecordCount, nil
}

func TestDoPutPath(t *testing.T) {
	e := startServer(t, nil, nil)
	e.exec(t, "CREATE TABLE t (id BIGINT NOT NULL, v DOUBLE)")
	n, err := e.doPutPath(t, []string{"t"}, narrowSchema, narrowBatches(e.client.Alloc, 0, 3000, 1024))
	if err != nil {
		t.Fatal(err)
	}
	if n != 3000 {
		t.Fatalf("%d rows, want 3000", n)
	}
	if got := e.count(t, "t"); got != "3000" {
		t.Fatalf("count %s, want 3000", got)
	}
	for _, tc := range []struct {
		path []string
		code codes.Code
	}{
		{[]string{"missing"}, codes.NotFound},
		{[]string{"a", "b"}, codes.InvalidArgument},
		{nil, codes.InvalidArgument},
	} {
		_, err := e.doPutPath(t, tc.path, narrowSchema, narrowBatches(e.client.Alloc, 0, 10, 10))
		if code, msg := statusOf(err); code != tc.code {
			t.Errorf("path %q: %v %q, want %v", tc.path, code, msg, tc.code)
		}
	}
	// A message larger than gRPC's default 4 MiB receive limit.
	big := narrowBatches(e.client.Alloc, 10_000, 600_000, 600_000)
	if n, err := e.doPutPath(t, []string{"t"}, narrowSchema, big); err != nil || n != 600_000 {
		t.Fatalf("large message: %d rows, %v", n, err)
	}
}

// flightMessages records the FlightData messages a writer sends.
type flightMessages []*arrowflight.FlightData

func (m *flightMessages) Send(fd *arrowflight.FlightData) error {
	*m = append(*m, proto.Clone(fd).(*arrowflight.FlightData))
	return nil
}

// TestIngestBrokenStreamWritesNothing sends a good batch and then a broken
// message through both ingest paths: the ingest fails with a client error
// (the broken message is the client's fault) and writes nothing, whatever
// the message's fault: a body shorter than its header says, an undecodable
// protobuf, a header that is not an IPC message.
func TestIngestBrokenStreamWritesNothing(t *testing.T) {
	e := startServer(t, nil, nil)
	e.exec(t, "CREATE TABLE t (id BIGINT NOT NULL, v DOUBLE)")
	e.exec(t, "INSERT INTO t VALUES (-1, 1.5)")
	ingestCmd, err := anypb.New(&pb.CommandStatementIngest{Table: "t",
		TableDefinitionOptions: &pb.CommandStatementIngest_TableDefinitionOptions{
			IfNotExist: pb.CommandStatementIngest_TableDefinitionOptions_TABLE_NOT_EXIST_OPTION_FAIL,
			IfExists:   pb.CommandStatementIngest_TableDefinitionOptions_TABLE_EXISTS_OPTION_APPEND,
		}})
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := proto.Marshal(ingestCmd)
	if err != nil {
		t.Fatal(err)
	}
	descs := map[string]*arrowflight.FlightDescriptor{
		"doput":            {Type: arrowflight.DescriptorPATH, Path: []string{"t"}},
		"statement-ingest": {Type: arrowflight.DescriptorCMD, Cmd: cmd},
	}
	breaks := map[string]func(good *arrowflight.FlightData) *arrowflight.FlightData{
		"short body": func(good *arrowflight.FlightData) *arrowflight.FlightData {
			return &arrowflight.FlightData{DataHeader: good.DataHeader, DataBody: good.DataBody[:len(good.DataBody)/2]}
		},
		"bad header": func(good *arrowflight.FlightData) *arrowflight.FlightData {
			return &arrowflight.FlightData{DataHeader: []byte("not a flatbuffer"), DataBody: good.DataBody}
		},
		// truncatingCodec cuts this message's protobuf encoding short.
		"bad protobuf": func(good *arrowflight.FlightData) *arrowflight.FlightData {
			return &arrowflight.FlightData{DataHeader: good.DataHeader, DataBody: good.DataBody, AppMetadata: []byte(truncateMe)}
		},
	}
	for path, desc := range descs {
		for name, broken := range breaks {
			var msgs flightMessages
			w := arrowflight.NewRecordWriter(&msgs, ipc.WithAllocator(e.client.Alloc), ipc.WithSchema(narrowSchema))
			w.SetFlightDescriptor(desc)
			recs := narrowBatches(e.client.Alloc, 0, 2000, 1000)
			for _, rec := range recs {
				if err := w.Write(rec); err != nil {
					t.Fatal(err)
				}
			}
			releaseAll(recs)
			w.Close()
			// msgs: the schema, two batches. Send the schema, the first
			// batch and a broken second one.
			stream, err := e.client.Client.DoPut(e.ctx, grpc.ForceCodecV2(truncatingCodec{}))
			if err != nil {
				t.Fatal(err)
			}
			for _, fd := range []*arrowflight.FlightData{msgs[0], msgs[1], broken(msgs[2])} {
				if err := stream.Send(fd); err != nil && !errors.Is(err, io.EOF) {
					t.Fatal(err)
				}
			}
			stream.CloseSend()
			for err == nil {
				_, err = stream.Recv()
			}
			// gRPC answers Internal for a message its codec cannot decode,
			// whatever the codec.
			want := codes.InvalidArgument
			if name == "bad protobuf" {
				want = codes.Internal
			}
			if code, _ := statusOf(err); code != want {
				t.Errorf("%s, %s: got %v, want %v", path, name, err, want)
			}
			if got := e.count(t, "t"); got != "1" {
				t.Fatalf("%s, %s: count %s after a broken stream, want 1", path, name, got)
			}
		}
	}
}

// truncateMe marks the FlightData that truncatingCodec cuts short.
const truncateMe = "truncate me"

// truncatingCodec is the protobuf codec of a client, except that it sends
// a FlightData whose app_metadata is truncateMe without its last bytes.
type truncatingCodec struct{}

func (truncatingCodec) Name() string { return "proto" }

func (truncatingCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, err := proto.Marshal(v.(proto.Message))
	if fd, ok := v.(*arrowflight.FlightData); ok && string(fd.AppMetadata) == truncateMe {
		b = b[:len(b)-10]
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, err
}

func (truncatingCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return proto.Unmarshal(data.Materialize(), v.(proto.Message))
}

// TestIngestReusesBodies ingests batches large enough for the codec's
// body pool, each with other values, from four clients at once through
// both ingest paths: a body buffer given back while a batch still uses it,
// or reused without being overwritten, would show as wrong rows. (Whether
// a buffer is reused depends on the garbage collector, so the test does
// not require it.)
func TestIngestReusesBodies(t *testing.T) {
	e := startServer(t, nil, nil)
	e.exec(t, "CREATE TABLE t (id BIGINT NOT NULL, v DOUBLE)")
	// 1.1 MB per batch. Without the race detector, a pool that gave a
	// buffer back too early failed this test three times in four.
	rows, clients, calls := 70_000, 4, 6
	if raceEnabled {
		clients, calls = 2, 2
	}
	reused := bodies.reused.Load()
	opts := ingestOpts("t", flightsql.TableDefinitionOptionsTableNotExistOptionFail, flightsql.TableDefinitionOptionsTableExistsOptionAppend)
	errs := make(chan error, clients)
	for c := 0; c < clients; c++ {
		go func() {
			for i := 0; i < calls; i++ {
				recs := narrowBatches(e.client.Alloc, (c*calls+i)*rows, rows, rows)
				var n int64
				var err error
				if (c+i)%2 == 0 {
					n, err = e.doPutPath(t, []string{"t"}, narrowSchema, recs)
				} else {
					rdr, _ := array.NewRecordReader(narrowSchema, recs)
					releaseAll(recs)
					n, err = e.client.ExecuteIngest(e.ctx, rdr, opts)
					rdr.Release()
				}
				if err == nil && n != int64(rows) {
					err = fmt.Errorf("%d rows", n)
				}
				if err != nil {
					errs <- fmt.Errorf("client %d, call %d: %w", c, i, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range clients {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d of %d bodies reused", bodies.reused.Load()-reused, clients*calls)
	// narrowBatches: id = row number, v = id/2 except NULL where id%7 == 0.
	total := rows * clients * calls
	_, recs := e.query(t, "SELECT count(*), count(DISTINCT id), min(id), max(id), sum(id), sum(v), count(v) FROM t")
	defer releaseAll(recs)
	var sumV float64
	nonNull := 0
	for id := 0; id < total; id++ {
		if id%7 != 0 {
			sumV += float64(id) / 2
			nonNull++
		}
	}
	want := fmt.Sprintf("%d|%d|0|%d|%d|%v|%d", total, total, total-1, total*(total-1)/2, sumV, nonNull)
	if got := strings.Join(rowStrings(recs), ";"); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
