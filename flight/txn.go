package flight

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"google.golang.org/grpc/codes"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// Defaults for the zero values of transaction options.
const (
	// DefaultMaxTransactions bounds the number of open Flight SQL
	// transactions.
	DefaultMaxTransactions = 1024
	// DefaultTransactionIdleTimeout is how long a transaction may stay idle
	// (no statement running) before the server rolls it back.
	DefaultTransactionIdleTimeout = 10 * time.Minute
)

// txnEntry is an open transaction. A mantisdb.Tx runs one statement at a
// time, so every use holds sem, from the statement's start to the end of
// its result stream; a second statement of the same transaction waits for
// it (or for its own context).
type txnEntry struct {
	tx       *mantisdb.Tx
	sem      chan struct{} // capacity 1: held while a statement runs
	lastUsed time.Time     // guarded by txnStore.mu
	ended    bool          // guarded by sem
}

// acquire waits until no other statement of the transaction runs.
func (e *txnEntry) acquire(ctx context.Context) error {
	select {
	case e.sem <- struct{}{}:
		if e.ended {
			<-e.sem
			return errTxnNotFound
		}
		return nil
	case <-ctx.Done():
		return sqlstate.Wrap(ctx.Err(), sqlstate.QueryCanceled,
			"canceled while waiting for the transaction's running statement: %v", ctx.Err())
	}
}

func (e *txnEntry) release() { <-e.sem }

var errTxnNotFound = statusf(codes.NotFound, sqlstate.InvalidTxnState,
	"transaction not found: it ended, timed out or the server restarted")

// txnStore keeps the open transactions by id. It is safe for concurrent
// use. Idle transactions older than ttl are rolled back when a transaction
// begins; a full store refuses new transactions.
type txnStore struct {
	db  *mantisdb.DB
	log *slog.Logger
	max int
	ttl time.Duration
	now func() time.Time

	mu   sync.Mutex
	byID map[string]*txnEntry
}

func newTxnStore(db *mantisdb.DB, log *slog.Logger, max int, ttl time.Duration) *txnStore {
	return &txnStore{db: db, log: log, max: max, ttl: ttl, now: time.Now, byID: make(map[string]*txnEntry)}
}

// begin starts a transaction and returns its id.
func (s *txnStore) begin(ctx context.Context) ([]byte, error) {
	s.sweep()
	s.mu.Lock()
	full := len(s.byID) >= s.max
	s.mu.Unlock()
	if full {
		return nil, sqlstate.Errorf(sqlstate.ProgramLimitExceeded,
			"too many open transactions (%d); commit or roll back some", s.max)
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	id := make([]byte, handleLen)
	if _, err := rand.Read(id); err != nil {
		tx.Rollback()
		return nil, fmt.Errorf("cannot create transaction id: %w", err)
	}
	s.mu.Lock()
	s.byID[string(id)] = &txnEntry{tx: tx, sem: make(chan struct{}, 1), lastUsed: s.now()}
	s.mu.Unlock()
	return id, nil
}

// get returns the transaction of id, acquired: the caller calls release
// when its statement (and result stream) is done.
func (s *txnStore) get(ctx context.Context, id []byte) (*txnEntry, error) {
	s.mu.Lock()
	e, ok := s.byID[string(id)]
	if ok {
		e.lastUsed = s.now()
	}
	s.mu.Unlock()
	if !ok {
		return nil, errTxnNotFound
	}
	if err := e.acquire(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// done marks the end of a use of e.
func (s *txnStore) done(e *txnEntry) {
	s.mu.Lock()
	e.lastUsed = s.now()
	s.mu.Unlock()
	e.release()
}

// end commits or rolls back the transaction of id and forgets it.
func (s *txnStore) end(ctx context.Context, id []byte, commit bool) error {
	e, err := s.get(ctx, id)
	if err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.byID, string(id))
	s.mu.Unlock()
	e.ended = true
	defer e.release()
	if commit {
		return e.tx.Commit(ctx)
	}
	e.tx.Rollback()
	return nil
}

// sweep rolls back transactions idle for longer than ttl.
func (s *txnStore) sweep() {
	if s.ttl <= 0 {
		return
	}
	now := s.now()
	var expired []*txnEntry
	s.mu.Lock()
	for id, e := range s.byID {
		if now.Sub(e.lastUsed) > s.ttl {
			select {
			case e.sem <- struct{}{}: // idle: take it
				delete(s.byID, id)
				expired = append(expired, e)
			default: // a statement is running
			}
		}
	}
	s.mu.Unlock()
	for _, e := range expired {
		e.ended = true
		e.tx.Rollback()
		e.release()
	}
	if len(expired) > 0 {
		s.log.Info("rolled back idle Flight SQL transactions", slog.Int("count", len(expired)))
	}
}

// closeAll rolls back every transaction. Running statements end first.
func (s *txnStore) closeAll() {
	s.mu.Lock()
	all := s.byID
	s.byID = make(map[string]*txnEntry)
	s.mu.Unlock()
	for _, e := range all {
		e.sem <- struct{}{}
		e.ended = true
		e.tx.Rollback()
		e.release()
	}
}

// BeginTransaction starts a transaction; its id goes into the
// transaction_id field of later requests.
func (s *sqlServer) BeginTransaction(ctx context.Context, _ flightsql.ActionBeginTransactionRequest) ([]byte, error) {
	return s.txns.begin(ctx)
}

// EndTransaction commits or rolls back a transaction.
func (s *sqlServer) EndTransaction(ctx context.Context, req flightsql.ActionEndTransactionRequest) error {
	switch req.GetAction() {
	case flightsql.EndTransactionCommit:
		return s.txns.end(ctx, req.GetTransactionId(), true)
	case flightsql.EndTransactionRollback:
		return s.txns.end(ctx, req.GetTransactionId(), false)
	}
	return sqlstate.Errorf(sqlstate.InvalidParameterValue, "unknown end transaction action %v", req.GetAction())
}
