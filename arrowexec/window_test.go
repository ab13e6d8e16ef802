package arrowexec

import (
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

func TestWindow(t *testing.T) {
	rows := `[{"k":1,"s":"a","v":3},{"k":2,"s":"b","v":1},{"k":1,"s":"c","v":1},{"k":1,"s":"d","v":null},{"k":2,"s":"e","v":5},{"k":1,"s":"f","v":3}]`
	rowsFrame := Frame{Rows: true, Start: FrameBound{Type: BoundPreceding, Offset: 1}, End: FrameBound{Type: BoundFollowing, Offset: 1}}
	whole := Frame{Rows: true, Start: FrameBound{Type: BoundUnboundedPreceding}, End: FrameBound{Type: BoundUnboundedFollowing}}
	for _, tc := range []struct {
		name string
		call WindowCall
		want string // per row, in partition (k), order (v ASC NULLS LAST) order
	}{
		{"row_number", WindowCall{Func: WinRowNumber}, "1,2,3,4,1,2"},
		{"rank", WindowCall{Func: WinRank}, "1,2,2,4,1,2"},
		{"dense_rank", WindowCall{Func: WinDenseRank}, "1,2,2,3,1,2"},
		{"ntile", WindowCall{Func: WinNTile, N: 3}, "1,1,2,3,1,2"},
		{"lag", WindowCall{Func: WinLag, Arg: Column(1, arrow.BinaryTypes.String), N: 1}, "NULL,c,a,f,NULL,b"},
		{"lead_default", WindowCall{Func: WinLead, Arg: Column(2, i64), N: 2, Default: lit(int64(-1))}, "3,NULL,-1,-1,-1,-1"},
		{"running_sum", WindowCall{Func: WinAgg, Agg: AggSum, Arg: Column(2, i64), Frame: DefaultFrame}, "1,7,7,7,1,6"},
		{"rows_min", WindowCall{Func: WinAgg, Agg: AggMin, Arg: Column(2, i64), Frame: rowsFrame}, "1,1,3,3,1,1"},
		{"rows_max_str", WindowCall{Func: WinAgg, Agg: AggMax, Arg: Column(1, arrow.BinaryTypes.String), Frame: rowsFrame}, "c,f,f,f,e,e"},
		{"count_whole", WindowCall{Func: WinAgg, Agg: AggCount, Arg: Column(2, i64), Frame: whole}, "3,3,3,3,2,2"},
		{"avg_whole", WindowCall{Func: WinAgg, Agg: AggAvg, Arg: Column(2, i64), Frame: whole}, "2.3333333333333335,2.3333333333333335,2.3333333333333335,2.3333333333333335,3,3"},
		{"last_value", WindowCall{Func: WinLastValue, Arg: Column(1, arrow.BinaryTypes.String), Frame: DefaultFrame}, "c,f,f,d,b,e"},
	} {
		for _, size := range []int{1, 4, 10} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, size), func(t *testing.T) {
				ctx, mem := testCtx(t)
				rec := recFromJSON(t, mem, testSchema, rows)
				var recs []arrow.RecordBatch
				for i := int64(0); i < rec.NumRows(); i += int64(size) {
					recs = append(recs, rec.NewSlice(i, min(i+int64(size), rec.NumRows())))
				}
				rec.Release()
				tc.call.Name = "w"
				op, err := NewWindow(NewValues(testSchema, recs), []Expr{Column(0, i64)}, []SortKey{{Expr: Column(2, i64)}}, []WindowCall{tc.call})
				if err != nil {
					t.Fatal(err)
				}
				out, err := drain(t, ctx, op)
				if err != nil {
					t.Fatal(err)
				}
				got := make([]string, len(out))
				for i, r := range out {
					got[i] = r[strings.LastIndexByte(r, '|')+1:]
				}
				if g := strings.Join(got, ","); g != tc.want {
					t.Errorf("got %s, want %s", g, tc.want)
				}
			})
		}
	}
}

func TestWindowErrors(t *testing.T) {
	ctx, mem := testCtx(t)
	recs := []arrow.RecordBatch{recFromJSON(t, mem, testSchema, `[{"k":1,"s":"a","v":9223372036854775807},{"k":1,"s":"b","v":1}]`)}
	op, err := NewWindow(NewValues(testSchema, recs), nil, []SortKey{{Expr: Column(1, arrow.BinaryTypes.String)}},
		[]WindowCall{{Func: WinAgg, Agg: AggSum, Arg: Column(2, i64), Frame: DefaultFrame, Name: "s"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := drain(t, ctx, op); sqlstate.CodeOf(err) != sqlstate.NumericOutOfRange {
		t.Fatalf("overflow: err = %v", err)
	}
	recs = batches(t, mem, testRows(2000), 100)
	bctx := WithBudget(ctx, NewBudget(1000))
	op, err = NewWindow(NewValues(testSchema, recs), nil, nil, []WindowCall{{Func: WinRowNumber, Name: "r"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := drain(t, bctx, op); sqlstate.CodeOf(err) != sqlstate.OutOfMemory {
		t.Fatalf("budget: err = %v", err)
	}
	if _, err := NewWindow(NewValues(testSchema, nil), nil, nil, []WindowCall{{Func: WinAgg, Agg: AggSum, Arg: Column(1, arrow.BinaryTypes.String)}}); err == nil {
		t.Fatal("SUM of strings accepted")
	}
}
