package planner

import (
	"context"
	"fmt"
	"math/rand"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/catalog"
)

// The benchmarks in this file run TPC-H-shaped plans over synthetic data
// held in memory as Arrow batches, so that they measure the planner and the
// executor and not storage decoding. lineitem has benchLineitemRows rows
// (four per order); the other tables are scaled like TPC-H at about SF 1/6.
//
//	go test ./planner -run '^$' -bench TPCH -benchtime 3x
//
// reports rows/s as lineitem rows per second.

const benchLineitemRows = 1 << 20

// memProvider is a SourceProvider over in-memory batches of whole tables.
// It serves the columns asked for without copying.
type memProvider struct {
	tables map[uint64][]arrow.RecordBatch
}

func (m *memProvider) Scan(t *catalog.Table, cols []int, withKey bool) arrowexec.OpenSource {
	return m.open(t, cols, m.tables[t.ID])
}

func (m *memProvider) open(t *catalog.Table, cols []int, recs []arrow.RecordBatch) arrowexec.OpenSource {
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = t.Schema().Field(c)
	}
	schema := arrow.NewSchema(fields, nil)
	return func(ctx context.Context) (arrowexec.Source, error) {
		return &projSource{recs: recs, cols: cols, schema: schema}, nil
	}
}

// projSource yields projections of whole-table batches.
type projSource struct {
	recs   []arrow.RecordBatch
	cols   []int
	schema *arrow.Schema
	i      int
	cur    arrow.RecordBatch
	arrs   []arrow.Array
}

func (s *projSource) Next() bool {
	if s.cur != nil {
		s.cur.Release()
		s.cur = nil
	}
	if s.i >= len(s.recs) {
		return false
	}
	r := s.recs[s.i]
	s.i++
	s.arrs = s.arrs[:0]
	for _, c := range s.cols {
		s.arrs = append(s.arrs, r.Column(c))
	}
	s.cur = array.NewRecordBatch(s.schema, s.arrs, r.NumRows())
	return true
}

func (s *projSource) Record() arrow.RecordBatch { return s.cur }
func (s *projSource) Err() error                { return nil }
func (s *projSource) Close() error {
	if s.cur != nil {
		s.cur.Release()
		s.cur = nil
	}
	return nil
}

var (
	benchOnce sync.Once
	benchCat  *catalog.Catalog
	benchData *memProvider
)

// benchTPCH builds the TPC-H catalog and data once per process.
func benchTPCH(b *testing.B) (*catalog.Catalog, *memProvider) {
	benchOnce.Do(func() {
		cat := catalog.New()
		for _, q := range tpchDDL {
			p, err := Prepare(q, cat)
			if err != nil {
				panic(err)
			}
			t, err := cat.Prepare(p.Create)
			if err != nil {
				panic(err)
			}
			cat.Put(t)
		}
		m := &memProvider{tables: map[uint64][]arrow.RecordBatch{}}
		r := rand.New(rand.NewSource(42))
		const (
			nLine  = benchLineitemRows
			nOrder = nLine / 4
			nCust  = nOrder / 10
			nPart  = nLine / 30
			nSupp  = nPart / 20
		)
		day := func(y int) int64 { return int64((y - 1970) * 365) }
		pick := func(xs ...string) string { return xs[r.Intn(len(xs))] }
		regions := []string{"AFRICA", "AMERICA", "ASIA", "EUROPE", "MIDDLE EAST"}
		gen := func(name string, n int, col func(c string, i int) any) {
			t, ok := cat.Table(name)
			if !ok {
				panic(name)
			}
			sch := t.Schema()
			bld := array.NewRecordBuilder(memory.DefaultAllocator, sch)
			defer bld.Release()
			for i := 0; i < n; i++ {
				for j, f := range sch.Fields() {
					v := col(f.Name, i)
					switch fb := bld.Field(j).(type) {
					case *array.Int32Builder:
						fb.Append(int32(v.(int64)))
					case *array.Int64Builder:
						fb.Append(v.(int64))
					case *array.StringBuilder:
						fb.Append(v.(string))
					case *array.Date32Builder:
						fb.Append(arrow.Date32(v.(int64)))
					case *array.Decimal128Builder:
						fb.Append(decimal128.FromI64(v.(int64)))
					default:
						panic(fmt.Sprintf("%s: %T", f.Name, fb))
					}
				}
				if (i+1)%4096 == 0 || i == n-1 {
					m.tables[t.ID] = append(m.tables[t.ID], bld.NewRecordBatch())
				}
			}
		}
		gen("region", 5, func(c string, i int) any {
			switch c {
			case "r_regionkey":
				return int64(i)
			case "r_name":
				return regions[i]
			}
			return "c"
		})
		gen("nation", 25, func(c string, i int) any {
			switch c {
			case "n_nationkey":
				return int64(i)
			case "n_name":
				return fmt.Sprintf("NATION%02d", i)
			case "n_regionkey":
				return int64(i % 5)
			}
			return "c"
		})
		gen("supplier", nSupp, func(c string, i int) any {
			switch c {
			case "s_suppkey":
				return int64(i + 1)
			case "s_nationkey":
				return int64(i % 25)
			case "s_acctbal":
				return int64(r.Intn(1000000))
			}
			return fmt.Sprintf("Supplier#%09d", i)
		})
		gen("part", nPart, func(c string, i int) any {
			switch c {
			case "p_partkey":
				return int64(i + 1)
			case "p_name":
				return pick("forest green lace", "almond blush", "navy ivory", "misty green", "chiffon linen")
			case "p_size":
				return int64(1 + r.Intn(50))
			case "p_retailprice":
				return int64(90000 + r.Intn(100000))
			}
			return pick("Brand#12", "Brand#23", "Brand#34")
		})
		gen("partsupp", nPart*4, func(c string, i int) any {
			switch c {
			case "ps_partkey":
				return int64(i/4 + 1)
			case "ps_suppkey":
				return int64((i/4+(i%4)*(nSupp/4))%nSupp + 1)
			case "ps_availqty":
				return int64(r.Intn(10000))
			case "ps_supplycost":
				return int64(100 + r.Intn(100000))
			}
			return "comment"
		})
		gen("customer", nCust, func(c string, i int) any {
			switch c {
			case "c_custkey":
				return int64(i + 1)
			case "c_nationkey":
				return int64(r.Intn(25))
			case "c_acctbal":
				return int64(r.Intn(1000000))
			case "c_mktsegment":
				return pick("BUILDING", "AUTOMOBILE", "MACHINERY", "HOUSEHOLD", "FURNITURE")
			}
			return fmt.Sprintf("Customer#%09d", i)
		})
		gen("orders", nOrder, func(c string, i int) any {
			switch c {
			case "o_orderkey":
				return int64(i + 1)
			case "o_custkey":
				return int64(1 + r.Intn(nCust))
			case "o_totalprice":
				return int64(100000 + r.Intn(40000000))
			case "o_orderdate":
				return day(1992) + int64(r.Intn(7*365))
			case "o_shippriority":
				return int64(0)
			case "o_orderpriority":
				return pick("1-URGENT", "2-HIGH", "3-MEDIUM", "4-NOT SPECIFIED", "5-LOW")
			}
			return "O"
		})
		gen("lineitem", nLine, func(c string, i int) any {
			switch c {
			case "l_orderkey":
				return int64(i/4 + 1)
			case "l_partkey":
				return int64(1 + (i*7919)%nPart)
			case "l_suppkey":
				p := (i * 7919) % nPart
				return int64((p+(i%4)*(nSupp/4))%nSupp + 1)
			case "l_linenumber":
				return int64(i%4 + 1)
			case "l_quantity":
				return int64(100 * (1 + r.Intn(50)))
			case "l_extendedprice":
				return int64(90000 + r.Intn(10000000))
			case "l_discount":
				return int64(r.Intn(11))
			case "l_tax":
				return int64(r.Intn(9))
			case "l_returnflag":
				return pick("R", "A", "N")
			case "l_linestatus":
				return pick("O", "F")
			case "l_shipdate", "l_commitdate", "l_receiptdate":
				return day(1992) + int64(r.Intn(7*365))
			case "l_shipinstruct":
				return pick("DELIVER IN PERSON", "NONE", "COLLECT COD")
			case "l_shipmode":
				return pick("MAIL", "SHIP", "AIR", "TRUCK")
			}
			return "comment"
		})
		benchCat, benchData = cat, m
	})
	return benchCat, benchData
}

// benchQuery runs TPC-H query q (1-based) b.N times.
func benchQuery(b *testing.B, q int, prov SourceProvider) {
	cat, data := benchTPCH(b)
	if prov == nil {
		prov = data
	}
	p, err := Prepare(tpchQueryTexts[q-1], cat)
	if err != nil {
		b.Fatal(err)
	}
	ctx := exec.WithAllocator(context.Background(), memory.DefaultAllocator)
	b.ReportAllocs()
	b.ResetTimer()
	rows := 0
	for i := 0; i < b.N; i++ {
		op, err := p.Build(prov)
		if err != nil {
			b.Fatal(err)
		}
		if err := op.Open(ctx); err != nil {
			b.Fatal(err)
		}
		rows = 0
		for {
			rec, err := op.Next()
			if err != nil {
				b.Fatal(err)
			}
			if rec == nil {
				break
			}
			rows += int(rec.NumRows())
		}
		op.Close()
	}
	b.ReportMetric(float64(benchLineitemRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(rows), "result-rows")
}

func BenchmarkTPCH(b *testing.B) {
	for _, q := range []int{1, 6, 3, 5, 9, 18} {
		b.Run(fmt.Sprintf("Q%d", q), func(b *testing.B) { benchQuery(b, q, nil) })
	}
}

// memPartProvider is memProvider that also splits scans into contiguous
// runs of batches (PartitionedScanner).
type memPartProvider struct{ *memProvider }

func (m memPartProvider) ScanPartitions(t *catalog.Table, cols []int, withKey bool, n int) []arrowexec.OpenSource {
	recs := m.tables[t.ID]
	var out []arrowexec.OpenSource
	for i := 0; i < n; i++ {
		lo, hi := len(recs)*i/n, len(recs)*(i+1)/n
		out = append(out, m.open(t, cols, recs[lo:hi]))
	}
	return out
}

// BenchmarkTPCHParallel runs the queries with partitioned scans (parallel
// partial aggregation over GOMAXPROCS workers).
func BenchmarkTPCHParallel(b *testing.B) {
	_, data := benchTPCH(b)
	for _, q := range []int{1, 6, 3, 5, 9, 18} {
		b.Run(fmt.Sprintf("Q%d", q), func(b *testing.B) { benchQuery(b, q, memPartProvider{data}) })
	}
}
