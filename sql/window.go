package sql

import (
	"fmt"
	"strings"

	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// WindowCall is a window function call (f(...) OVER (...)). It appears in
// expressions only while binding: selectPlan replaces every call by a
// reference to a column of a Window node, so bound plans hold none.
type WindowCall struct {
	Name string // lower-case function name, for String
	Func arrowexec.WindowFunc
	// Agg is the aggregate of an arrowexec.WinAgg call.
	Agg arrowexec.AggFunc
	// Arg is the argument (nil for ranking functions and COUNT(*)).
	Arg Expr
	// Default is LAG/LEAD's value outside the partition (nil: NULL).
	Default Expr
	// N is LAG/LEAD's offset and NTILE's bucket count.
	N         int64
	Partition []Expr
	Order     []SortKey
	Frame     arrowexec.Frame
	Typ       catalog.Type
	Null      bool
}

// Window computes window functions that share one PARTITION BY and ORDER
// BY: its output is its input's columns followed by one column per call
// (the calls' Partition and Order equal the node's).
type Window struct {
	Input     Node
	Partition []Expr
	Order     []SortKey
	Funcs     []*WindowCall
	Names     []string
}

var (
	_ Expr = (*WindowCall)(nil)
	_ Node = (*Window)(nil)
)

// Type implements Expr.
func (e *WindowCall) Type() catalog.Type { return e.Typ }

// Nullable implements Expr.
func (e *WindowCall) Nullable() bool { return e.Null }

func (e *WindowCall) String() string {
	var args []string
	if e.Arg != nil {
		args = append(args, e.Arg.String())
	}
	if e.Func == arrowexec.WinLag || e.Func == arrowexec.WinLead || e.Func == arrowexec.WinNTile {
		args = append(args, fmt.Sprint(e.N))
	}
	if e.Default != nil {
		args = append(args, e.Default.String())
	}
	return fmt.Sprintf("%s(%s) OVER (%s%s)", e.Name, strings.Join(args, ", "), windowSpec(e.Partition, e.Order), frameString(e.Frame))
}

func windowSpec(part []Expr, order []SortKey) string {
	s := "PARTITION BY " + exprList(part) + " ORDER BY ["
	for i, k := range order {
		if i > 0 {
			s += ", "
		}
		s += k.Expr.String()
		if k.Desc {
			s += " DESC"
		}
		if k.NullsFirst {
			s += " NULLS FIRST"
		} else {
			s += " NULLS LAST"
		}
	}
	return s + "]"
}

func frameString(f arrowexec.Frame) string {
	unit := " RANGE "
	if f.Rows {
		unit = " ROWS "
	}
	b := func(x arrowexec.FrameBound) string {
		switch x.Type {
		case arrowexec.BoundUnboundedPreceding:
			return "UNBOUNDED PRECEDING"
		case arrowexec.BoundPreceding:
			return fmt.Sprintf("%d PRECEDING", x.Offset)
		case arrowexec.BoundCurrentRow:
			return "CURRENT ROW"
		case arrowexec.BoundFollowing:
			return fmt.Sprintf("%d FOLLOWING", x.Offset)
		}
		return "UNBOUNDED FOLLOWING"
	}
	return unit + b(f.Start) + " AND " + b(f.End)
}

// Columns implements Node.
func (n *Window) Columns() []Column {
	out := append([]Column(nil), n.Input.Columns()...)
	for i, f := range n.Funcs {
		out = append(out, Column{Name: n.Names[i], Type: f.Typ, Nullable: f.Null})
	}
	return out
}

// Inputs implements Node.
func (n *Window) Inputs() []Node { return []Node{n.Input} }

func (n *Window) String() string {
	fs := make([]Expr, len(n.Funcs))
	for i, f := range n.Funcs {
		fs[i] = f
	}
	return "Window " + exprList(fs)
}

// mapWindowCall is MapChildren for a WindowCall.
func mapWindowCall(e *WindowCall, f func(Expr) (Expr, error)) (Expr, error) {
	c := *e
	var err error
	if e.Arg != nil {
		if c.Arg, err = f(e.Arg); err != nil {
			return nil, err
		}
	}
	if e.Default != nil {
		if c.Default, err = f(e.Default); err != nil {
			return nil, err
		}
	}
	c.Partition = make([]Expr, len(e.Partition))
	for i, p := range e.Partition {
		if c.Partition[i], err = f(p); err != nil {
			return nil, err
		}
	}
	c.Order = make([]SortKey, len(e.Order))
	for i, k := range e.Order {
		c.Order[i] = k
		if c.Order[i].Expr, err = f(k.Expr); err != nil {
			return nil, err
		}
	}
	return &c, nil
}

var windowFuncs = map[string]arrowexec.WindowFunc{
	"row_number": arrowexec.WinRowNumber, "rank": arrowexec.WinRank, "dense_rank": arrowexec.WinDenseRank,
	"ntile": arrowexec.WinNTile, "lag": arrowexec.WinLag, "lead": arrowexec.WinLead,
	"first_value": arrowexec.WinFirstValue, "last_value": arrowexec.WinLastValue,
}

// windowCall binds f(...) OVER (...).
func (b *binder) windowCall(ctx *exprCtx, name string, e *sqlparser.FuncExpr) (Expr, error) {
	if !ctx.allowWindow {
		return nil, b.errAt(e.Name.String(), sqlstate.WindowingError, "window functions are not allowed in %s", ctx.clause)
	}
	if ctx.inWindow {
		return nil, b.errAt(e.Name.String(), sqlstate.WindowingError, "window function calls cannot be nested")
	}
	if !e.Over.NameRef.IsEmpty() {
		return nil, b.unsupported("named windows (OVER name)")
	}
	if e.Distinct {
		return nil, b.unsupported("DISTINCT in a window function")
	}
	inner := *ctx
	inner.inWindow = true
	args := make([]Expr, 0, len(e.Exprs))
	star := false
	for _, se := range e.Exprs {
		switch se := se.(type) {
		case *sqlparser.StarExpr:
			star = true
		case *sqlparser.AliasedExpr:
			x, err := b.expr(&inner, se.Expr)
			if err != nil {
				return nil, err
			}
			if isUntypedParam(x) {
				return nil, sqlstate.Errorf(sqlstate.IndeterminateDatatype, "could not determine data type of parameter %s", x)
			}
			args = append(args, x)
		default:
			return nil, b.unsupported(fmt.Sprintf("argument of %s", name))
		}
	}
	w := &WindowCall{Name: name}
	nargs := func(lo, hi int) error {
		if star || len(args) < lo || len(args) > hi {
			return b.errAt(e.Name.String(), sqlstate.UndefinedFunction, "function %s with %d arguments does not exist", name, len(e.Exprs))
		}
		return nil
	}
	fn, ok := windowFuncs[name]
	if ok {
		w.Func = fn
		switch fn {
		case arrowexec.WinRowNumber, arrowexec.WinRank, arrowexec.WinDenseRank:
			if err := nargs(0, 0); err != nil {
				return nil, err
			}
			w.Typ = catalog.Bigint
		case arrowexec.WinNTile:
			if err := nargs(1, 1); err != nil {
				return nil, err
			}
			n, err := constInt(args[0], "NTILE")
			if err != nil {
				return nil, err
			}
			if n <= 0 {
				return nil, sqlstate.Errorf(sqlstate.InvalidNtileArgument, "argument of ntile must be greater than zero")
			}
			w.N, w.Typ = n, catalog.Bigint
		case arrowexec.WinLag, arrowexec.WinLead:
			if err := nargs(1, 3); err != nil {
				return nil, err
			}
			w.Arg, w.N, w.Null = args[0], 1, true
			if len(args) > 1 {
				n, err := constInt(args[1], strings.ToUpper(name)+" offset")
				if err != nil {
					return nil, err
				}
				if n < 0 {
					return nil, sqlstate.Errorf(sqlstate.InvalidParameterValue, "%s offset must not be negative", strings.ToUpper(name))
				}
				w.N = n
			}
			if len(args) > 2 {
				var err error
				if w.Arg, w.Default, err = b.unify(w.Arg, args[2], false, strings.ToUpper(name)); err != nil {
					return nil, err
				}
			}
			if w.Arg.Type().Kind == catalog.KindNull {
				w.Arg = nullOf(w.Arg, catalog.Varchar)
				if w.Default != nil {
					w.Default = nullOf(w.Default, catalog.Varchar)
				}
			}
			w.Typ = w.Arg.Type()
		default: // first_value, last_value
			if err := nargs(1, 1); err != nil {
				return nil, err
			}
			w.Arg, w.Null = args[0], true
			if w.Arg.Type().Kind == catalog.KindNull {
				w.Arg = nullOf(w.Arg, catalog.Varchar)
			}
			w.Typ = w.Arg.Type()
		}
	} else if agg, isAgg := aggFuncs[name]; isAgg && e.Qualifier.IsEmpty() {
		w.Func, w.Agg = arrowexec.WinAgg, agg
		if star {
			if agg != arrowexec.AggCount || len(e.Exprs) != 1 {
				return nil, sqlstate.Errorf(sqlstate.SyntaxError, "%s(*) is not valid", name)
			}
			w.Agg, w.Typ = arrowexec.AggCountStar, catalog.Bigint
		} else {
			if err := nargs(1, 1); err != nil {
				return nil, err
			}
			arg := args[0]
			if arg.Type().Kind == catalog.KindNull {
				arg = nullOf(arg, catalog.Bigint)
			}
			rt, ok := AggType(agg, arg.Type())
			if !ok {
				return nil, b.errAt(e.Name.String(), sqlstate.UndefinedFunction, "function %s(%s) does not exist", name, arg.Type())
			}
			// The executor sums BIGINT, DOUBLE and DECIMAL.
			if agg == arrowexec.AggSum || agg == arrowexec.AggAvg {
				var err error
				switch {
				case arg.Type().IsInteger():
					arg, err = coerce(arg, catalog.Bigint)
				case arg.Type().Kind == catalog.KindReal:
					arg, err = coerce(arg, catalog.Double)
				}
				if err != nil {
					return nil, err
				}
			}
			w.Arg, w.Typ, w.Null = arg, rt, agg != arrowexec.AggCount
		}
	} else {
		switch {
		case name == "percent_rank", name == "cume_dist", name == "nth_value", derivedAggs[name]:
			return nil, b.unsupported("window function " + strings.ToUpper(name))
		}
		return nil, b.errAt(e.Name.String(), sqlstate.UndefinedFunction, "window function %s does not exist", name)
	}

	over := e.Over
	for _, p := range over.PartitionBy {
		x, err := b.expr(&inner, p)
		if err != nil {
			return nil, err
		}
		w.Partition = append(w.Partition, x)
	}
	for _, o := range over.OrderBy {
		x, err := b.expr(&inner, o.Expr)
		if err != nil {
			return nil, err
		}
		desc := o.Direction == sqlparser.DescScr
		nulls := b.p.nulls[o]
		w.Order = append(w.Order, SortKey{Expr: x, Desc: desc, NullsFirst: nulls == nullsFirst || nulls == nullsDefault && desc})
	}
	frame, err := b.frame(over.Frame, len(w.Order) > 0)
	if err != nil {
		return nil, err
	}
	if !frame.Rows && (offsetBound(frame.Start) || offsetBound(frame.End)) {
		if len(w.Order) != 1 {
			return nil, sqlstate.Errorf(sqlstate.SyntaxError, "RANGE with offset PRECEDING/FOLLOWING requires exactly one ORDER BY column")
		}
		if t := w.Order[0].Expr.Type(); !t.IsNumeric() && t.Kind != catalog.KindDate {
			return nil, b.unsupported(fmt.Sprintf("RANGE with offset PRECEDING/FOLLOWING over an ORDER BY column of type %s", t))
		}
	}
	w.Frame = frame
	return w, nil
}

func offsetBound(b arrowexec.FrameBound) bool {
	return b.Type == arrowexec.BoundPreceding || b.Type == arrowexec.BoundFollowing
}

// constInt returns the value of an integer constant.
func constInt(x Expr, what string) (int64, error) {
	lit, ok := x.(*Literal)
	if !ok || !lit.Typ.IsInteger() || lit.IsNull() {
		return 0, sqlstate.Errorf(sqlstate.DatatypeMismatch, "argument of %s must be an integer constant", what)
	}
	v, _ := literalValue(lit)
	return v.i, nil
}

// frame binds a ROWS or RANGE clause; nil is the default frame (the whole
// partition without ORDER BY).
func (b *binder) frame(f *sqlparser.Frame, ordered bool) (arrowexec.Frame, error) {
	if f == nil {
		if !ordered {
			return arrowexec.Frame{Rows: true, Start: arrowexec.FrameBound{Type: arrowexec.BoundUnboundedPreceding},
				End: arrowexec.FrameBound{Type: arrowexec.BoundUnboundedFollowing}}, nil
		}
		return arrowexec.DefaultFrame, nil
	}
	out := arrowexec.Frame{Rows: f.Unit == sqlparser.RowsUnit}
	bound := func(fb *sqlparser.FrameBound) (arrowexec.FrameBound, error) {
		switch fb.Type {
		case sqlparser.UnboundedPreceding:
			return arrowexec.FrameBound{Type: arrowexec.BoundUnboundedPreceding}, nil
		case sqlparser.UnboundedFollowing:
			return arrowexec.FrameBound{Type: arrowexec.BoundUnboundedFollowing}, nil
		case sqlparser.CurrentRow:
			return arrowexec.FrameBound{Type: arrowexec.BoundCurrentRow}, nil
		}
		x, err := b.expr(&exprCtx{clause: "window frame"}, fb.Expr)
		if err != nil {
			return arrowexec.FrameBound{}, err
		}
		n, err := constInt(x, "a window frame bound")
		if err != nil {
			return arrowexec.FrameBound{}, err
		}
		if n < 0 {
			return arrowexec.FrameBound{}, sqlstate.Errorf(sqlstate.InvalidParameterValue, "frame offset must not be negative")
		}
		t := arrowexec.BoundPreceding
		if fb.Type == sqlparser.ExprFollowing {
			t = arrowexec.BoundFollowing
		}
		return arrowexec.FrameBound{Type: t, Offset: n}, nil
	}
	var err error
	if out.Start, err = bound(f.Extent.Start); err != nil {
		return out, err
	}
	out.End = arrowexec.FrameBound{Type: arrowexec.BoundCurrentRow}
	if f.Extent.End != nil {
		if out.End, err = bound(f.Extent.End); err != nil {
			return out, err
		}
	}
	switch {
	case out.Start.Type == arrowexec.BoundUnboundedFollowing:
		return out, sqlstate.Errorf(sqlstate.SyntaxError, "frame start cannot be UNBOUNDED FOLLOWING")
	case out.End.Type == arrowexec.BoundUnboundedPreceding:
		return out, sqlstate.Errorf(sqlstate.SyntaxError, "frame end cannot be UNBOUNDED PRECEDING")
	case out.End.Type < out.Start.Type && !(out.Start.Type == arrowexec.BoundPreceding && out.End.Type == arrowexec.BoundPreceding):
		return out, sqlstate.Errorf(sqlstate.SyntaxError, "frame starting after its end is not valid")
	}
	return out, nil
}

// containsWindow reports whether e holds a window function call.
func containsWindow(e Expr) bool {
	found := false
	Walk(e, func(x Expr) bool {
		if _, ok := x.(*WindowCall); ok {
			found = true
		}
		return !found
	})
	return found
}

// planWindows replaces every window call in *es by a reference to a column
// of Window nodes stacked on input, one per distinct PARTITION BY / ORDER BY.
func planWindows(input Node, es []*Expr) (Node, error) {
	type spec struct {
		part  []Expr
		order []SortKey
		calls []*WindowCall
		keys  map[string]int
	}
	var specs []*spec
	byKey := map[string]*spec{}
	for _, e := range es {
		Walk(*e, func(x Expr) bool {
			w, ok := x.(*WindowCall)
			if !ok {
				return true
			}
			k := windowSpec(w.Partition, w.Order)
			s := byKey[k]
			if s == nil {
				s = &spec{part: w.Partition, order: w.Order, keys: map[string]int{}}
				byKey[k] = s
				specs = append(specs, s)
			}
			if _, ok := s.keys[w.String()]; !ok {
				s.keys[w.String()] = len(s.calls)
				s.calls = append(s.calls, w)
			}
			return false
		})
	}
	if len(specs) == 0 {
		return input, nil
	}
	width := len(input.Columns())
	idx := map[string]int{}
	for _, s := range specs {
		names := make([]string, len(s.calls))
		for i, c := range s.calls {
			idx[c.String()] = width + i
			names[i] = fmt.Sprintf("window%d", width+i)
		}
		input = &Window{Input: input, Partition: s.part, Order: s.order, Funcs: s.calls, Names: names}
		width += len(s.calls)
	}
	var repl func(Expr) (Expr, error)
	repl = func(x Expr) (Expr, error) {
		if w, ok := x.(*WindowCall); ok {
			return &ColumnRef{Idx: idx[w.String()], Name: fmt.Sprintf("window%d", idx[w.String()]), Typ: w.Typ, Null: w.Null}, nil
		}
		return MapChildren(x, repl)
	}
	for _, e := range es {
		var err error
		if *e, err = repl(*e); err != nil {
			return nil, err
		}
	}
	return input, nil
}
