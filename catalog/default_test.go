package catalog

import (
	"bytes"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

func TestDefaultRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		typ  Type
		text string
	}{
		{Boolean, "true"},
		{Smallint, "-7"},
		{Int, "2147483647"},
		{Bigint, "-9223372036854775808"},
		{Real, "1.5"},
		{Double, "0.1"},
		{Decimal(10, 2), "-12.50"},
		{Varchar, "it's"},
		{Date, "19782"},
		{Timestamp, "1700000000000000"},
	} {
		s, err := ParseDefault(tc.typ, tc.text)
		if err != nil {
			t.Errorf("%s %q: %v", tc.typ, tc.text, err)
			continue
		}
		back, err := DefaultText(tc.typ, s)
		if err != nil || back != tc.text {
			t.Errorf("%s %q: round trip %q, %v", tc.typ, tc.text, back, err)
		}
	}
	for _, tc := range []struct {
		typ  Type
		text string
	}{{Smallint, "40000"}, {Int, "x"}, {Boolean, "maybe"}, {Decimal(4, 2), "123.45"}} {
		if _, err := ParseDefault(tc.typ, tc.text); err == nil {
			t.Errorf("%s %q: no error", tc.typ, tc.text)
		}
	}
}

// TestDefaultFormat: only descriptors with a default are of format 3, and
// SchemaAt gives an added column's default to readers of older data.
func TestDefaultFormat(t *testing.T) {
	c := New()
	tb, err := c.Prepare(&Table{Name: "t", Columns: []Column{{Name: "id", Type: Bigint}}, PrimaryKey: []int{0}})
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := tb.Encode()
	if !bytes.Contains(enc, []byte(`"format":2`)) {
		t.Fatalf("table without defaults: %s", enc)
	}
	d := "5"
	nt, err := tb.WithColumnAdded(Column{Name: "n", Type: Int, NotNull: true, Default: &d}, false)
	if err != nil {
		t.Fatal(err)
	}
	enc, _ = nt.Encode()
	if !bytes.Contains(enc, []byte(`"format":3`)) {
		t.Fatalf("table with a default: %s", enc)
	}
	back, err := Decode(enc)
	if err != nil || *back.Columns[1].Default != "5" {
		t.Fatalf("decode: %v", err)
	}
	if _, err := Decode(bytes.Replace(enc, []byte(`"format":3`), []byte(`"format":4`), 1)); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("format 4: %v", err)
	}
	if _, err := tb.WithColumnAdded(Column{Name: "m", Type: Int, NotNull: true}, false); err == nil {
		t.Fatal("NOT NULL without a default added to a table with rows")
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	sch := nt.SchemaAt(tb.Version)
	a, err := MissingColumn(mem, sch.Field(1), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	if a.NullN() != 0 || a.Len() != 3 {
		t.Fatalf("missing column: %v", a)
	}
	if s, _ := scalar.GetScalar(a, 2); s.String() != "5" {
		t.Fatalf("missing column value %v", s)
	}
}
