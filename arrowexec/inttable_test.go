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
		name string
		keys func(i int) int64
		n    int
		hint int
	}{
		{"unique-sized", func(i int) int64 { return int64(i) * 3 }, 20000, 20000},
		{"runs-sized", func(i int) int64 { return int64(i / 4) }, 20000, 5000},
		{"random-grows", func(i int) int64 { return rand.Int64N(7000) - 3500 }, 20000, 0},
		{"strided", func(i int) int64 { return int64(i%900) << 40 }, 5000, 100},
		{"extremes", func(i int) int64 { return []int64{math.MinInt64, math.MaxInt64, 0, -1}[i%4] }, 40, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := newIntTableSize(tc.hint)
			slots := len(tab.slots)
			last := map[int64]int32{}
			keys := make([]int64, tc.n)
			for i := range keys {
				k := tc.keys(i)
				keys[i] = k
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
			if tc.hint >= len(last) && len(tab.slots) != slots {
				t.Fatalf("a table sized for %d keys grew from %d to %d slots", tc.hint, slots, len(tab.slots))
			}
			probe := append(append([]int64(nil), keys...), math.MinInt64+1, 1<<50, -7)
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
