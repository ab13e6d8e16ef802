package lockmgr

import (
	"strconv"
	"strings"
	"time"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// detectLoop runs the deadlock detector every m.interval until Close.
func (m *Manager) detectLoop() {
	defer close(m.done)
	tk := time.NewTicker(m.interval)
	defer tk.Stop()
	var g waitGraph
	for {
		select {
		case <-m.stop:
			return
		case <-tk.C:
			if m.waiters.Load() > 0 {
				m.detectDeadlocks(&g)
			}
		}
	}
}

// waitGraph is the waits-for graph: an edge a → b means transaction a
// cannot be granted its queued request before b releases or is granted.
// It is rebuilt from the lock table on each pass; its maps are reused.
type waitGraph struct {
	waiting map[TxnID]*lockReq // the queued request of each waiting txn
	edges   map[TxnID][]TxnID
	color   map[TxnID]uint8
	stack   []TxnID
}

// detectDeadlocks breaks every deadlock in the lock table, aborting the
// youngest transaction of each cycle, and returns how many it broke.
//
// It holds every shard's mutex while it works, so the graph it sees is one
// consistent instant and a cycle it finds is a real deadlock (no false
// victims from a torn view). The pause is short — proportional to the
// number of queued requests and their resources' holders — and it only
// runs when some Lock is waiting.
func (m *Manager) detectDeadlocks(g *waitGraph) int {
	m.lockAllShards()
	defer m.unlockAllShards()
	n := 0
	for {
		g.build(m)
		cycle := g.findCycle()
		if cycle == nil {
			return n
		}
		victim := cycle[0]
		for _, id := range cycle[1:] {
			if id > victim {
				victim = id
			}
		}
		w := g.waiting[victim]
		m.abortWaitLocked(m.shardOf(w.hash), w, errDeadlock(victim, w, cycle))
		m.metrics.deadlocks.Inc()
		n++
		// Rebuild: the abort may have granted other requests, and their
		// edges must not make a cycle that no longer exists.
	}
}

// build fills g from the lock table; every shard's mutex is held.
//
// A queued request w waits for every granted request of another
// transaction whose mode conflicts with w's, and, because queues are
// strictly FIFO, for the request just ahead of it in the queue (which
// transitively covers the whole queue ahead).
func (g *waitGraph) build(m *Manager) {
	if g.waiting == nil {
		g.waiting = make(map[TxnID]*lockReq)
		g.edges = make(map[TxnID][]TxnID)
		g.color = make(map[TxnID]uint8)
	}
	// Cleared, not truncated per key: ids do not come back, and keeping
	// their keys would grow the maps for the life of the Manager.
	clear(g.waiting)
	clear(g.edges)
	for i := range m.shards {
		for h := range m.shards[i].waiting {
			for w := h.qFirst; w != nil; w = w.qNext {
				id := w.txn.id
				g.waiting[id] = w
				e := g.edges[id]
				if w.qPrev != nil {
					e = append(e, w.qPrev.txn.id)
				}
				c := conflicts[w.want]
				for r := h.gFirst; r != nil; r = r.gNext {
					if r.txn != w.txn && c&modeBit(r.mode) != 0 {
						e = append(e, r.txn.id)
					}
				}
				g.edges[id] = e
			}
		}
	}
}

// findCycle returns the transactions of one cycle of g, or nil.
func (g *waitGraph) findCycle() []TxnID {
	clear(g.color)
	for id := range g.waiting {
		if g.color[id] == 0 {
			g.stack = g.stack[:0]
			if c := g.visit(id); c != nil {
				return c
			}
		}
	}
	return nil
}

const (
	white uint8 = iota // not visited
	grey               // on the DFS path
	black              // done, on no cycle reachable from here
)

func (g *waitGraph) visit(u TxnID) []TxnID {
	g.color[u] = grey
	g.stack = append(g.stack, u)
	if _, ok := g.waiting[u]; ok {
		for _, v := range g.edges[u] {
			switch g.color[v] {
			case white:
				if c := g.visit(v); c != nil {
					return c
				}
			case grey:
				for i := len(g.stack) - 1; i >= 0; i-- {
					if g.stack[i] == v {
						return append([]TxnID(nil), g.stack[i:]...)
					}
				}
			}
		}
	}
	g.color[u] = black
	g.stack = g.stack[:len(g.stack)-1]
	return nil
}

func errDeadlock(victim TxnID, w *lockReq, cycle []TxnID) error {
	var b strings.Builder
	for i, id := range cycle {
		if i > 0 {
			b.WriteString(" -> ")
		}
		b.WriteString(strconv.FormatUint(uint64(id), 10))
	}
	b.WriteString(" -> ")
	b.WriteString(strconv.FormatUint(uint64(cycle[0]), 10))
	return sqlstate.Wrap(ErrDeadlock, sqlstate.DeadlockDetected,
		"deadlock detected: transaction %d, waiting for %s lock on %s, was chosen as the victim (waits-for cycle %s)",
		victim, w.want, w.head.resource(), b.String())
}
