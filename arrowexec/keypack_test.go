package arrowexec

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

var (
	str    = arrow.BinaryTypes.String
	i16    = arrow.PrimitiveTypes.Int16
	i32    = arrow.PrimitiveTypes.Int32
	date32 = arrow.FixedWidthTypes.Date32
	boolT  = arrow.FixedWidthTypes.Boolean
)

func TestKeyPackerLayout(t *testing.T) {
	for _, tc := range []struct {
		types  []arrow.DataType
		packs  bool
		maxLen int // of the string columns
	}{
		{[]arrow.DataType{str}, true, 7},
		{[]arrow.DataType{str, str}, true, 3},
		{[]arrow.DataType{str, str, str}, true, 2},
		{[]arrow.DataType{str, i32}, true, 3},
		{[]arrow.DataType{i32, i16, boolT}, true, 0},
		{[]arrow.DataType{i32, date32}, false, 0}, // 66 bits
		{[]arrow.DataType{i32, i16, str}, true, 1},
		{[]arrow.DataType{i32, i16, i16}, false, 0},                      // 67 bits
		{[]arrow.DataType{i32, i16, boolT, boolT, boolT, str}, false, 0}, // 8 bits left for the string
		{[]arrow.DataType{str, arrow.PrimitiveTypes.Int64}, false, 0},
		{[]arrow.DataType{str, arrow.PrimitiveTypes.Float64}, false, 0},
	} {
		p := newKeyPacker(tc.types)
		if (p != nil) != tc.packs {
			t.Errorf("%v: packs %v, want %v", tc.types, p != nil, tc.packs)
			continue
		}
		if p == nil {
			continue
		}
		for _, c := range p.cols {
			if c.dt.ID() == arrow.STRING && c.maxLen != tc.maxLen {
				t.Errorf("%v: strings of %d bytes pack, want %d", tc.types, c.maxLen, tc.maxLen)
			}
		}
	}
}

// keyColumns builds key columns from rows of Go values (nil is NULL).
func keyColumns(t *testing.T, mem memory.Allocator, types []arrow.DataType, rows [][]any) []arrow.Array {
	t.Helper()
	cols := make([]arrow.Array, len(types))
	for ci, dt := range types {
		b := array.NewBuilder(mem, dt)
		for _, r := range rows {
			switch v := r[ci].(type) {
			case nil:
				b.AppendNull()
			case string:
				b.(*array.StringBuilder).Append(v)
			case bool:
				b.(*array.BooleanBuilder).Append(v)
			case int16:
				b.(*array.Int16Builder).Append(v)
			case int32:
				if dt.ID() == arrow.DATE32 {
					b.(*array.Date32Builder).Append(arrow.Date32(v))
				} else {
					b.(*array.Int32Builder).Append(v)
				}
			default:
				t.Fatalf("value %T", v)
			}
		}
		cols[ci] = b.NewArray()
		b.Release()
	}
	return cols
}

// TestKeyPacker checks that packing is injective and that unpacking gives
// the keys back, at the edges of each field.
func TestKeyPacker(t *testing.T) {
	_, mem := testCtx(t)
	for _, tc := range []struct {
		types []arrow.DataType
		rows  [][]any
	}{
		{[]arrow.DataType{str, str}, [][]any{{"A", "F"}, {"N", "O"}, {"", ""}, {nil, ""}, {"", nil}, {nil, nil},
			{"abc", "\xff\xff\xff"}, {"\x00", ""}, {"", "\x00"}, {"\x00\x00", "\x00"}, {"ab", "c"}, {"a", "bc"}}},
		{[]arrow.DataType{str}, [][]any{{"1234567"}, {"\xff\xff\xff\xff\xff\xff\xff"}, {""}, {nil}, {"\x00"}}},
		// Without NULLs (packStrings): strings read as words and, near
		// the end of the data, byte by byte.
		{[]arrow.DataType{str, str}, [][]any{{"A", "F"}, {"N", "O"}, {"", ""}, {"abc", "\xff\xff\xff"}, {"\x00", ""},
			{"", "\x00"}, {"ab", "c"}, {"a", "bc"}, {"\xff", "\x00\x00"}}},
		{[]arrow.DataType{str}, [][]any{{"1234567"}, {"\xff\xff\xff\xff\xff\xff\xff"}, {""}, {"\x00"}, {"123456"}}},
		{[]arrow.DataType{i32, i16, boolT}, [][]any{{int32(math.MinInt32), int16(math.MaxInt16), true},
			{int32(math.MaxInt32), int16(math.MinInt16), false}, {int32(-1), int16(-1), nil}, {nil, nil, nil},
			{int32(0), int16(0), false}, {int32(0), nil, false}}},
		{[]arrow.DataType{boolT, str, date32}, [][]any{{true, "xyz", int32(-719162)}, {false, "xyz", int32(2932896)},
			{nil, nil, int32(0)}, {true, "", nil}}},
	} {
		t.Run(fmt.Sprint(tc.types), func(t *testing.T) {
			p := newKeyPacker(tc.types)
			cols := keyColumns(t, mem, tc.types, tc.rows)
			defer releaseAll(cols)
			keys, ok := p.pack(cols, len(tc.rows))
			if !ok {
				t.Fatal("keys do not pack")
			}
			seen := map[int64]int{}
			for i, k := range keys {
				if j, dup := seen[k]; dup {
					t.Errorf("rows %d and %d pack to %#x", j, i, k)
				}
				seen[k] = i
			}
			back := p.unpack(mem, keys)
			defer releaseAll(back)
			for ci := range cols {
				if !array.Equal(cols[ci], back[ci]) {
					t.Errorf("column %d: unpacked %v, want %v", ci, back[ci], cols[ci])
				}
			}
		})
	}
	// Empty arrays may lack their value buffers.
	empty := newKeyPacker([]arrow.DataType{boolT, str, i32})
	ecols := []arrow.Array{array.MakeFromData(array.NewData(boolT, 0, []*memory.Buffer{nil, nil}, nil, 0, 0))}
	ecols = append(ecols, keyColumns(t, mem, []arrow.DataType{str, i32}, nil)...)
	defer releaseAll(ecols)
	if keys, ok := empty.pack(ecols, 0); !ok || len(keys) != 0 {
		t.Errorf("empty batch: %d keys, packed %v", len(keys), ok)
	}
	p := newKeyPacker([]arrow.DataType{str, str})
	cols := keyColumns(t, mem, p.typesOf(), [][]any{{"A", "F"}, {"ABCD", "F"}})
	defer releaseAll(cols)
	if _, ok := p.pack(cols, 2); ok {
		t.Error("a 4-byte string packed into a 3-byte field")
	}
}

func (p *keyPacker) typesOf() []arrow.DataType {
	var out []arrow.DataType
	for _, c := range p.cols {
		out = append(out, c.dt)
	}
	return out
}

// TestPackedGroups aggregates by packed keys, serially and in parallel,
// with partitions whose keys stop packing at the first batch, in the
// middle or never, and compares with a reference computed in Go.
func TestPackedGroups(t *testing.T) {
	ctx, mem := testCtx(t)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "a", Type: str, Nullable: true},
		{Name: "b", Type: str, Nullable: true},
		{Name: "v", Type: i64, Nullable: true},
	}, nil)
	type part struct{ rows, longFrom int } // longFrom < 0: keys always pack
	mk := func(p part, seed int) ([]arrow.RecordBatch, map[string][2]int64) {
		b := array.NewRecordBuilder(mem, schema)
		defer b.Release()
		ref := map[string][2]int64{}
		var out []arrow.RecordBatch
		for i := 0; i < p.rows; i++ {
			x := i + seed
			ka, kb := "NULL", "NULL"
			if x%11 == 0 {
				b.Field(0).AppendNull()
			} else {
				ka = string(rune('A' + x%3))
				if p.longFrom >= 0 && i >= p.longFrom && x%4 == 0 {
					ka = strings.Repeat(ka, 5)
				}
				b.Field(0).(*array.StringBuilder).Append(ka)
			}
			if x%13 == 0 {
				b.Field(1).AppendNull()
			} else {
				kb = []string{"", "F", "O"}[x%3]
				b.Field(1).(*array.StringBuilder).Append(kb)
			}
			b.Field(2).(*array.Int64Builder).Append(int64(x))
			k := ka + "," + kb
			r := ref[k]
			ref[k] = [2]int64{r[0] + 1, r[1] + int64(x)}
			if i%64 == 63 || i == p.rows-1 {
				out = append(out, b.NewRecordBatch())
			}
		}
		return out, ref
	}
	groups := []Expr{Column(0, str), Column(1, str)}
	aggs := []Aggregate{{Func: AggCountStar, Name: "n"}, {Func: AggSum, Arg: Column(2, i64), Name: "s"}}
	for _, parts := range [][]part{
		{{500, -1}},
		{{500, 0}},
		{{500, 300}},
		{{300, -1}, {400, 200}, {0, -1}, {200, -1}},
		{{300, 100}, {400, -1}},
		{{300, 0}, {400, 0}},
	} {
		t.Run(fmt.Sprint(parts), func(t *testing.T) {
			var ins []Operator
			var all []arrow.RecordBatch
			ref := map[string][2]int64{}
			for i, p := range parts {
				recs, r := mk(p, i*1000)
				for k, v := range r {
					ref[k] = [2]int64{ref[k][0] + v[0], ref[k][1] + v[1]}
				}
				for _, rec := range recs {
					rec.Retain()
				}
				all = append(all, recs...)
				ins = append(ins, NewValues(schema, recs))
			}
			var want []string
			for k, v := range ref {
				want = append(want, fmt.Sprintf("%s,%d,%d", k, v[0], v[1]))
			}
			sort.Strings(want)
			serial, err := NewHashAggregate(NewValues(schema, all), groups, []string{"a", "b"}, aggs)
			if err != nil {
				t.Fatal(err)
			}
			par, err := NewParallelHashAggregate(ins, groups, []string{"a", "b"}, aggs)
			if err != nil {
				t.Fatal(err)
			}
			for name, op := range map[string]Operator{"serial": serial, "parallel": par} {
				got, err := drain(t, ctx, op)
				if err != nil {
					t.Fatal(err)
				}
				for i, r := range got {
					got[i] = strings.ReplaceAll(r, "|", ",")
				}
				sort.Strings(got)
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("%s:\n got %v\nwant %v", name, got, want)
				}
			}
		})
	}
}

// TestPackedGroupsFirstBatch stops packing before any group exists, with a
// boolean key (whose empty unpacked column has no value buffer).
func TestPackedGroupsFirstBatch(t *testing.T) {
	ctx, mem := testCtx(t)
	schema := arrow.NewSchema([]arrow.Field{{Name: "p", Type: boolT, Nullable: true}, {Name: "s", Type: str, Nullable: true}}, nil)
	recs := []arrow.RecordBatch{
		recFromJSON(t, mem, schema, `[{"p": true, "s": "a much longer string"}, {"p": null, "s": "x"}]`),
		recFromJSON(t, mem, schema, `[{"p": true, "s": "a much longer string"}, {"p": false, "s": "x"}]`),
	}
	op, err := NewHashAggregate(NewValues(schema, recs), []Expr{Column(0, boolT), Column(1, str)}, []string{"p", "s"},
		[]Aggregate{{Func: AggCountStar, Name: "n"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := drain(t, ctx, op)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	if want := "NULL|x|1 false|x|1 true|a much longer string|2"; strings.Join(got, " ") != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
