package arrowexec

import (
	"context"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"
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
