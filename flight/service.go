package flight

import (
	"io"

	arrowflight "github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc/metadata"

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
// Flight ingest, anything else goes to Flight SQL.
func (f *service) DoPut(stream arrowflight.FlightService_DoPutServer) error {
	first, err := stream.Recv()
	if err != nil {
		if err == io.EOF {
			return sqlstate.Errorf(sqlstate.InvalidParameterValue, "DoPut stream is empty")
		}
		return err
	}
	replay := &replayStream{FlightService_DoPutServer: stream, first: first}
	if d := first.GetFlightDescriptor(); d != nil && d.GetType() == arrowflight.DescriptorPATH {
		return f.sql.doPutPath(replay, d)
	}
	return f.FlightServer.DoPut(replay)
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
