package planner

import (
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/sql"
)

// ParamInfo describes one statement parameter.
type ParamInfo struct {
	// Name is "$1", "$2", …
	Name string
	// Type is the type inferred by the binder (package sql, params.go);
	// values are converted to it.
	Type catalog.Type
	// Nullable is false for a parameter assigned to a NOT NULL column.
	Nullable bool
}

// Params returns the parameters of the statement in order ($1 first); nil
// when it has none. The slice must not be modified.
func (p *Prepared) Params() []ParamInfo {
	if len(p.params) == 0 {
		return nil
	}
	out := make([]ParamInfo, len(p.params))
	for i, t := range p.params {
		out[i] = ParamInfo{Name: fmt.Sprintf("$%d", i+1), Type: t.Type, Nullable: !t.NotNull}
	}
	return out
}

// ParamSchema returns the parameters as an Arrow schema (one nullable field
// per parameter, named $1, $2, …), the parameter schema of Flight SQL's
// prepared statements (nullable unless assigned to a NOT NULL column).
// It is empty for a statement without parameters.
func (p *Prepared) ParamSchema() *arrow.Schema {
	fields := make([]arrow.Field, len(p.params))
	for i, t := range p.params {
		fields[i] = arrow.Field{Name: fmt.Sprintf("$%d", i+1), Type: t.Type.ArrowType(), Nullable: !t.NotNull}
	}
	return arrow.NewSchema(fields, nil)
}

// BuildWith is Build for a statement with parameters: params[i] is the
// value of parameter $i+1. A value of another type than the parameter's
// is converted with the rules of an explicit CAST (strings are parsed); a
// NULL is an invalid scalar of any type (or of the Arrow null type).
// Giving a different number of values than Params() is an error 07001;
// a value that cannot be converted is 42804, 22P02, 22007, 22003 or 22001.
func (p *Prepared) BuildWith(src SourceProvider, params []scalar.Scalar) (arrowexec.Operator, error) {
	if len(params) != len(p.params) {
		return nil, sqlstate.Errorf(sqlstate.ParamCountMismatch, "statement has %d parameters, %d values given", len(p.params), len(params))
	}
	vals := make([]*sql.Literal, len(params))
	for i, v := range params {
		l, err := sql.BindParam(v, p.params[i])
		if err != nil {
			return nil, fmt.Errorf("parameter $%d: %w", i+1, err)
		}
		vals[i] = l
	}
	return p.build(&builder{src: src, params: vals, now: time.Now().UTC()})
}

// ParamsFromRecord returns the values of row of rec as parameter values
// (column i is parameter $i+1), the shape in which Flight SQL clients bind
// parameters. The scalars do not hold rec's buffers beyond the call.
func ParamsFromRecord(rec arrow.RecordBatch, row int) ([]scalar.Scalar, error) {
	if row < 0 || int64(row) >= rec.NumRows() {
		return nil, fmt.Errorf("planner: parameter row %d out of range of %d rows", row, rec.NumRows())
	}
	out := make([]scalar.Scalar, rec.NumCols())
	for i, c := range rec.Columns() {
		// Clients may send text as large or view strings (ADBC and Polars
		// do); parameters bind as VARCHAR either way.
		switch a := c.(type) {
		case *array.LargeString:
			out[i] = stringParam(a, a.Value, row)
			continue
		case *array.StringView:
			out[i] = stringParam(a, a.Value, row)
			continue
		}
		s, err := scalar.GetScalar(c, row)
		if err != nil {
			return nil, sqlstate.Wrap(err, sqlstate.DatatypeMismatch, "parameter $%d: %s", i+1, err.Error())
		}
		if r, ok := s.(scalar.Releasable); ok {
			// Copy variable-width values so that rec can be released.
			str, isStr := s.(*scalar.String)
			switch {
			case isStr && str.IsValid():
				s = scalar.NewStringScalar(string(str.Data()))
			case isStr:
				s = scalar.MakeNullScalar(arrow.BinaryTypes.String)
			default:
				r.Release()
				return nil, sqlstate.Errorf(sqlstate.DatatypeMismatch, "parameter $%d: values of Arrow type %s are not supported", i+1, c.DataType())
			}
			r.Release()
		}
		out[i] = s
	}
	return out, nil
}

// stringParam is row of a text array as a VARCHAR parameter, copied so that
// the array can be released.
func stringParam(a arrow.Array, value func(int) string, row int) scalar.Scalar {
	if a.IsNull(row) {
		return scalar.MakeNullScalar(arrow.BinaryTypes.String)
	}
	return scalar.NewStringScalar(strings.Clone(value(row)))
}
