package rest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// BenchmarkTextDecode decodes the same 10K rows as NDJSON, a JSON array
// and CSV (rows/s = 10K × iterations/s).
func BenchmarkTextDecode(b *testing.B) {
	var nd, arr, csv strings.Builder
	arr.WriteString("[")
	csv.WriteString("id,name,price,ok,ts\n")
	for i := 0; i < 10_000; i++ {
		obj := fmt.Sprintf("{\"id\": %d, \"name\": \"customer %d\", \"price\": %d.25, \"ok\": true, \"ts\": \"2024-01-02T03:04:05\"}", i, i, i)
		nd.WriteString(obj + "\n")
		if i > 0 {
			arr.WriteString(",\n")
		}
		arr.WriteString(obj)
		fmt.Fprintf(&csv, "%d,customer %d,%d.25,true,2024-01-02T03:04:05\n", i, i, i)
	}
	arr.WriteString("]")
	for _, tt := range []struct {
		name   string
		format ingestFormat
		body   string
	}{{"ndjson", formatNDJSON, nd.String()}, {"json", formatJSONArray, arr.String()}, {"csv", formatCSV, csv.String()}} {
		b.Run(tt.name, func(b *testing.B) {
			b.SetBytes(int64(len(tt.body)))
			b.ReportAllocs()
			for b.Loop() {
				r := newTextReader(memory.DefaultAllocator, testTable(), strings.NewReader(tt.body), DefaultIngestBatchRows, tt.format, csvOptions{delimiter: ','})
				for r.Next() {
				}
				if r.Err() != nil {
					b.Fatal(r.Err())
				}
				r.Release()
			}
		})
	}
}

func BenchmarkEncodeRows(b *testing.B) {
	var sb strings.Builder
	for i := 0; i < 8192; i++ {
		fmt.Fprintf(&sb, "{\"id\": %d, \"name\": \"customer %d\", \"price\": %d.25, \"ok\": true, \"d\": \"2024-01-02\", \"ts\": \"2024-01-02T03:04:05\", \"f\": 1.5}\n", i, i, i)
	}
	r := newNDJSONReader(memory.DefaultAllocator, testTable(), strings.NewReader(sb.String()), 8192)
	defer r.Release()
	if !r.Next() {
		b.Fatal(r.Err())
	}
	rec := r.RecordBatch()
	rw := newResultWriter(rec.Schema())
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = rw.appendRows(buf[:0], rec); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}
