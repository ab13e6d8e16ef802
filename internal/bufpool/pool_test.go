package bufpool

import (
	"bytes"
	"testing"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestClass(t *testing.T) {
	for _, tc := range []struct{ size, class int }{
		{0, -1}, {1, -1}, {2048, -1}, {2049, 0}, {4096, 0}, {4097, 1}, {64 << 10, 4},
		{64<<10 + 1, 5}, {16 << 20, numClasses - 1}, {16<<20 + 1, -1},
	} {
		if got := class(tc.size); got != tc.class {
			t.Errorf("class(%d) = %d, want %d", tc.size, got, tc.class)
		}
	}
}

func aligned(b []byte) bool {
	return cap(b) == 0 || uintptr(unsafe.Pointer(unsafe.SliceData(b)))%64 == 0
}

// TestReuse: freed memory comes back, uncleared, for an allocation of the
// same class; other sizes and foreign slices are not pooled.
func TestReuse(t *testing.T) {
	p := New(nil, 0)
	a := p.Allocate(5000)
	if len(a) != 5000 || cap(a) != 8192 || !aligned(a) {
		t.Fatalf("Allocate(5000): len %d cap %d aligned %v", len(a), cap(a), aligned(a))
	}
	for i := range a {
		a[i] = 7
	}
	p.Free(a)
	b := p.Allocate(6000)
	if &b[0] != &a[0] || len(b) != 6000 {
		t.Fatalf("Allocate(6000) after Free did not reuse the 8 KiB buffer")
	}
	if b[4999] != 7 {
		t.Fatalf("reused memory was cleared (byte %d)", b[4999])
	}
	if c := p.Allocate(6000); &c[0] == &a[0] {
		t.Fatal("one buffer handed out twice")
	}
	// Small sizes bypass the pool; foreign slices are ignored by Free.
	small := p.Allocate(100)
	if len(small) != 100 || !aligned(small) {
		t.Fatalf("Allocate(100): len %d aligned %v", len(small), aligned(small))
	}
	p.Free(small)
	p.Free(b)
	if allocs, reused := p.Stats(); allocs != 3 || reused != 1 {
		t.Fatalf("Stats = %d, %d, want 3, 1", allocs, reused)
	}
	if p.idle != 8192 {
		t.Fatalf("idle %d bytes, want 8192", p.idle)
	}
}

// TestReallocate keeps the first bytes and frees the old buffer.
func TestReallocate(t *testing.T) {
	p := New(nil, 0)
	a := p.Allocate(4096)
	copy(a, "hello")
	if b := p.Reallocate(4000, a); &b[0] != &a[0] || len(b) != 4000 {
		t.Fatal("shrinking reallocated")
	}
	b := p.Reallocate(10000, a)
	if !bytes.HasPrefix(b, []byte("hello")) || len(b) != 10000 || cap(b) != 16384 || !aligned(b) {
		t.Fatalf("grown buffer: len %d cap %d prefix %q", len(b), cap(b), b[:5])
	}
	if c := p.Allocate(3000); &c[0] != &a[0] {
		t.Fatal("the buffer Reallocate left was not reused")
	}
}

// TestMaxIdle: the pool keeps at most maxIdle bytes.
func TestMaxIdle(t *testing.T) {
	p := New(nil, 10000)
	a, b := p.Allocate(8192), p.Allocate(8192)
	p.Free(a)
	p.Free(b)
	if p.idle != 8192 || len(p.free[1]) != 1 {
		t.Fatalf("idle %d bytes in %d buffers, want one of 8192", p.idle, len(p.free[1]))
	}
}

// TestPoison: freed memory is filled with the poison byte.
func TestPoison(t *testing.T) {
	p := New(nil, 0)
	p.SetPoison(0xAA)
	a := p.Allocate(4096)
	clear(a)
	p.Free(a)
	b := p.Allocate(4096)
	if !bytes.Equal(b, bytes.Repeat([]byte{0xAA}, 4096)) {
		t.Fatal("freed memory not poisoned")
	}
}

// TestParentAccounting: every byte the pool takes from its parent goes
// back to it, through the bound on idle memory, Close, and frees after
// Close; small and huge allocations pass through.
func TestParentAccounting(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	p := New(mem, 20000)
	var held [][]byte
	for _, size := range []int{100, 3000, 5000, 5000, 9000, 16 << 10, 17 << 20} {
		held = append(held, p.Allocate(size))
	}
	held[1] = p.Reallocate(7000, held[1])  // 4 KiB -> 8 KiB class
	held[0] = p.Reallocate(200, held[0])   // small, the parent's
	held[0] = p.Reallocate(6000, held[0])  // small -> 8 KiB class
	held[4] = p.Reallocate(12000, held[4]) // within its 16 KiB class
	for _, b := range held[:4] {
		p.Free(b) // kept up to 20000 bytes, the rest to the parent
	}
	if p.idle > 20000 {
		t.Fatalf("%d bytes idle, bound 20000", p.idle)
	}
	p.Close()
	for _, b := range held[4:] {
		p.Free(b) // after Close: to the parent
	}
	if p.idle != 0 {
		t.Fatalf("%d bytes idle after Close", p.idle)
	}
}
