package segments

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb/catalog"
)

// TestStringSet checks the VARCHAR value index against a model: values of
// every length around the packed short form (empty, 7 and 8 bytes, long),
// runs, NULLs, several batches; and the threshold of distinct values.
func TestStringSet(t *testing.T) {
	for _, tc := range []struct {
		name     string
		distinct int // values drawn from
		max      int
		wantOK   bool
	}{
		{"few", 12, 1024, true},
		{"many short and long", 900, 1024, true},
		{"past the threshold", 300, 200, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			rng := rand.New(rand.NewPCG(1, uint64(tc.distinct)))
			vals := make([]string, tc.distinct)
			for i := range vals {
				// Lengths 1 to 22, distinct by their hex prefix.
				vals[i] = fmt.Sprintf("%x", i) + strings.Repeat("x", i%20)
			}
			vals[0] = ""
			set := newStringSet(tc.max)
			model := map[string][]uint32{}
			ok := true
			var base uint32
			for batch := 0; batch < 5 && ok; batch++ {
				b := array.NewStringBuilder(mem)
				n := 500 + rng.IntN(500)
				for i := 0; i < n; {
					run := 1 + rng.IntN(4)
					null := rng.IntN(10) == 0
					v := vals[rng.IntN(len(vals))]
					for k := 0; k < run && i < n; k, i = k+1, i+1 {
						if null {
							b.AppendNull()
						} else {
							b.Append(v)
							model[v] = append(model[v], base+uint32(i))
						}
					}
				}
				arr := b.NewArray()
				b.Release()
				ok = set.add(arr, base)
				arr.Release()
				base += uint32(n)
			}
			if ok != tc.wantOK {
				t.Fatalf("add reported %v, want %v", ok, tc.wantOK)
			}
			if !ok {
				return
			}
			if len(set.pos) != int(base) {
				t.Fatalf("%d row ids, want %d", len(set.pos), base)
			}
			keys, bms := set.finish(catalog.KindVarchar)
			var want []string
			for v := range model {
				want = append(want, v)
			}
			slices.Sort(want)
			if len(keys) != len(want) {
				t.Fatalf("%d keys, want %d", len(keys), len(want))
			}
			for i, k := range keys {
				if k.S != want[i] {
					t.Fatalf("key %d: %q, want %q", i, k.S, want[i])
				}
				if got := bms[i].ToArray(); !slices.Equal(got, model[k.S]) {
					t.Fatalf("rows of %q: %v, want %v", k.S, got, model[k.S])
				}
			}
		})
	}
}

// TestRows: the rows of a value, dense or buffered, come out as the
// positions added, across 64K-row chunks, with single rows, short runs and
// long ranges.
func TestRows(t *testing.T) {
	for _, id := range []int{0, denseValues} {
		rng := rand.New(rand.NewPCG(3, uint64(id)))
		r := newRows(id)
		var want []uint32
		for p := uint32(rng.IntN(100)); p < 400_000; p += 1 + uint32(rng.IntN(40)) {
			end := p + 1
			switch rng.IntN(20) {
			case 0:
				end = p + 17 + uint32(rng.IntN(5000)) // a range
			case 1:
				end = p + uint32(rng.IntN(16)) + 1
			}
			r.addRange(p, end)
			for q := p; q < end; q++ {
				want = append(want, q)
			}
			p = end
		}
		r.flush()
		if got := r.bm.ToArray(); !slices.Equal(got, want) {
			t.Fatalf("value %d: %d rows, want %d", id, len(got), len(want))
		}
	}
}
