package arrowexec

import (
	"github.com/apache/arrow-go/v18/arrow"
)

// intTable maps integer keys to dense group ids 0, 1, 2, ...: the hash
// table of a join whose only key is an integer column (the common key-
// foreign key case). The key sits in its slot, so a probe touches one
// slot, not a slot, a key offset and the key bytes of a groupTable: on
// tables larger than the caches each of those is a miss. Open addressing
// with linear probing and Fibonacci hashing; at most half full.
type intTable struct {
	slots []intSlot
	shift uint // 64 - log2(len(slots))
	n     int
}

type intSlot struct {
	key int64
	g   int32 // group + 1; 0 = empty
}

func newIntTable() *intTable {
	return &intTable{slots: make([]intSlot, 256), shift: 64 - 8}
}

func (t *intTable) len() int { return t.n }

// bytes estimates the table's memory.
func (t *intTable) bytes() int64 { return int64(len(t.slots)) * 16 }

func (t *intTable) index(key int64) uint64 {
	return (uint64(key) * 0x9E3779B97F4A7C15) >> t.shift
}

// find returns the group of key, adding it when new.
func (t *intTable) find(key int64) (int32, bool) {
	mask := uint64(len(t.slots) - 1)
	for i := t.index(key); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.g == 0 {
			g := int32(t.n)
			s.key, s.g = key, g+1
			t.n++
			if t.n*2 > len(t.slots) {
				t.grow()
			}
			return g, true
		}
		if s.key == key {
			return s.g - 1, false
		}
	}
}

// next takes the next group without a key: the NULL key's group of an
// aggregate (intGroups).
func (t *intTable) next() int32 {
	g := int32(t.n)
	t.n++
	return g
}

// lookup returns the group of key or -1.
func (t *intTable) lookup(key int64) int32 {
	mask := uint64(len(t.slots) - 1)
	for i := t.index(key); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.g == 0 {
			return -1
		}
		if s.key == key {
			return s.g - 1
		}
	}
}

func (t *intTable) grow() {
	old := t.slots
	t.slots = make([]intSlot, 2*len(old))
	t.shift--
	mask := uint64(len(t.slots) - 1)
	for _, s := range old {
		if s.g == 0 {
			continue
		}
		i := t.index(s.key)
		for t.slots[i].g != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}

// intKeys returns the values of a join key column as int64s when its type
// is an integer type the intTable serves, widening narrower ones into buf.
// ok is false for other types. NULL slots hold arbitrary values.
func intKeys(a arrow.Array, buf []int64) ([]int64, []int64, bool) {
	switch a.DataType().ID() {
	case arrow.INT64:
		return values[int64](a), buf, true
	case arrow.INT32, arrow.DATE32:
		v := values[int32](a)
		if cap(buf) < len(v) {
			buf = make([]int64, len(v))
		}
		buf = buf[:len(v)]
		for i, x := range v {
			buf[i] = int64(x)
		}
		return buf, buf, true
	}
	return nil, buf, false
}
