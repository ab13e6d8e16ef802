package catalog

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

func TestArrowMappingRoundTrip(t *testing.T) {
	for _, typ := range []Type{Boolean, Smallint, Int, Bigint, Real, Double, Decimal(12, 2), Decimal(38, 0), Varchar, Date, Timestamp} {
		dt := typ.ArrowType()
		if dt == nil {
			t.Fatalf("%s has no Arrow type", typ)
		}
		back, ok := FromArrow(dt)
		if !ok || back != typ {
			t.Errorf("%s -> %s -> %s (%v)", typ, dt, back, ok)
		}
	}
	if got := Timestamp.ArrowType().(*arrow.TimestampType); got.Unit != arrow.Microsecond || got.TimeZone != "" {
		t.Errorf("TIMESTAMP maps to %s, want timestamp[us] without zone", got)
	}
	if _, ok := FromArrow(arrow.ListOf(arrow.PrimitiveTypes.Int64)); ok {
		t.Error("list<int64> has a SQL type")
	}
}

func TestTypeByName(t *testing.T) {
	cases := []struct {
		name string
		p, s int32
		want string
		err  bool
	}{
		{"INTEGER", -1, -1, "INT", false},
		{"int8", -1, -1, "BIGINT", false},
		{"double precision", -1, -1, "DOUBLE", false},
		{"numeric", 10, 2, "DECIMAL(10,2)", false},
		{"decimal", -1, -1, "DECIMAL(38,9)", false},
		{"decimal", 5, -1, "DECIMAL(5,0)", false},
		{"decimal", 39, 0, "", true},
		{"decimal", 5, 6, "", true},
		{"text", -1, -1, "VARCHAR", false},
		{"varchar", 20, -1, "VARCHAR(20)", false},
		{"datetime", -1, -1, "TIMESTAMP", false},
		{"blob", -1, -1, "", true},
	}
	for _, c := range cases {
		got, err := TypeByName(c.name, c.p, c.s)
		if (err != nil) != c.err {
			t.Errorf("%s(%d,%d): error %v, want error %v", c.name, c.p, c.s, err, c.err)
			continue
		}
		if err == nil && got.String() != c.want {
			t.Errorf("%s(%d,%d) = %s, want %s", c.name, c.p, c.s, got, c.want)
		}
	}
}

func TestCatalogAndDescriptors(t *testing.T) {
	c := New()
	tab, err := c.Prepare(&Table{Name: "Orders", Columns: []Column{
		{Name: "id", Type: Bigint}, {Name: "note", Type: Varchar}}, PrimaryKey: []int{0}})
	if err != nil {
		t.Fatal(err)
	}
	if tab.ID != 1 || tab.Version != 1 || !tab.Columns[0].NotNull || tab.Schema().Field(0).Nullable {
		t.Fatalf("prepared descriptor %+v: want ID 1, version 1, key column NOT NULL", tab)
	}
	v := c.Version()
	c.Put(tab)
	if c.Version() == v {
		t.Error("Put did not change the catalog version")
	}
	if got, ok := c.Table("ORDERS"); !ok || got != tab {
		t.Error("lookup is not case-insensitive")
	}
	if _, err := c.Prepare(&Table{Name: "orders", Columns: []Column{{Name: "x", Type: Int}}}); err == nil {
		t.Error("a second table named orders was accepted")
	}
	if got := tab.ColumnIndex("NOTE"); got != 1 {
		t.Errorf("ColumnIndex(NOTE) = %d", got)
	}

	b, err := tab.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Schema().Equal(tab.Schema()) || back.ID != tab.ID || back.PrimaryKey[0] != 0 {
		t.Errorf("decoded %+v, want %+v", back, tab)
	}
	newer := strings.Replace(string(b), `"format":2`, `"format":99`, 1)
	if _, err := Decode([]byte(newer)); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("a newer format decoded: %v", err)
	}
	if _, err := Decode([]byte(`{"format":1,"name":"x","columns":[]}`)); err == nil {
		t.Error("a descriptor without columns decoded")
	}
	if !c.Remove("orders") || c.Remove("orders") {
		t.Error("Remove does not report existence")
	}
}

func TestValidate(t *testing.T) {
	bad := []*Table{
		{Name: "", Columns: []Column{{Name: "a", Type: Int}}},
		{Name: "t"},
		{Name: "t", Columns: []Column{{Name: "a", Type: Int}, {Name: "A", Type: Int}}},
		{Name: "t", Columns: []Column{{Name: "a", Type: Type{Kind: KindNull}}}},
		{Name: "t", Columns: []Column{{Name: "a", Type: Int}}, PrimaryKey: []int{0, 0}},
		{Name: "t", Columns: []Column{{Name: "a", Type: Int}}, PrimaryKey: []int{3}},
	}
	for i, tab := range bad {
		if err := tab.Validate(); err == nil {
			t.Errorf("case %d: %+v validated", i, tab)
		}
	}
}
