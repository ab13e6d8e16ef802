package segments

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/mantisdb/mantisdb/catalog"
)

// scanAll returns the batches of a whole scan (the caller releases them)
// and whether the scan used the direct decoder.
func scanAll(t *testing.T, r *Reader, opts ScanOptions) ([]arrow.RecordBatch, bool) {
	t.Helper()
	s, err := r.Scan(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	direct := s.direct != nil
	var out []arrow.RecordBatch
	for s.Next() {
		rec := s.Record()
		rec.Retain()
		out = append(out, rec)
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return out, direct
}

// concatAll concatenates the batches into one record.
func concatAll(t *testing.T, mem memory.Allocator, sch *arrow.Schema, recs []arrow.RecordBatch) arrow.RecordBatch {
	t.Helper()
	cols := make([]arrow.Array, sch.NumFields())
	var n int64
	for _, r := range recs {
		n += r.NumRows()
	}
	for c := range cols {
		parts := make([]arrow.Array, len(recs))
		for i, r := range recs {
			parts[i] = r.Column(c)
		}
		if len(parts) == 0 {
			cols[c] = array.MakeArrayOfNull(mem, sch.Field(c).Type, 0)
			continue
		}
		a, err := array.Concatenate(parts, mem)
		if err != nil {
			t.Fatal(err)
		}
		cols[c] = a
	}
	rec := array.NewRecordBatch(sch, cols, n)
	for _, c := range cols {
		c.Release()
	}
	return rec
}

// TestDirectDecode checks the direct decoder against pqarrow on the
// columns it reads (required and nullable, fixed width, DECIMAL stored as
// INT64, dictionary and plain strings, several pages per column chunk and
// several row groups), at batch sizes that do and do not divide pages and
// row groups, with and without deleted rows; and that scans of columns it
// does not read fall back to pqarrow.
func TestDirectDecode(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	fs := vfs.NewMem()
	tbl := testTable()
	const rows = 150_000
	m := writeSegment(t, fs, mem, tbl, 1, rows, 50_000, &WriterOptions{RowGroupSize: 64 << 10})
	r, err := Open(fs, "", m)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.keyAlloc = mem // the page cache's arrays count too, until Close
	deleted := roaring.New()
	deleted.AddRange(10, 20)
	deleted.AddRange(70_000, 90_000) // a span of whole pages
	for i := uint32(100_000); i < rows; i += 3 {
		deleted.Add(i)
	}
	directCols := []int{0, 3, 4, 5, 6, 7, 8, 10}
	for _, tc := range []struct {
		cols    []int
		direct  bool
		deleted *roaring.Bitmap
	}{
		{directCols, true, nil},
		{directCols, true, deleted},
		{[]int{10, 7, 6}, true, nil},
		{nil, false, nil}, // BOOLEAN, SMALLINT and TIMESTAMP: pqarrow
		{[]int{1, 0}, false, deleted},
	} {
		for _, batch := range []int{1000, 8192, 65536, 100_000} {
			if batch == 1000 && tc.cols == nil {
				continue // slow and says nothing new
			}
			t.Run(fmt.Sprintf("cols=%v/deleted=%v/batch=%d", tc.cols, tc.deleted != nil, batch), func(t *testing.T) {
				opts := ScanOptions{Columns: tc.cols, Deleted: tc.deleted, BatchSize: batch, Allocator: mem}
				got, direct := scanAll(t, r, opts)
				defer releaseAll(got)
				if direct != tc.direct {
					t.Fatalf("direct decoder used: %v, want %v", direct, tc.direct)
				}
				opts.noDirect = true
				want, _ := scanAll(t, r, opts)
				defer releaseAll(want)
				for _, rec := range got {
					if rec.NumRows() > int64(batch) {
						t.Fatalf("batch of %d rows, limit %d", rec.NumRows(), batch)
					}
				}
				sch := tbl.Schema()
				if tc.cols != nil {
					fields := make([]arrow.Field, len(tc.cols))
					for i, c := range tc.cols {
						fields[i] = sch.Field(c)
					}
					sch = arrow.NewSchema(fields, nil)
				}
				g, w := concatAll(t, mem, sch, got), concatAll(t, mem, sch, want)
				defer g.Release()
				defer w.Release()
				wantRows := int64(rows)
				if tc.deleted != nil {
					wantRows -= int64(tc.deleted.GetCardinality())
				}
				if g.NumRows() != wantRows || !array.RecordEqual(g, w) {
					t.Fatalf("direct decoder: %d rows, pqarrow: %d rows (want %d); equal: %v",
						g.NumRows(), w.NumRows(), wantRows, array.RecordEqual(g, w))
				}
			})
		}
	}
	// Sparse scans (point reads) seek through the page index: single rows,
	// neighbours closer and farther than a sparse batch, the first and last
	// row of row groups and pages, deleted rows among them.
	sparse := roaring.BitmapOf(0, 1, 5, 130, 131, 400, 8191, 8192, 50_000, 65_535, 65_536, 70_001, 100_002, 100_003, rows-1)
	for i := uint32(3); i < rows; i += 1009 {
		sparse.Add(i)
	}
	for _, tc := range []struct {
		name    string
		cols    []int
		rows    *roaring.Bitmap
		deleted *roaring.Bitmap
	}{
		{"one row", directCols, roaring.BitmapOf(77_777), nil},
		{"few rows per row group (page cache)", directCols, roaring.BitmapOf(0, 1, 2, 8191, 8192, 40_000, 65_535, 65_536, 70_001, 99_999, 100_002, rows-1), nil},
		{"few rows, deleted (page cache)", directCols, roaring.BitmapOf(5, 15, 25, 69_999, 70_000, 100_001, 100_002, 100_003), deleted},
		{"few rows of one string column (page cache)", []int{10}, roaring.BitmapOf(3, 4, 64_000, 140_000), nil},
		{"scattered", directCols, sparse, nil},
		{"scattered, deleted", directCols, sparse, deleted},
		{"one string column", []int{10}, sparse, nil},
	} {
		t.Run("sparse/"+tc.name, func(t *testing.T) {
			r.mu.Lock()
			r.releasePagesLocked() // so that the check below sees this scan's pages
			r.mu.Unlock()
			opts := ScanOptions{Columns: tc.cols, Rows: tc.rows, Deleted: tc.deleted, BatchSize: 8192, Allocator: mem}
			got, direct := scanAll(t, r, opts)
			defer releaseAll(got)
			if strings.Contains(tc.name, "page cache") {
				r.mu.Lock()
				cached := r.pages.lru.Len()
				r.mu.Unlock()
				if cached == 0 {
					t.Fatal("the scan did not use the page cache")
				}
			}
			again, _ := scanAll(t, r, opts) // from the page cache, if it took them
			defer releaseAll(again)
			got = append(got, again...)
			if !direct {
				t.Fatal("direct decoder not used")
			}
			opts.noDirect = true
			want, _ := scanAll(t, r, opts)
			defer releaseAll(want)
			want2, _ := scanAll(t, r, opts)
			defer releaseAll(want2)
			want = append(want, want2...)
			fields := make([]arrow.Field, len(tc.cols))
			for i, c := range tc.cols {
				fields[i] = tbl.Schema().Field(c)
			}
			sch := arrow.NewSchema(fields, nil)
			g, w := concatAll(t, mem, sch, got), concatAll(t, mem, sch, want)
			defer g.Release()
			defer w.Release()
			wantRows := int64(tc.rows.GetCardinality())
			if tc.deleted != nil {
				wantRows = int64(roaring.AndNot(tc.rows, tc.deleted).GetCardinality())
			}
			wantRows *= 2
			if g.NumRows() != wantRows || !array.RecordEqual(g, w) {
				t.Fatalf("direct decoder: %d rows, pqarrow: %d rows (want %d); equal: %v",
					g.NumRows(), w.NumRows(), wantRows, array.RecordEqual(g, w))
			}
		})
	}
}

// TestDirectDecodeNullRuns covers NULL patterns the generated table lacks:
// a string column whose NULLs are all in its first page, and columns NULL
// from some row on (whole pages without a value).
func TestDirectDecodeNullRuns(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	tbl := &catalog.Table{ID: 1, Name: "n", Version: 1, Columns: []catalog.Column{
		{Name: "id", Type: catalog.Bigint, NotNull: true},
		{Name: "s", Type: catalog.Varchar},
		{Name: "i", Type: catalog.Int},
		{Name: "e", Type: catalog.Varchar},
	}, PrimaryKey: []int{0}}
	const rows = 300_000
	fs := vfs.NewMem()
	w, err := NewWriter(fs, "", 1, tbl, &WriterOptions{Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(mem, tbl.Schema())
	for i := 0; i < rows; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		if i < 1000 && i%3 == 0 {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("value %d", i))
		}
		if i >= 200_000 {
			b.Field(2).AppendNull()
			b.Field(3).AppendNull()
		} else {
			b.Field(2).(*array.Int32Builder).Append(int32(i))
			b.Field(3).(*array.StringBuilder).Append("") // empty, not NULL
		}
	}
	rec := b.NewRecordBatch()
	b.Release()
	err = w.Write(rec)
	rec.Release()
	if err != nil {
		w.Abort()
		t.Fatal(err)
	}
	m, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(fs, "", m)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, batch := range []int{777, 8192, 100_000} {
		opts := ScanOptions{BatchSize: batch, Allocator: mem}
		got, direct := scanAll(t, r, opts)
		opts.noDirect = true
		want, _ := scanAll(t, r, opts)
		g, w := concatAll(t, mem, tbl.Schema(), got), concatAll(t, mem, tbl.Schema(), want)
		releaseAll(got)
		releaseAll(want)
		if !direct || g.NumRows() != rows || !array.RecordEqual(g, w) {
			t.Errorf("batch %d: direct %v, %d rows, equal to pqarrow: %v", batch, direct, g.NumRows(), array.RecordEqual(g, w))
		}
		g.Release()
		w.Release()
	}
}

func releaseAll(recs []arrow.RecordBatch) {
	for _, r := range recs {
		r.Release()
	}
}

// TestPageCacheConcurrent reads single rows from one segment on several
// goroutines at once, through a page cache too small for the segment's
// pages (so that pages are decoded, shared and evicted concurrently), and
// checks every row against a full scan.
func TestPageCacheConcurrent(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	fs := vfs.NewMem()
	tbl := testTable()
	const rows = 60_000
	m := writeSegment(t, fs, mem, tbl, 1, rows, 20_000, &WriterOptions{RowGroupSize: 16 << 10})
	r, err := Open(fs, "", m)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.keyAlloc = mem
	r.pages.limit = 64 << 10
	cols := []int{0, 3, 4, 10}
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = tbl.Schema().Field(c)
	}
	sch := arrow.NewSchema(fields, nil)
	all, _ := scanAll(t, r, ScanOptions{Columns: cols, Allocator: mem})
	whole := concatAll(t, mem, sch, all)
	releaseAll(all)
	defer whole.Release()

	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				pos := int64((g*7919 + i*104_729) % rows)
				s, err := r.Scan(context.Background(), ScanOptions{Columns: cols, Rows: roaring.BitmapOf(uint32(pos)), Allocator: mem})
				if err != nil {
					errs <- err
					return
				}
				n := 0
				for s.Next() {
					rec := s.Record()
					want := whole.NewSlice(pos, pos+1)
					if !array.RecordEqual(rec, want) {
						errs <- fmt.Errorf("row %d: got %v, want %v", pos, rec, want)
					}
					want.Release()
					n += int(rec.NumRows())
				}
				if err := s.Err(); err != nil {
					errs <- err
				} else if n != 1 {
					errs <- fmt.Errorf("row %d: %d rows", pos, n)
				}
				s.Close()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	r.mu.Lock()
	cached := r.pages.bytes
	r.mu.Unlock()
	if cached == 0 || cached > r.pages.limit+(256<<10) {
		t.Fatalf("page cache holds %d bytes, want some and about at most %d", cached, r.pages.limit)
	}
}
