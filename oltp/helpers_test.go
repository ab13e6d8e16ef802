package oltp

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/mantisdb/mantisdb/catalog"
)

// allTypesTable has one column of every storable type; only id is NOT NULL.
func allTypesTable(id uint64) *catalog.Table {
	t := &catalog.Table{
		ID:   id,
		Name: fmt.Sprintf("all%d", id),
		Columns: []catalog.Column{
			{Name: "id", Type: catalog.Bigint},
			{Name: "b", Type: catalog.Boolean},
			{Name: "s", Type: catalog.Smallint},
			{Name: "i", Type: catalog.Int},
			{Name: "r", Type: catalog.Real},
			{Name: "d", Type: catalog.Double},
			{Name: "n", Type: catalog.Decimal(12, 2)},
			{Name: "v", Type: catalog.Varchar},
			{Name: "dt", Type: catalog.Date},
			{Name: "ts", Type: catalog.Timestamp},
		},
		PrimaryKey: []int{0},
		Version:    1,
	}
	return finished(t)
}

// finished returns t as published by the catalog (NOT NULL primary keys).
func finished(t *catalog.Table) *catalog.Table {
	enc, err := t.Encode()
	if err != nil {
		panic(err)
	}
	out, err := catalog.Decode(enc)
	if err != nil {
		panic(err)
	}
	return out
}

// makeRecord builds a record of t's schema from rows of Go values; nil is
// NULL. Values: bool, int (any integer kind, date as days, timestamp as
// micros), float64, string (VARCHAR and DECIMAL as unscaled int64 via
// int64), decimal128.Num.
func makeRecord(t testing.TB, mem memory.Allocator, tbl *catalog.Table, rows ...[]any) arrow.RecordBatch {
	t.Helper()
	b := array.NewRecordBuilder(mem, tbl.Schema())
	defer b.Release()
	for _, row := range rows {
		if len(row) != len(tbl.Columns) {
			t.Fatalf("row %v has %d values, table has %d columns", row, len(row), len(tbl.Columns))
		}
		for i, v := range row {
			appendValue(t, b.Field(i), v)
		}
	}
	return b.NewRecordBatch()
}

func appendValue(t testing.TB, fb array.Builder, v any) {
	if v == nil {
		fb.AppendNull()
		return
	}
	switch fb := fb.(type) {
	case *array.BooleanBuilder:
		fb.Append(v.(bool))
	case *array.Int16Builder:
		fb.Append(int16(v.(int)))
	case *array.Int32Builder:
		fb.Append(int32(v.(int)))
	case *array.Int64Builder:
		fb.Append(int64(v.(int)))
	case *array.Float32Builder:
		fb.Append(float32(v.(float64)))
	case *array.Float64Builder:
		fb.Append(v.(float64))
	case *array.Decimal128Builder:
		switch v := v.(type) {
		case int:
			fb.Append(decimal128.FromI64(int64(v)))
		case decimal128.Num:
			fb.Append(v)
		}
	case *array.StringBuilder:
		fb.Append(v.(string))
	case *array.Date32Builder:
		fb.Append(arrow.Date32(v.(int)))
	case *array.TimestampBuilder:
		fb.Append(arrow.Timestamp(v.(int)))
	default:
		t.Fatalf("unexpected builder %T", fb)
	}
}

// openMem opens a store on a fresh in-memory file system.
func openMem(t testing.TB, opts *Options) (*Store, vfs.FS) {
	t.Helper()
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.FS == nil {
		o.FS = vfs.NewMem()
	}
	s, err := Open("db", &o)
	if err != nil {
		t.Fatal(err)
	}
	return s, o.FS
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// scanAll scans every column of t and returns the rows as strings, one per
// row (Arrow's value rendering joined by '|').
func scanAll(t testing.TB, r interface {
	Scan(*catalog.Table, []int, bool) (*Scanner, error)
}, tbl *catalog.Table, cols []int) []string {
	t.Helper()
	sc, err := r.Scan(tbl, cols, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	var out []string
	for sc.Next() {
		rec := sc.Record()
		for i := 0; i < int(rec.NumRows()); i++ {
			s := ""
			for j := 0; j < int(rec.NumCols()); j++ {
				if j > 0 {
					s += "|"
				}
				s += rec.Column(j).ValueStr(i)
			}
			out = append(out, s)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func checkedAlloc(t testing.TB) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}
