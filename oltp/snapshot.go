package oltp

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cockroachdb/pebble/v2"

	"github.com/mantisdb/mantisdb/catalog"
)

// KeyField is the name of the extra last field that scans opened with
// withKey carry: the row's encoded storage key, for Update and Delete.
const KeyField = "__key"

// reader is what scans and point reads need from a pebble snapshot or an
// indexed batch.
type reader interface {
	NewIter(o *pebble.IterOptions) (*pebble.Iterator, error)
	Get(key []byte) ([]byte, io.Closer, error)
}

// Snapshot is a consistent point-in-time view of the store. It is safe for
// concurrent use; every Scanner opened from it must be closed before the
// Snapshot, and the Snapshot before the Store.
type Snapshot struct {
	s    *Store
	snap *pebble.Snapshot
	err  error
}

// Snapshot returns a view of every transaction committed so far. The caller
// must Close it.
func (s *Store) Snapshot() *Snapshot {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return &Snapshot{s: s, err: ErrClosed}
	}
	return &Snapshot{s: s, snap: s.db.NewSnapshot()}
}

// Close releases the snapshot. It is idempotent.
func (sn *Snapshot) Close() error {
	if sn.snap == nil {
		return nil
	}
	err := sn.snap.Close()
	sn.snap = nil
	if err != nil {
		return fmt.Errorf("cannot close snapshot: %w", err)
	}
	return nil
}

func (sn *Snapshot) check() error {
	if sn.err != nil {
		return sn.err
	}
	if sn.snap == nil {
		return errors.New("oltp: snapshot is closed")
	}
	return nil
}

// Scan returns a Scanner over every row of t: the row entries in primary
// key order (row id order for tables without a primary key), then the rows
// of each batch entry, in key order within the entry. Batches have the fields of
// t.Schema() listed in cols, in that order (a column may repeat), and when
// withKey an extra last Binary field KeyField. With no cols the batches
// carry only their row count (and the key when asked).
func (sn *Snapshot) Scan(t *catalog.Table, cols []int, withKey bool) (*Scanner, error) {
	if err := sn.check(); err != nil {
		return nil, err
	}
	refs, err := sn.s.batchRefs(sn.snap, t, nil, nil)
	if err != nil {
		return nil, err
	}
	return newScanner(sn.snap, sn.s.opts.Allocator, sn.s.opts.BatchSize, t, cols, withKey, nil, refs, &sn.s.batches)
}

// ScanSpans is Scan restricted to the row keys in spans, which must be
// sorted by Start and must not overlap (PrimaryKeySpan builds them). An
// empty spans scans nothing.
func (sn *Snapshot) ScanSpans(t *catalog.Table, cols []int, withKey bool, spans []KeySpan) (*Scanner, error) {
	if err := sn.check(); err != nil {
		return nil, err
	}
	if spans == nil {
		spans = []KeySpan{}
	}
	refs, err := sn.s.batchRefs(sn.snap, t, spans, nil)
	if err != nil {
		return nil, err
	}
	return newScanner(sn.snap, sn.s.opts.Allocator, sn.s.opts.BatchSize, t, cols, withKey, spans, refs, &sn.s.batches)
}

// Get reports whether the row with storage key key exists in t.
func (sn *Snapshot) Get(t *catalog.Table, key []byte) (found bool, err error) {
	if err := sn.check(); err != nil {
		return false, err
	}
	return getRow(sn.snap, t, key)
}

func getRow(r reader, t *catalog.Table, key []byte) (bool, error) {
	if err := checkRowKey(t, key); err != nil {
		return false, err
	}
	_, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("cannot read row of table %q: %w", t.Name, err)
	}
	_ = closer.Close()
	return true, nil
}

// checkRowKey verifies that key is a row key of table t.
func checkRowKey(t *catalog.Table, key []byte) error {
	var buf [rowPrefixLen]byte
	if len(key) <= rowPrefixLen || !bytes.Equal(key[:rowPrefixLen], appendRowPrefix(buf[:0], t.ID)) {
		return fmt.Errorf("oltp: key %x is not a row key of table %q", key, t.Name)
	}
	return nil
}

// Scanner reads the rows of one table as Arrow batches. It implements
// arrowexec.Source. It is not safe for concurrent use.
type Scanner struct {
	it *pebble.Iterator
	// A Txn's scan merges it (the snapshot) with own (the Txn's batch),
	// skipping snapshot keys that touched says the Txn wrote up to
	// generation gen; nil for a snapshot scan.
	own     *pebble.Iterator
	touched map[string]uint32
	gen     uint32
	itOK    bool // it is positioned on a row not shadowed by own
	ownOK   bool // own is positioned on a row
	fromOwn bool // the current row comes from own

	schema    *arrow.Schema
	dec       rowDecoder
	key       *array.BinaryBuilder // nil unless withKey
	outSlot   []int                // builder index per output column
	batchSize int
	started   bool
	done      bool
	// spans restricts the scan (nil: the whole table); span is the index
	// of the span the iterators are bounded to.
	spans []KeySpan
	span  int
	rec   arrow.RecordBatch
	arrs  []arrow.Array // scratch, len(outSlot)
	built []arrow.Array // scratch, len(dec.out)
	err   error
	// bs reads the batch entries, after the row entries.
	bs batchScan
}

func newScanner(r reader, mem memory.Allocator, batchSize int, t *catalog.Table, cols []int, withKey bool, spans []KeySpan, refs []batchRef, cache *batchCache) (*Scanner, error) {
	ts := t.Schema()
	fields := make([]arrow.Field, 0, len(cols)+1)
	for _, c := range cols {
		if c < 0 || c >= len(t.Columns) {
			return nil, fmt.Errorf("oltp: column %d out of range for table %q", c, t.Name)
		}
		fields = append(fields, ts.Field(c))
	}
	if withKey {
		fields = append(fields, arrow.Field{Name: KeyField, Type: arrow.BinaryTypes.Binary})
	}
	lo, hi := rowSpan(t.ID)
	if len(spans) > 0 {
		lo, hi = spans[0].Start, spans[0].End
	}
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, fmt.Errorf("cannot scan table %q: %w", t.Name, err)
	}
	sc := &Scanner{
		it:        it,
		spans:     spans,
		done:      spans != nil && len(spans) == 0,
		schema:    arrow.NewSchema(fields, nil),
		batchSize: batchSize,
		outSlot:   make([]int, len(cols)),
		arrs:      make([]arrow.Array, len(fields)),
		bs:        batchScan{t: t, mem: mem, cols: cols, refs: refs, cache: cache},
	}
	if err := sc.dec.init(mem, t, cols); err != nil {
		if it != nil {
			_ = it.Close()
		}
		return nil, err
	}
	for i, c := range cols {
		sc.outSlot[i] = sc.dec.slot[c]
	}
	sc.built = make([]arrow.Array, len(sc.dec.out))
	if withKey {
		sc.key = array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
	}
	return sc, nil
}

// Schema returns the schema of every batch.
func (sc *Scanner) Schema() *arrow.Schema { return sc.schema }

// Next advances to the next batch and reports whether there is one. Batches
// are never empty.
func (sc *Scanner) Next() bool {
	sc.releaseRecord()
	if sc.err != nil || sc.it == nil {
		return false
	}
	if !sc.done {
		if sc.nextRows() {
			return true
		}
		if sc.err != nil {
			return false
		}
	}
	return sc.nextBatchRows()
}

// nextRows reads the next batch of row entries.
func (sc *Scanner) nextRows() bool {
	n := 0
	if sc.spans == nil {
		sc.dec.reserve(sc.batchSize)
	} else {
		// Key-range scans are mostly point reads: let the builders grow
		// instead of zeroing a whole batch for one row.
		sc.dec.reserve(min(sc.batchSize, 16))
	}
	for n < sc.batchSize {
		var ok bool
		if sc.own != nil {
			ok = sc.mergeNext()
		} else if sc.started {
			ok = sc.it.Next()
		} else {
			ok = sc.it.First()
			sc.started = true
		}
		if !ok {
			err := sc.it.Error()
			if err == nil && sc.own != nil {
				err = sc.own.Error()
			}
			if err != nil {
				sc.done = true
				sc.err = fmt.Errorf("cannot scan rows: %w", err)
				break
			}
			if sc.span+1 < len(sc.spans) {
				sc.nextSpan()
				continue
			}
			sc.done = true
			break
		}
		it := sc.it
		if sc.fromOwn {
			it = sc.own
		}
		v, err := it.ValueAndErr()
		if err == nil {
			err = sc.dec.decode(v)
		}
		if err != nil {
			sc.err = fmt.Errorf("cannot decode row %x: %w", it.Key(), err)
			break
		}
		if sc.key != nil {
			sc.key.Append(it.Key())
		}
		n++
	}
	if sc.err != nil || n == 0 {
		// Drop partial builder contents.
		sc.flush(0)
		return false
	}
	sc.flush(n)
	return true
}

// nextSpan bounds the iterators to the next span; the next step starts
// from its first key.
func (sc *Scanner) nextSpan() {
	sc.span++
	sp := sc.spans[sc.span]
	sc.it.SetBounds(sp.Start, sp.End)
	if sc.own != nil {
		sc.own.SetBounds(sp.Start, sp.End)
	}
	sc.started = false
}

// mergeNext advances a Txn's scan to its next row in key order: the
// smaller of the snapshot's next row that the Txn did not overwrite and the
// Txn's own next row. It reports whether there is one.
func (sc *Scanner) mergeNext() bool {
	switch {
	case !sc.started:
		sc.started = true
		sc.itOK = sc.it.First()
		sc.skipShadowed()
		sc.ownOK = sc.own.First()
	case sc.fromOwn:
		sc.ownOK = sc.own.Next()
	default:
		sc.itOK = sc.it.Next()
		sc.skipShadowed()
	}
	switch {
	case sc.itOK && (!sc.ownOK || bytes.Compare(sc.it.Key(), sc.own.Key()) < 0):
		sc.fromOwn = false
	case sc.ownOK:
		sc.fromOwn = true
	default:
		return false
	}
	return true
}

// skipShadowed moves the snapshot iterator past rows the Txn wrote before
// the scan began: their current version (or deletion) is in own.
func (sc *Scanner) skipShadowed() {
	for sc.itOK {
		g, ok := sc.touched[string(sc.it.Key())]
		if !ok || g > sc.gen {
			return
		}
		sc.itOK = sc.it.Next()
	}
}

// flush turns the builders into the current record of n rows; with n == 0
// it only discards their contents.
func (sc *Scanner) flush(n int) {
	for i := range sc.dec.out {
		sc.built[i] = sc.dec.out[i].b.NewArray()
	}
	var keys arrow.Array
	if sc.key != nil {
		keys = sc.key.NewArray()
	}
	if n > 0 {
		for i, s := range sc.outSlot {
			sc.arrs[i] = sc.built[s]
		}
		if keys != nil {
			sc.arrs[len(sc.outSlot)] = keys
		}
		sc.rec = array.NewRecordBatch(sc.schema, sc.arrs, int64(n))
	}
	for i, a := range sc.built {
		a.Release()
		sc.built[i] = nil
	}
	if keys != nil {
		keys.Release()
	}
	clear(sc.arrs)
}

func (sc *Scanner) releaseRecord() {
	if sc.rec != nil {
		sc.rec.Release()
		sc.rec = nil
	}
}

// Record returns the current batch, valid until the next call of Next or
// Close; Retain it to keep it longer.
func (sc *Scanner) Record() arrow.RecordBatch { return sc.rec }

// Err returns the error that ended iteration, if any.
func (sc *Scanner) Err() error { return sc.err }

// Close releases the scanner. It is idempotent.
func (sc *Scanner) Close() error {
	sc.releaseRecord()
	var err error
	if sc.own != nil {
		err = sc.own.Close()
		sc.own = nil
	}
	if sc.it != nil {
		err = errors.Join(err, sc.it.Close())
		sc.it = nil
		sc.dec.release()
		sc.bs.release()
		if sc.key != nil {
			sc.key.Release()
			sc.key = nil
		}
	}
	if err != nil {
		return fmt.Errorf("cannot close scanner: %w", err)
	}
	return nil
}

// checkWriteKey verifies that key is a row key or a segment row key of
// table t (a "__key" of a scan).
func checkWriteKey(t *catalog.Table, key []byte) error {
	if _, _, ok := parseSegmentRowKey(t.ID, key); ok {
		return nil
	}
	return checkRowKey(t, key)
}
