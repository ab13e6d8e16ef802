package oltp

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb/catalog"
)

// lineitemTable is TPC-H's lineitem: 16 columns, primary key
// (l_orderkey, l_linenumber).
func lineitemTable(id uint64) *catalog.Table {
	dec := catalog.Decimal(15, 2)
	vc := func(n int32) catalog.Type { return catalog.Type{Kind: catalog.KindVarchar, Length: n} }
	return finished(&catalog.Table{ID: id, Name: "lineitem", Version: 1, PrimaryKey: []int{0, 3}, Columns: []catalog.Column{
		{Name: "l_orderkey", Type: catalog.Bigint}, {Name: "l_partkey", Type: catalog.Bigint},
		{Name: "l_suppkey", Type: catalog.Bigint}, {Name: "l_linenumber", Type: catalog.Int},
		{Name: "l_quantity", Type: dec}, {Name: "l_extendedprice", Type: dec},
		{Name: "l_discount", Type: dec}, {Name: "l_tax", Type: dec},
		{Name: "l_returnflag", Type: vc(1)}, {Name: "l_linestatus", Type: vc(1)},
		{Name: "l_shipdate", Type: catalog.Date}, {Name: "l_commitdate", Type: catalog.Date},
		{Name: "l_receiptdate", Type: catalog.Date}, {Name: "l_shipinstruct", Type: vc(25)},
		{Name: "l_shipmode", Type: vc(10)}, {Name: "l_comment", Type: vc(44)},
	}})
}

// narrowTable is (id BIGINT PRIMARY KEY, v BIGINT, s VARCHAR).
func narrowTable(id uint64) *catalog.Table {
	return finished(&catalog.Table{ID: id, Name: "narrow", Version: 1, PrimaryKey: []int{0}, Columns: []catalog.Column{
		{Name: "id", Type: catalog.Bigint}, {Name: "v", Type: catalog.Bigint}, {Name: "s", Type: catalog.Varchar},
	}})
}

var (
	shipModes = []string{"AIR", "MAIL", "RAIL", "SHIP", "TRUCK", "REG AIR", "FOB"}
	instructs = []string{"DELIVER IN PERSON", "COLLECT COD", "NONE", "TAKE BACK RETURN"}
	words     = []string{"furiously", "final", "deposits", "sleep", "quickly", "regular", "packages", "ironic", "accounts", "blithely"}
)

// benchRecord builds rows [first, first+n) of tbl (lineitem: 4 lines per
// order) with deterministic, TPC-H-like values.
func benchRecord(mem memory.Allocator, tbl *catalog.Table, first, n int) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, tbl.Schema())
	defer b.Release()
	for i := first; i < first+n; i++ {
		if tbl.Name == "narrow" {
			b.Field(0).(*array.Int64Builder).Append(int64(i))
			b.Field(1).(*array.Int64Builder).Append(int64(i * 7 % 1000))
			b.Field(2).(*array.StringBuilder).Append(words[i%len(words)])
			continue
		}
		h := uint64(i) * 0x9E3779B97F4A7C15
		b.Field(0).(*array.Int64Builder).Append(int64(i / 4))
		b.Field(1).(*array.Int64Builder).Append(int64(h % 200000))
		b.Field(2).(*array.Int64Builder).Append(int64(h % 10000))
		b.Field(3).(*array.Int32Builder).Append(int32(i%4 + 1))
		b.Field(4).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(h%50+1) * 100))
		b.Field(5).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(h % 10000000)))
		b.Field(6).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(h % 11)))
		b.Field(7).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(h % 9)))
		b.Field(8).(*array.StringBuilder).Append([]string{"A", "N", "R"}[h%3])
		b.Field(9).(*array.StringBuilder).Append([]string{"F", "O"}[h%2])
		b.Field(10).(*array.Date32Builder).Append(arrow.Date32(8000 + h%2500))
		b.Field(11).(*array.Date32Builder).Append(arrow.Date32(8000 + h%2500 + 30))
		b.Field(12).(*array.Date32Builder).Append(arrow.Date32(8000 + h%2500 + 15))
		b.Field(13).(*array.StringBuilder).Append(instructs[h%4])
		b.Field(14).(*array.StringBuilder).Append(shipModes[h%7])
		b.Field(15).(*array.StringBuilder).Append(words[h%10] + " " + words[(h>>8)%10] + " " + words[(h>>16)%10])
	}
	return b.NewRecordBatch()
}

// arrowBytes is the size of rec's Arrow buffers.
func arrowBytes(rec arrow.RecordBatch) int64 {
	var n int64
	for _, c := range rec.Columns() {
		for _, buf := range c.Data().Buffers() {
			if buf != nil {
				n += int64(buf.Len())
			}
		}
	}
	return n
}

// BenchmarkIngest measures durable ingest on disk: one synced commit per
// batch of 8192 rows, through row entries (Insert, the old path) and
// batch entries (InsertBatch). MB/s counts Arrow data.
//
//	go test ./oltp -run '^$' -bench Ingest -benchtime 40x
func BenchmarkIngest(b *testing.B) {
	const batch = 8192
	for _, shape := range []func(uint64) *catalog.Table{lineitemTable, narrowTable} {
		for _, path := range []string{"rows", "batch"} {
			tbl := shape(1)
			b.Run(fmt.Sprintf("%s/%s", tbl.Name, path), func(b *testing.B) {
				s, err := Open(b.TempDir(), nil)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				create(b, s, tbl)
				ctx := context.Background()
				var bytes int64
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					rec := benchRecord(memory.DefaultAllocator, tbl, i*batch, batch)
					bytes += arrowBytes(rec)
					b.StartTimer()
					tx := s.Begin()
					if path == "rows" {
						err = tx.Insert(ctx, tbl, rec)
					} else {
						err = tx.InsertBatch(ctx, tbl, rec)
					}
					if err == nil {
						err = tx.Commit(ctx)
					}
					if err != nil {
						b.Fatal(err)
					}
					rec.Release()
				}
				b.StopTimer()
				sec := b.Elapsed().Seconds()
				b.ReportMetric(float64(bytes)/sec/1e6, "MB/s")
				b.ReportMetric(float64(b.N*batch)/sec, "rows/s")
			})
		}
	}
}

// BenchmarkIngestParallel is BenchmarkIngest/batch with 4 concurrent
// writers, whose syncs the commit pipeline groups.
//
//	go test ./oltp -run '^$' -bench IngestParallel -benchtime 80x
func BenchmarkIngestParallel(b *testing.B) {
	const batch, writers = 8192, 4
	for _, shape := range []func(uint64) *catalog.Table{lineitemTable, narrowTable} {
		tbl := shape(1)
		b.Run(tbl.Name, func(b *testing.B) {
			s, err := Open(b.TempDir(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			create(b, s, tbl)
			recs := make([]arrow.RecordBatch, b.N)
			var bytes int64
			for i := range recs {
				recs[i] = benchRecord(memory.DefaultAllocator, tbl, i*batch, batch)
				bytes += arrowBytes(recs[i])
			}
			ctx := context.Background()
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(1)) - 1
						if i >= b.N {
							return
						}
						tx := s.Begin()
						err := tx.InsertBatch(ctx, tbl, recs[i])
						if err == nil {
							err = tx.Commit(ctx)
						} else {
							tx.Rollback()
						}
						if err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			for _, r := range recs {
				r.Release()
			}
			sec := b.Elapsed().Seconds()
			b.ReportMetric(float64(bytes)/sec/1e6, "MB/s")
			b.ReportMetric(float64(b.N*batch)/sec, "rows/s")
		})
	}
}
