package arrowexec

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestRecycler(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r := newRecycler(mem)
	b := r.Allocate(recycleMin)
	for i := range b {
		b[i] = 0xff
	}
	r.Free(b)
	if mem.CurrentAlloc() != recycleMin {
		t.Fatalf("kept %d bytes, want %d", mem.CurrentAlloc(), recycleMin)
	}
	c := r.Allocate(recycleMin)
	if &c[0] != &b[0] {
		t.Error("a freed buffer of the same size was not reused")
	}
	for i, x := range c {
		if x != 0 {
			t.Fatalf("reused buffer not zeroed at %d", i)
		}
	}
	c[0] = 7
	d := r.Reallocate(2*recycleMin, c)
	if len(d) != 2*recycleMin || d[0] != 7 || d[recycleMin] != 0 {
		t.Fatal("Reallocate lost the contents or the size")
	}
	small := r.Allocate(64)
	r.Free(small) // small buffers go back to the parent at once
	r.Free(d)
	r.release()
	if mem.CurrentAlloc() != 0 {
		t.Fatalf("%d bytes held after release", mem.CurrentAlloc())
	}
	// Buffers beyond recycleKeep return to the parent at once.
	bufs := make([][]byte, recycleKeep+3)
	for i := range bufs {
		bufs[i] = r.Allocate(recycleMin + 64)
	}
	for _, b := range bufs {
		r.Free(b)
	}
	if got, want := mem.CurrentAlloc(), recycleKeep*(recycleMin+64); got != want {
		t.Fatalf("%d bytes kept, want %d", got, want)
	}
	r.release()
}
