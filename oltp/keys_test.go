package oltp

import (
	"bytes"
	"cmp"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/mantisdb/mantisdb/catalog"
)

// keyCase is a value of one column with its position in SQL order.
type keyCol struct {
	name string
	typ  catalog.Type
	gen  func(r *rand.Rand) any
	cmp  func(a, b any) int
}

func cmpFloat(a, b float64) int {
	// SQL order: NaN greatest, -0 == +0.
	an, bn := a != a, b != b
	switch {
	case an && bn:
		return 0
	case an:
		return 1
	case bn:
		return -1
	}
	return cmp.Compare(a, b)
}

var keyCols = []keyCol{
	{"bool", catalog.Boolean, func(r *rand.Rand) any { return r.IntN(2) == 1 }, func(a, b any) int {
		x, y := 0, 0
		if a.(bool) {
			x = 1
		}
		if b.(bool) {
			y = 1
		}
		return cmp.Compare(x, y)
	}},
	{"smallint", catalog.Smallint, func(r *rand.Rand) any { return int(int16(r.Uint32())) }, cmpInt},
	{"int", catalog.Int, func(r *rand.Rand) any { return int(int32(r.Uint32())) }, cmpInt},
	{"bigint", catalog.Bigint, func(r *rand.Rand) any {
		if r.IntN(10) == 0 {
			return []int{math.MinInt64, math.MaxInt64, 0, -1, 1}[r.IntN(5)]
		}
		return int(r.Uint64())
	}, cmpInt},
	{"real", catalog.Real, func(r *rand.Rand) any { return float64(float32(genFloat(r))) }, func(a, b any) int {
		return cmpFloat(a.(float64), b.(float64))
	}},
	{"double", catalog.Double, func(r *rand.Rand) any { return genFloat(r) }, func(a, b any) int {
		return cmpFloat(a.(float64), b.(float64))
	}},
	{"decimal", catalog.Decimal(38, 4), func(r *rand.Rand) any {
		n := decimal128.New(int64(r.Uint64())>>r.IntN(64), r.Uint64())
		if r.IntN(3) == 0 {
			n = decimal128.FromI64(int64(r.IntN(2000) - 1000))
		}
		return n
	}, func(a, b any) int { return a.(decimal128.Num).Cmp(b.(decimal128.Num)) }},
	{"varchar", catalog.Varchar, func(r *rand.Rand) any {
		// Small alphabet with 0x00 and 0xff so that prefixes and escapes collide.
		alpha := []byte{0x00, 0x01, 'a', 'b', 0xff}
		b := make([]byte, r.IntN(5))
		for i := range b {
			b[i] = alpha[r.IntN(len(alpha))]
		}
		return string(b)
	}, func(a, b any) int { return strings.Compare(a.(string), b.(string)) }},
	{"date", catalog.Date, func(r *rand.Rand) any { return int(int32(r.Uint32())) }, cmpInt},
	{"timestamp", catalog.Timestamp, func(r *rand.Rand) any { return int(r.Uint64()) }, cmpInt},
}

func cmpInt(a, b any) int { return cmp.Compare(a.(int), b.(int)) }

func genFloat(r *rand.Rand) float64 {
	switch r.IntN(8) {
	case 0:
		return []float64{math.Inf(1), math.Inf(-1), math.NaN(), 0, math.Copysign(0, -1), math.SmallestNonzeroFloat64, -math.MaxFloat64}[r.IntN(7)]
	case 1:
		return float64(r.IntN(5) - 2)
	}
	return r.NormFloat64() * math.Pow(10, float64(r.IntN(40)-20))
}

// TestKeyOrder checks that for random single and composite keys, encoded
// keys compare like the values (column by column, SQL order).
func TestKeyOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var combos [][]keyCol
	for _, c := range keyCols {
		combos = append(combos, []keyCol{c})
	}
	// Composite keys: a string first makes the terminator matter.
	combos = append(combos,
		[]keyCol{keyCols[7], keyCols[3]},
		[]keyCol{keyCols[7], keyCols[7], keyCols[0]},
		[]keyCol{keyCols[5], keyCols[7]},
		[]keyCol{keyCols[6], keyCols[2], keyCols[9]},
	)
	mem := checkedAlloc(t)
	for _, combo := range combos {
		var names []string
		tbl := &catalog.Table{ID: 7, Name: "k", Version: 1}
		for i, c := range combo {
			names = append(names, c.name)
			tbl.Columns = append(tbl.Columns, catalog.Column{Name: string(rune('a' + i)), Type: c.typ})
			tbl.PrimaryKey = append(tbl.PrimaryKey, i)
		}
		tbl = finished(tbl)
		t.Run(strings.Join(names, ","), func(t *testing.T) {
			const n = 300
			rows := make([][]any, n)
			for i := range rows {
				for _, c := range combo {
					rows[i] = append(rows[i], c.gen(r))
				}
			}
			rec := makeRecord(t, mem, tbl, rows...)
			defer rec.Release()
			cols := make([]colReader, len(combo))
			for i := range cols {
				if err := cols[i].reset(tbl.Columns[i].Type, rec.Column(i)); err != nil {
					t.Fatal(err)
				}
			}
			keys := make([][]byte, n)
			for i := range keys {
				for j := range combo {
					keys[i] = appendKeyValue(keys[i], &cols[j], i)
				}
			}
			for i := 0; i < n; i++ {
				for j := 0; j < n; j++ {
					want := 0
					for k, c := range combo {
						if want = c.cmp(rows[i][k], rows[j][k]); want != 0 {
							break
						}
					}
					if got := bytes.Compare(keys[i], keys[j]); got != want {
						t.Fatalf("%v vs %v: encoded compare %d, values compare %d (%x vs %x)", rows[i], rows[j], got, want, keys[i], keys[j])
					}
				}
			}
		})
	}
}

func TestBytesKeyCases(t *testing.T) {
	ordered := []string{"", "\x00", "\x00\x00", "\x00\xff", "\x01", "a", "a\x00", "a\x00b", "a\x01", "ab", "b", "\xff"}
	for i := 1; i < len(ordered); i++ {
		a := appendBytesKey(nil, []byte(ordered[i-1]))
		b := appendBytesKey(nil, []byte(ordered[i]))
		if bytes.Compare(a, b) >= 0 {
			t.Errorf("%q (%x) does not sort before %q (%x)", ordered[i-1], a, ordered[i], b)
		}
	}
	// Composite: ("a", x) < ("a\x00", y) whatever x and y.
	k1 := appendInt32Key(appendBytesKey(nil, []byte("a")), math.MaxInt32)
	k2 := appendInt32Key(appendBytesKey(nil, []byte("a\x00")), math.MinInt32)
	if bytes.Compare(k1, k2) >= 0 {
		t.Errorf("composite keys out of order: %x >= %x", k1, k2)
	}
}

func TestFloatKeyCanonical(t *testing.T) {
	if !bytes.Equal(appendFloat64Key(nil, 0), appendFloat64Key(nil, math.Copysign(0, -1))) {
		t.Error("-0 and +0 encode differently")
	}
	if !bytes.Equal(appendFloat64Key(nil, math.NaN()), appendFloat64Key(nil, -math.NaN())) {
		t.Error("NaNs encode differently")
	}
	if !bytes.Equal(appendFloat32Key(nil, 0), appendFloat32Key(nil, float32(math.Copysign(0, -1)))) {
		t.Error("float32 -0 and +0 encode differently")
	}
}
