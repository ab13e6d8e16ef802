package mantisdb_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb"
)

// lineitemRecord builds lineitem rows [first, first+n) (4 lines per order)
// with the Arrow types of the TPC-H columns.
func lineitemRecord(first, n int) arrow.RecordBatch {
	dec := &arrow.Decimal128Type{Precision: 15, Scale: 2}
	f := func(name string, t arrow.DataType) arrow.Field { return arrow.Field{Name: name, Type: t} }
	sch := arrow.NewSchema([]arrow.Field{
		f("l_orderkey", arrow.PrimitiveTypes.Int64), f("l_partkey", arrow.PrimitiveTypes.Int64),
		f("l_suppkey", arrow.PrimitiveTypes.Int64), f("l_linenumber", arrow.PrimitiveTypes.Int32),
		f("l_quantity", dec), f("l_extendedprice", dec), f("l_discount", dec), f("l_tax", dec),
		f("l_returnflag", arrow.BinaryTypes.String), f("l_linestatus", arrow.BinaryTypes.String),
		f("l_shipdate", arrow.FixedWidthTypes.Date32), f("l_commitdate", arrow.FixedWidthTypes.Date32),
		f("l_receiptdate", arrow.FixedWidthTypes.Date32), f("l_shipinstruct", arrow.BinaryTypes.String),
		f("l_shipmode", arrow.BinaryTypes.String), f("l_comment", arrow.BinaryTypes.String),
	}, nil)
	words := []string{"furiously", "final", "deposits", "sleep", "quickly", "regular", "packages", "ironic"}
	b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
	defer b.Release()
	for i := first; i < first+n; i++ {
		h := uint64(i) * 0x9E3779B97F4A7C15
		b.Field(0).(*array.Int64Builder).Append(int64(i / 4))
		b.Field(1).(*array.Int64Builder).Append(int64(h % 200000))
		b.Field(2).(*array.Int64Builder).Append(int64(h % 10000))
		b.Field(3).(*array.Int32Builder).Append(int32(i%4 + 1))
		for c, m := range []uint64{50, 10000000, 11, 9} {
			b.Field(4 + c).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(h%m + 1)))
		}
		b.Field(8).(*array.StringBuilder).Append([]string{"A", "N", "R"}[h%3])
		b.Field(9).(*array.StringBuilder).Append([]string{"F", "O"}[h%2])
		for c := 10; c < 13; c++ {
			b.Field(c).(*array.Date32Builder).Append(arrow.Date32(8000 + h%2500 + uint64(c)))
		}
		b.Field(13).(*array.StringBuilder).Append("DELIVER IN PERSON")
		b.Field(14).(*array.StringBuilder).Append([]string{"AIR", "MAIL", "RAIL", "SHIP"}[h%4])
		b.Field(15).(*array.StringBuilder).Append(words[h%8] + " " + words[(h>>8)%8] + " " + words[(h>>16)%8])
	}
	return b.NewRecordBatch()
}

// BenchmarkDBIngest measures durable DB.Ingest of lineitem batches, one
// Ingest (one synced commit) per batch, the compactor off: batches of 8192
// rows through row entries (the old path) and batch entries, and batches
// of 100000 rows (the bench harness's ingest workload) through batch
// entries. MB/s counts Arrow data; MB/cpu-s is Arrow data per second of
// process CPU time (user + system), the figure to compare on a busy
// machine.
//
//	go test -run '^$' -bench DBIngest -benchtime 20x .
func BenchmarkDBIngest(b *testing.B) {
	for _, bc := range []struct {
		name    string
		rows    int
		minRows int
	}{{"rows", 8192, 1 << 30}, {"batch", 8192, 0}, {"batch100k", 100_000, 0}} {
		b.Run(bc.name, func(b *testing.B) { benchDBIngest(b, bc.rows, bc.minRows) })
	}
}

func benchDBIngest(b *testing.B, batch, minRows int) {
	ctx := context.Background()
	db, err := mantisdb.Open(b.TempDir(), &mantisdb.Options{CompactInterval: -1, BulkMinRows: minRows,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(ctx, `create table lineitem (l_orderkey bigint, l_partkey bigint, l_suppkey bigint,
		l_linenumber int, l_quantity decimal(15,2), l_extendedprice decimal(15,2), l_discount decimal(15,2),
		l_tax decimal(15,2), l_returnflag varchar(1), l_linestatus varchar(1), l_shipdate date,
		l_commitdate date, l_receiptdate date, l_shipinstruct varchar(25), l_shipmode varchar(10),
		l_comment varchar(44), primary key (l_orderkey, l_linenumber))`); err != nil {
		b.Fatal(err)
	}
	recs := make([]arrow.RecordBatch, b.N)
	var bytes int64
	for i := range recs {
		recs[i] = lineitemRecord(i*batch, batch)
		for _, c := range recs[i].Columns() {
			for _, buf := range c.Data().Buffers() {
				if buf != nil {
					bytes += int64(buf.Len())
				}
			}
		}
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rdr, err := array.NewRecordReader(recs[i].Schema(), recs[i:i+1])
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.Ingest(ctx, "lineitem", rdr); err != nil {
			b.Fatal(err)
		}
		rdr.Release()
	}
	b.StopTimer()
	cpu := (cpuTime() - cpu0).Seconds()
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(bytes)/sec/1e6, "MB/s")
	b.ReportMetric(float64(b.N*batch)/sec, "rows/s")
	b.ReportMetric(float64(bytes)/cpu/1e6, "MB/cpu-s")
	b.ReportMetric(cpu*1e3/float64(b.N), "cpu-ms/op")
}
