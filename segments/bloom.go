package segments

import (
	"encoding/binary"
	"math"
	"math/bits"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/mantisdb/mantisdb/catalog"
)

// bloom is a plain bloom filter over 64-bit value hashes (double hashing,
// Kirsch–Mitzenmacher). The hash of a value is fixed by this file and is
// part of the index format: hashValue and hashArray must agree.
type bloom struct {
	k    uint32
	bits []uint64 // len is a power of two
}

func newBloom(n int, bitsPerKey int) *bloom {
	if n < 1 {
		n = 1
	}
	m := uint64(n) * uint64(bitsPerKey)
	words := uint64(1)
	for words*64 < m {
		words <<= 1
	}
	k := uint32(math.Round(float64(bitsPerKey) * math.Ln2))
	if k < 1 {
		k = 1
	}
	if k > 16 {
		k = 16
	}
	return &bloom{k: k, bits: make([]uint64, words)}
}

func (b *bloom) add(h uint64) {
	mask := uint64(len(b.bits))*64 - 1
	h1, h2 := h, h>>32|h<<32|1
	for i := uint32(0); i < b.k; i++ {
		p := h1 & mask
		b.bits[p>>6] |= 1 << (p & 63)
		h1 += h2
	}
}

func (b *bloom) mayContain(h uint64) bool {
	mask := uint64(len(b.bits))*64 - 1
	h1, h2 := h, h>>32|h<<32|1
	for i := uint32(0); i < b.k; i++ {
		p := h1 & mask
		if b.bits[p>>6]&(1<<(p&63)) == 0 {
			return false
		}
		h1 += h2
	}
	return true
}

func (b *bloom) appendTo(dst []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(b.k))
	dst = binary.AppendUvarint(dst, uint64(len(b.bits)))
	for _, w := range b.bits {
		dst = binary.LittleEndian.AppendUint64(dst, w)
	}
	return dst
}

func (d *decoder) bloom() *bloom {
	k := d.uvarint()
	n := d.uvarint()
	if d.err != nil || n == 0 || n&(n-1) != 0 || k == 0 || k > 16 || uint64(len(d.b)) < n*8 {
		d.fail("bloom filter")
		return nil
	}
	b := &bloom{k: uint32(k), bits: make([]uint64, n)}
	for i := range b.bits {
		b.bits[i] = binary.LittleEndian.Uint64(d.b[i*8:])
	}
	d.b = d.b[n*8:]
	return b
}

// mix64 is the splitmix64 finaliser.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func hashString(s string) uint64 {
	// FNV-1a over 8-byte words, then a final mix: cheap and stable.
	h := uint64(14695981039346656037)
	for len(s) >= 8 {
		w := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		h = (h ^ w) * 1099511628211
		h = bits.RotateLeft64(h, 31)
		s = s[8:]
	}
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return mix64(h ^ uint64(len(s)))
}

func hashFloat(f float64) uint64 {
	if f == 0 {
		f = 0 // -0 hashes as +0
	}
	if math.IsNaN(f) {
		return mix64(0x7ff8000000000001)
	}
	return mix64(math.Float64bits(f))
}

// hashValue hashes a non-NULL value.
func hashValue(v Value) uint64 {
	switch v.Kind {
	case catalog.KindReal, catalog.KindDouble:
		return hashFloat(v.F)
	case catalog.KindDecimal:
		return mix64(v.D.LowBits() ^ mix64(uint64(v.D.HighBits())))
	case catalog.KindVarchar:
		return hashString(v.S)
	}
	return mix64(uint64(v.I))
}

// appendHashes appends the hashes of the non-NULL values of arr to dst.
func appendHashes(dst []uint64, arr arrow.Array) []uint64 {
	nulls := arr.NullN() > 0
	switch a := arr.(type) {
	case *array.Int16:
		for i, v := range a.Int16Values() {
			if !nulls || a.IsValid(i) {
				dst = append(dst, mix64(uint64(int64(v))))
			}
		}
	case *array.Int32:
		for i, v := range a.Int32Values() {
			if !nulls || a.IsValid(i) {
				dst = append(dst, mix64(uint64(int64(v))))
			}
		}
	case *array.Int64:
		for i, v := range a.Int64Values() {
			if !nulls || a.IsValid(i) {
				dst = append(dst, mix64(uint64(v)))
			}
		}
	case *array.Date32:
		for i, v := range a.Date32Values() {
			if !nulls || a.IsValid(i) {
				dst = append(dst, mix64(uint64(int64(v))))
			}
		}
	case *array.Timestamp:
		for i, v := range a.TimestampValues() {
			if !nulls || a.IsValid(i) {
				dst = append(dst, mix64(uint64(int64(v))))
			}
		}
	case *array.Float32:
		for i, v := range a.Float32Values() {
			if !nulls || a.IsValid(i) {
				dst = append(dst, hashFloat(float64(v)))
			}
		}
	case *array.Float64:
		for i, v := range a.Float64Values() {
			if !nulls || a.IsValid(i) {
				dst = append(dst, hashFloat(v))
			}
		}
	case *array.Decimal128:
		for i, v := range a.Values() {
			if !nulls || a.IsValid(i) {
				dst = append(dst, mix64(v.LowBits()^mix64(uint64(v.HighBits()))))
			}
		}
	case *array.String:
		for i := 0; i < a.Len(); i++ {
			if !nulls || a.IsValid(i) {
				dst = append(dst, hashString(a.Value(i)))
			}
		}
	case *array.Boolean:
		for i := 0; i < a.Len(); i++ {
			if !nulls || a.IsValid(i) {
				dst = append(dst, mix64(uint64(b2i(a.Value(i)))))
			}
		}
	}
	return dst
}
