package main

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
)

// This file holds the query generator of the differential test
// (difftest_test.go): random queries over a few small tables, written once
// and run on MantisDB and DuckDB, whose results must agree.
//
// The generator writes SQL both engines read the same way. Where their
// dialects differ it narrows what it writes, and every such narrowing is a
// comment here and a line in docs/sql.md ("Differences from DuckDB"):
//
//   - Integer division: MantisDB's / of two integers truncates; DuckDB's /
//     is a floating-point division in some versions and settings, // always
//     the truncating one. The generator writes the marker dtIntDiv, which
//     each engine's text replaces.
//   - Division and modulo by zero: 22012 in MantisDB, NULL in DuckDB. Every
//     divisor is wrapped in NULLIF(divisor, 0).
//   - DATE ± INTERVAL and DATE_TRUNC are DATE in MantisDB and TIMESTAMP in
//     DuckDB: the generator casts them back to DATE.
//   - ORDER BY without NULLS FIRST/LAST: DuckDB puts NULLs last in both
//     directions, MantisDB (like PostgreSQL) first for DESC. Every ORDER BY
//     key, in queries and windows, says where its NULLs go.
//   - x / y of two DECIMALs is DECIMAL(38, max(6, s1)) in MantisDB and DOUBLE
//     in DuckDB: it appears only as a result column, compared within half a
//     unit of the decimal's last digit.
//   - Floating-point text (CAST(double AS VARCHAR)) is formatted differently
//     and is not generated.

// dtIntDiv marks an integer division in generated text: "/" for MantisDB,
// "//" for DuckDB.
const dtIntDiv = "/*idiv*/"

// dtType is the type class of a generated expression.
type dtType uint8

const (
	dtInt dtType = iota
	dtDec
	dtDbl
	dtStr
	dtDate
	dtBool
	dtNumTypes
)

// sqlName is the SQL type a CAST to the class names.
func (t dtType) sqlName() string {
	return [...]string{"BIGINT", "DECIMAL(12,2)", "DOUBLE", "VARCHAR", "DATE", "BOOLEAN"}[t]
}

// dtCol is a column a generated expression may refer to.
type dtCol struct {
	ref string // as written in the query: "a.k" or "k"
	typ dtType
}

// dtScope is what the expressions of one query level may refer to.
type dtScope struct {
	cols []dtCol
	// outer are the columns of the enclosing query a correlated subquery
	// may refer to.
	outer []dtCol
	// subq allows subqueries in the expression.
	subq bool
}

func (s *dtScope) ofType(t dtType) []dtCol {
	var out []dtCol
	for _, c := range s.cols {
		if c.typ == t {
			out = append(out, c)
		}
	}
	return out
}

// dtTableDef is a base table of the test.
type dtTableDef struct {
	name string
	cols []dtCol // unqualified
	// key are the columns that identify a row (all of them for a table
	// without a primary key: equal rows are indistinguishable).
	key []string
}

// dtTables are the tables of the test; their rows come from dtData.
var dtTables = []dtTableDef{
	{name: "t1", cols: []dtCol{{"id", dtInt}, {"k", dtInt}, {"i", dtInt}, {"d", dtDec}, {"f", dtDbl}, {"s", dtStr}, {"dt", dtDate}, {"b", dtBool}}, key: []string{"id"}},
	{name: "t2", cols: []dtCol{{"id", dtInt}, {"k", dtInt}, {"i", dtInt}, {"d", dtDec}, {"s", dtStr}, {"dt", dtDate}}, key: []string{"id"}},
	{name: "t3", cols: []dtCol{{"k", dtInt}, {"i", dtInt}, {"s", dtStr}, {"b", dtBool}}, key: []string{"k", "i", "s", "b"}},
	{name: "t4", cols: []dtCol{{"k", dtInt}, {"i", dtInt}, {"s", dtStr}, {"b", dtBool}}, key: []string{"k", "i", "s", "b"}},
}

// dtDDL creates the tables, the same text for both engines.
var dtDDL = []string{
	"CREATE TABLE t1 (id BIGINT PRIMARY KEY, k INT, i BIGINT, d DECIMAL(9,2), f DOUBLE, s VARCHAR, dt DATE, b BOOLEAN)",
	"CREATE TABLE t2 (id BIGINT PRIMARY KEY, k INT, i BIGINT, d DECIMAL(9,2), s VARCHAR, dt DATE)",
	"CREATE TABLE t3 (k INT, i BIGINT, s VARCHAR, b BOOLEAN)",
	"CREATE TABLE t4 (k INT, i BIGINT, s VARCHAR, b BOOLEAN)",
}

// dtWrites run on both engines after the load, so that compacted tables
// also have deleted and updated rows (segment delete bitmaps).
var dtWrites = []string{
	"DELETE FROM t1 WHERE id % 7 = 3",
	"UPDATE t1 SET i = i + 1, s = 'upd' WHERE id % 5 = 1",
	"INSERT INTO t3 VALUES (NULL, NULL, NULL, NULL), (2, -5, '', TRUE)",
	"DELETE FROM t2 WHERE id = 4",
}

// dtRelation is a FROM item as the generator sees it: a base table or a
// derived table, with the alias its columns are qualified with.
type dtRelation struct {
	sql   string // "t1 AS a" or "(SELECT ...) AS a"
	alias string
	cols  []dtCol // unqualified
	key   []string
}

// dtQuery is one generated query and how to compare its result.
type dtQuery struct {
	sql string
	// kind names the query's shape, for the statistics of a run.
	kind string
	// orderKeys are the result columns (0-based) the rows are ordered by;
	// nil compares the results as multisets.
	orderKeys []int
	// limited says whether a LIMIT/OFFSET may cut through rows that tie on
	// orderKeys.
	limited bool
}

// dtGen generates queries. It is not safe for concurrent use.
type dtGen struct {
	r     *rand.Rand
	alias int
}

func (g *dtGen) n(n int) int            { return g.r.IntN(n) }
func (g *dtGen) p(pct int) bool         { return g.r.IntN(100) < pct }
func (g *dtGen) pick(s []string) string { return s[g.r.IntN(len(s))] }

func (g *dtGen) newAlias() string {
	g.alias++
	return "x" + strconv.Itoa(g.alias)
}

// literal returns a constant of type t, sometimes a typed NULL.
func (g *dtGen) literal(t dtType) string {
	if g.p(5) {
		return "CAST(NULL AS " + t.sqlName() + ")"
	}
	switch t {
	case dtInt:
		return g.pick([]string{"0", "1", "2", "3", "-1", "-7", "10", "100", "5"})
	case dtDec:
		return g.pick([]string{"1.50", "-0.25", "0.00", "12.5", "3.14", "-10.05", "99.99"})
	case dtDbl:
		return g.pick([]string{"2.5e0", "-1e1", "0e0", "0.125e0", "1e2"})
	case dtStr:
		return g.pick([]string{"''", "'a'", "'ab'", "'B'", "'x y'", "'abc'", "'upd'"})
	case dtDate:
		return g.pick([]string{"DATE '2024-01-01'", "DATE '2024-02-29'", "DATE '2023-12-31'", "DATE '2024-03-15'"})
	default:
		return g.pick([]string{"TRUE", "FALSE"})
	}
}

// column returns a column of type t from sc, or "" when there is none.
func (g *dtGen) column(sc *dtScope, t dtType) string {
	cs := sc.ofType(t)
	if len(cs) == 0 {
		return ""
	}
	return cs[g.n(len(cs))].ref
}

// leaf returns a column (mostly) or a literal of type t.
func (g *dtGen) leaf(sc *dtScope, t dtType) string {
	if g.p(75) {
		if c := g.column(sc, t); c != "" {
			return c
		}
	}
	return g.literal(t)
}

// expr returns a scalar expression of type t, nested at most d levels.
func (g *dtGen) expr(sc *dtScope, t dtType, d int) string {
	if d <= 0 || g.p(30) {
		return g.leaf(sc, t)
	}
	d--
	// Forms every type has.
	switch g.n(12) {
	case 0:
		return fmt.Sprintf("CASE WHEN %s THEN %s ELSE %s END", g.pred(sc, d), g.expr(sc, t, d), g.expr(sc, t, d))
	case 1:
		return fmt.Sprintf("COALESCE(%s, %s)", g.expr(sc, t, d), g.expr(sc, t, d))
	case 2:
		if t != dtBool {
			return fmt.Sprintf("NULLIF(%s, %s)", g.expr(sc, t, d), g.expr(sc, t, d))
		}
	case 3:
		if t != dtBool && t != dtDbl {
			return fmt.Sprintf("CASE %s WHEN %s THEN %s WHEN %s THEN %s END", g.expr(sc, t, d), g.literal(t), g.expr(sc, t, d), g.literal(t), g.expr(sc, t, d))
		}
	case 4:
		if sc.subq && t != dtBool && g.p(30) {
			return g.scalarSubquery(sc, t)
		}
	}
	switch t {
	case dtInt:
		a, b := g.expr(sc, dtInt, d), g.expr(sc, dtInt, d)
		switch g.n(13) {
		case 0, 1:
			return "(" + a + " + " + b + ")"
		case 2, 3:
			return "(" + a + " - " + b + ")"
		case 4:
			return "(" + a + " * " + b + ")"
		case 5:
			return "(" + a + " " + dtIntDiv + " NULLIF(" + b + ", 0))"
		case 6:
			return "(" + a + " % NULLIF(" + b + ", 0))"
		case 7:
			return "ABS(" + a + ")"
		case 8:
			return "LENGTH(" + g.expr(sc, dtStr, d) + ")"
		case 9:
			return "EXTRACT(" + g.pick([]string{"YEAR", "MONTH", "DAY"}) + " FROM " + g.expr(sc, dtDate, d) + ")"
		case 10:
			return "CAST(" + g.expr(sc, dtDec, d) + " AS BIGINT)"
		case 11:
			return "(- " + a + ")"
		default:
			return "CAST(" + g.expr(sc, dtDbl, d) + " AS INT)"
		}
	case dtDec:
		a, b := g.expr(sc, dtDec, d), g.expr(sc, dtDec, d)
		switch g.n(8) {
		case 0, 1:
			return "(" + a + " + " + b + ")"
		case 2:
			return "(" + a + " - " + b + ")"
		case 3:
			return "(" + a + " * " + g.pick([]string{"2", "-3", "0.5"}) + ")"
		case 4:
			return "ROUND(" + a + ", " + g.pick([]string{"0", "1"}) + ")"
		case 5:
			return "ABS(" + a + ")"
		case 6:
			return "CAST(" + g.expr(sc, dtInt, d) + " AS DECIMAL(12,2))"
		default:
			return "(- " + a + ")"
		}
	case dtDbl:
		a, b := g.expr(sc, dtDbl, d), g.expr(sc, dtDbl, d)
		switch g.n(7) {
		case 0, 1:
			return "(" + a + " + " + b + ")"
		case 2:
			return "(" + a + " - " + b + ")"
		case 3:
			return "(" + a + " * " + b + ")"
		case 4:
			return "SQRT(ABS(" + a + "))"
		case 5:
			return "CAST(" + g.expr(sc, dtInt, d) + " AS DOUBLE)"
		default:
			return "ABS(" + a + ")"
		}
	case dtStr:
		a := g.expr(sc, dtStr, d)
		switch g.n(10) {
		case 0:
			return "UPPER(" + a + ")"
		case 1:
			return "LOWER(" + a + ")"
		case 2:
			return "(" + a + " || " + g.expr(sc, dtStr, d) + ")"
		case 3:
			return "CONCAT(" + a + ", " + g.expr(sc, dtStr, d) + ")"
		case 4:
			return "SUBSTRING(" + a + ", " + g.pick([]string{"1", "2", "0"}) + ", " + g.pick([]string{"1", "2", "5"}) + ")"
		case 5:
			return "TRIM(" + a + ")"
		case 6:
			return "REPLACE(" + a + ", 'a', 'zz')"
		case 7:
			return "CAST(" + g.expr(sc, dtInt, d) + " AS VARCHAR)"
		case 8:
			return "CAST(" + g.expr(sc, dtDate, d) + " AS VARCHAR)"
		default:
			// A column or literal only: the scale of computed decimals
			// differs (d * 3 has scale 2s in MantisDB, where the literal
			// takes the column's type, and s in DuckDB), and the text
			// shows it.
			return "CAST(" + g.leaf(sc, dtDec) + " AS VARCHAR)"
		}
	case dtDate:
		a := g.expr(sc, dtDate, d)
		switch g.n(3) {
		case 0:
			return fmt.Sprintf("CAST(%s %s INTERVAL '%d' %s AS DATE)", a, g.pick([]string{"+", "-"}), g.n(40), g.pick([]string{"DAY", "MONTH", "YEAR"}))
		case 1:
			return "CAST(DATE_TRUNC('" + g.pick([]string{"month", "year"}) + "', " + a + ") AS DATE)"
		default:
			return a
		}
	}
	return "(" + g.pred(sc, d) + ")"
}

// cmpTypes are the types comparisons are generated over.
var cmpTypes = []dtType{dtInt, dtInt, dtDec, dtDbl, dtStr, dtDate, dtBool}

// pred returns a BOOLEAN expression.
func (g *dtGen) pred(sc *dtScope, d int) string {
	if d <= 0 {
		if c := g.column(sc, dtBool); c != "" && g.p(20) {
			return c
		}
		t := cmpTypes[g.n(len(cmpTypes))]
		return g.leaf(sc, t) + " " + g.pick([]string{"=", "<>", "<", "<=", ">", ">="}) + " " + g.leaf(sc, t)
	}
	d--
	t := cmpTypes[g.n(len(cmpTypes))]
	switch g.n(14) {
	case 0, 1, 2:
		return g.expr(sc, t, d) + " " + g.pick([]string{"=", "<>", "<", "<=", ">", ">=", "!="}) + " " + g.expr(sc, t, d)
	case 3:
		return "(" + g.pred(sc, d) + " AND " + g.pred(sc, d) + ")"
	case 4:
		return "(" + g.pred(sc, d) + " OR " + g.pred(sc, d) + ")"
	case 5:
		return "NOT (" + g.pred(sc, d) + ")"
	case 6:
		return g.expr(sc, t, d) + g.pick([]string{" IS NULL", " IS NOT NULL"})
	case 7:
		if t == dtBool {
			t = dtInt
		}
		return g.expr(sc, t, d) + g.pick([]string{" BETWEEN ", " NOT BETWEEN "}) + g.leaf(sc, t) + " AND " + g.leaf(sc, t)
	case 8:
		if t == dtBool {
			t = dtStr
		}
		items := make([]string, 1+g.n(4))
		for i := range items {
			if g.p(15) {
				items[i] = "NULL"
			} else {
				items[i] = g.literal(t)
			}
		}
		return g.expr(sc, t, d) + g.pick([]string{" IN (", " NOT IN ("}) + strings.Join(items, ", ") + ")"
	case 9:
		pat := g.pick([]string{"'a%'", "'%b'", "'_'", "'%'", "'a_c'", "''", "'%a%'", "'B%'"})
		return g.expr(sc, dtStr, d) + g.pick([]string{" LIKE ", " NOT LIKE ", " ILIKE "}) + pat
	case 10:
		if sc.subq {
			// Uncorrelated IN and EXISTS (correlated or not) may stand
			// anywhere in an expression (mark joins).
			if g.p(50) {
				return g.inSubquery(sc, false)
			}
			return g.exists(sc)
		}
	case 11:
		if sc.subq && t != dtBool {
			return g.expr(sc, t, d) + " " + g.pick([]string{"=", "<", ">="}) + " " + g.scalarSubquery(sc, t)
		}
	}
	return g.expr(sc, t, d) + " " + g.pick([]string{"=", "<>", "<", ">"}) + " " + g.expr(sc, t, d)
}

// baseRelation returns a base table under a fresh alias.
func (g *dtGen) baseRelation(tables []dtTableDef) dtRelation {
	t := tables[g.n(len(tables))]
	a := g.newAlias()
	return dtRelation{sql: t.name + " AS " + a, alias: a, cols: t.cols, key: t.key}
}

// someTable picks a base table, the empty t4 rarely.
func (g *dtGen) someTable() []dtTableDef {
	if g.p(5) {
		return dtTables[3:]
	}
	return dtTables[:3]
}

func (r dtRelation) scope() []dtCol {
	out := make([]dtCol, len(r.cols))
	for i, c := range r.cols {
		out[i] = dtCol{ref: r.alias + "." + c.ref, typ: c.typ}
	}
	return out
}

// subScope returns the scope of a subquery over rel inside sc: sc's
// columns become outer columns.
func (g *dtGen) subScope(sc *dtScope, rel dtRelation) *dtScope {
	return &dtScope{cols: rel.scope(), outer: sc.cols}
}

// correlation returns an equality between a column of inner and one of
// outer of the same type, or "".
func (g *dtGen) correlation(inner, outer []dtCol) string {
	for range 4 {
		o := outer[g.n(len(outer))]
		var same []dtCol
		for _, c := range inner {
			if c.typ == o.typ && c.typ != dtBool && c.typ != dtDbl {
				same = append(same, c)
			}
		}
		if len(same) > 0 {
			return same[g.n(len(same))].ref + " = " + o.ref
		}
	}
	return ""
}

// inSubquery returns x [NOT] IN (SELECT ...). A correlated one is allowed
// only as a WHERE conjunct (correlated: top).
func (g *dtGen) inSubquery(sc *dtScope, correlated bool) string {
	rel := g.baseRelation(g.someTable())
	in := g.subScope(sc, rel)
	t := cmpTypes[g.n(len(cmpTypes)-1)]
	col := g.column(in, t)
	if col == "" {
		t, col = dtInt, g.column(in, dtInt)
	}
	where := ""
	if g.p(60) {
		where = " WHERE " + g.pred(in, 1)
	}
	not := ""
	if g.p(40) && !correlated {
		not = "NOT "
	}
	if correlated {
		if c := g.correlation(in.cols, sc.cols); c != "" {
			if where == "" {
				where = " WHERE " + c
			} else {
				where += " AND " + c
			}
		}
	}
	return fmt.Sprintf("%s %sIN (SELECT %s FROM %s%s)", g.expr(sc, t, 1), not, col, rel.sql, where)
}

// exists returns [NOT] EXISTS (SELECT ...), correlated most of the time.
func (g *dtGen) exists(sc *dtScope) string {
	rel := g.baseRelation(g.someTable())
	in := g.subScope(sc, rel)
	var conds []string
	if g.p(75) {
		if c := g.correlation(in.cols, sc.cols); c != "" {
			conds = append(conds, c)
		}
	}
	if g.p(60) {
		conds = append(conds, g.pred(in, 1))
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	not := ""
	if g.p(40) {
		not = "NOT "
	}
	return fmt.Sprintf("%sEXISTS (SELECT 1 FROM %s%s)", not, rel.sql, where)
}

// scalarSubquery returns an uncorrelated subquery of one row and column of
// type t: an aggregate, or a LIMIT 1 over a total order.
func (g *dtGen) scalarSubquery(sc *dtScope, t dtType) string {
	rel := g.baseRelation(g.someTable())
	in := &dtScope{cols: rel.scope()}
	where := ""
	if g.p(50) {
		where = " WHERE " + g.pred(in, 1)
	}
	switch t {
	case dtInt:
		if g.p(50) {
			return fmt.Sprintf("(SELECT COUNT(*) FROM %s%s)", rel.sql, where)
		}
	case dtDbl:
		if c := g.column(in, dtInt); c != "" {
			return fmt.Sprintf("(SELECT AVG(%s) FROM %s%s)", c, rel.sql, where)
		}
	}
	c := g.column(in, t)
	if c == "" {
		return g.literal(t)
	}
	return fmt.Sprintf("(SELECT %s(%s) FROM %s%s)", g.pick([]string{"MIN", "MAX"}), c, rel.sql, where)
}

// correlatedScalar returns x op (SELECT agg(...) FROM ... WHERE inner =
// outer), a WHERE conjunct.
func (g *dtGen) correlatedScalar(sc *dtScope) string {
	rel := g.baseRelation(g.someTable())
	in := g.subScope(sc, rel)
	c := g.correlation(in.cols, sc.cols)
	if c == "" {
		return g.pred(sc, 1)
	}
	ic := g.column(in, dtInt)
	if ic == "" {
		return g.pred(sc, 1)
	}
	// COUNT inside a larger expression of a correlated scalar subquery is
	// 0A000 in MantisDB (not yet); a bare COUNT works.
	agg := g.pick([]string{"MAX(" + ic + ")", "MIN(" + ic + ")", "SUM(" + ic + ")", "AVG(" + ic + ")", "COUNT(*)", "COUNT(" + ic + ")"})
	return fmt.Sprintf("%s %s (SELECT %s FROM %s WHERE %s)", g.expr(sc, dtDec, 1), g.pick([]string{"=", "<", ">", "<="}), agg, rel.sql, c)
}

// where returns a WHERE clause (with its keyword) or "".
func (g *dtGen) where(sc *dtScope, subq bool) string {
	if g.p(25) {
		return ""
	}
	var conds []string
	inner := *sc
	inner.subq = subq
	conds = append(conds, g.pred(&inner, 2))
	if subq && g.p(40) {
		switch g.n(4) {
		case 0:
			conds = append(conds, g.inSubquery(sc, true))
		case 1:
			conds = append(conds, g.inSubquery(sc, false))
		case 2:
			conds = append(conds, g.exists(sc))
		default:
			conds = append(conds, g.correlatedScalar(sc))
		}
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// from returns the FROM clause of a query: one relation or a join, and the
// scope it makes.
func (g *dtGen) from(depth int) (string, *dtScope, [][]string, string) {
	rel := g.relation(depth)
	sc := &dtScope{cols: rel.scope()}
	keys := [][]string{qualify(rel.alias, rel.key)}
	text := rel.sql
	kind := "scan"
	if g.p(40) {
		kind = "join"
		nj := 1
		if g.p(20) {
			nj = 2
		}
		for range nj {
			r2 := g.relation(depth)
			kinds := []string{"JOIN", "INNER JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN", "LEFT OUTER JOIN", "FULL OUTER JOIN", "CROSS JOIN"}
			if nj > 1 {
				// Keep three-way results small: no cross products.
				kinds = kinds[:len(kinds)-1]
			}
			jt := g.pick(kinds)
			s2 := r2.scope()
			if jt == "CROSS JOIN" {
				text += " CROSS JOIN " + r2.sql
			} else if g.p(25) && nj == 1 {
				// USING on the columns both sides share.
				var shared []dtCol
				for _, c := range rel.cols {
					for _, c2 := range r2.cols {
						if c.ref == c2.ref && c.typ == c2.typ && c.typ != dtDbl && c.typ != dtBool {
							shared = append(shared, c)
						}
					}
				}
				if len(shared) == 0 {
					text += " " + jt + " " + r2.sql + " ON TRUE"
				} else {
					u := shared[g.n(len(shared))]
					text += " " + jt + " " + r2.sql + " USING (" + u.ref + ")"
					// The merged column, unqualified.
					sc.cols = append(sc.cols, dtCol{ref: u.ref, typ: u.typ})
				}
			} else {
				both := &dtScope{cols: append(append([]dtCol{}, sc.cols...), s2...)}
				cond := g.correlation(s2, sc.cols)
				if cond == "" || g.p(10) {
					cond = g.pred(both, 1)
				} else if g.p(35) {
					cond += " AND " + g.pred(both, 1)
				}
				text += " " + jt + " " + r2.sql + " ON " + cond
			}
			sc.cols = append(sc.cols, s2...)
			keys = append(keys, qualify(r2.alias, r2.key))
		}
	}
	return text, sc, keys, kind
}

func qualify(alias string, cols []string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = alias + "." + c
	}
	return out
}

// relation returns a base table or, at depth 0, sometimes a derived table
// (a grouped or plain subquery in FROM, or a CTE reference).
func (g *dtGen) relation(depth int) dtRelation {
	if depth > 0 || !g.p(15) {
		return g.baseRelation(g.someTable())
	}
	q, types := g.selectCore(depth+1, true)
	a := g.newAlias()
	cols := make([]dtCol, len(types))
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = "c" + strconv.Itoa(i+1)
		cols[i] = dtCol{ref: names[i], typ: t}
	}
	return dtRelation{sql: "(" + q + ") AS " + a + " (" + strings.Join(names, ", ") + ")", alias: a, cols: cols, key: names}
}

// aggregate returns an aggregate call and its type.
func (g *dtGen) aggregate(sc *dtScope) (string, dtType) {
	switch g.n(12) {
	case 0:
		return "COUNT(*)", dtInt
	case 1:
		t := dtType(g.n(int(dtNumTypes)))
		return "COUNT(" + g.pick([]string{"", "DISTINCT "}) + g.expr(sc, t, 1) + ")", dtInt
	case 2, 3:
		t := []dtType{dtInt, dtDec, dtDbl}[g.n(3)]
		if t == dtDbl {
			return "SUM(" + g.expr(sc, t, 1) + ")", t
		}
		return "SUM(" + g.pick([]string{"", "DISTINCT "}) + g.expr(sc, t, 1) + ")", t
	case 4:
		t := []dtType{dtInt, dtDec, dtDbl}[g.n(3)]
		return "AVG(" + g.expr(sc, t, 1) + ")", dtDbl
	case 5, 6:
		t := []dtType{dtInt, dtDec, dtDbl, dtStr, dtDate}[g.n(5)]
		return g.pick([]string{"MIN(", "MAX("}) + g.expr(sc, t, 1) + ")", t
	case 7:
		// MantisDB computes these from sums in DOUBLE (docs/sql.md): large
		// values with a tiny spread lose the digits the comparison
		// tolerates, so the argument is a column of small values.
		var small []string
		for _, c := range sc.cols {
			if strings.HasSuffix(c.ref, ".k") || strings.HasSuffix(c.ref, ".f") {
				small = append(small, c.ref)
			}
		}
		arg := g.literal(dtDbl)
		if len(small) > 0 {
			arg = g.pick(small)
		}
		return g.pick([]string{"STDDEV(", "STDDEV_SAMP(", "STDDEV_POP(", "VARIANCE(", "VAR_SAMP(", "VAR_POP("}) + arg + ")", dtDbl
	case 8:
		return g.pick([]string{"BOOL_AND(", "BOOL_OR("}) + g.pred(sc, 1) + ")", dtBool
	case 9:
		t := []dtType{dtInt, dtStr, dtDate}[g.n(3)]
		return "COUNT(DISTINCT " + g.expr(sc, t, 0) + ")", dtInt
	case 10:
		return "(COUNT(*) + " + g.pick([]string{"1", "-2"}) + ")", dtInt
	default:
		t := []dtType{dtInt, dtDec}[g.n(2)]
		a := g.expr(sc, t, 0)
		return "(MAX(" + a + ") - MIN(" + a + "))", t
	}
}

// groupKey returns a GROUP BY expression of type t. It refers to a column:
// a constant integer would be a position in DuckDB's GROUP BY.
func (g *dtGen) groupKey(sc *dtScope, t dtType) (string, dtType) {
	e := g.expr(sc, t, 1)
	if !dtColRef.MatchString(e) {
		if c := g.column(sc, t); c != "" {
			return c, t
		}
		c := sc.cols[g.n(len(sc.cols))]
		return c.ref, c.typ
	}
	return e, t
}

// dtColRef matches a qualified column reference.
var dtColRef = regexp.MustCompile(`\b(x[0-9]+|w)\.[a-z0-9]+`)

// selectCore returns a SELECT without ORDER BY and its column types. With
// derived set, the caller names the columns.
func (g *dtGen) selectCore(depth int, derived bool) (string, []dtType) {
	from, sc, _, _ := g.from(depth)
	var cols []string
	var types []dtType
	var sb strings.Builder
	sb.WriteString("SELECT ")
	if g.p(40) {
		// Grouped.
		ng := 1 + g.n(2)
		var groups []string
		for range ng {
			t := dtType(g.n(int(dtNumTypes)))
			e, t := g.groupKey(sc, t)
			groups = append(groups, e)
			cols, types = append(cols, e), append(types, t)
		}
		for range 1 + g.n(2) {
			a, t := g.aggregate(sc)
			cols, types = append(cols, a), append(types, t)
		}
		sb.WriteString(strings.Join(cols, ", "))
		sb.WriteString(" FROM " + from + g.where(sc, false) + " GROUP BY " + strings.Join(groups, ", "))
		return sb.String(), types
	}
	if g.p(20) {
		sb.WriteString("DISTINCT ")
	}
	for range 1 + g.n(3) {
		t := dtType(g.n(int(dtNumTypes)))
		cols, types = append(cols, g.expr(sc, t, 2)), append(types, t)
	}
	sb.WriteString(strings.Join(cols, ", "))
	sb.WriteString(" FROM " + from + g.where(sc, false))
	return sb.String(), types
}

// Query returns the next query.
func (g *dtGen) Query() dtQuery {
	switch g.n(20) {
	case 0, 1, 2, 3:
		return g.projection()
	case 4, 5, 6, 7:
		return g.grouped()
	case 8, 9:
		return g.globalAgg()
	case 10, 11, 12:
		return g.window()
	case 13, 14:
		return g.setop()
	case 15:
		return g.cte()
	default:
		return g.projection()
	}
}

// orderBy appends ORDER BY over some of the n result columns (with
// explicit NULL order) and sometimes LIMIT/OFFSET.
func (g *dtGen) orderBy(q *dtQuery, n int, types []dtType) {
	if !g.p(40) {
		return
	}
	var keys []string
	for c := range n {
		if types[c] == dtDbl {
			// Computed doubles may differ in the last bit.
			continue
		}
		if g.p(60) || c == 0 {
			keys = append(keys, fmt.Sprintf("%d %s %s", c+1, g.pick([]string{"ASC", "DESC"}), g.pick([]string{"NULLS FIRST", "NULLS LAST"})))
			q.orderKeys = append(q.orderKeys, c)
		}
	}
	if len(keys) == 0 {
		return
	}
	q.sql += " ORDER BY " + strings.Join(keys, ", ")
	if g.p(50) {
		q.sql += " LIMIT " + strconv.Itoa(g.n(8))
		q.limited = true
		if g.p(30) {
			q.sql += " OFFSET " + strconv.Itoa(g.n(5))
		}
	}
}

func (g *dtGen) projection() dtQuery {
	from, sc, _, kind := g.from(0)
	var cols []string
	var types []dtType
	distinct := g.p(20)
	inner := *sc
	inner.subq = !distinct && g.p(30)
	for range 1 + g.n(4) {
		t := dtType(g.n(int(dtNumTypes)))
		e := g.expr(&inner, t, 2)
		if t == dtDbl && !distinct && g.p(10) {
			e = "(" + g.expr(sc, dtDec, 1) + " / NULLIF(" + g.expr(sc, dtDec, 1) + ", 0))"
		}
		cols, types = append(cols, e), append(types, t)
	}
	q := dtQuery{kind: kind}
	sel := "SELECT "
	if distinct {
		sel += "DISTINCT "
		q.kind += "/distinct"
	}
	q.sql = sel + strings.Join(cols, ", ") + " FROM " + from + g.where(sc, true)
	g.orderBy(&q, len(cols), types)
	return q
}

func (g *dtGen) grouped() dtQuery {
	from, sc, _, kind := g.from(0)
	var cols, groups []string
	var types []dtType
	for range 1 + g.n(2) {
		t := dtType(g.n(int(dtNumTypes)))
		e, t := g.groupKey(sc, t)
		groups = append(groups, e)
		cols, types = append(cols, e), append(types, t)
	}
	for range 1 + g.n(3) {
		a, t := g.aggregate(sc)
		cols, types = append(cols, a), append(types, t)
	}
	q := dtQuery{kind: kind + "/group"}
	q.sql = "SELECT " + strings.Join(cols, ", ") + " FROM " + from + g.where(sc, true) + " GROUP BY " + strings.Join(groups, ", ")
	if g.p(40) {
		a, t := g.aggregate(sc)
		if t == dtBool {
			q.sql += " HAVING " + a
		} else {
			q.sql += " HAVING " + a + " " + g.pick([]string{">", "<", ">=", "<>"}) + " " + g.literal(t)
		}
		if g.p(30) {
			q.sql += " " + g.pick([]string{"AND", "OR"}) + " COUNT(*) > 1"
		}
	}
	g.orderBy(&q, len(cols), types)
	return q
}

func (g *dtGen) globalAgg() dtQuery {
	from, sc, _, kind := g.from(0)
	var cols []string
	for range 1 + g.n(4) {
		a, _ := g.aggregate(sc)
		cols = append(cols, a)
	}
	q := dtQuery{kind: kind + "/agg"}
	q.sql = "SELECT " + strings.Join(cols, ", ") + " FROM " + from + g.where(sc, true)
	if g.p(15) {
		q.sql += " HAVING COUNT(*) > " + g.pick([]string{"0", "3"})
	}
	return q
}

// window returns a query with window functions over one table.
func (g *dtGen) window() dtQuery {
	rel := g.baseRelation(g.someTable())
	sc := &dtScope{cols: rel.scope()}
	key := qualify(rel.alias, rel.key)
	var cols []string
	var types []dtType
	// The key columns first: they identify each row.
	for _, k := range key {
		cols = append(cols, k)
		for _, c := range sc.cols {
			if c.ref == k {
				types = append(types, c.typ)
			}
		}
	}
	nullsOrder := func() string { return g.pick([]string{" NULLS FIRST", " NULLS LAST"}) }
	dir := func() string { return g.pick([]string{" ASC", " DESC"}) }
	for range 1 + g.n(3) {
		var part string
		if g.p(50) {
			part = "PARTITION BY " + g.expr(sc, []dtType{dtInt, dtStr, dtBool, dtDate}[g.n(4)], 1)
		}
		ot := []dtType{dtInt, dtDec, dtStr, dtDate}[g.n(4)]
		ob := g.leaf(sc, ot) + dir() + nullsOrder()
		total := ob
		for _, k := range key {
			total += ", " + k + dir() + nullsOrder()
		}
		over := func(order string, frame string) string {
			s := strings.TrimSpace(part + " ORDER BY " + order + frame)
			return " OVER (" + s + ")"
		}
		var call string
		var t dtType
		switch g.n(10) {
		case 0:
			call, t = "ROW_NUMBER()"+over(total, ""), dtInt
		case 1:
			call, t = g.pick([]string{"RANK()", "DENSE_RANK()"})+over(ob, ""), dtInt
		case 2:
			call, t = "NTILE("+g.pick([]string{"1", "2", "3", "5"})+")"+over(total, ""), dtInt
		case 3:
			t = []dtType{dtInt, dtDec, dtStr, dtDate}[g.n(4)]
			e := g.expr(sc, t, 1)
			args := e
			if g.p(50) {
				off := g.pick([]string{"0", "1", "2"})
				args += ", " + off
				if g.p(50) {
					def := g.literal(t)
					if t == dtDec {
						// DuckDB casts the default to the value's type and
						// fails where it does not fit (MantisDB takes the
						// common type): give both one type.
						e, def = "CAST("+e+" AS DECIMAL(12,2))", "CAST("+def+" AS DECIMAL(12,2))"
					}
					args = e + ", " + off + ", " + def
				}
			}
			call = g.pick([]string{"LAG(", "LEAD("}) + args + ")" + over(total, "")
		case 4:
			t = []dtType{dtInt, dtDec, dtStr}[g.n(3)]
			call = "FIRST_VALUE(" + g.expr(sc, t, 1) + ")" + over(total, "")
		case 5:
			t = []dtType{dtInt, dtDec, dtStr}[g.n(3)]
			call = "LAST_VALUE(" + g.expr(sc, t, 1) + ")" + over(total, " ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING")
		case 6, 7:
			// Aggregates with a ROWS frame over a total order.
			fn, ft := g.windowAgg(sc)
			frame := g.pick([]string{
				" ROWS BETWEEN 1 PRECEDING AND CURRENT ROW", " ROWS BETWEEN 2 PRECEDING AND 1 FOLLOWING",
				" ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW", " ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING",
				" ROWS 2 PRECEDING", " ROWS BETWEEN 1 FOLLOWING AND 3 FOLLOWING",
			})
			call, t = fn+over(total, frame), ft
		case 8:
			// The default frame: RANGE up to the current row's peers.
			fn, ft := g.windowAgg(sc)
			call, t = fn+over(ob, ""), ft
		default:
			fn, ft := g.windowAgg(sc)
			if g.p(50) {
				// The whole partition.
				s := strings.TrimSpace(part)
				call, t = fn+" OVER ("+s+")", ft
			} else {
				// RANGE with offsets over one numeric key.
				k := g.column(sc, dtInt)
				frame := g.pick([]string{" RANGE BETWEEN 2 PRECEDING AND 2 FOLLOWING", " RANGE BETWEEN 1 PRECEDING AND CURRENT ROW", " RANGE BETWEEN CURRENT ROW AND 3 FOLLOWING"})
				call, t = fn+over(k+dir()+nullsOrder(), frame), ft
			}
		}
		cols, types = append(cols, call), append(types, t)
	}
	q := dtQuery{kind: "window"}
	q.sql = "SELECT " + strings.Join(cols, ", ") + " FROM " + rel.sql + g.where(sc, false)
	return q
}

// windowAgg returns an aggregate usable as a window function.
func (g *dtGen) windowAgg(sc *dtScope) (string, dtType) {
	switch g.n(5) {
	case 0:
		return "COUNT(*)", dtInt
	case 1:
		return "COUNT(" + g.expr(sc, dtType(g.n(int(dtBool))), 1) + ")", dtInt
	case 2:
		t := []dtType{dtInt, dtDec, dtDbl}[g.n(3)]
		return "SUM(" + g.expr(sc, t, 1) + ")", t
	case 3:
		t := []dtType{dtInt, dtDec}[g.n(2)]
		return "AVG(" + g.expr(sc, t, 1) + ")", dtDbl
	default:
		t := []dtType{dtInt, dtDec, dtStr, dtDate}[g.n(4)]
		return g.pick([]string{"MIN(", "MAX("}) + g.expr(sc, t, 1) + ")", t
	}
}

// setop returns two SELECTs of the same column types joined by a set
// operation.
func (g *dtGen) setop() dtQuery {
	n := 1 + g.n(2)
	types := make([]dtType, n)
	for i := range types {
		types[i] = []dtType{dtInt, dtDec, dtStr, dtDate, dtBool}[g.n(5)]
	}
	side := func() string {
		rel := g.baseRelation(g.someTable())
		sc := &dtScope{cols: rel.scope()}
		cols := make([]string, n)
		for i, t := range types {
			cols[i] = g.expr(sc, t, 1)
		}
		return "SELECT " + strings.Join(cols, ", ") + " FROM " + rel.sql + g.where(sc, false)
	}
	op := g.pick([]string{"UNION", "UNION ALL", "INTERSECT", "EXCEPT"})
	q := dtQuery{kind: "setop/" + strings.ToLower(strings.ReplaceAll(op, " ", "_"))}
	q.sql = side() + " " + op + " " + side()
	g.orderBy(&q, n, types)
	return q
}

// cte returns a query over a WITH query, referred to once or twice.
func (g *dtGen) cte() dtQuery {
	body, types := g.selectCore(1, true)
	names := make([]string, len(types))
	cols := make([]dtCol, len(types))
	for i, t := range types {
		names[i] = "c" + strconv.Itoa(i+1)
		cols[i] = dtCol{ref: "w." + names[i], typ: t}
	}
	sc := &dtScope{cols: cols}
	var sel []string
	var st []dtType
	for range 1 + g.n(3) {
		t := types[g.n(len(types))]
		sel, st = append(sel, g.expr(sc, t, 1)), append(st, t)
	}
	q := dtQuery{kind: "cte"}
	where := g.where(sc, false)
	if g.p(30) {
		// The CTE referred to a second time, in a correlated subquery.
		if where == "" {
			where = " WHERE "
		} else {
			where += " AND "
		}
		where += g.pick([]string{"", "NOT "}) + "EXISTS (SELECT 1 FROM w AS w2 WHERE w2.c1 = w.c1 AND " + strings.ReplaceAll(g.pred(sc, 1), "w.", "w2.") + ")"
	}
	q.sql = "WITH w (" + strings.Join(names, ", ") + ") AS (" + body + ") SELECT " + strings.Join(sel, ", ") + " FROM w" + where
	g.orderBy(&q, len(sel), st)
	return q
}
