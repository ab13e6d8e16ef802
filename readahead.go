package mantisdb

import (
	"context"
	"runtime"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/segments"
)

// Readahead: a plain scan of the segments (SELECT * streamed to a client,
// a scan feeding a serial operator) decodes one row group at a time, and
// decoding Parquet is the slowest step between the disk and the network.
// readahead decodes the row groups of a tierSource's segments on several
// goroutines and hands their batches to the source in the order of a
// serial scan: row group i goes to worker i mod k, each worker sends its
// batches on its own channel (a few batches deep, which bounds the memory
// decoded ahead), and the consumer reads the channels in turn, moving to
// the next one at each row group's end marker. The rows and their order
// are those of the serial scan.
//
// Scans that need more than the rows (row keys, EXPLAIN ANALYZE counters,
// primary-key access), scans with a pruning predicate (each row group's
// scan would redo the segment's selection: bitmap answers are cloned and
// intersected per row group) and the partitions of a parallel scan
// (already one goroutine each) scan serially.

// readaheadDepth is the number of batches a worker decodes ahead.
const readaheadDepth = 2

// readaheadWorkers returns the number of decoding goroutines of a
// readahead, or 0 for a serial scan.
func readaheadWorkers() int {
	n := min(runtime.GOMAXPROCS(0), 4)
	if n < 2 {
		return 0
	}
	return n
}

// raUnit is one row group of one segment.
type raUnit struct {
	seg    *segScan
	rows   *roaring.Bitmap // the row group's positions
	schema *arrow.Schema
	filter segments.Predicate
	mapped bool // the segment has an older layout: rename the fields
}

// raItem is a decoded batch of a unit, the end of a unit (nil rec and
// err), or the error that stopped the worker.
type raItem struct {
	rec arrow.RecordBatch
	err error
}

type readahead struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	chans  []chan raItem
	units  []raUnit
	next   int // the unit being consumed
}

// startReadahead starts the workers over the row groups of s.segs.
func (s *tierSource) startReadahead(workers int) {
	var units []raUnit
	for i := range s.segs {
		seg := &s.segs[i]
		sch, filter, mapped := segmentSchema(s.t, seg.h, s.filter)
		r := seg.h.r
		for rg := 0; rg < r.RowGroups(); rg++ {
			start, n := r.RowGroupSpan(rg)
			rows := roaring.New()
			rows.AddRange(uint64(start), uint64(start+n))
			units = append(units, raUnit{seg: seg, rows: rows, schema: sch, filter: filter, mapped: mapped})
		}
	}
	ctx, cancel := context.WithCancel(s.ctx)
	ra := &readahead{cancel: cancel, units: units, chans: make([]chan raItem, min(workers, len(units)))}
	for w := range ra.chans {
		ra.chans[w] = make(chan raItem, readaheadDepth)
		ra.wg.Add(1)
		go func(w int) {
			defer ra.wg.Done()
			defer close(ra.chans[w])
			var perr error
			defer func() {
				if perr != nil {
					select {
					case ra.chans[w] <- raItem{err: perr}:
					case <-ctx.Done():
					}
				}
			}()
			defer sqlstate.Recover(&perr)
			for u := w; u < len(units); u += len(ra.chans) {
				if !s.decodeUnit(ctx, &units[u], ra.chans[w]) {
					return
				}
			}
		}(w)
	}
	s.ra = ra
}

// decodeUnit sends the batches of unit u on ch, then its end marker. On
// an error it sends the error and reports false; when ctx ends it reports
// false.
func (s *tierSource) decodeUnit(ctx context.Context, u *raUnit, ch chan<- raItem) bool {
	send := func(it raItem) bool {
		select {
		case ch <- it:
			return true
		case <-ctx.Done():
			if it.rec != nil {
				it.rec.Release()
			}
			return false
		}
	}
	opts := segments.ScanOptions{
		Schema: u.schema, Columns: s.cols, Deleted: u.seg.deleted, Filter: u.filter, Rows: u.rows,
		BatchSize: s.batch, Allocator: s.mem, DataAllocator: s.dataMem,
	}
	var rt []*arrowexec.RuntimeFilter
	if !u.mapped {
		opts.KeyFilters, rt = s.keyFilters()
	}
	sc, err := u.seg.h.r.Scan(ctx, opts)
	if err != nil {
		send(raItem{err: err})
		return false
	}
	defer sc.Close()
	defer func() { noteRuntime(rt, sc.Stats()) }()
	for sc.Next() {
		rec := sc.Record()
		rec.Retain()
		if !send(raItem{rec: rec}) {
			return false
		}
	}
	if err := sc.Err(); err != nil {
		send(raItem{err: err})
		return false
	}
	return send(raItem{})
}

// nextReadahead is Next over the readahead's batches.
func (s *tierSource) nextReadahead() bool {
	ra := s.ra
	for ra.next < len(ra.units) {
		it, ok := <-ra.chans[ra.next%len(ra.chans)]
		switch {
		case !ok:
			// The worker stopped without an error: the context ended.
			if err := s.ctx.Err(); err != nil {
				s.err = sqlstate.Wrap(err, sqlstate.QueryCanceled, "canceling statement: %v", err)
			} else {
				s.err = sqlstate.Errorf(sqlstate.Internal, "segment readahead stopped early")
			}
			return false
		case it.err != nil:
			s.err = segmentErr(it.err)
			return false
		case it.rec == nil:
			ra.next++
			continue
		}
		s.own = it.rec
		if ra.units[ra.next].mapped {
			// Name the fields as the table does now.
			s.own = array.NewRecordBatch(s.schema, it.rec.Columns(), it.rec.NumRows())
			it.rec.Release()
		}
		s.rec = s.own
		return true
	}
	return false
}

// stop ends the workers and releases the batches they decoded ahead. It is
// idempotent.
func (ra *readahead) stop() {
	ra.cancel()
	for _, ch := range ra.chans {
		for it := range ch {
			if it.rec != nil {
				it.rec.Release()
			}
		}
	}
	ra.wg.Wait()
}
