package arrowexec

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// unionAllOp yields the batches of its inputs one input after the other.
type unionAllOp struct {
	ins    []Operator
	schema *arrow.Schema
	ctx    context.Context
	cur    int
	out    batchHolder
}

var _ Operator = (*unionAllOp)(nil)

// NewUnionAll concatenates the rows of ins in order (UNION ALL). Every
// input must have the field types of schema; its batches are relabelled
// with schema without copying. The union owns its inputs.
func NewUnionAll(schema *arrow.Schema, ins ...Operator) (Operator, error) {
	for i, in := range ins {
		s := in.Schema()
		if s.NumFields() != schema.NumFields() {
			return nil, fmt.Errorf("arrowexec: union input %d has %d columns, want %d", i, s.NumFields(), schema.NumFields())
		}
		for j := range s.Fields() {
			if !arrow.TypeEqual(s.Field(j).Type, schema.Field(j).Type) {
				return nil, fmt.Errorf("arrowexec: union input %d column %d is %s, want %s", i, j, s.Field(j).Type, schema.Field(j).Type)
			}
		}
	}
	return &unionAllOp{ins: ins, schema: schema}, nil
}

func (u *unionAllOp) Schema() *arrow.Schema { return u.schema }

// Open opens every input (a failing input fails the union at once).
func (u *unionAllOp) Open(ctx context.Context) error {
	u.ctx = ctx
	for _, in := range u.ins {
		if err := in.Open(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (u *unionAllOp) Next() (arrow.RecordBatch, error) {
	u.out.release()
	for u.cur < len(u.ins) {
		if err := u.ctx.Err(); err != nil {
			return nil, err
		}
		b, err := u.ins[u.cur].Next()
		if err != nil {
			return nil, err
		}
		if b == nil {
			u.cur++
			continue
		}
		return u.out.set(array.NewRecordBatch(u.schema, b.Columns(), b.NumRows())), nil
	}
	return nil, nil
}

func (u *unionAllOp) Close() error {
	u.out.release()
	var first error
	for _, in := range u.ins {
		if err := in.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
