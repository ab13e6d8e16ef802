package oltp

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/mantisdb/mantisdb/catalog"
)

// KeySpan is a span [Start, End) of row keys of one table, built by
// PrimaryKeySpan. A nil Start or End leaves that side unbounded. Spans are
// opaque: only their order and their use in ScanSpans are defined.
type KeySpan struct {
	Start, End []byte
}

// PrimaryKeySpan returns the span of the row keys of t whose primary key
// lies between start and end. Each bound holds values for a prefix of the
// primary-key columns (t.PrimaryKey order), typed like the columns' Arrow
// types (a DECIMAL in the column's scale); a key is compared with a bound
// on the bound's prefix only, so start = end = (5), both inclusive, spans
// every key whose first column is 5. An empty bound leaves that side
// unbounded. A NULL or mistyped value is an error.
func PrimaryKeySpan(t *catalog.Table, start []scalar.Scalar, startInclusive bool,
	end []scalar.Scalar, endInclusive bool) (KeySpan, error) {
	if len(start) > len(t.PrimaryKey) || len(end) > len(t.PrimaryKey) {
		return KeySpan{}, fmt.Errorf("oltp: key bound longer than the primary key of table %q", t.Name)
	}
	var sp KeySpan
	prefix := appendRowPrefix(nil, t.ID)
	var err error
	if len(start) > 0 {
		if sp.Start, err = appendKeyScalars(append([]byte(nil), prefix...), t, start); err != nil {
			return KeySpan{}, err
		}
		if !startInclusive {
			sp.Start = prefixSuccessor(sp.Start)
		}
	} else {
		sp.Start = prefix
	}
	if len(end) > 0 {
		if sp.End, err = appendKeyScalars(append([]byte(nil), prefix...), t, end); err != nil {
			return KeySpan{}, err
		}
		if endInclusive {
			sp.End = prefixSuccessor(sp.End)
		}
	} else {
		_, sp.End = rowSpan(t.ID)
	}
	return sp, nil
}

// appendKeyScalars appends the encodings of vals, values of the first
// primary-key columns of t. Every column encoding is self-delimiting, so
// the keys whose primary key starts with vals are exactly the keys that
// start with the result.
func appendKeyScalars(dst []byte, t *catalog.Table, vals []scalar.Scalar) ([]byte, error) {
	for i, v := range vals {
		col := &t.Columns[t.PrimaryKey[i]]
		var err error
		if dst, err = appendKeyScalar(dst, col.Type, v); err != nil {
			return nil, fmt.Errorf("oltp: key bound for column %q of table %q: %w", col.Name, t.Name, err)
		}
	}
	return dst, nil
}

// appendKeyScalar appends the order-preserving encoding of v, a value of
// type typ, as appendKeyValue does for a column value.
func appendKeyScalar(dst []byte, typ catalog.Type, v scalar.Scalar) ([]byte, error) {
	if v == nil || !v.IsValid() {
		return nil, fmt.Errorf("NULL in a key bound")
	}
	ok := true
	switch typ.Kind {
	case catalog.KindBoolean:
		var s *scalar.Boolean
		if s, ok = v.(*scalar.Boolean); ok {
			dst = appendBoolKey(dst, s.Value)
		}
	case catalog.KindSmallint:
		var s *scalar.Int16
		if s, ok = v.(*scalar.Int16); ok {
			dst = appendInt16Key(dst, s.Value)
		}
	case catalog.KindInt:
		var s *scalar.Int32
		if s, ok = v.(*scalar.Int32); ok {
			dst = appendInt32Key(dst, s.Value)
		}
	case catalog.KindBigint:
		var s *scalar.Int64
		if s, ok = v.(*scalar.Int64); ok {
			dst = appendInt64Key(dst, s.Value)
		}
	case catalog.KindReal:
		var s *scalar.Float32
		if s, ok = v.(*scalar.Float32); ok {
			dst = appendFloat32Key(dst, s.Value)
		}
	case catalog.KindDouble:
		var s *scalar.Float64
		if s, ok = v.(*scalar.Float64); ok {
			dst = appendFloat64Key(dst, s.Value)
		}
	case catalog.KindDecimal:
		var s *scalar.Decimal128
		if s, ok = v.(*scalar.Decimal128); ok {
			if dt, isDec := s.Type.(interface{ GetScale() int32 }); isDec && dt.GetScale() != typ.Scale {
				return nil, fmt.Errorf("decimal of scale %d for a column of scale %d", dt.GetScale(), typ.Scale)
			}
			dst = appendDecimalKey(dst, s.Value)
		}
	case catalog.KindVarchar:
		var s *scalar.String
		if s, ok = v.(*scalar.String); ok {
			dst = appendBytesKey(dst, s.Data())
		}
	case catalog.KindDate:
		var s *scalar.Date32
		if s, ok = v.(*scalar.Date32); ok {
			dst = appendInt32Key(dst, int32(s.Value))
		}
	case catalog.KindTimestamp:
		var s *scalar.Timestamp
		if s, ok = v.(*scalar.Timestamp); ok {
			dst = appendInt64Key(dst, int64(s.Value))
		}
	default:
		return nil, fmt.Errorf("unsupported key type %s", typ)
	}
	if !ok {
		return nil, fmt.Errorf("value of type %s for a column of type %s", v.DataType(), typ)
	}
	return dst, nil
}

// prefixSuccessor returns the smallest key greater than every key that
// starts with p, in place. p always starts with a row prefix whose last
// byte (subRow) is not 0xff, so the result is never empty.
func prefixSuccessor(p []byte) []byte {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] != 0xff {
			p[i]++
			return p[:i+1]
		}
	}
	return p
}
