package rest

import (
	"fmt"
	"math"
	"net/http"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// checkedReader passes on the batches of an Arrow IPC or Parquet body
// after checking them against the table's constraints, so that a bad
// value is answered as in the text formats: 422 with the 1-based row
// number of the body (counted across batches) and the column, where the
// database would refuse the whole batch without a row. The checks are
// those of the database's bulk write, for the columns the body gives in
// the column's exact type: DECIMAL precision (an Arrow DECIMAL(p,s) can
// hold more than p digits), NOT NULL and VARCHAR(n) length. A column that
// needs a cast is left to the database, which casts and checks it.
//
// The first bad value ends the stream: Next returns false and Err the
// error (a *requestError).
type checkedReader struct {
	array.RecordReader
	cols []rowCheck // by field of the body's schema
	rows int64      // rows of the batches before the current one
	err  error
}

// rowCheck is what checkedReader checks in one field of the body.
type rowCheck struct {
	col     *catalog.Column // nil: nothing
	decimal bool            // precision
	bound   uint64          // with decimal: 10^p when p <= 19, else 2^64-1 (every uint64 fits)
	varchar bool            // length
}

// newCheckedReader returns rdr with the checks of table (nil: none).
func newCheckedReader(rdr array.RecordReader, table *catalog.Table) *checkedReader {
	c := &checkedReader{RecordReader: rdr}
	if table == nil {
		return c
	}
	fields := rdr.Schema().Fields()
	c.cols = make([]rowCheck, len(fields))
	for i, f := range fields {
		j := table.ColumnIndex(f.Name)
		if j < 0 {
			continue
		}
		col := &table.Columns[j]
		if !arrow.TypeEqual(f.Type, col.Type.ArrowType()) {
			continue
		}
		ck := rowCheck{
			decimal: col.Type.Kind == catalog.KindDecimal,
			varchar: col.Type.Kind == catalog.KindVarchar && col.Type.Length > 0,
		}
		if ck.decimal {
			ck.bound = math.MaxUint64
			if p := col.Type.Precision; p <= 19 {
				ck.bound = 1
				for range p {
					ck.bound *= 10
				}
			}
		}
		if ck.decimal || ck.varchar || col.NotNull {
			ck.col = col
			c.cols[i] = ck
		}
	}
	return c
}

// Next implements array.RecordReader.
func (c *checkedReader) Next() bool {
	if c.err != nil || !c.RecordReader.Next() {
		return false
	}
	rec := c.RecordReader.RecordBatch()
	for i := range c.cols {
		if c.cols[i].col == nil {
			continue
		}
		if err := c.check(&c.cols[i], rec.Column(i)); err != nil {
			c.err = err
			return false
		}
	}
	c.rows += rec.NumRows()
	return true
}

// Err implements array.RecordReader.
func (c *checkedReader) Err() error {
	if c.err != nil {
		return c.err
	}
	return c.RecordReader.Err()
}

// check checks one column of the current batch.
func (c *checkedReader) check(ck *rowCheck, a arrow.Array) error {
	col := ck.col
	if col.NotNull && a.NullN() > 0 {
		for i := 0; i < a.Len(); i++ {
			if a.IsNull(i) {
				return c.rowError(i, sqlstate.NotNullViolation, col.Name, "null value in NOT NULL column")
			}
		}
	}
	switch {
	case ck.decimal:
		d, ok := a.(*array.Decimal128)
		if !ok {
			return nil
		}
		for i, v := range d.Values() {
			// |v| < 10^p on the low word for the values of an int64's
			// range, as the database checks them.
			if hi, lo := v.HighBits(), v.LowBits(); hi == 0 && lo < ck.bound || hi == -1 && lo != 0 && -lo < ck.bound {
				continue
			}
			if !v.FitsInPrecision(col.Type.Precision) && d.IsValid(i) {
				return c.rowError(i, sqlstate.NumericOutOfRange, col.Name, "%s does not fit %s", v.ToString(col.Type.Scale), col.Type)
			}
		}
	case ck.varchar:
		s, ok := a.(*array.String)
		if !ok {
			return nil
		}
		limit := int(col.Type.Length)
		offs := s.ValueOffsets()
		for i := 0; i < s.Len(); i++ {
			// A string has at most as many runes as bytes.
			if int(offs[i+1]-offs[i]) > limit && s.IsValid(i) && utf8.RuneCountInString(s.Value(i)) > limit {
				return c.rowError(i, sqlstate.StringDataTooLong, col.Name, "value too long for %s", col.Type)
			}
		}
	}
	return nil
}

// rowError returns the 422 error of row i of the current batch.
func (c *checkedReader) rowError(i int, code sqlstate.Code, column, format string, args ...any) error {
	row := c.rows + int64(i) + 1
	msg := fmt.Sprintf(format, args...)
	err := sqlstate.Errorf(code, "row %d, column %q: %s", row, column, msg)
	return &requestError{err: err, status: http.StatusUnprocessableEntity, details: map[string]any{"row": row, "column": column}}
}
