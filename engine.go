package mantisdb

import (
	"context"
	"errors"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/mantisdb/mantisdb/catalog"
)

// Temporary wiring: replaced by the real engine (oltp + sql + planner).

var errNotWired = errors.New("mantisdb: engine not wired yet")

type impl struct {
	cat *catalog.Catalog
}

func open(dir string, opts *Options) (*DB, error) {
	return &DB{impl{cat: catalog.New()}}, nil
}

func (db *DB) close() error { return nil }

func (db *DB) prepare(ctx context.Context, sql string) (*Stmt, error) { return nil, errNotWired }

func (db *DB) ingest(ctx context.Context, table string, rdr array.RecordReader) (int64, error) {
	return 0, errNotWired
}

type stmtImpl struct {
	text string
}

func (s *Stmt) isQuery() bool                            { return false }
func (s *Stmt) schema() *arrow.Schema                    { return arrow.NewSchema(nil, nil) }
func (s *Stmt) query(ctx context.Context) (*Rows, error) { return nil, errNotWired }
func (s *Stmt) exec(ctx context.Context) (int64, error)  { return 0, errNotWired }

type rowsImpl struct {
	sch *arrow.Schema
	cur arrow.RecordBatch
	err error
}

func (r *Rows) next() bool   { return false }
func (r *Rows) close() error { return nil }
