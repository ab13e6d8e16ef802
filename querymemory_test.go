package mantisdb_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// TestQueryMemory checks Options.QueryMemory: a statement whose operators
// hold more fails with 53200 and the database goes on serving; a budget in
// the caller's context takes the option's place.
func TestQueryMemory(t *testing.T) {
	db, err := mantisdb.Open(t.TempDir(), &mantisdb.Options{QueryMemory: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	exec(t, db, "create table t (id bigint primary key, s varchar)")
	for lo := 0; lo < 4000; lo += 1000 {
		var vals []string
		for i := lo; i < lo+1000; i++ {
			vals = append(vals, fmt.Sprintf("(%d, '%0100d')", i, i))
		}
		exec(t, db, "insert into t values "+strings.Join(vals, ", "))
	}
	const big = "select id % 3, string_agg(s, ',') from t group by id % 3"
	for _, q := range []string{big, "select * from t order by s desc"} {
		if err := drainQuery(ctx, db, q); sqlstate.CodeOf(err) != sqlstate.OutOfMemory {
			t.Errorf("%s: err = %v, want 53200", q, err)
		}
	}
	if err := drainQuery(ctx, db, "select count(*), max(s) from t"); err != nil {
		t.Fatalf("after a statement over its budget: %v", err)
	}
	if err := drainQuery(arrowexec.WithBudget(ctx, arrowexec.NewBudget(0)), db, big); err != nil {
		t.Fatalf("with an unlimited budget from the caller: %v", err)
	}
}

// drainQuery runs q and reads all its rows.
func drainQuery(ctx context.Context, db *mantisdb.DB, q string) error {
	rows, err := db.Query(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
	}
	return rows.Err()
}
