package segments

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
)

// Dense string columns page by page. parquet's ByteArrayColumnChunkReader
// hands out a page's values as a slice of parquet.ByteArray (a 24-byte
// slice header per value, written by its decoder and read back by
// decodeBytes) and decodes dictionary indices through a generic gather;
// lineitem's string columns took two thirds of its decoding. bytesPages
// reads the column chunk's pages itself (parquet's PageReader still reads,
// decompresses and checks them) and decodes the two encodings the writer
// produces straight into the batch's offsets and data: PLAIN (a 4-byte
// length before each value) and RLE_DICTIONARY / PLAIN_DICTIONARY indices
// into the chunk's dictionary page (the RLE / bit-packed hybrid). Data
// pages V1 and V2 are both read; definition levels are the RLE hybrid of
// width 1 (optional columns) or absent (required ones). A page in any
// other encoding, or bytes that do not parse, fail the scan with
// ErrCorruption: the segment writer never produces them. Only dense scans
// that start at a row group's first row use it (no seek); sparse scans and
// the page cache keep parquet's column reader.

// bytesPages is the page-level decoder of one BYTE_ARRAY column chunk. It
// is not safe for concurrent use.
type bytesPages struct {
	pr     file.PageReader
	maxDef int16

	// The chunk's dictionary, copied out of its page: value i is
	// dictData[dictOff[i]:dictOff[i+1]].
	dictOff  []int32
	dictData []byte
	dictMax  int // the longest value's length
	hasDict  bool

	// The current data page.
	left   int        // levels not yet decoded
	defs   rleDecoder // definition levels (maxDef > 0)
	dict   bool       // values are dictionary indices (idx), else plain
	plain  []byte     // the plain values not yet decoded
	idx    rleDecoder
	defBuf []uint32 // scratch: the levels of one step
	idxBuf []uint32 // scratch: the indices of one step
}

// errBadPage reports a page the decoder cannot parse.
var errBadPage = errors.New("malformed data page")

func newBytesPages(pr file.PageReader, maxDef int16) *bytesPages {
	return &bytesPages{pr: pr, maxDef: maxDef}
}

// close closes the page reader.
func (p *bytesPages) close() error {
	if p.pr == nil {
		return nil
	}
	err := p.pr.Close()
	p.pr = nil
	return err
}

// corrupt wraps a parse error as ErrCorruption.
func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: string column: %s", ErrCorruption, fmt.Sprintf(format, args...))
}

// nextPage moves to the next data page, reading a dictionary page on the
// way. It reports false at the end of the chunk (or an error).
func (p *bytesPages) nextPage() (bool, error) {
	for {
		if !p.pr.Next() {
			return false, p.pr.Err()
		}
		switch pg := p.pr.Page().(type) {
		case *file.DictionaryPage:
			if err := p.readDictionary(pg); err != nil {
				return false, err
			}
		case *file.DataPageV1:
			data := pg.Data()
			var defs []byte
			if p.maxDef > 0 {
				if pg.DefinitionLevelEncoding() != parquet.Encodings.RLE {
					return false, corrupt("definition levels in encoding %s", pg.DefinitionLevelEncoding())
				}
				if len(data) < 4 {
					return false, corrupt("%v", errBadPage)
				}
				n := binary.LittleEndian.Uint32(data)
				if uint64(n) > uint64(len(data)-4) {
					return false, corrupt("definition levels of %d bytes in a page of %d", n, len(data))
				}
				defs, data = data[4:4+n], data[4+n:]
			}
			if err := p.startPage(int(pg.NumValues()), parquet.Encoding(pg.Encoding()), defs, data); err != nil {
				return false, err
			}
			return true, nil
		case *file.DataPageV2:
			data := pg.Data()
			rl, dl := int(pg.RepetitionLevelByteLen()), int(pg.DefinitionLevelByteLen())
			if rl != 0 || dl < 0 || dl > len(data) {
				return false, corrupt("level lengths %d and %d in a page of %d bytes", rl, dl, len(data))
			}
			var defs []byte
			if p.maxDef > 0 {
				defs = data[:dl]
			}
			if err := p.startPage(int(pg.NumValues()), parquet.Encoding(pg.Encoding()), defs, data[dl:]); err != nil {
				return false, err
			}
			return true, nil
		}
	}
}

// startPage prepares the decoding of a data page of n levels.
func (p *bytesPages) startPage(n int, enc parquet.Encoding, defs, values []byte) error {
	if n < 0 {
		return corrupt("%d values in a page", n)
	}
	p.left = n
	if p.maxDef > 0 {
		p.defs.reset(defs, 1)
	}
	switch enc {
	case parquet.Encodings.Plain:
		p.dict, p.plain = false, values
	case parquet.Encodings.RLEDict, parquet.Encodings.PlainDict:
		if !p.hasDict {
			return corrupt("a dictionary-encoded page without a dictionary")
		}
		if len(values) < 1 || values[0] > 32 {
			return corrupt("%v", errBadPage)
		}
		p.dict = true
		p.idx.reset(values[1:], uint(values[0]))
	default:
		return corrupt("values in encoding %s", enc)
	}
	return nil
}

// readDictionary copies the values of a dictionary page.
func (p *bytesPages) readDictionary(pg *file.DictionaryPage) error {
	if enc := parquet.Encoding(pg.Encoding()); enc != parquet.Encodings.Plain && enc != parquet.Encodings.PlainDict {
		return corrupt("dictionary in encoding %s", enc)
	}
	return p.readDictionaryValues(pg.Data(), int(pg.NumValues()))
}

// readDictionaryValues copies the n plain values of data, a dictionary
// page.
func (p *bytesPages) readDictionaryValues(data []byte, n int) error {
	if n < 0 || n > len(data)/4 {
		return corrupt("dictionary of %d values in %d bytes", n, len(data))
	}
	p.dictOff = append(p.dictOff[:0], 0)
	p.dictData = p.dictData[:0]
	p.dictMax = 0
	for i := 0; i < n; i++ {
		v, rest, ok := plainValue(data)
		if !ok {
			return corrupt("dictionary value %d runs past its page", i)
		}
		p.dictMax = max(p.dictMax, len(v))
		p.dictData = append(p.dictData, v...)
		if len(p.dictData) > math.MaxInt32 {
			return corrupt("dictionary of more than 2 GiB")
		}
		p.dictOff = append(p.dictOff, int32(len(p.dictData)))
		data = rest
	}
	// Padding for gather's fixed-size copies.
	p.dictData = append(p.dictData, make([]byte, wordCopy)...)
	p.hasDict = true
	return nil
}

// plainValue splits the first PLAIN byte array off b.
func plainValue(b []byte) (v, rest []byte, ok bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	n := binary.LittleEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return nil, nil, false
	}
	return b[4 : 4+n], b[4+n:], true
}

// decode reads the next n rows into an Arrow array of type dt. Its
// offsets and data come from dataMem (every offset and every byte up to
// the last offset is written; see colDecoder.decode), its validity bitmap
// from mem.
func (p *bytesPages) decode(mem, dataMem memory.Allocator, dt arrow.DataType, n int, dataHint int) (arrow.Array, int, error) {
	offBuf := memory.NewResizableBuffer(dataMem)
	defer offBuf.Release()
	offBuf.Resize((n + 1) * arrow.Int32SizeBytes)
	offsets := arrow.Int32Traits.CastFromBytes(offBuf.Bytes())[:n+1]
	offsets[0] = 0
	data := memory.NewResizableBuffer(dataMem)
	defer data.Release()
	data.Reserve(dataHint)
	out := byteSink{data: data, buf: data.Buf()}
	var valid *memory.Buffer
	var vbits []byte
	nulls := 0
	for row := 0; row < n; {
		if p.left == 0 {
			ok, err := p.nextPage()
			if err != nil {
				return nil, 0, err
			}
			if !ok {
				return nil, 0, errShortColumn
			}
			continue
		}
		k := min(n-row, p.left)
		// Definition levels of the step's rows: v of them are values.
		v := k
		var defs []uint32
		if p.maxDef > 0 {
			defs = grow(&p.defBuf, k)
			if err := p.defs.decode(defs); err != nil {
				return nil, 0, err
			}
			v = 0
			for _, d := range defs {
				v += int(d)
			}
			if v == k {
				defs = nil // all valid
			} else if valid == nil {
				valid = newValidity(mem, n, row)
				defer valid.Release()
				vbits = valid.Bytes()
			}
		}
		var err error
		if defs == nil {
			err = p.values(&out, offsets[row+1:row+1+k])
			if vbits != nil {
				bitutil.SetBitsTo(vbits, int64(row), int64(k), true)
			}
		} else {
			err = p.valuesWithNulls(&out, offsets[row+1:row+1+k], defs, v, vbits, row)
			nulls += k - v
		}
		if err != nil {
			return nil, 0, err
		}
		p.left -= k
		row += k
	}
	data.ResizeNoShrink(out.size)
	d := array.NewData(dt, n, []*memory.Buffer{valid, offBuf, data}, nil, nulls, 0)
	defer d.Release()
	return array.MakeFromData(d), out.size, nil
}

// grow returns (*b)[:n], reallocated if too short.
func grow(b *[]uint32, n int) []uint32 {
	if cap(*b) < n {
		*b = make([]uint32, n)
	}
	return (*b)[:n]
}

// wordCopy is the size of the fixed-size copies that move short values:
// a value of at most wordCopy bytes is copied as wordCopy bytes (two
// vector moves instead of a call of memmove; the bytes past the value are
// overwritten by the next one or lie past the array's data), when the
// source has that many bytes.
const wordCopy = 32

// copyWord copies *src to *dst with four 8-byte loads and stores (an
// array assignment compiles to a call of memmove).
func copyWord(dst, src *[wordCopy]byte) {
	a := binary.LittleEndian.Uint64(src[0:])
	b := binary.LittleEndian.Uint64(src[8:])
	c := binary.LittleEndian.Uint64(src[16:])
	d := binary.LittleEndian.Uint64(src[24:])
	binary.LittleEndian.PutUint64(dst[0:], a)
	binary.LittleEndian.PutUint64(dst[8:], b)
	binary.LittleEndian.PutUint64(dst[16:], c)
	binary.LittleEndian.PutUint64(dst[24:], d)
}

// byteSink is the data buffer of a string array being filled.
type byteSink struct {
	data *memory.Buffer
	buf  []byte // data.Buf()
	size int
}

// reserve makes room for n more bytes.
func (s *byteSink) reserve(n int) error {
	want := s.size + n
	if want > math.MaxInt32 {
		return fmt.Errorf("segments: %d bytes of strings in one batch, more than a string array holds", want)
	}
	if want > len(s.buf) {
		// At most MaxInt32 bytes, so that values written without a call
		// here (they fit in buf) cannot pass an int32 offset either.
		s.data.Reserve(min(max(want, 2*len(s.buf)), math.MaxInt32))
		s.buf = s.data.Buf()
		s.buf = s.buf[:min(len(s.buf), math.MaxInt32)]
	}
	return nil
}

// values appends the next len(offs) values of the page, none NULL, and
// writes their end offsets into offs.
func (p *bytesPages) values(out *byteSink, offs []int32) error {
	if !p.dict {
		b := p.plain
		for i := range offs {
			if len(b) < 4 {
				return corrupt("plain value runs past its page")
			}
			m := int(binary.LittleEndian.Uint32(b))
			if m > len(b)-4 {
				return corrupt("plain value runs past its page")
			}
			if out.size+max(m, 2*wordCopy) > len(out.buf) {
				if err := out.reserve(max(m, 2*wordCopy)); err != nil {
					return err
				}
			}
			switch {
			case m <= wordCopy && 4+wordCopy <= len(b):
				copyWord((*[wordCopy]byte)(out.buf[out.size:out.size+wordCopy]), (*[wordCopy]byte)(b[4:4+wordCopy]))
				out.size += m
			case m <= 2*wordCopy && 4+2*wordCopy <= len(b):
				// Comments and names: two words beat a call of memmove.
				dst, src := out.buf[out.size:out.size+2*wordCopy], b[4:4+2*wordCopy]
				copyWord((*[wordCopy]byte)(dst), (*[wordCopy]byte)(src))
				copyWord((*[wordCopy]byte)(dst[wordCopy:]), (*[wordCopy]byte)(src[wordCopy:]))
				out.size += m
			default:
				out.size += copy(out.buf[out.size:], b[4:4+m])
			}
			offs[i] = int32(out.size)
			b = b[4+m:]
		}
		p.plain = b
		return nil
	}
	idx := grow(&p.idxBuf, len(offs))
	if err := p.idx.decode(idx); err != nil {
		return err
	}
	return p.gather(out, offs, idx)
}

// gather appends the dictionary values idx, writing their end offsets
// into offs.
func (p *bytesPages) gather(out *byteSink, offs []int32, idx []uint32) error {
	switch {
	case p.dictMax <= 8:
		return p.gatherShort(out, offs, idx)
	case p.dictMax <= wordCopy:
		return p.gatherWords(out, offs, idx)
	}
	dictOff, dictData := p.dictOff, p.dictData
	nd := uint32(len(dictOff) - 1)
	for i, x := range idx {
		if x >= nd {
			return corrupt("dictionary index %d of %d values", x, nd)
		}
		o, m := int(dictOff[x]), int(dictOff[x+1]-dictOff[x])
		if out.size+max(m, wordCopy) > len(out.buf) {
			if err := out.reserve(max(m, wordCopy)); err != nil {
				return err
			}
		}
		if m <= wordCopy {
			// dictData has wordCopy bytes of padding past its last value.
			copyWord((*[wordCopy]byte)(out.buf[out.size:out.size+wordCopy]), (*[wordCopy]byte)(dictData[o:o+wordCopy]))
			out.size += m
		} else {
			out.size += copy(out.buf[out.size:], dictData[o:o+m])
		}
		offs[i] = int32(out.size)
	}
	return nil
}

// gatherShort is gather for a dictionary whose values are at most 8 bytes
// long (flags, codes, modes: most dictionary-encoded strings): each value
// moves as one 8-byte load and store, and room for all of idx is made
// once.
func (p *bytesPages) gatherShort(out *byteSink, offs []int32, idx []uint32) error {
	dictOff, dictData := p.dictOff, p.dictData
	nd := uint32(len(dictOff) - 1)
	// At most dictMax bytes a value, plus the 8 the last store may
	// write.
	if need := p.dictMax*len(idx) + 8; out.size+need > len(out.buf) {
		if err := out.reserve(need); err != nil {
			return err
		}
	}
	buf, size := out.buf, out.size
	for i, x := range idx {
		if x >= nd {
			return corrupt("dictionary index %d of %d values", x, nd)
		}
		o, e := int(dictOff[x]), int(dictOff[x+1])
		// dictData has wordCopy (>= 8) bytes of padding past its last
		// value.
		binary.LittleEndian.PutUint64(buf[size:size+8], binary.LittleEndian.Uint64(dictData[o:o+8]))
		size += e - o
		offs[i] = int32(size)
	}
	out.size = size
	return nil
}

// gatherWords is gather for a dictionary whose values are at most
// wordCopy bytes long: each value moves as one copyWord, and room for all
// of idx is made once.
func (p *bytesPages) gatherWords(out *byteSink, offs []int32, idx []uint32) error {
	dictOff, dictData := p.dictOff, p.dictData
	nd := uint32(len(dictOff) - 1)
	if need := p.dictMax*len(idx) + wordCopy; out.size+need > len(out.buf) {
		if err := out.reserve(need); err != nil {
			return err
		}
	}
	buf, size := out.buf, out.size
	for i, x := range idx {
		if x >= nd {
			return corrupt("dictionary index %d of %d values", x, nd)
		}
		o, e := int(dictOff[x]), int(dictOff[x+1])
		copyWord((*[wordCopy]byte)(buf[size:size+wordCopy]), (*[wordCopy]byte)(dictData[o:o+wordCopy]))
		size += e - o
		offs[i] = int32(size)
	}
	out.size = size
	return nil
}

// valuesWithNulls is values for rows with definition levels defs (0: NULL,
// 1: a value), v of them values; it sets the validity bits of the rows
// from first on.
func (p *bytesPages) valuesWithNulls(out *byteSink, offs []int32, defs []uint32, v int, vbits []byte, first int) error {
	// Decode the step's values densely into the front of offs, then
	// spread them to their rows from the back: value j goes to row i >= j,
	// and a NULL row takes the end of the value before it (j < i), so
	// every entry is read before it is overwritten.
	dense := offs[:v]
	start := out.size
	if err := p.values(out, dense); err != nil {
		return err
	}
	j := v - 1
	for i := len(offs) - 1; i >= 0; i-- {
		if defs[i] != 0 {
			offs[i] = dense[j]
			j--
			bitutil.SetBit(vbits, first+i)
		} else if j >= 0 {
			offs[i] = dense[j]
		} else {
			offs[i] = int32(start)
		}
	}
	return nil
}

// rleDecoder decodes Parquet's RLE / bit-packed hybrid encoding of
// unsigned integers of a fixed bit width (at most 32): a sequence of runs,
// each a ULEB128 header whose low bit says a bit-packed run of
// (header>>1)*8 values (width bits each, least significant bit first) or
// else a run of header>>1 copies of one value (in ceil(width/8) bytes,
// little endian).
type rleDecoder struct {
	data  []byte
	width uint
	// The current run: rep copies of val, or packed values from packed
	// (bit-packed, next value at bit pos).
	rep    int
	val    uint32
	packed []byte
	npack  int // values left in the packed run
	pos    uint
}

func (d *rleDecoder) reset(data []byte, width uint) {
	*d = rleDecoder{data: data, width: width}
}

// decode fills dst with the next len(dst) values.
func (d *rleDecoder) decode(dst []uint32) error {
	mask := uint64(1)<<d.width - 1
	for len(dst) > 0 {
		switch {
		case d.rep > 0:
			k := min(d.rep, len(dst))
			v := d.val
			for i := range dst[:k] {
				dst[i] = v
			}
			d.rep -= k
			dst = dst[k:]
		case d.npack > 0:
			k := min(d.npack, len(dst))
			b, pos, w := d.packed, d.pos, d.width
			i := 0
			if w <= 8 {
				// Whole groups of 8 values (w bytes, at a byte boundary)
				// from one 8-byte load each.
				for ; i+8 <= k && pos&7 == 0 && int(pos>>3)+8 <= len(b); i += 8 {
					word := binary.LittleEndian.Uint64(b[pos>>3:])
					g := (*[8]uint32)(dst[i : i+8])
					g[0] = uint32(word & mask)
					g[1] = uint32(word >> w & mask)
					g[2] = uint32(word >> (2 * w) & mask)
					g[3] = uint32(word >> (3 * w) & mask)
					g[4] = uint32(word >> (4 * w) & mask)
					g[5] = uint32(word >> (5 * w) & mask)
					g[6] = uint32(word >> (6 * w) & mask)
					g[7] = uint32(word >> (7 * w) & mask)
					pos += 8 * w
				}
			}
			for ; i < k; i++ {
				byteAt := pos >> 3
				var word uint64
				if int(byteAt)+8 <= len(b) {
					word = binary.LittleEndian.Uint64(b[byteAt:])
				} else {
					for j := int(byteAt); j < len(b); j++ {
						word |= uint64(b[j]) << (8 * uint(j-int(byteAt)))
					}
				}
				dst[i] = uint32(word >> (pos & 7) & mask)
				pos += w
			}
			d.pos = pos
			d.npack -= k
			dst = dst[k:]
		default:
			if err := d.nextRun(); err != nil {
				return err
			}
		}
	}
	return nil
}

// nextRun reads the header of the next run.
func (d *rleDecoder) nextRun() error {
	h, n := binary.Uvarint(d.data)
	if n <= 0 {
		return corrupt("RLE run header: %v", errBadPage)
	}
	d.data = d.data[n:]
	if h&1 == 1 {
		groups := h >> 1
		if groups == 0 || groups > math.MaxInt32/8 {
			return corrupt("bit-packed run of %d groups", groups)
		}
		size := groups * uint64(d.width) // no overflow: groups < 2^28, width <= 32
		if size > uint64(len(d.data)) {
			return corrupt("bit-packed run of %d groups in %d bytes", groups, len(d.data))
		}
		d.packed, d.data = d.data[:size], d.data[size:]
		d.npack, d.pos = int(groups*8), 0
		if d.width == 0 {
			d.rep, d.val, d.npack = d.npack, 0, 0
		}
		return nil
	}
	count := h >> 1
	size := (d.width + 7) / 8
	if count == 0 || count > math.MaxInt32 || uint64(size) > uint64(len(d.data)) {
		return corrupt("RLE run of %d values: %v", count, errBadPage)
	}
	var v uint64
	for i := uint(0); i < size; i++ {
		v |= uint64(d.data[i]) << (8 * i)
	}
	if d.width < 32 && v>>d.width != 0 {
		return corrupt("RLE value %d wider than %d bits", v, d.width)
	}
	d.data = d.data[size:]
	d.rep, d.val = int(count), uint32(v)
	return nil
}
