package planner

import (
	"strings"
	"testing"
)

// TestJoinKeyRepeatedInOrBranches checks that a join condition repeated in
// every branch of an OR (TPC-H Q19's shape) becomes a hash-join key instead
// of leaving a cross product filtered by the OR.
func TestJoinKeyRepeatedInOrBranches(t *testing.T) {
	s := setup(t)
	p, err := Prepare(`select count(*) from items a, items b
		where (a.id = b.id and a.qty = 1) or (b.id = a.id and b.qty = 2)`, s.cat)
	if err != nil {
		t.Fatal(err)
	}
	plan := p.Explain()
	if !strings.Contains(plan, "keys=[id#0]=[id#0]") {
		t.Errorf("the repeated condition is not a join key:\n%s", plan)
	}
}
