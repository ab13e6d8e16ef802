package arrowexec

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

func testCtx(t testing.TB) (context.Context, *memory.CheckedAllocator) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	if tt, ok := t.(*testing.T); ok {
		tt.Cleanup(func() { mem.AssertSize(tt, 0) })
	}
	return exec.WithAllocator(context.Background(), mem), mem
}

// recFromJSON builds a one-batch record of the given columns from JSON rows.
func recFromJSON(t testing.TB, mem memory.Allocator, schema *arrow.Schema, rows string) arrow.RecordBatch {
	rec, _, err := array.RecordFromJSON(mem, schema, strings.NewReader(rows))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// render returns "v1|v2;..." for all rows of a column.
func render(a arrow.Array) string {
	var sb strings.Builder
	for i := 0; i < a.Len(); i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		if a.IsNull(i) {
			sb.WriteString("NULL")
			continue
		}
		sb.Write(appendValueText(nil, a, i))
	}
	return sb.String()
}

func evalOn(t *testing.T, ctx context.Context, e Expr, rec arrow.RecordBatch) (string, error) {
	a, err := e.Eval(ctx, rec)
	if err != nil {
		return "", err
	}
	defer a.Release()
	if a.Len() != int(rec.NumRows()) {
		t.Fatalf("%s: %d rows, want %d", e, a.Len(), rec.NumRows())
	}
	return render(a), nil
}

var i64 = arrow.PrimitiveTypes.Int64

func lit(v any) Expr {
	switch v := v.(type) {
	case nil:
		return Literal(scalar.MakeNullScalar(i64))
	case scalar.Scalar:
		return Literal(v)
	}
	return Literal(scalar.MakeScalar(v))
}

func TestExprKernels(t *testing.T) {
	ctx, mem := testCtx(t)
	dec := &arrow.Decimal128Type{Precision: 10, Scale: 2}
	dec1 := &arrow.Decimal128Type{Precision: 8, Scale: 1}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "a", Type: i64, Nullable: true},
		{Name: "b", Type: i64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "d", Type: dec, Nullable: true},
		{Name: "e", Type: dec1, Nullable: true},
		{Name: "i", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "p", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "q", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	}, nil)
	rec := recFromJSON(t, mem, schema, `[
		{"a": 7, "b": 2, "s": "Hello", "d": "1.25", "e": "1.3", "i": 2147483647, "f": 1.5, "p": true, "q": null},
		{"a": -7, "b": 0, "s": "world", "d": "-2.50", "e": "-2.5", "i": 1, "f": 0, "p": false, "q": null},
		{"a": null, "b": 3, "s": null, "d": null, "e": "0.0", "i": null, "f": null, "p": null, "q": null},
		{"a": 9223372036854775807, "b": 1, "s": "a_%c", "d": "99999999.99", "e": "9.9", "i": -5, "f": -2.5, "p": true, "q": true}
	]`)
	defer rec.Release()
	a, b := Column(0, i64), Column(1, i64)
	s := Column(2, arrow.BinaryTypes.String)
	d, e := Column(3, dec), Column(4, dec1)
	i32 := Column(5, arrow.PrimitiveTypes.Int32)
	f := Column(6, arrow.PrimitiveTypes.Float64)
	p, q := Column(7, arrow.FixedWidthTypes.Boolean), Column(8, arrow.FixedWidthTypes.Boolean)
	sub := func(l, r Expr) Expr { x, _ := Arith(OpSub, l, r); return x }
	must := func(x Expr, err error) Expr {
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	_ = sub
	tests := []struct {
		name string
		expr func() (Expr, error)
		want string
		code sqlstate.Code
	}{
		{"add overflow", func() (Expr, error) { return Arith(OpAdd, a, b) }, "", sqlstate.NumericOutOfRange},
		{"add filtered", func() (Expr, error) { return Arith(OpAdd, a, lit(int64(0))) }, "7,-7,NULL,9223372036854775807", ""},
		{"sub lit-vec", func() (Expr, error) { return Arith(OpSub, lit(int64(10)), b) }, "8,10,7,9", ""},
		{"mul", func() (Expr, error) { return Arith(OpMul, b, lit(int64(-3))) }, "-6,0,-9,-3", ""},
		{"mul overflow", func() (Expr, error) { return Arith(OpMul, a, lit(int64(2))) }, "", sqlstate.NumericOutOfRange},
		{"div by zero", func() (Expr, error) { return Arith(OpDiv, a, b) }, "", sqlstate.DivisionByZero},
		{"div truncates", func() (Expr, error) { return Arith(OpDiv, a, lit(int64(2))) }, "3,-3,NULL,4611686018427387903", ""},
		{"mod", func() (Expr, error) { return Arith(OpMod, a, lit(int64(4))) }, "3,-3,NULL,3", ""},
		{"int32 add overflow", func() (Expr, error) { return Arith(OpAdd, i32, Literal(scalar.NewInt32Scalar(1))) }, "", sqlstate.NumericOutOfRange},
		{"neg", func() (Expr, error) { return Negate(b) }, "-2,0,-3,-1", ""},
		{"null lit arith", func() (Expr, error) { return Arith(OpAdd, b, lit(nil)) }, "NULL,NULL,NULL,NULL", ""},
		{"float div zero", func() (Expr, error) { return Arith(OpDiv, f, f) }, "", sqlstate.DivisionByZero},
		{"dec add scales", func() (Expr, error) { return Arith(OpAdd, d, e) }, "2.55,-5.00,NULL,100000009.89", ""},
		{"dec mul", func() (Expr, error) { return Arith(OpMul, d, e) }, "1.625,6.250,NULL,989999999.901", ""},
		{"dec div", func() (Expr, error) { return Arith(OpDiv, d, e) }, "0.961538,1.000000,NULL,10101010.100000", ""},
		{"dec div zero", func() (Expr, error) {
			return Arith(OpDiv, d, Literal(scalar.NewDecimal128Scalar(decimal128.FromI64(0), dec1)))
		}, "", sqlstate.DivisionByZero},
		{"cmp lt", func() (Expr, error) { return Compare(OpLt, a, b) }, "false,true,NULL,false", ""},
		{"cmp lit flip", func() (Expr, error) { return Compare(OpGt, lit(int64(2)), b) }, "false,true,false,true", ""},
		{"cmp dec scales", func() (Expr, error) { return Compare(OpLt, d, e) }, "true,false,NULL,false", ""},
		{"cmp str", func() (Expr, error) {
			return Compare(OpGe, s, Literal(scalar.NewStringScalar("b")))
		}, "false,true,NULL,false", ""},
		{"and", func() (Expr, error) { return And(p, q), nil }, "NULL,false,NULL,true", ""},
		{"or", func() (Expr, error) { return Or(p, q), nil }, "true,NULL,NULL,true", ""},
		{"not", func() (Expr, error) { return Not(p), nil }, "false,true,NULL,false", ""},
		{"is null", func() (Expr, error) { return IsNull(a, false), nil }, "false,false,true,false", ""},
		{"is not null", func() (Expr, error) { return IsNull(s, true), nil }, "true,true,false,true", ""},
		{"in set", func() (Expr, error) { return In(b, []Expr{lit(int64(2)), lit(int64(3))}, false) }, "true,false,true,false", ""},
		{"in set null", func() (Expr, error) { return In(b, []Expr{lit(int64(2)), lit(nil)}, false) }, "true,NULL,NULL,NULL", ""},
		{"not in set null", func() (Expr, error) { return In(b, []Expr{lit(int64(2)), lit(nil)}, true) }, "false,NULL,NULL,NULL", ""},
		{"in exprs", func() (Expr, error) { return In(a, []Expr{b, lit(int64(7))}, false) }, "true,false,NULL,false", ""},
		{"in strings", func() (Expr, error) {
			return In(s, []Expr{Literal(scalar.NewStringScalar("world"))}, false)
		}, "false,true,NULL,false", ""},
		{"like prefix", func() (Expr, error) { return Like(s, "He%", false, false) }, "true,false,NULL,false", ""},
		{"ilike contains", func() (Expr, error) { return Like(s, "%L%", true, false) }, "true,true,NULL,false", ""},
		{"like general", func() (Expr, error) { return Like(s, "_o%d", false, false) }, "false,true,NULL,false", ""},
		{"like escape", func() (Expr, error) { return Like(s, `a\_\%c`, false, false) }, "false,false,NULL,true", ""},
		{"not like", func() (Expr, error) { return Like(s, "%o", false, true) }, "false,true,NULL,true", ""},
		{"cast int to str", func() (Expr, error) { return Cast(b, arrow.BinaryTypes.String) }, "2,0,3,1", ""},
		{"cast to int16 overflow", func() (Expr, error) { return Cast(a, arrow.PrimitiveTypes.Int16) }, "", sqlstate.NumericOutOfRange},
		{"cast float to int", func() (Expr, error) { return Cast(f, arrow.PrimitiveTypes.Int32) }, "2,0,NULL,-2", ""},
		{"cast dec to int", func() (Expr, error) { return Cast(d, arrow.PrimitiveTypes.Int64) }, "1,-3,NULL,100000000", ""},
		{"cast dec rescale", func() (Expr, error) { return Cast(d, dec1) }, "1.3,-2.5,NULL,", sqlstate.NumericOutOfRange},
		{"cast int to dec", func() (Expr, error) { return Cast(b, dec) }, "2.00,0.00,3.00,1.00", ""},
		{"cast str to int bad", func() (Expr, error) { return Cast(s, i64) }, "", sqlstate.InvalidText},
		{"cast str to date bad", func() (Expr, error) { return Cast(s, arrow.FixedWidthTypes.Date32) }, "", sqlstate.InvalidDatetime},
		{"cast bool to int", func() (Expr, error) { return Cast(p, arrow.PrimitiveTypes.Int32) }, "1,0,NULL,1", ""},
		{"cast mismatch", func() (Expr, error) { return Cast(p, arrow.FixedWidthTypes.Date32) }, "", sqlstate.DatatypeMismatch},
		{"compare mismatch", func() (Expr, error) { return Compare(OpEq, a, s) }, "", sqlstate.DatatypeMismatch},
	}
	_ = must
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x, err := tc.expr()
			var got string
			if err == nil {
				got, err = evalOn(t, ctx, x, rec)
			}
			if tc.code != "" {
				if c := sqlstate.CodeOf(err); c != tc.code {
					t.Fatalf("code = %s (%v), want %s", c, err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestCastFromString(t *testing.T) {
	ctx, mem := testCtx(t)
	schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	tests := []struct {
		in   string
		to   arrow.DataType
		want string
		code sqlstate.Code
	}{
		{`["1"," -42 ",null]`, arrow.PrimitiveTypes.Int16, "1,-42,NULL", ""},
		{`["40000"]`, arrow.PrimitiveTypes.Int16, "", sqlstate.NumericOutOfRange},
		{`["99999999999999999999"]`, i64, "", sqlstate.NumericOutOfRange},
		{`["1.5","-2e3"]`, arrow.PrimitiveTypes.Float64, "1.5,-2000", ""},
		{`["x1"]`, arrow.PrimitiveTypes.Float64, "", sqlstate.InvalidText},
		{`["12.345","-0.5"]`, &arrow.Decimal128Type{Precision: 5, Scale: 2}, "12.35,-0.50", ""},
		{`["1234.5"]`, &arrow.Decimal128Type{Precision: 5, Scale: 2}, "", sqlstate.NumericOutOfRange},
		{`["1.2.3"]`, &arrow.Decimal128Type{Precision: 5, Scale: 2}, "", sqlstate.InvalidText},
		{`["2024-01-02"]`, arrow.FixedWidthTypes.Date32, "2024-01-02", ""},
		{`["2024-13-02"]`, arrow.FixedWidthTypes.Date32, "", sqlstate.InvalidDatetime},
		{`["2024-01-02 03:04:05","2024-01-02 03:04:05.123456","2024-01-02"]`, &arrow.TimestampType{Unit: arrow.Microsecond},
			"2024-01-02 03:04:05,2024-01-02 03:04:05.123456,2024-01-02 00:00:00", ""},
		{`["yes","f"]`, arrow.FixedWidthTypes.Boolean, "true,false", ""},
		{`["maybe"]`, arrow.FixedWidthTypes.Boolean, "", sqlstate.InvalidText},
	}
	for _, tc := range tests {
		t.Run(tc.in+"->"+tc.to.String(), func(t *testing.T) {
			var rows []string
			for _, v := range strings.Split(strings.Trim(tc.in, "[]"), ",") {
				rows = append(rows, fmt.Sprintf(`{"s": %s}`, v))
			}
			rec := recFromJSON(t, mem, schema, "["+strings.Join(rows, ",")+"]")
			defer rec.Release()
			x, err := Cast(Column(0, arrow.BinaryTypes.String), tc.to)
			if err != nil {
				t.Fatal(err)
			}
			got, err := evalOn(t, ctx, x, rec)
			if tc.code != "" {
				if c := sqlstate.CodeOf(err); c != tc.code {
					t.Fatalf("code = %s (%v), want %s", c, err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
	_ = decimal128.Num{}
}
