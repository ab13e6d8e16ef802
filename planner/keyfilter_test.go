package planner

import (
	"context"
	"math"
	"math/rand"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb/arrowexec"
)

// TestKeyIn checks the key filter's predicate against a map, for sets held
// as bitmaps (dense, negative values, the int64 extremes) and as maps
// (sparse), over keys of several integer widths with NULLs.
func TestKeyIn(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := exec.WithAllocator(context.Background(), mem)
	r := rand.New(rand.NewSource(1))
	for _, tc := range []struct {
		name   string
		set    []int64
		bitmap bool
	}{
		{"empty", nil, true},
		{"dense", []int64{3, 5, 7, 64, 65, 127, 128, 1000}, true},
		{"negative", []int64{-100, -1, 0, 1, 99}, true},
		{"sparse", []int64{1, 1 << 40, -1 << 40}, false},
		{"extremes", []int64{math.MinInt64, math.MaxInt64, 0}, false},
	} {
		set := &keySet{}
		set.fill(tc.set)
		set.once.Do(func() {})
		if got := set.bits != nil; got != tc.bitmap {
			t.Errorf("%s: bitmap %v, want %v", tc.name, got, tc.bitmap)
		}
		want := map[int64]bool{}
		for _, v := range tc.set {
			want[v] = true
		}
		for _, typ := range []arrow.DataType{arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int16} {
			b := array.NewBuilder(mem, typ)
			var vals []int64
			var valid []bool
			for i := range 300 {
				v := int64(r.Intn(1200)) - 150
				if i%7 == 0 && len(tc.set) > 0 {
					v = tc.set[r.Intn(len(tc.set))]
				}
				if typ.ID() != arrow.INT64 && (v < math.MinInt16 || v > math.MaxInt16) {
					v = 0
				}
				ok := i%11 != 5
				vals, valid = append(vals, v), append(valid, ok)
				switch b := b.(type) {
				case *array.Int64Builder:
					b.AppendValues([]int64{v}, []bool{ok})
				case *array.Int32Builder:
					b.AppendValues([]int32{int32(v)}, []bool{ok})
				case *array.Int16Builder:
					b.AppendValues([]int16{int16(v)}, []bool{ok})
				}
			}
			col := b.NewArray()
			b.Release()
			rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "k", Type: typ, Nullable: true}}, nil), []arrow.Array{col}, int64(col.Len()))
			col.Release()
			k := &keyIn{key: arrowexec.Column(0, typ), set: set}
			out, err := k.Eval(ctx, rec)
			rec.Release()
			if err != nil {
				t.Fatalf("%s %s: %v", tc.name, typ, err)
			}
			got := out.(*array.Boolean)
			for i, v := range vals {
				if w := valid[i] && want[v]; got.Value(i) != w || got.IsNull(i) {
					t.Errorf("%s %s: row %d (%d, valid %v) = %v, want %v", tc.name, typ, i, v, valid[i], got.Value(i), w)
				}
			}
			out.Release()
		}
	}
}
