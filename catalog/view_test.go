package catalog

import (
	"strings"
	"testing"
)

func TestViewEncodeDecode(t *testing.T) {
	v := &View{ID: 7, Name: "Rev", Query: "select 1 as a", Columns: []string{"x"}, Version: 3}
	b, err := v.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeView(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != 7 || got.Name != "Rev" || got.Query != v.Query || len(got.Columns) != 1 || got.Version != 3 {
		t.Errorf("round trip = %+v", got)
	}
	for _, tc := range []struct{ in, want string }{
		{`{"format":2,"id":1,"name":"v","query":"select 1"}`, "newer"},
		{`{"format":1,"id":1,"name":"","query":"select 1"}`, "corrupt"},
		{`{"format":1,"id":1,"name":"v"}`, "corrupt"},
		{`not json`, "cannot decode"},
	} {
		if _, err := DecodeView([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("DecodeView(%s) = %v, want an error with %q", tc.in, err, tc.want)
		}
	}
}

func TestViewsShareTheNamespace(t *testing.T) {
	c := New()
	c.PutView(&View{ID: 5, Name: "V", Query: "select 1"})
	if !c.Relation("v") || c.Relation("w") {
		t.Error("Relation does not see the view")
	}
	if _, err := c.Prepare(&Table{Name: "v", Columns: []Column{{Name: "a", Type: Int}}}); err == nil {
		t.Error("Prepare accepted a table named like a view")
	}
	tb, err := c.Prepare(&Table{Name: "t", Columns: []Column{{Name: "a", Type: Int}}})
	if err != nil {
		t.Fatal(err)
	}
	if tb.ID <= 5 {
		t.Errorf("table ID %d reuses a view's ID", tb.ID)
	}
	ver := c.Version()
	if !c.RemoveView("V") || c.RemoveView("v") || c.Version() == ver {
		t.Error("RemoveView")
	}
	if len(c.Views()) != 0 {
		t.Error("view still listed")
	}
}
