package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// lineitemFile returns an Arrow IPC file in the work directory holding the
// first n lineitem rows from dbgen, in batches of batchRows, generating it
// on first use, and the number of rows it holds. Children read it, so they
// measure ingest without paying for dbgen (whose start-up alone builds a
// 300 MB text pool). The file may hold fewer than n rows: only the first
// generation of a process is the official data, a later one (after the
// tpch workload) draws other line counts per order, and at scale 1 its
// 1.5M orders have 5,997,302 lines instead of 6,001,215.
func lineitemFile(o *options, n int64, pr *progress) (string, int64, error) {
	path := filepath.Join(o.WorkDir, fmt.Sprintf("lineitem-%d-%d.arrow", n, o.BatchRows))
	if rows, err := readRowCount(path); err == nil {
		return path, rows, nil
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", 0, err
	}
	defer os.Remove(tmp)
	w, err := ipc.NewFileWriter(f, ipc.WithSchema(tpchTable("lineitem").schema()))
	if err != nil {
		f.Close()
		return "", 0, err
	}
	pr.Phase(fmt.Sprintf("generate %d lineitem rows", n), n)
	var rows int64
	err = generateLineitems(n, o.BatchRows, memory.NewGoAllocator(), func(_ string, rec arrow.RecordBatch) error {
		rows += rec.NumRows()
		pr.Add(rec.NumRows(), "")
		return w.Write(rec)
	})
	pr.Done()
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = os.WriteFile(path+".rows", []byte(strconv.FormatInt(rows, 10)), 0o644)
	}
	if err != nil {
		return "", 0, fmt.Errorf("cannot write %s: %w", path, err)
	}
	return path, rows, nil
}

// readRowCount returns the number of rows lineitemFile wrote into path.
func readRowCount(path string) (int64, error) {
	if _, err := os.Stat(path); err != nil {
		return 0, err
	}
	b, err := os.ReadFile(path + ".rows")
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(string(b), 10, 64)
}

// readBatches reads every batch of an Arrow IPC file into memory. The
// caller releases them.
func readBatches(path string, limit int64) ([]arrow.RecordBatch, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := ipc.NewFileReader(f, ipc.WithAllocator(memory.NewGoAllocator()))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	defer r.Close()
	var out []arrow.RecordBatch
	var n int64
	for i := 0; i < r.NumRecords() && n < limit; i++ {
		rec, err := r.RecordBatch(i)
		if err != nil {
			releaseAll(out)
			return nil, err
		}
		if n+rec.NumRows() > limit {
			rec = rec.NewSlice(0, limit-n)
		} else {
			rec.Retain()
		}
		n += rec.NumRows()
		out = append(out, rec)
	}
	return out, nil
}

func releaseAll(recs []arrow.RecordBatch) {
	for _, r := range recs {
		r.Release()
	}
}

// insertStatements renders recs as multi-row INSERT statements into table
// of at most perStmt rows each, with literals both engines read the same
// way: numbers as written, text quoted, dates as DATE '...'.
func insertStatements(table string, recs []arrow.RecordBatch, perStmt int) []string {
	var out []string
	var sb strings.Builder
	rows := 0
	flush := func() {
		if rows > 0 {
			out = append(out, sb.String())
			sb.Reset()
			rows = 0
		}
	}
	for _, rec := range recs {
		for r := 0; r < int(rec.NumRows()); r++ {
			if rows == 0 {
				sb.WriteString("INSERT INTO " + table + " VALUES ")
			} else {
				sb.WriteString(", ")
			}
			sb.WriteByte('(')
			for c := 0; c < int(rec.NumCols()); c++ {
				if c > 0 {
					sb.WriteString(", ")
				}
				sb.WriteString(sqlLiteral(rec.Column(c), r))
			}
			sb.WriteByte(')')
			rows++
			if rows == perStmt {
				flush()
			}
		}
	}
	flush()
	return out
}

// sqlLiteral renders row i of col as a SQL literal.
func sqlLiteral(col arrow.Array, i int) string {
	if col.IsNull(i) {
		return "NULL"
	}
	switch a := col.(type) {
	case *array.Int64:
		return strconv.FormatInt(a.Value(i), 10)
	case *array.Int32:
		return strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Decimal128:
		return a.ValueStr(i)
	case *array.Float64:
		return strconv.FormatFloat(a.Value(i), 'g', -1, 64)
	case *array.String:
		return "'" + strings.ReplaceAll(a.Value(i), "'", "''") + "'"
	case *array.Date32:
		return "DATE '" + a.Value(i).ToTime().Format(time.DateOnly) + "'"
	}
	return "'" + strings.ReplaceAll(col.ValueStr(i), "'", "''") + "'"
}

// latencyStats summarises a set of latencies.
type latencyStats struct {
	Count  int     `json:"count"`
	P50US  float64 `json:"p50_us"`
	P99US  float64 `json:"p99_us"`
	P999US float64 `json:"p999_us"`
	MaxUS  float64 `json:"max_us"`
}

func summarize(lat []time.Duration) latencyStats {
	slicesSortDurations(lat)
	s := latencyStats{Count: len(lat)}
	if len(lat) > 0 {
		s.P50US, s.P99US, s.P999US = us(percentile(lat, 0.5)), us(percentile(lat, 0.99)), us(percentile(lat, 0.999))
		s.MaxUS = us(lat[len(lat)-1])
	}
	return s
}

func decimal128FromInt(v int64) decimal128.Num { return decimal128.FromI64(v) }
