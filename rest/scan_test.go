package rest

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb/catalog"
)

// refParseDate and refParseTimestamp are the time.Parse based parsers that
// the hand-written ones replace; they define the accepted syntax.
func refParseDate(b []byte) (arrow.Date32, bool) {
	if len(b) != 10 {
		return 0, false
	}
	t, err := time.Parse(time.DateOnly, string(b))
	if err != nil {
		return 0, false
	}
	return arrow.Date32(floorDiv(t.Unix(), 86400)), true
}

func refParseTimestamp(b []byte) (arrow.Timestamp, bool) {
	s := string(b)
	if len(s) < 19 || (s[10] != 'T' && s[10] != ' ') || strings.ContainsAny(s[19:], "Z+-") {
		return 0, false // not the zone-less form with seconds
	}
	layout := "2006-01-02T15:04:05"
	if s[10] == ' ' {
		layout = "2006-01-02 15:04:05"
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return 0, false
	}
	return arrow.Timestamp(t.UnixMicro()), true
}

var temporalSeeds = []string{
	"2024-01-02", "1970-01-01", "1969-12-31", "0000-01-01", "9999-12-31", "2000-02-29", "1900-02-29",
	"2023-02-29", "2024-02-29", "2024-04-31", "2024-13-01", "2024-00-10", "2024-01-00", "2024-1-02",
	"2024/01/02", "20240102xx", "+024-01-02", "2024-01-0a", "1600-03-01", "0001-02-28",
	"2024-01-02T03:04:05", "2024-01-02 03:04:05", "2024-01-02T03:04:05.123456", "2024-01-02T03:04:05.1",
	"2024-01-02T03:04:05.123456789", "2024-01-02T03:04:05.1234567891", "2024-01-02T03:04:05.",
	"1969-12-31T23:59:59.999999", "1969-12-31T23:59:59.9999999", "0000-01-01T00:00:00",
	"2024-01-02T24:00:00", "2024-01-02T23:60:00", "2024-01-02T23:59:60", "2024-01-02T3:04:05",
	"2024-01-02T03:04:05,5", "2024-01-02T03:04:05x", "2024-01-02T03:04:05.12a", "2024-01-02X03:04:05",
}

func TestParseTemporalMatchesTime(t *testing.T) {
	for _, s := range temporalSeeds {
		checkTemporal(t, []byte(s))
	}
}

func checkTemporal(t *testing.T, b []byte) {
	t.Helper()
	d, err := parseDate(b)
	if rd, ok := refParseDate(b); ok != (err == nil) || ok && rd != d {
		t.Errorf("parseDate(%q) = %v, %v; time.Parse: %v, %v", b, d, err, rd, ok)
	}
	if rts, ok := refParseTimestamp(b); ok {
		ts, err := parseTimestamp(b)
		if err != nil || ts != rts {
			t.Errorf("parseTimestamp(%q) = %v, %v; time.Parse: %v", b, ts, err, rts)
		}
	}
	if ts, ok := parseTimestampFast(b); ok {
		if rts, rok := refParseTimestamp(b); !rok || rts != ts {
			t.Errorf("parseTimestampFast(%q) = %v; time.Parse: %v, %v", b, ts, rts, rok)
		}
	}
}

// FuzzParseTemporal checks the hand-written DATE and TIMESTAMP parsers
// against time.Parse. Run it by hand:
//
//	go test ./rest -run '^$' -fuzz FuzzParseTemporal -fuzztime 1m
func FuzzParseTemporal(f *testing.F) {
	for _, s := range temporalSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkTemporal(t, []byte(s)) })
}

// decodeLines decodes body into one batch of testTable and returns the rows
// as JSON text, or the error.
func decodeLines(t *testing.T, body string) ([]string, error) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	r := newNDJSONReader(mem, testTable(), strings.NewReader(body), 16)
	defer r.Release()
	var rows []string
	for r.Next() {
		rec := r.RecordBatch()
		for i, col := range rec.Columns() {
			if col.Len() != int(rec.NumRows()) {
				t.Fatalf("column %d has %d rows, the batch %d", i, col.Len(), rec.NumRows())
			}
		}
		rw := newResultWriter(rec.Schema())
		for i := 0; i < int(rec.NumRows()); i++ {
			one := rec.NewSlice(int64(i), int64(i+1))
			rw.started = false
			out, err := rw.appendRows(nil, one)
			one.Release()
			if err != nil {
				t.Fatal(err)
			}
			rows = append(rows, string(out))
		}
	}
	return rows, r.Err()
}

var rowSeeds = []string{
	`{"id": 1, "name": "ada", "price": 12.345, "ok": true, "d": "2024-01-02", "ts": "2024-01-02T03:04:05.123456", "f": 1.5, "s": -3, "code": "abc"}`,
	`{"ID": "9007199254740993", "NAME": "h\u00e9llo \"q\" \ud83e\udd90", "price": "-0.005", "ok": false, "d": null}`,
	`{"id":3,"ts":"2024-01-02","price":1e2,"f":-2e-3}`,
	`{"na\u006de": "x", "id": 4}`,
	`{"name": "x", "id": 5}`,
	`{"id": 6, "name": "\ud800"}`,
	`{"id": 7, "name": "tab\there"}`,
	`{"id": 8, "nam": 1}`,
	`{"id": 9, "name": "é"}`,
	`{ "id" : 10 , "name" : "a" }`,
	`{"id": 11, "id": 12}`,
	`{"id": 13, "name": "\"}`,
	`{"id": 14}`,
	`{}`,
}

// checkRow decodes line alone, twice in a row (the second time through the
// key cache) and after a row with other keys: the answers must agree.
func checkRow(t *testing.T, line string) {
	if strings.ContainsAny(line, "\n\r") || strings.TrimSpace(line) == "" {
		return // not one row: blank lines are skipped
	}
	one, err := decodeLines(t, line)
	two, err2 := decodeLines(t, line+"\n"+line)
	if (err == nil) != (err2 == nil) {
		t.Fatalf("%q: alone err %v, twice err %v", line, err, err2)
	}
	if err == nil && (len(one) != 1 || len(two) != 2 || one[0] != two[0] || two[0] != two[1]) {
		t.Fatalf("%q: alone %q, twice %q", line, one, two)
	}
	after, err3 := decodeLines(t, `{"code": "x", "id": 0, "name": "y"}`+"\n"+line)
	if (err == nil) != (err3 == nil) || err == nil && after[1] != one[0] {
		t.Fatalf("%q: alone %q %v, after another row %q %v", line, one, err, after, err3)
	}
	var re *requestError
	if err != nil && !errors.As(err, &re) {
		t.Fatalf("%q: err %v is not a request error", line, err)
	}
}

func TestNDJSONRowProperties(t *testing.T) {
	for _, s := range rowSeeds {
		checkRow(t, s)
	}
}

// FuzzNDJSONRow decodes arbitrary lines: no panic, a request error or
// rows, the same whether the key cache hits or not. Run it by hand:
//
//	go test ./rest -run '^$' -fuzz FuzzNDJSONRow -fuzztime 1m
func FuzzNDJSONRow(f *testing.F) {
	for _, s := range rowSeeds {
		f.Add(s)
	}
	f.Fuzz(checkRow)
}

// checkString decodes the JSON string literal "s" into a VARCHAR column and
// compares the value with encoding/json's.
func checkString(t *testing.T, s string) {
	if strings.ContainsAny(s, "\n\r") {
		return
	}
	line := `{"id": 1, "name": "` + s + `"}`
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	tbl := &catalog.Table{Name: "t", Columns: []catalog.Column{{Name: "id", Type: catalog.Bigint}, {Name: "name", Type: catalog.Varchar}}}
	r := newNDJSONReader(mem, tbl, strings.NewReader(line), 4)
	defer r.Release()
	var got string
	ok := r.Next()
	if ok {
		got = r.RecordBatch().Column(1).(*array.String).Value(0)
	}
	var v struct{ Name *string }
	jerr := json.Unmarshal([]byte(line), &v)
	switch {
	case ok && (jerr != nil || v.Name == nil || *v.Name != got):
		t.Fatalf("%q: decoded %q, encoding/json %v %v", s, got, v.Name, jerr)
	case !ok && jerr == nil && utf8.ValidString(s):
		t.Fatalf("%q: refused (%v), encoding/json decodes %q", s, r.Err(), *v.Name)
	}
}

func TestNDJSONStrings(t *testing.T) {
	for _, s := range []string{`plain`, `é`, `\u00e9`, `\ud83e\udd90`, `\ud800`, `\ud800\u0041`, `\udc00`,
		`\"\\\/\b\f\n\r\t`, `\x`, `\u12`, `\u12G4`, "\x01", `\`, "\xff", `a\u0000b`} {
		checkString(t, s)
	}
}

// FuzzNDJSONString compares decoded JSON strings with encoding/json. Run it
// by hand:
//
//	go test ./rest -run '^$' -fuzz FuzzNDJSONString -fuzztime 1m
func FuzzNDJSONString(f *testing.F) {
	for _, s := range []string{`plain`, `\u00e9`, `\ud83e\udd90`, `\ud800`, `\"\\\/\b\f\n\r\t`, "é"} {
		f.Add(s)
	}
	f.Fuzz(checkString)
}

// checkCSV reads body with readCSVRecord and with encoding/csv: the same
// records, and the same error where one fails.
func checkCSV(t *testing.T, body string, delim rune) {
	if delim == 0 || delim == '"' || delim == '\r' || delim == '\n' || !utf8.ValidRune(delim) || delim == utf8.RuneError {
		return
	}
	want := csv.NewReader(strings.NewReader(body))
	want.Comma = delim
	r := newTextReader(memory.DefaultAllocator, testTable(), strings.NewReader(body), 4, formatCSV, csvOptions{delimiter: delim})
	defer r.Release()
	r.csv.delim = utf8.AppendRune(nil, delim)
	for i := 0; ; i++ {
		rec, werr := want.Read()
		gerr := r.readCSVRecord()
		if i == 0 {
			r.csv.nfields = len(r.csv.fields)
		}
		if fmt.Sprint(werr) != fmt.Sprint(gerr) {
			t.Fatalf("%q: record %d: error %v, encoding/csv %v", body, i, gerr, werr)
		}
		if werr != nil {
			return
		}
		var got []string
		for _, f := range r.csv.fields {
			got = append(got, string(f))
		}
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", rec) {
			t.Fatalf("%q: record %d: %q, encoding/csv %q", body, i, got, rec)
		}
		if line, _ := want.FieldPos(0); line != r.csv.recLine {
			t.Fatalf("%q: record %d starts at line %d, encoding/csv %d", body, i, r.csv.recLine, line)
		}
	}
}

var csvSeeds = []string{
	"a,b\n1,2\n", "a,b\r\n1,2\r\n", "a,b\n1,2", "a,b\n1,2\r", "a,b\n\n\n1,2\n\r\n3,4\n", `a,b` + "\n" + `"x,y","z""q"` + "\n",
	"a,b\n\"multi\nline\",2\n", "a,b\n\"multi\r\nline\",2\n", "a,b\n1,x\"y\n", "a,b\n\"x\"y,2\n", "a,b\n\"open,2\n",
	"a,b\n1\n", "a,b\n1,2,3\n", "a\n\"\"\n", "a,b\n,\n", "\"a\nb\",c\n", "a;b\n1;2\n", "a\tb\n1\t2\n", "aéb\n1é2\n",
	"a,b\n\"x\"\n", "a,b\n\"x\" ,y\n", "", "\n\n", "\"", "a,b\n\"abc",
}

func TestCSVMatchesEncodingCSV(t *testing.T) {
	for _, body := range csvSeeds {
		for _, d := range []rune{',', ';', '\t', 'é'} {
			checkCSV(t, body, d)
		}
	}
}

// FuzzCSV compares the CSV record reader with encoding/csv. Run it by hand:
//
//	go test ./rest -run '^$' -fuzz FuzzCSV -fuzztime 1m
func FuzzCSV(f *testing.F) {
	for _, body := range csvSeeds {
		f.Add(body, ',')
	}
	f.Add("a;b\n1;2\n", ';')
	f.Fuzz(checkCSV)
}
