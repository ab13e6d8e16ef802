package keyset

import (
	"slices"
	"testing"
)

func TestSet(t *testing.T) {
	wide := []int64{-1 << 50, 7, 7, 1 << 50}
	dense := make([]int64, 0, 3000)
	for i := int64(0); i < 3000; i++ {
		dense = append(dense, 1000+3*i)
	}
	for _, tc := range []struct {
		name     string
		keys     []int64
		maxExact int
		exact    bool
		in, out  []int64
	}{
		{"empty", nil, -1, true, nil, []int64{0, -1, 1 << 62}},
		{"one", []int64{42}, -1, true, []int64{42}, []int64{41, 43, 0}},
		{"bitmap", dense, -1, true, []int64{1000, 1003, 9997}, []int64{999, 1001, 10000, -1 << 62}},
		{"map", wide, -1, true, []int64{-1 << 50, 7, 1 << 50}, []int64{8, 0, -1<<50 + 1}},
		{"range only", wide, 2, false, []int64{-1 << 50, 7, 8, 1 << 50}, []int64{1<<50 + 1, -1<<50 - 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(tc.keys, tc.maxExact)
			if s.Exact() != tc.exact {
				t.Fatalf("Exact() = %v", s.Exact())
			}
			if s.IsEmpty() != (len(tc.keys) == 0) {
				t.Fatalf("IsEmpty() = %v", s.IsEmpty())
			}
			for _, v := range tc.in {
				if !s.Contains(v) {
					t.Errorf("Contains(%d) = false", v)
				}
			}
			for _, v := range tc.out {
				if s.Contains(v) {
					t.Errorf("Contains(%d) = true", v)
				}
			}
			// Select agrees with Contains, and leaves out invalid rows.
			probe := append(append([]int64{}, tc.in...), tc.out...)
			valid := []byte{0xff &^ 1} // row 0 is NULL
			got := Select(nil, s, probe, nil, 0)
			gotValid := Select([]int32{-9}, s, probe, valid, 0)
			var want, wantValid []int32
			for i, v := range probe {
				if s.Contains(v) {
					want = append(want, int32(i))
					if i != 0 || len(probe) > 8 {
						wantValid = append(wantValid, int32(i))
					}
				}
			}
			if len(probe) <= 8 && !slices.Equal(got, want) {
				t.Errorf("Select = %v, want %v", got, want)
			}
			if len(probe) <= 8 && !slices.Equal(gotValid, append([]int32{-9}, wantValid...)) {
				t.Errorf("Select with validity = %v, want %v", gotValid, append([]int32{-9}, wantValid...))
			}
		})
	}
}

func TestAnyIn(t *testing.T) {
	s := New([]int64{10, 20, 20, 30}, -1)
	for _, tc := range []struct {
		lo, hi int64
		want   bool
	}{
		{0, 9, false}, {0, 10, true}, {11, 19, false}, {19, 21, true}, {21, 29, false}, {30, 40, true}, {31, 1 << 40, false},
	} {
		if got := s.AnyIn(tc.lo, tc.hi); got != tc.want {
			t.Errorf("AnyIn(%d, %d) = %v, want %v", tc.lo, tc.hi, got, tc.want)
		}
	}
	if Empty.AnyIn(-1<<62, 1<<62) {
		t.Error("the empty set has a key")
	}
}
