package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/mantisdb/mantisdb"
)

// Engine names as they appear in reports.
const (
	engineMantis = "mantisdb"
	engineDuck   = "duckdb"
)

// engines lists the engines under test in report order.
var engines = []string{engineMantis, engineDuck}

// engine is one database under test, driven the same way for every engine
// so that the workloads are written once. An engine is used by one
// goroutine at a time unless a workload says otherwise.
type engine interface {
	// Exec runs a statement without result rows.
	Exec(ctx context.Context, sql string) (int64, error)
	// Query runs a query, reads every row and returns them as normalized
	// values (see normalize).
	Query(ctx context.Context, sql string) ([][]any, error)
	// Load appends one batch to table through the engine's bulk path
	// (DuckDB: appender; MantisDB: DB.Ingest) and makes it durable.
	Load(ctx context.Context, table string, rec arrow.RecordBatch) error
	// Close closes the database.
	Close() error
}

// openEngine opens the named engine's database at path, creating it if
// needed, with the given number of worker threads (0 keeps the default).
func openEngine(name, path string, threads int) (engine, error) {
	switch name {
	case engineDuck:
		return openDuck(path, threads)
	case engineMantis:
		return openMantis(path, &mantisdb.Options{})
	}
	return nil, fmt.Errorf("unknown engine %q", name)
}

// openMantis opens MantisDB at path with opts, logging warnings and errors
// only: the engine's routine messages would garble the progress line.
func openMantis(path string, opts *mantisdb.Options) (*mantisEngine, error) {
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := mantisdb.Open(path, opts)
	if err != nil {
		return nil, fmt.Errorf("cannot open mantisdb at %s: %w", path, err)
	}
	return &mantisEngine{db: db}, nil
}

// mantisEngine drives the embedded MantisDB API.
type mantisEngine struct {
	db *mantisdb.DB
}

// recovered turns a panic of the engine under test into an error, so that
// one bad statement is reported in the table instead of ending the run.
func recovered(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("panic: %v", r)
	}
}

func (e *mantisEngine) Exec(ctx context.Context, sql string) (n int64, err error) {
	defer recovered(&err)
	return e.db.Exec(ctx, sql)
}

func (e *mantisEngine) Query(ctx context.Context, sql string) (_ [][]any, err error) {
	defer recovered(&err)
	rows, err := e.db.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		out = appendArrowRows(out, rows.Record())
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, rows.Close()
}

func (e *mantisEngine) Load(ctx context.Context, table string, rec arrow.RecordBatch) (err error) {
	defer recovered(&err)
	rdr, err := array.NewRecordReader(rec.Schema(), []arrow.RecordBatch{rec})
	if err != nil {
		return err
	}
	defer rdr.Release()
	_, err = e.db.Ingest(ctx, table, rdr)
	return err
}

func (e *mantisEngine) Close() error { return e.db.Close() }

// compact moves every table's fresh rows into columnar segments and
// returns when done, so that queries measure the engine's analytical tier.
func (e *mantisEngine) compact(ctx context.Context) (err error) {
	defer recovered(&err)
	for _, t := range e.db.Tables() {
		if _, err := e.db.Compact(ctx, t.Name); err != nil {
			return fmt.Errorf("compact %s: %w", t.Name, err)
		}
	}
	return nil
}

// duckEngine drives DuckDB through database/sql, and its appender through a
// connection of its own.
type duckEngine struct {
	conn      *duckdb.Connector
	db        *sql.DB
	raw       driver.Conn // appender connection, opened on first Load
	appenders map[string]*duckdb.Appender
	vals      []driver.Value
}

func openDuck(path string, threads int) (*duckEngine, error) {
	conn, err := duckdb.NewConnector(path, nil)
	if err != nil {
		return nil, fmt.Errorf("cannot open duckdb at %s: %w", path, err)
	}
	e := &duckEngine{conn: conn, db: sql.OpenDB(conn), appenders: map[string]*duckdb.Appender{}}
	if threads > 0 {
		if _, err := e.db.Exec(fmt.Sprintf("SET threads = %d", threads)); err != nil {
			e.db.Close()
			return nil, fmt.Errorf("cannot set duckdb threads: %w", err)
		}
	}
	return e, nil
}

func (e *duckEngine) Exec(ctx context.Context, sql string) (int64, error) {
	res, err := e.db.ExecContext(ctx, sql)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (e *duckEngine) Query(ctx context.Context, sql string) ([][]any, error) {
	rows, err := e.db.QueryContext(ctx, sql)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var out [][]any
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]any, len(vals))
		for i, v := range vals {
			row[i] = normalize(v)
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

// Load appends rec with DuckDB's appender and flushes it, which commits the
// rows (DuckDB's WAL) before Load returns.
func (e *duckEngine) Load(ctx context.Context, table string, rec arrow.RecordBatch) error {
	app, err := e.appender(ctx, table)
	if err != nil {
		return err
	}
	ncol := int(rec.NumCols())
	if cap(e.vals) < ncol {
		e.vals = make([]driver.Value, ncol)
	}
	vals := e.vals[:ncol]
	n := int(rec.NumRows())
	for r := 0; r < n; r++ {
		for c := 0; c < ncol; c++ {
			vals[c] = duckValue(rec.Column(c), r)
		}
		if err := app.AppendRow(vals...); err != nil {
			return fmt.Errorf("duckdb appender %s: %w", table, err)
		}
	}
	return app.Flush()
}

func (e *duckEngine) appender(ctx context.Context, table string) (*duckdb.Appender, error) {
	if a, ok := e.appenders[table]; ok {
		return a, nil
	}
	if e.raw == nil {
		raw, err := e.conn.Connect(ctx)
		if err != nil {
			return nil, err
		}
		e.raw = raw
	}
	a, err := duckdb.NewAppenderFromConn(e.raw, "", table)
	if err != nil {
		return nil, fmt.Errorf("cannot create duckdb appender for %s: %w", table, err)
	}
	e.appenders[table] = a
	return a, nil
}

func (e *duckEngine) Close() error {
	var first error
	for _, a := range e.appenders {
		if err := a.Close(); err != nil && first == nil {
			first = err
		}
	}
	if e.raw != nil {
		if err := e.raw.Close(); err != nil && first == nil {
			first = err
		}
	}
	if err := e.db.Close(); err != nil && first == nil {
		first = err
	}
	return first
}

// duckValue converts one Arrow value to what DuckDB's appender takes:
// decimals as their unscaled integer (the column's scale applies), dates as
// time.Time.
func duckValue(col arrow.Array, i int) driver.Value {
	if col.IsNull(i) {
		return nil
	}
	switch a := col.(type) {
	case *array.Int64:
		return a.Value(i)
	case *array.Int32:
		return a.Value(i)
	case *array.Int16:
		return a.Value(i)
	case *array.Float64:
		return a.Value(i)
	case *array.Float32:
		return a.Value(i)
	case *array.Boolean:
		return a.Value(i)
	case *array.String:
		return a.Value(i)
	case *array.Decimal128:
		v := a.Value(i)
		if v.HighBits() == 0 || v.HighBits() == -1 {
			return int64(v.LowBits())
		}
		return duckdb.Decimal{Width: 38, Value: v.BigInt()}
	case *array.Date32:
		return a.Value(i).ToTime()
	case *array.Timestamp:
		return time.UnixMicro(int64(a.Value(i))).UTC()
	}
	return fmt.Sprint(col.GetOneForMarshal(i))
}

// normalize turns a value read from either engine into nil, float64 or
// string, so results compare and serialize the same way: every number is a
// float64, dates are YYYY-MM-DD, timestamps YYYY-MM-DD hh:mm:ss[.ffffff].
func normalize(v any) any {
	switch v := v.(type) {
	case nil:
		return nil
	case int64:
		return float64(v)
	case int32:
		return float64(v)
	case int16:
		return float64(v)
	case int8:
		return float64(v)
	case uint64:
		return float64(v)
	case uint32:
		return float64(v)
	case uint16:
		return float64(v)
	case uint8:
		return float64(v)
	case int:
		return float64(v)
	case float64:
		return v
	case float32:
		return float64(v)
	case *big.Int:
		f, _ := new(big.Float).SetInt(v).Float64()
		return f
	case duckdb.Decimal:
		return v.Float64()
	case string:
		return v
	case []byte:
		return string(v)
	case bool:
		if v {
			return "true"
		}
		return "false"
	case time.Time:
		return formatTime(v)
	}
	return fmt.Sprint(v)
}

func formatTime(t time.Time) string {
	t = t.UTC()
	if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0 {
		return t.Format(time.DateOnly)
	}
	return strings.TrimSuffix(t.Format("2006-01-02 15:04:05.999999"), ".")
}

// appendArrowRows appends the rows of rec to out as normalized values.
func appendArrowRows(out [][]any, rec arrow.RecordBatch) [][]any {
	n := int(rec.NumRows())
	ncol := int(rec.NumCols())
	for r := 0; r < n; r++ {
		row := make([]any, ncol)
		for c := 0; c < ncol; c++ {
			row[c] = arrowValue(rec.Column(c), r)
		}
		out = append(out, row)
	}
	return out
}

// arrowValue returns the normalized value of row i of col.
func arrowValue(col arrow.Array, i int) any {
	if col.IsNull(i) {
		return nil
	}
	switch a := col.(type) {
	case *array.Decimal128:
		return a.Value(i).ToFloat64(a.DataType().(*arrow.Decimal128Type).Scale)
	case *array.Date32:
		return a.Value(i).ToTime().Format(time.DateOnly)
	case *array.Date64:
		return a.Value(i).ToTime().Format(time.DateOnly)
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return formatTime(a.Value(i).ToTime(unit))
	case *array.String:
		return a.Value(i)
	case *array.LargeString:
		return a.Value(i)
	case *array.Boolean:
		return normalize(a.Value(i))
	case *array.Int64:
		return float64(a.Value(i))
	case *array.Int32:
		return float64(a.Value(i))
	case *array.Int16:
		return float64(a.Value(i))
	case *array.Int8:
		return float64(a.Value(i))
	case *array.Uint64:
		return float64(a.Value(i))
	case *array.Uint32:
		return float64(a.Value(i))
	case *array.Float64:
		return a.Value(i)
	case *array.Float32:
		return float64(a.Value(i))
	}
	return normalize(col.GetOneForMarshal(i))
}
