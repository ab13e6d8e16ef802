package mantisdb

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/mantisdb/mantisdb/arrowexec"
	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/segments"
)

// System tables.
//
// The schema "system" holds read-only virtual tables that describe the
// database: system.tables, system.segments, system.compactions and
// system.locks (docs/sql.md lists their columns). Their descriptors are
// catalog tables with Table.System set, published at Open under IDs that
// storage never assigns (catalog.SystemTableID), so the binder and the
// planner treat them like any table: filters, joins, ORDER BY, aggregates
// work unchanged. Only the scan differs: the source providers of
// tiers.go hand a scan of a system table to systemScan, which
// materializes the whole table into one batch when the scan opens (a
// snapshot of that moment; the tables are small) and projects the
// scan's columns. The binder refuses INSERT, UPDATE, DELETE and DROP of
// them with SQLSTATE 42809.

// The system tables by catalog.SystemTableID number.
const (
	sysTables uint64 = iota + 1
	sysSegments
	sysCompactions
	sysLocks
)

func col(name string, t catalog.Type, notNull bool) catalog.Column {
	return catalog.Column{Name: name, Type: t, NotNull: notNull}
}

// systemTables returns the descriptors of the system tables. Column order
// is part of the user-visible API (SELECT *): append only.
func systemTables() []*catalog.Table {
	vc, bi, ts, db, bo := catalog.Varchar, catalog.Bigint, catalog.Timestamp, catalog.Double, catalog.Boolean
	return []*catalog.Table{
		{ID: catalog.SystemTableID(sysTables), Name: "tables", Version: 1, Columns: []catalog.Column{
			col("table_name", vc, true),
			col("table_id", bi, true),
			col("columns", vc, true),
			col("primary_key", vc, false),
			col("schema_version", bi, true),
			col("total_rows", bi, true),
			col("row_store_rows", bi, true),
			col("segment_rows", bi, true),
			col("segment_count", bi, true),
			col("bytes", bi, true),
			col("row_store_bytes", bi, true),
			col("segment_bytes", bi, true),
		}},
		{ID: catalog.SystemTableID(sysSegments), Name: "segments", Version: 1, Columns: []catalog.Column{
			col("table_name", vc, true),
			col("table_id", bi, true),
			col("segment_id", bi, true),
			col("total_rows", bi, true),
			col("deleted_rows", bi, true),
			col("live_rows", bi, true),
			col("bytes", bi, true),
			col("file_bytes", bi, true),
			col("index_bytes", bi, true),
			col("row_groups", bi, true),
			col("schema_version", bi, true),
			col("created", ts, false),
			col("sort_key", vc, false),
			col("min_key", vc, false),
			col("max_key", vc, false),
			col("level", bi, true),
		}},
		{ID: catalog.SystemTableID(sysCompactions), Name: "compactions", Version: 1, Columns: []catalog.Column{
			col("table_name", vc, true),
			col("table_id", bi, true),
			col("kind", vc, true),
			col("started", ts, true),
			col("duration_ms", db, true),
			col("rows_in", bi, true),
			col("rows_out", bi, true),
			col("bytes_in", bi, true),
			col("bytes_out", bi, true),
			col("segments_in", bi, true),
			col("segments_out", bi, true),
			col("segment_id", bi, false),
			col("error", vc, false),
		}},
		{ID: catalog.SystemTableID(sysLocks), Name: "locks", Version: 1, Columns: []catalog.Column{
			col("resource", vc, true),
			col("level", vc, true),
			col("table_id", bi, false),
			col("table_name", vc, false),
			col("mode", vc, true),
			col("txn_id", bi, true),
			col("granted", bo, true),
			col("wait_started", ts, false),
			col("wait_ms", db, false),
		}},
	}
}

// registerSystemTables publishes the system tables in cat.
func registerSystemTables(cat *catalog.Catalog) {
	for _, t := range systemTables() {
		cat.PutSystem(t)
	}
}

// systemScan returns the opener of a scan of system table t: the columns
// cols of its rows as of the moment the scan opens.
func (db *DB) systemScan(t *catalog.Table, cols []int, withKey bool) arrowexec.OpenSource {
	return func(ctx context.Context) (arrowexec.Source, error) {
		if withKey {
			return nil, readOnlyErr(t)
		}
		rec, err := db.systemRecord(ctx, t)
		if err != nil {
			return nil, err
		}
		defer rec.Release()
		fields := make([]arrow.Field, len(cols))
		arrs := make([]arrow.Array, len(cols))
		for i, c := range cols {
			fields[i] = rec.Schema().Field(c)
			arrs[i] = rec.Column(c)
		}
		out := array.NewRecordBatch(arrow.NewSchema(fields, nil), arrs, rec.NumRows())
		return &oneBatch{rec: out}, nil
	}
}

func readOnlyErr(t *catalog.Table) error {
	return sqlstate.Errorf(sqlstate.WrongObjectType, "cannot change %s.%s: system tables are read-only", catalog.SystemSchema, t.Name)
}

// systemRecord materializes every row of system table t. The caller
// releases the batch.
func (db *DB) systemRecord(ctx context.Context, t *catalog.Table) (arrow.RecordBatch, error) {
	b := array.NewRecordBuilder(db.mem, t.Schema())
	defer b.Release()
	var err error
	switch t.ID {
	case catalog.SystemTableID(sysTables):
		err = db.fillTables(ctx, b)
	case catalog.SystemTableID(sysSegments):
		err = db.fillSegments(ctx, b)
	case catalog.SystemTableID(sysCompactions):
		db.fillCompactions(b)
	case catalog.SystemTableID(sysLocks):
		db.fillLocks(b)
	default:
		err = sqlstate.Errorf(sqlstate.Internal, "unknown system table %q", t.Name)
	}
	if err != nil {
		return nil, err
	}
	return b.NewRecordBatch(), nil
}

// fields gives typed access to the builders of a system table's columns.
type fields struct{ b *array.RecordBuilder }

func (f fields) str(i int, s string) { f.b.Field(i).(*array.StringBuilder).Append(s) }
func (f fields) i64(i int, v int64)  { f.b.Field(i).(*array.Int64Builder).Append(v) }
func (f fields) f64(i int, v float64) {
	f.b.Field(i).(*array.Float64Builder).Append(v)
}
func (f fields) boolean(i int, v bool) { f.b.Field(i).(*array.BooleanBuilder).Append(v) }
func (f fields) ts(i int, v time.Time) {
	f.b.Field(i).(*array.TimestampBuilder).Append(arrow.Timestamp(v.UnixMicro()))
}
func (f fields) null(i int) { f.b.Field(i).AppendNull() }

// strOrNull appends s, or NULL when s is empty.
func (f fields) strOrNull(i int, s string) {
	if s == "" {
		f.null(i)
	} else {
		f.str(i, s)
	}
}

func (db *DB) fillTables(ctx context.Context, b *array.RecordBuilder) error {
	f := fields{b}
	rv := db.snapshot()
	defer rv.close()
	for _, t := range db.cat.Tables() {
		if err := ctx.Err(); err != nil {
			return err
		}
		st, err := db.statsOf(&rv, t)
		if err != nil {
			return err
		}
		var segBytes int64
		for _, s := range st.Segments {
			segBytes += s.Bytes
		}
		rsBytes := db.store.RowBytes(t.ID)
		cols := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			cols[i] = c.Name + " " + c.Type.String()
			if c.NotNull {
				cols[i] += " NOT NULL"
			}
		}
		pk := make([]string, len(t.PrimaryKey))
		for i, c := range t.PrimaryKey {
			pk[i] = t.Columns[c].Name
		}
		f.str(0, t.Name)
		f.i64(1, int64(t.ID))
		f.str(2, strings.Join(cols, ", "))
		f.strOrNull(3, strings.Join(pk, ", "))
		f.i64(4, int64(t.Version))
		f.i64(5, st.FreshRows+st.SegmentRows)
		f.i64(6, st.FreshRows)
		f.i64(7, st.SegmentRows)
		f.i64(8, int64(len(st.Segments)))
		f.i64(9, rsBytes+segBytes)
		f.i64(10, rsBytes)
		f.i64(11, segBytes)
	}
	return nil
}

func (db *DB) fillSegments(ctx context.Context, b *array.RecordBuilder) error {
	f := fields{b}
	rv := db.snapshot()
	defer rv.close()
	for _, t := range db.cat.Tables() {
		if err := ctx.Err(); err != nil {
			return err
		}
		ents, err := rv.snap.Segments(t.ID)
		if err != nil {
			return err
		}
		for _, e := range ents {
			h, err := rv.v.handle(t.ID, e.ID)
			if err != nil {
				return err
			}
			m := h.meta
			var del int64
			if e.Deleted != nil {
				del = int64(e.Deleted.GetCardinality())
			}
			f.str(0, t.Name)
			f.i64(1, int64(t.ID))
			f.i64(2, int64(m.ID))
			f.i64(3, m.Rows)
			f.i64(4, del)
			f.i64(5, m.Rows-del)
			f.i64(6, m.FileSize+m.IndexSize)
			f.i64(7, m.FileSize)
			f.i64(8, m.IndexSize)
			f.i64(9, int64(m.RowGroups))
			f.i64(10, int64(m.SchemaVersion))
			if fi, err := db.tiers.fs.Stat(db.tiers.fs.PathJoin(db.tiers.dir, segments.FileName(m.ID))); err == nil {
				f.ts(11, fi.ModTime())
			} else {
				f.null(11)
			}
			f.strOrNull(12, strings.Join(m.SortKey, ", "))
			f.strOrNull(13, keyString(m.KeyMin))
			f.strOrNull(14, keyString(m.KeyMax))
			f.i64(15, int64(m.Level))
		}
	}
	return nil
}

// keyString renders a sort key, "" when there is none.
func keyString(key []segments.Value) string {
	if len(key) == 0 {
		return ""
	}
	parts := make([]string, len(key))
	for i, v := range key {
		parts[i] = v.String()
	}
	return strings.Join(parts, ", ")
}

func (db *DB) fillCompactions(b *array.RecordBuilder) {
	f := fields{b}
	for _, c := range db.comp.history.list() {
		f.str(0, c.Table)
		f.i64(1, int64(c.TableID))
		f.str(2, c.Kind)
		f.ts(3, c.Started)
		f.f64(4, float64(c.Duration)/float64(time.Millisecond))
		f.i64(5, c.RowsIn)
		f.i64(6, c.RowsOut)
		f.i64(7, c.BytesIn)
		f.i64(8, c.BytesOut)
		f.i64(9, int64(c.SegmentsIn))
		f.i64(10, int64(c.SegmentsOut))
		if c.Segment != 0 {
			f.i64(11, int64(c.Segment))
		} else {
			f.null(11)
		}
		f.strOrNull(12, c.Err)
	}
}

func (db *DB) fillLocks(b *array.RecordBuilder) {
	f := fields{b}
	names := map[uint64]string{}
	for _, t := range db.cat.Tables() {
		names[t.ID] = t.Name
	}
	for _, l := range db.Locks() {
		f.str(0, l.Resource.String())
		f.str(1, l.Resource.Level.String())
		if l.Resource.Table != 0 {
			f.i64(2, int64(l.Resource.Table))
		} else {
			f.null(2)
		}
		f.strOrNull(3, names[l.Resource.Table])
		f.str(4, l.Mode.String())
		f.i64(5, int64(l.Txn))
		f.boolean(6, l.Granted)
		if l.Granted {
			f.null(7)
			f.null(8)
		} else {
			f.ts(7, l.WaitStart)
			f.f64(8, float64(l.Wait)/float64(time.Millisecond))
		}
	}
}

// oneBatch is a Source of one batch, which it owns.
type oneBatch struct {
	rec  arrow.RecordBatch
	done bool
}

func (s *oneBatch) Next() bool {
	if s.done || s.rec == nil || s.rec.NumRows() == 0 {
		return false
	}
	s.done = true
	return true
}

func (s *oneBatch) Record() arrow.RecordBatch { return s.rec }
func (s *oneBatch) Err() error                { return nil }

func (s *oneBatch) Close() error {
	if s.rec != nil {
		s.rec.Release()
		s.rec = nil
	}
	return nil
}

var _ arrowexec.Source = (*oneBatch)(nil)

// CompactionInfo describes one compaction or merge that ran (a row of
// system.compactions).
type CompactionInfo struct {
	Table   string
	TableID uint64
	// Kind is "compaction" (row store into a new segment), "merge" (small
	// segments into one) or "rewrite" (a segment without its deleted rows).
	Kind     string
	Started  time.Time
	Duration time.Duration
	// RowsIn counts the rows read (for a merge, deleted ones included);
	// RowsOut the rows written.
	RowsIn, RowsOut int64
	// BytesIn is the size of the input segments, or for a compaction the
	// row store's estimated bytes (flushed sstables only); BytesOut the
	// size of the new segment's files.
	BytesIn, BytesOut int64
	// SegmentsIn and SegmentsOut count the segments read and written.
	SegmentsIn, SegmentsOut int
	// Segment is the id of the new segment; 0 when none was made.
	Segment uint64
	// Err is the error that ended a failed run; "" on success.
	Err string
}

// compactionHistory is how many runs system.compactions remembers.
const compactionHistory = 256

// compactionLog is a bounded ring of the latest compactions and merges,
// kept in memory (lost at Close). It is safe for concurrent use.
type compactionLog struct {
	mu   sync.Mutex
	ring []CompactionInfo
	next int // slot of the next entry once the ring is full
}

func (l *compactionLog) add(c CompactionInfo) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ring) < compactionHistory {
		l.ring = append(l.ring, c)
		return
	}
	l.ring[l.next] = c
	l.next = (l.next + 1) % compactionHistory
}

// list returns the entries, oldest first.
func (l *compactionLog) list() []CompactionInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]CompactionInfo, 0, len(l.ring))
	out = append(out, l.ring[l.next:]...)
	return append(out, l.ring[:l.next]...)
}
