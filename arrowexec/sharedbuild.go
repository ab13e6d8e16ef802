package arrowexec

import (
	"context"
	"fmt"
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
// need every probe row's matches in one place and cannot share a build.
func NewSharedHashJoin(probe Operator, s *SharedBuild, opts HashJoinOptions) (Operator, error) {
	if opts.Type.buildOuter() || opts.Type.onBuild() {
		return nil, fmt.Errorf("arrowexec: a %s join cannot share its build side", opts.Type)
	}
	op, err := NewHashJoin(probe, s.build, opts)
	if err != nil {
		return nil, err
	}
	j := op.(*hashJoin)
	j.shared = s
	s.refs.Add(1)
	return j, nil
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
	return nil
}
