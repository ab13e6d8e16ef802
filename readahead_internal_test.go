package mantisdb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"go.uber.org/goleak"

	"github.com/mantisdb/mantisdb/segments"
)

// openTestDB opens a DB in a temporary directory, closed when t ends,
// and returns it with a function that runs a statement or fails t.
func openTestDB(t *testing.T, opts *Options) (*DB, func(sql string)) {
	t.Helper()
	db, err := Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, func(sql string) {
		t.Helper()
		if _, err := db.Exec(context.Background(), sql); err != nil {
			t.Fatalf("%.100s: %v", sql, err)
		}
	}
}

// readaheadDB returns a DB whose table t has two segments of 100-row row
// groups (one of an older layout, after ALTER TABLE), deleted rows in
// both, and rows in the row store.
func readaheadDB(t *testing.T) *DB {
	t.Helper()
	ctx := context.Background()
	db, run := openTestDB(t, &Options{CompactInterval: -1, BatchSize: 64,
		Segment: &segments.WriterOptions{RowGroupSize: 100}})
	insert := func(from, to int, withNote bool) {
		var sb strings.Builder
		for i := from; i < to; i++ {
			if i > from {
				sb.WriteString(", ")
			}
			if withNote {
				fmt.Fprintf(&sb, "(%d, 'v%d', %d.25, %d)", i, i, i, i%3)
			} else {
				fmt.Fprintf(&sb, "(%d, 'v%d', %d.25)", i, i, i)
			}
		}
		run("insert into t values " + sb.String())
	}
	run("create table t (k bigint primary key, s varchar(20), d decimal(12,2))")
	insert(0, 1050, false)
	if _, err := db.Compact(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	run("alter table t add column note int")
	insert(1050, 2000, true)
	if _, err := db.Compact(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	run("delete from t where k % 7 = 0 or (k >= 300 and k < 420)")
	insert(5000, 5010, true)
	return db
}

// scanRows reads table t through a tierSource with the given readahead
// and returns its rows as text, in order.
func scanRows(t *testing.T, db *DB, readahead int) []string {
	t.Helper()
	ctx := context.Background()
	tbl, _ := db.Table("t")
	rv := db.snapshot()
	defer rv.close()
	src, err := scanProvider{&rv}.scanPruned(tbl, []int{0, 1, 2, 3}, false, nil, nil)(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	src.(*tierSource).readahead = readahead
	var rows []string
	for src.Next() {
		rec := src.Record()
		if !rec.Schema().Equal(src.(*tierSource).schema) {
			t.Fatalf("batch schema %s, want %s", rec.Schema(), src.(*tierSource).schema)
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			var sb strings.Builder
			for c := 0; c < int(rec.NumCols()); c++ {
				sb.WriteString(rec.Column(c).ValueStr(i))
				sb.WriteByte('|')
			}
			rows = append(rows, sb.String())
		}
	}
	if err := src.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestReadahead: scans with readahead return the rows of the serial scan
// in the same order, over segments of two layouts with deleted rows.
func TestReadahead(t *testing.T) {
	db := readaheadDB(t)
	want := scanRows(t, db, 0)
	live := 10 // the row store's
	for k := 0; k < 2000; k++ {
		if k%7 != 0 && (k < 300 || k >= 420) {
			live++
		}
	}
	if len(want) != live {
		t.Fatalf("serial scan returned %d rows, want %d", len(want), live)
	}
	for _, workers := range []int{1, 2, 3, 8} {
		got := scanRows(t, db, workers)
		if len(got) != len(want) {
			t.Fatalf("%d workers: %d rows, serial scan %d", workers, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%d workers: row %d is %s, serial scan %s", workers, i, got[i], want[i])
			}
		}
	}
}

// TestReadaheadStop: closing a source or cancelling its context in the
// middle of a readahead stops the workers and releases what they decoded
// (no goroutine left, no batch left allocated).
func TestReadaheadStop(t *testing.T) {
	db := readaheadDB(t)
	ignore := goleak.IgnoreCurrent() // the DB's own goroutines
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	db.mem = mem // segment scans allocate their batches here
	tbl, _ := db.Table("t")
	for _, cancelFirst := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		rv := db.snapshot()
		src, err := scanProvider{&rv}.scanPruned(tbl, []int{0, 1}, false, nil, nil)(ctx)
		if err != nil {
			t.Fatal(err)
		}
		src.(*tierSource).readahead = 2
		n := 0
		for src.Next() {
			if n++; n == 3 {
				break // the row store's batch and two of the segments'
			}
		}
		if cancelFirst {
			cancel()
			for src.Next() {
			}
			if err := src.Err(); !errors.Is(err, context.Canceled) {
				t.Errorf("after cancel: %v, want a cancellation", err)
			}
		}
		if err := src.Close(); err != nil {
			t.Error(err)
		}
		cancel()
		rv.close()
	}
	goleak.VerifyNone(t, ignore)
	mem.AssertSize(t, 0)
}

// TestTierSourceStrayDeleteBits: a delete bitmap with bits past the end of
// its segment skips no live row (the whole-segment shortcut counts only
// the segment's positions), serially and with readahead.
func TestTierSourceStrayDeleteBits(t *testing.T) {
	ctx := context.Background()
	db := readaheadDB(t)
	tbl, _ := db.Table("t")
	want := len(scanRows(t, db, 0))
	for _, readahead := range []int{0, 2} {
		rv := db.snapshot()
		ents, err := rv.snap.Segments(tbl.ID)
		if err != nil {
			t.Fatal(err)
		}
		var total uint64
		for i := range ents {
			h, err := rv.v.handle(tbl.ID, ents[i].ID)
			if err != nil {
				t.Fatal(err)
			}
			d := roaring.New()
			if ents[i].Deleted != nil {
				d = ents[i].Deleted.Clone()
			}
			total += uint64(h.meta.Rows) - d.GetCardinality()
			// As many stray bits as the segment has live rows.
			d.AddRange(uint64(h.meta.Rows), uint64(h.meta.Rows)+uint64(h.meta.Rows)-d.GetCardinality())
			ents[i].Deleted = d
		}
		rs, err := rv.snap.Scan(tbl, []int{0}, false)
		if err != nil {
			t.Fatal(err)
		}
		src, err := db.newTierSource(ctx, rv.v, tbl, []int{0}, false, nil, nil, rs, ents)
		if err != nil {
			t.Fatal(err)
		}
		src.readahead = readahead
		n := 0
		for src.Next() {
			n += int(src.Record().NumRows())
		}
		if err := src.Err(); err != nil {
			t.Fatal(err)
		}
		src.Close()
		rv.close()
		if n != want || total == 0 {
			t.Errorf("readahead %d: %d rows, want %d", readahead, n, want)
		}
	}
}
