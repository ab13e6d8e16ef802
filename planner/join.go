package planner

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/sql"
)

// buildJoin makes a hash join. The right input is the build side of inner,
// left, semi and anti joins; a right join builds its left input and
// probes with its right one, then restores the column order.
func (b *builder) buildJoin(n *sql.Join) (arrowexec.Operator, error) {
	// Plan the join's runtime filters before its probe side is built.
	b.runtimeFilters(n)
	if sb := b.shared[n]; sb != nil {
		return b.buildSharedJoin(n, sb)
	}
	l, err := b.build(n.Left)
	if err != nil {
		return nil, err
	}
	r, err := b.build(n.Right)
	if err != nil {
		l.Close()
		return nil, err
	}
	op, err := b.hashJoin(n, l, r, nil)
	if err != nil {
		l.Close()
		r.Close()
		return nil, err
	}
	return op, nil
}

// buildSharedJoin makes the hash join n of one pipeline of a parallel
// aggregate: it builds n's probe input and probes the build side sb that
// the pipelines share.
func (b *builder) buildSharedJoin(n *sql.Join, sb *arrowexec.SharedBuild) (arrowexec.Operator, error) {
	probe, _ := b.sharedJoinProbe(n)
	p, err := b.build(probe)
	if err != nil {
		return nil, err
	}
	// The build operator stands in for its side: hashJoin reads its
	// schema only and makes the join through sb.
	l, r := p, arrowexec.Operator(schemaOnly{sb.Schema()})
	if probe == n.Right {
		l, r = r, l
	}
	op, err := b.hashJoin(n, l, r, sb)
	if err != nil {
		p.Close()
		return nil, err
	}
	return op, nil
}

// schemaOnly is an operator that is never run: the stand-in for a shared
// build side while a join is planned.
type schemaOnly struct{ sch *arrow.Schema }

func (s schemaOnly) Schema() *arrow.Schema { return s.sch }
func (schemaOnly) Open(context.Context) error {
	return fmt.Errorf("planner: a shared build side is opened by its joins")
}
func (schemaOnly) Next() (arrow.RecordBatch, error) {
	return nil, fmt.Errorf("planner: a shared build side is read by its joins")
}
func (schemaOnly) Close() error { return nil }

// hashJoin makes the hash join n of l and r; with sb set, the side that n
// builds is sb, shared with other joins, and its operator only a stand-in.
func (b *builder) hashJoin(n *sql.Join, l, r arrowexec.Operator, sb *arrowexec.SharedBuild) (arrowexec.Operator, error) {
	probe, build := l, r
	probeKeys, buildKeys := n.LeftKeys, n.RightKeys
	// A right join builds its left input; so does an inner join whose
	// right input is expected to be much larger (the binder joins in FROM
	// order, which may put the largest table on the build side; so may a
	// join of two inputs, which reorderJoins leaves as written), and a
	// semi or anti join whose subquery side is (it becomes a build-side
	// semi or anti join, which emits the left rows alone, in build order),
	// and a left join whose right input is (a build-outer join).
	swapped := b.buildsLeft(n)
	var typ arrowexec.JoinType
	switch n.Type {
	case sql.JoinInner:
		typ = arrowexec.JoinInner
	case sql.JoinLeft:
		typ = arrowexec.JoinProbeOuter
		if swapped {
			typ = arrowexec.JoinBuildOuter
		}
	case sql.JoinRight:
		typ = arrowexec.JoinProbeOuter
	case sql.JoinFull:
		typ = arrowexec.JoinFullOuter
	case sql.JoinSemi:
		typ = arrowexec.JoinSemi
		if swapped {
			typ = arrowexec.JoinBuildSemi
		}
	case sql.JoinAnti:
		typ = arrowexec.JoinAnti
		if swapped {
			typ = arrowexec.JoinBuildAnti
		}
	case sql.JoinAntiNullAware:
		typ = arrowexec.JoinNullAwareAnti
	case sql.JoinMark:
		typ = arrowexec.JoinMark
	case sql.JoinMarkNullAware:
		typ = arrowexec.JoinNullAwareMark
	default:
		return nil, fmt.Errorf("planner: join type %s", n.Type)
	}
	nl, nr := l.Schema().NumFields(), r.Schema().NumFields()
	cond := n.Cond
	if swapped {
		probe, build = r, l
		probeKeys, buildKeys = n.RightKeys, n.LeftKeys
		if cond != nil {
			// Left columns move behind the right ones.
			cond = remapAll(cond, func(i int) int {
				if i < nl {
					return i + nr
				}
				return i - nl
			})
		}
	}
	opts := arrowexec.HashJoinOptions{Type: typ, RuntimeFilters: b.runtimeFilters(n)}
	var err error
	if opts.ProbeKeys, err = b.compileList(probeKeys, probe.Schema()); err != nil {
		return nil, err
	}
	if opts.BuildKeys, err = b.compileList(buildKeys, build.Schema()); err != nil {
		return nil, err
	}
	for i := range opts.ProbeKeys {
		// DECIMAL keys of different scales compare equal by value; the
		// hash table compares bytes, so both sides take the wider type.
		pt, bt := opts.ProbeKeys[i].DataType(), opts.BuildKeys[i].DataType()
		if !arrow.TypeEqual(pt, bt) {
			pd, ok1 := pt.(*arrow.Decimal128Type)
			bd, ok2 := bt.(*arrow.Decimal128Type)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("planner: join key %d has types %s and %s", i, pt, bt)
			}
			s := max(pd.Scale, bd.Scale)
			w := &arrow.Decimal128Type{Precision: min(38, max(pd.Precision-pd.Scale, bd.Precision-bd.Scale)+s), Scale: s}
			if opts.ProbeKeys[i], err = arrowexec.Cast(opts.ProbeKeys[i], w); err != nil {
				return nil, err
			}
			if opts.BuildKeys[i], err = arrowexec.Cast(opts.BuildKeys[i], w); err != nil {
				return nil, err
			}
		}
	}
	if cond != nil {
		fields := append(append([]arrow.Field{}, probe.Schema().Fields()...), build.Schema().Fields()...)
		if opts.Residual, err = b.compile(cond, arrow.NewSchema(fields, nil)); err != nil {
			return nil, err
		}
	}
	var op arrowexec.Operator
	if sb != nil {
		op, err = arrowexec.NewSharedHashJoin(probe, sb, opts)
	} else {
		op, err = arrowexec.NewHashJoin(probe, build, opts)
	}
	if err != nil {
		return nil, err
	}
	if !swapped || typ == arrowexec.JoinBuildSemi || typ == arrowexec.JoinBuildAnti {
		return op, nil
	}
	sch := op.Schema()
	exprs := make([]arrowexec.Expr, 0, nl+nr)
	names := make([]string, 0, nl+nr)
	for i := 0; i < nl; i++ {
		f := sch.Field(nr + i)
		exprs, names = append(exprs, arrowexec.Column(nr+i, f.Type)), append(names, f.Name)
	}
	for i := 0; i < nr; i++ {
		f := sch.Field(i)
		exprs, names = append(exprs, arrowexec.Column(i, f.Type)), append(names, f.Name)
	}
	return arrowexec.NewProject(op, exprs, names), nil
}

func remapAll(e sql.Expr, f func(int) int) sql.Expr {
	if r, ok := e.(*sql.ColumnRef); ok {
		c := *r
		c.Idx = f(r.Idx)
		return &c
	}
	out, _ := sql.MapChildren(e, func(c sql.Expr) (sql.Expr, error) { return remapAll(c, f), nil })
	return out
}

// scalarSubquery is an uncorrelated scalar subquery: it runs its plan at the
// first evaluation, keeps the single value and broadcasts it.
type scalarSubquery struct {
	op    arrowexec.Operator
	dt    arrow.DataType
	value scalar.Scalar
	err   error
	done  bool
}

func newScalarSubquery(op arrowexec.Operator, dt arrow.DataType) arrowexec.Expr {
	return &scalarSubquery{op: op, dt: dt}
}

func (s *scalarSubquery) DataType() arrow.DataType { return s.dt }
func (s *scalarSubquery) String() string           { return "(subquery)" }

func (s *scalarSubquery) run(ctx context.Context) {
	s.done = true
	defer s.op.Close()
	s.value = scalar.MakeNullScalar(s.dt)
	if s.err = s.op.Open(ctx); s.err != nil {
		return
	}
	rows := 0
	for {
		rec, err := s.op.Next()
		if err != nil {
			s.err = err
			return
		}
		if rec == nil {
			return
		}
		rows += int(rec.NumRows())
		if rows > 1 {
			s.err = sqlstate.Errorf(sqlstate.CardinalityViolation, "more than one row returned by a subquery used as an expression")
			return
		}
		if rec.NumRows() == 0 {
			continue
		}
		if rec.Column(0).IsNull(0) {
			// A NULL holds no buffers to copy.
			s.value = scalar.MakeNullScalar(rec.Column(0).DataType())
			continue
		}
		v, err := scalar.GetScalar(rec.Column(0), 0)
		if err != nil {
			s.err = err
			return
		}
		if r, ok := v.(scalar.Releasable); ok {
			// Keep an independent copy of variable-width values.
			if str, ok := v.(*scalar.String); ok {
				s.value = scalar.NewStringScalar(string(str.Data()))
			} else {
				s.value = v
			}
			r.Release()
			if _, ok := v.(*scalar.String); !ok {
				s.err = fmt.Errorf("planner: subquery value of type %s", v.DataType())
			}
			continue
		}
		s.value = v
	}
}

func (s *scalarSubquery) Eval(ctx context.Context, batch arrow.RecordBatch) (arrow.Array, error) {
	if !s.done {
		s.run(ctx)
	}
	if s.err != nil {
		return nil, s.err
	}
	n := int(batch.NumRows())
	if !s.value.IsValid() {
		return array.MakeArrayOfNull(exec.GetAllocator(ctx), s.dt, n), nil
	}
	return scalar.MakeArrayFromScalar(s.value, n, exec.GetAllocator(ctx))
}
