package arrowexec

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// TestCaseBranchErrorsOnlyForItsRows checks that a CASE branch or WHEN
// that fails for some rows fails the CASE only when one of those rows
// reaches it.
func TestCaseBranchErrorsOnlyForItsRows(t *testing.T) {
	ctx, mem := testCtx(t)
	schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil)
	rec := recFromJSON(t, mem, schema, `[{"x": 5}, {"x": 0}, {"x": null}, {"x": -2}]`)
	defer rec.Release()
	x := Column(0, arrow.PrimitiveTypes.Int64)
	lit := func(v int64) Expr { return Literal(scalar.NewInt64Scalar(v)) }
	must := func(e Expr, err error) Expr {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	div := must(Arith(OpDiv, lit(10), x))
	isZero := must(Compare(OpEq, x, lit(0)))
	isFive := must(Compare(OpEq, x, lit(5)))
	gtOne := must(Compare(OpGt, div, lit(1)))
	for _, tc := range []struct {
		name  string
		e     Expr
		want  string
		wantE sqlstate.Code
	}{
		{"else guarded", must(Case([]Expr{isZero}, []Expr{lit(0)}, div)), "2,0,NULL,-5", ""},
		{"then guarded", must(Case([]Expr{must(Compare(OpNe, x, lit(0)))}, []Expr{div}, lit(-1))), "2,-1,-1,-5", ""},
		{"when guarded", must(Case([]Expr{isZero, gtOne}, []Expr{lit(0), lit(1)}, lit(2))), "1,0,2,2", ""},
		{"reached", must(Case([]Expr{isFive}, []Expr{lit(0)}, div)), "", sqlstate.DivisionByZero},
	} {
		got, err := evalOn(t, ctx, tc.e, rec)
		if tc.wantE != "" {
			if sqlstate.CodeOf(err) != tc.wantE {
				t.Errorf("%s: error %v, want %s", tc.name, err, tc.wantE)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}
