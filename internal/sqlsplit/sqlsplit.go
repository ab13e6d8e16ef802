// Package sqlsplit cuts SQL scripts into statements at the semicolons that
// end them, skipping semicolons inside string literals, quoted identifiers
// and comments. The shell of cmd/mantisdb and the REST API share it, so a
// script means the same statements to both.
package sqlsplit

import "strings"

// Splitter cuts SQL text into statements at semicolons that are outside
// string literals ('...', with doubled quotes and backslash escapes as in MySQL),
// quoted identifiers ("..." and `...`) and comments (-- to end of line,
// /* ... */). Text is fed in pieces (lines from a terminal or pipe); the
// state carries over, so a statement may span many pieces. The zero value is
// ready to use. A Splitter is not safe for concurrent use.
type Splitter struct {
	buf   strings.Builder
	state splitState
	// star is set inside a block comment after '*'; dash is set after a '-'
	// outside quotes; slash after a '/'.
	star, dash, slash bool
	escape            bool // after a backslash inside a string
}

type splitState uint8

const (
	stNormal splitState = iota
	stSingle
	stDouble
	stBacktick
	stLineComment
	stBlockComment
)

// Feed adds text and returns the statements it completes, trimmed, without
// their semicolons; empty statements are dropped.
func (s *Splitter) Feed(text string) []string {
	var out []string
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch s.state {
		case stNormal:
			switch {
			case c == ';':
				if stmt := strings.TrimSpace(s.buf.String()); stmt != "" {
					out = append(out, stmt)
				}
				s.buf.Reset()
				s.dash, s.slash = false, false
				continue
			case c == '\'':
				s.state = stSingle
			case c == '"':
				s.state = stDouble
			case c == '`':
				s.state = stBacktick
			case c == '-' && s.dash:
				s.state = stLineComment
			case c == '*' && s.slash:
				s.state, s.star = stBlockComment, false
			}
			s.dash = c == '-' && s.state == stNormal
			s.slash = c == '/' && s.state == stNormal
		case stSingle, stDouble, stBacktick:
			quote := byte('\'')
			if s.state == stDouble {
				quote = '"'
			} else if s.state == stBacktick {
				quote = '`'
			}
			switch {
			case s.escape:
				s.escape = false
			case c == '\\' && s.state == stSingle:
				s.escape = true
			case c == quote:
				// A doubled quote closes and reopens the literal: same result.
				s.state = stNormal
			}
		case stLineComment:
			if c == '\n' {
				s.state = stNormal
			}
		case stBlockComment:
			if c == '/' && s.star {
				s.state = stNormal
			}
			s.star = c == '*'
		}
		s.buf.WriteByte(c)
	}
	return out
}

// Pending returns the unfinished statement, trimmed; it is empty when the
// text fed so far ends at a statement boundary (or holds only blanks and
// comments).
func (s *Splitter) Pending() string {
	stmt := strings.TrimSpace(s.buf.String())
	if onlyComments(stmt) {
		return ""
	}
	return stmt
}

// InQuote reports whether the text fed so far ends inside a string literal,
// a quoted identifier or a comment, where a newline does not end anything.
func (s *Splitter) InQuote() bool { return s.state != stNormal }

// onlyComments reports whether text holds nothing but comments and blanks.
func onlyComments(text string) bool {
	for len(text) > 0 {
		text = strings.TrimSpace(text)
		switch {
		case text == "":
			return true
		case strings.HasPrefix(text, "--"):
			i := strings.IndexByte(text, '\n')
			if i < 0 {
				return true
			}
			text = text[i+1:]
		case strings.HasPrefix(text, "/*"):
			i := strings.Index(text[2:], "*/")
			if i < 0 {
				return true
			}
			text = text[i+4:]
		default:
			return false
		}
	}
	return true
}

// Split splits a whole script into statements, including a last
// statement without a semicolon.
func Split(text string) []string {
	var s Splitter
	out := s.Feed(text)
	if p := s.Pending(); p != "" {
		out = append(out, p)
	}
	return out
}
