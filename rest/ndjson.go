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
	"sync"
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

	// keys caches the column of the k-th key of the last row: rows of one
	// body almost always repeat one key order, so a byte comparison with
	// the previous row's key replaces a map look-up per value.
	keys []keySlot
	// reserved is the row capacity the builders were last reserved for.
	reserved int
}

// keySlot is one entry of ndjsonReader.keys: a key's raw bytes as they
// appeared in the body (escapes kept) and its column.
type keySlot struct {
	key []byte
	col int
}

// ndjsonColumn is the decoding state of one column.
type ndjsonColumn struct {
	name    string
	typ     catalog.Type
	notNull bool
	bld     array.Builder
}

var _ array.RecordReader = (*ndjsonReader)(nil)

// initialReserveRows is the row capacity the builders start with. Most
// bodies of small requests fit in it; larger bodies grow the builders by
// doubling up to the batch size, and later batches of the same body start
// at the batch size. Reserving a whole batch (8K rows) for every request
// made the allocation and clearing of unused buffers the largest cost of
// 1K-row requests.
const initialReserveRows = 1024

// maxTextReserve bounds the text bytes reserved for a string column at the
// start of a batch (see appendTyped).
const maxTextReserve = 1 << 20

// readerPool holds the 64 KiB body readers of finished ingest requests.
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 64<<10) }}

func newNDJSONReader(mem memory.Allocator, table *catalog.Table, body io.Reader, batchRows int) *ndjsonReader {
	schema := table.Schema()
	in := readerPool.Get().(*bufio.Reader)
	in.Reset(body)
	r := &ndjsonReader{
		table:     table,
		schema:    schema,
		in:        in,
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
	r.reserved = min(batchRows, initialReserveRows)
	r.bld.Reserve(r.reserved)
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
	if r.in != nil {
		r.in.Reset(nil)
		readerPool.Put(r.in)
		r.in = nil
	}
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
	if !r.eof {
		// A body of more than one batch: give the next batch its full
		// size at once instead of growing to it again.
		r.reserved = r.batchRows
		r.bld.Reserve(r.reserved)
	}
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

// skipSpace returns the offset of the first byte at or after p that is
// not JSON white space.
func skipSpace(b []byte, p int) int {
	for p < len(b) && isSpace(b[p]) {
		p++
	}
	return p
}

// decodeRow parses one JSON object and appends its values to the builders.
// On error the builders may hold a partial row; the caller drops the batch.
//
// The scanner is written by hand over the line's bytes, rather than with
// encoding/json, because ingest spends most of its time here: it decodes
// straight into the Arrow builders with no map, reflection or allocation
// per value, and a key that repeats the previous row's key at the same
// position costs one byte comparison (see keys).
func (r *ndjsonReader) decodeRow(b []byte) error {
	clear(r.seen)
	p := skipSpace(b, 0)
	if p >= len(b) || b[p] != '{' {
		return r.syntaxError("", "expected a JSON object")
	}
	p = skipSpace(b, p+1)
	if p < len(b) && b[p] == '}' {
		p++
	} else {
		for nkey := 0; ; nkey++ {
			p = skipSpace(b, p)
			if p >= len(b) || b[p] != '"' {
				return r.syntaxError("", "malformed JSON: expected a key at offset %d", p)
			}
			col, np, err := r.scanKey(b, p, nkey)
			if err != nil {
				return err
			}
			p = np
			if r.seen[col] {
				return r.rowError(sqlstate.DuplicateColumn, r.cols[col].name, "value given more than once")
			}
			r.seen[col] = true
			p = skipSpace(b, p)
			if p >= len(b) || b[p] != ':' {
				return r.syntaxError("", "malformed JSON: expected ':' at offset %d", p)
			}
			p = skipSpace(b, p+1)
			if p >= len(b) {
				return r.syntaxError(r.cols[col].name, "malformed JSON value at offset %d", p)
			}
			if p, err = r.appendValue(b, p, col); err != nil {
				return err
			}
			p = skipSpace(b, p)
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
	if p = skipSpace(b, p); p != len(b) {
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

// scanKey scans the key string at b[p] (a quote), the k-th key of its row,
// and returns its column and the offset after the closing quote.
func (r *ndjsonReader) scanKey(b []byte, p, k int) (col, next int, err error) {
	// The raw bytes of the previous row's k-th key, then a quote, are the
	// same string: a raw key never ends inside an escape.
	if k < len(r.keys) {
		raw := r.keys[k].key
		if end := p + 1 + len(raw); end < len(b) && b[end] == '"' && bytes.Equal(b[p+1:end], raw) {
			return r.keys[k].col, end + 1, nil
		}
	}
	raw, next, flags, err := scanString(b, p)
	if err != nil {
		return 0, next, r.syntaxError("", "malformed JSON: %v", err)
	}
	key := raw
	if flags&strEscaped != 0 {
		if r.scr, err = unescape(r.scr[:0], raw); err != nil {
			return 0, next, r.syntaxError("", "malformed JSON: %v", err)
		}
		key = r.scr
	}
	col, ok := r.byName[string(key)]
	if !ok {
		if col = r.table.ColumnIndex(string(key)); col < 0 {
			return 0, next, r.rowError(sqlstate.UndefinedColumn, "", "column %q does not exist in table %q", key, r.table.Name)
		}
	}
	if k < len(r.keys) {
		r.keys[k] = keySlot{key: append(r.keys[k].key[:0], raw...), col: col}
	} else if k == len(r.keys) && k < 4*len(r.cols) {
		r.keys = append(r.keys, keySlot{key: bytes.Clone(raw), col: col})
	}
	return col, next, nil
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
		var flags uint8
		tok, p, flags, err = scanString(b, p)
		if err != nil {
			return p, r.syntaxError(c.name, "malformed JSON: %v", err)
		}
		if flags&strEscaped != 0 {
			if r.scr, err = unescape(r.scr[:0], tok); err != nil {
				return p, r.syntaxError(c.name, "malformed JSON: %v", err)
			}
			tok = r.scr
		} else if flags&strNonASCII != 0 && !utf8.Valid(tok) {
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
		// A string has at most as many runes as bytes: count runes only
		// when the bytes exceed the length.
		if c.typ.Length > 0 && len(tok) > int(c.typ.Length) && utf8.RuneCount(tok) > int(c.typ.Length) {
			return r.rowError(sqlstate.StringDataTooLong, c.name, "value too long for %s", c.typ)
		}
		sb := c.bld.(*array.StringBuilder)
		sb.BinaryBuilder.Append(tok)
		if sb.Len() == 1 {
			// The first value of a batch: reserve the text of the rows
			// reserved as if they were as long, rather than growing the
			// buffer by doubling from a few bytes.
			sb.ReserveData(min(len(tok)*r.reserved*5/4, maxTextReserve))
		}
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

// Flags of a scanned string.
const (
	strEscaped  = 1 << iota // the contents hold backslash escapes
	strNonASCII             // the contents hold bytes ≥ 0x80 (UTF-8 to check)
)

// scanString scans the JSON string starting at b[p] (a quote). It returns
// the raw contents between the quotes, the offset after the closing quote
// and flags saying whether the contents hold escapes or non-ASCII bytes.
func scanString(b []byte, p int) (s []byte, next int, flags uint8, err error) {
	start := p + 1
	var hi byte
	for i := start; i < len(b); i++ {
		c := b[i]
		hi |= c
		switch {
		case c == '"':
			if hi&0x80 != 0 {
				flags |= strNonASCII
			}
			return b[start:i], i + 1, flags, nil
		case c == '\\':
			flags |= strEscaped
			i++
		case c < 0x20:
			return nil, i, 0, fmt.Errorf("control character in string at offset %d", i)
		}
	}
	return nil, len(b), 0, errors.New("unterminated string")
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

// parseDate parses YYYY-MM-DD into days since the epoch. It accepts what
// time.Parse(time.DateOnly) accepts (four-digit year, two-digit month and
// day, the day within its month) without its cost.
func parseDate(b []byte) (arrow.Date32, error) {
	days, ok := parseCivilDate(b)
	if !ok {
		return 0, errSyntax
	}
	return arrow.Date32(days), nil
}

// parseCivilDate parses exactly YYYY-MM-DD into days since 1970-01-01.
func parseCivilDate(b []byte) (int64, bool) {
	if len(b) != 10 || b[4] != '-' || b[7] != '-' {
		return 0, false
	}
	y, ok1 := digits(b[0:4])
	m, ok2 := digits(b[5:7])
	d, ok3 := digits(b[8:10])
	if !ok1 || !ok2 || !ok3 || m < 1 || m > 12 || d < 1 || d > daysInMonth(y, m) {
		return 0, false
	}
	return daysFromCivil(y, m, d), true
}

// digits parses a fixed-width run of ASCII digits.
func digits(b []byte) (int64, bool) {
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

func daysInMonth(y, m int64) int64 {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian
// date (Howard Hinnant's days_from_civil).
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := floorDiv(y, 400)
	yoe := y - era*400
	mp := (m + 9) % 12 // March = 0
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// parseTimestampFast parses the common zone-less form
// YYYY-MM-DD[T ]hh:mm:ss[.fraction] (up to nine fraction digits) into
// microseconds since the epoch, truncating finer digits as time.Parse and
// UnixMicro do. It reports false for anything else, which parseTimestamp
// then hands to time.Parse.
func parseTimestampFast(b []byte) (arrow.Timestamp, bool) {
	if len(b) < 19 || (b[10] != 'T' && b[10] != ' ') || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	days, ok := parseCivilDate(b[:10])
	if !ok {
		return 0, false
	}
	hh, ok1 := digits(b[11:13])
	mm, ok2 := digits(b[14:16])
	ss, ok3 := digits(b[17:19])
	if !ok1 || !ok2 || !ok3 || hh > 23 || mm > 59 || ss > 59 {
		return 0, false
	}
	var micros int64
	if len(b) > 19 {
		frac := b[20:]
		if b[19] != '.' || len(frac) == 0 || len(frac) > 9 {
			return 0, false
		}
		f, ok := digits(frac)
		if !ok {
			return 0, false
		}
		for i := len(frac); i < 6; i++ {
			f *= 10
		}
		for i := len(frac); i > 6; i-- {
			f /= 10
		}
		micros = f
	}
	secs := days*86400 + hh*3600 + mm*60 + ss
	return arrow.Timestamp(secs*1_000_000 + micros), true
}

// parseTimestamp parses an ISO 8601 timestamp: a date, 'T' or ' ', time
// with optional fraction and optional zone (Z or ±hh:mm; a zoned value is
// converted to UTC). A date alone means midnight. It returns microseconds
// since the epoch.
func parseTimestamp(b []byte) (arrow.Timestamp, error) {
	if ts, ok := parseTimestampFast(b); ok {
		return ts, nil
	}
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
