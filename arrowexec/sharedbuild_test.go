package arrowexec

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"go.uber.org/goleak"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// TestSharedHashJoin checks that joins probing one shared build from
// several goroutines at once (or one after the other) emit together what
// one join emits, for every join type (those that emit build rows after
// the probe side emit them once, from the last join to finish), and that
// the build operator is opened and closed once and every buffer released.
func TestSharedHashJoin(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	types := []JoinType{JoinInner, JoinProbeOuter, JoinSemi, JoinAnti, JoinNullAwareAnti,
		JoinBuildOuter, JoinFullOuter, JoinBuildSemi, JoinBuildAnti}
	for iter := 0; iter < 8; iter++ {
		build := randRows(r, r.Intn(40), 1+r.Intn(8))
		if iter == 3 {
			build = nil
		}
		parts := make([][]jrow, 1+r.Intn(4))
		var probe []jrow
		for i := range parts {
			parts[i] = randRows(r, r.Intn(30), 1+r.Intn(8))
			probe = append(probe, parts[i]...)
		}
		for _, typ := range types {
			for _, residual := range []bool{false, true} {
				if typ == JoinNullAwareAnti && residual {
					continue
				}
				name := fmt.Sprintf("%d/%s/res=%v/parts=%d", iter, typ, residual, len(parts))
				mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
				budget := NewBudget(0)
				ctx := WithBudget(exec.WithAllocator(context.Background(), mem), budget)
				opts := HashJoinOptions{Type: typ, BatchSize: 7,
					ProbeKeys: []Expr{Column(0, i64)}, BuildKeys: []Expr{Column(0, i64)}}
				if residual {
					opts.Residual, _ = Compare(OpLt, Column(1, i64), Column(3, i64))
				}
				b := &countingOp{Operator: NewValues(joinSchema, jbatches(t, mem, rowsJSON(build), 5))}
				sb := NewSharedBuild(b)
				var ops []Operator
				for _, p := range parts {
					op, err := NewSharedHashJoin(NewValues(joinSchema, jbatches(t, mem, rowsJSON(p), 6)), sb, opts)
					if err != nil {
						t.Fatal(err)
					}
					ops = append(ops, op)
				}
				if err := sb.Release(); err != nil {
					t.Fatal(err)
				}
				outs := make([][]string, len(ops))
				errs := make([]error, len(ops))
				var wg sync.WaitGroup
				for i, op := range ops {
					if iter%2 == 1 {
						// One after the other: the join that built the
						// table is closed before the others take it.
						outs[i], errs[i] = drainRows(ctx, op)
						// Close is idempotent: a second one must not drop
						// another reference of the shared build.
						op.Close()
						continue
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						outs[i], errs[i] = drainRows(ctx, op)
					}()
				}
				wg.Wait()
				var got []string
				for i := range ops {
					if errs[i] != nil {
						t.Fatalf("%s: part %d: %v", name, i, errs[i])
					}
					got = append(got, outs[i]...)
				}
				slices.Sort(got)
				want := naiveJoin(typ, probe, build, true, residual)
				if strings.Join(got, "\\n") != strings.Join(want, "\\n") {
					t.Fatalf("%s:\\ngot  %v\\nwant %v", name, got, want)
				}
				if b.opens != 1 || b.closes != 1 {
					t.Errorf("%s: build opened %d and closed %d times, want 1 and 1", name, b.opens, b.closes)
				}
				mem.AssertSize(t, 0)
				if u := budget.Used(); u != 0 {
					t.Errorf("%s: %d bytes still accounted", name, u)
				}
			}
		}
	}
}

// countingOp counts Open and Close calls of an operator.
type countingOp struct {
	Operator
	opens, closes int
}

func (c *countingOp) Open(ctx context.Context) error { c.opens++; return c.Operator.Open(ctx) }
func (c *countingOp) Close() error                   { c.closes++; return c.Operator.Close() }

// failingBuild is an operator whose Next fails, or, with block, waits for its
// context to end and returns its error.
type failingBuild struct {
	Operator
	ctx   context.Context
	block bool
	panic bool // Next panics (a bug): the joins fail with XX000
}

var errBuildFailed = fmt.Errorf("build failed")

func (f *failingBuild) Open(ctx context.Context) error { f.ctx = ctx; return f.Operator.Open(ctx) }
func (f *failingBuild) Next() (arrow.RecordBatch, error) {
	if f.block {
		<-f.ctx.Done()
		return nil, f.ctx.Err()
	}
	if f.panic {
		panic("a bug in the build")
	}
	return nil, errBuildFailed
}

// TestSharedBuildFails checks that a build that fails fails every join
// that shares it, and that the last Release stops a build still running
// and waits for it (goleak would see its goroutine otherwise).
func TestSharedBuildFails(t *testing.T) {
	defer goleak.VerifyNone(t)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := exec.WithAllocator(context.Background(), mem)
	opts := HashJoinOptions{ProbeKeys: []Expr{Column(0, i64)}, BuildKeys: []Expr{Column(0, i64)}}
	probe := func() Operator {
		return NewValues(joinSchema, jbatches(t, mem, rowsJSON(randRows(rand.New(rand.NewSource(3)), 20, 4)), 5))
	}

	sb := NewSharedBuild(&failingBuild{Operator: NewValues(joinSchema, nil)})
	var ops []Operator
	for range 3 {
		op, err := NewSharedHashJoin(probe(), sb, opts)
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op)
	}
	sb.Release()
	for i, op := range ops {
		if _, err := drainRows(ctx, op); !errors.Is(err, errBuildFailed) {
			t.Errorf("join %d: %v, want the build's error", i, err)
		}
	}

	// A build that panics on its goroutine fails the joins with an
	// internal error instead of ending the process.
	sb = NewSharedBuild(&failingBuild{Operator: NewValues(joinSchema, nil), panic: true})
	op, err := NewSharedHashJoin(probe(), sb, opts)
	if err != nil {
		t.Fatal(err)
	}
	sb.Release()
	if _, err := drainRows(ctx, op); sqlstate.CodeOf(err) != sqlstate.Internal || !strings.Contains(err.Error(), "a bug in the build") {
		t.Errorf("panicking build: %v, want XX000", err)
	}

	// A join opened, never read, then closed: the build that waits
	// forever is stopped.
	sb = NewSharedBuild(&failingBuild{Operator: NewValues(joinSchema, nil), block: true})
	op, err = NewSharedHashJoin(probe(), sb, opts)
	if err != nil {
		t.Fatal(err)
	}
	sb.Release()
	if err := op.Open(ctx); err != nil {
		t.Fatal(err)
	}
	op.Close()
}
