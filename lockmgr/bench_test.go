package lockmgr

import (
	"context"
	"encoding/binary"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// BenchmarkLockUnlock is the uncontended fast path: one transaction locks
// and unlocks a row whose intention locks it already holds.
func BenchmarkLockUnlock(b *testing.B) {
	for _, tc := range []struct {
		name string
		res  Resource
		mode Mode
	}{
		{"row-X", Row(1, []byte("customer/000000042")), Exclusive},
		{"row-S", Row(1, []byte("customer/000000042")), Shared},
		{"table-IX", Table(1), IntentExclusive},
	} {
		b.Run(tc.name, func(b *testing.B) {
			m := New(nil)
			defer m.Close()
			tx := m.Begin(1)
			defer tx.End()
			ctx := context.Background()
			if err := tx.Lock(ctx, Row(1, []byte("warm")), Exclusive); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				if err := tx.Lock(ctx, tc.res, tc.mode); err != nil {
					b.Fatal(err)
				}
				tx.Unlock(tc.res)
			}
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkTxn is a whole short transaction: Begin, lock one row (taking the
// database and table intention locks), End.
func BenchmarkTxn(b *testing.B) {
	m := New(nil)
	defer m.Close()
	ctx := context.Background()
	key := make([]byte, 8)
	var id TxnID
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		id++
		binary.BigEndian.PutUint64(key, uint64(id))
		tx := m.Begin(id)
		if err := tx.Lock(ctx, Row(1, key), Exclusive); err != nil {
			b.Fatal(err)
		}
		tx.End()
	}
	reportCPU(b, cpu)
}

func counterValueB(b *testing.B, c prometheus.Counter) float64 {
	var pb dto.Metric
	if err := c.Write(&pb); err != nil {
		b.Fatal(err)
	}
	return pb.GetCounter().GetValue()
}

// BenchmarkContended runs g goroutines of short transactions (lock one row
// X, release) against the same table: the database and table heads are
// shared by all, and with "hot" rows the row locks collide and wait.
func BenchmarkContended(b *testing.B) {
	for _, rows := range []int{1 << 16, 16} {
		for _, g := range []int{2, 8, 64} {
			name := "rows=" + strconv.Itoa(rows) + "/goroutines=" + strconv.Itoa(g)
			b.Run(name, func(b *testing.B) {
				m := New(nil)
				defer m.Close()
				var next atomic.Uint64
				var ops atomic.Int64
				var wg sync.WaitGroup
				b.ReportAllocs()
				b.ResetTimer()
				cpu := cpuTime()
				per := b.N/g + 1
				for w := 0; w < g; w++ {
					wg.Add(1)
					go func(w int) {
						defer wg.Done()
						ctx := context.Background()
						key := make([]byte, 8)
						x := uint64(w)*0x9e3779b97f4a7c15 + 1
						for i := 0; i < per; i++ {
							x ^= x << 13
							x ^= x >> 7
							x ^= x << 17
							binary.BigEndian.PutUint64(key, x%uint64(rows))
							tx := m.Begin(TxnID(next.Add(1)))
							if err := tx.Lock(ctx, Row(1, key), Exclusive); err != nil {
								b.Error(err)
								tx.End()
								return
							}
							tx.End()
							ops.Add(1)
						}
					}(w)
				}
				wg.Wait()
				b.StopTimer()
				reportCPU(b, cpu)
				var waits float64
				for md := IntentShared; md <= Exclusive; md++ {
					waits += counterValueB(b, m.metrics.waits[md])
				}
				b.ReportMetric(waits/float64(ops.Load()), "waits/op")
				b.ReportMetric(float64(ops.Load())/b.Elapsed().Seconds(), "txn/s")
			})
		}
	}
}
