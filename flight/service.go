package flight

import (
	"io"

	arrowflight "github.com/apache/arrow-go/v18/arrow/flight"
	pb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// service is the Flight service registered with gRPC: arrow-go's Flight SQL
// service, with the RPCs that plain Flight clients use taken over: DoPut
// with a path descriptor (bulk ingest into a table) and Handshake (which
// the authentication middleware has already checked).
type service struct {
	arrowflight.FlightServer
	sql *sqlServer
}

// DoPut routes a stream by its first message: a path descriptor is a plain
// Flight ingest, a CommandStatementIngest a Flight SQL ingest (both read
// by newIngestReader); anything else goes to arrow-go's Flight SQL server.
func (f *service) DoPut(stream arrowflight.FlightService_DoPutServer) error {
	first, err := stream.Recv()
	if err != nil {
		if err == io.EOF {
			return sqlstate.Errorf(sqlstate.InvalidParameterValue, "DoPut stream is empty")
		}
		return err
	}
	replay := &replayStream{FlightService_DoPutServer: stream, first: first}
	switch d := first.GetFlightDescriptor(); d.GetType() {
	case arrowflight.DescriptorPATH:
		return f.sql.doPutPath(replay, d)
	case arrowflight.DescriptorCMD:
		if cmd := statementIngest(d.Cmd); cmd != nil {
			return f.sql.doPutStatementIngest(replay, cmd)
		}
	}
	return f.FlightServer.DoPut(replay)
}

// statementIngest returns the CommandStatementIngest that cmd (a packed
// google.protobuf.Any) holds, or nil if it holds another command or none:
// arrow-go's server then answers as for any command.
func statementIngest(cmd []byte) *pb.CommandStatementIngest {
	var a anypb.Any
	if proto.Unmarshal(cmd, &a) != nil || !a.MessageIs((*pb.CommandStatementIngest)(nil)) {
		return nil
	}
	var in pb.CommandStatementIngest
	if a.UnmarshalTo(&in) != nil {
		return nil
	}
	return &in
}

// replayStream returns a message already received before the rest of the
// stream.
type replayStream struct {
	arrowflight.FlightService_DoPutServer
	first *arrowflight.FlightData
}

func (r *replayStream) Recv() (*arrowflight.FlightData, error) {
	if m := r.first; m != nil {
		r.first = nil
		return m, nil
	}
	return r.FlightService_DoPutServer.Recv()
}

// Handshake answers one HandshakeResponse. With authentication on, the
// middleware has verified the credentials and its payload is the bearer
// token (also sent as "authorization: Bearer …" in header and trailer);
// with authentication off it is empty. The request payload is read and
// ignored: credentials travel in the authorization header.
func (f *service) Handshake(stream arrowflight.FlightService_HandshakeServer) error {
	var payload []byte
	if p, ok := principalFrom(stream.Context()); ok {
		payload = []byte(p.token)
	} else if md, _ := metadata.FromIncomingContext(stream.Context()); len(md.Get(authHeader)) > 0 {
		// Authentication is off but the client sent credentials: answer a
		// token anyway, since clients such as arrow-go's
		// AuthenticateBasicToken fail without one. Any token is accepted.
		payload = []byte(anonymousToken)
		md := metadata.Pairs(authHeader, bearerPrefix+anonymousToken)
		if err := stream.SetHeader(md); err != nil {
			return err
		}
		stream.SetTrailer(md)
	}
	return stream.Send(&arrowflight.HandshakeResponse{Payload: payload})
}
