package flight

import (
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb"
)

// lineitemSchema is a lineitem-like row: keys, quantities, prices, dates
// and short strings.
var lineitemSchema = arrow.NewSchema([]arrow.Field{
	{Name: "l_orderkey", Type: arrow.PrimitiveTypes.Int64},
	{Name: "l_partkey", Type: arrow.PrimitiveTypes.Int64},
	{Name: "l_quantity", Type: arrow.PrimitiveTypes.Float64},
	{Name: "l_extendedprice", Type: arrow.PrimitiveTypes.Float64},
	{Name: "l_discount", Type: arrow.PrimitiveTypes.Float64},
	{Name: "l_shipdate", Type: arrow.FixedWidthTypes.Date32},
	{Name: "l_returnflag", Type: arrow.BinaryTypes.String},
	{Name: "l_comment", Type: arrow.BinaryTypes.String},
}, nil)

func lineitemBatches(n, batch int) []arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, lineitemSchema)
	defer b.Release()
	var recs []arrow.RecordBatch
	for start := 0; start < n; start += batch {
		for i := start; i < min(start+batch, n); i++ {
			b.Field(0).(*array.Int64Builder).Append(int64(i / 4))
			b.Field(1).(*array.Int64Builder).Append(int64(i * 7 % 200000))
			b.Field(2).(*array.Float64Builder).Append(float64(i%50 + 1))
			b.Field(3).(*array.Float64Builder).Append(float64(i%100000) * 1.01)
			b.Field(4).(*array.Float64Builder).Append(float64(i%10) / 100)
			b.Field(5).(*array.Date32Builder).Append(arrow.Date32(8000 + i%2500))
			b.Field(6).(*array.StringBuilder).Append([]string{"A", "N", "R"}[i%3])
			b.Field(7).(*array.StringBuilder).Append(fmt.Sprintf("carefully final deposits %d", i%1000))
		}
		recs = append(recs, b.NewRecordBatch())
	}
	return recs
}

func recsBytes(recs []arrow.RecordBatch) int64 {
	var n int64
	for _, r := range recs {
		for _, c := range r.Columns() {
			n += arraySize(c)
		}
	}
	return n
}

// BenchmarkDoGet streams a lineitem-like table over loopback, first from
// the row store, then from segments (after DB.Compact). The engine
// sub-benchmarks read the same rows through the embedded API without the
// network, so that the difference is the protocol's cost (IPC writing,
// slicing, gRPC, the client's reading):
//
//	go test ./flight -run '^$' -bench DoGet -benchtime 5x
func BenchmarkDoGet(b *testing.B) {
	const rows = 1_000_000
	t := b
	e := startServer(t, nil, &mantisdb.Options{CompactInterval: -1})
	recs := lineitemBatches(rows, 64<<10)
	size := recsBytes(recs)
	rdr, _ := array.NewRecordReader(lineitemSchema, recs)
	releaseAll(recs)
	e.exec(t, "CREATE TABLE lineitem (l_orderkey BIGINT, l_partkey BIGINT, l_quantity DOUBLE, l_extendedprice DOUBLE, l_discount DOUBLE, l_shipdate DATE, l_returnflag VARCHAR, l_comment VARCHAR)")
	if _, err := e.db.Ingest(e.ctx, "lineitem", rdr); err != nil {
		b.Fatal(err)
	}
	rdr.Release()
	flightRun := func(b *testing.B) {
		b.SetBytes(size)
		for i := 0; i < b.N; i++ {
			info, err := e.client.Execute(e.ctx, "SELECT * FROM lineitem")
			if err != nil {
				b.Fatal(err)
			}
			r, err := e.client.DoGet(e.ctx, info.Endpoint[0].Ticket)
			if err != nil {
				b.Fatal(err)
			}
			n := int64(0)
			for r.Next() {
				n += r.RecordBatch().NumRows()
			}
			err = r.Err()
			r.Release()
			if err != nil || n != rows {
				b.Fatalf("%d rows, %v", n, err)
			}
		}
		b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	}
	engineRun := func(b *testing.B) {
		b.SetBytes(size)
		for i := 0; i < b.N; i++ {
			r, err := e.db.Query(e.ctx, "SELECT * FROM lineitem")
			if err != nil {
				b.Fatal(err)
			}
			n := int64(0)
			for r.Next() {
				n += r.Record().NumRows()
			}
			err = r.Err()
			r.Close()
			if err != nil || n != rows {
				b.Fatalf("%d rows, %v", n, err)
			}
		}
		b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	}
	b.Run("rowstore/flight", flightRun)
	b.Run("rowstore/engine", engineRun)
	if _, err := e.db.Compact(e.ctx, "lineitem"); err != nil {
		b.Fatal(err)
	}
	b.Run("segments/flight", flightRun)
	b.Run("segments/engine", engineRun)
}

// BenchmarkIngest loads 1M narrow rows per iteration, durably, through
// CommandStatementIngest and plain DoPut:
//
//	go test ./flight -run '^$' -bench Ingest -benchtime 5x
func BenchmarkIngest(b *testing.B) {
	const rows = 1_000_000
	for _, path := range []string{"statement-ingest", "doput"} {
		b.Run(path, func(b *testing.B) {
			t := b
			e := startServer(t, nil, nil)
			e.exec(t, "CREATE TABLE t (id BIGINT NOT NULL, v DOUBLE)")
			recs := narrowBatches(memory.DefaultAllocator, 0, rows, 64<<10)
			b.SetBytes(recsBytes(recs))
			defer releaseAll(recs)
			opts := ingestOpts("t", flightsql.TableDefinitionOptionsTableNotExistOptionFail, flightsql.TableDefinitionOptionsTableExistsOptionAppend)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for _, r := range recs {
					r.Retain()
				}
				var err error
				if path == "doput" {
					_, err = e.doPutPath(t, []string{"t"}, narrowSchema, recs)
				} else {
					rdr, _ := array.NewRecordReader(narrowSchema, recs)
					releaseAll(recs)
					_, err = e.client.ExecuteIngest(e.ctx, rdr, opts)
					rdr.Release()
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
