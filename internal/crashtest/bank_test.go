package crashtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Bank test constants: accounts and their opening balance.
const (
	bankAccounts = 100
	bankBalance  = 1000
)

// TestBankKillRestart runs money transfers between 100 accounts over HTTP,
// each one UPDATE statement that moves an amount between two rows (its own
// transaction; conflicts are retried by the engine), kills the server with
// SIGKILL at a random moment and restarts it: the total must hold after
// every restart, since no transfer may be half applied. The server is
// killed *crash.kills times (3 with -short).
func TestBankKillRestart(t *testing.T) {
	n := *kills
	if testing.Short() {
		n = 3
	}
	dataDir := t.TempDir()
	s := start(t, dataDir)
	ctx := context.Background()
	if _, err := s.sql(ctx, "create table accounts (id bigint primary key, balance bigint not null)"); err != nil {
		s.kill()
		t.Fatal(err)
	}
	var vals []string
	for i := 0; i < bankAccounts; i++ {
		vals = append(vals, fmt.Sprintf("(%d, %d)", i, bankBalance))
	}
	if _, err := s.sql(ctx, "insert into accounts values "+strings.Join(vals, ", ")); err != nil {
		s.kill()
		t.Fatal(err)
	}
	// The transfer statement needs CASE and IN from the SQL engine.
	if _, err := s.sql(ctx, transferSQL(0, 1, 0)); err != nil {
		s.kill()
		t.Skipf("the SQL engine cannot run the transfer statement yet (%v); skipping the bank kill test", err)
	}
	var acked atomic.Int64
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	for round := 0; round < n; round++ {
		cctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
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
					if _, err := s.sql(cctx, transferSQL(a, b, r.IntN(100)+1)); err != nil {
						if cctx.Err() == nil && !strings.Contains(err.Error(), "connection") &&
							!strings.Contains(err.Error(), "EOF") {
							t.Errorf("transfer: %v", err)
						}
						return
					}
					acked.Add(1)
				}
			}(w)
		}
		time.Sleep(time.Duration(50+rng.IntN(300)) * time.Millisecond)
		s.kill()
		cancel()
		wg.Wait()

		s = start(t, dataDir)
		out, err := s.sql(ctx, "select count(*), sum(balance) from accounts")
		if err != nil {
			s.kill()
			t.Fatalf("round %d: %v", round, err)
		}
		rows, _ := out["rows"].([]any)
		if len(rows) != 1 {
			s.kill()
			t.Fatalf("round %d: result %v", round, out)
		}
		cells := rows[0].([]any)
		count, total := fmt.Sprint(cells[0]), fmt.Sprint(cells[1])
		if count != fmt.Sprint(bankAccounts) || total != fmt.Sprint(bankAccounts*bankBalance) {
			t.Errorf("round %d: %s accounts with total %s after restart, want %d and %d",
				round, count, total, bankAccounts, bankAccounts*bankBalance)
			break
		}
	}
	s.kill()
	if acked.Load() == 0 {
		t.Error("no transfer was acknowledged")
	}
	t.Logf("%d kills, %d acknowledged transfers", n, acked.Load())
}

// transferSQL moves x from account a to account b in one statement.
func transferSQL(a, b, x int) string {
	return fmt.Sprintf("update accounts set balance = balance + case when id = %d then %d else %d end where id in (%d, %d)",
		a, -x, x, a, b)
}
