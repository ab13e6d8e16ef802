package mantisdb

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/planner"
)

// ParamSchema returns the statement's parameters ($1, $2, ... or ?) as an
// Arrow schema: one field per parameter, with the type inferred from its
// context, re-bound like Schema when the catalog changed. It is empty for a
// statement without parameters.
func (s *Stmt) ParamSchema() *arrow.Schema {
	if s.ctl != ctlNone {
		return emptySchema
	}
	p, err := s.plan()
	if err != nil {
		// The statement no longer binds (e.g. its table was dropped): the
		// error comes with its execution; report the schema last bound.
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.p.ParamSchema()
	}
	return p.ParamSchema()
}

// QueryParams runs the statement with one value per parameter (converted to
// the parameter types with CAST rules) and returns its rows.
func (s *Stmt) QueryParams(ctx context.Context, params []scalar.Scalar) (*Rows, error) {
	return s.Query(withParams(ctx, params))
}

// ExecParams runs the statement with one value per parameter and returns
// the number of rows it affected.
func (s *Stmt) ExecParams(ctx context.Context, params []scalar.Scalar) (int64, error) {
	return s.Exec(withParams(ctx, params))
}

// paramsKey carries the parameter values of one execution from the public
// entry points down to build, through the transaction and retry paths that
// already pass a context, rather than through every internal signature.
type paramsKey struct{}

func withParams(ctx context.Context, params []scalar.Scalar) context.Context {
	if params == nil {
		params = []scalar.Scalar{}
	}
	return context.WithValue(ctx, paramsKey{}, params)
}

// build makes the operator tree of p for one execution, binding the
// parameter values that ctx carries (a statement with parameters run
// without values fails with 07001 in the planner).
func build(ctx context.Context, p *planner.Prepared, src planner.SourceProvider) (arrowexec.Operator, error) {
	if params, ok := ctx.Value(paramsKey{}).([]scalar.Scalar); ok {
		return p.BuildWith(src, params)
	}
	return p.Build(src)
}
