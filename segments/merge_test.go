package segments

import (
	"context"
	"math/rand"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/mantisdb/mantisdb/catalog"
)

// TestMerge splits rows into three segments in interleaved runs of random
// length (one written with an older schema without "cat"), deletes random
// rows and merges: the result holds exactly the live rows in key order.
func TestMerge(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	fs := vfs.NewMem()
	tbl := testTable()
	old := testTable()
	old.Version = 2
	old.Columns = old.Columns[:10]
	const n = 6000
	rng := rand.New(rand.NewSource(2))
	owner := make([]int, n) // segment of each row
	pos := make([]uint32, n)
	writers := make([]*Writer, 3)
	counts := make([]uint32, 3)
	for k := range writers {
		tb := tbl
		if k == 2 {
			tb = old
		}
		w, err := NewWriter(fs, "", uint64(k+1), tb, &WriterOptions{RowGroupSize: 700, VerifyOrder: true, Allocator: mem})
		if err != nil {
			t.Fatal(err)
		}
		writers[k] = w
	}
	for from := 0; from < n; {
		k := rng.Intn(3)
		ln := 1 + rng.Intn(40)
		if rng.Intn(10) == 0 {
			ln = 1 + rng.Intn(2000)
		}
		ln = min(ln, n-from)
		tb := tbl
		if k == 2 {
			tb = old
		}
		rec := genBatch(mem, tb, from, ln)
		if err := writers[k].Write(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
		for i := from; i < from+ln; i++ {
			owner[i], pos[i] = k, counts[k]
			counts[k]++
		}
		from += ln
	}
	inputs := make([]MergeInput, 3)
	for k, w := range writers {
		m, err := w.Finish()
		if err != nil {
			t.Fatal(err)
		}
		r, err := Open(fs, "", m)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		inputs[k] = MergeInput{Reader: r, Deleted: roaring.New()}
	}
	var wantIDs []int64
	for i := 0; i < n; i++ {
		if rng.Intn(5) == 0 {
			inputs[owner[i]].Deleted.Add(pos[i])
			continue
		}
		wantIDs = append(wantIDs, int64(2*i))
	}
	m, err := Merge(context.Background(), fs, "", 9, tbl, inputs,
		&WriterOptions{RowGroupSize: 1000, VerifyOrder: true, Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	if m.Rows != int64(len(wantIDs)) || m.SchemaVersion != tbl.Version {
		t.Fatalf("merged meta: rows %d (want %d), schema version %d", m.Rows, len(wantIDs), m.SchemaVersion)
	}
	r, err := Open(fs, "", m)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	all := expected(tbl, n)
	got, _ := collect(t, r, ScanOptions{Allocator: mem})
	for i, row := range got {
		src := int(wantIDs[i] / 2)
		want := all[src]
		if owner[src] == 2 {
			want = append(append([]string(nil), want[:10]...), "NULL")
		}
		for c := range row {
			if row[c] != want[c] {
				t.Fatalf("merged row %d col %d: %s, want %s", i, c, row[c], want[c])
			}
		}
	}
	if len(got) != len(wantIDs) {
		t.Fatalf("merged %d rows, want %d", len(got), len(wantIDs))
	}

	// Everything deleted: no segment.
	for k := range inputs {
		inputs[k].Deleted.AddRange(0, uint64(counts[k]))
	}
	if m, err := Merge(context.Background(), fs, "", 10, tbl, inputs, &WriterOptions{Allocator: mem}); err != nil || m != nil {
		t.Fatalf("merge of deleted rows: %v, %v", m, err)
	}
	if names, _ := ListOrphans(fs, "", func(id uint64) bool { return true }); len(names) != 0 {
		t.Fatalf("temporary files left: %v", names)
	}
}

// TestMergeNoSortKey concatenates inputs of a table without a primary key.
func TestMergeNoSortKey(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	fs := vfs.NewMem()
	tbl := testTable()
	tbl.PrimaryKey = nil
	m1 := writeSegment(t, fs, mem, tbl, 1, 300, 100, &WriterOptions{Allocator: mem})
	m2 := writeSegment(t, fs, mem, tbl, 2, 200, 100, &WriterOptions{Allocator: mem})
	if len(m1.SortKey) != 0 || m1.KeyMin != nil {
		t.Fatalf("keyless segment has a key: %+v", m1.SortKey)
	}
	var inputs []MergeInput
	for _, m := range []*Meta{m2, m1} {
		r, err := Open(fs, "", m)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		inputs = append(inputs, MergeInput{Reader: r})
	}
	m, err := Merge(context.Background(), fs, "", 3, tbl, inputs, &WriterOptions{Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(fs, "", m)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, _ := collect(t, r, ScanOptions{Columns: []int{0}, Allocator: mem})
	want := append(expected(tbl, 200), expected(tbl, 300)...)
	for i := range got {
		if got[i][0] != want[i][0] {
			t.Fatalf("row %d: %s, want %s", i, got[i][0], want[i][0])
		}
	}
	if len(got) != 500 {
		t.Fatalf("%d rows", len(got))
	}
	if _, _, err := r.Lookup(context.Background(), []Value{Int64Value(0)}, nil); err == nil {
		t.Fatal("Lookup without a sort key must fail")
	}
}

// TestVerifyOrder rejects unsorted input and duplicate primary keys.
func TestVerifyOrder(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	fs := vfs.NewMem()
	tbl := testTable()
	for _, tc := range []struct{ a, b int }{{100, 50}, {100, 99}} {
		w, err := NewWriter(fs, "", 1, tbl, &WriterOptions{VerifyOrder: true, Allocator: mem})
		if err != nil {
			t.Fatal(err)
		}
		r1, r2 := genBatch(mem, tbl, 0, tc.a), genBatch(mem, tbl, tc.b, 10)
		if err := w.Write(r1); err != nil {
			t.Fatal(err)
		}
		if err := w.Write(r2); err == nil {
			t.Fatalf("rows from %d after rows to %d accepted", tc.b, tc.a)
		}
		r1.Release()
		r2.Release()
		w.Abort()
	}
	if names, _ := fs.List(""); len(names) != 0 {
		t.Fatalf("aborted writers left %v", names)
	}
	_ = catalog.Bigint
}
