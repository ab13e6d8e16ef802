package arrowexec

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

// sharedExpr is a subexpression that several keys and arguments of one
// aggregate contain (TPC-H Q1's l_extendedprice * (1 - l_discount) is in
// two SUMs): the first Eval of a batch computes it, the others get the
// same array. The aggregate that owns it calls reset when it is done with
// a batch. A sharedExpr belongs to one operator and is not safe for
// concurrent use.
type sharedExpr struct {
	e    Expr
	orig Expr        // the expression e was rewritten from (for sameExpr)
	res  arrow.Array // the result for the current batch, or nil
}

var _ Expr = (*sharedExpr)(nil)

func (s *sharedExpr) DataType() arrow.DataType { return s.e.DataType() }
func (s *sharedExpr) String() string           { return s.e.String() }

func (s *sharedExpr) Eval(ctx context.Context, batch arrow.RecordBatch) (arrow.Array, error) {
	if s.res == nil {
		r, err := s.e.Eval(ctx, batch)
		if err != nil {
			return nil, err
		}
		s.res = r
	}
	s.res.Retain()
	return s.res, nil
}

// reset drops the result of the batch before.
func (s *sharedExpr) reset() {
	if s.res != nil {
		s.res.Release()
		s.res = nil
	}
}

// sameExpr reports whether a and b compute the same values: the same
// columns, constants, arithmetic and casts. It is conservative: other
// kinds of expression are never the same.
func sameExpr(a, b Expr) bool {
	switch a := a.(type) {
	case *colExpr:
		b, ok := b.(*colExpr)
		return ok && a.idx == b.idx && arrow.TypeEqual(a.dt, b.dt)
	case *litExpr:
		b, ok := b.(*litExpr)
		return ok && arrow.TypeEqual(a.s.DataType(), b.s.DataType()) && a.s.IsValid() == b.s.IsValid() &&
			(!a.s.IsValid() || scalar.Equals(a.s, b.s))
	case *arithExpr:
		b, ok := b.(*arithExpr)
		return ok && a.op == b.op && a.ls == b.ls && a.rs == b.rs && arrow.TypeEqual(a.dt, b.dt) &&
			sameExpr(a.l, b.l) && sameExpr(a.r, b.r)
	case *castExpr:
		b, ok := b.(*castExpr)
		return ok && arrow.TypeEqual(a.to, b.to) && sameExpr(a.e, b.e)
	}
	return false
}

// shareCommon rewrites exprs so that each arithmetic or cast that occurs
// more than once among them (and within them) is one sharedExpr, and
// returns the rewritten expressions and the sharedExprs. The expressions
// passed in are not changed: they may be shared with other operators.
func shareCommon(exprs []Expr) ([]Expr, []*sharedExpr) {
	var nodes []Expr
	var collect func(e Expr)
	collect = func(e Expr) {
		switch e := e.(type) {
		case *arithExpr:
			nodes = append(nodes, e)
			collect(e.l)
			collect(e.r)
		case *castExpr:
			nodes = append(nodes, e)
			collect(e.e)
		}
	}
	for _, e := range exprs {
		collect(e)
	}
	count := func(e Expr) int {
		n := 0
		for _, x := range nodes {
			if sameExpr(x, e) {
				n++
			}
		}
		return n
	}
	var shared []*sharedExpr
	var rewrite func(e Expr) Expr
	rewrite = func(e Expr) Expr {
		var out Expr
		switch e := e.(type) {
		case *arithExpr:
			c := *e
			c.l, c.r = rewrite(e.l), rewrite(e.r)
			out = &c
		case *castExpr:
			c := *e
			c.e = rewrite(e.e)
			out = &c
		default:
			return e
		}
		if count(e) < 2 {
			return out
		}
		for _, s := range shared {
			if sameExpr(s.orig, e) {
				return s
			}
		}
		s := &sharedExpr{e: out, orig: e}
		shared = append(shared, s)
		return s
	}
	if len(nodes) < 2 {
		return exprs, nil
	}
	out := make([]Expr, len(exprs))
	for i, e := range exprs {
		if e != nil {
			out[i] = rewrite(e)
		}
	}
	return out, shared
}
