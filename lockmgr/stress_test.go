package lockmgr

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// checker is the test's own record of granted locks. A goroutine records a
// lock only after Lock returned and erases it before releasing, so the
// record is always a subset of what the manager has granted: two
// incompatible modes in the record are two incompatible grants held at once.
type checker struct {
	mu    sync.Mutex
	held  map[string]map[TxnID]Mode
	fails atomic.Int64
	t     *testing.T
}

func resKey(r Resource) string { return fmt.Sprintf("%d/%d/%s", r.Level, r.Table, r.Key) }

// record notes that tx holds its current modes on res and res's ancestors
// and checks them against every other transaction's.
func (c *checker) record(tx *Txn, res Resource) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for r, ok := res, true; ok; r, ok = r.Parent() {
		mode := tx.Mode(r)
		if mode == 0 {
			continue // granted by a covering ancestor lock
		}
		k := resKey(r)
		hs := c.held[k]
		if hs == nil {
			hs = map[TxnID]Mode{}
			c.held[k] = hs
		}
		for other, om := range hs {
			if other != tx.ID() && !Compatible(mode, om) {
				c.fails.Add(1)
				c.t.Errorf("%s: txn %d holds %s while txn %d holds %s", r, tx.ID(), mode, other, om)
			}
		}
		hs[tx.ID()] = mode
	}
	// Hierarchy: a lock below requires the intention (or a covering lock)
	// above.
	if res.Level == LevelRow && tx.Mode(res) != 0 {
		tm := tx.Mode(Table(res.Table))
		if Supremum(tm, intentionFor(tx.Mode(res))) != tm {
			c.t.Errorf("txn %d holds %s on %s but %s on its table", tx.ID(), tx.Mode(res), res, tm)
		}
	}
}

// forget erases tx's records of res, or of everything when all is set.
func (c *checker) forget(tx *Txn, res Resource, all bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if all {
		for _, hs := range c.held {
			delete(hs, tx.ID())
		}
		return
	}
	delete(c.held[resKey(res)], tx.ID())
}

// TestRandomLocking runs many transactions that lock random resources in
// random modes, with deadlocks, conversions, early unlocks and a concurrent
// Snapshot reader, and checks that no incompatible locks are ever granted
// together and that everything ends released.
func TestRandomLocking(t *testing.T) {
	m := New(&Options{DeadlockInterval: 2 * time.Millisecond, LockTimeout: 5 * time.Second})
	defer m.Close()
	c := &checker{held: map[string]map[TxnID]Mode{}, t: t}
	var nextID atomic.Uint64
	var granted, deadlocks, timeouts, refused, canceled atomic.Int64

	const workers = 12
	iters := 300
	if testing.Short() {
		iters = 60
	}
	stop := make(chan struct{})
	var snapWG sync.WaitGroup
	snapWG.Add(1)
	go func() { // Snapshot while everything moves
		defer snapWG.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, li := range m.Snapshot() {
				if !li.Mode.Valid() {
					t.Errorf("snapshot row with mode %d", li.Mode)
				}
			}
			time.Sleep(time.Millisecond)
		}
	}()

	modes := []Mode{IntentShared, IntentExclusive, Shared, Shared, SharedIntentExclusive, Exclusive, Exclusive, Exclusive}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 7))
			key := make([]byte, 1)
			for i := 0; i < iters; i++ {
				tx := m.Begin(TxnID(nextID.Add(1)))
				nops := 1 + rng.IntN(5)
				for op := 0; op < nops; op++ {
					var res Resource
					switch rng.IntN(10) {
					case 0:
						res = Table(uint64(rng.IntN(3)))
					default:
						key[0] = byte('a' + rng.IntN(6))
						res = Row(uint64(rng.IntN(3)), key)
					}
					mode := modes[rng.IntN(len(modes))]
					if res.Level == LevelRow && (mode == IntentShared || mode == IntentExclusive || mode == SharedIntentExclusive) {
						mode = Shared // intention modes on rows mean nothing
					}
					var err error
					how := rng.IntN(10)
					switch how {
					case 0: // NOWAIT
						err = tx.TryLock(res, mode)
					case 1: // a statement timeout that races with grants
						ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(300))*time.Microsecond)
						err = tx.Lock(ctx, res, mode)
						cancel()
					default:
						err = tx.Lock(context.Background(), res, mode)
					}
					if err != nil {
						switch code := sqlstate.CodeOf(err); {
						case code == sqlstate.DeadlockDetected:
							deadlocks.Add(1)
						case code == sqlstate.LockNotAvailable && how == 0:
							refused.Add(1)
						case code == sqlstate.QueryCanceled && how == 1:
							canceled.Add(1)
						case code == sqlstate.LockNotAvailable:
							timeouts.Add(1)
						default:
							t.Errorf("unexpected error: %v", err)
						}
						break
					}
					granted.Add(1)
					c.record(tx, res)
					if rng.IntN(8) == 0 {
						// Erase first, release second. Unlocking a table
						// also drops its rows; erasing every record of tx
						// keeps the record a subset of the grants.
						c.forget(tx, res, res.Level == LevelTable)
						tx.Unlock(res)
					}
				}
				if rng.IntN(3) == 0 {
					time.Sleep(time.Duration(rng.IntN(200)) * time.Microsecond)
				}
				c.forget(tx, Resource{}, true)
				tx.End()
			}
		}(uint64(w))
	}
	wg.Wait()
	close(stop)
	snapWG.Wait()
	if s := m.Snapshot(); len(s) != 0 {
		t.Fatalf("locks left after every transaction ended: %v", s)
	}
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		if sh.heads.n != 0 || len(sh.waiting) != 0 {
			t.Errorf("shard %d: %d heads, %d waiting", i, sh.heads.n, len(sh.waiting))
		}
		sh.mu.Unlock()
	}
	if m.waiters.Load() != 0 {
		t.Errorf("waiters gauge %d", m.waiters.Load())
	}
	// Waits end by a grant or a deadlock within milliseconds here; a
	// timeout means a lost wake-up.
	if timeouts.Load() != 0 {
		t.Errorf("%d lock waits timed out", timeouts.Load())
	}
	t.Logf("granted %d, deadlocks %d, refused %d, canceled %d, timeouts %d",
		granted.Load(), deadlocks.Load(), refused.Load(), canceled.Load(), timeouts.Load())
}
