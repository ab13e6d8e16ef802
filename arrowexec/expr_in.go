package arrowexec

import (
	"context"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

// In is e IN (list) with SQL NULL semantics: NULL when e is NULL, or when no
// element matches and an element is NULL. The list has e's type.
//
// A list of constants of an integer, date/time or string type compiles into
// a hash set probed once per row; any other list becomes the equivalent
// chain e = x1 OR e = x2 ..., which has the same three-valued semantics.
func In(e Expr, list []Expr, negate bool) (Expr, error) {
	if len(list) == 0 {
		return nil, errMismatch("IN list is empty")
	}
	if s, ok, err := newInSet(e, list, negate); ok || err != nil {
		return s, err
	}
	var out Expr
	for _, x := range list {
		c, err := Compare(OpEq, e, x)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = c
		} else {
			out = Or(out, c)
		}
	}
	if negate {
		out = Not(out)
	}
	return out, nil
}

type inSetExpr struct {
	e       Expr
	negate  bool
	hasNull bool
	ints    map[int64]struct{}
	strs    map[string]struct{}
	strList []string // strs as a list when it is small: compared in turn, no hashing
	text    string
}

func newInSet(e Expr, list []Expr, negate bool) (Expr, bool, error) {
	s := &inSetExpr{e: e, negate: negate}
	id := e.DataType().ID()
	switch id {
	case arrow.INT16, arrow.INT32, arrow.INT64, arrow.DATE32, arrow.TIMESTAMP:
		s.ints = make(map[int64]struct{}, len(list))
	case arrow.STRING:
		s.strs = make(map[string]struct{}, len(list))
	default:
		return nil, false, nil
	}
	parts := make([]string, len(list))
	for i, x := range list {
		l, ok := x.(*litExpr)
		if !ok {
			return nil, false, nil
		}
		parts[i] = l.String()
		if !l.s.IsValid() {
			s.hasNull = true
			continue
		}
		if !arrow.TypeEqual(l.s.DataType(), e.DataType()) {
			return nil, false, errMismatch("IN list element %s is %s, not %s", l, l.s.DataType(), e.DataType())
		}
		switch v := l.s.(type) {
		case *scalar.Int16:
			s.ints[int64(v.Value)] = struct{}{}
		case *scalar.Int32:
			s.ints[int64(v.Value)] = struct{}{}
		case *scalar.Int64:
			s.ints[v.Value] = struct{}{}
		case *scalar.Date32:
			s.ints[int64(v.Value)] = struct{}{}
		case *scalar.Timestamp:
			s.ints[int64(v.Value)] = struct{}{}
		case *scalar.String:
			s.strs[string(v.Value.Bytes())] = struct{}{}
		default:
			return nil, false, nil
		}
	}
	not := ""
	if negate {
		not = "NOT "
	}
	if s.strs != nil && len(s.strs) <= maxInList {
		for v := range s.strs {
			s.strList = append(s.strList, v)
		}
	}
	s.text = fmt.Sprintf("(%s %sIN (%s))", e, not, strings.Join(parts, ", "))
	return s, true, nil
}

func (s *inSetExpr) DataType() arrow.DataType { return arrow.FixedWidthTypes.Boolean }
func (s *inSetExpr) String() string           { return s.text }

func (s *inSetExpr) Eval(ctx context.Context, batch arrow.RecordBatch) (arrow.Array, error) {
	mem := exec.GetAllocator(ctx)
	a, err := s.e.Eval(ctx, batch)
	if err != nil {
		return nil, err
	}
	defer a.Release()
	n := a.Len()
	val := allocBitmap(mem, n)
	vb := val.Bytes()
	// found[i] is written to val; the validity is e's validity AND (found
	// OR no NULL in the list).
	switch a.DataType().ID() {
	case arrow.INT16:
		probeInts(values[int16](a), s.ints, vb)
	case arrow.INT32, arrow.DATE32:
		probeInts(values[int32](a), s.ints, vb)
	case arrow.INT64, arrow.TIMESTAMP:
		probeInts(values[int64](a), s.ints, vb)
	case arrow.STRING:
		sv := stringsOf(a)
		if s.strList != nil {
			probeStrList(sv, s.strList, vb, n)
			break
		}
		for i := 0; i < n; i++ {
			_, ok := s.strs[string(sv.at(i))] // no allocation: map lookup by []byte conversion
			vb[i>>3] |= b2u(ok) << (i & 7)
		}
	}
	var vbuf *memory.Buffer
	if s.hasNull {
		vbuf = allocBitmap(mem, n)
		bitutil.CopyBitmap(vb, 0, n, vbuf.Bytes(), 0)
		if bits, off := validity(a); bits != nil {
			bitutil.BitmapAnd(vbuf.Bytes(), bits, 0, int64(off), vbuf.Bytes(), 0, int64(n))
		}
	} else if bits, _ := validity(a); bits != nil {
		vbuf, _ = combineValidity(mem, n, a)
	}
	if s.negate {
		bitutil.InvertBitmap(vb, 0, n, vb, 0)
	}
	nulls := 0
	if vbuf != nil {
		nulls = n - bitutil.CountSetBits(vbuf.Bytes(), 0, n)
	}
	return makeArray(arrow.FixedWidthTypes.Boolean, n, nulls, vbuf, val), nil
}

// maxInList is the largest string IN list probed by comparing each
// element (TPC-H's lists have 2-8): below it comparing lengths, then bytes,
// costs less than hashing the value for a map lookup.
const maxInList = 8

func probeStrList(sv stringValues, list []string, out []byte, n int) {
	for i := 0; i < n; i++ {
		b := sv.at(i)
		found := false
		for _, x := range list {
			if len(b) == len(x) && string(b) == x {
				found = true
				break
			}
		}
		out[i>>3] |= b2u(found) << (i & 7)
	}
}

func probeInts[T intT](v []T, set map[int64]struct{}, out []byte) {
	for i, x := range v {
		_, ok := set[int64(x)]
		out[i>>3] |= b2u(ok) << (i & 7)
	}
}
