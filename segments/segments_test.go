package segments

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/mantisdb/mantisdb/catalog"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testTable has one column of every catalog type; id is the primary key.
func testTable() *catalog.Table {
	return &catalog.Table{
		ID: 7, Name: "t", Version: 3,
		Columns: []catalog.Column{
			{Name: "id", Type: catalog.Bigint, NotNull: true},
			{Name: "b", Type: catalog.Boolean},
			{Name: "s16", Type: catalog.Smallint},
			{Name: "i32", Type: catalog.Int},
			{Name: "f32", Type: catalog.Real},
			{Name: "f64", Type: catalog.Double},
			{Name: "dec", Type: catalog.Decimal(12, 2)},
			{Name: "str", Type: catalog.Varchar},
			{Name: "d", Type: catalog.Date},
			{Name: "ts", Type: catalog.Timestamp},
			{Name: "cat", Type: catalog.Varchar},
		},
		PrimaryKey: []int{0},
	}
}

// genBatch builds rows [from, from+n) of testTable: id = 2*row (gaps for
// misses), every nullable column NULL on a pattern of its own.
func genBatch(mem memory.Allocator, t *catalog.Table, from, n int) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, t.Schema())
	defer b.Release()
	cats := []string{"alpha", "beta", "gamma", "delta"}
	for r := from; r < from+n; r++ {
		b.Field(0).(*array.Int64Builder).Append(int64(2 * r))
		null := func(c int) bool { return (r+c)%(5+c) == 0 }
		if null(1) {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.BooleanBuilder).Append(r%3 == 0)
		}
		if null(2) {
			b.Field(2).AppendNull()
		} else {
			b.Field(2).(*array.Int16Builder).Append(int16(r % 1000))
		}
		if null(3) {
			b.Field(3).AppendNull()
		} else {
			b.Field(3).(*array.Int32Builder).Append(int32(r*7%100003 - 50000))
		}
		if null(4) {
			b.Field(4).AppendNull()
		} else {
			b.Field(4).(*array.Float32Builder).Append(float32(r) / 3)
		}
		if null(5) {
			b.Field(5).AppendNull()
		} else {
			b.Field(5).(*array.Float64Builder).Append(math.Sin(float64(r)))
		}
		if null(6) {
			b.Field(6).AppendNull()
		} else {
			b.Field(6).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(r*13%1000000 - 5000)))
		}
		if null(7) {
			b.Field(7).AppendNull()
		} else {
			b.Field(7).(*array.StringBuilder).Append(fmt.Sprintf("row-%08d", r*31%1000003))
		}
		if null(8) {
			b.Field(8).AppendNull()
		} else {
			b.Field(8).(*array.Date32Builder).Append(arrow.Date32(8000 + r%3000))
		}
		if null(9) {
			b.Field(9).AppendNull()
		} else {
			b.Field(9).(*array.TimestampBuilder).Append(arrow.Timestamp(int64(r) * 1_000_003))
		}
		if len(t.Columns) <= 10 {
			continue
		}
		if null(10) {
			b.Field(10).AppendNull()
		} else {
			b.Field(10).(*array.StringBuilder).Append(cats[r%len(cats)])
		}
	}
	return b.NewRecordBatch()
}

// writeSegment writes rows [0, rows) of testTable in batches of batch rows.
func writeSegment(t testing.TB, fs vfs.FS, mem memory.Allocator, tbl *catalog.Table, id uint64, rows, batch int, opts *WriterOptions) *Meta {
	t.Helper()
	w, err := NewWriter(fs, "", id, tbl, opts)
	if err != nil {
		t.Fatal(err)
	}
	for from := 0; from < rows; from += batch {
		rec := genBatch(mem, tbl, from, min(batch, rows-from))
		err := w.Write(rec)
		rec.Release()
		if err != nil {
			w.Abort()
			t.Fatal(err)
		}
	}
	m, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// collect scans fully and returns every row as strings, with the stats.
func collect(t testing.TB, r *Reader, opts ScanOptions) ([][]string, ScanStats) {
	t.Helper()
	s, err := r.Scan(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var rows [][]string
	for s.Next() {
		rec := s.Record()
		if rec.NumRows() == 0 {
			t.Fatal("empty batch")
		}
		if !rec.Schema().Equal(s.Schema()) {
			t.Fatalf("batch schema %s, scanner schema %s", rec.Schema(), s.Schema())
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			row := make([]string, rec.NumCols())
			for c := range row {
				row[c] = ValueAt(rec.Column(c), i).String()
			}
			rows = append(rows, row)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return rows, s.Stats()
}

// expected returns rows [0, n) of testTable as strings.
func expected(tbl *catalog.Table, n int) [][]string {
	rec := genBatch(memory.DefaultAllocator, tbl, 0, n)
	defer rec.Release()
	rows := make([][]string, n)
	for i := range rows {
		rows[i] = make([]string, rec.NumCols())
		for c := range rows[i] {
			rows[i][c] = ValueAt(rec.Column(c), i).String()
		}
	}
	return rows
}

func equalRows(t *testing.T, got, want [][]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d", len(got), len(want))
	}
	for i := range got {
		for c := range got[i] {
			if got[i][c] != want[i][c] {
				t.Fatalf("row %d col %d: got %s, want %s", i, c, got[i][c], want[i][c])
			}
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, comp := range []Compression{CompressionLZ4Raw, CompressionZstd, CompressionNone} {
		t.Run(comp.String(), func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			fs := vfs.NewMem()
			tbl := testTable()
			const rows = 2500
			m := writeSegment(t, fs, mem, tbl, 1, rows, 333,
				&WriterOptions{RowGroupSize: 1000, Compression: comp, VerifyOrder: true, Allocator: mem})
			if m.Rows != rows || m.RowGroups != 3 || m.SchemaVersion != 3 || m.TableID != 7 {
				t.Fatalf("meta: %+v", m)
			}
			if got := m.KeyMin[0].I; got != 0 {
				t.Fatalf("key min %d", got)
			}
			if got := m.KeyMax[0].I; got != 2*(rows-1) {
				t.Fatalf("key max %d", got)
			}
			m2, err := DecodeMeta(m.Encode())
			if err != nil {
				t.Fatal(err)
			}
			if string(m2.Encode()) != string(m.Encode()) {
				t.Fatal("meta does not round-trip")
			}
			r, err := Open(fs, "", m2)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if !r.Schema().Equal(tbl.Schema()) {
				// Nullability is the table's; the types must match exactly.
				for i, f := range r.Schema().Fields() {
					if !arrow.TypeEqual(f.Type, tbl.Schema().Field(i).Type) {
						t.Fatalf("column %s: type %s, want %s", f.Name, f.Type, tbl.Schema().Field(i).Type)
					}
				}
			}
			for _, bs := range []int{0, 100, 4096} {
				got, st := collect(t, r, ScanOptions{Schema: tbl.Schema(), Allocator: mem, BatchSize: bs})
				equalRows(t, got, expected(tbl, rows))
				if st.RowGroupsRead != 3 || st.RowsReturned != rows {
					t.Fatalf("stats %+v", st)
				}
			}
			// Per-column statistics agree with the data.
			cs, _ := m.Column("cat")
			if !cs.Bitmap || cs.Distinct != 4 || cs.Min.S != "alpha" || cs.Max.S != "gamma" {
				t.Fatalf("cat stats %+v", cs)
			}
			if cs, _ := m.Column("id"); cs.Bitmap || !cs.Bloom || cs.NullCount != 0 {
				t.Fatalf("id stats %+v", cs)
			}
		})
	}
}

func TestProjectionAndSchemaEvolution(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	fs := vfs.NewMem()
	tbl := testTable()
	m := writeSegment(t, fs, mem, tbl, 1, 1500, 500, &WriterOptions{RowGroupSize: 700, Allocator: mem})
	r, err := Open(fs, "", m)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	want := expected(tbl, 1500)

	// Newer schema: "f64" dropped, "extra" added, names in another case.
	newer := arrow.NewSchema([]arrow.Field{
		{Name: "ID", Type: arrow.PrimitiveTypes.Int64},
		{Name: "extra", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "str", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	got, _ := collect(t, r, ScanOptions{Schema: newer, Columns: []int{2, 1, 0}, Allocator: mem})
	for i, row := range got {
		if row[0] != want[i][7] || row[1] != "NULL" || row[2] != want[i][0] {
			t.Fatalf("row %d: %v", i, row)
		}
	}
	// No columns: row counts only.
	s, err := r.Scan(context.Background(), ScanOptions{Columns: []int{}, Allocator: mem, BatchSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	n := int64(0)
	for s.Next() {
		n += s.Record().NumRows()
	}
	s.Close()
	if n != 1500 {
		t.Fatalf("count(*) = %d", n)
	}
	// A type change is refused.
	bad := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int32}}, nil)
	if _, err := r.Scan(context.Background(), ScanOptions{Schema: bad}); !errors.Is(err, ErrSchemaMismatch) {
		t.Fatalf("got %v, want ErrSchemaMismatch", err)
	}
}

var _ = rand.Int
var _ = roaring.New
