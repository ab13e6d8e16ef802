package logictest_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/mantisdb/mantisdb/internal/logictest"
)

// TestEngineDDL runs testdata/sql/ddl/*.test: the schema changes (views,
// CREATE TABLE AS, TRUNCATE, ALTER TABLE, indexes) and upserts, which
// only the real engine executes (the planner's in-memory runner knows
// CREATE and DROP TABLE only), in the same three storage modes as
// TestEngine.
func TestEngineDDL(t *testing.T) {
	files, err := logictest.Files(filepath.Join("..", "..", "testdata", "sql", "ddl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no test files")
	}
	for _, f := range files {
		recs, err := logictest.ParseFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []mode{rowStore, segmentsOnly, mixed} {
			t.Run(fmt.Sprintf("%s/%s", filepath.Base(f), m), func(t *testing.T) {
				t.Parallel()
				runFile(t, recs, m, 7)
			})
		}
	}
}
