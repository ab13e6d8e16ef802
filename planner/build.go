package planner

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/sql"
)

type builder struct {
	src SourceProvider
	// params are the values of the statement parameters, converted to
	// their types.
	params []*sql.Literal
	// now is the time of CURRENT_DATE and NOW() for this execution.
	now time.Time
	// an, when not nil, collects EXPLAIN ANALYZE statistics: every
	// operator built is wrapped to count for its node.
	an *Analysis
	// joinEst holds the rows reorderJoins expects of the joins it built.
	joinEst map[*sql.Join]int64
	// est, when not nil, is the source's RowEstimator with each table's
	// estimate fixed for this build (Prepared.build); copies of the
	// builder share it.
	est *memoEstimator
	// shared holds the build sides that the pipelines of a parallel
	// aggregate share (buildParallelAggregate): such a join builds only
	// its probe input.
	shared map[*sql.Join]*arrowexec.SharedBuild
	// keySets are the key sets of the semi-join reductions built as key
	// filters that the pipelines of a parallel aggregate share
	// (prepareKeySets).
	keySets map[*sql.Join]*keySet
	// spools are the spools of the shared subtrees built so far and
	// spoolPlans the plans they run (spool.go); copies of the builder
	// share them.
	spools     map[*spoolDef]*arrowexec.Spool
	spoolPlans map[*spoolDef]sql.Node
	// rt, when not nil, holds the runtime filters of the joins and scans
	// of the plan (rtfilter.go).
	rt *rtState
}

// build makes the operator of n and its inputs. On error it closes what it
// built.
func (b *builder) build(n sql.Node) (arrowexec.Operator, error) {
	op, err := b.buildNode(n)
	if err != nil || b.an == nil {
		return op, err
	}
	return b.an.wrap(n, op), nil
}

// buildNode is build without the EXPLAIN ANALYZE wrapper.
func (b *builder) buildNode(n sql.Node) (arrowexec.Operator, error) {
	switch n := n.(type) {
	case *sql.Scan:
		if b.src == nil {
			return nil, fmt.Errorf("planner: no source provider for a scan of %s", n.Table.Name)
		}
		if keys := b.scanRuntimeKeys(n); len(keys) > 0 {
			if fs, ok := b.src.(FilteredScanner); ok {
				open, _ := fs.ScanFiltered(n.Table, n.Cols, n.WithKey, ScanPredicate{Runtime: keys})
				return arrowexec.NewScan(scanSchema(n), open), nil
			}
		}
		return arrowexec.NewScan(scanSchema(n), b.src.Scan(n.Table, n.Cols, n.WithKey)), nil
	case *sql.Filter:
		if scan, filters := scanBelow(n); scan != nil && b.src != nil {
			op, ok, err := b.buildScanAccess(scan, filters)
			if ok || err != nil {
				return op, err
			}
		}
	case *sql.Aggregate:
		if b.src != nil {
			op, ok, err := b.buildParallelAggregate(n)
			if ok || err != nil {
				return op, err
			}
		}
	case *sql.Values:
		return b.newValues(n)
	case *spoolScan:
		return b.buildSpoolScan(n)
	case *sql.Join:
		if n.Reduces {
			op, ok, err := b.buildKeyFilter(n)
			if ok || err != nil {
				return op, err
			}
		}
		return b.buildJoin(n)
	case *sql.UnionAll:
		return b.buildUnionAll(n)
	case *sql.Limit:
		if s, ok := n.Input.(*sql.Sort); ok && n.Count >= 0 {
			in, err := b.build(s.Input)
			if err != nil {
				return nil, err
			}
			keys, err := b.sortKeys(s.Keys, in.Schema())
			if err != nil {
				in.Close()
				return nil, err
			}
			return arrowexec.NewTopN(in, keys, n.Offset, n.Count), nil
		}
	}
	in, err := b.build(input(n))
	if err != nil {
		return nil, err
	}
	op, err := b.wrap(n, in)
	if err != nil {
		in.Close()
		return nil, err
	}
	return op, nil
}

// wrap builds the operator of a one-input node over in.
func (b *builder) wrap(n sql.Node, in arrowexec.Operator) (arrowexec.Operator, error) {
	sch := in.Schema()
	switch n := n.(type) {
	case *sql.Filter:
		p, err := b.compile(n.Pred, sch)
		if err != nil {
			return nil, err
		}
		return arrowexec.NewFilter(in, p), nil
	case *sql.Project:
		es, err := b.compileList(n.Exprs, sch)
		if err != nil {
			return nil, err
		}
		return arrowexec.NewProject(in, es, n.Names), nil
	case *sql.Aggregate:
		gs, err := b.compileList(n.Groups, sch)
		if err != nil {
			return nil, err
		}
		aggs := make([]arrowexec.Aggregate, len(n.Aggs))
		for i, a := range n.Aggs {
			aggs[i] = arrowexec.Aggregate{Func: a.Func, Distinct: a.Distinct, Sep: a.Sep, Name: n.AggNames[i]}
			if a.Arg != nil {
				if aggs[i].Arg, err = b.compile(a.Arg, sch); err != nil {
					return nil, err
				}
			}
		}
		op, err := arrowexec.NewHashAggregate(in, gs, n.GroupNames, aggs)
		if err != nil {
			return nil, err
		}
		// Aggregate result types are part of the schema: cast where the
		// executor's differ from the binder's.
		return conform(op, n.Columns())
	case *sql.Sort:
		keys, err := b.sortKeys(n.Keys, sch)
		if err != nil {
			return nil, err
		}
		return arrowexec.NewSort(in, keys), nil
	case *sql.Limit:
		return arrowexec.NewLimit(in, n.Offset, n.Count), nil
	case *sql.Window:
		return b.buildWindow(n, in)
	}
	return nil, fmt.Errorf("planner: cannot build %T", n)
}

func (b *builder) sortKeys(keys []sql.SortKey, sch *arrow.Schema) ([]arrowexec.SortKey, error) {
	out := make([]arrowexec.SortKey, len(keys))
	for i, k := range keys {
		e, err := b.compile(k.Expr, sch)
		if err != nil {
			return nil, err
		}
		out[i] = arrowexec.SortKey{Expr: e, Desc: k.Desc, NullsFirst: k.NullsFirst}
	}
	return out, nil
}

// conform adds a projection that casts columns whose Arrow type differs
// from the plan's, or returns op.
func conform(op arrowexec.Operator, cols []sql.Column) (arrowexec.Operator, error) {
	sch := op.Schema()
	if sch.NumFields() != len(cols) {
		return nil, fmt.Errorf("planner: operator has %d columns, plan %d", sch.NumFields(), len(cols))
	}
	same := true
	for i, c := range cols {
		if !arrow.TypeEqual(sch.Field(i).Type, arrowType(c.Type)) {
			same = false
		}
	}
	if same {
		return op, nil
	}
	exprs := make([]arrowexec.Expr, len(cols))
	names := make([]string, len(cols))
	for i, c := range cols {
		f := sch.Field(i)
		exprs[i], names[i] = arrowexec.Column(i, f.Type), f.Name
		if !arrow.TypeEqual(f.Type, arrowType(c.Type)) {
			x, err := arrowexec.Cast(exprs[i], arrowType(c.Type))
			if err != nil {
				return nil, err
			}
			exprs[i] = x
		}
	}
	return arrowexec.NewProject(op, exprs, names), nil
}

func (b *builder) compileList(es []sql.Expr, sch *arrow.Schema) ([]arrowexec.Expr, error) {
	out := make([]arrowexec.Expr, len(es))
	for i, e := range es {
		var err error
		if out[i], err = b.compile(e, sch); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// compile turns a bound expression over input schema sch into an executor
// expression whose result has exactly the bound type.
func (b *builder) compile(e sql.Expr, sch *arrow.Schema) (arrowexec.Expr, error) {
	x, err := b.compileRaw(e, sch)
	if err != nil {
		return nil, err
	}
	t := e.Type()
	if t.Kind == catalog.KindNull || t.Kind == catalog.KindInvalid {
		return x, nil
	}
	if want := t.ArrowType(); !arrow.TypeEqual(x.DataType(), want) {
		return arrowexec.Cast(x, want)
	}
	return x, nil
}

func (b *builder) compileRaw(e sql.Expr, sch *arrow.Schema) (arrowexec.Expr, error) {
	switch e := e.(type) {
	case *sql.ColumnRef:
		if e.Idx < 0 || e.Idx >= sch.NumFields() {
			return nil, fmt.Errorf("planner: column %s out of range of %d input columns", e, sch.NumFields())
		}
		return arrowexec.Column(e.Idx, sch.Field(e.Idx).Type), nil
	case *sql.Literal:
		return arrowexec.Literal(e.Value), nil
	case *sql.Param:
		if b == nil || e.Idx >= len(b.params) {
			return nil, fmt.Errorf("planner: parameter %s has no value", e)
		}
		return arrowexec.Literal(b.params[e.Idx].Value), nil
	case *sql.Func:
		args, err := b.compileList(e.Args, sch)
		if err != nil {
			return nil, err
		}
		return arrowexec.Func(e.Fn, arrowType(e.Typ), e.Part, args...)
	case *sql.Now:
		if b == nil {
			return nil, fmt.Errorf("planner: %s cannot be evaluated here", e)
		}
		if e.Typ.Kind == catalog.KindDate {
			return arrowexec.Literal(scalar.NewDate32Scalar(arrow.Date32(b.now.Unix() / 86400))), nil
		}
		return arrowexec.Literal(scalar.NewTimestampScalar(arrow.Timestamp(b.now.UnixMicro()), e.Typ.ArrowType())), nil
	case *sql.Cast:
		a, err := b.compile(e.Arg, sch)
		if err != nil {
			return nil, err
		}
		return arrowexec.Cast(a, e.To.ArrowType())
	case *sql.Arith:
		l, r, err := b.compile2(e.L, e.R, sch)
		if err != nil {
			return nil, err
		}
		return arrowexec.Arith(e.Op, l, r)
	case *sql.Negate:
		a, err := b.compile(e.Arg, sch)
		if err != nil {
			return nil, err
		}
		return arrowexec.Negate(a)
	case *sql.Compare:
		l, r, err := b.compile2(e.L, e.R, sch)
		if err != nil {
			return nil, err
		}
		return arrowexec.Compare(e.Op, l, r)
	case *sql.Logic:
		l, r, err := b.compile2(e.L, e.R, sch)
		if err != nil {
			return nil, err
		}
		if e.Op == sql.OpOr {
			return arrowexec.Or(l, r), nil
		}
		return arrowexec.And(l, r), nil
	case *sql.Not:
		a, err := b.compile(e.Arg, sch)
		if err != nil {
			return nil, err
		}
		return arrowexec.Not(a), nil
	case *sql.IsNull:
		a, err := b.compile(e.Arg, sch)
		if err != nil {
			return nil, err
		}
		return arrowexec.IsNull(a, e.Negate), nil
	case *sql.In:
		a, err := b.compile(e.Arg, sch)
		if err != nil {
			return nil, err
		}
		list, err := b.compileList(e.List, sch)
		if err != nil {
			return nil, err
		}
		return arrowexec.In(a, list, e.Negate)
	case *sql.Like:
		a, err := b.compile(e.Arg, sch)
		if err != nil {
			return nil, err
		}
		return arrowexec.Like(a, e.Pattern, e.CaseInsensitive, e.Negate)
	case *sql.Case:
		whens, err := b.compileList(e.Whens, sch)
		if err != nil {
			return nil, err
		}
		thens, err := b.compileList(e.Thens, sch)
		if err != nil {
			return nil, err
		}
		var els arrowexec.Expr
		if e.Else != nil {
			if els, err = b.compile(e.Else, sch); err != nil {
				return nil, err
			}
		}
		return arrowexec.Case(whens, thens, els)
	case *sql.Extract:
		a, err := b.compile(e.Arg, sch)
		if err != nil {
			return nil, err
		}
		return arrowexec.Extract(e.Part, a)
	case *sql.Substring:
		a, err := b.compile(e.Arg, sch)
		if err != nil {
			return nil, err
		}
		return arrowexec.Substring(a, e.Start, e.Length)
	case *sql.Subquery:
		if b == nil {
			return nil, fmt.Errorf("planner: a subquery cannot be evaluated here")
		}
		op, err := b.build(e.Plan)
		if err != nil {
			return nil, err
		}
		return newScalarSubquery(op, e.Type().ArrowType()), nil
	}
	return nil, fmt.Errorf("planner: cannot compile expression %T", e)
}

// buildUnionAll concatenates the inputs of n (flattening nested unions).
func (b *builder) buildUnionAll(n *sql.UnionAll) (arrowexec.Operator, error) {
	var ins []arrowexec.Operator
	var add func(sql.Node) error
	add = func(c sql.Node) error {
		if u, ok := c.(*sql.UnionAll); ok {
			if err := add(u.Left); err != nil {
				return err
			}
			return add(u.Right)
		}
		op, err := b.build(c)
		if err != nil {
			return err
		}
		ins = append(ins, op)
		return nil
	}
	closeAll := func() {
		for _, op := range ins {
			op.Close()
		}
	}
	if err := add(n); err != nil {
		closeAll()
		return nil, err
	}
	op, err := arrowexec.NewUnionAll(schemaOf(n.Cols), ins...)
	if err != nil {
		closeAll()
		return nil, err
	}
	return op, nil
}

func (b *builder) compile2(l, r sql.Expr, sch *arrow.Schema) (arrowexec.Expr, arrowexec.Expr, error) {
	lx, err := b.compile(l, sch)
	if err != nil {
		return nil, nil, err
	}
	rx, err := b.compile(r, sch)
	if err != nil {
		return nil, nil, err
	}
	return lx, rx, nil
}

// valuesOp yields the rows of a Values node as one batch, evaluated at Open.
type valuesOp struct {
	schema *arrow.Schema
	rows   [][]arrowexec.Expr
	nrows  int
	rec    arrow.RecordBatch
	done   bool
}

var _ arrowexec.Operator = (*valuesOp)(nil)

func (b *builder) newValues(n *sql.Values) (arrowexec.Operator, error) {
	sch := schemaOf(n.Cols)
	op := &valuesOp{schema: sch, nrows: len(n.Rows)}
	op.rows = make([][]arrowexec.Expr, len(n.Rows))
	for i, r := range n.Rows {
		var err error
		if op.rows[i], err = b.compileList(r, oneRow.Schema()); err != nil {
			return nil, err
		}
	}
	return op, nil
}

func (v *valuesOp) Schema() *arrow.Schema { return v.schema }

func (v *valuesOp) Open(ctx context.Context) error {
	if v.nrows == 0 {
		return nil
	}
	if v.schema.NumFields() == 0 {
		v.rec = array.NewRecordBatch(v.schema, nil, int64(v.nrows))
		return nil
	}
	mem := exec.GetAllocator(ctx)
	ncols := v.schema.NumFields()
	parts := make([][]arrow.Array, ncols)
	defer func() {
		for _, p := range parts {
			for _, a := range p {
				a.Release()
			}
		}
	}()
	cols := make([]arrow.Array, ncols)
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for j := range cols {
		cols[j] = v.literalColumn(mem, j)
	}
	for _, row := range v.rows {
		for j, e := range row {
			if cols[j] != nil {
				continue
			}
			a, err := e.Eval(ctx, oneRow)
			if err != nil {
				return err
			}
			parts[j] = append(parts[j], a)
		}
	}
	for j := range cols {
		var err error
		if cols[j] != nil {
			continue
		}
		if len(parts[j]) == 1 {
			cols[j] = parts[j][0]
			cols[j].Retain()
		} else if cols[j], err = array.Concatenate(parts[j], mem); err != nil {
			return fmt.Errorf("planner: cannot build VALUES column %d: %w", j, err)
		}
		if !arrow.TypeEqual(cols[j].DataType(), v.schema.Field(j).Type) {
			return fmt.Errorf("planner: VALUES column %d has type %s, want %s", j, cols[j].DataType(), v.schema.Field(j).Type)
		}
	}
	v.rec = array.NewRecordBatch(v.schema, cols, int64(v.nrows))
	return nil
}

// literalColumn builds column j of the rows when each of its values is a
// literal (the common INSERT … VALUES), appending the constants to one
// builder (scalar.AppendSlice, which also checks their types); nil
// otherwise (the values are evaluated one array per row and concatenated).
func (v *valuesOp) literalColumn(mem memory.Allocator, j int) arrow.Array {
	consts := make([]scalar.Scalar, len(v.rows))
	for i, row := range v.rows {
		s, ok := arrowexec.LiteralValue(row[j])
		if !ok {
			return nil
		}
		consts[i] = s
	}
	b := array.NewBuilder(mem, v.schema.Field(j).Type)
	defer b.Release()
	if err := scalar.AppendSlice(b, consts); err != nil {
		return nil
	}
	return b.NewArray()
}

func (v *valuesOp) Next() (arrow.RecordBatch, error) {
	if v.done || v.rec == nil {
		return nil, nil
	}
	v.done = true
	return v.rec, nil
}

func (v *valuesOp) Close() error {
	if v.rec != nil {
		v.rec.Release()
		v.rec = nil
	}
	return nil
}

// relabelOp gives the batches of its input the prepared schema (names and
// nullability) without copying columns.
type relabelOp struct {
	in     arrowexec.Operator
	schema *arrow.Schema
	cur    arrow.RecordBatch
}

var _ arrowexec.Operator = (*relabelOp)(nil)

// relabel returns op itself when its schema equals want, an operator that
// renames its fields when only names and nullability differ, and an error
// when types differ (a planner bug).
func relabel(op arrowexec.Operator, want *arrow.Schema) (arrowexec.Operator, error) {
	got := op.Schema()
	if got.Equal(want) {
		return op, nil
	}
	if got.NumFields() != want.NumFields() {
		op.Close()
		return nil, fmt.Errorf("planner: plan yields %d columns, want %d", got.NumFields(), want.NumFields())
	}
	for i := range want.Fields() {
		if !arrow.TypeEqual(got.Field(i).Type, want.Field(i).Type) {
			op.Close()
			return nil, fmt.Errorf("planner: column %d has type %s, want %s", i, got.Field(i).Type, want.Field(i).Type)
		}
	}
	return &relabelOp{in: op, schema: want}, nil
}

func (r *relabelOp) Schema() *arrow.Schema { return r.schema }

func (r *relabelOp) Open(ctx context.Context) error { return r.in.Open(ctx) }

func (r *relabelOp) Next() (arrow.RecordBatch, error) {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	rec, err := r.in.Next()
	if err != nil || rec == nil {
		return nil, err
	}
	r.cur = array.NewRecordBatch(r.schema, rec.Columns(), rec.NumRows())
	return r.cur, nil
}

func (r *relabelOp) Close() error {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	return r.in.Close()
}

// buildWindow builds the window operator of n over in.
func (b *builder) buildWindow(n *sql.Window, in arrowexec.Operator) (arrowexec.Operator, error) {
	sch := in.Schema()
	part, err := b.compileList(n.Partition, sch)
	if err != nil {
		return nil, err
	}
	order, err := b.sortKeys(n.Order, sch)
	if err != nil {
		return nil, err
	}
	calls := make([]arrowexec.WindowCall, len(n.Funcs))
	for i, w := range n.Funcs {
		c := arrowexec.WindowCall{Func: w.Func, Agg: w.Agg, N: w.N, Frame: w.Frame, Name: n.Names[i]}
		if w.Arg != nil {
			if c.Arg, err = b.compile(w.Arg, sch); err != nil {
				return nil, err
			}
		}
		if w.Default != nil {
			if c.Default, err = b.compile(w.Default, sch); err != nil {
				return nil, err
			}
		}
		calls[i] = c
	}
	op, err := arrowexec.NewWindow(in, part, order, calls)
	if err != nil {
		return nil, err
	}
	return conform(op, n.Columns())
}
