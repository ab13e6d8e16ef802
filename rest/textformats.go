package rest

import (
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
// columns, once read.
type csvState struct {
	opts  csvOptions
	rd    *csv.Reader
	colOf []int // field index → column index
	seen  []bool
}

// csvError returns the error of a CSV body that is not well-formed (400).
func (r *ndjsonReader) csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		r.lineNo = pe.Line
		return r.syntaxError("", "malformed CSV at line %d, column %d: %v", pe.Line, pe.Column, pe.Err)
	}
	return err
}

// readHeader reads the header row and maps its names to columns.
func (r *ndjsonReader) readHeader() error {
	s := r.csv
	s.rd = csv.NewReader(r.in)
	s.rd.Comma = s.opts.delimiter
	if s.rd.Comma == 0 {
		s.rd.Comma = ','
	}
	s.rd.ReuseRecord = true
	head, err := s.rd.Read()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return r.csvError(err)
	}
	s.colOf = make([]int, len(head))
	s.seen = make([]bool, len(r.cols))
	for i, name := range head {
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
	s.rd.FieldsPerRecord = len(head)
	return nil
}

// nextCSVRow decodes the next CSV record. It reports false at the end of
// the body.
func (r *ndjsonReader) nextCSVRow() (bool, error) {
	s := r.csv
	if s.rd == nil {
		if err := r.readHeader(); err != nil {
			return false, err
		}
		if s.colOf == nil {
			return false, nil // an empty body
		}
	}
	rec, err := s.rd.Read()
	if err == io.EOF {
		return false, nil
	}
	r.rowNo++
	if err != nil {
		return false, r.csvError(err)
	}
	r.lineNo, _ = s.rd.FieldPos(0)
	for i, field := range rec {
		c := &r.cols[s.colOf[i]]
		if field == s.opts.null {
			if err := r.appendTyped(c, jsonNull, nil); err != nil {
				return false, err
			}
			continue
		}
		// The record's strings are not kept: the builders copy what they
		// append, so a view of the bytes avoids a copy per field.
		tok := unsafe.Slice(unsafe.StringData(field), len(field))
		kind := jsonString
		if c.typ.Kind == catalog.KindBoolean {
			switch b, ok := parseBoolText(field); {
			case !ok:
				return false, r.rowError(sqlstate.InvalidText, c.name, "%q is not a valid BOOLEAN (want true or false)", field)
			case b:
				kind = jsonTrue
			default:
				kind = jsonFalse
			}
		} else if !utf8.Valid(tok) {
			return false, r.syntaxError(c.name, "field is not valid UTF-8")
		}
		if err := r.appendTyped(c, kind, tok); err != nil {
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
