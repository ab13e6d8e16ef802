package mantisdb_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

func TestSystemTables(t *testing.T) {
	db := manual(t, t.TempDir())
	defer db.Close()
	exec(t, db, "create table t (k bigint primary key, v bigint, s varchar)")
	exec(t, db, "create table u (a int, b double)")
	insertRange(t, db, 0, 300)
	compact(t, db, "t")
	insertRange(t, db, 300, 310)
	exec(t, db, "delete from t where k < 5")
	exec(t, db, "insert into u values (1, 1.5)")

	for _, c := range []struct{ sql, want string }{
		{"select table_name, table_id, columns, primary_key, schema_version from system.tables order by table_name",
			"t|1|k BIGINT NOT NULL, v BIGINT, s VARCHAR|k|1\nu|2|a INT, b DOUBLE|NULL|1\n"},
		{"select table_name, total_rows, row_store_rows, segment_rows, segment_count, segment_bytes > 0, bytes = row_store_bytes + segment_bytes from system.tables order by 1",
			"t|305|10|295|1|true|true\nu|1|1|0|0|false|true\n"},
		{"select table_name, segment_id, total_rows, deleted_rows, live_rows, bytes = file_bytes + index_bytes, row_groups, schema_version, created is not null, sort_key, min_key, max_key, level from system.segments",
			"t|1|300|5|295|true|5|1|true|k|0|299|0\n"},
		{"select kind, table_name, rows_in, rows_out, segments_in, segments_out, segment_id, bytes_out > 0, duration_ms >= 0, error from system.compactions",
			"compaction|t|300|300|0|1|1|true|true|NULL\n"},
		// Joins, aggregates and ORDER BY work as on any table; so do
		// qualified column names and SYSTEM written in capitals.
		{"select t.table_name, sum(s.live_rows) from SYSTEM.tables t join system.segments s on s.table_id = t.table_id group by t.table_name",
			"t|295\n"},
		{"select tables.table_name from system.tables where tables.segment_count = 0", "u\n"},
		{"select count(*) from system.locks", "0\n"},
	} {
		if got := render(query(t, db, c.sql)); got != c.want {
			t.Errorf("%s:\ngot\n%swant\n%s", c.sql, got, c.want)
		}
	}

	for _, c := range []struct {
		sql  string
		code sqlstate.Code
	}{
		{"insert into system.tables (table_name) values ('x')", sqlstate.WrongObjectType},
		{"insert into system.segments select * from system.segments", sqlstate.WrongObjectType},
		{"update system.tables set table_id = 1", sqlstate.WrongObjectType},
		{"delete from system.locks", sqlstate.WrongObjectType},
		{"drop table system.compactions", sqlstate.WrongObjectType},
		{"drop table if exists system.tables", sqlstate.WrongObjectType},
		{"truncate table system.segments", sqlstate.WrongObjectType},
		{"create table system.x (a int)", sqlstate.InsufficientPrivilege},
		{"alter table system.tables add column x int", sqlstate.WrongObjectType},
		{"create index i on system.tables (table_name)", sqlstate.WrongObjectType},
		{"select * from system.nope", sqlstate.UndefinedTable},
		{"select * from other.tables", sqlstate.FeatureNotSupported},
		{"select * from tables", sqlstate.UndefinedTable},
	} {
		_, err := db.Exec(context.Background(), c.sql)
		if sqlstate.CodeOf(err) != c.code {
			t.Errorf("%s: error %v, want code %s", c.sql, err, c.code)
		}
	}
	// A view over a system table reads it like any table.
	exec(t, db, "create view sizes as select table_name, total_rows from system.tables")
	if got := render(query(t, db, "select * from sizes order by table_name")); got != "t|305\nu|1\n" {
		t.Errorf("view over system.tables: %q", got)
	}
	exec(t, db, "drop view sizes")
	if n := len(db.Tables()); n != 2 {
		t.Errorf("DB.Tables lists %d tables, want the 2 user tables", n)
	}
}

// TestSystemLocks shows a lock holder and a waiter.
func TestSystemLocks(t *testing.T) {
	db := manual(t, t.TempDir())
	defer db.Close()
	ctx := context.Background()
	exec(t, db, "create table t (k bigint primary key, v bigint, s varchar)")
	insertRange(t, db, 0, 3)
	holder := begin(t, db)
	txExec(t, holder, "update t set v = 1 where k = 1")
	// Reading system tables inside a transaction works too.
	rows, err := holder.Query(ctx, "select count(*) from system.locks where granted and table_name = 't'")
	if err != nil {
		t.Fatal(err)
	}
	rows.Close()

	done := make(chan error, 1)
	go func() {
		_, err := db.Exec(ctx, "update t set v = 2 where k = 1")
		done <- err
	}()
	var got string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		got = render(query(t, db, "select level, table_name, mode, granted, wait_started is not null, wait_ms >= 0 from system.locks where level = 'row' order by granted desc"))
		if strings.Count(got, "\n") == 2 {
			break
		}
	}
	if want := "row|t|X|true|false|NULL\nrow|t|X|false|true|true\n"; got != want {
		t.Errorf("system.locks rows:\n%swant\n%s", got, want)
	}
	if got := render(query(t, db, "select count(*) from system.locks where level = 'table' and granted and table_id = 1")); got != "2\n" {
		t.Errorf("table locks granted: %s", got)
	}
	if err := holder.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := render(query(t, db, "select count(*) from system.locks")); got != "0\n" {
		t.Errorf("locks left: %s", got)
	}
}

// TestSystemCompactionsFailure records a failed compaction with its error
// and the successful retry.
func TestSystemCompactionsFailure(t *testing.T) {
	base := vfs.NewMem()
	inj := &segmentFaults{k: 1, pick: func(op errorfs.Op) bool { return op.Kind == errorfs.OpCreate }}
	db := openFS(t, errorfs.Wrap(base, inj))
	defer db.Close()
	exec(t, db, "create table t (k bigint primary key, v bigint, s varchar)")
	insertRange(t, db, 0, 100)
	inj.armed.Store(true)
	if _, err := db.Compact(context.Background(), "t"); err == nil {
		t.Fatal("compaction did not fail")
	}
	inj.armed.Store(false)
	compact(t, db, "t")
	got := render(query(t, db, "select kind, rows_out, segments_out, segment_id is null, error is not null, error like '%injected%' from system.compactions order by started"))
	if want := "compaction|0|0|true|true|true\ncompaction|100|1|false|false|NULL\n"; got != want {
		t.Errorf("system.compactions:\n%swant\n%s", got, want)
	}
	if s := db.CompactorStats(); len(s.Recent) != 2 {
		t.Errorf("CompactorStats.Recent has %d runs, want 2", len(s.Recent))
	}
}
