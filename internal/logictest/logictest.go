// Package logictest reads the SQL logic-test files of the module
// (testdata/sql/*.test) and checks statement results against them. It is
// shared by the planner's runner (an in-memory provider) and this package's
// runner over the real engine (mantisdb.Open), so both read one format:
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
//	compact
//
// Records are separated by blank lines; lines starting with # are comments.
// A compact record marks where the setup of a file has written the rows
// that a storage-tier runner moves into segments; runners without tiers
// ignore it. The package has no dependency on the engine.
package logictest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// Kinds of Record.
const (
	// KindStatement is a statement whose rows are not checked.
	KindStatement = "statement"
	// KindQuery is a query whose rows are checked.
	KindQuery = "query"
	// KindCompact asks a tiered runner to compact every table.
	KindCompact = "compact"
)

// Record is one record of a logic-test file.
type Record struct {
	// File is the base name of the file and Line the 1-based line of the
	// record's header, for messages.
	File string
	Line int
	// Kind is KindStatement, KindQuery or KindCompact.
	Kind string
	// ErrCode is the SQLSTATE a "statement error" record expects.
	ErrCode string
	// RowSort compares the rows of a query as sorted lists.
	RowSort bool
	// SQL is the statement text (empty for KindCompact).
	SQL string
	// Want holds the expected rows of a query, values separated by one space.
	Want []string
}

// Where returns "file:line" of the record.
func (r *Record) Where() string { return fmt.Sprintf("%s:%d", r.File, r.Line) }

// ParseFile reads the records of the file at path.
func ParseFile(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(filepath.Base(path), f)
}

// Parse reads the records of a file named name (used in messages) from r.
func Parse(name string, r io.Reader) ([]Record, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", name, err)
	}
	var out []Record
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Fields(l)
		r := Record{File: name, Line: i + 1, Kind: f[0]}
		switch {
		case f[0] == KindStatement && len(f) == 2 && f[1] == "ok":
		case f[0] == KindStatement && len(f) == 3 && f[1] == "error":
			r.ErrCode = f[2]
		case f[0] == KindQuery && len(f) >= 2:
			r.RowSort = slices.Contains(f[2:], "rowsort")
		case f[0] == KindCompact && len(f) == 1:
			out = append(out, r)
			continue
		default:
			return nil, fmt.Errorf("%s:%d: bad record header %q", name, i+1, l)
		}
		var sqlLines []string
		i++
		for ; i < len(lines) && strings.TrimSpace(lines[i]) != "" && strings.TrimSpace(lines[i]) != "----"; i++ {
			sqlLines = append(sqlLines, lines[i])
		}
		r.SQL = strings.Join(sqlLines, "\n")
		if r.SQL == "" {
			return nil, fmt.Errorf("%s:%d: record without SQL", name, r.Line)
		}
		if r.Kind == KindQuery {
			if i >= len(lines) || strings.TrimSpace(lines[i]) != "----" {
				return nil, fmt.Errorf("%s:%d: query without ----", name, r.Line)
			}
			for i++; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
				r.Want = append(r.Want, strings.Join(strings.Fields(lines[i]), " "))
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// Check compares the outcome of running r (its rows as formatted values,
// NULL for NULL, and its error) with what r expects. It returns nil on a
// match and otherwise an error describing the mismatch.
func (r *Record) Check(rows [][]string, err error) error {
	if r.ErrCode != "" {
		if err == nil {
			return fmt.Errorf("%s: %s: no error, want %s", r.Where(), r.SQL, r.ErrCode)
		}
		if got := sqlstate.CodeOf(err); string(got) != r.ErrCode {
			return fmt.Errorf("%s: %s: error %v, want code %s", r.Where(), r.SQL, err, r.ErrCode)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %s: %v", r.Where(), r.SQL, err)
	}
	if r.Kind != KindQuery {
		return nil
	}
	got := make([]string, len(rows))
	for i, row := range rows {
		got[i] = strings.Join(strings.Fields(strings.Join(row, " ")), " ")
	}
	want := slices.Clone(r.Want)
	if r.RowSort {
		slices.Sort(got)
		slices.Sort(want)
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("%s: %s:\ngot:\n%s\nwant:\n%s", r.Where(), r.SQL, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	return nil
}

// Files returns the logic-test files of dir (*.test), sorted.
func Files(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.test"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no logic-test files in %s", dir)
	}
	return files, nil
}
