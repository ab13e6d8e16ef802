package sql

import (
	"reflect"
	"testing"
)

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		text, shape string
		consts      []ShapeConst
		ok          bool
	}{
		{"SELECT a FROM t WHERE id = 42", "SELECT a FROM t WHERE id = ?", []ShapeConst{{Int: 42}}, true},
		{"select a from t where id=42 and s <> 'x''y' or b>=7", "select a from t where id=? and s <> ? or b>=?",
			[]ShapeConst{{Int: 42}, {IsString: true, Str: "x'y"}, {Int: 7}}, true},
		{"UPDATE t SET b = b + 1 WHERE id = 5", "UPDATE t SET b = b + 1 WHERE id = ?", []ShapeConst{{Int: 5}}, true},
		{"delete from t where id != 3", "delete from t where id != ?", []ShapeConst{{Int: 3}}, true},
		{"select * from t where x = -5 or y = 1.5 or z = 1e3 or w = 0x1f", "", nil, true},
		{"select * from t where d = DATE '2024-01-01' and a <=> 1 and j->'$.a' = 2", "select * from t where d = DATE '2024-01-01' and a <=> 1 and j->'$.a' = ?", []ShapeConst{{Int: 2}}, true},
		{"select * from t where s = 'a' 'b'", "", nil, true},
		{"select * from t where id = 99999999999999999999", "", nil, true},
		{`select "a=1" from t where "b" = 2`, `select "a=1" from t where "b" = ?`, []ShapeConst{{Int: 2}}, true},
		{"select a1 from t where c2=3", "select a1 from t where c2=?", []ShapeConst{{Int: 3}}, true},
		{"insert into t values (1)", "", nil, false},
		{"select * from t where id = ?", "", nil, false},
		{"select * from t where id = $1", "", nil, false},
		{"select * from t where id = 1 -- comment", "", nil, false},
		{"select * from t where id = 1 /* c */", "", nil, false},
		{`select * from t where s = 'a\'b'`, "", nil, false},
		{"select * from t where s = 'open", "", nil, false},
	} {
		_, shape, consts, ok := Normalize(tc.text)
		if ok != tc.ok {
			t.Errorf("%s: ok %v", tc.text, ok)
			continue
		}
		if !ok {
			continue
		}
		// An empty shape expects the text as its own shape.
		want := tc.shape
		if want == "" {
			want = tc.text
		}
		if shape != want {
			t.Errorf("%s: shape %q, want %q", tc.text, shape, want)
		}
		if tc.consts != nil && !reflect.DeepEqual(consts, tc.consts) {
			t.Errorf("%s: consts %+v, want %+v", tc.text, consts, tc.consts)
		}
	}
}
