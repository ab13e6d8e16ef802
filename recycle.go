package mantisdb

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb/internal/bufpool"
	"github.com/mantisdb/mantisdb/planner"
)

// Recycled batches: a scan allocates fresh buffers for every batch it
// decodes, and the Go runtime clears each of them before the decoder
// overwrites it whole; streaming SF1 lineitem spent about a tenth of its
// server CPU there and in the garbage collector. A reader that releases
// each batch before it asks for the next one and keeps nothing of it
// (Flight DoGet, which encodes a batch to IPC and hands its buffers to
// gRPC by reference, retained, until they are copied to the socket) can
// let the query decode into the memory of the batches it released
// instead: the query gets its own bufpool.Pool, which the segment
// decoder's value, offset and string buffers come from
// (segments.ScanOptions.DataAllocator), and a buffer goes back to it when
// its last reference is released. The pool takes its memory from the DB's
// allocator and gives it back when the query's Rows is closed (buffers
// still held then, by gRPC say, go back when they are released), so the
// DB's accounting sees every byte. Only plans whose operators keep no part
// of a batch past the next one use it (planner.Prepared.StreamsScan: a
// scan, optionally projected); every other plan, and a caller that did
// not opt in, allocates as before. A plan whose scan feeds an aggregate
// (planner.Prepared.AggregatesScan: a scan under filters and projections
// under a hash aggregate) uses it whether or not the caller opted in: the
// aggregate consumes each batch before it asks for the next and keeps
// nothing of it, and no batch of the scan reaches the caller. A pool lives as long as the query's
// buffers, so no byte of one query can show in another's.

// recycleKey marks a context whose caller follows the rule of
// WithRecycledBatches.
type recycleKey struct{}

// dataPoolKey carries the query's pool from Stmt.Query down to its scans.
type dataPoolKey struct{}

// WithRecycledBatches returns a copy of ctx for running queries (Stmt.Query,
// Stmt.QueryParams, DB.Query, Tx.Query, Session.Query) whose caller
// promises to follow Arrow's ownership rule to the letter: a batch of the
// Rows is not read after the next call of Rows.Next or Rows.Close unless
// it was retained first, and no Go slice or string of its buffers' bytes
// is kept past its release. The DB may then decode the batches of a
// plain scan (SELECT of columns of one table, without filter, join, sort
// or aggregate) into recycled memory of the batches released before,
// within the same query only. The rows are the same either way.
func WithRecycledBatches(ctx context.Context) context.Context {
	return context.WithValue(ctx, recycleKey{}, true)
}

// recycling returns ctx with a new pool for the scans of p, and the pool,
// when p's scan feeds an aggregate, or when the caller opted in
// (WithRecycledBatches) and p's operators allow it; else ctx and nil. The Rows of the query closes the pool.
func (db *DB) recycling(ctx context.Context, p *planner.Prepared) (context.Context, *bufpool.Pool) {
	on, _ := ctx.Value(recycleKey{}).(bool)
	if !p.AggregatesScan() && (!on || !p.StreamsScan()) {
		return ctx, nil
	}
	pool := newDataPool(db.mem)
	return context.WithValue(ctx, dataPoolKey{}, pool), pool
}

// newDataPool returns the pool of one query (a variable for tests).
var newDataPool = func(parent memory.Allocator) *bufpool.Pool { return bufpool.New(parent, 0) }

// dataPoolFrom returns the pool of the query ctx belongs to, or nil.
func dataPoolFrom(ctx context.Context) *bufpool.Pool {
	p, _ := ctx.Value(dataPoolKey{}).(*bufpool.Pool)
	return p
}
