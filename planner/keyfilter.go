package planner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/internal/keyset"
	"github.com/mantisdb/mantisdb/sql"
)

// Key filters.
//
// The semi join of a semi-join reduction (reduce.go) only has to keep a
// superset of the rows whose keys the other side holds: the aggregate
// above it computes each group it keeps from all of the group's rows
// either way. When one of its keys is an integer on both sides, it is
// built as a Filter whose predicate tests that key against the set of the
// right input's values, collected once (keySet), instead of a hash join:
// the test is a bitmap or map lookup, and the filter can run in the
// pipelines of a parallel aggregate (parallelChain), which all share one
// set. The other keys are not tested; the aggregate's groups are keyed by
// all of them, and the join above looks up only the ones it needs.

// keySet is the set of the values of one integer column of a plan, read
// at its first use. It is safe for concurrent use: the partitions of a
// parallel aggregate share one. It is reference-counted: the key filters
// that test it (keyFilter) and the builder that prepared it for them
// (prepareKeySets) each hold a reference; the last release closes the
// plan if it was never read and returns the values' memory to the query's
// budget, which the read charged (in chunks while reading, then the
// bitmap or map).
type keySet struct {
	op   arrowexec.Operator // the plan; closed once read, or by the last release
	col  int                // the column of op's output
	refs atomic.Int32

	once sync.Once
	err  error
	// The values, exactly (a bitmap over their range, or a map).
	keys *keyset.Set

	budget *arrowexec.Budget // of the context of the read
	held   int64             // the bytes reserved in budget
}

// newKeySet returns the key set of column col of op, holding one
// reference for the caller.
func newKeySet(op arrowexec.Operator, col int) *keySet {
	s := &keySet{op: op, col: col}
	s.refs.Store(1)
	return s
}

// errKeySetReleased is the error of a key set read after its last
// release, which cannot happen while a key filter holds a reference.
var errKeySetReleased = errors.New("planner: key set read after its release")

// retain adds a reference.
func (s *keySet) retain() { s.refs.Add(1) }

// release drops a reference. The last closes the plan if it was never
// read and returns the values' memory to the budget.
func (s *keySet) release() error {
	if s.refs.Add(-1) != 0 {
		return nil
	}
	var err error
	s.once.Do(func() { s.err, err = errKeySetReleased, s.op.Close() })
	s.keys = nil
	s.budget.Shrink(s.held)
	s.held = 0
	return err
}

// charge brings the bytes reserved for the set in its budget to n.
func (s *keySet) charge(n int64) error {
	if d := n - s.held; d < 0 {
		s.budget.Shrink(-d)
	} else if d > 0 {
		if err := s.budget.Grow(d); err != nil {
			return err
		}
	}
	s.held = n
	return nil
}

// read runs the plan and collects its values, charging them to ctx's
// budget.
func (s *keySet) read(ctx context.Context) {
	defer s.op.Close()
	s.budget = arrowexec.BudgetFrom(ctx)
	if s.err = s.op.Open(ctx); s.err != nil {
		return
	}
	var vals []int64
	for {
		rec, err := s.op.Next()
		if err != nil {
			s.err = err
			return
		}
		if rec == nil {
			break
		}
		vals = appendInts(vals, rec.Column(s.col))
		// Charged as the slice grows, so once per doubling.
		if n := int64(cap(vals)) * 8; n > s.held {
			if s.err = s.charge(n); s.err != nil {
				return
			}
		}
	}
	s.err = s.fill(vals)
}

// fill makes the set of vals (internal/keyset chooses a bitmap or a
// map), charging it with vals, which the caller then drops, and then
// without vals.
func (s *keySet) fill(vals []int64) error {
	s.keys = keyset.New(vals, -1)
	set := s.keys.Bytes()
	if err := s.charge(int64(cap(vals))*8 + set); err != nil {
		return err
	}
	return s.charge(set)
}

// appendInts appends the non-NULL values of the integer array a.
func appendInts(dst []int64, a arrow.Array) []int64 {
	switch a := a.(type) {
	case *array.Int64:
		return appendValues(dst, a, a.Int64Values())
	case *array.Int32:
		return appendValues(dst, a, a.Int32Values())
	case *array.Int16:
		return appendValues(dst, a, a.Int16Values())
	case *array.Int8:
		return appendValues(dst, a, a.Int8Values())
	}
	return dst
}

func appendValues[T int8 | int16 | int32 | int64](dst []int64, a arrow.Array, vs []T) []int64 {
	for i, v := range vs {
		if a.IsValid(i) {
			dst = append(dst, int64(v))
		}
	}
	return dst
}

// keyFilter is the operator of a key filter: a Filter by keyIn that
// holds a reference of its key set until it is closed. With runtime
// filters (of the scan below, rtfilter.go), it reads the set when it
// opens, before its input, and publishes it to them.
type keyFilter struct {
	arrowexec.Operator
	set    *keySet
	rt     []*arrowexec.RuntimeFilter
	closed bool
}

var _ arrowexec.Operator = (*keyFilter)(nil)

// Open implements arrowexec.Operator.
func (f *keyFilter) Open(ctx context.Context) error {
	if len(f.rt) > 0 {
		f.set.once.Do(func() { f.set.read(ctx) })
		if f.set.err != nil {
			return f.set.err
		}
		for _, r := range f.rt {
			r.Publish(f.set.keys)
		}
	}
	return f.Operator.Open(ctx)
}

// Close implements arrowexec.Operator.
func (f *keyFilter) Close() error {
	err := f.Operator.Close()
	if !f.closed {
		f.closed = true
		if rerr := f.set.release(); err == nil {
			err = rerr
		}
	}
	return err
}

// keyIn is the predicate of a key filter: whether key's value is in set
// (false for NULL).
type keyIn struct {
	key arrowexec.Expr
	set *keySet
}

var _ arrowexec.Expr = (*keyIn)(nil)

func (k *keyIn) DataType() arrow.DataType { return arrow.FixedWidthTypes.Boolean }
func (k *keyIn) String() string           { return fmt.Sprintf("%s IN (keys)", k.key) }

// Eval implements arrowexec.Expr.
func (k *keyIn) Eval(ctx context.Context, batch arrow.RecordBatch) (arrow.Array, error) {
	k.set.once.Do(func() { k.set.read(ctx) })
	if k.set.err != nil {
		return nil, k.set.err
	}
	a, err := k.key.Eval(ctx, batch)
	if err != nil {
		return nil, err
	}
	defer a.Release()
	n := a.Len()
	buf := memory.NewResizableBuffer(exec.GetAllocator(ctx))
	buf.Resize(int(bitutil.BytesForBits(int64(n))))
	out := buf.Bytes()
	clear(out)
	switch a := a.(type) {
	case *array.Int64:
		markIn(out, a, a.Int64Values(), k.set)
	case *array.Int32:
		markIn(out, a, a.Int32Values(), k.set)
	case *array.Int16:
		markIn(out, a, a.Int16Values(), k.set)
	case *array.Int8:
		markIn(out, a, a.Int8Values(), k.set)
	default:
		buf.Release()
		return nil, fmt.Errorf("planner: key filter on %s", a.DataType())
	}
	data := array.NewData(arrow.FixedWidthTypes.Boolean, n, []*memory.Buffer{nil, buf}, nil, 0, 0)
	buf.Release()
	defer data.Release()
	return array.NewBooleanData(data), nil
}

// markIn sets the bit of every row of a whose value is in set.
func markIn[T keyset.Integer](out []byte, a arrow.Array, vs []T, set *keySet) {
	var valid []byte
	if a.NullN() > 0 {
		valid = a.NullBitmapBytes()
	}
	for _, i := range keyset.Select(make([]int32, 0, len(vs)), set.keys, vs, valid, a.Data().Offset()) {
		out[i/8] |= 1 << (i % 8)
	}
}

// keyFilterKey returns the key of the semi-join reduction n that a key
// filter tests: the first one that is an integer on both sides and a
// column on the right; -1 when n is not a reduction or has no such key
// (it then runs as a semi join).
func keyFilterKey(n *sql.Join) int {
	if !n.Reduces || n.Type != sql.JoinSemi || n.Cond != nil {
		return -1
	}
	for i, k := range n.LeftKeys {
		if _, col := n.RightKeys[i].(*sql.ColumnRef); col && k.Type().IsInteger() && n.RightKeys[i].Type().IsInteger() {
			return i
		}
	}
	return -1
}

// newKeySet builds the plan of the right input of the reduction n, whose
// key i a key filter tests.
func (b *builder) newKeySet(n *sql.Join, i int) (*keySet, error) {
	op, err := b.build(n.Right)
	if err != nil {
		return nil, err
	}
	r, ok := n.RightKeys[i].(*sql.ColumnRef)
	if !ok {
		op.Close()
		return nil, fmt.Errorf("planner: key filter on %s", n.RightKeys[i])
	}
	return newKeySet(op, r.Idx), nil
}

// buildKeyFilter builds the reduction n as a key filter; ok is false when
// it cannot be one. The key set is the one prepared for n
// (prepareKeySets) or a new one.
func (b *builder) buildKeyFilter(n *sql.Join) (op arrowexec.Operator, ok bool, err error) {
	i := keyFilterKey(n)
	if i < 0 {
		return nil, false, nil
	}
	// Plan the runtime filter of the scan below before the scan is built.
	rt := b.runtimeFilters(n)
	set := b.keySets[n]
	if set != nil {
		set.retain()
	} else if set, err = b.newKeySet(n, i); err != nil {
		return nil, true, err
	}
	in, err := b.build(n.Left)
	if err != nil {
		set.release()
		return nil, true, err
	}
	key, err := b.compile(n.LeftKeys[i], in.Schema())
	if err != nil {
		in.Close()
		set.release()
		return nil, true, err
	}
	return &keyFilter{Operator: arrowexec.NewFilter(in, &keyIn{key: key, set: set}), set: set, rt: rt}, true, nil
}

// prepareKeySets makes the key sets of the key filters on path (the nodes
// a parallel aggregate's pipelines run), so that the pipelines, built
// with a provider of their own part, share them; they are built with b's
// provider. The caller calls release once the pipelines are built (also
// on error): it drops the builder's references, so that the last key
// filter to close, or release itself when no filter was built, closes a
// set.
func (b *builder) prepareKeySets(path []sql.Node) (release func(), err error) {
	var made []*sql.Join
	release = func() {
		for _, j := range made {
			b.keySets[j].release()
			delete(b.keySets, j)
		}
	}
	for _, n := range path {
		j, ok := n.(*sql.Join)
		if !ok {
			continue
		}
		i := keyFilterKey(j)
		if i < 0 || b.keySets[j] != nil {
			continue
		}
		set, err := b.newKeySet(j, i)
		if err != nil {
			return release, err
		}
		if b.keySets == nil {
			b.keySets = map[*sql.Join]*keySet{}
		}
		b.keySets[j] = set
		made = append(made, j)
	}
	return release, nil
}
