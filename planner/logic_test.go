package planner

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/mantisdb/mantisdb/internal/logictest"
)

// TestLogic runs the logic-test files testdata/sql/*.test of the module
// (format: package internal/logictest) over the in-memory provider. Every
// file runs with the stored data in batches of 1, 7 and 1024 rows; compact
// records are no-ops here (internal/logictest runs the files over the real
// engine's storage tiers). Batches of 7 prepare through a Cache, so the
// statement shapes (sql.Normalize) must give the results of their texts.
func TestLogic(t *testing.T) {
	files, err := logictest.Files(filepath.Join("..", "testdata", "sql"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		recs, err := logictest.ParseFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, chunk := range []int{1, 7, 1024} {
			t.Run(fmt.Sprintf("%s/batch=%d", filepath.Base(f), chunk), func(t *testing.T) {
				s := newStore(t)
				s.chunk = chunk
				if chunk == 7 {
					s.cache = NewCache(0)
				}
				for i := range recs {
					r := &recs[i]
					if r.Kind == logictest.KindCompact {
						continue
					}
					rows, _, err := s.run(r.SQL)
					if err := r.Check(rows, err); err != nil {
						t.Error(err)
					}
				}
			})
		}
	}
}
