package mantisdb_test

import (
	"context"
	"testing"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// TestViewSurvivesReopen: a view's descriptor is persisted; after a reopen
// the view answers as before, and CREATE OR REPLACE and DROP VIEW persist
// too.
func TestViewSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	db := open(t, dir)
	exec(t, db, "create table t (id int primary key, v int)")
	exec(t, db, "insert into t values (1, 10), (2, 20), (3, 30)")
	exec(t, db, "create view big (k) as select id from t where v >= 20")
	exec(t, db, "create view small as select id from t where v < 20")
	exec(t, db, "create or replace view small as select id, v from t where v < 30")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open(t, dir)
	if got := render(query(t, db, "select k from big order by k")); got != "2\n3\n" {
		t.Errorf("big after reopen = %q", got)
	}
	if got := render(query(t, db, "select id, v from small order by id")); got != "1|10\n2|20\n" {
		t.Errorf("replaced small after reopen = %q", got)
	}
	exec(t, db, "drop view big")
	// Views and tables share one namespace.
	_, err := db.Exec(context.Background(), "create table small (a int)")
	wantCode(t, err, sqlstate.DuplicateTable)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open(t, dir)
	defer db.Close()
	_, err = db.Query(context.Background(), "select * from big")
	wantCode(t, err, sqlstate.UndefinedTable)
	exec(t, db, "create table big (a int)") // the name is free again
}

// TestTxRefusesNewDDL: every schema change is refused inside a transaction
// (25001) and aborts it, like CREATE and DROP TABLE.
func TestTxRefusesNewDDL(t *testing.T) {
	ctx := context.Background()
	db := accounts(t, nil, 1, 100)
	defer db.Close()
	exec(t, db, "create view v as select * from accounts")
	for _, q := range []string{
		"create view w as select 1 as a",
		"drop view v",
		"truncate accounts",
		"create table c as select * from accounts",
	} {
		tx := begin(t, db)
		if _, err := tx.Exec(ctx, q); code(err) != sqlstate.ActiveSQLTransaction {
			t.Errorf("%s in a transaction: %v, want 25001", q, err)
		}
		if err := tx.Commit(ctx); code(err) != sqlstate.InFailedSQLTransaction {
			t.Errorf("commit after %s: %v, want 25P02", q, err)
		}
	}
	if got := one(t, db, "select count(*) from v"); got != 1 {
		t.Errorf("count = %d after refused DDL", got)
	}
}
