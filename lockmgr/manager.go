package lockmgr

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// TxnID identifies a transaction to the lock manager. IDs order transactions
// by age: a larger id is a younger transaction. The deadlock detector aborts
// the youngest transaction of a cycle, so callers should hand out ids from a
// counter that only grows (oltp's transaction sequence, for example).
type TxnID uint64

// Defaults of Options.
const (
	// DefaultLockTimeout bounds one Lock call when Options.LockTimeout is
	// zero. It is long enough that only a stuck holder hits it (deadlocks
	// are found within DeadlockInterval) and short enough that a client
	// sees an error instead of a hang.
	DefaultLockTimeout = 10 * time.Second
	// DefaultDeadlockInterval is the period of the deadlock detector when
	// Options.DeadlockInterval is zero.
	DefaultDeadlockInterval = 50 * time.Millisecond
)

// numShards is the number of lock-table shards. A power of two; resources
// are spread over the shards by the low bits of their hash.
const numShards = 128

// Free lists keep at most this many spare structs per shard.
const maxFree = 128

// Marker errors, wrapped inside the *sqlstate.Error that Lock returns, for
// callers that branch with errors.Is.
var (
	// ErrDeadlock: the transaction was chosen as the victim of a deadlock
	// (SQLSTATE 40P01, retryable).
	ErrDeadlock = errors.New("lockmgr: deadlock detected")
	// ErrLockTimeout: the wait exceeded Options.LockTimeout (SQLSTATE 55P03).
	ErrLockTimeout = errors.New("lockmgr: lock wait timeout")
	// ErrWouldBlock: TryLock found the lock taken (SQLSTATE 55P03).
	ErrWouldBlock = errors.New("lockmgr: lock not available")
	// ErrClosed: the Manager is closed (SQLSTATE 57P01).
	ErrClosed = errors.New("lockmgr: lock manager closed")
)

// Options configure a Manager. The zero value (and a nil *Options) is valid.
type Options struct {
	// LockTimeout bounds the time one Lock call may wait; a Lock that waits
	// longer fails with SQLSTATE 55P03. Zero means DefaultLockTimeout (10
	// s); a negative value means no limit (the context and the deadlock
	// detector still end a wait). A context deadline earlier than the
	// timeout ends the wait first, with SQLSTATE 57014.
	LockTimeout time.Duration
	// DeadlockInterval is the period of the deadlock detector. Zero means
	// DefaultDeadlockInterval (50 ms). A deadlock is broken at most about
	// one interval after its last wait began.
	DeadlockInterval time.Duration
}

// Manager is a lock table with wait queues and a deadlock detector. It is
// safe for concurrent use; each transaction uses it through its own *Txn
// from Begin. The Manager owns one background goroutine (the deadlock
// detector), stopped by Close.
type Manager struct {
	shards [numShards]shard

	timeout  time.Duration // <0: none
	interval time.Duration
	dbHash   uint64

	closed  atomic.Bool
	waiters atomic.Int64 // Lock calls currently waiting
	stop    chan struct{}
	done    chan struct{}

	txnPool sync.Pool
	metrics metrics
}

// shard is one partition of the lock table. mu guards every field of the
// shard and every lockHead and lockReq that lives in it.
type shard struct {
	mu    sync.Mutex
	heads headTable // the resources of the shard that are held or waited for
	// waiting holds the heads whose queue is not empty, for the detector.
	waiting   map[*lockHead]struct{}
	freeHeads []*lockHead
	freeReqs  []*lockReq
	_         [64]byte // keep neighbouring shards' mutexes off one cache line
}

// lockHead is the lock-table entry of one resource: its granted requests
// and its FIFO queue of waiting requests. It exists while either is not
// empty. Guarded by its shard's mu, except that level, table and key are
// immutable while a request of the resource is held or queued.
type lockHead struct {
	hash     uint64
	level    Level
	table    uint64
	key      []byte
	hashNext *lockHead

	gFirst *lockReq // granted requests, in grant order
	counts [numModes]int32
	set    modeSet // modes with counts > 0

	qFirst, qLast *lockReq // waiting requests; upgraders first
}

type reqState uint8

const (
	// stateGranted: the request holds mode and is not queued.
	stateGranted reqState = iota
	// stateWaiting: the request is queued for want; it also holds mode
	// when it is an upgrade (mode != 0).
	stateWaiting
	// stateAborted: another party (the deadlock detector, Close) removed the
	// request from the queue and left the reason in err. Only the waiting
	// goroutine moves it on (back to granted for an upgrade, or frees it).
	stateAborted
)

// lockReq is one transaction's lock on one resource. Its lifetime: created
// when the transaction first requests the resource, freed when released (or
// when a first wait for it fails). Guarded by the shard's mu; the owning
// Txn may read mode and head without the mutex because only the owning
// goroutine changes them while the request is not waiting.
type lockReq struct {
	head  *lockHead
	txn   *Txn
	hash  uint64
	mode  Mode // granted mode; 0 while waiting for a first grant
	want  Mode // the mode waited for, while queued
	state reqState
	err   error // why a wait was aborted (stateAborted)

	waitStart time.Time

	gPrev, gNext *lockReq // granted list
	qPrev, qNext *lockReq // queue
	txnNext      *lockReq // Txn.held chain of equal hashes
	txnIdx       int32    // index in Txn.locks; -1 when not held
}

// New returns a Manager with the given options (nil means defaults) and
// starts its deadlock detector. The caller must Close it.
func New(opts *Options) *Manager {
	var o Options
	if opts != nil {
		o = *opts
	}
	m := &Manager{
		timeout:  o.LockTimeout,
		interval: o.DeadlockInterval,
		dbHash:   Database().hash(),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if m.timeout == 0 {
		m.timeout = DefaultLockTimeout
	}
	if m.interval <= 0 {
		m.interval = DefaultDeadlockInterval
	}
	for i := range m.shards {
		m.shards[i].waiting = make(map[*lockHead]struct{})
	}
	m.txnPool.New = func() any {
		return &Txn{m: m, wake: make(chan struct{}, 1)}
	}
	m.metrics.init(m)
	go m.detectLoop()
	return m
}

// Close stops the deadlock detector and fails every waiting Lock with
// SQLSTATE 57P01 (ErrClosed); later Lock calls fail the same way. Locks
// already granted stay granted: Unlock, ReleaseAll and End keep working so
// that transactions can finish. Close is idempotent.
func (m *Manager) Close() {
	if !m.closed.CompareAndSwap(false, true) {
		return
	}
	close(m.stop)
	<-m.done
	m.lockAllShards()
	defer m.unlockAllShards()
	for i := range m.shards {
		sh := &m.shards[i]
		for len(sh.waiting) > 0 {
			for h := range sh.waiting {
				w := h.qFirst
				m.abortWaitLocked(sh, w, sqlstate.Wrap(ErrClosed, sqlstate.AdminShutdown,
					"lock manager is shutting down: wait for %s lock on %s abandoned", w.want, h.resource()))
				break
			}
		}
	}
}

func (m *Manager) shardOf(h uint64) *shard { return &m.shards[h&(numShards-1)] }

func (m *Manager) lockAllShards() {
	for i := range m.shards {
		m.shards[i].mu.Lock()
	}
}

func (m *Manager) unlockAllShards() {
	for i := range m.shards {
		m.shards[i].mu.Unlock()
	}
}

// Txn is the lock-holding side of one transaction. Get one with
// Manager.Begin and give it back with End.
//
// A Txn is not safe for concurrent use: like the transaction it belongs to,
// it is used by one goroutine at a time. To stop a waiting Lock from
// elsewhere, cancel its context.
type Txn struct {
	m     *Manager
	id    TxnID
	held  reqTable      // granted requests by resource hash
	locks []*lockReq    // granted requests in acquisition order
	wake  chan struct{} // the grant or abort of a wait is signalled here
	// db and lastTable cache t's request on the database and on the table
	// it locked last (or nil): the intention locks of every row lock.
	db, lastTable *lockReq
	timer         *time.Timer // reused between waits
}

// Begin returns the Txn of transaction id, holding no locks. The id must not
// belong to another live Txn of m. The caller must call End when the
// transaction finishes.
func (m *Manager) Begin(id TxnID) *Txn {
	t := m.txnPool.Get().(*Txn)
	t.id = id
	return t
}

// ID returns the transaction id given to Begin.
func (t *Txn) ID() TxnID { return t.id }

// End releases every lock of t and returns t to the Manager for reuse; t
// must not be used afterwards.
func (t *Txn) End() {
	t.ReleaseAll()
	if t.timer != nil {
		t.timer.Stop()
	}
	t.id = 0
	t.m.txnPool.Put(t)
}

// NumLocks returns the number of locks t holds, intention locks included.
func (t *Txn) NumLocks() int { return len(t.locks) }

// Mode returns the mode t holds on res itself (not inherited from an
// ancestor), or 0 when it holds none.
func (t *Txn) Mode(res Resource) Mode {
	if r := t.find(res.hash(), res); r != nil {
		return r.mode
	}
	return 0
}

// Lock acquires res in mode for t, waiting as long as needed, and returns
// nil once the lock is held. The lock is held until Unlock, ReleaseAll or
// End.
//
// Hierarchy: Lock takes the intention locks itself. Locking a table or a
// row first takes IS (for IS and S) or IX (for IX, SIX and X) on the
// database and, for a row, on its table, top-down, so a caller only ever
// names the resource it means. A lock on an ancestor that already grants the
// request (S or SIX for reads, X for everything) makes the finer lock
// unnecessary, and Lock returns at once without taking it.
//
// Re-locking: requesting a resource that t holds converts the lock to the
// supremum of both modes (S then IX gives SIX); a request the held mode
// already grants returns at once. Conversions wait ahead of new requests.
//
// Errors, all *sqlstate.Error: 40P01 when t is chosen as a deadlock victim
// (wraps ErrDeadlock), 55P03 after Options.LockTimeout (wraps
// ErrLockTimeout), 57014 when ctx ends (wraps ctx.Err()), 57P01 when the
// Manager is closed (wraps ErrClosed). On error t keeps every lock it held
// before and any intention locks the call took; the transaction normally
// aborts and calls End. A granted lock wins over a context that ends at the
// same instant: Lock then returns nil.
func (t *Txn) Lock(ctx context.Context, res Resource, mode Mode) error {
	return t.lock(ctx, res, mode, true)
}

// TryLock is Lock without waiting: when the lock (or an intention lock it
// needs) cannot be granted at once, it fails with SQLSTATE 55P03 wrapping
// ErrWouldBlock, the NOWAIT behaviour of SQL.
func (t *Txn) TryLock(res Resource, mode Mode) error {
	return t.lock(nil, res, mode, false)
}

func (t *Txn) lock(ctx context.Context, res Resource, mode Mode, wait bool) error {
	if !mode.Valid() {
		return fmt.Errorf("lockmgr: invalid lock mode %d", mode)
	}
	if !res.valid() {
		return fmt.Errorf("lockmgr: invalid resource %v", res)
	}
	if t.m.closed.Load() {
		return errClosed(res, mode)
	}
	var deadline time.Time // of the whole call, set at its first wait
	if res.Level != LevelDatabase {
		intent := intentionFor(mode)
		db := t.db
		if db != nil && covers(db.mode, mode) {
			return nil
		}
		if db == nil || Supremum(db.mode, intent) != db.mode {
			if err := t.lockOne(ctx, Database(), t.m.dbHash, intent, db, wait, &deadline); err != nil {
				return err
			}
		}
		if res.Level == LevelRow {
			tres := Table(res.Table)
			var th uint64
			tbl := t.lastTable
			if tbl == nil || tbl.head.table != res.Table {
				th = tres.hash()
				if tbl = t.find(th, tres); tbl != nil {
					t.lastTable = tbl
				}
			} else {
				th = tbl.hash
			}
			if tbl != nil && covers(tbl.mode, mode) {
				return nil
			}
			if tbl == nil || Supremum(tbl.mode, intent) != tbl.mode {
				if err := t.lockOne(ctx, tres, th, intent, tbl, wait, &deadline); err != nil {
					return err
				}
			}
		}
	}
	h := res.hash()
	held := t.find(h, res)
	if held != nil && Supremum(held.mode, mode) == held.mode {
		return nil
	}
	return t.lockOne(ctx, res, h, mode, held, wait, &deadline)
}

// lockOne acquires one resource, not its ancestors. held is t's current
// request on res, if any.
func (t *Txn) lockOne(ctx context.Context, res Resource, h uint64, mode Mode, held *lockReq, wait bool, deadline *time.Time) error {
	m := t.m
	sh := m.shardOf(h)
	sh.mu.Lock()
	if held != nil {
		want := Supremum(held.mode, mode)
		head := held.head
		if head.grantableLocked(want, held.mode) {
			head.convertLocked(held, want)
			sh.mu.Unlock()
			m.metrics.acquired[want].Inc()
			return nil
		}
		if !wait || m.closed.Load() {
			sh.mu.Unlock()
			return errUnavailable(t.id, res, want, wait)
		}
		held.want = want
		held.state = stateWaiting
		sh.enqueueLocked(head, held, true)
		return t.wait(ctx, sh, held, res, deadline)
	}
	head := sh.headLocked(h, res)
	req := sh.newReqLocked(head, t, h)
	if head.qFirst == nil && head.grantableLocked(mode, 0) {
		req.mode = mode
		head.addGrantedLocked(req)
		sh.mu.Unlock()
		t.addHeld(req)
		m.metrics.acquired[mode].Inc()
		return nil
	}
	if !wait || m.closed.Load() {
		sh.freeReqLocked(req)
		sh.maybeFreeHeadLocked(head)
		sh.mu.Unlock()
		return errUnavailable(t.id, res, mode, wait)
	}
	req.want = mode
	req.state = stateWaiting
	sh.enqueueLocked(head, req, false)
	return t.wait(ctx, sh, req, res, deadline)
}

// wait blocks until req, queued in sh, is granted or its wait ends. It is
// called with sh.mu held and returns with it released.
func (t *Txn) wait(ctx context.Context, sh *shard, req *lockReq, res Resource, deadline *time.Time) error {
	m := t.m
	start := time.Now()
	req.waitStart = start
	want := req.want
	// A signal left over from an earlier wait (granted while its waiter
	// was giving up) must not end this one. It is drained before sh.mu is
	// released: a grant of req can only be signalled after that, and a
	// stale signal was sent under the lock the earlier wait last held.
	select {
	case <-t.wake:
	default:
	}
	sh.mu.Unlock()

	m.waiters.Add(1)
	defer m.waiters.Add(-1)
	m.metrics.waits[want].Inc()
	defer func() { m.metrics.waitSeconds.Observe(time.Since(start).Seconds()) }()
	var timeout <-chan time.Time
	if m.timeout > 0 {
		if deadline.IsZero() {
			*deadline = start.Add(m.timeout)
		}
		d := deadline.Sub(start)
		if t.timer == nil {
			t.timer = time.NewTimer(d)
		} else {
			t.timer.Reset(d)
		}
		defer t.timer.Stop()
		timeout = t.timer.C
	}
	var done <-chan struct{}
	if ctx != nil {
		done = ctx.Done()
	}
	for {
		var cause error
		select {
		case <-t.wake:
		case <-done:
			cause = sqlstate.Wrap(ctx.Err(), sqlstate.QueryCanceled,
				"canceling statement while waiting for %s lock on %s", want, res)
		case <-timeout:
			cause = sqlstate.Wrap(ErrLockTimeout, sqlstate.LockNotAvailable,
				"lock timeout: transaction %d waited more than %v for %s lock on %s",
				t.id, m.timeout, want, res)
		}
		sh.mu.Lock()
		switch req.state {
		case stateWaiting:
			if cause == nil {
				sh.mu.Unlock() // spurious wake-up
				continue
			}
			head := req.head
			sh.dequeueLocked(head, req)
			sh.endWaitLocked(req)
			// Leaving the queue may unblock the requests behind req.
			sh.grantWaitersLocked(head)
			sh.maybeFreeHeadLocked(head)
			sh.mu.Unlock()
			if errors.Is(cause, ErrLockTimeout) {
				m.metrics.timeouts.Inc()
			} else {
				m.metrics.canceled.Inc()
			}
			return cause
		case stateAborted:
			err := req.err
			sh.endWaitLocked(req)
			sh.mu.Unlock()
			return err
		default: // granted
			sh.mu.Unlock()
			if req.txnIdx < 0 {
				t.addHeld(req)
			}
			m.metrics.acquired[req.mode].Inc()
			return nil
		}
	}
}

// endWaitLocked finishes a request whose wait failed: an upgrade keeps its
// old mode, a first request is freed.
func (sh *shard) endWaitLocked(req *lockReq) {
	req.want = 0
	req.err = nil
	if req.mode != 0 {
		req.state = stateGranted
		return
	}
	sh.freeReqLocked(req)
}

// signal wakes t's waiting goroutine, if any. It never blocks.
func (t *Txn) signal() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// Unlock releases t's lock on res. Releasing a table also releases t's
// row locks in that table, and releasing the database releases everything
// (like ReleaseAll), so t never holds a lock below a resource it does not
// hold. Unlocking a resource t does not hold does nothing.
func (t *Txn) Unlock(res Resource) {
	switch res.Level {
	case LevelDatabase:
		t.ReleaseAll()
		return
	case LevelTable:
		for i := len(t.locks) - 1; i >= 0; i-- {
			if i >= len(t.locks) {
				continue
			}
			r := t.locks[i]
			if r.head.level == LevelRow && r.head.table == res.Table {
				t.removeHeld(r)
				t.m.release(r)
			}
		}
	}
	h := res.hash()
	if r := t.find(h, res); r != nil {
		t.removeHeld(r)
		t.m.release(r)
	}
}

// ReleaseAll releases every lock of t; t stays usable. Strict two-phase
// locking calls it once, at commit or rollback (End does it too).
func (t *Txn) ReleaseAll() {
	// Finer locks first, so that no waiter is granted a table while t still
	// holds rows below it (harmless, but it would show in Snapshot).
	for i := len(t.locks) - 1; i >= 0; i-- {
		r := t.locks[i]
		r.txnIdx = -1
		r.txnNext = nil
		t.m.release(r)
		t.locks[i] = nil
	}
	t.held.reset()
	t.db, t.lastTable = nil, nil
	if cap(t.locks) > 4096 {
		t.locks = nil // do not keep a huge slice alive in the pool
	} else {
		t.locks = t.locks[:0]
	}
}

// release gives up the granted request r.
func (m *Manager) release(r *lockReq) {
	sh := m.shardOf(r.hash)
	sh.mu.Lock()
	head := r.head
	head.removeGrantedLocked(r)
	sh.freeReqLocked(r)
	if head.qFirst != nil {
		sh.grantWaitersLocked(head)
	}
	sh.maybeFreeHeadLocked(head)
	sh.mu.Unlock()
}

// find returns t's granted request on res, or nil.
func (t *Txn) find(h uint64, res Resource) *lockReq {
	return t.held.find(h, res)
}

func (t *Txn) addHeld(r *lockReq) {
	r.txnIdx = int32(len(t.locks))
	t.locks = append(t.locks, r)
	t.held.insert(r)
	switch r.head.level {
	case LevelDatabase:
		t.db = r
	case LevelTable:
		t.lastTable = r
	}
}

func (t *Txn) removeHeld(r *lockReq) {
	// Swap-remove from locks.
	i := r.txnIdx
	last := len(t.locks) - 1
	if int(i) != last {
		t.locks[i] = t.locks[last]
		t.locks[i].txnIdx = i
	}
	t.locks[last] = nil
	t.locks = t.locks[:last]
	r.txnIdx = -1
	t.held.remove(r)
	if t.db == r {
		t.db = nil
	}
	if t.lastTable == r {
		t.lastTable = nil
	}
}

// --- lock table (all methods below expect the shard's mu held) ---

func (h *lockHead) matches(res Resource) bool {
	return h.level == res.Level && h.table == res.Table && string(h.key) == string(res.Key)
}

// resource returns a Resource for h with a copy of its key.
func (h *lockHead) resource() Resource {
	r := Resource{Level: h.level, Table: h.table}
	if h.level == LevelRow {
		r.Key = append([]byte{}, h.key...)
	}
	return r
}

// grantableLocked reports whether a request for want is compatible with
// every granted mode except own, the requester's current mode (0 if none).
func (h *lockHead) grantableLocked(want, own Mode) bool {
	set := h.set
	if own != 0 && h.counts[own] == 1 {
		set &^= modeBit(own)
	}
	return conflicts[want]&set == 0
}

func (h *lockHead) countLocked(m Mode, d int32) {
	h.counts[m] += d
	if h.counts[m] == 0 {
		h.set &^= modeBit(m)
	} else {
		h.set |= modeBit(m)
	}
}

func (h *lockHead) addGrantedLocked(r *lockReq) {
	r.state = stateGranted
	r.gPrev = nil
	r.gNext = h.gFirst
	if h.gFirst != nil {
		h.gFirst.gPrev = r
	}
	h.gFirst = r
	h.countLocked(r.mode, 1)
}

func (h *lockHead) removeGrantedLocked(r *lockReq) {
	if r.gPrev != nil {
		r.gPrev.gNext = r.gNext
	} else {
		h.gFirst = r.gNext
	}
	if r.gNext != nil {
		r.gNext.gPrev = r.gPrev
	}
	r.gPrev, r.gNext = nil, nil
	h.countLocked(r.mode, -1)
}

func (h *lockHead) convertLocked(r *lockReq, to Mode) {
	h.countLocked(r.mode, -1)
	r.mode = to
	h.countLocked(to, 1)
}

// enqueueLocked appends r to h's queue. An upgrade goes behind the other
// upgrades but ahead of every first request: it already holds the resource,
// and making it wait behind requests that conflict with what it holds would
// deadlock at once.
func (sh *shard) enqueueLocked(h *lockHead, r *lockReq, upgrade bool) {
	if h.qFirst == nil {
		sh.waiting[h] = struct{}{}
	}
	var after *lockReq // insert after this one; nil means at the front
	if upgrade {
		for p := h.qFirst; p != nil && p.mode != 0; p = p.qNext {
			after = p
		}
	} else {
		after = h.qLast
	}
	r.qPrev = after
	if after == nil {
		r.qNext = h.qFirst
		h.qFirst = r
	} else {
		r.qNext = after.qNext
		after.qNext = r
	}
	if r.qNext != nil {
		r.qNext.qPrev = r
	} else {
		h.qLast = r
	}
}

func (sh *shard) dequeueLocked(h *lockHead, r *lockReq) {
	if r.qPrev != nil {
		r.qPrev.qNext = r.qNext
	} else {
		h.qFirst = r.qNext
	}
	if r.qNext != nil {
		r.qNext.qPrev = r.qPrev
	} else {
		h.qLast = r.qPrev
	}
	r.qPrev, r.qNext = nil, nil
	if h.qFirst == nil {
		delete(sh.waiting, h)
	}
}

// grantWaitersLocked grants queued requests in FIFO order while they are
// compatible with the granted ones. It stops at the first that is not:
// later requests never overtake it, which is what keeps a waiting X from
// starving behind a stream of S.
func (sh *shard) grantWaitersLocked(h *lockHead) {
	for w := h.qFirst; w != nil; w = h.qFirst {
		if !h.grantableLocked(w.want, w.mode) {
			return
		}
		sh.dequeueLocked(h, w)
		if w.mode != 0 {
			h.convertLocked(w, w.want)
			w.state = stateGranted
		} else {
			w.mode = w.want
			h.addGrantedLocked(w)
		}
		w.want = 0
		w.txn.signal()
	}
}

// abortWaitLocked ends the wait of the queued request w with err. The
// waiting goroutine finds err when it wakes up.
func (m *Manager) abortWaitLocked(sh *shard, w *lockReq, err error) {
	h := w.head
	sh.dequeueLocked(h, w)
	w.state = stateAborted
	w.err = err
	sh.grantWaitersLocked(h)
	if w.mode == 0 {
		sh.maybeFreeHeadLocked(h)
	}
	w.txn.signal()
}

// headLocked returns the lock-table entry of res, creating it if needed.
func (sh *shard) headLocked(hash uint64, res Resource) *lockHead {
	if h := sh.heads.find(hash, res); h != nil {
		return h
	}
	var h *lockHead
	if n := len(sh.freeHeads); n > 0 {
		h = sh.freeHeads[n-1]
		sh.freeHeads = sh.freeHeads[:n-1]
	} else {
		h = &lockHead{}
	}
	h.hash = hash
	h.level = res.Level
	h.table = res.Table
	h.key = append(h.key[:0], res.Key...)
	sh.heads.insert(h)
	return h
}

// maybeFreeHeadLocked removes h from the lock table when nothing holds or
// waits for it.
func (sh *shard) maybeFreeHeadLocked(h *lockHead) {
	if h.gFirst != nil || h.qFirst != nil {
		return
	}
	sh.heads.remove(h)
	if len(sh.freeHeads) < maxFree && cap(h.key) <= 256 {
		sh.freeHeads = append(sh.freeHeads, h)
	}
}

func (sh *shard) newReqLocked(h *lockHead, t *Txn, hash uint64) *lockReq {
	var r *lockReq
	if n := len(sh.freeReqs); n > 0 {
		r = sh.freeReqs[n-1]
		sh.freeReqs = sh.freeReqs[:n-1]
	} else {
		r = &lockReq{}
	}
	r.head = h
	r.txn = t
	r.hash = hash
	r.txnIdx = -1
	return r
}

func (sh *shard) freeReqLocked(r *lockReq) {
	*r = lockReq{}
	if len(sh.freeReqs) < maxFree {
		sh.freeReqs = append(sh.freeReqs, r)
	}
}

// --- errors ---

func errUnavailable(id TxnID, res Resource, mode Mode, closed bool) error {
	if closed {
		// wait was true, so the only reason not to wait is Close.
		return errClosed(res, mode)
	}
	return sqlstate.Wrap(ErrWouldBlock, sqlstate.LockNotAvailable,
		"could not obtain %s lock on %s for transaction %d", mode, res, id)
}

func errClosed(res Resource, mode Mode) error {
	return sqlstate.Wrap(ErrClosed, sqlstate.AdminShutdown,
		"lock manager is shut down: cannot lock %s in %s mode", res, mode)
}
