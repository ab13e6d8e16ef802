package arrowexec

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// intKeyBatches returns batches of size rows of (k dt, v int64) where k is
// keys[i] (NULL when keys[i] < 0) and v is i.
func intKeyBatches(mem memory.Allocator, dt arrow.DataType, keys []int64, size int) (*arrow.Schema, []arrow.RecordBatch) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: dt, Nullable: true}, {Name: "v", Type: i64}}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	var out []arrow.RecordBatch
	for i, k := range keys {
		switch kb := b.Field(0).(type) {
		case *array.Int64Builder:
			if k < 0 {
				kb.AppendNull()
			} else {
				kb.Append(k)
			}
		case *array.Int32Builder:
			if k < 0 {
				kb.AppendNull()
			} else {
				kb.Append(int32(k))
			}
		case *array.Date32Builder:
			if k < 0 {
				kb.AppendNull()
			} else {
				kb.Append(arrow.Date32(k))
			}
		}
		b.Field(1).(*array.Int64Builder).Append(int64(i))
		if (i+1)%size == 0 || i == len(keys)-1 {
			out = append(out, b.NewRecordBatch())
		}
	}
	return schema, out
}

// TestHashJoinIntKeysLarge joins builds large enough for the hash tables'
// blockwise probes (clustered, random and unique keys, with NULLs) against
// a map-based reference, for every integer key type the intTable serves,
// and (INT32) on two keys through a groupTable.
func TestHashJoinIntKeysLarge(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	const nb, np = 6000, 3000
	builds := map[string]func(i int) int64{
		"clustered": func(i int) int64 { return int64(i / 3) },
		"random":    func(int) int64 { return r.Int64N(2000) },
		"unique":    func(i int) int64 { return int64((i * 7919) % nb) },
		// Keys far apart: a hash table, not a dense one.
		"sparse": func(i int) int64 { return int64(i%2000) * 100_003 },
	}
	for _, dt := range []arrow.DataType{i64, arrow.PrimitiveTypes.Int32, arrow.FixedWidthTypes.Date32} {
		for bname, bk := range builds {
			bkeys := make([]int64, nb)
			for i := range bkeys {
				bkeys[i] = bk(i)
				if i%17 == 5 {
					bkeys[i] = -1
				}
			}
			pkeys := make([]int64, np)
			for i := range pkeys {
				pkeys[i] = r.Int64N(2500)
				if bname == "sparse" && i%2 == 0 {
					pkeys[i] *= 100_003
				}
				if i%23 == 1 {
					pkeys[i] = -1
				}
			}
			rows := map[int64][]int{}
			for i, k := range bkeys {
				if k >= 0 {
					rows[k] = append(rows[k], i)
				}
			}
			probed := map[int64]bool{}
			for _, k := range pkeys {
				probed[k] = k >= 0
			}
			for _, typ := range []JoinType{JoinInner, JoinSemi, JoinAnti, JoinProbeOuter, JoinNullAwareAnti, JoinBuildSemi, JoinBuildAnti} {
				name := fmt.Sprintf("%s/%s/%s", dt, bname, typ)
				var want []string
				for i, k := range pkeys {
					m := rows[k]
					if k < 0 {
						m = nil
					}
					switch {
					case typ == JoinInner || typ == JoinProbeOuter && len(m) > 0:
						for _, b := range m {
							want = append(want, fmt.Sprintf("%d|%d|%d|%d", k, i, k, b))
						}
					case typ == JoinProbeOuter:
						want = append(want, fmt.Sprintf("%s|%d|NULL|NULL", cellKey(k), i))
					case typ == JoinSemi && len(m) > 0, typ == JoinAnti && len(m) == 0:
						want = append(want, fmt.Sprintf("%s|%d", cellKey(k), i))
					}
				}
				if typ.onBuild() {
					for i, k := range bkeys {
						if probed[k] == (typ == JoinBuildSemi) {
							want = append(want, fmt.Sprintf("%s|%d", cellKey(k), i))
						}
					}
				}
				slices.Sort(want)
				mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
				ctx := exec.WithAllocator(context.Background(), mem)
				ps, pb := intKeyBatches(mem, dt, pkeys, 1000)
				bs, bb := intKeyBatches(mem, dt, bkeys, 1024)
				opts := HashJoinOptions{Type: typ, ProbeKeys: []Expr{Column(0, dt)}, BuildKeys: []Expr{Column(0, dt)}}
				if dt.ID() == arrow.INT32 && typ != JoinNullAwareAnti {
					// Two keys (the same column twice): the groupTable path.
					opts.ProbeKeys = append(opts.ProbeKeys, Column(0, dt))
					opts.BuildKeys = append(opts.BuildKeys, Column(0, dt))
				}
				op, err := NewHashJoin(NewValues(ps, pb), NewValues(bs, bb), opts)
				if err != nil {
					t.Fatal(err)
				}
				got, err := drain(t, ctx, op)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if dt.ID() == arrow.DATE32 {
					// Rendered as dates: compare the row numbers only.
					got, want = rowNumbers(got), rowNumbers(want)
				}
				slices.Sort(got)
				if typ == JoinNullAwareAnti {
					// The build side has NULL keys: NOT IN keeps no row.
					want = nil
				}
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Fatalf("%s: %d rows, want %d\ngot  %.300v\nwant %.300v", name, len(got), len(want), got, want)
				}
				mem.AssertSize(t, 0)
			}
		}
	}
}

func cellKey(k int64) string {
	if k < 0 {
		return "NULL"
	}
	return fmt.Sprint(k)
}

// rowNumbers keeps the v columns (every second cell) of rendered rows.
func rowNumbers(rows []string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		cells := strings.Split(r, "|")
		var vs []string
		for c := 1; c < len(cells); c += 2 {
			vs = append(vs, cells[c])
		}
		out[i] = strings.Join(vs, "|")
	}
	slices.Sort(out)
	return out
}

// TestSharedHashJoinLargeConcurrent probes one shared build, large enough
// for the tables' blockwise probes, from several goroutines at once (run
// it with -race): the probes only read the tables.
func TestSharedHashJoinLargeConcurrent(t *testing.T) {
	const nb, np, parts = 20000, 8000, 3
	bkeys := make([]int64, nb)
	for i := range bkeys {
		bkeys[i] = int64((i * 7919) % nb)
	}
	pkeys := make([]int64, np)
	for i := range pkeys {
		pkeys[i] = int64(i * 3)
	}
	want := 0
	for _, k := range pkeys {
		if k < nb {
			want++
		}
	}
	for _, twoKeys := range []bool{false, true} {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		ctx := exec.WithAllocator(context.Background(), mem)
		bs, bb := intKeyBatches(mem, i64, bkeys, 4096)
		sb := NewSharedBuild(NewValues(bs, bb))
		opts := HashJoinOptions{Type: JoinSemi, ProbeKeys: []Expr{Column(0, i64)}, BuildKeys: []Expr{Column(0, i64)}}
		if twoKeys {
			opts.ProbeKeys = append(opts.ProbeKeys, Column(0, i64))
			opts.BuildKeys = append(opts.BuildKeys, Column(0, i64))
		}
		var ops []Operator
		for p := 0; p < parts; p++ {
			ps, pb := intKeyBatches(mem, i64, pkeys, 1000)
			op, err := NewSharedHashJoin(NewValues(ps, pb), sb, opts)
			if err != nil {
				t.Fatal(err)
			}
			ops = append(ops, op)
		}
		if err := sb.Release(); err != nil {
			t.Fatal(err)
		}
		counts := make([]int, parts)
		errs := make([]error, parts)
		var wg sync.WaitGroup
		for p, op := range ops {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer op.Close()
				if errs[p] = op.Open(ctx); errs[p] != nil {
					return
				}
				for {
					b, err := op.Next()
					if err != nil || b == nil {
						errs[p] = err
						return
					}
					counts[p] += int(b.NumRows())
				}
			}()
		}
		wg.Wait()
		for p := range ops {
			if errs[p] != nil || counts[p] != want {
				t.Fatalf("twoKeys=%v probe %d: %d rows, %v; want %d rows", twoKeys, p, counts[p], errs[p], want)
			}
		}
		mem.AssertSize(t, 0)
	}
}
