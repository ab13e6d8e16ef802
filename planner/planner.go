// Package planner turns bound statements (package sql) into physical plans of
// arrowexec operators.
//
// Prepare parses, binds and rewrites a statement once; Build makes a fresh
// operator tree for every execution from the immutable *Prepared, so a
// *Prepared is safe for concurrent use. The rewrites are deliberately
// simple and each is a separate step, the seams for the cost-based planner:
// constant folding, column pruning (every scan reads, and every node
// passes on, only the columns some node above references, through joins,
// aggregates and projections), filters directly above the scan, ORDER BY +
// LIMIT as a top-N, DISTINCT as a hash aggregate (bound that way by sql).
// Joins become arrowexec hash joins that build on the right input (the
// left one for RIGHT JOIN, whose columns are then reordered), or on the
// left one when a source's RowEstimator expects the right one to be much
// larger: inner joins then restore the column order, semi and anti joins
// become build-side semi and anti joins (estimate.go). Inner-join trees of
// three or more inputs are reordered by those estimates (reorder.go).
// An aggregate that a join looks up by its group keys (a decorrelated
// scalar subquery, a grouped IN, a grouped derived table) is reduced to
// the groups the join can find when the other side's keys are expected to
// be few: a semi join under it against a second evaluation of the subtree
// that produces those keys (reduce.go), run as a key filter when a key is
// an integer (keyfilter.go).
// Scalar subqueries run once, at their first evaluation.
// A subtree the bound plan references more than once (a CTE or a view
// named twice) that aggregates, sorts or has a window runs once per
// execution into an arrowexec.Spool that every reference reads; the other
// rewrites see each reference as a leaf (spool.go).
//
// Parallelism (parallel.go): when the source can split a scan into parts
// (PartitionedScanner), an aggregate over a chain of filters, projections
// and hash joins down to that scan runs one pipeline per part, each on its
// own goroutine, and merges their partial aggregates. The chain follows
// each join's probe input; its build input is built once and shared by
// the pipelines (arrowexec.SharedBuild). Joins that emit build rows after
// their probe side ends (full, build-semi, build-anti) end the chain; key
// filters are part of it, their key sets shared like build inputs. Statement parameters stay
// Param expressions through the rewrites (they are never folded) and
// become literals when BuildWith is given their values; CURRENT_DATE and
// NOW() become literals of the time Build or BuildWith is called.
//
// EXPLAIN returns the plan's lines as rows; EXPLAIN ANALYZE runs the query
// with every operator wrapped to count rows, time and peak memory, and
// storage sources report their pruning through ScanStats (analyze.go).
package planner

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/sql"
)

// Kind is the kind of a prepared statement.
type Kind int

// Statement kinds.
const (
	KindQuery Kind = iota
	KindInsert
	KindUpdate
	KindDelete
	KindCreateTable
	KindDropTable
	// The kinds below carry their bound statement in Prepared.DDL.
	KindCreateView
	KindDropView
	KindTruncate
	// KindCreateTableAs creates Create and inserts the rows of the
	// statement's query, which Build returns in exactly Create.Schema().
	KindCreateTableAs
	KindAlterTable
	KindCreateIndex
	KindDropIndex
	// KindExplain is EXPLAIN [ANALYZE] of Explained; its rows are the lines
	// of the plan (ExplainSchema).
	KindExplain
)

func (k Kind) String() string {
	switch k {
	case KindQuery:
		return "QUERY"
	case KindInsert:
		return "INSERT"
	case KindUpdate:
		return "UPDATE"
	case KindDelete:
		return "DELETE"
	case KindCreateTable:
		return "CREATE TABLE"
	case KindDropTable:
		return "DROP TABLE"
	case KindCreateView:
		return "CREATE VIEW"
	case KindDropView:
		return "DROP VIEW"
	case KindTruncate:
		return "TRUNCATE"
	case KindCreateTableAs:
		return "CREATE TABLE AS"
	case KindAlterTable:
		return "ALTER TABLE"
	case KindCreateIndex:
		return "CREATE INDEX"
	case KindDropIndex:
		return "DROP INDEX"
	case KindExplain:
		return "EXPLAIN"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Prepared is a parsed, bound and rewritten statement. It is immutable and
// safe for concurrent use; Build makes the operators of one execution.
type Prepared struct {
	Kind Kind
	// Schema is the result schema of a query (exact nullability); an empty
	// schema for other statements.
	Schema *arrow.Schema
	// CatalogVersion is the catalog version the statement was bound at; the
	// statement must be prepared again when the catalog has changed.
	CatalogVersion uint64
	// Table is the target of INSERT, UPDATE, DELETE and DROP TABLE (nil for
	// DROP TABLE IF EXISTS of a missing table).
	Table *catalog.Table
	// Create is the descriptor CREATE TABLE creates (ID unset).
	Create *catalog.Table
	// IfNotExists and IfExists are the clauses of CREATE and DROP TABLE.
	IfNotExists, IfExists bool
	// DDL is the bound statement of the schema changes other than CREATE
	// and DROP TABLE (*sql.CreateView, *sql.DropView, *sql.Truncate,
	// *sql.CreateTableAs, *sql.AlterTable, *sql.CreateIndex,
	// *sql.DropIndex); the root package executes it.
	DDL sql.Statement
	// OnConflict is what an INSERT does with a row whose primary key is
	// taken; ConflictSet compiles the update of sql.ConflictUpdate.
	OnConflict sql.Conflict
	// Explained is the statement of EXPLAIN; Analyze is set for EXPLAIN
	// ANALYZE, which runs it (BuildAnalyze).
	Explained *Prepared
	Analyze   bool

	set []sql.Expr

	plan   sql.Node
	params []sql.ParamType
	// consts are the values of the parameters of a shape served by a
	// Cache for one text (Cache.Prepare); params is then empty.
	consts []*sql.Literal
}

// SourceProvider opens storage scans for one execution.
type SourceProvider interface {
	// Scan returns the opener of a scan of t. Its batches hold the columns
	// cols of t in that order, followed by a last field "__key" (Binary)
	// with the storage key of each row when withKey.
	Scan(t *catalog.Table, cols []int, withKey bool) arrowexec.OpenSource
}

// Prepare parses, binds and optimises one statement against cat.
func Prepare(text string, cat *catalog.Catalog) (*Prepared, error) {
	version := cat.Version()
	st, err := sql.ParseAndBind(text, cat)
	if err != nil {
		return nil, err
	}
	return prepareBound(st, version)
}

// prepareBound plans a bound statement.
func prepareBound(st sql.Statement, version uint64) (*Prepared, error) {
	if ex, ok := st.(*sql.Explain); ok {
		return prepareExplain(ex, version)
	}
	var err error
	p := &Prepared{CatalogVersion: version, Schema: arrow.NewSchema(nil, nil)}
	switch st := st.(type) {
	case *sql.Query:
		p.Kind = KindQuery
		p.plan = st.Plan
		p.Schema = schemaOf(st.Plan.Columns())
	case *sql.Insert:
		p.Kind, p.Table, p.plan = KindInsert, st.Table, st.Plan
		p.OnConflict, p.set = st.OnConflict, st.Set
	case *sql.Update:
		p.Kind, p.Table, p.plan = KindUpdate, st.Table, st.Plan
	case *sql.Delete:
		p.Kind, p.Table, p.plan = KindDelete, st.Table, st.Plan
	case *sql.CreateTable:
		p.Kind, p.Create, p.IfNotExists = KindCreateTable, st.Table, st.IfNotExists
	case *sql.DropTable:
		p.Kind, p.Table, p.IfExists = KindDropTable, st.Table, st.IfExists
	case *sql.CreateView:
		p.Kind, p.DDL = KindCreateView, st
	case *sql.DropView:
		p.Kind, p.DDL, p.IfExists = KindDropView, st, st.IfExists
	case *sql.Truncate:
		p.Kind, p.DDL, p.Table = KindTruncate, st, st.Table
	case *sql.CreateTableAs:
		p.Kind, p.DDL, p.Create, p.IfNotExists, p.plan = KindCreateTableAs, st, st.Table, st.IfNotExists, st.Plan
	case *sql.AlterTable:
		p.Kind, p.DDL, p.Table = KindAlterTable, st, st.Table
	case *sql.CreateIndex:
		p.Kind, p.DDL, p.Table = KindCreateIndex, st, st.Table
	case *sql.DropIndex:
		p.Kind, p.DDL, p.Table = KindDropIndex, st, st.Table
	default:
		return nil, fmt.Errorf("planner: unexpected statement %T", st)
	}
	p.params = sql.ParamTypes(st)
	if p.plan != nil {
		if p.plan, err = spoolShared(p.plan); err != nil {
			return nil, err
		}
		if p.plan, err = optimize(p.plan); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// schemaOf returns the Arrow schema of plan columns.
func schemaOf(cols []sql.Column) *arrow.Schema {
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = arrow.Field{Name: c.Name, Type: arrowType(c.Type), Nullable: c.Nullable}
	}
	return arrow.NewSchema(fields, nil)
}

func arrowType(t catalog.Type) arrow.DataType {
	if t.Kind == catalog.KindInvalid {
		return arrow.BinaryTypes.Binary // the storage key
	}
	return t.ArrowType()
}

// ReturnsRows reports whether the statement returns rows: a query or an
// EXPLAIN.
func (p *Prepared) ReturnsRows() bool { return p.Kind == KindQuery || p.Kind == KindExplain }

// StreamsScan reports whether the query's operators are a scan of one
// table, without row keys, optionally under a projection of its columns:
// they hand on the scan's batches (or their columns) and keep nothing of a
// batch once the next one is asked for. The root package recycles the
// scan's buffers for such queries when their reader allows it.
func (p *Prepared) StreamsScan() bool {
	if p.Kind != KindQuery {
		return false
	}
	n := p.plan
	if pr, ok := n.(*sql.Project); ok {
		for _, e := range pr.Exprs {
			if _, ok := e.(*sql.ColumnRef); !ok {
				return false
			}
		}
		n = pr.Input
	}
	s, ok := n.(*sql.Scan)
	return ok && !s.WithKey
}

// AggregatesScan reports whether the query's one scan feeds a hash
// aggregate through filters and projections only, under nothing but
// sorts, limits, filters and projections, without subqueries (TPC-H Q1,
// Q6): the aggregate consumes each of the scan's batches before it asks
// for the next and keeps no part of it, and no batch of the scan reaches
// the query's reader, so the root package recycles the scan's buffers
// whoever reads the rows.
func (p *Prepared) AggregatesScan() bool {
	if p.Kind != KindQuery {
		return false
	}
	n := p.plan
	for {
		switch m := n.(type) {
		case *sql.Sort:
			for _, k := range m.Keys {
				if hasSubquery([]sql.Expr{k.Expr}) {
					return false
				}
			}
			n = m.Input
			continue
		case *sql.Limit:
			n = m.Input
			continue
		case *sql.Filter:
			if hasSubquery([]sql.Expr{m.Pred}) {
				return false
			}
			n = m.Input
			continue
		case *sql.Project:
			if hasSubquery(m.Exprs) {
				return false
			}
			n = m.Input
			continue
		case *sql.Aggregate:
			if hasSubquery(m.Groups) {
				return false
			}
			for _, a := range m.Aggs {
				if hasSubquery([]sql.Expr{a.Arg}) {
					return false
				}
			}
			return feedsDirectly(m.Input)
		}
		return false
	}
}

// feedsDirectly reports whether n is a scan without row keys under
// filters and projections without subqueries.
func feedsDirectly(n sql.Node) bool {
	for {
		switch m := n.(type) {
		case *sql.Filter:
			if hasSubquery([]sql.Expr{m.Pred}) {
				return false
			}
			n = m.Input
		case *sql.Project:
			if hasSubquery(m.Exprs) {
				return false
			}
			n = m.Input
		case *sql.Scan:
			return !m.WithKey
		default:
			return false
		}
	}
}

// Explain returns the plan as text, one operator per line, in the join
// order the binder wrote (EXPLAIN shows the order a source's row estimates
// give, see reorderJoins).
func (p *Prepared) Explain() string { return p.explain(p.plan) }

// explain renders plan, p's plan or a rewrite of it.
func (p *Prepared) explain(plan sql.Node) string { return p.explainSpools(plan, nil) }

// explainSpools is explain with the plans of the spools plan reads
// (builder.spoolPlan); nil: as optimized.
func (p *Prepared) explainSpools(plan sql.Node, spools map[*spoolDef]sql.Node) string {
	if plan == nil {
		switch p.Kind {
		case KindCreateTable:
			return "CreateTable " + p.Create.Name + "\n"
		case KindDropTable:
			if p.Table == nil {
				return "DropTable (absent)\n"
			}
			return "DropTable " + p.Table.Name + "\n"
		}
		return p.Kind.String() + "\n"
	}
	var b strings.Builder
	if p.Table != nil && p.Kind != KindQuery {
		fmt.Fprintf(&b, "%s %s\n", p.Kind, p.Table.Name)
	}
	b.WriteString(describeSpools(plan, spools, indexNote))
	return b.String()
}

// Build makes the operator tree for one execution:
//   - query: rows of Schema;
//   - INSERT: rows in exactly Table.Schema();
//   - UPDATE: field 0 "__key" (Binary), then the full new row in
//     Table.Schema() for every matching row;
//   - DELETE: one field "__key" (Binary) of every matching row.
//   - EXPLAIN [ANALYZE]: rows of ExplainSchema, the lines of the plan;
//     the explained query runs when the operator opens.
//
// CREATE and DROP TABLE have no operators and return an error. The caller
// owns the returned operator and must Close it.
//
// A statement with parameters must be built with BuildWith.
func (p *Prepared) Build(src SourceProvider) (arrowexec.Operator, error) {
	if len(p.params) > 0 {
		return nil, sqlstate.Errorf(sqlstate.ParamCountMismatch, "statement has %d parameters, no values given", len(p.params))
	}
	return p.build(&builder{src: src, now: time.Now().UTC()})
}

func (p *Prepared) build(b *builder) (arrowexec.Operator, error) {
	if p.Kind == KindExplain {
		return &explainOp{p: p, src: b.src}, nil
	}
	if p.plan == nil {
		return nil, fmt.Errorf("planner: %s has no operator plan", p.Kind)
	}
	if len(p.consts) > 0 {
		b.params = p.consts
	}
	if est, ok := b.src.(RowEstimator); ok && b.est == nil {
		b.est = newMemoEstimator(est)
	}
	b.spools = map[*spoolDef]*arrowexec.Spool{}
	b.spoolPlans = map[*spoolDef]sql.Node{}
	plan := b.reorderJoins(p.plan)
	if b.rt == nil {
		b.rt = newRTState(plan)
	}
	if b.an != nil {
		b.an.plan = plan
		b.an.spoolPlans = b.spoolPlans
	}
	op, err := b.build(plan)
	if err != nil {
		releaseSpools(b.spools)
		return nil, err
	}
	if len(b.spools) > 0 {
		op = &spoolOwner{Operator: op, spools: b.spools}
	}
	want := p.Schema
	switch p.Kind {
	case KindInsert:
		want = p.Table.Schema()
	case KindCreateTableAs:
		want = p.Create.Schema()
	case KindUpdate:
		fields := append([]arrow.Field{{Name: sql.KeyColumnName, Type: arrow.BinaryTypes.Binary}}, p.Table.Schema().Fields()...)
		want = arrow.NewSchema(fields, nil)
	case KindDelete:
		want = arrow.NewSchema([]arrow.Field{{Name: sql.KeyColumnName, Type: arrow.BinaryTypes.Binary}}, nil)
	}
	return relabel(op, want)
}

// evalContext is the context constant folding evaluates in.
var evalContext = context.Background()
