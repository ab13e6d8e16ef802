package oltp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
)

// encodeBodyV1 is the body encoder of format 1 (before S2): the IPC
// stream with LZ4-frame compressed buffers.
func encodeBodyV1(t *testing.T, rec arrow.RecordBatch, lz4 bool) []byte {
	var buf bytes.Buffer
	buf.WriteByte(1)
	opts := []ipc.Option{ipc.WithSchema(rec.Schema())}
	if lz4 {
		opts = append(opts, ipc.WithLZ4())
	}
	w := ipc.NewWriter(&buf, opts...)
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// encodeBodyV2 is the body encoder of format 2 (before the column
// stream): the IPC stream, stored as it is or in S2 blocks.
func encodeBodyV2(t *testing.T, rec arrow.RecordBatch, compress bool) []byte {
	v := encodeBodyV1(t, rec, false)
	if !compress {
		return append([]byte{2, bodyRaw}, v[1:]...)
	}
	buf := bytes.NewBuffer([]byte{2, bodyS2})
	appendS2Blocks(buf, v[1:])
	return buf.Bytes()
}

// TestBodyFormats: bodies of every format and codec decode to the rows
// they were written with; damaged ones fail with ErrCorruption, and a
// newer format is refused.
func TestBodyFormats(t *testing.T) {
	mem := checkedAlloc(t)
	tbl := lineitemTable(1)
	rec := benchRecord(mem, tbl, 0, 3000)
	defer rec.Release()
	m := &batchMeta{table: 1, id: 7, rows: 3000, ncols: len(tbl.Columns)}
	encode := func(minBytes, block int) []byte {
		defer func(v, b int) { compressMinBytes, bodyBlockSize = v, b }(compressMinBytes, bodyBlockSize)
		compressMinBytes, bodyBlockSize = minBytes, block
		var buf bytes.Buffer
		if err := encodeBody(mem, rec, &buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	bodies := []struct {
		name string
		v    []byte
	}{
		{"v1 raw", encodeBodyV1(t, rec, false)},
		{"v1 lz4", encodeBodyV1(t, rec, true)},
		{"v2 raw", encodeBodyV2(t, rec, false)},
		{"v2 s2", encodeBodyV2(t, rec, true)},
		{"v3 raw", encode(1<<40, 1<<20)},
		{"v3 s2 one block", encode(0, 1<<20)},
		{"v3 s2 blocks", encode(0, 4096)},
	}
	for _, b := range bodies {
		got, err := decodeRaw(mem, tbl, m, b.v)
		if err != nil {
			t.Fatalf("%s: %v", b.name, err)
		}
		if !array.RecordEqual(got, rec) {
			t.Errorf("%s: decoded rows differ", b.name)
		}
		got.Release()
	}
	if raw, s2 := bodies[4].v, bodies[5].v; raw[0] != 3 || raw[1] != bodyRaw || s2[1] != bodyS2 || len(s2) > len(raw)*3/4 {
		t.Errorf("codecs %d and %d, sizes %d and %d: want raw and S2, S2 at most 3/4", raw[1], s2[1], len(raw), len(s2))
	}
	if v2, v3 := bodies[3].v, bodies[5].v; len(v3) > len(v2)*3/4 {
		t.Errorf("column stream body %d bytes, IPC stream body %d: want at most 3/4", len(v3), len(v2))
	}
	blocks := bodies[6].v
	for _, c := range []struct {
		name string
		v    []byte
	}{
		{"empty", nil},
		{"no codec", []byte{2}},
		{"unknown codec", []byte{2, 9, 1, 2, 3}},
		{"truncated", blocks[:len(blocks)/2]},
		{"trailing bytes", append(bytes.Clone(blocks), 0)},
		{"block header", blocks[:4]},
		{"flipped byte", func() []byte { v := bytes.Clone(blocks); v[len(v)/2] ^= 0xff; return v }()},
		{"huge length", append([]byte{3, bodyS2, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x80, 0x80, 0x40}, blocks[4:]...)},
	} {
		got, err := decodeRaw(mem, tbl, m, c.v)
		if err == nil {
			got.Release()
			// A flipped byte may land in data that still decodes.
			if c.name != "flipped byte" {
				t.Errorf("%s: decoded", c.name)
			}
			continue
		}
		if !errors.Is(err, ErrCorruption) {
			t.Errorf("%s: %v, want ErrCorruption", c.name, err)
		}
	}
	// Compressed bodies whose IPC stream is damaged: the zero-copy
	// message reader checks the framing.
	var ipcBuf bytes.Buffer
	iw := ipc.NewWriter(&ipcBuf, ipc.WithSchema(rec.Schema()), ipc.WithAllocator(mem))
	if err := iw.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := iw.Close(); err != nil {
		t.Fatal(err)
	}
	stream := ipcBuf.Bytes()
	s2Body := func(stream []byte) []byte {
		buf := bytes.NewBuffer([]byte{2, bodyS2})
		appendS2Blocks(buf, stream)
		return buf.Bytes()
	}
	if got, err := decodeRaw(mem, tbl, m, s2Body(stream)); err != nil || !array.RecordEqual(got, rec) {
		t.Fatalf("whole stream: %v", err)
	} else {
		got.Release()
	}
	schemaLen := 8 + int(binary.LittleEndian.Uint32(stream[4:]))
	for _, c := range []struct {
		name   string
		stream []byte
	}{
		{"empty stream", nil},
		{"schema only", stream[:schemaLen]},
		{"cut in a length", stream[:schemaLen+6]},
		{"cut in the metadata", stream[:schemaLen+20]},
		{"cut in the body", stream[:len(stream)-100]},
		{"metadata past the end", func() []byte {
			v := bytes.Clone(stream)
			binary.LittleEndian.PutUint32(v[schemaLen+4:], 1<<30)
			return v
		}()},
		{"short metadata", func() []byte {
			v := bytes.Clone(stream)
			binary.LittleEndian.PutUint32(v[schemaLen+4:], 2)
			return v
		}()},
		{"garbled metadata", func() []byte {
			v := bytes.Clone(stream)
			for i := schemaLen + 8; i < schemaLen+40; i++ {
				v[i] ^= 0x5a
			}
			return v
		}()},
	} {
		got, err := decodeRaw(mem, tbl, m, s2Body(c.stream))
		if err == nil {
			got.Release()
			t.Errorf("%s: decoded", c.name)
			continue
		}
		if !errors.Is(err, ErrCorruption) {
			t.Errorf("%s: %v, want ErrCorruption", c.name, err)
		}
	}
	newer := append([]byte{batchBodyFormat + 1}, blocks[1:]...)
	if _, err := decodeRaw(mem, tbl, m, newer); err == nil || !bytes.Contains([]byte(err.Error()), []byte(fmt.Sprintf("format %d is newer", batchBodyFormat+1))) {
		t.Errorf("newer format: %v", err)
	}
}

// TestEncodeBatchConcurrent: EncodeBatch is safe for concurrent use and
// its batches go into transactions in any order.
func TestEncodeBatchConcurrent(t *testing.T) {
	mem := checkedAlloc(t)
	s, _ := openMem(t, &Options{Allocator: mem})
	defer s.Close()
	tbl := lineitemTable(s.NextTableID())
	create(t, s, tbl)
	const n = 4
	encoded := make([]*EncodedBatch, n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			rec := benchRecord(mem, tbl, (n-1-i)*2000, 2000)
			defer rec.Release()
			if i == 1 {
				// In key order but for two rows, which a sample of
				// five keys does not see: the body encoded ahead
				// is thrown away.
				perm := make([]rowRef, 2000)
				for j := range perm {
					perm[j].pos = int32(j)
				}
				perm[10].pos, perm[11].pos = 11, 10
				cols := make([]colReader, len(tbl.Columns))
				if err := validateRows(tbl, rec, cols); err != nil {
					errs <- err
					return
				}
				out := make([]arrow.Array, len(cols))
				for c := range cols {
					out[c] = gather(mem, tbl.Columns[c].Type, cols[c:c+1], perm)
					defer out[c].Release()
				}
				rec = array.NewRecordBatch(tbl.Schema(), out, 2000)
				defer rec.Release()
				if looksSorted(tbl, cols, 2000) != true {
					errs <- fmt.Errorf("the sample saw the swap")
					return
				}
			}
			var err error
			encoded[i], err = s.EncodeBatch(tbl, rec)
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i, b := range encoded {
		for r := 1; r < b.meta.rows; r++ {
			if bytes.Compare(b.meta.keyAt(r-1), b.meta.keyAt(r)) >= 0 {
				t.Fatalf("batch %d: keys %d and %d not in order", i, r-1, r)
			}
		}
	}
	tx := s.Begin()
	for _, b := range encoded {
		if err := tx.InsertEncoded(ctxT(t), tbl, b); err != nil {
			t.Fatal(err)
		}
		b.Release()
	}
	if err := tx.Commit(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	sn := s.Snapshot()
	defer sn.Close()
	rows := scanAll(t, sn, tbl, []int{0, 3})
	if len(rows) != n*2000 || len(slices.Compact(sorted(rows))) != n*2000 {
		t.Errorf("%d rows, want %d distinct", len(rows), n*2000)
	}
	// A batch encoded for another version of the table is refused.
	rec := benchRecord(mem, tbl, 100000, 100)
	defer rec.Release()
	b, err := s.EncodeBatch(tbl, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	altered := *tbl
	altered.Version++
	tx = s.Begin()
	defer tx.Rollback()
	if err := tx.InsertEncoded(ctxT(t), &altered, b); err == nil {
		t.Error("batch of version 1 inserted into version 2")
	}
}
