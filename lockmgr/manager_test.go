package lockmgr

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

func newTestManager(t *testing.T, opts *Options) *Manager {
	t.Helper()
	m := New(opts)
	t.Cleanup(m.Close)
	return m
}

// lockAsync runs tx.Lock in a goroutine and returns its result channel.
func lockAsync(tx *Txn, res Resource, mode Mode) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- tx.Lock(context.Background(), res, mode) }()
	return ch
}

// waitForWaiters waits until the lock table has n waiting requests.
func waitForWaiters(t *testing.T, m *Manager, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := 0
		for _, li := range m.Snapshot() {
			if !li.Granted {
				got++
			}
		}
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting requests: %d, want %d\n%v", got, n, m.Snapshot())
		}
		time.Sleep(time.Millisecond)
	}
}

func mustLock(t *testing.T, tx *Txn, res Resource, mode Mode) {
	t.Helper()
	if err := tx.Lock(context.Background(), res, mode); err != nil {
		t.Fatalf("txn %d: Lock(%s, %s): %v", tx.ID(), res, mode, err)
	}
}

func recv(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("lock request still blocked")
		return nil
	}
}

func blocked(ch <-chan error) bool {
	select {
	case <-ch:
		return false
	case <-time.After(20 * time.Millisecond):
		return true
	}
}

func wantCode(t *testing.T, err error, code sqlstate.Code, marker error) {
	t.Helper()
	if sqlstate.From(err) == nil {
		t.Fatalf("error %v is not a *sqlstate.Error", err)
	}
	if got := sqlstate.CodeOf(err); got != code {
		t.Fatalf("error %v: code %s, want %s", err, got, code)
	}
	if marker != nil && !errors.Is(err, marker) {
		t.Fatalf("error %v does not wrap %v", err, marker)
	}
}

func TestLockHierarchyAndRelease(t *testing.T) {
	m := newTestManager(t, nil)
	tx := m.Begin(1)
	row := Row(7, []byte("k"))
	mustLock(t, tx, row, Exclusive)

	want := []LockInfo{
		{Resource: Database(), Txn: 1, Mode: IntentExclusive, Granted: true},
		{Resource: Table(7), Txn: 1, Mode: IntentExclusive, Granted: true},
		{Resource: row, Txn: 1, Mode: Exclusive, Granted: true},
	}
	got := m.Snapshot()
	if len(got) != len(want) {
		t.Fatalf("snapshot %v, want %v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if !g.Resource.Equal(w.Resource) || g.Txn != w.Txn || g.Mode != w.Mode || g.Granted != w.Granted {
			t.Errorf("snapshot[%d] = %+v, want %+v", i, g, w)
		}
	}
	if tx.NumLocks() != 3 || tx.Mode(row) != Exclusive || tx.Mode(Table(7)) != IntentExclusive {
		t.Fatalf("NumLocks %d, row %s, table %s", tx.NumLocks(), tx.Mode(row), tx.Mode(Table(7)))
	}
	// A read of a second row reuses the intention locks.
	mustLock(t, tx, Row(7, []byte("k2")), Shared)
	if tx.NumLocks() != 4 {
		t.Fatalf("NumLocks = %d, want 4", tx.NumLocks())
	}
	tx.Unlock(row)
	if tx.Mode(row) != 0 || tx.NumLocks() != 3 {
		t.Fatalf("after Unlock: row mode %s, %d locks", tx.Mode(row), tx.NumLocks())
	}
	tx.End()
	if s := m.Snapshot(); len(s) != 0 {
		t.Fatalf("after End: %v", s)
	}
}

// TestConflicts checks the matrix through the lock table: a second
// transaction gets the lock at once exactly when the modes are compatible.
func TestConflicts(t *testing.T) {
	modes := []Mode{IntentShared, IntentExclusive, Shared, SharedIntentExclusive, Exclusive}
	levels := []Resource{Table(1), Row(1, []byte("r"))}
	for _, res := range levels {
		for _, held := range modes {
			for _, req := range modes {
				m := New(nil)
				a, b := m.Begin(1), m.Begin(2)
				mustLock(t, a, res, held)
				err := b.TryLock(res, req)
				if Compatible(held, req) {
					if err != nil {
						t.Errorf("%s: held %s, TryLock %s: %v", res, held, req, err)
					}
				} else if err == nil {
					t.Errorf("%s: held %s, TryLock %s granted", res, held, req)
				} else {
					wantCode(t, err, sqlstate.LockNotAvailable, ErrWouldBlock)
				}
				a.End()
				b.End()
				if s := m.Snapshot(); len(s) != 0 {
					t.Errorf("locks left: %v", s)
				}
				m.Close()
			}
		}
	}
}

func TestUpgrade(t *testing.T) {
	tests := []struct {
		first, second, want Mode
	}{
		{Shared, Exclusive, Exclusive},
		{Shared, IntentExclusive, SharedIntentExclusive},
		{IntentExclusive, Shared, SharedIntentExclusive},
		{IntentShared, Shared, Shared},
		{Exclusive, Shared, Exclusive},
		{SharedIntentExclusive, IntentShared, SharedIntentExclusive},
	}
	for _, tc := range tests {
		m := New(nil)
		tx := m.Begin(1)
		mustLock(t, tx, Table(3), tc.first)
		mustLock(t, tx, Table(3), tc.second)
		if got := tx.Mode(Table(3)); got != tc.want {
			t.Errorf("%s then %s: holds %s, want %s", tc.first, tc.second, got, tc.want)
		}
		if tx.NumLocks() != 2 { // database + table: a conversion adds no lock
			t.Errorf("%s then %s: %d locks", tc.first, tc.second, tx.NumLocks())
		}
		tx.End()
		m.Close()
	}
}

// TestUpgradeWaitsAheadOfNewRequests: A and B hold S; C waits for X; A
// asks to convert to X and is queued ahead of C, so it gets X first when B
// leaves.
func TestUpgradeWaitsAheadOfNewRequests(t *testing.T) {
	m := newTestManager(t, nil)
	res := Table(1)
	a, b, c := m.Begin(1), m.Begin(2), m.Begin(3)
	defer a.End()
	defer c.End()
	mustLock(t, a, res, Shared)
	mustLock(t, b, res, Shared)
	cCh := lockAsync(c, res, Exclusive)
	waitForWaiters(t, m, 1)
	aCh := lockAsync(a, res, Exclusive)
	waitForWaiters(t, m, 2)
	snap := m.Snapshot()
	var queue []TxnID
	for _, li := range snap {
		if !li.Granted {
			queue = append(queue, li.Txn)
		}
	}
	if len(queue) != 2 || queue[0] != 1 || queue[1] != 3 {
		t.Fatalf("queue order %v, want [1 3]", queue)
	}
	b.End()
	if err := recv(t, aCh); err != nil {
		t.Fatal(err)
	}
	if a.Mode(res) != Exclusive {
		t.Fatalf("A holds %s", a.Mode(res))
	}
	if !blocked(cCh) {
		t.Fatal("C granted X while A holds X")
	}
	a.ReleaseAll()
	if err := recv(t, cCh); err != nil {
		t.Fatal(err)
	}
}

// TestFIFO: requests are granted in arrival order, and a compatible request
// never overtakes an incompatible one queued before it.
func TestFIFO(t *testing.T) {
	m := newTestManager(t, nil)
	res := Row(1, []byte("hot"))
	holder := m.Begin(1)
	mustLock(t, holder, res, Exclusive)

	type req struct {
		id   TxnID
		mode Mode
	}
	reqs := []req{{2, Shared}, {3, Exclusive}, {4, Shared}, {5, Shared}}
	txns := map[TxnID]*Txn{}
	chans := map[TxnID]<-chan error{}
	for i, r := range reqs {
		tx := m.Begin(r.id)
		txns[r.id] = tx
		chans[r.id] = lockAsync(tx, res, r.mode)
		waitForWaiters(t, m, i+1)
	}
	holder.End()
	// 2 (S) is granted; 3 (X) waits for it; 4 and 5 (S) are compatible
	// with 2 but must not pass 3.
	if err := recv(t, chans[2]); err != nil {
		t.Fatal(err)
	}
	for _, id := range []TxnID{3, 4, 5} {
		if !blocked(chans[id]) {
			t.Fatalf("txn %d overtook the queue", id)
		}
	}
	// While 3 waits, a new reader must queue too (no writer starvation).
	late := m.Begin(6)
	if err := late.TryLock(res, Shared); err == nil {
		t.Fatal("new reader passed a waiting writer")
	}
	late.End()

	txns[2].End()
	if err := recv(t, chans[3]); err != nil {
		t.Fatal(err)
	}
	if !blocked(chans[4]) {
		t.Fatal("reader granted while writer holds X")
	}
	txns[3].End()
	// Both readers are granted together.
	for _, id := range []TxnID{4, 5} {
		if err := recv(t, chans[id]); err != nil {
			t.Fatal(err)
		}
	}
	txns[4].End()
	txns[5].End()
}

func TestHierarchicalConflicts(t *testing.T) {
	m := newTestManager(t, nil)
	reader, writer := m.Begin(1), m.Begin(2)
	defer writer.End()
	mustLock(t, reader, Table(5), Shared)

	// Reading a row under a table S lock takes no row lock.
	mustLock(t, reader, Row(5, []byte("a")), Shared)
	if reader.NumLocks() != 2 {
		t.Fatalf("reader holds %d locks, want 2 (database IS, table S)", reader.NumLocks())
	}
	// A row write under someone's table S must wait for the table IX.
	if err := writer.TryLock(Row(5, []byte("a")), Exclusive); err == nil {
		t.Fatal("row X granted under another transaction's table S")
	}
	// A row in another table is fine.
	mustLock(t, writer, Row(6, []byte("a")), Exclusive)

	ch := lockAsync(writer, Row(5, []byte("b")), Exclusive)
	waitForWaiters(t, m, 1)
	reader.End()
	if err := recv(t, ch); err != nil {
		t.Fatal(err)
	}
	if writer.Mode(Table(5)) != IntentExclusive || writer.Mode(Database()) != IntentExclusive {
		t.Fatalf("writer: table %s, database %s", writer.Mode(Table(5)), writer.Mode(Database()))
	}

	// Table S plus a row write converts the table lock to SIX.
	x := m.Begin(3)
	defer x.End()
	mustLock(t, x, Table(9), Shared)
	mustLock(t, x, Row(9, []byte("z")), Exclusive)
	if x.Mode(Table(9)) != SharedIntentExclusive {
		t.Fatalf("table mode %s, want SIX", x.Mode(Table(9)))
	}
	// Table X covers rows.
	mustLock(t, x, Table(10), Exclusive)
	n := x.NumLocks()
	mustLock(t, x, Row(10, []byte("r")), Exclusive)
	if x.NumLocks() != n {
		t.Fatal("row lock taken under table X")
	}
}

func TestUnlockTableReleasesItsRows(t *testing.T) {
	m := newTestManager(t, nil)
	tx := m.Begin(1)
	defer tx.End()
	for _, k := range []string{"a", "b", "c"} {
		mustLock(t, tx, Row(1, []byte(k)), Exclusive)
		mustLock(t, tx, Row(2, []byte(k)), Exclusive)
	}
	tx.Unlock(Table(1))
	if tx.Mode(Table(1)) != 0 || tx.Mode(Row(1, []byte("b"))) != 0 {
		t.Fatal("table 1 or its rows still held")
	}
	if tx.Mode(Row(2, []byte("b"))) != Exclusive || tx.NumLocks() != 5 {
		t.Fatalf("table 2 rows lost: %d locks", tx.NumLocks())
	}
	other := m.Begin(2)
	defer other.End()
	if err := other.TryLock(Table(1), Exclusive); err != nil {
		t.Fatal(err)
	}
	tx.Unlock(Database())
	if tx.NumLocks() != 0 {
		t.Fatalf("%d locks after unlocking the database", tx.NumLocks())
	}
	tx.Unlock(Row(3, []byte("never"))) // no-op
}

func TestLockTimeout(t *testing.T) {
	m := newTestManager(t, &Options{LockTimeout: 30 * time.Millisecond})
	a, b := m.Begin(1), m.Begin(2)
	defer b.End()
	res := Row(1, []byte("k"))
	mustLock(t, a, res, Exclusive)
	start := time.Now()
	err := b.Lock(context.Background(), res, Shared)
	wantCode(t, err, sqlstate.LockNotAvailable, ErrLockTimeout)
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("timed out after %v, before the timeout", d)
	}
	if b.Mode(res) != 0 {
		t.Fatal("timed-out request holds the lock")
	}
	for _, li := range m.Snapshot() {
		if !li.Granted {
			t.Fatalf("waiter left in the queue: %+v", li)
		}
	}
	a.End()
	mustLock(t, b, res, Exclusive)
	if got := counterValue(t, m.metrics.timeouts); got != 1 {
		t.Fatalf("timeouts metric %v, want 1", got)
	}
}

// TestTimeoutLeavesQueueMoving: when the head of the queue times out, the
// compatible requests behind it are granted.
func TestTimeoutLeavesQueueMoving(t *testing.T) {
	m := newTestManager(t, &Options{LockTimeout: -1})
	res := Table(1)
	a, b, c := m.Begin(1), m.Begin(2), m.Begin(3)
	defer a.End()
	defer c.End()
	mustLock(t, a, res, Shared)
	ctx, cancel := context.WithCancel(context.Background())
	bCh := make(chan error, 1)
	go func() { bCh <- b.Lock(ctx, res, Exclusive) }()
	waitForWaiters(t, m, 1)
	cCh := lockAsync(c, res, Shared)
	waitForWaiters(t, m, 2)
	cancel()
	wantCode(t, recv(t, bCh), sqlstate.QueryCanceled, context.Canceled)
	if err := recv(t, cCh); err != nil {
		t.Fatal(err)
	}
	b.End()
}

func TestContextEndsWait(t *testing.T) {
	m := newTestManager(t, nil)
	a, b := m.Begin(1), m.Begin(2)
	defer a.End()
	defer b.End()
	mustLock(t, a, Table(1), Exclusive)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := b.Lock(ctx, Table(1), IntentShared)
	wantCode(t, err, sqlstate.QueryCanceled, context.DeadlineExceeded)

	// A conversion that is canceled keeps the mode held before.
	mustLock(t, b, Table(2), Shared)
	mustLock(t, a, Table(2), Shared)
	ctx2, cancel2 := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	go func() { ch <- b.Lock(ctx2, Table(2), Exclusive) }()
	waitForWaiters(t, m, 1)
	cancel2()
	wantCode(t, recv(t, ch), sqlstate.QueryCanceled, context.Canceled)
	if b.Mode(Table(2)) != Shared {
		t.Fatalf("after a canceled conversion b holds %s, want S", b.Mode(Table(2)))
	}
}

func TestDeadlockTwoTransactions(t *testing.T) {
	const interval = 20 * time.Millisecond
	m := newTestManager(t, &Options{DeadlockInterval: interval, LockTimeout: -1})
	older, younger := m.Begin(10), m.Begin(11)
	r1, r2 := Row(1, []byte("r1")), Row(1, []byte("r2"))
	mustLock(t, older, r1, Exclusive)
	mustLock(t, younger, r2, Exclusive)
	oCh := lockAsync(older, r2, Exclusive)
	waitForWaiters(t, m, 1)
	start := time.Now()
	err := younger.Lock(context.Background(), r1, Exclusive)
	elapsed := time.Since(start)
	wantCode(t, err, sqlstate.DeadlockDetected, ErrDeadlock)
	t.Logf("deadlock broken after %v (interval %v): %v", elapsed, interval, err)
	if elapsed > 2*time.Second {
		t.Fatalf("deadlock broken after %v", elapsed)
	}
	if !blocked(oCh) {
		t.Fatal("older transaction granted while the victim still holds r2")
	}
	younger.End() // the victim rolls back
	if err := recv(t, oCh); err != nil {
		t.Fatalf("older transaction: %v", err)
	}
	older.End()
	if got := counterValue(t, m.metrics.deadlocks); got != 1 {
		t.Fatalf("deadlocks metric = %v", got)
	}
}

func TestDeadlockThreeCycle(t *testing.T) {
	m := newTestManager(t, &Options{DeadlockInterval: 10 * time.Millisecond, LockTimeout: -1})
	// Ids chosen so that the youngest (42) is neither first nor last to wait.
	ids := []TxnID{7, 42, 3}
	txns := make([]*Txn, 3)
	res := []Resource{Table(1), Table(2), Table(3)}
	for i, id := range ids {
		txns[i] = m.Begin(id)
		mustLock(t, txns[i], res[i], Exclusive)
	}
	chans := make([]<-chan error, 3)
	for i := range txns {
		chans[i] = lockAsync(txns[i], res[(i+1)%3], Shared)
		if i < 2 {
			waitForWaiters(t, m, i+1)
		}
	}
	// 42 is the victim.
	wantCode(t, recv(t, chans[1]), sqlstate.DeadlockDetected, ErrDeadlock)
	if !blocked(chans[0]) || !blocked(chans[2]) {
		t.Fatal("a survivor finished before the victim released")
	}
	txns[1].End()
	// 7 waited for table 2 (victim's), so it proceeds; 3 waits for 7.
	if err := recv(t, chans[0]); err != nil {
		t.Fatal(err)
	}
	txns[0].End()
	if err := recv(t, chans[2]); err != nil {
		t.Fatal(err)
	}
	txns[2].End()
}

// TestDeadlockConversion: two S holders both converting to X is the classic
// conversion deadlock; the younger loses and keeps its S until it ends.
func TestDeadlockConversion(t *testing.T) {
	m := newTestManager(t, &Options{DeadlockInterval: 10 * time.Millisecond, LockTimeout: -1})
	a, b := m.Begin(1), m.Begin(2)
	res := Row(4, []byte("x"))
	mustLock(t, a, res, Shared)
	mustLock(t, b, res, Shared)
	aCh := lockAsync(a, res, Exclusive)
	waitForWaiters(t, m, 1)
	err := b.Lock(context.Background(), res, Exclusive)
	wantCode(t, err, sqlstate.DeadlockDetected, ErrDeadlock)
	if b.Mode(res) != Shared {
		t.Fatalf("victim holds %s, want S", b.Mode(res))
	}
	b.End()
	if err := recv(t, aCh); err != nil {
		t.Fatal(err)
	}
	a.End()
}

// TestNoFalseDeadlock: a long wait chain without a cycle is left alone.
func TestNoFalseDeadlock(t *testing.T) {
	m := newTestManager(t, &Options{DeadlockInterval: 5 * time.Millisecond, LockTimeout: -1})
	head := m.Begin(1)
	mustLock(t, head, Table(1), Exclusive)
	var chans []<-chan error
	var txns []*Txn
	for i := 2; i <= 6; i++ {
		tx := m.Begin(TxnID(i))
		txns = append(txns, tx)
		mustLock(t, tx, Table(uint64(i)), Exclusive)
		chans = append(chans, lockAsync(tx, Table(uint64(i-1)), Exclusive))
		waitForWaiters(t, m, i-1)
	}
	time.Sleep(50 * time.Millisecond) // several detector passes
	for _, ch := range chans {
		if !blocked(ch) {
			t.Fatal("a wait in an acyclic chain ended")
		}
	}
	head.End()
	for i, ch := range chans {
		if err := recv(t, ch); err != nil {
			t.Fatal(err)
		}
		txns[i].End()
	}
}

func TestClose(t *testing.T) {
	m := New(&Options{LockTimeout: -1})
	a, b := m.Begin(1), m.Begin(2)
	mustLock(t, a, Table(1), Exclusive)
	ch := lockAsync(b, Table(1), Exclusive)
	waitForWaiters(t, m, 1)
	m.Close()
	wantCode(t, recv(t, ch), sqlstate.AdminShutdown, ErrClosed)
	wantCode(t, b.Lock(context.Background(), Table(2), Shared), sqlstate.AdminShutdown, ErrClosed)
	a.End() // releasing still works
	b.End()
	m.Close() // idempotent
	if s := m.Snapshot(); len(s) != 0 {
		t.Fatalf("locks after Close and End: %v", s)
	}
}

func TestSnapshotWaiter(t *testing.T) {
	m := newTestManager(t, nil)
	a, b := m.Begin(1), m.Begin(2)
	defer a.End()
	defer b.End()
	mustLock(t, a, Row(1, []byte("k")), Shared)
	ch := lockAsync(b, Row(1, []byte("k")), Exclusive)
	waitForWaiters(t, m, 1)
	time.Sleep(5 * time.Millisecond)
	var w *LockInfo
	snap := m.Snapshot()
	for i := range snap {
		if !snap[i].Granted {
			w = &snap[i]
		}
	}
	if w == nil || w.Txn != 2 || w.Mode != Exclusive || w.Wait < 5*time.Millisecond ||
		w.WaitStart.IsZero() || string(w.Resource.Key) != "k" {
		t.Fatalf("waiter %+v", w)
	}
	a.ReleaseAll()
	if err := recv(t, ch); err != nil {
		t.Fatal(err)
	}
}

func TestMetrics(t *testing.T) {
	m := newTestManager(t, &Options{LockTimeout: 10 * time.Millisecond})
	reg := prometheus.NewPedanticRegistry()
	for _, c := range m.Collectors() {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	a, b := m.Begin(1), m.Begin(2)
	mustLock(t, a, Row(1, []byte("k")), Exclusive)
	_ = b.Lock(context.Background(), Row(1, []byte("k")), Exclusive) // times out
	a.End()
	b.End()

	if got := counterValue(t, m.metrics.acquired[IntentExclusive]); got != 4 {
		t.Errorf("IX acquisitions %v, want 4 (database and table for a and b)", got)
	}
	if got := counterValue(t, m.metrics.acquired[Exclusive]); got != 1 {
		t.Errorf("X acquisitions %v, want 1", got)
	}
	if got := counterValue(t, m.metrics.waits[Exclusive]); got != 1 {
		t.Errorf("X waits %v, want 1", got)
	}
	if got := counterValue(t, m.metrics.timeouts); got != 1 {
		t.Errorf("timeouts %v, want 1", got)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
	}
	for _, n := range []string{"mantis_lock_acquisitions_total", "mantis_lock_waits_total",
		"mantis_lock_wait_seconds", "mantis_lock_timeouts_total", "mantis_lock_waiters"} {
		if !names[n] {
			t.Errorf("metric %s not gathered (have %v)", n, names)
		}
	}
}

// counterValue reads a counter (client_golang's testutil needs a module this
// repository does not require).
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var pb dto.Metric
	if err := c.Write(&pb); err != nil {
		t.Fatal(err)
	}
	return pb.GetCounter().GetValue()
}

func TestInvalidArguments(t *testing.T) {
	m := newTestManager(t, nil)
	tx := m.Begin(1)
	defer tx.End()
	if err := tx.Lock(context.Background(), Table(1), 0); err == nil {
		t.Error("mode 0 accepted")
	}
	if err := tx.Lock(context.Background(), Resource{Level: LevelTable, Key: []byte("x")}, Shared); err == nil {
		t.Error("table resource with a key accepted")
	}
}

func TestUncontendedLockDoesNotAllocate(t *testing.T) {
	m := newTestManager(t, nil)
	tx := m.Begin(1)
	defer tx.End()
	key := []byte("row-key-0001")
	ctx := context.Background()
	mustLock(t, tx, Row(1, key), Exclusive) // warm up intention locks and maps
	tx.Unlock(Row(1, key))
	allocs := testing.AllocsPerRun(1000, func() {
		if err := tx.Lock(ctx, Row(1, key), Exclusive); err != nil {
			t.Fatal(err)
		}
		tx.Unlock(Row(1, key))
	})
	if allocs != 0 {
		t.Fatalf("lock+unlock allocates %v times", allocs)
	}
}

func TestTryLockConversion(t *testing.T) {
	m := newTestManager(t, nil)
	a, b := m.Begin(1), m.Begin(2)
	defer a.End()
	defer b.End()
	mustLock(t, a, Table(1), Shared)
	mustLock(t, b, Table(1), IntentShared)
	// S -> X conflicts with b's IS: refused, a keeps S.
	wantCode(t, a.TryLock(Table(1), Exclusive), sqlstate.LockNotAvailable, ErrWouldBlock)
	if a.Mode(Table(1)) != Shared {
		t.Fatalf("a holds %s after a refused conversion", a.Mode(Table(1)))
	}
	// S -> SIX is compatible with IS.
	if err := a.TryLock(Table(1), IntentExclusive); err != nil {
		t.Fatal(err)
	}
	if a.Mode(Table(1)) != SharedIntentExclusive {
		t.Fatalf("a holds %s, want SIX", a.Mode(Table(1)))
	}
}

// TestManyLocksOneTxn grows the per-transaction and per-shard tables past
// their first sizes and releases everything.
func TestManyLocksOneTxn(t *testing.T) {
	m := newTestManager(t, nil)
	tx := m.Begin(1)
	other := m.Begin(2)
	defer other.End()
	key := make([]byte, 4)
	const n = 5000
	for i := 0; i < n; i++ {
		key[0], key[1], key[2] = byte(i), byte(i>>8), byte(i>>16)
		mustLock(t, tx, Row(uint64(i%3), key), Exclusive)
	}
	if got := tx.NumLocks(); got != n+4 { // + database + 3 tables
		t.Fatalf("NumLocks = %d, want %d", got, n+4)
	}
	key[0], key[1], key[2] = 1234&0xff, 1234>>8, 0
	if tx.Mode(Row(1234%3, key)) != Exclusive {
		t.Fatal("row 1234 not held")
	}
	if err := other.TryLock(Row(1234%3, key), Shared); err == nil {
		t.Fatal("conflicting lock granted")
	}
	tx.End()
	// Only other's intention locks from its refused TryLock remain.
	if s := m.Snapshot(); len(s) != 2 || s[0].Txn != 2 || s[1].Txn != 2 {
		t.Fatalf("locks left: %v", s)
	}
	mustLock(t, other, Row(1234%3, key), Exclusive)
}
