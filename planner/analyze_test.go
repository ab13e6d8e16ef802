package planner

import (
	"regexp"
	"strings"
	"testing"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// TestExplainAnalyze runs EXPLAIN and EXPLAIN ANALYZE over the in-memory
// store (whose sources report no scan counters): every operator line is
// followed by its counters, the row counts are those of the query, and
// no Arrow memory leaks (the store's checked allocator).
func TestExplainAnalyze(t *testing.T) {
	s := setup(t)
	for _, c := range []struct {
		sql  string
		want []string // regexps, in order
	}{
		{"EXPLAIN SELECT name FROM items WHERE qty > 5", []string{`^Project`, `^  Filter`, `^    Scan items`}},
		{"EXPLAIN ANALYZE SELECT cat, count(*) FROM items GROUP BY cat ORDER BY cat", []string{
			`^Sort`, `^  actual rows=3 batches=1 time=\S+( peak memory=\S+ \S+)?$`,
			`^  Project`, `^    actual rows=3 `,
			`^    Aggregate`, `^      actual rows=3 batches=1 time=\S+ peak memory=`,
			`^      Scan items`, `^        actual rows=5 `,
			`^Execution: rows=3 time=`,
		}},
		{"EXPLAIN ANALYZE SELECT name FROM items ORDER BY qty DESC LIMIT 2", []string{
			`^  TopN offset=0 count=2`, `^    actual rows=2 `, `Scan items`, `^Execution: rows=2 `,
		}},
		{"EXPLAIN ANALYZE SELECT name FROM items WHERE id = 99", []string{`actual rows=0 batches=0 `, `^Execution: rows=0 `}},
	} {
		rows, sch, err := s.run(c.sql)
		if err != nil {
			t.Fatalf("%s: %v", c.sql, err)
		}
		if !sch.Equal(ExplainSchema) {
			t.Errorf("%s: schema %v", c.sql, sch)
		}
		lines := make([]string, len(rows))
		for i, r := range rows {
			lines[i] = r[0]
		}
		i := 0
		for _, w := range c.want {
			re := regexp.MustCompile(w)
			for i < len(lines) && !re.MatchString(lines[i]) {
				i++
			}
			if i == len(lines) {
				t.Errorf("%s: no line matching %q after the previous ones in\n%s", c.sql, w, strings.Join(lines, "\n"))
				break
			}
			i++
		}
	}
	if _, _, err := s.run("EXPLAIN ANALYZE SELECT qty / 0 FROM items"); sqlstate.CodeOf(err) != sqlstate.DivisionByZero {
		t.Errorf("EXPLAIN ANALYZE of a failing query: %v", err)
	}
	if _, _, err := s.run("EXPLAIN SELECT * FROM items WHERE id = ?"); sqlstate.CodeOf(err) != sqlstate.FeatureNotSupported {
		t.Errorf("EXPLAIN with a parameter: %v", err)
	}
}
