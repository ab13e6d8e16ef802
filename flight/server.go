package flight

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	arrowflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/status"

	"github.com/mantisdb/mantisdb"
)

// Defaults for the zero values of Options.
const (
	// DefaultMaxPreparedStatements bounds the prepared statement store.
	DefaultMaxPreparedStatements = 4096
	// DefaultPreparedStatementTTL is how long an unused prepared statement
	// handle stays valid.
	DefaultPreparedStatementTTL = time.Hour
	// DefaultVersion is the server version reported when Options.Version is
	// empty.
	DefaultVersion = "dev"
	// DefaultMaxRecvMsgSize is the largest gRPC message the server accepts
	// when Options.MaxRecvMsgSize is zero: large enough for the record
	// batches bulk loaders send in one DoPut message.
	DefaultMaxRecvMsgSize = 256 << 20
	// DefaultMaxBatchBytes is the target size of one DoGet message when
	// Options.MaxBatchBytes is zero: well under the 4 MiB that gRPC clients
	// accept by default.
	DefaultMaxBatchBytes = 2 << 20
)

// writeBufferSize is the size of the buffer gRPC's transport fills before
// it writes to the connection (gRPC's default is 32 KiB). A DoGet message
// is 1-2 MiB; writing it in 512 KiB pieces instead of 32 KiB ones saves
// most of the write system calls (BenchmarkDoGetLineitem, median of three
// profiles: the transport's writer 48 -> 43 CPU-ms per 500K rows). gRPC lends the buffer from a pool
// while a connection writes and takes it back when the connection goes
// idle, so idle connections hold none.
const writeBufferSize = 512 << 10

// Options configure a Server. The zero value is valid; a nil *Options means
// the zero value.
type Options struct {
	// Logger receives operational messages (internal errors, recovered
	// panics, evictions); nil means slog.Default().
	Logger *slog.Logger
	// Allocator allocates the Arrow memory of metadata results and IPC
	// encoding; nil means memory.DefaultAllocator. Query results are
	// allocated by the DB.
	Allocator memory.Allocator
	// Version is the server version reported by GetSqlInfo
	// (FLIGHT_SQL_SERVER_VERSION); empty means DefaultVersion.
	Version string
	// MaxPreparedStatements bounds the number of open prepared statement
	// handles; when it is reached the least recently used handle is closed.
	// Zero means DefaultMaxPreparedStatements.
	MaxPreparedStatements int
	// PreparedStatementTTL is the idle time after which a prepared statement
	// handle expires. Zero means DefaultPreparedStatementTTL; a negative value
	// disables expiry.
	PreparedStatementTTL time.Duration
	// Middleware wraps every RPC inside the server's panic recovery and error
	// mapping, outermost first; authentication plugs in here. Nil means none.
	Middleware []arrowflight.ServerMiddleware
	// Users enables authentication: it maps user names to passwords, in
	// clear text or as made by HashPassword (see ReadUsersFile). Every RPC
	// must then carry Basic or Bearer credentials. Nil or empty means no
	// authentication.
	Users map[string]string
	// TokenTTL is the lifetime of the bearer tokens issued to authenticated
	// clients; zero means DefaultTokenTTL.
	TokenTTL time.Duration
	// TLS, when not nil, makes the server speak TLS only (see
	// LoadTLSConfig). Nil means plain text.
	TLS *tls.Config
	// MaxRecvMsgSize is the largest gRPC message the server accepts, in
	// bytes; zero means DefaultMaxRecvMsgSize.
	MaxRecvMsgSize int
	// MaxBatchBytes is the target size of the record batches sent by DoGet:
	// larger batches are sliced. Zero means DefaultMaxBatchBytes.
	MaxBatchBytes int
	// MaxTransactions bounds the open Flight SQL transactions; zero means
	// DefaultMaxTransactions.
	MaxTransactions int
	// TransactionIdleTimeout is how long a transaction may stay idle before
	// the server rolls it back; zero means DefaultTransactionIdleTimeout, a
	// negative value never.
	TransactionIdleTimeout time.Duration
	// GRPCOptions are passed to grpc.NewServer after the server's own options,
	// e.g. grpc.Creds for TLS or message size limits. They must not install
	// interceptors (use Middleware) or a codec (DoGet's batches need the
	// server's, see codec.go). Nil means none.
	GRPCOptions []grpc.ServerOption
}

// Server is an Arrow Flight SQL server over a DB. Its methods are safe for
// concurrent use. A Server serves one listener at a time and cannot be
// restarted once stopped.
type Server struct {
	grpc *grpc.Server
	sql  *sqlServer
	log  *slog.Logger
}

// NewServer returns a Server for db, like New. Options that New refuses (a
// malformed password hash in Users) are logged and leave a server that
// refuses every RPC; programs that take options from users should call New.
func NewServer(db *mantisdb.DB, opts *Options) *Server {
	s, err := New(db, opts)
	if err == nil {
		return s
	}
	log := slog.Default()
	if opts != nil && opts.Logger != nil {
		log = opts.Logger
	}
	log.Error("invalid Flight SQL server options; refusing every RPC", slog.Any("error", err))
	o := Options{Logger: log}
	if opts != nil {
		o.Allocator, o.TLS = opts.Allocator, opts.TLS
	}
	refuse := status.Error(codes.FailedPrecondition, "server misconfigured: "+err.Error())
	o.Middleware = []arrowflight.ServerMiddleware{{
		Unary: func(context.Context, any, *grpc.UnaryServerInfo, grpc.UnaryHandler) (any, error) {
			return nil, refuse
		},
		Stream: func(any, grpc.ServerStream, *grpc.StreamServerInfo, grpc.StreamHandler) error { return refuse },
	}}
	s, _ = New(db, &o)
	return s
}

// New returns a Server for db. The server does not own db: stopping the
// server does not close it, and db must stay open until the server stopped.
func New(db *mantisdb.DB, opts *Options) (*Server, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Allocator == nil {
		o.Allocator = memory.DefaultAllocator
	}
	if o.Version == "" {
		o.Version = DefaultVersion
	}
	if o.MaxPreparedStatements <= 0 {
		o.MaxPreparedStatements = DefaultMaxPreparedStatements
	}
	if o.PreparedStatementTTL == 0 {
		o.PreparedStatementTTL = DefaultPreparedStatementTTL
	}
	if o.MaxTransactions <= 0 {
		o.MaxTransactions = DefaultMaxTransactions
	}
	if o.TransactionIdleTimeout == 0 {
		o.TransactionIdleTimeout = DefaultTransactionIdleTimeout
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = DefaultTokenTTL
	}
	if o.MaxRecvMsgSize <= 0 {
		o.MaxRecvMsgSize = DefaultMaxRecvMsgSize
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = DefaultMaxBatchBytes
	}
	log := o.Logger.With(slog.String("component", "flight"))

	srv := newSQLServer(db, log, &o)

	unary := []grpc.UnaryServerInterceptor{unaryInterceptor(log)}
	stream := []grpc.StreamServerInterceptor{streamInterceptor(log)}
	if len(o.Users) > 0 {
		auth, err := newAuthenticator(o.Users, o.TokenTTL)
		if err != nil {
			return nil, fmt.Errorf("invalid Users option: %w", err)
		}
		unary = append(unary, auth.unary)
		stream = append(stream, auth.stream)
	}
	for _, m := range o.Middleware {
		if m.Unary != nil {
			unary = append(unary, m.Unary)
		}
		if m.Stream != nil {
			stream = append(stream, m.Stream)
		}
	}
	gopts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		grpc.MaxRecvMsgSize(o.MaxRecvMsgSize),
		grpc.ForceServerCodecV2(newCodec()),
		grpc.WriteBufferSize(writeBufferSize),
		experimental.BufferPool(newFramePool()),
	}
	if o.TLS != nil {
		gopts = append(gopts, grpc.Creds(credentials.NewTLS(o.TLS)))
	}
	g := grpc.NewServer(append(gopts, o.GRPCOptions...)...)
	arrowflight.RegisterFlightServiceServer(g, &service{
		FlightServer: flightsql.NewFlightServerWithAllocator(srv, o.Allocator),
		sql:          srv,
	})

	return &Server{grpc: g, sql: srv, log: log}, nil
}

// Serve accepts connections on lis and blocks until the server is stopped
// (it then returns nil) or lis fails. It closes lis when it returns.
func (s *Server) Serve(lis net.Listener) error {
	s.log.Info("serving Arrow Flight SQL", slog.String("addr", lis.Addr().String()),
		slog.String("arrow", arrow.PkgVersion))
	return s.grpc.Serve(lis)
}

// GracefulStop stops accepting connections and RPCs and blocks until the
// RPCs in flight (including result streams) have finished. Prepared
// statements are closed and open transactions rolled back afterwards.
func (s *Server) GracefulStop() {
	s.grpc.GracefulStop()
	s.sql.prepared.closeAll()
	s.sql.txns.closeAll()
}

// Stop closes every connection at once, cancelling the RPCs in flight (their
// queries end through their contexts), closes prepared statements and rolls
// back open transactions.
func (s *Server) Stop() {
	s.grpc.Stop()
	s.sql.prepared.closeAll()
	s.sql.txns.closeAll()
}
