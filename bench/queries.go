package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/mantisdb/mantisdb/internal/tpch"
)

// tpchQueries are the 22 TPC-H queries (internal/tpch documents their text).
// tpchQueries[i] is query i+1.
var tpchQueries = tpch.Queries

// tpchScript returns query q (1-based) in the specification's text: Q15
// with its CREATE VIEW before and DROP VIEW after the query.
func tpchScript(q int) tpch.Script { return tpch.Statements(q) }

// runScript runs the statements of a script around query, which runs
// the script's query: the statements before it, then it, then the ones
// after it, also when it failed.
func runScript(ctx context.Context, e engine, sc tpch.Script, query func() error) error {
	for _, s := range sc.Before {
		if _, err := e.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", firstLine(s), err)
		}
	}
	qerr := query()
	for _, s := range sc.After {
		if _, err := e.Exec(context.WithoutCancel(ctx), s); err != nil && qerr == nil {
			qerr = fmt.Errorf("%s: %w", firstLine(s), err)
		}
	}
	return qerr
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
