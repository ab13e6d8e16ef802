package flight

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow/array"
	arrowflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	pb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// The client side of bulk ingest. arrow-go's Flight writer (used by
// flight.Client users and by flightsql.Client.ExecuteIngest) serializes
// each record batch's body into a bytes.Buffer that a new writer grows from
// empty, then proto.Marshal copies the body once more into the message:
// about 45 CPU-ms per 100K lineitem rows (17 MB) before gRPC's transport
// makes its own copy into the connection's write buffer. Ingest sends the
// same bytes with the body's Arrow buffers handed to gRPC by reference,
// through the codec the server uses for DoGet (outData, codec.go), so the
// transport's copy is the only one.

// IngestOptions configure Ingest. The zero value is valid; a nil
// *IngestOptions means the zero value.
type IngestOptions struct {
	// Allocator allocates the IPC metadata of the messages sent (the
	// batches' buffers are sent as they are); nil means
	// memory.DefaultAllocator.
	Allocator memory.Allocator
	// CallOptions are passed to the DoPut call, e.g. credentials or
	// grpc.MaxCallSendMsgSize. They must not set a codec: Ingest installs
	// its own. Nil means none.
	CallOptions []grpc.CallOption
}

// Ingest writes the record batches of rdr to a Flight server with one
// DoPut call whose first message carries desc, and returns the row count
// of the server's answer: a PutResult whose app_metadata is a Flight SQL
// DoPutUpdateResult, as MantisDB answers both a CommandStatementIngest
// (see IngestDescriptor) and a plain DoPut to the path [table]. The bytes
// sent are those of arrow-go's Flight writer (flight.NewRecordWriter), an
// IPC stream of one schema message and one message per batch; only the
// copies on the way to gRPC's transport are left out, which matters for
// large batches (see client.go). Schemas with dictionary-encoded fields
// are written by arrow-go's writer.
//
// Ingest does not release rdr and keeps no reference to it once it
// returns. After a successful call no batch buffer is retained; after a
// failed or cancelled one, messages gRPC still had queued may hold the
// buffers of the last batches until gRPC drops the stream. If rdr fails, or a batch's schema differs from
// rdr's, the call is cancelled, so a MantisDB server writes none of the
// rows, and the error is returned. A server error comes back as the
// server's gRPC status. Ingest is safe for concurrent use, with one
// reader per call.
func Ingest(ctx context.Context, client arrowflight.Client, desc *arrowflight.FlightDescriptor, rdr array.RecordReader, opts *IngestOptions) (int64, error) {
	var o IngestOptions
	if opts != nil {
		o = *opts
	}
	if o.Allocator == nil {
		o.Allocator = memory.DefaultAllocator
	}
	if desc == nil {
		return 0, errors.New("flight: Ingest needs a descriptor")
	}
	sch := rdr.Schema()
	if sch == nil {
		return 0, errors.New("flight: Ingest needs a reader with a schema")
	}
	// Returning early cancels the call: the server sees a broken stream
	// and commits nothing.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	callOpts := append(o.CallOptions[:len(o.CallOptions):len(o.CallOptions)], grpc.ForceCodecV2(newCodec()))
	stream, err := client.DoPut(ctx, callOpts...)
	if err != nil {
		return 0, err
	}
	var sendErr error
	if hasDictionary(sch) {
		sendErr = sendWithRecordWriter(stream, desc, rdr, o.Allocator)
	} else {
		sendErr = sendPayloads(stream, desc, rdr, o.Allocator)
	}
	// io.EOF: the server ended the call; its status comes with Recv.
	if sendErr != nil && !errors.Is(sendErr, io.EOF) {
		return 0, sendErr
	}
	if err := rdr.Err(); err != nil {
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
		return 0, fmt.Errorf("flight: cannot decode the DoPut result: %w", err)
	}
	for {
		if _, err := stream.Recv(); errors.Is(err, io.EOF) {
			return upd.RecordCount, nil
		} else if err != nil {
			return 0, err
		}
	}
}

// sendPayloads sends the schema message (with desc) and one message per
// batch of rdr as outData, whose bodies the codec hands to gRPC by
// reference.
func sendPayloads(stream grpc.ClientStream, desc *arrowflight.FlightDescriptor, rdr array.RecordReader, mem memory.Allocator) error {
	sch := rdr.Schema()
	send := func(m *outData) error {
		err := stream.SendMsg(m)
		m.release()
		return err
	}
	if err := send(newOutData(ipc.GetSchemaPayload(sch, mem), desc, nil)); err != nil {
		return err
	}
	for rdr.Next() {
		rec := rdr.RecordBatch()
		if !rec.Schema().Equal(sch) {
			return fmt.Errorf("flight: Ingest batch with schema %s, the reader's is %s", rec.Schema(), sch)
		}
		p, err := ipc.GetRecordBatchPayload(rec, ipc.WithAllocator(mem))
		if err != nil {
			return err
		}
		if err := send(newOutData(p, nil, nil).keep(rec)); err != nil {
			return err
		}
	}
	return nil
}

// sendWithRecordWriter sends rdr through arrow-go's Flight writer, which
// also writes dictionary batches.
func sendWithRecordWriter(stream pb.FlightService_DoPutClient, desc *arrowflight.FlightDescriptor, rdr array.RecordReader, mem memory.Allocator) error {
	w := arrowflight.NewRecordWriter(stream, ipc.WithSchema(rdr.Schema()), ipc.WithAllocator(mem))
	w.SetFlightDescriptor(desc)
	for rdr.Next() {
		if err := w.Write(rdr.RecordBatch()); err != nil {
			w.Close()
			return err
		}
	}
	return w.Close()
}

// IngestDescriptor returns the descriptor of a Flight SQL bulk ingest
// (CommandStatementIngest) with the given options, for Ingest: what
// flightsql.Client.ExecuteIngest sends. Like ExecuteIngest it requires
// the table and its TableDefinitionOptions.
func IngestDescriptor(opts *flightsql.ExecuteIngestOpts) (*arrowflight.FlightDescriptor, error) {
	cmd := (*pb.CommandStatementIngest)(opts)
	if cmd.GetTable() == "" {
		return nil, errors.New("flight: IngestDescriptor needs a table")
	}
	if cmd.GetTableDefinitionOptions() == nil {
		return nil, errors.New("flight: IngestDescriptor needs TableDefinitionOptions")
	}
	a, err := anypb.New(cmd)
	if err != nil {
		return nil, err
	}
	b, err := proto.Marshal(a)
	if err != nil {
		return nil, err
	}
	return &arrowflight.FlightDescriptor{Type: arrowflight.DescriptorCMD, Cmd: b}, nil
}
