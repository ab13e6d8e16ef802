package rest

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// IdempotencyTable is the table in which the server keeps the idempotency
// keys of ingest requests with their answers. It is created on the first
// request with an Idempotency-Key and is written in the same transaction as
// the ingested rows, so a key is stored exactly when its rows are: a
// retried request finds the key (and answers the stored response) if and
// only if the first one committed. GET /v1/tables does not list it.
const IdempotencyTable = "mantis_idempotency"

// DefaultIdempotencyWindow is how long idempotency keys are kept when
// Options.IdempotencyWindow is zero.
const DefaultIdempotencyWindow = 24 * time.Hour

// maxIdempotencyKey is the longest accepted Idempotency-Key.
const maxIdempotencyKey = 255

// idempotency stores and finds idempotency keys (see IdempotencyTable).
// It is safe for concurrent use.
type idempotency struct {
	db     *mantisdb.DB
	mem    memory.Allocator
	window time.Duration // <0: keys never expire
	now    func() time.Time

	created   atomic.Bool
	createMu  sync.Mutex
	lastPrune atomic.Int64 // unix nanoseconds of the last pruning
}

var idempotencySchema = arrow.NewSchema([]arrow.Field{
	{Name: "idem_key", Type: arrow.BinaryTypes.String},
	{Name: "target", Type: arrow.BinaryTypes.String},
	{Name: "status", Type: arrow.PrimitiveTypes.Int32},
	{Name: "response", Type: arrow.BinaryTypes.String},
	{Name: "created_at", Type: &arrow.TimestampType{Unit: arrow.Microsecond}},
}, nil)

// idempotencyKey returns the request's Idempotency-Key, "" when it has
// none. Keys are limited to characters that need no quoting (letters,
// digits and -_.:~+/=, enough for UUIDs and base64).
func idempotencyKey(r *http.Request) (string, error) {
	k := r.Header.Get("Idempotency-Key")
	if k == "" {
		return "", nil
	}
	if len(k) > maxIdempotencyKey {
		return "", sqlstate.Errorf(sqlstate.InvalidParameterValue, "Idempotency-Key is longer than %d characters", maxIdempotencyKey)
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':' || c == '~' || c == '+' || c == '/' || c == '=') {
			return "", sqlstate.Errorf(sqlstate.InvalidParameterValue, "Idempotency-Key %q holds %q: use letters, digits and -_.:~+/=", k, c)
		}
	}
	return k, nil
}

// ensureTable creates the key table if needed.
func (s *idempotency) ensureTable(ctx context.Context) error {
	if s.created.Load() {
		return nil
	}
	s.createMu.Lock()
	defer s.createMu.Unlock()
	if _, ok := s.db.Table(IdempotencyTable); !ok {
		_, err := s.db.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+IdempotencyTable+
			" (idem_key VARCHAR PRIMARY KEY, target VARCHAR NOT NULL, status INT NOT NULL, response VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL)")
		if err != nil {
			return fmt.Errorf("cannot create the idempotency key table: %w", err)
		}
	}
	s.created.Store(true)
	return nil
}

// storedAnswer is the first answer to an idempotent request.
type storedAnswer struct {
	target   string
	status   int
	response string
	created  time.Time
}

// lookup returns the stored answer of key, if any.
func (s *idempotency) lookup(ctx context.Context, key string) (*storedAnswer, error) {
	if _, ok := s.db.Table(IdempotencyTable); !ok {
		return nil, nil
	}
	// The key holds no quote or backslash (idempotencyKey), so it is safe
	// in a literal.
	rows, err := s.db.Query(ctx, "SELECT target, status, response, created_at FROM "+IdempotencyTable+" WHERE idem_key = '"+key+"'")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var a *storedAnswer
	for rows.Next() {
		rec := rows.Record()
		if rec.NumRows() == 0 || a != nil {
			continue
		}
		a = &storedAnswer{
			target:   rec.Column(0).(*array.String).Value(0),
			status:   int(rec.Column(1).(*array.Int32).Value(0)),
			response: rec.Column(2).(*array.String).Value(0),
			created:  time.UnixMicro(int64(rec.Column(3).(*array.Timestamp).Value(0))),
		}
	}
	return a, rows.Err()
}

// expired reports whether a key stored at t is past the window.
func (s *idempotency) expired(t time.Time) bool {
	return s.window >= 0 && s.now().Sub(t) > s.window
}

// replay answers a request whose key is already stored and reports whether
// it did. An expired key is deleted, and the request then runs as new.
// Errors of the store are answered too (true), since the request cannot
// safely run without knowing.
func (s *idempotency) replay(w http.ResponseWriter, r *http.Request, h *Handler, key, target string) bool {
	ctx := r.Context()
	s.prune(ctx, h)
	a, err := s.lookup(ctx, key)
	if err != nil {
		h.writeError(w, r, fmt.Errorf("cannot look up the idempotency key: %w", err))
		return true
	}
	if a == nil {
		return false
	}
	if s.expired(a.created) {
		if _, err := s.db.Exec(ctx, "DELETE FROM "+IdempotencyTable+" WHERE idem_key = '"+key+"'"); err != nil {
			h.writeError(w, r, fmt.Errorf("cannot delete an expired idempotency key: %w", err))
			return true
		}
		return false
	}
	if a.target != target {
		h.writeError(w, r, &requestError{
			err:     sqlstate.Errorf(sqlstate.InvalidParameterValue, "Idempotency-Key %q was used for an ingest into table %q; use a new key for a different request", key, a.target),
			status:  http.StatusUnprocessableEntity,
			details: map[string]any{"table": a.target},
		})
		return true
	}
	h.metrics.replays.Inc()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Idempotent-Replayed", "true")
	w.WriteHeader(a.status)
	_, _ = w.Write([]byte(a.response))
	return true
}

// record writes key and its answer inside tx.
func (s *idempotency) record(ctx context.Context, tx *mantisdb.Tx, key, target string, status int, resp []byte) error {
	b := array.NewRecordBuilder(s.mem, idempotencySchema)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).Append(key)
	b.Field(1).(*array.StringBuilder).Append(target)
	b.Field(2).(*array.Int32Builder).Append(int32(status))
	b.Field(3).(*array.StringBuilder).Append(string(resp))
	b.Field(4).(*array.TimestampBuilder).Append(arrow.Timestamp(s.now().UnixMicro()))
	rec := b.NewRecordBatch()
	defer rec.Release()
	rdr, err := array.NewRecordReader(idempotencySchema, []arrow.RecordBatch{rec})
	if err != nil {
		return err
	}
	defer rdr.Release()
	if _, err := tx.Ingest(ctx, IdempotencyTable, rdr); err != nil {
		return fmt.Errorf("cannot store the idempotency key: %w", err)
	}
	return nil
}

// pruneEvery is how often expired keys are deleted, at most.
const pruneEvery = time.Minute

// prune deletes expired keys, at most once per pruneEvery, on the path of
// a request (no background goroutine to stop).
func (s *idempotency) prune(ctx context.Context, h *Handler) {
	if s.window < 0 {
		return
	}
	now := s.now()
	last := s.lastPrune.Load()
	if now.UnixNano()-last < int64(pruneEvery) || !s.lastPrune.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	if _, ok := s.db.Table(IdempotencyTable); !ok {
		return
	}
	cutoff := now.Add(-s.window).UTC().Format("2006-01-02 15:04:05.000000")
	if _, err := s.db.Exec(ctx, "DELETE FROM "+IdempotencyTable+" WHERE created_at < TIMESTAMP '"+cutoff+"'"); err != nil {
		h.log.WarnContext(ctx, "cannot delete expired idempotency keys", "err", err)
	}
}
