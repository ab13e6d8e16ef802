package flight

import (
	"container/list"
	"crypto/rand"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// handleLen is the length of a prepared statement handle in bytes.
const handleLen = 16

// preparedStore keeps prepared statements by handle. It is bounded: adding a
// statement to a full store closes the least recently used one; and a handle
// not used for ttl expires. Expired entries sit at the back of the LRU list,
// so they are swept cheaply whenever a statement is added. It is safe for
// concurrent use. S is S in the server; tests use fakes.
type preparedStore[S closer] struct {
	log *slog.Logger
	max int
	ttl time.Duration // <= 0: no expiry
	now func() time.Time

	mu       sync.Mutex
	byHandle map[string]*list.Element // of *preparedEntry[S]
	lru      list.List                // front: most recently used
}

// closer is what the store needs of a statement.
type closer interface{ Close() error }

type preparedEntry[S closer] struct {
	handle   string
	stmt     S
	lastUsed time.Time
}

func newPreparedStore[S closer](log *slog.Logger, max int, ttl time.Duration) *preparedStore[S] {
	return &preparedStore[S]{
		log:      log,
		max:      max,
		ttl:      ttl,
		now:      time.Now,
		byHandle: make(map[string]*list.Element),
	}
}

// add stores stmt and returns its new handle. The store owns stmt from now on.
func (p *preparedStore[S]) add(stmt S) ([]byte, error) {
	handle := make([]byte, handleLen)
	if _, err := rand.Read(handle); err != nil {
		_ = stmt.Close()
		return nil, fmt.Errorf("cannot create prepared statement handle: %w", err)
	}
	var evicted []S
	p.mu.Lock()
	now := p.now()
	evicted = p.sweepLocked(now, evicted)
	for p.lru.Len() >= p.max {
		e := p.lru.Back().Value.(*preparedEntry[S])
		p.removeLocked(e)
		evicted = append(evicted, e.stmt)
		p.log.Warn("prepared statement store full; closing least recently used statement",
			slog.Int("max", p.max), slog.Duration("idle", now.Sub(e.lastUsed)))
	}
	e := &preparedEntry[S]{handle: string(handle), stmt: stmt, lastUsed: now}
	p.byHandle[e.handle] = p.lru.PushFront(e)
	p.mu.Unlock()
	closeStmts(evicted)
	return handle, nil
}

// get returns the statement of handle and marks it used, or false when the
// handle is unknown, closed, evicted or expired.
func (p *preparedStore[S]) get(handle []byte) (stmt S, ok bool) {
	p.mu.Lock()
	el, ok := p.byHandle[string(handle)]
	if !ok {
		p.mu.Unlock()
		return stmt, false
	}
	e := el.Value.(*preparedEntry[S])
	now := p.now()
	if p.expiredLocked(e, now) {
		p.removeLocked(e)
		p.mu.Unlock()
		closeStmts([]S{e.stmt})
		return stmt, false
	}
	e.lastUsed = now
	p.lru.MoveToFront(el)
	p.mu.Unlock()
	return e.stmt, true
}

// remove closes the statement of handle and reports whether it was there.
func (p *preparedStore[S]) remove(handle []byte) bool {
	p.mu.Lock()
	el, ok := p.byHandle[string(handle)]
	if ok {
		p.removeLocked(el.Value.(*preparedEntry[S]))
	}
	p.mu.Unlock()
	if ok {
		closeStmts([]S{el.Value.(*preparedEntry[S]).stmt})
	}
	return ok
}

// len returns the number of stored statements, expired ones included.
func (p *preparedStore[S]) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lru.Len()
}

// closeAll closes and forgets every statement.
func (p *preparedStore[S]) closeAll() {
	p.mu.Lock()
	stmts := make([]S, 0, p.lru.Len())
	for el := p.lru.Front(); el != nil; el = el.Next() {
		stmts = append(stmts, el.Value.(*preparedEntry[S]).stmt)
	}
	p.lru.Init()
	clear(p.byHandle)
	p.mu.Unlock()
	closeStmts(stmts)
}

func (p *preparedStore[S]) expiredLocked(e *preparedEntry[S], now time.Time) bool {
	return p.ttl > 0 && now.Sub(e.lastUsed) > p.ttl
}

// sweepLocked removes expired entries from the back of the LRU list and
// appends their statements to dst.
func (p *preparedStore[S]) sweepLocked(now time.Time, dst []S) []S {
	for el := p.lru.Back(); el != nil; el = p.lru.Back() {
		e := el.Value.(*preparedEntry[S])
		if !p.expiredLocked(e, now) {
			break
		}
		p.removeLocked(e)
		dst = append(dst, e.stmt)
	}
	return dst
}

func (p *preparedStore[S]) removeLocked(e *preparedEntry[S]) {
	if el, ok := p.byHandle[e.handle]; ok {
		p.lru.Remove(el)
		delete(p.byHandle, e.handle)
	}
}

// closeStmts closes statements outside the store's lock. Stmt.Close only
// releases resources; its error is not actionable here.
func closeStmts[S closer](stmts []S) {
	for _, s := range stmts {
		_ = s.Close()
	}
}
