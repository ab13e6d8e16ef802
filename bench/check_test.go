package main

import (
	"math/big"
	"strings"
	"testing"
)

func decv(s string) value {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic(s)
	}
	scale := 0
	if i := strings.IndexByte(s, '.'); i >= 0 {
		scale = len(s) - i - 1
	}
	return value{kind: cellExact, exact: r, scale: scale}
}

func dbl(f float64) value    { return value{kind: cellFloat, f: f} }
func txt(s string) value     { return value{kind: cellText, text: s} }
func row(v ...value) []value { return v }

func TestCellsMatch(t *testing.T) {
	tests := []struct {
		name      string
		want, got value
		tol       cellTolerance
		ok        bool
	}{
		{"decimal equal across scales", decv("12.50"), decv("12.5"), tolExact, true},
		{"decimal off by a cent", decv("12.50"), decv("12.51"), tolExact, false},
		{"decimal off in the 4th digit", decv("53758257134.8700"), decv("53758257134.8701"), tolExact, false},
		{"int equal", intCell(7), decv("7"), tolExact, true},
		{"double close", dbl(1e10), dbl(1e10 + 1e-2), tolExact, true},
		{"double not close", dbl(1e10), dbl(1e10 + 100), tolExact, false},
		{"double against rounded decimal", dbl(16.380778626395557), decv("16.380779"), tolExact, true},
		{"double against wrong decimal", dbl(16.380778626395557), decv("16.380781"), tolExact, false},
		{"double where decimal expected", decv("5.75"), dbl(5.75), tolExact, false},
		{"avg as double", decv("25.5075"), dbl(25.50750001), tolAvg, true},
		{"avg too far", dbl(25.5075), dbl(25.5076), tolAvg, false},
		{"null", value{}, value{}, tolExact, true},
		{"null against zero", value{}, intCell(0), tolExact, false},
		{"text", txt("AIR"), txt("AIR"), tolExact, true},
		{"text padded", txt("AIR"), txt("AIR "), tolExact, false},
		{"text against number", txt("13"), intCell(13), tolExact, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if ok, why := cellsMatch(tc.want, tc.got, tc.tol); ok != tc.ok {
				t.Errorf("cellsMatch(%v, %v) = %v (%s), want %v", tc.want, tc.got, ok, why, tc.ok)
			}
		})
	}
}

func TestCompareTyped(t *testing.T) {
	ordered := tpchOrder{keys: []int{0}}
	limited := tpchOrder{keys: []int{0}, limit: 3}
	tests := []struct {
		name      string
		want, got [][]value
		ord       tpchOrder
		ok        bool
	}{
		{"same", [][]value{row(intCell(1), txt("a")), row(intCell(2), txt("b"))},
			[][]value{row(intCell(1), txt("a")), row(intCell(2), txt("b"))}, ordered, true},
		{"wrong order", [][]value{row(intCell(1), txt("a")), row(intCell(2), txt("b"))},
			[][]value{row(intCell(2), txt("b")), row(intCell(1), txt("a"))}, ordered, false},
		{"ties in any order", [][]value{row(intCell(1), txt("a")), row(intCell(1), txt("b")), row(intCell(2), txt("c"))},
			[][]value{row(intCell(1), txt("b")), row(intCell(1), txt("a")), row(intCell(2), txt("c"))}, ordered, true},
		{"ties with a wrong row", [][]value{row(intCell(1), txt("a")), row(intCell(1), txt("b"))},
			[][]value{row(intCell(1), txt("b")), row(intCell(1), txt("b"))}, ordered, false},
		{"unordered multiset", [][]value{row(txt("a")), row(txt("b"))}, [][]value{row(txt("b")), row(txt("a"))}, tpchOrder{}, true},
		{"row count", [][]value{row(txt("a"))}, [][]value{row(txt("a")), row(txt("a"))}, tpchOrder{}, false},
		{"ties cut by the limit", [][]value{row(intCell(1), txt("a")), row(intCell(2), txt("b")), row(intCell(2), txt("c"))},
			[][]value{row(intCell(1), txt("a")), row(intCell(2), txt("b")), row(intCell(2), txt("z"))}, limited, true},
		{"ties not at the limit", [][]value{row(intCell(1), txt("a")), row(intCell(1), txt("b")), row(intCell(2), txt("c"))},
			[][]value{row(intCell(1), txt("a")), row(intCell(1), txt("z")), row(intCell(2), txt("c"))}, limited, false},
		{"wrong value in a key", [][]value{row(decv("1.00"))}, [][]value{row(decv("1.01"))}, ordered, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := compareTyped(tc.want, tc.got, tc.ord)
			if (d == "") != tc.ok {
				t.Errorf("compareTyped = %q, want equal=%v", d, tc.ok)
			}
		})
	}
}

func TestOfficialMatch(t *testing.T) {
	classes := []answerClass{ansText, ansExact, ansSum, ansAvg}
	want := row(answerValue("1995-03-15", ansText), answerValue("38854", ansExact),
		answerValue("53758257134.8700", ansSum), answerValue("25.522006", ansAvg))
	tests := []struct {
		name string
		got  []value
		ok   bool
	}{
		{"exact", row(txt("1995-03-15"), intCell(38854), decv("53758257134.87"), decv("25.522006")), true},
		{"avg as double", row(txt("1995-03-15"), intCell(38854), decv("53758257134.870000"), dbl(25.5220057)), true},
		{"sum off by a hundredth", row(txt("1995-03-15"), intCell(38854), decv("53758257134.88"), dbl(25.522006)), false},
		{"sum as double", row(txt("1995-03-15"), intCell(38854), dbl(53758257134.87), dbl(25.522006)), false},
		{"count off", row(txt("1995-03-15"), intCell(38855), decv("53758257134.87"), dbl(25.522006)), false},
		{"ratio to fewer digits", row(txt("1995-03-15"), intCell(38854), decv("53758257134.87"), decv("25.52201")), true},
		{"avg off by two units", row(txt("1995-03-15"), intCell(38854), decv("53758257134.87"), dbl(25.522008)), false},
		{"date", row(txt("1995-03-16"), intCell(38854), decv("53758257134.87"), dbl(25.522006)), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := compareOrdered([][]value{want}, [][]value{tc.got}, tpchOrder{}, officialMatch(classes))
			if (d == "") != tc.ok {
				t.Errorf("compareOrdered = %q, want equal=%v", d, tc.ok)
			}
		})
	}
}
