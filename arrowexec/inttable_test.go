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
