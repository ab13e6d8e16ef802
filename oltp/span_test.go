package oltp

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/mantisdb/mantisdb/catalog"
)

// spanScanner adapts ScanSpans to scanAll.
type spanScanner struct {
	scan  func(*catalog.Table, []int, bool, []KeySpan) (*Scanner, error)
	spans []KeySpan
}

func (s spanScanner) Scan(t *catalog.Table, cols []int, withKey bool) (*Scanner, error) {
	return s.scan(t, cols, withKey, s.spans)
}

func TestScanSpans(t *testing.T) {
	s, _ := openMem(t, nil)
	defer s.Close()
	// Primary key (s, n): strings with a NUL byte and prefixes of each
	// other check that bounds are prefix-exact.
	tbl := finished(&catalog.Table{ID: 3, Name: "c", Version: 1, PrimaryKey: []int{1, 0}, Columns: []catalog.Column{
		{Name: "n", Type: catalog.Int}, {Name: "s", Type: catalog.Varchar},
	}})
	create(t, s, tbl)
	mustInsert(t, s, tbl, []any{2, "a"}, []any{1, "a\x00"}, []any{1, "a"}, []any{0, "b"},
		[]any{5, "b"}, []any{-3, "b"}, []any{1, "ab"}, []any{7, "c"})
	str := func(v string) scalar.Scalar { return scalar.NewStringScalar(v) }
	i32 := func(v int32) scalar.Scalar { return scalar.NewInt32Scalar(v) }
	type bound struct {
		start, end       []scalar.Scalar
		startInc, endInc bool
	}
	for _, tc := range []struct {
		name   string
		ranges []bound
		want   []string
	}{
		{"point", []bound{{[]scalar.Scalar{str("b"), i32(0)}, []scalar.Scalar{str("b"), i32(0)}, true, true}}, []string{"0|b"}},
		{"missing point", []bound{{[]scalar.Scalar{str("b"), i32(1)}, []scalar.Scalar{str("b"), i32(1)}, true, true}}, nil},
		{"prefix", []bound{{[]scalar.Scalar{str("a")}, []scalar.Scalar{str("a")}, true, true}}, []string{"1|a", "2|a"}},
		{"prefix range", []bound{{[]scalar.Scalar{str("b"), i32(-3)}, []scalar.Scalar{str("b"), i32(5)}, false, false}}, []string{"0|b"}},
		{"open start", []bound{{nil, []scalar.Scalar{str("a\x00")}, false, true}}, []string{"1|a", "2|a", "1|a\x00"}},
		{"exclusive end", []bound{{nil, []scalar.Scalar{str("ab")}, false, false}}, []string{"1|a", "2|a", "1|a\x00"}},
		{"open end", []bound{{[]scalar.Scalar{str("b")}, nil, false, false}}, []string{"7|c"}},
		{"several", []bound{
			{[]scalar.Scalar{str("a"), i32(2)}, []scalar.Scalar{str("a"), i32(2)}, true, true},
			{[]scalar.Scalar{str("ab")}, []scalar.Scalar{str("ab")}, true, true},
			{[]scalar.Scalar{str("c"), i32(7)}, []scalar.Scalar{str("c"), i32(7)}, true, true},
		}, []string{"2|a", "1|ab", "7|c"}},
		{"none", []bound{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spans := []KeySpan{}
			for _, b := range tc.ranges {
				sp, err := PrimaryKeySpan(tbl, b.start, b.startInc, b.end, b.endInc)
				if err != nil {
					t.Fatal(err)
				}
				spans = append(spans, sp)
			}
			snap := s.Snapshot()
			defer snap.Close()
			got := scanAll(t, spanScanner{snap.ScanSpans, spans}, tbl, []int{0, 1})
			if !slices.Equal(got, tc.want) {
				t.Errorf("snapshot: got %q, want %q", got, tc.want)
			}
			// A Txn sees its own writes within the spans: it deletes every
			// row with s = "a" and inserts (3, "a") and (9, "z").
			tx := s.Begin()
			defer tx.Rollback()
			ctx := context.Background()
			ks := scanKeys(t, tx, tbl, "a")
			if err := tx.Delete(ctx, tbl, ks); err != nil {
				t.Fatal(err)
			}
			ks.Release()
			rec := makeRecord(t, memory.DefaultAllocator, tbl, []any{3, "a"}, []any{9, "z"})
			defer rec.Release()
			if err := tx.Insert(ctx, tbl, rec); err != nil {
				t.Fatal(err)
			}
			var want []string
			all := scanAll(t, tx, tbl, []int{0, 1})
			for _, r := range all {
				if inSpans(t, tbl, spans, r) {
					want = append(want, r)
				}
			}
			got = scanAll(t, spanScanner{tx.ScanSpans, spans}, tbl, []int{0, 1})
			if !slices.Equal(got, want) {
				t.Errorf("txn: got %q, want %q (all %q)", got, want, all)
			}
		})
	}
	if _, err := PrimaryKeySpan(tbl, []scalar.Scalar{i32(1)}, true, nil, false); err == nil {
		t.Error("mistyped bound: no error")
	}
	if _, err := PrimaryKeySpan(tbl, []scalar.Scalar{scalar.MakeNullScalar(str("").DataType())}, true, nil, false); err == nil {
		t.Error("NULL bound: no error")
	}
}

// inSpans reports whether the row "n|s" of tbl has a key in spans, by
// encoding it.
func inSpans(t *testing.T, tbl *catalog.Table, spans []KeySpan, row string) bool {
	t.Helper()
	n, s, _ := strings.Cut(row, "|")
	rec := makeRecord(t, memory.DefaultAllocator, tbl, []any{atoi(n), s})
	defer rec.Release()
	cols := make([]colReader, 2)
	for i := range cols {
		if err := cols[i].reset(tbl.Columns[i].Type, rec.Column(i)); err != nil {
			t.Fatal(err)
		}
	}
	key := appendRowPrefix(nil, tbl.ID)
	for _, k := range tbl.PrimaryKey {
		key = appendKeyValue(key, &cols[k], 0)
	}
	for _, sp := range spans {
		if string(key) >= string(sp.Start) && (sp.End == nil || string(key) < string(sp.End)) {
			return true
		}
	}
	return false
}

func atoi(s string) int {
	n, neg := 0, strings.HasPrefix(s, "-")
	for _, c := range strings.TrimPrefix(s, "-") {
		n = n*10 + int(c-'0')
	}
	if neg {
		return -n
	}
	return n
}

// scanKeys returns the storage keys of the rows of tbl (column 1) equal
// to s, as tx sees them.
func scanKeys(t *testing.T, tx *Txn, tbl *catalog.Table, s string) *array.Binary {
	t.Helper()
	sc, err := tx.Scan(tbl, []int{1}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	b := array.NewBinaryBuilder(memory.DefaultAllocator, arrow.BinaryTypes.Binary)
	defer b.Release()
	for sc.Next() {
		rec := sc.Record()
		col, keys := rec.Column(0).(*array.String), rec.Column(1).(*array.Binary)
		for i := 0; i < int(rec.NumRows()); i++ {
			if col.Value(i) == s {
				b.Append(keys.Value(i))
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return b.NewBinaryArray()
}
