package planner

import (
	"fmt"
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
