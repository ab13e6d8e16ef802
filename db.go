// Package mantisdb is the embedded MantisDB database: Open a data directory,
// run SQL with Exec, Query and Prepare, bulk-load Arrow data with Ingest.
// The wire protocols (packages flight and rest) are thin layers over DB.
//
// A DB is safe for concurrent use. Every statement runs as its own
// transaction; an acknowledged write (a returned nil error) is durable.
package mantisdb

import (
	"context"
	"log/slog"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/mantisdb/mantisdb/catalog"
)

// Options configure a DB. The zero value is valid.
type Options struct {
	// Logger receives operational messages; nil means slog.Default().
	Logger *slog.Logger
	// BatchSize is the number of rows per Arrow batch that scans produce;
	// zero means 8192.
	BatchSize int
}

// DB is an open database.
type DB struct {
	impl
}

// Open opens (creating if needed) the database in dir.
func Open(dir string, opts *Options) (*DB, error) { return open(dir, opts) }

// Close closes the database. Statements still running fail.
func (db *DB) Close() error { return db.close() }

// Prepare parses and binds one statement. The statement is re-bound
// automatically if the schema changes before it runs.
func (db *DB) Prepare(ctx context.Context, sql string) (*Stmt, error) { return db.prepare(ctx, sql) }

// Exec runs one statement that returns no rows and returns the number of rows
// it affected. A query given to Exec runs and its rows are discarded.
func (db *DB) Exec(ctx context.Context, sql string) (int64, error) {
	st, err := db.Prepare(ctx, sql)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	return st.Exec(ctx)
}

// Query runs one statement and returns its rows. Statements without rows
// return an empty result.
func (db *DB) Query(ctx context.Context, sql string) (*Rows, error) {
	st, err := db.Prepare(ctx, sql)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return st.Query(ctx)
}

// Ingest appends every record of rdr to table in one transaction: all rows
// or none. Record fields are matched to columns by name (case-insensitive);
// missing nullable columns are NULL. It returns the number of rows written.
func (db *DB) Ingest(ctx context.Context, table string, rdr array.RecordReader) (int64, error) {
	return db.ingest(ctx, table, rdr)
}

// Table returns the named table's descriptor.
func (db *DB) Table(name string) (*catalog.Table, bool) { return db.cat.Table(name) }

// Tables returns every table, sorted by name.
func (db *DB) Tables() []*catalog.Table { return db.cat.Tables() }

// Stmt is a prepared statement. It is safe for concurrent use; each Query or
// Exec runs it once.
type Stmt struct {
	stmtImpl
}

// SQL returns the statement text.
func (s *Stmt) SQL() string { return s.text }

// IsQuery reports whether the statement returns rows.
func (s *Stmt) IsQuery() bool { return s.isQuery() }

// Schema returns the schema of the statement's rows; for a statement
// without rows it is an empty schema.
func (s *Stmt) Schema() *arrow.Schema { return s.schema() }

// Query runs the statement and returns its rows.
func (s *Stmt) Query(ctx context.Context) (*Rows, error) { return s.query(ctx) }

// Exec runs the statement and returns the number of rows it affected.
func (s *Stmt) Exec(ctx context.Context) (int64, error) { return s.exec(ctx) }

// Close releases the statement. It is idempotent.
func (s *Stmt) Close() error { return nil }

// Rows is the result of a query: a stream of Arrow records. It implements
// array.RecordReader's iteration (Schema, Next, Record, Err) and must be
// closed. It is not safe for concurrent use.
type Rows struct {
	rowsImpl
}

// Schema returns the schema of every record.
func (r *Rows) Schema() *arrow.Schema { return r.sch }

// Next advances to the next record and reports whether there is one.
func (r *Rows) Next() bool { return r.next() }

// Record returns the current record, valid until the next call of Next or
// Close; Retain it to keep it.
func (r *Rows) Record() arrow.RecordBatch { return r.cur }

// Err returns the error that ended iteration, if any.
func (r *Rows) Err() error { return r.err }

// Close ends the query and releases its resources. It is idempotent.
func (r *Rows) Close() error { return r.close() }
