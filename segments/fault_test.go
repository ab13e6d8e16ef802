package segments

import (
	"context"
	"errors"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// TestReadFaults injects an I/O error into the k-th read of a scan: the
// scan fails with the error, never returns a short or wrong result, and
// leaks no memory.
func TestReadFaults(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	base := vfs.NewMem()
	tbl := testTable()
	m := writeSegment(t, base, mem, tbl, 1, 2000, 1000, &WriterOptions{RowGroupSize: 500, Allocator: mem})
	want := expected(tbl, 2000)
	for k := 1; ; k++ {
		n := 0
		var armed bool
		fs := errorfs.Wrap(base, errorfs.InjectorFunc(func(op errorfs.Op) error {
			if !armed || op.Kind != errorfs.OpFileReadAt {
				return nil
			}
			if n++; n == k {
				return errInjected
			}
			return nil
		}))
		r, err := Open(fs, "", m)
		if err != nil {
			t.Fatal(err)
		}
		armed = true
		s, err := r.Scan(context.Background(), ScanOptions{Allocator: mem, BatchSize: 300})
		if err != nil {
			t.Fatal(err)
		}
		rows := 0
		for s.Next() {
			rows += int(s.Record().NumRows())
		}
		serr := s.Err()
		s.Close()
		r.Close()
		if n < k {
			// The scan needed fewer than k reads: it must be complete.
			if serr != nil || rows != len(want) {
				t.Fatalf("clean scan: %d rows, %v", rows, serr)
			}
			if k < 3 {
				t.Fatalf("scan did only %d reads", k-1)
			}
			return
		}
		if !errors.Is(serr, errInjected) {
			t.Fatalf("read fault %d: scan returned %d rows and error %v", k, rows, serr)
		}
	}
}

// TestWriteFaults injects an error into the k-th write operation: Finish
// or Write fails, and no file is left behind.
func TestWriteFaults(t *testing.T) {
	tbl := testTable()
	for k := 1; ; k++ {
		base := vfs.NewMem()
		n := 0
		fs := errorfs.Wrap(base, errorfs.InjectorFunc(func(op errorfs.Op) error {
			if op.Kind.ReadOrWrite() == errorfs.OpIsWrite && op.Kind != errorfs.OpRemove && op.Kind != errorfs.OpFileClose {
				if n++; n == k {
					return errInjected
				}
			}
			return nil
		}))
		m, err := tryWrite(fs, "", tbl)
		if n < k {
			if err != nil || m == nil {
				t.Fatalf("clean write failed: %v", err)
			}
			return
		}
		if err == nil {
			t.Fatalf("fault at write %d not reported", k)
		}
		if names, _ := base.List(""); len(names) != 0 {
			t.Fatalf("fault at write %d left %v", k, names)
		}
	}
}
