package oltp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// streamMessages reads the messages of an Arrow IPC stream held in memory
// without copying them: a message's metadata and body are slices of the
// stream, so the arrays an ipc.Reader decodes from it reference the stream
// (ipc.NewReader over an io.Reader allocates and copies every body). The
// stream must stay unchanged while they live; the Go heap keeps it.
type streamMessages struct {
	b    []byte
	msg  *ipc.Message
	refs atomic.Int64
}

var _ ipc.MessageReader = (*streamMessages)(nil)

func newStreamMessages(stream []byte) *streamMessages {
	r := &streamMessages{b: stream}
	r.refs.Store(1)
	return r
}

// errStreamFormat reports a stream whose framing is broken.
var errStreamFormat = errors.New("arrow/ipc stream: bad message framing")

// Message returns the next message, valid until the next call; io.EOF at
// the end-of-stream marker.
func (r *streamMessages) Message() (msg *ipc.Message, err error) {
	if r.msg != nil {
		r.msg.Release()
		r.msg = nil
	}
	// The flatbuffer accessors panic on malformed metadata.
	defer func() {
		if p := recover(); p != nil {
			msg, err = nil, fmt.Errorf("%w: invalid message metadata: %v", errStreamFormat, p)
		}
	}()
	word := func() (uint32, bool) {
		if len(r.b) < 4 {
			return 0, false
		}
		w := binary.LittleEndian.Uint32(r.b)
		r.b = r.b[4:]
		return w, true
	}
	n, ok := word()
	if !ok {
		return nil, io.ErrUnexpectedEOF
	}
	if n == 0xFFFFFFFF { // continuation marker, then the metadata length
		if n, ok = word(); !ok {
			return nil, io.ErrUnexpectedEOF
		}
	}
	if n == 0 {
		return nil, io.EOF
	}
	if n < 4 || uint64(n) > uint64(len(r.b)) {
		return nil, fmt.Errorf("%w: metadata length %d of %d bytes left", errStreamFormat, n, len(r.b))
	}
	meta := r.b[:n:n]
	r.b = r.b[n:]
	m := ipc.NewMessage(memory.NewBufferBytes(meta), memory.NewBufferBytes(nil))
	bodyLen := m.BodyLen()
	m.Release()
	if bodyLen < 0 || bodyLen > int64(len(r.b)) {
		return nil, fmt.Errorf("%w: body length %d of %d bytes left", errStreamFormat, bodyLen, len(r.b))
	}
	body := r.b[:bodyLen:bodyLen]
	r.b = r.b[bodyLen:]
	r.msg = ipc.NewMessage(memory.NewBufferBytes(meta), memory.NewBufferBytes(body))
	return r.msg, nil
}

// Retain adds a reference.
func (r *streamMessages) Retain() { r.refs.Add(1) }

// Release drops a reference; the last one releases the current message.
func (r *streamMessages) Release() {
	if r.refs.Add(-1) == 0 && r.msg != nil {
		r.msg.Release()
		r.msg = nil
	}
}
