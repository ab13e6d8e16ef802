package flight

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	protobuf "google.golang.org/protobuf/proto"
)

// The send path of DoGet: a batch's IPC payload becomes an outData, which
// the server's codec marshals (outData.marshal) into the small fields of
// FlightData written into one short buffer and the payload's body buffers
// referenced, not copied. The proto codec would need the body serialized
// into one []byte first (arrow-go's Flight writer copies the buffers into
// a bytes.Buffer) and would copy it again into the marshaled message; here
// the only copy left on the server is the transport's, into its write
// buffer. The payload stays alive until gRPC frees the last referenced
// buffer, which happens once the transport has copied it (or dropped it
// with the stream). TestOutDataBytes holds the bytes to those of arrow-go's
// writer through the proto codec.

// copyBelow is the size under which a body buffer is copied into the
// message's small buffer instead of being referenced: a reference costs a
// gRPC buffer object and a slot of the transport's write list, more than
// copying a few KiB. Buffers at or below gRPC's pooling threshold are
// always copied (gRPC would never free them, so the payload would never
// be released).
const copyBelow = 4 << 10

// outData is a FlightData message to send whose body is an Arrow IPC
// payload. Its fields are those of flight.FlightData; the body is the
// payload's buffers, each padded to 8 bytes, exactly as
// ipc.Payload.SerializeBody writes them.
//
// Ownership: newOutData takes the payload. Sending the message (SendMsg
// with the server's codec) hands it to the codec, which releases it once
// gRPC is done with the bytes; whoever sent the message calls release
// afterwards, which releases the payload only if Marshal never ran
// (SendMsg failed before marshaling, or the stream does not use the
// server's codec). An outData is marshaled at most once and is not safe
// for concurrent use.
type outData struct {
	desc    *flight.FlightDescriptor
	appMeta []byte
	meta    *memory.Buffer // the IPC message metadata: FlightData.data_header
	payload ipc.Payload
	body    bodyPieces
	// rec, when not nil, is the record batch of the payload, held until
	// the payload is freed (see keep).
	rec   arrow.RecordBatch
	taken atomic.Bool // Marshal took the payload
	freed atomic.Bool // the payload was released
}

// newOutData returns the message for payload p, which it takes over, with
// the given descriptor and application metadata (both may be nil).
func newOutData(p ipc.Payload, desc *flight.FlightDescriptor, appMeta []byte) *outData {
	m := &outData{desc: desc, appMeta: appMeta, meta: p.Meta(), payload: p}
	// SerializeBody only fails when its writer does; bodyPieces does not.
	_ = p.SerializeBody(&m.body)
	return m
}

// keep makes m hold a reference of rec, the record batch its payload was
// made of, until the payload is freed, and returns m. The payload does
// not always hold its buffers itself: arrow-go's IPC writer wraps the used
// part of a sliced buffer, or of one longer than its values, in a new
// Buffer that takes no reference of the original. Without rec, a caller
// that releases the batch once SendMsg returns would free memory that
// gRPC has yet to copy, and an allocator that recycles it (a DoGet of a
// plain scan, mantisdb.WithRecycledBatches) would send other bytes.
func (m *outData) keep(rec arrow.RecordBatch) *outData {
	rec.Retain()
	m.rec = rec
	return m
}

// release releases the payload unless Marshal took it. It is idempotent.
func (m *outData) release() {
	if m.taken.CompareAndSwap(false, true) {
		m.free()
	}
}

// free releases the payload and the metadata buffer, once: gRPC's last
// free and the owner's cleanup may both call it.
func (m *outData) free() {
	if !m.freed.CompareAndSwap(false, true) {
		return
	}
	if m.meta != nil {
		m.meta.Release()
		m.meta = nil
	}
	m.payload.Release()
	if m.rec != nil {
		m.rec.Release()
		m.rec = nil
	}
}

// flightData returns the message as a flight.FlightData, its body copied
// into one slice: what the proto codec would marshal. For tests and for
// streams without the server's codec.
func (m *outData) flightData() *flight.FlightData {
	fd := &flight.FlightData{FlightDescriptor: m.desc, AppMetadata: m.appMeta}
	if m.meta != nil {
		fd.DataHeader = m.meta.Bytes()
	}
	if n := m.body.size(); n > 0 {
		fd.DataBody = make([]byte, 0, n)
		for _, p := range m.body {
			fd.DataBody = append(fd.DataBody, p...)
		}
	}
	return fd
}

// marshal returns the message's protobuf encoding, its body by reference,
// and takes over the payload (see outData).
func (m *outData) marshal() (mem.BufferSlice, error) {
	if !m.taken.CompareAndSwap(false, true) {
		return nil, errors.New("flight: FlightData message marshaled twice")
	}
	var (
		descSize int
		header   []byte
	)
	if m.meta != nil {
		header = m.meta.Bytes()
	}
	if m.desc != nil {
		descSize = protobuf.Size(m.desc)
	}
	bodySize := m.body.size()
	if bodySize > math.MaxUint32 {
		m.free()
		return nil, fmt.Errorf("flight: FlightData body of %d bytes", bodySize)
	}
	// Everything but the referenced buffers goes into one small buffer,
	// sized exactly, so that the views into it stay put as it fills.
	small := 0
	refs := 0
	for _, p := range m.body {
		if referenced(p) {
			refs++
		} else {
			small += len(p)
		}
	}
	size := small
	if m.desc != nil {
		size += protowire.SizeTag(fdDescriptor) + protowire.SizeBytes(descSize)
	}
	if len(header) > 0 {
		size += protowire.SizeTag(fdDataHeader) + protowire.SizeBytes(len(header))
	}
	if len(m.appMeta) > 0 {
		size += protowire.SizeTag(fdAppMetadata) + protowire.SizeBytes(len(m.appMeta))
	}
	if bodySize > 0 {
		size += protowire.SizeTag(fdDataBody) + protowire.SizeVarint(uint64(bodySize))
	}
	buf := make([]byte, 0, size)
	if m.desc != nil {
		buf = protowire.AppendTag(buf, fdDescriptor, protowire.BytesType)
		buf = protowire.AppendVarint(buf, uint64(descSize))
		var err error
		buf, err = protobuf.MarshalOptions{UseCachedSize: true}.MarshalAppend(buf, m.desc)
		if err != nil {
			m.free()
			return nil, err
		}
	}
	if len(header) > 0 {
		buf = protowire.AppendTag(buf, fdDataHeader, protowire.BytesType)
		buf = protowire.AppendBytes(buf, header)
	}
	if len(m.appMeta) > 0 {
		buf = protowire.AppendTag(buf, fdAppMetadata, protowire.BytesType)
		buf = protowire.AppendBytes(buf, m.appMeta)
	}
	if bodySize > 0 {
		buf = protowire.AppendTag(buf, fdDataBody, protowire.BytesType)
		buf = protowire.AppendVarint(buf, uint64(bodySize))
	}
	out := make(mem.BufferSlice, 0, 2*refs+1)
	var owner *payloadOwner
	if refs > 0 {
		owner = &payloadOwner{m: m}
		owner.refs.Store(int32(refs))
		// gRPC frees every buffer it was given except when a connection
		// dies with messages still queued (a hard Stop, a client gone
		// without closing its stream): then the buffers are merely dropped.
		// The payload's memory belongs to the garbage collector with Go
		// allocators, but not its accounting, nor memory of other
		// allocators: release it when the owner becomes unreachable.
		runtime.AddCleanup(owner, (*outData).free, m)
	}
	start := 0
	for i, p := range m.body {
		if !referenced(p) {
			buf = append(buf, p...)
			continue
		}
		if len(buf) > start {
			out = append(out, mem.SliceBuffer(buf[start:len(buf):len(buf)]))
			start = len(buf)
		}
		// The buffer points at m.body[i], which lives as long as it.
		out = append(out, mem.NewBuffer(&m.body[i], owner))
	}
	if len(buf) > start {
		out = append(out, mem.SliceBuffer(buf[start:]))
	}
	if owner == nil {
		// Everything was copied.
		m.free()
	}
	return out, nil
}

// referenced reports whether a body piece is handed to gRPC by reference.
func referenced(p []byte) bool {
	return len(p) >= copyBelow && !mem.IsBelowBufferPoolingThreshold(len(p))
}

// bodyPieces collects the slices ipc.Payload.SerializeBody writes, without
// copying them: the payload's buffers and their padding.
type bodyPieces [][]byte

func (b *bodyPieces) Write(p []byte) (int, error) {
	*b = append(*b, p[:len(p):len(p)])
	return len(p), nil
}

func (b bodyPieces) size() int {
	n := 0
	for _, p := range b {
		n += len(p)
	}
	return n
}

// payloadOwner releases an outData's payload when gRPC has freed every
// buffer referencing it. It is the mem.BufferPool of those buffers: gRPC
// "returns" each buffer to it when its last reference is dropped.
type payloadOwner struct {
	refs atomic.Int32
	m    *outData
}

// Get is never called: gRPC only returns buffers to the pool of a buffer.
func (o *payloadOwner) Get(n int) *[]byte {
	b := make([]byte, n)
	return &b
}

// Put counts a referenced buffer done; the last one releases the payload.
func (o *payloadOwner) Put(*[]byte) {
	if o.refs.Add(-1) == 0 {
		o.m.free()
	}
}
