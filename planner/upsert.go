package planner

import (
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/sql"
)

// ConflictSet compiles the ON DUPLICATE KEY UPDATE of an INSERT
// (OnConflict is sql.ConflictUpdate) into one expression per column of
// Table: evaluated over a batch whose columns are an existing row's
// (Table.Schema()) followed by the row the statement tried to insert (the
// same fields again), each yields the column's new value. params are the
// statement's parameter values, as for BuildWith (nil when it has none).
// The expressions hold no resources.
func (p *Prepared) ConflictSet(params []scalar.Scalar) ([]arrowexec.Expr, error) {
	if p.Kind != KindInsert || p.OnConflict != sql.ConflictUpdate {
		return nil, fmt.Errorf("planner: %s has no ON DUPLICATE KEY UPDATE", p.Kind)
	}
	if len(params) != len(p.params) {
		return nil, sqlstate.Errorf(sqlstate.ParamCountMismatch, "statement has %d parameters, %d values given", len(p.params), len(params))
	}
	b := &builder{now: time.Now().UTC()}
	for i, v := range params {
		l, err := sql.BindParam(v, p.params[i])
		if err != nil {
			return nil, fmt.Errorf("parameter $%d: %w", i+1, err)
		}
		b.params = append(b.params, l)
	}
	fields := p.Table.Schema().Fields()
	sch := arrow.NewSchema(append(append([]arrow.Field(nil), fields...), fields...), nil)
	return b.compileList(p.set, sch)
}
