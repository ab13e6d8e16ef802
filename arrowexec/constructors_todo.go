package arrowexec

// This file fixes the constructor signatures that the planner builds plans
// with. The arrowexec implementation replaces each body and then deletes
// this file; the signatures are the contract.

import (
	"errors"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

var errTodo = errors.New("arrowexec: not implemented yet")

// NewScan returns an operator that reads batches of schema from a Source
// opened at Open.
func NewScan(schema *arrow.Schema, open OpenSource) Operator { return nil }

// NewValues returns an operator that yields the given records (it takes
// ownership of them) of the given schema.
func NewValues(schema *arrow.Schema, recs []arrow.RecordBatch) Operator { return nil }

// NewFilter keeps the rows for which pred (BOOLEAN) is true.
func NewFilter(in Operator, pred Expr) Operator { return nil }

// NewProject evaluates exprs over each input batch; names name the output
// fields.
func NewProject(in Operator, exprs []Expr, names []string) Operator { return nil }

// NewHashAggregate groups by groups (output fields named groupNames) and
// computes aggs; output columns are the groups followed by the aggregates.
// Without groups it returns exactly one row, also over empty input.
func NewHashAggregate(in Operator, groups []Expr, groupNames []string, aggs []Aggregate) (Operator, error) {
	return nil, errTodo
}

// NewSort sorts the whole input by keys (stable).
func NewSort(in Operator, keys []SortKey) Operator { return nil }

// NewTopN returns the first offset+limit rows by keys, minus the first offset.
func NewTopN(in Operator, keys []SortKey, offset, limit int64) Operator { return nil }

// NewLimit skips offset rows and then returns at most limit rows; limit < 0
// means no limit.
func NewLimit(in Operator, offset, limit int64) Operator { return nil }

// Column refers to field idx of the input batch.
func Column(idx int, dt arrow.DataType) Expr { return nil }

// Literal is a constant; a NULL of a type is a scalar with IsValid false.
func Literal(v scalar.Scalar) Expr { return nil }

// Arith applies an arithmetic operator to operands of the same type (or two
// DECIMALs); the result type follows the operand type (for DECIMAL: SQL
// rules for precision and scale).
func Arith(op ArithOp, l, r Expr) (Expr, error) { return nil, errTodo }

// Negate returns -e.
func Negate(e Expr) (Expr, error) { return nil, errTodo }

// Compare compares operands of the same type (or two DECIMALs).
func Compare(op CmpOp, l, r Expr) (Expr, error) { return nil, errTodo }

// And, Or and Not are SQL's three-valued logical operators.
func And(l, r Expr) Expr { return nil }

// Or is SQL's three-valued OR.
func Or(l, r Expr) Expr { return nil }

// Not is SQL's three-valued NOT.
func Not(e Expr) Expr { return nil }

// IsNull is e IS NULL, or e IS NOT NULL when negate; never NULL itself.
func IsNull(e Expr, negate bool) Expr { return nil }

// In is e IN (list) with SQL NULL semantics: NULL when e is NULL, or when no
// element matches and an element is NULL. The list has e's type.
func In(e Expr, list []Expr, negate bool) (Expr, error) { return nil, errTodo }

// Like matches a VARCHAR against a constant LIKE pattern ('%', '_', '\'
// escape); caseInsensitive gives ILIKE.
func Like(e Expr, pattern string, caseInsensitive, negate bool) (Expr, error) { return nil, errTodo }

// Cast converts e to type to; values that do not fit fail with 22003 and
// unparseable text with 22P02/22007.
func Cast(e Expr, to arrow.DataType) (Expr, error) { return nil, errTodo }
