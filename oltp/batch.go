package oltp

import (
	"bytes"
	"container/list"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cockroachdb/pebble/v2"
	"github.com/klauspost/compress/s2"

	"github.com/mantisdb/mantisdb/catalog"
)

// This file holds the batch entries of the fresh tier: one bulk-written
// Arrow batch per entry, addressed like a segment (see doc.go, "Batch
// entries").

// Format versions of the two values of a batch entry.
const (
	batchHeaderFormat byte = 1
	// batchBodyFormat is the body format written (see encodeBody);
	// bodies of formats 1 and 2 are still read.
	batchBodyFormat byte = bodyFormatColumns
	// bodyFormatColumns is the first body format that holds a column
	// stream (bodycols.go) instead of an Arrow IPC stream.
	bodyFormatColumns byte = 3
)

// bloomBitsPerKey and bloomHashes size the bloom filter of a batch entry:
// 10 bits and 6 probes per key give about 1% false positives.
const (
	bloomBitsPerKey = 10
	bloomHashes     = 6
)

// DefaultBulkMinRows is the smallest batch InsertBatch writes as a batch
// entry when Options.BulkMinRows is zero; smaller batches become row
// entries. Below it a batch entry's fixed costs (IPC framing, a header,
// a table lock for tables with a primary key) outweigh one key per row.
const DefaultBulkMinRows = 64

// maxCachedKeyBytes bounds the memory of the key columns that committed
// batch entries keep from their write (for uniqueness checks); keys of
// other entries are decoded on demand and kept until the entry is
// compacted.
const maxCachedKeyBytes = 64 << 20

func batchKey(table, id uint64) []byte { return appendSegPrefix(nil, subBatch, table, id) }

func batchBodyKey(table, id uint64) []byte { return appendSegPrefix(nil, subBatchBody, table, id) }

// batchSpan returns the span of table's batch entry headers.
func batchSpan(table uint64) (start, end []byte) {
	start = append(appendTablePrefix(nil, table), subBatch)
	end = append(appendTablePrefix(nil, table), subBatch+1)
	return start, end
}

// batchMeta is the header of one batch entry. Everything but the key cache
// is immutable once the entry is written; the Store shares batchMetas by
// id between readers.
type batchMeta struct {
	table     uint64
	id        uint64
	rows      int
	ncols     int    // table columns when written; later ones read as NULL
	hasPK     bool   // rows are keyed (and sorted) by primary key
	rowIDBase uint64 // tables without a primary key: hidden row id of row 0
	min, max  []byte // first and last row key (full storage keys)
	bloom     []byte // over the row keys; empty for tables without a primary key
	bodyLen   int    // bytes of the body value
	hdr       []byte // the encoded header this meta was decoded from

	// mu guards keys and offs: the sorted row keys concatenated, row i
	// at keys[offs[i]:offs[i+1]]; nil until loaded.
	mu      sync.Mutex
	keys    []byte
	offs    []uint32
	counted bool // keys count against the cache's budget
}

// encodeHeader returns the header value of m:
//
//	byte     format version (batchHeaderFormat)
//	uvarint  row count
//	uvarint  table columns when written
//	byte     flags: 1 = rows keyed by primary key
//	uvarint  hidden row id of row 0 (0 for tables with a primary key)
//	uvarint  length, bytes: first row key
//	uvarint  length, bytes: last row key
//	uvarint  length, bytes: bloom filter over the row keys
//	uvarint  length of the body value
func (m *batchMeta) encodeHeader() []byte {
	dst := make([]byte, 0, 32+len(m.min)+len(m.max)+len(m.bloom))
	dst = append(dst, batchHeaderFormat)
	dst = binary.AppendUvarint(dst, uint64(m.rows))
	dst = binary.AppendUvarint(dst, uint64(m.ncols))
	var flags byte
	if m.hasPK {
		flags |= 1
	}
	dst = append(dst, flags)
	dst = binary.AppendUvarint(dst, m.rowIDBase)
	for _, b := range [][]byte{m.min, m.max, m.bloom} {
		dst = binary.AppendUvarint(dst, uint64(len(b)))
		dst = append(dst, b...)
	}
	dst = binary.AppendUvarint(dst, uint64(m.bodyLen))
	m.hdr = dst
	return dst
}

// decodeBatchHeader decodes the header value v of batch entry id of table.
// The result does not alias v.
func decodeBatchHeader(table, id uint64, v []byte) (*batchMeta, error) {
	if len(v) == 0 {
		return nil, fmt.Errorf("empty header of batch entry %d: %w", id, ErrCorruption)
	}
	if v[0] > batchHeaderFormat {
		return nil, fmt.Errorf("batch entry format %d is newer than this binary supports (%d); upgrade MantisDB", v[0], batchHeaderFormat)
	}
	m := &batchMeta{table: table, id: id}
	c := cursor{b: v, pos: 1}
	bad := func() (*batchMeta, error) {
		return nil, fmt.Errorf("bad header of batch entry %d: %w", id, ErrCorruption)
	}
	rows, ok1 := c.uvarint()
	ncols, ok2 := c.uvarint()
	flags, ok3 := c.take(1)
	if !ok1 || !ok2 || !ok3 || rows > 1<<31 {
		return bad()
	}
	m.rows, m.ncols = int(rows), int(ncols)
	m.hasPK = flags[0]&1 != 0
	var ok bool
	if m.rowIDBase, ok = c.uvarint(); !ok {
		return bad()
	}
	for _, dst := range []*[]byte{&m.min, &m.max, &m.bloom} {
		l, ok := c.uvarint()
		part, ok2 := c.take(l)
		if !ok || !ok2 {
			return bad()
		}
		*dst = bytes.Clone(part)
	}
	bl, ok := c.uvarint()
	if !ok {
		return bad()
	}
	m.bodyLen = int(bl)
	m.hdr = bytes.Clone(v)
	return m, nil
}

// overlaps reports whether m's key range meets [start, end) (nil bounds
// are open).
func (m *batchMeta) overlaps(start, end []byte) bool {
	return (end == nil || bytes.Compare(m.min, end) < 0) && (start == nil || bytes.Compare(m.max, start) >= 0)
}

// keyHash hashes a row key for the bloom filters: a fixed function, since
// filters are stored.
func keyHash(k []byte) uint64 {
	const m1, m2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9
	h := uint64(len(k)) * m1
	for len(k) >= 8 {
		h = bits.RotateLeft64(h^binary.LittleEndian.Uint64(k)*m2, 31) * m1
		k = k[8:]
	}
	var tail uint64
	for i, c := range k {
		tail |= uint64(c) << (8 * i)
	}
	h = bits.RotateLeft64(h^tail*m2, 31) * m1
	h ^= h >> 29
	h *= m2
	return h ^ h>>32
}

// modulus computes x % d for 32-bit x and a fixed d > 0 without a
// division (Lemire, Kaser and Kurz, "Faster remainder by direct
// computation", 2019): the bloom filters' probe positions are stored
// results of %, and a division per probe was most of the cost of building
// a filter.
type modulus struct {
	d uint64
	m uint64 // 2^64 / d, rounded up
}

func newModulus(d uint32) modulus { return modulus{d: uint64(d), m: ^uint64(0)/uint64(d) + 1} }

// of returns x % d.
func (md modulus) of(x uint32) uint32 {
	hi, _ := bits.Mul64(md.m*uint64(x), md.d)
	return uint32(hi)
}

// buildBloom returns a bloom filter over the n keys of keys/offs.
func buildBloom(keys []byte, offs []uint32, n int) []byte {
	nbits := max(64, n*bloomBitsPerKey)
	f := make([]byte, (nbits+7)/8)
	md := newModulus(uint32(len(f) * 8))
	for i := 0; i < n; i++ {
		h := keyHash(keys[offs[i]:offs[i+1]])
		h1, h2 := uint32(h), uint32(h>>32)|1
		for j := uint32(0); j < bloomHashes; j++ {
			b := md.of(h1 + j*h2)
			f[b>>3] |= 1 << (b & 7)
		}
	}
	return f
}

// mayContain reports whether key may be a row key of m.
func (m *batchMeta) mayContain(key []byte) bool {
	if len(m.bloom) == 0 {
		return true
	}
	md := newModulus(uint32(len(m.bloom) * 8))
	h := keyHash(key)
	h1, h2 := uint32(h), uint32(h>>32)|1
	for j := uint32(0); j < bloomHashes; j++ {
		b := md.of(h1 + j*h2)
		if m.bloom[b>>3]&(1<<(b&7)) == 0 {
			return false
		}
	}
	return true
}

// keyAt returns row key i of m, whose keys are loaded.
func (m *batchMeta) keyAt(i int) []byte { return m.keys[m.offs[i]:m.offs[i+1]] }

// find returns the position of key in m, whose keys are loaded.
func (m *batchMeta) find(key []byte) (int, bool) {
	i := sort.Search(m.rows, func(i int) bool { return bytes.Compare(m.keyAt(i), key) >= 0 })
	return i, i < m.rows && bytes.Equal(m.keyAt(i), key)
}

// lowerBound returns the first position whose key is >= key (m's keys are
// loaded).
func (m *batchMeta) lowerBound(key []byte) int {
	return sort.Search(m.rows, func(i int) bool { return bytes.Compare(m.keyAt(i), key) >= 0 })
}

// batchCache holds the headers of the committed batch entries the Store
// has read, by id, and the decoded key columns of some of them.
type batchCache struct {
	mu       sync.Mutex
	metas    map[uint64]*batchMeta
	keyBytes int64

	// Decoded bodies, least recently used first, at most
	// maxCachedBodyBytes: point reads of fresh bulk-loaded rows must not
	// decode a whole entry each.
	bodies    map[uint64]*list.Element // of *bodyEnt
	lru       list.List
	bodyBytes int64
}

// maxCachedBodyBytes bounds the Arrow memory of cached decoded bodies.
const maxCachedBodyBytes = 256 << 20

// bodyEnt is one cached decoded body: the columns it was written with, as
// decoded from the header version meta.
type bodyEnt struct {
	meta *batchMeta
	rec  arrow.RecordBatch
	size int64
}

// getBody returns the cached body of m, retained for the caller, or nil.
func (c *batchCache) getBody(m *batchMeta) arrow.RecordBatch {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.bodies[m.id]
	if e == nil || e.Value.(*bodyEnt).meta != m {
		return nil
	}
	c.lru.MoveToBack(e)
	rec := e.Value.(*bodyEnt).rec
	rec.Retain()
	return rec
}

// putBody caches rec, the decoded body of m, evicting the least recently
// used bodies beyond the budget.
func (c *batchCache) putBody(m *batchMeta, rec arrow.RecordBatch) {
	size := int64(recordBytes(rec))
	if size > maxCachedBodyBytes/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bodies == nil {
		c.bodies = make(map[uint64]*list.Element)
	}
	if e := c.bodies[m.id]; e != nil {
		c.removeBodyLocked(e)
	}
	rec.Retain()
	c.bodies[m.id] = c.lru.PushBack(&bodyEnt{meta: m, rec: rec, size: size})
	c.bodyBytes += size
	for c.bodyBytes > maxCachedBodyBytes {
		c.removeBodyLocked(c.lru.Front())
	}
}

func (c *batchCache) removeBodyLocked(e *list.Element) {
	be := c.lru.Remove(e).(*bodyEnt)
	delete(c.bodies, be.meta.id)
	c.bodyBytes -= be.size
	be.rec.Release()
}

// close releases every cached body.
func (c *batchCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.lru.Len() > 0 {
		c.removeBodyLocked(c.lru.Front())
	}
}

func (c *batchCache) get(id uint64) *batchMeta {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.metas[id]
}

// put adds m; if m has keys and the key budget is spent, they are dropped.
func (c *batchCache) put(m *batchMeta) *batchMeta {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.metas[m.id]; old != nil {
		return old
	}
	if c.metas == nil {
		c.metas = make(map[uint64]*batchMeta)
	}
	m.mu.Lock()
	if m.keys != nil {
		if c.keyBytes+int64(len(m.keys)+4*len(m.offs)) > maxCachedKeyBytes {
			m.keys, m.offs = nil, nil
		} else {
			c.keyBytes += int64(len(m.keys) + 4*len(m.offs))
			m.counted = true
		}
	}
	m.mu.Unlock()
	c.metas[m.id] = m
	return m
}

// drop forgets the entries ids (compacted or dropped).
func (c *batchCache) drop(ids []uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		if e := c.bodies[id]; e != nil {
			c.removeBodyLocked(e)
		}
		if m := c.metas[id]; m != nil {
			m.mu.Lock()
			if m.counted {
				c.keyBytes -= int64(len(m.keys) + 4*len(m.offs))
			}
			m.mu.Unlock()
			delete(c.metas, id)
		}
	}
}

// batchMetas lists the batch entries of table in r, in id order.
func (s *Store) batchMetas(r reader, table uint64) ([]*batchMeta, error) {
	lo, hi := batchSpan(table)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, fmt.Errorf("cannot read batch entries of table %d: %w", table, err)
	}
	defer it.Close()
	var out []*batchMeta
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) != rowPrefixLen+8 {
			return nil, fmt.Errorf("bad batch entry key %x: %w", k, ErrCorruption)
		}
		id := binary.BigEndian.Uint64(k[rowPrefixLen:])
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, fmt.Errorf("cannot read batch entries of table %d: %w", table, err)
		}
		// ALTER TABLE rewrites entries in place (same id): a cached
		// header serves only readers that see the same bytes.
		m := s.batches.get(id)
		if m == nil || !bytes.Equal(m.hdr, v) {
			fresh, err := decodeBatchHeader(table, id, v)
			if err != nil {
				return nil, err
			}
			if m == nil {
				m = s.batches.put(fresh)
			} else {
				m = fresh
			}
		}
		out = append(out, m)
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("cannot read batch entries of table %d: %w", table, err)
	}
	return out, nil
}

// latestBatches returns the committed batch entries of table in the
// latest state, in no particular order. The caller holds the table's IX
// lock or stronger, so that no entry is removed or rewritten meanwhile
// (that takes S or X); entries of a table with a primary key are added
// under its X lock, so for such a table the list cannot grow either.
func (s *Store) latestBatches(ts *tableState, table uint64) ([]*batchMeta, error) {
	ts.batchMu.Lock()
	defer ts.batchMu.Unlock()
	if ts.batchesOK {
		return ts.latest, nil
	}
	ms, err := s.batchMetas(s.db, table)
	if err != nil {
		return nil, err
	}
	ts.latest, ts.batchesOK = ms, true
	return ms, nil
}

// addBatches adds metas, the batch entries that a transaction has just
// committed (applied), to the cached latest list of table, if there is one,
// instead of dropping the list: otherwise every bulk commit made the next
// writer of the table re-read every batch header under its table lock, a
// cost that grew with the number of entries awaiting compaction. Entries of
// other tables in metas are skipped.
//
// The caller still holds the locks of its commit (IX or X on the table),
// which exclude the compaction swap (S) and DDL (X), the only changes that
// remove or rewrite entries; they drop the list themselves. A list loaded
// after the commit was applied already holds its entries, so they are added
// only once. The list is replaced, not appended to in place, since callers
// of latestBatches read it without the lock.
func (s *Store) addBatches(table uint64, metas []*batchMeta) {
	ts := s.table(table)
	ts.batchMu.Lock()
	defer ts.batchMu.Unlock()
	if !ts.batchesOK {
		return
	}
	n := len(ts.latest)
	next := ts.latest[:n:n]
	for _, m := range metas {
		if m.table != table || slices.ContainsFunc(ts.latest, func(o *batchMeta) bool { return o.id == m.id }) {
			continue
		}
		next = append(next, m)
	}
	ts.latest = next
}

// invalidateBatches forgets the cached latest list of table.
func (s *Store) invalidateBatches(table uint64) {
	ts := s.table(table)
	ts.batchMu.Lock()
	ts.latest, ts.batchesOK = nil, false
	ts.batchMu.Unlock()
}

// hasBatch reports whether batch entry id of table exists in r.
func hasBatch(r reader, table, id uint64) (bool, error) {
	_, closer, err := r.Get(batchKey(table, id))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("cannot read batch entry %d: %w", id, err)
	}
	_ = closer.Close()
	return true, nil
}

// encodeBody appends the body value of a batch entry holding rec to buf:
//
//	byte     format version (batchBodyFormat, 3)
//	byte     codec: bodyRaw or bodyS2
//	bodyRaw: the column stream of rec (see bodycols.go), uncompressed
//	bodyS2:  uvarint  length of that column stream
//	         uvarint  block size B
//	         per block of B bytes of the stream (the last one shorter):
//	         uvarint length, bytes: the block, S2-compressed
//
// Format 2 (still read) had the same layout around an Arrow IPC stream
// (the schema and one record batch) instead of the column stream; format 1
// (still read) was the IPC stream alone, its buffers LZ4-frame compressed
// by arrow-go. The column stream narrows integers, decimals and string
// lengths to the bytes their range needs before S2 sees them: on a 100K-row
// lineitem batch it is 2.5 times smaller than the IPC stream and the body
// about half the size, so S2, the WAL, the memtable and Pebble's flush all
// have less to do. S2 (a faster Snappy, klauspost/compress) compresses the
// blocks on every core, since one large batch per ingest is common (a REST
// or Flight request); ZSTD would be smaller but several times slower, and
// the entry lives only until the next compaction writes the durable
// columnar copy. Streams under compressMinBytes are stored as they are.
func encodeBody(mem memory.Allocator, rec arrow.RecordBatch, buf *bytes.Buffer) error {
	b, err := newEncodedBody(rec)
	if err != nil {
		return err
	}
	defer b.release()
	buf.Grow(b.size)
	for _, p := range b.parts {
		buf.Write(p)
	}
	return nil
}

// encodedBody is the body of a batch entry, encoded but not yet in one
// piece: the format bytes, block headers and compressed blocks, held in
// pooled buffers until the body is copied once into its place (the
// transaction's Pebble batch) instead of being assembled in a buffer of
// its own and copied from there.
type encodedBody struct {
	parts   [][]byte  // the body is their concatenation
	size    int       // bytes of the body
	scratch []*[]byte // pooled buffers that parts alias
}

// newEncodedBody encodes the body of a batch entry holding rec (see
// encodeBody). The caller releases the result.
func newEncodedBody(rec arrow.RecordBatch) (*encodedBody, error) {
	b := &encodedBody{}
	scratch := getScratch(columnsBound(rec))
	stream, err := appendColumns((*scratch)[:0], rec)
	if err != nil {
		putScratch(scratch)
		return nil, err
	}
	if len(stream) < compressMinBytes {
		b.scratch = append(b.scratch, scratch)
		b.add([]byte{batchBodyFormat, bodyRaw})
		b.add(stream)
		return b, nil
	}
	b.add([]byte{batchBodyFormat, bodyS2})
	addS2Blocks(b, stream)
	putScratch(scratch)
	return b, nil
}

func (b *encodedBody) add(p []byte) {
	b.parts = append(b.parts, p)
	b.size += len(p)
}

// copyTo copies the body to dst, which has room for b.size bytes.
func (b *encodedBody) copyTo(dst []byte) {
	for _, p := range b.parts {
		dst = dst[copy(dst, p):]
	}
}

// release returns b's buffers to their pool; b is empty afterwards.
func (b *encodedBody) release() {
	for _, p := range b.scratch {
		putScratch(p)
	}
	*b = encodedBody{}
}

// Codecs of body formats 2 and 3.
const (
	bodyRaw byte = 0 // the stream as it is
	bodyS2  byte = 1 // the stream in S2-compressed blocks
)

// bodyBlockSize is the stream bytes per S2 block of a body: small enough
// that a lineitem batch of 100K rows (a 7.8 MB column stream) keeps both
// cores busy, large enough that S2 finds the matches between rows of a
// column. On that batch 1, 2 and 4 MiB blocks give bodies of 3.54, 3.49
// and 3.53 MB (of IPC streams, in body format 2, 4 MiB blocks gave 4.3 MB
// on the root benchmark's batch, 1 MiB blocks 5.4 MB).
var bodyBlockSize = 2 << 20 // a variable for tests

// appendS2Blocks appends stream in the bodyS2 layout to buf (see
// addS2Blocks).
func appendS2Blocks(buf *bytes.Buffer, stream []byte) {
	var b encodedBody
	addS2Blocks(&b, stream)
	defer b.release()
	for _, p := range b.parts {
		buf.Write(p)
	}
}

// addS2Blocks adds stream in the bodyS2 layout to b, compressing the
// blocks on up to GOMAXPROCS goroutines into a pooled buffer that b keeps.
func addS2Blocks(b *encodedBody, stream []byte) {
	nb := (len(stream) + bodyBlockSize - 1) / bodyBlockSize
	// The stream header, then per block its length's header and the
	// block: the headers are slices of one small buffer.
	hdrs := make([]byte, 0, (2+nb)*binary.MaxVarintLen64)
	hdrs = binary.AppendUvarint(hdrs, uint64(len(stream)))
	hdrs = binary.AppendUvarint(hdrs, uint64(bodyBlockSize))
	b.add(hdrs)
	bound := s2.MaxEncodedLen(bodyBlockSize)
	scratch := getScratch(nb * bound)
	b.scratch = append(b.scratch, scratch)
	blocks := make([][]byte, nb)
	encode := func(i int) {
		end := min(len(stream), (i+1)*bodyBlockSize)
		blocks[i] = s2.Encode((*scratch)[i*bound:(i+1)*bound], stream[i*bodyBlockSize:end])
	}
	if np := min(runtime.GOMAXPROCS(0), nb); np > 1 {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range np - 1 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1)) - 1; i < nb; i = int(next.Add(1)) - 1 {
					encode(i)
				}
			}()
		}
		for i := int(next.Add(1)) - 1; i < nb; i = int(next.Add(1)) - 1 {
			encode(i)
		}
		wg.Wait()
	} else {
		for i := range nb {
			encode(i)
		}
	}
	for _, blk := range blocks {
		start := len(hdrs)
		hdrs = binary.AppendUvarint(hdrs, uint64(len(blk)))
		b.add(hdrs[start:])
		b.add(blk)
	}
}

// bodyStream returns the stream of body v: the Arrow IPC stream of format
// 1 or 2, the column stream of format 3. A compressed body is decompressed
// into alloc(length) (owned); else stream aliases v.
func bodyStream(id uint64, v []byte, alloc func(int) []byte) (stream []byte, owned bool, err error) {
	if len(v) == 0 {
		return nil, false, fmt.Errorf("empty body of batch entry %d: %w", id, ErrCorruption)
	}
	if v[0] > batchBodyFormat {
		return nil, false, fmt.Errorf("batch entry format %d is newer than this binary supports (%d); upgrade MantisDB", v[0], batchBodyFormat)
	}
	bad := func(what string) ([]byte, bool, error) {
		return nil, false, fmt.Errorf("bad body of batch entry %d: %s: %w", id, what, ErrCorruption)
	}
	if v[0] == 1 {
		return v[1:], false, nil
	}
	if len(v) < 2 {
		return bad("no codec")
	}
	switch v[1] {
	case bodyRaw:
		return v[2:], false, nil
	case bodyS2:
	default:
		return bad(fmt.Sprintf("unknown codec %d", v[1]))
	}
	c := cursor{b: v, pos: 2}
	n, ok1 := c.uvarint()
	bs, ok2 := c.uvarint()
	// The stated length is allocated: it must agree with the number of
	// blocks the body can hold (S2 itself has no useful bound on its
	// ratio: long runs take a few bytes).
	if !ok1 || !ok2 || bs == 0 || bs > maxBodyBlock || (n+bs-1)/bs > uint64(len(c.rest())) {
		return bad("block header")
	}
	dst := alloc(int(n))
	for off := 0; off < int(n); off += int(bs) {
		l, ok := c.uvarint()
		block, ok2 := c.take(l)
		if !ok || !ok2 {
			return bad("block length")
		}
		want := min(int(bs), int(n)-off)
		if dl, err := s2.DecodedLen(block); err != nil || dl != want {
			return bad("block size")
		}
		if _, err := s2.Decode(dst[off:off+want], block); err != nil {
			return bad(err.Error())
		}
	}
	if len(c.rest()) != 0 {
		return bad("trailing bytes")
	}
	return dst, true, nil
}

// cursor reads an encoded header or body front to back: uvarints and
// length-prefixed parts, each checked against the bytes left.
type cursor struct {
	b   []byte
	pos int
}

// uvarint reads the next uvarint; false when none is there.
func (c *cursor) uvarint() (uint64, bool) {
	x, w := binary.Uvarint(c.b[c.pos:])
	if w <= 0 {
		return 0, false
	}
	c.pos += w
	return x, true
}

// take reads the next n bytes (aliasing the input); false when fewer are
// left.
func (c *cursor) take(n uint64) ([]byte, bool) {
	if n > uint64(len(c.b)-c.pos) {
		return nil, false
	}
	part := c.b[c.pos : c.pos+int(n)]
	c.pos += int(n)
	return part, true
}

// rest returns the bytes not read yet.
func (c *cursor) rest() []byte { return c.b[c.pos:] }

// maxBodyBlock bounds the block size a body may state.
const maxBodyBlock = 64 << 20

// scratchPool recycles the compression and decompression buffers of
// bodies.
var scratchPool sync.Pool // of *[]byte

// maxPooledScratch is the largest buffer scratchPool keeps.
const maxPooledScratch = 64 << 20

func getScratch(n int) *[]byte {
	p, _ := scratchPool.Get().(*[]byte)
	if p == nil || cap(*p) < n {
		b := make([]byte, n)
		return &b
	}
	*p = (*p)[:n]
	return p
}

func putScratch(p *[]byte) {
	if cap(*p) <= maxPooledScratch {
		scratchPool.Put(p)
	}
}

// decodeBody decodes the body v of batch entry m into a batch of t's
// current columns (columns added after the entry was written are NULL).
// The caller releases the result; it does not alias v.
func decodeBody(mem memory.Allocator, t *catalog.Table, m *batchMeta, v []byte) (arrow.RecordBatch, error) {
	raw, err := decodeRaw(mem, t, m, v)
	if err != nil {
		return nil, err
	}
	defer raw.Release()
	return conformBody(mem, t, m, raw), nil
}

// decodeRaw decodes the body v of batch entry m of t as written (its own
// columns). The caller releases the result; it does not alias v.
func decodeRaw(mem memory.Allocator, t *catalog.Table, m *batchMeta, v []byte) (arrow.RecordBatch, error) {
	if len(v) > 0 && v[0] >= bodyFormatColumns {
		// The columns are copied out of the stream: it is scratch.
		var scratch *[]byte
		stream, _, err := bodyStream(m.id, v, func(n int) []byte {
			scratch = getScratch(n)
			return *scratch
		})
		if scratch != nil {
			defer putScratch(scratch)
		}
		if err != nil {
			return nil, err
		}
		return decodeColumns(mem, t, m, stream)
	}
	// Not pooled: the decoded batch keeps the stream (zero-copy IPC).
	stream, owned, err := bodyStream(m.id, v, func(n int) []byte { return make([]byte, n) })
	if err != nil {
		return nil, err
	}
	var r *ipc.Reader
	if owned {
		// The batch's buffers are slices of stream, which it keeps.
		r, err = ipc.NewReaderFromMessageReader(newStreamMessages(stream), ipc.WithAllocator(mem))
	} else {
		// stream is part of the Pebble value: the reader copies.
		r, err = ipc.NewReader(bytes.NewReader(stream), ipc.WithAllocator(mem))
	}
	if err != nil {
		return nil, fmt.Errorf("cannot decode batch entry %d: %w: %v", m.id, ErrCorruption, err)
	}
	defer r.Release()
	if !r.Next() {
		err := r.Err()
		return nil, fmt.Errorf("cannot decode batch entry %d: %w: %v", m.id, ErrCorruption, err)
	}
	rec := r.RecordBatch()
	if int(rec.NumRows()) != m.rows || int(rec.NumCols()) > len(t.Columns) {
		return nil, fmt.Errorf("batch entry %d holds %d rows of %d columns, its header says %d rows: %w",
			m.id, rec.NumRows(), rec.NumCols(), m.rows, ErrCorruption)
	}
	rec.Retain()
	return rec, nil
}

// conformBody returns the decoded body rec of m as a batch of t's current
// columns (columns added after the entry was written read as their
// default, or NULL). rec is not released; the caller releases the result.
func conformBody(mem memory.Allocator, t *catalog.Table, m *batchMeta, rec arrow.RecordBatch) arrow.RecordBatch {
	sch := t.Schema()
	cols := make([]arrow.Array, len(t.Columns))
	for i := range cols {
		if i < int(rec.NumCols()) {
			cols[i] = rec.Column(i)
			cols[i].Retain()
		} else {
			cols[i] = missingColumn(mem, t, i, m.rows)
		}
	}
	out := array.NewRecordBatch(sch, cols, int64(m.rows))
	for _, c := range cols {
		c.Release()
	}
	return out
}

// readBody reads and decodes the body of batch entry m from r, through
// cache (nil: none); with keep, a decoded body is added to the cache.
func readBody(r reader, mem memory.Allocator, t *catalog.Table, m *batchMeta, cache *batchCache, keep bool) (arrow.RecordBatch, error) {
	if cache != nil {
		if raw := cache.getBody(m); raw != nil {
			defer raw.Release()
			if int(raw.NumCols()) > len(t.Columns) {
				return nil, fmt.Errorf("batch entry %d holds %d columns, table %q %d: %w", m.id, raw.NumCols(), t.Name, len(t.Columns), ErrCorruption)
			}
			return conformBody(mem, t, m, raw), nil
		}
	}
	v, closer, err := r.Get(batchBodyKey(t.ID, m.id))
	if err != nil {
		return nil, fmt.Errorf("cannot read batch entry %d of table %q: %w", m.id, t.Name, err)
	}
	defer closer.Close()
	if cache == nil || !keep {
		return decodeBody(mem, t, m, v)
	}
	// Cache the body as written (its own columns), not conformed to t.
	raw, err := decodeRaw(mem, t, m, v)
	if err != nil {
		return nil, err
	}
	defer raw.Release()
	cache.putBody(m, raw)
	return conformBody(mem, t, m, raw), nil
}

// appendRowKeys appends the row keys of every row of cols (t's columns,
// for tables with a primary key) to keys, with their end offsets.
func appendRowKeys(keys []byte, offs []uint32, t *catalog.Table, cols []colReader, n int) ([]byte, []uint32) {
	if w := fixedKeyWidth(t); w > 0 {
		return appendFixedRowKeys(keys, offs, t, cols, n, w)
	}
	offs = append(offs[:0], uint32(len(keys)))
	for i := 0; i < n; i++ {
		keys = appendRowPrefix(keys, t.ID)
		for _, k := range t.PrimaryKey {
			keys = appendKeyValue(keys, &cols[k], i)
		}
		offs = append(offs, uint32(len(keys)))
	}
	return keys, offs
}

// fixedKeyWidth returns the length of every row key of t when its
// primary-key columns are all integers, dates or timestamps (the keys then
// have one length), else 0.
func fixedKeyWidth(t *catalog.Table) int {
	w := rowPrefixLen
	for _, k := range t.PrimaryKey {
		switch t.Columns[k].Type.Kind {
		case catalog.KindSmallint:
			w += 2
		case catalog.KindInt, catalog.KindDate:
			w += 4
		case catalog.KindBigint, catalog.KindTimestamp:
			w += 8
		default:
			return 0
		}
	}
	return w
}

// appendFixedRowKeys is appendRowKeys for keys of w bytes each
// (fixedKeyWidth): the keys are written column by column, one typed loop
// per key column instead of a switch per value. Key columns hold no NULLs.
func appendFixedRowKeys(keys []byte, offs []uint32, t *catalog.Table, cols []colReader, n, w int) ([]byte, []uint32) {
	start := len(keys)
	keys = slices.Grow(keys, n*w)[:start+n*w]
	out := keys[start:]
	prefix := appendRowPrefix(nil, t.ID)
	for i := 0; i < n; i++ {
		copy(out[i*w:], prefix)
	}
	pos := rowPrefixLen
	for _, k := range t.PrimaryKey {
		c := &cols[k]
		switch c.kind {
		case catalog.KindSmallint:
			pos += putKeyColumn(out, w, pos, c.i16[:n])
		case catalog.KindInt:
			pos += putKeyColumn(out, w, pos, c.i32[:n])
		case catalog.KindDate:
			pos += putKeyColumn(out, w, pos, c.d32[:n])
		case catalog.KindBigint:
			pos += putKeyColumn(out, w, pos, c.i64[:n])
		case catalog.KindTimestamp:
			pos += putKeyColumn(out, w, pos, c.ts[:n])
		}
	}
	offs = append(offs[:0], uint32(start))
	for i := 1; i <= n; i++ {
		offs = append(offs, uint32(start+i*w))
	}
	return keys, offs
}

// putKeyColumn writes vals in the key encoding of their width (sign bit
// flipped, big-endian: what appendInt16Key, appendInt32Key and
// appendInt64Key write for one value) at byte pos of each w-byte key in
// out, and returns that width.
func putKeyColumn[T ~int16 | ~int32 | ~int64](out []byte, w, pos int, vals []T) int {
	var zero T
	switch size := int(unsafe.Sizeof(zero)); size {
	case 2:
		for i, v := range vals {
			binary.BigEndian.PutUint16(out[i*w+pos:], uint16(v)^(1<<15))
		}
		return size
	case 4:
		for i, v := range vals {
			binary.BigEndian.PutUint32(out[i*w+pos:], uint32(v)^(1<<31))
		}
		return size
	default:
		for i, v := range vals {
			binary.BigEndian.PutUint64(out[i*w+pos:], uint64(v)^(1<<63))
		}
		return size
	}
}

// loadKeys makes sure the row keys of m, a batch entry of t with a
// primary key readable in r, are loaded, decoding its body if needed. Keys
// loaded on demand stay with the header until the entry is compacted.
func (s *Store) loadKeys(r reader, t *catalog.Table, m *batchMeta) error {
	return loadKeysFrom(r, s.opts.Allocator, t, m)
}

// rowRef is row pos of source src of a gather.
type rowRef struct {
	src int32
	pos int32
}

// gather builds a column of type typ from the rows refs of srcs (colReaders
// of the same type).
func gather(mem memory.Allocator, typ catalog.Type, srcs []colReader, refs []rowRef) arrow.Array {
	dt := typ.ArrowType()
	switch typ.Kind {
	case catalog.KindSmallint:
		return gatherFixed(mem, dt, srcs, refs, func(c *colReader) []int16 { return c.i16 })
	case catalog.KindInt:
		return gatherFixed(mem, dt, srcs, refs, func(c *colReader) []int32 { return c.i32 })
	case catalog.KindBigint:
		return gatherFixed(mem, dt, srcs, refs, func(c *colReader) []int64 { return c.i64 })
	case catalog.KindReal:
		return gatherFixed(mem, dt, srcs, refs, func(c *colReader) []float32 { return c.f32 })
	case catalog.KindDouble:
		return gatherFixed(mem, dt, srcs, refs, func(c *colReader) []float64 { return c.f64 })
	case catalog.KindDecimal:
		return gatherFixed(mem, dt, srcs, refs, func(c *colReader) []decimal128.Num { return c.dec })
	case catalog.KindDate:
		return gatherFixed(mem, dt, srcs, refs, func(c *colReader) []arrow.Date32 { return c.d32 })
	case catalog.KindTimestamp:
		return gatherFixed(mem, dt, srcs, refs, func(c *colReader) []arrow.Timestamp { return c.ts })
	case catalog.KindBoolean:
		b := array.NewBooleanBuilder(mem)
		defer b.Release()
		b.Reserve(len(refs))
		for _, r := range refs {
			c := &srcs[r.src]
			if c.isNull(int(r.pos)) {
				b.AppendNull()
			} else {
				b.UnsafeAppend(c.b.Value(int(r.pos)))
			}
		}
		return b.NewArray()
	case catalog.KindVarchar:
		sb := array.NewStringBuilder(mem)
		defer sb.Release()
		b := sb.BinaryBuilder
		total := 0
		for _, r := range refs {
			c := &srcs[r.src]
			total += int(c.offs[r.pos+1] - c.offs[r.pos])
		}
		b.Reserve(len(refs))
		b.ReserveData(total)
		for _, r := range refs {
			c := &srcs[r.src]
			if c.isNull(int(r.pos)) {
				b.AppendNull()
			} else {
				b.Append(c.str(int(r.pos)))
			}
		}
		return sb.NewArray()
	}
	return array.MakeArrayOfNull(mem, dt, len(refs))
}

// gatherFixed is gather for fixed-width types: it fills the value and
// validity buffers directly.
func gatherFixed[T arrow.FixedWidthType](mem memory.Allocator, dt arrow.DataType, srcs []colReader, refs []rowRef, vals func(*colReader) []T) arrow.Array {
	n := len(refs)
	var zero T
	size := int(unsafe.Sizeof(zero))
	vbuf := memory.NewResizableBuffer(mem)
	vbuf.Resize(n * size)
	out := arrow.GetData[T](vbuf.Bytes())[:n]
	sv := make([][]T, len(srcs))
	anyNull := false
	for i := range srcs {
		sv[i] = vals(&srcs[i])
		anyNull = anyNull || srcs[i].nulls != nil
	}
	var nbuf *memory.Buffer
	nulls := 0
	if anyNull {
		nbuf = memory.NewResizableBuffer(mem)
		nbuf.Resize((n + 7) / 8)
		bm := nbuf.Bytes()
		clear(bm)
		for i, r := range refs {
			c := &srcs[r.src]
			if c.isNull(int(r.pos)) {
				nulls++
				out[i] = zero
				continue
			}
			bm[i>>3] |= 1 << (i & 7)
			out[i] = sv[r.src][r.pos]
		}
	} else {
		for i, r := range refs {
			out[i] = sv[r.src][r.pos]
		}
	}
	data := array.NewData(dt, n, []*memory.Buffer{nbuf, vbuf}, nil, nulls, 0)
	defer data.Release()
	vbuf.Release()
	if nbuf != nil {
		nbuf.Release()
	}
	return array.MakeFromData(data)
}

// liveBitmap returns the positions of m's rows not in deleted.
func liveBitmap(rows int, deleted *roaring.Bitmap) *roaring.Bitmap {
	live := roaring.New()
	live.AddRange(0, uint64(rows))
	if deleted != nil {
		live.AndNot(deleted)
	}
	return live
}

func bytesCompare(a, b []byte) int { return bytes.Compare(a, b) }

// slicesSortByMin orders batch entry sources by their first key (then id).
func slicesSortByMin(s []*compSource) {
	sort.SliceStable(s, func(i, j int) bool { return bytes.Compare(s[i].m.min, s[j].m.min) < 0 })
}

// compressMinBytes is the Arrow data size from which a batch entry's body
// is compressed: below it the stream is stored as it is (a small batch's
// WAL bytes are cheap).
var compressMinBytes = 64 << 10 // a variable for tests

// recordBytes is the size of rec's Arrow buffers.
func recordBytes(rec arrow.RecordBatch) int {
	n := 0
	for _, c := range rec.Columns() {
		for _, b := range c.Data().Buffers() {
			if b != nil {
				n += b.Len()
			}
		}
	}
	return n
}
