package arrowexec

import (
	"encoding/binary"
	"math/bits"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// keyPacker packs the group keys of a row into one int64 when every key
// column is a short string, a boolean or a small integer, so that an
// aggregate grouped by, say, TPC-H Q1's two one-letter flags probes the
// integer group table (intGroups) instead of encoding byte keys for the
// groupTable (the keyEncoder and the byte-key probe were a fifth of Q1).
//
// Each column owns a bit field of the key at a fixed shift: a validity bit,
// then for a valid value the value itself (integers as their two's
// complement bits, booleans as one bit, strings as their length followed by
// their bytes). Equal keys pack to equal int64s and different keys to
// different ones. A string column packs values of at most maxLen bytes;
// pack reports false for a batch holding a longer one, and the aggregate
// then moves its groups to the byte-key table (see hashAggOp.unpackGroups).
type keyPacker struct {
	cols []packedCol
	keys []int64 // scratch for pack, reused across batches
}

type packedCol struct {
	dt      arrow.DataType
	shift   uint
	lenBits uint // strings: width of the length field
	maxLen  int  // strings: longest value that packs
}

// fixedBits returns the bits a packed key gives a column of type dt: a
// validity bit and the value; 0 for a string (it shares what the fixed
// columns leave) and -1 for a type that does not pack.
func fixedBits(dt arrow.DataType) int {
	switch dt.ID() {
	case arrow.BOOL:
		return 2
	case arrow.INT16:
		return 17
	case arrow.INT32, arrow.DATE32:
		return 33
	case arrow.STRING:
		return 0
	}
	return -1
}

// newKeyPacker returns a packer for keys of the given types, or nil when
// they do not fit in 64 bits with at least one byte per string column.
func newKeyPacker(types []arrow.DataType) *keyPacker {
	fixed, strs := 0, 0
	for _, dt := range types {
		switch w := fixedBits(dt); {
		case w < 0:
			return nil
		case w == 0:
			strs++
		default:
			fixed += w
		}
	}
	if fixed > 64 {
		return nil
	}
	p := &keyPacker{}
	var strBits int
	if strs > 0 {
		strBits = (64 - fixed) / strs
	}
	// The longest string of strBits bits: 1 validity bit, the length, the
	// bytes.
	maxLen := 0
	for l := 1; 1+bits.Len(uint(l))+8*l <= strBits; l++ {
		maxLen = l
	}
	if strs > 0 && maxLen == 0 {
		return nil
	}
	shift := uint(0)
	for _, dt := range types {
		c := packedCol{dt: dt, shift: shift}
		if w := fixedBits(dt); w > 0 {
			shift += uint(w)
		} else {
			c.maxLen, c.lenBits = maxLen, uint(bits.Len(uint(maxLen)))
			shift += uint(strBits)
		}
		p.cols = append(p.cols, c)
	}
	return p
}

// pack returns the packed key of every row of cols (n rows), or false when
// a string is longer than its column packs. The slice is reused by the
// next call.
func (p *keyPacker) pack(cols []arrow.Array, n int) ([]int64, bool) {
	if cap(p.keys) < n {
		p.keys = make([]int64, n)
	}
	keys := p.keys[:n]
	if n == 0 {
		// An empty array may lack its value buffers.
		return keys, true
	}
	clear(keys)
	for ci, c := range p.cols {
		a := cols[ci]
		vb, off := validity(a)
		sh := c.shift
		switch c.dt.ID() {
		case arrow.BOOL:
			d := a.Data()
			if d.Buffers()[1] == nil {
				break // every row is NULL: key 0
			}
			vals, voff := d.Buffers()[1].Bytes(), d.Offset()
			for i := range keys {
				if isValid(vb, off, i) {
					keys[i] |= int64(1|uint64(b2u(bitutil.BitIsSet(vals, voff+i)))<<1) << sh
				}
			}
		case arrow.INT16:
			v := values[int16](a)
			for i := range keys {
				if isValid(vb, off, i) {
					keys[i] |= int64(1|uint64(uint16(v[i]))<<1) << sh
				}
			}
		case arrow.INT32, arrow.DATE32:
			v := values[int32](a)
			for i := range keys {
				if isValid(vb, off, i) {
					keys[i] |= int64(1|uint64(uint32(v[i]))<<1) << sh
				}
			}
		case arrow.STRING:
			s := stringsOf(a)
			if vb == nil {
				if !packStrings(keys, s, c, sh) {
					return nil, false
				}
				break
			}
			for i := range keys {
				if !isValid(vb, off, i) {
					continue
				}
				b := s.at(i)
				if len(b) > c.maxLen {
					return nil, false
				}
				var x uint64
				for j, ch := range b {
					x |= uint64(ch) << (8 * j)
				}
				keys[i] |= int64(1|uint64(len(b))<<1|x<<(1+c.lenBits)) << sh
			}
		}
	}
	return keys, true
}

// packStrings packs the strings of a column without NULLs into keys,
// reading each string as one little-endian word where the data buffer has
// 8 bytes from its start (maxLen is below 8); false when a string is longer
// than the column packs.
func packStrings(keys []int64, s stringValues, c packedCol, sh uint) bool {
	offs := s.offs[:len(keys)+1]
	for i := range keys {
		o0, o1 := int(offs[i]), int(offs[i+1])
		l := o1 - o0
		if l > c.maxLen {
			return false
		}
		var x uint64
		if o0+8 <= len(s.data) {
			x = binary.LittleEndian.Uint64(s.data[o0:]) & (1<<(8*uint(l)) - 1)
		} else {
			for j, ch := range s.data[o0:o1] {
				x |= uint64(ch) << (8 * j)
			}
		}
		keys[i] |= int64(1|uint64(l)<<1|x<<(1+c.lenBits)) << sh
	}
	return true
}

// unpack returns the key columns of packed keys.
func (p *keyPacker) unpack(mem memory.Allocator, keys []int64) []arrow.Array {
	out := make([]arrow.Array, len(p.cols))
	for ci, c := range p.cols {
		field := func(k int64) (uint64, bool) {
			f := uint64(k) >> c.shift
			return f >> 1, f&1 != 0
		}
		switch c.dt.ID() {
		case arrow.BOOL:
			b := array.NewBooleanBuilder(mem)
			for _, k := range keys {
				if v, ok := field(k); ok {
					b.Append(v&1 != 0)
				} else {
					b.AppendNull()
				}
			}
			out[ci] = b.NewArray()
			b.Release()
		case arrow.INT16:
			b := array.NewInt16Builder(mem)
			for _, k := range keys {
				if v, ok := field(k); ok {
					b.Append(int16(uint16(v)))
				} else {
					b.AppendNull()
				}
			}
			out[ci] = b.NewArray()
			b.Release()
		case arrow.INT32, arrow.DATE32:
			b := array.NewBuilder(mem, c.dt)
			for _, k := range keys {
				v, ok := field(k)
				switch {
				case !ok:
					b.AppendNull()
				case c.dt.ID() == arrow.DATE32:
					b.(*array.Date32Builder).Append(arrow.Date32(int32(uint32(v))))
				default:
					b.(*array.Int32Builder).Append(int32(uint32(v)))
				}
			}
			out[ci] = b.NewArray()
			b.Release()
		case arrow.STRING:
			b := array.NewStringBuilder(mem)
			var buf [8]byte
			for _, k := range keys {
				v, ok := field(k)
				if !ok {
					b.AppendNull()
					continue
				}
				n := int(v & (1<<c.lenBits - 1))
				x := v >> c.lenBits
				for j := 0; j < n; j++ {
					buf[j] = byte(x >> (8 * j))
				}
				b.BinaryBuilder.Append(buf[:n])
			}
			out[ci] = b.NewArray()
			b.Release()
		}
	}
	return out
}

// joinPack packs the integer keys of a hash join on several columns into
// one int64 per row, so that the join indexes and probes them in an
// intTable instead of encoding byte keys for the groupTable (TPC-H Q9's
// join of lineitem with partsupp on part and supplier keys, Q5's with
// customer on customer and nation keys). Column i owns the bits from
// shift[i] up, holding the value's offset from the smallest value of the
// column among the build rows, lo[i]; a build side packs only when the
// columns' ranges fit in 63 bits together. Equal keys pack to equal
// int64s and different keys within the ranges to different ones; a probe
// key outside a column's range matches no build row and is reported as
// such (pack's miss). A joinPack is read-only once made: joins that
// share a build share it.
type joinPack struct {
	lo, hi []int64
	shift  []uint
}

// newJoinPack returns the packing of the build keys cols (n rows, nulls
// marking the rows with a NULL key, as nullRows returns them), or nil
// when a column is not an integer or the ranges do not fit.
func newJoinPack(cols []arrow.Array, nulls []bool, n int) *joinPack {
	p := &joinPack{lo: make([]int64, len(cols)), hi: make([]int64, len(cols)), shift: make([]uint, len(cols))}
	var buf []int64
	width := uint(0)
	for ci, c := range cols {
		ik, b, ok := intKeys(c, buf)
		buf = b
		if !ok || len(ik) < n {
			return nil
		}
		lo, hi, any := int64(0), int64(0), false
		for i, v := range ik[:n] {
			if nulls != nil && nulls[i] {
				continue
			}
			if !any {
				lo, hi, any = v, v, true
				continue
			}
			lo, hi = min(lo, v), max(hi, v)
		}
		if !any {
			return nil // every key is NULL: nothing to index
		}
		p.lo[ci], p.hi[ci], p.shift[ci] = lo, hi, width
		width += uint(bits.Len64(uint64(hi) - uint64(lo)))
		if width > 63 {
			return nil
		}
	}
	return p
}

// pack writes the packed key of every row of cols (n rows) to dst[:n]
// and sets miss[i] for the rows with a key outside the build's ranges
// (and clears it for the others). Rows with a NULL key get some value:
// the caller knows them from nullRows. buf is scratch space; pack
// returns it for the next call.
func (p *joinPack) pack(cols []arrow.Array, n int, dst []int64, miss []bool, buf []int64) []int64 {
	dst, miss = dst[:n], miss[:n]
	clear(dst)
	clear(miss)
	for ci, c := range cols {
		ik, b, _ := intKeys(c, buf)
		buf = b
		if len(ik) < n {
			// No value buffer: every row is NULL.
			continue
		}
		lo, hi, sh := p.lo[ci], p.hi[ci], p.shift[ci]
		for i, v := range ik[:n] {
			if v < lo || v > hi {
				miss[i] = true
				continue
			}
			dst[i] |= int64((uint64(v) - uint64(lo)) << sh)
		}
	}
	return buf
}
