package arrowexec

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestIntGroups checks the integer group table against a map: groups in
// order of first appearance, the NULL key one group of its own, keys decoded
// in their own type, and merge.
func TestIntGroups(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, dt := range []arrow.DataType{arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Int32, arrow.FixedWidthTypes.Date32} {
		b := array.NewBuilder(mem, dt)
		const n = 5000
		var want []string // keys in order of first appearance
		seen := map[string]int32{}
		var wantGids []int32
		for i := range n {
			k := int64((i / 3 * 7919) % 1300) // runs of three equal keys
			if i%11 == 4 {
				b.AppendNull()
			} else {
				switch bb := b.(type) {
				case *array.Int64Builder:
					bb.Append(k - 600)
				case *array.Int32Builder:
					bb.Append(int32(k - 600))
				case *array.Date32Builder:
					bb.Append(arrow.Date32(k))
				}
			}
		}
		key := b.NewArray()
		b.Release()
		for i := range n {
			s := key.ValueStr(i)
			g, ok := seen[s]
			if !ok {
				g = int32(len(want))
				seen[s] = g
				want = append(want, s)
			}
			wantGids = append(wantGids, g)
		}
		g := newIntGroups()
		gids := make([]int32, n)
		g.find(key, gids)
		for i := range n {
			if gids[i] != wantGids[i] {
				t.Fatalf("%s: row %d in group %d, want %d", dt, i, gids[i], wantGids[i])
			}
		}
		keys := g.decodeKeys(mem, dt)
		if keys.Len() != len(want) || !arrow.TypeEqual(keys.DataType(), dt) {
			t.Fatalf("%s: decoded %d keys of %s, want %d", dt, keys.Len(), keys.DataType(), len(want))
		}
		for j, w := range want {
			if got := keys.ValueStr(j); got != w {
				t.Errorf("%s: group %d has key %s, want %s", dt, j, got, w)
			}
		}
		keys.Release()

		// Merging the same rows into a fresh table maps every group onto
		// itself.
		m := newIntGroups()
		gmap := make([]int32, g.len())
		m.merge(g, gmap)
		for j, to := range gmap {
			if to < 0 || int(to) >= m.len() {
				t.Fatalf("%s: group %d merged into %d of %d", dt, j, to, m.len())
			}
		}
		if m.len() != g.len() || (m.null < 0) != (g.null < 0) || m.null >= 0 && gmap[g.null] != m.null {
			t.Errorf("%s: merged %d groups (NULL group %d), want %d (NULL %d)", dt, m.len(), m.null, g.len(), g.null)
		}
		key.Release()
	}
}
