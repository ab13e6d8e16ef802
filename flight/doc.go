// Package flight serves a MantisDB database over Arrow Flight SQL.
//
// A Server wraps a *mantisdb.DB in a gRPC server that speaks the Flight SQL
// protocol through arrow-go's flightsql package. It is a thin layer: every
// statement is parsed, bound and run by the DB; this package only maps
// protocol messages to DB calls, results to Arrow IPC streams and errors to
// gRPC statuses.
//
// # Statements and tickets
//
// GetFlightInfo for a CommandStatementQuery prepares the statement to learn
// its result schema and returns one endpoint whose ticket carries the SQL
// text itself (see ticket.go). DoGet re-prepares and runs the statement from
// the ticket, so a ticket can be redeemed any number of times, by any server
// of the same database, without server-side state. A ticket is therefore
// only a capability to run the SQL it contains: it grants nothing the SQL
// text alone would not.
//
// DoGet streams the result batch by batch: a producer goroutine pulls one
// record at a time from the DB's Rows and hands it over an unbuffered
// channel, so at most one batch waits while the previous one is written to
// the network. The schema announced by GetFlightInfo is the statement's
// schema, the schema written by DoGet is the schema of its Rows; the DB
// guarantees they are equal (same fields, types and nullability).
//
// # Prepared statements
//
// CreatePreparedStatement keeps the *mantisdb.Stmt in a server-side store
// keyed by a random 128-bit handle. The store is bounded (least recently
// used handles are evicted first) and handles expire after an idle time;
// a client that uses an evicted or expired handle gets NotFound and must
// prepare again. Handles are shared by all connections: knowing a handle is
// the right to use it.
//
// # Errors
//
// Every error leaving an RPC passes one interceptor that converts it into a
// gRPC status: a *sqlstate.Error keeps its code and position in the message
// ("42P01: table t does not exist") and is mapped by its class
// (sqlstate.Class) to a gRPC code; context errors become Canceled or
// DeadlineExceeded; any other error is internal, logged with detail and sent
// as Internal. The same interceptor recovers panics in handlers, logs them
// with their stack and answers Internal, so client input never brings the
// server down.
//
// # Seams for later work
//
// Options.Middleware (authentication), Options.GRPCOptions (TLS credentials,
// message limits), the transaction id field of tickets, and the parameter
// check in DoPutPreparedStatementUpdate are the places where
// authentication, TLS, transactions and parameter binding plug in.
package flight
