package flight

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// errorDomain is the ErrorInfo domain of statuses made from sqlstate errors.
const errorDomain = "mantisdb"

// grpcCode maps a sqlstate class to its gRPC code.
func grpcCode(c sqlstate.Class) codes.Code {
	switch c {
	case sqlstate.ClassInvalid:
		return codes.InvalidArgument
	case sqlstate.ClassNotFound:
		return codes.NotFound
	case sqlstate.ClassConflict:
		return codes.AlreadyExists
	case sqlstate.ClassUnsupported:
		return codes.Unimplemented
	case sqlstate.ClassRetry:
		return codes.Aborted
	case sqlstate.ClassCanceled:
		return codes.Canceled
	case sqlstate.ClassUnavailable:
		return codes.Unavailable
	case sqlstate.ClassResource:
		return codes.ResourceExhausted
	case sqlstate.ClassAuth:
		return codes.Unauthenticated
	case sqlstate.ClassDenied:
		return codes.PermissionDenied
	}
	return codes.Internal
}

// toStatus converts an error returned by a handler into the error sent to
// the client. gRPC statuses (from flightsql's own checks, from middleware or
// made by this package) pass unchanged; everything else goes through
// sqlstate.Public. The message is the sqlstate error text, which starts with
// the SQLSTATE code and ends with the position, and an ErrorInfo detail
// carries code, line and column for programs. Internal errors are logged.
func toStatus(log *slog.Logger, method string, err error) error {
	if err == nil {
		return nil
	}
	if sqlstate.From(err) == nil {
		if _, ok := status.FromError(err); ok {
			return err
		}
	}
	pub := sqlstate.Public(err)
	code := grpcCode(pub.Code.Class())
	switch {
	case code == codes.Canceled && errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case strings.HasPrefix(string(pub.Code), "25"):
		// Invalid transaction state: the request is fine, the transaction
		// is not in a state to run it.
		code = codes.FailedPrecondition
	}
	if code == codes.Internal {
		log.Error("internal error", slog.String("method", method), slog.Any("error", err))
	}
	st := status.New(code, pub.Error())
	info := &errdetails.ErrorInfo{
		Reason:   string(pub.Code),
		Domain:   errorDomain,
		Metadata: map[string]string{"sqlstate": string(pub.Code)},
	}
	if pub.Line > 0 {
		info.Metadata["line"] = strconv.Itoa(pub.Line)
		info.Metadata["column"] = strconv.Itoa(pub.Column)
	}
	if pub.Row > 0 {
		// A bad value of an ingest: the row of the stream, 1-based.
		info.Metadata["row"] = strconv.FormatInt(pub.Row, 10)
		info.Metadata["column"] = pub.Field
	}
	if withInfo, derr := st.WithDetails(info); derr == nil {
		st = withInfo
	}
	return st.Err()
}

// statusf returns a gRPC status error whose message starts with code, in the
// format of sqlstate errors.
func statusf(c codes.Code, code sqlstate.Code, format string, args ...any) error {
	return status.Error(c, string(code)+": "+fmt.Sprintf(format, args...))
}

// panicError turns a recovered panic into an Internal status after logging
// it with its stack.
func panicError(log *slog.Logger, method string, p any) error {
	log.Error("panic in RPC handler", slog.String("method", method),
		slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
	return status.Error(codes.Internal, string(sqlstate.Internal)+": internal error")
}

// unaryInterceptor recovers panics and maps errors of unary RPCs.
func unaryInterceptor(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				resp, err = nil, panicError(log, info.FullMethod, p)
			}
		}()
		resp, err = handler(ctx, req)
		return resp, toStatus(log, info.FullMethod, err)
	}
}

// streamInterceptor recovers panics and maps errors of streaming RPCs (all
// Flight RPCs but GetFlightInfo, GetSchema and PollFlightInfo).
func streamInterceptor(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = panicError(log, info.FullMethod, p)
			}
		}()
		return toStatus(log, info.FullMethod, handler(srv, ss))
	}
}
