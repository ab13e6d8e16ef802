package arrowexec

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// benchBatches returns rows int64 rows in batches of 4096: column 0 = i,
// column 1 = i % groups.
func benchBatches(rows, groups int) (*arrow.Schema, []arrow.RecordBatch) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "v", Type: i64}, {Name: "g", Type: i64}}, nil)
	var recs []arrow.RecordBatch
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for i := 0; i < rows; i += 4096 {
		for j := i; j < min(i+4096, rows); j++ {
			b.Field(0).(*array.Int64Builder).Append(int64(j))
			b.Field(1).(*array.Int64Builder).Append(int64(j % groups))
		}
		recs = append(recs, b.NewRecordBatch())
	}
	return schema, recs
}

// reuse yields the same batches without taking ownership.
func reuse(schema *arrow.Schema, recs []arrow.RecordBatch) Operator {
	for _, r := range recs {
		r.Retain()
	}
	return NewValues(schema, append([]arrow.RecordBatch(nil), recs...))
}

func runBench(b *testing.B, rows int, build func() Operator) {
	ctx := exec.WithAllocator(context.Background(), memory.DefaultAllocator)
	b.ResetTimer()
	cpu0 := processCPU()
	for i := 0; i < b.N; i++ {
		op := build()
		if err := op.Open(ctx); err != nil {
			b.Fatal(err)
		}
		for {
			r, err := op.Next()
			if err != nil {
				b.Fatal(err)
			}
			if r == nil {
				break
			}
		}
		op.Close()
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(processCPU()-cpu0)/1e6/float64(b.N), "cpu-ms/op")
}

// processCPU returns the user and system CPU time the process has used:
// on a shared machine a steadier measure than wall time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkFilterSum10M(b *testing.B) {
	const rows = 10_000_000
	schema, recs := benchBatches(rows, 1000)
	pred, _ := Compare(OpLt, Column(0, i64), lit(int64(rows/2)))
	runBench(b, rows, func() Operator {
		op, _ := NewHashAggregate(NewFilter(reuse(schema, recs), pred), nil, nil,
			[]Aggregate{{Func: AggSum, Arg: Column(0, i64), Name: "s"}})
		return op
	})
}

func BenchmarkHashAgg1KGroups(b *testing.B) {
	const rows = 2_000_000
	schema, recs := benchBatches(rows, 1000)
	runBench(b, rows, func() Operator {
		op, _ := NewHashAggregate(reuse(schema, recs), []Expr{Column(1, i64)}, nil,
			[]Aggregate{{Func: AggCountStar, Name: "n"}, {Func: AggSum, Arg: Column(0, i64), Name: "s"}})
		return op
	})
}

func BenchmarkSort1M(b *testing.B) {
	const rows = 1_000_000
	schema, recs := benchBatches(rows, 7919)
	runBench(b, rows, func() Operator {
		return NewSort(reuse(schema, recs), []SortKey{{Expr: Column(1, i64)}, {Expr: Column(0, i64), Desc: true}})
	})
}
