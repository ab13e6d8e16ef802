package flight

import (
	"runtime"
	"testing"
	"time"

	"github.com/mantisdb/mantisdb"
)

// TestStopMidStreamReleasesBatches stops the server hard while a DoGet
// has batches queued in gRPC's transport, which then drops them without
// freeing them: their payloads must still be released (by the owner's
// cleanup) once the garbage collector finds them unreachable.
func TestStopMidStreamReleasesBatches(t *testing.T) {
	e := startServer(t, nil, &mantisdb.Options{BatchSize: 4096})
	e.exec(t, "CREATE TABLE big (id BIGINT PRIMARY KEY, v VARCHAR)")
	ingestBig(t, e, 100_000)
	info, err := e.client.Execute(e.ctx, "SELECT id, v FROM big")
	if err != nil {
		t.Fatal(err)
	}
	rdr, err := e.client.DoGet(e.ctx, info.Endpoint[0].Ticket)
	if err != nil {
		t.Fatal(err)
	}
	if !rdr.Next() {
		t.Fatal(rdr.Err())
	}
	e.srv.Stop()
	for rdr.Next() {
	}
	rdr.Release()
	for i := 0; e.serverMem.CurrentAlloc() != 0 && i < 100; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	e.serverMem.AssertSize(t, 0)
}
