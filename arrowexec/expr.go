package arrowexec

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

// colExpr reads one column of the input batch without copying it.
type colExpr struct {
	idx int
	dt  arrow.DataType
}

var _ Expr = (*colExpr)(nil)

// Column refers to field idx of the input batch.
func Column(idx int, dt arrow.DataType) Expr { return &colExpr{idx: idx, dt: dt} }

func (e *colExpr) DataType() arrow.DataType { return e.dt }
func (e *colExpr) String() string           { return fmt.Sprintf("#%d", e.idx) }

func (e *colExpr) Eval(_ context.Context, batch arrow.RecordBatch) (arrow.Array, error) {
	if e.idx < 0 || e.idx >= int(batch.NumCols()) {
		return nil, fmt.Errorf("arrowexec: column #%d out of range (batch has %d columns)", e.idx, batch.NumCols())
	}
	c := batch.Column(e.idx)
	if !arrow.TypeEqual(c.DataType(), e.dt) {
		return nil, fmt.Errorf("arrowexec: column #%d is %s, plan expects %s", e.idx, c.DataType(), e.dt)
	}
	c.Retain()
	return c, nil
}

// litExpr is a constant. Binary kernels recognise it and broadcast its
// value instead of materialising an array.
type litExpr struct {
	s scalar.Scalar
}

var _ Expr = (*litExpr)(nil)

// Literal is a constant; a NULL of a type is a scalar with IsValid false.
func Literal(v scalar.Scalar) Expr { return &litExpr{s: v} }

func (e *litExpr) DataType() arrow.DataType { return e.s.DataType() }

func (e *litExpr) String() string {
	if !e.s.IsValid() {
		return "NULL"
	}
	if _, ok := e.s.(*scalar.String); ok {
		return fmt.Sprintf("'%s'", e.s.String())
	}
	return e.s.String()
}

func (e *litExpr) Eval(ctx context.Context, batch arrow.RecordBatch) (arrow.Array, error) {
	n := int(batch.NumRows())
	if !e.s.IsValid() {
		return allNull(ctx, e.s.DataType(), n), nil
	}
	a, err := scalar.MakeArrayFromScalar(e.s, n, exec.GetAllocator(ctx))
	if err != nil {
		return nil, fmt.Errorf("arrowexec: cannot materialise literal %s: %w", e, err)
	}
	return a, nil
}

// isNullLit reports whether e is a literal NULL (of any type).
func isNullLit(e Expr) bool {
	l, ok := e.(*litExpr)
	return ok && !l.s.IsValid()
}

// operand is an evaluated argument of a kernel: an array, or a broadcast
// constant held in a one-element array (mask 0 makes every index read
// element 0, so one loop serves vector and scalar operands).
type operand struct {
	arr  arrow.Array
	mask int // -1 for arrays, 0 for broadcast constants
}

// evalOperand evaluates e over batch. A literal becomes a one-element
// array that the kernels broadcast. The caller releases op.arr.
func evalOperand(ctx context.Context, e Expr, batch arrow.RecordBatch) (operand, error) {
	if l, ok := e.(*litExpr); ok {
		a, err := scalar.MakeArrayFromScalar(l.s, 1, exec.GetAllocator(ctx))
		if err != nil {
			return operand{}, fmt.Errorf("arrowexec: cannot materialise literal %s: %w", l, err)
		}
		return operand{arr: a, mask: 0}, nil
	}
	a, err := e.Eval(ctx, batch)
	if err != nil {
		return operand{}, err
	}
	return operand{arr: a, mask: -1}, nil
}

// scalarValue returns the Go value of a valid literal of physical type T.
func scalarValue[T fixedT](s scalar.Scalar) T {
	var zero T
	switch s := s.(type) {
	case *scalar.Int16:
		return any(s.Value).(T)
	case *scalar.Int32:
		return any(s.Value).(T)
	case *scalar.Int64:
		return any(s.Value).(T)
	case *scalar.Float32:
		return any(s.Value).(T)
	case *scalar.Float64:
		return any(s.Value).(T)
	case *scalar.Date32:
		return any(int32(s.Value)).(T)
	case *scalar.Timestamp:
		return any(int64(s.Value)).(T)
	case *scalar.Decimal128:
		return any(decimal128.Num(s.Value)).(T)
	}
	return zero
}

// stringValues is a view of a String array: offsets and data.
type stringValues struct {
	offs []int32
	data []byte
}

// stringsOf views a String or Binary array. The offsets are those of the
// array's rows (its slice offset applied) and index the whole data buffer:
// array.String.ValueBytes is trimmed to the first row's offset, so it cannot
// be indexed by ValueOffsets of a sliced array.
func stringsOf(a arrow.Array) stringValues {
	d := a.Data()
	bufs := d.Buffers()
	if d.Len() == 0 || bufs[1] == nil {
		return stringValues{offs: []int32{0}}
	}
	offs := arrow.Int32Traits.CastFromBytes(bufs[1].Bytes())[d.Offset() : d.Offset()+d.Len()+1]
	var data []byte
	if bufs[2] != nil {
		data = bufs[2].Bytes()
	}
	return stringValues{offs: offs, data: data}
}

// at returns value i as a byte slice aliasing the array.
func (s stringValues) at(i int) []byte {
	return s.data[s.offs[i]:s.offs[i+1]]
}

func isNullType(dt arrow.DataType) bool { return dt.ID() == arrow.NULL }

// LiteralValue returns the constant of e and true when e is a literal.
func LiteralValue(e Expr) (scalar.Scalar, bool) {
	l, ok := e.(*litExpr)
	if !ok {
		return nil, false
	}
	return l.s, true
}
