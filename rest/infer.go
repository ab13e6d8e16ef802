package rest

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// inferSampleBytes is how much of a text body create=true looks at to infer
// the column types of a new table.
const inferSampleBytes = 1 << 20

// inferred is the type inferred so far for one column: the least type that
// holds every value seen.
type inferred struct {
	name string
	kind catalog.Kind // KindInvalid: only NULLs seen so far
}

// merge widens the column's type to hold a value of kind k.
func (c *inferred) merge(k catalog.Kind) {
	switch {
	case k == catalog.KindInvalid || k == c.kind:
	case c.kind == catalog.KindInvalid:
		c.kind = k
	case isKindPair(c.kind, k, catalog.KindBigint, catalog.KindDouble):
		c.kind = catalog.KindDouble
	case isKindPair(c.kind, k, catalog.KindDate, catalog.KindTimestamp):
		c.kind = catalog.KindTimestamp
	default:
		c.kind = catalog.KindVarchar
	}
}

func isKindPair(a, b, x, y catalog.Kind) bool { return a == x && b == y || a == y && b == x }

// kindOfText returns the narrowest type that parses s: BIGINT, DOUBLE,
// BOOLEAN (true/false only), DATE, TIMESTAMP, else VARCHAR.
func kindOfText(s string, numbers bool) catalog.Kind {
	b := []byte(s)
	if numbers {
		if _, err := parseInt(b); err == nil {
			return catalog.KindBigint
		}
		if _, err := parseFloat(b, 64, false); err == nil {
			return catalog.KindDouble
		}
		if ls := strings.ToLower(s); ls == "true" || ls == "false" {
			return catalog.KindBoolean
		}
	}
	if _, err := parseDate(b); err == nil {
		return catalog.KindDate
	}
	if _, err := parseTimestamp(b); err == nil {
		return catalog.KindTimestamp
	}
	return catalog.KindVarchar
}

// columnSet collects columns in order of first appearance.
type columnSet struct {
	cols  []inferred
	index map[string]int // lower-cased name → position
}

func (s *columnSet) add(name string, k catalog.Kind) {
	if s.index == nil {
		s.index = map[string]int{}
	}
	key := strings.ToLower(name)
	i, ok := s.index[key]
	if !ok {
		i = len(s.cols)
		s.index[key] = i
		s.cols = append(s.cols, inferred{name: name})
	}
	s.cols[i].merge(k)
}

func (s *columnSet) columns() []catalog.Column {
	out := make([]catalog.Column, len(s.cols))
	for i, c := range s.cols {
		t := catalog.Varchar
		switch c.kind {
		case catalog.KindBigint:
			t = catalog.Bigint
		case catalog.KindDouble:
			t = catalog.Double
		case catalog.KindBoolean:
			t = catalog.Boolean
		case catalog.KindDate:
			t = catalog.Date
		case catalog.KindTimestamp:
			t = catalog.Timestamp
		}
		out[i] = catalog.Column{Name: c.name, Type: t}
	}
	return out
}

// inferTextColumns infers the columns of a new table from the start of a
// text body: the complete rows in sample (all of it when atEOF). Columns are
// nullable, in order of first appearance (CSV: header order).
func inferTextColumns(sample []byte, atEOF bool, format ingestFormat, copts csvOptions) ([]catalog.Column, error) {
	var set columnSet
	switch format {
	case formatCSV:
		if !atEOF {
			if i := bytes.LastIndexByte(sample, '\n'); i >= 0 {
				sample = sample[:i+1]
			}
		}
		rd := csv.NewReader(bytes.NewReader(sample))
		rd.Comma = copts.delimiter
		rd.FieldsPerRecord = -1
		head, err := rd.Read()
		if err != nil {
			return nil, &requestError{err: sqlstate.Errorf(sqlstate.InvalidText, "cannot create a table from CSV without a header row: %v", err), status: 400}
		}
		for _, h := range head {
			set.add(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")), catalog.KindInvalid)
		}
		for {
			rec, err := rd.Read()
			if err != nil {
				break // the end of the sample, or a bad row the ingest will report
			}
			for i, f := range rec {
				if i >= len(set.cols) || f == copts.null {
					continue
				}
				set.cols[i].merge(kindOfText(f, true))
			}
		}
	case formatNDJSON, formatJSONArray:
		dec := json.NewDecoder(bytes.NewReader(sample))
		dec.UseNumber()
		if format == formatJSONArray {
			if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
				return nil, &requestError{err: sqlstate.Errorf(sqlstate.InvalidText, "malformed JSON array: expected '['"), status: 400}
			}
		}
		for dec.More() {
			var row map[string]any
			// The order of keys matters for the column order; a second
			// pass with Token keeps it.
			start := dec.InputOffset()
			if err := dec.Decode(&row); err != nil {
				break
			}
			raw := bytes.TrimLeft(sample[start:dec.InputOffset()], " \t\r\n,")
			if err := addObjectKeys(&set, raw, row); err != nil {
				break
			}
		}
	}
	if len(set.cols) == 0 {
		return nil, &requestError{err: sqlstate.Errorf(sqlstate.InvalidParameterValue, "cannot create a table from a body without rows"), status: 400}
	}
	return set.columns(), nil
}

// addObjectKeys adds the keys of one JSON object, in the order of raw, with
// the kinds of their values in row.
func addObjectKeys(set *columnSet, raw []byte, row map[string]any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // '{', after white space and a comma
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
		set.add(key, kindOfJSON(row[key]))
	}
	return nil
}

// kindOfJSON returns the type of a decoded JSON value.
func kindOfJSON(v any) catalog.Kind {
	switch v := v.(type) {
	case nil:
		return catalog.KindInvalid
	case bool:
		return catalog.KindBoolean
	case json.Number:
		if _, err := parseInt([]byte(v)); err == nil {
			return catalog.KindBigint
		}
		return catalog.KindDouble
	case string:
		return kindOfText(v, false)
	}
	return catalog.KindVarchar
}
