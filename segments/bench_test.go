package segments

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/bufpool"
	pq "github.com/parquet-go/parquet-go"
)

// benchRows is the size of the lineitem-shaped benchmark segment.
var benchRows = 1 << 20

func lineitemTable() *catalog.Table {
	dec := catalog.Decimal(15, 2)
	return &catalog.Table{ID: 1, Name: "lineitem", Version: 1, Columns: []catalog.Column{
		{Name: "l_orderkey", Type: catalog.Bigint, NotNull: true},
		{Name: "l_linenumber", Type: catalog.Int, NotNull: true},
		{Name: "l_partkey", Type: catalog.Bigint},
		{Name: "l_suppkey", Type: catalog.Bigint},
		{Name: "l_quantity", Type: dec},
		{Name: "l_extendedprice", Type: dec},
		{Name: "l_discount", Type: dec},
		{Name: "l_tax", Type: dec},
		{Name: "l_returnflag", Type: catalog.Varchar},
		{Name: "l_linestatus", Type: catalog.Varchar},
		{Name: "l_shipdate", Type: catalog.Date},
		{Name: "l_commitdate", Type: catalog.Date},
		{Name: "l_receiptdate", Type: catalog.Date},
		{Name: "l_shipinstruct", Type: catalog.Varchar},
		{Name: "l_shipmode", Type: catalog.Varchar},
		{Name: "l_comment", Type: catalog.Varchar},
	}, PrimaryKey: []int{0, 1}}
}

var words = []string{"furiously", "carefully", "quickly", "blithely", "regular", "final", "ironic",
	"pending", "express", "special", "deposits", "requests", "accounts", "packages", "theodolites",
	"instructions", "foxes", "ideas", "dependencies", "excuses", "platelets", "asymptotes"}

// lineitemBatches generates rows in TPC-H-like distributions (dbgen's
// ranges, a cheap deterministic generator), sorted by (orderkey, linenumber).
func lineitemBatches(mem memory.Allocator, rows, batch int) []arrow.RecordBatch {
	tbl := lineitemTable()
	var out []arrow.RecordBatch
	b := array.NewRecordBuilder(mem, tbl.Schema())
	defer b.Release()
	seed := uint64(42)
	rnd := func(n uint64) uint64 {
		seed = seed*6364136223846793005 + 1442695040888963407
		return (seed >> 33) % n
	}
	flags, status := []string{"A", "N", "R"}, []string{"F", "O"}
	instr := []string{"DELIVER IN PERSON", "COLLECT COD", "NONE", "TAKE BACK RETURN"}
	modes := []string{"REG AIR", "AIR", "RAIL", "SHIP", "TRUCK", "MAIL", "FOB"}
	order, line, lines := int64(1), int32(1), int32(1+rnd(7))
	var comment []byte
	for r := 0; r < rows; r++ {
		b.Field(0).(*array.Int64Builder).Append(order)
		b.Field(1).(*array.Int32Builder).Append(line)
		b.Field(2).(*array.Int64Builder).Append(int64(1 + rnd(200000)))
		b.Field(3).(*array.Int64Builder).Append(int64(1 + rnd(10000)))
		qty := int64(1 + rnd(50))
		b.Field(4).(*array.Decimal128Builder).Append(decimal128.FromI64(qty * 100))
		b.Field(5).(*array.Decimal128Builder).Append(decimal128.FromI64(qty * int64(90000+rnd(1000000)) / 10))
		b.Field(6).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(rnd(11))))
		b.Field(7).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(rnd(9))))
		b.Field(8).(*array.StringBuilder).Append(flags[rnd(3)])
		b.Field(9).(*array.StringBuilder).Append(status[rnd(2)])
		ship := arrow.Date32(8035 + rnd(2526))
		b.Field(10).(*array.Date32Builder).Append(ship)
		b.Field(11).(*array.Date32Builder).Append(ship + arrow.Date32(rnd(60)) - 30)
		b.Field(12).(*array.Date32Builder).Append(ship + arrow.Date32(1+rnd(30)))
		b.Field(13).(*array.StringBuilder).Append(instr[rnd(4)])
		b.Field(14).(*array.StringBuilder).Append(modes[rnd(7)])
		comment = comment[:0]
		for w := 0; w < 3+int(rnd(4)); w++ {
			if w > 0 {
				comment = append(comment, ' ')
			}
			comment = append(comment, words[rnd(uint64(len(words)))]...)
		}
		b.Field(15).(*array.StringBuilder).BinaryBuilder.Append(comment)
		if line++; line > lines {
			order += 1 + int64(rnd(4))
			line, lines = 1, int32(1+rnd(7))
		}
		if (r+1)%batch == 0 || r == rows-1 {
			out = append(out, b.NewRecordBatch())
		}
	}
	return out
}

var benchData struct {
	once    sync.Once
	batches []arrow.RecordBatch
	fs      map[Compression]*vfs.MemFS
	meta    map[Compression]*Meta
}

func benchSetup(b *testing.B) {
	benchData.once.Do(func() {
		benchData.batches = lineitemBatches(memory.DefaultAllocator, benchRows, 8192)
		benchData.fs = map[Compression]*vfs.MemFS{}
		benchData.meta = map[Compression]*Meta{}
		for _, c := range []Compression{CompressionLZ4Raw, CompressionZstd} {
			fs := vfs.NewMem()
			m, err := writeBatches(fs, c)
			if err != nil {
				b.Fatal(err)
			}
			benchData.fs[c], benchData.meta[c] = fs, m
		}
	})
}

func writeBatches(fs vfs.FS, c Compression) (*Meta, error) {
	w, err := NewWriter(fs, "", 1, lineitemTable(), &WriterOptions{Compression: c})
	if err != nil {
		return nil, err
	}
	for _, rec := range benchData.batches {
		if err := w.Write(rec); err != nil {
			w.Abort()
			return nil, err
		}
	}
	return w.Finish()
}

// BenchmarkWrite measures segment writing (Parquet + index) of 1M
// lineitem rows; rows/s is b.N*benchRows over the time.
func BenchmarkWrite(b *testing.B) {
	benchSetup(b)
	for _, c := range []Compression{CompressionLZ4Raw, CompressionZstd} {
		b.Run(c.String(), func(b *testing.B) {
			var m *Meta
			cpu0 := processCPU()
			for i := 0; i < b.N; i++ {
				var err error
				if m, err = writeBatches(vfs.NewMem(), c); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			// Rows per CPU second of the process: the per-core rate,
			// steadier than rows/s on a shared machine.
			b.ReportMetric(float64(benchRows)*float64(b.N)/(processCPU()-cpu0).Seconds(), "rows/cpu-s")
			b.ReportMetric(float64(m.FileSize), "file-bytes")
			b.ReportMetric(float64(m.IndexSize), "index-bytes")
		})
	}
}

// BenchmarkScan measures scans into Arrow batches: all columns (with
// fresh buffers and with recycled ones), two columns, and a selective
// predicate on the sort key.
func BenchmarkScan(b *testing.B) {
	benchSetup(b)
	cases := []struct {
		name string
		opts ScanOptions
	}{
		{"all", ScanOptions{}},
		// all-recycled decodes into the buffers of the batches released
		// before (as Flight DoGet of a plain scan does).
		{"all-recycled", ScanOptions{DataAllocator: bufpool.New(nil, 0)}},
		{"2cols", ScanOptions{Columns: []int{4, 10}}},
		{"key-range", ScanOptions{Columns: []int{4, 10}, Filter: Predicate{
			{Column: "l_orderkey", Op: OpGe, Value: Int64Value(300_000)},
			{Column: "l_orderkey", Op: OpLt, Value: Int64Value(310_000)}}}},
		{"bitmap-eq", ScanOptions{Columns: []int{4, 10}, Filter: Predicate{
			{Column: "l_shipmode", Op: OpEq, Value: StringValue("AIR")}}}},
	}
	for _, c := range []Compression{CompressionLZ4Raw, CompressionZstd} {
		r, err := Open(benchData.fs[c], "", benchData.meta[c])
		if err != nil {
			b.Fatal(err)
		}
		for _, tc := range cases {
			b.Run(fmt.Sprintf("%s/%s", c, tc.name), func(b *testing.B) {
				var rows int64
				cpu0 := processCPU()
				for i := 0; i < b.N; i++ {
					s, err := r.Scan(context.Background(), tc.opts)
					if err != nil {
						b.Fatal(err)
					}
					for s.Next() {
						rows += s.Record().NumRows()
					}
					if err := s.Err(); err != nil {
						b.Fatal(err)
					}
					s.Close()
				}
				b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "segment-rows/s")
				b.ReportMetric(float64(benchRows)*float64(b.N)/(processCPU()-cpu0).Seconds(), "segment-rows/cpu-s")
				b.ReportMetric(float64(rows)/float64(b.N), "rows/op")
			})
		}
		r.Close()
	}
}

// BenchmarkParquetGoDecode decodes every value of the same file with
// parquet-go's page reader (no conversion to Arrow): a lower bound of what
// reading through parquet-go would cost, to compare with BenchmarkScan/all.
func BenchmarkParquetGoDecode(b *testing.B) {
	benchSetup(b)
	for _, c := range []Compression{CompressionLZ4Raw, CompressionZstd} {
		b.Run(c.String(), func(b *testing.B) {
			f, err := benchData.fs[c].Open(FileName(1))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			size := benchData.meta[c].FileSize
			buf := make([]pq.Value, 4096)
			for i := 0; i < b.N; i++ {
				pf, err := pq.OpenFile(io.NewSectionReader(f, 0, size), size)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for _, rg := range pf.RowGroups() {
					for _, cc := range rg.ColumnChunks() {
						pages := cc.Pages()
						for {
							p, err := pages.ReadPage()
							if err == io.EOF {
								break
							}
							if err != nil {
								b.Fatal(err)
							}
							vr := p.Values()
							for {
								k, err := vr.ReadValues(buf)
								n += k
								if err == io.EOF {
									break
								}
								if err != nil {
									b.Fatal(err)
								}
							}
							pq.Release(p)
						}
						pages.Close()
					}
				}
				if n != benchRows*16 {
					b.Fatalf("decoded %d values", n)
				}
			}
			b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "segment-rows/s")
		})
	}
}
