package arrowexec

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// SharedBuild is the build side of several hash joins that run at once,
// each on its own goroutine with its own probe input (the partitions of a
// parallel scan, see NewSharedHashJoin). The first join to open starts
// building the table on a goroutine of its own, so that the builds of a
// plan's joins run at once (and beside whatever else the plan does before
// its probes start: TPC-H Q9 builds orders, partsupp, part and supplier);
// a join waits for the table when it first needs it, then all of them
// probe the same table, which is read-only from then on. The build
// operator is opened once, by the first join to open, and closed with
// the last reference (Release), which stops and waits for a build still
// running.
type SharedBuild struct {
	build Operator
	refs  atomic.Int32

	openOnce sync.Once
	openErr  error

	// done is closed when the build goroutine ends; then table holds the
	// built table's fields (and a reference of its batch) for the joins
	// to adopt, or err why there is none, and acct holds the table's
	// memory in the query's budget until the last reference goes. cancel
	// stops the build.
	done   chan struct{}
	cancel context.CancelFunc
	err    error
	table  hashJoin
	acct   accounted

	// For joins that emit build rows once their probe side ends
	// (build-outer, full-outer, build-semi, build-anti): joins counts the
	// joins made, finished those whose probe side ended, and matched holds
	// the OR of the matched flags of the finished ones. The last join to
	// finish emits the build rows for all of them (finishProbe). mu guards
	// them.
	mu              sync.Mutex
	joins, finished int
	matched         []bool
}

// NewSharedBuild returns a SharedBuild of build, holding one reference for
// the caller, who passes it to NewSharedHashJoin for every partition and
// then calls Release.
func NewSharedBuild(build Operator) *SharedBuild {
	s := &SharedBuild{build: build}
	s.refs.Store(1)
	return s
}

// Schema returns the build side's schema.
func (s *SharedBuild) Schema() *arrow.Schema { return s.build.Schema() }

// Release drops one reference; the last stops the build if it still
// runs, waits for it, releases the table and closes the build operator.
func (s *SharedBuild) Release() error {
	if s.refs.Add(-1) != 0 {
		return nil
	}
	if s.done != nil {
		s.cancel()
		<-s.done
	}
	if s.table.brec != nil {
		s.table.brec.Release()
		s.table.brec = nil
	}
	s.acct.shrink(s.acct.held)
	return s.build.Close()
}

// open opens the build operator and starts the build, for the join j
// (which gives the options, allocator and budget), at the first call.
func (s *SharedBuild) open(ctx context.Context, j *hashJoin) error {
	s.openOnce.Do(func() {
		bctx, cancel := context.WithCancel(ctx)
		if s.openErr = s.build.Open(bctx); s.openErr != nil {
			cancel()
			return
		}
		s.cancel, s.done = cancel, make(chan struct{})
		t := &s.table
		t.build, t.opts, t.ctx, t.mem = s.build, j.opts, bctx, j.mem
		t.acct.budget = BudgetFrom(ctx)
		go func() {
			defer close(s.done)
			defer sqlstate.Recover(&s.err)
			s.err = t.consumeOwnBuild()
			if t.buildMatched != nil {
				// Each join keeps matched flags of its own.
				t.acct.shrink(sliceBytes(t.buildMatched))
				t.buildMatched = nil
			}
			s.acct, t.acct.held = t.acct, 0
		}()
	})
	return s.openErr
}

// NewSharedHashJoin is NewHashJoin with the build side shared with other
// joins that run at once (see SharedBuild): all of them must have the same
// options but for their probe inputs. Join types that emit build rows once
// the probe side ends (build-outer, full-outer, build-semi, build-anti)
// need every probe row's matches: each join keeps its own matched flags,
// and the last join whose probe side ends merges them and emits the build
// rows for all (the others end without them). Such joins must all be made
// before any of them runs, and each must be read to its end for the build
// rows to be emitted.
func NewSharedHashJoin(probe Operator, s *SharedBuild, opts HashJoinOptions) (Operator, error) {
	op, err := NewHashJoin(probe, s.build, opts)
	if err != nil {
		return nil, err
	}
	j := op.(*hashJoin)
	j.shared = s
	s.refs.Add(1)
	if opts.Type.buildOuter() || opts.Type.onBuild() {
		s.mu.Lock()
		s.joins++
		s.mu.Unlock()
	}
	return j, nil
}

// finishProbe merges the matched flags of j, whose probe side ended, into
// the shared ones and reports whether j is the last of the joins to
// finish; the last gets the merged flags, from which it emits the build
// rows.
func (s *SharedBuild) finishProbe(j *hashJoin) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finished++
	if s.matched == nil {
		// The first to finish hands its flags over: it no longer reads
		// them.
		s.matched = j.buildMatched
	} else {
		for i, m := range j.buildMatched {
			if m {
				s.matched[i] = true
			}
		}
	}
	if s.finished < s.joins {
		return false
	}
	j.buildMatched = s.matched
	return true
}

// consumeShared gives j the shared table once it is built.
func (s *SharedBuild) consumeShared(j *hashJoin) error {
	j.built = true
	if s.done == nil {
		return fmt.Errorf("arrowexec: a shared build read before it was opened")
	}
	select {
	case <-s.done:
	case <-j.ctx.Done():
		return j.ctx.Err()
	}
	if s.err != nil {
		return s.err
	}
	j.adoptBuild(&s.table)
	if (j.opts.Type.buildOuter() || j.opts.Type.onBuild()) && j.nbuild > 0 {
		// Each join marks the build rows its own probe rows match.
		j.buildMatched = make([]bool, j.nbuild)
		return j.acct.grow(sliceBytes(j.buildMatched))
	}
	return nil
}
