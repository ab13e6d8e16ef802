package mantisdb_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/segments"
)

// runtimeFilterDB returns a database with a fact table of n rows (k INT
// with NULLs and 5000 values, d DATE, v BIGINT) and small dimension
// tables dim (duplicate keys, a NULL key, keys outside fact's range) and
// days; with compact, their rows are in segments of 8192-row row groups,
// else in the row store, which runtime filters do not touch.
func runtimeFilterDB(t *testing.T, n int, compactRows bool) *mantisdb.DB {
	t.Helper()
	db, err := mantisdb.Open(t.TempDir(), &mantisdb.Options{CompactInterval: -1,
		Segment: &segments.WriterOptions{RowGroupSize: 8192}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	exec(t, db, "create table fact (id bigint primary key, k int, d date, v bigint)")
	exec(t, db, "create table dim (k int, grp int, name varchar(10))")
	exec(t, db, "create table days (d date primary key, label varchar(10))")
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "k", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "d", Type: arrow.FixedWidthTypes.Date32},
		{Name: "v", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
	defer b.Release()
	for i := 0; i < n; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		if i%7 == 0 {
			b.Field(1).AppendNull()
		} else {
			// Clustered keys: runs of rows share a key, so the zone maps
			// of sorted row groups differ.
			b.Field(1).(*array.Int32Builder).Append(int32(i / (n / 5000)))
		}
		b.Field(2).(*array.Date32Builder).Append(arrow.Date32(10000 + i%400))
		b.Field(3).(*array.Int64Builder).Append(int64(i))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	rdr, err := array.NewRecordReader(sch, []arrow.RecordBatch{rec})
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Release()
	if _, err := db.Ingest(context.Background(), "fact", rdr); err != nil {
		t.Fatal(err)
	}
	var vals []string
	for k := 0; k < 5000; k += 97 {
		vals = append(vals, fmt.Sprintf("(%d, 1, 'a%d')", k, k))
		if k%2 == 0 {
			vals = append(vals, fmt.Sprintf("(%d, 1, 'dup%d')", k, k)) // a duplicate build key
		}
	}
	for k := 0; k < 5000; k++ {
		vals = append(vals, fmt.Sprintf("(%d, 0, 'all')", k))
	}
	vals = append(vals, "(NULL, 1, 'null')", "(-100, 2, 'below')", "(1000000000, 2, 'above')", "(4990, 2, 'top')",
		"(2500, 3, 'mid')", "(2501, 3, 'mid2')")
	exec(t, db, "insert into dim values "+strings.Join(vals, ", "))
	exec(t, db, "insert into days values (date '1997-05-20', 'x'), (date '1997-06-01', 'y')")
	if compactRows {
		for _, tbl := range []string{"fact", "dim", "days"} {
			compact(t, db, tbl)
		}
	}
	return db
}

// TestRuntimeFilters checks that runtime filters leave answers unchanged
// (against the same rows in the row store, where no filter applies), that
// they are installed on the probe scan where they are correct and drop
// rows there (empty build, NULL keys, all keys, duplicate keys, keys
// outside the probe's range, parallel pipelines, semi joins, DATE keys,
// the key filter of a semi-join reduction),
// and that they are not installed where they would be wrong (anti joins,
// NOT IN, an outer join's preserved side, a key computed by an
// expression).
func TestRuntimeFilters(t *testing.T) {
	const n = 150_000 // above two partitions of a parallel scan
	seg := runtimeFilterDB(t, n, true)
	rs := runtimeFilterDB(t, n, false)
	for _, c := range []struct {
		name, sql string
		// installed: EXPLAIN ANALYZE shows a runtime filter on fact;
		// drops: and it dropped rows or skipped row groups.
		installed, drops bool
	}{
		{"parallel", "select count(*), sum(f.v) from fact f join dim d on f.k = d.k where d.grp = 1", true, true},
		{"empty build", "select count(*), sum(f.v) from fact f join dim d on f.k = d.k where d.grp = 99", true, true},
		{"all keys", "select count(*), sum(f.v) from fact f join dim d on f.k = d.k where d.grp = 0", true, true}, // drops the NULL keys
		{"outside", "select count(*), sum(f.v) from fact f join dim d on f.k = d.k where d.grp = 2", true, true},
		{"serial", "select f.id, f.k, d.name from fact f join dim d on f.k = d.k where d.grp = 3 order by f.id", true, true},
		{"build left", "select d.name, f.id from dim d join fact f on d.k = f.k where d.grp = 3 order by f.id", true, true},
		{"semi", "select count(*), sum(v) from fact where k in (select k from dim where grp = 1)", true, true},
		{"exists", "select count(*) from fact f where exists (select 1 from dim d where d.k = f.k and d.grp = 3)", true, true},
		{"date", "select count(*), sum(f.v) from fact f join days s on f.d = s.d", true, true},
		{"through filter", "select count(*) from fact f join dim d on f.k = d.k where d.grp = 1 and f.v % 2 = 0", true, true},
		// The key filter of a semi-join reduction publishes its key set.
		{"reduction", "select d.name, (select avg(v) from fact f where f.k = d.k) from dim d where d.grp = 3 order by d.name", true, true},
		{"anti", "select count(*), sum(v) from fact f where not exists (select 1 from dim d where d.k = f.k and d.grp = 1)", false, false},
		{"not in", "select count(*), sum(v) from fact where k not in (select k from dim where grp = 1)", false, false},
		{"left join", "select count(*), count(d.name) from fact f left join dim d on f.k = d.k and d.grp = 1", false, false},
		{"expression", "select count(*) from fact f join dim d on f.k + 1 = d.k where d.grp = 1", false, false},
		// (All of dim: no semi-join reduction under the aggregate, whose
		// key filter would filter fact.)
		{"through aggregate", "select count(*) from (select k, count(*) as c from fact group by k) a join dim d on a.k = d.k", false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, want := query(t, seg, c.sql), query(t, rs, c.sql)
			if !strings.Contains(c.sql, "order by") {
				sortRows(got)
				sortRows(want)
			}
			if render(got) != render(want) {
				t.Fatalf("with runtime filters:\n%s\nwithout:\n%s", render(got), render(want))
			}
			plan := explain(t, seg, "explain analyze "+c.sql)
			var line string
			for _, l := range strings.Split(plan, "\n") {
				if strings.Contains(l, "runtime filter on fact.") {
					line = l
				}
			}
			if (line != "") != c.installed {
				t.Fatalf("runtime filter on fact installed: %v, want %v\n%s", line != "", c.installed, plan)
			}
			if !c.installed {
				return
			}
			dropped := !strings.HasSuffix(line, "row groups skipped=0 rows dropped=0")
			if dropped != c.drops {
				t.Fatalf("runtime filter dropped rows: %v, want %v\n%s", dropped, c.drops, plan)
			}
		})
	}
}

func sortRows(rows [][]string) {
	sort.Slice(rows, func(i, j int) bool { return strings.Join(rows[i], "|") < strings.Join(rows[j], "|") })
}
