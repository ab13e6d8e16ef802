package flight

import (
	"bytes"
	"testing"
	"unsafe"

	pb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// split cuts b into buffers of size bytes, as gRPC hands over a message
// received in frames.
func split(b []byte, size int) mem.BufferSlice {
	var s mem.BufferSlice
	for len(b) > 0 {
		n := min(size, len(b))
		s = append(s, mem.SliceBuffer(bytes.Clone(b[:n])))
		b = b[n:]
	}
	return s
}

func TestCodecUnmarshalFlightData(t *testing.T) {
	marshal := func(m *pb.FlightData) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	body := bytes.Repeat([]byte("0123456789abcdef"), 5000) // 80 KB: several frames
	full := &pb.FlightData{
		FlightDescriptor: &pb.FlightDescriptor{Type: pb.FlightDescriptor_PATH, Path: []string{"lineitem"}},
		DataHeader:       []byte("header"),
		AppMetadata:      []byte("meta"),
		DataBody:         body,
	}
	for _, tc := range []struct {
		name string
		wire []byte
	}{
		{"empty", nil},
		{"full", marshal(full)},
		{"body only", marshal(&pb.FlightData{DataBody: body})},
		{"descriptor only", marshal(&pb.FlightData{FlightDescriptor: full.FlightDescriptor})},
		{"empty body", protowire.AppendBytes(protowire.AppendTag(nil, fdDataBody, protowire.BytesType), nil)},
		// Unknown fields of every wire type are skipped.
		{"unknown fields", func() []byte {
			b := marshal(full)
			b = protowire.AppendVarint(protowire.AppendTag(b, 7, protowire.VarintType), 1<<40)
			b = protowire.AppendFixed32(protowire.AppendTag(b, 8, protowire.Fixed32Type), 3)
			b = protowire.AppendFixed64(protowire.AppendTag(b, 9, protowire.Fixed64Type), 4)
			return protowire.AppendBytes(protowire.AppendTag(b, 10, protowire.BytesType), []byte("skip"))
		}()},
		// The last data_header wins; descriptors merge.
		{"repeated fields", func() []byte {
			b := marshal(full)
			b = append(b, marshal(&pb.FlightData{
				FlightDescriptor: &pb.FlightDescriptor{Cmd: []byte("cmd")},
				DataHeader:       []byte("second"),
			})...)
			return b
		}()},
		// A known field with another wire type is left to the protobuf
		// codec (which keeps it as an unknown field).
		{"known field, wrong wire type", protowire.AppendVarint(
			protowire.AppendTag(marshal(full), fdDataHeader, protowire.VarintType), 5)},
	} {
		for _, size := range []int{1, 3, 16 << 10, 1 << 30} {
			var want pb.FlightData
			if err := proto.Unmarshal(tc.wire, &want); err != nil {
				t.Fatal(err)
			}
			var got pb.FlightData
			if err := newCodec().Unmarshal(split(tc.wire, size), &got); err != nil {
				t.Errorf("%s, %d-byte buffers: %v", tc.name, size, err)
				continue
			}
			// The codec drops unknown fields, except on the fallback path.
			if len(got.ProtoReflect().GetUnknown()) == 0 {
				want.ProtoReflect().SetUnknown(nil)
			}
			if !proto.Equal(&got, &want) {
				t.Errorf("%s, %d-byte buffers: got %v, want %v", tc.name, size, &got, &want)
			}
			if len(got.DataBody) > 0 && uintptr(unsafe.Pointer(&got.DataBody[0]))%bodyAlign != 0 {
				t.Errorf("%s: data_body at %p is not %d-byte aligned", tc.name, &got.DataBody[0], bodyAlign)
			}
		}
	}
}

// TestCodecUnmarshalErrors checks that malformed messages are errors, never
// panics or partial messages taken for whole ones.
func TestCodecUnmarshalErrors(t *testing.T) {
	full, err := proto.Marshal(&pb.FlightData{
		FlightDescriptor: &pb.FlightDescriptor{Type: pb.FlightDescriptor_PATH, Path: []string{"t"}},
		DataHeader:       []byte("header"),
		DataBody:         bytes.Repeat([]byte{7}, 1000),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		wire []byte
	}{
		{"truncated body", full[:len(full)-1]},
		{"truncated tag", []byte{0x80}},
		{"truncated length", protowire.AppendTag(nil, fdDataBody, protowire.BytesType)},
		{"truncated fixed64", protowire.AppendTag(nil, 9, protowire.Fixed64Type)},
		{"length past the end", protowire.AppendVarint(protowire.AppendTag(nil, fdDataHeader, protowire.BytesType), 1<<40)},
		{"bad descriptor", protowire.AppendBytes(protowire.AppendTag(nil, fdDescriptor, protowire.BytesType), []byte{0xff})},
	} {
		var fd pb.FlightData
		if err := newCodec().Unmarshal(split(tc.wire, 5), &fd); err == nil {
			t.Errorf("%s: no error, got %v", tc.name, &fd)
		}
	}
}

// TestCodecOtherMessages checks that messages other than FlightData go
// through the protobuf codec both ways.
func TestCodecOtherMessages(t *testing.T) {
	c := newCodec()
	in := &pb.Ticket{Ticket: []byte("ticket")}
	data, err := c.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	defer data.Free()
	var out pb.Ticket
	if err := c.Unmarshal(data, &out); err != nil || !proto.Equal(in, &out) {
		t.Errorf("round trip: %v, %v", &out, err)
	}
	if c.Name() != "proto" {
		t.Errorf("Name() = %q", c.Name())
	}
}

func TestBodyClass(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		n, class, size int
	}{
		{0, -1, 0},
		{mib - 1, -1, 0},
		{mib, 0, mib},
		{mib + 1, 1, mib + mib/4},
		{mib + mib/4, 1, mib + mib/4},
		{mib + mib/4 + 1, 2, mib + mib/2},
		{2 * mib, 4, 2 * mib},
		{2*mib + 1, 5, 2*mib + mib/2},
		{17 * mib, 17, 20 * mib},
		{256 * mib, 32, 256 * mib},
		{1 << 31, -1, 0},
	} {
		c := bodyClass(tc.n)
		if c != tc.class {
			t.Errorf("bodyClass(%d) = %d, want %d", tc.n, c, tc.class)
			continue
		}
		if c >= 0 && bodyClassSize(c) != tc.size {
			t.Errorf("bodyClassSize(%d) = %d, want %d", c, bodyClassSize(c), tc.size)
		}
	}
	// Every class is the smallest that holds its own size, so that put
	// finds the class get made a buffer for.
	for c := 0; c < bodyClasses; c++ {
		if got := bodyClass(bodyClassSize(c)); got != c {
			t.Errorf("bodyClass(bodyClassSize(%d)) = %d", c, got)
		}
		if got := bodyClass(bodyClassSize(c) + 1); got != c+1 && c+1 < bodyClasses {
			t.Errorf("bodyClass(bodyClassSize(%d)+1) = %d", c, got)
		}
	}
}

// TestFramePool checks that framePool hands out buffers of the asked
// length, keeps the 16 KiB tier itself without zeroing, and leaves the
// other sizes to gRPC's default pool.
func TestFramePool(t *testing.T) {
	p := newFramePool()
	for _, tc := range []struct {
		n    int
		ours bool
	}{
		{1, false}, {4 << 10, false}, {4<<10 + 1, true}, {9000, true}, {16 << 10, true},
		{16<<10 + 1, false}, {1 << 20, false},
	} {
		b := p.Get(tc.n)
		if len(*b) != tc.n {
			t.Errorf("Get(%d): length %d", tc.n, len(*b))
		}
		if tc.ours && cap(*b) != maxFrameBuffer {
			t.Errorf("Get(%d): capacity %d, want %d", tc.n, cap(*b), maxFrameBuffer)
		}
		p.Put(b)
	}
	// A reused frame buffer keeps its content: nothing clears it. The
	// sync.Pool may drop a buffer (under the race detector it drops some
	// on purpose), so try a few times.
	for range 100 {
		b := p.Get(16 << 10)
		for i := range *b {
			(*b)[i] = 0xAB
		}
		p.Put(b)
		c := p.Get(10_000)
		reused := unsafe.SliceData(*c) == unsafe.SliceData(*b)
		if reused && (*c)[9_999] != 0xAB {
			t.Fatal("a reused frame buffer was cleared")
		}
		p.Put(c)
		if reused {
			return
		}
	}
	t.Error("frame buffers are never reused")
}
