package flight

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/planner"
)

// maxBoundRows bounds the rows of a parameter binding that a prepared query
// keeps between DoPut and DoGet. Bindings of prepared updates are not kept
// (each row runs as it arrives) and are not bounded.
const maxBoundRows = 100_000

// paramRow is the values of one execution of a prepared statement: one
// scalar per parameter, immutable once made.
type paramRow = []scalar.Scalar

// parameterSchema returns the schema a client should bind values of st's
// parameters with. It is the statement's parameter schema with integers
// widened to int64 and REAL to float64: the server converts any value with
// the rules of CAST, so the wider type loses nothing, and it is the type
// that database/sql drivers (whose values are int64 and float64) can build.
// DECIMAL, DATE, TIMESTAMP, VARCHAR and BOOLEAN keep their own types.
func parameterSchema(st *mantisdb.Stmt) *arrow.Schema {
	sch := st.ParamSchema()
	if sch == nil || sch.NumFields() == 0 {
		return emptySchema
	}
	fields := make([]arrow.Field, sch.NumFields())
	for i, f := range sch.Fields() {
		switch f.Type.ID() {
		case arrow.INT8, arrow.INT16, arrow.INT32:
			f.Type = arrow.PrimitiveTypes.Int64
		case arrow.FLOAT16, arrow.FLOAT32:
			f.Type = arrow.PrimitiveTypes.Float64
		}
		fields[i] = f
	}
	return arrow.NewSchema(fields, nil)
}

// paramReader reads the parameter rows of a DoPut stream, batch by batch. A
// stream whose schema has no fields binds nothing (clients send one when a
// statement has no parameters).
type paramReader struct {
	rdr  paramBatchReader
	want int // number of parameters of the statement

	rec arrow.RecordBatch // current batch, owned by rdr
	row int               // next row of rec
	err error
}

// paramBatchReader is what paramReader needs of a Flight message reader.
type paramBatchReader interface {
	Next() bool
	RecordBatch() arrow.RecordBatch
	Err() error
}

// next returns the values of the next parameter row, or false at the end of
// the stream or on error (see Err).
func (p *paramReader) next() (paramRow, bool) {
	for p.err == nil && (p.rec == nil || int64(p.row) >= p.rec.NumRows()) {
		if !p.rdr.Next() {
			if err := p.rdr.Err(); err != nil {
				p.err = fmt.Errorf("cannot read parameter batch: %w", err)
			}
			return nil, false
		}
		p.rec, p.row = p.rdr.RecordBatch(), 0
		if p.rec.NumCols() == 0 {
			// An empty binding, however many rows it claims.
			p.rec = nil
			continue
		}
		p.err = checkParamBatch(p.rec.Schema(), p.want)
	}
	if p.err != nil {
		return nil, false
	}
	vals, err := planner.ParamsFromRecord(p.rec, p.row)
	if err != nil {
		p.err = err
		return nil, false
	}
	p.row++
	return vals, true
}

// Err returns the error that ended next, if any.
func (p *paramReader) Err() error { return p.err }

// checkParamBatch checks that a parameter batch has one column per
// parameter, each of a type the SQL engine can take values of, so that a
// wrong binding fails when it is bound rather than when it runs.
func checkParamBatch(sch *arrow.Schema, want int) error {
	if sch.NumFields() != want {
		return sqlstate.Errorf(sqlstate.ParamCountMismatch,
			"statement has %d parameters, the parameter batch has %d columns", want, sch.NumFields())
	}
	for i, f := range sch.Fields() {
		if _, ok := catalog.FromArrow(f.Type); !ok {
			return sqlstate.Errorf(sqlstate.DatatypeMismatch,
				"parameter $%d: values of Arrow type %s are not supported", i+1, f.Type)
		}
	}
	return nil
}

// paramSource yields the parameter rows of one execution request.
type paramSource interface {
	next() (paramRow, bool)
	Err() error
}

var (
	_ paramSource = (*paramReader)(nil)
	_ paramSource = (*sliceParams)(nil)
)

// sliceParams yields rows of a slice, after an optional first row taken
// from another source (see DoPutPreparedStatementUpdate).
type sliceParams struct {
	rows []paramRow
	rest paramSource // read after rows; nil: none
}

func (s *sliceParams) next() (paramRow, bool) {
	if len(s.rows) > 0 {
		r := s.rows[0]
		s.rows = s.rows[1:]
		return r, true
	}
	if s.rest != nil {
		return s.rest.next()
	}
	return nil, false
}

func (s *sliceParams) Err() error {
	if s.rest != nil {
		return s.rest.Err()
	}
	return nil
}

// execRows runs st once per row of src and returns the total number of rows
// affected; a src without rows runs st once without values. In a client's
// transaction (st.txn set, its use held by the caller) every row runs in
// it; otherwise several rows run in one transaction of their own, so that
// they are applied all or none.
func (s *sqlServer) execRows(ctx context.Context, st *preparedStmt, src paramSource) (int64, error) {
	first, ok := src.next()
	if !ok {
		if err := src.Err(); err != nil {
			return 0, err
		}
		return st.Exec(ctx)
	}
	second, ok := src.next()
	if !ok {
		if err := src.Err(); err != nil {
			return 0, err
		}
		return st.ExecParams(ctx, first)
	}
	run := st.Stmt
	var tx *mantisdb.Tx
	if len(st.txn) == 0 {
		var err error
		if tx, err = s.db.Begin(ctx); err != nil {
			return 0, err
		}
		if run, err = tx.Prepare(ctx, st.SQL()); err != nil {
			tx.Rollback()
			return 0, err
		}
	}
	total := int64(0)
	err := func() error {
		for _, vals := range []paramRow{first, second} {
			n, err := run.ExecParams(ctx, vals)
			if err != nil {
				return err
			}
			total += n
		}
		for vals, ok := src.next(); ok; vals, ok = src.next() {
			n, err := run.ExecParams(ctx, vals)
			if err != nil {
				return err
			}
			total += n
		}
		return src.Err()
	}()
	if err != nil {
		if tx != nil {
			tx.Rollback()
		}
		return 0, err
	}
	if tx != nil {
		if err := tx.Commit(ctx); err != nil {
			return 0, err
		}
	}
	return total, nil
}

// readBinding reads a whole parameter binding for a prepared query. It
// returns nil when the stream binds nothing.
func readBinding(rdr paramBatchReader, want int) ([]paramRow, error) {
	p := paramReader{rdr: rdr, want: want}
	var rows []paramRow
	for {
		vals, ok := p.next()
		if !ok {
			break
		}
		if len(rows) == maxBoundRows {
			return nil, sqlstate.Errorf(sqlstate.ProgramLimitExceeded,
				"a prepared query takes at most %d parameter rows; bind fewer rows per execution", maxBoundRows)
		}
		rows = append(rows, vals)
	}
	return rows, p.Err()
}
