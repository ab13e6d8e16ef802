package planner

import (
	"fmt"
	"strings"
	"testing"
)

// TestReduceAggregates checks which joins get a semi-join reduction of
// the aggregate they look up in (reduceAggregates) and that the answers
// are those of the plan without it: correlated scalar subqueries (COUNT
// included, whose unmatched outer rows read 0), IN over a grouped
// subquery with HAVING, joins with derived tables; and no reduction where
// it would be wrong: a key that is an aggregate's value, the preserved
// side of an outer join, NOT IN (whose answer depends on a NULL group),
// a Limit above the aggregate, a non-equality, and a key subtree whose
// filter can fail.
func TestReduceAggregates(t *testing.T) {
	s := newStore(t)
	s.mustRun(`CREATE TABLE li (id BIGINT PRIMARY KEY, pk BIGINT, q INT, x INT)`)
	s.mustRun(`CREATE TABLE pt (pk BIGINT PRIMARY KEY, brand VARCHAR(10))`)
	var vals []string
	for i := range 1000 {
		pk := fmt.Sprint(i % 50)
		if i%37 == 0 {
			pk = "NULL"
		}
		vals = append(vals, fmt.Sprintf("(%d, %s, %d, %d)", i, pk, i*7%50, i%13))
	}
	s.mustRun(`INSERT INTO li VALUES ` + strings.Join(vals, ", "))
	vals = vals[:0]
	for i := range 60 { // parts 50..59 have no line items
		vals = append(vals, fmt.Sprintf("(%d, 'b%d')", i, i%10))
	}
	s.mustRun(`INSERT INTO pt VALUES ` + strings.Join(vals, ", "))

	for _, tc := range []struct {
		q      string
		reduce bool
	}{
		// TPC-H Q17's shape.
		{`select sum(li.x), count(*) from li, pt where pt.pk = li.pk and pt.brand = 'b3'
			and li.q < (select avg(q) from li l2 where l2.pk = pt.pk)`, true},
		// COUNT of a correlated subquery: 0 for parts without line items.
		{`select pt.pk, (select count(*) from li where li.pk = pt.pk and li.q > 20) from pt
			where pt.brand = 'b7' order by 1`, true},
		{`select pt.pk, (select sum(q) from li where li.pk = pt.pk) from pt
			where pt.brand = 'b9' order by 1`, true},
		// A grouped IN with HAVING (Q18's shape), and a join with a
		// derived table grouped by the key.
		{`select pk from pt where brand = 'b3' and pk in (select pk from li group by pk having sum(q) > 150) order by 1`, true},
		{`select pt.pk, s.c from pt join (select pk, count(*) c from li group by pk) s on s.pk = pt.pk
			where pt.brand = 'b3' order by 1`, true},
		// The key is an aggregate's value, not a group.
		{`select pt.pk, s.pk from pt join (select pk, count(*) c from li group by pk) s on s.c = pt.pk
			where pt.brand = 'b8' order by 1, 2`, false},
		// The aggregate is the preserved side of an outer join.
		{`select s.pk, s.c, pt.brand from (select pk, count(*) c from li group by pk) s
			left join pt on s.pk = pt.pk and pt.brand = 'b3' order by 1`, false},
		{`select s.pk, s.c, pt.brand from pt right join (select pk, count(*) c from li group by pk) s
			on s.pk = pt.pk and pt.brand = 'b3' order by 1`, false},
		// NOT IN: a NULL group makes every answer unknown.
		{`select count(*) from pt where brand = 'b3' and pk not in (select pk from li group by pk)`, false},
		// A Limit above the aggregate keeps groups by the others.
		{`select pt.pk, s.c from pt join (select pk, count(*) c from li group by pk order by c desc, pk limit 5) s
			on s.pk = pt.pk where pt.brand <> 'b3' order by 1`, false},
		// No equality to reduce by.
		{`select count(*) from pt join (select pk, avg(q) a from li group by pk) s on s.pk > pt.pk
			where pt.brand = 'b3'`, false},
		// The copy of the key subtree would divide on rows the query's
		// joins never reach.
		{`select sum(li.x) from li, pt where pt.pk = li.pk and pt.brand = 'b3' and 100 / (pt.pk + 1) > 1
			and li.q < (select avg(q) from li l2 where l2.pk = pt.pk)`, false},
	} {
		_, reordered := s.sameWithEstimates(t, tc.q)
		plan := describe(reordered)
		if got := strings.Contains(plan, "(reduces the aggregate"); got != tc.reduce {
			t.Errorf("%s: reduced %v, want %v:\n%s", tc.q, got, tc.reduce, plan)
		}
	}
}
