package rest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// parquetTestBatch returns n rows (the i-th with key first+i) of every
// type whose Parquet mapping the answer encoder chooses: decimals stored
// as INT32, INT64 and FIXED_LEN_BYTE_ARRAY, strings with NULLs and
// unicode, dates and timestamps.
func parquetTestBatch(mem memory.Allocator, first, n int) arrow.RecordBatch {
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "d5", Type: &arrow.Decimal128Type{Precision: 5, Scale: 1}, Nullable: true},
		{Name: "d15", Type: &arrow.Decimal128Type{Precision: 15, Scale: 2}},
		{Name: "d38", Type: &arrow.Decimal128Type{Precision: 38, Scale: 4}, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Microsecond}, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(mem, sch)
	defer b.Release()
	big := decimal128.New(1<<36, 0) // 2^100: beyond INT64
	for i := first; i < first+n; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		if i%7 == 3 {
			b.Field(1).AppendNull()
			b.Field(3).AppendNull()
			b.Field(4).AppendNull()
			b.Field(5).AppendNull()
			b.Field(6).AppendNull()
		} else {
			b.Field(1).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(i%19999 - 9999)))
			b.Field(3).(*array.Decimal128Builder).Append(big.Add(decimal128.FromI64(int64(i))).Negate())
			b.Field(4).(*array.StringBuilder).Append(fmt.Sprintf("日本語 %d 🦐 \"q\", x", i))
			b.Field(5).(*array.Date32Builder).Append(arrow.Date32(i%40000 - 20000))
			b.Field(6).(*array.TimestampBuilder).Append(arrow.Timestamp(int64(i) * 1_000_003))
		}
		b.Field(2).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(i) * 999_999_937))
	}
	return b.NewRecordBatch()
}

// TestParquetAnswer writes batches through the Parquet answer encoder and
// reads the file back with arrow-go's reader: the same values and types,
// row groups of at most parquetRowGroupRows, Snappy pages, decimals as
// integers where they fit, statistics for all but strings.
func TestParquetAnswer(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	const batchRows, batches = 10_000, 15 // 150K rows: three row groups
	var buf bytes.Buffer
	enc := &parquetEncoder{}
	var want []arrow.RecordBatch
	for i := range batches {
		rec := parquetTestBatch(mem, i*batchRows, batchRows)
		defer rec.Release()
		want = append(want, rec)
		if i == 0 {
			if err := enc.begin(&buf, rec.Schema(), &Handler{alloc: mem}); err != nil {
				t.Fatal(err)
			}
		}
		if err := enc.batch(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.end(); err != nil {
		t.Fatal(err)
	}

	pf, err := file.NewParquetReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	if got := pf.NumRows(); got != batchRows*batches {
		t.Fatalf("rows: got %d, want %d", got, batchRows*batches)
	}
	if got, want := pf.NumRowGroups(), (batchRows*batches+parquetRowGroupRows-1)/parquetRowGroupRows; got != want {
		t.Errorf("row groups: got %d, want %d", got, want)
	}
	wantPhys := map[string]parquet.Type{
		"d5": parquet.Types.Int32, "d15": parquet.Types.Int64, "d38": parquet.Types.FixedLenByteArray,
		"s": parquet.Types.ByteArray,
	}
	sc := pf.MetaData().Schema
	for c := 0; c < sc.NumColumns(); c++ {
		col := sc.Column(c)
		if want, ok := wantPhys[col.Name()]; ok && col.PhysicalType() != want {
			t.Errorf("%s: physical type %s, want %s", col.Name(), col.PhysicalType(), want)
		}
	}
	for g := 0; g < pf.NumRowGroups(); g++ {
		rg := pf.MetaData().RowGroup(g)
		if rg.NumRows() > parquetRowGroupRows {
			t.Errorf("row group %d: %d rows", g, rg.NumRows())
		}
		for c := 0; c < rg.NumColumns(); c++ {
			cc, err := rg.ColumnChunk(c)
			if err != nil {
				t.Fatal(err)
			}
			name := sc.Column(c).Name()
			if cc.Compression() != compress.Codecs.Snappy {
				t.Errorf("row group %d, %s: %s pages", g, name, cc.Compression())
			}
			set, err := cc.StatsSet()
			if err != nil {
				t.Fatal(err)
			}
			if wantStats := name != "s"; set != wantStats {
				t.Errorf("row group %d, %s: statistics %v, want %v", g, name, set, wantStats)
			}
		}
	}

	rdr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: batchRows}, mem)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := rdr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	for i, f := range want[0].Schema().Fields() {
		// The reader adds field ids as metadata; names, types and
		// nullability must be the answer's.
		if got := tbl.Schema().Field(i); got.Name != f.Name || !arrow.TypeEqual(got.Type, f.Type) || got.Nullable != f.Nullable {
			t.Fatalf("field %d: got %s, want %s", i, got, f)
		}
	}
	tr := array.NewTableReader(tbl, batchRows)
	defer tr.Release()
	for i := 0; tr.Next(); i++ {
		if got := tr.RecordBatch(); !array.RecordEqual(got, want[i]) {
			t.Fatalf("batch %d differs:\n got %v\nwant %v", i, got.NewSlice(0, 3), want[i].NewSlice(0, 3))
		}
	}
}

// TestParquetAnswerBadValue feeds a DECIMAL value beyond its precision (a
// broken batch): the encoder returns an error, not a panic, and
// endWithError says Parquet cannot carry it. (The writer's allocator is
// Go's: after a failed column write, arrow-go's row group Close returns
// before it closes the column writers, whose buffers are left to the GC.)
func TestParquetAnswerBadValue(t *testing.T) {
	mem := memory.DefaultAllocator
	good := parquetTestBatch(mem, 0, 1000)
	defer good.Release()
	b := array.NewRecordBuilder(mem, good.Schema())
	defer b.Release()
	for i, col := range good.Columns() {
		if i == 1 { // d5: DECIMAL(5,1) as INT32
			b.Field(1).(*array.Decimal128Builder).Append(decimal128.FromI64(10_000_000_000))
			continue
		}
		if err := b.Field(i).AppendValueFromString(col.ValueStr(0)); err != nil {
			t.Fatal(err)
		}
	}
	bad := b.NewRecordBatch()
	defer bad.Release()

	enc := &parquetEncoder{}
	if err := enc.begin(io.Discard, good.Schema(), &Handler{alloc: mem}); err != nil {
		t.Fatal(err)
	}
	if err := enc.batch(good); err != nil {
		t.Fatal(err)
	}
	if err := enc.batch(bad); err == nil {
		t.Fatal("a DECIMAL(5,1) of 1e9 was written")
	}
	if enc.endWithError(errorJSON{}) {
		t.Error("endWithError: Parquet has no place for an error")
	}
}
