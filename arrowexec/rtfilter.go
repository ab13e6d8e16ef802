package arrowexec

import (
	"fmt"
	"sync/atomic"

	"github.com/mantisdb/mantisdb/internal/keyset"
)

// Runtime filters.
//
// A hash join knows the keys of its build side only once it has built it,
// and it builds it before it reads its probe side (Next consumes the build
// first). A RuntimeFilter carries those keys to the scan below the probe
// side: the join publishes them when the build ends (a shared build once,
// for every pipeline that probes it), the scan reads them when it starts
// reading storage and skips row groups and rows whose key cannot match.
// The filter only ever narrows a superset: a scan that opens before the
// keys are published, or that cannot use them, reads every row, and the
// join tests every row it gets anyway. The planner decides where a filter
// is correct (planner/rtfilter.go); NewHashJoin refuses one on a join
// that emits probe rows without a match.

// RuntimeFilter is the set of one integer key of a join's build side,
// published once by the join and read by scans. It is safe for concurrent
// use.
type RuntimeFilter struct {
	// Key is the index of the key (in HashJoinOptions.BuildKeys) whose
	// values the filter holds.
	Key int
	// MaxExact is the most build rows for which the filter keeps the keys
	// exactly when they do not fit a small bitmap; above it, the range
	// only (keyset.New). 0 means DefaultRuntimeFilterKeys.
	MaxExact int
	// Label names the filter in EXPLAIN, e.g. the join's key.
	Label string

	keys atomic.Pointer[keyset.Set]
	// RowGroupsSkipped and RowsDropped count what scans dropped by the
	// filter, for EXPLAIN ANALYZE; the scans add to them.
	RowGroupsSkipped, RowsDropped atomic.Int64
}

// DefaultRuntimeFilterKeys is the default RuntimeFilter.MaxExact.
const DefaultRuntimeFilterKeys = 64 << 10

// Keys returns the published keys, or nil while the build has not ended
// (or failed, or its key is not an integer).
func (f *RuntimeFilter) Keys() *keyset.Set { return f.keys.Load() }

// String renders the filter for EXPLAIN.
func (f *RuntimeFilter) String() string {
	return fmt.Sprintf("runtime filter %s", f.Label)
}

// publish sets the keys of the filter from the build keys' values.
func (f *RuntimeFilter) publish(s *keyset.Set) { f.keys.Store(s) }

// Publish sets the keys of a filter whose keys come from something other
// than a hash join's build (the planner's key filters, which test a key
// against a set they read before they open their input). s must not
// change afterwards; the caller keeps it alive, and charged to the query's
// budget, while scans may read it.
func (f *RuntimeFilter) Publish(s *keyset.Set) { f.publish(s) }

// canFilterProbe reports whether a join of type t may drop probe rows
// whose key no build row has: it never emits them.
func (t JoinType) canFilterProbe() bool {
	switch t {
	case JoinInner, JoinSemi, JoinBuildOuter, JoinBuildSemi, JoinBuildAnti:
		return true
	}
	return false
}
