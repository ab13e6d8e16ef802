package arrowexec

import (
	"context"
	"sync/atomic"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// Budget is the memory budget of one query: blocking operators (sort,
// top-N, hash aggregate) account the bytes they hold across batches against
// it and fail with 53200 when it is exhausted. It is the seam where
// spilling will plug in. A nil *Budget is unlimited. It is safe for
// concurrent use.
type Budget struct {
	limit  int64
	used   atomic.Int64
	peak   atomic.Int64
	parent *Budget // nil: none
	shared bool    // the pool of many queries (NewSharedBudget): its error says so
}

// NewBudget returns a budget of limit bytes; limit <= 0 means unlimited.
func NewBudget(limit int64) *Budget { return &Budget{limit: limit} }

// NewSharedBudget returns the budget of limit bytes (<= 0: unlimited) that
// the budgets of many queries draw from (NewBudgetIn): a server's bound on
// what all its running statements hold together. A query that would pass
// it fails with 53200 even within its own budget.
func NewSharedBudget(limit int64) *Budget { return &Budget{limit: limit, shared: true} }

// NewBudgetIn returns a budget of limit bytes (<= 0: unlimited) whose
// reservations are also reserved in parent (nil: none).
func NewBudgetIn(limit int64, parent *Budget) *Budget {
	return &Budget{limit: limit, parent: parent}
}

// NewChildBudget returns an unlimited budget whose reservations are also
// reserved in parent (nil: none), so that the parent's limit applies; it
// keeps its own peak, e.g. for one operator's memory in EXPLAIN ANALYZE.
func NewChildBudget(parent *Budget) *Budget { return NewBudgetIn(0, parent) }

// Grow reserves n bytes.
func (b *Budget) Grow(n int64) error {
	if b == nil {
		return nil
	}
	u := b.used.Add(n)
	if b.limit > 0 && u > b.limit {
		b.used.Add(-n)
		if b.shared {
			return sqlstate.Errorf(sqlstate.OutOfMemory,
				"the statements running hold the server's query memory of %d bytes; retry when fewer run", b.limit)
		}
		return sqlstate.Errorf(sqlstate.OutOfMemory, "query exceeds its memory budget of %d bytes", b.limit)
	}
	if err := b.parent.Grow(n); err != nil {
		b.used.Add(-n)
		return err
	}
	for p := b.peak.Load(); u > p && !b.peak.CompareAndSwap(p, u); p = b.peak.Load() {
	}
	return nil
}

// Shrink returns n bytes to the budget.
func (b *Budget) Shrink(n int64) {
	if b != nil {
		b.used.Add(-n)
		b.parent.Shrink(n)
	}
}

// Avail returns the bytes that can still be reserved in b and its
// parents, or -1 when none of them has a limit.
func (b *Budget) Avail() int64 {
	avail := int64(-1)
	for ; b != nil; b = b.parent {
		if b.limit > 0 {
			left := max(b.limit-b.used.Load(), 0)
			if avail < 0 || left < avail {
				avail = left
			}
		}
	}
	return avail
}

// Peak returns the most bytes reserved at one time.
func (b *Budget) Peak() int64 {
	if b == nil {
		return 0
	}
	return b.peak.Load()
}

// Used returns the bytes currently reserved.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

type budgetKey struct{}

// WithBudget returns a context whose operators account memory against b.
func WithBudget(ctx context.Context, b *Budget) context.Context {
	return context.WithValue(ctx, budgetKey{}, b)
}

// BudgetFrom returns the budget of ctx, or nil (unlimited).
func BudgetFrom(ctx context.Context) *Budget {
	b, _ := ctx.Value(budgetKey{}).(*Budget)
	return b
}

// accounted tracks what one operator reserved so Close can return it.
type accounted struct {
	budget *Budget
	held   int64
}

func (a *accounted) grow(n int64) error {
	if err := a.budget.Grow(n); err != nil {
		return err
	}
	a.held += n
	return nil
}

func (a *accounted) shrink(n int64) {
	n = min(n, a.held)
	a.budget.Shrink(n)
	a.held -= n
}

// set makes what is held n bytes: it grows or shrinks by the difference.
func (a *accounted) set(n int64) error {
	if d := n - a.held; d < 0 {
		a.shrink(-d)
	} else if d > 0 {
		return a.grow(d)
	}
	return nil
}
