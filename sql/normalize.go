package sql

import (
	"strconv"
	"strings"

	"github.com/mantisdb/mantisdb/catalog"
)

// Statement shapes: the constants of a statement's simple comparisons
// replaced by parameters, so that statements differing only in those
// constants (SELECT … WHERE id = 42, … WHERE id = 43) share one bound and
// planned statement (planner.Cache), the way TiDB's non-prepared plan
// cache and SQL Server's simple parameterization do.
//
// Normalize works on the text alone, without the parser, and is
// deliberately narrow: only SELECT, UPDATE, DELETE and WITH statements
// without parameters, comments or backslashes, and only an integer literal
// (that fits BIGINT) or a string literal right after a comparison
// operator (=, <>, !=, <, <=, >, >=) becomes a parameter. A shape binds
// with BindShape, whose parameters are not nullable (they stand for
// constants, so result nullability is that of the text). Whether the
// shape means the same as the text is decided after binding, by the
// parameter types (ShapeMatches): a parameter typed exactly as its
// constant (BIGINT for an integer, VARCHAR for a string) compares,
// computes and is assigned like the constant, since the typing rules do
// not depend on values (doc.go); any other type (a string compared with a
// DATE, an integer with a DECIMAL) means the constant would have been
// converted at bind time, and the text must be bound itself.

// maxShapeConsts bounds the constants Normalize replaces.
const maxShapeConsts = 64

// ShapeConst is a constant of a statement that its shape replaced by a
// parameter: an integer (BIGINT) or, when IsString, a string (VARCHAR).
type ShapeConst struct {
	IsString bool
	Int      int64
	Str      string
}

// Literal returns the constant as a bound literal.
func (c ShapeConst) Literal() *Literal {
	if c.IsString {
		return NewLiteral(catalog.Varchar, c.Str)
	}
	return NewLiteral(catalog.Bigint, c.Int)
}

// Normalize returns the shape of text: the text with the constants of
// simple comparisons replaced by ? placeholders, and the constants in text
// order. key identifies the shape and the kinds of its constants (an
// integer and a string after the same operator make different keys). ok
// is false when text is not a statement Normalize handles; a statement
// without such constants is its own shape.
func Normalize(text string) (key, shape string, consts []ShapeConst, ok bool) {
	if !shapeStatement(text) {
		return "", "", nil, false
	}
	var b strings.Builder
	var kinds []byte
	last := 0 // text[last:i] is not copied yet
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case c == '?' || c == '$' || c == '#' || c == '\\' || c == '{':
			return "", "", nil, false
		case c == '-' && i+1 < len(text) && text[i+1] == '-', c == '/' && i+1 < len(text) && text[i+1] == '*':
			return "", "", nil, false
		case c == '"' || c == '`':
			j := strings.IndexByte(text[i+1:], c)
			if j < 0 {
				return "", "", nil, false
			}
			i += j + 2
			continue
		case c == '\'':
			end, str, ok := scanString(text, i)
			if !ok {
				return "", "", nil, false
			}
			// 'a' 'b' is one literal in MySQL's grammar: left as written.
			if afterComparison(text, i) && !beforeString(text, end) && len(consts) < maxShapeConsts {
				b.WriteString(text[last:i])
				b.WriteByte('?')
				last = end
				consts = append(consts, ShapeConst{IsString: true, Str: str})
				kinds = append(kinds, 's')
			}
			i = end
			continue
		case isDigit(c) && (i == 0 || !isIdentChar(text[i-1])):
			j := i
			for j < len(text) && isDigit(text[j]) {
				j++
			}
			if j < len(text) && (isIdentChar(text[j]) || text[j] == '.') {
				// 1.5, 1e3, 0x1f, 1_000: left as written.
				for j < len(text) && (isIdentChar(text[j]) || text[j] == '.') {
					j++
				}
				i = j
				continue
			}
			if afterComparison(text, i) && len(consts) < maxShapeConsts {
				if v, err := strconv.ParseInt(text[i:j], 10, 64); err == nil {
					b.WriteString(text[last:i])
					b.WriteByte('?')
					last = j
					consts = append(consts, ShapeConst{Int: v})
					kinds = append(kinds, 'i')
				}
			}
			i = j
			continue
		case isIdentChar(c):
			for i < len(text) && isIdentChar(text[i]) {
				i++
			}
			continue
		}
		i++
	}
	if len(consts) == 0 {
		return text, text, nil, true
	}
	b.WriteString(text[last:])
	shape = b.String()
	return shape + "\x00" + string(kinds), shape, consts, true
}

// shapeStatement reports whether text starts with SELECT, UPDATE, DELETE
// or WITH.
func shapeStatement(text string) bool {
	t := strings.TrimLeft(text, " \t\r\n(")
	n := 0
	for n < len(t) && isIdentChar(t[n]) {
		n++
	}
	switch strings.ToLower(t[:n]) {
	case "select", "update", "delete", "with":
		return true
	}
	return false
}

// scanString returns the end (exclusive) of the string literal that
// starts with the quote at text[i], and its value (two quotes in a row
// stand for one). ok is false for an unterminated literal.
func scanString(text string, i int) (end int, val string, ok bool) {
	var sb []byte
	plain := true
	j := i + 1
	for j < len(text) {
		if text[j] != '\'' {
			j++
			continue
		}
		if j+1 < len(text) && text[j+1] == '\'' {
			if plain {
				sb = append(sb, text[i+1:j+1]...)
				plain = false
			} else {
				sb = append(sb, '\'')
			}
			j += 2
			// Copy up to the next quote below.
			k := j
			for k < len(text) && text[k] != '\'' {
				k++
			}
			sb = append(sb, text[j:k]...)
			j = k
			continue
		}
		if plain {
			return j + 1, text[i+1 : j], true
		}
		return j + 1, string(sb), true
	}
	return 0, "", false
}

// afterComparison reports whether the token before text[i] is a
// comparison operator (and not a longer operator ending like one, such as
// <=> or ->).
func afterComparison(text string, i int) bool {
	j := i
	for j > 0 && isSpace(text[j-1]) {
		j--
	}
	k := j
	for k > 0 && strings.IndexByte("<>=!:-+*/%|&^~@", text[k-1]) >= 0 {
		k--
	}
	switch text[k:j] {
	case "=", "<>", "!=", "<", "<=", ">", ">=":
		return true
	}
	return false
}

// beforeString reports whether the next token from text[i] is a string.
func beforeString(text string, i int) bool {
	for i < len(text) && isSpace(text[i]) {
		i++
	}
	return i < len(text) && text[i] == '\''
}

// BindShape parses and binds the shape of a statement (Normalize). Its
// parameters stand for the constants: they are not nullable.
func BindShape(shape string, cat *catalog.Catalog) (Statement, error) {
	p, err := Parse(shape)
	if err != nil {
		return nil, err
	}
	b := &binder{p: p, cat: cat, constParams: true}
	return b.bind()
}

// ShapeMatches reports whether a shape bound with parameter types params
// means what the text with consts means: every parameter has its
// constant's own type (BIGINT, VARCHAR).
func ShapeMatches(params []ParamType, consts []ShapeConst) bool {
	if len(params) != len(consts) {
		return false
	}
	for i, c := range consts {
		want := catalog.Bigint
		if c.IsString {
			want = catalog.Varchar
		}
		if params[i].Type != want {
			return false
		}
	}
	return true
}
