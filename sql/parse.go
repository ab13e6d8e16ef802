package sql

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"

	"github.com/dolthub/vitess/go/vt/sqlparser"
	"github.com/dolthub/vitess/go/vt/vterrors"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// token is one lexical token of the statement text.
type token struct {
	typ        int
	val        string
	start, end int // byte offsets, end exclusive
}

// Parsed is a parsed statement with what the binder needs of its text.
type Parsed struct {
	// Stmt is the vitess AST.
	Stmt sqlparser.Statement
	// Text is the statement text.
	Text string

	tokens []token
	// typed maps string literals written as DATE '…' or TIMESTAMP '…' (and
	// TIME '…') to the keyword's token type.
	typed map[*sqlparser.SQLVal]int
	// nulls holds the NULLS FIRST/LAST of ORDER BY items (rewrite.go).
	nulls map[*sqlparser.Order]nullsOrder
	// ilike holds the LIKE comparisons written ILIKE (rewrite.go).
	ilike map[*sqlparser.ComparisonExpr]bool
	// bitOr: the text has a bitwise | (the AST's | is otherwise ||).
	bitOr bool
	// edits are the rewrites applied before parsing (rewrite.go).
	edits []edit
}

// walkRoot returns the node under which the AST's nodes are found in text
// order: the statement, or the one an EXPLAIN explains (sqlparser.Walk does
// not descend into an Explain).
func (p *Parsed) walkRoot() sqlparser.SQLNode {
	if ex, ok := p.Stmt.(*sqlparser.Explain); ok {
		return ex.Statement
	}
	return p.Stmt
}

var nearRE = regexp.MustCompile(`at position (\d+)(?: near '(.*)')?$`)

// Parse parses exactly one statement (a trailing semicolon is allowed).
// The text is first rewritten at the token level (see rewrite.go) for the
// standard spellings the MySQL grammar lacks.
func Parse(text string) (*Parsed, error) {
	masked, dollar := maskDollarParams(text)
	p := &Parsed{Text: text, tokens: lex(masked)}
	info := &rewriteInfo{edits: dollar}
	if len(dollar) > 0 {
		for _, t := range p.tokens {
			if t.typ == sqlparser.VALUE_ARG && masked[t.start] == '?' && text[t.start] == '?' {
				line, col := sqlstate.PositionAt(text, t.start)
				return nil, sqlstate.Errorf(sqlstate.SyntaxError, "cannot mix ? and $n parameters").At(line, col)
			}
		}
	}
	if err := rewriteTokens(p.tokens, info); err != nil {
		return nil, err
	}
	p.edits, p.bitOr = info.edits, info.bitOr
	stmt, next, err := sqlparser.ParseOneWithOptions(context.Background(), apply(text, info.edits), sqlparser.ParserOptions{AnsiQuotes: true})
	if err != nil {
		return nil, p.syntaxError(err)
	}
	next = origOffset(info.edits, next)
	if next < len(text) {
		for _, t := range lex(text[next:]) {
			if t.typ == ';' {
				continue
			}
			line, col := sqlstate.PositionAt(text, next+t.start)
			return nil, sqlstate.Errorf(sqlstate.FeatureNotSupported,
				"multiple statements in one query are not supported").At(line, col)
		}
	}
	p.Stmt = stmt
	p.markTypedLiterals()
	if err := p.attachILike(info); err != nil {
		return nil, err
	}
	if err := p.attachNulls(info); err != nil {
		return nil, err
	}
	return p, nil
}

func lex(text string) []token {
	tk := sqlparser.NewStringTokenizerForAnsiQuotes(text)
	var out []token
	for i := 0; i < 1<<20; i++ {
		typ, val := tk.Scan()
		if typ == 0 || typ == sqlparser.LEX_ERROR {
			break
		}
		end := tk.Position - 1
		start := tk.OldPosition - 1
		if start < 0 {
			start = 0
		}
		for start < end && start < len(text) && isSpace(text[start]) {
			start++
		}
		if end > len(text) {
			end = len(text)
		}
		out = append(out, token{typ: typ, val: string(val), start: start, end: end})
	}
	return out
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *Parsed) syntaxError(err error) error {
	if errors.Is(err, sqlparser.ErrEmpty) {
		return sqlstate.Errorf(sqlstate.SyntaxError, "empty statement")
	}
	se, ok := vterrors.AsSyntaxError(err)
	if !ok {
		return sqlstate.Wrap(err, sqlstate.SyntaxError, "syntax error: %s", err.Error())
	}
	m := nearRE.FindStringSubmatch(se.Message)
	if m == nil {
		return sqlstate.Wrap(err, sqlstate.SyntaxError, "%s", se.Message)
	}
	pos, _ := strconv.Atoi(m[1])
	end := origOffset(p.edits, pos-1)
	off := end
	for _, t := range p.tokens {
		if t.end == end {
			off = t.start
			break
		}
	}
	if off > len(p.Text) {
		off = len(p.Text)
	}
	if off < 0 {
		off = 0
	}
	var e *sqlstate.Error
	if strings.TrimSpace(p.Text[min(end, len(p.Text)):]) == "" && (m[2] == "" || end >= len(strings.TrimRight(p.Text, " \t\r\n;"))) {
		e = sqlstate.Errorf(sqlstate.SyntaxError, "syntax error at end of input")
	} else {
		e = sqlstate.Errorf(sqlstate.SyntaxError, "syntax error at or near %q", m[2])
	}
	return sqlstate.Wrap(err, e.Code, "%s", e.Message).At(sqlstate.PositionAt(p.Text, off))
}

// markTypedLiterals finds DATE '…' and TIMESTAMP '…' literals: the parser
// drops the keyword, so the string tokens of the text are matched in order
// with the string literals of the AST. When the counts differ the literals
// stay untyped strings (which context casts still convert).
func (p *Parsed) markTypedLiterals() {
	var strs []int // keyword token type (or 0) per string token
	var texts []string
	any := false
	for i, t := range p.tokens {
		if t.typ != sqlparser.STRING {
			continue
		}
		kw := 0
		if i > 0 {
			switch p.tokens[i-1].typ {
			case sqlparser.DATE, sqlparser.TIMESTAMP, sqlparser.TIME:
				kw = p.tokens[i-1].typ
				any = true
			}
		}
		strs = append(strs, kw)
		texts = append(texts, t.val)
	}
	if !any {
		return
	}
	var vals []*sqlparser.SQLVal
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		if v, ok := n.(*sqlparser.SQLVal); ok && v.Type == sqlparser.StrVal {
			vals = append(vals, v)
		}
		return true, nil
	}, p.walkRoot())
	p.typed = make(map[*sqlparser.SQLVal]int)
	if len(vals) == len(strs) {
		for i, v := range vals {
			if strs[i] != 0 {
				p.typed[v] = strs[i]
			}
		}
		return
	}
	// The parser added literals the text does not have (TRIM(x) gets a
	// ' ' pattern): match each literal of the AST with the next string
	// token of the same value, skipping literals without one.
	next := 0
	for _, v := range vals {
		for j := next; j < len(texts); j++ {
			if texts[j] == string(v.Val) {
				if strs[j] != 0 {
					p.typed[v] = strs[j]
				}
				next = j + 1
				break
			}
		}
	}
}

// locate returns the 1-based line and column of the first identifier token
// spelled name (case-insensitive) at or after byte offset from, or zeros.
func (p *Parsed) locate(name string, from int) (int, int) {
	if name == "" {
		return 0, 0
	}
	for _, t := range p.tokens {
		if t.start >= from && t.typ != sqlparser.STRING && strings.EqualFold(t.val, name) {
			return sqlstate.PositionAt(p.Text, t.start)
		}
	}
	return 0, 0
}

// keywordOffset returns the offset of the first token spelled kw, or 0.
func (p *Parsed) keywordOffset(kw string) int {
	for _, t := range p.tokens {
		if strings.EqualFold(t.val, kw) {
			return t.start
		}
	}
	return 0
}
