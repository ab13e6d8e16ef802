// Package arrowsize estimates the memory of Arrow arrays and record
// batches by the values they hold, not by the buffers they point into.
//
// A slice of an array shares its parent's buffers: counting the buffers'
// lengths charges a batch cut from a large one (scans hand out 8192-row
// slices of a decoded batch entry of 100K rows and more) for the whole
// parent, once per slice. An operator that keeps every slice holds the
// parent once, about the sum of the slices' own sizes, which is what these
// functions return; it is also the size a copy of the slice (an IPC
// message, a concatenation) takes.
package arrowsize

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Array returns the bytes of a's values: validity bits, offsets and the
// bytes the offsets span for strings and binaries, the values' width
// otherwise. Types the database does not produce (nested, dictionary,
// views) count their buffers whole.
func Array(a arrow.Array) int64 {
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
	case *array.Null:
		return 0
	default:
		switch dt := a.DataType().(type) {
		case *arrow.BooleanType:
			size += (n + 7) / 8
		case arrow.FixedWidthDataType:
			size += n * int64(max(dt.BitWidth()/8, 1))
		default:
			for _, b := range a.Data().Buffers() {
				if b != nil {
					size += int64(b.Len())
				}
			}
		}
	}
	return size
}

// Record returns the sum of Array over rec's columns.
func Record(rec arrow.RecordBatch) int64 {
	var n int64
	for _, c := range rec.Columns() {
		n += Array(c)
	}
	return n
}
