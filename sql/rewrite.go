package sql

import (
	"sort"
	"strings"

	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// The dolthub/vitess grammar is MySQL's. A few spellings that standard SQL
// (and PostgreSQL, which BI tools mostly speak) uses are rewritten at the
// token level before parsing; the rewrite never changes the meaning of text
// the grammar accepts:
//
//   - CAST(x AS t) where the grammar rejects t (INT, INTEGER, BIGINT,
//     SMALLINT, TINYINT, INT2/4/8, VARCHAR, TEXT, STRING, TIMESTAMP,
//     BOOLEAN, BOOL, FLOAT4/8, NUMERIC): t becomes the accepted spelling
//     CHAR[(n)] mantis_t (a character set the binder reads back as the
//     type t; NUMERIC becomes DECIMAL). The grammar itself accepts CHAR,
//     DATE, DATETIME, DECIMAL, DOUBLE [PRECISION], REAL, FLOAT, SIGNED.
//   - a || b becomes a | b: the grammar reads || as OR (MySQL without
//     PIPES_AS_CONCAT, which vitess's ParserOptions cannot set), while | has
//     the precedence of PostgreSQL's || (below + and -, above comparisons).
//     The binder reads | as concatenation; a bitwise | written by the user
//     is rejected as unsupported.
//   - ORDER BY items ending in NULLS FIRST or NULLS LAST: the two words are
//     blanked out and recorded per item, then attached to the AST's Order
//     nodes (pre-order = text order of the items).
//   - x [NOT] ILIKE p becomes x [NOT] LIKE p; the offsets of every LIKE and
//     ILIKE are recorded and matched to the AST's LIKE comparisons in text
//     order, whose binding then folds case.
//   - the keyword SYSTEM before a dot becomes the identifier "system", the
//     schema of the system tables (system.tables).
//   - $1, $2, … parameters become :v1, :v2, …, the names the tokenizer gives
//     ? placeholders, so both spellings bind the same way (they cannot be
//     mixed in one statement).
//
// Edits are recorded with their offsets in the original text, so that
// syntax errors of the rewritten text are reported at positions of the
// text the user wrote.

// edit replaces text[start:end] of the original text by repl.
type edit struct {
	start, end int
	repl       string
}

// nullsOrder is the NULLS option of an ORDER BY item.
type nullsOrder uint8

const (
	nullsDefault nullsOrder = iota
	nullsFirst
	nullsLast
)

// rewriteInfo is what the rewrite learnt about the statement.
type rewriteInfo struct {
	edits []edit
	// orderItems are the start offsets and NULLS options of every ORDER BY
	// item, sorted by offset.
	orderItems []orderSpan
	anyNulls   bool
	bitOr      bool // the text has a bare | operator
	// likes records, in text order, whether each LIKE operator was
	// written ILIKE; anyILike is set when one was.
	likes    []bool
	anyILike bool
}

type orderSpan struct {
	start int
	nulls nullsOrder
}

// castRewrites maps CAST targets the grammar rejects to the name the
// binder reads back from the character set "mantis_<name>".
var castRewrites = map[string]bool{
	"int": true, "integer": true, "bigint": true, "smallint": true, "tinyint": true,
	"int2": true, "int4": true, "int8": true, "varchar": true, "text": true, "string": true,
	"timestamp": true, "boolean": true, "bool": true, "float4": true, "float8": true,
}

// castCharsetPrefix prefixes the type names smuggled through CAST's
// character set.
const castCharsetPrefix = "mantis_"

// maskDollarParams returns text with every $n parameter outside literals,
// quoted identifiers and comments replaced by a placeholder of the same
// length (so the tokenizer, which rejects $, can lex it at the original
// offsets), and the edits that turn them into :vn.
func maskDollarParams(text string) (string, []edit) {
	var edits []edit
	var masked []byte
	n := len(text)
	for i := 0; i < n; i++ {
		c := text[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			j := i + 1
			for j < n {
				if text[j] == '\\' && c == '\'' {
					j += 2
					continue
				}
				if text[j] == c {
					if j+1 < n && text[j+1] == c {
						j += 2
						continue
					}
					break
				}
				j++
			}
			i = j
		case c == '-' && i+1 < n && text[i+1] == '-', c == '#':
			for i < n && text[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < n && text[i+1] == '*':
			j := strings.Index(text[i+2:], "*/")
			if j < 0 {
				i = n
			} else {
				i += j + 3
			}
		case c == '$' && i+1 < n && isDigit(text[i+1]) && (i == 0 || !isIdentChar(text[i-1])):
			j := i + 1
			for j < n && isDigit(text[j]) {
				j++
			}
			if masked == nil {
				masked = []byte(text)
			}
			// "?" and spaces: a VALUE_ARG token at the same offset.
			masked[i] = '?'
			for k := i + 1; k < j; k++ {
				masked[k] = ' '
			}
			edits = append(edits, edit{start: i, end: j, repl: ":v" + text[i+1:j]})
			i = j - 1
		}
	}
	if masked == nil {
		return text, nil
	}
	return string(masked), edits
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isIdentChar(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c >= 0x80
}

// rewriteTokens computes the token-level edits of the package comment.
// toks are the tokens of the (masked) text at original offsets.
func rewriteTokens(toks []token, info *rewriteInfo) error {
	lower := func(i int) string {
		if i < 0 || i >= len(toks) {
			return ""
		}
		return strings.ToLower(toks[i].val)
	}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.typ == sqlparser.OR && t.end-t.start == 2 && t.val == "":
			// "||" (the keyword OR has its spelling in val).
			info.edits = append(info.edits, edit{start: t.start, end: t.end, repl: "| "})
		case t.typ == '|':
			info.bitOr = true
		case lower(i) == "cast" && i+1 < len(toks) && toks[i+1].typ == '(':
			depth := 0
			for j := i + 1; j < len(toks); j++ {
				switch toks[j].typ {
				case '(':
					depth++
				case ')':
					depth--
				}
				if depth == 0 {
					break
				}
				if depth == 1 && toks[j].typ == sqlparser.AS && j+1 < len(toks) {
					castTarget(toks, j+1, info)
					break
				}
			}
		case lower(i) == "order" && lower(i+1) == "by":
			orderByItems(toks, i+2, info)
		case lower(i) == "like":
			info.likes = append(info.likes, false)
		case t.typ == sqlparser.SYSTEM && i+1 < len(toks) && toks[i+1].typ == '.':
			// SYSTEM is a keyword of the grammar; as the schema of
			// system.tables it is an identifier.
			info.edits = append(info.edits, edit{start: t.start, end: t.end, repl: `"system"`})
		case lower(i) == "ilike" && i > 0:
			info.likes = append(info.likes, true)
			info.anyILike = true
			info.edits = append(info.edits, edit{start: t.start, end: t.end, repl: "like "})
		}
	}
	sort.Slice(info.edits, func(a, b int) bool { return info.edits[a].start < info.edits[b].start })
	sort.Slice(info.orderItems, func(a, b int) bool { return info.orderItems[a].start < info.orderItems[b].start })
	return nil
}

// castTarget rewrites the CAST target type starting at token k.
func castTarget(toks []token, k int, info *rewriteInfo) {
	name := strings.ToLower(toks[k].val)
	if name == "numeric" {
		info.edits = append(info.edits, edit{start: toks[k].start, end: toks[k].end, repl: "decimal"})
		return
	}
	if !castRewrites[name] {
		return
	}
	info.edits = append(info.edits, edit{start: toks[k].start, end: toks[k].end, repl: "char"})
	end := toks[k].end
	if k+1 < len(toks) && toks[k+1].typ == '(' {
		for j := k + 1; j < len(toks); j++ {
			if toks[j].typ == ')' {
				end = toks[j].end
				break
			}
		}
	}
	info.edits = append(info.edits, edit{start: end, end: end, repl: " " + castCharsetPrefix + name})
}

// orderByItems records the items of the ORDER BY list starting at token
// k and blanks out their NULLS FIRST / NULLS LAST.
func orderByItems(toks []token, k int, info *rewriteInfo) {
	depth := 0
	itemStart := -1
	var nulls nullsOrder
	flush := func() {
		if itemStart >= 0 {
			info.orderItems = append(info.orderItems, orderSpan{start: itemStart, nulls: nulls})
		}
		itemStart, nulls = -1, nullsDefault
	}
	for j := k; j < len(toks); j++ {
		t := toks[j]
		switch t.typ {
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				flush()
				return
			}
		}
		if depth > 0 {
			if itemStart < 0 {
				itemStart = t.start
			}
			continue
		}
		switch strings.ToLower(t.val) {
		case "limit", "offset", "rows", "range", "union", "intersect", "except", "for", "fetch", "into", "lock":
			flush()
			return
		case "nulls":
			if j+1 < len(toks) {
				switch strings.ToLower(toks[j+1].val) {
				case "first", "last":
					nulls = nullsFirst
					if strings.EqualFold(toks[j+1].val, "last") {
						nulls = nullsLast
					}
					info.anyNulls = true
					info.edits = append(info.edits, edit{start: t.start, end: toks[j+1].end,
						repl: strings.Repeat(" ", toks[j+1].end-t.start)})
					j++
					continue
				}
			}
		}
		switch t.typ {
		case ',':
			flush()
			continue
		case ';':
			flush()
			return
		}
		if itemStart < 0 {
			itemStart = t.start
		}
	}
	flush()
}

// apply returns text with the edits applied.
func apply(text string, edits []edit) string {
	if len(edits) == 0 {
		return text
	}
	var b strings.Builder
	prev := 0
	for _, e := range edits {
		b.WriteString(text[prev:e.start])
		b.WriteString(e.repl)
		prev = e.end
	}
	b.WriteString(text[prev:])
	return b.String()
}

// origOffset maps an offset in the rewritten text back to the original.
func origOffset(edits []edit, pos int) int {
	delta := 0 // rewritten offset - original offset before the current edit
	for _, e := range edits {
		ns := e.start + delta
		ne := ns + len(e.repl)
		if pos < ns {
			break
		}
		if pos < ne {
			return e.start + min(pos-ns, e.end-e.start)
		}
		delta += len(e.repl) - (e.end - e.start)
	}
	return pos - delta
}

// attachNulls maps the recorded NULLS options onto the AST's Order nodes.
func (p *Parsed) attachNulls(info *rewriteInfo) error {
	if !info.anyNulls {
		return nil
	}
	orders := collectOrders(p.walkRoot(), nil)
	if len(orders) != len(info.orderItems) {
		return sqlstate.Errorf(sqlstate.FeatureNotSupported, "NULLS FIRST/LAST is not supported in this ORDER BY")
	}
	p.nulls = make(map[*sqlparser.Order]nullsOrder)
	for i, o := range orders {
		if info.orderItems[i].nulls != nullsDefault {
			p.nulls[o] = info.orderItems[i].nulls
		}
	}
	return nil
}

// collectOrders appends the Order nodes under n in text order. vitess's
// Walk skips the WITH, ORDER BY and LIMIT of a set operation, so those are
// walked here.
func collectOrders(n sqlparser.SQLNode, out []*sqlparser.Order) []*sqlparser.Order {
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		switch n := n.(type) {
		case *sqlparser.Order:
			out = append(out, n)
		case *sqlparser.SetOp:
			if n.With != nil {
				out = collectOrders(n.With, out)
			}
			out = collectOrders(n.Left, out)
			out = collectOrders(n.Right, out)
			for _, o := range n.OrderBy {
				out = collectOrders(o, out)
			}
			return false, nil
		}
		return true, nil
	}, n)
	return out
}

// attachILike marks the LIKE comparisons written ILIKE.
func (p *Parsed) attachILike(info *rewriteInfo) error {
	if !info.anyILike {
		return nil
	}
	likes := collectLikes(p.walkRoot(), nil)
	if len(likes) != len(info.likes) {
		return sqlstate.Errorf(sqlstate.FeatureNotSupported, "ILIKE is not supported in this statement")
	}
	p.ilike = make(map[*sqlparser.ComparisonExpr]bool)
	for i, c := range likes {
		if info.likes[i] {
			p.ilike[c] = true
		}
	}
	return nil
}

// collectLikes appends the LIKE comparisons under n in the text order of
// their operators: a comparison's left operand comes before it.
func collectLikes(n sqlparser.SQLNode, out []*sqlparser.ComparisonExpr) []*sqlparser.ComparisonExpr {
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		switch n := n.(type) {
		case *sqlparser.ComparisonExpr:
			if n.Operator != sqlparser.LikeStr && n.Operator != sqlparser.NotLikeStr {
				return true, nil
			}
			out = collectLikes(n.Left, out)
			out = append(out, n)
			out = collectLikes(n.Right, out)
			if n.Escape != nil {
				out = collectLikes(n.Escape, out)
			}
			return false, nil
		case *sqlparser.SetOp:
			if n.With != nil {
				out = collectLikes(n.With, out)
			}
			out = collectLikes(n.Left, out)
			out = collectLikes(n.Right, out)
			for _, o := range n.OrderBy {
				out = collectLikes(o, out)
			}
			return false, nil
		}
		return true, nil
	}, n)
	return out
}
