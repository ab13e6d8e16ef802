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
	limit int64
	used  atomic.Int64
}

// NewBudget returns a budget of limit bytes; limit <= 0 means unlimited.
func NewBudget(limit int64) *Budget { return &Budget{limit: limit} }

// Grow reserves n bytes.
func (b *Budget) Grow(n int64) error {
	if b == nil {
		return nil
	}
	u := b.used.Add(n)
	if b.limit > 0 && u > b.limit {
		b.used.Add(-n)
		return sqlstate.Errorf(sqlstate.OutOfMemory, "query exceeds its memory budget of %d bytes", b.limit)
	}
	return nil
}

// Shrink returns n bytes to the budget.
func (b *Budget) Shrink(n int64) {
	if b != nil {
		b.used.Add(-n)
	}
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
