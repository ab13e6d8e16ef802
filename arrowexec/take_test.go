package arrowexec

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestTakeRuns checks take on indices with runs of every length (copied
// whole) and single ones, over sliced arrays with NULLs, against the values
// taken one by one.
func TestTakeRuns(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(3, 4))
	ib := array.NewInt64Builder(mem)
	sb := array.NewStringBuilder(mem)
	for i := range 3000 {
		if i%17 == 5 {
			ib.AppendNull()
			sb.AppendNull()
			continue
		}
		ib.Append(int64(i * 3))
		sb.Append(fmt.Sprintf("s%d", i%(1+i%50)))
	}
	ints, strs := ib.NewArray(), sb.NewArray()
	ib.Release()
	sb.Release()
	defer ints.Release()
	defer strs.Release()
	for _, full := range []bool{true, false} {
		for _, base := range []string{"int64", "string"} {
			var whole = ints
			if base == "string" {
				whole = strs
			}
			a := whole
			if !full {
				a = array.NewSlice(whole, 100, 2900)
			} else {
				a.Retain()
			}
			var idx []int32
			for len(idx) < 2000 {
				j := int32(rng.IntN(a.Len()))
				for n := rng.IntN(40); n >= 0 && int(j) < a.Len(); n-- {
					idx = append(idx, j)
					j++
				}
			}
			out, err := take(mem, a, idx)
			if err != nil {
				t.Fatal(err)
			}
			for i, j := range idx {
				if got, want := out.ValueStr(i), a.ValueStr(int(j)); got != want {
					t.Fatalf("%s (whole %v): row %d (index %d) is %s, want %s", base, full, i, j, got, want)
				}
			}
			out.Release()
			a.Release()
		}
	}
}
