package flight

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	arrowflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	pb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/protobuf/proto"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// DoPutCommandStatementIngest appends the record batches of rdr to a table
// in one DB.Ingest call: all rows or none, durable when it returns. The
// table definition options decide what happens when the table is missing
// (create it from the stream's schema, or fail) or exists (append, replace
// or fail); unspecified options mean fail, as the specification says.
func (s *sqlServer) DoPutCommandStatementIngest(ctx context.Context, cmd flightsql.StatementIngest, rdr arrowflight.MessageReader) (int64, error) {
	if cmd.GetTemporary() {
		return 0, sqlstate.Errorf(sqlstate.FeatureNotSupported, "temporary tables are not supported")
	}
	if c := cmd.GetCatalog(); c != "" {
		return 0, sqlstate.Errorf(sqlstate.FeatureNotSupported,
			"catalog %q does not exist: MantisDB has no catalogs", c)
	}
	if sch := cmd.GetSchema(); sch != "" && !strings.EqualFold(sch, SchemaName) {
		return 0, sqlstate.Errorf(sqlstate.InvalidSchemaName, "schema %q does not exist (the only schema is %q)", sch, SchemaName)
	}
	for k := range cmd.GetOptions() {
		return 0, sqlstate.Errorf(sqlstate.InvalidParameterValue, "unknown ingest option %q", k)
	}
	table := cmd.GetTable()
	if table == "" {
		return 0, sqlstate.Errorf(sqlstate.InvalidParameterValue, "ingest needs a table name")
	}
	c, done, err := s.conn(ctx, cmd.GetTransactionId())
	if err != nil {
		return 0, err
	}
	defer done()
	opts := cmd.GetTableDefinitionOptions()
	_, exists := s.db.Table(table)
	switch {
	case !exists && opts.GetIfNotExist() == flightsql.TableDefinitionOptionsTableNotExistOptionCreate:
		if err := createTable(ctx, c, table, rdr.Schema()); err != nil {
			return 0, err
		}
	case !exists:
		return 0, sqlstate.Errorf(sqlstate.UndefinedTable,
			"relation %q does not exist (ingest with if_not_exist = CREATE to create it)", table)
	case opts.GetIfExists() == flightsql.TableDefinitionOptionsTableExistsOptionAppend:
	case opts.GetIfExists() == flightsql.TableDefinitionOptionsTableExistsOptionReplace:
		// Not atomic: DDL cannot run inside a transaction, so the drop, the
		// create and the ingest are three. A failing ingest leaves the new
		// table empty.
		if _, err := c.Exec(ctx, "DROP TABLE "+quoteIdent(table)); err != nil {
			return 0, err
		}
		if err := createTable(ctx, c, table, rdr.Schema()); err != nil {
			return 0, err
		}
	default:
		return 0, sqlstate.Errorf(sqlstate.DuplicateTable,
			"relation %q already exists (ingest with if_exists = APPEND or REPLACE to write to it)", table)
	}
	return ingest(ctx, c, table, rdr)
}

// doPutStatementIngest serves a DoPut of a CommandStatementIngest, as
// arrow-go's Flight SQL server would (DoPutCommandStatementIngest, then a
// PutResult with a DoPutUpdateResult, sent on failure too, with the count 0)
// but with the stream read by newIngestReader.
func (s *sqlServer) doPutStatementIngest(stream arrowflight.FlightService_DoPutServer, cmd *pb.CommandStatementIngest) error {
	rdr, err := newIngestReader(stream, s.mem)
	if err != nil {
		return sqlstate.Wrap(err, sqlstate.InvalidParameterValue, "cannot read ingest stream: %v", err)
	}
	defer rdr.Release()
	n, ingestErr := s.DoPutCommandStatementIngest(stream.Context(), cmd, rdr)
	meta, err := proto.Marshal(&pb.DoPutUpdateResult{RecordCount: n})
	if err != nil {
		return fmt.Errorf("cannot encode DoPut result: %w", err)
	}
	if err := stream.Send(&arrowflight.PutResult{AppMetadata: meta}); err != nil {
		return err
	}
	return ingestErr
}

// ingest streams rdr into table with one Ingest call of c.
func ingest(ctx context.Context, c conn, table string, rdr array.RecordReader) (int64, error) {
	if rdr.Schema() == nil {
		if err := readerErr(rdr); err != nil {
			return 0, sqlstate.Wrap(err, sqlstate.InvalidParameterValue, "cannot read ingest stream: %v", err)
		}
	}
	return c.Ingest(ctx, table, rdr)
}

func readerErr(rdr array.RecordReader) error {
	if e, ok := rdr.(interface{ Err() error }); ok {
		return e.Err()
	}
	return nil
}

// createTable creates table with the columns of sch, in order. Fields that
// are not nullable become NOT NULL columns; the table has no primary key.
func createTable(ctx context.Context, c conn, table string, sch *arrow.Schema) error {
	ddl, err := createTableSQL(table, sch)
	if err != nil {
		return err
	}
	_, err = c.Exec(ctx, ddl)
	return err
}

// createTableSQL returns the CREATE TABLE statement for a table with the
// columns of sch.
func createTableSQL(table string, sch *arrow.Schema) (string, error) {
	if sch == nil || sch.NumFields() == 0 {
		return "", sqlstate.Errorf(sqlstate.InvalidTableDef, "cannot create table %q from a stream without columns", table)
	}
	var b strings.Builder
	b.WriteString("CREATE TABLE ")
	b.WriteString(quoteIdent(table))
	b.WriteString(" (")
	for i, f := range sch.Fields() {
		typ, ok := catalog.FromArrow(f.Type)
		if !ok || !typ.Valid() {
			return "", sqlstate.Errorf(sqlstate.FeatureNotSupported,
				"column %q: Arrow type %s has no MantisDB SQL type", f.Name, f.Type)
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteIdent(f.Name))
		b.WriteByte(' ')
		b.WriteString(typ.String())
		if !f.Nullable {
			b.WriteString(" NOT NULL")
		}
	}
	b.WriteByte(')')
	return b.String(), nil
}

// quoteIdent quotes an identifier for SQL text.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// doPutPath serves a plain Flight DoPut whose descriptor is the path
// [table]: it appends the stream to the existing table in one DB.Ingest call
// and answers one PutResult whose app_metadata is a Flight SQL
// DoPutUpdateResult with the number of rows written.
func (s *sqlServer) doPutPath(stream arrowflight.FlightService_DoPutServer, desc *arrowflight.FlightDescriptor) error {
	ctx := stream.Context()
	if len(desc.Path) != 1 || desc.Path[0] == "" {
		return sqlstate.Errorf(sqlstate.InvalidParameterValue,
			"DoPut descriptor path must be [table], got %q", desc.Path)
	}
	table := desc.Path[0]
	if _, ok := s.db.Table(table); !ok {
		return sqlstate.Errorf(sqlstate.UndefinedTable, "relation %q does not exist", table)
	}
	rdr, err := newIngestReader(stream, s.mem)
	if err != nil {
		return sqlstate.Wrap(err, sqlstate.InvalidParameterValue, "cannot read DoPut stream: %v", err)
	}
	defer rdr.Release()
	n, err := ingest(ctx, s.db, table, rdr)
	if err != nil {
		return err
	}
	meta, err := proto.Marshal(&pb.DoPutUpdateResult{RecordCount: n})
	if err != nil {
		return fmt.Errorf("cannot encode DoPut result: %w", err)
	}
	return stream.Send(&arrowflight.PutResult{AppMetadata: meta})
}

// newIngestReader returns a reader of the record batches of an ingest
// stream. Unlike arrow-go's flight.NewRecordReader it gives the data_body
// buffers back to the codec's pool (bodies) once the last record batch
// that uses them is released, so a stream of large batches reuses its
// buffers. The batches are valid until released, as Arrow's reference
// counts say; whoever keeps one longer must Retain it.
//
// A first message without an IPC header (a client that sends the
// descriptor alone) is skipped, as flight.NewRecordReader does.
func newIngestReader(stream arrowflight.DataStreamReader, mem memory.Allocator) (*ingestReader, error) {
	m := &ingestMessages{stream: stream, first: true}
	m.refs.Add(1)
	// The ipc.Reader owns m's reference.
	r, err := ipc.NewReaderFromMessageReader(m, ipc.WithAllocator(mem), ipc.WithDelayReadSchema(true))
	if err != nil {
		return nil, err
	}
	return &ingestReader{Reader: r, msgs: m}, nil
}

// ingestReader is the flight.MessageReader of newIngestReader.
type ingestReader struct {
	*ipc.Reader
	msgs *ingestMessages
}

var _ arrowflight.MessageReader = (*ingestReader)(nil)

// Chunk returns the current record batch with its descriptor and
// app_metadata.
func (r *ingestReader) Chunk() arrowflight.StreamChunk {
	return arrowflight.StreamChunk{Data: r.RecordBatch(), Desc: r.msgs.descr, AppMetadata: r.msgs.appMetadata}
}

// LatestFlightDescriptor returns the last descriptor the stream carried.
func (r *ingestReader) LatestFlightDescriptor() *arrowflight.FlightDescriptor { return r.msgs.descr }

// LatestAppMetadata returns the app_metadata of the last message read.
func (r *ingestReader) LatestAppMetadata() []byte { return r.msgs.appMetadata }

// ingestMessages is the ipc.MessageReader of an ingestReader.
type ingestMessages struct {
	stream      arrowflight.DataStreamReader
	first       bool
	refs        atomic.Int64
	msg         *ipc.Message // the last message read, released by the next Message
	descr       *arrowflight.FlightDescriptor
	appMetadata []byte
}

var _ ipc.MessageReader = (*ingestMessages)(nil)

// Message returns the next message of the stream. The ipc.Reader uses
// only the message's header past the next call; the record batches it
// makes hold references to the body.
func (m *ingestMessages) Message() (*ipc.Message, error) {
	m.releaseMsg()
	fd, err := m.stream.Recv()
	if err == nil && m.first && len(fd.DataHeader) == 0 {
		if fd.FlightDescriptor != nil {
			m.descr = fd.FlightDescriptor
		}
		fd, err = m.stream.Recv()
	}
	m.first = false
	if err != nil {
		m.appMetadata = nil
		return nil, err
	}
	if fd.FlightDescriptor != nil {
		m.descr = fd.FlightDescriptor
	}
	m.appMetadata = fd.AppMetadata
	var body *memory.Buffer
	if bodyClass(cap(fd.DataBody)) >= 0 {
		body = memory.NewBufferWithAllocator(fd.DataBody, bodyAllocator{})
	} else {
		body = memory.NewBufferBytes(fd.DataBody)
	}
	m.msg = ipc.NewMessage(memory.NewBufferBytes(fd.DataHeader), body)
	body.Release() // the message holds it now
	return m.msg, nil
}

func (m *ingestMessages) releaseMsg() {
	if m.msg != nil {
		m.msg.Release()
		m.msg = nil
	}
}

// Retain adds a reference to m.
func (m *ingestMessages) Retain() { m.refs.Add(1) }

// Release drops a reference to m; the last releases the last message.
func (m *ingestMessages) Release() {
	if m.refs.Add(-1) == 0 {
		m.releaseMsg()
	}
}
