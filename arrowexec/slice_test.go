package arrowexec

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// TestSlicedVarlen filters String and Binary columns of a batch whose arrays
// start at a non-zero offset (as array.NewSlice and storage readers make
// them), which must read each row's own bytes.
func TestSlicedVarlen(t *testing.T) {
	ctx, mem := testCtx(t)
	defer mem.AssertSize(t, 0)
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "k", Type: arrow.BinaryTypes.Binary},
	}, nil)
	b := array.NewRecordBuilder(mem, sch)
	defer b.Release()
	for _, w := range []string{"apple", "banana", "cherry", "date", "elderberry", "fig"} {
		b.Field(0).(*array.StringBuilder).Append(w)
		b.Field(1).(*array.BinaryBuilder).Append([]byte("key-" + w))
	}
	whole := b.NewRecordBatch()
	sliced := whole.NewSlice(2, 6) // cherry, date, elderberry, fig
	whole.Release()

	pred, err := Like(Column(0, arrow.BinaryTypes.String), "%e%", false, false)
	if err != nil {
		t.Fatal(err)
	}
	op := NewFilter(NewValues(sch, []arrow.RecordBatch{sliced}), pred)
	got, err := drain(t, ctx, op)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"cherry|key-cherry", "date|key-date", "elderberry|key-elderberry"}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d: got %q, want %q", i, got[i], want[i])
		}
	}
}
