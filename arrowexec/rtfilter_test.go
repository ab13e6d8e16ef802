package arrowexec

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestRuntimeFilterPublish checks what a join publishes to its runtime
// filter: the build's non-NULL keys (an empty set for an empty build),
// once for a shared build, its memory in the query's budget; and that
// joins which emit unmatched probe rows refuse a filter.
func TestRuntimeFilterPublish(t *testing.T) {
	build := []string{`{"k": 5, "v": 1}`, `{"k": null, "v": 2}`, `{"k": 9, "v": 3}`, `{"k": 5, "v": 4}`, `{"k": -3, "v": null}`}
	for _, tc := range []struct {
		name  string
		build []string
		keys  []int64 // members; nil: an empty set
	}{
		{"keys", build, []int64{-3, 5, 9}},
		{"empty", nil, nil},
		{"only NULL", []string{`{"k": null, "v": 1}`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			budget := NewBudget(0)
			ctx := WithBudget(exec.WithAllocator(context.Background(), mem), budget)
			f := &RuntimeFilter{Key: 0}
			opts := HashJoinOptions{ProbeKeys: []Expr{Column(0, i64)}, BuildKeys: []Expr{Column(0, i64)},
				RuntimeFilters: []*RuntimeFilter{f}}
			sb := NewSharedBuild(NewValues(joinSchema, jbatches(t, mem, tc.build, 2)))
			var ops []Operator
			for i := 0; i < 3; i++ {
				op, err := NewSharedHashJoin(NewValues(joinSchema, jbatches(t, mem, build, 2)), sb, opts)
				if err != nil {
					t.Fatal(err)
				}
				ops = append(ops, op)
			}
			if err := sb.Release(); err != nil {
				t.Fatal(err)
			}
			if f.Keys() != nil {
				t.Fatal("keys published before the build")
			}
			var wg sync.WaitGroup
			for _, op := range ops {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := drainRows(ctx, op); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			ks := f.Keys()
			if ks == nil {
				t.Fatal("no keys published")
			}
			if ks.IsEmpty() != (tc.keys == nil) {
				t.Fatalf("IsEmpty() = %v", ks.IsEmpty())
			}
			for v := int64(-5); v <= 10; v++ {
				if ks.Contains(v) != slices.Contains(tc.keys, v) {
					t.Errorf("Contains(%d) = %v", v, ks.Contains(v))
				}
			}
			mem.AssertSize(t, 0)
			if u := budget.Used(); u != 0 {
				t.Errorf("%d bytes still accounted", u)
			}
		})
	}
	for _, typ := range []JoinType{JoinProbeOuter, JoinFullOuter, JoinAnti, JoinNullAwareAnti, JoinMark, JoinNullAwareMark} {
		opts := HashJoinOptions{Type: typ, ProbeKeys: []Expr{Column(0, i64)}, BuildKeys: []Expr{Column(0, i64)},
			RuntimeFilters: []*RuntimeFilter{{Key: 0}}}
		if _, err := NewHashJoin(NewValues(joinSchema, nil), NewValues(joinSchema, nil), opts); err == nil {
			t.Errorf("%s: runtime filter accepted", typ)
		}
	}
	for _, typ := range []JoinType{JoinInner, JoinSemi, JoinBuildSemi, JoinBuildAnti} {
		opts := HashJoinOptions{Type: typ, ProbeKeys: []Expr{Column(0, i64)}, BuildKeys: []Expr{Column(0, i64)},
			RuntimeFilters: []*RuntimeFilter{{Key: 0}}}
		op, err := NewHashJoin(NewValues(joinSchema, nil), NewValues(joinSchema, nil), opts)
		if err != nil {
			t.Errorf("%s: %v", typ, err)
			continue
		}
		op.Close()
	}
}

// TestRuntimeFilterOverBudget: a key set that the query's budget cannot
// hold is published as its range (no memory) instead of failing the
// join, which answers as without a filter.
func TestRuntimeFilterOverBudget(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	// Keys 0 and 1e6 make a bitmap of about 125 KiB.
	build := []string{`{"k": 0, "v": 1}`, `{"k": 1000000, "v": 2}`}
	budget := NewBudget(64 << 10)
	ctx := WithBudget(exec.WithAllocator(context.Background(), mem), budget)
	f := &RuntimeFilter{Key: 0}
	opts := HashJoinOptions{ProbeKeys: []Expr{Column(0, i64)}, BuildKeys: []Expr{Column(0, i64)},
		RuntimeFilters: []*RuntimeFilter{f}}
	op, err := NewHashJoin(NewValues(joinSchema, jbatches(t, mem, []string{`{"k": 1000000, "v": 7}`, `{"k": 5, "v": 8}`}, 2)),
		NewValues(joinSchema, jbatches(t, mem, build, 2)), opts)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := drainRows(ctx, op)
	if err != nil || len(rows) != 1 {
		t.Fatalf("rows %q, %v; want 1 row", rows, err)
	}
	ks := f.Keys()
	if ks == nil || ks.Exact() || ks.Min != 0 || ks.Max != 1000000 {
		t.Fatalf("published %+v, want the range [0, 1000000]", ks)
	}
	mem.AssertSize(t, 0)
	if u := budget.Used(); u != 0 {
		t.Errorf("%d bytes still accounted", u)
	}
}
