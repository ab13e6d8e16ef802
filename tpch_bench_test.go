package mantisdb_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/internal/tpch"
)

var (
	tpchDir = flag.String("tpch.dir", "",
		"MantisDB database directory with loaded TPC-H tables for BenchmarkTPCH "+
			"(e.g. <dir>/tpch-sf1/mantisdb of `cd bench && go run . -bench tpch -engines mantisdb -dir <dir> -keep`)")
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
	db, err := mantisdb.Open(*tpchDir, &mantisdb.Options{
		CompactInterval: -1,
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for _, q := range queries {
		b.Run(fmt.Sprintf("Q%02d", q), func(b *testing.B) {
			var rows int64
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
		})
	}
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
