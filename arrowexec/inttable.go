package arrowexec

import (
	"math"

	"github.com/apache/arrow-go/v18/arrow"
)

// intTable maps integer keys to int32 values: dense group ids 0, 1, 2, ...
// for an aggregate (find), or the first build row of each key's chain for a
// join whose only key is an integer column (push; the common key-foreign
// key case). The key and its value sit side by side in one 16-byte slot, so
// a probe touches one slot, not a slot, a key offset and the key bytes of a
// groupTable: on tables larger than the caches each of those is a miss.
// Open addressing with linear probing and Fibonacci hashing over a
// power-of-two slot array; at most half full.
//
// A join's table whose keys span a range not much wider than their number
// (TPC-H's keys, surrogate keys in general) is dense instead: value + 1 of
// key k at dense[k-dmin], 4 bytes per possible key and one access per
// probe without a compare, in no more memory than the slots would take.
// newDenseIntTable makes one; it serves push, lookup and lookupBatch only.
type intTable struct {
	slots []intSlot
	shift uint // 64 - log2(len(slots))
	n     int
	dense []int32 // non-nil: the dense form; slots is unused
	dmin  int64
}

type intSlot struct {
	key int64
	g   int32 // value + 1; 0 = empty
}

func newIntTable() *intTable { return newIntTableSize(0) }

// newIntTableSize returns a table with room for n keys before it grows.
func newIntTableSize(n int) *intTable {
	size, bits := 256, uint(8)
	for size < 2*n {
		size, bits = size*2, bits+1
	}
	return &intTable{slots: make([]intSlot, size), shift: 64 - bits}
}

// newDenseIntTable returns a dense table for the keys min .. min+span-1.
func newDenseIntTable(min int64, span int) *intTable {
	return &intTable{dense: make([]int32, span), dmin: min}
}

// denseSpan returns the span of the dense table for keys ik (NULL where
// nulls says so) of which at most distinct are distinct, and their
// minimum; ok is false when a dense table would take more memory than the
// slots of a hash table (16 bytes a slot, at least two slots a key,
// rounded up to a power of two as newIntTableSize does: TPC-H Q21's 729K
// finished orders, whose keys span 6M, take 24 MB dense or 32 MB of
// slots), or there are no keys.
func denseSpan(ik []int64, nulls []bool, distinct int) (min int64, span int, ok bool) {
	lo, hi, any := int64(math.MaxInt64), int64(math.MinInt64), false
	for i, k := range ik {
		if nulls != nil && nulls[i] {
			continue
		}
		lo, hi, any = mmin(lo, k), mmax(hi, k), true
	}
	if !any {
		return 0, 0, false
	}
	// hi-lo in uint64 is exact for every lo <= hi.
	d := uint64(hi) - uint64(lo)
	slots := 256
	for slots < 2*distinct {
		slots *= 2
	}
	if d >= uint64(max(8*distinct+1024, 4*slots)) {
		return 0, 0, false
	}
	return lo, int(d) + 1, true
}

func mmin(a, b int64) int64 {
	if b < a {
		return b
	}
	return a
}

func mmax(a, b int64) int64 {
	if b > a {
		return b
	}
	return a
}

func (t *intTable) len() int { return t.n }

// bytes estimates the table's memory.
func (t *intTable) bytes() int64 { return int64(len(t.slots))*16 + int64(len(t.dense))*4 }

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

// push sets the value of key to v, adding key when new, and returns its
// previous value, or -1 when key is new: a join's build prepends row v to
// the chain of key's rows.
func (t *intTable) push(key int64, v int32) int32 {
	if t.dense != nil {
		// The caller passes keys in the table's range only.
		d := &t.dense[uint64(key)-uint64(t.dmin)]
		prev := *d - 1
		if prev < 0 {
			t.n++
		}
		*d = v + 1
		return prev
	}
	mask := uint64(len(t.slots) - 1)
	for i := t.index(key); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.g == 0 {
			s.key, s.g = key, v+1
			t.n++
			if t.n*2 > len(t.slots) {
				t.grow()
			}
			return -1
		}
		if s.key == key {
			prev := s.g - 1
			s.g = v + 1
			return prev
		}
	}
}

// probeBatch is how many keys lookupBatch hashes and touches before it
// probes them: their slots' cache lines stay in L1.
const probeBatch = 256

// lookupBatch sets out[i] to lookup(keys[i]). It first computes the slot
// of every key of a block and loads those slots in a loop without
// data-dependent branches, so that the CPU has many cache misses in flight
// at once, instead of one or two in the probe loop, whose branches on the
// loaded slot stall it: on tables larger than the caches this roughly
// halves the time of a probe. It only reads the table, so concurrent
// probes of a shared build may call it; the caller keeps the returned
// value of the loads (see touch).
func (t *intTable) lookupBatch(keys []int64, out []int32) int32 {
	out = out[:len(keys)]
	if t.dense != nil {
		// No branch on loaded data: the misses overlap by themselves.
		dense, span := t.dense, uint64(len(t.dense))
		for i, k := range keys {
			v := int32(0)
			if d := uint64(k) - uint64(t.dmin); d < span {
				v = dense[d]
			}
			out[i] = v - 1
		}
		return 0
	}
	var sink int32
	mask := uint64(len(t.slots) - 1)
	for lo := 0; lo < len(keys); lo += probeBatch {
		ks, os := keys[lo:min(lo+probeBatch, len(keys))], out[lo:min(lo+probeBatch, len(keys))]
		if len(t.slots) > 1<<12 {
			sink |= t.touch(ks, os)
		}
		for j, k := range ks {
			g := int32(-1)
			for i := t.index(k); ; i = (i + 1) & mask {
				s := &t.slots[i]
				if s.g == 0 {
					break
				}
				if s.key == k {
					g = s.g - 1
					break
				}
			}
			os[j] = g
		}
	}
	return sink
}

// touch loads the home slot of every key of ks, using idx as scratch, and
// returns the OR of the loaded values: a caller stores it in a field of its
// own (not of the table, which concurrent probes may share), or the
// compiler would drop the loads.
func (t *intTable) touch(ks []int64, idx []int32) int32 {
	for j, k := range ks {
		idx[j] = int32(t.index(k))
	}
	var sink int32
	for _, i := range idx[:len(ks)] {
		sink |= t.slots[i].g
	}
	return sink
}

// lookup returns the group of key or -1.
func (t *intTable) lookup(key int64) int32 {
	if t.dense != nil {
		if d := uint64(key) - uint64(t.dmin); d < uint64(len(t.dense)) {
			return t.dense[d] - 1
		}
		return -1
	}
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
