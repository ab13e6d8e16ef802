package arrowexec

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
)

// SharedBuild is the build side of several hash joins that run at once,
// each on its own goroutine with its own probe input (the partitions of a
// parallel scan, see NewSharedHashJoin). The first join that needs the
// table builds it from the build operator while the others wait; then all
// of them probe the same table, which is read-only from then on. The build
// operator is opened once and closed with the last join (or by Release
// when no join was made).
type SharedBuild struct {
	build Operator
	refs  atomic.Int32

	openOnce sync.Once
	openErr  error

	mu    sync.Mutex
	built bool
	err   error
	// table holds the built table's fields (and a reference of its
	// batch) for the joins that come later, whatever the builder does
	// meanwhile; acct holds the table's memory in the query's budget
	// until the last reference goes.
	table hashJoin
	acct  accounted

	// For joins that emit build rows once their probe side ends
	// (build-outer, full-outer, build-semi, build-anti): joins counts the
	// joins made, finished those whose probe side ended, and matched holds
	// the OR of the matched flags of the finished ones. The last join to
	// finish emits the build rows for all of them (finishProbe).
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

// Release drops one reference; the last releases the table and closes
// the build operator.
func (s *SharedBuild) Release() error {
	if s.refs.Add(-1) != 0 {
		return nil
	}
	if s.table.brec != nil {
		s.table.brec.Release()
		s.table.brec = nil
	}
	s.acct.shrink(s.acct.held)
	return s.build.Close()
}

func (s *SharedBuild) open(ctx context.Context) error {
	s.openOnce.Do(func() { s.openErr = s.build.Open(ctx) })
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

// consumeShared gives j the shared table, building it if no join has.
func (s *SharedBuild) consumeShared(j *hashJoin) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.built {
		s.built = true
		if s.err = j.consumeOwnBuild(); s.err != nil {
			return s.err
		}
		s.table.adoptBuild(j)
		// The table's memory stays accounted until the last join is done.
		s.acct, j.acct.held = j.acct, 0
		return nil
	}
	if s.err != nil {
		return s.err
	}
	j.built = true
	j.adoptBuild(&s.table)
	if (j.opts.Type.buildOuter() || j.opts.Type.onBuild()) && j.nbuild > 0 {
		// Each join marks the build rows its own probe rows match.
		j.buildMatched = make([]bool, j.nbuild)
		return j.acct.grow(sliceBytes(j.buildMatched))
	}
	return nil
}
