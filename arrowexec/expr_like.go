package arrowexec

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// likeKind is the shape of a compiled LIKE pattern.
type likeKind uint8

const (
	likeExact    likeKind = iota // no wildcard
	likePrefix                   // abc%
	likeSuffix                   // %abc
	likeContains                 // %abc%
	likeSegments                 // literals between '%'s, no '_': %abc%def%, abc%def
	likeGeneral                  // anything else
)

// likePattern is a pattern compiled once: literal parts between '%' and a
// per-character wildcard flag for '_'.
type likePattern struct {
	kind likeKind
	lit  []byte // exact/prefix/suffix/contains literal
	// segments: the literals in order, and whether the pattern starts and
	// ends with '%'.
	segs        [][]byte
	lead, trail bool
	// general: the pattern as runes with wildcards marked.
	toks []likeTok
}

type likeTok struct {
	r   rune
	any bool // '_'
	pct bool // '%'
}

func compileLike(p string, fold bool) (*likePattern, error) {
	if fold {
		p = strings.ToLower(p)
	}
	var toks []likeTok
	for i := 0; i < len(p); {
		r, sz := utf8.DecodeRuneInString(p[i:])
		i += sz
		switch r {
		case '\\':
			if i >= len(p) {
				return nil, sqlstate.Errorf(sqlstate.InvalidEscapeSequence, "LIKE pattern must not end with escape character")
			}
			r, sz = utf8.DecodeRuneInString(p[i:])
			i += sz
			toks = append(toks, likeTok{r: r})
		case '%':
			if len(toks) == 0 || !toks[len(toks)-1].pct { // collapse %%
				toks = append(toks, likeTok{pct: true})
			}
		case '_':
			toks = append(toks, likeTok{any: true})
		default:
			toks = append(toks, likeTok{r: r})
		}
	}
	lp := &likePattern{toks: toks, kind: likeGeneral}
	// Classify: literal core with % only at the ends.
	start, end := 0, len(toks)
	lead := start < end && toks[start].pct
	if lead {
		start++
	}
	trail := end > start && toks[end-1].pct
	if trail {
		end--
	}
	simple := true
	var lit []byte
	for _, t := range toks[start:end] {
		if t.pct || t.any {
			simple = false
			break
		}
		lit = utf8.AppendRune(lit, t.r)
	}
	if !simple && !slices.ContainsFunc(toks, func(t likeTok) bool { return t.any }) {
		lp.kind, lp.lead, lp.trail = likeSegments, lead, trail
		var seg []byte
		for _, t := range toks[start:end] {
			if t.pct {
				lp.segs = append(lp.segs, seg)
				seg = nil
				continue
			}
			seg = utf8.AppendRune(seg, t.r)
		}
		lp.segs = append(lp.segs, seg)
	}
	if simple {
		lp.lit = lit
		switch {
		case lead && trail:
			lp.kind = likeContains
		case lead:
			lp.kind = likeSuffix
		case trail:
			lp.kind = likePrefix
		default:
			lp.kind = likeExact
		}
	}
	return lp, nil
}

func (p *likePattern) match(s []byte) bool {
	switch p.kind {
	case likeExact:
		return bytes.Equal(s, p.lit)
	case likePrefix:
		return bytes.HasPrefix(s, p.lit)
	case likeSuffix:
		return bytes.HasSuffix(s, p.lit)
	case likeContains:
		return bytes.Contains(s, p.lit)
	case likeSegments:
		return matchSegments(p.segs, p.lead, p.trail, s)
	}
	return matchToks(p.toks, s)
}

// matchSegments matches literals separated by '%' with byte search: the
// first literal is a prefix unless the pattern starts with '%', the last a
// suffix unless it ends with one, and each one between is found leftmost
// after the one before (leftmost is never worse: a later match leaves less
// room for the rest).
func matchSegments(segs [][]byte, lead, trail bool, s []byte) bool {
	i, first, last := 0, 0, len(segs)
	if !lead {
		if !bytes.HasPrefix(s, segs[0]) {
			return false
		}
		i, first = len(segs[0]), 1
	}
	if !trail {
		last--
	}
	for _, seg := range segs[first:last] {
		j := bytes.Index(s[i:], seg)
		if j < 0 {
			return false
		}
		i += j + len(seg)
	}
	return trail || len(s)-i >= len(segs[last]) && bytes.HasSuffix(s, segs[last])
}

// matchToks is the classic wildcard matcher with one backtrack point (the
// last '%'), linear for patterns without '%' and O(n·m) at worst.
func matchToks(toks []likeTok, s []byte) bool {
	ti, si := 0, 0
	starT, starS := -1, 0
	for si < len(s) {
		if ti < len(toks) && !toks[ti].pct {
			r, sz := utf8.DecodeRune(s[si:])
			if toks[ti].any || toks[ti].r == r {
				ti++
				si += sz
				continue
			}
		} else if ti < len(toks) && toks[ti].pct {
			starT, starS = ti, si
			ti++
			continue
		}
		if starT < 0 {
			return false
		}
		_, sz := utf8.DecodeRune(s[starS:])
		starS += sz
		si = starS
		ti = starT + 1
	}
	for ti < len(toks) && toks[ti].pct {
		ti++
	}
	return ti == len(toks)
}

type likeExpr struct {
	e        Expr
	pattern  string
	fold     bool
	negate   bool
	compiled *likePattern
}

// Like matches a VARCHAR against a constant LIKE pattern ('%', '_', '\'
// escape); caseInsensitive gives ILIKE. The pattern is compiled once;
// patterns of the form 'abc', 'abc%', '%abc' and '%abc%' use byte search.
func Like(e Expr, pattern string, caseInsensitive, negate bool) (Expr, error) {
	if id := e.DataType().ID(); id != arrow.STRING && id != arrow.NULL {
		return nil, errMismatch("operator does not exist: %s LIKE text", e.DataType())
	}
	p, err := compileLike(pattern, caseInsensitive)
	if err != nil {
		return nil, err
	}
	return &likeExpr{e: e, pattern: pattern, fold: caseInsensitive, negate: negate, compiled: p}, nil
}

func (e *likeExpr) DataType() arrow.DataType { return arrow.FixedWidthTypes.Boolean }
func (e *likeExpr) String() string {
	op := "LIKE"
	if e.fold {
		op = "ILIKE"
	}
	if e.negate {
		op = "NOT " + op
	}
	return fmt.Sprintf("(%s %s '%s')", e.e, op, e.pattern)
}

func (e *likeExpr) Eval(ctx context.Context, batch arrow.RecordBatch) (arrow.Array, error) {
	mem := exec.GetAllocator(ctx)
	a, err := e.e.Eval(ctx, batch)
	if err != nil {
		return nil, err
	}
	defer a.Release()
	n := a.Len()
	if a.DataType().ID() == arrow.NULL {
		return allNull(ctx, arrow.FixedWidthTypes.Boolean, n), nil
	}
	sv := stringsOf(a)
	val := allocBitmap(mem, n)
	vb := val.Bytes()
	neg := e.negate
	var scratch []byte // reused lower-case buffer for ILIKE
	for i := 0; i < n; i++ {
		s := sv.at(i)
		if e.fold {
			scratch = appendLower(scratch[:0], s)
			s = scratch
		}
		vb[i>>3] |= b2u(e.compiled.match(s) != neg) << (i & 7)
	}
	vbuf, nulls := combineValidity(mem, n, a)
	return makeArray(arrow.FixedWidthTypes.Boolean, n, nulls, vbuf, val), nil
}

// appendLower appends the lower-case form of s to dst (ASCII fast path).
func appendLower(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, sz := utf8.DecodeRune(s[i:])
		dst = utf8.AppendRune(dst, unicode.ToLower(r))
		i += sz
	}
	return dst
}
