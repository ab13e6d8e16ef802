package arrowexec

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// keyEncoder serialises the key columns of a batch into one byte string
// per row, column by column (typed loops, no per-row interface calls), into
// a buffer reused across batches. Per column a key holds a NULL flag byte
// and, for non-NULL values, the value: fixed-width little-endian, strings
// with a 4-byte length. Floats are normalised (-0 = 0, one NaN) so that
// equal SQL values have equal encodings.
type keyEncoder struct {
	offs []int32 // row i's key is buf[offs[i]:offs[i+1]]
	buf  []byte
	pos  []int32 // write cursor per row
}

// bytes returns the memory of the encoder's buffers.
func (e *keyEncoder) bytes() int64 { return sliceBytes(e.offs) + sliceBytes(e.buf) + sliceBytes(e.pos) }

func fixedWidth(dt arrow.DataType) int {
	switch dt.ID() {
	case arrow.BOOL:
		return 1
	case arrow.INT16:
		return 2
	case arrow.INT32, arrow.DATE32, arrow.FLOAT32:
		return 4
	case arrow.INT64, arrow.TIMESTAMP, arrow.FLOAT64:
		return 8
	case arrow.DECIMAL128:
		return 16
	case arrow.NULL:
		return 0
	}
	return -1
}

func (k *keyEncoder) encode(cols []arrow.Array, n int) error {
	k.offs = growInt32(k.offs, n+1)
	k.pos = growInt32(k.pos, n)
	// Pass 1: sizes.
	for i := range k.offs {
		k.offs[i] = 0
	}
	for _, c := range cols {
		bits, off := validity(c)
		w := fixedWidth(c.DataType())
		if w < 0 {
			if c.DataType().ID() != arrow.STRING {
				return fmt.Errorf("arrowexec: cannot group by %s", c.DataType())
			}
			s := stringsOf(c)
			for i := 0; i < n; i++ {
				k.offs[i+1] += 1
				if isValid(bits, off, i) {
					k.offs[i+1] += 4 + s.offs[i+1] - s.offs[i]
				}
			}
			continue
		}
		for i := 0; i < n; i++ {
			k.offs[i+1] += 1
			if isValid(bits, off, i) {
				k.offs[i+1] += int32(w)
			}
		}
	}
	for i := 1; i <= n; i++ {
		k.offs[i] += k.offs[i-1]
	}
	total := int(k.offs[n])
	if cap(k.buf) < total {
		k.buf = make([]byte, total, total+total/4)
	}
	k.buf = k.buf[:total]
	copy(k.pos, k.offs[:n])
	if n == 0 {
		// No rows: a column may have no value buffer at all (an empty
		// BOOLEAN array of a table without groups yet).
		return nil
	}
	// Pass 2: values.
	for _, c := range cols {
		bits, off := validity(c)
		switch c.DataType().ID() {
		case arrow.INT16:
			encFixed(k, values[int16](c), bits, off, n, func(b []byte, v int16) { binary.LittleEndian.PutUint16(b, uint16(v)) })
		case arrow.INT32, arrow.DATE32:
			encFixed(k, values[int32](c), bits, off, n, func(b []byte, v int32) { binary.LittleEndian.PutUint32(b, uint32(v)) })
		case arrow.INT64, arrow.TIMESTAMP:
			encFixed(k, values[int64](c), bits, off, n, func(b []byte, v int64) { binary.LittleEndian.PutUint64(b, uint64(v)) })
		case arrow.FLOAT32:
			encFixed(k, values[float32](c), bits, off, n, func(b []byte, v float32) {
				binary.LittleEndian.PutUint32(b, math.Float32bits(normFloat32(v)))
			})
		case arrow.FLOAT64:
			encFixed(k, values[float64](c), bits, off, n, func(b []byte, v float64) {
				binary.LittleEndian.PutUint64(b, math.Float64bits(normFloat64(v)))
			})
		case arrow.DECIMAL128:
			encFixed(k, values[decimal128.Num](c), bits, off, n, func(b []byte, v decimal128.Num) {
				binary.LittleEndian.PutUint64(b, v.LowBits())
				binary.LittleEndian.PutUint64(b[8:], uint64(v.HighBits()))
			})
		case arrow.BOOL:
			d := c.Data()
			vb, voff := d.Buffers()[1].Bytes(), d.Offset()
			for i := 0; i < n; i++ {
				p := k.pos[i]
				if !isValid(bits, off, i) {
					k.buf[p] = 0
					k.pos[i] = p + 1
					continue
				}
				k.buf[p] = 1
				k.buf[p+1] = b2u(bitutil.BitIsSet(vb, voff+i))
				k.pos[i] = p + 2
			}
		case arrow.STRING:
			s := stringsOf(c)
			for i := 0; i < n; i++ {
				p := k.pos[i]
				if !isValid(bits, off, i) {
					k.buf[p] = 0
					k.pos[i] = p + 1
					continue
				}
				v := s.at(i)
				k.buf[p] = 1
				binary.LittleEndian.PutUint32(k.buf[p+1:], uint32(len(v)))
				copy(k.buf[p+5:], v)
				k.pos[i] = p + 5 + int32(len(v))
			}
		case arrow.NULL:
			for i := 0; i < n; i++ {
				k.buf[k.pos[i]] = 0
				k.pos[i]++
			}
		}
	}
	return nil
}

// encFixed writes one fixed-width column; put is inlined per instantiation
// as a direct call of a known function literal.
func encFixed[T fixedT](k *keyEncoder, v []T, bits []byte, off, n int, put func([]byte, T)) {
	var zero T
	w := int32(sizeOf(zero))
	for i := 0; i < n; i++ {
		p := k.pos[i]
		if !isValid(bits, off, i) {
			k.buf[p] = 0
			k.pos[i] = p + 1
			continue
		}
		k.buf[p] = 1
		put(k.buf[p+1:p+1+w], v[i])
		k.pos[i] = p + 1 + w
	}
}

func normFloat64(v float64) float64 {
	if v == 0 {
		return 0
	}
	if v != v {
		return math.NaN()
	}
	return v
}

func normFloat32(v float32) float32 {
	if v == 0 {
		return 0
	}
	if v != v {
		return float32(math.NaN())
	}
	return v
}

func growInt32(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n, n+n/4)
	}
	return s[:n]
}

// groupTable maps encoded keys to dense group ids 0, 1, 2, ... It is an
// open-addressing table (linear probing) over an arena of key bytes, so the
// Go heap holds no per-group pointers. A slot holds the group id + 1 in its
// low 32 bits (0 = empty) and the high 32 bits of the key's hash above
// them, so that a probe compares hashes without touching the group's
// hashes entry: on tables larger than the caches (the build side of a big
// join) every avoided access is a cache miss.
type groupTable struct {
	seed    maphash.Seed
	slots   []uint64
	hashes  []uint64 // full hash per group, for rehashing
	keyOffs []int32  // group g's key is arena[keyOffs[g]:keyOffs[g+1]]
	arena   []byte
}

func newGroupTable() *groupTable { return newGroupTableSize(0) }

// newGroupTableSize returns a table sized for about n groups without
// rehashing (a join's build side knows its row count).
func newGroupTableSize(n int) *groupTable {
	size := 256
	for size < 2*n {
		size *= 2
	}
	return &groupTable{seed: maphash.MakeSeed(), slots: make([]uint64, size), keyOffs: []int32{0}}
}

func (t *groupTable) len() int { return len(t.hashes) }

// bytes estimates the table's memory.
func (t *groupTable) bytes() int64 {
	return int64(len(t.slots)*8 + cap(t.hashes)*8 + cap(t.keyOffs)*4 + cap(t.arena))
}

const slotGroupMask = 1<<32 - 1

// slotTag is the part of a slot that holds the hash.
func slotTag(h uint64) uint64 { return h &^ slotGroupMask }

// find returns the group of key, adding it when new.
func (t *groupTable) find(key []byte) (int32, bool) {
	return t.findHashed(key, maphash.Bytes(t.seed, key))
}

// hashBlock sets hs[i] to the hash of key lo+i of enc, for the keys of
// the block [lo, lo+len(hs)), and, when the table is larger than the
// caches, loads their home slots: many cache misses in flight at once
// (see intTable.lookupBatch) before the probes, whose branches on the
// loaded slots would stall on each miss in turn. It returns the OR of the
// loaded slots, for the caller to keep (see intTable.touch).
func (t *groupTable) hashBlock(enc *keyEncoder, lo int, hs []uint64) uint64 {
	for i := range hs {
		hs[i] = maphash.Bytes(t.seed, enc.buf[enc.offs[lo+i]:enc.offs[lo+i+1]])
	}
	if len(t.slots) <= 1<<13 {
		return 0
	}
	mask := uint64(len(t.slots) - 1)
	var sink uint64
	for _, h := range hs {
		sink |= t.slots[h&mask]
	}
	return sink
}

// findAll sets gids[i] to the group of key i of enc, adding new groups,
// for the first len(gids) keys; rows for which skip (nil: none) is true
// get -1 and add nothing. The caller keeps the result (see hashBlock).
func (t *groupTable) findAll(enc *keyEncoder, skip []bool, gids []int32) uint64 {
	var hs [probeBatch]uint64
	var sink uint64
	for lo := 0; lo < len(gids); lo += probeBatch {
		hi := min(lo+probeBatch, len(gids))
		sink |= t.hashBlock(enc, lo, hs[:hi-lo])
		for i := lo; i < hi; i++ {
			if skip != nil && skip[i] {
				gids[i] = -1
				continue
			}
			gids[i], _ = t.findHashed(enc.buf[enc.offs[i]:enc.offs[i+1]], hs[i-lo])
		}
	}
	return sink
}

// lookupAll sets gids[i] to the group of key i of enc or -1, for the
// first len(gids) keys; rows for which skip (nil: none) is true get -2.
// It only reads the table (concurrent probes of a shared build may call
// it); the caller keeps the result (see hashBlock).
func (t *groupTable) lookupAll(enc *keyEncoder, skip []bool, gids []int32) uint64 {
	var hs [probeBatch]uint64
	var sink uint64
	for lo := 0; lo < len(gids); lo += probeBatch {
		hi := min(lo+probeBatch, len(gids))
		sink |= t.hashBlock(enc, lo, hs[:hi-lo])
		for i := lo; i < hi; i++ {
			if skip != nil && skip[i] {
				gids[i] = -2
				continue
			}
			gids[i] = t.lookupHashed(enc.buf[enc.offs[i]:enc.offs[i+1]], hs[i-lo])
		}
	}
	return sink
}

// findHashed is find of a key whose hash h is known.
func (t *groupTable) findHashed(key []byte, h uint64) (int32, bool) {
	tag := slotTag(h)
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			g := int32(len(t.hashes))
			t.slots[i] = tag | uint64(g+1)
			t.hashes = append(t.hashes, h)
			t.arena = append(t.arena, key...)
			t.keyOffs = append(t.keyOffs, int32(len(t.arena)))
			if len(t.hashes)*2 > len(t.slots) {
				t.rehash()
			}
			return g, true
		}
		if slotTag(s) != tag {
			continue
		}
		g := int32(s&slotGroupMask) - 1
		if bytes.Equal(t.arena[t.keyOffs[g]:t.keyOffs[g+1]], key) {
			return g, false
		}
	}
}

// lookup returns the group of key or -1.
func (t *groupTable) lookup(key []byte) int32 {
	return t.lookupHashed(key, maphash.Bytes(t.seed, key))
}

// lookupHashed is lookup of a key whose hash h is known.
func (t *groupTable) lookupHashed(key []byte, h uint64) int32 {
	tag := slotTag(h)
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			return -1
		}
		if slotTag(s) != tag {
			continue
		}
		g := int32(s&slotGroupMask) - 1
		if bytes.Equal(t.arena[t.keyOffs[g]:t.keyOffs[g+1]], key) {
			return g
		}
	}
}

func (t *groupTable) rehash() {
	slots := make([]uint64, len(t.slots)*2)
	mask := uint64(len(slots) - 1)
	for g, h := range t.hashes {
		i := h & mask
		for slots[i] != 0 {
			i = (i + 1) & mask
		}
		slots[i] = slotTag(h) | uint64(g+1)
	}
	t.slots = slots
}

// decodeKeys rebuilds the key columns of all groups from the arena.
func (t *groupTable) decodeKeys(mem memory.Allocator, types []arrow.DataType) ([]arrow.Array, error) {
	ng := t.len()
	cur := make([]int32, ng)
	copy(cur, t.keyOffs[:ng])
	out := make([]arrow.Array, len(types))
	for c, dt := range types {
		var err error
		switch dt.ID() {
		case arrow.INT16:
			out[c] = decFixed(mem, t, cur, dt, func(b []byte) int16 { return int16(binary.LittleEndian.Uint16(b)) })
		case arrow.INT32, arrow.DATE32:
			out[c] = decFixed(mem, t, cur, dt, func(b []byte) int32 { return int32(binary.LittleEndian.Uint32(b)) })
		case arrow.INT64, arrow.TIMESTAMP:
			out[c] = decFixed(mem, t, cur, dt, func(b []byte) int64 { return int64(binary.LittleEndian.Uint64(b)) })
		case arrow.FLOAT32:
			out[c] = decFixed(mem, t, cur, dt, func(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) })
		case arrow.FLOAT64:
			out[c] = decFixed(mem, t, cur, dt, func(b []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b)) })
		case arrow.DECIMAL128:
			out[c] = decFixed(mem, t, cur, dt, func(b []byte) decimal128.Num {
				return decimal128.New(int64(binary.LittleEndian.Uint64(b[8:])), binary.LittleEndian.Uint64(b))
			})
		case arrow.BOOL, arrow.STRING, arrow.NULL:
			out[c], err = decVar(mem, t, cur, dt)
		default:
			err = fmt.Errorf("arrowexec: cannot group by %s", dt)
		}
		if err != nil {
			releaseAll(out)
			return nil, err
		}
	}
	return out, nil
}

func decFixed[T fixedT](mem memory.Allocator, t *groupTable, cur []int32, dt arrow.DataType, get func([]byte) T) arrow.Array {
	var zero T
	w := int32(sizeOf(zero))
	ng := len(cur)
	buf, vals := allocFixed[T](mem, ng)
	vbuf := allocBitmap(mem, ng)
	vb := vbuf.Bytes()
	nulls := 0
	for g := range cur {
		p := cur[g]
		if t.arena[p] == 0 {
			cur[g] = p + 1
			nulls++
			continue
		}
		bitutil.SetBit(vb, g)
		vals[g] = get(t.arena[p+1 : p+1+w])
		cur[g] = p + 1 + w
	}
	if nulls == 0 {
		vbuf.Release()
		vbuf = nil
	}
	return makeArray(dt, ng, nulls, vbuf, buf)
}

func decVar(mem memory.Allocator, t *groupTable, cur []int32, dt arrow.DataType) (arrow.Array, error) {
	ng := len(cur)
	switch dt.ID() {
	case arrow.NULL:
		for g := range cur {
			cur[g]++
		}
		return makeArray(dt, ng, ng, nil), nil
	case arrow.BOOL:
		val, vbuf := allocBitmap(mem, ng), allocBitmap(mem, ng)
		nulls := 0
		for g := range cur {
			p := cur[g]
			if t.arena[p] == 0 {
				cur[g] = p + 1
				nulls++
				continue
			}
			bitutil.SetBit(vbuf.Bytes(), g)
			if t.arena[p+1] != 0 {
				bitutil.SetBit(val.Bytes(), g)
			}
			cur[g] = p + 2
		}
		return makeArray(dt, ng, nulls, vbuf, val), nil
	}
	total := 0
	for g := range cur {
		if p := cur[g]; t.arena[p] != 0 {
			total += int(binary.LittleEndian.Uint32(t.arena[p+1:]))
		}
	}
	obuf, offs := allocFixed[int32](mem, ng+1)
	dbuf := memory.NewResizableBuffer(mem)
	dbuf.Resize(total)
	data := dbuf.Bytes()
	vbuf := allocBitmap(mem, ng)
	nulls, pos := 0, int32(0)
	for g := range cur {
		offs[g] = pos
		p := cur[g]
		if t.arena[p] == 0 {
			cur[g] = p + 1
			nulls++
			continue
		}
		bitutil.SetBit(vbuf.Bytes(), g)
		l := int32(binary.LittleEndian.Uint32(t.arena[p+1:]))
		pos += int32(copy(data[pos:], t.arena[p+5:p+5+l]))
		cur[g] = p + 5 + l
	}
	offs[ng] = pos
	return makeArray(dt, ng, nulls, vbuf, obuf, dbuf), nil
}
