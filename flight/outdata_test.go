package flight

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	arrowflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	protobuf "google.golang.org/protobuf/proto"
)

func mustMarshal(t *testing.T, m protobuf.Message) []byte {
	t.Helper()
	b, err := protobuf.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// capture is a DataStreamWriter that keeps the proto encoding of each
// message: what arrow-go's Flight writer sends.
type capture [][]byte

func (c *capture) Send(fd *flight.FlightData) error {
	b, err := protobuf.Marshal(fd)
	*c = append(*c, b)
	return err
}

// codecRecords returns batches of every shape outData must carry: strings
// with NULLs, wide and narrow columns, an empty batch, and slices at
// unaligned offsets (the IPC encoder copies their bitmaps and rebases
// their offsets into buffers of its own).
func codecRecords(mem memory.Allocator) (*arrow.Schema, []arrow.RecordBatch) {
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean},
	}, nil)
	b := array.NewRecordBuilder(mem, sch)
	defer b.Release()
	build := func(n int) arrow.RecordBatch {
		for i := 0; i < n; i++ {
			b.Field(0).(*array.Int64Builder).Append(int64(i))
			if i%7 == 3 {
				b.Field(1).AppendNull()
				b.Field(2).AppendNull()
			} else {
				b.Field(1).(*array.StringBuilder).Append(strings.Repeat("x", i%13))
				b.Field(2).(*array.Float64Builder).Append(float64(i) / 3)
			}
			b.Field(3).(*array.BooleanBuilder).Append(i%3 == 0)
		}
		return b.NewRecordBatch()
	}
	big := build(20_000)
	recs := []arrow.RecordBatch{build(0), build(5), big, big.NewSlice(3, 17_000), big.NewSlice(10_001, 10_002)}
	return sch, recs
}

// TestOutDataBytes checks that a stream of outData messages is, byte for
// byte, what arrow-go's Flight writer sends through the proto codec, and
// that each payload is released when gRPC frees the marshaled buffers
// (not before), or by release when the message was never marshaled.
func TestOutDataBytes(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	sch, recs := codecRecords(alloc)
	defer releaseAll(recs)

	var want capture
	fw := arrowflight.NewRecordWriter(&want, ipc.WithSchema(sch), ipc.WithAllocator(alloc))
	for i, rec := range recs {
		if i == 2 {
			fw.SetFlightDescriptor(&flight.FlightDescriptor{Type: flight.FlightDescriptor_PATH, Path: []string{"t"}})
			if err := fw.WriteWithAppMetadata(rec, []byte("meta")); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := fw.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}

	c := newCodec()
	msgs := []*outData{newOutData(ipc.GetSchemaPayload(sch, alloc), nil, nil)}
	for i, rec := range recs {
		p, err := ipc.GetRecordBatchPayload(rec, ipc.WithAllocator(alloc))
		if err != nil {
			t.Fatal(err)
		}
		var m *outData
		if i == 2 {
			m = newOutData(p, &flight.FlightDescriptor{Type: flight.FlightDescriptor_PATH, Path: []string{"t"}}, []byte("meta"))
		} else {
			m = newOutData(p, nil, nil)
		}
		msgs = append(msgs, m)
	}
	if len(msgs) != len(want) {
		t.Fatalf("%d messages, the Flight writer sent %d", len(msgs), len(want))
	}
	for i, m := range msgs {
		if !bytes.Equal(mustMarshal(t, m.flightData()), want[i]) {
			t.Fatalf("message %d: flightData differs from the Flight writer's", i)
		}
		before := alloc.CurrentAlloc()
		data, err := c.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data.Materialize(), want[i]) {
			t.Fatalf("message %d: Marshal differs from the Flight writer's message", i)
		}
		if _, err := c.Marshal(m); err == nil {
			t.Fatalf("message %d marshaled twice", i)
		}
		m.release() // the codec owns the payload: no effect
		if referencedPieces(m) > 0 && alloc.CurrentAlloc() != before {
			t.Fatalf("message %d: payload released before gRPC freed the buffers", i)
		}
		data.Free()
	}

	// A message that was never marshaled is released by release.
	p, err := ipc.GetRecordBatchPayload(recs[2], ipc.WithAllocator(alloc))
	if err != nil {
		t.Fatal(err)
	}
	m := newOutData(p, nil, nil)
	m.release()
	m.release()
	if _, err := c.Marshal(m); err == nil {
		t.Fatal("Marshal after release succeeded")
	}
}

func referencedPieces(m *outData) int {
	n := 0
	for _, p := range m.body {
		if referenced(p) {
			n++
		}
	}
	return n
}

// TestOutDataFewAllocs guards the send path: marshaling a batch of many
// columns costs a handful of allocations, none per row.
func TestOutDataFewAllocs(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	_, recs := codecRecords(alloc)
	defer releaseAll(recs)
	c := newCodec()
	allocs := testing.AllocsPerRun(20, func() {
		p, err := ipc.GetRecordBatchPayload(recs[2], ipc.WithAllocator(alloc))
		if err != nil {
			panic(err)
		}
		m := newOutData(p, nil, nil)
		data, err := c.Marshal(m)
		if err != nil {
			panic(err)
		}
		data.Free()
	})
	// The IPC encoder's own allocations (flatbuffers metadata, buffer
	// lists) dominate; a per-row cost would be thousands.
	if allocs > 100 {
		t.Errorf("%v allocations per batch of %d rows", allocs, recs[2].NumRows())
	}
}

// sendStream is the server side of a DoGet stream that marshals what is
// sent with the server's codec and keeps the messages as the client decodes them.
type sendStream struct {
	grpc.ServerStream
	ctx  context.Context
	c    codec
	msgs []*flight.FlightData
}

func (s *sendStream) Context() context.Context { return s.ctx }

func (s *sendStream) SendMsg(m any) error {
	data, err := s.c.Marshal(m)
	if err != nil {
		return err
	}
	defer data.Free()
	fd := new(flight.FlightData)
	if err := s.c.Unmarshal(data, fd); err != nil {
		return err
	}
	s.msgs = append(s.msgs, fd)
	return nil
}

// Recv makes the sent messages a stream for arrow-go's Flight reader.
func (s *sendStream) Recv() (*flight.FlightData, error) {
	if len(s.msgs) == 0 {
		return nil, io.EOF
	}
	m := s.msgs[0]
	s.msgs = s.msgs[1:]
	return m, nil
}

// TestWriteStream streams batches through writeStream, with the payload
// writer and, for a dictionary-encoded schema, arrow-go's writer, reads
// them back with arrow-go's Flight reader and compares; a chunk's error
// ends the stream with that error, and an ended context with its own.
func TestWriteStream(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	sch, recs := codecRecords(alloc)
	defer releaseAll(recs)

	dictType := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}
	dictSchema := arrow.NewSchema([]arrow.Field{{Name: "d", Type: dictType}}, nil)
	db := array.NewDictionaryBuilder(alloc, dictType).(*array.BinaryDictionaryBuilder)
	for _, s := range []string{"a", "b", "a", "c"} {
		if err := db.AppendString(s); err != nil {
			t.Fatal(err)
		}
	}
	dictArr := db.NewArray()
	db.Release()
	dictRec := array.NewRecordBatch(dictSchema, []arrow.Array{dictArr}, int64(dictArr.Len()))
	dictArr.Release()
	defer dictRec.Release()

	boom := errors.New("boom")
	for _, tc := range []struct {
		name   string
		schema *arrow.Schema
		recs   []arrow.RecordBatch
		err    error
	}{
		{name: "payloads", schema: sch, recs: recs},
		{name: "empty", schema: sch},
		{name: "dictionary", schema: dictSchema, recs: []arrow.RecordBatch{dictRec, dictRec}},
		{name: "error", schema: sch, recs: recs[:3], err: boom},
		{name: "wrong schema", schema: arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil), recs: recs[:1]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := make(chan arrowflight.StreamChunk, len(tc.recs)+1)
			for _, r := range tc.recs {
				r.Retain()
				ch <- arrowflight.StreamChunk{Data: r}
			}
			if tc.err != nil {
				ch <- arrowflight.StreamChunk{Err: tc.err}
			}
			close(ch)
			s := &sendStream{ctx: context.Background(), c: newCodec()}
			err := writeStream(s, tc.schema, ch, alloc)
			switch {
			case tc.name == "wrong schema":
				if err == nil {
					t.Fatal("batch of another schema written")
				}
				return
			case err != tc.err:
				t.Fatalf("writeStream: %v, want %v", err, tc.err)
			}
			rdr, err := arrowflight.NewRecordReader(s, ipc.WithAllocator(alloc))
			if err != nil {
				t.Fatal(err)
			}
			defer rdr.Release()
			if !rdr.Schema().Equal(tc.schema) {
				t.Fatalf("schema %v, want %v", rdr.Schema(), tc.schema)
			}
			n := 0
			for ; rdr.Next(); n++ {
				if !array.RecordEqual(rdr.RecordBatch(), tc.recs[n]) {
					t.Fatalf("batch %d differs", n)
				}
			}
			if err := rdr.Err(); err != nil {
				t.Fatal(err)
			}
			if n != len(tc.recs) {
				t.Fatalf("%d batches, want %d", n, len(tc.recs))
			}
		})
	}

	// An ended context ends the stream; the batches still queued are
	// released.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ch := make(chan arrowflight.StreamChunk, len(recs))
	for _, r := range recs {
		r.Retain()
		ch <- arrowflight.StreamChunk{Data: r}
	}
	close(ch)
	if err := writeStream(&sendStream{ctx: ctx, c: newCodec()}, sch, ch, alloc); !errors.Is(err, context.Canceled) {
		t.Fatalf("writeStream with a canceled context: %v", err)
	}
}
