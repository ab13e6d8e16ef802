package arrowexec

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestGroupTableFindAll checks the blockwise findAll and lookupAll of a
// groupTable against a map over composite keys (an integer with NULLs and
// a string), across batches that grow the table past the size at which
// hashBlock loads slots ahead, with skipped rows.
func TestGroupTableFindAll(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rows    int
		keys    int
		skipped bool
	}{
		{"empty", 0, 1, false},
		{"few-groups", 3000, 7, false},
		{"many-groups", 30000, 20000, false},
		{"many-groups-skip", 30000, 20000, true},
		{"all-distinct", 20000, 1 << 40, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(tc.rows)))
			tab := newGroupTable()
			var enc keyEncoder
			want := map[string]int32{}
			ib := array.NewInt64Builder(memory.DefaultAllocator)
			sb := array.NewStringBuilder(memory.DefaultAllocator)
			defer ib.Release()
			defer sb.Release()
			const batch = 1500
			for lo := 0; lo < tc.rows; lo += batch {
				n := min(batch, tc.rows-lo)
				names := make([]string, n)
				skip := make([]bool, n)
				for i := 0; i < n; i++ {
					k := r.Int64N(int64(tc.keys))
					if k%11 == 3 {
						ib.AppendNull()
						names[i] = "NULL"
					} else {
						ib.Append(k)
						names[i] = fmt.Sprint(k)
					}
					s := fmt.Sprintf("s%d", k%5)
					sb.Append(s)
					names[i] += "/" + s
					skip[i] = tc.skipped && i%9 == 4
				}
				cols := []arrow.Array{ib.NewArray(), sb.NewArray()}
				if err := enc.encode(cols, n); err != nil {
					t.Fatal(err)
				}
				if !tc.skipped {
					skip = nil
				}
				gids := make([]int32, n)
				tab.findAll(&enc, skip, gids)
				for i, g := range gids {
					if skip != nil && skip[i] {
						if g != -1 {
							t.Fatalf("skipped row %d has group %d", lo+i, g)
						}
						continue
					}
					wg, ok := want[names[i]]
					if !ok {
						wg = int32(len(want))
						want[names[i]] = wg
					}
					if g != wg {
						t.Fatalf("row %d key %s: group %d, want %d", lo+i, names[i], g, wg)
					}
				}
				tab.lookupAll(&enc, skip, gids)
				for i, g := range gids {
					wg, ok := want[names[i]]
					switch {
					case skip != nil && skip[i]:
						wg = -2
					case !ok:
						wg = -1
					}
					if g != wg {
						t.Fatalf("lookup of row %d key %s: %d, want %d", lo+i, names[i], g, wg)
					}
				}
				releaseAll(cols)
			}
			if tab.len() != len(want) {
				t.Fatalf("%d groups, want %d", tab.len(), len(want))
			}
		})
	}
}

// TestKeyEncoderNoRows encodes zero rows of columns without value buffers
// (an empty BOOLEAN array may have none), which once dereferenced nil.
func TestKeyEncoderNoRows(t *testing.T) {
	var cols []arrow.Array
	for _, dt := range []arrow.DataType{arrow.FixedWidthTypes.Boolean, i64, arrow.BinaryTypes.String} {
		d := array.NewData(dt, 0, []*memory.Buffer{nil, nil, nil}[:len(dt.Layout().Buffers)], nil, 0, 0)
		cols = append(cols, array.MakeFromData(d))
		d.Release()
	}
	defer releaseAll(cols)
	var enc keyEncoder
	if err := enc.encode(cols, 0); err != nil {
		t.Fatal(err)
	}
	if len(enc.offs) != 1 || len(enc.buf) != 0 {
		t.Fatalf("offs %v, %d key bytes; want one offset and none", enc.offs, len(enc.buf))
	}
}
