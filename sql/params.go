package sql

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow/scalar"
	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// Statement parameters.
//
// A statement may hold ? placeholders (numbered 1, 2, … in text order) or
// $1, $2, … (the same parameter may appear several times); the two
// spellings cannot be mixed. The binder infers each parameter's type from
// its first typing context:
//
//   - an operand of a comparison, arithmetic, BETWEEN takes the type of the
//     other operand, widened so that any value of the kind is usable: an
//     integer type gives BIGINT, DECIMAL(p,s) gives DECIMAL(38,max(s,10)),
//     VARCHAR(n) gives VARCHAR; an element of an IN list, a CASE branch or
//     a COALESCE argument takes the common type of the others;
//   - a value of INSERT … VALUES or UPDATE … SET takes the column's type;
//   - an operand of AND, OR, NOT and WHERE/HAVING/ON is BOOLEAN; of LIKE and
//     string functions VARCHAR;
//   - a parameter that is a select-list item by itself, or whose every
//     context is another untyped parameter (? = ?), is VARCHAR.
//
// A parameter whose type cannot be inferred otherwise (say the argument of
// an aggregate or of a function without a typed signature) is an error
// 42P18. A parameter is never folded into a constant: plans keep Param
// nodes, and each execution substitutes the values it is given.

// Param is a statement parameter (0-based Idx; $Idx+1 or the Idx+1-th ?).
// Typ is its inferred type; a Param of type NULL is still untyped (only
// while binding).
type Param struct {
	Idx  int
	Typ  catalog.Type
	slot *paramSlot
}

// paramSlot is the binder's state of one parameter, shared by its
// occurrences.
type paramSlot struct {
	typ catalog.Type
	// untyped counts occurrences created before the type was known and not
	// yet typed; any left at the end means a context dropped or ignored one.
	untyped int
	notNull bool
	// constant: the parameter stands for a constant of the statement's
	// text (BindShape) and is never NULL.
	constant bool
}

var _ Expr = (*Param)(nil)

// Type implements Expr.
func (e *Param) Type() catalog.Type { return e.Typ }

// Nullable implements Expr.
func (e *Param) Nullable() bool { return e.slot == nil || !e.slot.constant }

func (e *Param) String() string { return fmt.Sprintf("$%d", e.Idx+1) }

// ParamType is the inferred type of a statement parameter.
type ParamType struct {
	Type catalog.Type
	// NotNull: the parameter is assigned to a NOT NULL column, so a NULL
	// value is an error 23502.
	NotNull bool
}

// ParamTypes returns the types of the parameters of a bound statement
// (index i is parameter $i+1); nil when it has none.
func ParamTypes(st Statement) []ParamType {
	switch st := st.(type) {
	case *Query:
		return st.Params
	case *Insert:
		return st.Params
	case *Update:
		return st.Params
	case *Delete:
		return st.Params
	}
	return nil
}

// param binds a placeholder literal (:vN after the tokenizer and the
// rewrite of $N).
func (b *binder) param(v *sqlparser.SQLVal) (Expr, error) {
	name := string(v.Val)
	n, err := strconv.Atoi(strings.TrimPrefix(name, ":v"))
	if !strings.HasPrefix(name, ":v") || err != nil || n < 1 {
		return nil, b.unsupported(fmt.Sprintf("named parameter %s", name))
	}
	if n > 1<<16 {
		return nil, sqlstate.Errorf(sqlstate.ProgramLimitExceeded, "parameter $%d is beyond the limit of 65536 parameters", n)
	}
	for len(b.params) < n {
		b.params = append(b.params, &paramSlot{typ: catalog.Null, constant: b.constParams})
	}
	s := b.params[n-1]
	if s.typ.Kind == catalog.KindNull {
		s.untyped++
	}
	return &Param{Idx: n - 1, Typ: s.typ, slot: s}, nil
}

// isUntypedParam reports whether x is a parameter of unknown type.
func isUntypedParam(x Expr) bool {
	p, ok := x.(*Param)
	return ok && p.Typ.Kind == catalog.KindNull
}

// typeParam gives an untyped parameter type t (the first context wins for
// a parameter that appears several times: later ones get a Cast).
func typeParam(p *Param, t catalog.Type) Expr {
	s := p.slot
	if p.Typ.Kind == catalog.KindNull && s.untyped > 0 {
		s.untyped--
	}
	if s.typ.Kind == catalog.KindNull {
		s.typ = t
	}
	out := &Param{Idx: p.Idx, Typ: s.typ, slot: s}
	if s.typ != t {
		return &Cast{Arg: out, To: t}
	}
	return out
}

// nullOf returns a NULL of type t standing for x, an expression of type
// NULL: an untyped parameter is typed t instead.
func nullOf(x Expr, t catalog.Type) Expr {
	if p, ok := x.(*Param); ok && p.Typ.Kind == catalog.KindNull {
		return typeParam(p, t)
	}
	return NewLiteral(t, nil)
}

// checkParams fails when a parameter's type could not be inferred.
func (b *binder) checkParams() error {
	for i, s := range b.params {
		if s.typ.Kind == catalog.KindNull || s.untyped > 0 {
			return sqlstate.Errorf(sqlstate.IndeterminateDatatype, "could not determine data type of parameter $%d", i+1)
		}
	}
	return nil
}

// paramTypes lists the parameter types of the statement bound by b.
func (b *binder) paramTypes() []ParamType {
	out := make([]ParamType, len(b.params))
	for i, s := range b.params {
		out[i] = ParamType{Type: s.typ, NotNull: s.notNull}
	}
	return out
}

// BindParam converts a parameter value to the parameter's type t with the
// rules of an explicit CAST (a string is parsed; numbers are converted
// when they fit). A NULL (an invalid scalar of any type, or the Arrow null
// type) is a NULL of type t (23502 when pt.NotNull). Errors are *sqlstate.Error: 42804 for a value
// whose type cannot be converted, 22P02/22007/22003/22001 for bad values.
func BindParam(v scalar.Scalar, pt ParamType) (*Literal, error) {
	t := pt.Type
	if v == nil || !v.IsValid() {
		if pt.NotNull {
			return nil, sqlstate.Errorf(sqlstate.NotNullViolation, "null value for a NOT NULL column")
		}
		return NewLiteral(t, nil), nil
	}
	vt, ok := catalog.FromArrow(v.DataType())
	if !ok {
		return nil, sqlstate.Errorf(sqlstate.DatatypeMismatch, "parameter values of Arrow type %s are not supported", v.DataType())
	}
	if !castable(vt, t) {
		return nil, sqlstate.Errorf(sqlstate.DatatypeMismatch, "cannot use a parameter value of type %s as %s", vt, t)
	}
	lit := &Literal{Value: v, Typ: vt}
	if vt.Kind == catalog.KindVarchar {
		// Normalise the scalar (large strings, views) to a plain string.
		if s, ok := v.(*scalar.String); ok {
			lit = NewLiteral(catalog.Varchar, string(s.Data()))
		} else {
			lit = NewLiteral(catalog.Varchar, v.String())
		}
	}
	out, err := CastLiteral(lit, t)
	if err != nil {
		return nil, err
	}
	if out == nil {
		return nil, sqlstate.Errorf(sqlstate.DatatypeMismatch, "cannot use a parameter value of type %s as %s", vt, t)
	}
	if t.Kind == catalog.KindVarchar && t.Length > 0 {
		s, _ := literalValue(out)
		if utf8.RuneCountInString(s.s) > int(t.Length) {
			return nil, sqlstate.Errorf(sqlstate.StringDataTooLong, "value too long for type %s", t)
		}
	}
	return out, nil
}

// inferParams types untyped parameters among the operands l and r of a
// binary operator: by the other operand, or VARCHAR when the other is
// untyped too.
func inferParams(l, r Expr) (Expr, Expr) {
	lp, rp := isUntypedParam(l), isUntypedParam(r)
	switch {
	case lp && r.Type().Kind != catalog.KindNull:
		l = typeParam(l.(*Param), operandParamType(r.Type()))
	case rp && l.Type().Kind != catalog.KindNull:
		r = typeParam(r.(*Param), operandParamType(l.Type()))
	case lp || rp:
		if lp {
			l = typeParam(l.(*Param), catalog.Varchar)
		}
		if rp {
			r = typeParam(r.(*Param), catalog.Varchar)
		}
	}
	return l, r
}

// operandParamType is the type a parameter takes beside an operand of type
// t: wide enough that a value outside t's range compares (or computes)
// instead of failing: integers are BIGINT, DECIMAL(p,s) is DECIMAL(38,
// max(s,10)), VARCHAR has no length.
func operandParamType(t catalog.Type) catalog.Type {
	switch {
	case t.IsInteger():
		return catalog.Bigint
	case t.Kind == catalog.KindDecimal:
		return catalog.Decimal(catalog.MaxDecimalPrecision, max(t.Scale, 10))
	case t.Kind == catalog.KindVarchar:
		return catalog.Varchar
	}
	return t
}
