package arrowexec

import (
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// recycler is the allocator of the arrays an operator evaluates and drops
// within one batch (an aggregate's arguments and keys, a filter's
// predicate): the buffers they free are kept and handed out again for the
// next batch of a similar shape, so that an operator does not ask the Go
// heap for fresh, cold, zeroed megabytes per batch (memclr of new large
// objects and the garbage collections they cause were a fifth of TPC-H Q1's
// CPU time). Buffers are still zeroed when handed out, as
// memory.Allocator's users expect, but they are warm in the caches.
//
// A kept buffer serves a request of up to its capacity and at least half
// of it (a filtered batch's copy has a different size every batch); it
// goes back to the parent whole.
//
// A recycler is not safe for concurrent use: it serves one operator's
// goroutine, and only arrays that never leave the operator may come from
// it. release returns what it keeps to the parent allocator.
type recycler struct {
	parent memory.Allocator
	free   [][]byte
}

const (
	// recycleMin is the smallest buffer kept: smaller ones are cheap on
	// the Go heap.
	recycleMin = 4 << 10
	// recycleKeep bounds the buffers kept.
	recycleKeep = 32
)

var _ memory.Allocator = (*recycler)(nil)

func newRecycler(parent memory.Allocator) *recycler { return &recycler{parent: parent} }

// Allocate returns a zeroed buffer of size bytes.
func (r *recycler) Allocate(size int) []byte {
	if size >= recycleMin {
		for i := len(r.free) - 1; i >= 0; i-- {
			if b := r.free[i]; len(b) >= size && len(b) <= 2*size {
				r.free[i] = r.free[len(r.free)-1]
				r.free[len(r.free)-1] = nil
				r.free = r.free[:len(r.free)-1]
				b = b[:size]
				clear(b)
				return b
			}
		}
	}
	return r.parent.Allocate(size)
}

// Reallocate returns a buffer of size bytes starting with b's contents and
// frees b.
func (r *recycler) Reallocate(size int, b []byte) []byte {
	if size == len(b) {
		return b
	}
	nb := r.Allocate(size)
	copy(nb, b)
	r.Free(b)
	return nb
}

// Free keeps b for a later Allocate, or returns it to the parent. Either
// way b is restored to its whole capacity: the parent's buffers have
// len == cap, and Allocate may have handed out a shorter view.
func (r *recycler) Free(b []byte) {
	b = b[:cap(b)]
	if len(b) >= recycleMin && len(r.free) < recycleKeep {
		r.free = append(r.free, b)
		return
	}
	r.parent.Free(b)
}

// release returns every kept buffer to the parent.
func (r *recycler) release() {
	if r == nil {
		return
	}
	for i, b := range r.free {
		r.parent.Free(b)
		r.free[i] = nil
	}
	r.free = r.free[:0]
}
