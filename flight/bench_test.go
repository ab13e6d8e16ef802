package flight

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	arrowflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/internal/arrowsize"
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
			n += arrowsize.Array(c)
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

// tpchLineitemDDL is TPC-H's lineitem as the bench harness creates it.
const tpchLineitemDDL = `CREATE TABLE lineitem (l_orderkey BIGINT NOT NULL, l_partkey BIGINT NOT NULL,
	l_suppkey BIGINT NOT NULL, l_linenumber INT NOT NULL, l_quantity DECIMAL(15,2) NOT NULL,
	l_extendedprice DECIMAL(15,2) NOT NULL, l_discount DECIMAL(15,2) NOT NULL, l_tax DECIMAL(15,2) NOT NULL,
	l_returnflag VARCHAR(1) NOT NULL, l_linestatus VARCHAR(1) NOT NULL, l_shipdate DATE NOT NULL,
	l_commitdate DATE NOT NULL, l_receiptdate DATE NOT NULL, l_shipinstruct VARCHAR(25) NOT NULL,
	l_shipmode VARCHAR(10) NOT NULL, l_comment VARCHAR(44) NOT NULL, PRIMARY KEY (l_orderkey, l_linenumber))`

var commentWords = []string{"furiously", "carefully", "quickly", "blithely", "regular", "final", "ironic",
	"pending", "express", "special", "deposits", "requests", "accounts", "packages", "theodolites",
	"instructions", "foxes", "ideas", "dependencies", "excuses", "platelets", "asymptotes"}

// tpchLineitemBatches generates n rows of sch (tpchLineitemDDL's schema)
// in dbgen's ranges with a cheap deterministic generator, sorted by the
// primary key.
func tpchLineitemBatches(sch *arrow.Schema, n, batch int) []arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
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
	var recs []arrow.RecordBatch
	var comment []byte
	dec := func(i int, v int64) { b.Field(i).(*array.Decimal128Builder).Append(decimal128.FromI64(v)) }
	for r := 0; r < n; r++ {
		b.Field(0).(*array.Int64Builder).Append(order)
		b.Field(1).(*array.Int64Builder).Append(int64(1 + rnd(200000)))
		b.Field(2).(*array.Int64Builder).Append(int64(1 + rnd(10000)))
		b.Field(3).(*array.Int32Builder).Append(line)
		qty := int64(1 + rnd(50))
		dec(4, qty*100)
		dec(5, qty*int64(90000+rnd(1000000))/10)
		dec(6, int64(rnd(11)))
		dec(7, int64(rnd(9)))
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
			comment = append(comment, commentWords[rnd(uint64(len(commentWords)))]...)
		}
		b.Field(15).(*array.StringBuilder).BinaryBuilder.Append(comment[:min(len(comment), 44)])
		if line++; line > lines {
			order += 1 + int64(rnd(4))
			line, lines = 1, int32(1+rnd(7))
		}
		if (r+1)%batch == 0 || r == n-1 {
			recs = append(recs, b.NewRecordBatch())
		}
	}
	return recs
}

// BenchmarkDoGetLineitem streams TPC-H's lineitem (DECIMAL, DATE and
// VARCHAR columns as the bench harness creates them), compacted into
// segments, through Flight SQL DoGet over loopback: the path of the bench
// harness's serve workload, small enough to profile. MB/s counts the
// bytes of the Arrow data the client receives; cpu-ms/op is the CPU time
// of the whole process (server and client) per query, steadier than MB/s
// on a shared machine:
//
//	go test ./flight -run '^$' -bench DoGetLineitem -benchtime 5x -cpuprofile cpu.prof
func BenchmarkDoGetLineitem(b *testing.B) {
	const rows = 500_000
	e := startServer(b, nil, &mantisdb.Options{CompactInterval: -1})
	e.exec(b, tpchLineitemDDL)
	st, err := e.db.Prepare(e.ctx, "SELECT * FROM lineitem")
	if err != nil {
		b.Fatal(err)
	}
	sch := st.Schema()
	st.Close()
	recs := tpchLineitemBatches(sch, rows, 100_000)
	rdr, _ := array.NewRecordReader(sch, recs)
	releaseAll(recs)
	if _, err := e.db.Ingest(e.ctx, "lineitem", rdr); err != nil {
		b.Fatal(err)
	}
	rdr.Release()
	if _, err := e.db.Compact(e.ctx, "lineitem"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	// Not e.ctx: its deadline is shorter than a long benchmark.
	ctx := context.Background()
	var size int64
	cpu0 := processCPU()
	for i := 0; i < b.N; i++ {
		info, err := e.client.Execute(ctx, "SELECT * FROM lineitem")
		if err != nil {
			b.Fatal(err)
		}
		r, err := e.client.DoGet(ctx, info.Endpoint[0].Ticket)
		if err != nil {
			b.Fatal(err)
		}
		n := int64(0)
		for r.Next() {
			rec := r.RecordBatch()
			n += rec.NumRows()
			for _, c := range rec.Columns() {
				size += arrowsize.Array(c)
			}
		}
		err = r.Err()
		r.Release()
		if err != nil || n != rows {
			b.Fatalf("%d rows, %v", n, err)
		}
	}
	cpu := processCPU() - cpu0
	b.ReportMetric(float64(size)/1e6/b.Elapsed().Seconds(), "MB/s")
	b.ReportMetric(float64(cpu)/1e6/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(size)/1e6/cpu.Seconds(), "MB/cpu-s")
}

// BenchmarkIngestLineitem writes TPC-H's lineitem (tpchLineitemDDL, with
// its primary key) in 100K-row batches, durably, with the compactor off:
//
//   - engine: DB.Ingest, no network (the floor of the other two);
//   - statement-ingest: Flight SQL ExecuteIngest from arrow-go's client;
//   - doput: a plain Flight DoPut with the descriptor path [table];
//   - statement-ingest-tuned, doput-tuned: the same two calls made by
//     this package's Ingest client instead of arrow-go's writer (the
//     batches' buffers go to gRPC by reference, see client.go).
//
// Each path runs with one call per batch, the way the bench harness's
// ingest workload calls, and (suffix -x10) with ten batches per call, the
// way a bulk loader that streams can: the server then reads batch n+1
// while it encodes batch n, and the client's serialization of the next
// batch overlaps the server's work.
//
// The other clients are arrow-go's, with their default options, in this process
// over loopback TCP, so cpu-ms/op (the process's CPU time per batch) counts
// client, transport and DB. MB/s counts the Arrow data of the batches
// (18 MB per batch):
//
//	go test ./flight -run '^$' -bench IngestLineitem -benchtime 20x -cpuprofile cpu.prof
func BenchmarkIngestLineitem(b *testing.B) {
	const batch = 100_000
	for _, perCall := range []int{1, 10} {
		for _, path := range []string{"engine", "statement-ingest", "doput", "statement-ingest-tuned", "doput-tuned"} {
			name := path
			if perCall > 1 {
				name += fmt.Sprintf("-x%d", perCall)
			}
			b.Run(name, func(b *testing.B) { benchIngestLineitem(b, path, batch, perCall) })
		}
	}
}

func benchIngestLineitem(b *testing.B, path string, batch, perCall int) {
	e := startServer(b, nil, &mantisdb.Options{CompactInterval: -1})
	e.exec(b, tpchLineitemDDL)
	st, err := e.db.Prepare(e.ctx, "SELECT * FROM lineitem")
	if err != nil {
		b.Fatal(err)
	}
	sch := st.Schema()
	st.Close()
	recs := lineitemRun(sch, b.N, batch)
	defer releaseAll(recs)
	size := recsBufferBytes(recs)
	opts := ingestOpts("lineitem", flightsql.TableDefinitionOptionsTableNotExistOptionFail,
		flightsql.TableDefinitionOptionsTableExistsOptionAppend)
	var desc *arrowflight.FlightDescriptor
	switch path {
	case "doput-tuned":
		desc = &arrowflight.FlightDescriptor{Type: arrowflight.DescriptorPATH, Path: []string{"lineitem"}}
	case "statement-ingest-tuned":
		if desc, err = IngestDescriptor(opts); err != nil {
			b.Fatal(err)
		}
	}
	// Not e.ctx: its deadline is shorter than a long benchmark.
	ctx := context.Background()
	// cpu-ms/op is the whole process's CPU: start from a collected heap,
	// so that the loop does not pay for the setup's garbage or that of
	// the path before.
	runtime.GC()
	cpu0 := processCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i += perCall {
		call := recs[i:min(i+perCall, b.N)]
		for _, rec := range call {
			rec.Retain()
		}
		var err error
		switch path {
		case "doput":
			_, err = e.doPutPath(b, []string{"lineitem"}, sch, call)
		default:
			rdr, _ := array.NewRecordReader(sch, call)
			releaseAll(call)
			switch {
			case path == "engine":
				_, err = e.db.Ingest(ctx, "lineitem", rdr)
			case desc != nil:
				_, err = Ingest(ctx, e.client.Client, desc, rdr, nil)
			default:
				_, err = e.client.ExecuteIngest(ctx, rdr, opts)
			}
			rdr.Release()
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu := processCPU() - cpu0
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(size)/1e6/sec, "MB/s")
	b.ReportMetric(float64(batch*b.N)/sec, "rows/s")
	b.ReportMetric(float64(cpu)/1e6/float64(b.N), "cpu-ms/op")
}

// lineitemRun returns n batches of rows rows each of tpchLineitemDDL's
// schema with distinct primary keys: ten generated batches repeated, the
// order keys of each repetition shifted past those of the one before.
func lineitemRun(sch *arrow.Schema, n, rows int) []arrow.RecordBatch {
	base := tpchLineitemBatches(sch, min(n, 10)*rows, rows)
	defer releaseAll(base)
	last := base[len(base)-1].Column(0).(*array.Int64)
	shift := last.Value(last.Len()-1) + 1
	recs := make([]arrow.RecordBatch, n)
	for i := range recs {
		src := base[i%len(base)]
		keys := src.Column(0).(*array.Int64).Int64Values()
		kb := array.NewInt64Builder(memory.DefaultAllocator)
		kb.Reserve(len(keys))
		for _, k := range keys {
			kb.UnsafeAppend(k + int64(i/len(base))*shift)
		}
		cols := append([]arrow.Array{kb.NewArray()}, src.Columns()[1:]...)
		kb.Release()
		recs[i] = array.NewRecordBatch(sch, cols, src.NumRows())
		cols[0].Release()
	}
	return recs
}

// recsBufferBytes is the size of the Arrow buffers of recs, as
// BenchmarkDBIngest (root) counts them.
func recsBufferBytes(recs []arrow.RecordBatch) int64 {
	var n int64
	for _, r := range recs {
		for _, c := range r.Columns() {
			for _, buf := range c.Data().Buffers() {
				if buf != nil {
					n += int64(buf.Len())
				}
			}
		}
	}
	return n
}
