package mantisdb_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb"
)

var benchRows = flag.Int("bench.rows", 1<<20, "rows of the lineitem-shaped table of BenchmarkScanTiers")

// lineitemReader returns n lineitem-shaped rows (the columns TPC-H Q1 and
// Q6 read) in batches of 64K.
func lineitemReader(n int) array.RecordReader {
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "l_orderkey", Type: arrow.PrimitiveTypes.Int64},
		{Name: "l_quantity", Type: arrow.PrimitiveTypes.Float64},
		{Name: "l_extendedprice", Type: arrow.PrimitiveTypes.Float64},
		{Name: "l_discount", Type: arrow.PrimitiveTypes.Float64},
		{Name: "l_tax", Type: arrow.PrimitiveTypes.Float64},
		{Name: "l_returnflag", Type: arrow.BinaryTypes.String},
		{Name: "l_linestatus", Type: arrow.BinaryTypes.String},
		{Name: "l_shipdate", Type: arrow.FixedWidthTypes.Date32},
	}, nil)
	rng := rand.New(rand.NewPCG(1, 2))
	var recs []arrow.RecordBatch
	b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
	defer b.Release()
	flags, status := []string{"A", "N", "R"}, []string{"F", "O"}
	for i := 0; i < n; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.Float64Builder).Append(float64(1 + rng.IntN(50)))
		b.Field(2).(*array.Float64Builder).Append(900 + rng.Float64()*100000)
		b.Field(3).(*array.Float64Builder).Append(float64(rng.IntN(11)) / 100)
		b.Field(4).(*array.Float64Builder).Append(float64(rng.IntN(9)) / 100)
		b.Field(5).(*array.StringBuilder).Append(flags[rng.IntN(3)])
		b.Field(6).(*array.StringBuilder).Append(status[rng.IntN(2)])
		b.Field(7).(*array.Date32Builder).Append(arrow.Date32(8036 + rng.IntN(2526)))
		if (i+1)%(64<<10) == 0 || i == n-1 {
			recs = append(recs, b.NewRecordBatch())
		}
	}
	rdr, _ := array.NewRecordReader(sch, recs)
	for _, r := range recs {
		r.Release()
	}
	return rdr
}

const (
	q1 = `select l_returnflag, l_linestatus, sum(l_quantity), sum(l_extendedprice),
		sum(l_extendedprice * (1 - l_discount)), sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)),
		avg(l_quantity), avg(l_extendedprice), avg(l_discount), count(*)
		from lineitem where l_shipdate <= date '1998-09-02'
		group by l_returnflag, l_linestatus order by l_returnflag, l_linestatus`
	q6 = `select sum(l_extendedprice * l_discount) from lineitem
		where l_shipdate >= date '1994-01-01' and l_shipdate < date '1995-01-01'
		and l_discount between 0.05 and 0.07 and l_quantity < 24`
)

// BenchmarkScanTiers runs TPC-H Q1- and Q6-shaped queries over the same
// rows held in the row store and in segments; rows/s is the metric.
//
//	go test -run '^$' -bench ScanTiers -benchtime 3x .
func BenchmarkScanTiers(b *testing.B) {
	ctx := context.Background()
	db, err := mantisdb.Open(b.TempDir(), &mantisdb.Options{CompactInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(ctx, `create table lineitem (l_orderkey bigint primary key, l_quantity double,
		l_extendedprice double, l_discount double, l_tax double, l_returnflag varchar(1),
		l_linestatus varchar(1), l_shipdate date)`); err != nil {
		b.Fatal(err)
	}
	rdr := lineitemReader(*benchRows)
	if _, err := db.Ingest(ctx, "lineitem", rdr); err != nil {
		b.Fatal(err)
	}
	rdr.Release()
	run := func(b *testing.B, q string) {
		for i := 0; i < b.N; i++ {
			rows, err := db.Query(ctx, q)
			if err != nil {
				b.Fatal(err)
			}
			for rows.Next() {
			}
			if err := rows.Err(); err != nil {
				b.Fatal(err)
			}
			rows.Close()
		}
		b.ReportMetric(float64(*benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	}
	for _, tier := range []string{"rowstore", "segments"} {
		if tier == "segments" {
			b.StopTimer()
			res, err := db.Compact(ctx, "lineitem")
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("compaction: %d rows in %v (%.0f rows/s), %d bytes", res.Rows, res.Duration,
				float64(res.Rows)/res.Duration.Seconds(), res.Bytes)
			b.StartTimer()
		}
		for _, q := range []struct{ name, sql string }{{"Q1", q1}, {"Q6", q6}} {
			b.Run(fmt.Sprintf("%s/%s", tier, q.name), func(b *testing.B) { run(b, q.sql) })
		}
	}
}
