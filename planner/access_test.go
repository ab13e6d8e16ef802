package planner

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/catalog"
)

// accessStore is a store that implements the optional access-path
// interfaces by recording what it was asked and serving the full scan (the
// planner's Filter must keep the results right).
type accessStore struct {
	*store
	calls []string
	exact bool // ScanFiltered claims exactness
}

func (a *accessStore) ScanKeyRange(t *catalog.Table, cols []int, withKey bool, ranges []KeyRange) arrowexec.OpenSource {
	var parts []string
	for _, r := range ranges {
		if r.IsPoint(t) {
			parts = append(parts, "="+fmtScalars(r.Start))
			continue
		}
		lo, hi := "(", ")"
		if r.StartInclusive {
			lo = "["
		}
		if r.EndInclusive {
			hi = "]"
		}
		parts = append(parts, lo+fmtScalars(r.Start)+".."+fmtScalars(r.End)+hi)
	}
	a.calls = append(a.calls, fmt.Sprintf("keys %s %s", t.Name, strings.Join(parts, " ")))
	return a.store.Scan(t, cols, withKey)
}

func (a *accessStore) ScanFiltered(t *catalog.Table, cols []int, withKey bool, pred ScanPredicate) (arrowexec.OpenSource, bool) {
	var parts []string
	for _, p := range pred.Conjuncts {
		parts = append(parts, fmt.Sprintf("%s %s %s", t.Columns[p.Col].Name, p.Op, fmtScalars(p.Values)))
	}
	a.calls = append(a.calls, fmt.Sprintf("filtered %s %s", t.Name, strings.Join(parts, " AND ")))
	return a.store.Scan(t, cols, withKey), a.exact
}

func fmtScalars(vs []scalar.Scalar) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = v.String()
	}
	return strings.Join(s, ",")
}

func TestAccessPaths(t *testing.T) {
	base := setup(t)
	base.mustRun(`CREATE TABLE kv (a INT, b VARCHAR(5), v INT, PRIMARY KEY (a, b))`)
	base.mustRun(`INSERT INTO kv VALUES (1, 'x', 10), (1, 'y', 11), (2, 'x', 20), (3, 'z', 30)`)
	s := &accessStore{store: base}
	for _, tc := range []struct {
		sql    string
		params []scalar.Scalar
		calls  string
		rows   string
	}{
		{sql: "select name from items where id = 3", calls: "keys items =3", rows: "cherry"},
		{sql: "select name from items where 3 = id and qty is null", calls: "keys items =3", rows: "cherry"},
		{sql: "select id from items where id in (4, 1, 4) order by id", calls: "keys items =1 =4", rows: "1|4"},
		{sql: "select id from items where id > 2 and id <= 4 order by id", calls: "keys items (2..4]", rows: "3|4"},
		{sql: "select id from items where id >= 4", calls: "keys items [4..)", rows: "4|5"},
		{sql: "select id from items where id = ?", params: []scalar.Scalar{scalar.NewInt64Scalar(2)}, calls: "keys items =2", rows: "2"},
		{sql: "select id from items where id in (7, 8)", calls: "keys items =7 =8", rows: ""},
		{sql: "select id from items where qty > 6 and name <> 'apple' order by id",
			calls: "filtered items qty > 6 AND name <> banana", rows: "2|5"},
		{sql: "select id from items where qty > 6 and name <> 'banana' order by id",
			calls: "filtered items qty > 6 AND name <> banana", rows: "1|5"},
		{sql: "select v from kv where a = 1 and b in ('y', 'x') order by v", calls: "keys kv =1,x =1,y", rows: "10|11"},
		{sql: "select v from kv where a = 1 and b > 'x'", calls: "keys kv (1,x..1]", rows: "11"},
		{sql: "select v from kv where b = 'x' order by v", calls: "filtered kv b = x", rows: "10|20"},
		{sql: "select v from kv where v + 1 > 15", calls: "", rows: "20|30"},
		// Joins: only the filtered side's scan gets an access path.
		{sql: "select k.v from kv k join items i on k.a = i.id where i.id = 2", calls: "keys items =2", rows: "20"},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			s.calls = nil
			rows, _, err := s.runAccess(tc.sql, tc.params)
			if err != nil {
				t.Fatal(err)
			}
			// name <> 'apple' prints as the literal; normalise the
			// expected text of the two name cases.
			want := tc.calls
			if strings.Contains(tc.sql, "'apple'") {
				want = strings.Replace(want, "banana", "apple", 1)
			}
			if got := strings.Join(s.calls, "; "); got != want {
				t.Errorf("calls %q, want %q", got, want)
			}
			if got := format(rows); got != tc.rows {
				t.Errorf("rows %q, want %q", got, tc.rows)
			}
		})
	}
}

// runAccess runs a query against the access store.
func (a *accessStore) runAccess(q string, params []scalar.Scalar) ([][]string, string, error) {
	p, err := Prepare(q, a.cat)
	if err != nil {
		return nil, "", err
	}
	var op arrowexec.Operator
	if params == nil {
		op, err = p.Build(a)
	} else {
		op, err = p.BuildWith(a, params)
	}
	if err != nil {
		return nil, "", err
	}
	rows, err := drain(a.store, op)
	return rows, p.Explain(), err
}

// TestExactFilterDropped checks that a source claiming an exact predicate
// replaces the Filter: this fake source does not filter at all, so the
// unfiltered rows show that the planner trusted it.
func TestExactFilterDropped(t *testing.T) {
	s := &accessStore{store: setup(t), exact: true}
	rows, _, err := s.runAccess("select id from items where qty > 6 order by id", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := format(rows); got != "1|2|3|4|5" {
		t.Errorf("rows %q: the filter should have been left to the source", got)
	}
	// Not every conjunct is simple: the Filter stays.
	rows, _, err = s.runAccess("select id from items where qty > 6 and qty + 1 > 8 order by id", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := format(rows); got != "1|2" {
		t.Errorf("rows %q, want 1|2", got)
	}
}

// drain runs op to the end and formats its rows.
func drain(s *store, op arrowexec.Operator) ([][]string, error) {
	defer op.Close()
	ctx := exec.WithAllocator(context.Background(), s.mem)
	if err := op.Open(ctx); err != nil {
		return nil, err
	}
	var rows [][]string
	for {
		rec, err := op.Next()
		if err != nil || rec == nil {
			return rows, err
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			row := make([]string, rec.NumCols())
			for j, c := range rec.Columns() {
				row[j] = c.ValueStr(i)
			}
			rows = append(rows, row)
		}
	}
}
