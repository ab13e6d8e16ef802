package arrowexec

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// caseExpr is CASE WHEN c1 THEN v1 ... ELSE e END.
type caseExpr struct {
	whens []Expr
	thens []Expr
	els   Expr // nil: NULL
	dt    arrow.DataType
}

var _ Expr = (*caseExpr)(nil)

// Case returns the searched CASE: the value of the first then whose when is
// true (NULL counts as false), else els (nil: NULL). Every then and els
// must have the same Arrow type (or be NULL literals). All branches are
// evaluated over the whole batch, so an error in a branch that no row
// takes (say a division by zero) is still raised.
func Case(whens, thens []Expr, els Expr) (Expr, error) {
	if len(whens) != len(thens) || len(whens) == 0 {
		return nil, fmt.Errorf("arrowexec: CASE with %d conditions and %d values", len(whens), len(thens))
	}
	var dt arrow.DataType
	for _, v := range append(append([]Expr(nil), thens...), els) {
		if v == nil || v.DataType().ID() == arrow.NULL {
			continue
		}
		if dt == nil {
			dt = v.DataType()
		} else if !arrow.TypeEqual(dt, v.DataType()) {
			return nil, errMismatch("CASE types %s and %s cannot be matched", dt, v.DataType())
		}
	}
	if dt == nil {
		dt = arrow.Null
	}
	for _, w := range whens {
		if id := w.DataType().ID(); id != arrow.BOOL && id != arrow.NULL {
			return nil, errMismatch("argument of CASE/WHEN must be type boolean, not %s", w.DataType())
		}
	}
	if fixedWidth(dt) < 0 && dt.ID() != arrow.STRING {
		return nil, fmt.Errorf("arrowexec: CASE of %s is not supported", dt)
	}
	return &caseExpr{whens: whens, thens: thens, els: els, dt: dt}, nil
}

func (e *caseExpr) DataType() arrow.DataType { return e.dt }

func (e *caseExpr) String() string {
	var b strings.Builder
	b.WriteString("CASE")
	for i := range e.whens {
		fmt.Fprintf(&b, " WHEN %s THEN %s", e.whens[i], e.thens[i])
	}
	if e.els != nil {
		fmt.Fprintf(&b, " ELSE %s", e.els)
	}
	b.WriteString(" END")
	return b.String()
}

func (e *caseExpr) Eval(ctx context.Context, batch arrow.RecordBatch) (arrow.Array, error) {
	n := int(batch.NumRows())
	mem := exec.GetAllocator(ctx)
	if e.dt.ID() == arrow.NULL {
		return allNull(ctx, e.dt, n), nil
	}
	// which[i] is the branch row i takes; len(thens) is the ELSE branch.
	which := make([]int32, n)
	for i := range which {
		which[i] = -1
	}
	left := n
	for w, cond := range e.whens {
		if left == 0 {
			break
		}
		c, err := cond.Eval(ctx, batch)
		if err != nil {
			// A row an earlier WHEN took may be what failed (CASE WHEN
			// x = 0 THEN 0 WHEN 10 / x > 1 …): only the undecided rows
			// count.
			if c, err = evalRows(ctx, cond, batch, which, -1, err); err != nil {
				return nil, err
			}
		}
		if b, ok := c.(*array.Boolean); ok {
			mask, _ := trueMask(mem, b)
			bits := mask.Bytes()
			for i := 0; i < n; i++ {
				if which[i] < 0 && bitutil.BitIsSet(bits, i) {
					which[i] = int32(w)
					left--
				}
			}
			mask.Release()
		}
		c.Release()
	}
	branches := make([]operand, len(e.thens)+1)
	defer func() {
		for _, b := range branches {
			if b.arr != nil {
				b.arr.Release()
			}
		}
	}()
	for i := range which {
		if which[i] < 0 {
			which[i] = int32(len(e.thens))
		}
	}
	used := make([]bool, len(branches))
	for _, w := range which {
		used[w] = true
	}
	for k := range branches {
		v := e.els
		if k < len(e.thens) {
			v = e.thens[k]
		}
		if !used[k] || v == nil || isNullLit(v) {
			continue
		}
		op, err := evalOperand(ctx, v, batch)
		if err != nil {
			// The rows of other branches may be what failed (CASE WHEN
			// x = 0 THEN 0 ELSE 10 / x END): a branch errs only for its
			// own rows.
			arr, err := evalRows(ctx, v, batch, which, int32(k), err)
			if err != nil {
				return nil, err
			}
			op = operand{arr: arr, mask: -1}
		}
		branches[k] = op
	}
	// Validity: a row is valid when its branch value is.
	vbuf := allocBitmap(mem, n)
	vb := vbuf.Bytes()
	nulls := 0
	for i, w := range which {
		b := branches[w]
		if b.arr != nil && b.arr.IsValid(i&b.mask) && b.arr.DataType().ID() != arrow.NULL {
			bitutil.SetBit(vb, i)
		} else {
			nulls++
		}
	}
	switch e.dt.ID() {
	case arrow.INT16:
		return gatherCase[int16](mem, e.dt, branches, which, vbuf, nulls), nil
	case arrow.INT32, arrow.DATE32:
		return gatherCase[int32](mem, e.dt, branches, which, vbuf, nulls), nil
	case arrow.INT64, arrow.TIMESTAMP:
		return gatherCase[int64](mem, e.dt, branches, which, vbuf, nulls), nil
	case arrow.FLOAT32:
		return gatherCase[float32](mem, e.dt, branches, which, vbuf, nulls), nil
	case arrow.FLOAT64:
		return gatherCase[float64](mem, e.dt, branches, which, vbuf, nulls), nil
	case arrow.DECIMAL128:
		return gatherCase[decimal128.Num](mem, e.dt, branches, which, vbuf, nulls), nil
	case arrow.BOOL:
		buf := allocBitmap(mem, n)
		out := buf.Bytes()
		for i, w := range which {
			if b := branches[w]; b.arr != nil && bitutil.BitIsSet(vb, i) {
				d := b.arr.Data()
				if bitutil.BitIsSet(d.Buffers()[1].Bytes(), d.Offset()+i&b.mask) {
					bitutil.SetBit(out, i)
				}
			}
		}
		return makeArray(e.dt, n, nulls, vbuf, buf), nil
	case arrow.STRING:
		sv := make([]stringValues, len(branches))
		total := 0
		for k, b := range branches {
			if b.arr != nil {
				sv[k] = stringsOf(b.arr)
			}
		}
		for i, w := range which {
			if bitutil.BitIsSet(vb, i) {
				total += len(sv[w].at(i & branches[w].mask))
			}
		}
		obuf, offs := allocFixed[int32](mem, n+1)
		dbuf := memory.NewResizableBuffer(mem)
		dbuf.Resize(total)
		data := dbuf.Bytes()
		pos := int32(0)
		for i, w := range which {
			offs[i] = pos
			if bitutil.BitIsSet(vb, i) {
				pos += int32(copy(data[pos:], sv[w].at(i&branches[w].mask)))
			}
		}
		offs[n] = pos
		return makeArray(e.dt, n, nulls, vbuf, obuf, dbuf), nil
	}
	vbuf.Release()
	return nil, fmt.Errorf("arrowexec: CASE of %s is not supported", e.dt)
}

func gatherCase[T fixedT](mem memory.Allocator, dt arrow.DataType, branches []operand, which []int32, vbuf *memory.Buffer, nulls int) arrow.Array {
	vals := make([][]T, len(branches))
	for k, b := range branches {
		if b.arr != nil && b.arr.DataType().ID() != arrow.NULL {
			vals[k] = values[T](b.arr)
		}
	}
	buf, dst := allocFixed[T](mem, len(which))
	vb := vbuf.Bytes()
	for i, w := range which {
		if bitutil.BitIsSet(vb, i) {
			dst[i] = vals[w][i&branches[w].mask]
		}
	}
	return makeArray(dt, len(which), nulls, vbuf, buf)
}

// DatePart is a field EXTRACT reads.
type DatePart uint8

// Date parts.
const (
	PartYear DatePart = iota
	PartMonth
	PartDay
	PartHour
	PartMinute
	PartSecond
	PartQuarter
	PartDayOfWeek
	PartDayOfYear
)

type extractExpr struct {
	e    Expr
	part DatePart
}

// Extract returns EXTRACT(part FROM e) as Int64 for a Date32 or
// Timestamp(us) argument.
func Extract(part DatePart, e Expr) (Expr, error) {
	switch e.DataType().ID() {
	case arrow.DATE32, arrow.TIMESTAMP, arrow.NULL:
		return &extractExpr{e: e, part: part}, nil
	}
	return nil, errMismatch("cannot extract from %s", e.DataType())
}

func (e *extractExpr) DataType() arrow.DataType { return arrow.PrimitiveTypes.Int64 }
func (e *extractExpr) String() string           { return fmt.Sprintf("EXTRACT(%d FROM %s)", e.part, e.e) }

func (e *extractExpr) Eval(ctx context.Context, batch arrow.RecordBatch) (arrow.Array, error) {
	a, err := e.e.Eval(ctx, batch)
	if err != nil {
		return nil, err
	}
	defer a.Release()
	n := a.Len()
	if a.DataType().ID() == arrow.NULL {
		return allNull(ctx, arrow.PrimitiveTypes.Int64, n), nil
	}
	mem := exec.GetAllocator(ctx)
	buf, dst := allocFixed[int64](mem, n)
	bits, off := validity(a)
	if a.DataType().ID() == arrow.DATE32 {
		src := values[int32](a)
		for i := range dst {
			if isValid(bits, off, i) {
				dst[i] = datePart(time.Unix(int64(src[i])*86400, 0).UTC(), e.part)
			}
		}
	} else {
		src := values[int64](a)
		for i := range dst {
			if isValid(bits, off, i) {
				dst[i] = datePart(time.UnixMicro(src[i]).UTC(), e.part)
			}
		}
	}
	vbuf, nulls := combineValidity(mem, n, a)
	return makeArray(arrow.PrimitiveTypes.Int64, n, nulls, vbuf, buf), nil
}

func datePart(t time.Time, p DatePart) int64 {
	switch p {
	case PartYear:
		return int64(t.Year())
	case PartMonth:
		return int64(t.Month())
	case PartDay:
		return int64(t.Day())
	case PartHour:
		return int64(t.Hour())
	case PartMinute:
		return int64(t.Minute())
	case PartSecond:
		return int64(t.Second())
	case PartQuarter:
		return int64(t.Month()+2) / 3
	case PartDayOfWeek:
		return int64(t.Weekday())
	case PartDayOfYear:
		return int64(t.YearDay())
	}
	return 0
}

type substrExpr struct {
	e             Expr
	start, length int64 // 1-based start; length < 0: to the end
}

// Substring returns SUBSTRING(e FROM start FOR length) over characters
// (UTF-8 code points) with SQL's rules: positions before 1 count against
// the length; length < 0 means "to the end".
func Substring(e Expr, start, length int64) (Expr, error) {
	if id := e.DataType().ID(); id != arrow.STRING && id != arrow.NULL {
		return nil, errMismatch("function substring(%s) does not exist", e.DataType())
	}
	return &substrExpr{e: e, start: start, length: length}, nil
}

func (e *substrExpr) DataType() arrow.DataType { return arrow.BinaryTypes.String }
func (e *substrExpr) String() string {
	return fmt.Sprintf("SUBSTRING(%s FROM %d FOR %d)", e.e, e.start, e.length)
}

func (e *substrExpr) Eval(ctx context.Context, batch arrow.RecordBatch) (arrow.Array, error) {
	a, err := e.e.Eval(ctx, batch)
	if err != nil {
		return nil, err
	}
	defer a.Release()
	n := a.Len()
	if a.DataType().ID() == arrow.NULL {
		return allNull(ctx, arrow.BinaryTypes.String, n), nil
	}
	mem := exec.GetAllocator(ctx)
	sv := stringsOf(a)
	// Character window [from, to) with from 0-based; to < 0: no end.
	from, to := e.start-1, int64(-1)
	if e.length >= 0 {
		to = from + e.length
	}
	from = max(from, 0)
	obuf, offs := allocFixed[int32](mem, n+1)
	dbuf := memory.NewResizableBuffer(mem)
	dbuf.Resize(len(sv.data))
	data := dbuf.Bytes()
	pos := int32(0)
	for i := 0; i < n; i++ {
		offs[i] = pos
		s := sv.at(i)
		if to >= 0 && to <= from {
			continue
		}
		// Byte offsets of the window.
		bs, be := len(s), len(s)
		ch := int64(0)
		for k := 0; k < len(s); {
			if ch == from {
				bs = k
			}
			if to >= 0 && ch == to {
				be = k
				break
			}
			if s[k] < utf8.RuneSelf {
				k++
			} else {
				_, w := utf8.DecodeRune(s[k:])
				k += w
			}
			ch++
		}
		if bs < be {
			pos += int32(copy(data[pos:], s[bs:be]))
		}
	}
	offs[n] = pos
	vbuf, nulls := combineValidity(mem, n, a)
	return makeArray(arrow.BinaryTypes.String, n, nulls, vbuf, obuf, dbuf), nil
}

// evalRows evaluates e over the rows i of batch with which[i] == k, after
// evaluating it over all rows failed with failed. It returns an array of
// the batch's length whose other rows hold arbitrary values, or failed
// when every row is one of those rows.
func evalRows(ctx context.Context, e Expr, batch arrow.RecordBatch, which []int32, k int32, failed error) (arrow.Array, error) {
	var rows []int32
	for i, w := range which {
		if w == k {
			rows = append(rows, int32(i))
		}
	}
	if len(rows) == len(which) {
		return nil, failed
	}
	mem := exec.GetAllocator(ctx)
	sub, err := takeRecord(mem, batch, rows)
	if err != nil {
		return nil, err
	}
	defer sub.Release()
	part, err := e.Eval(ctx, sub)
	if err != nil {
		return nil, err
	}
	defer part.Release()
	// Scatter back: row rows[j] gets part[j], the others part[0] (or a
	// NULL of an empty part, which no caller reads).
	back := make([]int32, len(which))
	for j, r := range rows {
		back[r] = int32(j)
	}
	if part.Len() != len(rows) {
		return nil, failed
	}
	if part.Len() == 0 {
		return allNull(ctx, part.DataType(), len(which)), nil
	}
	return take(mem, part, back)
}
