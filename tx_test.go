package mantisdb_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/lockmgr"
)

var bankDuration = flag.Duration("bank.duration", 2*time.Second, "how long TestBank runs its transfers")

// queryer is what DB, Tx and Session have in common for reads.
type queryer interface {
	Query(ctx context.Context, sql string) (*mantisdb.Rows, error)
}

// ints runs sql and returns the first column of every row as int64 (via
// the cell's string form, so any integer or decimal type works).
func ints(t testing.TB, q queryer, sql string) ([]int64, error) {
	rows, err := q.Query(context.Background(), sql)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		col := rows.Record().Column(0)
		for i := 0; i < col.Len(); i++ {
			v, err := strconv.ParseInt(col.ValueStr(i), 10, 64)
			if err != nil {
				t.Fatalf("%s: cell %q: %v", sql, col.ValueStr(i), err)
			}
			out = append(out, v)
		}
	}
	return out, rows.Err()
}

// one runs sql, which must return one integer.
func one(t testing.TB, q queryer, sql string) int64 {
	t.Helper()
	v, err := ints(t, q, sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	if len(v) != 1 {
		t.Fatalf("%s: %d rows, want 1", sql, len(v))
	}
	return v[0]
}

func begin(t testing.TB, db *mantisdb.DB) *mantisdb.Tx {
	t.Helper()
	tx, err := db.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

func txExec(t testing.TB, tx *mantisdb.Tx, sql string) {
	t.Helper()
	if _, err := tx.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func code(err error) sqlstate.Code {
	var e *sqlstate.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// accounts opens a database with n accounts holding balance each.
func accounts(t testing.TB, opts *mantisdb.Options, n, balance int) *mantisdb.DB {
	t.Helper()
	db, err := mantisdb.Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := db.Exec(ctx, "create table accounts (id bigint primary key, balance bigint not null)"); err != nil {
		t.Fatal(err)
	}
	sql := "insert into accounts values "
	for i := 0; i < n; i++ {
		if i > 0 {
			sql += ", "
		}
		sql += fmt.Sprintf("(%d, %d)", i, balance)
	}
	if n == 0 {
		return db
	}
	if _, err := db.Exec(ctx, sql); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestTxReadYourWritesAndCommit(t *testing.T) {
	db := accounts(t, nil, 3, 100)
	defer db.Close()
	tx := begin(t, db)
	txExec(t, tx, "insert into accounts values (10, 5)")
	txExec(t, tx, "update accounts set balance = balance + 1 where id = 0")
	txExec(t, tx, "delete from accounts where id = 1")
	if got := one(t, tx, "select sum(balance) from accounts"); got != 206 {
		t.Errorf("inside: sum = %d, want 206 (own insert, update and delete seen)", got)
	}
	if got := one(t, tx, "select count(*) from accounts"); got != 3 {
		t.Errorf("inside: count = %d, want 3", got)
	}
	if got := one(t, db, "select sum(balance) from accounts"); got != 300 {
		t.Errorf("outside before commit: sum = %d, want 300", got)
	}
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := one(t, db, "select sum(balance) from accounts"); got != 206 {
		t.Errorf("after commit: sum = %d, want 206", got)
	}
	if _, err := tx.Exec(context.Background(), "select 1"); code(err) != sqlstate.InvalidTxnState {
		t.Errorf("statement after commit: %v, want 25000", err)
	}
	tx.Rollback() // no-op after Commit
}

func TestTxRollback(t *testing.T) {
	db := accounts(t, nil, 3, 100)
	defer db.Close()
	tx := begin(t, db)
	txExec(t, tx, "insert into accounts values (10, 5)")
	txExec(t, tx, "update accounts set balance = 0")
	tx.Rollback()
	tx.Rollback()
	if got := one(t, db, "select sum(balance) from accounts"); got != 300 {
		t.Errorf("after rollback: sum = %d, want 300", got)
	}
	// The rolled back transaction's locks are gone: a writer proceeds.
	exec(t, db, "update accounts set balance = 1 where id = 0")
}

func TestTxSnapshotStable(t *testing.T) {
	db := accounts(t, nil, 3, 100)
	defer db.Close()
	tx := begin(t, db)
	defer tx.Rollback()
	before := one(t, tx, "select sum(balance) from accounts")
	exec(t, db, "update accounts set balance = balance + 50 where id = 2")
	exec(t, db, "insert into accounts values (7, 7)")
	if got := one(t, tx, "select sum(balance) from accounts"); got != before {
		t.Errorf("second read in the transaction: %d, want %d (its snapshot)", got, before)
	}
	if got := one(t, tx, "select count(*) from accounts"); got != 3 {
		t.Errorf("count in the transaction: %d, want 3", got)
	}
	if got := one(t, db, "select sum(balance) from accounts"); got != 357 {
		t.Errorf("outside: %d, want 357", got)
	}
}

// TestTxWriteConflict: the first writer of a row wins; the later one fails
// with 40001 whether it waited for the first one's lock or came after its
// commit, and writes nothing.
func TestTxWriteConflict(t *testing.T) {
	ctx := context.Background()
	for _, wait := range []bool{false, true} {
		t.Run(fmt.Sprintf("waits=%v", wait), func(t *testing.T) {
			db := accounts(t, nil, 3, 100)
			defer db.Close()
			t1, t2 := begin(t, db), begin(t, db)
			txExec(t, t2, "insert into accounts values (20, 1)")
			txExec(t, t1, "update accounts set balance = balance + 10 where id = 1")
			errc := make(chan error, 1)
			if wait {
				go func() {
					_, err := t2.Exec(ctx, "update accounts set balance = balance + 20 where id = 1")
					errc <- err
				}()
				time.Sleep(20 * time.Millisecond) // let t2 queue behind t1's row lock
			}
			if err := t1.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			var err error
			if wait {
				err = <-errc
			} else {
				_, err = t2.Exec(ctx, "update accounts set balance = balance + 20 where id = 1")
			}
			if code(err) != sqlstate.SerializationFailure {
				t.Fatalf("later writer: %v, want 40001", err)
			}
			if _, err := t2.Exec(ctx, "select 1"); code(err) != "25P02" {
				t.Errorf("statement in failed transaction: %v, want 25P02", err)
			}
			if err := t2.Commit(ctx); code(err) != "25P02" {
				t.Errorf("commit of failed transaction: %v, want 25P02", err)
			}
			if got := one(t, db, "select balance from accounts where id = 1"); got != 110 {
				t.Errorf("balance = %d, want 110 (the winner's update only)", got)
			}
			if got := one(t, db, "select count(*) from accounts where id = 20"); got != 0 {
				t.Errorf("the loser's insert is visible")
			}
		})
	}
}

// TestLostUpdateForbidden: two transactions read the same balance and both
// write read+amount. Snapshot isolation must not lose either deposit
// silently: the second writer fails with 40001.
func TestLostUpdateForbidden(t *testing.T) {
	ctx := context.Background()
	db := accounts(t, nil, 1, 100)
	defer db.Close()
	t1, t2 := begin(t, db), begin(t, db)
	b1 := one(t, t1, "select balance from accounts where id = 0")
	b2 := one(t, t2, "select balance from accounts where id = 0")
	txExec(t, t1, fmt.Sprintf("update accounts set balance = %d where id = 0", b1+10))
	if err := t1.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := t2.Exec(ctx, fmt.Sprintf("update accounts set balance = %d where id = 0", b2+20))
	if code(err) != sqlstate.SerializationFailure {
		t.Fatalf("second read-modify-write: %v, want 40001", err)
	}
	t2.Rollback()
	if got := one(t, db, "select balance from accounts where id = 0"); got != 110 {
		t.Errorf("balance = %d, want 110", got)
	}
}

// TestWriteSkewAllowed documents what snapshot isolation allows: two
// doctors are on call; each transaction checks that another one is and
// takes itself off. They write different rows, so both commit and nobody is
// on call. Serializable isolation would abort one.
func TestWriteSkewAllowed(t *testing.T) {
	ctx := context.Background()
	db := accounts(t, nil, 2, 1) // balance 1 = on call
	defer db.Close()
	t1, t2 := begin(t, db), begin(t, db)
	for i, tx := range []*mantisdb.Tx{t1, t2} {
		if n := one(t, tx, "select count(*) from accounts where balance = 1"); n != 2 {
			t.Fatalf("on call: %d", n)
		}
		txExec(t, tx, fmt.Sprintf("update accounts set balance = 0 where id = %d", i))
	}
	if err := t1.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := t2.Commit(ctx); err != nil {
		t.Fatalf("write skew: second commit failed (%v); snapshot isolation allows it", err)
	}
	if n := one(t, db, "select count(*) from accounts where balance = 1"); n != 0 {
		t.Errorf("on call after both: %d, want 0 (write skew)", n)
	}
}

// TestDeadlock: two transactions lock rows in opposite order; one fails with
// 40P01 within about the detection interval, the other commits.
func TestDeadlock(t *testing.T) {
	ctx := context.Background()
	const interval = 50 * time.Millisecond
	db := accounts(t, &mantisdb.Options{Locks: &lockmgr.Options{DeadlockInterval: interval}}, 2, 100)
	defer db.Close()
	t1, t2 := begin(t, db), begin(t, db)
	txExec(t, t1, "update accounts set balance = balance - 1 where id = 0")
	txExec(t, t2, "update accounts set balance = balance - 2 where id = 1")
	errs := make(chan error, 2)
	start := time.Now()
	go func() {
		_, err := t1.Exec(ctx, "update accounts set balance = balance + 1 where id = 1")
		errs <- err
	}()
	go func() {
		_, err := t2.Exec(ctx, "update accounts set balance = balance + 2 where id = 0")
		errs <- err
	}()
	first := <-errs
	elapsed := time.Since(start)
	if code(first) != sqlstate.DeadlockDetected {
		t.Fatalf("first to finish: %v, want 40P01", first)
	}
	if elapsed > 20*interval {
		t.Errorf("deadlock broken after %v, detection interval %v", elapsed, interval)
	}
	// The victim is the younger transaction, t2; its rollback lets t1 go on.
	if _, err := t2.Exec(ctx, "select 1"); code(err) != "25P02" {
		t.Errorf("victim: %v, want 25P02", err)
	}
	t2.Rollback()
	if err := <-errs; err != nil {
		t.Fatalf("survivor: %v", err)
	}
	if err := t1.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := ints(t, db, "select balance from accounts order by id")
	if err != nil || fmt.Sprint(got) != "[99 101]" {
		t.Errorf("balances %v (%v), want [99 101]", got, err)
	}
}

func TestLockTimeout(t *testing.T) {
	ctx := context.Background()
	db := accounts(t, &mantisdb.Options{Locks: &lockmgr.Options{LockTimeout: 100 * time.Millisecond}}, 1, 100)
	defer db.Close()
	t1 := begin(t, db)
	defer t1.Rollback()
	txExec(t, t1, "update accounts set balance = 1 where id = 0")
	_, err := db.Exec(ctx, "update accounts set balance = 2 where id = 0")
	if code(err) != sqlstate.LockNotAvailable {
		t.Fatalf("waiting writer: %v, want 55P03", err)
	}
}

func TestTxRefusesDDL(t *testing.T) {
	ctx := context.Background()
	db := accounts(t, nil, 1, 100)
	defer db.Close()
	tx := begin(t, db)
	txExec(t, tx, "insert into accounts values (5, 5)")
	// The refusal aborts the transaction like any failed statement.
	for _, c := range []struct {
		sql  string
		want sqlstate.Code
	}{{"create table x (a int)", "25001"}, {"drop table accounts", "25P02"}} {
		if _, err := tx.Exec(ctx, c.sql); code(err) != c.want {
			t.Errorf("%s: %v, want %s", c.sql, err, c.want)
		}
	}
	tx2 := begin(t, db)
	if _, err := tx2.Exec(ctx, "drop table accounts"); code(err) != "25001" {
		t.Errorf("drop table: %v, want 25001", err)
	}
	tx2.Rollback()
	if err := tx.Commit(ctx); code(err) != "25P02" {
		t.Errorf("commit after refused DDL: %v, want 25P02", err)
	}
	if got := one(t, db, "select count(*) from accounts"); got != 1 {
		t.Errorf("count = %d: the failed transaction's insert was committed", got)
	}
}

// TestSingleStatementRetry: concurrent single UPDATE statements of one row
// conflict; the engine retries them, so none is lost and none fails.
func TestSingleStatementRetry(t *testing.T) {
	db := accounts(t, nil, 1, 0)
	defer db.Close()
	const workers, each = 8, 15
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := db.Exec(context.Background(), "update accounts set balance = balance + 1 where id = 0"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if got := one(t, db, "select balance from accounts"); got != workers*each {
		t.Errorf("balance = %d, want %d", got, workers*each)
	}
}

func TestTxIngest(t *testing.T) {
	db := accounts(t, nil, 0, 0)
	defer db.Close()
	tx := begin(t, db)
	rdr := recordReader(t, `[{"id": 1, "balance": 10}, {"id": 2, "balance": 20}]`)
	defer rdr.Release()
	if n, err := tx.Ingest(context.Background(), "accounts", rdr); err != nil || n != 2 {
		t.Fatalf("ingest: %d, %v", n, err)
	}
	if got := one(t, tx, "select sum(balance) from accounts"); got != 30 {
		t.Errorf("inside: %d", got)
	}
	if got := one(t, db, "select count(*) from accounts"); got != 0 {
		t.Errorf("outside before commit: %d rows", got)
	}
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := one(t, db, "select sum(balance) from accounts"); got != 30 {
		t.Errorf("after commit: %d", got)
	}
}

func TestSession(t *testing.T) {
	ctx := context.Background()
	db := accounts(t, nil, 1, 100)
	defer db.Close()
	s := db.NewSession()
	run := func(sql string) error {
		_, err := s.Exec(ctx, sql)
		return err
	}
	for _, sql := range []string{
		"BEGIN", "insert into accounts values (1, 1)", "-- undo\n rollback;",
		"start transaction", "insert into accounts values (2, 2)",
	} {
		if err := run(sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if !s.InTransaction() {
		t.Error("not in a transaction after START TRANSACTION")
	}
	if got := one(t, s, "select count(*) from accounts"); got != 2 {
		t.Errorf("inside: %d rows, want 2", got)
	}
	// A statement prepared in the transaction runs in it.
	st, err := s.Prepare(ctx, "select count(*) from accounts")
	if err != nil {
		t.Fatal(err)
	}
	if err := run("COMMIT WORK"); err != nil {
		t.Fatal(err)
	}
	if s.InTransaction() {
		t.Error("in a transaction after COMMIT")
	}
	rows, err := st.Query(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if got := one(t, db, "select count(*) from accounts"); got != 2 {
		t.Errorf("after commit: %d rows, want 2 (rolled back insert absent)", got)
	}
	// A failed statement aborts the transaction until ROLLBACK.
	for _, c := range []struct {
		sql  string
		want sqlstate.Code
	}{
		{"begin", ""},
		{"insert into accounts values (2, 2)", sqlstate.UniqueViolation},
		{"select 1", "25P02"},
		{"rollback", ""},
		{"select 1", ""},
		{"begin transaction isolation level serializable", sqlstate.FeatureNotSupported},
		{"begin", ""},
		{"insert into accounts values (3, 3)", ""},
	} {
		if err := run(c.sql); code(err) != c.want {
			t.Errorf("%s: %v, want %q", c.sql, err, c.want)
		}
	}
	// Close rolls back.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := one(t, db, "select count(*) from accounts"); got != 2 {
		t.Errorf("after Close: %d rows, want 2", got)
	}
}

// TestCloseRollsBackOpenTx: Close ends transactions left open; their
// writes are gone after reopening.
func TestCloseRollsBackOpenTx(t *testing.T) {
	dir := t.TempDir()
	db := open(t, dir)
	exec(t, db, "create table t (a bigint primary key)")
	tx := begin(t, db)
	txExec(t, tx, "insert into t values (1)")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(context.Background(), "select 1"); err == nil {
		t.Error("statement in a transaction of a closed DB succeeded")
	}
	db = open(t, dir)
	defer db.Close()
	if got := one(t, db, "select count(*) from t"); got != 0 {
		t.Errorf("%d rows of the open transaction survived Close", got)
	}
}

// TestBank: 100 accounts, 16 clients transferring money in explicit
// transactions while auditors read the total; every snapshot sees the same
// total, and so does the end. Run longer with -bank.duration.
func TestBank(t *testing.T) {
	const n, initial, clients = 100, 1000, 16
	db := accounts(t, nil, n, initial)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *bankDuration)
	defer cancel()
	var commits, retries, audits atomic.Int64
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			for ctx.Err() == nil {
				a, b := rng.IntN(n), rng.IntN(n-1)
				if b >= a {
					b++
				}
				err := transfer(db, a, b, int64(rng.IntN(50)+1))
				switch {
				case err == nil:
					commits.Add(1)
				case code(err) == sqlstate.SerializationFailure || code(err) == sqlstate.DeadlockDetected:
					retries.Add(1)
				default:
					t.Errorf("transfer %d -> %d: %v", a, b, err)
					return
				}
			}
		}(c)
	}
	for a := 0; a < 2; a++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				tx := begin(t, db)
				s1 := one(t, tx, "select sum(balance) from accounts")
				s2 := one(t, tx, "select sum(balance) from accounts")
				tx.Rollback()
				if s1 != n*initial || s2 != n*initial {
					t.Errorf("audit saw totals %d, %d; want %d", s1, s2, n*initial)
					return
				}
				audits.Add(1)
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	if got := one(t, db, "select sum(balance) from accounts"); got != n*initial {
		t.Errorf("final total %d, want %d", got, n*initial)
	}
	if commits.Load() == 0 || audits.Load() == 0 {
		t.Errorf("%d transfers committed, %d audits: the test did not run", commits.Load(), audits.Load())
	}
	t.Logf("%d transfers committed, %d aborted (40001/40P01), %d audits in %v",
		commits.Load(), retries.Load(), audits.Load(), *bankDuration)
}

// transfer moves amount from account a to b in one transaction: it reads
// a's balance and writes both rows.
func transfer(db *mantisdb.DB, a, b int, amount int64) error {
	ctx := context.Background()
	tx, err := db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := ints(nil, tx, fmt.Sprintf("select balance from accounts where id = %d", a)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf("update accounts set balance = balance - %d where id = %d", amount, a)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf("update accounts set balance = balance + %d where id = %d", amount, b)); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// BenchmarkInsertTxn measures single-row INSERT transactions (each synced)
// per second from 1 and 16 clients: group commit makes concurrent commits
// share WAL fsyncs.
//
//	go test -run XXX -bench InsertTxn -benchtime 3s .
func BenchmarkInsertTxn(b *testing.B) {
	for _, clients := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			db, err := mantisdb.Open(b.TempDir(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			ctx := context.Background()
			if _, err := db.Exec(ctx, "create table t (id bigint primary key, v bigint)"); err != nil {
				b.Fatal(err)
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for c := 0; c < clients; c++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						if _, err := db.Exec(ctx, fmt.Sprintf("insert into t values (%d, 1)", i)); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "txn/s")
		})
	}
}

// recordReader returns a reader of one record of accounts rows given as
// JSON.
func recordReader(t *testing.T, rowsJSON string) array.RecordReader {
	t.Helper()
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "balance", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	rec, _, err := array.RecordFromJSON(memory.DefaultAllocator, sch, strings.NewReader(rowsJSON))
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	rdr, err := array.NewRecordReader(sch, []arrow.RecordBatch{rec})
	if err != nil {
		t.Fatal(err)
	}
	return rdr
}
