package planner

import (
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

func str(s string) scalar.Scalar { return scalar.NewStringScalar(s) }
func i64(v int64) scalar.Scalar  { return scalar.NewInt64Scalar(v) }
func null() scalar.Scalar        { return scalar.MakeNullScalar(arrow.Null) }

func TestParams(t *testing.T) {
	s := setup(t)
	dec := scalar.NewDecimal128Scalar(decimal128.FromI64(150), &arrow.Decimal128Type{Precision: 10, Scale: 2})
	day := scalar.NewDate32Scalar(arrow.Date32FromTime(time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)))
	ts := scalar.NewTimestampScalar(arrow.Timestamp(time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC).UnixMicro()), &arrow.TimestampType{Unit: arrow.Microsecond})
	for _, tc := range []struct {
		q      string
		types  string // parameter types
		params []scalar.Scalar
		want   string
	}{
		{"SELECT id FROM items WHERE id = ?", "BIGINT", []scalar.Scalar{i64(3)}, "3"},
		{"SELECT id FROM items WHERE id = $1 OR qty = $1", "BIGINT", []scalar.Scalar{i64(5)}, "4|5"},
		{"SELECT id FROM items WHERE id = ?", "BIGINT", []scalar.Scalar{str("2")}, "2"},
		{"SELECT id FROM items WHERE id = ?", "BIGINT", []scalar.Scalar{null()}, ""},
		{"SELECT id FROM items WHERE qty = ?", "BIGINT", []scalar.Scalar{i64(1 << 40)}, ""},
		{"SELECT id FROM items WHERE cat = ?", "BIGINT", []scalar.Scalar{scalar.NewInt16Scalar(2)}, "3|4"},
		{"SELECT id FROM items WHERE name = ?", "VARCHAR", []scalar.Scalar{str("banana")}, "2"},
		{"SELECT id FROM items WHERE name = ?", "VARCHAR", []scalar.Scalar{str("a string much longer than twenty")}, ""},
		{"SELECT id FROM items WHERE name LIKE ?", "", nil, ""}, // pattern must be constant: checked below
		{"SELECT id FROM items WHERE price = ?", "DECIMAL(38,10)", []scalar.Scalar{dec}, "1"},
		{"SELECT id FROM items WHERE price > ?", "DECIMAL(38,10)", []scalar.Scalar{str("3.3")}, "3|4"},
		{"SELECT id FROM items WHERE score = ?", "DOUBLE", []scalar.Scalar{scalar.NewFloat64Scalar(2.5)}, "1"},
		{"SELECT id FROM items WHERE w = ?", "REAL", []scalar.Scalar{scalar.NewFloat32Scalar(0.25)}, "2"},
		{"SELECT id FROM items WHERE ok = ?", "BOOLEAN", []scalar.Scalar{scalar.NewBooleanScalar(false)}, "2|5"},
		{"SELECT id FROM items WHERE ?", "BOOLEAN", []scalar.Scalar{scalar.NewBooleanScalar(false)}, ""},
		{"SELECT id FROM items WHERE d = ?", "DATE", []scalar.Scalar{day}, "2"},
		{"SELECT id FROM items WHERE d < ?", "DATE", []scalar.Scalar{str("2024-01-01")}, "4"},
		{"SELECT id FROM items WHERE ts = ?", "TIMESTAMP", []scalar.Scalar{ts}, "1"},
		{"SELECT id FROM items WHERE id IN (?, ?, 5)", "BIGINT BIGINT", []scalar.Scalar{i64(1), null()}, "1|5"},
		{"SELECT id FROM items WHERE id BETWEEN ? AND ?", "BIGINT BIGINT", []scalar.Scalar{i64(2), i64(3)}, "2|3"},
		{"SELECT id, qty + ? FROM items WHERE id = 1", "BIGINT", []scalar.Scalar{i64(5)}, "1,15"},
		{"SELECT ?, ? + 1", "VARCHAR BIGINT", []scalar.Scalar{str("x"), i64(1)}, "x,2"},
		{"SELECT ? = ?", "VARCHAR VARCHAR", []scalar.Scalar{str("a"), str("a")}, "true"},
		{"SELECT coalesce(qty, ?) FROM items WHERE id = 3", "INT", []scalar.Scalar{i64(-1)}, "-1"},
		{"SELECT CASE WHEN id = 1 THEN ? ELSE name END FROM items WHERE id < 3 ORDER BY id", "VARCHAR(20)", []scalar.Scalar{str("one")}, "one|banana"},
		{"SELECT count(*) FROM items WHERE qty > ? GROUP BY cat HAVING count(*) > ? ORDER BY 1", "BIGINT BIGINT", []scalar.Scalar{i64(0), i64(0)}, "1|1|2"},
		{"SELECT id FROM items WHERE id = (SELECT max(id) FROM items WHERE qty < ?)", "BIGINT", []scalar.Scalar{i64(8)}, "5"},
	} {
		t.Run(tc.q, func(t *testing.T) {
			p, err := Prepare(tc.q, s.cat)
			if tc.types == "" {
				if sqlstate.CodeOf(err) != sqlstate.FeatureNotSupported {
					t.Fatalf("got %v, want 0A000", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for i, pi := range p.Params() {
				types = append(types, pi.Type.String())
				if f := p.ParamSchema().Field(i); !arrow.TypeEqual(f.Type, pi.Type.ArrowType()) || f.Name != pi.Name {
					t.Errorf("param schema field %d is %s %s", i, f.Name, f.Type)
				}
			}
			if got := strings.Join(types, " "); got != tc.types {
				t.Errorf("parameter types %q, want %q", got, tc.types)
			}
			if _, err := p.Build(s); sqlstate.CodeOf(err) != sqlstate.ParamCountMismatch {
				t.Errorf("Build without values: %v, want 07001", err)
			}
			rows, _, err := s.runWith(tc.q, tc.params)
			if err != nil {
				t.Fatal(err)
			}
			if got := format(rows); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestParamErrors(t *testing.T) {
	s := setup(t)
	for _, tc := range []struct {
		q      string
		params []scalar.Scalar
		code   sqlstate.Code
	}{
		{"SELECT id FROM items WHERE id = ?", []scalar.Scalar{}, sqlstate.ParamCountMismatch},
		{"SELECT id FROM items WHERE id = ?", []scalar.Scalar{i64(1), i64(2)}, sqlstate.ParamCountMismatch},
		{"SELECT id FROM items WHERE id = ?", []scalar.Scalar{str("x")}, sqlstate.InvalidText},
		{"SELECT id FROM items WHERE d = ?", []scalar.Scalar{str("2024-13-01")}, sqlstate.InvalidDatetime},
		{"SELECT id FROM items WHERE ok = ?", []scalar.Scalar{day0()}, sqlstate.DatatypeMismatch},
		{"INSERT INTO items (id, name) VALUES (?, ?)", []scalar.Scalar{i64(9), str("much too long for twenty chars")}, sqlstate.StringDataTooLong},
		{"INSERT INTO items (id, name) VALUES (?, ?)", []scalar.Scalar{i64(9), null()}, sqlstate.NotNullViolation},
		{"INSERT INTO items (id, name) VALUES (?, ?)", []scalar.Scalar{scalar.MakeNullScalar(arrow.PrimitiveTypes.Int64), str("x")}, sqlstate.NotNullViolation},
		{"INSERT INTO items (id, name, cat) VALUES (?, ?, ?)", []scalar.Scalar{i64(9), str("x"), i64(1 << 20)}, sqlstate.NumericOutOfRange},
	} {
		if _, _, err := s.runWith(tc.q, tc.params); sqlstate.CodeOf(err) != tc.code {
			t.Errorf("%s %v: got %v, want %s", tc.q, tc.params, err, tc.code)
		}
	}
}

func day0() scalar.Scalar { return scalar.NewDate32Scalar(0) }

func TestParamInsert(t *testing.T) {
	s := setup(t)
	q := "INSERT INTO items (id, name, qty, price, w, score, cat, ok, d, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	p, err := Prepare(q, s.cat)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, pi := range p.Params() {
		types = append(types, pi.Type.String())
	}
	if got, want := strings.Join(types, ","), "BIGINT,VARCHAR(20),INT,DECIMAL(10,2),REAL,DOUBLE,SMALLINT,BOOLEAN,DATE,TIMESTAMP"; got != want {
		t.Fatalf("parameter types %s, want %s", got, want)
	}
	if _, _, err := s.runWith(q, []scalar.Scalar{i64(10), str("fig"), i64(3), str("2.5"), scalar.NewFloat64Scalar(1.5),
		str("7"), i64(3), scalar.NewBooleanScalar(true), str("2024-05-05"), str("2024-05-05 01:02:03")}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.runWith(q, []scalar.Scalar{i64(11), str("nulls"), null(), null(), null(), null(), null(), null(), null(), null()}); err != nil {
		t.Fatal(err)
	}
	got := format(s.mustRun("SELECT * FROM items WHERE id >= 10 ORDER BY id"))
	want := "10,fig,3,2.5,1.5,7,3,true,2024-05-05,2024-05-05T01:02:03|11,nulls,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestParamsFromRecord(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := array.NewRecordBuilder(mem, arrow.NewSchema([]arrow.Field{
		{Name: "a", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "b", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "c", Type: arrow.BinaryTypes.LargeString, Nullable: true},
		{Name: "d", Type: arrow.BinaryTypes.StringView, Nullable: true}}, nil))
	defer b.Release()
	b.Field(0).(*array.Int64Builder).AppendValues([]int64{1, 2}, []bool{true, false})
	b.Field(1).(*array.StringBuilder).AppendValues([]string{"x", "y"}, nil)
	b.Field(2).(*array.LargeStringBuilder).AppendValues([]string{"large", "l2"}, []bool{true, false})
	b.Field(3).(*array.StringViewBuilder).AppendValues([]string{"view", "a view longer than twelve bytes"}, nil)
	rec := b.NewRecordBatch()
	ps, err := ParamsFromRecord(rec, 1)
	ps0, err0 := ParamsFromRecord(rec, 0)
	rec.Release()
	if err != nil || err0 != nil {
		t.Fatal(err, err0)
	}
	if ps[0].IsValid() || ps[1].(*scalar.String).String() != "y" || ps[2].IsValid() ||
		ps[3].(*scalar.String).String() != "a view longer than twelve bytes" {
		t.Errorf("got %v", ps)
	}
	if ps0[2].(*scalar.String).String() != "large" || ps0[3].(*scalar.String).String() != "view" {
		t.Errorf("got %v", ps0)
	}
	if !arrow.TypeEqual(ps[2].DataType(), arrow.BinaryTypes.String) {
		t.Errorf("NULL large string parameter has type %s, want utf8", ps[2].DataType())
	}
	if _, err := ParamsFromRecord(rec, 2); err == nil {
		t.Error("row out of range: no error")
	}
	_ = catalog.Bigint
}
