package rest

import (
	"github.com/apache/arrow-go/v18/arrow"
)

// resultWriter renders the batches of one query result as JSON text. It is
// not safe for concurrent use.
type resultWriter struct {
	schema  *arrow.Schema
	cols    []valueWriter
	started bool // a row was written: the next one needs a comma
}

func newResultWriter(schema *arrow.Schema) *resultWriter {
	return &resultWriter{schema: schema, cols: make([]valueWriter, schema.NumFields())}
}

// appendHeader appends the start of the answer up to the opening bracket of
// "rows".
func (rw *resultWriter) appendHeader(dst []byte) []byte {
	dst = append(dst, `{"columns":[`...)
	for i, f := range rw.schema.Fields() {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"name":`...)
		dst = appendJSONString(dst, f.Name)
		dst = append(dst, `,"type":`...)
		dst = appendJSONString(dst, sqlTypeName(f.Type))
		dst = append(dst, '}')
	}
	return append(dst, `],"rows":[`...)
}

// appendRows appends the rows of rec, each a JSON array, comma separated.
func (rw *resultWriter) appendRows(dst []byte, rec arrow.RecordBatch) ([]byte, error) {
	for i := range rw.cols {
		if err := rw.cols[i].bind(rec.Column(i)); err != nil {
			return dst, err
		}
	}
	n := int(rec.NumRows())
	for row := 0; row < n; row++ {
		if rw.started {
			dst = append(dst, ',')
		}
		rw.started = true
		dst = append(dst, '[')
		for i := range rw.cols {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = rw.cols[i].appendJSON(dst, row)
		}
		dst = append(dst, ']')
	}
	return dst, nil
}
