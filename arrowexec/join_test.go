package arrowexec

import (
	"context"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

var joinSchema = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: i64, Nullable: true},
	{Name: "v", Type: i64, Nullable: true},
}, nil)

type jrow struct{ k, v *int64 }

func randRows(r *rand.Rand, n, keys int) []jrow {
	out := make([]jrow, n)
	for i := range out {
		if r.Intn(6) != 0 {
			k := int64(r.Intn(keys))
			out[i].k = &k
		}
		if r.Intn(8) != 0 {
			v := int64(r.Intn(20))
			out[i].v = &v
		}
	}
	return out
}

func cell(p *int64) string {
	if p == nil {
		return "NULL"
	}
	return fmt.Sprint(*p)
}

func rowsJSON(rows []jrow) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = strings.ReplaceAll(fmt.Sprintf(`{"k": %s, "v": %s}`, cell(r.k), cell(r.v)), "NULL", "null")
	}
	return out
}

func jbatches(t testing.TB, mem memory.Allocator, rows []string, size int) []arrow.RecordBatch {
	var out []arrow.RecordBatch
	for i := 0; i < len(rows); i += size {
		j := min(i+size, len(rows))
		out = append(out, recFromJSON(t, mem, joinSchema, "["+strings.Join(rows[i:j], ",")+"]"))
	}
	return out
}

// naiveJoin is the reference: nested loops with SQL semantics. withKeys
// joins on k = k; residual is probe.v < build.v.
func naiveJoin(typ JoinType, probe, build []jrow, withKeys, residual bool) []string {
	match := func(p, b jrow) bool {
		if withKeys && (p.k == nil || b.k == nil || *p.k != *b.k) {
			return false
		}
		if residual && (p.v == nil || b.v == nil || *p.v >= *b.v) {
			return false
		}
		return true
	}
	var out []string
	bm := make([]bool, len(build))
	buildNull := false
	for _, b := range build {
		buildNull = buildNull || b.k == nil
	}
	for _, p := range probe {
		m := false
		for bi, b := range build {
			if match(p, b) {
				m = true
				bm[bi] = true
				if typ.keepsBuild() {
					out = append(out, strings.Join([]string{cell(p.k), cell(p.v), cell(b.k), cell(b.v)}, "|"))
				}
			}
		}
		pr := cell(p.k) + "|" + cell(p.v)
		switch {
		case typ == JoinSemi && m, typ == JoinAnti && !m:
			out = append(out, pr)
		case typ == JoinNullAwareAnti && !m:
			if len(build) == 0 || (!buildNull && p.k != nil) {
				out = append(out, pr)
			}
		case typ.probeOuter() && !m:
			out = append(out, pr+"|NULL|NULL")
		}
	}
	if typ.buildOuter() {
		for bi, b := range build {
			if !bm[bi] {
				out = append(out, "NULL|NULL|"+cell(b.k)+"|"+cell(b.v))
			}
		}
	}
	if typ.onBuild() {
		for bi, b := range build {
			if bm[bi] == (typ == JoinBuildSemi) {
				out = append(out, cell(b.k)+"|"+cell(b.v))
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestHashJoinMatchesNestedLoops(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	types := []JoinType{JoinInner, JoinProbeOuter, JoinBuildOuter, JoinFullOuter, JoinSemi, JoinAnti, JoinNullAwareAnti,
		JoinBuildSemi, JoinBuildAnti}
	for iter := 0; iter < 12; iter++ {
		probe := randRows(r, r.Intn(30), 1+r.Intn(6))
		build := randRows(r, r.Intn(30), 1+r.Intn(6))
		if iter%7 == 3 {
			build = nil
		}
		for _, typ := range types {
			for _, withKeys := range []bool{true, false} {
				for _, residual := range []bool{false, true} {
					if typ == JoinNullAwareAnti && (!withKeys || residual) {
						continue
					}
					for _, size := range []int{1, 7, 1024} {
						name := fmt.Sprintf("%d/%s/keys=%v/res=%v/size=%d", iter, typ, withKeys, residual, size)
						mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
						ctx := exec.WithAllocator(context.Background(), mem)
						pb := jbatches(t, mem, rowsJSON(probe), size)
						bb := jbatches(t, mem, rowsJSON(build), size)
						opts := HashJoinOptions{Type: typ, BatchSize: size}
						if withKeys {
							opts.ProbeKeys = []Expr{Column(0, i64)}
							opts.BuildKeys = []Expr{Column(0, i64)}
						}
						if residual {
							opts.Residual, _ = Compare(OpLt, Column(1, i64), Column(3, i64))
						}
						op, err := NewHashJoin(NewValues(joinSchema, pb), NewValues(joinSchema, bb), opts)
						if err != nil {
							t.Fatal(err)
						}
						got, err := drain(t, ctx, op)
						if err != nil {
							t.Fatalf("%s: %v", name, err)
						}
						slices.Sort(got)
						want := naiveJoin(typ, probe, build, withKeys, residual)
						if strings.Join(got, "\n") != strings.Join(want, "\n") {
							t.Fatalf("%s:\ngot  %v\nwant %v", name, got, want)
						}
						mem.AssertSize(t, 0)
					}
				}
			}
		}
	}
}

func TestHashJoinBudget(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	ctx := WithBudget(exec.WithAllocator(context.Background(), mem), NewBudget(64))
	rows := rowsJSON(randRows(rand.New(rand.NewSource(2)), 100, 10))
	pb, bb := jbatches(t, mem, rows, 10), jbatches(t, mem, rows, 10)
	op, err := NewHashJoin(NewValues(joinSchema, pb), NewValues(joinSchema, bb), HashJoinOptions{
		ProbeKeys: []Expr{Column(0, i64)}, BuildKeys: []Expr{Column(0, i64)}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = drain(t, ctx, op)
	if sqlstate.CodeOf(err) != sqlstate.OutOfMemory {
		t.Fatalf("got %v, want 53200", err)
	}
	mem.AssertSize(t, 0)
}

// TestHashJoinSharesProbeColumns checks that an inner join passes on the
// columns of a probe batch whose rows each match once instead of copying
// them, and still copies (correctly) a batch where they do not.
func TestHashJoinSharesProbeColumns(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := exec.WithAllocator(context.Background(), mem)
	probe := []arrow.RecordBatch{
		// Every row has one match: shared.
		recFromJSON(t, mem, joinSchema, `[{"k": 1, "v": 10}, {"k": 2, "v": 20}, {"k": 3, "v": 30}]`),
		// Row 0 has two matches, row 1 none: copied.
		recFromJSON(t, mem, joinSchema, `[{"k": 4, "v": 40}, {"k": 9, "v": 90}, {"k": 1, "v": 11}]`),
		// A NULL key has no match: copied.
		recFromJSON(t, mem, joinSchema, `[{"k": null, "v": 50}, {"k": 2, "v": 21}]`),
	}
	build := []arrow.RecordBatch{recFromJSON(t, mem, joinSchema,
		`[{"k": 1, "v": 100}, {"k": 2, "v": 200}, {"k": 3, "v": 300}, {"k": 4, "v": 400}, {"k": 4, "v": 401}]`)}
	var inputs [][]*memory.Buffer
	for _, b := range probe {
		inputs = append(inputs, b.Column(1).Data().Buffers())
	}
	op, err := NewHashJoin(NewValues(joinSchema, probe), NewValues(joinSchema, build), HashJoinOptions{
		ProbeKeys: []Expr{Column(0, i64)}, BuildKeys: []Expr{Column(0, i64)}})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	if err := op.Open(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := 0; ; i++ {
		rec, err := op.Next()
		if err != nil {
			t.Fatal(err)
		}
		if rec == nil {
			break
		}
		shared := rec.Column(1).Data().Buffers()[1] == inputs[i][1]
		if want := i == 0; shared != want {
			t.Errorf("batch %d: probe column shared=%v, want %v", i, shared, want)
		}
		for r := 0; r < int(rec.NumRows()); r++ {
			got = append(got, fmt.Sprintf("%v %v %v %v", rec.Column(0).ValueStr(r), rec.Column(1).ValueStr(r),
				rec.Column(2).ValueStr(r), rec.Column(3).ValueStr(r)))
		}
	}
	want := []string{"1 10 1 100", "2 20 2 200", "3 30 3 300", "4 40 4 400", "4 40 4 401", "1 11 1 100", "2 21 2 200"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestHashJoinPackedKeys checks joins on two integer keys, which pack
// them into one (joinPack) when the build keys' ranges fit in 63 bits and
// fall back to byte keys when not: against nested loops, with NULL keys,
// probe keys below, inside and above the build's ranges, negative keys,
// and for each join type, with a shared build too.
func TestHashJoinPackedKeys(t *testing.T) {
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "a", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "b", Type: i64, Nullable: true},
		{Name: "v", Type: i64},
	}, nil)
	type row struct {
		a, b *int64
		v    int64
	}
	r := rand.New(rand.NewSource(7))
	gen := func(n int, bLo, bSpan int64) []row {
		out := make([]row, n)
		for i := range out {
			if r.Intn(8) != 0 {
				a := int64(r.Intn(7) - 3)
				out[i].a = &a
			}
			if r.Intn(8) != 0 {
				b := bLo + r.Int63n(bSpan)
				out[i].b = &b
			}
			out[i].v = int64(i)
		}
		return out
	}
	render := func(rows []row, size int, mem memory.Allocator) []arrow.RecordBatch {
		var js []string
		for _, x := range rows {
			a, b := "null", "null"
			if x.a != nil {
				a = fmt.Sprint(*x.a)
			}
			if x.b != nil {
				b = fmt.Sprint(*x.b)
			}
			js = append(js, fmt.Sprintf(`{"a": %s, "b": %s, "v": %d}`, a, b, x.v))
		}
		var out []arrow.RecordBatch
		for i := 0; i < len(js); i += size {
			out = append(out, recFromJSON(t, mem, sch, "["+strings.Join(js[i:min(i+size, len(js))], ",")+"]"))
		}
		return out
	}
	eq := func(p, b row) bool {
		return p.a != nil && b.a != nil && p.b != nil && b.b != nil && *p.a == *b.a && *p.b == *b.b
	}
	cellOf := func(p *int64) string {
		if p == nil {
			return "NULL"
		}
		return fmt.Sprint(*p)
	}
	str := func(x row) string { return fmt.Sprintf("%s|%s|%d", cellOf(x.a), cellOf(x.b), x.v) }
	const nulls = "NULL|NULL|NULL"
	for iter, tc := range []struct{ bLo, bSpan int64 }{
		{0, 10}, {-5, 12}, {1 << 40, 6}, {-(1 << 62), 1 << 62}, // the last does not pack
	} {
		build := gen(40, tc.bLo, tc.bSpan)
		probe := gen(60, tc.bLo-3, tc.bSpan+6)
		for _, typ := range []JoinType{JoinInner, JoinProbeOuter, JoinBuildOuter, JoinSemi, JoinAnti, JoinBuildSemi} {
			for _, shared := range []bool{false, true} {
				mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
				ctx := exec.WithAllocator(context.Background(), mem)
				opts := HashJoinOptions{Type: typ, BatchSize: 16,
					ProbeKeys: []Expr{Column(0, arrow.PrimitiveTypes.Int32), Column(1, i64)},
					BuildKeys: []Expr{Column(0, arrow.PrimitiveTypes.Int32), Column(1, i64)}}
				bop := NewValues(sch, render(build, 9, mem))
				var op Operator
				var err error
				if shared {
					sb := NewSharedBuild(bop)
					op, err = NewSharedHashJoin(NewValues(sch, render(probe, 11, mem)), sb, opts)
					sb.Release()
				} else {
					op, err = NewHashJoin(NewValues(sch, render(probe, 11, mem)), bop, opts)
				}
				if err != nil {
					t.Fatal(err)
				}
				got, err := drain(t, ctx, op)
				if err != nil {
					t.Fatal(err)
				}
				slices.Sort(got)
				var want []string
				bm := make([]bool, len(build))
				for _, p := range probe {
					matched := false
					for bi, b := range build {
						if !eq(p, b) {
							continue
						}
						matched, bm[bi] = true, true
						if typ.keepsBuild() {
							want = append(want, str(p)+"|"+str(b)+"")
						}
					}
					switch {
					case typ == JoinSemi && matched, typ == JoinAnti && !matched:
						want = append(want, str(p)+"")
					case typ == JoinProbeOuter && !matched:
						want = append(want, str(p)+"|"+nulls+"")
					}
				}
				for bi, b := range build {
					switch {
					case typ == JoinBuildOuter && !bm[bi]:
						want = append(want, nulls+"|"+str(b)+"")
					case typ == JoinBuildSemi && bm[bi]:
						want = append(want, str(b)+"")
					}
				}
				slices.Sort(want)
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Fatalf("%d/%s/shared=%v:\ngot  %v\nwant %v", iter, typ, shared, got, want)
				}
				mem.AssertSize(t, 0)
			}
		}
	}
}

// TestHashJoinUniqueBuild checks which builds the join takes for unique
// keys (whose probe walks no chain): NULL keys, which are not indexed, do
// not count, and the integer, packed and byte-key tables agree.
func TestHashJoinUniqueBuild(t *testing.T) {
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: i64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	for _, tc := range []struct {
		rows   string
		unique bool
	}{
		{`[{"k": 1, "s": "a"}, {"k": 2, "s": "b"}, {"k": 3, "s": "c"}]`, true},
		{`[{"k": 1, "s": "a"}, {"k": null, "s": null}, {"k": null, "s": null}]`, true},
		{`[{"k": 1, "s": "a"}, {"k": 2, "s": "b"}, {"k": 1, "s": "a"}]`, false},
		{`[]`, false},
	} {
		for _, keys := range [][]Expr{
			{Column(0, i64)},
			{Column(0, i64), Column(0, i64)},
			{Column(1, arrow.BinaryTypes.String)},
		} {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			ctx := exec.WithAllocator(context.Background(), mem)
			build := recFromJSON(t, mem, sch, tc.rows)
			op, err := NewHashJoin(NewValues(sch, nil), NewValues(sch, []arrow.RecordBatch{build}),
				HashJoinOptions{ProbeKeys: keys, BuildKeys: keys})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := drain(t, ctx, op); err != nil {
				t.Fatal(err)
			}
			if got := op.(*hashJoin).unique; got != tc.unique {
				t.Errorf("%s with %d keys %v: unique %v, want %v", tc.rows, len(keys), keys[0], got, tc.unique)
			}
			mem.AssertSize(t, 0)
		}
	}
}
