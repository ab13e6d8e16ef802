package rest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// ndjsonReader decodes an NDJSON body (one flat JSON object per line) into
// Arrow batches of a table's schema. It is the array.RecordReader that
// ingest hands to DB.Ingest, so decoding and writing overlap and the body
// never sits in memory whole.
//
// Keys are matched to columns case-insensitively; values must be scalars of
// a JSON kind the column accepts (see appendValue). The first bad row stops
// the reader: Next returns false and Err the error, whose message and
// details carry the 1-based row number. Blank lines are skipped and not
// counted as rows. It is not safe for concurrent use.
type ndjsonReader struct {
	refs      atomic.Int64
	table     *catalog.Table
	schema    *arrow.Schema
	in        *bufio.Reader
	bld       *array.RecordBuilder
	cols      []ndjsonColumn
	byName    map[string]int // exact column names
	batchRows int

	cur  arrow.RecordBatch
	err  error
	eof  bool
	line []byte // the current line when it did not fit the bufio buffer
	scr  []byte // scratch for unescaped strings

	format ingestFormat
	arr    arrayState // formatJSONArray
	csv    *csvState  // formatCSV

	lineNo int   // 1-based line number of the current line
	rowNo  int   // 1-based number of the current row
	rows   int64 // rows decoded so far
	seen   []bool
}

// ndjsonColumn is the decoding state of one column.
type ndjsonColumn struct {
	name    string
	typ     catalog.Type
	notNull bool
	bld     array.Builder
}

var _ array.RecordReader = (*ndjsonReader)(nil)

func newNDJSONReader(mem memory.Allocator, table *catalog.Table, body io.Reader, batchRows int) *ndjsonReader {
	schema := table.Schema()
	r := &ndjsonReader{
		table:     table,
		schema:    schema,
		in:        bufio.NewReaderSize(body, 64<<10),
		bld:       array.NewRecordBuilder(mem, schema),
		cols:      make([]ndjsonColumn, len(table.Columns)),
		byName:    make(map[string]int, len(table.Columns)),
		batchRows: batchRows,
		seen:      make([]bool, len(table.Columns)),
	}
	r.refs.Store(1)
	for i, c := range table.Columns {
		r.cols[i] = ndjsonColumn{name: c.Name, typ: c.Type, notNull: c.NotNull, bld: r.bld.Field(i)}
		r.byName[c.Name] = i
	}
	r.bld.Reserve(batchRows)
	return r
}

// Retain increases the reference count.
func (r *ndjsonReader) Retain() { r.refs.Add(1) }

// Release decreases the reference count and frees the builder and current
// batch when it reaches zero.
func (r *ndjsonReader) Release() {
	if r.refs.Add(-1) != 0 {
		return
	}
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	r.bld.Release()
}

// Schema returns the table's schema.
func (r *ndjsonReader) Schema() *arrow.Schema { return r.schema }

// RecordBatch returns the current batch, valid until the next call of Next.
func (r *ndjsonReader) RecordBatch() arrow.RecordBatch { return r.cur }

// Record returns the current batch.
//
// Deprecated: use RecordBatch.
func (r *ndjsonReader) Record() arrow.RecordBatch { return r.cur }

// Err returns the error that ended decoding, if any.
func (r *ndjsonReader) Err() error { return r.err }

// Rows returns the number of rows decoded so far.
func (r *ndjsonReader) Rows() int64 { return r.rows }

// Next decodes the next batch of up to batchRows rows.
func (r *ndjsonReader) Next() bool {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	if r.err != nil || r.eof {
		return false
	}
	n := 0
	for n < r.batchRows {
		var (
			ok  bool
			err error
		)
		switch r.format {
		case formatJSONArray:
			ok, err = r.nextArrayRow()
		case formatCSV:
			ok, err = r.nextCSVRow()
		default:
			ok, err = r.nextLineRow()
		}
		if err != nil {
			r.fail(err)
			return false
		}
		if !ok {
			r.eof = true
			break
		}
		n++
	}
	if n == 0 {
		return false
	}
	r.rows += int64(n)
	r.cur = r.bld.NewRecordBatch()
	return true
}

// nextLineRow decodes the next non-blank NDJSON line. It reports false at
// the end of the body.
func (r *ndjsonReader) nextLineRow() (bool, error) {
	for {
		line, err := r.readLine()
		if err != nil && err != io.EOF {
			return false, err
		}
		if len(bytes.TrimSpace(line)) > 0 {
			r.rowNo++
			if derr := r.decodeRow(line); derr != nil {
				return false, derr
			}
			// After a last line without a newline, the next call reads an
			// empty line and io.EOF again.
			return true, nil
		}
		if err == io.EOF {
			return false, nil
		}
	}
}

// fail records the error that ends decoding and drops the rows of the
// unfinished batch.
func (r *ndjsonReader) fail(err error) {
	r.err = err
	// The failed row may be half appended, so the columns can differ in
	// length: drop them one by one.
	for i := range r.cols {
		r.cols[i].bld.NewArray().Release()
	}
}

// readLine returns the next line without its newline; the slice is valid
// until the next call. At the end of the body it returns the last
// (possibly empty) line and io.EOF.
func (r *ndjsonReader) readLine() ([]byte, error) {
	r.lineNo++
	r.line = r.line[:0]
	for {
		b, err := r.in.ReadSlice('\n')
		switch {
		case err == nil:
			b = b[:len(b)-1]
			if len(r.line) > 0 {
				return append(r.line, b...), nil
			}
			return b, nil
		case err == bufio.ErrBufferFull:
			r.line = append(r.line, b...)
		case err == io.EOF:
			if len(r.line) > 0 {
				return append(r.line, b...), io.EOF
			}
			return b, io.EOF
		default:
			return nil, err
		}
	}
}

// rowError returns the 422 error of a bad row.
func (r *ndjsonReader) rowError(code sqlstate.Code, column, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	details := map[string]any{"row": r.rowNo, "line": r.lineNo}
	if column != "" {
		details["column"] = column
		msg = fmt.Sprintf("row %d, column %q: %s", r.rowNo, column, msg)
	} else {
		msg = fmt.Sprintf("row %d: %s", r.rowNo, msg)
	}
	return &requestError{err: sqlstate.Errorf(code, "%s", msg), status: 422, details: details}
}

// syntaxError returns the 400 error of a row that is not well-formed (as
// opposed to a well-formed row with a bad value, 422).
func (r *ndjsonReader) syntaxError(column, format string, args ...any) error {
	err := r.rowError(sqlstate.InvalidText, column, format, args...)
	err.(*requestError).status = http.StatusBadRequest
	return err
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// decodeRow parses one JSON object and appends its values to the builders.
// On error the builders may hold a partial row; the caller drops the batch.
func (r *ndjsonReader) decodeRow(b []byte) error {
	for i := range r.seen {
		r.seen[i] = false
	}
	p := 0
	skip := func() {
		for p < len(b) && isSpace(b[p]) {
			p++
		}
	}
	skip()
	if p >= len(b) || b[p] != '{' {
		return r.syntaxError("", "expected a JSON object")
	}
	p++
	skip()
	if p < len(b) && b[p] == '}' {
		p++
	} else {
		for {
			skip()
			if p >= len(b) || b[p] != '"' {
				return r.syntaxError("", "malformed JSON: expected a key at offset %d", p)
			}
			key, np, escaped, err := scanString(b, p)
			if err != nil {
				return r.syntaxError("", "malformed JSON: %v", err)
			}
			p = np
			if escaped {
				r.scr, err = unescape(r.scr[:0], key)
				if err != nil {
					return r.syntaxError("", "malformed JSON: %v", err)
				}
				key = r.scr
			}
			col, ok := r.byName[string(key)]
			if !ok {
				col = r.table.ColumnIndex(string(key))
				if col < 0 {
					return r.rowError(sqlstate.UndefinedColumn, "", "column %q does not exist in table %q", key, r.table.Name)
				}
			}
			if r.seen[col] {
				return r.rowError(sqlstate.DuplicateColumn, r.cols[col].name, "value given more than once")
			}
			r.seen[col] = true
			skip()
			if p >= len(b) || b[p] != ':' {
				return r.syntaxError("", "malformed JSON: expected ':' at offset %d", p)
			}
			p++
			skip()
			if p, err = r.appendValue(b, p, col); err != nil {
				return err
			}
			skip()
			if p < len(b) && b[p] == ',' {
				p++
				continue
			}
			if p < len(b) && b[p] == '}' {
				p++
				break
			}
			return r.syntaxError("", "malformed JSON: expected ',' or '}' at offset %d", p)
		}
	}
	skip()
	if p != len(b) {
		return r.syntaxError("", "malformed JSON: unexpected data after the object at offset %d", p)
	}
	for i := range r.cols {
		if r.seen[i] {
			continue
		}
		if r.cols[i].notNull {
			return r.rowError(sqlstate.NotNullViolation, r.cols[i].name, "missing value for NOT NULL column")
		}
		r.cols[i].bld.AppendNull()
	}
	return nil
}

// JSON value kinds.
const (
	jsonString = iota
	jsonNumber
	jsonTrue
	jsonFalse
	jsonNull
)

var jsonKindNames = [...]string{"a string", "a number", "true", "false", "null"}

// appendValue scans the JSON value at b[p:] and appends it to column col. It
// returns the offset after the value.
func (r *ndjsonReader) appendValue(b []byte, p, col int) (int, error) {
	c := &r.cols[col]
	var (
		kind int
		tok  []byte
		err  error
	)
	switch ch := b[p]; {
	case ch == '"':
		var escaped bool
		tok, p, escaped, err = scanString(b, p)
		if err != nil {
			return p, r.syntaxError(c.name, "malformed JSON: %v", err)
		}
		if escaped {
			if r.scr, err = unescape(r.scr[:0], tok); err != nil {
				return p, r.syntaxError(c.name, "malformed JSON: %v", err)
			}
			tok = r.scr
		} else if !utf8.Valid(tok) {
			return p, r.syntaxError(c.name, "string is not valid UTF-8")
		}
		kind = jsonString
	case ch == '-' || (ch >= '0' && ch <= '9'):
		start := p
		for p < len(b) && (b[p] >= '0' && b[p] <= '9' || b[p] == '-' || b[p] == '+' || b[p] == '.' || b[p] == 'e' || b[p] == 'E') {
			p++
		}
		tok, kind = b[start:p], jsonNumber
	case bytes.HasPrefix(b[p:], []byte("true")):
		p, kind = p+4, jsonTrue
	case bytes.HasPrefix(b[p:], []byte("false")):
		p, kind = p+5, jsonFalse
	case bytes.HasPrefix(b[p:], []byte("null")):
		p, kind = p+4, jsonNull
	case ch == '{' || ch == '[':
		return p, r.rowError(sqlstate.DatatypeMismatch, c.name, "nested JSON objects and arrays are not supported")
	default:
		return p, r.syntaxError(c.name, "malformed JSON value at offset %d", p)
	}

	return p, r.appendTyped(c, kind, tok)
}

// appendTyped appends one scalar of a JSON kind (a string's contents
// unescaped) to column c, converted to the column's type.
func (r *ndjsonReader) appendTyped(c *ndjsonColumn, kind int, tok []byte) error {
	if kind == jsonNull {
		if c.notNull {
			return r.rowError(sqlstate.NotNullViolation, c.name, "null value in NOT NULL column")
		}
		c.bld.AppendNull()
		return nil
	}
	mismatch := func() error {
		return r.rowError(sqlstate.DatatypeMismatch, c.name, "%s is not a valid %s value", jsonKindNames[kind], c.typ)
	}

	switch c.typ.Kind {
	case catalog.KindBoolean:
		if kind != jsonTrue && kind != jsonFalse {
			return mismatch()
		}
		c.bld.(*array.BooleanBuilder).Append(kind == jsonTrue)
	case catalog.KindSmallint, catalog.KindInt, catalog.KindBigint:
		if kind != jsonNumber && kind != jsonString {
			return mismatch()
		}
		v, err := parseInt(tok)
		if err != nil {
			return r.rowError(codeOfParseErr(err), c.name, "%q is not a valid %s: %v", tok, c.typ, err)
		}
		switch c.typ.Kind {
		case catalog.KindSmallint:
			if v < math.MinInt16 || v > math.MaxInt16 {
				return r.rowError(sqlstate.NumericOutOfRange, c.name, "%d is out of range for SMALLINT", v)
			}
			c.bld.(*array.Int16Builder).Append(int16(v))
		case catalog.KindInt:
			if v < math.MinInt32 || v > math.MaxInt32 {
				return r.rowError(sqlstate.NumericOutOfRange, c.name, "%d is out of range for INT", v)
			}
			c.bld.(*array.Int32Builder).Append(int32(v))
		default:
			c.bld.(*array.Int64Builder).Append(v)
		}
	case catalog.KindReal, catalog.KindDouble:
		if kind != jsonNumber && kind != jsonString {
			return mismatch()
		}
		bits := 64
		if c.typ.Kind == catalog.KindReal {
			bits = 32
		}
		f, err := parseFloat(tok, bits, kind == jsonString)
		if err != nil {
			return r.rowError(codeOfParseErr(err), c.name, "%q is not a valid %s", tok, c.typ)
		}
		if bits == 32 {
			c.bld.(*array.Float32Builder).Append(float32(f))
		} else {
			c.bld.(*array.Float64Builder).Append(f)
		}
	case catalog.KindDecimal:
		if kind != jsonNumber && kind != jsonString {
			return mismatch()
		}
		n, err := parseDecimal(tok, c.typ.Precision, c.typ.Scale)
		if err != nil {
			code := sqlstate.InvalidText
			if errors.Is(err, errDecimalRange) {
				code = sqlstate.NumericOutOfRange
			}
			return r.rowError(code, c.name, "%q is not a valid %s: %v", tok, c.typ, err)
		}
		c.bld.(*array.Decimal128Builder).Append(n)
	case catalog.KindVarchar:
		if kind != jsonString {
			return mismatch()
		}
		if c.typ.Length > 0 && utf8.RuneCount(tok) > int(c.typ.Length) {
			return r.rowError(sqlstate.StringDataTooLong, c.name, "value too long for %s", c.typ)
		}
		c.bld.(*array.StringBuilder).BinaryBuilder.Append(tok)
	case catalog.KindDate:
		if kind != jsonString {
			return mismatch()
		}
		d, err := parseDate(tok)
		if err != nil {
			return r.rowError(sqlstate.InvalidDatetime, c.name, "%q is not a valid DATE (want YYYY-MM-DD)", tok)
		}
		c.bld.(*array.Date32Builder).Append(d)
	case catalog.KindTimestamp:
		if kind != jsonString {
			return mismatch()
		}
		ts, err := parseTimestamp(tok)
		if err != nil {
			return r.rowError(sqlstate.InvalidDatetime, c.name, "%q is not a valid TIMESTAMP (want ISO 8601, e.g. 2024-01-02T03:04:05.123456)", tok)
		}
		c.bld.(*array.TimestampBuilder).Append(ts)
	default:
		return r.rowError(sqlstate.FeatureNotSupported, c.name, "ingest of %s columns is not supported", c.typ)
	}
	return nil
}

// scanString scans the JSON string starting at b[p] (a quote). It returns
// the raw contents between the quotes, the offset after the closing quote
// and whether the contents hold escapes.
func scanString(b []byte, p int) (s []byte, next int, escaped bool, err error) {
	start := p + 1
	for i := start; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return b[start:i], i + 1, escaped, nil
		case c == '\\':
			escaped = true
			i++
		case c < 0x20:
			return nil, i, false, fmt.Errorf("control character in string at offset %d", i)
		}
	}
	return nil, len(b), false, errors.New("unterminated string")
}

// unescape appends the unescaped form of the raw JSON string contents s.
func unescape(dst, s []byte) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		if i >= len(s) {
			return dst, errors.New("bad escape at end of string")
		}
		switch s[i] {
		case '"', '\\', '/':
			dst = append(dst, s[i])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r1, ok := hex4(s[i+1:])
			if !ok {
				return dst, errors.New(`bad \u escape`)
			}
			i += 4
			if utf16.IsSurrogate(r1) {
				if r2, ok := hex4(s[min(i+3, len(s)):]); ok && i+2 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
					if r := utf16.DecodeRune(r1, r2); r != utf8.RuneError {
						dst = utf8.AppendRune(dst, r)
						i += 6
						continue
					}
				}
				r1 = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r1)
		default:
			return dst, fmt.Errorf("bad escape \\%c", s[i])
		}
	}
	if !utf8.Valid(dst) {
		return dst, errors.New("string is not valid UTF-8")
	}
	return dst, nil
}

func hex4(s []byte) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

var (
	errSyntax = errors.New("invalid syntax")
	errRange  = errors.New("out of range")
)

func codeOfParseErr(err error) sqlstate.Code {
	if errors.Is(err, errRange) {
		return sqlstate.NumericOutOfRange
	}
	return sqlstate.InvalidText
}

// parseInt parses a decimal integer without allocating.
func parseInt(b []byte) (int64, error) {
	neg := false
	i := 0
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		i = 1
	}
	if i == len(b) {
		return 0, errSyntax
	}
	var u uint64
	for ; i < len(b); i++ {
		c := b[i]
		if c < '0' || c > '9' {
			return 0, errSyntax
		}
		if u > (math.MaxUint64-9)/10 {
			return 0, errRange
		}
		u = u*10 + uint64(c-'0')
	}
	if neg {
		if u > 1<<63 {
			return 0, errRange
		}
		return -int64(u), nil
	}
	if u > math.MaxInt64 {
		return 0, errRange
	}
	return int64(u), nil
}

// parseFloat parses a JSON number; in a JSON string it also accepts NaN,
// Infinity and -Infinity.
func parseFloat(b []byte, bits int, quoted bool) (float64, error) {
	if quoted {
		switch string(b) {
		case "NaN":
			return math.NaN(), nil
		case "Infinity", "+Infinity":
			return math.Inf(1), nil
		case "-Infinity":
			return math.Inf(-1), nil
		}
	}
	for _, c := range b {
		// Refuse the Go-only spellings ParseFloat knows (hex, inf, _).
		if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
			return 0, errSyntax
		}
	}
	f, err := strconv.ParseFloat(string(b), bits)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, errRange
		}
		return 0, errSyntax
	}
	return f, nil
}

// parseDate parses YYYY-MM-DD into days since the epoch.
func parseDate(b []byte) (arrow.Date32, error) {
	if len(b) != 10 {
		return 0, errSyntax
	}
	t, err := time.Parse(time.DateOnly, string(b))
	if err != nil {
		return 0, err
	}
	return arrow.Date32(floorDiv(t.Unix(), 86400)), nil
}

// parseTimestamp parses an ISO 8601 timestamp: a date, 'T' or ' ', time
// with optional fraction and optional zone (Z or ±hh:mm; a zoned value is
// converted to UTC). A date alone means midnight. It returns microseconds
// since the epoch.
func parseTimestamp(b []byte) (arrow.Timestamp, error) {
	s := string(b)
	if len(s) < 10 {
		return 0, errSyntax
	}
	var layout string
	switch {
	case len(s) == 10:
		layout = time.DateOnly
	case s[10] != 'T' && s[10] != ' ':
		return 0, errSyntax
	default:
		layout = "2006-01-02T15:04:05"
		if len(s) == 16 {
			layout = "2006-01-02T15:04"
		}
		if s[10] == ' ' {
			layout = strings.Replace(layout, "T", " ", 1)
		}
		if z := s[len(s)-1]; z == 'Z' || strings.LastIndexAny(s[11:], "+-") >= 0 {
			layout += "Z07:00"
		}
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return 0, err
	}
	return arrow.Timestamp(t.UnixMicro()), nil
}
