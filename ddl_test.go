package mantisdb_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/mantisdb/mantisdb"
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

// TestIngestWithConflicts: IngestWith skips or replaces rows whose key is
// taken in the row store or in a segment, atomically per call, and inside
// a transaction.
func TestIngestWithConflicts(t *testing.T) {
	ctx := context.Background()
	db := manual(t, t.TempDir())
	defer db.Close()
	exec(t, db, "create table accounts (id bigint primary key, balance bigint)")
	exec(t, db, "insert into accounts values (1, 10), (2, 20)")
	compact(t, db, "accounts")                         // keys 1, 2 in a segment
	exec(t, db, "insert into accounts values (3, 30)") // key 3 in the row store

	_, err := db.Ingest(ctx, "accounts", recordReader(t, `[{"id": 2, "balance": 0}]`))
	wantCode(t, err, sqlstate.UniqueViolation)

	n, err := db.IngestWith(ctx, "accounts", recordReader(t, `[{"id": 2, "balance": 0}, {"id": 3, "balance": 0}, {"id": 4, "balance": 40}]`),
		mantisdb.IngestOptions{OnConflict: mantisdb.ConflictIgnore})
	if err != nil || n != 1 {
		t.Fatalf("ignore: %d, %v; want 1 row", n, err)
	}
	if got := render(query(t, db, "select id, balance from accounts order by id")); got != "1|10\n2|20\n3|30\n4|40\n" {
		t.Errorf("after ignore:\n%s", got)
	}
	n, err = db.IngestWith(ctx, "accounts", recordReader(t, `[{"id": 1, "balance": 11}, {"id": 3, "balance": 33}, {"id": 5, "balance": 50}, {"id": 5, "balance": 55}]`),
		mantisdb.IngestOptions{OnConflict: mantisdb.ConflictReplace})
	if err != nil || n != 4 {
		t.Fatalf("replace: %d, %v; want 4 rows", n, err)
	}
	if got := render(query(t, db, "select id, balance from accounts order by id")); got != "1|11\n2|20\n3|33\n4|40\n5|55\n" {
		t.Errorf("after replace:\n%s", got)
	}
	// Inside a transaction: seen by the transaction, gone with its rollback.
	tx := begin(t, db)
	if _, err := tx.IngestWith(ctx, "accounts", recordReader(t, `[{"id": 2, "balance": 99}]`),
		mantisdb.IngestOptions{OnConflict: mantisdb.ConflictReplace}); err != nil {
		t.Fatal(err)
	}
	if got := one(t, tx, "select balance from accounts where id = 2"); got != 99 {
		t.Errorf("in tx: balance %d, want 99", got)
	}
	tx.Rollback()
	if got := one(t, db, "select balance from accounts where id = 2"); got != 20 {
		t.Errorf("after rollback: balance %d, want 20", got)
	}
	// Upserts of segment rows then compaction: each row is still once.
	compact(t, db, "accounts")
	if got := one(t, db, "select count(*) from accounts"); got != 5 {
		t.Errorf("count after compaction = %d, want 5", got)
	}
}

// TestAlterAcrossReopenAndTransactions: an altered descriptor survives a
// reopen with its older segments still readable; a transaction that began
// before an ALTER TABLE cannot read or write the table in the old layout
// (40001), and single statements prepared before it are bound again.
func TestAlterAcrossReopenAndTransactions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := manual(t, dir)
	exec(t, db, "create table t (id int primary key, a varchar(5), b int)")
	exec(t, db, "insert into t values (1, 'x', 10), (2, 'y', 20)")
	compact(t, db, "t")
	exec(t, db, "insert into t values (3, 'z', 30)")
	st, err := db.Prepare(ctx, "select sum(b) from t")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tx := begin(t, db)
	exec(t, db, "alter table t drop column a")
	exec(t, db, "alter table t rename column b to c")
	_, err = tx.Query(ctx, "select * from t")
	wantCode(t, err, sqlstate.SerializationFailure)
	tx.Rollback()
	// The prepared statement names a column that is gone now.
	_, err = st.Query(ctx)
	wantCode(t, err, sqlstate.UndefinedColumn)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = manual(t, dir)
	defer db.Close()
	if got := render(query(t, db, "select id, c from t order by id")); got != "1|10\n2|20\n3|30\n" {
		t.Errorf("after reopen:\n%s", got)
	}
	compact(t, db, "t")
	exec(t, db, "update t set c = c + 1 where id <= 2")
	if got := render(query(t, db, "select * from t order by id")); got != "1|11\n2|21\n3|30\n" {
		t.Errorf("after update:\n%s", got)
	}
}

// TestAlterBatchEntries: a bulk ingest's batch entries read correctly
// after columns are dropped and added, before and after compaction.
func TestAlterBatchEntries(t *testing.T) {
	ctx := context.Background()
	db := manual(t, t.TempDir())
	defer db.Close()
	exec(t, db, "create table accounts (id bigint primary key, note varchar(10), balance bigint)")
	var b strings.Builder
	b.WriteString("[")
	for i := 0; i < 200; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id": %d, "balance": %d}`, i, i*10)
	}
	b.WriteString("]")
	if _, err := db.Ingest(ctx, "accounts", recordReader(t, b.String())); err != nil {
		t.Fatal(err)
	}
	// Read the entries first, so that their decoded bodies are cached.
	if got := render(query(t, db, "select id, balance from accounts where id = 7")); got != "7|70\n" {
		t.Errorf("before alter: row 7 = %s", got)
	}
	exec(t, db, "alter table accounts drop column note")
	exec(t, db, "alter table accounts add column note int")
	check := func(when string) {
		t.Helper()
		if got := render(query(t, db, "select count(*), sum(balance), count(note) from accounts")); got != "200|199000|0\n" {
			t.Errorf("%s: %s", when, got)
		}
		if got := render(query(t, db, "select * from accounts where id = 7")); got != "7|70|NULL\n" {
			t.Errorf("%s: row 7 = %s", when, got)
		}
	}
	check("batch entries")
	compact(t, db, "accounts")
	check("compacted")
}

// TestAlterDefaultIngestReopen: a column added with a default reads it
// in bulk batch entries written before, is written by ingests that omit
// it, and survives a reopen (descriptor format 3) and a compaction.
func TestAlterDefaultIngestReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := manual(t, dir)
	exec(t, db, "create table accounts (id bigint primary key, balance bigint)")
	ingest := func(lo, hi int) {
		t.Helper()
		var b strings.Builder
		b.WriteString("[")
		for i := lo; i < hi; i++ {
			if i > lo {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"id": %d, "balance": %d}`, i, i)
		}
		b.WriteString("]")
		if _, err := db.Ingest(ctx, "accounts", recordReader(t, b.String())); err != nil {
			t.Fatal(err)
		}
	}
	ingest(0, 100)
	exec(t, db, "alter table accounts add column region varchar(4) not null default 'eu', add column tier int default -2")
	ingest(100, 200)
	check := func(when string) {
		t.Helper()
		if got := render(query(t, db, "select count(*), count(region), min(region), max(region), sum(tier) from accounts")); got != "200|200|eu|eu|-400\n" {
			t.Errorf("%s: %s", when, got)
		}
		if got := render(query(t, db, "select * from accounts where id in (7, 107) order by id")); got != "7|7|eu|-2\n107|107|eu|-2\n" {
			t.Errorf("%s: rows = %s", when, got)
		}
	}
	check("batch entries")
	db.Close()
	db = manual(t, dir)
	defer db.Close()
	check("reopened")
	compact(t, db, "accounts")
	check("compacted")
}

// TestCreateIndex: a column with too many distinct values for the default
// bitmap threshold gets its bitmap index in new segments once it has an
// index, EXPLAIN names the index for = and IN, and DROP INDEX and reopen
// keep the catalog right.
func TestCreateIndex(t *testing.T) {
	dir := t.TempDir()
	db := manual(t, dir)
	for _, tbl := range []string{"plain", "indexed"} {
		exec(t, db, "create table "+tbl+" (id int primary key, v int)")
		var b strings.Builder
		b.WriteString("insert into " + tbl + " values ")
		for i := 0; i < 2000; i++ { // 2000 distinct values, not in key order
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "(%d, %d)", i, (i*7919)%2000)
		}
		exec(t, db, b.String())
	}
	exec(t, db, "create index iv on indexed (v)")
	_, err := db.Exec(context.Background(), "create index iv on indexed (id)")
	wantCode(t, err, sqlstate.DuplicateTable)
	compact(t, db, "plain")
	compact(t, db, "indexed")
	pruned := func(tbl string) string {
		t.Helper()
		for _, r := range query(t, db, "explain analyze select count(*) from "+tbl+" where v = 77") {
			if i := strings.Index(r[0], "bitmaps="); i >= 0 {
				return strings.Fields(r[0][i:])[0]
			}
		}
		return "no scan line"
	}
	if got := pruned("plain"); got != "bitmaps=0" {
		t.Errorf("plain: %s, want bitmaps=0", got)
	}
	if got := pruned("indexed"); got == "bitmaps=0" || got == "no scan line" {
		t.Errorf("indexed: %s, want row groups pruned by bitmaps", got)
	}
	if got := one(t, db, "select count(*) from indexed where v in (77, 78)"); got != 2 {
		t.Errorf("count = %d, want 2", got)
	}
	explain := func(q string) string {
		t.Helper()
		return render(query(t, db, "explain "+q))
	}
	for _, q := range []string{"select * from indexed where v = 5", "select * from indexed where v in (5, 6) and id > 3"} {
		if got := explain(q); !strings.Contains(got, "Index iv (bitmap) on v") {
			t.Errorf("%s:\n%s", q, got)
		}
	}
	if got := explain("select * from indexed where v > 5"); strings.Contains(got, "Index iv") {
		t.Errorf("range predicate shows the index:\n%s", got)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = manual(t, dir)
	defer db.Close()
	if got := explain("select * from indexed where v = 5"); !strings.Contains(got, "Index iv") {
		t.Errorf("index lost at reopen:\n%s", got)
	}
	exec(t, db, "drop index iv on indexed")
	if got := explain("select * from indexed where v = 5"); strings.Contains(got, "Index iv") {
		t.Errorf("dropped index still shown:\n%s", got)
	}
}

// TestTruncateSnapshots: TRUNCATE empties every tier at once; a
// transaction that began before it keeps reading the old rows, and the
// table takes new rows (with keys of the removed ones) at once.
func TestTruncateSnapshots(t *testing.T) {
	ctx := context.Background()
	db := manual(t, t.TempDir())
	defer db.Close()
	exec(t, db, "create table t (id int primary key, v int, s varchar(10))")
	insertRange(t, db, 0, 100)
	compact(t, db, "t")
	insertRange(t, db, 100, 150)
	tx := begin(t, db)
	if got := one(t, tx, "select count(*) from t"); got != 150 {
		t.Fatalf("count = %d", got)
	}
	if n := exec(t, db, "truncate table t"); n != 0 {
		t.Errorf("truncate returned %d", n)
	}
	if got := one(t, db, "select count(*) from t"); got != 0 {
		t.Errorf("count after truncate = %d", got)
	}
	if got := one(t, tx, "select count(*) from t"); got != 150 {
		t.Errorf("the older snapshot sees %d rows, want 150", got)
	}
	tx.Rollback()
	if st := stats(t, db, "t"); st.FreshRows != 0 || st.SegmentRows != 0 || len(st.Segments) != 0 {
		t.Errorf("stats after truncate: %+v", st)
	}
	insertRange(t, db, 0, 10)
	compact(t, db, "t")
	if got := one(t, db, "select count(*) from t where id < 10"); got != 10 {
		t.Errorf("count = %d after refill", got)
	}
	_, err := db.Exec(ctx, "truncate system.tables")
	wantCode(t, err, sqlstate.WrongObjectType)
}

// TestAlterUnderLoad: ALTER TABLE while single-statement writers, readers
// and compactions run: no statement fails (they are bound again and
// retried) and no row is lost or misread.
func TestAlterUnderLoad(t *testing.T) {
	ctx := context.Background()
	db := manual(t, t.TempDir())
	defer db.Close()
	exec(t, db, "create table t (id int primary key, a int, b varchar(10))")
	const writers, perWriter = 3, 40
	errs := make(chan error, 16)
	done := make(chan struct{})
	var wg, rg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				k := w*perWriter + i
				if _, err := db.Exec(ctx, fmt.Sprintf("insert into t (id, a) values (%d, %d)", k, k)); err != nil {
					errs <- fmt.Errorf("insert %d: %w", k, err)
					return
				}
			}
		}(w)
	}
	rg.Add(1)
	go func() {
		defer rg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			rows, err := db.Query(ctx, "select count(*), sum(a) from t")
			if err == nil {
				for rows.Next() {
				}
				err = rows.Err()
				rows.Close()
			}
			if err != nil {
				errs <- fmt.Errorf("select: %w", err)
				return
			}
			if _, err := db.Compact(ctx, "t"); err != nil {
				errs <- fmt.Errorf("compact: %w", err)
				return
			}
		}
	}()
	for i := 0; i < 4; i++ {
		exec(t, db, fmt.Sprintf("alter table t add column c%d int", i))
		exec(t, db, "alter table t drop column b")
		exec(t, db, "alter table t add column b varchar(10)")
		exec(t, db, fmt.Sprintf("alter table t drop column c%d", i))
	}
	wg.Wait()
	close(done)
	rg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	n := writers * perWriter
	if got := render(query(t, db, "select count(*), sum(a), count(b) from t")); got != fmt.Sprintf("%d|%d|0\n", n, n*(n-1)/2) {
		t.Errorf("after the load: %s", got)
	}
}
