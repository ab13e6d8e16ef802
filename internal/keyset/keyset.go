// Package keyset holds a set of integer keys tested many times per
// query: the values of one column of a join's build side, or of the other
// side of a semi-join reduction. A Set knows its smallest and largest key
// (for zone maps) and, when it is exact, answers membership by a bitmap
// over the keys' range or, for sparse keys, a map.
//
// Invariants: a Set is immutable once built and safe for concurrent use;
// Contains never answers false for a key of the set (an inexact Set, one
// that gave up on holding its keys, answers true for every key in
// [Min, Max]); NULLs are never members (callers leave them out).
package keyset

import (
	"math"
	"slices"
)

// MaxBitmapBits is the widest range of keys a Set holds as a bitmap
// (16 MiB); wider ranges and sparse ones use a map.
const MaxBitmapBits = 1 << 27

// Set is a set of int64 keys. The zero Set is empty.
type Set struct {
	// Min and Max are the smallest and largest key; Min > Max when the
	// set is empty.
	Min, Max int64
	n        int
	exact    bool
	// The keys: bits[k-lo] when bits is not nil, else m (exact sets).
	lo   int64
	bits []uint64
	m    map[int64]struct{}
	// sorted holds the distinct keys in order when they are few
	// (MaxSorted), for AnyIn.
	sorted []int64
}

// MaxSorted is the most keys (repeats included) of which a Set keeps a
// sorted copy, so that AnyIn answers exactly.
const MaxSorted = 64 << 10

// Empty is the set without keys.
var Empty = &Set{Min: 1, Max: 0, exact: true}

// New returns the set of keys (which may repeat). It keeps the keys
// exactly when there are at most maxExact of them (counting repeats) or
// when they fit a small bitmap; otherwise only their range (Exact reports
// which). maxExact < 0 means no limit.
func New(keys []int64, maxExact int) *Set {
	if len(keys) == 0 {
		return Empty
	}
	s := &Set{Min: keys[0], Max: keys[0], n: len(keys)}
	for _, v := range keys {
		s.Min, s.Max = min(s.Min, v), max(s.Max, v)
	}
	if len(keys) <= MaxSorted {
		s.sorted = slices.Compact(slices.Sorted(slices.Values(keys)))
	}
	// hi-lo cannot overflow as an unsigned difference. A bitmap that
	// stays in the L2 cache (128 KiB), or one no larger than 64 bytes per
	// key.
	span := uint64(s.Max) - uint64(s.Min)
	if span < MaxBitmapBits && (span/64 < 1<<14 || span/64 < 8*uint64(len(keys))) {
		s.exact, s.lo, s.bits = true, s.Min, make([]uint64, span/64+1)
		for _, v := range keys {
			d := uint64(v) - uint64(s.Min)
			s.bits[d/64] |= 1 << (d % 64)
		}
		return s
	}
	if maxExact >= 0 && len(keys) > maxExact {
		return s // the range only
	}
	s.exact, s.m = true, make(map[int64]struct{}, len(keys))
	for _, v := range keys {
		s.m[v] = struct{}{}
	}
	return s
}

// Range returns the set of every key in [lo, hi], inexact (it holds the
// range only): the keys a scan's own predicate allows in one column,
// tested like a join's keys (the empty set when lo > hi).
func Range(lo, hi int64) *Set {
	if lo > hi {
		return Empty
	}
	n := math.MaxInt
	if w := uint64(hi) - uint64(lo); w < math.MaxInt {
		n = int(w) + 1
	}
	return &Set{Min: lo, Max: hi, n: n}
}

// Exact reports whether Contains answers membership exactly; when false
// it tests the range only.
func (s *Set) Exact() bool { return s.exact }

// Bitmap reports whether the set holds its keys as a bitmap over their
// range (else as a map, or as their range only).
func (s *Set) Bitmap() bool { return s.bits != nil }

// IsEmpty reports whether the set has no key.
func (s *Set) IsEmpty() bool { return s.Min > s.Max }

// Len returns the number of keys the set was built from (repeats
// included).
func (s *Set) Len() int { return s.n }

// Overlaps reports whether some key of the set may lie in [lo, hi], by
// the set's range only.
func (s *Set) Overlaps(lo, hi int64) bool { return !s.IsEmpty() && s.Min <= hi && lo <= s.Max }

// AnyIn reports whether some key of the set may lie in [lo, hi]: exactly
// for a set of at most MaxSorted keys, by its range otherwise.
func (s *Set) AnyIn(lo, hi int64) bool {
	if !s.Overlaps(lo, hi) {
		return false
	}
	if s.sorted == nil {
		return true
	}
	i, _ := slices.BinarySearch(s.sorted, lo)
	return i < len(s.sorted) && s.sorted[i] <= hi
}

// Contains reports whether v may be a key of the set: exactly for an
// exact set, by the range otherwise.
func (s *Set) Contains(v int64) bool {
	if s.bits != nil {
		d := uint64(v) - uint64(s.lo)
		return d/64 < uint64(len(s.bits)) && s.bits[d/64]&(1<<(d%64)) != 0
	}
	if v < s.Min || v > s.Max {
		return false
	}
	if s.m != nil {
		_, ok := s.m[v]
		return ok
	}
	return true
}

// Integer is the types Select reads.
type Integer interface {
	~int8 | ~int16 | ~int32 | ~int64
}

// Select appends to dst the indexes i (as int32) of the values vs[i] that
// may be keys of s, skipping rows whose valid bit is not set when valid
// is not nil (bit i of valid, LSB first, at bit offset off), and returns
// dst.
func Select[T Integer](dst []int32, s *Set, vs []T, valid []byte, off int) []int32 {
	if s.IsEmpty() {
		return dst
	}
	start := len(dst)
	switch {
	case !s.exact:
		// A range: one unsigned comparison per value.
		lo, w := s.Min, uint64(s.Max)-uint64(s.Min)
		for i, v := range vs {
			if uint64(int64(v))-uint64(lo) <= w {
				dst = append(dst, int32(i))
			}
		}
	case s.bits != nil:
		lo, bits := uint64(s.lo), s.bits
		n := uint64(len(bits))
		for i, v := range vs {
			d := uint64(int64(v)) - lo
			if d/64 < n && bits[d/64]&(1<<(d%64)) != 0 {
				dst = append(dst, int32(i))
			}
		}
	default:
		for i, v := range vs {
			if s.Contains(int64(v)) {
				dst = append(dst, int32(i))
			}
		}
	}
	if valid == nil {
		return dst
	}
	w := start
	for _, i := range dst[start:] {
		j := off + int(i)
		if valid[j/8]&(1<<(j%8)) != 0 {
			dst[w] = i
			w++
		}
	}
	return dst[:w]
}

// Refine keeps, in place, the indexes i of sel whose value vs[i] may be
// a key of s and whose valid bit is set (when valid is not nil; bit i at
// offset off), and returns them.
func Refine[T Integer](sel []int32, s *Set, vs []T, valid []byte, off int) []int32 {
	w := 0
	for _, i := range sel {
		if j := off + int(i); valid != nil && valid[j/8]&(1<<(j%8)) == 0 {
			continue
		}
		if s.Contains(int64(vs[i])) {
			sel[w] = i
			w++
		}
	}
	return sel[:w]
}

// Bytes returns the memory the set holds, about.
func (s *Set) Bytes() int64 {
	return int64(8*len(s.bits)) + int64(16*len(s.m)) + int64(8*len(s.sorted))
}
