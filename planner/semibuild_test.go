package planner

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/mantisdb/mantisdb/sql"
)

// TestSemiJoinBuildsSmallSide checks that a semi or anti join whose
// subquery side is expected to be much larger than its left input builds
// the left input (a build-side semi or anti join) and answers as the
// join that builds the subquery side does: with and without a residual,
// with NULL keys on either side, and for empty inputs.
func TestSemiJoinBuildsSmallSide(t *testing.T) {
	s := newStore(t)
	s.mustRun(`CREATE TABLE big (id BIGINT PRIMARY KEY, a BIGINT, b BIGINT)`)
	s.mustRun(`CREATE TABLE small (id BIGINT PRIMARY KEY, k BIGINT, name VARCHAR(10))`)
	var vals []string
	for i := range 80 {
		a := fmt.Sprint(i % 7)
		if i%11 == 0 {
			a = "NULL"
		}
		vals = append(vals, fmt.Sprintf("(%d, %s, %d)", i, a, i%5))
	}
	s.mustRun(`INSERT INTO big VALUES ` + strings.Join(vals, ", "))
	s.mustRun(`INSERT INTO small VALUES (1, 1, 'a'), (2, 3, 'b'), (3, NULL, 'c'), (4, 9, 'd'), (5, 3, 'e'), (6, 6, 'f')`)

	for _, tc := range []struct {
		q       string
		swapped bool // expected to build the left input
	}{
		{`select id, name from small where exists (select 1 from big where big.a = small.k) order by id`, true},
		{`select id, name from small where not exists (select 1 from big where big.a = small.k) order by id`, true},
		{`select id from small where exists (select 1 from big where big.a = small.k and big.b <> small.id) order by id`, true},
		{`select id from small where not exists (select 1 from big where big.a = small.k and big.b > small.id) order by id`, true},
		{`select id, name from small where k in (select a from big) order by id`, true},
		// NOT IN is null-aware: it always builds the subquery side.
		{`select id, name from small where k not in (select a from big where a is not null) order by id`, false},
		{`select name from small where exists (select 1 from big where big.a = small.k and big.id < 0)`, false},
		{`select name from small where not exists (select 1 from big where big.a = small.k and big.id < 0) order by 1`, false},
		{`select count(*) from small where not exists (select 1 from big where big.a = small.k)`, true},
		{`select count(*) from small where exists (select 1 from big where big.a = small.k and big.a = small.id)`, true},
	} {
		q := tc.q
		// The join builds its left input once estimates say so.
		b, plan := s.sameWithEstimates(t, q)
		swapped := false
		var walk func(sql.Node)
		walk = func(n sql.Node) {
			if j, ok := n.(*sql.Join); ok && (j.Type == sql.JoinSemi || j.Type == sql.JoinAnti) && b.buildOnLeft(j) {
				swapped = true
			}
			for _, in := range n.Inputs() {
				walk(in)
			}
		}
		walk(plan)
		if swapped != tc.swapped {
			t.Errorf("%s: builds its left input: %v, want %v:\n%s", q, swapped, tc.swapped, describe(plan))
		}
	}
}

// TestLeftJoinBuildsSmallSide checks that a left join whose right input
// is expected to be much larger than its left one builds the left input
// (a build-outer join) and answers as the join that builds the right
// input does: with NULL keys on either side, a condition in ON, left rows
// without a match, an empty side, and under an aggregate whose pipelines
// share the build and emit the unmatched left rows once.
func TestLeftJoinBuildsSmallSide(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	s := newStore(t)
	s.mustRun(`CREATE TABLE big (id BIGINT PRIMARY KEY, a BIGINT, b BIGINT)`)
	s.mustRun(`CREATE TABLE small (id BIGINT PRIMARY KEY, k BIGINT, name VARCHAR(10))`)
	for lo := 0; lo < 120; lo += 10 {
		// Ten inserts make ten batches for the parallel scans' parts.
		var vals []string
		for i := lo; i < lo+10; i++ {
			a := fmt.Sprint(i % 7)
			if i%11 == 0 {
				a = "NULL"
			}
			vals = append(vals, fmt.Sprintf("(%d, %s, %d)", i, a, i%5))
		}
		s.mustRun(`INSERT INTO big VALUES ` + strings.Join(vals, ", "))
	}
	s.mustRun(`INSERT INTO small VALUES (1, 1, 'a'), (2, 3, 'b'), (3, NULL, 'c'), (4, 9, 'd'), (5, 3, 'e'), (6, 6, 'f')`)
	ps := &partStore{store: s}
	for _, tc := range []struct {
		q       string
		swapped bool // expected to build the left input
	}{
		{`select small.id, name, big.id from small left join big on big.a = small.k order by 1, 3`, true},
		{`select small.id, big.id from small left join big on big.a = small.k and big.b <> small.id order by 1, 2`, true},
		{`select small.id, count(big.id) from small left join big on big.a = small.k and big.b < 2 group by small.id order by 1`, true},
		{`select c, count(*) from (select small.id, count(big.id) as c from small left join big on big.a = small.k group by small.id) x group by c order by 1`, true},
		{`select small.id, big.id from small left join big on big.a = small.k and big.id < 0 order by 1`, true},
		// An empty build side.
		{`select small.id, big.id from (select * from small where id < 0) small left join big on big.a = small.k`, true},
		// The large input on the left keeps building the right one.
		{`select big.id, name from big left join small on big.a = small.k order by 1`, false},
	} {
		q := tc.q
		b, plan := s.sameWithEstimates(t, q)
		swapped := false
		var walk func(sql.Node)
		walk = func(n sql.Node) {
			if j, ok := n.(*sql.Join); ok && j.Type == sql.JoinLeft && b.buildOnLeft(j) {
				swapped = true
			}
			for _, in := range n.Inputs() {
				walk(in)
			}
		}
		walk(plan)
		if swapped != tc.swapped {
			t.Errorf("%s: builds its left input: %v, want %v:\n%s", q, swapped, tc.swapped, describe(plan))
		}
		// The same with partitioned scans.
		p, err := Prepare(q, s.cat)
		if err != nil {
			t.Fatal(err)
		}
		var rows [2]string
		for i, src := range []SourceProvider{s, estPartStore{ps}} {
			op, err := p.Build(src)
			if err != nil {
				t.Fatal(err)
			}
			got, err := drain(s, op)
			if err != nil {
				t.Fatalf("%s (%T): %v", q, src, err)
			}
			rows[i] = sortedRows(got)
		}
		if rows[0] != rows[1] {
			t.Errorf("%s: partitioned %s\nserial %s", q, rows[1], rows[0])
		}
	}
	if ps.splits == 0 {
		t.Error("no scan was partitioned")
	}
}
