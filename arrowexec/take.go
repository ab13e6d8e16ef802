package arrowexec

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// take gathers the rows idx of a into a new array. It is the one gather
// kernel of the package: filters turn their selection into indices, sorts
// take by their permutation. (arrow-go's compute.Take, which the segment
// scanner uses, would do too; this one takes the []int32 the operators
// already have, without an index array and a kernel dispatch per call.)
func take(mem memory.Allocator, a arrow.Array, idx []int32) (arrow.Array, error) {
	switch a.DataType().ID() {
	case arrow.INT16:
		return takeFixed[int16](mem, a, idx), nil
	case arrow.INT32, arrow.DATE32:
		return takeFixed[int32](mem, a, idx), nil
	case arrow.INT64, arrow.TIMESTAMP:
		return takeFixed[int64](mem, a, idx), nil
	case arrow.FLOAT32:
		return takeFixed[float32](mem, a, idx), nil
	case arrow.FLOAT64:
		return takeFixed[float64](mem, a, idx), nil
	case arrow.DECIMAL128:
		return takeFixed[decimal128.Num](mem, a, idx), nil
	case arrow.BOOL:
		return takeBool(mem, a, idx), nil
	case arrow.STRING, arrow.BINARY:
		return takeString(mem, a, idx), nil
	case arrow.NULL:
		return array.MakeArrayOfNull(mem, a.DataType(), len(idx)), nil
	}
	return nil, fmt.Errorf("arrowexec: take: unsupported type %s", a.DataType())
}

// takeValidity gathers the validity bits; nil when a has no NULLs.
func takeValidity(mem memory.Allocator, a arrow.Array, idx []int32) (*memory.Buffer, int) {
	bits, off := validity(a)
	if bits == nil {
		return nil, 0
	}
	out := allocBitmap(mem, len(idx))
	ob := out.Bytes()
	nulls := 0
	for i, j := range idx {
		if bitutil.BitIsSet(bits, off+int(j)) {
			bitutil.SetBit(ob, i)
		} else {
			nulls++
		}
	}
	return out, nulls
}

func takeFixed[T fixedT](mem memory.Allocator, a arrow.Array, idx []int32) arrow.Array {
	src := values[T](a)
	buf, dst := allocFixed[T](mem, len(idx))
	// Runs of consecutive indices (a filter that keeps most rows) are
	// copied whole.
	for i := 0; i < len(idx); {
		j, n := idx[i], 1
		for i+n < len(idx) && idx[i+n] == j+int32(n) {
			n++
		}
		if n == 1 {
			dst[i] = src[j]
		} else {
			copy(dst[i:i+n], src[j:int(j)+n])
		}
		i += n
	}
	vb, nulls := takeValidity(mem, a, idx)
	return makeArray(a.DataType(), len(idx), nulls, vb, buf)
}

func takeBool(mem memory.Allocator, a arrow.Array, idx []int32) arrow.Array {
	d := a.Data()
	src, off := d.Buffers()[1].Bytes(), d.Offset()
	buf := allocBitmap(mem, len(idx))
	dst := buf.Bytes()
	for i, j := range idx {
		dst[i>>3] |= b2u(bitutil.BitIsSet(src, off+int(j))) << (i & 7)
	}
	vb, nulls := takeValidity(mem, a, idx)
	return makeArray(a.DataType(), len(idx), nulls, vb, buf)
}

func takeString(mem memory.Allocator, a arrow.Array, idx []int32) arrow.Array {
	s := stringsOf(a)
	total := 0
	for _, j := range idx {
		total += int(s.offs[j+1] - s.offs[j])
	}
	obuf, offs := allocFixed[int32](mem, len(idx)+1)
	dbuf := memory.NewResizableBuffer(mem)
	dbuf.Resize(total)
	data := dbuf.Bytes()
	pos := int32(0)
	for i := 0; i < len(idx); {
		// A run of consecutive indices is one copy of its bytes.
		j, n := idx[i], 1
		for i+n < len(idx) && idx[i+n] == j+int32(n) {
			n++
		}
		base := s.offs[j]
		for k := range n {
			offs[i+k] = pos + s.offs[int(j)+k] - base
		}
		pos += int32(copy(data[pos:], s.data[base:s.offs[int(j)+n]]))
		i += n
	}
	offs[len(idx)] = pos
	vb, nulls := takeValidity(mem, a, idx)
	return makeArray(a.DataType(), len(idx), nulls, vb, obuf, dbuf)
}

// takeRecord gathers rows idx of every column of rec.
func takeRecord(mem memory.Allocator, rec arrow.RecordBatch, idx []int32) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, rec.NumCols())
	defer releaseAll(cols)
	for i, c := range rec.Columns() {
		out, err := take(mem, c, idx)
		if err != nil {
			return nil, err
		}
		cols[i] = out
	}
	return array.NewRecordBatch(rec.Schema(), cols, int64(len(idx))), nil
}

// selectionOf appends to dst the indices of the set bits of an n-bit
// bitmap, walking 64-bit words so that sparse selections cost little.
func selectionOf(dst []int32, bits []byte, n int) []int32 {
	nw := n / 64
	for w := 0; w < nw; w++ {
		word := uint64(bits[w*8]) | uint64(bits[w*8+1])<<8 | uint64(bits[w*8+2])<<16 | uint64(bits[w*8+3])<<24 |
			uint64(bits[w*8+4])<<32 | uint64(bits[w*8+5])<<40 | uint64(bits[w*8+6])<<48 | uint64(bits[w*8+7])<<56
		for word != 0 {
			t := bitsTrailingZeros(word)
			dst = append(dst, int32(w*64+t))
			word &= word - 1
		}
	}
	for i := nw * 64; i < n; i++ {
		if bitutil.BitIsSet(bits, i) {
			dst = append(dst, int32(i))
		}
	}
	return dst
}
