package arrowexec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestIntTable checks intTable against a map over keys that collide in
// the low bits, extremes and enough keys to grow the table many times.
func TestIntTable(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys func(i int) int64
		n    int
	}{
		{"dense", func(i int) int64 { return int64(i) }, 5000},
		{"strided", func(i int) int64 { return int64(i) << 32 }, 5000},
		{"negative", func(i int) int64 { return -int64(i) * 7 }, 3000},
		{"random", func(i int) int64 { return rand.Int64() }, 20000},
		{"extremes", func(i int) int64 { return []int64{math.MinInt64, math.MaxInt64, 0, -1, 1}[i%5] }, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := newIntTable()
			want := map[int64]int32{}
			for i := 0; i < tc.n; i++ {
				k := tc.keys(i)
				g, added := tab.find(k)
				wg, seen := want[k]
				switch {
				case seen && (added || g != wg):
					t.Fatalf("key %d: group %d added %v, want existing group %d", k, g, added, wg)
				case !seen && (!added || g != int32(len(want))):
					t.Fatalf("key %d: group %d added %v, want new group %d", k, g, added, len(want))
				}
				want[k] = g
			}
			if tab.len() != len(want) {
				t.Fatalf("%d groups, want %d", tab.len(), len(want))
			}
			for k, g := range want {
				if got := tab.lookup(k); got != g {
					t.Fatalf("lookup(%d) = %d, want %d", k, got, g)
				}
				if _, ok := want[k+1]; !ok {
					if got := tab.lookup(k + 1); got != -1 {
						t.Fatalf("lookup(%d) = %d for a missing key", k+1, got)
					}
				}
			}
		})
	}
}

// TestIntTablePush checks the join use of intTable: push returns the
// previous value of a key, lookupBatch agrees with lookup, and a table
// sized with newIntTableSize holds its keys without growing.
func TestIntTablePush(t *testing.T) {
	for _, tc := range []struct {
		name  string
		keys  func(i int) int64
		n     int
		hint  int
		dense bool
	}{
		{"unique-sized", func(i int) int64 { return int64(i) * 3 }, 20000, 20000, false},
		{"runs-sized", func(i int) int64 { return int64(i / 4) }, 20000, 5000, false},
		{"random-grows", func(i int) int64 { return rand.Int64N(7000) - 3500 }, 20000, 0, false},
		{"strided", func(i int) int64 { return int64(i%900) << 40 }, 5000, 100, false},
		{"extremes", func(i int) int64 { return []int64{math.MinInt64, math.MaxInt64, 0, -1}[i%4] }, 40, 4, false},
		{"dense-unique", func(i int) int64 { return int64(i)*3 - 100 }, 20000, 20000, true},
		{"dense-runs", func(i int) int64 { return int64(i / 4) }, 20000, 5000, true},
		{"dense-near-max", func(i int) int64 { return math.MaxInt64 - int64(i%50) }, 200, 50, true},
		{"dense-near-min", func(i int) int64 { return math.MinInt64 + int64(i%50) }, 200, 50, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := newIntTableSize(tc.hint)
			slots := len(tab.slots)
			keys := make([]int64, tc.n)
			for i := range keys {
				keys[i] = tc.keys(i)
			}
			if tc.dense {
				min, span, ok := denseSpan(keys, nil, tc.hint)
				if !ok {
					t.Fatalf("keys span too wide for a dense table")
				}
				tab = newDenseIntTable(min, span)
			}
			last := map[int64]int32{}
			for i, k := range keys {
				prev, seen := last[k]
				if !seen {
					prev = -1
				}
				if got := tab.push(k, int32(i)); got != prev {
					t.Fatalf("push(%d, %d) = %d, want %d", k, i, got, prev)
				}
				last[k] = int32(i)
			}
			if tab.len() != len(last) {
				t.Fatalf("%d keys, want %d", tab.len(), len(last))
			}
			if !tc.dense && tc.hint >= len(last) && len(tab.slots) != slots {
				t.Fatalf("a table sized for %d keys grew from %d to %d slots", tc.hint, slots, len(tab.slots))
			}
			probe := append(append([]int64(nil), keys...), math.MinInt64, math.MinInt64+1, math.MaxInt64-60, math.MaxInt64, 1<<50, -7, -101)
			out := make([]int32, len(probe))
			tab.lookupBatch(probe, out)
			for i, k := range probe {
				want, ok := last[k]
				if !ok {
					want = -1
				}
				if out[i] != want || tab.lookup(k) != want {
					t.Fatalf("key %d: lookupBatch %d, lookup %d, want %d", k, out[i], tab.lookup(k), want)
				}
			}
		})
	}
}

// TestDenseSpan checks when a join's integer keys get a dense table.
func TestDenseSpan(t *testing.T) {
	for _, tc := range []struct {
		name     string
		keys     []int64
		nulls    []bool
		distinct int
		min      int64
		span     int
		ok       bool
	}{
		{"none", nil, nil, 0, 0, 0, false},
		{"all-null", []int64{5, 6}, []bool{true, true}, 2, 0, 0, false},
		{"one", []int64{42}, nil, 1, 42, 1, true},
		{"nulls-ignored", []int64{1 << 60, 10, 12}, []bool{true, false, false}, 3, 10, 3, true},
		{"sparse", []int64{0, 1 << 40}, nil, 2, 0, 0, false},
		{"extremes", []int64{math.MinInt64, math.MaxInt64}, nil, 2, 0, 0, false},
		{"slack", []int64{0, 8*100 + 1023}, nil, 100, 0, 8*100 + 1024, true},
		{"too-wide", []int64{0, 8*100 + 1024}, nil, 100, 0, 0, false},
		// 729K keys take 2^21 slots (32 MB), as much as 8M dense keys.
		{"slots-rounded", []int64{0, 6_000_000}, nil, 729_000, 0, 6_000_001, true},
		{"slots-too-wide", []int64{0, 4 << 21}, nil, 729_000, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			min, span, ok := denseSpan(tc.keys, tc.nulls, tc.distinct)
			if ok != tc.ok || ok && (min != tc.min || span != tc.span) {
				t.Fatalf("denseSpan = %d, %d, %v; want %d, %d, %v", min, span, ok, tc.min, tc.span, tc.ok)
			}
		})
	}
}
