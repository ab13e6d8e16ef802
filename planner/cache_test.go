package planner

import (
	"fmt"
	"reflect"
	"testing"
)

// TestCacheShapes checks that statements served from a cached shape give
// the rows and the result schema (names, types, nullability) of their
// text prepared alone, and which texts share a shape.
func TestCacheShapes(t *testing.T) {
	s := newStore(t)
	for _, q := range []string{
		"create table t (id bigint primary key, i int, s varchar(3), d date, x decimal(10,2), v varchar)",
		"insert into t values (1, 10, 'a', '2024-01-01', 1.50, 'x'), (2, 20, 'b', '2024-02-01', 2.50, null), (3, 30, 'c', '2024-03-01', null, 'z')",
	} {
		if _, _, err := s.run(q); err != nil {
			t.Fatal(err)
		}
	}
	c := NewCache(0)
	cached := &store{t: t, mem: s.mem, cat: s.cat, tables: s.tables, cache: c}
	for _, tc := range []struct {
		q    string
		hits uint64 // of the cache after the query
	}{
		{"select v from t where id = 1", 0},
		{"select v from t where id = 2", 1},
		{"select v from t where id = 3", 2},
		{"SELECT v FROM t WHERE id = 3", 2}, // another text, another shape
		{"select v from t where id = '2'", 2},
		{"select v from t where id = '3'", 2}, // the shape cannot stand for it
		{"select id from t where i >= 20 and s <> 'b'", 2},
		{"select id from t where i >= 10 and s <> 'c'", 3},
		{"select id from t where d = '2024-02-01'", 3},
		{"select id from t where d = '2024-03-01'", 3}, // DATE column: a string constant is converted at bind time
		{"select id from t where x > 2", 3},
		{"select id from t where x > 1", 3}, // DECIMAL column
		{"select id = 2, i from t", 3},
		{"select id = 3, i from t", 3}, // column named by the expression
		{"select id = 2 as b, i from t", 3},
		{"select id = 3 as b, i from t", 4},
		{"select count(*) from t where v = 'x' or v = 'z'", 4},
		{"select count(*) from t where v = 'x' or v = 'q'", 5},
		{"select id from t where s = 'it''s'", 5},
		{"update t set i = i + 1 where id = 9", 5},
		{"update t set i = i + 1 where id = 8", 6},
		{"select id from t where id = 99999999999999999999", 6}, // beyond BIGINT: left as written
		{"select id from t where id > 1 limit 1", 6},
		{"select id from t where id > 2 limit 1", 7},
	} {
		want, wsch, werr := s.run(tc.q)
		got, gsch, gerr := cached.run(tc.q)
		if fmt.Sprint(werr) != fmt.Sprint(gerr) {
			t.Errorf("%s: error %v, want %v", tc.q, gerr, werr)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: rows %v, want %v", tc.q, got, want)
		}
		if wsch != nil && !gsch.Equal(wsch) {
			t.Errorf("%s: schema %v, want %v", tc.q, gsch, wsch)
		}
		if st := c.Stats(); st.Hits != tc.hits {
			t.Errorf("%s: %d hits, want %d", tc.q, st.Hits, tc.hits)
		}
	}
	// A schema change makes every shape stale.
	if _, _, err := s.run("drop table t"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cached.run("select v from t where id = 1"); err == nil {
		t.Fatal("query of a dropped table served from the cache")
	}
}

func TestCacheBounded(t *testing.T) {
	s := newStore(t)
	if _, _, err := s.run("create table t (id bigint primary key)"); err != nil {
		t.Fatal(err)
	}
	c := NewCache(4)
	for i := 0; i < 20; i++ {
		if _, err := c.Prepare(fmt.Sprintf("select id + %d from t", i), s.cat); err != nil {
			t.Fatal(err)
		}
	}
	if st := c.Stats(); st.Entries != 4 || st.Hits != 0 || st.Misses != 20 {
		t.Fatalf("stats %+v, want 4 entries, 20 misses", st)
	}
}
