package mantisdb_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"go.uber.org/goleak"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(t *testing.T, dir string) *mantisdb.DB {
	t.Helper()
	db, err := mantisdb.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func exec(t *testing.T, db *mantisdb.DB, sql string) int64 {
	t.Helper()
	n, err := db.Exec(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// query returns the result as rows of cells rendered with Arrow's
// ValueStr (decimals with their scale), NULL as "NULL".
func query(t *testing.T, db *mantisdb.DB, sql string) [][]string {
	t.Helper()
	rows, err := db.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		rec := rows.Record()
		if !rec.Schema().Equal(rows.Schema()) {
			t.Fatalf("%s: batch schema %s differs from %s", sql, rec.Schema(), rows.Schema())
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			row := make([]string, rec.NumCols())
			for j, col := range rec.Columns() {
				switch c := col.(type) {
				case *array.Decimal128:
					if c.IsNull(i) {
						row[j] = "NULL"
					} else {
						row[j] = c.Value(i).ToString(c.DataType().(*arrow.Decimal128Type).Scale)
					}
				default:
					row[j] = col.ValueStr(i) // "(null)" for NULL
				}
				if col.IsNull(i) {
					row[j] = "NULL"
				}
			}
			out = append(out, row)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

func render(rows [][]string) string {
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(strings.Join(r, "|"))
		b.WriteByte('\n')
	}
	return b.String()
}

func wantCode(t *testing.T, err error, code sqlstate.Code) {
	t.Helper()
	if got := sqlstate.CodeOf(err); got != code {
		t.Fatalf("error %v: code %s, want %s", err, got, code)
	}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	db := open(t, dir)
	exec(t, db, `create table t (id bigint primary key, name varchar(10), price decimal(10,2),
		ok boolean, d date, ts timestamp, s smallint, i int, r real, f double)`)
	n := exec(t, db, `insert into t values
		(1, 'ada', 12.50, true, date '2024-01-02', timestamp '2024-01-02 03:04:05.123456', 1, 2, 1.5, 2.25),
		(2, 'grâce', -0.01, false, '2023-12-31', '1999-12-31 23:59:59', -1, -2, -1.5, -2.25),
		(3, null, null, null, null, null, null, null, null, null)`)
	if n != 3 {
		t.Fatalf("inserted %d rows, want 3", n)
	}
	const want = "1|ada|12.50|true|2024-01-02|2024-01-02T03:04:05.123456|1|2|1.5|2.25\n" +
		"2|grâce|-0.01|false|2023-12-31|1999-12-31T23:59:59|-1|-2|-1.5|-2.25\n" +
		"3|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL\n"
	got := render(query(t, db, "select * from t order by id"))
	if got != want {
		t.Errorf("select *:\n%s\nwant:\n%s", got, want)
	}

	if n := exec(t, db, "update t set name = 'x', price = price * 2 where id <= 2"); n != 2 {
		t.Errorf("updated %d rows, want 2", n)
	}
	if n := exec(t, db, "delete from t where id = 3"); n != 1 {
		t.Errorf("deleted %d rows, want 1", n)
	}
	if got := render(query(t, db, "select id, name, price from t order by id")); got != "1|x|25.00\n2|x|-0.02\n" {
		t.Errorf("after update/delete:\n%s", got)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// Everything survives a reopen.
	db = open(t, dir)
	defer db.Close()
	if got := render(query(t, db, "select id, name, price from t order by id")); got != "1|x|25.00\n2|x|-0.02\n" {
		t.Errorf("after reopen:\n%s", got)
	}
	if got := render(query(t, db, "select count(*), sum(i), min(name), max(d) from t")); got != "2|0|x|2024-01-02\n" {
		t.Errorf("aggregates after reopen:\n%s", got)
	}
}

func TestPrimaryKeyUpdateAndTablesWithoutKey(t *testing.T) {
	db := open(t, t.TempDir())
	defer db.Close()
	exec(t, db, "create table k (a int, b varchar, v int, primary key (a, b))")
	exec(t, db, "insert into k values (1, 'x', 1), (1, 'y', 2), (2, 'x', 3)")
	// Moving every key by one collides only with keys the statement itself moves.
	exec(t, db, "update k set a = a + 1")
	if got := render(query(t, db, "select a, b, v from k order by a, b")); got != "2|x|1\n2|y|2\n3|x|3\n" {
		t.Errorf("after key update:\n%s", got)
	}
	_, err := db.Exec(context.Background(), "update k set a = 2 where v = 3")
	wantCode(t, err, sqlstate.UniqueViolation)

	exec(t, db, "create table h (v int)")
	exec(t, db, "insert into h values (1), (1), (2)")
	exec(t, db, "update h set v = 5 where v = 1")
	exec(t, db, "delete from h where v = 2")
	if got := render(query(t, db, "select v, count(*) from h group by v")); got != "5|2\n" {
		t.Errorf("table without key:\n%s", got)
	}
}

func TestBadInputWritesNothing(t *testing.T) {
	db := open(t, t.TempDir())
	defer db.Close()
	ctx := context.Background()
	exec(t, db, "create table t (id bigint primary key, name varchar(3) not null, n int)")
	exec(t, db, "insert into t values (1, 'a', 1)")

	cases := []struct {
		sql  string
		code sqlstate.Code
	}{
		{"selec * from t", sqlstate.SyntaxError},
		{"select * from nope", sqlstate.UndefinedTable},
		{"select nope from t", sqlstate.UndefinedColumn},
		{"insert into t values (2, 'b', 1), (1, 'c', 1)", sqlstate.UniqueViolation},
		{"insert into t values (2, 'b', 1), (3, null, 1)", sqlstate.NotNullViolation},
		{"insert into t values (2, 'b', 1), (3, 'long', 1)", sqlstate.StringDataTooLong},
		{"insert into t values (2, 'b', 'abc')", sqlstate.InvalidText},
		{"insert into t values (2, 'b', 99999999999)", sqlstate.NumericOutOfRange},
		{"update t set n = n / 0", sqlstate.DivisionByZero},
		{"create table t (x int)", sqlstate.DuplicateTable},
		{"begin transaction isolation level serializable; select 1", sqlstate.SyntaxError},
	}
	for _, c := range cases {
		_, err := db.Exec(ctx, c.sql)
		if got := sqlstate.CodeOf(err); got != c.code {
			t.Errorf("%s: error %v has code %s, want %s", c.sql, err, got, c.code)
		}
	}
	if got := render(query(t, db, "select * from t")); got != "1|a|1\n" {
		t.Errorf("failed statements wrote rows:\n%s", got)
	}
	_, err := db.Exec(ctx, "select *\nfrom t where")
	if e := sqlstate.From(err); e == nil || e.Line != 2 {
		t.Errorf("syntax error %v: want line 2", err)
	}
}

func TestIngest(t *testing.T) {
	db := open(t, t.TempDir())
	defer db.Close()
	exec(t, db, "create table m (id int primary key, name varchar, score double)")
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	// Fields in another order and with wider types; score missing.
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "NAME", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	b := array.NewRecordBuilder(mem, sch)
	defer b.Release()
	for i := 0; i < 1000; i++ {
		b.Field(0).(*array.StringBuilder).Append(fmt.Sprint("n", i))
		b.Field(1).(*array.Int64Builder).Append(int64(i))
	}
	rec := b.NewRecordBatch()
	rdr, err := array.NewRecordReader(sch, []arrow.RecordBatch{rec})
	rec.Release()
	if err != nil {
		t.Fatal(err)
	}
	n, err := db.Ingest(context.Background(), "m", rdr)
	rdr.Release()
	if err != nil || n != 1000 {
		t.Fatalf("ingest: %d rows, %v", n, err)
	}
	if got := render(query(t, db, "select count(*), count(score), max(id) from m")); got != "1000|0|999\n" {
		t.Errorf("after ingest:\n%s", got)
	}
	// A second ingest with one duplicate writes nothing.
	b.Field(0).(*array.StringBuilder).Append("new")
	b.Field(1).(*array.Int64Builder).Append(5000)
	b.Field(0).(*array.StringBuilder).Append("dup")
	b.Field(1).(*array.Int64Builder).Append(7)
	rec = b.NewRecordBatch()
	rdr, _ = array.NewRecordReader(sch, []arrow.RecordBatch{rec})
	rec.Release()
	_, err = db.Ingest(context.Background(), "m", rdr)
	rdr.Release()
	wantCode(t, err, sqlstate.UniqueViolation)
	if got := render(query(t, db, "select count(*) from m")); got != "1000\n" {
		t.Errorf("failed ingest wrote rows: %s", got)
	}
	empty, _ := array.NewRecordReader(sch, nil)
	_, err = db.Ingest(context.Background(), "nope", empty)
	empty.Release()
	wantCode(t, err, sqlstate.UndefinedTable)
}

func TestConcurrentWriters(t *testing.T) {
	db := open(t, t.TempDir())
	defer db.Close()
	exec(t, db, "create table c (id bigint primary key, w int)")
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				if _, err := db.Exec(context.Background(),
					fmt.Sprintf("insert into c values (%d, %d)", w*1000+i, w)); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	if got := render(query(t, db, "select count(*), count(distinct w) from c")); got != "200|8\n" {
		t.Errorf("concurrent inserts: %s", got)
	}
}
