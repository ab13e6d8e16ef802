package planner

import (
	"sync"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/sql"
)

// RowEstimator is optionally implemented by a SourceProvider that knows
// about how many rows a table holds (from its segments' manifest entries,
// say). The planner then orders joins (reorderJoins), moves semi joins
// below them (pushSemiJoins) and builds inner hash joins on the input it
// expects to be smaller.
type RowEstimator interface {
	// EstimateRows returns about how many rows t holds; ok is false when
	// the provider cannot tell cheaply.
	EstimateRows(t *catalog.Table) (rows int64, ok bool)
}

// estimator returns the RowEstimator of the build: the source's, with
// each table's estimate taken once (memoEstimator), or nil when the source
// has none.
func (b *builder) estimator() RowEstimator {
	if b.est != nil {
		return b.est
	}
	est, ok := b.src.(RowEstimator)
	if !ok {
		return nil
	}
	return est
}

// memoEstimator answers each table's estimate as its first answer. A
// source's estimates move while rows are written, and one query asks for
// them many times as it is built: for the join order, then for each
// join's build side, again in every pipeline of a parallel aggregate. They
// must agree, or a pipeline would probe the side the others build. It is
// safe for concurrent use.
type memoEstimator struct {
	est  RowEstimator
	mu   sync.Mutex
	rows map[*catalog.Table]memoRows
}

type memoRows struct {
	n  int64
	ok bool
}

func newMemoEstimator(est RowEstimator) *memoEstimator {
	return &memoEstimator{est: est, rows: map[*catalog.Table]memoRows{}}
}

func (m *memoEstimator) EstimateRows(t *catalog.Table) (int64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.rows[t]
	if !ok {
		r.n, r.ok = m.est.EstimateRows(t)
		m.rows[t] = r
	}
	return r.n, r.ok
}

// filterSelectivity is the fraction of rows a Filter is assumed to keep:
// without column statistics, one guess for every predicate.
const filterSelectivity = 4

// swapFactor is how much larger the right (build) input of an inner join
// must be expected to be than the left one before the join builds on the
// left input instead: a margin for the crude estimates.
const swapFactor = 4

// estimateRows guesses the rows n produces, or ok false when it cannot:
// table sizes from the RowEstimator, a quarter of them per Filter, the
// larger input for joins (key-foreign key joins keep about that many; the
// joins reorderJoins built have estimates of their own), the smaller input
// for a semi join on the left input's primary key, a tenth of the input for
// aggregates.
func (b *builder) estimateRows(n sql.Node) (int64, bool) {
	est := b.estimator()
	if est == nil {
		return 0, false
	}
	var walk func(n sql.Node) (int64, bool)
	walk = func(n sql.Node) (int64, bool) {
		switch x := n.(type) {
		case *sql.Scan:
			return est.EstimateRows(x.Table)
		case *sql.Filter:
			r, ok := walk(x.Input)
			return r / filterSelectivity, ok
		case *sql.Project:
			return walk(x.Input)
		case *spoolScan:
			return walk(x.def.plan)
		case *sql.Sort:
			return walk(x.Input)
		case *sql.Limit:
			r, ok := walk(x.Input)
			if x.Count >= 0 {
				r = min(r, x.Count)
			}
			return r, ok
		case *sql.Aggregate:
			r, ok := walk(x.Input)
			if len(x.Groups) == 0 {
				return 1, ok
			}
			return r / 10, ok
		case *sql.Join:
			if r, ok := b.joinEst[x]; ok {
				return r, true
			}
			l, lok := walk(x.Left)
			if x.Type == sql.JoinSemi && semiKeysUnique(x) {
				// Each right row matches at most one left row.
				if r, rok := walk(x.Right); rok {
					return min(l, r), lok
				}
				return l, lok
			}
			if x.Type == sql.JoinSemi {
				return l, lok
			}
			if x.Type == sql.JoinAnti || x.Type == sql.JoinAntiNullAware || x.Type.IsMark() {
				return l, lok
			}
			r, rok := walk(x.Right)
			return max(l, r), lok && rok
		}
		return 0, false
	}
	return walk(n)
}

// buildsLeft reports whether the hash join of n builds its left input: a
// right join always does, other joins when buildOnLeft says so.
func (b *builder) buildsLeft(n *sql.Join) bool {
	return n.Type == sql.JoinRight || b.buildOnLeft(n)
}

// buildOnLeft reports whether the inner, left, semi or anti join n should
// build its hash table on the left input: when the right one is expected
// to be much larger. (NOT IN's null-aware anti join always builds its
// subquery side: its answer depends on whether that side has a NULL.) A
// left join that builds its left input emits the unmatched left rows
// after its probe side (a build-outer join); it swaps at a smaller margin
// (outerSwapFactor), since its right input is typically the many side of
// a one-to-many key (TPC-H Q13's orders per customer), whose build would
// chain every left row's matches.
func (b *builder) buildOnLeft(n *sql.Join) bool {
	factor := int64(swapFactor)
	switch {
	case len(n.LeftKeys) == 0:
		return false
	case n.Type == sql.JoinLeft:
		factor = outerSwapFactor
	case n.Type != sql.JoinInner && n.Type != sql.JoinSemi && n.Type != sql.JoinAnti:
		return false
	}
	l, lok := b.estimateRows(n.Left)
	r, rok := b.estimateRows(n.Right)
	return lok && rok && r > factor*max(l, 1)
}

// outerSwapFactor is swapFactor for left joins.
const outerSwapFactor = 2

// semiKeysUnique reports whether the left keys of the semi join s are
// plain columns that cover the primary key of the table its left input
// reads (so that each right row matches at most one left row).
func semiKeysUnique(s *sql.Join) bool {
	scan, cols := rowScan(s.Left)
	if scan == nil {
		return false
	}
	var keyCols []int
	for _, k := range s.LeftKeys {
		r, ok := k.(*sql.ColumnRef)
		if !ok {
			return false
		}
		keyCols = append(keyCols, r.Idx)
	}
	return coversKey(scanKey(scan, cols), keyCols)
}
