package flight

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	arrowflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	protobuf "google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/mantisdb/mantisdb"
)

// DoGet streams the results of statements and prepared statements with
// writeStream; other tickets (the metadata commands, whose results are
// small, and tickets that do not parse) go to flightsql, which answers
// them or the error.
func (f *service) DoGet(tkt *arrowflight.Ticket, stream arrowflight.FlightService_DoGetServer) error {
	var anycmd anypb.Any
	if err := protobuf.Unmarshal(tkt.GetTicket(), &anycmd); err != nil {
		return f.FlightServer.DoGet(tkt, stream)
	}
	cmd, err := anycmd.UnmarshalNew()
	if err != nil {
		return f.FlightServer.DoGet(tkt, stream)
	}
	var (
		sch *arrow.Schema
		ch  <-chan arrowflight.StreamChunk
	)
	// writeStream releases each batch once it is encoded and keeps
	// nothing of it but the buffers the payload retains until gRPC has
	// copied them: the query may recycle its batches' memory.
	ctx := mantisdb.WithRecycledBatches(stream.Context())
	switch cmd := cmd.(type) {
	case *flight.TicketStatementQuery:
		sch, ch, err = f.sql.DoGetStatement(ctx, cmd)
	case *flight.CommandPreparedStatementQuery:
		sch, ch, err = f.sql.DoGetPreparedStatement(ctx, cmd)
	default:
		return f.FlightServer.DoGet(tkt, stream)
	}
	if err != nil {
		return err
	}
	return writeStream(stream, sch, ch, f.sql.mem)
}

// writeStream writes the schema, then every batch of ch as an Arrow IPC
// stream of FlightData messages, the way flightsql's DoGet does, until ch
// closes, a chunk carries an error (returned) or the stream's context ends
// (its error returned). It releases the batches it receives and drains ch
// before it returns, so that the producer never blocks on it.
//
// Each batch is one message whose body references the batch's buffers
// (see outData and codec): stream must marshal with the server's codec.
// Schemas with dictionary-encoded fields, which need the IPC writer's
// dictionary bookkeeping, go through arrow-go's Flight writer instead.
func writeStream(stream grpc.ServerStream, sch *arrow.Schema, ch <-chan arrowflight.StreamChunk, alloc memory.Allocator) error {
	defer func() {
		for c := range ch {
			if c.Data != nil {
				c.Data.Release()
			}
		}
	}()
	var w chunkWriter = &payloadWriter{stream: stream, schema: sch, alloc: alloc}
	if hasDictionary(sch) {
		fw := arrowflight.NewRecordWriter(dataStream{stream}, ipc.WithSchema(sch), ipc.WithAllocator(alloc))
		defer fw.Close()
		w = &recordWriter{w: fw, stream: stream}
	}
	if err := w.begin(); err != nil {
		return err
	}
	ctx := stream.Context()
	for {
		// A cancelled stream ends here even when chunks are ready too:
		// select picks among ready cases at random.
		if err := ctx.Err(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case c, ok := <-ch:
			if !ok {
				return nil
			}
			if c.Err != nil {
				if c.Data != nil {
					c.Data.Release()
				}
				return c.Err
			}
			err := w.write(c)
			if c.Data != nil {
				c.Data.Release()
			}
			if err != nil {
				return err
			}
		}
	}
}

// chunkWriter writes the messages of one DoGet stream.
type chunkWriter interface {
	// begin writes the schema message.
	begin() error
	// write writes the message of one chunk (which it does not release).
	write(c arrowflight.StreamChunk) error
}

// payloadWriter writes IPC payloads as outData messages: no copy of the
// batches' buffers on the way to gRPC's transport.
type payloadWriter struct {
	stream grpc.ServerStream
	schema *arrow.Schema
	alloc  memory.Allocator
}

func (w *payloadWriter) begin() error {
	return w.send(newOutData(ipc.GetSchemaPayload(w.schema, w.alloc), nil, nil))
}

func (w *payloadWriter) write(c arrowflight.StreamChunk) error {
	if c.Data == nil {
		// A chunk of application metadata only.
		return w.stream.SendMsg(&flight.FlightData{FlightDescriptor: c.Desc, AppMetadata: c.AppMetadata})
	}
	if !c.Data.Schema().Equal(w.schema) {
		return fmt.Errorf("flight: DoGet batch with schema %s, the stream's is %s", c.Data.Schema(), w.schema)
	}
	p, err := ipc.GetRecordBatchPayload(c.Data, ipc.WithAllocator(w.alloc))
	if err != nil {
		return err
	}
	return w.send(newOutData(p, c.Desc, c.AppMetadata).keep(c.Data))
}

// send sends m and releases it (the codec owns its payload if it
// marshaled it).
func (w *payloadWriter) send(m *outData) error {
	err := w.stream.SendMsg(m)
	m.release()
	return err
}

// recordWriter writes through arrow-go's Flight writer.
type recordWriter struct {
	w      *arrowflight.Writer
	stream grpc.ServerStream
}

func (w *recordWriter) begin() error { return nil } // the writer writes the schema first

func (w *recordWriter) write(c arrowflight.StreamChunk) error {
	if c.Data == nil {
		return w.stream.SendMsg(&flight.FlightData{FlightDescriptor: c.Desc, AppMetadata: c.AppMetadata})
	}
	w.w.SetFlightDescriptor(c.Desc)
	return w.w.WriteWithAppMetadata(c.Data, c.AppMetadata)
}

// dataStream is a ServerStream as the DataStreamWriter of arrow-go's
// Flight writer.
type dataStream struct{ grpc.ServerStream }

func (s dataStream) Send(fd *flight.FlightData) error { return s.SendMsg(fd) }

// hasDictionary reports whether a field of sch is dictionary encoded, at
// any depth.
func hasDictionary(sch *arrow.Schema) bool {
	for _, f := range sch.Fields() {
		if typeHasDictionary(f.Type) {
			return true
		}
	}
	return false
}

func typeHasDictionary(dt arrow.DataType) bool {
	switch dt := dt.(type) {
	case *arrow.DictionaryType:
		return true
	case arrow.NestedType:
		for _, f := range dt.Fields() {
			if typeHasDictionary(f.Type) {
				return true
			}
		}
	}
	return false
}
