package main

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	duckdb "github.com/duckdb/duckdb-go/v2"
)

// This file holds the exact result check of the TPC-H queries: results read
// with their types (a DECIMAL stays an exact rational, a DOUBLE a float64),
// compared under the ordering each query's ORDER BY determines. The
// benchmark's own comparison (compareResults in stats.go) is deliberately
// loose because it compares JSON-normalized floats across processes; the
// tests use this one.

// valueKind says what a typed result value holds.
type valueKind uint8

const (
	cellNull  valueKind = iota
	cellText            // strings, dates (YYYY-MM-DD), booleans
	cellExact           // integers and decimals, as exact rationals
	cellFloat           // DOUBLE and REAL
)

// value is one typed value of a query result.
type value struct {
	kind valueKind
	text string
	// exact is the value of a cellExact value and scale its number of
	// decimal digits (0 for integers).
	exact *big.Rat
	scale int
	f     float64
}

func (c value) String() string {
	switch c.kind {
	case cellNull:
		return "NULL"
	case cellText:
		return fmt.Sprintf("%q", c.text)
	case cellExact:
		return c.exact.FloatString(c.scale) + typeSuffix(c)
	default:
		return fmt.Sprintf("%v (double)", c.f)
	}
}

func typeSuffix(c value) string {
	if c.scale == 0 {
		return " (int)"
	}
	return fmt.Sprintf(" (decimal scale %d)", c.scale)
}

func exactCell(unscaled *big.Int, scale int) value {
	r := new(big.Rat).SetInt(unscaled)
	if scale > 0 {
		r.Quo(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)))
	}
	return value{kind: cellExact, exact: r, scale: scale}
}

func intCell(v int64) value { return exactCell(big.NewInt(v), 0) }

// float returns the value's numeric value as a float64.
func (c value) float() float64 {
	if c.kind == cellExact {
		f, _ := c.exact.Float64()
		return f
	}
	return c.f
}

// cellTolerance is how closely two numeric cells of a column must agree.
type cellTolerance uint8

const (
	// tolExact: integers and decimals exactly; a DOUBLE against a DOUBLE
	// within a relative 1e-9; a DOUBLE against a DECIMAL of scale s within
	// half a unit of the s-th digit (the decimal is the rounded quotient)
	// plus a relative 1e-9.
	tolExact cellTolerance = iota
	// tolAvg: an AVG of decimals, which the engines may compute in
	// floating point: a relative 1e-6 (plus half a unit of a decimal's
	// last digit).
	tolAvg
)

// cellsMatch reports whether got matches want under tol, and if not why.
// A DECIMAL answer must come back exact: a DOUBLE where DuckDB returns a
// DECIMAL is a mismatch, except for AVG columns.
func cellsMatch(want, got value, tol cellTolerance) (bool, string) {
	if want.kind == cellNull || got.kind == cellNull {
		return want.kind == got.kind, ""
	}
	if want.kind == cellText || got.kind == cellText {
		return want.kind == got.kind && want.text == got.text, ""
	}
	rel := 1e-9
	if tol == tolAvg {
		rel = 1e-6
	}
	switch {
	case want.kind == cellExact && got.kind == cellExact:
		if want.exact.Cmp(got.exact) == 0 {
			return true, ""
		}
		if tol == tolAvg {
			return floatsClose(want.float(), got.float(), halfUnit(min(want.scale, got.scale)), rel), ""
		}
		return false, ""
	case want.kind == cellExact && tol != tolAvg:
		return false, "DOUBLE where the answer is an exact DECIMAL"
	}
	slack := 0.0
	if want.kind == cellExact {
		slack = halfUnit(want.scale)
	}
	if got.kind == cellExact {
		slack = halfUnit(got.scale)
	}
	return floatsClose(want.float(), got.float(), slack, rel), ""
}

func halfUnit(scale int) float64 { return 0.5 * math.Pow10(-scale) }

func floatsClose(a, b, slack, rel float64) bool {
	d := math.Abs(a - b)
	return d <= slack*(1+1e-9) || d <= rel*math.Max(math.Abs(a), math.Abs(b))
}

// tpchOrder describes how a TPC-H query orders its result.
type tpchOrder struct {
	// keys are the result columns of the ORDER BY, in order (0-based).
	// Rows whose keys are equal may come in any order.
	keys []int
	// limit is the query's LIMIT, 0 for none. Rows that tie on the keys
	// across the cut-off may legitimately differ between engines.
	limit int
	// avg lists the columns that are AVG of decimals.
	avg []int
}

// tpchOrders is the ordering of each TPC-H query, tpchOrders[i] for query
// i+1.
var tpchOrders = [22]tpchOrder{
	{keys: []int{0, 1}, avg: []int{6, 7, 8}},
	{keys: []int{0, 2, 1, 3}, limit: 100},
	{keys: []int{1, 2}, limit: 10},
	{keys: []int{0}},
	{keys: []int{1}},
	{},
	{keys: []int{0, 1, 2}},
	{keys: []int{0}},
	{keys: []int{0, 1}},
	{keys: []int{2}, limit: 20},
	{keys: []int{1}},
	{keys: []int{0}},
	{keys: []int{1, 0}},
	{},
	{keys: []int{0}},
	{keys: []int{3, 0, 1, 2}},
	{},
	{keys: []int{4, 3}, limit: 100},
	{},
	{keys: []int{0}},
	{keys: []int{1, 0}, limit: 100},
	{keys: []int{0}},
}

// compareTyped compares a query result with the expected one. Rows must
// come in the order of the ORDER BY keys; rows that tie on the keys are
// compared as a multiset; a group of ties cut by the LIMIT is compared on
// its keys only. It returns "" when the results match, else a description
// of the first difference.
func compareTyped(want, got [][]value, ord tpchOrder) string {
	return compareOrdered(want, got, ord, func(col int, w, g value) (bool, string) {
		tol := tolExact
		for _, c := range ord.avg {
			if c == col {
				tol = tolAvg
			}
		}
		return cellsMatch(w, g, tol)
	})
}

// cellMatcher reports whether got matches want in column col, and if not
// may say why.
type cellMatcher func(col int, want, got value) (bool, string)

// compareOrdered is compareTyped with the cell comparison of match.
func compareOrdered(want, got [][]value, ord tpchOrder, match cellMatcher) string {
	if len(want) != len(got) {
		return fmt.Sprintf("%d rows, want %d%s", len(got), len(want), firstRows(want, got))
	}
	for i := range want {
		if len(want[i]) != len(got[i]) {
			return fmt.Sprintf("row %d: %d columns, want %d", i+1, len(got[i]), len(want[i]))
		}
		for _, k := range ord.keys {
			if ok, why := match(k, want[i][k], got[i][k]); !ok {
				return fmt.Sprintf("row %d column %d (order key): got %v, want %v %s", i+1, k+1, got[i][k], want[i][k], why)
			}
		}
	}
	// Groups of rows with equal keys (by the expected result).
	for start := 0; start < len(want); {
		end := start + 1
		for end < len(want) && sameKeys(want[start], want[end], ord.keys, match) {
			end++
		}
		cut := ord.limit > 0 && end == len(want) && len(want) == ord.limit && end-start > 1
		if !cut {
			if d := matchGroup(want[start:end], got[start:end], start, match); d != "" {
				return d
			}
		}
		start = end
	}
	return ""
}

func sameKeys(a, b []value, keys []int, match cellMatcher) bool {
	if len(keys) == 0 {
		return true
	}
	for _, k := range keys {
		if ok, _ := match(k, a[k], b[k]); !ok {
			return false
		}
	}
	return true
}

// matchGroup matches the rows of got to those of want one to one, in
// order where possible.
func matchGroup(want, got [][]value, offset int, match cellMatcher) string {
	used := make([]bool, len(got))
	rowMatch := func(w, g []value) (bool, string) {
		for j := range w {
			if ok, why := match(j, w[j], g[j]); !ok {
				return false, fmt.Sprintf("column %d: got %v, want %v %s", j+1, g[j], w[j], why)
			}
		}
		return true, ""
	}
	for i, w := range want {
		if !used[i] {
			if ok, _ := rowMatch(w, got[i]); ok {
				used[i] = true
				continue
			}
		}
		found := false
		for j := range got {
			if !used[j] {
				if ok, _ := rowMatch(w, got[j]); ok {
					used[j], found = true, true
					break
				}
			}
		}
		if !found {
			_, why := rowMatch(w, got[i])
			return fmt.Sprintf("row %d: %s\n  got  %v\n  want %v", offset+i+1, strings.TrimSpace(why), got[i], w)
		}
	}
	return ""
}

func firstRows(want, got [][]value) string {
	var sb strings.Builder
	for i := 0; i < 3 && (i < len(want) || i < len(got)); i++ {
		if i < len(got) {
			fmt.Fprintf(&sb, "\n  got  %v", got[i])
		}
		if i < len(want) {
			fmt.Fprintf(&sb, "\n  want %v", want[i])
		}
	}
	return sb.String()
}

// queryTyped runs a query on an engine of this harness and returns its
// rows as typed cells.
func queryTyped(ctx context.Context, e engine, text string) ([][]value, error) {
	switch e := e.(type) {
	case *mantisEngine:
		return e.queryTyped(ctx, text)
	case *duckEngine:
		return e.queryTyped(ctx, text)
	}
	return nil, fmt.Errorf("no typed queries for %T", e)
}

func (e *mantisEngine) queryTyped(ctx context.Context, text string) (_ [][]value, err error) {
	defer recovered(&err)
	return e.queryTypedNoRecover(ctx, text)
}

// queryTypedNoRecover is queryTyped without turning a panic into an
// error.
func (e *mantisEngine) queryTypedNoRecover(ctx context.Context, text string) (_ [][]value, err error) {
	rows, err := e.db.Query(ctx, text)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]value
	for rows.Next() {
		rec := rows.Record()
		for r := 0; r < int(rec.NumRows()); r++ {
			row := make([]value, rec.NumCols())
			for c := range row {
				if row[c], err = arrowCell(rec.Column(c), r); err != nil {
					return nil, fmt.Errorf("column %d: %w", c+1, err)
				}
			}
			out = append(out, row)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, rows.Close()
}

// arrowCell returns row i of col as a typed value.
func arrowCell(col arrow.Array, i int) (value, error) {
	if col.IsNull(i) {
		return value{}, nil
	}
	switch a := col.(type) {
	case *array.Decimal128:
		return exactCell(a.Value(i).BigInt(), int(a.DataType().(*arrow.Decimal128Type).Scale)), nil
	case *array.Int64:
		return intCell(a.Value(i)), nil
	case *array.Int32:
		return intCell(int64(a.Value(i))), nil
	case *array.Int16:
		return intCell(int64(a.Value(i))), nil
	case *array.Int8:
		return intCell(int64(a.Value(i))), nil
	case *array.Float64:
		return value{kind: cellFloat, f: a.Value(i)}, nil
	case *array.Float32:
		return value{kind: cellFloat, f: float64(a.Value(i))}, nil
	case *array.String:
		return value{kind: cellText, text: a.Value(i)}, nil
	case *array.LargeString:
		return value{kind: cellText, text: a.Value(i)}, nil
	case *array.Date32:
		return value{kind: cellText, text: a.Value(i).ToTime().Format(time.DateOnly)}, nil
	case *array.Boolean:
		return value{kind: cellText, text: fmt.Sprint(a.Value(i))}, nil
	}
	return value{}, fmt.Errorf("unexpected result type %s", col.DataType())
}

func (e *duckEngine) queryTyped(ctx context.Context, text string) ([][]value, error) {
	rows, err := e.db.QueryContext(ctx, text)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanTyped(rows)
}

func scanTyped(rows *sql.Rows) ([][]value, error) {
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var out [][]value
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]value, len(vals))
		for i, v := range vals {
			if row[i], err = duckCell(v); err != nil {
				return nil, fmt.Errorf("column %s: %w", cols[i], err)
			}
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

// duckCell returns a value scanned from DuckDB as a typed value.
func duckCell(v any) (value, error) {
	switch v := v.(type) {
	case nil:
		return value{}, nil
	case int64:
		return intCell(v), nil
	case int32:
		return intCell(int64(v)), nil
	case int16:
		return intCell(int64(v)), nil
	case int8:
		return intCell(int64(v)), nil
	case uint64:
		return exactCell(new(big.Int).SetUint64(v), 0), nil
	case uint32:
		return intCell(int64(v)), nil
	case *big.Int:
		return exactCell(v, 0), nil
	case duckdb.Decimal:
		return exactCell(v.Value, int(v.Scale)), nil
	case float64:
		return value{kind: cellFloat, f: v}, nil
	case float32:
		return value{kind: cellFloat, f: float64(v)}, nil
	case string:
		return value{kind: cellText, text: v}, nil
	case time.Time:
		return value{kind: cellText, text: formatTime(v)}, nil
	case bool:
		return value{kind: cellText, text: fmt.Sprint(v)}, nil
	}
	return value{}, fmt.Errorf("unexpected value %T", v)
}
