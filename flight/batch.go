package flight

import (
	"github.com/apache/arrow-go/v18/arrow"

	"github.com/mantisdb/mantisdb/internal/arrowsize"
)

// sliceRows returns how many rows of rec go into one DoGet message so that
// messages stay near maxBytes: rec's estimated size spread evenly over its
// rows (variable-width columns by their actual bytes), at least one row.
func sliceRows(rec arrow.RecordBatch, maxBytes int) int64 {
	n := rec.NumRows()
	if n == 0 {
		return 1
	}
	size := arrowsize.Record(rec)
	if size <= int64(maxBytes) {
		return n
	}
	step := n * int64(maxBytes) / size
	return max(step, 1)
}
