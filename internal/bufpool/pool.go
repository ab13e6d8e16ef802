// Package bufpool recycles the memory of Arrow buffers within one query.
//
// A Pool is a memory.Allocator whose Free keeps the memory for a later
// Allocate, which hands it out again without clearing it. arrow-go's own
// allocators return zeroed memory and its builders and kernels may rely on
// that, so a Pool is only for buffers whose user writes every byte it
// exposes (the segment decoder's value, offset and string buffers); it is
// never an allocator for arbitrary Arrow code.
//
// What makes recycling safe is Arrow's reference counting: memory comes
// back to the pool only when the last reference to its buffer is released,
// and whoever uses a batch past its owner's Release must Retain it. Code
// that keeps a Go slice of a buffer's bytes (a string, say) after Release
// breaks that rule and would see the bytes of a later batch, so a Pool is
// used only where the reader of the batches is known to follow it. One
// Pool serves one query: no byte of one query reaches another.
package bufpool

import (
	"math/bits"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Size classes: powers of two from minClass to maxClass bytes. Smaller
// requests are not worth a lock (and are mostly validity bitmaps); larger
// ones are rare (a string buffer of more than 16 MiB per batch).
const (
	minShift   = 12 // 4 KiB
	maxShift   = 24 // 16 MiB
	numClasses = maxShift - minShift + 1
)

// DefaultMaxIdle is the default bound of the bytes a Pool keeps for reuse:
// about ten batches of 8192 rows of a wide table. A streaming reader
// frees a batch shortly before the next is decoded, so a few are idle at a
// time; the bound caps what a burst leaves behind outside any query's
// budget.
const DefaultMaxIdle = 16 << 20

// Pool is a memory.Allocator that recycles freed memory without clearing
// it (see the package documentation for when that is safe). Its memory
// comes from a parent allocator and goes back to it when the pool holds
// more than its bound and when it is closed, so the parent's accounting
// (a memory.CheckedAllocator's, say) sees every buffer. It is safe for
// concurrent use: decoding goroutines allocate while network goroutines
// free. The zero value is not usable; call New.
type Pool struct {
	parent  memory.Allocator
	maxIdle int64

	mu     sync.Mutex
	free   [numClasses][][]byte
	idle   int64 // bytes in free
	closed bool
	// Counters for tests and metrics.
	allocs, reused int64
	poison         byte
	poisoned       bool
}

var _ memory.Allocator = (*Pool)(nil)

// New returns a Pool over parent (memory.DefaultAllocator when nil) that
// keeps at most maxIdle bytes of freed memory (DefaultMaxIdle when
// maxIdle <= 0). The caller must Close it.
func New(parent memory.Allocator, maxIdle int64) *Pool {
	if parent == nil {
		parent = memory.DefaultAllocator
	}
	if maxIdle <= 0 {
		maxIdle = DefaultMaxIdle
	}
	return &Pool{parent: parent, maxIdle: maxIdle}
}

// class returns the size class of an allocation of size bytes, or -1 when
// the pool does not serve it.
func class(size int) int {
	if size <= 1<<(minShift-1) || size > 1<<maxShift {
		return -1
	}
	shift := bits.Len(uint(size - 1))
	if shift < minShift {
		shift = minShift
	}
	return shift - minShift
}

// pooled reports whether b is an allocation of the pool's classes (else
// the parent's own, passed through): its capacity is a class size.
func pooled(b []byte) bool {
	c := class(cap(b))
	return c >= 0 && cap(b) == 1<<(c+minShift)
}

// Allocate returns size bytes aligned as the parent aligns them. Memory
// that comes from an earlier Free is not cleared.
func (p *Pool) Allocate(size int) []byte {
	c := class(size)
	if c < 0 {
		return p.parent.Allocate(size)
	}
	p.mu.Lock()
	p.allocs++
	if l := p.free[c]; len(l) > 0 {
		b := l[len(l)-1]
		l[len(l)-1] = nil
		p.free[c] = l[:len(l)-1]
		p.idle -= int64(cap(b))
		p.reused++
		p.mu.Unlock()
		return b[:size]
	}
	p.mu.Unlock()
	// The capacity is the class size: Free finds the class from it. The
	// parent's allocators (Go's, checked ones over it) return slices of
	// exactly the size asked for.
	b := p.parent.Allocate(1 << (c + minShift))
	return b[:size]
}

// Reallocate returns b, which must come from this Pool, grown or shrunk
// to size bytes, its first bytes kept.
func (p *Pool) Reallocate(size int, b []byte) []byte {
	if !pooled(b) && class(size) < 0 {
		return p.parent.Reallocate(size, b)
	}
	if pooled(b) && size <= cap(b) {
		return b[:size]
	}
	nb := p.Allocate(size)
	copy(nb, b)
	p.Free(b)
	return nb
}

// Free gives b, which must come from this Pool, back for reuse, or to
// the parent when the pool is full or closed.
func (p *Pool) Free(b []byte) {
	if !pooled(b) {
		p.parent.Free(b)
		return
	}
	n := cap(b)
	b = b[:n]
	p.mu.Lock()
	if p.closed || p.idle+int64(n) > p.maxIdle {
		p.mu.Unlock()
		p.parent.Free(b)
		return
	}
	if p.poisoned {
		for i := range b {
			b[i] = p.poison
		}
	}
	c := class(n)
	p.free[c] = append(p.free[c], b)
	p.idle += int64(n)
	p.mu.Unlock()
}

// Close gives the memory the pool keeps back to the parent; buffers freed
// later go straight to it. The pool stays usable (Allocate no longer
// reuses). It is idempotent.
func (p *Pool) Close() {
	p.mu.Lock()
	free := p.free
	p.free = [numClasses][][]byte{}
	p.idle = 0
	p.closed = true
	p.mu.Unlock()
	for _, l := range free {
		for _, b := range l {
			p.parent.Free(b)
		}
	}
}

// SetPoison makes Free fill memory with b before keeping it, so that a
// user of Allocate that exposes bytes it did not write shows them. For
// tests.
func (p *Pool) SetPoison(b byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.poison, p.poisoned = b, true
}

// Stats returns the number of pooled allocations and how many of them
// reused freed memory.
func (p *Pool) Stats() (allocs, reused int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.allocs, p.reused
}
