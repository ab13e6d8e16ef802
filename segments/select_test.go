package segments

import (
	"context"
	"errors"
	"math/rand"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/mantisdb/mantisdb/catalog"
)

// values returns rows [0, n) of testTable as Values.
func values(tbl *catalog.Table, n int) [][]Value {
	rec := genBatch(memory.DefaultAllocator, tbl, 0, n)
	defer rec.Release()
	rows := make([][]Value, n)
	for i := range rows {
		rows[i] = make([]Value, rec.NumCols())
		for c := range rows[i] {
			rows[i][c] = ValueAt(rec.Column(c), i)
		}
	}
	return rows
}

func matches(c Cond, v Value) bool {
	if c.Op == OpIsNull {
		return v.Null
	}
	if v.Null {
		return false
	}
	if c.Op == OpIn {
		for _, x := range c.Values {
			if !x.Null && Compare(v, x) == 0 {
				return true
			}
		}
		return false
	}
	if c.Value.Null {
		return false
	}
	r := Compare(v, c.Value)
	switch c.Op {
	case OpEq:
		return r == 0
	case OpLt:
		return r < 0
	case OpLe:
		return r <= 0
	case OpGt:
		return r > 0
	case OpGe:
		return r >= 0
	}
	return false
}

// TestSelectBruteForce checks random predicates and delete bitmaps against
// a brute-force filter: scans return every matching row, exactly the
// matching rows when the Selection is exact, and never a deleted row.
func TestSelectBruteForce(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	fs := vfs.NewMem()
	tbl := testTable()
	const n = 3000
	m := writeSegment(t, fs, mem, tbl, 1, n, 1000,
		&WriterOptions{RowGroupSize: 500, BitmapMaxDistinct: 600, Allocator: mem})
	r, err := Open(fs, "", m)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	data := values(tbl, n)
	rng := rand.New(rand.NewSource(1))
	ops := []Op{OpEq, OpLt, OpLe, OpGt, OpGe, OpIn, OpIsNull}
	exactCount := 0
	for iter := 0; iter < 300; iter++ {
		var p Predicate
		for k := 0; k < 1+rng.Intn(2); k++ {
			col := rng.Intn(len(tbl.Columns))
			c := Cond{Column: tbl.Columns[col].Name, Op: ops[rng.Intn(len(ops))]}
			pick := func() Value {
				v := data[rng.Intn(n)][col]
				if v.Null {
					v = data[0][col] // column 0..: row 0 is mostly non-NULL
				}
				return v
			}
			c.Value = pick()
			if c.Op == OpIn {
				c.Values = []Value{pick(), pick(), pick()}
			}
			if c.Value.Null && c.Op != OpIsNull && c.Op != OpIn {
				c.Op = OpIsNull
			}
			p = append(p, c)
		}
		var deleted *roaring.Bitmap
		if rng.Intn(2) == 0 {
			deleted = roaring.New()
			for k := 0; k < 300; k++ {
				deleted.Add(uint32(rng.Intn(n)))
			}
			deleted.AddRange(1000, 1500) // a whole row group
		}
		want := map[int64]bool{}
		for i, row := range data {
			if deleted != nil && deleted.Contains(uint32(i)) {
				continue
			}
			ok := true
			for _, c := range p {
				ci := tbl.ColumnIndex(c.Column)
				ok = ok && matches(c, row[ci])
			}
			if ok {
				want[int64(2*i)] = true
			}
		}
		s, err := r.Scan(context.Background(), ScanOptions{Columns: []int{0}, Filter: p, Deleted: deleted,
			Allocator: mem, BatchSize: 128 + rng.Intn(1000)})
		if err != nil {
			t.Fatal(err)
		}
		got := map[int64]bool{}
		for s.Next() {
			rec := s.Record()
			for i := 0; i < int(rec.NumRows()); i++ {
				id := ValueAt(rec.Column(0), i).I
				if deleted != nil && deleted.Contains(uint32(id/2)) {
					t.Fatalf("%s: deleted row %d returned", p, id/2)
				}
				got[id] = true
			}
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		exact := s.Exact()
		st := s.Stats()
		s.Close()
		for id := range want {
			if !got[id] {
				t.Fatalf("%s: row %d missing", p, id/2)
			}
		}
		if exact {
			exactCount++
			if len(got) != len(want) {
				t.Fatalf("%s: exact scan returned %d rows, want %d", p, len(got), len(want))
			}
		}
		if st.RowGroupsSkipped+st.RowGroupsRead != st.RowGroups {
			t.Fatalf("%s: stats %+v", p, st)
		}
		// =, IN and IS NULL on indexed columns are answered by bitmaps.
		if len(p) == 1 && (p[0].Op == OpIsNull ||
			((p[0].Op == OpEq || p[0].Op == OpIn) && isIndexed(m, p[0].Column))) && !exact {
			t.Fatalf("%s: not answered exactly", p)
		}
	}
	if exactCount == 0 {
		t.Fatal("no exact selection in 300 predicates")
	}
}

func isIndexed(m *Meta, col string) bool {
	cs, _ := m.Column(col)
	return cs.Bitmap
}

// TestZoneMapPruning checks that a selective predicate on the sort key
// reads only the row groups that hold it.
func TestZoneMapPruning(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	fs := vfs.NewMem()
	tbl := testTable()
	m := writeSegment(t, fs, mem, tbl, 1, 10000, 2000, &WriterOptions{RowGroupSize: 1000, Allocator: mem})
	r, err := Open(fs, "", m)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, tc := range []struct {
		p             Predicate
		read, skipped int
		rows          int
	}{
		{Predicate{{Column: "id", Op: OpEq, Value: Int64Value(4242)}}, 1, 9, 1},
		{Predicate{{Column: "id", Op: OpEq, Value: Int64Value(4243)}}, 0, 10, 0}, // miss inside the range: the bloom filter
		{Predicate{{Column: "id", Op: OpGe, Value: Int64Value(2 * 9500)}}, 1, 9, 500},
		{Predicate{{Column: "id", Op: OpLt, Value: Int64Value(2 * 1500)}}, 2, 8, 1500},
		{Predicate{{Column: "id", Op: OpGt, Value: Int64Value(1 << 40)}}, 0, 10, 0},
		{Predicate{{Column: "id", Op: OpIn, Value: Value{}, Values: []Value{Int64Value(10), Int64Value(19998)}}}, 2, 8, 2},
		{Predicate{{Column: "id", Op: OpIsNull}}, 0, 10, 0},
		{Predicate{{Column: "cat", Op: OpEq, Value: StringValue("zeta")}}, 0, 10, 0},
		{Predicate{{Column: "newcol", Op: OpIsNull}}, 10, 0, 10000},
		{Predicate{{Column: "newcol", Op: OpEq, Value: Int64Value(1)}}, 0, 10, 0},
		{nil, 10, 0, 10000},
	} {
		rows, st := collect(t, r, ScanOptions{Columns: []int{0}, Filter: tc.p, Allocator: mem})
		// A non-exact selection may return extra rows; count matches.
		cnt := 0
		for _, row := range rows {
			_ = row
			cnt++
		}
		if st.RowGroupsRead != tc.read || st.RowGroupsSkipped != tc.skipped {
			t.Errorf("%s: read %d skipped %d, want %d and %d", tc.p, st.RowGroupsRead, st.RowGroupsSkipped, tc.read, tc.skipped)
		}
		sel, _ := r.Select(tc.p, nil)
		if sel.Exact && cnt != tc.rows {
			t.Errorf("%s: %d rows, want %d", tc.p, cnt, tc.rows)
		}
	}
	// A constant of the wrong kind is an error, not a wrong answer.
	if _, err := r.Select(Predicate{{Column: "id", Op: OpEq, Value: StringValue("x")}}, nil); err == nil {
		t.Fatal("want an error for a mistyped constant")
	}
}

func TestLookup(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	fs := vfs.NewMem()
	tbl := testTable()
	const n = 5000
	m := writeSegment(t, fs, mem, tbl, 1, n, 1700, &WriterOptions{RowGroupSize: 1024, Allocator: mem})
	r, err := Open(fs, "", m)
	if err != nil {
		t.Fatal(err)
	}
	r.keyAlloc = mem
	defer r.Close()
	deleted := roaring.BitmapOf(17, 4999)
	ctx := context.Background()
	for _, tc := range []struct {
		key   int64
		pos   int64
		found bool
	}{
		{0, 0, true}, {2, 1, true}, {2 * 1023, 1023, true}, {2 * 1024, 1024, true},
		{2 * 4998, 4998, true}, {3, 0, false}, {-2, 0, false}, {2 * n, 0, false},
		{2 * 17, 0, false}, {2 * 4999, 0, false}, // deleted
	} {
		pos, found, err := r.Lookup(ctx, []Value{Int64Value(tc.key)}, deleted)
		if err != nil {
			t.Fatal(err)
		}
		if found != tc.found || (found && pos != tc.pos) {
			t.Errorf("Lookup(%d) = %d, %v; want %d, %v", tc.key, pos, found, tc.pos, tc.found)
		}
	}
	// Every key, in order (the cached row group is reused).
	for i := int64(0); i < n; i += 7 {
		pos, found, err := r.Lookup(ctx, []Value{Int64Value(2 * i)}, nil)
		if err != nil || !found || pos != i {
			t.Fatalf("Lookup(%d) = %d, %v, %v", 2*i, pos, found, err)
		}
	}
	if _, _, err := r.Lookup(ctx, []Value{Int64Value(1), Int64Value(2)}, nil); err == nil {
		t.Fatal("want an error for a key of the wrong width")
	}
}

func TestFormatVersionRefusal(t *testing.T) {
	fs := vfs.NewMem()
	tbl := testTable()
	m := writeSegment(t, fs, memory.DefaultAllocator, tbl, 1, 10, 10, nil)
	newer := *m
	newer.FormatVersion = FormatVersion + 1
	if _, err := DecodeMeta(newer.Encode()); !errors.Is(err, ErrNewerFormat) {
		t.Fatalf("DecodeMeta: got %v, want ErrNewerFormat", err)
	}
	if _, err := Open(fs, "", &newer); !errors.Is(err, ErrNewerFormat) {
		t.Fatalf("Open: got %v, want ErrNewerFormat", err)
	}
	// A newer index file is refused even with a matching manifest entry.
	x := &index{rows: 1, rowGroupSize: 1, rowGroups: 0}
	raw := x.encode()
	raw[len(indexMagic)] = FormatVersion + 1
	if _, err := decodeIndex(raw); !errors.Is(err, ErrNewerFormat) {
		t.Fatalf("decodeIndex: got %v, want ErrNewerFormat", err)
	}
	// Damage is reported as corruption.
	enc := m.Encode()
	enc[10] ^= 0xff
	if _, err := DecodeMeta(enc); !errors.Is(err, ErrCorruption) {
		t.Fatalf("DecodeMeta of damaged bytes: got %v, want ErrCorruption", err)
	}
	for i := 0; i < len(enc); i++ {
		if _, err := DecodeMeta(m.Encode()[:i]); err == nil {
			t.Fatalf("DecodeMeta of %d bytes succeeded", i)
		}
	}
	bad := *m
	bad.IndexCRC++
	if _, err := Open(fs, "", &bad); !errors.Is(err, ErrCorruption) {
		t.Fatalf("Open with a wrong index CRC: got %v", err)
	}
}

// TestConcurrentReaders scans and probes one Reader from several goroutines
// (run with -race).
func TestConcurrentReaders(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	fs := vfs.NewMem()
	tbl := testTable()
	m := writeSegment(t, fs, mem, tbl, 1, 3000, 1000, &WriterOptions{RowGroupSize: 500, Allocator: mem})
	r, err := Open(fs, "", m)
	if err != nil {
		t.Fatal(err)
	}
	r.keyAlloc = mem
	defer r.Close()
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func(g int) {
			s, err := r.Scan(context.Background(), ScanOptions{Allocator: mem,
				Filter: Predicate{{Column: "cat", Op: OpEq, Value: StringValue("beta")}}})
			if err != nil {
				errs <- err
				return
			}
			for s.Next() {
			}
			err = s.Err()
			s.Close()
			for i := int64(g); err == nil && i < 3000; i += 97 {
				var found bool
				if _, found, err = r.Lookup(context.Background(), []Value{Int64Value(2 * i)}, nil); err == nil && !found {
					err = errors.New("key not found")
				}
			}
			errs <- err
		}(g)
	}
	for g := 0; g < 4; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
