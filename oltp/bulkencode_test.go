package oltp

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mantisdb/mantisdb/catalog"
)

// TestModulus: modulus.of is x % d for every 32-bit x and d, so that
// bloom filters built and probed with it are those written with %.
func TestModulus(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	ds := []uint32{1, 2, 3, 7, 64, 1000, 1 << 20, 1_000_003, math.MaxUint32 - 1, math.MaxUint32}
	for range 50 {
		ds = append(ds, rnd.Uint32()|1, rnd.Uint32N(1<<24)+1)
	}
	for _, d := range ds {
		md := newModulus(d)
		xs := []uint32{0, 1, d - 1, d, d + 1, math.MaxUint32, math.MaxUint32 - 1}
		for range 1000 {
			xs = append(xs, rnd.Uint32())
		}
		for _, x := range xs {
			if got, want := md.of(x), x%d; got != want {
				t.Fatalf("%d %% %d: got %d, want %d", x, d, got, want)
			}
		}
	}
}

// TestBloomStable: filters are the ones the division-based builder of
// earlier releases wrote (they are stored in headers), and every key
// built into a filter is found.
func TestBloomStable(t *testing.T) {
	for _, n := range []int{1, 5, 100, 12345} {
		var keys []byte
		offs := []uint32{0}
		for i := 0; i < n; i++ {
			keys = fmt.Appendf(keys, "key-%d", i*7)
			offs = append(offs, uint32(len(keys)))
		}
		// The builder as it was, with a division per probe.
		nbits := max(64, n*bloomBitsPerKey)
		want := make([]byte, (nbits+7)/8)
		nbits = len(want) * 8
		for i := 0; i < n; i++ {
			h := keyHash(keys[offs[i]:offs[i+1]])
			h1, h2 := uint32(h), uint32(h>>32)|1
			for j := uint32(0); j < bloomHashes; j++ {
				b := (h1 + j*h2) % uint32(nbits)
				want[b>>3] |= 1 << (b & 7)
			}
		}
		got := buildBloom(keys, offs, n)
		if !bytes.Equal(got, want) {
			t.Fatalf("%d keys: filter differs from the division-based one", n)
		}
		m := &batchMeta{bloom: got}
		for i := 0; i < n; i++ {
			if !m.mayContain(keys[offs[i]:offs[i+1]]) {
				t.Fatalf("%d keys: key %d not found", n, i)
			}
		}
	}
}

// TestFixedRowKeys: keys of integer, date and timestamp primary keys,
// written column by column, are the keys appendKeyValue writes per value.
func TestFixedRowKeys(t *testing.T) {
	tbl := finished(&catalog.Table{ID: 77, Name: "k", Version: 1, PrimaryKey: []int{4, 0, 1, 2, 3}, Columns: []catalog.Column{
		{Name: "s", Type: catalog.Smallint}, {Name: "i", Type: catalog.Int}, {Name: "d", Type: catalog.Date},
		{Name: "b", Type: catalog.Bigint}, {Name: "ts", Type: catalog.Timestamp}, {Name: "v", Type: catalog.Varchar},
	}})
	if w := fixedKeyWidth(tbl); w != rowPrefixLen+2+4+4+8+8 {
		t.Fatalf("key width %d", w)
	}
	mem := checkedAlloc(t)
	rnd := rand.New(rand.NewPCG(5, 6))
	rows := make([][]any, 500)
	for i := range rows {
		rows[i] = []any{int(int16(rnd.Uint32())), int(int32(rnd.Uint32())), int(int32(rnd.Uint32())), int(int64(rnd.Uint64())), int(int64(rnd.Uint64())), "x"}
	}
	rec := makeRecord(t, mem, tbl, rows...)
	defer rec.Release()
	cols := make([]colReader, len(tbl.Columns))
	if err := validateRows(tbl, rec, cols); err != nil {
		t.Fatal(err)
	}
	keys, offs := appendRowKeys([]byte("junk"), nil, tbl, cols, len(rows))
	for i := range rows {
		want := appendRowPrefix(nil, tbl.ID)
		for _, k := range tbl.PrimaryKey {
			want = appendKeyValue(want, &cols[k], i)
		}
		if got := keys[offs[i]:offs[i+1]]; !bytes.Equal(got, want) {
			t.Fatalf("row %d: key %x, want %x", i, got, want)
		}
	}
	if offs[0] != 4 || !bytes.Equal(keys[:4], []byte("junk")) {
		t.Errorf("appended at %d over %q", offs[0], keys[:4])
	}
	if fixedKeyWidth(finished(&catalog.Table{ID: 78, Name: "v", Version: 1, PrimaryKey: []int{0}, Columns: []catalog.Column{{Name: "v", Type: catalog.Varchar}}})) != 0 {
		t.Error("VARCHAR keys have a fixed width")
	}
}
