// Package arrowexec runs physical plans: pull-based vectorized operators over
// arrow.RecordBatch batches and typed expression kernels.
//
// The package knows neither SQL text nor storage formats. Storage is read
// through Source; the planner builds operator trees with the constructors of
// this package and expressions whose operand types it has already resolved
// (the binder inserts Casts so that both sides of an arithmetic or comparison
// have the same Arrow type, except DECIMALs, which may differ in precision
// and scale).
//
// Memory comes from the allocator in the context (compute.WithAllocator,
// default memory.DefaultAllocator; exec.WithAllocator is the same key). Every record returned by Next and every
// array returned by Expr.Eval is owned by the receiver as documented on each
// method.
//
// Invariants:
//
//   - Next never returns an empty batch; blocking operators (sort, top-N,
//     hash aggregate) emit batches of at most 4096 rows.
//   - Expressions are compiled at construction: type checks and pattern
//     compilation happen once, Eval runs typed loops (generics over the
//     physical value types) with no per-row interface calls or allocations;
//     a literal operand is broadcast, never materialised.
//   - Errors caused by data (overflow, division by zero, bad text) are
//     *sqlstate.Error; a NULL slot never raises one, whatever garbage it holds.
//   - DECIMAL kernels try an int64 path first (values and results that fit
//     in 64 bits: +, -, *, comparisons, SUM/AVG) and fall back to the
//     128-bit path for the whole batch (or, for SUM, the row) where it does
//     not apply, so results and 22003 errors are those of the 128-bit path.
//   - Group keys that fit in 64 bits (short strings, booleans, small
//     integers) are packed into int64s (keyPacker) and grouped in the
//     integer table; a batch whose keys do not pack moves the groups to the
//     byte-key table with their ids.
//   - Arrays an aggregate evaluates (its keys and arguments) come from a
//     per-operator recycler and must not outlive the batch they were
//     evaluated for: no aggregate state keeps a reference to them.
//   - A hash aggregate whose input is a filter evaluates the filter's
//     condition itself: where most rows of a batch pass, its keys and
//     arguments are evaluated over the whole batch and folded in through
//     the selection of passing rows, without copying the batch; an
//     evaluation error there (which may come from a row that does not pass)
//     makes it consume a copy of the passing rows instead, so errors are
//     those of the passing rows only.
//   - An aggregate evaluates a subexpression that several of its keys and
//     arguments contain once per batch (sharedExpr, on its own copies of
//     the expressions), and a SUM or AVG whose argument an earlier SUM or
//     AVG has copies that one's sums when the input ends instead of
//     folding the rows in again.
//   - Context cancellation is checked between batches.
//   - Blocking operators account the bytes they hold against the query's
//     Budget (WithBudget) and fail with 53200 when it is exhausted; this is
//     the seam for spilling.
//   - A hash join's output shares the columns of a probe batch whose rows
//     each match once, in order, instead of copying them. Integer keys,
//     one or several packed into one int64 (joinPack), are indexed in an
//     intTable; other keys in the byte-key groupTable.
//   - A SharedBuild builds its table on a goroutine of its own, started
//     when the first of its joins opens, while the plan's other operators
//     run: a build side shares no state with the rest of the plan that is
//     not safe for concurrent use (Spools, key sets and runtime filters
//     are). The last Release stops a build still running and waits for it.
//   - A Spool runs its input once, on the goroutine of the first reader
//     that asks for a batch, and replays the same batches to every reader;
//     its batches are accounted like a blocking operator's.
//
// The kernels do not use arrow-go's compute package: importing it needs
// modules (golang.org/x/sync, brotli, thrift) that go.mod does not list.
// Only compute/exec is used, for the context's allocator.
package arrowexec

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
)

// Operator is one step of a physical plan. It pulls batches from its inputs.
type Operator interface {
	// Schema is the schema of every batch that Next returns. It is known
	// before Open.
	Schema() *arrow.Schema
	// Open prepares the operator and its inputs. It is called once.
	Open(ctx context.Context) error
	// Next returns the next batch, or nil at the end. The batch stays valid
	// until the next call of Next or Close; a caller that keeps it must
	// Retain it. Batches are never empty.
	Next() (arrow.RecordBatch, error)
	// Close releases resources. It is idempotent and safe without Open.
	Close() error
}

// Source is a storage scanner that yields batches (the scanner shape of
// VictoriaMetrics' block readers). The oltp row store and segments implement
// it without importing this package.
type Source interface {
	// Next advances to the next batch and reports whether there is one.
	Next() bool
	// Record returns the current batch, valid until the next call of Next
	// or Close. Its schema is the projected schema the Source was opened with.
	Record() arrow.RecordBatch
	// Err returns the error that ended iteration, if any.
	Err() error
	// Close releases the source. It is idempotent.
	Close() error
}

// OpenSource opens a Source; a scan operator calls it from Open.
type OpenSource func(ctx context.Context) (Source, error)

// Expr is a compiled scalar expression evaluated over whole batches.
type Expr interface {
	// DataType is the Arrow type of the result.
	DataType() arrow.DataType
	// Eval evaluates the expression over every row of batch and returns an
	// array of batch.NumRows() values that the caller must Release.
	Eval(ctx context.Context, batch arrow.RecordBatch) (arrow.Array, error)
	// String renders the expression for EXPLAIN and errors.
	String() string
}

// ArithOp is an arithmetic operator.
type ArithOp uint8

// Arithmetic operators. Integer overflow fails with 22003 and division by
// zero with 22012 (sqlstate).
const (
	OpAdd ArithOp = iota
	OpSub
	OpMul
	OpDiv
	OpMod
)

// CmpOp is a comparison operator; comparisons return BOOLEAN and NULL when
// either side is NULL.
type CmpOp uint8

// Comparison operators.
const (
	OpEq CmpOp = iota
	OpNe
	OpLt
	OpLe
	OpGt
	OpGe
)

// AggFunc is an aggregate function.
type AggFunc uint8

// Aggregate functions. Result types: COUNT and COUNT(*) are Int64; SUM of an
// integer is Int64 (overflow is 22003), of a float Float64, of DECIMAL(p,s)
// DECIMAL(38,s); MIN and MAX keep the argument type; AVG is Float64 for
// integers, floats and decimals. All but COUNT return NULL over no
// non-NULL input.
const (
	AggCountStar AggFunc = iota
	AggCount
	AggSum
	AggMin
	AggMax
	AggAvg
	// AggStringAgg concatenates the non-NULL strings of a group in input
	// order with Aggregate.Sep between them (NULL over no non-NULL input).
	AggStringAgg
)

// Aggregate is one aggregate of a hash aggregation.
type Aggregate struct {
	Func AggFunc
	// Arg is the argument; nil for COUNT(*).
	Arg Expr
	// Distinct aggregates distinct non-NULL values only.
	Distinct bool
	// Sep is the separator of AggStringAgg.
	Sep string
	// Name is the output field name.
	Name string
}

// SortKey is one key of a sort.
type SortKey struct {
	Expr Expr
	Desc bool
	// NullsFirst puts NULLs before other values. SQL's default is NULLS
	// LAST for ascending and NULLS FIRST for descending keys.
	NullsFirst bool
}
