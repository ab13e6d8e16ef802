package segments

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
)

// rleRun is one run of an RLE / bit-packed hybrid stream to encode.
type rleRun struct {
	packed bool
	vals   []uint32 // packed: the values (padded to a multiple of 8 with 0); else one value
	count  int      // RLE: repeats
}

// encodeRLE encodes runs at bit width w the way the Parquet spec says.
func encodeRLE(w uint, runs []rleRun) []byte {
	var out []byte
	for _, r := range runs {
		if !r.packed {
			out = binary.AppendUvarint(out, uint64(r.count)<<1)
			for i := uint(0); i < (w+7)/8; i++ {
				out = append(out, byte(r.vals[0]>>(8*i)))
			}
			continue
		}
		vals := r.vals
		for len(vals)%8 != 0 {
			vals = append(vals, 0)
		}
		out = binary.AppendUvarint(out, uint64(len(vals)/8)<<1|1)
		packed := make([]byte, len(vals)*int(w)/8)
		for i, v := range vals {
			for b := uint(0); b < w; b++ {
				if v>>b&1 != 0 {
					bit := uint(i)*w + b
					packed[bit/8] |= 1 << (bit % 8)
				}
			}
		}
		out = append(out, packed...)
	}
	return out
}

// TestRLEDecoder decodes hand-made and random RLE / bit-packed hybrid
// streams of every bit width, in steps of several sizes (a run's state
// carries from one step to the next).
func TestRLEDecoder(t *testing.T) {
	// The example of the Parquet spec: 0..7 bit-packed at width 3.
	var d rleDecoder
	d.reset([]byte{3, 0x88, 0xC6, 0xFA}, 3)
	got := make([]uint32, 8)
	if err := d.decode(got); err != nil || !slices.Equal(got, []uint32{0, 1, 2, 3, 4, 5, 6, 7}) {
		t.Fatalf("spec example: %v, %v", got, err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for w := uint(0); w <= 32; w++ {
		max := uint64(1)<<w - 1
		var runs []rleRun
		var want []uint32
		for range 20 {
			if rng.IntN(2) == 0 {
				v := uint32(rng.Uint64N(max + 1))
				n := 1 + rng.IntN(300)
				runs = append(runs, rleRun{vals: []uint32{v}, count: n})
				for range n {
					want = append(want, v)
				}
				continue
			}
			vals := make([]uint32, 8*(1+rng.IntN(20)))
			for i := range vals {
				vals[i] = uint32(rng.Uint64N(max + 1))
			}
			runs = append(runs, rleRun{packed: true, vals: vals})
			want = append(want, vals...)
		}
		data := encodeRLE(w, runs)
		for _, step := range []int{1, 7, 64, len(want)} {
			t.Run(fmt.Sprintf("width=%d/step=%d", w, step), func(t *testing.T) {
				var d rleDecoder
				d.reset(data, w)
				got := make([]uint32, len(want))
				for i := 0; i < len(got); i += step {
					if err := d.decode(got[i:min(i+step, len(got))]); err != nil {
						t.Fatal(err)
					}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("decoded %v\nwant %v", got, want)
				}
			})
		}
	}
}

// TestRLEDecoderErrors feeds malformed streams: each fails with
// ErrCorruption, none panics.
func TestRLEDecoderErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		width uint
		data  []byte
		n     int
	}{
		{"empty", 3, nil, 1},
		{"unterminated header", 3, []byte{0x80}, 1},
		{"bit-packed past the end", 3, []byte{5, 0x88, 0xC6, 0xFA}, 16},
		{"zero groups", 3, []byte{1}, 1},
		{"RLE value missing", 16, []byte{4, 1}, 2},
		{"RLE value too wide", 3, []byte{4, 9}, 2},
		{"zero repeats", 3, []byte{0, 1}, 1},
		{"stream shorter than asked", 3, []byte{4, 1}, 3},
		// 2^59 groups of width 32: the byte count overflows to 0.
		{"bit-packed size overflows", 32, []byte{0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10}, 8},
		{"bit-packed groups of width 0 unbounded", 0, []byte{0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10}, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d rleDecoder
			d.reset(tc.data, tc.width)
			err := d.decode(make([]uint32, tc.n))
			if !errors.Is(err, ErrCorruption) {
				t.Fatalf("got %v, want ErrCorruption", err)
			}
		})
	}
}

// TestBytesPagesErrors gives the page decoder values that do not parse:
// each fails with ErrCorruption.
func TestBytesPagesErrors(t *testing.T) {
	plain := func(vals ...string) []byte { return plainValues(vals) }
	for _, tc := range []struct {
		name   string
		enc    parquet.Encoding
		dict   []byte // a plain dictionary page's values
		values []byte
		n      int
	}{
		{"plain value past the page", parquet.Encodings.Plain, nil, plain("abc")[:5], 1},
		{"plain length past the page", parquet.Encodings.Plain, nil, []byte{1, 2}, 1},
		{"fewer plain values than levels", parquet.Encodings.Plain, nil, plain("a", "b"), 3},
		{"dictionary page missing", parquet.Encodings.RLEDict, nil, []byte{1, 4, 0}, 2},
		{"index past the dictionary", parquet.Encodings.RLEDict, plain("x", "y"), []byte{2, 4, 2}, 2},
		{"bit width above 32", parquet.Encodings.RLEDict, plain("x"), []byte{33, 4, 0}, 2},
		{"unknown encoding", parquet.Encodings.DeltaByteArray, nil, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &bytesPages{}
			if tc.dict != nil {
				if err := p.readDictionaryValues(tc.dict, countPlain(tc.dict)); err != nil {
					t.Fatal(err)
				}
			}
			err := p.startPage(tc.n, tc.enc, nil, tc.values)
			if err == nil {
				var out byteSink
				out.data = memory.NewResizableBuffer(memory.DefaultAllocator)
				defer out.data.Release()
				err = p.values(&out, make([]int32, tc.n))
			}
			if !errors.Is(err, ErrCorruption) {
				t.Fatalf("got %v, want ErrCorruption", err)
			}
		})
	}
}

// countPlain counts the plain values of b.
func countPlain(b []byte) int {
	n := 0
	for len(b) >= 4 {
		b = b[4+binary.LittleEndian.Uint32(b):]
		n++
	}
	return n
}

// plainValues encodes vals as a PLAIN byte array page.
func plainValues(vals []string) []byte {
	var b []byte
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	return b
}

// gatherDict returns n dictionary values whose longest is max bytes (the
// others shorter, one empty).
func gatherDict(n, max int) []string {
	vals := make([]string, n)
	for i := range vals {
		l := max * i / (n - 1)
		vals[i] = fmt.Sprintf("%0*d", l, i)[:l]
	}
	return vals
}

// TestGather: dictionary values gathered onto a sink that already holds
// bytes, in steps, by each path of gather (values of at most 8 bytes, at
// most wordCopy, longer), give the values and end offsets; an index past
// the dictionary is corruption on every path.
func TestGather(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, max := range []int{0, 1, 8, 9, 31, 32, 33, 200} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			dict := gatherDict(7, max)
			p := &bytesPages{}
			if err := p.readDictionaryValues(plainValues(dict), len(dict)); err != nil {
				t.Fatal(err)
			}
			out := byteSink{data: memory.NewResizableBuffer(memory.DefaultAllocator)}
			defer out.data.Release()
			if err := out.reserve(3); err != nil {
				t.Fatal(err)
			}
			out.size += copy(out.buf, "pre")
			want := "pre"
			var wantOffs, offs []int32
			for _, step := range []int{1, 5, 300, 4000} {
				idx := make([]uint32, step)
				for i := range idx {
					idx[i] = uint32(rnd.IntN(len(dict)))
					want += dict[idx[i]]
					wantOffs = append(wantOffs, int32(len(want)))
				}
				o := make([]int32, step)
				if err := p.gather(&out, o, idx); err != nil {
					t.Fatal(err)
				}
				offs = append(offs, o...)
			}
			if got := string(out.buf[:out.size]); got != want {
				t.Errorf("bytes differ: %d of %d", len(got), len(want))
			}
			if !slices.Equal(offs, wantOffs) {
				t.Error("end offsets differ")
			}
			if err := p.gather(&out, make([]int32, 2), []uint32{0, uint32(len(dict))}); !errors.Is(err, ErrCorruption) {
				t.Errorf("index past the dictionary: %v", err)
			}
		})
	}
}

// BenchmarkGather gathers 8192 indices from dictionaries of a few values
// of at most max bytes (take the minimum of -count runs: the machine is
// shared).
func BenchmarkGather(b *testing.B) {
	for _, max := range []int{1, 8, 17, 100} {
		b.Run(fmt.Sprint(max), func(b *testing.B) {
			dict := gatherDict(7, max)
			p := &bytesPages{}
			if err := p.readDictionaryValues(plainValues(dict), len(dict)); err != nil {
				b.Fatal(err)
			}
			rnd := rand.New(rand.NewPCG(1, 2))
			idx := make([]uint32, 8192)
			for i := range idx {
				idx[i] = uint32(rnd.IntN(len(dict)))
			}
			offs := make([]int32, len(idx))
			out := byteSink{data: memory.NewResizableBuffer(memory.DefaultAllocator)}
			defer out.data.Release()
			for i := 0; i < b.N; i++ {
				out.size = 0
				if err := p.gather(&out, offs, idx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPlainValues decodes 8192 PLAIN values of 10 to 43 bytes (TPC-H
// comments' lengths) from one page (take the minimum of -count runs).
func BenchmarkPlainValues(b *testing.B) {
	rnd := rand.New(rand.NewPCG(1, 2))
	vals := make([]string, 8192)
	for i := range vals {
		vals[i] = fmt.Sprintf("%043d", i)[:10+rnd.IntN(34)]
	}
	page := plainValues(vals)
	offs := make([]int32, len(vals))
	out := byteSink{data: memory.NewResizableBuffer(memory.DefaultAllocator)}
	defer out.data.Release()
	p := &bytesPages{}
	for i := 0; i < b.N; i++ {
		if err := p.startPage(len(vals), parquet.Encodings.Plain, nil, page); err != nil {
			b.Fatal(err)
		}
		out.size = 0
		if err := p.values(&out, offs); err != nil {
			b.Fatal(err)
		}
	}
}
