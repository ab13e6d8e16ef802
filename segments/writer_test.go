package segments

import (
	"io"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestWriterDictionary: VARCHAR columns of few distinct values reach
// Parquet as dictionary indices (a dictionary page in every row group),
// with NULLs and batches that straddle row groups, and read back equal.
func TestWriterDictionary(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	fs := vfs.NewMem()
	tbl := testTable()
	const rows = 3100
	m := writeSegment(t, fs, mem, tbl, 1, rows, 777, &WriterOptions{RowGroupSize: 1000, Allocator: mem})
	r, err := Open(fs, "", m)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, _ := collect(t, r, ScanOptions{Schema: tbl.Schema(), Allocator: mem})
	equalRows(t, got, expected(tbl, rows))

	f, err := fs.Open(FileName(1))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pr, err := file.NewParquetReader(io.NewSectionReader(f, 0, m.FileSize))
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	if pr.NumRowGroups() != 4 {
		t.Fatalf("%d row groups, want 4", pr.NumRowGroups())
	}
	for rg := 0; rg < pr.NumRowGroups(); rg++ {
		md := pr.MetaData().RowGroup(rg)
		for _, c := range []struct {
			col  int
			dict bool
		}{{10, true}} {
			cc, err := md.ColumnChunk(c.col)
			if err != nil {
				t.Fatal(err)
			}
			if cc.HasDictionaryPage() != c.dict {
				t.Errorf("row group %d column %d: dictionary page %v, want %v", rg, c.col, cc.HasDictionaryPage(), c.dict)
			}
		}
	}
}

// TestMetaLevel: the level round-trips from format version 3 on; a
// version 2 Meta has none and decodes as level 0.
func TestMetaLevel(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	m := writeSegment(t, vfs.NewMem(), mem, testTable(), 1, 10, 10, &WriterOptions{Allocator: mem})
	if m.FormatVersion != FormatVersion || m.Level != 0 {
		t.Fatalf("new segment: version %d level %d", m.FormatVersion, m.Level)
	}
	for _, tc := range []struct {
		version, level, want uint32
	}{{3, 5, 5}, {2, 5, 0}} {
		c := *m
		c.FormatVersion, c.Level = tc.version, tc.level
		d, err := DecodeMeta(c.Encode())
		if err != nil {
			t.Fatalf("version %d: %v", tc.version, err)
		}
		if d.Level != tc.want || d.FormatVersion != tc.version {
			t.Errorf("version %d: decoded version %d level %d, want level %d", tc.version, d.FormatVersion, d.Level, tc.want)
		}
	}
}
