package planner

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/sql"
)

// estimating is a store whose tables report their row counts, so that the
// builder reorders joins.
type estimating struct{ *store }

func (e estimating) EstimateRows(t *catalog.Table) (int64, bool) {
	var n int64
	for _, r := range e.tables[t.ID] {
		n += r.NumRows()
	}
	return n, true
}

// sameWithEstimates runs q without and with row estimates (estimating),
// fails t unless both give the same rows and schema, and returns the
// builder with estimates and the plan it reorders q into.
func (s *store) sameWithEstimates(t *testing.T, q string) (*builder, sql.Node) {
	t.Helper()
	s.src = nil
	want, wantSch, err := s.run(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	s.src = estimating{s}
	got, gotSch, err := s.run(q)
	if err != nil {
		t.Fatalf("%s (with estimates): %v", q, err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || !gotSch.Equal(wantSch) {
		t.Errorf("%s: with estimates\n%v %s\nwant\n%v %s", q, got, gotSch, want, wantSch)
	}
	p, err := Prepare(q, s.cat)
	if err != nil {
		t.Fatal(err)
	}
	b := &builder{src: estimating{s}}
	return b, b.reorderJoins(p.plan)
}

// TestReorderJoins checks that joins of three or more inputs are reordered
// by their estimates (the filtered small table first, not the FROM order),
// that the rows and the order of the columns do not change, and that an OR
// over two tables filters each of them on its own.
func TestReorderJoins(t *testing.T) {
	s := newStore(t)
	s.mustRun(`CREATE TABLE f (id BIGINT PRIMARY KEY, a BIGINT, b BIGINT, v INT)`)
	s.mustRun(`CREATE TABLE da (id BIGINT PRIMARY KEY, name VARCHAR(10))`)
	s.mustRun(`CREATE TABLE db (id BIGINT PRIMARY KEY, kind VARCHAR(10))`)
	var vals []string
	for i := range 60 {
		vals = append(vals, fmt.Sprintf("(%d, %d, %d, %d)", i, i%10, i%6, i*7%13))
	}
	s.mustRun(`INSERT INTO f VALUES ` + strings.Join(vals, ", "))
	vals = vals[:0]
	for i := range 10 {
		vals = append(vals, fmt.Sprintf("(%d, 'n%d')", i, i%4))
	}
	s.mustRun(`INSERT INTO da VALUES ` + strings.Join(vals, ", "))
	s.mustRun(`INSERT INTO db VALUES (0, 'x'), (1, 'y'), (2, 'z'), (3, 'x'), (4, 'w'), (5, 'v')`)

	for _, tc := range []struct {
		q           string
		before, dim string // the filtered dimension joined before the other one
	}{
		{`select * from f, da, db where f.a = da.id and f.b = db.id and db.kind = 'x' order by f.id`, "db", "da"},
		{`select f.id, da.name, db.kind from f, db, da where f.a = da.id and db.id = f.b and da.name = 'n1' order by 1`, "da", "db"},
		{`select count(*), sum(f.v) from f, da, db where f.a = da.id and f.b = db.id
			and ((da.name = 'n1' and db.kind = 'x') or (da.name = 'n2' and db.kind = 'y'))`, "", ""},
		// The IN below the inner join, on f (pushSemiJoins).
		{`select da.name, count(*) from f, da where f.a = da.id and f.b in (select id from db where kind = 'x')
			group by da.name order by 1`, "semi", ""},
		{`select count(*) from f, da where f.a = da.id and f.b not in (select id from db where kind = 'x')`, "semi", ""},
	} {
		_, reordered := s.sameWithEstimates(t, tc.q)
		plan := describe(reordered)
		if tc.before == "semi" {
			if strings.Index(plan, "Join Inner") > strings.Index(plan, "Join Anti") && strings.Index(plan, "Join Inner") > strings.Index(plan, "Join Semi") {
				t.Errorf("%s: the semi or anti join is not below the inner join:\n%s", tc.q, plan)
			}
			continue
		}
		// Inputs joined earlier are printed first in a left-deep tree.
		if tc.before != "" && strings.Index(plan, "Scan "+tc.before+" ") > strings.Index(plan, "Scan "+tc.dim+" ") {
			t.Errorf("%s: %s is not joined before %s:\n%s", tc.q, tc.before, tc.dim, plan)
		}
		if tc.before == "" && strings.Count(plan, "Filter") < 2 {
			// The OR's implied filters: one on da, one on db (the OR
			// itself stays a join condition).
			t.Errorf("%s: no filters implied by the OR:\n%s", tc.q, plan)
		}
	}
	// An implied filter must not fail where the query does not: db's row
	// 99 meets no row of f, so the OR never divides by zero on it; a
	// filter 10 / (id - 99) < 0 implied on db alone would.
	s.mustRun(`INSERT INTO db VALUES (99, 'q')`)
	q := `select count(*) from f, db where f.b = db.id
		and ((f.v = 1 and 10 / (db.id - 99) < 0) or (f.v = 2 and db.kind = 'x'))`
	for _, src := range []SourceProvider{nil, estimating{s}} {
		s.src = src
		if _, _, err := s.run(q); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
}
