package segments

import (
	"context"
	"fmt"
	"sort"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Lookup finds the row whose sort key equals key (one Value per Meta.SortKey
// column, of the column kinds) and returns its position. Rows in deleted
// (which may be nil) do not count. found is false when the segment holds no
// such live row. Lookup checks the key range of the Meta, then the bloom
// filter or bitmap of the first key column, then binary-searches the sorted
// key columns of the candidate row groups. The key columns of the last row
// group searched stay decoded, so runs of sorted probes (a uniqueness check
// of a sorted bulk batch) decode each row group once.
func (r *Reader) Lookup(ctx context.Context, key []Value, deleted *roaring.Bitmap) (pos int64, found bool, err error) {
	m := r.meta
	if len(m.SortKey) == 0 {
		return 0, false, fmt.Errorf("cannot look up in segment %d: it has no sort key", m.ID)
	}
	if len(key) != len(m.SortKey) {
		return 0, false, fmt.Errorf("cannot look up in segment %d: key has %d values, sort key %d columns",
			m.ID, len(key), len(m.SortKey))
	}
	for _, v := range key {
		if v.Null {
			return 0, false, nil // a key holds no NULL
		}
	}
	if compareKeys(key, m.KeyMin) < 0 || compareKeys(key, m.KeyMax) > 0 {
		return 0, false, nil
	}
	first := r.idx.column(m.SortKey[0])
	if first == nil {
		return 0, false, fmt.Errorf("cannot look up in segment %d: %w: no index for key column %s",
			m.ID, ErrCorruption, m.SortKey[0])
	}
	if first.bloom != nil && !first.bloom.mayContain(hashValue(key[0])) {
		return 0, false, nil
	}
	if first.indexed && first.lookupValue(key[0]) == nil {
		return 0, false, nil
	}
	fileCols := make([]int, len(m.SortKey))
	for i, name := range m.SortKey {
		fileCols[i] = -1
		for j := 0; j < r.schema.NumFields(); j++ {
			if equalFold(r.schema.Field(j).Name, name) {
				fileCols[i] = j
			}
		}
		if fileCols[i] < 0 {
			return 0, false, fmt.Errorf("cannot look up in segment %d: %w: key column %s missing",
				m.ID, ErrCorruption, name)
		}
	}
	for rg := 0; rg < r.idx.rowGroups; rg++ {
		z := &first.zones[rg]
		if z.min.Null || Compare(key[0], z.min) < 0 || Compare(key[0], z.max) > 0 {
			continue
		}
		p, ok, err := r.searchRowGroup(ctx, rg, fileCols, key)
		if err != nil {
			return 0, false, fmt.Errorf("cannot look up in segment %d: %w", m.ID, err)
		}
		if ok {
			if deleted != nil && deleted.Contains(uint32(p)) {
				return 0, false, nil
			}
			return p, true, nil
		}
	}
	return 0, false, nil
}

func (r *Reader) searchRowGroup(ctx context.Context, rg int, fileCols []int, key []Value) (int64, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, false, fmt.Errorf("reader closed")
	}
	cols, ok := r.keyCache[rg]
	if !ok {
		var err error
		if cols, err = r.readColumns(ctx, rg, fileCols); err != nil {
			return 0, false, err
		}
		r.cacheKeysLocked(rg, cols)
	}
	n := cols[0].Len()
	i := sort.Search(n, func(i int) bool { return compareKeyAt(cols, i, key) >= 0 })
	if i < n && compareKeyAt(cols, i, key) == 0 {
		return r.rowGroupStart(rg) + int64(i), true, nil
	}
	return 0, false, nil
}

// readColumns decodes whole columns of one row group into single arrays.
func (r *Reader) readColumns(ctx context.Context, rg int, fileCols []int) ([]arrow.Array, error) {
	mem := r.cacheAlloc()
	fr, err := r.newFileReader(mem, int(r.rowGroupRows(rg)), scanBufferSize)
	if err != nil {
		return nil, err
	}
	tbl, err := fr.RowGroup(rg).ReadTable(ctx, fileCols)
	if err != nil {
		return nil, err
	}
	defer tbl.Release()
	cols := make([]arrow.Array, len(fileCols))
	for i := range cols {
		ch := tbl.Column(i).Data()
		if len(ch.Chunks()) == 1 {
			cols[i] = r.column(mem, fileCols[i], ch.Chunk(0))
			continue
		}
		a, err := concatChunks(ch.Chunks(), mem)
		if err != nil {
			for _, c := range cols[:i] {
				c.Release()
			}
			return nil, err
		}
		cols[i] = r.column(mem, fileCols[i], a)
		a.Release()
	}
	return cols, nil
}

// keyCacheBytes bounds the decoded key columns one Reader keeps for
// Lookup: 8 MiB holds the BIGINT keys of a million rows, so random point
// reads of a segment decode each row group's keys once.
const keyCacheBytes = 8 << 20

// cacheKeysLocked adds the key columns of rg to the cache, evicting the
// oldest row groups beyond keyCacheBytes (the newest always stays).
func (r *Reader) cacheKeysLocked(rg int, cols []arrow.Array) {
	if r.keyCache == nil {
		r.keyCache = map[int][]arrow.Array{}
	}
	r.keyCache[rg] = cols
	r.keyOrder = append(r.keyOrder, rg)
	for _, c := range cols {
		r.keyBytes += int64(arraySize(c))
	}
	for r.keyBytes > keyCacheBytes && len(r.keyOrder) > 1 {
		old := r.keyOrder[0]
		r.keyOrder = r.keyOrder[1:]
		for _, c := range r.keyCache[old] {
			r.keyBytes -= int64(arraySize(c))
			c.Release()
		}
		delete(r.keyCache, old)
	}
}

// cacheAlloc allocates what the Reader's caches keep: the decoded key
// columns and pages.
func (r *Reader) cacheAlloc() memory.Allocator {
	if r.keyAlloc == nil {
		return memory.DefaultAllocator
	}
	return r.keyAlloc
}

// arraySize is the size of the buffers of a.
func arraySize(a arrow.Array) int {
	n := 0
	for _, b := range a.Data().Buffers() {
		if b != nil {
			n += b.Len()
		}
	}
	return n
}

func (r *Reader) releaseKeysLocked() {
	for _, cols := range r.keyCache {
		for _, c := range cols {
			c.Release()
		}
	}
	r.keyCache, r.keyOrder, r.keyBytes = nil, nil, 0
}

func compareKeys(a, b []Value) int {
	for i := range a {
		if c := Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return 0
}

func compareKeyAt(cols []arrow.Array, row int, key []Value) int {
	for i, c := range cols {
		if c.IsNull(row) {
			return -1
		}
		if r := compareAt(c, row, key[i]); r != 0 {
			return r
		}
	}
	return 0
}
