package flight

import (
	"context"
	"log/slog"
	"sync"

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

// preparedStmt is a prepared statement, the transaction it belongs to (nil
// outside a transaction) and the parameter rows last bound to it.
type preparedStmt struct {
	*mantisdb.Stmt
	txn []byte

	mu sync.Mutex
	// params is the last binding of a DoPut of the prepared query: nil when
	// none was bound. A new binding replaces the slice, never its elements,
	// so a reader may keep the slice it got.
	params []paramRow
}

// binding returns the rows last bound to the statement, nil if none.
func (p *preparedStmt) binding() []paramRow {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.params
}

// bind replaces the statement's binding.
func (p *preparedStmt) bind(rows []paramRow) {
	p.mu.Lock()
	p.params = rows
	p.mu.Unlock()
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
	return s.query(ctx, runningKey(statementTicketKind, handle), st, nil, done)
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
// schema otherwise; the parameter schema is that of parameterSchema.
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

// DoGetPreparedStatement runs a prepared statement with its bound
// parameters and streams its rows.
func (s *sqlServer) DoGetPreparedStatement(ctx context.Context, cmd flightsql.PreparedStatementQuery) (*arrow.Schema, <-chan arrowflight.StreamChunk, error) {
	st, err := s.preparedStmt(cmd.GetPreparedStatementHandle())
	if err != nil {
		return nil, nil, err
	}
	_, done, err := s.conn(ctx, st.txn)
	if err != nil {
		return nil, nil, err
	}
	params := st.binding()
	if len(params) > 1 && !st.IsQuery() {
		// DML sent as a prepared query with many parameter rows (ADBC's
		// executemany on the query path): all rows or none, like an update.
		defer done()
		if _, err := s.execRows(ctx, st, &sliceParams{rows: params}); err != nil {
			return nil, nil, err
		}
		ch := make(chan arrowflight.StreamChunk)
		close(ch)
		return st.Schema(), ch, nil
	}
	return s.query(ctx, runningKey(preparedTicketKind, cmd.GetPreparedStatementHandle()), st.Stmt, params, done)
}

// DoPutPreparedStatementQuery binds parameters to a prepared query: the
// rows of the stream replace the statement's previous binding, and later
// executions (GetFlightInfo and DoGet of the handle) use them. A stream
// without columns clears the binding. The handle stays the same.
func (s *sqlServer) DoPutPreparedStatementQuery(_ context.Context, cmd flightsql.PreparedStatementQuery, rdr arrowflight.MessageReader, _ arrowflight.MetadataWriter) ([]byte, error) {
	st, err := s.preparedStmt(cmd.GetPreparedStatementHandle())
	if err != nil {
		return nil, err
	}
	rows, err := readBinding(rdr, st.ParamSchema().NumFields())
	if err != nil {
		return nil, err
	}
	st.bind(rows)
	return cmd.GetPreparedStatementHandle(), nil
}

// DoPutPreparedStatementUpdate runs a prepared statement once per row of
// the parameter stream (once when it binds nothing, with the values last
// bound by DoPutPreparedStatementQuery if any) and returns the total number
// of rows affected. Several rows run in one transaction.
func (s *sqlServer) DoPutPreparedStatementUpdate(ctx context.Context, cmd flightsql.PreparedStatementUpdate, rdr arrowflight.MessageReader) (int64, error) {
	st, err := s.preparedStmt(cmd.GetPreparedStatementHandle())
	if err != nil {
		return 0, err
	}
	_, done, err := s.conn(ctx, st.txn)
	if err != nil {
		return 0, err
	}
	defer done()
	pr := &paramReader{rdr: rdr, want: st.ParamSchema().NumFields()}
	src := &sliceParams{rest: pr}
	first, ok := pr.next()
	switch {
	case pr.Err() != nil:
		return 0, pr.Err()
	case ok:
		src.rows = []paramRow{first}
	default:
		src.rows = st.binding()
	}
	return s.execRows(ctx, st, src)
}

// query runs st and streams its rows under key (see CancelFlightInfo);
// done is called when the stream ends. With parameter rows, st runs once
// per row (the first here, the others as the stream reaches them) and the
// stream is their results one after the other; without, st runs once
// without values. The rows outlive st: the caller may close st when query
// returns.
func (s *sqlServer) query(ctx context.Context, key string, st *mantisdb.Stmt, params []paramRow, done func()) (*arrow.Schema, <-chan arrowflight.StreamChunk, error) {
	qctx, cancel := context.WithCancel(ctx)
	unregister := s.running.add(key, cancel)
	end := func() {
		unregister()
		cancel()
		done()
	}
	run := func(i int) (*mantisdb.Rows, error) {
		if params == nil {
			return st.Query(qctx)
		}
		return st.QueryParams(qctx, params[i])
	}
	rows, err := run(0)
	if err != nil {
		end()
		return nil, nil, err
	}
	sch := rows.Schema()
	// Unbuffered: the producer runs at most one batch ahead of the network.
	ch := make(chan arrowflight.StreamChunk)
	go func(rows *mantisdb.Rows) {
		defer end()
		for i := 1; s.streamRows(ctx, qctx, rows, ch, i >= len(params)); i++ {
			var err error
			if rows, err = run(i); err != nil {
				s.send(ctx, ch, err)
				close(ch)
				return
			}
		}
	}(rows)
	return sch, ch, nil
}

// send sends err on ch unless the stream's context ends first.
func (s *sqlServer) send(ctx context.Context, ch chan<- arrowflight.StreamChunk, err error) {
	select {
	case ch <- arrowflight.StreamChunk{Err: err}:
	case <-ctx.Done():
	}
}

// streamRows sends every record of rows on ch, sliced to about
// maxBatchBytes, then the error that ended the query, if any; it closes
// rows, and closes ch when last is set or when it stops early. It reports
// whether the stream may go on with the rows of another execution. flightsql's DoGet releases the records it receives and
// drains ch when it stops early; ctx (the stream's context) ends the query
// when the client goes away, qctx (derived from ctx) when CancelFlightInfo
// cancels it.
func (s *sqlServer) streamRows(ctx, qctx context.Context, rows *mantisdb.Rows, ch chan<- arrowflight.StreamChunk, last bool) (more bool) {
	defer func() {
		if !more {
			close(ch)
		}
	}()
	defer rows.Close()
	defer func() {
		if p := recover(); p != nil {
			s.send(ctx, ch, panicError(s.log, "DoGet", p))
			more = false
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
				return false
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
		s.send(ctx, ch, err)
		return false
	}
	return !last && ctx.Err() == nil
}
