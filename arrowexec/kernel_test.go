package arrowexec

import (
	"math"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

func TestFitsPrecision(t *testing.T) {
	big38 := decimal128.MaxDecimal128
	for _, tc := range []struct {
		n decimal128.Num
		p int32
	}{
		{decimal128.FromI64(0), 1},
		{decimal128.FromI64(9), 1},
		{decimal128.FromI64(10), 1},
		{decimal128.FromI64(-10), 1},
		{decimal128.FromI64(99999), 5},
		{decimal128.FromI64(-100000), 5},
		{decimal128.FromI64(math.MaxInt64), 18},
		{decimal128.FromI64(math.MaxInt64), 19},
		{decimal128.FromI64(math.MinInt64), 18},
		{decimal128.FromI64(math.MinInt64), 19},
		{decimal128.FromU64(math.MaxUint64), 19},
		{decimal128.FromU64(math.MaxUint64), 20},
		{big38, 38},
		{big38, 37},
		{big38.Negate(), 38},
		{big38.Add(decimal128.FromI64(1)), 38},
	} {
		if got, want := fitsPrecision(tc.n, tc.p), tc.n.FitsInPrecision(tc.p); got != want {
			t.Errorf("fitsPrecision(%s, %d) = %v, want %v", tc.n.BigInt(), tc.p, got, want)
		}
	}
}
