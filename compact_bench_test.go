package mantisdb_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
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

// lineitemDDL is TPC-H's lineitem with its primary key (a longer l_comment).
const lineitemDDL = `create table lineitem (l_orderkey bigint not null, l_partkey bigint, l_suppkey bigint,
	l_linenumber int not null, l_quantity decimal(15,2), l_extendedprice decimal(15,2), l_discount decimal(15,2),
	l_tax decimal(15,2), l_returnflag varchar(1), l_linestatus varchar(1), l_shipdate date, l_commitdate date,
	l_receiptdate date, l_shipinstruct varchar(25), l_shipmode varchar(10), l_comment varchar(100),
	primary key (l_orderkey, l_linenumber))`

// lineitemBatches returns n rows of lineitemDDL in dbgen's value ranges,
// in key order, in batches of batch rows; the caller releases them.
func lineitemBatches(b *testing.B, db *mantisdb.DB, n, batch int) []arrow.RecordBatch {
	rows, err := db.Query(context.Background(), "select * from lineitem limit 0")
	if err != nil {
		b.Fatal(err)
	}
	sch := rows.Schema()
	rows.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	words := []string{"furiously", "carefully", "quickly", "blithely", "regular", "final", "ironic",
		"pending", "express", "special", "deposits", "requests", "accounts", "packages"}
	flags, status := []string{"A", "N", "R"}, []string{"F", "O"}
	instr := []string{"DELIVER IN PERSON", "COLLECT COD", "NONE", "TAKE BACK RETURN"}
	modes := []string{"REG AIR", "AIR", "RAIL", "SHIP", "TRUCK", "MAIL", "FOB"}
	bld := array.NewRecordBuilder(memory.DefaultAllocator, sch)
	defer bld.Release()
	var out []arrow.RecordBatch
	order, line, lines := int64(1), int32(1), int32(1+rng.IntN(7))
	var comment []byte
	for r := 0; r < n; r++ {
		bld.Field(0).(*array.Int64Builder).Append(order)
		bld.Field(1).(*array.Int64Builder).Append(int64(1 + rng.IntN(200000)))
		bld.Field(2).(*array.Int64Builder).Append(int64(1 + rng.IntN(10000)))
		bld.Field(3).(*array.Int32Builder).Append(line)
		qty := int64(1 + rng.IntN(50))
		bld.Field(4).(*array.Decimal128Builder).Append(decimal128.FromI64(qty * 100))
		bld.Field(5).(*array.Decimal128Builder).Append(decimal128.FromI64(qty * int64(90000+rng.IntN(1000000)) / 10))
		bld.Field(6).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(rng.IntN(11))))
		bld.Field(7).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(rng.IntN(9))))
		bld.Field(8).(*array.StringBuilder).Append(flags[rng.IntN(3)])
		bld.Field(9).(*array.StringBuilder).Append(status[rng.IntN(2)])
		ship := arrow.Date32(8035 + rng.IntN(2526))
		bld.Field(10).(*array.Date32Builder).Append(ship)
		bld.Field(11).(*array.Date32Builder).Append(ship + arrow.Date32(rng.IntN(60)) - 30)
		bld.Field(12).(*array.Date32Builder).Append(ship + arrow.Date32(1+rng.IntN(30)))
		bld.Field(13).(*array.StringBuilder).Append(instr[rng.IntN(4)])
		bld.Field(14).(*array.StringBuilder).Append(modes[rng.IntN(7)])
		comment = comment[:0]
		for w := 0; w < 3+rng.IntN(4); w++ {
			if w > 0 {
				comment = append(comment, ' ')
			}
			comment = append(comment, words[rng.IntN(len(words))]...)
		}
		bld.Field(15).(*array.StringBuilder).BinaryBuilder.Append(comment)
		if line++; line > lines {
			order += 1 + int64(rng.IntN(4))
			line, lines = 1, int32(1+rng.IntN(7))
		}
		if (r+1)%batch == 0 || r == n-1 {
			out = append(out, bld.NewRecordBatch())
		}
	}
	return out
}

// BenchmarkCompact measures a compaction of lineitem rows ingested in
// batches of 10K rows (batch entries, as bulk writers and the lag workload
// make them) into one segment: the fresh-tier scan, the segment writer and
// the swap. rows/cpu-s is the rate per core.
//
//	go test -run '^$' -bench Compact -benchtime 3x .
func BenchmarkCompact(b *testing.B) {
	ctx := context.Background()
	n := min(*benchRows, 1<<19)
	var cpu time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		db, err := mantisdb.Open(b.TempDir(), &mantisdb.Options{CompactInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.Exec(ctx, lineitemDDL); err != nil {
			b.Fatal(err)
		}
		recs := lineitemBatches(b, db, n, 10_000)
		for _, rec := range recs {
			rdr, _ := array.NewRecordReader(rec.Schema(), []arrow.RecordBatch{rec})
			if _, err := db.Ingest(ctx, "lineitem", rdr); err != nil {
				b.Fatal(err)
			}
			rdr.Release()
			rec.Release()
		}
		b.StartTimer()
		cpu0 := processCPU()
		res, err := db.Compact(ctx, "lineitem")
		cpu += processCPU() - cpu0
		if err != nil || res.Rows != int64(n) {
			b.Fatalf("compaction %+v: %v", res, err)
		}
		b.StopTimer()
		db.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(n)*float64(b.N)/cpu.Seconds(), "rows/cpu-s")
}
