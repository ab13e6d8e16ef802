package arrowexec

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// intGroups is the group table of an aggregate whose only key is an
// integer or date column: an intTable, whose probe touches one slot where a
// groupTable touches a slot, a key offset and the key bytes (three cache
// misses per row once the table outgrows the caches, as 200K part keys of
// TPC-H Q17 do), plus the group of the NULL key.
type intGroups struct {
	tab  *intTable
	null int32 // the NULL key's group; -1 until a NULL key appears
	buf  []int64
	idx  [probeBatch]int32 // scratch of intTable.touch
	sink int32             // keeps the loads of intTable.touch
}

// intGroupable reports whether a single group key of type dt can use an
// intGroups (the types intKeys reads).
func intGroupable(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.INT64, arrow.INT32, arrow.DATE32:
		return true
	}
	return false
}

func newIntGroups() *intGroups { return &intGroups{tab: newIntTable(), null: -1} }

func (g *intGroups) len() int { return g.tab.len() }

func (g *intGroups) bytes() int64 { return g.tab.bytes() }

// find sets gids[i] to the group of row i of key, adding new groups. A
// row with the key of the row before it takes its group without a probe:
// tables are often sorted or clustered by the keys they are grouped by
// (lineitem by l_orderkey: four rows per order on average).
func (g *intGroups) find(key arrow.Array, gids []int32) {
	keys, buf, _ := intKeys(key, g.buf)
	g.buf = buf
	if key.NullN() == 0 {
		last, lastG := int64(0), int32(-1)
		for lo := 0; lo < len(keys); lo += probeBatch {
			hi := min(lo+probeBatch, len(keys))
			// As in intTable.lookupBatch: load the block's slots first,
			// many misses in flight at once.
			if len(g.tab.slots) > 1<<12 {
				g.sink |= g.tab.touch(keys[lo:hi], g.idx[:])
			}
			for i := lo; i < hi; i++ {
				if k := keys[i]; k != last || lastG < 0 {
					last, lastG = k, g.find1(k)
				}
				gids[i] = lastG
			}
		}
		return
	}
	for i, k := range keys {
		if key.IsNull(i) {
			gids[i] = g.nullGroup()
			continue
		}
		gids[i], _ = g.tab.find(k)
	}
}

func (g *intGroups) find1(k int64) int32 {
	gid, _ := g.tab.find(k)
	return gid
}

func (g *intGroups) nullGroup() int32 {
	if g.null < 0 {
		g.null = g.tab.next()
	}
	return g.null
}

// merge adds the groups of o, setting gmap[j] to the group here of o's
// group j.
func (g *intGroups) merge(o *intGroups, gmap []int32) {
	for _, s := range o.tab.slots {
		if s.g != 0 {
			gmap[s.g-1], _ = g.tab.find(s.key)
		}
	}
	if o.null >= 0 {
		gmap[o.null] = g.nullGroup()
	}
}

// decodeKeys returns the key of every group, in group order, as an array
// of type dt.
func (g *intGroups) decodeKeys(mem memory.Allocator, dt arrow.DataType) arrow.Array {
	n := g.tab.len()
	var vb *memory.Buffer
	nulls := 0
	if g.null >= 0 {
		vb = allocBitmap(mem, n)
		bitutil.SetBitsTo(vb.Bytes(), 0, int64(n), true)
		bitutil.ClearBit(vb.Bytes(), int(g.null))
		nulls = 1
	}
	if dt.ID() == arrow.INT64 {
		buf, vals := allocFixed[int64](mem, n)
		for _, s := range g.tab.slots {
			if s.g != 0 {
				vals[s.g-1] = s.key
			}
		}
		return makeArray(dt, n, nulls, vb, buf)
	}
	buf, vals := allocFixed[int32](mem, n)
	for _, s := range g.tab.slots {
		if s.g != 0 {
			vals[s.g-1] = int32(s.key)
		}
	}
	return makeArray(dt, n, nulls, vb, buf)
}
