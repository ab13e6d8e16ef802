package rest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

func testTable() *catalog.Table {
	return &catalog.Table{Name: "T", Columns: []catalog.Column{
		{Name: "id", Type: catalog.Bigint, NotNull: true},
		{Name: "Name", Type: catalog.Varchar},
		{Name: "price", Type: catalog.Decimal(10, 2)},
		{Name: "ok", Type: catalog.Boolean},
		{Name: "d", Type: catalog.Date},
		{Name: "ts", Type: catalog.Timestamp},
		{Name: "f", Type: catalog.Double},
		{Name: "s", Type: catalog.Smallint},
		{Name: "code", Type: catalog.Type{Kind: catalog.KindVarchar, Length: 3}},
	}}
}

// decodeAll reads the whole body and returns the rows as JSON text (via the
// result encoder) and the reader's error.
func decodeAll(t *testing.T, body string, batchRows int) ([]string, error) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	r := newNDJSONReader(mem, testTable(), strings.NewReader(body), batchRows)
	defer r.Release()
	var rows []string
	rw := newResultWriter(r.Schema())
	for r.Next() {
		rw.started = false
		out, err := rw.appendRows(nil, r.RecordBatch())
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, string(out))
	}
	return rows, r.Err()
}

func TestNDJSONDecode(t *testing.T) {
	body := `{"id": 1, "name": "ada", "price": 12.345, "ok": true, "d": "2024-01-02", "ts": "2024-01-02T03:04:05.123456", "f": 1.5, "s": -3, "code": "abc"}
{"ID": "9007199254740993", "NAME": "h\u00e9llo \"q\" \ud83e\udd90", "price": "-0.005", "ok": false, "d": null, "ts": "2024-01-02 03:04:05+02:00", "f": "NaN"}

{"id": 3, "ts": "2024-01-02", "price": 1e2, "f": -2e-3}`
	rows, err := decodeAll(t, body, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`[1,"ada",12.35,true,"2024-01-02","2024-01-02T03:04:05.123456",1.5,-3,"abc"],` +
			`[9007199254740993,"héllo \"q\" 🦐",-0.01,false,null,"2024-01-02T01:04:05","NaN",null,null]`,
		`[3,null,100.00,null,null,"2024-01-02T00:00:00",-0.002,null,null]`,
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
}

func TestNDJSONErrors(t *testing.T) {
	tests := []struct {
		body string
		code sqlstate.Code
		row  int
		msg  string
	}{
		{`{"id": 1, "nope": 2}`, sqlstate.UndefinedColumn, 1, `column "nope" does not exist`},
		{`{"id": 1}` + "\n" + `{"id": "x"}`, sqlstate.InvalidText, 2, `row 2, column "id"`},
		{`{"name": "a"}`, sqlstate.NotNullViolation, 1, "NOT NULL"},
		{`{"id": null}`, sqlstate.NotNullViolation, 1, "NOT NULL"},
		{`{"id": 1.5}`, sqlstate.InvalidText, 1, "BIGINT"},
		{`{"id": 99999999999999999999}`, sqlstate.NumericOutOfRange, 1, "BIGINT"},
		{`{"id": 1, "s": 40000}`, sqlstate.NumericOutOfRange, 1, "SMALLINT"},
		{`{"id": 1, "price": 123456789.1}`, sqlstate.NumericOutOfRange, 1, "DECIMAL(10,2)"},
		{`{"id": 1, "price": "1.2.3"}`, sqlstate.InvalidText, 1, "DECIMAL"},
		{`{"id": 1, "name": 5}`, sqlstate.DatatypeMismatch, 1, "a number is not a valid VARCHAR"},
		{`{"id": 1, "ok": "yes"}`, sqlstate.DatatypeMismatch, 1, "BOOLEAN"},
		{`{"id": 1, "d": "2024-13-01"}`, sqlstate.InvalidDatetime, 1, "DATE"},
		{`{"id": 1, "ts": "yesterday"}`, sqlstate.InvalidDatetime, 1, "TIMESTAMP"},
		{`{"id": 1, "code": "abcd"}`, sqlstate.StringDataTooLong, 1, "too long"},
		{`{"id": 1, "name": {"a": 1}}`, sqlstate.DatatypeMismatch, 1, "nested"},
		{`{"id": 1, "id": 2}`, sqlstate.DuplicateColumn, 1, "more than once"},
		{`{"id": 1`, sqlstate.InvalidText, 1, "malformed JSON"},
		{`{"id": 1} x`, sqlstate.InvalidText, 1, "unexpected data"},
		{`[1]`, sqlstate.InvalidText, 1, "expected a JSON object"},
		{`{"id": 1, "name": "unterminated}`, sqlstate.InvalidText, 1, "unterminated"},
		{`{"id": 1, "f": 0x10}`, sqlstate.InvalidText, 1, "malformed JSON"},
		{`{"id": 1, "f": "inf"}`, sqlstate.InvalidText, 1, "DOUBLE"},
		{`{"id": 1, "name": "bad \x"}`, sqlstate.InvalidText, 1, "escape"},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			_, err := decodeAll(t, tt.body, 1)
			var re *requestError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want a requestError", err)
			}
			// A row that is not well-formed JSON is a 400; a bad value in a
			// well-formed row is a 422.
			want := 422
			for _, m := range []string{"malformed", "unexpected data", "expected a JSON object", "unterminated", "escape"} {
				if strings.Contains(tt.msg, m) {
					want = 400
				}
			}
			if re.err.Code != tt.code || re.status != want || re.details["row"] != tt.row {
				t.Errorf("got code %s status %d row %v, want %s %d %d", re.err.Code, re.status, re.details["row"], tt.code, want, tt.row)
			}
			if !strings.Contains(re.err.Message, tt.msg) {
				t.Errorf("message %q does not contain %q", re.err.Message, tt.msg)
			}
		})
	}
}

func TestNDJSONLongLine(t *testing.T) {
	long := strings.Repeat("é", 100_000) // larger than the bufio buffer
	body := fmt.Sprintf("{\"id\": 1, \"name\": %q}\n{\"id\": 2}\n", long)
	rows, err := decodeAll(t, body, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || !strings.Contains(rows[0], long) || !strings.HasSuffix(rows[0], "[2,null,null,null,null,null,null,null,null]") {
		t.Errorf("long line not decoded correctly")
	}
}

func TestNDJSONBatches(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	var sb strings.Builder
	for i := 1; i <= 25; i++ {
		fmt.Fprintf(&sb, "{\"id\": %d}\n", i)
	}
	r := newNDJSONReader(mem, testTable(), strings.NewReader(sb.String()), 10)
	var sizes []int64
	var sum int64
	for r.Next() {
		rec := r.RecordBatch()
		sizes = append(sizes, rec.NumRows())
		ids := rec.Column(0).(*array.Int64)
		for i := 0; i < ids.Len(); i++ {
			sum += ids.Value(i)
		}
	}
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
	r.Release()
	if fmt.Sprint(sizes) != "[10 10 5]" || sum != 325 || r.Rows() != 25 {
		t.Errorf("batches %v sum %d rows %d", sizes, sum, r.Rows())
	}
}

func TestParseDecimal(t *testing.T) {
	tests := []struct {
		in          string
		prec, scale int32
		want        string
		err         error
	}{
		{"0", 10, 2, "0.00", nil},
		{"12.345", 10, 2, "12.35", nil},
		{"-12.345", 10, 2, "-12.35", nil},
		{"12.344", 10, 2, "12.34", nil},
		{"1e2", 10, 2, "100.00", nil},
		{"1.5E-1", 10, 2, "0.15", nil},
		{"0.000000000000000000000000000000000000000000001", 10, 2, "0.00", nil},
		{"99999999.99", 10, 2, "99999999.99", nil},
		{"99999999.995", 10, 2, "", errDecimalRange},
		{"100000000", 10, 2, "", errDecimalRange},
		{"1e40", 38, 0, "", errDecimalRange},
		{"12345678901234567890123456789012345678", 38, 0, "12345678901234567890123456789012345678", nil},
		{"-", 10, 2, "", errDecimalSyntax},
		{"1.2.3", 10, 2, "", errDecimalSyntax},
		{"1e", 10, 2, "", errDecimalSyntax},
		{"abc", 10, 2, "", errDecimalSyntax},
		{".5", 10, 2, "0.50", nil},
	}
	for _, tt := range tests {
		n, err := parseDecimal([]byte(tt.in), tt.prec, tt.scale)
		if !errors.Is(err, tt.err) {
			t.Errorf("parseDecimal(%q) err = %v, want %v", tt.in, err, tt.err)
			continue
		}
		if err == nil {
			if got := string(appendDecimal128(nil, n, tt.scale)); got != tt.want {
				t.Errorf("parseDecimal(%q) = %s, want %s", tt.in, got, tt.want)
			}
		}
	}
	if n := testing.AllocsPerRun(10, func() { _, _ = parseDecimal([]byte("-12345.678"), 18, 3) }); n != 0 {
		t.Errorf("parseDecimal allocates %v times", n)
	}
	_ = decimal128.Num{}
}

func TestParseTimestamp(t *testing.T) {
	tests := []struct{ in, want string }{
		{"2024-01-02T03:04:05.123456", "2024-01-02T03:04:05.123456"},
		{"2024-01-02 03:04:05", "2024-01-02T03:04:05"},
		{"2024-01-02T03:04", "2024-01-02T03:04:00"},
		{"2024-01-02", "2024-01-02T00:00:00"},
		{"2024-01-02T03:04:05Z", "2024-01-02T03:04:05"},
		{"2024-01-02T03:04:05.5-01:30", "2024-01-02T04:34:05.5"},
		{"2024-01-02X03:04:05", ""},
		{"2024-01-02T25:00:00", ""},
	}
	for _, tt := range tests {
		ts, err := parseTimestamp([]byte(tt.in))
		if (err != nil) != (tt.want == "") {
			t.Errorf("parseTimestamp(%q) err = %v", tt.in, err)
			continue
		}
		if err == nil {
			got := string(appendTimestamp(nil, int64(ts), catalog.TimestampUnit))
			if got != `"`+tt.want+`"` {
				t.Errorf("parseTimestamp(%q) = %s, want %s", tt.in, got, tt.want)
			}
		}
	}
}

// TestTextDecodeNoAllocPerRow decodes lineitem bodies of 1K and 4K rows,
// NDJSON and CSV: the allocations may grow with the builders' doublings,
// never with the rows (a per-row or per-value allocation adds thousands).
func TestTextDecodeNoAllocPerRow(t *testing.T) {
	table := lineitemTable()
	for _, format := range []ingestFormat{formatNDJSON, formatCSV} {
		allocs := func(rows int) float64 {
			body := lineitemBodies(rows, rows, format == formatCSV)[0]
			return testing.AllocsPerRun(3, func() {
				r := newTextReader(memory.DefaultAllocator, table, bytes.NewReader(body), DefaultIngestBatchRows, format, csvOptions{delimiter: ','})
				defer r.Release()
				for r.Next() {
				}
				if r.Err() != nil {
					t.Fatal(r.Err())
				}
			})
		}
		small, large := allocs(1000), allocs(4000)
		t.Logf("%s: %.0f allocations for 1K rows, %.0f for 4K rows", format, small, large)
		if large-small > 200 {
			t.Errorf("%s: %.0f allocations for 1K rows, %.0f for 4K rows: something allocates per row", format, small, large)
		}
	}
}
