package planner

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// TestLogic runs the logic-test files testdata/sql/*.test of the module
// (the format of CockroachDB's and SQLite's sqllogictest):
//
//	statement ok
//	<SQL>
//
//	statement error <SQLSTATE>
//	<SQL>
//
//	query <column types> [rowsort]
//	<SQL>
//	----
//	<row: values separated by spaces, NULL for NULL>
//
// Records are separated by blank lines; lines starting with # are
// comments. Every file runs with the stored data in batches of 1, 7 and
// 1024 rows.
func TestLogic(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "sql", "*.test"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no logic-test files")
	}
	for _, f := range files {
		recs, err := parseLogic(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, chunk := range []int{1, 7, 1024} {
			t.Run(fmt.Sprintf("%s/batch=%d", filepath.Base(f), chunk), func(t *testing.T) {
				s := newStore(t)
				s.chunk = chunk
				for _, r := range recs {
					r.run(t, s)
				}
			})
		}
	}
}

type logicRecord struct {
	file    string
	line    int
	kind    string // "statement" or "query"
	errCode string // statement error
	rowsort bool
	sql     string
	want    []string
}

func parseLogic(path string) ([]logicRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var out []logicRecord
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Fields(l)
		r := logicRecord{file: filepath.Base(path), line: i + 1, kind: f[0]}
		switch {
		case f[0] == "statement" && len(f) == 2 && f[1] == "ok":
		case f[0] == "statement" && len(f) == 3 && f[1] == "error":
			r.errCode = f[2]
		case f[0] == "query" && len(f) >= 2:
			r.rowsort = slices.Contains(f[2:], "rowsort")
		default:
			return nil, fmt.Errorf("%s:%d: bad record header %q", path, i+1, l)
		}
		var sqlLines []string
		i++
		for ; i < len(lines) && strings.TrimSpace(lines[i]) != "" && strings.TrimSpace(lines[i]) != "----"; i++ {
			sqlLines = append(sqlLines, lines[i])
		}
		r.sql = strings.Join(sqlLines, "\n")
		if r.kind == "query" {
			if i >= len(lines) || strings.TrimSpace(lines[i]) != "----" {
				return nil, fmt.Errorf("%s:%d: query without ----", path, r.line)
			}
			for i++; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
				r.want = append(r.want, strings.Join(strings.Fields(lines[i]), " "))
			}
		}
		out = append(out, r)
	}
	return out, nil
}

func (r *logicRecord) run(t *testing.T, s *store) {
	t.Helper()
	rows, _, err := s.run(r.sql)
	where := fmt.Sprintf("%s:%d", r.file, r.line)
	if r.errCode != "" {
		if err == nil {
			t.Errorf("%s: %s: no error, want %s", where, r.sql, r.errCode)
		} else if got := sqlstate.CodeOf(err); string(got) != r.errCode {
			t.Errorf("%s: %s: error %v, want code %s", where, r.sql, err, r.errCode)
		}
		return
	}
	if err != nil {
		t.Errorf("%s: %s: %v", where, r.sql, err)
		return
	}
	if r.kind != "query" {
		return
	}
	got := make([]string, len(rows))
	for i, row := range rows {
		got[i] = strings.Join(strings.Fields(strings.Join(row, " ")), " ")
	}
	want := slices.Clone(r.want)
	if r.rowsort {
		slices.Sort(got)
		slices.Sort(want)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s: %s:\ngot:\n%s\nwant:\n%s", where, r.sql, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
