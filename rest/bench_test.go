package rest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

func BenchmarkNDJSONDecode(b *testing.B) {
	var sb strings.Builder
	for i := 0; i < 10_000; i++ {
		fmt.Fprintf(&sb, "{\"id\": %d, \"name\": \"customer %d\", \"price\": %d.25, \"ok\": true, \"ts\": \"2024-01-02T03:04:05\"}\n", i, i, i)
	}
	body := sb.String()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r := newNDJSONReader(memory.DefaultAllocator, testTable(), strings.NewReader(body), DefaultIngestBatchRows)
		for r.Next() {
		}
		if r.Err() != nil {
			b.Fatal(r.Err())
		}
		r.Release()
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
