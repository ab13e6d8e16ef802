package arrowexec

import (
	"context"
	"errors"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Spool computes its input once and replays its batches to several
// readers: a common table expression that a query reads more than once
// (TPC-H Q15's revenue view, joined with supplier and searched for its
// maximum) runs once instead of once per reference.
//
// The input runs to its end at the first Next of any reader, on that
// reader's goroutine and with the context its Open was given; the other
// readers wait for it and then replay the same batches in the input's
// order. Readers may be opened, read and closed in any order and on
// different goroutines (the pipelines of a parallel aggregate). The
// batches are accounted against the query's Budget of the filling reader's
// context, so that a spool over the budget fails with 53200 like the other
// blocking operators; an error of the input (or of the budget) is returned
// to every reader.
//
// Lifetime: NewSpool returns a Spool holding one reference for its owner,
// every Reader holds one more until it is closed, and Release drops the
// owner's. The input is closed and the batches released with the last
// reference; the batches are also released as soon as every reader made so
// far has been closed after the fill, so a reader must not be made after
// the readers have started (the planner makes them all while building).
// A Spool is safe for concurrent use.
type Spool struct {
	in Operator

	mu      sync.Mutex
	refs    int  // the owner's reference and every reader not closed
	open    int  // readers made and not closed
	filled  bool // the input ran (successfully or not)
	dropped bool // the batches were released after the fill
	err     error
	batches []arrow.RecordBatch
	// buffers holds the buffers the batches hold, counted once each: the
	// batches of an operator are often slices of the same arrays.
	buffers map[*memory.Buffer]struct{}
	acct    accounted
}

// NewSpool returns a Spool of in, holding one reference for the caller,
// who makes the readers with Reader and then calls Release. The Spool owns
// in and closes it.
func NewSpool(in Operator) *Spool { return &Spool{in: in, refs: 1} }

// Schema returns the schema of the input's batches.
func (s *Spool) Schema() *arrow.Schema { return s.in.Schema() }

// Reader returns a new reader of the spooled batches. The caller owns it
// and must Close it.
func (s *Spool) Reader() Operator {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refs++
	s.open++
	return &spoolReader{s: s}
}

// Release drops the owner's reference. It is idempotent only in the
// sense that the owner calls it once.
func (s *Spool) Release() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unrefLocked()
}

// unrefLocked drops one reference; the last one closes the input and
// releases the batches.
func (s *Spool) unrefLocked() error {
	s.refs--
	if s.refs > 0 {
		return nil
	}
	s.dropLocked()
	return s.in.Close()
}

// dropLocked releases the batches and returns their memory to the budget.
func (s *Spool) dropLocked() {
	for _, b := range s.batches {
		b.Release()
	}
	s.batches = nil
	s.buffers = nil
	s.acct.shrink(s.acct.held)
}

// errSpoolDropped is returned by a reader made after the spool's batches
// were released: a planner bug.
var errSpoolDropped = errors.New("arrowexec: spool read after its batches were released")

// fill runs the input to its end once and returns the spooled batches.
// The caller must not modify the returned slice.
func (s *Spool) fill(ctx context.Context) ([]arrow.RecordBatch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dropped {
		return nil, errSpoolDropped
	}
	if !s.filled {
		s.filled = true
		s.err = s.runLocked(ctx)
		if s.err != nil {
			s.dropLocked()
		}
		// The input is done with: free what it holds (a hash table) now
		// rather than with the last reference. Close is idempotent.
		if err := s.in.Close(); err != nil && s.err == nil {
			s.err = err
			s.dropLocked()
		}
	}
	return s.batches, s.err
}

// runLocked opens the input and keeps its batches.
func (s *Spool) runLocked(ctx context.Context) error {
	s.acct.budget = BudgetFrom(ctx)
	if err := s.in.Open(ctx); err != nil {
		return err
	}
	s.buffers = make(map[*memory.Buffer]struct{})
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := s.in.Next()
		if err != nil {
			return err
		}
		if rec == nil {
			return nil
		}
		var n int64
		for _, c := range rec.Columns() {
			n += s.newBytes(c.Data())
		}
		if err := s.acct.grow(n); err != nil {
			return err
		}
		rec.Retain()
		s.batches = append(s.batches, rec)
	}
}

// newBytes returns the bytes of the buffers of d (and its children) that
// no batch spooled before holds, and remembers them.
func (s *Spool) newBytes(d arrow.ArrayData) int64 {
	var n int64
	for _, b := range d.Buffers() {
		if b == nil {
			continue
		}
		if _, ok := s.buffers[b]; ok {
			continue
		}
		s.buffers[b] = struct{}{}
		n += int64(b.Len())
	}
	for _, c := range d.Children() {
		if c, ok := c.(*array.Data); ok && c != nil {
			n += s.newBytes(c)
		}
	}
	if dict, ok := d.Dictionary().(*array.Data); ok && dict != nil {
		n += s.newBytes(dict)
	}
	return n
}

// readerClosed drops a reader's reference.
func (s *Spool) readerClosed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open--
	if s.open == 0 && s.filled && !s.dropped && s.refs > 1 {
		// Every reader is done: the owner's reference need not keep the
		// batches.
		s.dropLocked()
		s.dropped = true
	}
	return s.unrefLocked()
}

// spoolReader replays a Spool's batches.
type spoolReader struct {
	s       *Spool
	ctx     context.Context
	batches []arrow.RecordBatch
	pos     int
	read    bool // the spool was filled for this reader
	closed  bool
}

var _ Operator = (*spoolReader)(nil)

func (r *spoolReader) Schema() *arrow.Schema { return r.s.Schema() }

// Open records ctx; the input runs at the first Next of any reader.
func (r *spoolReader) Open(ctx context.Context) error {
	r.ctx = ctx
	return nil
}

func (r *spoolReader) Next() (arrow.RecordBatch, error) {
	if !r.read {
		ctx := r.ctx
		if ctx == nil {
			ctx = context.Background()
		}
		b, err := r.s.fill(ctx)
		if err != nil {
			return nil, err
		}
		r.batches, r.read = b, true
	}
	if r.ctx != nil {
		if err := r.ctx.Err(); err != nil {
			return nil, err
		}
	}
	if r.pos >= len(r.batches) {
		return nil, nil
	}
	b := r.batches[r.pos]
	r.pos++
	return b, nil
}

// Close drops the reader's reference to the spool. It is idempotent and
// safe without Open.
func (r *spoolReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.batches = nil
	return r.s.readerClosed()
}
