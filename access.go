package mantisdb

import (
	"context"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/oltp"
	"github.com/mantisdb/mantisdb/planner"
	"github.com/mantisdb/mantisdb/segments"
)

// This file adapts the planner's optional access paths (planner.KeyRangeScanner,
// planner.FilteredScanner) to the storage tiers: primary-key ranges become
// oltp key spans over the row store and, in segments, Lookup positions (for
// points) or a pruning predicate on the first key column (for ranges);
// column predicates become segments.Predicate. Storage never sees planner
// types.

// keyAccess is how a tierSource restricts its scan to primary-key ranges.
type keyAccess struct {
	// spans restrict the row store.
	spans []oltp.KeySpan
	// points, when not nil, are full primary keys: segments are read at
	// the positions Lookup finds for them.
	points [][]segments.Value
	// filter prunes segments for ranges that are not all points.
	filter segments.Predicate
}

// keyAccessOf converts ranges over t's primary key. ok is false when a
// bound cannot be used (a type storage does not order the same way); the
// caller then scans everything.
func keyAccessOf(t *catalog.Table, ranges []planner.KeyRange) (ka keyAccess, ok bool) {
	ka.spans = make([]oltp.KeySpan, 0, len(ranges))
	allPoints := true
	for _, r := range ranges {
		sp, err := oltp.PrimaryKeySpan(t, r.Start, r.StartInclusive, r.End, r.EndInclusive)
		if err != nil {
			return keyAccess{}, false
		}
		ka.spans = append(ka.spans, sp)
		allPoints = allPoints && r.IsPoint(t)
	}
	if len(ranges) == 0 {
		return ka, true
	}
	if allPoints {
		ka.points = make([][]segments.Value, len(ranges))
		for i, r := range ranges {
			key := make([]segments.Value, len(r.Start))
			for j, v := range r.Start {
				if key[j], ok = segValue(v); !ok {
					return keyAccess{}, false
				}
			}
			ka.points[i] = key
		}
		return ka, true
	}
	// The hull of the ranges on the first key column, plus the list of its
	// values when every range fixes it.
	first := t.Columns[t.PrimaryKey[0]].Name
	if lo := ranges[0].Start; len(lo) > 0 {
		v, ok := segValue(lo[0])
		if !ok {
			return keyAccess{}, false
		}
		op := segments.OpGe
		if len(lo) == 1 && !ranges[0].StartInclusive {
			op = segments.OpGt
		}
		ka.filter = append(ka.filter, segments.Cond{Column: first, Op: op, Value: v})
	}
	if hi := ranges[len(ranges)-1].End; len(hi) > 0 {
		v, ok := segValue(hi[0])
		if !ok {
			return keyAccess{}, false
		}
		op := segments.OpLe
		if len(hi) == 1 && !ranges[len(ranges)-1].EndInclusive {
			op = segments.OpLt
		}
		ka.filter = append(ka.filter, segments.Cond{Column: first, Op: op, Value: v})
	}
	var in []segments.Value
	for _, r := range ranges {
		if len(r.Start) == 0 || len(r.End) == 0 {
			in = nil
			break
		}
		a, ok1 := segValue(r.Start[0])
		b, ok2 := segValue(r.End[0])
		if !ok1 || !ok2 || segments.Compare(a, b) != 0 {
			in = nil
			break
		}
		if len(in) == 0 || segments.Compare(in[len(in)-1], a) != 0 {
			in = append(in, a)
		}
	}
	if len(in) > 0 {
		ka.filter = append(ka.filter, segments.Cond{Column: first, Op: segments.OpIn, Values: in})
	}
	return ka, true
}

// rows returns the positions of h's live rows holding one of ka.points,
// or nil (read the whole segment) when the segment is not sorted by t's
// primary key, so that Lookup cannot find its keys.
func (ka *keyAccess) rows(ctx context.Context, t *catalog.Table, h *segHandle, deleted *roaring.Bitmap) (*roaring.Bitmap, error) {
	sk := h.meta.SortKey
	if len(sk) != len(t.PrimaryKey) {
		return nil, nil
	}
	for i, c := range t.PrimaryKey {
		if !strings.EqualFold(sk[i], t.Columns[c].Name) {
			return nil, nil
		}
	}
	bm := roaring.New()
	for _, key := range ka.points {
		pos, found, err := h.r.Lookup(ctx, key, deleted)
		if err != nil {
			return nil, err
		}
		if found {
			bm.Add(uint32(pos))
		}
	}
	return bm, nil
}

// segPredicate converts the conjuncts of pred that segments can prune with.
func segPredicate(t *catalog.Table, pred planner.ScanPredicate) segments.Predicate {
	var out segments.Predicate
	for _, p := range pred.Conjuncts {
		if p.Col < 0 || p.Col >= len(t.Columns) {
			continue
		}
		c := segments.Cond{Column: t.Columns[p.Col].Name}
		switch p.Op {
		case planner.PredEq:
			c.Op = segments.OpEq
		case planner.PredLt:
			c.Op = segments.OpLt
		case planner.PredLe:
			c.Op = segments.OpLe
		case planner.PredGt:
			c.Op = segments.OpGt
		case planner.PredGe:
			c.Op = segments.OpGe
		case planner.PredIn:
			c.Op = segments.OpIn
		case planner.PredIsNull:
			c.Op = segments.OpIsNull
		default:
			continue // <> and IS NOT NULL prune nothing
		}
		ok := true
		switch c.Op {
		case segments.OpIsNull:
		case segments.OpIn:
			c.Values = make([]segments.Value, 0, len(p.Values))
			for _, v := range p.Values {
				sv, vok := segValue(v)
				ok = ok && vok
				c.Values = append(c.Values, sv)
			}
		default:
			if len(p.Values) != 1 {
				ok = false
				break
			}
			c.Value, ok = segValue(p.Values[0])
		}
		if ok {
			out = append(out, c)
		}
	}
	return out
}

// segValue converts a non-NULL scalar of a column's Arrow type to a
// segments.Value of the column's kind.
func segValue(s scalar.Scalar) (segments.Value, bool) {
	if s == nil || !s.IsValid() {
		return segments.Value{}, false
	}
	switch v := s.(type) {
	case *scalar.Boolean:
		return segments.BoolValue(v.Value), true
	case *scalar.Int16:
		return segments.SmallintValue(v.Value), true
	case *scalar.Int32:
		return segments.IntValue(v.Value), true
	case *scalar.Int64:
		return segments.Int64Value(v.Value), true
	case *scalar.Float32:
		return segments.Float32Value(v.Value), true
	case *scalar.Float64:
		return segments.Float64Value(v.Value), true
	case *scalar.Decimal128:
		return segments.DecimalValue(v.Value), true
	case *scalar.String:
		return segments.StringValue(string(v.Data())), true
	case *scalar.Date32:
		return segments.DateValue(int32(v.Value)), true
	case *scalar.Timestamp:
		return segments.TimestampValue(int64(v.Value)), true
	}
	return segments.Value{}, false
}

// ScanKeyRange implements planner.KeyRangeScanner.
func (p scanProvider) ScanKeyRange(t *catalog.Table, cols []int, withKey bool, ranges []planner.KeyRange) arrowexec.OpenSource {
	ka, ok := keyAccessOf(t, ranges)
	if !ok {
		return p.Scan(t, cols, withKey)
	}
	return func(ctx context.Context) (arrowexec.Source, error) {
		if err := p.rv.checkSchema(t); err != nil {
			return nil, err
		}
		ents, err := p.rv.snap.Segments(t.ID)
		if err != nil {
			return nil, err
		}
		rs, err := p.rv.snap.ScanSpans(t, cols, withKey, ka.spans)
		if err != nil {
			return nil, err
		}
		return p.rv.db.newTierSource(ctx, p.rv.v, t, cols, withKey, ka.filter, &ka, rs, ents)
	}
}

// ScanFiltered implements planner.FilteredScanner: segment row groups and
// rows that cannot satisfy pred are skipped (zone maps, bitmaps, bloom
// filters); the row store is read whole, so the result is never exact.
func (p scanProvider) ScanFiltered(t *catalog.Table, cols []int, withKey bool, pred planner.ScanPredicate) (arrowexec.OpenSource, bool) {
	return p.scanPruned(t, cols, withKey, segPredicate(t, pred), pred.Runtime), false
}

// ScanKeyRange implements planner.KeyRangeScanner.
func (p txnProvider) ScanKeyRange(t *catalog.Table, cols []int, withKey bool, ranges []planner.KeyRange) arrowexec.OpenSource {
	ka, ok := keyAccessOf(t, ranges)
	if !ok {
		return p.Scan(t, cols, withKey)
	}
	return func(ctx context.Context) (arrowexec.Source, error) {
		if err := checkSchema(p.tx, t); err != nil {
			return nil, err
		}
		ents, err := p.tx.Segments(t.ID)
		if err != nil {
			return nil, err
		}
		rs, err := p.tx.ScanSpans(t, cols, withKey, ka.spans)
		if err != nil {
			return nil, err
		}
		return p.db.newTierSource(ctx, p.v, t, cols, withKey, ka.filter, &ka, rs, ents)
	}
}

// ScanFiltered implements planner.FilteredScanner; see
// scanProvider.ScanFiltered.
func (p txnProvider) ScanFiltered(t *catalog.Table, cols []int, withKey bool, pred planner.ScanPredicate) (arrowexec.OpenSource, bool) {
	return p.scanPruned(t, cols, withKey, segPredicate(t, pred), pred.Runtime), false
}

var (
	_ planner.KeyRangeScanner = scanProvider{}
	_ planner.FilteredScanner = scanProvider{}
	_ planner.KeyRangeScanner = txnProvider{}
	_ planner.FilteredScanner = txnProvider{}
)
