package planner

import (
	"math"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/sql"
)

// This file chooses access paths: a scan with filters directly above it
// may be served by a primary-key range scan (KeyRangeScanner) or by a scan
// that prunes with simple predicates (FilteredScanner), when the
// SourceProvider implements those optional interfaces. The Filter stays
// above such scans unless the provider says the pushed predicate is exact,
// so a provider may always return more rows than asked for.

// PredOp is the operator of a pushed-down column predicate.
type PredOp uint8

// Column predicate operators. Comparisons follow SQL: a NULL column value
// satisfies none of them except PredIsNull.
const (
	PredEq PredOp = iota
	PredNe
	PredLt
	PredLe
	PredGt
	PredGe
	// PredIn is column IN (Values...).
	PredIn
	PredIsNull
	PredIsNotNull
)

var predOpNames = [...]string{"=", "<>", "<", "<=", ">", ">=", "IN", "IS NULL", "IS NOT NULL"}

func (o PredOp) String() string { return predOpNames[o] }

// ColumnPred is one simple predicate over one table column: Col Op
// Values[0] for comparisons, Col IN (Values...) for PredIn, no Values for
// IS [NOT] NULL. Values are never NULL and have exactly the column's Arrow
// type (catalog.Type.ArrowType).
type ColumnPred struct {
	// Col is an index into the table's columns (not into the scanned
	// columns).
	Col    int
	Op     PredOp
	Values []scalar.Scalar
}

// ScanPredicate is the conjunction (AND) of its column predicates.
type ScanPredicate struct {
	Conjuncts []ColumnPred
	// Runtime holds runtime filters (rtfilter.go): the scan may also
	// leave out rows whose key is not among a filter's published keys.
	// They never make a scan exact.
	Runtime []RuntimeKey
}

// FilteredScanner is optionally implemented by a SourceProvider whose
// storage can skip rows by simple predicates (zone maps, bitmaps, bloom
// filters of segments).
type FilteredScanner interface {
	// ScanFiltered is Scan that may leave out rows for which pred is not
	// true. exact reports that every row the scan returns satisfies pred,
	// so that the planner can drop its Filter when pred covers it.
	ScanFiltered(t *catalog.Table, cols []int, withKey bool, pred ScanPredicate) (open arrowexec.OpenSource, exact bool)
}

// KeyRange is a range of primary-key values. Start and End hold values for
// a prefix of the key columns (t.PrimaryKey order), each typed like its
// column; a key is compared with a bound on the bound's prefix only, so
// Start = (5) inclusive and End = (5) inclusive select every key whose
// first column is 5. An empty Start or End leaves that side unbounded.
type KeyRange struct {
	Start, End                   []scalar.Scalar
	StartInclusive, EndInclusive bool
}

// IsPoint reports whether r selects the single key Start, a value for every
// primary-key column of t.
func (r KeyRange) IsPoint(t *catalog.Table) bool {
	if len(r.Start) != len(t.PrimaryKey) || len(r.End) != len(r.Start) || !r.StartInclusive || !r.EndInclusive {
		return false
	}
	for i := range r.Start {
		if !scalarEqual(r.Start[i], r.End[i]) {
			return false
		}
	}
	return true
}

// KeyRangeScanner is optionally implemented by a SourceProvider that can
// read rows by primary key without a full scan (the row store's key order,
// segments' key ranges and sorted key columns).
type KeyRangeScanner interface {
	// ScanKeyRange is Scan restricted to rows whose primary key lies in
	// one of ranges. The ranges are sorted by Start and do not overlap;
	// rows come in any order. Returning rows outside the ranges is
	// allowed (the planner keeps its Filter).
	ScanKeyRange(t *catalog.Table, cols []int, withKey bool, ranges []KeyRange) arrowexec.OpenSource
}

// maxKeyRanges bounds the ranges an IN list (or a product of them over
// several key columns) may expand to; above it the planner scans.
const maxKeyRanges = 4096

// splitAnd appends the conjuncts of e to out.
func splitAnd(e sql.Expr, out []sql.Expr) []sql.Expr {
	if l, ok := e.(*sql.Logic); ok && l.Op == sql.OpAnd {
		return splitAnd(l.R, splitAnd(l.L, out))
	}
	return append(out, e)
}

// constValue returns the value of a literal or a bound parameter.
func (b *builder) constValue(e sql.Expr) (scalar.Scalar, bool) {
	switch e := e.(type) {
	case *sql.Literal:
		return e.Value, true
	case *sql.Param:
		if b != nil && e.Idx < len(b.params) {
			return b.params[e.Idx].Value, true
		}
	}
	return nil, false
}

// intConstAs returns the constant of x, a cast of an integer constant to
// the integer type dt (how the binder types `int_col >= 100000`: the
// literal is a BIGINT), as a scalar of dt, when its value fits dt; the
// comparison with it is then exactly the one in the query.
func (b *builder) intConstAs(x sql.Expr, dt arrow.DataType) (scalar.Scalar, bool) {
	c, ok := x.(*sql.Cast)
	if !ok {
		return nil, false
	}
	v, ok := b.constValue(c.Arg)
	if !ok || v == nil || !v.IsValid() {
		return nil, false
	}
	var n int64
	switch v := v.(type) {
	case *scalar.Int64:
		n = v.Value
	case *scalar.Int32:
		n = int64(v.Value)
	case *scalar.Int16:
		n = int64(v.Value)
	default:
		return nil, false
	}
	switch dt.ID() {
	case arrow.INT64:
		return scalar.NewInt64Scalar(n), true
	case arrow.INT32:
		if n >= math.MinInt32 && n <= math.MaxInt32 {
			return scalar.NewInt32Scalar(int32(n)), true
		}
	case arrow.INT16:
		if n >= math.MinInt16 && n <= math.MaxInt16 {
			return scalar.NewInt16Scalar(int16(n)), true
		}
	}
	return nil, false
}

// columnPred converts a conjunct over scan's output columns into a
// predicate over table columns, when it is that simple.
func (b *builder) columnPred(scan *sql.Scan, e sql.Expr) (ColumnPred, bool) {
	col := func(x sql.Expr) (int, arrow.DataType, bool) {
		x = unwrapNoopCast(x)
		r, ok := x.(*sql.ColumnRef)
		if !ok || r.Idx < 0 || r.Idx >= len(scan.Cols) {
			return 0, nil, false
		}
		c := scan.Cols[r.Idx]
		return c, scan.Table.Schema().Field(c).Type, true
	}
	val := func(x sql.Expr, dt arrow.DataType) (scalar.Scalar, bool) {
		v, ok := b.constValue(x)
		if !ok {
			v, ok = b.intConstAs(x, dt)
		}
		if !ok || v == nil || !v.IsValid() || !arrow.TypeEqual(v.DataType(), dt) {
			return nil, false
		}
		return v, true
	}
	switch e := e.(type) {
	case *sql.Compare:
		l, r, op := e.L, e.R, e.Op
		if _, ok := unwrapNoopCast(l).(*sql.ColumnRef); !ok {
			l, r = r, l
			op = flipCmp(op)
		}
		c, dt, ok := col(l)
		if !ok {
			return ColumnPred{}, false
		}
		v, ok := val(r, dt)
		if !ok {
			return ColumnPred{}, false
		}
		return ColumnPred{Col: c, Op: cmpPredOp(op), Values: []scalar.Scalar{v}}, true
	case *sql.In:
		if e.Negate {
			return ColumnPred{}, false
		}
		c, dt, ok := col(e.Arg)
		if !ok {
			return ColumnPred{}, false
		}
		vs := make([]scalar.Scalar, 0, len(e.List))
		for _, x := range e.List {
			v, ok := b.constValue(x)
			if !ok || v == nil || !arrow.TypeEqual(v.DataType(), dt) {
				return ColumnPred{}, false
			}
			if v.IsValid() { // x IN (…, NULL) is never true for NULL
				vs = append(vs, v)
			}
		}
		return ColumnPred{Col: c, Op: PredIn, Values: vs}, true
	case *sql.IsNull:
		c, _, ok := col(e.Arg)
		if !ok {
			return ColumnPred{}, false
		}
		if e.Negate {
			return ColumnPred{Col: c, Op: PredIsNotNull}, true
		}
		return ColumnPred{Col: c, Op: PredIsNull}, true
	}
	return ColumnPred{}, false
}

// unwrapNoopCast strips a cast that changes neither the value nor its Arrow
// type (VARCHAR(n) to unbounded VARCHAR, which the binder inserts for
// comparisons with literals).
func unwrapNoopCast(e sql.Expr) sql.Expr {
	c, ok := e.(*sql.Cast)
	if !ok {
		return e
	}
	from := c.Arg.Type()
	if from.Kind == c.To.Kind && from.Kind == catalog.KindVarchar && c.To.Length == 0 {
		return c.Arg
	}
	if from == c.To {
		return c.Arg
	}
	return e
}

func flipCmp(op arrowexec.CmpOp) arrowexec.CmpOp {
	switch op {
	case arrowexec.OpLt:
		return arrowexec.OpGt
	case arrowexec.OpLe:
		return arrowexec.OpGe
	case arrowexec.OpGt:
		return arrowexec.OpLt
	case arrowexec.OpGe:
		return arrowexec.OpLe
	}
	return op
}

func cmpPredOp(op arrowexec.CmpOp) PredOp {
	switch op {
	case arrowexec.OpEq:
		return PredEq
	case arrowexec.OpNe:
		return PredNe
	case arrowexec.OpLt:
		return PredLt
	case arrowexec.OpLe:
		return PredLe
	case arrowexec.OpGt:
		return PredGt
	}
	return PredGe
}

// keyRanges derives primary-key ranges from preds: equality or IN on a
// prefix of the key columns, then optionally bounds on the next one. It
// returns nil when the first key column is unconstrained.
func keyRanges(t *catalog.Table, preds []ColumnPred) []KeyRange {
	prefixes := [][]scalar.Scalar{nil}
	var lo, hi scalar.Scalar
	var loInc, hiInc bool
	for _, kc := range t.PrimaryKey {
		var eq []scalar.Scalar
		found := false
		for _, p := range preds {
			if p.Col != kc {
				continue
			}
			switch p.Op {
			case PredEq, PredIn:
				if !found || len(p.Values) < len(eq) {
					eq, found = p.Values, true
				}
			}
		}
		if found {
			eq = sortedUnique(eq)
			if len(eq) == 0 {
				return []KeyRange{} // no key can match
			}
			if len(prefixes)*len(eq) > maxKeyRanges {
				break
			}
			next := make([][]scalar.Scalar, 0, len(prefixes)*len(eq))
			for _, pre := range prefixes {
				for _, v := range eq {
					next = append(next, append(append([]scalar.Scalar(nil), pre...), v))
				}
			}
			prefixes = next
			continue
		}
		// Bounds on this column end the prefix.
		for _, p := range preds {
			if p.Col != kc {
				continue
			}
			v := p.Values
			switch p.Op {
			case PredGt, PredGe:
				if lo == nil || scalarLess(lo, v[0]) || (scalarEqual(lo, v[0]) && p.Op == PredGt) {
					lo, loInc = v[0], p.Op == PredGe
				}
			case PredLt, PredLe:
				if hi == nil || scalarLess(v[0], hi) || (scalarEqual(hi, v[0]) && p.Op == PredLt) {
					hi, hiInc = v[0], p.Op == PredLe
				}
			}
		}
		break
	}
	if len(prefixes[0]) == 0 && lo == nil && hi == nil {
		return nil
	}
	out := make([]KeyRange, len(prefixes))
	for i, pre := range prefixes {
		r := KeyRange{Start: pre, End: pre, StartInclusive: true, EndInclusive: true}
		if lo != nil {
			r.Start, r.StartInclusive = append(append([]scalar.Scalar(nil), pre...), lo), loInc
		}
		if hi != nil {
			r.End, r.EndInclusive = append(append([]scalar.Scalar(nil), pre...), hi), hiInc
		}
		if len(r.Start) == 0 {
			r.StartInclusive = false
		}
		if len(r.End) == 0 {
			r.EndInclusive = false
		}
		out[i] = r
	}
	return out
}

// sortedUnique returns vs sorted and without duplicates (a new slice).
func sortedUnique(vs []scalar.Scalar) []scalar.Scalar {
	out := append([]scalar.Scalar(nil), vs...)
	sort.SliceStable(out, func(i, j int) bool { return scalarLess(out[i], out[j]) })
	w := 0
	for i, v := range out {
		if i > 0 && scalarEqual(out[w-1], v) {
			continue
		}
		out[w] = v
		w++
	}
	return out[:w]
}

// scalarCmp orders two valid scalars of the same type; ok is false for
// types without an order here.
func scalarCmp(a, b scalar.Scalar) (int, bool) {
	cmp := func(x, y int64) int {
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	switch x := a.(type) {
	case *scalar.Int16:
		return cmp(int64(x.Value), int64(b.(*scalar.Int16).Value)), true
	case *scalar.Int32:
		return cmp(int64(x.Value), int64(b.(*scalar.Int32).Value)), true
	case *scalar.Int64:
		return cmp(x.Value, b.(*scalar.Int64).Value), true
	case *scalar.Date32:
		return cmp(int64(x.Value), int64(b.(*scalar.Date32).Value)), true
	case *scalar.Timestamp:
		return cmp(int64(x.Value), int64(b.(*scalar.Timestamp).Value)), true
	case *scalar.Decimal128:
		y := b.(*scalar.Decimal128)
		if x.Type.(*arrow.Decimal128Type).Scale != y.Type.(*arrow.Decimal128Type).Scale {
			return 0, false
		}
		return decimal128.Num.Cmp(x.Value, y.Value), true
	case *scalar.String:
		xs, ys := string(x.Data()), string(b.(*scalar.String).Data())
		switch {
		case xs < ys:
			return -1, true
		case xs > ys:
			return 1, true
		}
		return 0, true
	case *scalar.Boolean:
		xv, yv := b2i(x.Value), b2i(b.(*scalar.Boolean).Value)
		return cmp(xv, yv), true
	case *scalar.Float64:
		y := b.(*scalar.Float64).Value
		switch {
		case x.Value < y:
			return -1, true
		case x.Value > y:
			return 1, true
		}
		return 0, true
	case *scalar.Float32:
		y := b.(*scalar.Float32).Value
		switch {
		case x.Value < y:
			return -1, true
		case x.Value > y:
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

func b2i(v bool) int64 {
	if v {
		return 1
	}
	return 0
}

func scalarLess(a, b scalar.Scalar) bool {
	c, ok := scalarCmp(a, b)
	return ok && c < 0
}

func scalarEqual(a, b scalar.Scalar) bool {
	c, ok := scalarCmp(a, b)
	if !ok {
		return scalar.Equals(a, b)
	}
	return c == 0
}

// buildScanAccess builds the scan under filters (top first), choosing the
// access path. ok is false when no optional interface applies; the caller
// then builds the plain scan.
func (b *builder) buildScanAccess(scan *sql.Scan, filters []*sql.Filter) (arrowexec.Operator, bool, error) {
	krs, isKR := b.src.(KeyRangeScanner)
	fs, isFS := b.src.(FilteredScanner)
	if !isKR && !isFS {
		return nil, false, nil
	}
	var conj []sql.Expr
	for _, f := range filters {
		conj = splitAnd(f.Pred, conj)
	}
	var preds []ColumnPred
	for _, e := range conj {
		if p, ok := b.columnPred(scan, e); ok {
			preds = append(preds, p)
		}
	}
	rtKeys := b.scanRuntimeKeys(scan)
	if len(preds) == 0 && len(rtKeys) == 0 {
		return nil, false, nil
	}
	var open arrowexec.OpenSource
	keepFilter := true
	if isKR && scan.Table.HasPrimaryKey() {
		if ranges := keyRanges(scan.Table, preds); ranges != nil {
			open = krs.ScanKeyRange(scan.Table, scan.Cols, scan.WithKey, ranges)
		}
	}
	if open == nil && isFS {
		var exact bool
		open, exact = fs.ScanFiltered(scan.Table, scan.Cols, scan.WithKey, ScanPredicate{Conjuncts: preds, Runtime: rtKeys})
		keepFilter = !exact || len(preds) != len(conj)
	}
	if open == nil {
		return nil, false, nil
	}
	var op arrowexec.Operator = arrowexec.NewScan(scanSchema(scan), open)
	if !keepFilter {
		return op, true, nil
	}
	for i := len(filters) - 1; i >= 0; i-- {
		next, err := b.wrap(filters[i], op)
		if err != nil {
			op.Close()
			return nil, true, err
		}
		op = next
	}
	return op, true, nil
}

// scanSchema is the schema of the batches of a scan node.
func scanSchema(n *sql.Scan) *arrow.Schema {
	fields := make([]arrow.Field, 0, len(n.Cols)+1)
	sch := n.Table.Schema()
	for _, c := range n.Cols {
		fields = append(fields, sch.Field(c))
	}
	if n.WithKey {
		fields = append(fields, arrow.Field{Name: sql.KeyColumnName, Type: arrow.BinaryTypes.Binary})
	}
	return arrow.NewSchema(fields, nil)
}
