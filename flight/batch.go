package flight

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// sliceRows returns how many rows of rec go into one DoGet message so that
// messages stay near maxBytes: rec's estimated size spread evenly over its
// rows (variable-width columns by their actual bytes), at least one row.
func sliceRows(rec arrow.RecordBatch, maxBytes int) int64 {
	n := rec.NumRows()
	if n == 0 {
		return 1
	}
	size := int64(0)
	for _, c := range rec.Columns() {
		size += arraySize(c)
	}
	if size <= int64(maxBytes) {
		return n
	}
	step := n * int64(maxBytes) / size
	return max(step, 1)
}

// arraySize estimates the bytes an array occupies in an IPC message.
func arraySize(a arrow.Array) int64 {
	n := int64(a.Len())
	size := (n + 7) / 8 // validity bitmap
	switch a := a.(type) {
	case *array.String:
		if n > 0 {
			size += int64(a.ValueOffset(int(n-1))+len(a.Value(int(n-1)))-a.ValueOffset(0)) + 4*n
		}
	case *array.Binary:
		if n > 0 {
			size += int64(a.ValueOffset(int(n-1))+len(a.Value(int(n-1)))-a.ValueOffset(0)) + 4*n
		}
	default:
		if fw, ok := a.DataType().(arrow.FixedWidthDataType); ok {
			size += n * int64(max(fw.BitWidth()/8, 1))
		} else {
			// Types the DB does not produce today: count every buffer.
			for _, b := range a.Data().Buffers() {
				if b != nil {
					size += int64(b.Len())
				}
			}
		}
	}
	return size
}
