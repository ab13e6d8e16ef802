package main

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestResultTablePrint(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "price", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}, Nullable: true},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond}, Nullable: true},
		{Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	b.Field(0).(*array.Int64Builder).AppendValues([]int64{1, 1234567}, nil)
	b.Field(1).(*array.StringBuilder).AppendValues([]string{"日本語", "two\nlines"}, nil)
	b.Field(2).(*array.Decimal128Builder).AppendValues([]decimal128.Num{decimal128.FromI64(-150), {}}, []bool{true, false})
	b.Field(3).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{1714564800000000, 1704164645123456}, nil)
	b.Field(4).(*array.Date32Builder).AppendValues([]arrow.Date32{19724, 0}, []bool{true, false})
	b.Field(5).(*array.BooleanBuilder).AppendValues([]bool{true, false}, nil)
	rec := b.NewRecordBatch()
	defer rec.Release()

	tbl := newResultTable(schema)
	tbl.add(rec)
	var out strings.Builder
	if err := tbl.print(&out); err != nil {
		t.Fatal(err)
	}
	want := `   id    |    name    | price |             ts             |     d      |  ok
---------+------------+-------+----------------------------+------------+-------
       1 | 日本語     | -1.50 | 2024-05-01 12:00:00        | 2024-01-02 | true
 1234567 | two\nlines |  NULL | 2024-01-02 03:04:05.123456 | NULL       | false
(2 rows)
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

func TestResultTableEmptyAndSingle(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "count(*)", Type: arrow.PrimitiveTypes.Int64}}, nil)
	tbl := newResultTable(schema)
	var out strings.Builder
	_ = tbl.print(&out)
	if want := " count(*)\n----------\n(0 rows)\n"; out.String() != want {
		t.Errorf("empty: got %q, want %q", out.String(), want)
	}
	tbl.rows = [][]string{{"42"}}
	out.Reset()
	_ = tbl.print(&out)
	if want := " count(*)\n----------\n       42\n(1 row)\n"; out.String() != want {
		t.Errorf("single: got %q, want %q", out.String(), want)
	}
}
