package segments

import (
	"io"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/mantisdb/mantisdb/catalog"
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
	var recs []arrow.RecordBatch
	for from := 0; from < rows; from += 777 {
		recs = append(recs, genBatch(mem, tbl, from, min(777, rows-from)))
	}
	checkZones(t, r, recs, 1000)
	for _, rec := range recs {
		rec.Release()
	}

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

// TestWriterFixedDictionary: fixed-width columns whose value index holds
// few distinct values reach Parquet as dictionary indices (integers, dates,
// DECIMALs stored as INT64), with NULLs; floats and wide DECIMALs are
// written plain; a column whose distinct values pass the threshold after
// the first row group goes on through Parquet's own dictionary encoder;
// every value reads back.
func TestWriterFixedDictionary(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	tbl := &catalog.Table{ID: 9, Name: "fd", Version: 1, PrimaryKey: []int{0}, Columns: []catalog.Column{
		{Name: "id", Type: catalog.Bigint, NotNull: true},
		{Name: "qty", Type: catalog.Decimal(12, 2)},
		{Name: "day", Type: catalog.Date},
		{Name: "n", Type: catalog.Int},
		{Name: "grows", Type: catalog.Bigint},
		{Name: "f", Type: catalog.Double},
		{Name: "wide", Type: catalog.Decimal(30, 2)},
	}}
	const rows, rgSize = 2500, 1000
	var want [][]string
	var recs []arrow.RecordBatch
	defer func() {
		for _, rec := range recs {
			rec.Release()
		}
	}()
	b := array.NewRecordBuilder(mem, tbl.Schema())
	defer b.Release()
	fs := vfs.NewMem()
	w, err := NewWriter(fs, "", 1, tbl, &WriterOptions{RowGroupSize: rgSize, BitmapMaxDistinct: 100, Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	for r := 0; r < rows; r++ {
		b.Field(0).(*array.Int64Builder).Append(int64(r))
		if r%7 == 0 {
			b.Field(1).AppendNull()
		} else {
			q := int64(r%50*100 - 700)
			b.Field(1).(*array.Decimal128Builder).Append(decimal128.FromI64(q))
		}
		b.Field(2).(*array.Date32Builder).Append(arrow.Date32(9000 + r%30))
		if r%11 == 3 {
			b.Field(3).AppendNull()
		} else {
			b.Field(3).(*array.Int32Builder).Append(int32(r % 5))
		}
		g := int64(r % 10)
		if r >= rgSize {
			g = int64(r * 1000)
		}
		b.Field(4).(*array.Int64Builder).Append(g)
		b.Field(5).(*array.Float64Builder).Append(float64(r%3) / 2)
		b.Field(6).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(r % 4)))
		if (r+1)%250 == 0 || r == rows-1 {
			rec := b.NewRecordBatch()
			recs = append(recs, rec)
			for i := 0; i < int(rec.NumRows()); i++ {
				row := make([]string, rec.NumCols())
				for c := range row {
					row[c] = ValueAt(rec.Column(c), i).String()
				}
				want = append(want, row)
			}
			if err := w.Write(rec); err != nil {
				w.Abort()
				t.Fatal(err)
			}
		}
	}
	m, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(fs, "", m)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, _ := collect(t, r, ScanOptions{Schema: tbl.Schema(), Allocator: mem})
	equalRows(t, got, want)
	checkZones(t, r, recs, rgSize)

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
	for rg := 0; rg < pr.NumRowGroups(); rg++ {
		md := pr.MetaData().RowGroup(rg)
		for _, c := range []struct {
			col  int
			dict bool
		}{{0, false}, {1, true}, {2, true}, {3, true}, {4, true}, {5, false}, {6, false}} {
			cc, err := md.ColumnChunk(c.col)
			if err != nil {
				t.Fatal(err)
			}
			if dict := cc.HasDictionaryPage(); dict != c.dict {
				t.Errorf("row group %d column %d: dictionary-encoded %v (encodings %v), want %v", rg, c.col, dict, cc.Encodings(), c.dict)
			}
		}
	}
}

// checkZones compares the zone maps of r, row groups of rgSize rows, with
// the smallest and largest values of recs, the rows written.
func checkZones(t *testing.T, r *Reader, recs []arrow.RecordBatch, rgSize int) {
	t.Helper()
	type zoneT struct {
		lo, hi Value
		ok     bool
	}
	var want [][]zoneT // by row group, column
	row := 0
	for _, rec := range recs {
		for i := 0; i < int(rec.NumRows()); i, row = i+1, row+1 {
			if row%rgSize == 0 {
				want = append(want, make([]zoneT, rec.NumCols()))
			}
			z := want[len(want)-1]
			for c := range z {
				v := ValueAt(rec.Column(c), i)
				switch {
				case v.Null:
				case !z[c].ok:
					z[c] = zoneT{v, v, true}
				case Compare(v, z[c].lo) < 0:
					z[c].lo = v
				case Compare(v, z[c].hi) > 0:
					z[c].hi = v
				}
			}
		}
	}
	for c, ci := range r.idx.cols {
		if len(ci.zones) != len(want) {
			t.Fatalf("column %d: %d zones, want %d", c, len(ci.zones), len(want))
		}
		for rg, z := range ci.zones {
			w := want[rg][c]
			if !w.ok {
				if !z.min.Null {
					t.Errorf("row group %d column %d: zone [%v, %v] of NULLs", rg, c, z.min, z.max)
				}
				continue
			}
			if z.min.Null || Compare(z.min, w.lo) != 0 || Compare(z.max, w.hi) != 0 {
				t.Errorf("row group %d column %d: zone [%v, %v], want [%v, %v]", rg, c, z.min, z.max, w.lo, w.hi)
			}
		}
	}
}
