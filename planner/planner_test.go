package planner

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/sql"
)

// store is an in-memory SourceProvider: every table is a list of batches
// in the table's schema followed by a "__key" column.
type store struct {
	t      *testing.T
	mem    memory.Allocator
	cat    *catalog.Catalog
	tables map[uint64][]arrow.RecordBatch
	nextID int
	chunk  int            // rows per stored batch; 0 means 2
	scans  [][]int        // columns of every scan opened, for pushdown tests
	cache  *Cache         // prepares statements through it when set
	src    SourceProvider // builds through it instead of the store when set
}

func newStore(t *testing.T) *store {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	s := &store{t: t, mem: mem, cat: catalog.New(), tables: map[uint64][]arrow.RecordBatch{}}
	t.Cleanup(func() {
		for _, recs := range s.tables {
			for _, r := range recs {
				r.Release()
			}
		}
		mem.AssertSize(t, 0)
	})
	return s
}

func (s *store) Scan(t *catalog.Table, cols []int, withKey bool) arrowexec.OpenSource {
	s.scans = append(s.scans, append([]int(nil), cols...))
	recs := s.tables[t.ID]
	return func(ctx context.Context) (arrowexec.Source, error) {
		fields := make([]arrow.Field, 0, len(cols)+1)
		for _, c := range cols {
			fields = append(fields, t.Schema().Field(c))
		}
		if withKey {
			fields = append(fields, arrow.Field{Name: "__key", Type: arrow.BinaryTypes.Binary})
		}
		return &sliceSource{recs: recs, cols: cols, withKey: withKey, schema: arrow.NewSchema(fields, nil), n: len(t.Columns)}, nil
	}
}

type sliceSource struct {
	recs    []arrow.RecordBatch
	cols    []int
	withKey bool
	schema  *arrow.Schema
	n       int
	i       int
	cur     arrow.RecordBatch
}

func (s *sliceSource) Next() bool {
	if s.cur != nil {
		s.cur.Release()
		s.cur = nil
	}
	if s.i >= len(s.recs) {
		return false
	}
	r := s.recs[s.i]
	s.i++
	arrs := make([]arrow.Array, 0, len(s.cols)+1)
	for _, c := range s.cols {
		arrs = append(arrs, r.Column(c))
	}
	if s.withKey {
		arrs = append(arrs, r.Column(s.n))
	}
	s.cur = array.NewRecordBatch(s.schema, arrs, r.NumRows())
	return true
}

func (s *sliceSource) Record() arrow.RecordBatch { return s.cur }
func (s *sliceSource) Err() error                { return nil }
func (s *sliceSource) Close() error {
	if s.cur != nil {
		s.cur.Release()
		s.cur = nil
	}
	return nil
}

// run executes a statement and returns its rows formatted as strings.
func (s *store) run(q string) ([][]string, *arrow.Schema, error) {
	return s.runWith(q, nil)
}

// runWith runs q with parameter values (Build when params is nil).
func (s *store) runWith(q string, params []scalar.Scalar) ([][]string, *arrow.Schema, error) {
	var p *Prepared
	var err error
	if s.cache != nil {
		p, err = s.cache.Prepare(q, s.cat)
	} else {
		p, err = Prepare(q, s.cat)
	}
	if err != nil {
		return nil, nil, err
	}
	switch p.Kind {
	case KindCreateTable:
		t, err := s.cat.Prepare(p.Create)
		if err != nil {
			return nil, nil, err
		}
		s.cat.Put(t)
		return nil, p.Schema, nil
	case KindDropTable:
		if p.Table != nil {
			s.cat.Remove(p.Table.Name)
		}
		return nil, p.Schema, nil
	case KindCreateView:
		v := *p.DDL.(*sql.CreateView).View
		s.nextID++
		v.ID = uint64(1000 + s.nextID)
		s.cat.PutView(&v)
		return nil, p.Schema, nil
	case KindDropView:
		for _, n := range p.DDL.(*sql.DropView).Names {
			s.cat.RemoveView(n)
		}
		return nil, p.Schema, nil
	}
	var op arrowexec.Operator
	var src SourceProvider = s
	if s.src != nil {
		src = s.src
	}
	if params == nil {
		op, err = p.Build(src)
	} else {
		op, err = p.BuildWith(src, params)
	}
	if err != nil {
		return nil, nil, err
	}
	defer op.Close()
	ctx := exec.WithAllocator(context.Background(), s.mem)
	if err := op.Open(ctx); err != nil {
		return nil, nil, err
	}
	var rows [][]string
	var keep []arrow.RecordBatch
	for {
		rec, err := op.Next()
		if err != nil {
			return nil, nil, err
		}
		if rec == nil {
			break
		}
		if !rec.Schema().Equal(op.Schema()) {
			return nil, nil, fmt.Errorf("batch schema %s differs from operator schema %s", rec.Schema(), op.Schema())
		}
		if p.Kind == KindQuery && !rec.Schema().Equal(p.Schema) {
			return nil, nil, fmt.Errorf("batch schema %s differs from prepared schema %s", rec.Schema(), p.Schema)
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			row := make([]string, rec.NumCols())
			for j, c := range rec.Columns() {
				if c.IsNull(i) {
					row[j] = "NULL"
				} else {
					row[j] = c.ValueStr(i)
				}
			}
			rows = append(rows, row)
		}
		if p.Kind == KindInsert {
			rec.Retain()
			keep = append(keep, rec)
		}
	}
	switch p.Kind {
	case KindInsert:
		for _, rec := range keep {
			s.insert(p.Table, rec)
			rec.Release()
		}
	}
	return rows, op.Schema(), nil
}

// insert stores rec with fresh keys, in batches of two rows so that scans
// see several batches.
func (s *store) insert(t *catalog.Table, rec arrow.RecordBatch) {
	chunk := int64(s.chunk)
	if chunk <= 0 {
		chunk = 2
	}
	for off := int64(0); off < rec.NumRows(); off += chunk {
		n := min(chunk, rec.NumRows()-off)
		// Copy the slice: sources hand out batches whose arrays start at
		// offset 0.
		sl := rec.NewSlice(off, off+n)
		cols := make([]arrow.Array, sl.NumCols())
		for j, c := range sl.Columns() {
			var err error
			if cols[j], err = array.Concatenate([]arrow.Array{c}, s.mem); err != nil {
				s.t.Fatal(err)
			}
		}
		sl.Release()
		part := array.NewRecordBatch(rec.Schema(), cols, n)
		for _, c := range cols {
			c.Release()
		}
		kb := array.NewBinaryBuilder(s.mem, arrow.BinaryTypes.Binary)
		for i := int64(0); i < n; i++ {
			s.nextID++
			kb.Append([]byte(fmt.Sprintf("k%06d", s.nextID)))
		}
		keys := kb.NewArray()
		kb.Release()
		fields := append(append([]arrow.Field(nil), t.Schema().Fields()...), arrow.Field{Name: "__key", Type: arrow.BinaryTypes.Binary})
		all := append(append([]arrow.Array(nil), part.Columns()...), keys)
		s.tables[t.ID] = append(s.tables[t.ID], array.NewRecordBatch(arrow.NewSchema(fields, nil), all, n))
		keys.Release()
		part.Release()
	}
}

func (s *store) mustRun(q string) [][]string {
	s.t.Helper()
	rows, _, err := s.run(q)
	if err != nil {
		s.t.Fatalf("%s: %v", q, err)
	}
	return rows
}

func format(rows [][]string) string {
	parts := make([]string, len(rows))
	for i, r := range rows {
		parts[i] = strings.Join(r, ",")
	}
	return strings.Join(parts, "|")
}

func setup(t *testing.T) *store {
	s := newStore(t)
	s.mustRun(`CREATE TABLE items (id BIGINT PRIMARY KEY, name VARCHAR(20) NOT NULL, qty INT, price DECIMAL(10,2),
		w REAL, score DOUBLE, cat SMALLINT, ok BOOLEAN, d DATE, ts TIMESTAMP)`)
	s.mustRun(`INSERT INTO items VALUES
		(1, 'apple', 10, 1.50, 0.5, 2.5, 1, true, DATE '2024-01-01', TIMESTAMP '2024-01-01 10:00:00'),
		(2, 'banana', 20, 0.25, 0.25, -1, 1, false, '2024-02-01', '2024-02-01 00:00:00'),
		(3, 'cherry', NULL, 10, NULL, NULL, 2, NULL, NULL, NULL),
		(4, 'date', 5, 3.333, 1, 1e2, 2, true, '2023-12-31', '2023-12-31 23:59:59.5'),
		(5, 'elder', 7, NULL, 2, 0, NULL, false, '2024-03-01', NULL)`)
	return s
}

func TestQueries(t *testing.T) {
	s := setup(t)
	for _, tc := range []struct {
		sql, want string
	}{
		{"select 1+1", "2"},
		{"select 1.5 * 2, 7 / 2, 7 % 3, -(3)", "3,3,1,-3"},
		{"select id, name from items where qty > 6 order by id", "1,apple|2,banana|5,elder"},
		{"select id from items where qty is null", "3"},
		{"select id from items where qty is not null and cat = 2", "4"},
		{"select id from items where name like '%e%' and not ok order by id", "5"},
		{"select id from items where id in (1, 3, 9) order by id desc", "3|1"},
		{"select id from items where id not in (1, 3, 9) order by id", "2|4|5"},
		{"select id from items where id not in (1, null)", ""},
		{"select id from items where price between 1 and 5 order by id", "1|4"},
		{"select id from items where price not between 1 and 5 order by id", "2|3"},
		{"select id from items where d >= '2024-01-01' and d < DATE '2024-03-01' order by id", "1|2"},
		{"select id from items where ts > '2024-01-01' order by id", "1|2"},
		{"select id, qty * 2 + 1, price * 2, w + score from items where id = 1", "1,21,3,3"},
		{"select count(*), count(qty), sum(qty), min(name), max(price), avg(qty) from items", "5,4,42,apple,10,10.5"},
		{"select count(*), sum(qty), min(name) from items where id > 100", "0,NULL,NULL"},
		{"select cat, count(*) as n, sum(qty) from items group by cat order by cat", "1,2,30|2,2,5|NULL,1,7"},
		{"select cat, count(*) from items group by 1 having count(*) > 1 order by 1 desc", "2,2|1,2"},
		{"select ok, count(*) c from items group by ok order by c desc, ok", "false,2|true,2|NULL,1"},
		{"select qty % 2 as parity, count(*) from items where qty is not null group by qty % 2 order by parity", "0,2|1,2"},
		{"select count(distinct cat), count(cat) from items", "2,4"},
		{"select distinct cat from items order by cat", "1|2|NULL"},
		{"select id from items order by qty desc, id limit 2", "3|2"},
		{"select id from items order by qty, id limit 2 offset 1", "5|1"},
		{"select id from items order by id limit 2 offset 4", "5"},
		{"select id from items limit 0", ""},
		{"select name from items order by score + 1 desc, id limit 1", "cherry"},
		{"select i.id as x from items i where i.qty = 5", "4"},
		{"select cast(qty as char), cast('12.5' as decimal(5,2)), cast(ts as date) from items where id = 4", "5,12.5,2023-12-31"},
		{`select "ID" from "ITEMS" where "Qty" = 20`, "2"},
		{"select * from items where id = 3", "3,cherry,NULL,10,NULL,NULL,2,NULL,NULL,NULL"},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			rows, _, err := s.run(tc.sql)
			if err != nil {
				t.Fatal(err)
			}
			if got := format(rows); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestDMLPlans(t *testing.T) {
	s := setup(t)
	rows, sch, err := s.run("update items set qty = qty + 1, name = 'x' where cat = 1")
	if err != nil {
		t.Fatal(err)
	}
	if sch.Field(0).Name != "__key" || sch.NumFields() != 11 || len(rows) != 2 || rows[0][3] != "11" || rows[0][2] != "x" {
		t.Fatalf("update: %s %v", sch, rows)
	}
	rows, sch, err = s.run("delete from items where qty < 10")
	if err != nil {
		t.Fatal(err)
	}
	if sch.NumFields() != 1 || len(rows) != 2 {
		t.Fatalf("delete: %s %v", sch, rows)
	}
	if got := s.scans[len(s.scans)-1]; len(got) != 1 || got[0] != 2 {
		t.Fatalf("delete scanned columns %v, want [2]", got)
	}
}

func TestProjectionPushdown(t *testing.T) {
	s := setup(t)
	for _, tc := range []struct {
		sql  string
		cols string
	}{
		{"select name from items where qty > 1", "[1 2]"},
		{"select count(*) from items", "[]"},
		{"select sum(price) from items group by cat", "[3 6]"},
		{"select id from items order by score limit 1", "[0 5]"},
		// Scans under joins read only what the join and the nodes above
		// it use.
		{"select a.name from items a join items b on a.id = b.cat where b.qty > 1", "[0 1] [2 6]"},
		{"select count(*) from items a, items b", "[] []"},
		{"select x.n from (select name as n, price * 2 as p from items) x join items y on x.n = y.name", "[1] [1]"},
		{"select id from items where id in (select cat from items where ok)", "[0] [6 7]"},
		{"select s from (select cat, sum(qty) as s from items group by cat) g where cat > 1", "[2 6]"},
	} {
		s.scans = nil
		s.mustRun(tc.sql)
		var got string
		for i, sc := range s.scans {
			if i > 0 {
				got += " "
			}
			got += fmt.Sprint(sc)
		}
		if got != tc.cols {
			t.Errorf("%s: scanned %s, want %s", tc.sql, got, tc.cols)
		}
	}
}

func TestPrepare(t *testing.T) {
	s := setup(t)
	p, err := Prepare("select id, percent_rank() over (order by id) from items", s.cat)
	if err == nil || sqlstate.CodeOf(err) != sqlstate.FeatureNotSupported {
		t.Fatalf("window: %v", err)
	}
	p, err = Prepare("select id, qty + 1 as q from items where 1 + 1 = 2 order by q limit 3", s.cat)
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind != KindQuery || p.CatalogVersion != s.cat.Version() {
		t.Fatalf("%+v", p)
	}
	want := "schema:\n  fields: 2\n    - id: type=int64\n    - q: type=int32, nullable"
	if got := p.Schema.String(); got != want {
		t.Fatalf("schema %q, want %q", got, want)
	}
	ex := p.Explain()
	for _, w := range []string{"TopN offset=0 count=3", "Project [id#0, (qty#1 + 1::INT)]\n    Scan items [id, qty]"} {
		if !strings.Contains(ex, w) {
			t.Errorf("explain lacks %q:\n%s", w, ex)
		}
	}
	p, err = Prepare("insert into items (id, name) values (9, 'z')", s.cat)
	if err != nil || p.Kind != KindInsert || p.Table.Name != "items" || p.Schema.NumFields() != 0 {
		t.Fatalf("%+v %v", p, err)
	}
	p, err = Prepare("drop table if exists nope", s.cat)
	if err != nil || p.Kind != KindDropTable || p.Table != nil || !p.IfExists {
		t.Fatalf("%+v %v", p, err)
	}
	if _, err := p.Build(s); err == nil {
		t.Fatal("DROP TABLE built operators")
	}
}

func TestRuntimeErrors(t *testing.T) {
	s := setup(t)
	for _, tc := range []struct {
		sql  string
		code sqlstate.Code
	}{
		{"select qty / 0 from items", sqlstate.DivisionByZero},
		{"select cast(name as signed) from items", sqlstate.InvalidText},
		{"insert into items (id, name, cat) values (10, 'z', 40000)", sqlstate.NumericOutOfRange},
		{"update items set cat = qty * 10000", sqlstate.NumericOutOfRange},
	} {
		_, _, err := s.run(tc.sql)
		if got := sqlstate.CodeOf(err); got != tc.code {
			t.Errorf("%s: %v, want %s", tc.sql, err, tc.code)
		}
	}
}
