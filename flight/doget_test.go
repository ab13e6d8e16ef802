package flight

import (
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mantisdb/mantisdb"
)

// TestDoGetRecycledScan: DoGet of a plain scan of segments, whose batches
// the DB decodes into the recycled buffers of the batches DoGet released
// (mantisdb.WithRecycledBatches), streams the rows of the embedded query,
// also with two streams at once: a buffer goes back to its query's pool
// only once gRPC has copied it to the connection.
func TestDoGetRecycledScan(t *testing.T) {
	t.Run("whole-batches", func(t *testing.T) {
		testDoGetRecycledScan(t, nil, 1024, 0)
	})
	// Batches sliced into messages of at most 16 KiB: arrow-go's IPC
	// payload of a slice (or of a buffer longer than its values)
	// references the bytes without holding the buffer. A slow client
	// with small flow-control windows keeps messages queued in gRPC after
	// SendMsg returned, while the scan decodes the next batches into
	// recycled memory.
	t.Run("sliced-slow-client", func(t *testing.T) {
		testDoGetRecycledScan(t, &Options{MaxBatchBytes: 16 << 10}, 1024, 200*time.Microsecond,
			grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	})
}

// testDoGetRecycledScan compares two DoGets at once of plain scans of
// lineitem with the embedded query; pause slows the client down between
// batches.
func testDoGetRecycledScan(t *testing.T, opts *Options, batchSize int, pause time.Duration, dial ...grpc.DialOption) {
	dial = append(dial, grpc.WithTransportCredentials(insecure.NewCredentials()))
	e := startServerDial(t, opts, &mantisdb.Options{CompactInterval: -1, BatchSize: batchSize}, dial...)
	e.exec(t, tpchLineitemDDL)
	st, err := e.db.Prepare(e.ctx, "SELECT * FROM lineitem")
	if err != nil {
		t.Fatal(err)
	}
	sch := st.Schema()
	st.Close()
	recs := tpchLineitemBatches(sch, 20_000, 10_000)
	rdr, _ := array.NewRecordReader(sch, recs)
	releaseAll(recs)
	if _, err := e.db.Ingest(e.ctx, "lineitem", rdr); err != nil {
		t.Fatal(err)
	}
	rdr.Release()
	if _, err := e.db.Compact(e.ctx, "lineitem"); err != nil {
		t.Fatal(err)
	}
	for _, query := range []string{"SELECT * FROM lineitem", "SELECT l_comment, l_orderkey, l_extendedprice FROM lineitem"} {
		rows, err := e.db.Query(e.ctx, query)
		if err != nil {
			t.Fatal(err)
		}
		var embedded []arrow.RecordBatch
		for rows.Next() {
			rec := rows.Record()
			rec.Retain()
			embedded = append(embedded, rec)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		want := rowStrings(embedded)
		releaseAll(embedded)
		var wg sync.WaitGroup
		got := make([][]string, 2)
		errs := make([]error, 2)
		for i := range got {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[i], errs[i] = doGetRows(e, query, pause)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("%s: %v", query, err)
			}
		}
		for i := range got {
			if len(got[i]) != len(want) {
				t.Fatalf("%s: stream %d has %d rows, want %d", query, i, len(got[i]), len(want))
			}
			for r := range want {
				if got[i][r] != want[r] {
					t.Fatalf("%s: stream %d row %d is\n%s\nwant\n%s", query, i, r, got[i][r], want[r])
				}
			}
		}
	}
}

// doGetRows runs query over Flight SQL and returns its rows (rowStrings),
// pausing after each batch.
func doGetRows(e *testEnv, query string, pause time.Duration) ([]string, error) {
	info, err := e.client.Execute(e.ctx, query)
	if err != nil {
		return nil, err
	}
	rdr, err := e.client.DoGet(e.ctx, info.Endpoint[0].Ticket)
	if err != nil {
		return nil, err
	}
	defer rdr.Release()
	var rows []string
	for rdr.Next() {
		rows = append(rows, rowStrings([]arrow.RecordBatch{rdr.RecordBatch()})...)
		time.Sleep(pause)
	}
	return rows, rdr.Err()
}
