package sql

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/catalog"
)

// Expr is a bound scalar expression. Expressions are immutable trees; the
// concrete types are the exported structs of this file.
type Expr interface {
	// Type is the SQL type of the result.
	Type() catalog.Type
	// Nullable reports whether the result can be NULL.
	Nullable() bool
	// String renders the expression; two expressions with the same String
	// are the same expression over the same input.
	String() string
}

// ColumnRef is column Idx of the input of the node that holds the
// expression.
type ColumnRef struct {
	Idx  int
	Name string
	Typ  catalog.Type
	Null bool
}

// Literal is a constant. A NULL literal has a scalar whose IsValid is false.
type Literal struct {
	Value scalar.Scalar
	Typ   catalog.Type
}

// Cast converts Arg to To.
type Cast struct {
	Arg Expr
	To  catalog.Type
}

// Arith is L Op R; L and R have the same type (or are both DECIMAL).
type Arith struct {
	Op   arrowexec.ArithOp
	L, R Expr
	Typ  catalog.Type
}

// Negate is -Arg.
type Negate struct{ Arg Expr }

// Compare is L Op R; L and R have the same type (or are both DECIMAL).
type Compare struct {
	Op   arrowexec.CmpOp
	L, R Expr
}

// LogicOp is AND or OR.
type LogicOp uint8

// Logical operators.
const (
	OpAnd LogicOp = iota
	OpOr
)

// Logic is L AND R or L OR R with SQL's three-valued logic.
type Logic struct {
	Op   LogicOp
	L, R Expr
}

// Not is NOT Arg.
type Not struct{ Arg Expr }

// IsNull is Arg IS NULL, or IS NOT NULL when Negate.
type IsNull struct {
	Arg    Expr
	Negate bool
}

// In is Arg [NOT] IN (List); every element has Arg's type.
type In struct {
	Arg    Expr
	List   []Expr
	Negate bool
}

// Like is Arg [NOT] LIKE Pattern with a constant pattern.
type Like struct {
	Arg     Expr
	Pattern string
	Negate  bool
	// CaseInsensitive is ILIKE.
	CaseInsensitive bool
}

// AggCall is an aggregate function call. It appears only in
// Aggregate.Aggs; expressions above an Aggregate refer to its result by
// ColumnRef.
type AggCall struct {
	Func     arrowexec.AggFunc
	Arg      Expr // nil for COUNT(*)
	Distinct bool
	Sep      string // the separator of STRING_AGG
	Typ      catalog.Type
	Null     bool
}

var (
	_ Expr = (*ColumnRef)(nil)
	_ Expr = (*Literal)(nil)
	_ Expr = (*Cast)(nil)
	_ Expr = (*Arith)(nil)
	_ Expr = (*Negate)(nil)
	_ Expr = (*Compare)(nil)
	_ Expr = (*Logic)(nil)
	_ Expr = (*Not)(nil)
	_ Expr = (*IsNull)(nil)
	_ Expr = (*In)(nil)
	_ Expr = (*Like)(nil)
	_ Expr = (*AggCall)(nil)
)

// Type implements Expr.
func (e *ColumnRef) Type() catalog.Type { return e.Typ }

// Nullable implements Expr.
func (e *ColumnRef) Nullable() bool { return e.Null }

func (e *ColumnRef) String() string { return fmt.Sprintf("%s#%d", e.Name, e.Idx) }

// Type implements Expr.
func (e *Literal) Type() catalog.Type { return e.Typ }

// Nullable implements Expr.
func (e *Literal) Nullable() bool { return !e.Value.IsValid() }

// IsNull reports whether the literal is NULL.
func (e *Literal) IsNull() bool { return !e.Value.IsValid() }

func (e *Literal) String() string {
	if !e.Value.IsValid() {
		return "NULL"
	}
	switch e.Typ.Kind {
	case catalog.KindVarchar:
		return "'" + strings.ReplaceAll(e.Value.String(), "'", "''") + "'"
	case catalog.KindDate, catalog.KindTimestamp:
		return e.Typ.String() + " '" + e.Value.String() + "'"
	case catalog.KindBoolean:
		return strings.ToUpper(e.Value.String())
	case catalog.KindBigint, catalog.KindDouble:
		return e.Value.String()
	case catalog.KindDecimal:
		return e.Value.(*scalar.Decimal128).Value.ToString(e.Typ.Scale) + "::" + e.Typ.String()
	}
	return e.Value.String() + "::" + e.Typ.String()
}

// Type implements Expr.
func (e *Cast) Type() catalog.Type { return e.To }

// Nullable implements Expr.
func (e *Cast) Nullable() bool { return e.Arg.Nullable() }

func (e *Cast) String() string { return fmt.Sprintf("CAST(%s AS %s)", e.Arg, e.To) }

// Type implements Expr.
func (e *Arith) Type() catalog.Type { return e.Typ }

// Nullable implements Expr.
func (e *Arith) Nullable() bool { return e.L.Nullable() || e.R.Nullable() }

var arithNames = [...]string{arrowexec.OpAdd: "+", arrowexec.OpSub: "-", arrowexec.OpMul: "*", arrowexec.OpDiv: "/", arrowexec.OpMod: "%"}

func (e *Arith) String() string { return fmt.Sprintf("(%s %s %s)", e.L, arithNames[e.Op], e.R) }

// Type implements Expr.
func (e *Negate) Type() catalog.Type { return e.Arg.Type() }

// Nullable implements Expr.
func (e *Negate) Nullable() bool { return e.Arg.Nullable() }

func (e *Negate) String() string { return fmt.Sprintf("(-%s)", e.Arg) }

// Type implements Expr.
func (e *Compare) Type() catalog.Type { return catalog.Boolean }

// Nullable implements Expr.
func (e *Compare) Nullable() bool { return e.L.Nullable() || e.R.Nullable() }

var cmpNames = [...]string{arrowexec.OpEq: "=", arrowexec.OpNe: "<>", arrowexec.OpLt: "<", arrowexec.OpLe: "<=", arrowexec.OpGt: ">", arrowexec.OpGe: ">="}

func (e *Compare) String() string { return fmt.Sprintf("(%s %s %s)", e.L, cmpNames[e.Op], e.R) }

// Type implements Expr.
func (e *Logic) Type() catalog.Type { return catalog.Boolean }

// Nullable implements Expr.
func (e *Logic) Nullable() bool { return e.L.Nullable() || e.R.Nullable() }

func (e *Logic) String() string {
	op := "AND"
	if e.Op == OpOr {
		op = "OR"
	}
	return fmt.Sprintf("(%s %s %s)", e.L, op, e.R)
}

// Type implements Expr.
func (e *Not) Type() catalog.Type { return catalog.Boolean }

// Nullable implements Expr.
func (e *Not) Nullable() bool { return e.Arg.Nullable() }

func (e *Not) String() string { return fmt.Sprintf("(NOT %s)", e.Arg) }

// Type implements Expr.
func (e *IsNull) Type() catalog.Type { return catalog.Boolean }

// Nullable implements Expr.
func (e *IsNull) Nullable() bool { return false }

func (e *IsNull) String() string {
	if e.Negate {
		return fmt.Sprintf("(%s IS NOT NULL)", e.Arg)
	}
	return fmt.Sprintf("(%s IS NULL)", e.Arg)
}

// Type implements Expr.
func (e *In) Type() catalog.Type { return catalog.Boolean }

// Nullable implements Expr.
func (e *In) Nullable() bool {
	if e.Arg.Nullable() {
		return true
	}
	for _, x := range e.List {
		if x.Nullable() {
			return true
		}
	}
	return false
}

func (e *In) String() string {
	var b strings.Builder
	b.WriteString("(")
	b.WriteString(e.Arg.String())
	if e.Negate {
		b.WriteString(" NOT")
	}
	b.WriteString(" IN (")
	for i, x := range e.List {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(x.String())
	}
	b.WriteString("))")
	return b.String()
}

// Type implements Expr.
func (e *Like) Type() catalog.Type { return catalog.Boolean }

// Nullable implements Expr.
func (e *Like) Nullable() bool { return e.Arg.Nullable() }

func (e *Like) String() string {
	not := ""
	if e.Negate {
		not = " NOT"
	}
	op := "LIKE"
	if e.CaseInsensitive {
		op = "ILIKE"
	}
	return fmt.Sprintf("(%s%s %s '%s')", e.Arg, not, op, strings.ReplaceAll(e.Pattern, "'", "''"))
}

// Type implements Expr.
func (e *AggCall) Type() catalog.Type { return e.Typ }

// Nullable implements Expr.
func (e *AggCall) Nullable() bool { return e.Null }

var aggNames = [...]string{arrowexec.AggCountStar: "count", arrowexec.AggCount: "count", arrowexec.AggSum: "sum",
	arrowexec.AggMin: "min", arrowexec.AggMax: "max", arrowexec.AggAvg: "avg", arrowexec.AggStringAgg: "string_agg"}

func (e *AggCall) String() string {
	if e.Func == arrowexec.AggCountStar {
		return "count(*)"
	}
	d := ""
	if e.Distinct {
		d = "DISTINCT "
	}
	if e.Func == arrowexec.AggStringAgg {
		return fmt.Sprintf("%s(%s%s, %s)", aggNames[e.Func], d, e.Arg, "'"+strings.ReplaceAll(e.Sep, "'", "''")+"'")
	}
	return fmt.Sprintf("%s(%s%s)", aggNames[e.Func], d, e.Arg)
}

// MapChildren returns e with every direct child replaced by f(child). It
// returns e itself when e has no children.
func MapChildren(e Expr, f func(Expr) (Expr, error)) (Expr, error) {
	var err error
	two := func(l, r Expr) (Expr, Expr, error) {
		if l, err = f(l); err != nil {
			return nil, nil, err
		}
		if r, err = f(r); err != nil {
			return nil, nil, err
		}
		return l, r, nil
	}
	switch e := e.(type) {
	case *ColumnRef, *Literal, *OuterRef, *Subquery, *Param, *Now:
		return e, nil
	case *Func:
		c := *e
		c.Args = make([]Expr, len(e.Args))
		for i, a := range e.Args {
			if c.Args[i], err = f(a); err != nil {
				return nil, err
			}
		}
		return &c, nil
	case *Case:
		c := &Case{Typ: e.Typ, Whens: make([]Expr, len(e.Whens)), Thens: make([]Expr, len(e.Thens))}
		for i := range e.Whens {
			if c.Whens[i], err = f(e.Whens[i]); err != nil {
				return nil, err
			}
			if c.Thens[i], err = f(e.Thens[i]); err != nil {
				return nil, err
			}
		}
		if e.Else != nil {
			if c.Else, err = f(e.Else); err != nil {
				return nil, err
			}
		}
		return c, nil
	case *Extract:
		a, err := f(e.Arg)
		if err != nil {
			return nil, err
		}
		return &Extract{Part: e.Part, Name: e.Name, Arg: a}, nil
	case *Substring:
		a, err := f(e.Arg)
		if err != nil {
			return nil, err
		}
		return &Substring{Arg: a, Start: e.Start, Length: e.Length}, nil
	case *Cast:
		a, err := f(e.Arg)
		if err != nil {
			return nil, err
		}
		return &Cast{Arg: a, To: e.To}, nil
	case *Arith:
		l, r, err := two(e.L, e.R)
		if err != nil {
			return nil, err
		}
		return &Arith{Op: e.Op, L: l, R: r, Typ: e.Typ}, nil
	case *Negate:
		a, err := f(e.Arg)
		if err != nil {
			return nil, err
		}
		return &Negate{Arg: a}, nil
	case *Compare:
		l, r, err := two(e.L, e.R)
		if err != nil {
			return nil, err
		}
		return &Compare{Op: e.Op, L: l, R: r}, nil
	case *Logic:
		l, r, err := two(e.L, e.R)
		if err != nil {
			return nil, err
		}
		return &Logic{Op: e.Op, L: l, R: r}, nil
	case *Not:
		a, err := f(e.Arg)
		if err != nil {
			return nil, err
		}
		return &Not{Arg: a}, nil
	case *IsNull:
		a, err := f(e.Arg)
		if err != nil {
			return nil, err
		}
		return &IsNull{Arg: a, Negate: e.Negate}, nil
	case *In:
		a, err := f(e.Arg)
		if err != nil {
			return nil, err
		}
		list := make([]Expr, len(e.List))
		for i, x := range e.List {
			if list[i], err = f(x); err != nil {
				return nil, err
			}
		}
		return &In{Arg: a, List: list, Negate: e.Negate}, nil
	case *Like:
		a, err := f(e.Arg)
		if err != nil {
			return nil, err
		}
		return &Like{Arg: a, Pattern: e.Pattern, Negate: e.Negate, CaseInsensitive: e.CaseInsensitive}, nil
	case *WindowCall:
		return mapWindowCall(e, f)
	case *AggCall:
		if e.Arg == nil {
			return e, nil
		}
		a, err := f(e.Arg)
		if err != nil {
			return nil, err
		}
		c := *e
		c.Arg = a
		return &c, nil
	}
	return nil, fmt.Errorf("sql: unknown expression %T", e)
}

// Walk calls f for e and, while f returns true, for its descendants in
// pre-order.
func Walk(e Expr, f func(Expr) bool) {
	if e == nil || !f(e) {
		return
	}
	_, _ = MapChildren(e, func(c Expr) (Expr, error) {
		Walk(c, f)
		return c, nil
	})
}

// IsConstant reports whether e refers to no column and calls no aggregate.
func IsConstant(e Expr) bool {
	ok := true
	Walk(e, func(x Expr) bool {
		switch x.(type) {
		case *ColumnRef, *AggCall, *WindowCall, *OuterRef, *Subquery, *Param, *Now:
			ok = false
		}
		return ok
	})
	return ok
}

// Subquery is an uncorrelated scalar subquery: the one value of the one
// column of Plan (NULL when it has no row; more than one row is an error
// 21000 at run time). It is evaluated once per execution.
type Subquery struct {
	Plan Node
	Typ  catalog.Type
}

// OuterRef is a reference to column Idx of the enclosing query's input from
// inside a correlated subquery. It only exists while binding: the binder
// turns correlations into joins.
type OuterRef struct {
	Idx  int
	Name string
	Typ  catalog.Type
	Null bool
}

// Case is CASE WHEN Whens[i] THEN Thens[i] ... ELSE Else END (Else nil:
// NULL). Every then and the else have type Typ.
type Case struct {
	Whens, Thens []Expr
	Else         Expr
	Typ          catalog.Type
}

// Extract is EXTRACT(Part FROM Arg) of a DATE or TIMESTAMP, a BIGINT.
type Extract struct {
	Part arrowexec.DatePart
	Name string
	Arg  Expr
}

// Substring is SUBSTRING(Arg FROM Start FOR Length) with constant bounds
// (Length < 0: to the end).
type Substring struct {
	Arg           Expr
	Start, Length int64
}

var (
	_ Expr = (*Subquery)(nil)
	_ Expr = (*OuterRef)(nil)
	_ Expr = (*Case)(nil)
	_ Expr = (*Extract)(nil)
	_ Expr = (*Substring)(nil)
)

// Type implements Expr.
func (e *Subquery) Type() catalog.Type { return e.Typ }

// Nullable implements Expr.
func (e *Subquery) Nullable() bool { return true }

func (e *Subquery) String() string { return fmt.Sprintf("(subquery %p)", e) }

// Type implements Expr.
func (e *OuterRef) Type() catalog.Type { return e.Typ }

// Nullable implements Expr.
func (e *OuterRef) Nullable() bool { return e.Null }

func (e *OuterRef) String() string { return fmt.Sprintf("outer.%s#%d", e.Name, e.Idx) }

// Type implements Expr.
func (e *Case) Type() catalog.Type { return e.Typ }

// Nullable implements Expr.
func (e *Case) Nullable() bool {
	if e.Else == nil || e.Else.Nullable() {
		return true
	}
	for _, t := range e.Thens {
		if t.Nullable() {
			return true
		}
	}
	return false
}

func (e *Case) String() string {
	var b strings.Builder
	b.WriteString("CASE")
	for i := range e.Whens {
		fmt.Fprintf(&b, " WHEN %s THEN %s", e.Whens[i], e.Thens[i])
	}
	if e.Else != nil {
		fmt.Fprintf(&b, " ELSE %s", e.Else)
	}
	b.WriteString(" END")
	return b.String()
}

// Type implements Expr.
func (e *Extract) Type() catalog.Type { return catalog.Bigint }

// Nullable implements Expr.
func (e *Extract) Nullable() bool { return e.Arg.Nullable() }

func (e *Extract) String() string { return fmt.Sprintf("EXTRACT(%s FROM %s)", e.Name, e.Arg) }

// Type implements Expr.
func (e *Substring) Type() catalog.Type { return catalog.Varchar }

// Nullable implements Expr.
func (e *Substring) Nullable() bool { return e.Arg.Nullable() }

func (e *Substring) String() string {
	return fmt.Sprintf("SUBSTRING(%s FROM %d FOR %d)", e.Arg, e.Start, e.Length)
}
