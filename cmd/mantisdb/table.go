package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// resultTable collects a query result as text for aligned printing: the
// widths of every column must be known before the first row is printed, so
// the shell keeps the formatted cells (not the Arrow batches).
type resultTable struct {
	names []string
	right []bool // right-align the column (numbers)
	rows  [][]string
}

func newResultTable(schema *arrow.Schema) *resultTable {
	t := &resultTable{}
	for _, f := range schema.Fields() {
		t.names = append(t.names, f.Name)
		t.right = append(t.right, isNumeric(f.Type))
	}
	return t
}

func isNumeric(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64, arrow.DECIMAL128, arrow.DECIMAL256:
		return true
	}
	return false
}

// add appends the rows of rec.
func (t *resultTable) add(rec arrow.RecordBatch) {
	n := int(rec.NumRows())
	start := len(t.rows)
	for i := 0; i < n; i++ {
		t.rows = append(t.rows, make([]string, len(t.names)))
	}
	for c := 0; c < int(rec.NumCols()) && c < len(t.names); c++ {
		col := rec.Column(c)
		for i := 0; i < n; i++ {
			t.rows[start+i][c] = formatValue(col, i)
		}
	}
}

// nullText is how the shell shows NULL.
const nullText = "NULL"

// formatValue renders value i of arr for a person: SQL literals without
// quotes, DATE as 2024-01-02, TIMESTAMP as 2024-01-02 03:04:05.123456.
func formatValue(arr arrow.Array, i int) string {
	if arr.IsNull(i) {
		return nullText
	}
	switch a := arr.(type) {
	case *array.Boolean:
		return strconv.FormatBool(a.Value(i))
	case *array.Int8:
		return strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Int16:
		return strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Int32:
		return strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Int64:
		return strconv.FormatInt(a.Value(i), 10)
	case *array.Uint8:
		return strconv.FormatUint(uint64(a.Value(i)), 10)
	case *array.Uint16:
		return strconv.FormatUint(uint64(a.Value(i)), 10)
	case *array.Uint32:
		return strconv.FormatUint(uint64(a.Value(i)), 10)
	case *array.Uint64:
		return strconv.FormatUint(a.Value(i), 10)
	case *array.Float32:
		return formatFloat(float64(a.Value(i)), 32)
	case *array.Float64:
		return formatFloat(a.Value(i), 64)
	case *array.Decimal128:
		return a.Value(i).ToString(a.DataType().(*arrow.Decimal128Type).Scale)
	case *array.String:
		return a.Value(i)
	case *array.LargeString:
		return a.Value(i)
	case *array.Date32:
		return a.Value(i).ToTime().Format("2006-01-02")
	case *array.Date64:
		return a.Value(i).ToTime().Format("2006-01-02")
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return a.Value(i).ToTime(unit).Format("2006-01-02 15:04:05.999999999")
	}
	return arr.ValueStr(i)
}

func formatFloat(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return strconv.FormatFloat(f, 'g', -1, bits)
}

// width is the display width of s in a terminal: one column per rune, two
// for East Asian wide characters and emoji. (Control characters never get
// here: cell escapes them.)
func width(s string) int {
	n := 0
	for _, r := range s {
		n++
		if isWide(r) {
			n++
		}
	}
	return n
}

// isWide reports whether r takes two terminal columns: the wide and
// full-width ranges of Unicode's East Asian Width property, coarsely.
func isWide(r rune) bool {
	if r < 0x1100 {
		return false
	}
	return r <= 0x115F || // Hangul Jamo
		r >= 0x2E80 && r <= 0xA4CF && r != 0x303F || // CJK ... Yi
		r >= 0xAC00 && r <= 0xD7A3 || // Hangul syllables
		r >= 0xF900 && r <= 0xFAFF || // CJK compatibility ideographs
		r >= 0xFE30 && r <= 0xFE4F || // CJK compatibility forms
		r >= 0xFF00 && r <= 0xFF60 || // full-width forms
		r >= 0xFFE0 && r <= 0xFFE6 ||
		r >= 0x1F300 && r <= 0x1F64F || // symbols and emoji
		r >= 0x1F900 && r <= 0x1F9FF ||
		r >= 0x20000 && r <= 0x3FFFD // CJK extensions
}

// cell makes a value printable on one line: newlines, tabs and other
// control characters are escaped.
func cell(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// print writes the table the way psql does: a header, a separator, the rows
// (numbers right-aligned) and the row count.
func (t *resultTable) print(w io.Writer) error {
	widths := make([]int, len(t.names))
	for c, n := range t.names {
		widths[c] = width(cell(n))
	}
	for _, row := range t.rows {
		for c := range row {
			row[c] = cell(row[c])
			widths[c] = max(widths[c], width(row[c]))
		}
	}
	var b strings.Builder
	line := func(cells []string, header bool) {
		for c, v := range cells {
			if c > 0 {
				b.WriteString(" | ")
			} else {
				b.WriteByte(' ')
			}
			pad := widths[c] - width(v)
			last := c == len(cells)-1
			switch {
			case header:
				// Headers are centred, like psql.
				left := pad / 2
				b.WriteString(strings.Repeat(" ", left))
				b.WriteString(v)
				if !last {
					b.WriteString(strings.Repeat(" ", pad-left))
				}
			case t.right[c]:
				b.WriteString(strings.Repeat(" ", pad))
				b.WriteString(v)
			default:
				b.WriteString(v)
				if !last {
					b.WriteString(strings.Repeat(" ", pad))
				}
			}
		}
		b.WriteByte('\n')
	}
	line(t.names, true)
	for c := range widths {
		if c > 0 {
			b.WriteByte('+')
		}
		b.WriteString(strings.Repeat("-", widths[c]+2))
	}
	b.WriteByte('\n')
	for _, row := range t.rows {
		line(row, false)
	}
	if len(t.rows) == 1 {
		b.WriteString("(1 row)\n")
	} else {
		fmt.Fprintf(&b, "(%d rows)\n", len(t.rows))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
