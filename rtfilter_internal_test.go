package mantisdb

import (
	"strconv"
	"testing"

	"github.com/mantisdb/mantisdb/segments"
)

// TestRangeFilter: the range a scan's pushed conditions allow in one
// integer or DATE column, and which column is taken.
func TestRangeFilter(t *testing.T) {
	d := segments.DateValue
	for _, tc := range []struct {
		name   string
		filter segments.Predicate
		want   string // column lo hi, or "" for none
	}{
		{"none", nil, ""},
		{"half-open date range", segments.Predicate{
			{Column: "d", Op: segments.OpGe, Value: d(100)}, {Column: "d", Op: segments.OpLt, Value: d(200)}}, "d 100 199"},
		{"closed", segments.Predicate{
			{Column: "k", Op: segments.OpGt, Value: segments.Int64Value(5)}, {Column: "k", Op: segments.OpLe, Value: segments.Int64Value(9)}}, "k 6 9"},
		{"one side", segments.Predicate{{Column: "k", Op: segments.OpLt, Value: segments.IntValue(3)}}, "k -9223372036854775808 2"},
		{"empty", segments.Predicate{
			{Column: "k", Op: segments.OpGt, Value: segments.Int64Value(5)}, {Column: "k", Op: segments.OpLt, Value: segments.Int64Value(6)}}, "k 1 0"},
		{"equality wins", segments.Predicate{
			{Column: "a", Op: segments.OpGe, Value: d(1)}, {Column: "a", Op: segments.OpLe, Value: d(9)},
			{Column: "b", Op: segments.OpEq, Value: segments.Int64Value(7)}}, "b 7 7"},
		{"two-sided wins", segments.Predicate{
			{Column: "a", Op: segments.OpGe, Value: d(1)},
			{Column: "b", Op: segments.OpGe, Value: d(1)}, {Column: "B", Op: segments.OpLe, Value: d(9)}}, "b 1 9"},
		{"NULL, strings, IN and IS NULL are not ranges", segments.Predicate{
			{Column: "a", Op: segments.OpLt, Value: segments.NullValue(0)},
			{Column: "s", Op: segments.OpEq, Value: segments.StringValue("x")},
			{Column: "k", Op: segments.OpIn, Values: []segments.Value{segments.Int64Value(1)}},
			{Column: "k", Op: segments.OpIsNull}}, ""},
		{"extreme bounds", segments.Predicate{
			{Column: "k", Op: segments.OpLt, Value: segments.Int64Value(-1 << 63)}}, "k 1 0"},
	} {
		got := ""
		if f := rangeFilter(tc.filter); f != nil {
			got = f.Column + " " + strconv.FormatInt(f.Keys.Min, 10) + " " + strconv.FormatInt(f.Keys.Max, 10)
		}
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
