package flight

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"sync"
	"sync/atomic"
	"unsafe"

	pb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// codec is the server's gRPC codec: protobuf, as every Flight client
// expects, with a receive path of its own for FlightData, the message that
// carries record batches in DoPut and DoExchange, and a send path of its
// own for the batches of DoGet (outData, see outdata.go: the IPC body is
// passed to gRPC by reference, not copied into the message).
//
// gRPC receives a message as a list of buffers of one HTTP/2 frame each
// (16 KiB). The protobuf codec copies them into one buffer and then copies
// data_body out of it again; for an ingest of 100K lineitem rows that is
// 34 MB of copying and 17 MB of zeroed allocation per batch. This codec
// parses FlightData's four fields straight from the frame buffers and
// copies data_body once, into a buffer of its own that starts on a 64-byte
// boundary (so the IPC reader can use it without another copy, as Arrow's
// alignment rules want) and, from 1 MiB on, comes from the pool bodies.
// Every other message goes to the protobuf codec.
type codec struct {
	proto encoding.CodecV2
}

var _ encoding.CodecV2 = codec{}

func newCodec() codec {
	return codec{proto: encoding.GetCodecV2(grpcproto.Name)}
}

// Name is the protobuf codec's name: the codec speaks plain protobuf.
func (c codec) Name() string { return grpcproto.Name }

// Marshal encodes v with the protobuf codec, except an *outData (a DoGet
// batch, see outdata.go), whose IPC body it hands to gRPC by reference.
func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if m, ok := v.(*outData); ok {
		return m.marshal()
	}
	return c.proto.Marshal(v)
}

// Unmarshal decodes data into v. A FlightData takes no reference to data:
// its byte fields are copies.
func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	fd, ok := v.(*pb.FlightData)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	err := unmarshalFlightData(data, fd)
	if errors.Is(err, errFallback) {
		return c.proto.Unmarshal(data, v)
	}
	return err
}

// Field numbers of FlightData (Flight.proto).
const (
	fdDescriptor  = 1
	fdDataHeader  = 2
	fdAppMetadata = 3
	fdDataBody    = 1000
)

// errFallback asks Unmarshal to let the protobuf codec decode a message
// this codec does not parse itself (a known field with an unexpected wire
// type).
var errFallback = errors.New("flight: not a plain FlightData encoding")

// bodyAlign is the alignment of data_body buffers: Arrow's recommended
// buffer alignment.
const bodyAlign = 64

// unmarshalFlightData decodes data into fd with the semantics of
// proto.Unmarshal: fd is reset first, a repeated scalar field keeps its
// last value, a repeated message field is merged, unknown fields are
// skipped (they are not kept: the server never sends a FlightData back).
func unmarshalFlightData(data mem.BufferSlice, fd *pb.FlightData) error {
	proto.Reset(fd)
	r := data.Reader()
	defer r.Close()
	for r.Remaining() > 0 {
		tag, err := binary.ReadUvarint(r)
		if err != nil {
			return fmt.Errorf("flight: bad FlightData tag: %w", err)
		}
		num, typ := protowire.Number(tag>>3), protowire.Type(tag&7)
		known := num == fdDescriptor || num == fdDataHeader || num == fdAppMetadata || num == fdDataBody
		if known && typ != protowire.BytesType {
			return errFallback
		}
		switch typ {
		case protowire.VarintType:
			if _, err := binary.ReadUvarint(r); err != nil {
				return fmt.Errorf("flight: bad FlightData field %d: %w", num, err)
			}
			continue
		case protowire.Fixed32Type, protowire.Fixed64Type:
			n := 4
			if typ == protowire.Fixed64Type {
				n = 8
			}
			if m, _ := r.Discard(n); m != n {
				return fmt.Errorf("flight: FlightData field %d: %w", num, io.ErrUnexpectedEOF)
			}
			continue
		case protowire.BytesType:
		default:
			// Groups are long deprecated and never sent by Flight clients.
			return errFallback
		}
		size, err := binary.ReadUvarint(r)
		if err != nil {
			return fmt.Errorf("flight: bad FlightData field %d: %w", num, err)
		}
		if size > uint64(r.Remaining()) {
			return fmt.Errorf("flight: FlightData field %d of %d bytes: %w", num, size, io.ErrUnexpectedEOF)
		}
		n := int(size)
		if !known {
			r.Discard(n)
			continue
		}
		var b []byte
		if num == fdDataBody {
			b = bodies.get(n)
		} else {
			b = make([]byte, n)
		}
		if _, err := io.ReadFull(r, b); err != nil {
			return fmt.Errorf("flight: FlightData field %d: %w", num, err)
		}
		switch num {
		case fdDescriptor:
			if fd.FlightDescriptor == nil {
				fd.FlightDescriptor = new(pb.FlightDescriptor)
			}
			if err := (proto.UnmarshalOptions{Merge: true}).Unmarshal(b, fd.FlightDescriptor); err != nil {
				return fmt.Errorf("flight: bad FlightDescriptor: %w", err)
			}
		case fdDataHeader:
			fd.DataHeader = b
		case fdAppMetadata:
			fd.AppMetadata = b
		case fdDataBody:
			fd.DataBody = b
		}
	}
	return nil
}

// bodies are the data_body buffers of FlightData messages. Buffers of
// messages read by ingest (ingestMessages) come back when the last record
// batch made from them is released; the others are left to the garbage
// collector.
var bodies bodyPool

// bodyPool reuses data_body buffers of at least minPooledBody bytes, so
// that a stream of large batches does not allocate (and zero, and fault
// in) a new buffer per batch: for 100K lineitem rows (17 MB) that cost
// about as much as the copy into it. Buffers are grouped in size classes
// of a quarter of a power of two (at most 25% unused); a sync.Pool per
// class lets the garbage collector free what an idle server no longer
// needs. A buffer is not zeroed on reuse: unmarshalFlightData overwrites
// all of it. It is safe for concurrent use.
type bodyPool struct {
	classes [bodyClasses]sync.Pool // of *[]byte, cap(b) == bodyClassSize(class)
	// reused counts the buffers get took from the pool (for tests).
	reused atomic.Int64
}

const (
	minPooledBody = 1 << 20
	// bodyClasses covers 1 MiB up to 2 GiB, past gRPC's message limit.
	bodyClasses = 4 * 11
)

// bodyClassSize is the size of the buffers of class c.
func bodyClassSize(c int) int {
	return (4 + c%4) << (c/4 + 18) // 1 MiB, 1.25 MiB, 1.5 MiB, 1.75 MiB, 2 MiB, …
}

// bodyClass returns the smallest class whose buffers hold n bytes, or -1
// if n is not pooled.
func bodyClass(n int) int {
	if n < minPooledBody {
		return -1
	}
	e := bits.Len(uint(n-1)) - 1 // 2^e < n <= 2^(e+1) (n > 1)
	q := (n - 1) >> (e - 2) & 3  // quarter of 2^e that n-1 lies in
	c := (e-20)*4 + q + 1
	if c >= bodyClasses {
		return -1
	}
	return c
}

// get returns a buffer of n bytes aligned to bodyAlign, with unspecified
// content.
func (p *bodyPool) get(n int) []byte {
	c := bodyClass(n)
	if c < 0 {
		return alignedBytes(n)
	}
	if b, ok := p.classes[c].Get().(*[]byte); ok {
		p.reused.Add(1)
		return (*b)[:n]
	}
	// Go allocates objects this large on their own pages: aligned.
	b := make([]byte, n, bodyClassSize(c))
	if uintptr(unsafe.Pointer(unsafe.SliceData(b)))%bodyAlign != 0 {
		return alignedBytes(n)
	}
	return b
}

// put gives b, which nothing references any more, back to the pool.
func (p *bodyPool) put(b []byte) {
	c := bodyClass(cap(b))
	if c < 0 || bodyClassSize(c) != cap(b) {
		return
	}
	b = b[:0]
	p.classes[c].Put(&b)
}

// bodyAllocator is the memory.Allocator of the Arrow buffers that wrap
// pooled data_body buffers: Free gives them back to bodies.
type bodyAllocator struct{}

var _ memory.Allocator = bodyAllocator{}

func (bodyAllocator) Allocate(n int) []byte { return memory.DefaultAllocator.Allocate(n) }
func (bodyAllocator) Reallocate(n int, b []byte) []byte {
	return memory.DefaultAllocator.Reallocate(n, b)
}
func (bodyAllocator) Free(b []byte) { bodies.put(b) }

// alignedBytes returns a zeroed slice of n bytes whose first byte is
// aligned to bodyAlign.
func alignedBytes(n int) []byte {
	if n == 0 {
		return []byte{}
	}
	b := make([]byte, n+bodyAlign-1)
	off := 0
	if rem := int(uintptr(unsafe.Pointer(unsafe.SliceData(b))) % bodyAlign); rem != 0 {
		off = bodyAlign - rem
	}
	return b[off : off+n : off+n]
}

// framePool is the server's gRPC buffer pool (grpc/experimental
// BufferPool): gRPC's default pool, except that the buffers of HTTP/2 DATA
// frames (gRPC's frames are at most 16 KiB) are not zeroed when they are
// reused. gRPC's transport reads each frame of a message into a buffer of
// the pool and keeps them all until the message is complete; the default
// pool clears every buffer it hands out again, for bytes that the
// transport overwrites at once. Per 100K lineitem rows of an ingest (17
// MB, some 1,100 frames) the pool's Get took 2-3.7 CPU-ms with the default
// pool and about 1 with this one (BenchmarkIngestLineitem/doput profiles,
// three alternating runs). Every user of the server's pool in
// gRPC writes a buffer before it reads it (frame reads, message copies,
// marshaling), as gRPC's own unzeroed pools (ALTS records, the framer's
// header buffers) rely on too. It is safe for concurrent use.
type framePool struct {
	frames sync.Pool // of *[]byte, cap == maxFrameBuffer
	other  mem.BufferPool
}

var _ mem.BufferPool = (*framePool)(nil)

// The sizes framePool keeps itself: those of the default pool's 16 KiB
// tier.
const (
	minFrameBuffer = 4<<10 + 1
	maxFrameBuffer = 16 << 10
)

func newFramePool() *framePool {
	return &framePool{other: mem.DefaultBufferPool()}
}

// Get returns a buffer of length n with unspecified content.
func (p *framePool) Get(n int) *[]byte {
	if n < minFrameBuffer || n > maxFrameBuffer {
		return p.other.Get(n)
	}
	if b, ok := p.frames.Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, maxFrameBuffer)
	return &b
}

// Put gives b back to the pool.
func (p *framePool) Put(b *[]byte) {
	if cap(*b) != maxFrameBuffer {
		p.other.Put(b)
		return
	}
	p.frames.Put(b)
}
