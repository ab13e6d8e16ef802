package arrowexec

import (
	"bufio"
	"bytes"
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// External sort. A full sort (not top-N) whose input outgrows a share of
// its query's memory budget writes what it holds, sorted, to a temporary
// file (a run) and goes on reading; at the end it merges the runs, reading
// each a batch at a time. So a sort needs about a quarter of its budget
// whatever its input, instead of failing with 53200 once the input passes
// the budget.
//
// A run is an Arrow IPC stream of batches of outputBatchRows rows, in an
// unlinked temporary file of the directory the context names (WithSpillDir)
// — nothing is left behind by a crash. The merge compares rows by their
// sort key encoded into bytes whose order is the sort's (encodeSortKeys):
// one bytes.Compare per comparison, whatever the keys' types, across
// batches of different runs. Equal keys keep their input order (the runs
// are in input order and each is sorted stably; ties go to the earlier
// run), so the result is the one the in-memory sort gives. Each output
// batch is gathered with a take from every run batch it uses and a take
// over their concatenation: three copies per row, however many runs.

type spillDirKey struct{}

// SpillStats count what the sorts opened under a context (WithSpillStats)
// wrote to disk, for EXPLAIN ANALYZE. It is safe for concurrent use.
type SpillStats struct {
	// Runs counts the runs written, the merged runs of a sort with many
	// included; Bytes their size.
	Runs, Bytes atomic.Int64
}

type spillStatsKey struct{}

// WithSpillStats returns a context whose sorts count their spilling in s.
func WithSpillStats(ctx context.Context, s *SpillStats) context.Context {
	return context.WithValue(ctx, spillStatsKey{}, s)
}

func spillStatsFrom(ctx context.Context) *SpillStats {
	s, _ := ctx.Value(spillStatsKey{}).(*SpillStats)
	return s
}

// note counts run r (s may be nil).
func (s *SpillStats) note(r *spillRun) {
	if s != nil {
		s.Runs.Add(1)
		s.Bytes.Add(r.bytes)
	}
}

// WithSpillDir returns a context whose sorts may spill to temporary files
// in dir (which must exist) when their input outgrows their share of the
// query's memory budget. Without a directory, or without a limited budget,
// a sort holds its whole input in memory.
func WithSpillDir(ctx context.Context, dir string) context.Context {
	return context.WithValue(ctx, spillDirKey{}, dir)
}

// Run files are named spillPrefix, a random part, spillSuffix.
const spillPrefix, spillSuffix = "sort-", ".arrows"

// RemoveSpillFiles removes the run files in dir that a sort left: none
// where open files can be unlinked (runs are unlinked as soon as they are
// created), those of a crash elsewhere. Other files are left alone, so dir
// may be shared.
func RemoveSpillFiles(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if name := e.Name(); strings.HasPrefix(name, spillPrefix) && strings.HasSuffix(name, spillSuffix) {
			_ = os.Remove(filepath.Join(dir, name))
		}
	}
	return nil
}

func spillDirFrom(ctx context.Context) string {
	dir, _ := ctx.Value(spillDirKey{}).(string)
	return dir
}

// Spill run sizes: a quarter of what the budget has left when the sort
// opens (sorting a run copies it twice more), but at least minSpillRun, so
// that a tiny budget does not make a run per batch (it fails with 53200
// instead).
const spillRunShare = 4

var minSpillRun int64 = 64 << 10 // a variable for tests

// spillMinBatchRows is the fewest rows of a run's batches.
const spillMinBatchRows = 256

// spillFanIn is the most runs merged at once; more are first merged into
// longer runs, level by level, spillFanIn consecutive runs at a time.
const spillFanIn = 8

// spillRunBytes returns the bytes a sort buffers before it writes a run,
// or -1 when it never spills (no directory, or no limit).
func spillRunBytes(ctx context.Context) int64 {
	if spillDirFrom(ctx) == "" {
		return -1
	}
	avail := BudgetFrom(ctx).Avail()
	if avail < 0 {
		return -1
	}
	return max(avail/spillRunShare, minSpillRun)
}

// spillRun is one sorted run on disk.
type spillRun struct {
	f         *os.File
	bytes     int64 // the file's size
	batchRows int64 // the rows of its longest batch
}

// runWriter writes one run file.
type runWriter struct {
	run *spillRun
	bw  *bufio.Writer
	w   *ipc.Writer
}

// newRunWriter creates a run file in dir for batches of schema.
func newRunWriter(dir string, schema *arrow.Schema) (*runWriter, error) {
	f, err := os.CreateTemp(dir, spillPrefix+"*"+spillSuffix)
	if err != nil {
		return nil, spillError(err)
	}
	// Unlinked at once: the open file lives until it is closed, and a
	// crash leaves nothing behind. (Where an open file cannot be removed,
	// close removes it.)
	_ = os.Remove(f.Name())
	bw := bufio.NewWriterSize(f, 1<<20)
	return &runWriter{run: &spillRun{f: f}, bw: bw, w: ipc.NewWriter(bw, ipc.WithSchema(schema))}, nil
}

func (w *runWriter) write(rec arrow.RecordBatch) error {
	w.run.batchRows = max(w.run.batchRows, rec.NumRows())
	if err := w.w.Write(rec); err != nil {
		return spillError(err)
	}
	return nil
}

// finish flushes the run and returns it; on error the file is closed.
func (w *runWriter) finish(err error) (*spillRun, error) {
	if cerr := w.w.Close(); err == nil && cerr != nil {
		err = spillError(cerr)
	}
	if ferr := w.bw.Flush(); err == nil && ferr != nil {
		err = spillError(ferr)
	}
	if err == nil {
		w.run.bytes, err = w.run.f.Seek(0, io.SeekCurrent)
		if err != nil {
			err = spillError(err)
		}
	}
	if err != nil {
		w.run.close()
		return nil, err
	}
	return w.run, nil
}

// writeRun writes rec (sorted) to a new run file in dir.
func writeRun(dir string, rec arrow.RecordBatch) (*spillRun, error) {
	w, err := newRunWriter(dir, rec.Schema())
	if err != nil {
		return nil, err
	}
	// The merge holds one batch of every run it merges (at most
	// spillFanIn): batches of an eighth of a run (a quarter of the
	// budget) keep that to half the budget, with their encoded keys (at
	// most outputBatchRows rows, at least spillMinBatchRows).
	step := min(max(rec.NumRows()/8, spillMinBatchRows), outputBatchRows)
	for lo := int64(0); lo < rec.NumRows() && err == nil; lo += step {
		part := rec.NewSlice(lo, min(lo+step, rec.NumRows()))
		err = w.write(part)
		part.Release()
	}
	return w.finish(err)
}

// mergeRuns merges runs into one new run in dir, in batches no longer
// than theirs (so that a merge of merged runs needs no more memory).
func mergeRuns(ctx context.Context, dir string, mem memory.Allocator, schema *arrow.Schema, keys []SortKey, runs []*spillRun, budget *Budget) (*spillRun, error) {
	m, err := newRunMerger(ctx, mem, schema, keys, runs, budget)
	defer m.close()
	if err != nil {
		return nil, err
	}
	m.outRows = 1
	for _, r := range runs {
		m.outRows = max(m.outRows, int(r.batchRows))
	}
	w, err := newRunWriter(dir, schema)
	if err != nil {
		return nil, err
	}
	for {
		b, err := m.next()
		if err != nil || b == nil {
			return w.finish(err)
		}
		err = w.write(b)
		b.Release()
		if err != nil {
			return w.finish(err)
		}
	}
}

func (r *spillRun) close() {
	name := r.f.Name()
	_ = r.f.Close()
	_ = os.Remove(name)
}

// spillError makes a failure to write or read a run a client-visible
// error: 53100 when the disk for temporary files is full, else 58030.
func spillError(err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return sqlstate.Wrap(err, sqlstate.DiskFull, "cannot spill a sort to disk: %v", err)
	}
	return sqlstate.Wrap(err, sqlstate.IOError, "cannot spill a sort to disk: %v", err)
}

// runCursor reads one run back a batch at a time, with the batch's rows'
// sort keys encoded.
type runCursor struct {
	idx  int // the run's place in input order
	rdr  *ipc.Reader
	rec  arrow.RecordBatch // the current batch (retained), nil at the end
	row  int
	keys []byte  // the encoded keys of rec's rows
	offs []int32 // row i's key is keys[offs[i]:offs[i+1]]
	acct *accounted
	held int64
}

func (c *runCursor) key() []byte { return c.keys[c.offs[c.row]:c.offs[c.row+1]] }

// next moves to the next batch of the run; c.rec is nil at its end.
func (c *runCursor) next(ctx context.Context, keys []SortKey) error {
	if c.rec != nil {
		c.rec.Release()
		c.rec = nil
	}
	c.acct.shrink(c.held)
	c.held = 0
	for c.rdr.Next() {
		rec := c.rdr.RecordBatch()
		if rec.NumRows() == 0 {
			continue
		}
		rec.Retain()
		c.rec, c.row = rec, 0
		var err error
		if c.keys, c.offs, err = encodeSortKeys(ctx, rec, keys, c.keys[:0], c.offs[:0]); err != nil {
			return err
		}
		c.held = recordBytes(rec) + int64(len(c.keys)+4*len(c.offs))
		return c.acct.grow(c.held)
	}
	if err := c.rdr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return spillError(err)
	}
	return nil
}

// cursorHeap orders the runs by their current rows' keys, then by run.
type cursorHeap []*runCursor

func (h cursorHeap) Len() int { return len(h) }
func (h cursorHeap) Less(i, j int) bool {
	if c := bytes.Compare(h[i].key(), h[j].key()); c != 0 {
		return c < 0
	}
	return h[i].idx < h[j].idx
}
func (h cursorHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *cursorHeap) Push(x any)   { *h = append(*h, x.(*runCursor)) }
func (h *cursorHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// runMerger merges sorted runs into batches of outputBatchRows rows.
type runMerger struct {
	ctx    context.Context
	mem    memory.Allocator
	schema *arrow.Schema
	keys   []SortKey
	runs   []*spillRun
	curs   []*runCursor
	h      cursorHeap
	acct   accounted // the cursors' batches and keys
	// outRows is the most rows of a merged batch (outputBatchRows).
	outRows int
}

func newRunMerger(ctx context.Context, mem memory.Allocator, schema *arrow.Schema, keys []SortKey, runs []*spillRun, budget *Budget) (*runMerger, error) {
	m := &runMerger{ctx: ctx, mem: mem, schema: schema, keys: keys, runs: runs, outRows: outputBatchRows}
	m.acct.budget = budget
	for i, r := range runs {
		if _, err := r.f.Seek(0, io.SeekStart); err != nil {
			return m, spillError(err)
		}
		rdr, err := ipc.NewReader(bufio.NewReaderSize(r.f, 256<<10), ipc.WithAllocator(mem))
		if err != nil {
			return m, spillError(err)
		}
		c := &runCursor{idx: i, rdr: rdr, acct: &m.acct}
		m.curs = append(m.curs, c)
		if err := c.next(ctx, keys); err != nil {
			return m, err
		}
		if c.rec != nil {
			m.h = append(m.h, c)
		}
	}
	heap.Init(&m.h)
	return m, nil
}

// source is one run batch that an output batch takes rows from.
type source struct {
	rec  arrow.RecordBatch // retained
	rows []int32           // its rows, in output order
}

// next returns the next merged batch, nil at the end.
func (m *runMerger) next() (arrow.RecordBatch, error) {
	if len(m.h) == 0 {
		return nil, nil
	}
	if err := m.ctx.Err(); err != nil {
		return nil, err
	}
	// Pick the rows: for each, its source and its place among the
	// source's rows.
	var srcs []*source
	bySrc := map[arrow.RecordBatch]int{}
	type pick struct{ src, pos int32 }
	picks := make([]pick, 0, m.outRows)
	defer func() {
		for _, s := range srcs {
			s.rec.Release()
		}
	}()
	for len(picks) < m.outRows && len(m.h) > 0 {
		c := m.h[0]
		si, ok := bySrc[c.rec]
		if !ok {
			c.rec.Retain()
			si = len(srcs)
			srcs = append(srcs, &source{rec: c.rec})
			bySrc[c.rec] = si
		}
		s := srcs[si]
		picks = append(picks, pick{int32(si), int32(len(s.rows))})
		s.rows = append(s.rows, int32(c.row))
		c.row++
		if c.row == int(c.rec.NumRows()) {
			if err := c.next(m.ctx, m.keys); err != nil {
				return nil, err
			}
			if c.rec == nil {
				heap.Pop(&m.h)
				continue
			}
		}
		heap.Fix(&m.h, 0)
	}
	// Take each source's rows, concatenate, and put them in output order.
	parts := make([]arrow.RecordBatch, len(srcs))
	defer func() {
		for _, p := range parts {
			if p != nil {
				p.Release()
			}
		}
	}()
	start := make([]int32, len(srcs))
	var n int32
	for i, s := range srcs {
		p, err := takeRecord(m.mem, s.rec, s.rows)
		if err != nil {
			return nil, err
		}
		parts[i], start[i] = p, n
		n += int32(len(s.rows))
	}
	all, err := concatBatches(m.mem, m.schema, parts)
	if err != nil {
		return nil, err
	}
	defer all.Release()
	idx := make([]int32, len(picks))
	for i, p := range picks {
		idx[i] = start[p.src] + p.pos
	}
	return takeRecord(m.mem, all, idx)
}

func (m *runMerger) close() {
	for _, c := range m.curs {
		if c.rec != nil {
			c.rec.Release()
			c.rec = nil
		}
		c.rdr.Release()
	}
	m.curs, m.h = nil, nil
	m.acct.shrink(m.acct.held)
	for _, r := range m.runs {
		r.close()
	}
	m.runs = nil
}

// encodeSortKeys appends the sort key of every row of rec, encoded so that
// bytes.Compare orders two rows as the sort does (keyComparator: direction,
// NULLs first or last, NaN after every number, -0 equal to 0), to dst, and
// the end of each row's key to offs (which starts with 0). Each key is a
// NULL marker, then the value: integers and dates big-endian with the
// sign bit flipped, floats as their ordered bits, decimals as their high
// word (sign flipped) and low word, strings with 0x00 escaped as 0x00 0xFF
// and ended by 0x00 0x00; a descending key's value bytes are inverted.
func encodeSortKeys(ctx context.Context, rec arrow.RecordBatch, keys []SortKey, dst []byte, offs []int32) ([]byte, []int32, error) {
	n := int(rec.NumRows())
	arrs := make([]arrow.Array, len(keys))
	defer releaseAll(arrs)
	for i, k := range keys {
		a, err := k.Expr.Eval(ctx, rec)
		if err != nil {
			return dst, offs, err
		}
		arrs[i] = a
	}
	offs = append(offs, int32(len(dst)))
	for row := 0; row < n; row++ {
		for i, k := range keys {
			dst = appendSortKey(dst, arrs[i], row, k)
		}
		if len(dst) > math.MaxInt32 {
			return dst, offs, fmt.Errorf("arrowexec: sort keys of one batch pass 2 GiB")
		}
		offs = append(offs, int32(len(dst)))
	}
	return dst, offs, nil
}

// Markers before a key's value: a NULL sorts first or last, a value in
// between.
const (
	sortNullFirst byte = 0
	sortValue     byte = 1
	sortNullLast  byte = 2
)

// appendSortKey appends the encoded key of row of a (see encodeSortKeys).
func appendSortKey(dst []byte, a arrow.Array, row int, k SortKey) []byte {
	if a.DataType().ID() == arrow.NULL {
		return dst // all equal
	}
	if a.IsNull(row) {
		if k.NullsFirst {
			return append(dst, sortNullFirst)
		}
		return append(dst, sortNullLast)
	}
	dst = append(dst, sortValue)
	start := len(dst)
	switch a.DataType().ID() {
	case arrow.INT16:
		dst = binary.BigEndian.AppendUint16(dst, uint16(values[int16](a)[row])^1<<15)
	case arrow.INT32, arrow.DATE32:
		dst = binary.BigEndian.AppendUint32(dst, uint32(values[int32](a)[row])^1<<31)
	case arrow.INT64, arrow.TIMESTAMP:
		dst = binary.BigEndian.AppendUint64(dst, uint64(values[int64](a)[row])^1<<63)
	case arrow.FLOAT32:
		dst = binary.BigEndian.AppendUint64(dst, orderedFloatBits(float64(values[float32](a)[row])))
	case arrow.FLOAT64:
		dst = binary.BigEndian.AppendUint64(dst, orderedFloatBits(values[float64](a)[row]))
	case arrow.DECIMAL128:
		v := values[decimal128.Num](a)[row]
		dst = binary.BigEndian.AppendUint64(dst, uint64(v.HighBits())^1<<63)
		dst = binary.BigEndian.AppendUint64(dst, v.LowBits())
	case arrow.STRING:
		for _, b := range stringsOf(a).at(row) {
			dst = append(dst, b)
			if b == 0 {
				dst = append(dst, 0xFF)
			}
		}
		dst = append(dst, 0, 0)
	case arrow.BOOL:
		dst = append(dst, b2u(a.(*array.Boolean).Value(row)))
	}
	if k.Desc {
		for i := start; i < len(dst); i++ {
			dst[i] = ^dst[i]
		}
	}
	return dst
}

// orderedFloatBits maps a float to bits whose unsigned order is
// orderedCmp's: -0 as 0, every NaN after +Inf. (A float32 widened to
// float64 keeps its order.)
func orderedFloatBits(f float64) uint64 {
	if f != f {
		return math.MaxUint64
	}
	if f == 0 {
		f = 0 // -0
	}
	b := math.Float64bits(f)
	if b>>63 == 1 {
		return ^b
	}
	return b | 1<<63
}
