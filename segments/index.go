package segments

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/mantisdb/mantisdb/catalog"
)

// The index file of a segment ("<id>.idx"):
//
//	magic "MSIX" · uvarint format version · uvarint rows · uvarint row group size
//	· uvarint row groups · uvarint columns · per column:
//	    name · type · per row group (uvarint null count, min, max)
//	    · flags (1 NULL bitmap, 2 value bitmaps, 4 bloom filter)
//	    · [NULL positions: roaring] · [n · n × (value, roaring)] · [bloom]
//	· CRC-32C (little endian) of everything before it.
//
// Row positions in bitmaps are 0-based positions in the segment. Values are
// encoded by appendValue; roaring bitmaps in their portable serialisation.
const indexMagic = "MSIX"

// zone is the zone map of one column in one row group.
type zone struct {
	min, max Value // NULL when the row group holds only NULLs
	nulls    uint32
}

// columnIndex is everything the index file holds about one column.
type columnIndex struct {
	name  string
	typ   catalog.Type
	zones []zone
	// nulls holds the positions of NULLs; nil when there are none.
	nulls *roaring.Bitmap
	// keys (ascending) and bitmaps are the value index; indexed reports
	// whether the column has one (a column of only NULLs has one with no
	// keys).
	indexed bool
	keys    []Value
	bitmaps []*roaring.Bitmap
	bloom   *bloom
}

// lookupValue returns the bitmap of rows equal to v, or nil.
func (c *columnIndex) lookupValue(v Value) *roaring.Bitmap {
	i := sort.Search(len(c.keys), func(i int) bool { return Compare(c.keys[i], v) >= 0 })
	if i < len(c.keys) && Compare(c.keys[i], v) == 0 {
		return c.bitmaps[i]
	}
	return nil
}

// index is the decoded index file of a segment.
type index struct {
	rows         int64
	rowGroupSize int64
	rowGroups    int
	cols         []columnIndex
}

func (x *index) column(name string) *columnIndex {
	for i := range x.cols {
		if equalFold(x.cols[i].name, name) {
			return &x.cols[i]
		}
	}
	return nil
}

func (x *index) encode() []byte {
	b := make([]byte, 0, 1<<12)
	b = append(b, indexMagic...)
	b = binary.AppendUvarint(b, FormatVersion)
	b = binary.AppendUvarint(b, uint64(x.rows))
	b = binary.AppendUvarint(b, uint64(x.rowGroupSize))
	b = binary.AppendUvarint(b, uint64(x.rowGroups))
	b = binary.AppendUvarint(b, uint64(len(x.cols)))
	for i := range x.cols {
		c := &x.cols[i]
		b = appendString(b, c.name)
		b = appendType(b, c.typ)
		for _, z := range c.zones {
			b = binary.AppendUvarint(b, uint64(z.nulls))
			b = appendValue(b, z.min)
			b = appendValue(b, z.max)
		}
		var flags byte
		if c.nulls != nil {
			flags |= 1
		}
		if c.indexed {
			flags |= 2
		}
		if c.bloom != nil {
			flags |= 4
		}
		b = append(b, flags)
		if c.nulls != nil {
			b = appendBitmap(b, c.nulls)
		}
		if c.indexed {
			b = binary.AppendUvarint(b, uint64(len(c.keys)))
			for j := range c.keys {
				b = appendValue(b, c.keys[j])
				b = appendBitmap(b, c.bitmaps[j])
			}
		}
		if c.bloom != nil {
			b = c.bloom.appendTo(b)
		}
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func appendBitmap(b []byte, bm *roaring.Bitmap) []byte {
	raw, err := bm.ToBytes()
	if err != nil {
		// ToBytes writes to memory and cannot fail.
		panic(fmt.Sprintf("segments: serialising bitmap: %v", err))
	}
	return appendBytes(b, raw)
}

func (d *decoder) bitmap() *roaring.Bitmap {
	raw := d.bytes()
	if d.err != nil {
		return nil
	}
	bm := roaring.New()
	if err := bm.UnmarshalBinary(raw); err != nil {
		d.fail("bitmap")
		return nil
	}
	return bm
}

func decodeIndex(b []byte) (*index, error) {
	if len(b) < len(indexMagic)+5 || string(b[:len(indexMagic)]) != indexMagic {
		return nil, fmt.Errorf("%w: index file has a bad magic", ErrCorruption)
	}
	d := decoder{b: b[len(indexMagic):]}
	if v := d.uvarint(); d.err == nil && v > FormatVersion {
		return nil, fmt.Errorf("%w: index file version %d, supported up to %d", ErrNewerFormat, v, FormatVersion)
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, fmt.Errorf("%w: index file checksum mismatch", ErrCorruption)
	}
	d = decoder{b: body[len(indexMagic):]}
	d.uvarint()
	x := &index{rows: int64(d.uvarint()), rowGroupSize: int64(d.uvarint()), rowGroups: int(d.uvarint())}
	ncols := d.uvarint()
	if d.err != nil || ncols > 1<<16 || x.rowGroups > 1<<24 {
		d.fail("index header")
		return nil, d.err
	}
	x.cols = make([]columnIndex, ncols)
	for i := range x.cols {
		c := &x.cols[i]
		c.name = d.str()
		c.typ = d.typ()
		c.zones = make([]zone, x.rowGroups)
		for j := range c.zones {
			c.zones[j].nulls = uint32(d.uvarint())
			c.zones[j].min = d.value()
			c.zones[j].max = d.value()
		}
		flags := d.byte1()
		if flags&1 != 0 {
			c.nulls = d.bitmap()
		}
		if flags&2 != 0 {
			c.indexed = true
			n := d.uvarint()
			if n > uint64(len(d.b)) {
				d.fail("value index")
				break
			}
			c.keys, c.bitmaps = make([]Value, n), make([]*roaring.Bitmap, n)
			for j := range c.keys {
				c.keys[j] = d.value()
				c.bitmaps[j] = d.bitmap()
			}
		}
		if flags&4 != 0 {
			c.bloom = d.bloom()
		}
		if d.err != nil {
			break
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("index (trailing bytes)")
	}
	if d.err != nil {
		return nil, d.err
	}
	return x, nil
}

// columnBuilder accumulates the index of one column while a segment is
// written.
type columnBuilder struct {
	col   columnIndex
	kind  catalog.Kind
	cur   zone // zone of the current row group
	hasV  bool // cur holds a non-NULL min/max
	nulls *roaring.Bitmap
	// values is the value index under construction; nil once the column
	// passed the distinct threshold (or has no index).
	values distinctSet
	// distinct is the number of distinct values when values survived.
	nullCount int64
	bloomOn   bool
	hashes    []uint64 // bloom input, kept until the row count is known
	// dict: values keeps row ids for takeDictionary (trackDictionary).
	dict bool
}

// distinctSet collects value → rows for one column up to a threshold.
type distinctSet interface {
	// add records rows [base, base+arr.Len()) and reports false once more
	// than the threshold of distinct values was seen.
	add(arr arrow.Array, base uint32) bool
	// finish returns the keys in ascending order and their bitmaps.
	finish(k catalog.Kind) ([]Value, []*roaring.Bitmap)
}

// distinct is the value index of a fixed-width column: an open-addressing
// table (linear probing, at most half full) that numbers the distinct
// keys, and the rows of each. It replaced a Go map, whose hashing of
// 16-byte decimal keys was most of the index time of BenchmarkWrite.
type distinct[K comparable] struct {
	slots   []int32 // id+1 of the key hashed there; 0: empty
	shift   uint    // 64 - log2(len(slots))
	keys    []K     // by id
	bms     []rows  // by id
	max     int
	hash    func(K) uint64
	toValue func(catalog.Kind, K) Value
	// With dictValues set (see trackDictionary), pos holds the id of every
	// row not yet taken by takeDictionary (0 for NULLs) and dictValues
	// builds the dictionary of the file's column type from the keys.
	dictValues func(mem memory.Allocator, keys []K) arrow.Array
	pos        []int32
	seen       []bool // scratch of zoneOf
}

// fib spreads the bits of x over the high bits (Fibonacci hashing); the
// table takes its slot from the high bits.
func fib(x uint64) uint64 { return x * 0x9e3779b97f4a7c15 }

// rows collects ascending row positions into a bitmap. The first
// denseValues values of a column set bits in a dense bitmap of the current
// 64K-row chunk, which becomes the chunk's container when the rows move
// on; the others buffer single positions and add them with AddMany (adding
// them one by one into run containers costs a copy each). Runs of more
// than 16 rows are added as ranges.
type rows struct {
	bm      *roaring.Bitmap
	pending []uint32
	dense   []uint64 // bits of chunk; nil: not dense
	chunk   uint32   // high 16 bits of the positions in dense
}

// denseValues is the number of values per column whose rows are collected
// densely: 8 KiB each, 512 KiB per column at most. Columns with few values
// (flags, modes, quantities), where each value has many rows, are the
// ones that gain.
const denseValues = 64

// newRows returns the rows of the id-th value of a column.
func newRows(id int) rows {
	r := rows{bm: roaring.New()}
	if id < denseValues {
		r.dense = make([]uint64, 1<<16/64)
	}
	return r
}

func (r *rows) addRange(start, end uint32) {
	if end-start > 16 {
		r.flush()
		r.bm.AddRange(uint64(start), uint64(end))
		return
	}
	if r.dense != nil {
		for p := start; p < end; p++ {
			if p>>16 != r.chunk {
				r.flushDense()
				r.chunk = p >> 16
			}
			r.dense[p&0xffff>>6] |= 1 << (p & 63)
		}
		return
	}
	for p := start; p < end; p++ {
		r.pending = append(r.pending, p)
	}
	if len(r.pending) >= 4096 {
		r.flush()
	}
}

func (r *rows) flush() {
	if len(r.pending) > 0 {
		r.bm.AddMany(r.pending)
		r.pending = r.pending[:0]
	}
	r.flushDense()
}

// flushDense adds the positions in dense to bm and clears it.
func (r *rows) flushDense() {
	if r.dense == nil {
		return
	}
	part := roaring.FromDense(r.dense, true)
	if !part.IsEmpty() {
		if r.chunk != 0 {
			part = roaring.AddOffset(part, r.chunk<<16)
		}
		r.bm.Or(part)
		clear(r.dense)
	}
}

func newDistinct[K comparable](max int, hash func(K) uint64, toValue func(catalog.Kind, K) Value) *distinct[K] {
	return &distinct[K]{slots: make([]int32, 64), shift: 64 - 6, max: max, hash: hash, toValue: toValue}
}

// run adds rows [start, end) under key k; false once more than max
// distinct keys were seen.
func (d *distinct[K]) run(k K, start, end uint32) bool {
	mask := uint64(len(d.slots) - 1)
	i := fib(d.hash(k)) >> d.shift
	for {
		id := d.slots[i]
		if id == 0 {
			break
		}
		if d.keys[id-1] == k {
			d.bms[id-1].addRange(start, end)
			d.addPos(id-1, start, end)
			return true
		}
		i = (i + 1) & mask
	}
	if len(d.keys) >= d.max {
		return false
	}
	d.keys = append(d.keys, k)
	d.bms = append(d.bms, newRows(len(d.bms)))
	d.slots[i] = int32(len(d.keys))
	d.bms[len(d.bms)-1].addRange(start, end)
	d.addPos(int32(len(d.keys)-1), start, end)
	if 2*len(d.keys) > len(d.slots) {
		d.grow()
	}
	return true
}

// addPos records id as the id of rows [start, end) when d keeps row ids.
func (d *distinct[K]) addPos(id int32, start, end uint32) {
	if d.dictValues == nil {
		return
	}
	for p := start; p < end; p++ {
		d.pos = append(d.pos, id)
	}
}

// grow doubles the table and rehashes the keys.
func (d *distinct[K]) grow() {
	d.slots = make([]int32, 2*len(d.slots))
	d.shift--
	mask := uint64(len(d.slots) - 1)
	for id, k := range d.keys {
		i := fib(d.hash(k)) >> d.shift
		for d.slots[i] != 0 {
			i = (i + 1) & mask
		}
		d.slots[i] = int32(id + 1)
	}
}

func (d *distinct[K]) finish(kind catalog.Kind) ([]Value, []*roaring.Bitmap) {
	type kv struct {
		v  Value
		bm *roaring.Bitmap
	}
	kvs := make([]kv, len(d.keys))
	for id, k := range d.keys {
		r := &d.bms[id]
		r.flush()
		r.bm.RunOptimize()
		kvs[id] = kv{d.toValue(kind, k), r.bm}
	}
	sort.Slice(kvs, func(i, j int) bool { return Compare(kvs[i].v, kvs[j].v) < 0 })
	keys := make([]Value, len(kvs))
	bms := make([]*roaring.Bitmap, len(kvs))
	for i := range kvs {
		keys[i], bms[i] = kvs[i].v, kvs[i].bm
	}
	return keys, bms
}

// runs calls emit for every maximal run of equal non-NULL values; eq
// compares rows i and j.
func addRuns[K comparable](d *distinct[K], arr arrow.Array, base uint32, key func(int) K) bool {
	n := arr.Len()
	nulls := arr.NullN() > 0
	if d.dictValues != nil {
		d.pos = slices.Grow(d.pos, n)
	}
	for i := 0; i < n; {
		if nulls && arr.IsNull(i) {
			if d.dictValues != nil {
				d.pos = append(d.pos, 0)
			}
			i++
			continue
		}
		k := key(i)
		j := i + 1
		for j < n && (!nulls || arr.IsValid(j)) && key(j) == k {
			j++
		}
		if !d.run(k, base+uint32(i), base+uint32(j)) {
			return false
		}
		i = j
	}
	return true
}

type intSet struct{ *distinct[int64] }

func (s intSet) add(arr arrow.Array, base uint32) bool {
	switch a := arr.(type) {
	case *array.Int16:
		v := a.Int16Values()
		return addRuns(s.distinct, arr, base, func(i int) int64 { return int64(v[i]) })
	case *array.Int32:
		v := a.Int32Values()
		return addRuns(s.distinct, arr, base, func(i int) int64 { return int64(v[i]) })
	case *array.Int64:
		v := a.Int64Values()
		return addRuns(s.distinct, arr, base, func(i int) int64 { return v[i] })
	case *array.Date32:
		v := a.Date32Values()
		return addRuns(s.distinct, arr, base, func(i int) int64 { return int64(v[i]) })
	case *array.Timestamp:
		v := a.TimestampValues()
		return addRuns(s.distinct, arr, base, func(i int) int64 { return int64(v[i]) })
	case *array.Boolean:
		return addRuns(s.distinct, arr, base, func(i int) int64 { return b2i(a.Value(i)) })
	}
	return false
}

type floatSet struct{ *distinct[uint64] }

func canonFloat(f float64) uint64 {
	switch {
	case f == 0:
		return 0
	case math.IsNaN(f):
		return 0x7ff8000000000001
	}
	return math.Float64bits(f)
}

func (s floatSet) add(arr arrow.Array, base uint32) bool {
	switch a := arr.(type) {
	case *array.Float32:
		v := a.Float32Values()
		return addRuns(s.distinct, arr, base, func(i int) uint64 { return canonFloat(float64(v[i])) })
	case *array.Float64:
		v := a.Float64Values()
		return addRuns(s.distinct, arr, base, func(i int) uint64 { return canonFloat(v[i]) })
	}
	return false
}

type decimalSet struct{ *distinct[decimal128.Num] }

func (s decimalSet) add(arr arrow.Array, base uint32) bool {
	v := arr.(*array.Decimal128).Values()
	return addRuns(s.distinct, arr, base, func(i int) decimal128.Num { return v[i] })
}

// stringSet is the value index of a VARCHAR column. Besides value → rows
// it numbers the values in order of appearance and keeps the number of
// every row not yet written (pos): the Writer hands a row group of a
// column with few distinct values to Parquet as dictionary indices
// (takeDictionary), so that the strings are hashed once, here, and not
// again by the Parquet dictionary encoder.
type stringSet struct {
	short shortIDs         // ids of the values of up to 7 bytes
	ids   map[string]int32 // ids of the longer values
	keys  []string         // by id
	bms   []rows           // by id
	size  int              // bytes of keys
	max   int
	pos   []int32 // ids of the rows not yet taken; 0 for NULLs
	seen  []bool  // scratch of zoneOf
}

func newStringSet(max int) *stringSet {
	return &stringSet{short: newShortIDs(), ids: make(map[string]int32), max: max}
}

func (s *stringSet) add(arr arrow.Array, base uint32) bool {
	a := arr.(*array.String)
	n := a.Len()
	nulls := a.NullN() > 0
	// Values are read through the offsets, without a string per value.
	offs := a.ValueOffsets()
	var data []byte
	if buf := a.Data().Buffers()[2]; buf != nil {
		data = buf.Bytes()
	}
	s.pos = slices.Grow(s.pos, n)
	for i := 0; i < n; {
		if nulls && a.IsNull(i) {
			s.pos = append(s.pos, 0)
			i++
			continue
		}
		v := data[offs[i]:offs[i+1]]
		j := i + 1
		var id int32
		if len(v) <= maxShort {
			// Flags, modes, codes: a packed word to compare and hash.
			x := packShort(v)
			for j < n && (!nulls || a.IsValid(j)) && offs[j+1]-offs[j] == int32(len(v)) && packShort(data[offs[j]:offs[j+1]]) == x {
				j++
			}
			var ok bool
			if id, ok = s.short.get(x); !ok {
				if id, ok = s.newID(v); !ok {
					return false
				}
				s.short.put(x, id)
			}
		} else {
			for j < n && (!nulls || a.IsValid(j)) && bytes.Equal(data[offs[j]:offs[j+1]], v) {
				j++
			}
			var ok bool
			if id, ok = s.ids[string(v)]; !ok {
				if id, ok = s.newID(v); !ok {
					return false
				}
				s.ids[s.keys[id]] = id
			}
		}
		s.bms[id].addRange(base+uint32(i), base+uint32(j))
		for ; i < j; i++ {
			s.pos = append(s.pos, id)
		}
	}
	return true
}

// newID numbers the new value v (copied); false past the threshold.
func (s *stringSet) newID(v []byte) (int32, bool) {
	if len(s.keys) >= s.max {
		return 0, false
	}
	s.keys = append(s.keys, string(v))
	s.size += len(v)
	s.bms = append(s.bms, newRows(len(s.bms)))
	return int32(len(s.keys) - 1), true
}

// maxShort is the longest value packShort packs.
const maxShort = 7

// packShort packs v, of at most maxShort bytes, into a word: its bytes
// and its length, so that values are equal when their words are.
func packShort(v []byte) uint64 {
	x := uint64(len(v)) << 56
	for i, c := range v {
		x |= uint64(c) << (8 * i)
	}
	return x
}

// shortIDs maps packed short values to their ids: open addressing with
// linear probing, at most half full.
type shortIDs struct {
	keys  []uint64
	ids   []int32 // id+1; 0: empty slot
	shift uint    // 64 - log2(len(keys))
	n     int
}

func newShortIDs() shortIDs {
	return shortIDs{keys: make([]uint64, 16), ids: make([]int32, 16), shift: 64 - 4}
}

func (t *shortIDs) get(x uint64) (int32, bool) {
	mask := uint64(len(t.keys) - 1)
	for i := fib(x) >> t.shift; ; i = (i + 1) & mask {
		switch {
		case t.ids[i] == 0:
			return 0, false
		case t.keys[i] == x:
			return t.ids[i] - 1, true
		}
	}
}

func (t *shortIDs) put(x uint64, id int32) {
	if 2*(t.n+1) > len(t.keys) {
		old, oldIDs := t.keys, t.ids
		t.keys, t.ids, t.shift = make([]uint64, 2*len(old)), make([]int32, 2*len(old)), t.shift-1
		t.n = 0
		for i, k := range old {
			if oldIDs[i] != 0 {
				t.put(k, oldIDs[i]-1)
			}
		}
	}
	mask := uint64(len(t.keys) - 1)
	i := fib(x) >> t.shift
	for t.ids[i] != 0 {
		i = (i + 1) & mask
	}
	t.keys[i], t.ids[i] = x, id+1
	t.n++
}

func (s *stringSet) finish(kind catalog.Kind) ([]Value, []*roaring.Bitmap) {
	order := make([]int32, len(s.keys))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return strings.Compare(s.keys[a], s.keys[b]) })
	keys := make([]Value, len(order))
	bms := make([]*roaring.Bitmap, len(order))
	for i, id := range order {
		r := &s.bms[id]
		r.flush()
		r.bm.RunOptimize()
		keys[i], bms[i] = Value{Kind: kind, S: s.keys[id]}, r.bm
	}
	return keys, bms
}

// dictSource is a value index that can give a row group of its column as
// an Arrow dictionary array.
type dictSource interface {
	// takeDictionary returns the next rows rows of column col, held by the
	// records rg, as a dictionary array the caller releases, and forgets
	// them; nil (and nothing forgotten) when the dictionary is too large
	// to pay off.
	takeDictionary(mem memory.Allocator, rg []arrow.RecordBatch, col, rows int) arrow.Array
}

// maxDictBytes bounds the dictionary (value bytes) that takeDictionary
// builds; past it the Parquet writer would fall back to plain pages
// anyway (dictPageLimit).
const maxDictBytes = dictPageLimit / 2

func (s *stringSet) takeDictionary(mem memory.Allocator, rg []arrow.RecordBatch, col, rows int) arrow.Array {
	if len(s.pos) < rows {
		return nil
	}
	if s.size > maxDictBytes {
		s.pos = append(s.pos[:0], s.pos[rows:]...)
		return nil
	}
	db := array.NewStringBuilder(mem)
	db.Reserve(len(s.keys))
	db.ReserveData(s.size)
	for _, k := range s.keys {
		db.Append(k)
	}
	dict := db.NewArray()
	db.Release()
	defer dict.Release()

	indices := dictIndices(mem, s.pos[:rows], rg, col)
	defer indices.Release()
	s.pos = append(s.pos[:0], s.pos[rows:]...)
	dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	return array.NewDictionaryArray(dt, indices, dict)
}

// dictIndices returns the ids pos of the rows of column col held by the
// records rg as an Int32 array, NULL where the column is; the caller
// releases it.
func dictIndices(mem memory.Allocator, pos []int32, rg []arrow.RecordBatch, col int) arrow.Array {
	rows := len(pos)
	idx := memory.NewResizableBuffer(mem)
	idx.Resize(rows * arrow.Int32SizeBytes)
	copy(arrow.Int32Traits.CastFromBytes(idx.Bytes()), pos)
	var valid *memory.Buffer
	nulls := 0
	for _, r := range rg {
		nulls += r.Column(col).NullN()
	}
	if nulls > 0 {
		valid = memory.NewResizableBuffer(mem)
		valid.Resize(int(bitutil.BytesForBits(int64(rows))))
		bits, off := valid.Bytes(), 0
		for _, r := range rg {
			c := r.Column(col)
			if c.NullN() == 0 {
				bitutil.SetBitsTo(bits, int64(off), int64(c.Len()), true)
			} else {
				bitutil.CopyBitmap(c.Data().Buffers()[0].Bytes(), c.Data().Offset(), c.Len(), bits, off)
			}
			off += c.Len()
		}
	}
	data := array.NewData(arrow.PrimitiveTypes.Int32, rows, []*memory.Buffer{valid, idx}, nil, nulls, 0)
	idx.Release()
	if valid != nil {
		valid.Release()
	}
	defer data.Release()
	return array.MakeFromData(data)
}

// zoneSource is a value index that can give the zone map of a row group
// from the ids of its rows: one store per row and a comparison per
// distinct value, where minMax compares every value (strings, decimals).
type zoneSource interface {
	// keepsIDs reports whether the index numbers every row.
	keepsIDs() bool
	// zoneOf returns the smallest and largest value of the next rows
	// rows not yet taken, held by column col of the records rg; false
	// when they are all NULL.
	zoneOf(rg []arrow.RecordBatch, col, rows int, kind catalog.Kind) (lo, hi Value, ok bool)
}

// seenIDs returns seen (reused, len n) with seen[id] set for the ids in
// pos of the non-NULL rows of column col of rg.
func seenIDs(seen []bool, n int, pos []int32, rg []arrow.RecordBatch, col int) []bool {
	seen = slices.Grow(seen[:0], n)[:n]
	clear(seen)
	off := 0
	for _, r := range rg {
		c := r.Column(col)
		ids := pos[off : off+c.Len()]
		if c.NullN() == 0 {
			for _, id := range ids {
				seen[id] = true
			}
		} else {
			for j, id := range ids {
				if c.IsValid(j) {
					seen[id] = true
				}
			}
		}
		off += c.Len()
	}
	return seen
}

func (s *stringSet) keepsIDs() bool { return true }

func (s *stringSet) zoneOf(rg []arrow.RecordBatch, col, rows int, kind catalog.Kind) (lo, hi Value, ok bool) {
	s.seen = seenIDs(s.seen, len(s.keys), s.pos[:rows], rg, col)
	li, hj := -1, -1
	for id, in := range s.seen {
		switch {
		case !in:
		case li < 0:
			li, hj = id, id
		case s.keys[id] < s.keys[li]:
			li = id
		case s.keys[id] > s.keys[hj]:
			hj = id
		}
	}
	if li < 0 {
		return Value{}, Value{}, false
	}
	return Value{Kind: kind, S: s.keys[li]}, Value{Kind: kind, S: s.keys[hj]}, true
}

func (d *distinct[K]) keepsIDs() bool { return d.dictValues != nil }

func (d *distinct[K]) zoneOf(rg []arrow.RecordBatch, col, rows int, kind catalog.Kind) (lo, hi Value, ok bool) {
	d.seen = seenIDs(d.seen, len(d.keys), d.pos[:rows], rg, col)
	for id, in := range d.seen {
		if !in {
			continue
		}
		v := d.toValue(kind, d.keys[id])
		switch {
		case !ok:
			lo, hi, ok = v, v, true
		case Compare(v, lo) < 0:
			lo = v
		case Compare(v, hi) > 0:
			hi = v
		}
	}
	return lo, hi, ok
}

// maxDictKeys bounds the dictionary of a fixed-width column that
// takeDictionary builds (8 KiB of 8-byte values): a column indexed
// whatever its number of distinct values (WriterOptions.BitmapColumns) can
// have many more.
const maxDictKeys = 1024

// takeDictionary is stringSet.takeDictionary for a fixed-width column
// whose value index keeps row ids (see trackDictionary); nil for the
// others.
func (d *distinct[K]) takeDictionary(mem memory.Allocator, rg []arrow.RecordBatch, col, rows int) arrow.Array {
	if d.dictValues == nil || len(d.pos) < rows {
		return nil
	}
	var dict arrow.Array
	if len(d.keys) <= maxDictKeys {
		dict = d.dictValues(mem, d.keys)
	}
	if dict == nil {
		d.pos = append(d.pos[:0], d.pos[rows:]...)
		return nil
	}
	defer dict.Release()
	indices := dictIndices(mem, d.pos[:rows], rg, col)
	defer indices.Release()
	d.pos = append(d.pos[:0], d.pos[rows:]...)
	dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: dict.DataType()}
	return array.NewDictionaryArray(dt, indices, dict)
}

// trackDictionary makes the value index s of a column keep the id of
// every row, so that the Writer hands the column's row groups to Parquet
// as dictionary indices (takeDictionary) while it has few distinct values:
// the values are hashed once, for the index, and not again by the Parquet
// dictionary encoder, and pages of small indices replace plain pages of 4-
// or 8-byte values (less to encode and compress, smaller files). dt is the
// column's type in the file (INT64 for DECIMALs stored so). It reports
// whether s does so: integer, date, timestamp and INT64-stored DECIMAL
// columns; floats keep their plain pages (the index canonicalises -0 and
// NaN, a dictionary of its keys would change them).
func trackDictionary(s distinctSet, dt arrow.DataType) bool {
	switch s := s.(type) {
	case intSet:
		switch dt.ID() {
		case arrow.INT16, arrow.INT32, arrow.INT64, arrow.DATE32, arrow.TIMESTAMP:
		default:
			return false
		}
		s.dictValues = func(mem memory.Allocator, keys []int64) arrow.Array {
			b := array.NewBuilder(mem, dt)
			defer b.Release()
			b.Reserve(len(keys))
			for _, k := range keys {
				switch b := b.(type) {
				case *array.Int16Builder:
					b.UnsafeAppend(int16(k))
				case *array.Int32Builder:
					b.UnsafeAppend(int32(k))
				case *array.Int64Builder:
					b.UnsafeAppend(k)
				case *array.Date32Builder:
					b.UnsafeAppend(arrow.Date32(k))
				case *array.TimestampBuilder:
					b.UnsafeAppend(arrow.Timestamp(k))
				}
			}
			return b.NewArray()
		}
		return true
	case decimalSet:
		if dt.ID() != arrow.INT64 {
			return false
		}
		s.dictValues = func(mem memory.Allocator, keys []decimal128.Num) arrow.Array {
			b := array.NewInt64Builder(mem)
			defer b.Release()
			b.Reserve(len(keys))
			for _, k := range keys {
				if k.HighBits() != int64(k.LowBits())>>63 {
					// Outside the INT64 storage: the plain path reports it.
					return nil
				}
				b.UnsafeAppend(int64(k.LowBits()))
			}
			return b.NewArray()
		}
		return true
	}
	return false
}

func newDistinctSet(k catalog.Kind, max int) distinctSet {
	switch k {
	case catalog.KindReal, catalog.KindDouble:
		return floatSet{newDistinct(max, func(x uint64) uint64 { return x }, func(k catalog.Kind, x uint64) Value {
			return Value{Kind: k, F: math.Float64frombits(x)}
		})}
	case catalog.KindDecimal:
		return decimalSet{newDistinct(max, func(x decimal128.Num) uint64 {
			return x.LowBits() ^ fib(uint64(x.HighBits())+1)
		}, func(k catalog.Kind, x decimal128.Num) Value {
			return Value{Kind: k, D: x}
		})}
	case catalog.KindVarchar:
		return newStringSet(max)
	}
	return intSet{newDistinct(max, func(x int64) uint64 { return uint64(x) }, func(k catalog.Kind, x int64) Value {
		return Value{Kind: k, I: x}
	})}
}

// addNulls records the NULL positions of arr (rows from base) in bm.
func addNulls(bm *roaring.Bitmap, arr arrow.Array, base uint32) {
	n := arr.Len()
	for i := 0; i < n; {
		if arr.IsValid(i) {
			i++
			continue
		}
		j := i + 1
		for j < n && arr.IsNull(j) {
			j++
		}
		bm.AddRange(uint64(base)+uint64(i), uint64(base)+uint64(j))
		i = j
	}
}

// minMax returns the smallest and largest non-NULL values of arr; ok is
// false when it has none. It runs one typed loop per call.
func minMax(arr arrow.Array, k catalog.Kind) (lo, hi Value, ok bool) {
	n := arr.Len()
	if arr.NullN() == n {
		return Value{}, Value{}, false
	}
	nulls := arr.NullN() > 0
	switch a := arr.(type) {
	case *array.Int16:
		l, h, ok := minMaxOrdered(a.Int16Values(), a, nulls)
		return Value{Kind: k, I: int64(l)}, Value{Kind: k, I: int64(h)}, ok
	case *array.Int32:
		l, h, ok := minMaxOrdered(a.Int32Values(), a, nulls)
		return Value{Kind: k, I: int64(l)}, Value{Kind: k, I: int64(h)}, ok
	case *array.Int64:
		l, h, ok := minMaxOrdered(a.Int64Values(), a, nulls)
		return Value{Kind: k, I: l}, Value{Kind: k, I: h}, ok
	case *array.Date32:
		l, h, ok := minMaxOrdered(a.Date32Values(), a, nulls)
		return Value{Kind: k, I: int64(l)}, Value{Kind: k, I: int64(h)}, ok
	case *array.Timestamp:
		l, h, ok := minMaxOrdered(a.TimestampValues(), a, nulls)
		return Value{Kind: k, I: int64(l)}, Value{Kind: k, I: int64(h)}, ok
	}
	// Floats (NaN order), decimals, strings and booleans: compare rows and
	// materialise the two winners once; decimals and strings, the common
	// cases, in typed loops.
	li, hj := -1, -1
	switch a := arr.(type) {
	case *array.Decimal128:
		v := a.Values()
		for i := range v {
			switch {
			case nulls && a.IsNull(i):
			case li < 0:
				li, hj = i, i
			case v[i].Less(v[li]):
				li = i
			case v[i].Greater(v[hj]):
				hj = i
			}
		}
		return ValueAt(arr, li), ValueAt(arr, hj), true
	case *array.String:
		var lo, hi string
		for i := 0; i < n; i++ {
			if nulls && a.IsNull(i) {
				continue
			}
			switch x := a.Value(i); {
			case li < 0:
				li, hj, lo, hi = i, i, x, x
			case x < lo:
				li, lo = i, x
			case x > hi:
				hj, hi = i, x
			}
		}
		return ValueAt(arr, li), ValueAt(arr, hj), true
	}
	for i := 0; i < n; i++ {
		if nulls && arr.IsNull(i) {
			continue
		}
		if li < 0 {
			li, hj = i, i
			continue
		}
		if compareRows(arr, i, arr, li) < 0 {
			li = i
		} else if compareRows(arr, i, arr, hj) > 0 {
			hj = i
		}
	}
	return ValueAt(arr, li), ValueAt(arr, hj), true
}

func minMaxOrdered[T int16 | int32 | int64 | arrow.Date32 | arrow.Timestamp](v []T, arr arrow.Array, nulls bool) (lo, hi T, ok bool) {
	first := true
	if !nulls {
		lo, hi = v[0], v[0]
		for _, x := range v[1:] {
			lo = min(lo, x)
			hi = max(hi, x)
		}
		return lo, hi, true
	}
	for i, x := range v {
		if arr.IsNull(i) {
			continue
		}
		if first {
			lo, hi, first = x, x, false
			continue
		}
		lo = min(lo, x)
		hi = max(hi, x)
	}
	return lo, hi, !first
}

func equalFold(a, b string) bool { return strings.EqualFold(a, b) }
