package rest

import (
	"errors"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

var (
	errDecimalSyntax = errors.New("invalid decimal number")
	errDecimalRange  = errors.New("value does not fit the column's precision")
)

// parseDecimal parses a decimal number in JSON (or plain SQL) syntax,
// e.g. "-12.345" or "1.5e3", into a Decimal128 of the given precision and
// scale. Extra fraction digits are rounded half away from zero (as
// PostgreSQL's numeric does); a value that needs more integer digits than
// precision-scale fails with errDecimalRange. It does not allocate for
// numbers of up to 38 significant digits.
func parseDecimal(b []byte, prec, scale int32) (decimal128.Num, error) {
	i := 0
	neg := false
	if i < len(b) && (b[i] == '-' || b[i] == '+') {
		neg = b[i] == '-'
		i++
	}
	var (
		n         decimal128.Num
		lo        uint64 // the first 19 significant digits, which fit a uint64
		sig       int    // significant digits accumulated in lo, then n
		fracDigit int    // digits after the point
		anyDigit  bool
		ten       = decimal128.FromU64(10)
	)
	seenPoint := false
	for ; i < len(b); i++ {
		c := b[i]
		if c == '.' {
			if seenPoint {
				return decimal128.Num{}, errDecimalSyntax
			}
			seenPoint = true
			continue
		}
		if c < '0' || c > '9' {
			break
		}
		anyDigit = true
		if seenPoint {
			fracDigit++
		}
		if sig == 0 && c == '0' {
			continue // leading zero
		}
		sig++
		switch {
		case sig <= 19:
			lo = lo*10 + uint64(c-'0')
			continue
		case sig == 20:
			n = decimal128.FromU64(lo)
		case sig > decimal128.MaxPrecision:
			return parseDecimalSlow(b, prec, scale)
		}
		n = n.Mul(ten).Add(decimal128.FromU64(uint64(c - '0')))
	}
	if sig <= 19 {
		n = decimal128.FromU64(lo)
	}
	if !anyDigit {
		return decimal128.Num{}, errDecimalSyntax
	}
	exp := 0
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := false
		if i < len(b) && (b[i] == '-' || b[i] == '+') {
			eneg = b[i] == '-'
			i++
		}
		start := i
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			if exp > 1000 {
				return decimal128.Num{}, errDecimalRange
			}
			exp = exp*10 + int(b[i]-'0')
		}
		if i == start {
			return decimal128.Num{}, errDecimalSyntax
		}
		if eneg {
			exp = -exp
		}
	}
	if i != len(b) {
		return decimal128.Num{}, errDecimalSyntax
	}
	// The value is n * 10^(exp-fracDigit); the result is that times 10^scale.
	shift := exp - fracDigit + int(scale)
	switch {
	case n.Sign() == 0:
		return decimal128.Num{}, nil
	case shift > 0:
		if sig+shift > int(prec) {
			return decimal128.Num{}, errDecimalRange
		}
		if sig+shift <= 19 {
			// The common case (a few digits scaled up a little) stays in
			// 64 bits.
			n = decimal128.FromU64(lo * pow10u64[shift])
			break
		}
		n = n.Mul(decimal128.GetScaleMultiplier(shift))
	case shift < 0:
		k := -shift
		if k > decimal128.MaxPrecision {
			n = decimal128.Num{} // rounds to zero: n < 10^38 <= 10^k / 2
			break
		}
		div := decimal128.GetScaleMultiplier(k)
		q, r := n.Div(div)
		if r.Add(r).GreaterEqual(div) {
			q = q.Add(decimal128.FromU64(1))
		}
		n = q
	}
	if !n.FitsInPrecision(prec) {
		return decimal128.Num{}, errDecimalRange
	}
	if neg {
		n = n.Negate()
	}
	return n, nil
}

// pow10u64 holds the powers of ten that fit a uint64.
var pow10u64 = [...]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// parseDecimalSlow handles numbers with more significant digits than a
// Decimal128 holds, through arrow's big.Float based parser.
func parseDecimalSlow(b []byte, prec, scale int32) (decimal128.Num, error) {
	n, err := decimal128.FromString(string(b), prec, scale)
	if err != nil {
		return decimal128.Num{}, errDecimalRange
	}
	return n, nil
}
