package rest

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// ingestFormat is the format of an ingest body, chosen by Content-Type.
type ingestFormat uint8

const (
	formatNDJSON    ingestFormat = iota // application/x-ndjson: one object per line
	formatJSONArray                     // application/json: one array of objects
	formatCSV                           // text/csv: a header row, then rows
	formatArrow                         // application/vnd.apache.arrow.stream
	formatParquet                       // application/vnd.apache.parquet
)

var formatNames = [...]string{"ndjson", "json", "csv", "arrow", "parquet"}

func (f ingestFormat) String() string { return formatNames[f] }

// Media types of the ingest and result formats.
const (
	mediaJSON    = "application/json"
	mediaNDJSON  = "application/x-ndjson"
	mediaCSV     = "text/csv"
	mediaArrow   = "application/vnd.apache.arrow.stream"
	mediaParquet = "application/vnd.apache.parquet"
)

// formatOfMedia maps an ingest Content-Type's media type to its format.
func formatOfMedia(mt string) (ingestFormat, bool) {
	switch mt {
	case mediaNDJSON, "application/jsonl", "application/x-jsonlines", "text/plain":
		return formatNDJSON, true
	case mediaJSON:
		return formatJSONArray, true
	case mediaCSV:
		return formatCSV, true
	case mediaArrow, "application/vnd.apache.arrow.file":
		// The file format starts with a magic the stream reader refuses;
		// it is accepted here so that the error names the problem (400)
		// rather than the media type (415). See openArrow.
		return formatArrow, true
	case mediaParquet, "application/x-parquet":
		return formatParquet, true
	}
	return 0, false
}

// csvOptions are the options of a CSV body.
type csvOptions struct {
	delimiter rune   // field delimiter; ',' by default
	null      string // the text of a NULL field; "" by default
}

// newTextReader returns a reader of an NDJSON, JSON array or CSV body
// decoded into batches of table's schema.
func newTextReader(mem memory.Allocator, table *catalog.Table, body io.Reader, batchRows int, format ingestFormat, copts csvOptions) *ndjsonReader {
	r := newNDJSONReader(mem, table, body, batchRows)
	r.format = format
	if format == formatCSV {
		r.csv = &csvState{opts: copts}
	}
	return r
}

// arrayState is the position of a JSON array reader in its array.
type arrayState struct {
	started, done bool
}

// readByteCounting reads one byte, counting lines.
func (r *ndjsonReader) readByteCounting() (byte, error) {
	c, err := r.in.ReadByte()
	if err == nil && c == '\n' {
		r.lineNo++
	}
	return c, err
}

// skipSpace skips JSON white space and returns the next other byte.
func (r *ndjsonReader) skipSpace() (byte, error) {
	for {
		c, err := r.readByteCounting()
		if err != nil || !isSpace(c) {
			return c, err
		}
	}
}

// arrayError returns the 400 error of a JSON array body that is not
// well-formed outside its objects.
func (r *ndjsonReader) arrayError(format string, args ...any) error {
	return &requestError{
		err:     sqlstate.Errorf(sqlstate.InvalidText, "malformed JSON array at line %d: %s", r.lineNo, fmt.Sprintf(format, args...)),
		status:  400,
		details: map[string]any{"line": r.lineNo, "row": r.rowNo + 1},
	}
}

// nextArrayRow decodes the next object of a JSON array body. Objects are
// cut out of the stream by a small scanner (strings and nesting) and handed
// to decodeRow, so the body is never decoded whole. It reports false after
// the closing bracket.
func (r *ndjsonReader) nextArrayRow() (bool, error) {
	a := &r.arr
	if a.done {
		return false, nil
	}
	if r.lineNo == 0 {
		r.lineNo = 1
	}
	c, err := r.skipSpace()
	if !a.started {
		if err == io.EOF {
			// An empty body is an empty array.
			a.done = true
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if c != '[' {
			return false, r.arrayError("expected '[' (send one JSON array of objects, or NDJSON as application/x-ndjson)")
		}
		a.started = true
		if c, err = r.skipSpace(); err == nil && c == ']' {
			return false, r.endArray()
		}
	} else {
		switch {
		case err == io.EOF:
			return false, r.arrayError("unexpected end of body: missing ']'")
		case err != nil:
			return false, err
		case c == ']':
			return false, r.endArray()
		case c != ',':
			return false, r.arrayError("expected ',' or ']' after row %d", r.rowNo)
		}
		c, err = r.skipSpace()
	}
	if err == io.EOF {
		return false, r.arrayError("unexpected end of body: missing ']'")
	}
	if err != nil {
		return false, err
	}
	if c != '{' {
		r.rowNo++
		return false, r.syntaxError("", "expected a JSON object")
	}
	start := r.lineNo
	r.line = append(r.line[:0], c)
	depth, inStr, esc := 1, false, false
	for depth > 0 {
		c, err = r.readByteCounting()
		if err == io.EOF {
			return false, r.arrayError("unexpected end of body inside an object")
		}
		if err != nil {
			return false, err
		}
		r.line = append(r.line, c)
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
		}
	}
	r.rowNo++
	end := r.lineNo
	r.lineNo = start // errors name the line where the row starts
	err = r.decodeRow(r.line)
	r.lineNo = end
	return err == nil, err
}

// endArray checks that only white space follows the closing bracket.
func (r *ndjsonReader) endArray() error {
	r.arr.done = true
	if _, err := r.skipSpace(); err != io.EOF {
		if err != nil {
			return err
		}
		return r.arrayError("unexpected data after the closing ']'")
	}
	return nil
}

// csvState is the state of a CSV reader: the header's mapping of fields to
// columns, once read, and the buffers of the current record.
type csvState struct {
	opts    csvOptions
	delim   []byte // the delimiter rune, UTF-8 encoded
	started bool   // the header was read
	colOf   []int  // field index → column index
	seen    []bool
	nfields int // fields per record, from the header

	numLine int    // lines read so far
	recLine int    // the line where the current record starts
	raw     []byte // a line longer than the bufio buffer
	rec     []byte // the current record's field bytes, unquoted
	ends    []int  // end offset in rec of each field
	fields  [][]byte
}

// The CSV syntax errors, as encoding/csv names them.
var (
	errBareQuote  = csv.ErrBareQuote
	errQuote      = csv.ErrQuote
	errFieldCount = csv.ErrFieldCount
)

// csvError returns the error of a CSV body that is not well-formed (400).
func (r *ndjsonReader) csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		r.lineNo = pe.Line
		return r.syntaxError("", "malformed CSV at line %d, column %d: %v", pe.Line, pe.Column, pe.Err)
	}
	return err
}

// csvLine returns the next line of the body with its newline, "\r\n"
// turned into "\n" and a "\r" right before the end of the body dropped, as
// encoding/csv reads lines. The slice is valid until the next call.
func (r *ndjsonReader) csvLine() ([]byte, error) {
	s := r.csv
	line, err := r.in.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		s.raw = append(s.raw[:0], line...)
		for err == bufio.ErrBufferFull {
			line, err = r.in.ReadSlice('\n')
			s.raw = append(s.raw, line...)
		}
		line = s.raw
	}
	if n := len(line); n > 0 && err == io.EOF {
		err = nil
		if line[n-1] == '\r' {
			line = line[:n-1]
		}
	}
	s.numLine++
	if n := len(line); n >= 2 && line[n-2] == '\r' && line[n-1] == '\n' {
		line[n-2] = '\n'
		line = line[:n-1]
	}
	return line, err
}

// lengthNL is 1 when b ends in a newline, else 0.
func lengthNL(b []byte) int {
	if len(b) > 0 && b[len(b)-1] == '\n' {
		return 1
	}
	return 0
}

// readCSVRecord reads the next record into s.fields, whose slices are
// valid until the next call. It is encoding/csv's Reader.readRecord (RFC
// 4180, LazyQuotes and TrimLeadingSpace off, no comments) over bytes, so
// that the syntax accepted and the errors (*csv.ParseError) stay the same,
// without its string allocation per record: CSV ingest decodes fields
// straight into the builders. At the end of the body it returns io.EOF.
func (r *ndjsonReader) readCSVRecord() error {
	s := r.csv
	var (
		line    []byte
		errRead error
	)
	for errRead == nil {
		line, errRead = r.csvLine()
		if errRead == nil && len(line) == lengthNL(line) {
			line = nil
			continue // skip empty lines
		}
		break
	}
	if errRead == io.EOF {
		return errRead
	}
	const quoteLen = 1
	delimLen := len(s.delim)
	s.recLine = s.numLine
	s.rec, s.ends = s.rec[:0], s.ends[:0]
	pos := struct{ line, col int }{s.numLine, 1}
	var err error
parseField:
	for {
		if len(line) == 0 || line[0] != '"' {
			// An unquoted field.
			var i int
			if delimLen == 1 {
				i = bytes.IndexByte(line, s.delim[0])
			} else {
				i = bytes.Index(line, s.delim)
			}
			field := line
			if i >= 0 {
				field = field[:i]
			} else {
				field = field[:len(field)-lengthNL(field)]
			}
			if j := bytes.IndexByte(field, '"'); j >= 0 {
				err = &csv.ParseError{StartLine: s.recLine, Line: s.numLine, Column: pos.col + j, Err: errBareQuote}
				break parseField
			}
			s.rec = append(s.rec, field...)
			s.ends = append(s.ends, len(s.rec))
			if i >= 0 {
				line = line[i+delimLen:]
				pos.col += i + delimLen
				continue parseField
			}
			break parseField
		}
		// A quoted field.
		line = line[quoteLen:]
		pos.col += quoteLen
		for {
			i := bytes.IndexByte(line, '"')
			switch {
			case i >= 0:
				s.rec = append(s.rec, line[:i]...)
				line = line[i+quoteLen:]
				pos.col += i + quoteLen
				switch {
				case len(line) > 0 && line[0] == '"':
					// "" is a quote.
					s.rec = append(s.rec, '"')
					line = line[quoteLen:]
					pos.col += quoteLen
				case bytes.HasPrefix(line, s.delim):
					// The end of the field.
					line = line[delimLen:]
					pos.col += delimLen
					s.ends = append(s.ends, len(s.rec))
					continue parseField
				case lengthNL(line) == len(line):
					// The end of the record.
					s.ends = append(s.ends, len(s.rec))
					break parseField
				default:
					err = &csv.ParseError{StartLine: s.recLine, Line: s.numLine, Column: pos.col - quoteLen, Err: errQuote}
					break parseField
				}
			case len(line) > 0:
				// The field goes on on the next line.
				s.rec = append(s.rec, line...)
				if errRead != nil {
					break parseField
				}
				pos.col += len(line)
				line, errRead = r.csvLine()
				if len(line) > 0 {
					pos.line++
					pos.col = 1
				}
				if errRead == io.EOF {
					errRead = nil
				}
			default:
				// The body ends inside the quotes.
				if errRead == nil {
					err = &csv.ParseError{StartLine: s.recLine, Line: pos.line, Column: pos.col, Err: errQuote}
					break parseField
				}
				s.ends = append(s.ends, len(s.rec))
				break parseField
			}
		}
	}
	if err == nil {
		err = errRead
	}
	s.fields = s.fields[:0]
	prev := 0
	for _, end := range s.ends {
		s.fields = append(s.fields, s.rec[prev:end])
		prev = end
	}
	if s.nfields > 0 && len(s.fields) != s.nfields && err == nil {
		err = &csv.ParseError{StartLine: s.recLine, Line: s.recLine, Column: 1, Err: errFieldCount}
	}
	return err
}

// readHeader reads the header row and maps its names to columns.
func (r *ndjsonReader) readHeader() error {
	s := r.csv
	d := s.opts.delimiter
	if d == 0 {
		d = ','
	}
	s.delim = utf8.AppendRune(nil, d)
	err := r.readCSVRecord()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return r.csvError(err)
	}
	head := s.fields
	s.colOf = make([]int, len(head))
	s.seen = make([]bool, len(r.cols))
	for i, field := range head {
		name := string(field)
		if i == 0 {
			name = strings.TrimPrefix(name, "\ufeff") // a byte order mark
		}
		name = strings.TrimSpace(name)
		c := r.table.ColumnIndex(name)
		if c < 0 {
			return &requestError{
				err:     sqlstate.Errorf(sqlstate.UndefinedColumn, "CSV header: column %q does not exist in table %q", name, r.table.Name),
				status:  422,
				details: map[string]any{"line": 1, "column": name},
			}
		}
		if s.seen[c] {
			return &requestError{
				err:     sqlstate.Errorf(sqlstate.DuplicateColumn, "CSV header: column %q given more than once", name),
				status:  422,
				details: map[string]any{"line": 1, "column": name},
			}
		}
		s.seen[c] = true
		s.colOf[i] = c
	}
	for c, ok := range s.seen {
		if !ok && r.cols[c].notNull {
			return &requestError{
				err:     sqlstate.Errorf(sqlstate.NotNullViolation, "CSV header: NOT NULL column %q is missing", r.cols[c].name),
				status:  422,
				details: map[string]any{"line": 1, "column": r.cols[c].name},
			}
		}
	}
	// Every row must have the header's number of fields.
	s.nfields = len(head)
	return nil
}

// nextCSVRow decodes the next CSV record. It reports false at the end of
// the body.
func (r *ndjsonReader) nextCSVRow() (bool, error) {
	s := r.csv
	if !s.started {
		s.started = true
		if err := r.readHeader(); err != nil {
			return false, err
		}
	}
	if s.colOf == nil {
		return false, nil // an empty body
	}
	err := r.readCSVRecord()
	if err == io.EOF {
		return false, nil
	}
	r.rowNo++
	if err != nil {
		return false, r.csvError(err)
	}
	r.lineNo = s.recLine
	// One check of the whole record; fields are checked one by one only to
	// name the bad one.
	valid := utf8.Valid(s.rec)
	for i, field := range s.fields {
		c := &r.cols[s.colOf[i]]
		if string(field) == s.opts.null {
			if err := r.appendTyped(c, jsonNull, nil); err != nil {
				return false, err
			}
			continue
		}
		kind := jsonString
		if c.typ.Kind == catalog.KindBoolean {
			// The builders copy what they append, so a view of the bytes
			// avoids a copy per field.
			switch b, ok := parseBoolText(unsafe.String(unsafe.SliceData(field), len(field))); {
			case !ok:
				return false, r.rowError(sqlstate.InvalidText, c.name, "%q is not a valid BOOLEAN (want true or false)", field)
			case b:
				kind = jsonTrue
			default:
				kind = jsonFalse
			}
		} else if !valid && !utf8.Valid(field) {
			return false, r.syntaxError(c.name, "field is not valid UTF-8")
		}
		if err := r.appendTyped(c, kind, field); err != nil {
			return false, err
		}
	}
	for c, ok := range s.seen {
		if !ok {
			r.cols[c].bld.AppendNull()
		}
	}
	return true, nil
}

// parseBoolText parses the text spellings of a boolean that PostgreSQL's
// COPY accepts.
func parseBoolText(s string) (value, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "t", "yes", "y", "on", "1":
		return true, true
	case "false", "f", "no", "n", "off", "0":
		return false, true
	}
	return false, false
}
