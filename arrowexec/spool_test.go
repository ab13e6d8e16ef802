package arrowexec

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// TestSpool checks that every reader of a spool sees all of the input's
// rows in order whatever the order (or goroutines) its readers are opened,
// read and closed in, that the input runs once, and that the spool
// returns every buffer and every reserved byte.
func TestSpool(t *testing.T) {
	rows := testRows(23)
	for _, tc := range []struct {
		name    string
		readers int
		// order runs the readers: each gets its rows into outs[i].
		order string
	}{
		{"one", 1, "sequential"},
		{"two sequential", 2, "sequential"},
		{"three reversed", 3, "reversed"},
		{"two interleaved", 2, "interleaved"},
		{"four concurrent", 4, "concurrent"},
		{"opened in reverse, read in order", 3, "openReversed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, mem := testCtx(t)
			budget := NewBudget(0)
			ctx = WithBudget(ctx, budget)
			in := &countingOp{Operator: NewValues(testSchema, batches(t, mem, rows, 5))}
			s := NewSpool(in)
			ops := make([]Operator, tc.readers)
			for i := range ops {
				ops[i] = s.Reader()
			}
			if err := s.Release(); err != nil {
				t.Fatal(err)
			}
			outs := make([][]string, len(ops))
			errs := make([]error, len(ops))
			switch tc.order {
			case "sequential":
				for i, op := range ops {
					outs[i], errs[i] = drainRows(ctx, op)
				}
			case "reversed":
				for i := len(ops) - 1; i >= 0; i-- {
					outs[i], errs[i] = drainRows(ctx, ops[i])
				}
			case "interleaved", "openReversed":
				for i := range ops {
					j := i
					if tc.order == "openReversed" {
						j = len(ops) - 1 - i
					}
					if err := ops[j].Open(ctx); err != nil {
						t.Fatal(err)
					}
				}
				for done := 0; done < len(ops); {
					done = 0
					for i, op := range ops {
						b, err := op.Next()
						if err != nil {
							t.Fatal(err)
						}
						if b == nil {
							done++
							continue
						}
						outs[i] = append(outs[i], renderBatch(b)...)
					}
				}
				for _, op := range ops {
					if err := op.Close(); err != nil {
						t.Fatal(err)
					}
				}
			case "concurrent":
				var wg sync.WaitGroup
				for i, op := range ops {
					wg.Add(1)
					go func() {
						defer wg.Done()
						outs[i], errs[i] = drainRows(ctx, op)
					}()
				}
				wg.Wait()
			}
			want := renderRows(t, mem, rows)
			for i := range ops {
				if errs[i] != nil {
					t.Fatalf("reader %d: %v", i, errs[i])
				}
				if !slices.Equal(outs[i], want) {
					t.Fatalf("reader %d got\n%v\nwant\n%v", i, outs[i], want)
				}
			}
			if in.opens != 1 || in.closes < 1 {
				t.Fatalf("input opened %d times, closed %d times; want once, at least once", in.opens, in.closes)
			}
			if budget.Used() != 0 || budget.Peak() == 0 {
				t.Fatalf("budget used %d peak %d after the readers closed", budget.Used(), budget.Peak())
			}
		})
	}
}

// TestSpoolBudget checks that a spool over the query's budget fails every
// reader with 53200 and returns what it reserved.
func TestSpoolBudget(t *testing.T) {
	ctx, mem := testCtx(t)
	budget := NewBudget(600)
	ctx = WithBudget(ctx, budget)
	s := NewSpool(NewValues(testSchema, batches(t, mem, testRows(200), 10)))
	a, b := s.Reader(), s.Reader()
	s.Release()
	for _, op := range []Operator{a, b} {
		_, err := drainRows(ctx, op)
		if sqlstate.CodeOf(err) != sqlstate.OutOfMemory {
			t.Fatalf("got %v, want 53200", err)
		}
	}
	if budget.Used() != 0 {
		t.Fatalf("budget used %d after the error", budget.Used())
	}
}

// TestSpoolCloseWithoutOpen checks that readers closed without Open (a
// query closed before it ran, or a build that failed) close the input
// without running it, whoever drops the last reference.
func TestSpoolCloseWithoutOpen(t *testing.T) {
	for _, ownerLast := range []bool{false, true} {
		t.Run(fmt.Sprintf("ownerLast=%v", ownerLast), func(t *testing.T) {
			_, mem := testCtx(t)
			in := &countingOp{Operator: NewValues(testSchema, batches(t, mem, testRows(9), 4))}
			s := NewSpool(in)
			a, b := s.Reader(), s.Reader()
			if !ownerLast {
				s.Release()
			}
			a.Close()
			a.Close() // idempotent: must not drop b's reference
			if in.closes != 0 {
				t.Fatalf("input closed while a reader is open")
			}
			b.Close()
			if ownerLast {
				if in.closes != 0 {
					t.Fatalf("input closed while the owner holds the spool")
				}
				s.Release()
			}
			if in.opens != 0 || in.closes != 1 {
				t.Fatalf("input opened %d, closed %d times; want 0, 1", in.opens, in.closes)
			}
		})
	}
}

// TestSpoolInputError checks that an error of the input reaches every
// reader, and that a reader made after the spool dropped its batches
// fails instead of reading nothing.
func TestSpoolInputError(t *testing.T) {
	ctx, mem := testCtx(t)
	boom := errors.New("boom")
	s := NewSpool(&failingOp{Operator: NewValues(testSchema, batches(t, mem, testRows(9), 4)), after: 1, err: boom})
	a, b := s.Reader(), s.Reader()
	for _, op := range []Operator{a, b} {
		if _, err := drainRows(ctx, op); !errors.Is(err, boom) {
			t.Fatalf("got %v, want %v", err, boom)
		}
	}
	s.Release()

	s = NewSpool(NewValues(testSchema, batches(t, mem, testRows(9), 4)))
	if _, err := drainRows(ctx, s.Reader()); err != nil {
		t.Fatal(err)
	}
	late := s.Reader()
	if _, err := drainRows(ctx, late); !errors.Is(err, errSpoolDropped) {
		t.Fatalf("late reader: got %v, want errSpoolDropped", err)
	}
	s.Release()
}

// TestSpoolCanceled checks that a canceled context stops the fill.
func TestSpoolCanceled(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx, cancel := context.WithCancel(exec.WithAllocator(context.Background(), mem))
	cancel()
	s := NewSpool(NewValues(testSchema, batches(t, mem, testRows(9), 4)))
	if _, err := drainRows(ctx, s.Reader()); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	s.Release()
}

// failingOp returns err after its first after batches.
type failingOp struct {
	Operator
	after int
	err   error
}

func (f *failingOp) Next() (arrow.RecordBatch, error) {
	if f.after == 0 {
		return nil, f.err
	}
	f.after--
	return f.Operator.Next()
}

// renderBatch renders the rows of b as drainRows does.
func renderBatch(b arrow.RecordBatch) []string {
	out, _ := drainRows(context.Background(), NewValues(b.Schema(), []arrow.RecordBatch{retained(b)}))
	return out
}

func retained(b arrow.RecordBatch) arrow.RecordBatch { b.Retain(); return b }

// renderRows renders JSON rows of testSchema as drainRows does.
func renderRows(t *testing.T, mem memory.Allocator, rows []string) []string {
	out, err := drainRows(context.Background(), NewValues(testSchema, batches(t, mem, rows, len(rows))))
	if err != nil {
		t.Fatal(err)
	}
	return out
}
