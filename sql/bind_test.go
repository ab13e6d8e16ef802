package sql

import (
	"strings"
	"testing"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

func testCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	cat := catalog.New()
	tbl, err := cat.Prepare(&catalog.Table{Name: "T", Columns: []catalog.Column{
		{Name: "id", Type: catalog.Bigint},
		{Name: "s", Type: catalog.Smallint},
		{Name: "i", Type: catalog.Int},
		{Name: "r", Type: catalog.Real},
		{Name: "d", Type: catalog.Double},
		{Name: "m", Type: catalog.Decimal(10, 2)},
		{Name: "v", Type: catalog.Type{Kind: catalog.KindVarchar, Length: 5}},
		{Name: "dt", Type: catalog.Date},
		{Name: "ts", Type: catalog.Timestamp},
		{Name: "b", Type: catalog.Boolean},
		{Name: "nn", Type: catalog.Int, NotNull: true},
	}, PrimaryKey: []int{0}})
	if err != nil {
		t.Fatal(err)
	}
	cat.Put(tbl)
	return cat
}

func TestBindErrors(t *testing.T) {
	cat := testCatalog(t)
	for _, tc := range []struct {
		sql       string
		code      sqlstate.Code
		line, col int // 0: not checked
	}{
		{"selec 1", sqlstate.SyntaxError, 1, 1},
		{"select i from t where", sqlstate.SyntaxError, 0, 0},
		{"select i\nfrom t wher x", sqlstate.SyntaxError, 2, 13},
		{"", sqlstate.SyntaxError, 0, 0},
		{"select 1; select 2", sqlstate.FeatureNotSupported, 1, 11},
		{"select * from nope", sqlstate.UndefinedTable, 1, 15},
		{"select i,\n  zz from t", sqlstate.UndefinedColumn, 2, 3},
		{"select u.i from t", sqlstate.UndefinedTable, 1, 8},
		{"select t.i from t x", sqlstate.UndefinedTable, 0, 0},
		{"select i from t join t u on t.i = u.i", sqlstate.AmbiguousColumn, 0, 0},
		{"select (select i) from t", sqlstate.FeatureNotSupported, 0, 0},
		{"with recursive x as (select 1) select * from x", sqlstate.FeatureNotSupported, 0, 0},
		{"select i from t intersect all select i from t", sqlstate.FeatureNotSupported, 0, 0},
		{"select i from t union select i, s from t", sqlstate.SyntaxError, 0, 0},
		{"select i from t union select v from t", sqlstate.DatatypeMismatch, 0, 0},
		{"select i from t union select i from t order by 2", sqlstate.InvalidColumnRef, 0, 0},
		{"select i from t for update", sqlstate.FeatureNotSupported, 0, 0},
		{"select i from t where v = i", sqlstate.DatatypeMismatch, 0, 0},
		{"select i from t where i", sqlstate.DatatypeMismatch, 0, 0},
		{"select v + 1 from t", sqlstate.DatatypeMismatch, 0, 0},
		{"select i from t where dt = 'notadate'", sqlstate.InvalidDatetime, 0, 0},
		{"select i from t where i = 'x'", sqlstate.InvalidText, 0, 0},
		{"select i, count(*) from t", sqlstate.GroupingError, 1, 8},
		{"select i, count(*) from t group by s", sqlstate.GroupingError, 0, 0},
		{"select i from t where count(*) > 1", sqlstate.GroupingError, 0, 0},
		{"select sum(count(*)) from t", sqlstate.GroupingError, 0, 0},
		{"select count(*) from t group by 1", sqlstate.GroupingError, 0, 0},
		{"select sum(v) from t", sqlstate.UndefinedFunction, 0, 0},
		{"select foo(i) from t", sqlstate.UndefinedFunction, 0, 0},
		{"select i from t order by 3", sqlstate.InvalidColumnRef, 0, 0},
		{"select distinct i from t order by s", sqlstate.InvalidColumnRef, 0, 0},
		{"select i from t limit -1", sqlstate.SyntaxError, 0, 0},
		{"select *", sqlstate.SyntaxError, 0, 0},
		{"insert into t values (1)", sqlstate.SyntaxError, 0, 0},
		{"insert into t (id, zz) values (1, 2)", sqlstate.UndefinedColumn, 1, 20},
		{"insert into t (id, id) values (1, 2)", sqlstate.DuplicateColumn, 0, 0},
		{"insert into t (id, nn, s) values (1, 2, 100000)", sqlstate.NumericOutOfRange, 0, 0},
		{"insert into t (id, nn, dt) values (1, 2, '2024-13-01')", sqlstate.InvalidDatetime, 0, 0},
		{"insert into t (id, nn, v) values (1, 2, 'toolong')", sqlstate.StringDataTooLong, 0, 0},
		{"insert into t (id, nn, b) values (1, 2, 5)", sqlstate.DatatypeMismatch, 0, 0},
		{"insert into t (id, nn) values (1, null)", sqlstate.NotNullViolation, 0, 0},
		{"insert into t (id) values (1)", sqlstate.NotNullViolation, 0, 0},
		{"insert into t (id, nn) select 1, 2, 3", sqlstate.SyntaxError, 0, 0},
		{"insert into nope values (1)", sqlstate.UndefinedTable, 1, 13},
		{"update t set zz = 1", sqlstate.UndefinedColumn, 0, 0},
		{"update t set i = 1, i = 2", sqlstate.DuplicateColumn, 0, 0},
		{"update t set i = 'x'", sqlstate.InvalidText, 0, 0},
		{"update t set i = 1 limit 1", sqlstate.FeatureNotSupported, 0, 0},
		{"delete from t where zz = 1", sqlstate.UndefinedColumn, 0, 0},
		{"delete from t limit 1", sqlstate.FeatureNotSupported, 0, 0},
		{"drop table nope", sqlstate.UndefinedTable, 1, 12},
		{"drop table a, b", sqlstate.FeatureNotSupported, 0, 0},
		{"create table x (a int, a int)", sqlstate.DuplicateColumn, 0, 0},
		{"create table x (a int primary key, b int, primary key (b))", sqlstate.InvalidTableDef, 0, 0},
		{"create table x (a int, primary key (zz))", sqlstate.UndefinedColumn, 0, 0},
		{"create table x (a int, primary key (a, a))", sqlstate.InvalidTableDef, 0, 0},
		{"create table x (a decimal(50, 2))", sqlstate.InvalidColumnDef, 0, 0},
		{"create table x (a int default 5)", sqlstate.FeatureNotSupported, 0, 0},
		{"create table x (a int, unique key (a))", sqlstate.FeatureNotSupported, 0, 0},
		{"create table x (a int) engine=innodb", sqlstate.FeatureNotSupported, 0, 0},
		{"create table x as select i, i from t", sqlstate.DuplicateColumn, 0, 0},
		{"create table x as select null as n", sqlstate.IndeterminateDatatype, 0, 0},
		{"create view x as select 1 with check option", sqlstate.FeatureNotSupported, 1, 32},
		{"create view x (a, b) as select 1", sqlstate.InvalidTableDef, 0, 0},
		{"create view t as select 1", sqlstate.DuplicateTable, 1, 13},
		{"drop view t", sqlstate.WrongObjectType, 1, 11},
		{"drop view nosuch", sqlstate.UndefinedTable, 1, 11},
		{"truncate nosuch", sqlstate.UndefinedTable, 1, 10},
		{"insert ignore into t (id, nn) values (1, 2) on duplicate key update i = 2", sqlstate.FeatureNotSupported, 1, 8},
		{"insert into t (id, nn) values (1, 2) on duplicate key update zz = 2", sqlstate.UndefinedColumn, 1, 62},
		{"insert into t (id, nn) values (1, 2) on duplicate key update i = (select 1)", sqlstate.FeatureNotSupported, 1, 67},
		{"select values(i) from t", sqlstate.FeatureNotSupported, 1, 8},
		{"alter table t add column z int first", sqlstate.FeatureNotSupported, 0, 0},
		{"alter table t add column z int default (1 + 2)", sqlstate.FeatureNotSupported, 1, 32},
		{"alter table t add column z int default 'x'", sqlstate.InvalidText, 0, 0},
		{"alter table nosuch add column z int", sqlstate.UndefinedTable, 1, 13},
		{"alter table t modify column i bigint", sqlstate.FeatureNotSupported, 0, 0},
		{"create index ix on t (zz)", sqlstate.UndefinedColumn, 1, 23},
		{"create index ix on t (i, s)", sqlstate.FeatureNotSupported, 0, 0},
		{"create unique index ix on t (i)", sqlstate.FeatureNotSupported, 1, 8},
		{"drop index nosuch on t", sqlstate.UndefinedObject, 1, 12},
		{"select 99999999999999999999999999999999999999999", sqlstate.NumericOutOfRange, 0, 0},
		{"select time '10:00'", sqlstate.FeatureNotSupported, 0, 0},
		{"select i from t where i = :name", sqlstate.FeatureNotSupported, 0, 0},
		{"select sum(?) from t", sqlstate.IndeterminateDatatype, 0, 0},
		{"select i from t where i = ? and s = $1", sqlstate.SyntaxError, 1, 27},
		{"select i from t where ? is null", sqlstate.IndeterminateDatatype, 0, 0},
		{"select i from t order by i nulls", sqlstate.SyntaxError, 0, 0},
		{"select i | 1 from t", sqlstate.FeatureNotSupported, 0, 0},
		{"show tables", sqlstate.FeatureNotSupported, 0, 0},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			_, err := ParseAndBind(tc.sql, cat)
			if err == nil {
				t.Fatalf("no error, want %s", tc.code)
			}
			e := sqlstate.From(err)
			if e == nil {
				t.Fatalf("error %v is not a *sqlstate.Error", err)
			}
			if e.Code != tc.code {
				t.Fatalf("code %s (%v), want %s", e.Code, err, tc.code)
			}
			if tc.line > 0 && (e.Line != tc.line || e.Column != tc.col) {
				t.Fatalf("position %d:%d (%v), want %d:%d", e.Line, e.Column, err, tc.line, tc.col)
			}
		})
	}
}

func queryColumns(t *testing.T, cat *catalog.Catalog, q string) []Column {
	t.Helper()
	st, err := ParseAndBind(q, cat)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	qs, ok := st.(*Query)
	if !ok {
		t.Fatalf("%s: %T is not a query", q, st)
	}
	return qs.Plan.Columns()
}

func TestResultTypes(t *testing.T) {
	cat := testCatalog(t)
	for _, tc := range []struct {
		sql  string
		want string // name:TYPE[?] per column, '?' when nullable
	}{
		{"select 1+1", "1+1:BIGINT"},
		{"select 1.5, 1e3, 'x', DATE '2024-01-01', TIMESTAMP '2024-01-01 10:00:00', true, null", "1.5:DECIMAL(2,1) 1e3:DOUBLE x:VARCHAR DATE '2024-01-01':DATE TIMESTAMP '2024-01-01 10:00:00':TIMESTAMP true:BOOLEAN null:VARCHAR?"},
		{"select -5, - 5 as m", "-5:BIGINT m:BIGINT"},
		{"select * from t", "id:BIGINT s:SMALLINT? i:INT? r:REAL? d:DOUBLE? m:DECIMAL(10,2)? v:VARCHAR(5)? dt:DATE? ts:TIMESTAMP? b:BOOLEAN? nn:INT"},
		{"select x.nn as n, i + 1, s + 1, s + i, nn * 2, r + 1, r + d, m + 1, m * m, m / 2, i + 1.5 from t x",
			"n:INT i + 1:INT? s + 1:SMALLINT? s + i:INT? nn * 2:INT r + 1:REAL? r + d:DOUBLE? m + 1:DECIMAL(11,2)? m * m:DECIMAL(20,4)? m / 2:DECIMAL(38,6)? i + 1.5:DECIMAL(12,1)?"},
		{"select count(*), count(i), sum(i), sum(d), sum(m), min(v), max(dt), avg(i) from t",
			"count(*):BIGINT count(i):BIGINT sum(i):BIGINT? sum(d):DOUBLE? sum(m):DECIMAL(38,2)? min(v):VARCHAR(5)? max(dt):DATE? avg(i):DOUBLE?"},
		{"select nn, sum(nn), sum(i), count(distinct i) from t group by nn", "nn:INT sum(nn):BIGINT sum(i):BIGINT? count(distinct i):BIGINT"},
		{"select i % 3 as k, count(*) from t group by 1 order by k desc", "k:INT? count(*):BIGINT"},
		{"select i % 3 as k, count(*) c from t group by i % 3 having count(*) > 1 order by c", "k:INT? c:BIGINT"},
		{"select distinct v from t order by v limit 3 offset 1", "v:VARCHAR(5)?"},
		{"select i from t order by s, d desc", "i:INT?"},
		{"select cast(i as char), cast(v as decimal(5,2)), cast(ts as date), cast(i as double), cast(i as signed) from t",
			"cast(i as char):VARCHAR? cast(v as decimal(5,2)):DECIMAL(5,2)? cast(ts as date):DATE? cast(i as double):DOUBLE? cast(i as signed):BIGINT?"},
		{"select i is null, i in (1, 2), v like 'a%', i between 1 and 2, not b from t",
			"i is null:BOOLEAN i in (1, 2):BOOLEAN? v like 'a%':BOOLEAN? i between 1 and 2:BOOLEAN? not b:BOOLEAN?"},
		{`select "I" from "t"`, "I:INT?"},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			cols := queryColumns(t, cat, tc.sql)
			var parts []string
			for _, c := range cols {
				s := c.Name + ":" + c.Type.String()
				if c.Nullable {
					s += "?"
				}
				parts = append(parts, s)
			}
			if got := strings.Join(parts, " "); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestPlans(t *testing.T) {
	cat := testCatalog(t)
	for _, tc := range []struct {
		sql  string
		want []string // substrings of the formatted plan, in order
	}{
		{"select i from t where s = 7", []string{"Project [i#2]", "Filter (s#1 = 7::SMALLINT)", "Scan T"}},
		{"select i from t where s = 100000", []string{"Filter (CAST(s#1 AS BIGINT) = 100000)"}},
		{"select i from t where m > 1", []string{"Filter (m#5 > 1.00::DECIMAL(10,2))"}},
		{"select i from t where dt >= '2024-01-01' and ts < DATE '2024-02-01'", []string{"(dt#7 >= DATE '2024-01-01')", "(ts#8 < TIMESTAMP '2024-02-01 00:00:00"}},
		{"select i from t where i not in (1, '2') or v not like 'a%'", nil},
		{"select i from t order by d + 1 limit 2", []string{"Project [i#0]", "Limit offset=0 count=2", "Sort __sort1#1 ASC NULLS LAST", "Project [i#2, (d#4 + 1"}},
		{"select i, count(*) from t group by i order by count(*) desc", []string{"Sort count(*)#1 DESC NULLS FIRST", "Project [i#0, agg0#1]", "Aggregate groups=[i#2] aggs=[count(*)]"}},
		{"select distinct s from t", []string{"Aggregate groups=[s#0] aggs=[]", "Project [s#1]"}},
		{"select 1", []string{"Project [1]", "Values 1 rows x 0 columns"}},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			st, err := ParseAndBind(tc.sql, cat)
			if err != nil {
				t.Fatal(err)
			}
			plan := Format(st.(*Query).Plan)
			rest := plan
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("plan lacks %q (in order):\n%s", w, plan)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

func TestDML(t *testing.T) {
	cat := testCatalog(t)
	st, err := ParseAndBind("insert into T (nn, id, v, dt, ts, m, s) values (1, 2, 'ab', '2024-01-02', '2024-01-02 03:04:05', 1.5, -3), (2, 3, null, null, null, null, null)", cat)
	if err != nil {
		t.Fatal(err)
	}
	ins := st.(*Insert)
	vals := ins.Plan.(*Values)
	if len(vals.Rows) != 2 || len(vals.Rows[0]) != 11 {
		t.Fatalf("rows %d x %d", len(vals.Rows), len(vals.Rows[0]))
	}
	want := []string{"2", "-3::SMALLINT", "NULL", "NULL", "NULL", "1.50::DECIMAL(10,2)", "'ab'", "DATE '2024-01-02'", "TIMESTAMP '2024-01-02 03:04:05", "NULL", "1::INT"}
	for i, e := range vals.Rows[0] {
		if !strings.HasPrefix(e.String(), want[i]) {
			t.Errorf("col %d: %s, want %s", i, e, want[i])
		}
		if e.Type() != ins.Table.Columns[i].Type {
			t.Errorf("col %d: type %s, want %s", i, e.Type(), ins.Table.Columns[i].Type)
		}
	}

	st, err = ParseAndBind("update t set i = i + 1, v = 'x' where id = 3", cat)
	if err != nil {
		t.Fatal(err)
	}
	up := st.(*Update)
	cols := up.Plan.Columns()
	if len(cols) != 12 || cols[0].Name != KeyColumnName || cols[3].Name != "i" {
		t.Fatalf("update columns %v", cols)
	}
	if got := Format(up.Plan); !strings.Contains(got, "(i#2 + 1::INT)") || !strings.Contains(got, "Filter (id#0 = 3)") {
		t.Fatalf("update plan:\n%s", got)
	}

	st, err = ParseAndBind("delete from t where v is null", cat)
	if err != nil {
		t.Fatal(err)
	}
	if cols := st.(*Delete).Plan.Columns(); len(cols) != 1 || cols[0].Name != KeyColumnName {
		t.Fatalf("delete columns %v", cols)
	}
}

func TestDDL(t *testing.T) {
	cat := testCatalog(t)
	st, err := ParseAndBind(`create table if not exists "Orders" (a int primary key, b varchar(10) not null, c decimal(10,2), d double precision, e text, f timestamp, g date, h real, i smallint, j bigint, k boolean, l numeric)`, cat)
	if err != nil {
		t.Fatal(err)
	}
	ct := st.(*CreateTable)
	if !ct.IfNotExists || ct.Table.Name != "Orders" || len(ct.Table.Columns) != 12 {
		t.Fatalf("%+v", ct)
	}
	var types []string
	for _, c := range ct.Table.Columns {
		types = append(types, c.Type.String())
	}
	if got, want := strings.Join(types, ","), "INT,VARCHAR(10),DECIMAL(10,2),DOUBLE,VARCHAR,TIMESTAMP,DATE,REAL,SMALLINT,BIGINT,BOOLEAN,DECIMAL(38,9)"; got != want {
		t.Fatalf("types %s, want %s", got, want)
	}
	if !ct.Table.Columns[0].NotNull || !ct.Table.Columns[1].NotNull || ct.Table.Columns[2].NotNull {
		t.Fatal("nullability")
	}
	st, err = ParseAndBind("create table x (a int, b varchar(3), c date, primary key (b, a))", cat)
	if err != nil {
		t.Fatal(err)
	}
	if pk := st.(*CreateTable).Table.PrimaryKey; len(pk) != 2 || pk[0] != 1 || pk[1] != 0 {
		t.Fatalf("primary key %v", pk)
	}
	st, err = ParseAndBind("drop table if exists nope", cat)
	if err != nil {
		t.Fatal(err)
	}
	if d := st.(*DropTable); d.Table != nil || !d.IfExists {
		t.Fatalf("%+v", d)
	}
	st, err = ParseAndBind("DROP TABLE t;", cat)
	if err != nil {
		t.Fatal(err)
	}
	if d := st.(*DropTable); d.Table == nil || d.Table.Name != "T" {
		t.Fatalf("%+v", d)
	}
}
