package flight

import (
	"context"
	"log/slog"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	arrowflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc/codes"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// sqlServer implements flightsql.Server over a DB. Methods not implemented
// here answer Unimplemented through the embedded BaseServer.
type sqlServer struct {
	flightsql.BaseServer

	db       *mantisdb.DB
	log      *slog.Logger
	mem      memory.Allocator
	prepared *preparedStore[*preparedStmt]
	txns     *txnStore
	running  *runningQueries
	// maxBatchBytes is the target size of a DoGet message.
	maxBatchBytes int
}

// preparedStmt is a prepared statement and the transaction it belongs to
// (nil outside a transaction).
type preparedStmt struct {
	*mantisdb.Stmt
	txn []byte
}

// conn is what runs statements: the DB, or a transaction.
type conn interface {
	Prepare(ctx context.Context, sql string) (*mantisdb.Stmt, error)
	Exec(ctx context.Context, sql string) (int64, error)
	Ingest(ctx context.Context, table string, rdr array.RecordReader) (int64, error)
}

var (
	_ conn = (*mantisdb.DB)(nil)
	_ conn = (*mantisdb.Tx)(nil)
)

// conn returns what runs statements of transaction txn (the DB when txn is
// empty) and the function that ends its use, which the caller must call
// once the statement and its result stream are done.
func (s *sqlServer) conn(ctx context.Context, txn []byte) (conn, func(), error) {
	if len(txn) == 0 {
		return s.db, func() {}, nil
	}
	e, err := s.txns.get(ctx, txn)
	if err != nil {
		return nil, nil, err
	}
	return e.tx, func() { s.txns.done(e) }, nil
}

var _ flightsql.Server = (*sqlServer)(nil)

// emptySchema is the schema of statements without rows and of prepared
// statements without parameters.
var emptySchema = arrow.NewSchema(nil, nil)

func newSQLServer(db *mantisdb.DB, log *slog.Logger, o *Options) *sqlServer {
	s := &sqlServer{
		db:       db,
		log:      log,
		mem:      o.Allocator,
		prepared: newPreparedStore[*preparedStmt](log, o.MaxPreparedStatements, o.PreparedStatementTTL),
		txns:     newTxnStore(db, log, o.MaxTransactions, o.TransactionIdleTimeout),
		running:  newRunningQueries(),

		maxBatchBytes: o.MaxBatchBytes,
	}
	// BaseServer uses Alloc for SqlInfo results; setting it here also keeps
	// BaseServer from assigning it lazily (and racily) per request.
	s.Alloc = o.Allocator
	s.registerSQLInfo(o)
	return s
}

// errNoParameters answers requests that bind parameter values.
var errNoParameters = sqlstate.Errorf(sqlstate.FeatureNotSupported,
	"statement parameters are not supported by the SQL engine yet")

// flightInfo returns a FlightInfo with schema sch and one endpoint for
// ticket.
func (s *sqlServer) flightInfo(desc *arrowflight.FlightDescriptor, sch *arrow.Schema, ticket []byte) *arrowflight.FlightInfo {
	return &arrowflight.FlightInfo{
		Schema:           arrowflight.SerializeSchema(sch, s.mem),
		FlightDescriptor: desc,
		Endpoint:         []*arrowflight.FlightEndpoint{{Ticket: &arrowflight.Ticket{Ticket: ticket}}},
		TotalRecords:     -1,
		TotalBytes:       -1,
	}
}

// GetFlightInfoStatement prepares the query to learn its schema and returns
// a ticket that carries the SQL text and the transaction id.
func (s *sqlServer) GetFlightInfoStatement(ctx context.Context, cmd flightsql.StatementQuery, desc *arrowflight.FlightDescriptor) (*arrowflight.FlightInfo, error) {
	sch, err := s.statementSchema(ctx, cmd.GetTransactionId(), cmd.GetQuery())
	if err != nil {
		return nil, err
	}
	tkt, err := flightsql.CreateStatementQueryTicket(encodeTicket(cmd.GetTransactionId(), cmd.GetQuery()))
	if err != nil {
		return nil, err
	}
	return s.flightInfo(desc, sch, tkt), nil
}

// GetSchemaStatement returns the result schema of a query without running it.
func (s *sqlServer) GetSchemaStatement(ctx context.Context, cmd flightsql.StatementQuery, _ *arrowflight.FlightDescriptor) (*arrowflight.SchemaResult, error) {
	sch, err := s.statementSchema(ctx, cmd.GetTransactionId(), cmd.GetQuery())
	if err != nil {
		return nil, err
	}
	return &arrowflight.SchemaResult{Schema: arrowflight.SerializeSchema(sch, s.mem)}, nil
}

func (s *sqlServer) statementSchema(ctx context.Context, txn []byte, sql string) (*arrow.Schema, error) {
	c, done, err := s.conn(ctx, txn)
	if err != nil {
		return nil, err
	}
	defer done()
	st, err := c.Prepare(ctx, sql)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return st.Schema(), nil
}

// DoGetStatement runs the statement of a ticket made by
// GetFlightInfoStatement and streams its rows. A statement without rows runs
// here and streams an empty result.
func (s *sqlServer) DoGetStatement(ctx context.Context, cmd flightsql.StatementQueryTicket) (*arrow.Schema, <-chan arrowflight.StreamChunk, error) {
	handle := cmd.GetStatementHandle()
	txn, sql, err := decodeTicket(handle)
	if err != nil {
		return nil, nil, err
	}
	c, done, err := s.conn(ctx, txn)
	if err != nil {
		return nil, nil, err
	}
	st, err := c.Prepare(ctx, sql)
	if err != nil {
		done()
		return nil, nil, err
	}
	defer st.Close()
	return s.query(ctx, runningKey(statementTicketKind, handle), st, done)
}

// DoPutCommandStatementUpdate runs a statement and returns the number of
// rows it affected.
func (s *sqlServer) DoPutCommandStatementUpdate(ctx context.Context, cmd flightsql.StatementUpdate) (int64, error) {
	c, done, err := s.conn(ctx, cmd.GetTransactionId())
	if err != nil {
		return 0, err
	}
	defer done()
	return c.Exec(ctx, cmd.GetQuery())
}

// CreatePreparedStatement prepares a statement and keeps it under a new
// handle. The dataset schema is the result schema of a query and the empty
// schema otherwise; the parameter schema is empty.
func (s *sqlServer) CreatePreparedStatement(ctx context.Context, req flightsql.ActionCreatePreparedStatementRequest) (flightsql.ActionCreatePreparedStatementResult, error) {
	var res flightsql.ActionCreatePreparedStatementResult
	c, done, err := s.conn(ctx, req.GetTransactionId())
	if err != nil {
		return res, err
	}
	st, err := c.Prepare(ctx, req.GetQuery())
	done()
	if err != nil {
		return res, err
	}
	// Read everything from st before the store owns it: a concurrent
	// eviction may close it as soon as it is added.
	isUpdate := !st.IsQuery()
	res.DatasetSchema = st.Schema()
	if isUpdate {
		res.DatasetSchema = emptySchema
	}
	res.ParameterSchema = parameterSchema(st)
	res.IsUpdate = &isUpdate
	ps := &preparedStmt{Stmt: st, txn: append([]byte(nil), req.GetTransactionId()...)}
	if res.Handle, err = s.prepared.add(ps); err != nil {
		return flightsql.ActionCreatePreparedStatementResult{}, err
	}
	return res, nil
}

// ClosePreparedStatement closes a prepared statement. Closing an unknown or
// expired handle succeeds, so that clients can close what the server already
// evicted.
func (s *sqlServer) ClosePreparedStatement(_ context.Context, req flightsql.ActionClosePreparedStatementRequest) error {
	s.prepared.remove(req.GetPreparedStatementHandle())
	return nil
}

// preparedStmt returns the statement of a handle or a NotFound error.
func (s *sqlServer) preparedStmt(handle []byte) (*preparedStmt, error) {
	st, ok := s.prepared.get(handle)
	if !ok {
		return nil, statusf(codes.NotFound, sqlstate.InvalidStatementName,
			"prepared statement not found; it was closed, evicted or has expired")
	}
	return st, nil
}

// GetFlightInfoPreparedStatement returns the schema of a prepared statement
// and a ticket (the command itself) for DoGetPreparedStatement.
func (s *sqlServer) GetFlightInfoPreparedStatement(_ context.Context, cmd flightsql.PreparedStatementQuery, desc *arrowflight.FlightDescriptor) (*arrowflight.FlightInfo, error) {
	st, err := s.preparedStmt(cmd.GetPreparedStatementHandle())
	if err != nil {
		return nil, err
	}
	return s.flightInfo(desc, st.Schema(), desc.Cmd), nil
}

// GetSchemaPreparedStatement returns the result schema of a prepared
// statement.
func (s *sqlServer) GetSchemaPreparedStatement(_ context.Context, cmd flightsql.PreparedStatementQuery, _ *arrowflight.FlightDescriptor) (*arrowflight.SchemaResult, error) {
	st, err := s.preparedStmt(cmd.GetPreparedStatementHandle())
	if err != nil {
		return nil, err
	}
	return &arrowflight.SchemaResult{Schema: arrowflight.SerializeSchema(st.Schema(), s.mem)}, nil
}

// DoGetPreparedStatement runs a prepared statement and streams its rows.
func (s *sqlServer) DoGetPreparedStatement(ctx context.Context, cmd flightsql.PreparedStatementQuery) (*arrow.Schema, <-chan arrowflight.StreamChunk, error) {
	st, err := s.preparedStmt(cmd.GetPreparedStatementHandle())
	if err != nil {
		return nil, nil, err
	}
	_, done, err := s.conn(ctx, st.txn)
	if err != nil {
		return nil, nil, err
	}
	return s.query(ctx, runningKey(preparedTicketKind, cmd.GetPreparedStatementHandle()), st.Stmt, done)
}

// DoPutPreparedStatementQuery binds parameters to a prepared query. Only an
// empty binding is accepted until the engine takes parameters.
func (s *sqlServer) DoPutPreparedStatementQuery(_ context.Context, cmd flightsql.PreparedStatementQuery, rdr arrowflight.MessageReader, _ arrowflight.MetadataWriter) ([]byte, error) {
	if _, err := s.preparedStmt(cmd.GetPreparedStatementHandle()); err != nil {
		return nil, err
	}
	if err := checkNoParameters(rdr); err != nil {
		return nil, err
	}
	return cmd.GetPreparedStatementHandle(), nil
}

// DoPutPreparedStatementUpdate runs a prepared statement and returns the
// number of rows it affected.
func (s *sqlServer) DoPutPreparedStatementUpdate(ctx context.Context, cmd flightsql.PreparedStatementUpdate, rdr arrowflight.MessageReader) (int64, error) {
	st, err := s.preparedStmt(cmd.GetPreparedStatementHandle())
	if err != nil {
		return 0, err
	}
	if err := checkNoParameters(rdr); err != nil {
		return 0, err
	}
	_, done, err := s.conn(ctx, st.txn)
	if err != nil {
		return 0, err
	}
	defer done()
	return st.Exec(ctx)
}

// parameterSchema returns the schema of a statement's parameters: empty
// until the engine binds parameters.
func parameterSchema(*mantisdb.Stmt) *arrow.Schema { return emptySchema }

// checkNoParameters reads the parameter stream of a DoPut and fails if it
// binds any value. Clients send a schema without fields (and possibly
// batches without columns) when there is nothing to bind.
func checkNoParameters(rdr arrowflight.MessageReader) error {
	for rdr.Next() {
		if rdr.RecordBatch().NumCols() > 0 {
			return errNoParameters
		}
	}
	return rdr.Err()
}

// query runs st and streams its rows under key (see CancelFlightInfo);
// done is called when the stream ends. The rows outlive st: the caller may
// close st when query returns.
func (s *sqlServer) query(ctx context.Context, key string, st *mantisdb.Stmt, done func()) (*arrow.Schema, <-chan arrowflight.StreamChunk, error) {
	qctx, cancel := context.WithCancel(ctx)
	unregister := s.running.add(key, cancel)
	end := func() {
		unregister()
		cancel()
		done()
	}
	rows, err := st.Query(qctx)
	if err != nil {
		end()
		return nil, nil, err
	}
	// Unbuffered: the producer runs at most one batch ahead of the network.
	ch := make(chan arrowflight.StreamChunk)
	go func() {
		defer end()
		s.streamRows(ctx, qctx, rows, ch)
	}()
	return rows.Schema(), ch, nil
}

// streamRows sends every record of rows on ch, sliced to about
// maxBatchBytes, then the error that ended the query, if any; it closes rows
// and ch when done. flightsql's DoGet releases the records it receives and
// drains ch when it stops early; ctx (the stream's context) ends the query
// when the client goes away, qctx (derived from ctx) when CancelFlightInfo
// cancels it.
func (s *sqlServer) streamRows(ctx, qctx context.Context, rows *mantisdb.Rows, ch chan<- arrowflight.StreamChunk) {
	defer close(ch)
	defer rows.Close()
	send := func(err error) {
		select {
		case ch <- arrowflight.StreamChunk{Err: err}:
		case <-ctx.Done():
		}
	}
	defer func() {
		if p := recover(); p != nil {
			send(panicError(s.log, "DoGet", p))
		}
	}()
	for rows.Next() {
		if err := qctx.Err(); err != nil {
			break
		}
		rec := rows.Record()
		n := rec.NumRows()
		step := sliceRows(rec, s.maxBatchBytes)
		for off := int64(0); off < n || n == 0; off += step {
			var part arrow.RecordBatch
			if off == 0 && step >= n {
				rec.Retain()
				part = rec
			} else {
				part = rec.NewSlice(off, min(off+step, n))
			}
			select {
			case ch <- arrowflight.StreamChunk{Data: part}:
			case <-ctx.Done():
				part.Release()
				return
			}
			if n == 0 {
				break
			}
		}
	}
	err := rows.Err()
	if err == nil && ctx.Err() == nil {
		err = qctx.Err()
	}
	if err != nil {
		if sqlstate.From(err) == nil && qctx.Err() != nil {
			err = sqlstate.Wrap(err, sqlstate.QueryCanceled, "canceling statement due to user request")
		}
		send(err)
	}
}
