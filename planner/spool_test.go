package planner

import (
	"regexp"
	"strings"
	"testing"
)

// TestSpoolPlans checks which shared subtrees become spools: a CTE (or a
// view) named more than once that aggregates, sorts or has a window, and
// not one named once or one that only scans, filters and joins (whose
// references keep their pushed-down filters); that the spool's table is
// scanned once per execution; and the answers.
func TestSpoolPlans(t *testing.T) {
	s := setup(t)
	s.mustRun("CREATE VIEW cat_qty AS SELECT cat, sum(qty) AS total FROM items GROUP BY cat")
	for _, c := range []struct {
		name   string
		sql    string
		spools int // "Spool #i" lines in EXPLAIN
		scans  int // scans of items one execution opens
		want   string
	}{
		{"Q15 shape", `WITH t (c, total) AS (SELECT cat, sum(qty) FROM items GROUP BY cat)
			SELECT c, total FROM t WHERE total = (SELECT max(total) FROM t)`, 1, 1, "1,30"},
		{"self join", `WITH t AS (SELECT cat, count(*) AS n FROM items GROUP BY cat)
			SELECT a.cat, b.n FROM t AS a JOIN t AS b ON a.cat = b.cat ORDER BY a.cat`, 1, 1, "1,2|2,2"},
		{"view twice", `SELECT a.cat FROM cat_qty AS a, cat_qty AS b WHERE a.cat = b.cat AND b.total > 6 ORDER BY a.cat`, 1, 1, "1"},
		{"nested", `WITH t AS (SELECT cat, sum(qty) AS s FROM items GROUP BY cat),
			u AS (SELECT a.cat, a.s + b.s AS s2 FROM t AS a JOIN t AS b ON a.cat = b.cat)
			SELECT x.cat, y.s2 FROM u AS x JOIN u AS y ON x.cat = y.cat ORDER BY x.cat`, 2, 1, "1,60|2,10"},
		{"window", `WITH r AS (SELECT id, rank() OVER (ORDER BY qty DESC) AS rk FROM items)
			SELECT a.id FROM r AS a JOIN r AS b ON a.id = b.id WHERE b.rk = 1`, 1, 1, "3"},
		{"once", `WITH t AS (SELECT cat, sum(qty) AS s FROM items GROUP BY cat) SELECT s FROM t WHERE cat = 2`, 0, 1, "5"},
		{"plain scan twice", `WITH t AS (SELECT id, qty FROM items WHERE qty > 6)
			SELECT a.id FROM t AS a JOIN t AS b ON a.id = b.id ORDER BY a.id`, 0, 2, "1|2|5"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := Prepare(c.sql, s.cat)
			if err != nil {
				t.Fatal(err)
			}
			e := p.Explain()
			if got := regexp.MustCompile(`(?m)^ *Spool #\d+ readers=\d+$`).FindAllString(e, -1); len(got) != c.spools {
				t.Fatalf("%d spools, want %d, in\n%s", len(got), c.spools, e)
			}
			s.scans = nil
			rows := s.mustRun(c.sql)
			if len(s.scans) != c.scans {
				t.Errorf("%d scans opened, want %d", len(s.scans), c.scans)
			}
			if got := format(rows); got != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
}

// TestSpoolExplain checks how EXPLAIN and EXPLAIN ANALYZE show a spool:
// its plan once, under its first reader, with the number of its readers,
// and a SpoolScan line for every reference with the rows it read.
func TestSpoolExplain(t *testing.T) {
	s := setup(t)
	q := `WITH t AS (SELECT cat, count(*) AS n FROM items GROUP BY cat)
		SELECT a.cat, b.n FROM t AS a JOIN t AS b ON a.cat = b.cat`
	for _, c := range []struct {
		sql  string
		want []string // regexps of consecutive lines
	}{
		{"EXPLAIN " + q, []string{
			`^  Join Inner`, `^    SpoolScan #1$`, `^      Spool #1 readers=2$`, `^        Project`,
			`^          Aggregate`, `^            Scan items`, `^    SpoolScan #1$`,
		}},
		{"EXPLAIN ANALYZE " + q, []string{
			`^    SpoolScan #1$`, `^      actual rows=3 `, `^      Spool #1 readers=2$`, `^        Project`,
			`^          actual rows=3 `, `^          Aggregate`, `^            actual rows=3 `,
			`^            Scan items`, `^              actual rows=5 `, `^    SpoolScan #1$`, `^      actual rows=3 `,
		}},
	} {
		rows := s.mustRun(c.sql)
		lines := make([]string, len(rows))
		for i, r := range rows {
			lines[i] = r[0]
		}
		text := strings.Join(lines, "\n")
		start := -1
		for i, l := range lines {
			if regexp.MustCompile(c.want[0]).MatchString(l) {
				start = i
				break
			}
		}
		if start < 0 || start+len(c.want) > len(lines) {
			t.Fatalf("%s: no line matching %q in\n%s", c.sql, c.want[0], text)
		}
		for j, w := range c.want {
			if !regexp.MustCompile(w).MatchString(lines[start+j]) {
				t.Fatalf("%s: line %d is %q, want %q, in\n%s", c.sql, start+j, lines[start+j], w, text)
			}
		}
	}
}

// TestSpoolWithoutExecution checks that a builder that is not an
// execution's (it has no spools to own) runs a shared subtree at each
// reference instead of failing.
func TestSpoolWithoutExecution(t *testing.T) {
	s := setup(t)
	p, err := Prepare(`WITH t AS (SELECT cat, count(*) AS n FROM items GROUP BY cat)
		SELECT a.cat, b.n FROM t AS a JOIN t AS b ON a.cat = b.cat ORDER BY a.cat`, s.cat)
	if err != nil {
		t.Fatal(err)
	}
	s.scans = nil
	op, err := (&builder{src: s}).build(p.plan)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := drain(s, op)
	if err != nil {
		t.Fatal(err)
	}
	if got := format(rows); got != "1,2|2,2" || len(s.scans) != 2 {
		t.Fatalf("got %s with %d scans, want 1,2|2,2 with 2", got, len(s.scans))
	}
}
