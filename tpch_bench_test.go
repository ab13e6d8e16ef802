//go:build unix

package mantisdb_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/internal/tpch"
)

var (
	tpchDir = flag.String("tpch.dir", "",
		"MantisDB database directory with loaded TPC-H tables for BenchmarkTPCH "+
			"(e.g. <dir>/tpch-sf1/mantisdb of `cd bench && go run . -bench tpch -engines mantisdb -dir <dir> -keep`)")
	tpchCompact = flag.Bool("tpch.compact", false, "BenchmarkTPCH first compacts every table of -tpch.dir (moves rows left in the row store into segments)")
	tpchFrom    = flag.String("tpch.from", "",
		"BenchmarkTPCH first copies every table of this database into a new -tpch.dir and compacts it, "+
			"so that the segments are written by the code under test")
	tpchExplain = flag.Bool("tpch.explain", false, "BenchmarkTPCH logs the EXPLAIN output of each query")
	tpchQueries = flag.String("tpch.queries", "1-22", "TPC-H queries BenchmarkTPCH runs, e.g. 1,3,5-7")
)

// BenchmarkTPCH runs the TPC-H queries on a database the bench harness
// loaded and kept, so that queries can be profiled without reloading:
//
//	cd bench && go run . -bench tpch -sf 1 -engines mantisdb -queries 1 -dir D -keep -docs ''
//	go test -run '^$' -bench TPCH -benchtime 3x -tpch.dir D/tpch-sf1/mantisdb -cpuprofile cpu.out .
//
// One sub-benchmark per query (Q01 … Q22); the database is opened once,
// read-only in spirit (the background compactor is off). It is skipped
// without -tpch.dir.
func BenchmarkTPCH(b *testing.B) {
	if *tpchDir == "" {
		b.Skip("no -tpch.dir")
	}
	queries, err := parseQueryList(*tpchQueries, len(tpch.Queries))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if *tpchFrom != "" {
		if _, err := os.Stat(*tpchDir); err == nil {
			b.Fatalf("-tpch.from: %s exists", *tpchDir)
		}
		if err := copyDatabase(ctx, b, *tpchFrom, *tpchDir); err != nil {
			b.Fatal(err)
		}
	}
	db, err := mantisdb.Open(*tpchDir, &mantisdb.Options{
		CompactInterval: -1,
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if *tpchCompact {
		for _, t := range db.Tables() {
			res, err := db.Compact(ctx, t.Name)
			if err != nil {
				b.Fatalf("compact %s: %v", t.Name, err)
			}
			b.Logf("compacted %s: %d rows in %v", t.Name, res.Rows, res.Duration)
		}
	}
	for _, q := range queries {
		if *tpchExplain {
			rs, err := db.Query(ctx, "explain "+tpch.Queries[q-1])
			if err != nil {
				b.Fatal(err)
			}
			var plan strings.Builder
			for rs.Next() {
				rec := rs.Record()
				for i := 0; i < int(rec.NumRows()); i++ {
					plan.WriteString(rec.Column(0).ValueStr(i))
					plan.WriteByte('\n')
				}
			}
			rs.Close()
			b.Logf("Q%02d:\n%s", q, plan.String())
		}
		b.Run(fmt.Sprintf("Q%02d", q), func(b *testing.B) {
			var rows int64
			cpu0 := processCPU()
			for i := 0; i < b.N; i++ {
				rs, err := db.Query(ctx, tpch.Queries[q-1])
				if err != nil {
					b.Fatal(err)
				}
				rows = 0
				for rs.Next() {
					rows += rs.Record().NumRows()
				}
				if err := rs.Err(); err != nil {
					b.Fatal(err)
				}
				rs.Close()
			}
			b.ReportMetric(float64(rows), "rows")
			// CPU time of the process per query: on a shared machine a
			// steadier measure than the elapsed time.
			b.ReportMetric(float64(processCPU()-cpu0)/1e6/float64(b.N), "cpu-ms/op")
		})
	}
}

// copyDatabase copies every table of the database in src into a new one
// in dst (same columns and primary keys, rows ingested in batches of about
// 100K rows) and compacts each table there.
func copyDatabase(ctx context.Context, b *testing.B, src, dst string) error {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	from, err := mantisdb.Open(src, &mantisdb.Options{CompactInterval: -1, Logger: quiet})
	if err != nil {
		return err
	}
	defer from.Close()
	to, err := mantisdb.Open(dst, &mantisdb.Options{CompactInterval: -1, Logger: quiet})
	if err != nil {
		return err
	}
	defer to.Close()
	for _, t := range from.Tables() {
		var ddl strings.Builder
		fmt.Fprintf(&ddl, "create table %s (", t.Name)
		for i, c := range t.Columns {
			if i > 0 {
				ddl.WriteString(", ")
			}
			fmt.Fprintf(&ddl, "%s %s", c.Name, c.Type)
			if c.NotNull {
				ddl.WriteString(" not null")
			}
		}
		if len(t.PrimaryKey) > 0 {
			ddl.WriteString(", primary key (")
			for i, k := range t.PrimaryKey {
				if i > 0 {
					ddl.WriteString(", ")
				}
				ddl.WriteString(t.Columns[k].Name)
			}
			ddl.WriteString(")")
		}
		ddl.WriteString(")")
		if _, err := to.Exec(ctx, ddl.String()); err != nil {
			return fmt.Errorf("%s: %w", ddl.String(), err)
		}
		rows, err := from.Query(ctx, "select * from "+t.Name)
		if err != nil {
			return err
		}
		var pending []arrow.RecordBatch
		var n int64
		flush := func() error {
			if len(pending) == 0 {
				return nil
			}
			rdr, err := array.NewRecordReader(pending[0].Schema(), pending)
			for _, r := range pending {
				r.Release()
			}
			pending, n = pending[:0], 0
			if err != nil {
				return err
			}
			defer rdr.Release()
			_, err = to.Ingest(ctx, t.Name, rdr)
			return err
		}
		for rows.Next() {
			rec := rows.Record()
			rec.Retain()
			pending = append(pending, rec)
			if n += rec.NumRows(); n >= 100_000 {
				if err := flush(); err != nil {
					rows.Close()
					return err
				}
			}
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return err
		}
		rows.Close()
		if err := flush(); err != nil {
			return err
		}
		res, err := to.Compact(ctx, t.Name)
		if err != nil {
			return err
		}
		b.Logf("copied %s: %d rows compacted in %v", t.Name, res.Rows, res.Duration)
	}
	return nil
}

// processCPU returns the user and system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// parseQueryList parses "1,3,5-7" into query numbers in [1, n].
func parseQueryList(s string, n int) ([]int, error) {
	var out []int
	for len(s) > 0 {
		var part string
		part, s, _ = strings.Cut(s, ",")
		var lo, hi int
		if _, err := fmt.Sscanf(part, "%d-%d", &lo, &hi); err != nil {
			if _, err := fmt.Sscanf(part, "%d", &lo); err != nil {
				return nil, fmt.Errorf("bad query list entry %q", part)
			}
			hi = lo
		}
		if lo < 1 || hi > n || lo > hi {
			return nil, fmt.Errorf("query range %q out of 1-%d", part, n)
		}
		for q := lo; q <= hi; q++ {
			out = append(out, q)
		}
	}
	return out, nil
}
