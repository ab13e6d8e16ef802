package flight

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
	arrowflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// bankDuration is how long TestFlightBank runs its transfers. The root
// package's TestBank has a flag of the same name for the embedded API; the
// two packages are separate test binaries, so `go test ./... -bank.duration=30s`
// runs both for 30 s.
var bankDuration = flag.Duration("bank.duration", 2*time.Second, "how long TestFlightBank runs its transfers")

// The bank: bankAccounts accounts holding bankBalance each.
const (
	bankAccounts = 100
	bankBalance  = 1000
	bankClients  = 16
	bankAuditors = 2
)

// bankParams is the parameter schema of bankUpdate: the amount to add and
// the account id.
var bankParams = []arrow.Field{
	{Name: "delta", Type: arrow.PrimitiveTypes.Int64},
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
}

const (
	bankUpdate = "UPDATE accounts SET balance = balance + ? WHERE id = ?"
	bankRead   = "SELECT balance FROM accounts WHERE id = ?"
)

// errInsufficient is returned by flightTransfer when the source account
// cannot pay; the transaction was rolled back.
var errInsufficient = errors.New("insufficient balance")

// retryable reports whether err is a transaction abort the client should
// retry: gRPC Aborted carrying 40001 (serialization failure) or 40P01
// (deadlock victim).
func retryable(err error) bool {
	var se interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &se) {
		return false
	}
	st := se.GRPCStatus()
	return st.Code() == codes.Aborted &&
		(strings.HasPrefix(st.Message(), "40001") || strings.HasPrefix(st.Message(), "40P01"))
}

// flightTransfer moves amount from account a to account b in one Flight SQL
// transaction: it reads a's balance with a prepared query, and if a can pay
// runs two prepared UPDATEs with parameters, then commits. Any error rolls
// the transaction back and is returned.
func flightTransfer(ctx context.Context, cl *flightsql.Client, a, b int, amount int64) (err error) {
	tx, err := cl.BeginTransaction(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			if rerr := endTxn(tx); rerr != nil && err == nil {
				err = fmt.Errorf("rollback: %w", rerr)
			}
		}
	}()

	read, err := tx.Prepare(ctx, bankRead)
	if err != nil {
		return fmt.Errorf("prepare read: %w", err)
	}
	bal, err := preparedInt(ctx, cl, read, int64(a))
	if cerr := read.Close(context.WithoutCancel(ctx)); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("read balance of %d: %w", a, err)
	}
	if bal < amount {
		return errInsufficient
	}

	upd, err := tx.Prepare(ctx, bankUpdate)
	if err != nil {
		return fmt.Errorf("prepare update: %w", err)
	}
	defer func() {
		if cerr := upd.Close(context.WithoutCancel(ctx)); cerr != nil && err == nil {
			err = fmt.Errorf("close update: %w", cerr)
		}
	}()
	for _, step := range [2]struct {
		id    int
		delta int64
	}{{a, -amount}, {b, amount}} {
		rec := int64Params(cl.Alloc, step.delta, int64(step.id))
		upd.SetParameters(rec)
		rec.Release()
		n, err := upd.ExecuteUpdate(ctx)
		if err != nil {
			return fmt.Errorf("update %d: %w", step.id, err)
		}
		if n != 1 {
			return fmt.Errorf("update %d affected %d rows, want 1", step.id, n)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		// The server ends the transaction when the commit fails.
		committed = true
		return fmt.Errorf("commit: %w", err)
	}
	committed = true
	return nil
}

// endTxn rolls tx back with a context of its own, so that a transaction
// whose statement was canceled at the end of a run is still ended.
func endTxn(tx *flightsql.Txn) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return tx.Rollback(ctx)
}

// int64Params builds a one-row parameter batch of bankParams.
func int64Params(mem memory.Allocator, delta, id int64) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, arrow.NewSchema(bankParams, nil))
	defer b.Release()
	b.Field(0).(*array.Int64Builder).Append(delta)
	b.Field(1).(*array.Int64Builder).Append(id)
	return b.NewRecordBatch()
}

// preparedInt binds id to the one-parameter query st, runs it and returns
// the single integer it yields.
func preparedInt(ctx context.Context, cl *flightsql.Client, st *flightsql.PreparedStatement, id int64) (int64, error) {
	b := array.NewRecordBuilder(cl.Alloc, arrow.NewSchema(bankParams[1:], nil))
	b.Field(0).(*array.Int64Builder).Append(id)
	rec := b.NewRecordBatch()
	b.Release()
	st.SetParameters(rec)
	rec.Release()
	info, err := st.Execute(ctx)
	if err != nil {
		return 0, err
	}
	rows, err := fetchInts(ctx, cl, info.Endpoint[0].Ticket)
	if err != nil {
		return 0, err
	}
	if len(rows) != 1 || len(rows[0]) != 1 {
		return 0, fmt.Errorf("result %v, want one integer", rows)
	}
	return rows[0][0], nil
}

// fetchInts redeems ticket and returns every row's cells parsed as int64.
func fetchInts(ctx context.Context, cl *flightsql.Client, ticket *arrowflight.Ticket) ([][]int64, error) {
	rdr, err := cl.DoGet(ctx, ticket)
	if err != nil {
		return nil, err
	}
	defer rdr.Release()
	var out [][]int64
	for rdr.Next() {
		rec := rdr.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			row := make([]int64, rec.NumCols())
			for j, col := range rec.Columns() {
				v, err := strconv.ParseInt(col.ValueStr(i), 10, 64)
				if err != nil {
					return nil, fmt.Errorf("cell %q: %w", col.ValueStr(i), err)
				}
				row[j] = v
			}
			out = append(out, row)
		}
	}
	return out, rdr.Err()
}

// audit reads the total, the account count and the smallest balance twice
// in one Flight SQL transaction; both reads must see the same snapshot.
func audit(ctx context.Context, cl *flightsql.Client) (totals [2][3]int64, err error) {
	tx, err := cl.BeginTransaction(ctx)
	if err != nil {
		return totals, fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if rerr := endTxn(tx); rerr != nil && err == nil {
			err = fmt.Errorf("rollback: %w", rerr)
		}
	}()
	for i := range totals {
		info, err := tx.Execute(ctx, "SELECT sum(balance), count(*), min(balance) FROM accounts")
		if err != nil {
			return totals, err
		}
		rows, err := fetchInts(ctx, cl, info.Endpoint[0].Ticket)
		if err != nil {
			return totals, err
		}
		if len(rows) != 1 || len(rows[0]) != 3 {
			return totals, fmt.Errorf("audit result %v", rows)
		}
		copy(totals[i][:], rows[0])
		if i == 0 {
			// Let transfers commit between the two reads.
			time.Sleep(time.Millisecond)
		}
	}
	return totals, nil
}

// newClient dials a Flight SQL client of its own (one connection per
// simulated application) with the given allocator; it is closed at the end
// of the test.
func newClient(t testing.TB, addr string, mem memory.Allocator) *flightsql.Client {
	t.Helper()
	cl, err := flightsql.NewClient(addr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	cl.Alloc = mem
	t.Cleanup(func() {
		if err := cl.Close(); err != nil {
			t.Errorf("client close: %v", err)
		}
	})
	return cl
}

// TestFlightBank is issue 7's bank test over Flight SQL: 100 accounts,
// 16 clients (each its own connection) transferring money in explicit
// Flight SQL transactions (BeginTransaction, a prepared read and two
// prepared UPDATEs with parameters, EndTransaction commit; 40001 and 40P01
// are retried), while auditors read the total twice per transaction. Every
// snapshot must see the full total, no balance may go negative (a lost
// update would let two transfers spend the same money), and the total is
// unchanged at the end. -bank.duration sets the length (2 s by default).
func TestFlightBank(t *testing.T) {
	e := startServer(t, nil, nil)
	e.exec(t, "CREATE TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL)")
	vals := make([]string, bankAccounts)
	for i := range vals {
		vals[i] = fmt.Sprintf("(%d, %d)", i, bankBalance)
	}
	if n := e.exec(t, "INSERT INTO accounts VALUES "+strings.Join(vals, ", ")); n != bankAccounts {
		t.Fatalf("inserted %d accounts", n)
	}
	const want = bankAccounts * bankBalance

	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	// Workers stop between transactions when the time is up, so that no
	// RPC is canceled half way and every transaction ends by the client's
	// own Commit or Rollback (checked at the end).
	ctx := e.ctx
	var stop atomic.Bool
	timer := time.AfterFunc(*bankDuration, func() { stop.Store(true) })
	defer timer.Stop()
	var commits, aborts, poor, audits atomic.Int64
	var wg sync.WaitGroup
	for c := 0; c < bankClients; c++ {
		cl := newClient(t, e.addr, mem)
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), uint64(time.Now().UnixNano())))
			for !stop.Load() && ctx.Err() == nil {
				a, b := rng.IntN(bankAccounts), rng.IntN(bankAccounts-1)
				if b >= a {
					b++
				}
				err := flightTransfer(ctx, cl, a, b, int64(rng.IntN(200)+1))
				switch {
				case err == nil:
					commits.Add(1)
				case errors.Is(err, errInsufficient):
					poor.Add(1)
				case retryable(err):
					aborts.Add(1)
				default:
					t.Errorf("client %d: transfer %d -> %d: %v", c, a, b, err)
					return
				}
			}
		}(c)
	}
	for a := 0; a < bankAuditors; a++ {
		cl := newClient(t, e.addr, mem)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() && ctx.Err() == nil {
				got, err := audit(ctx, cl)
				if err != nil {
					t.Errorf("audit: %v", err)
					return
				}
				for _, s := range got {
					if s[0] != want || s[1] != bankAccounts || s[2] < 0 {
						t.Errorf("audit saw total %d over %d accounts, min balance %d; want %d over %d, min >= 0",
							s[0], s[1], s[2], want, bankAccounts)
						return
					}
				}
				audits.Add(1)
			}
		}()
	}
	wg.Wait()

	// The end state, read outside any transaction and from the DB itself.
	_, recs := e.query(t, "SELECT sum(balance), count(*), min(balance) FROM accounts")
	got := rowStrings(recs)
	releaseAll(recs)
	if wantRow := fmt.Sprintf("%d|%d|", want, bankAccounts); len(got) != 1 || !strings.HasPrefix(got[0], wantRow) ||
		strings.HasPrefix(got[0][len(wantRow):], "-") {
		t.Errorf("final sum|count|min = %v, want %s<non-negative>", got, wantRow)
	}
	if commits.Load() == 0 || audits.Load() == 0 {
		t.Errorf("%d transfers committed, %d audits: the workload did not run", commits.Load(), audits.Load())
	}
	e.srv.sql.txns.mu.Lock()
	open := len(e.srv.sql.txns.byID)
	e.srv.sql.txns.mu.Unlock()
	if n := open; n != 0 {
		t.Errorf("%d transactions left open on the server", n)
	}
	t.Logf("%v: %d transfers committed, %d aborted and retried (40001/40P01), %d refused for funds, %d audits",
		*bankDuration, commits.Load(), aborts.Load(), poor.Load(), audits.Load())
}
