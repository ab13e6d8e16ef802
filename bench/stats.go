package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// median returns the median of xs (the mean of the middle two for an even
// count), or 0 for none. It does not modify xs.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// geomean returns the geometric mean of the positive values of xs and how
// many there were.
func geomean(xs []float64) (float64, int) {
	var sum float64
	n := 0
	for _, x := range xs {
		if x > 0 {
			sum += math.Log(x)
			n++
		}
	}
	if n == 0 {
		return 0, 0
	}
	return math.Exp(sum / float64(n)), n
}

// percentile returns the q-quantile (0..1) of sorted by the nearest-rank
// method, or 0 for none.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// cellsEqual reports whether two normalized values are equal: numbers
// within an absolute 0.01 (decimal rounding of averages) or a relative 1e-6
// (float sums), strings after trimming trailing blanks (CHAR padding). A
// number and a string compare as numbers when the string parses as one.
func cellsEqual(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	fa, aNum := asFloat(a)
	fb, bNum := asFloat(b)
	if aNum && bNum {
		d := math.Abs(fa - fb)
		return d <= 0.01 || d <= 1e-6*math.Max(math.Abs(fa), math.Abs(fb))
	}
	return strings.TrimRight(fmt.Sprint(a), " ") == strings.TrimRight(fmt.Sprint(b), " ")
}

func asFloat(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return f, err == nil
	}
	return 0, false
}

// compareResults compares two query results row by row. If the rows differ
// in order only (ties under ORDER BY may come out either way), they are
// equal. It returns "" when equal, or a description of the first difference.
func compareResults(want, got [][]any) string {
	if len(want) != len(got) {
		return fmt.Sprintf("%d rows, want %d", len(got), len(want))
	}
	if d := compareRows(want, got); d == "" {
		return ""
	} else if compareRows(sortedRows(want), sortedRows(got)) == "" {
		return ""
	} else {
		return d
	}
}

func compareRows(want, got [][]any) string {
	for i := range want {
		if len(want[i]) != len(got[i]) {
			return fmt.Sprintf("row %d: %d columns, want %d", i+1, len(got[i]), len(want[i]))
		}
		for j := range want[i] {
			if !cellsEqual(want[i][j], got[i][j]) {
				return fmt.Sprintf("row %d column %d: %v, want %v", i+1, j+1, got[i][j], want[i][j])
			}
		}
	}
	return ""
}

func sortedRows(rows [][]any) [][]any {
	s := slices.Clone(rows)
	slices.SortStableFunc(s, func(a, b []any) int { return strings.Compare(rowKey(a), rowKey(b)) })
	return s
}

// rowKey is a sort key for a row that is stable under the comparison's
// tolerance for the common cases (numbers rounded to 2 decimals).
func rowKey(row []any) string {
	var sb strings.Builder
	for _, v := range row {
		switch v := v.(type) {
		case float64:
			fmt.Fprintf(&sb, "%.2f|", v)
		default:
			fmt.Fprintf(&sb, "%v|", v)
		}
	}
	return sb.String()
}

func slicesSortDurations(d []time.Duration) { slices.Sort(d) }
