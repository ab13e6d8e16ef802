// Package sql parses SQL text (with the dolthub/vitess parser in ANSI-quotes
// mode) and binds it against a catalog into a typed logical plan.
//
// The output of Bind is a Statement: a Query, Insert, Update or Delete whose
// Plan is a tree of logical Nodes (Scan, Values, Filter, Project, Aggregate,
// Sort, Limit, Join), or a schema change: CreateTable, DropTable,
// CreateTableAs (with the Plan of its query), Truncate, AlterTable,
// CreateIndex, DropIndex, CreateView, DropView.
//
// Views (view.go) are stored as query text; a view named in FROM is parsed
// and bound again at every use, like a derived table, by a binder of its
// own (views may name views, up to maxViewDepth deep), so a view always
// reads the catalog as it is; an error binding it names the view. INSERT
// IGNORE and ON DUPLICATE KEY UPDATE (upsert.go) set Insert.OnConflict;
// the assignments are bound over the existing row's columns followed by
// the inserted row's, which only VALUES(col) reaches.
//
// FROM lists, joins and subqueries (query.go): a FROM clause's output
// columns are its items' columns in FROM order. Comma joins are ordered
// greedily with the WHERE conjuncts (single-item conjuncts filter the item,
// each next item is the first with an equality to the items joined so far,
// other conjuncts become join conditions; an OR over several items also
// filters each item by what it implies for it, impliedFilters); a Project
// restores FROM order. The planner reorders the joins by its estimates
// (planner/reorder.go).
// WHERE conjuncts EXISTS / NOT EXISTS / IN / NOT IN (subquery) become semi,
// anti and null-aware anti joins; EXISTS and uncorrelated IN (subquery)
// elsewhere in a WHERE expression or in a select list become mark joins
// (JoinMark, JoinMarkNullAware) that append a BOOLEAN column the
// expression refers to; a correlated [NOT] IN there (and a correlated NOT
// IN conjunct) becomes up to three plain mark joins whose marks a CASE
// combines into IN's three-valued result (markInCorrelated); correlated subqueries are decorrelated:
// equalities between inner and outer columns become join keys (and group
// keys of an aggregating scalar subquery, joined with a left join), other
// correlated conjuncts the join condition. Correlated references are
// allowed only in a subquery's WHERE and one level deep; other forms are
// 0A000; a bare COUNT as the item of a correlated scalar subquery becomes
// CASE WHEN ref IS NOT NULL THEN ref ELSE 0 END over the left join. JOIN …
// USING hides the right side's column from unqualified names; FULL JOIN …
// USING adds a Project whose USING columns are COALESCE(left, right) in the
// left column's place, the sides' own columns reachable only qualified.
// Uncorrelated scalar subqueries anywhere are Subquery expressions
// that run once. A CTE is bound once and every reference to it is the same
// plan node, and so is a view named more than once in one statement; the
// planner decides whether such a node runs once for all its references
// (planner/spool.go) or once per reference. Every expression in a plan is
// resolved: columns are ordinals into the output of the node's input, every
// expression has a catalog.Type and a nullability, and the binder has inserted
// Casts so that both operands of an arithmetic operator or comparison, and
// every element of an IN list, have the same type (two DECIMALs may still
// differ in precision and scale). Plans are immutable once bound.
//
// Before parsing, rewrite.go rewrites a few standard spellings the MySQL
// grammar lacks (CAST targets such as INT, VARCHAR, TIMESTAMP, BOOLEAN;
// a || b; ORDER BY … NULLS FIRST/LAST; $n parameters) at the token level,
// keeping error positions in the user's text. Statement parameters (? or
// $n) are Param expressions typed by their context (params.go); set
// operations are UnionAll nodes, with the distinct forms built from
// aggregates (setop.go); built-in scalar functions are Func expressions
// evaluated by arrowexec.Func (builtins.go).
//
// Window functions (window.go) are WindowCall expressions while binding;
// after aggregation and HAVING, selectPlan stacks one Window node per
// distinct PARTITION BY / ORDER BY and replaces each call by a reference to
// the node's output column, so bound plans hold no WindowCall. ILIKE is
// rewritten to LIKE at the token level and matched back to the AST's LIKE
// nodes in text order; LIKE … ESCAPE is folded into the pattern at bind
// time. INSERT … SELECT is a Project casting the query's rows to the
// table's columns; UPDATE and DELETE bind subquery conjuncts of their WHERE
// into joins like SELECT does.
//
// Every error caused by the statement is a *sqlstate.Error, with a line and
// column when the binder can locate the offending token in the text.
//
// # Typing rules
//
// These rules are stable: result types of queries do not depend on values.
//
//   - Integer literals are BIGINT. Integer literals beyond BIGINT are
//     DECIMAL(p,0) (p = number of digits, at most 38).
//   - Literals with a decimal point (1.5, .25) are DECIMAL(p,s) where s is the
//     number of digits after the point and p = max(digits before the point,
//     1) + s. Literals with an exponent (1e3) are DOUBLE.
//   - String literals are VARCHAR. DATE '...' and TIMESTAMP '...' are DATE and
//     TIMESTAMP literals. TRUE/FALSE are BOOLEAN; NULL takes the type its
//     context demands; a NULL that stays untyped in a result column is a
//     VARCHAR column.
//   - Implicit numeric widening: SMALLINT < INT < BIGINT < DECIMAL < DOUBLE, and
//     REAL < DOUBLE. REAL combined with REAL is REAL; REAL combined with any
//     other numeric type is DOUBLE. An integer combined with a DECIMAL becomes
//     DECIMAL(5,0), DECIMAL(10,0) or DECIMAL(19,0) (SMALLINT, INT, BIGINT).
//     DATE combined with TIMESTAMP is TIMESTAMP.
//   - A literal combined with a non-literal operand is converted to the
//     operand's type when the value is exactly representable there (so
//     `int_col + 1` is INT and `smallint_col = 7` compares SMALLINTs);
//     otherwise both sides widen to their common type.
//   - String literals combined with a DATE, TIMESTAMP, BOOLEAN or numeric
//     operand are converted to that operand's type at bind time (an invalid
//     value is 22007 / 22P02, an out-of-range value 22003).
//   - Any other combination of different types (e.g. VARCHAR column = INT
//     column, BOOLEAN + INT) is a 42804 error.
//   - Arithmetic (+ - * / %) is defined on numeric types. The result has the
//     operand type; integer division truncates. DECIMAL results follow
//     arrowexec's kernels: + and - give scale max(s1,s2) and precision
//     max(p1-s1,p2-s2)+scale+1; * gives scale s1+s2 and precision p1+p2;
//     / gives DECIMAL(38, max(6,s1)); % gives scale max(s1,s2) and precision
//     max(p1,p2); precision is capped at 38.
//   - Aggregates: COUNT(*) and COUNT(x) are BIGINT NOT NULL; SUM of an
//     integer is BIGINT, of REAL/DOUBLE is DOUBLE, of DECIMAL(p,s) is
//     DECIMAL(38,s); MIN and MAX keep the argument type; AVG is DOUBLE.
//     SUM/MIN/MAX/AVG are nullable unless the query has GROUP BY and the
//     argument is NOT NULL. STDDEV and VARIANCE forms are nullable DOUBLE.
//   - Window functions: ranking functions are BIGINT NOT NULL; LAG, LEAD,
//     FIRST_VALUE, LAST_VALUE keep the argument type (nullable); window
//     aggregates have their aggregate's type and are nullable (COUNT is
//     not).
//   - Values assigned to a column (INSERT, UPDATE) are cast to the column type;
//     constants that do not fit are rejected at bind time (22003, 22P02,
//     22007), other values by the run-time Cast.
//
// Identifiers are case-insensitive; "double-quoted" identifiers keep their
// spelling but are matched case-insensitively like the catalog does.
package sql
