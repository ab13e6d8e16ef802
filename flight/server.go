package flight

import (
	"log/slog"
	"net"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	arrowflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"

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
)

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
	// GRPCOptions are passed to grpc.NewServer after the server's own options,
	// e.g. grpc.Creds for TLS or message size limits. They must not install
	// interceptors (use Middleware). Nil means none.
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

// NewServer returns a Server for db. The server does not own db: stopping the
// server does not close it, and db must stay open until the server stopped.
func NewServer(db *mantisdb.DB, opts *Options) *Server {
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
	log := o.Logger.With(slog.String("component", "flight"))

	srv := newSQLServer(db, log, &o)

	unary := []grpc.UnaryServerInterceptor{unaryInterceptor(log)}
	stream := []grpc.StreamServerInterceptor{streamInterceptor(log)}
	for _, m := range o.Middleware {
		if m.Unary != nil {
			unary = append(unary, m.Unary)
		}
		if m.Stream != nil {
			stream = append(stream, m.Stream)
		}
	}
	gopts := append([]grpc.ServerOption{
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
	}, o.GRPCOptions...)
	g := grpc.NewServer(gopts...)
	arrowflight.RegisterFlightServiceServer(g, flightsql.NewFlightServerWithAllocator(srv, o.Allocator))

	return &Server{grpc: g, sql: srv, log: log}
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
// statements are closed afterwards.
func (s *Server) GracefulStop() {
	s.grpc.GracefulStop()
	s.sql.prepared.closeAll()
}

// Stop closes every connection at once, cancelling the RPCs in flight (their
// queries end through their contexts), and closes prepared statements.
func (s *Server) Stop() {
	s.grpc.Stop()
	s.sql.prepared.closeAll()
}
