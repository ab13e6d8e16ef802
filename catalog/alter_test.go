package catalog

import (
	"strings"
	"testing"
)

func TestAlterLayouts(t *testing.T) {
	c := New()
	t1, err := c.Prepare(&Table{Name: "t", Columns: []Column{{Name: "k", Type: Int}, {Name: "a", Type: Int}, {Name: "b", Type: Varchar}}, PrimaryKey: []int{0}})
	if err != nil {
		t.Fatal(err)
	}
	// v1 [k a b] → v2 rename a→x → v3 index on x → v4 drop b → v5 add b (a new column).
	t2, err := t1.WithColumnRenamed("a", "x")
	if err != nil {
		t.Fatal(err)
	}
	t3, err := t2.WithIndex("ix", "X")
	if err != nil {
		t.Fatal(err)
	}
	t4, err := t3.WithColumnDropped("b")
	if err != nil {
		t.Fatal(err)
	}
	t5, err := t4.WithColumnAdded(Column{Name: "b", Type: Bigint}, false)
	if err != nil {
		t.Fatal(err)
	}
	if t5.Version != 5 || t5.Columns[2].ID != 4 || t5.IndexedColumns()[0] != "x" {
		t.Fatalf("t5 = %+v", t5)
	}
	for _, tc := range []struct {
		v    uint64
		want string // names at v, "-" for added later; "current" when unchanged
	}{
		{1, "k a -"}, {2, "k x -"}, {3, "k x -"}, {4, "k x -"}, {5, "current"},
	} {
		names, ok := t5.NamesAt(tc.v)
		got := "current"
		if ok {
			for i := range names {
				if names[i] == "" {
					names[i] = "-"
				}
			}
			got = strings.Join(names, " ")
		}
		if got != tc.want {
			t.Errorf("NamesAt(%d) = %q, want %q", tc.v, got, tc.want)
		}
	}
	if f := t5.SchemaAt(1).Field(2).Name; !strings.HasPrefix(f, "\x00") {
		t.Errorf("added column reads as %q in a version-1 segment", f)
	}
	// The descriptor round-trips with its history.
	b, err := t5.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := back.NamesAt(1); strings.Join(n, ",") != "k,a," || back.NextColumnID != 5 {
		t.Errorf("decoded history %v, next id %d", n, back.NextColumnID)
	}
	for _, bad := range []func() (*Table, error){
		func() (*Table, error) { return t5.WithColumnDropped("k") },
		func() (*Table, error) { return t5.WithColumnDropped("nosuch") },
		func() (*Table, error) { return t5.WithColumnAdded(Column{Name: "X", Type: Int}, false) },
		func() (*Table, error) { return t5.WithColumnAdded(Column{Name: "nn", Type: Int, NotNull: true}, false) },
		func() (*Table, error) { return t5.WithColumnRenamed("x", "b") },
		func() (*Table, error) { return t5.WithIndex("IX", "b") },
		func() (*Table, error) { return t5.WithoutIndex("nosuch") },
	} {
		if _, err := bad(); err == nil {
			t.Error("a bad change was accepted")
		}
	}
	// Dropping the indexed column drops its index; keys after it shift.
	t6, err := t5.WithColumnDropped("x")
	if err != nil || len(t6.Indexes) != 0 || t6.PrimaryKey[0] != 0 {
		t.Errorf("drop of indexed column: %+v, %v", t6, err)
	}
	// A format-1 descriptor gets positional column IDs.
	old, err := Decode([]byte(`{"format":1,"id":3,"name":"o","columns":[{"name":"a","type":{"kind":3}},{"name":"b","type":{"kind":3}}],"version":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if old.Columns[1].ID != 2 || old.NextColumnID != 3 {
		t.Errorf("format-1 IDs: %+v", old)
	}
}

func TestSameAs(t *testing.T) {
	v1 := []byte(`{"format":1,"id":3,"name":"o","columns":[{"name":"a","type":{"kind":3}}],"version":1}`)
	old, err := Decode(v1)
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := old.Encode()
	if !old.SameAs(v1) || !old.SameAs(enc) {
		t.Error("a descriptor is not the same as its own stored or encoded bytes")
	}
	next, err := old.WithColumnAdded(Column{Name: "b", Type: Int}, false)
	if err != nil {
		t.Fatal(err)
	}
	nenc, _ := next.Encode()
	if old.SameAs(nenc) || next.SameAs(v1) || next.SameAs(enc) || !next.SameAs(nenc) {
		t.Error("versions are confused")
	}
}
