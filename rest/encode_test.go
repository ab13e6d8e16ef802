package rest

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestEncodeColumns(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)

	dec := &arrow.Decimal128Type{Precision: 38, Scale: 2}
	big, _ := decimal128.FromString("12345678901234567890123456.78", 38, 2)
	tests := []struct {
		name  string
		build func() arrow.Array
		want  []string
	}{
		{"bigint", func() arrow.Array {
			b := array.NewInt64Builder(mem)
			defer b.Release()
			b.AppendValues([]int64{math.MaxInt64, math.MinInt64, 0}, nil)
			b.AppendNull()
			return b.NewArray()
		}, []string{"9223372036854775807", "-9223372036854775808", "0", "null"}},
		{"int no nulls", func() arrow.Array {
			b := array.NewInt32Builder(mem)
			defer b.Release()
			b.AppendValues([]int32{1, -2}, nil)
			return b.NewArray()
		}, []string{"1", "-2"}},
		{"double", func() arrow.Array {
			b := array.NewFloat64Builder(mem)
			defer b.Release()
			b.AppendValues([]float64{1.5, 0.1, 1e21, 1e-7, math.NaN(), math.Inf(1), math.Inf(-1), 3}, nil)
			return b.NewArray()
		}, []string{"1.5", "0.1", "1e+21", "1e-7", `"NaN"`, `"Infinity"`, `"-Infinity"`, "3"}},
		{"real", func() arrow.Array {
			b := array.NewFloat32Builder(mem)
			defer b.Release()
			b.AppendValues([]float32{0.1, 2.5}, nil)
			return b.NewArray()
		}, []string{"0.1", "2.5"}},
		{"decimal", func() arrow.Array {
			b := array.NewDecimal128Builder(mem, dec)
			defer b.Release()
			b.Append(decimal128.FromI64(12345))
			b.Append(decimal128.FromI64(-5))
			b.Append(decimal128.FromI64(0))
			b.Append(big)
			b.Append(big.Negate())
			b.AppendNull()
			return b.NewArray()
		}, []string{"123.45", "-0.05", "0.00", "12345678901234567890123456.78", "-12345678901234567890123456.78", "null"}},
		{"varchar", func() arrow.Array {
			b := array.NewStringBuilder(mem)
			defer b.Release()
			b.Append("héllo 世界 🦐")
			b.Append("quote\" back\\ nl\n tab\t ctl\x01")
			b.Append("bad \xff utf8")
			b.Append("\u2028")
			b.AppendNull()
			return b.NewArray()
		}, []string{`"héllo 世界 🦐"`, `"quote\" back\\ nl\n tab\t ctl\u0001"`, `"bad \ufffd utf8"`, `"\u2028"`, "null"}},
		{"boolean", func() arrow.Array {
			b := array.NewBooleanBuilder(mem)
			defer b.Release()
			b.AppendValues([]bool{true, false}, nil)
			b.AppendNull()
			return b.NewArray()
		}, []string{"true", "false", "null"}},
		{"date", func() arrow.Array {
			b := array.NewDate32Builder(mem)
			defer b.Release()
			b.AppendValues([]arrow.Date32{19724, 0, -1}, nil)
			b.AppendNull()
			return b.NewArray()
		}, []string{`"2024-01-02"`, `"1970-01-01"`, `"1969-12-31"`, "null"}},
		{"timestamp", func() arrow.Array {
			b := array.NewTimestampBuilder(mem, &arrow.TimestampType{Unit: arrow.Microsecond})
			defer b.Release()
			b.AppendValues([]arrow.Timestamp{1704164645123456, 1704164645000000, -1}, nil)
			b.AppendNull()
			return b.NewArray()
		}, []string{`"2024-01-02T03:04:05.123456"`, `"2024-01-02T03:04:05"`, `"1969-12-31T23:59:59.999999"`, "null"}},
		{"null", func() arrow.Array { return array.NewNull(2) }, []string{"null", "null"}},
	}
	var c columnText
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arr := tt.build()
			defer arr.Release()
			if err := c.encode(arr); err != nil {
				t.Fatal(err)
			}
			if len(c.ends) != len(tt.want) {
				t.Fatalf("got %d values, want %d", len(c.ends), len(tt.want))
			}
			for i, w := range tt.want {
				got := string(c.value(i))
				if got != w {
					t.Errorf("value %d = %s, want %s", i, got, w)
				}
				if !json.Valid([]byte(got)) {
					t.Errorf("value %d = %s is not valid JSON", i, got)
				}
			}
		})
	}
}

func TestResultWriter(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "näme", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "d", Type: &arrow.Decimal128Type{Precision: 12, Scale: 2}, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	b.Field(0).(*array.Int64Builder).AppendValues([]int64{1, 1 << 60}, nil)
	b.Field(1).(*array.StringBuilder).AppendValues([]string{"a", ""}, []bool{true, false})
	b.Field(2).(*array.Decimal128Builder).AppendValues([]decimal128.Num{decimal128.FromI64(150), {}}, []bool{true, false})
	rec := b.NewRecordBatch()
	defer rec.Release()

	rw := newResultWriter(schema)
	out := rw.appendHeader(nil)
	var err error
	for i := 0; i < 2; i++ { // two batches: rows must be comma separated across them
		if out, err = rw.appendRows(out, rec); err != nil {
			t.Fatal(err)
		}
	}
	out = append(out, "]}"...)
	want := `{"columns":[{"name":"id","type":"BIGINT"},{"name":"näme","type":"VARCHAR"},{"name":"d","type":"DECIMAL(12,2)"}],` +
		`"rows":[[1,"a",1.50],[1152921504606846976,null,null],[1,"a",1.50],[1152921504606846976,null,null]]}`
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
	if !json.Valid(out) {
		t.Error("output is not valid JSON")
	}
}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "<>&", "a\"b", "\x00\x1f\x7f", "é", strings.Repeat("x", 100)} {
		got := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil || back != s {
			t.Errorf("appendJSONString(%q) = %s, decodes to %q (%v)", s, got, back, err)
		}
	}
}

func TestEncodeAllocs(t *testing.T) {
	b := array.NewInt64Builder(memory.DefaultAllocator)
	for i := 0; i < 1024; i++ {
		b.Append(int64(i) * 1_000_003)
	}
	arr := b.NewArray()
	b.Release()
	defer arr.Release()
	var c columnText
	_ = c.encode(arr)
	if n := testing.AllocsPerRun(10, func() { _ = c.encode(arr) }); n != 0 {
		t.Errorf("encode allocates %v times per batch once warm, want 0", n)
	}
}

// TestAppendTimestampMatchesTime compares the hand-written calendar code
// with package time over a wide range of instants and every unit.
func TestAppendTimestampMatchesTime(t *testing.T) {
	layouts := map[arrow.TimeUnit]string{
		arrow.Second:      "2006-01-02T15:04:05",
		arrow.Millisecond: "2006-01-02T15:04:05.999",
		arrow.Microsecond: "2006-01-02T15:04:05.999999",
		arrow.Nanosecond:  "2006-01-02T15:04:05.999999999",
	}
	for unit, layout := range layouts {
		per := pow10[unitDigits[unit]]
		// Years 0001..9999, within what an int64 of the unit holds.
		lo, hi := int64(-62135596800), int64(253402300799)
		if unit == arrow.Nanosecond {
			lo, hi = math.MinInt64/per+1, math.MaxInt64/per-1
		}
		step := (hi - lo) / 5000 * per
		for v := lo * per; v < hi*per-step; v += step {
			for _, d := range []int64{0, 1, -1, per - 1} {
				x := v + d
				want := `"` + arrow.Timestamp(x).ToTime(unit).Format(layout) + `"`
				if got := string(appendTimestamp(nil, x, unit)); got != want {
					t.Fatalf("unit %s, %d: got %s, want %s", unit, x, got, want)
				}
			}
		}
	}
}

// TestEncodeSlices renders sliced arrays (non-zero offsets, NULLs) the same
// as whole ones: JSON and CSV.
func TestEncodeSlices(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	sb := array.NewStringBuilder(mem)
	defer sb.Release()
	sb.AppendValues([]string{"zero", "one, two", "", "th\"ree", "four"}, []bool{true, true, false, true, true})
	strs := sb.NewArray()
	defer strs.Release()
	db := array.NewDate32Builder(mem)
	defer db.Release()
	db.AppendValues([]arrow.Date32{0, -1, 19724, 0, 2932896}, []bool{true, true, true, false, true})
	dates := db.NewArray()
	defer dates.Release()
	fb := array.NewFloat64Builder(mem)
	defer fb.Release()
	fb.AppendValues([]float64{1, math.NaN(), 2.5, math.Inf(-1), 0}, nil)
	floats := fb.NewArray()
	defer floats.Release()
	tests := []struct {
		arr       arrow.Array
		json, csv string
	}{
		{strs, `"zero","one, two",null,"th\"ree","four"`, `zero|"one, two"||"th""ree"|four`},
		{dates, `"1970-01-01","1969-12-31","2024-01-02",null,"9999-12-31"`, `1970-01-01|1969-12-31|2024-01-02||9999-12-31`},
		{floats, `1,"NaN",2.5,"-Infinity",0`, `1|NaN|2.5|-Infinity|0`},
	}
	for _, tt := range tests {
		for lo := 0; lo <= 5; lo++ {
			for hi := lo; hi <= 5; hi++ {
				part := array.NewSlice(tt.arr, int64(lo), int64(hi))
				var w valueWriter
				if err := w.bind(part); err != nil {
					t.Fatal(err)
				}
				var js, cs []string
				for i := 0; i < part.Len(); i++ {
					js = append(js, string(w.appendJSON(nil, i)))
					cs = append(cs, string(w.appendCSV(nil, i)))
				}
				part.Release()
				wantJS := strings.Join(splitTop(tt.json)[lo:hi], ",")
				wantCS := strings.Join(strings.Split(tt.csv, "|")[lo:hi], "|")
				if got := strings.Join(js, ","); got != wantJS {
					t.Errorf("%s[%d:%d] JSON = %s, want %s", tt.arr.DataType(), lo, hi, got, wantJS)
				}
				if got := strings.Join(cs, "|"); got != wantCS {
					t.Errorf("%s[%d:%d] CSV = %s, want %s", tt.arr.DataType(), lo, hi, got, wantCS)
				}
			}
		}
	}
}

// splitTop splits a comma-separated list of JSON values outside strings.
func splitTop(s string) []string {
	var out []string
	start, inStr := 0, false
	for i := 0; i < len(s); i++ {
		switch {
		case inStr && s[i] == '\\':
			i++
		case s[i] == '"':
			inStr = !inStr
		case !inStr && s[i] == ',':
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// TestAppendCivilDateMatchesTime compares every day of years -2..10001
// with package time (every 3rd day in the middle, all of them near the
// ends of the fast path).
func TestAppendCivilDateMatchesTime(t *testing.T) {
	lo := time.Date(-2, 1, 1, 0, 0, 0, 0, time.UTC).Unix() / 86400
	hi := time.Date(10002, 1, 1, 0, 0, 0, 0, time.UTC).Unix() / 86400
	var buf []byte
	for d := lo; d < hi; d++ {
		if d > lo+2000 && d < hi-2000 && d%3 != 0 {
			continue
		}
		want := time.Unix(d*86400, 0).UTC().Format("2006-01-02")
		if buf = appendCivilDate(buf[:0], d); string(buf) != want {
			t.Fatalf("day %d: got %s, want %s", d, buf, want)
		}
	}
}

// TestAppendDecimalMatchesToString compares decimal text with arrow-go's
// decimal128.Num.ToString for values around powers of ten, of both signs,
// at scales 0..38 (Decimal128's range).
func TestAppendDecimalMatchesToString(t *testing.T) {
	var vals []int64
	for p := int64(1); p > 0 && p <= math.MaxInt64/10; p *= 10 {
		vals = append(vals, p-1, p, p+1, p*7+3)
	}
	vals = append(vals, 0, math.MaxInt64, math.MinInt64, math.MinInt64+1)
	var buf []byte
	for _, v := range vals {
		for _, sign := range []int64{1, -1} {
			n := decimal128.FromI64(v * sign)
			for _, scale := range []int32{0, 1, 2, 3, 4, 5, 9, 17, 18, 19, 20, 21, 37, 38} {
				want := n.ToString(scale)
				if buf = appendDecimal128(buf[:0], n, scale); string(buf) != want {
					t.Fatalf("%d at scale %d: got %s, want %s", v*sign, scale, buf, want)
				}
			}
		}
	}
}

// TestAppendJSONStringWords compares appendJSONString, which skips plain
// ASCII eight bytes at a time, with the byte-by-byte loop it grew from on
// random strings that put every kind of byte at every offset of a word:
// each ASCII byte, multi-byte runes, U+2028, invalid UTF-8.
func TestAppendJSONStringWords(t *testing.T) {
	pieces := []string{"\u2028", "\u2029", "é", "日本", "🦐", "\xff", "\xe2\x80", "abcdefgh", "        "}
	for b := 0; b < utf8.RuneSelf; b++ {
		pieces = append(pieces, string(rune(b)))
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	var s []byte
	for range 20000 {
		s = s[:0]
		for n := rnd.IntN(12); n > 0; n-- {
			if rnd.IntN(3) > 0 {
				s = append(s, "plain-text"[:rnd.IntN(11)]...)
			}
			s = append(s, pieces[rnd.IntN(len(pieces))]...)
		}
		want := appendJSONStringBytewise(nil, string(s))
		if got := appendJSONString(nil, string(s)); !bytes.Equal(got, want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
		var back string
		if err := json.Unmarshal(want, &back); err != nil || back != strings.ToValidUTF8(string(s), "\ufffd") && utf8.ValidString(string(s)) {
			t.Fatalf("%q: %s decodes to %q (%v)", s, want, back, err)
		}
	}
}

// appendJSONStringBytewise is appendJSONString as it was before it
// skipped words: the reference of TestAppendJSONStringWords.
func appendJSONStringBytewise(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if jsonSafe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// TestCSVNeedsQuotesWords compares csvNeedsQuotes, which tests eight bytes
// at a time, with a byte loop on random strings that put commas, quotes,
// CR, LF, spaces and other bytes at every offset of a word.
func TestCSVNeedsQuotesWords(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 6))
	var s []byte
	for range 50000 {
		s = s[:0]
		for n := 1 + rnd.IntN(30); n > 0; n-- {
			if rnd.IntN(8) == 0 {
				const odd = ",\"\r\n \x00\xff!#-+*"
				s = append(s, odd[rnd.IntN(len(odd))])
			} else {
				s = append(s, byte('a'+rnd.IntN(26)))
			}
		}
		want := s[0] == ' ' || s[len(s)-1] == ' ' || bytes.ContainsAny(s, ",\"\r\n")
		if got := csvNeedsQuotes(string(s)); got != want {
			t.Fatalf("csvNeedsQuotes(%q) = %v, want %v", s, got, want)
		}
	}
}
