package arrowexec

import (
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// keyBatches returns rows rows in batches of 4096 of one int64 column k
// whose values key(i) gives, and one int64 column v = i.
func keyBatches(rows int, key func(i int) int64) (*arrow.Schema, []arrow.RecordBatch) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: i64}, {Name: "v", Type: i64}}, nil)
	var recs []arrow.RecordBatch
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for i := 0; i < rows; i += 4096 {
		for j := i; j < min(i+4096, rows); j++ {
			b.Field(0).(*array.Int64Builder).Append(key(j))
			b.Field(1).(*array.Int64Builder).Append(int64(j))
		}
		recs = append(recs, b.NewRecordBatch())
	}
	return schema, recs
}

// BenchmarkHashAggManyGroups groups 6M rows of random keys into 200K groups
// (TPC-H Q17's l_partkey at SF1): a group table far larger than L2.
func BenchmarkHashAggManyGroups(b *testing.B) {
	const rows, groups = 6_000_000, 200_000
	r := rand.New(rand.NewPCG(1, 2))
	schema, recs := keyBatches(rows, func(int) int64 { return 1 + r.Int64N(groups) })
	runBench(b, rows, func() Operator {
		op, _ := NewHashAggregate(reuse(schema, recs), []Expr{Column(0, i64)}, nil,
			[]Aggregate{{Func: AggCountStar, Name: "n"}, {Func: AggSum, Arg: Column(1, i64), Name: "s"}})
		return op
	})
}

// BenchmarkHashJoinLargeBuild joins 6M probe rows with random keys against
// a build side of 1.5M unique keys in random order (lineitem ⋈ orders at
// SF1), semi join so that output does not dominate.
func BenchmarkHashJoinLargeBuild(b *testing.B) {
	const probeRows, buildRows = 6_000_000, 1_500_000
	perm := rand.New(rand.NewPCG(3, 4)).Perm(buildRows)
	bs, brecs := keyBatches(buildRows, func(i int) int64 { return int64(perm[i]) * 4 })
	r := rand.New(rand.NewPCG(5, 6))
	ps, precs := keyBatches(probeRows, func(int) int64 { return r.Int64N(buildRows) * 4 })
	runBench(b, probeRows, func() Operator {
		op, _ := NewHashJoin(reuse(ps, precs), reuse(bs, brecs), HashJoinOptions{Type: JoinSemi,
			ProbeKeys: []Expr{Column(0, i64)}, BuildKeys: []Expr{Column(0, i64)}})
		return op
	})
}

// BenchmarkHashJoinBuildDup builds 6M rows of 1.5M clustered keys (four
// rows per key, as lineitem by l_orderkey) and probes it with 1.5M keys,
// inner join.
func BenchmarkHashJoinBuildDup(b *testing.B) {
	const probeRows, buildRows = 1_500_000, 6_000_000
	bs, brecs := keyBatches(buildRows, func(i int) int64 { return int64(i / 4) })
	perm := rand.New(rand.NewPCG(7, 8)).Perm(probeRows)
	ps, precs := keyBatches(probeRows, func(i int) int64 { return int64(perm[i]) })
	runBench(b, probeRows, func() Operator {
		op, _ := NewHashJoin(reuse(ps, precs), reuse(bs, brecs), HashJoinOptions{
			ProbeKeys: []Expr{Column(0, i64)}, BuildKeys: []Expr{Column(0, i64)}})
		return op
	})
}

// BenchmarkHashAggTwoKeys groups 3M rows by two integer columns into 800K
// groups (TPC-H Q20's (l_partkey, l_suppkey)): the groupTable path.
func BenchmarkHashAggTwoKeys(b *testing.B) {
	const rows, groups = 3_000_000, 200_000
	r := rand.New(rand.NewPCG(9, 10))
	schema, recs := keyBatches(rows, func(int) int64 { return r.Int64N(groups) })
	k2, _ := Arith(OpMod, Column(1, i64), lit(int64(4)))
	runBench(b, rows, func() Operator {
		op, _ := NewHashAggregate(reuse(schema, recs), []Expr{Column(0, i64), k2}, nil,
			[]Aggregate{{Func: AggCountStar, Name: "n"}})
		return op
	})
}
