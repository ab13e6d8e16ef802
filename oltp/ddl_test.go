package oltp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/mantisdb/mantisdb/catalog"
)

// row encodes a V2 row value by hand: vals[i] nil is NULL.
func row(stamp uint64, vals ...[]byte) []byte {
	b := []byte{rowFormatV2}
	b = binary.AppendUvarint(b, stamp)
	b = binary.AppendUvarint(b, uint64(len(vals)))
	bm := len(b)
	b = append(b, make([]byte, (len(vals)+7)/8)...)
	for i, v := range vals {
		if v == nil {
			b[bm+i/8] |= 1 << (i % 8)
			continue
		}
		b = append(b, v...)
	}
	return b
}

func TestRewriteRow(t *testing.T) {
	i32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	str := func(s string) []byte { return append(binary.AppendUvarint(nil, uint64(len(s))), s...) }
	kinds := []catalog.Kind{catalog.KindInt, catalog.KindVarchar, catalog.KindInt}
	for _, tc := range []struct {
		name string
		in   []byte
		src  []int
		want []byte
	}{
		{"drop middle", row(7, i32(1), str("ab"), i32(3)), []int{0, 2}, row(7, i32(1), i32(3))},
		{"drop first, add", row(7, i32(1), str("ab"), i32(3)), []int{1, 2, -1}, row(7, str("ab"), i32(3), nil)},
		{"nulls stay", row(9, nil, str(""), nil), []int{2, 1}, row(9, nil, str(""))},
		{"short row", row(1, i32(1)), []int{0, 2}, row(1, i32(1), nil)},
	} {
		got, _, err := rewriteRow(nil, nil, tc.in, kinds, tc.src, nil)
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%s: %x, %v; want %x", tc.name, got, err, tc.want)
		}
	}
	for _, bad := range [][]byte{nil, {9}, row(1, i32(1), str("ab"))[:8], row(1, i32(1), i32(2), i32(3), i32(4))} {
		if _, _, err := rewriteRow(nil, nil, bad, kinds, []int{0}, nil); !errors.Is(err, ErrCorruption) {
			t.Errorf("rewriteRow(%x) = %v, want ErrCorruption", bad, err)
		}
	}
}
