package crashtest

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

var flightKills = flag.Int("crash.flightkills", 5, "kill -9 / restart cycles of TestFlightBankKillRestart")

// flightAddr returns the Flight SQL address of a child server started by
// start, read from the ready file named on its command line.
func (s *server) flightAddr(t *testing.T) string {
	t.Helper()
	args := s.cmd.Args
	for i := 0; i+1 < len(args); i++ {
		if args[i] != "--ready-file" {
			continue
		}
		b, err := os.ReadFile(args[i+1])
		if err != nil {
			t.Fatal(err)
		}
		var addrs map[string]string
		if err := json.Unmarshal(b, &addrs); err != nil || addrs["flight"] == "" {
			t.Fatalf("ready file %q: %v", b, err)
		}
		return addrs["flight"]
	}
	t.Fatal("server started without a ready file")
	return ""
}

// The parameter schemas of the transfer statements.
var (
	ledgerParams = arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "src", Type: arrow.PrimitiveTypes.Int64},
		{Name: "dst", Type: arrow.PrimitiveTypes.Int64},
		{Name: "amount", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	moveParams = arrow.NewSchema([]arrow.Field{
		{Name: "delta", Type: arrow.PrimitiveTypes.Int64},
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
)

// int64Batch builds a one-row batch of sch (all int64 columns) from vals.
func int64Batch(mem memory.Allocator, sch *arrow.Schema, vals ...int64) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, sch)
	defer b.Release()
	for i, v := range vals {
		b.Field(i).(*array.Int64Builder).Append(v)
	}
	return b.NewRecordBatch()
}

// execPrepared prepares sql in tx, runs it once with vals bound and checks
// that it affected one row.
func execPrepared(ctx context.Context, tx *flightsql.Txn, mem memory.Allocator, sql string, sch *arrow.Schema, vals ...int64) (err error) {
	st, err := tx.Prepare(ctx, sql)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.Close(ctx); cerr != nil && err == nil {
			err = cerr
		}
	}()
	rec := int64Batch(mem, sch, vals...)
	st.SetParameters(rec)
	rec.Release()
	n, err := st.ExecuteUpdate(ctx)
	if err == nil && n != 1 {
		err = fmt.Errorf("%s affected %d rows, want 1", sql, n)
	}
	return err
}

// flightLedgerTransfer moves amount from a to b in one Flight SQL
// transaction of three prepared statements with parameters: a ledger row
// under the transfer's unique id and the two balance UPDATEs. It returns
// nil only when the commit was acknowledged.
func flightLedgerTransfer(ctx context.Context, cl *flightsql.Client, id int64, a, b int, amount int64) error {
	tx, err := cl.BeginTransaction(ctx)
	if err != nil {
		return err
	}
	err = execPrepared(ctx, tx, cl.Alloc, "INSERT INTO transfers VALUES (?, ?, ?, ?)", ledgerParams, id, int64(a), int64(b), amount)
	if err == nil {
		err = execPrepared(ctx, tx, cl.Alloc, "UPDATE accounts SET balance = balance + ? WHERE id = ?", moveParams, -amount, int64(a))
	}
	if err == nil {
		err = execPrepared(ctx, tx, cl.Alloc, "UPDATE accounts SET balance = balance + ? WHERE id = ?", moveParams, amount, int64(b))
	}
	if err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	return tx.Commit(ctx)
}

// isAbort reports whether err is a retryable abort (40001 or 40P01).
func isAbort(err error) bool {
	st, ok := status.FromError(err)
	return ok && st.Code() == codes.Aborted &&
		(strings.HasPrefix(st.Message(), "40001") || strings.HasPrefix(st.Message(), "40P01"))
}

// TestFlightBankKillRestart runs the bank workload over Flight SQL
// transactions against a child `mantisdb serve`, kills it with SIGKILL at a
// random moment and restarts it, *crash.flightkills times (3 with -short).
// Each transfer commits a ledger row and the two balance updates together.
// After every restart: all acknowledged transfers are in the ledger, every
// balance equals its opening balance plus the ledger's credits minus its
// debits (so no transfer is half applied, and a transfer that was in flight
// at the kill is either wholly there or wholly absent), and the total holds.
func TestFlightBankKillRestart(t *testing.T) {
	n := *flightKills
	if testing.Short() {
		n = min(n, 3)
	}
	dataDir := t.TempDir()
	s := start(t, dataDir)
	defer func() { s.kill() }()
	ctx := context.Background()
	for _, stmt := range []string{
		"create table accounts (id bigint primary key, balance bigint not null)",
		"create table transfers (id bigint primary key, src bigint not null, dst bigint not null, amount bigint not null)",
	} {
		if _, err := s.sql(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	vals := make([]string, bankAccounts)
	for i := range vals {
		vals[i] = fmt.Sprintf("(%d, %d)", i, bankBalance)
	}
	if _, err := s.sql(ctx, "insert into accounts values "+strings.Join(vals, ", ")); err != nil {
		t.Fatal(err)
	}

	var (
		mu     sync.Mutex
		acked  = map[int64]bool{}
		nextID atomic.Int64
		aborts atomic.Int64
	)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	for round := 0; round < n; round++ {
		cl, err := flightsql.NewClient(s.flightAddr(t), nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		var roundAcks atomic.Int64
		for w := 0; w < *writers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
				for cctx.Err() == nil {
					a, b := r.IntN(bankAccounts), r.IntN(bankAccounts-1)
					if b >= a {
						b++
					}
					id := nextID.Add(1)
					err := flightLedgerTransfer(cctx, cl, id, a, b, int64(r.IntN(100)+1))
					switch {
					case err == nil:
						mu.Lock()
						acked[id] = true
						mu.Unlock()
						roundAcks.Add(1)
					case isAbort(err):
						aborts.Add(1)
					default:
						// The server died (Unavailable) or the round ended.
						if st, _ := status.FromError(err); cctx.Err() == nil && st.Code() != codes.Unavailable {
							t.Errorf("transfer: %v", err)
						}
						return
					}
				}
			}(w)
		}
		// Let a few transfers commit, then kill at a random moment.
		deadline := time.Now().Add(20 * time.Second)
		for roundAcks.Load() < 5 && time.Now().Before(deadline) && !t.Failed() {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		s.kill()
		cancel()
		wg.Wait()
		cl.Close()
		if t.Failed() {
			return
		}

		restart := time.Now()
		s = start(t, dataDir)
		t.Logf("round %d: %d transfers acknowledged, restart took %v", round, roundAcks.Load(), time.Since(restart))
		checkLedger(t, s, round, acked)
		if t.Failed() {
			return
		}
	}
	if len(acked) == 0 {
		t.Error("no transfer was acknowledged")
	}
	t.Logf("%d kills, %d acknowledged transfers, %d aborted (40001/40P01)", n, len(acked), aborts.Load())
}

// checkLedger checks the restarted server's accounts against its ledger
// and the acknowledged transfers.
func checkLedger(t *testing.T, s *server, round int, acked map[int64]bool) {
	t.Helper()
	ctx := context.Background()
	intRows := func(sql string) [][]int64 {
		out, err := s.sql(ctx, sql)
		if err != nil {
			t.Fatalf("round %d: %s: %v", round, sql, err)
		}
		rows, _ := out["rows"].([]any)
		res := make([][]int64, len(rows))
		for i, r := range rows {
			for _, c := range r.([]any) {
				v, err := strconv.ParseInt(fmt.Sprint(c), 10, 64)
				if err != nil {
					t.Fatalf("round %d: %s: cell %v: %v", round, sql, c, err)
				}
				res[i] = append(res[i], v)
			}
		}
		return res
	}
	want := make([]int64, bankAccounts)
	for i := range want {
		want[i] = bankBalance
	}
	inLedger := map[int64]bool{}
	for _, r := range intRows("select id, src, dst, amount from transfers") {
		inLedger[r[0]] = true
		want[r[1]] -= r[3]
		want[r[2]] += r[3]
	}
	for id := range acked {
		if !inLedger[id] {
			t.Errorf("round %d: acknowledged transfer %d is missing after restart", round, id)
		}
	}
	got := intRows("select id, balance from accounts")
	if len(got) != bankAccounts {
		t.Fatalf("round %d: %d accounts after restart, want %d", round, len(got), bankAccounts)
	}
	var total int64
	for _, r := range got {
		total += r[1]
		if r[1] != want[r[0]] {
			t.Errorf("round %d: account %d has %d, its ledger says %d (a transfer was half applied)",
				round, r[0], r[1], want[r[0]])
		}
	}
	if total != bankAccounts*bankBalance {
		t.Errorf("round %d: total %d after restart, want %d", round, total, bankAccounts*bankBalance)
	}
}
