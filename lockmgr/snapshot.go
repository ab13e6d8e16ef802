package lockmgr

import (
	"bytes"
	"cmp"
	"slices"
	"time"
)

// LockInfo is one row of a lock-table snapshot: a granted lock or a waiting
// request. It is the shape of the system.locks table.
type LockInfo struct {
	// Resource is the locked resource; its Key is a copy owned by the
	// LockInfo.
	Resource Resource
	// Txn is the holding or waiting transaction.
	Txn TxnID
	// Mode is the granted mode, or for a waiter the mode it waits for.
	Mode Mode
	// Granted is true for a held lock, false for a waiting request. A
	// transaction waiting to convert a lock appears twice: granted in its
	// current mode and waiting for the stronger one.
	Granted bool
	// WaitStart is when the wait began; zero for granted locks.
	WaitStart time.Time
	// Wait is how long the request has waited at the time of the snapshot;
	// zero for granted locks.
	Wait time.Duration
}

// Snapshot returns every granted lock and every waiting request, sorted by
// resource; for one resource the granted locks come first (by transaction),
// then the waiters in queue order. The caller owns the result.
//
// Each shard is read under its own mutex, one after the other, so the
// snapshot is consistent per resource but not across resources: it is
// meant for monitoring (system.locks), not for decisions.
func (m *Manager) Snapshot() []LockInfo {
	var out []LockInfo
	now := time.Now()
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		sh.heads.all(func(h *lockHead) {
			res := h.resource()
			start := len(out)
			for r := h.gFirst; r != nil; r = r.gNext {
				out = append(out, LockInfo{Resource: res, Txn: r.txn.id, Mode: r.mode, Granted: true})
			}
			slices.SortFunc(out[start:], func(a, b LockInfo) int { return cmp.Compare(a.Txn, b.Txn) })
			for r := h.qFirst; r != nil; r = r.qNext {
				// A waiter queued after now was read has waited no
				// time as of now (not a negative time).
				out = append(out, LockInfo{Resource: res, Txn: r.txn.id, Mode: r.want,
					WaitStart: r.waitStart, Wait: max(0, now.Sub(r.waitStart))})
			}
		})
		sh.mu.Unlock()
	}
	// Stable: keeps granted-then-queue order within a resource.
	slices.SortStableFunc(out, func(a, b LockInfo) int { return compareResources(a.Resource, b.Resource) })
	return out
}

func compareResources(a, b Resource) int {
	if c := cmp.Compare(a.Level, b.Level); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Table, b.Table); c != 0 {
		return c
	}
	return bytes.Compare(a.Key, b.Key)
}
