package segments

import (
	"container/list"
	"fmt"
	"io"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet/file"
)

// Point reads and the page cache. A point read (a primary-key lookup that
// Lookup found in this segment) needs one row of a few columns, but Parquet
// stores each column in compressed data pages of up to dataPageSize: reading
// the row means decompressing and decoding a whole page per column, most of
// a millisecond for a handful of columns. A Reader therefore keeps the
// decoded pages (Arrow arrays of all the page's rows) that point reads
// decoded, least recently used first out, within pageCacheBytes; a point
// read of a cached page is an array slice. Segments are immutable, so a
// cached page never goes stale; deleted rows are the caller's selection.
// Scans that select more than pointScanRows rows of a row group decode
// batches instead (Scanner.step), and leave the cache alone.

// pageCacheBytes bounds the decoded pages one Reader keeps (about a million
// 8-byte values); like keyCacheBytes it is per segment, since segments are
// few and large (merges keep them so).
const pageCacheBytes = 8 << 20

// pointScanRows is the largest selection of one row group that a sparse
// scan reads row by row from cached pages.
const pointScanRows = 16

// pageKey names a data page: row group, file column and the position of
// its first row within the row group.
type pageKey struct {
	rg, col int
	first   int64
}

// cachedPage is one decoded page in the cache.
type cachedPage struct {
	key   pageKey
	arr   arrow.Array
	bytes int64
}

// pageCache is a Reader's cache of decoded pages and of the page
// boundaries of the column chunks it has looked at. Guarded by Reader.mu.
type pageCache struct {
	pages map[pageKey]*list.Element // of *cachedPage
	lru   list.List                 // most recently used at the front
	bytes int64
	limit int64 // pageCacheBytes; tests lower it
	// starts holds, per row group and file column, the first row of each
	// data page (from the offset index); nil when the file has none.
	starts map[[2]int][]int64
}

// pageStarts returns the first row of every data page of column chunk
// (rg, fc), from the page index of pr; nil when the segment has no offset
// index for it (then point reads decode batches).
func (r *Reader) pageStarts(pr *file.Reader, rg, fc int) ([]int64, error) {
	r.mu.Lock()
	starts, ok := r.pages.starts[[2]int{rg, fc}]
	r.mu.Unlock()
	if ok {
		return starts, nil
	}
	if pir := pr.GetPageIndexReader(); pir != nil {
		rgi, err := pir.RowGroup(rg)
		if err != nil {
			return nil, fmt.Errorf("cannot read the page index of segment %d: %w", r.meta.ID, err)
		}
		if rgi != nil {
			oi, err := rgi.GetOffsetIndex(fc)
			if err != nil {
				return nil, fmt.Errorf("cannot read the page index of segment %d: %w", r.meta.ID, err)
			}
			if oi != nil {
				locs := oi.GetPageLocations()
				starts = make([]int64, len(locs))
				for i, l := range locs {
					starts[i] = l.FirstRowIndex
				}
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pages.starts == nil {
		r.pages.starts = make(map[[2]int][]int64)
	}
	r.pages.starts[[2]int{rg, fc}] = starts
	return starts, nil
}

// page returns the decoded page of file column fc (read by the direct
// decoder as kind) of row group rg (of rgRows rows) that holds position
// pos, and the position of its first row. starts are the column chunk's
// page boundaries (pageStarts). The caller releases the array.
func (r *Reader) page(pr *file.Reader, rg, fc int, kind directKind, rgRows int64, starts []int64, pos int64) (arrow.Array, int64, error) {
	k := sort.Search(len(starts), func(i int) bool { return starts[i] > pos }) - 1
	if k < 0 {
		return nil, 0, fmt.Errorf("%w: row %d precedes the first page of a column chunk", ErrCorruption, pos)
	}
	key := pageKey{rg: rg, col: fc, first: starts[k]}
	end := rgRows
	if k+1 < len(starts) {
		end = starts[k+1]
	}
	r.mu.Lock()
	if e, ok := r.pages.pages[key]; ok {
		r.pages.lru.MoveToFront(e)
		a := e.Value.(*cachedPage).arr
		a.Retain()
		r.mu.Unlock()
		return a, key.first, nil
	}
	r.mu.Unlock()

	// Decode outside the lock; two readers missing the same page both
	// decode it and the second one's copy is dropped.
	cr, err := pr.RowGroup(rg).Column(fc)
	if err != nil {
		return nil, 0, err
	}
	if c, ok := cr.(io.Closer); ok {
		defer c.Close()
	}
	if err := cr.SeekToRow(key.first); err != nil {
		return nil, 0, err
	}
	c := colDecoder{kind: kind, dt: r.schema.Field(fc).Type, cr: cr, maxDef: cr.Descriptor().MaxDefinitionLevel()}
	alloc := r.cacheAlloc()
	a, err := c.decode(alloc, alloc, int(end-key.first))
	if err != nil {
		return nil, 0, err
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return a, key.first, nil // not cached: Close released the cache
	}
	if e, ok := r.pages.pages[key]; ok {
		a.Release()
		a = e.Value.(*cachedPage).arr
		a.Retain()
		return a, key.first, nil
	}
	if r.pages.pages == nil {
		r.pages.pages = make(map[pageKey]*list.Element)
	}
	p := &cachedPage{key: key, arr: a, bytes: int64(arraySize(a))}
	a.Retain() // the cache's reference
	r.pages.pages[key] = r.pages.lru.PushFront(p)
	r.pages.bytes += p.bytes
	limit := r.pages.limit
	if limit == 0 {
		limit = pageCacheBytes
	}
	for r.pages.bytes > limit && r.pages.lru.Len() > 1 {
		r.evictPageLocked(r.pages.lru.Back())
	}
	return a, key.first, nil
}

func (r *Reader) evictPageLocked(e *list.Element) {
	p := r.pages.lru.Remove(e).(*cachedPage)
	delete(r.pages.pages, p.key)
	r.pages.bytes -= p.bytes
	p.arr.Release()
}

// releasePagesLocked empties the page cache; the caller holds r.mu.
func (r *Reader) releasePagesLocked() {
	for r.pages.lru.Len() > 0 {
		r.evictPageLocked(r.pages.lru.Back())
	}
}

// pointRow reads the row at position pos of the open row group from the
// page cache: a batch of one row in the decoder's schema.
func (s *Scanner) pointRow(pos int64) (arrow.RecordBatch, error) {
	pr := s.fr.ParquetReader()
	rg := s.sel.RowGroups[s.next-1]
	cols := make([]arrow.Array, len(s.fileCols))
	release := func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}
	for j, fc := range s.fileCols {
		a, first, err := s.r.page(pr, rg, fc, s.direct[j], s.rgRows, s.pointStarts[j], pos)
		if err != nil {
			release()
			return nil, err
		}
		if pos-first >= int64(a.Len()) {
			a.Release()
			release()
			return nil, fmt.Errorf("%w: a data page ends before row %d", ErrCorruption, pos)
		}
		cols[j] = array.NewSlice(a, pos-first, pos-first+1)
		a.Release()
	}
	rec := array.NewRecordBatch(s.dec.schema, cols, 1)
	release()
	return rec, nil
}

// usePoints reports whether the open row group's selection is read row by
// row from cached pages, and prepares that (Scanner.pointStarts).
func (s *Scanner) usePoints(rg int) (bool, error) {
	if !s.sparse || s.dec == nil || len(s.rgPos) == 0 || len(s.rgPos) > pointScanRows {
		return false, nil
	}
	pr := s.fr.ParquetReader()
	starts := s.pointStarts[:0]
	for _, fc := range s.fileCols {
		st, err := s.r.pageStarts(pr, rg, fc)
		if err != nil || st == nil {
			return false, err
		}
		starts = append(starts, st)
	}
	s.pointStarts = starts
	return true, nil
}
