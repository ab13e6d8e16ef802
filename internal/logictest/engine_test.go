package logictest_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/internal/logictest"
)

// mode says where a file's rows live when its queries run.
type mode int

const (
	// rowStore never compacts: every row stays in the row store.
	rowStore mode = iota
	// segmentsOnly compacts every table before each query that follows a
	// statement, so queries read segments only (and the deletes and
	// updates of compacted rows as delete bitmaps plus row-store rows
	// until the next compaction).
	segmentsOnly
	// mixed compacts at the file's compact records, or, in a file without
	// one, after the first half (rounded up) of the writes before its first
	// query; the later writes stay in the row store.
	mixed
)

func (m mode) String() string {
	return [...]string{"rowstore", "segments", "mixed"}[m]
}

// TestEngine runs testdata/sql/*.test against the real engine
// (mantisdb.Open in a temporary directory) with rows in the row store
// only, in segments only and in both, each with scans that produce batches
// of 1 row, 7 rows and the default size (the in-memory runner in the
// planner covers 1, 7 and 1024 as well).
func TestEngine(t *testing.T) {
	files, err := logictest.Files(filepath.Join("..", "..", "testdata", "sql"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		recs, err := logictest.ParseFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []mode{rowStore, segmentsOnly, mixed} {
			for _, batch := range []int{1, 7, 0} {
				name := fmt.Sprintf("%s/%s/batch=%d", filepath.Base(f), m, batch)
				if batch == 0 {
					name = fmt.Sprintf("%s/%s/batch=default", filepath.Base(f), m)
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					runFile(t, recs, m, batch)
				})
			}
		}
	}
}

// compactPoints returns, for mode m, the indexes of recs before which
// every table is compacted.
func compactPoints(recs []logictest.Record, m mode) map[int]bool {
	at := map[int]bool{}
	switch m {
	case segmentsOnly:
		wrote := false
		for i, r := range recs {
			switch r.Kind {
			case logictest.KindQuery:
				if wrote {
					at[i] = true
				}
				wrote = false
			case logictest.KindStatement:
				wrote = true
			}
		}
	case mixed:
		var writes []int
		for i, r := range recs {
			if r.Kind == logictest.KindCompact {
				at[i] = true
			}
			if r.Kind == logictest.KindQuery {
				break
			}
			if r.Kind == logictest.KindStatement && r.ErrCode == "" && isWrite(r.SQL) {
				writes = append(writes, i)
			}
		}
		if len(at) == 0 && len(writes) > 0 {
			at[writes[(len(writes)-1)/2]+1] = true
		}
	}
	return at
}

func runFile(t *testing.T, recs []logictest.Record, m mode, batch int) {
	ctx := context.Background()
	db, err := mantisdb.Open(t.TempDir(), &mantisdb.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BatchSize: batch, CompactInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	}()
	at := compactPoints(recs, m)
	var segRows int64
	defer func() {
		if m != rowStore && segRows == 0 && len(at) > 0 {
			t.Errorf("[%s] no row reached a segment", m)
		}
	}()
	for i := range recs {
		r := &recs[i]
		if at[i] {
			for _, tbl := range db.Tables() {
				if _, err := db.Compact(ctx, tbl.Name); err != nil {
					t.Fatalf("%s: compact %s: %v", r.Where(), tbl.Name, err)
				}
				st, err := db.TableStats(ctx, tbl.Name)
				if err != nil {
					t.Fatal(err)
				}
				if st.FreshRows != 0 {
					t.Fatalf("%s: %s keeps %d rows in the row store after compaction", r.Where(), tbl.Name, st.FreshRows)
				}
				segRows += st.SegmentRows
			}
		}
		switch r.Kind {
		case logictest.KindCompact:
			continue
		case logictest.KindStatement:
			_, err := db.Exec(ctx, r.SQL)
			if err := r.Check(nil, err); err != nil {
				t.Error(err)
			}
		case logictest.KindQuery:
			rows, err := query(ctx, db, r.SQL)
			if err := r.Check(rows, err); err != nil {
				t.Errorf("[%s] %v", m, err)
			}
		}
	}
}

// query runs q and returns its rows formatted as the logic tests write
// them.
func query(ctx context.Context, db *mantisdb.DB, q string) ([][]string, error) {
	rs, err := db.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var rows [][]string
	for rs.Next() {
		rec := rs.Record()
		for i := 0; i < int(rec.NumRows()); i++ {
			row := make([]string, rec.NumCols())
			for j, c := range rec.Columns() {
				if c.IsNull(i) {
					row[j] = "NULL"
				} else {
					row[j] = c.ValueStr(i)
				}
			}
			rows = append(rows, row)
		}
	}
	return rows, rs.Err()
}

// isWrite reports whether statement q writes rows.
func isWrite(q string) bool {
	f := strings.Fields(q)
	if len(f) == 0 {
		return false
	}
	switch strings.ToUpper(f[0]) {
	case "INSERT", "UPDATE", "DELETE":
		return true
	}
	return false
}
