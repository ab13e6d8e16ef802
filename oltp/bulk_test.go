package oltp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
	"github.com/cockroachdb/pebble/v2"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/lockmgr"
)

// bulk runs one InsertBatch in its own Txn and commits it.
func bulk(t testing.TB, s *Store, tbl *catalog.Table, rows ...[]any) error {
	t.Helper()
	rec := makeRecord(t, memory.DefaultAllocator, tbl, rows...)
	defer rec.Release()
	tx := s.Begin()
	if err := tx.InsertBatch(context.Background(), tbl, rec); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit(context.Background())
}

func mustBulk(t testing.TB, s *Store, tbl *catalog.Table, rows ...[]any) {
	t.Helper()
	if err := bulk(t, s, tbl, rows...); err != nil {
		t.Fatal(err)
	}
}

func userRows(ids ...int) [][]any {
	out := make([][]any, len(ids))
	for i, id := range ids {
		out[i] = []any{id, "u" + itoa(id%1000), float64(id) / 2}
	}
	return out
}

func sorted(rows []string) []string {
	rows = slices.Clone(rows)
	sort.Strings(rows)
	return rows
}

// batchCount returns the number of batch entries of tbl in the latest
// state.
func batchCount(t testing.TB, s *Store, tbl *catalog.Table) int {
	t.Helper()
	ms, err := s.batchMetas(s.db, tbl.ID)
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

// TestInsertBatchRoundTrip writes random rows of every type, unsorted,
// as batch entries and as row entries into two tables and compares full,
// projected and key-range scans.
func TestInsertBatchRoundTrip(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("compress=%v", compress), func(t *testing.T) {
			if compress {
				// Every body compressed, in many blocks.
				defer func(v, b int) { compressMinBytes, bodyBlockSize = v, b }(compressMinBytes, bodyBlockSize)
				compressMinBytes, bodyBlockSize = 0, 1000
			}
			testInsertBatchRoundTrip(t)
		})
	}
}

func testInsertBatchRoundTrip(t *testing.T) {
	mem := checkedAlloc(t)
	s, _ := openMem(t, &Options{Allocator: mem, BulkMinRows: -1, BatchSize: 100})
	defer s.Close()
	rowT, batchT := allTypesTable(s.NextTableID()), allTypesTable(s.NextTableID())
	create(t, s, rowT)
	create(t, s, batchT)
	r := rand.New(rand.NewPCG(1, 2))
	rows := randomAllTypesRows(r, 700)
	r.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	for _, part := range [][][]any{rows[:300], rows[300:301], rows[301:]} {
		mustInsert(t, s, rowT, part...)
		mustBulk(t, s, batchT, part...)
	}
	if n := batchCount(t, s, batchT); n != 3 {
		t.Fatalf("%d batch entries, want 3", n)
	}
	for _, cols := range [][]int{{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {7, 0, 7}, {}} {
		sn := s.Snapshot()
		want, got := scanAll(t, sn, rowT, cols), scanAll(t, sn, batchT, cols)
		sn.Close()
		if !slices.Equal(sorted(want), sorted(got)) {
			t.Fatalf("cols %v: batch entries read back %d rows, row entries %d; differ", cols, len(got), len(want))
		}
	}
	// Key-range scan: ids 100..199 and 650.
	sn := s.Snapshot()
	defer sn.Close()
	var spans []KeySpan
	for _, b := range [][2]int64{{100, 199}, {650, 650}} {
		sp, err := PrimaryKeySpan(batchT, []scalar.Scalar{scalar.NewInt64Scalar(b[0])}, true, []scalar.Scalar{scalar.NewInt64Scalar(b[1])}, true)
		if err != nil {
			t.Fatal(err)
		}
		spans = append(spans, sp)
	}
	sc, err := sn.ScanSpans(batchT, []int{0}, true, spans)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for sc.Next() {
		rec := sc.Record()
		for i := 0; i < int(rec.NumRows()); i++ {
			ids = append(ids, rec.Column(0).(*array.Int64).Value(i))
			if _, _, ok := parseSegmentRowKey(batchT.ID, rec.Column(1).(*array.Binary).Value(i)); !ok {
				t.Fatalf("row %d has key %x, not a batch row key", ids[len(ids)-1], rec.Column(1).(*array.Binary).Value(i))
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	sc.Close()
	slices.Sort(ids)
	if len(ids) != 101 || ids[0] != 100 || ids[99] != 199 || ids[100] != 650 {
		t.Fatalf("span scan returned %d ids %v…", len(ids), ids[:min(5, len(ids))])
	}
	if n := len(s.batches.bodies); n != 3 {
		t.Fatalf("%d decoded bodies cached after the scans, want 3", n)
	}
	if n, err := sn.CountRows(batchT); err != nil || n != 700 {
		t.Fatalf("CountRows = %d, %v; want 700", n, err)
	}
}

// TestInsertBatchUnique checks primary keys across the batch itself, row
// entries, other batch entries and segments, for bulk and row inserts.
func TestInsertBatchUnique(t *testing.T) {
	s, _ := openMem(t, &Options{BulkMinRows: -1})
	defer s.Close()
	users := usersTable(s.NextTableID())
	create(t, s, users)
	// Segment rows are simulated by a probe that finds key 1000 in
	// segment 99 (not in the manifest: not live, so no error) — and key
	// 2000 in a live segment.
	seg := s.NewSegmentID()
	release, err := s.LockTable(ctxT(t), users, lockmgr.Shared)
	if err != nil {
		t.Fatal(err)
	}
	snap := s.Snapshot()
	if _, err := s.CommitCompaction(ctxT(t), users, snap, SegmentAdd{ID: seg, Meta: []byte("m")}); err != nil {
		t.Fatal(err)
	}
	snap.Close()
	release()
	s.SetSegmentProbe(func(_ context.Context, _ *catalog.Table, rows arrow.RecordBatch, row int, dst []SegmentPos) ([]SegmentPos, error) {
		switch rows.Column(0).(*array.Int32).Value(row) {
		case 1000:
			dst = append(dst, SegmentPos{Segment: 99, Pos: 0})
		case 2000:
			dst = append(dst, SegmentPos{Segment: seg, Pos: 0})
		}
		return dst, nil
	})
	mustInsert(t, s, users, userRows(1, 2)...)
	mustBulk(t, s, users, userRows(5, 3, 4, 1000)...)
	for _, tc := range []struct {
		ids  []int
		part string
	}{
		{[]int{6, 5}, "(id)=(5)"},        // another batch entry
		{[]int{2, 7}, "(id)=(2)"},        // a row entry
		{[]int{8, 9, 8}, "(id)=(8)"},     // the batch itself
		{[]int{2000, 10}, "(id)=(2000)"}, // a segment
	} {
		wantCode(t, bulk(t, s, users, userRows(tc.ids...)...), sqlstate.UniqueViolation, tc.part)
	}
	wantCode(t, insert(t, s, users, userRows(4)...), sqlstate.UniqueViolation, "(id)=(4)")
	mustInsert(t, s, users, userRows(6)...)
	mustBulk(t, s, users, userRows(7, 8)...)
	wantRows(t, sorted(snapRows(t, s, users)), sorted(func() []string {
		var out []string
		for _, id := range []int{1, 2, 3, 4, 5, 6, 7, 8, 1000} {
			out = append(out, itoa(id)+"|u"+itoa(id%1000)+"|"+ftoa(float64(id)/2))
		}
		return out
	}())...)

	// Within one Txn: its own batch entry and its own rows count.
	tx := s.Begin()
	defer tx.Rollback()
	rec := makeRecord(t, memory.DefaultAllocator, users, userRows(20, 21)...)
	defer rec.Release()
	if err := tx.InsertBatch(ctxT(t), users, rec); err != nil {
		t.Fatal(err)
	}
	wantCode(t, tx.Insert(ctxT(t), users, rec), sqlstate.UniqueViolation, "(id)=(20)")
}

func ftoa(f float64) string {
	b := array.NewFloat64Builder(memory.DefaultAllocator)
	defer b.Release()
	b.Append(f)
	a := b.NewArray()
	defer a.Release()
	return a.ValueStr(0)
}

// TestInsertBatchConcurrentUnique: a bulk insert of a key another Txn
// committed after the bulk Txn's snapshot fails with 40001, one the
// snapshot sees with 23505.
func TestInsertBatchConcurrentUnique(t *testing.T) {
	s, _ := openMem(t, &Options{BulkMinRows: -1})
	defer s.Close()
	users := usersTable(s.NextTableID())
	create(t, s, users)
	tx := s.Begin()
	defer tx.Rollback()
	mustBulk(t, s, users, userRows(1, 2)...)
	rec := makeRecord(t, memory.DefaultAllocator, users, userRows(2, 3)...)
	defer rec.Release()
	err := tx.InsertBatch(ctxT(t), users, rec)
	wantCode(t, err, sqlstate.SerializationFailure, "concurrent update")
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("error %v does not wrap ErrConflict", err)
	}
	tx.Rollback() // it holds the table's X lock
	// A row insert of a key in a batch entry committed after the
	// snapshot: 40001 as well.
	tx2 := s.Begin()
	defer tx2.Rollback()
	mustBulk(t, s, users, userRows(10, 11)...)
	one := makeRecord(t, memory.DefaultAllocator, users, userRows(11)...)
	defer one.Release()
	wantCode(t, tx2.Insert(ctxT(t), users, one), sqlstate.SerializationFailure, "concurrent update")
}

// TestBatchDeleteUpdate deletes and updates rows of batch entries by the
// keys a scan returns, checks write-write conflicts and rollback.
func TestBatchDeleteUpdate(t *testing.T) {
	s, _ := openMem(t, &Options{BulkMinRows: -1})
	defer s.Close()
	users := usersTable(s.NextTableID())
	create(t, s, users)
	mustBulk(t, s, users, userRows(1, 2, 3, 4)...)
	keyOfID := func(tx *Txn, id int32) *array.Binary {
		sc, err := tx.Scan(users, []int{0}, true)
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		b := array.NewBinaryBuilder(memory.DefaultAllocator, arrow.BinaryTypes.Binary)
		defer b.Release()
		for sc.Next() {
			rec := sc.Record()
			for i := 0; i < int(rec.NumRows()); i++ {
				if rec.Column(0).(*array.Int32).Value(i) == id {
					b.Append(rec.Column(1).(*array.Binary).Value(i))
				}
			}
		}
		return b.NewBinaryArray()
	}
	// Delete 2, update 3 (same key) and 4 (new key 40).
	tx := s.Begin()
	k2 := keyOfID(tx, 2)
	if err := tx.Delete(ctxT(t), users, k2); err != nil {
		t.Fatal(err)
	}
	k3, k4 := keyOfID(tx, 3), keyOfID(tx, 4)
	keys := array.NewBinaryBuilder(memory.DefaultAllocator, arrow.BinaryTypes.Binary)
	keys.Append(k3.Value(0))
	keys.Append(k4.Value(0))
	ka := keys.NewBinaryArray()
	keys.Release()
	rec := makeRecord(t, memory.DefaultAllocator, users, []any{3, "new3", nil}, []any{40, "new40", nil})
	if err := tx.Update(ctxT(t), users, ka, rec); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	ka.Release()
	wantRows(t, sorted(scanAll(t, tx, users, []int{0, 1})), "1|u1", "3|new3", "40|new40")
	// A concurrent deleter of row 1 (untouched) and of row 2 (deleted by
	// tx, not yet committed: the second waits for the lock, then fails).
	other := s.Begin()
	k1 := keyOfID(other, 1)
	if err := other.Delete(ctxT(t), users, k1); err != nil {
		t.Fatal(err)
	}
	if err := other.Commit(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	wantRows(t, sorted(snapRows(t, s, users)), "3|new3|(null)", "40|new40|(null)")
	late := s.Begin()
	defer late.Rollback()
	old := s.Snapshot()
	defer old.Close()
	// k2 was deleted by a commit the Txn's snapshot sees: nothing to do.
	if err := late.Delete(ctxT(t), users, k2); err != nil {
		t.Fatal(err)
	}
	late.Rollback()
	k2.Release()
	k1.Release()
	k3.Release()
	k4.Release()

	// SI conflict: a Txn whose snapshot predates a committed delete of a
	// batch row fails with 40001 when it deletes the row too.
	mustBulk(t, s, users, userRows(50, 51)...)
	a, b := s.Begin(), s.Begin()
	defer a.Rollback()
	defer b.Rollback()
	ka50, kb50 := keyOfID(a, 50), keyOfID(b, 50)
	defer ka50.Release()
	defer kb50.Release()
	if err := a.Delete(ctxT(t), users, ka50); err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	wantCode(t, b.Delete(ctxT(t), users, kb50), sqlstate.SerializationFailure, "concurrent update")
	b.Rollback()

	// Rollback leaves no batch entry.
	before := batchCount(t, s, users)
	rb := s.Begin()
	r2 := makeRecord(t, memory.DefaultAllocator, users, userRows(60, 61)...)
	if err := rb.InsertBatch(ctxT(t), users, r2); err != nil {
		t.Fatal(err)
	}
	r2.Release()
	rb.Rollback()
	if n := batchCount(t, s, users); n != before {
		t.Fatalf("%d batch entries after rollback, want %d", n, before)
	}

	// A Txn deletes a row of its own batch entry.
	own := s.Begin()
	r3 := makeRecord(t, memory.DefaultAllocator, users, userRows(70, 71)...)
	if err := own.InsertBatch(ctxT(t), users, r3); err != nil {
		t.Fatal(err)
	}
	r3.Release()
	k70 := keyOfID(own, 70)
	if err := own.Delete(ctxT(t), users, k70); err != nil {
		t.Fatal(err)
	}
	k70.Release()
	wantRows(t, sorted(scanAll(t, own, users, []int{0})), "3", "40", "51", "71")
	if err := own.Commit(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	fin := s.Snapshot()
	defer fin.Close()
	wantRows(t, sorted(scanAll(t, fin, users, []int{0})), "3", "40", "51", "71")
}

// TestBatchReopen: batch entries survive a restart, new ids stay above
// theirs, and the uniqueness checks find them again.
func TestBatchReopen(t *testing.T) {
	s, fs := openMem(t, &Options{BulkMinRows: -1})
	users := usersTable(s.NextTableID())
	create(t, s, users)
	mustBulk(t, s, users, userRows(3, 1, 2)...)
	logT := logTable(s.NextTableID())
	create(t, s, logT)
	mustBulk(t, s, logT, []any{"a"}, []any{"b"})
	last := s.NewSegmentID()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, _ = openMem(t, &Options{FS: fs, BulkMinRows: -1})
	defer s.Close()
	if id := s.NewSegmentID(); id <= last-1 {
		t.Fatalf("segment id %d after reopen, batch entries used up to %d", id, last-1)
	}
	wantRows(t, sorted(snapRows(t, s, users)), "1|u1|0.5", "2|u2|1", "3|u3|1.5")
	wantCode(t, bulk(t, s, users, userRows(4, 2)...), sqlstate.UniqueViolation, "(id)=(2)")
	wantCode(t, insert(t, s, users, userRows(3)...), sqlstate.UniqueViolation, "(id)=(3)")
	mustBulk(t, s, logT, []any{"c"})
	mustInsert(t, s, logT, []any{"d"})
	// Hidden row ids never repeat: every row key of log is distinct.
	keys := keysOf(t, s, logT)
	defer keys.Release()
	seen := map[string]bool{}
	for i := 0; i < keys.Len(); i++ {
		seen[string(keys.Value(i))] = true
	}
	if len(seen) != 4 {
		t.Fatalf("%d distinct keys of 4 log rows", len(seen))
	}
}

// TestBatchFormatRefusal: a batch entry of a newer format is refused with a
// clear error, not misread.
func TestBatchFormatRefusal(t *testing.T) {
	s, _ := openMem(t, &Options{BulkMinRows: -1})
	defer s.Close()
	users := usersTable(s.NextTableID())
	create(t, s, users)
	mustBulk(t, s, users, userRows(1)...)
	for _, key := range []func(uint64, uint64) []byte{batchKey, batchBodyKey} {
		ms, err := s.batchMetas(s.db, users.ID)
		if err != nil {
			t.Fatal(err)
		}
		id := ms[0].id
		v, closer, err := s.db.Get(key(users.ID, id))
		if err != nil {
			t.Fatal(err)
		}
		nv := slices.Clone(v)
		closer.Close()
		nv[0] = 99
		if err := s.db.Set(key(users.ID, id), nv, pebble.Sync); err != nil {
			t.Fatal(err)
		}
		s.batches.drop([]uint64{id})
		sn := s.Snapshot()
		sc, err := sn.Scan(users, []int{0}, false)
		if err == nil {
			for sc.Next() {
			}
			err = sc.Err()
			sc.Close()
		}
		sn.Close()
		if err == nil || !strings.Contains(err.Error(), "newer than this binary supports") {
			t.Fatalf("scan of a newer batch entry: %v", err)
		}
		v[0] = 1
		nv[0] = 1
		if err := s.db.Set(key(users.ID, id), nv, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBatchCompaction compacts row entries and batch entries together: the
// scan is in key order, placement maps every row, and rows deleted after
// the snapshot are deleted in the segment.
func TestBatchCompaction(t *testing.T) {
	mem := checkedAlloc(t)
	s, _ := openMem(t, &Options{Allocator: mem, BulkMinRows: -1, BatchSize: 3})
	defer s.Close()
	users := usersTable(s.NextTableID())
	create(t, s, users)
	mustInsert(t, s, users, userRows(5, 15)...)
	mustBulk(t, s, users, userRows(10, 2, 8, 1)...)
	mustBulk(t, s, users, userRows(9, 20, 3)...)
	mustBulk(t, s, users, userRows(30, 31)...)
	// Row 31 deleted before the snapshot, row 8 after it, row 15 updated
	// after it.
	del := func(id int32) {
		tx := s.Begin()
		sc, err := tx.Scan(users, []int{0}, true)
		if err != nil {
			t.Fatal(err)
		}
		b := array.NewBinaryBuilder(memory.DefaultAllocator, arrow.BinaryTypes.Binary)
		for sc.Next() {
			rec := sc.Record()
			for i := 0; i < int(rec.NumRows()); i++ {
				if rec.Column(0).(*array.Int32).Value(i) == id {
					b.Append(rec.Column(1).(*array.Binary).Value(i))
				}
			}
		}
		sc.Close()
		k := b.NewBinaryArray()
		b.Release()
		if err := tx.Delete(ctxT(t), users, k); err != nil {
			t.Fatal(err)
		}
		k.Release()
		if err := tx.Commit(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
	del(31)
	snap := s.Snapshot()
	defer snap.Close()
	del(8)
	commitUpdate(t, s, users, 15, "chg")
	cs, err := snap.CompactionScan(users)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int32
	for cs.Next() {
		rec := cs.Record()
		if rec.NumRows() > 3 {
			t.Fatalf("batch of %d rows, batch size 3", rec.NumRows())
		}
		ids = append(ids, rec.Column(0).(*array.Int32).Int32Values()...)
	}
	if err := cs.Err(); err != nil {
		t.Fatal(err)
	}
	want := []int32{1, 2, 3, 5, 8, 9, 10, 15, 20, 30}
	if !slices.Equal(ids, want) {
		t.Fatalf("compaction scan %v, want %v", ids, want)
	}
	release, err := s.LockTable(ctxT(t), users, lockmgr.Shared)
	if err != nil {
		t.Fatal(err)
	}
	seg := s.NewSegmentID()
	res, err := s.CommitCompaction(ctxT(t), users, snap, SegmentAdd{ID: seg, Meta: []byte("m"), Rows: int64(len(ids)), Placement: cs.Placement()})
	release()
	cs.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.Moved != 8 || res.Changed != 2 {
		t.Fatalf("result %+v, want 8 moved, 2 changed", res)
	}
	if n := batchCount(t, s, users); n != 0 {
		t.Fatalf("%d batch entries left", n)
	}
	if n := len(s.batches.bodies); n != 0 {
		t.Fatalf("%d decoded bodies of compacted entries still cached", n)
	}
	now := s.Snapshot()
	defer now.Close()
	wantRows(t, scanAll(t, now, users, []int{0, 1}), "15|chg")
	ents, err := now.Segments(users.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Positions of 8 and 15 in the segment: 4 and 7.
	if len(ents) != 1 || ents[0].Deleted == nil || !slices.Equal(ents[0].Deleted.ToArray(), []uint32{4, 7}) {
		t.Fatalf("segment entries %+v", ents)
	}
}

// TestCompactDeletedBatch: a batch entry whose rows are all deleted is
// removed by a compaction that writes no segment.
func TestCompactDeletedBatch(t *testing.T) {
	s, _ := openMem(t, &Options{BulkMinRows: -1})
	defer s.Close()
	users := usersTable(s.NextTableID())
	create(t, s, users)
	mustBulk(t, s, users, userRows(1, 2)...)
	keys := keysOf(t, s, users)
	tx := s.Begin()
	if err := tx.Delete(ctxT(t), users, keys); err != nil {
		t.Fatal(err)
	}
	keys.Release()
	if err := tx.Commit(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	snap := s.Snapshot()
	defer snap.Close()
	cs, err := snap.CompactionScan(users)
	if err != nil {
		t.Fatal(err)
	}
	if cs.Next() || cs.Err() != nil {
		t.Fatalf("compaction scan of deleted rows: %v", cs.Err())
	}
	if n := cs.Placement().Entries(); n != 1 {
		t.Fatalf("%d entries placed, want 1", n)
	}
	if _, err := s.CommitCompaction(ctxT(t), users, snap, SegmentAdd{Placement: cs.Placement()}); err != nil {
		t.Fatal(err)
	}
	cs.Close()
	if n := batchCount(t, s, users); n != 0 {
		t.Fatalf("%d batch entries left", n)
	}
}

// TestLatestBatchesCache checks the cached list of committed batch entries
// that uniqueness checks read: a commit adds its entries to the list (it is
// not re-read from the store), also when commits of a table without a
// primary key run at once, and a later insert still finds every committed
// key through it.
func TestLatestBatchesCache(t *testing.T) {
	s, _ := openMem(t, &Options{BulkMinRows: -1})
	defer s.Close()
	users := usersTable(s.NextTableID())
	create(t, s, users)
	logs := logTable(s.NextTableID())
	create(t, s, logs)
	same := func(tbl *catalog.Table) {
		t.Helper()
		cached, err := s.latestBatches(s.table(tbl.ID), tbl.ID)
		if err != nil {
			t.Fatal(err)
		}
		stored, err := s.batchMetas(s.db, tbl.ID)
		if err != nil {
			t.Fatal(err)
		}
		ids := func(ms []*batchMeta) []uint64 {
			out := make([]uint64, len(ms))
			for i, m := range ms {
				out[i] = m.id
			}
			slices.Sort(out)
			return out
		}
		if got, want := ids(cached), ids(stored); !slices.Equal(got, want) {
			t.Fatalf("table %s: cached batch entries %v, stored %v", tbl.Name, got, want)
		}
	}
	for i := range 5 {
		mustBulk(t, s, users, userRows(10*i+1, 10*i+2)...)
		if !s.table(users.ID).batchesOK {
			t.Fatal("the list of batch entries was dropped by a commit")
		}
		same(users)
	}
	// Each of these keys is only in an entry that the cache got from a
	// commit, never from a read of the store.
	for _, id := range []int{1, 22, 42} {
		wantCode(t, bulk(t, s, users, userRows(id, 1000+id)...), sqlstate.UniqueViolation, "duplicate")
	}
	same(users)

	same(logs) // loads the list, which the commits below add to
	const writers, each = 4, 5
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			for i := range each {
				rec := makeRecord(t, memory.DefaultAllocator, logs, []any{fmt.Sprintf("w%d-%d", w, i)})
				tx := s.Begin()
				err := tx.InsertBatch(context.Background(), logs, rec)
				rec.Release()
				if err == nil {
					err = tx.Commit(context.Background())
				} else {
					tx.Rollback()
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if !s.table(logs.ID).batchesOK {
		t.Fatal("the list of batch entries was dropped by a commit")
	}
	same(logs)
	if n := batchCount(t, s, logs); n != writers*each {
		t.Fatalf("%d batch entries, want %d", n, writers*each)
	}
}

// TestInsertBatchExactTypes: a batch whose column has the table's kind but
// another Arrow type (a TIMESTAMP in milliseconds for one in microseconds,
// a DECIMAL of another scale) is refused with 42804, not stored: body
// format 3 keeps values without their Arrow type.
func TestInsertBatchExactTypes(t *testing.T) {
	s, _ := openMem(t, &Options{BulkMinRows: -1})
	defer s.Close()
	tbl := finished(&catalog.Table{ID: s.NextTableID(), Name: "ev", Version: 1, PrimaryKey: []int{0}, Columns: []catalog.Column{
		{Name: "id", Type: catalog.Int},
		{Name: "at", Type: catalog.Type{Kind: catalog.KindTimestamp}},
		{Name: "amount", Type: catalog.Type{Kind: catalog.KindDecimal, Precision: 10, Scale: 2}},
	}})
	create(t, s, tbl)
	for _, tc := range []struct {
		name string
		at   arrow.DataType
		amt  arrow.DataType
	}{
		{"timestamp unit", &arrow.TimestampType{Unit: arrow.Millisecond}, tbl.Columns[2].Type.ArrowType()},
		{"decimal scale", tbl.Columns[1].Type.ArrowType(), &arrow.Decimal128Type{Precision: 10, Scale: 3}},
	} {
		sch := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int32}, {Name: "at", Type: tc.at}, {Name: "amount", Type: tc.amt}}, nil)
		b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
		b.Field(0).(*array.Int32Builder).Append(1)
		b.Field(1).(*array.TimestampBuilder).Append(1)
		b.Field(2).(*array.Decimal128Builder).Append(decimal128.FromI64(1))
		rec := b.NewRecordBatch()
		b.Release()
		tx := s.Begin()
		wantCode(t, tx.InsertBatch(ctxT(t), tbl, rec), sqlstate.DatatypeMismatch, "was given")
		tx.Rollback()
		rec.Release()
	}
}

// TestInsertBatchDecimalPrecision: a DECIMAL value with more digits than
// the column's precision is refused with 22003; NULL slots are not looked
// at, whatever they hold.
func TestInsertBatchDecimalPrecision(t *testing.T) {
	s, _ := openMem(t, &Options{BulkMinRows: -1})
	defer s.Close()
	dt := catalog.Type{Kind: catalog.KindDecimal, Precision: 10, Scale: 2}
	tbl := finished(&catalog.Table{ID: s.NextTableID(), Name: "pay", Version: 1, PrimaryKey: []int{0}, Columns: []catalog.Column{
		{Name: "id", Type: catalog.Int},
		{Name: "amount", Type: dt},
	}})
	create(t, s, tbl)
	sch := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int32}, {Name: "amount", Type: dt.ArrowType(), Nullable: true}}, nil)
	for _, tc := range []struct {
		v    int64
		code sqlstate.Code
	}{{9_999_999_999, ""}, {-9_999_999_999, ""}, {10_000_000_000, sqlstate.NumericOutOfRange}, {-10_000_000_000, sqlstate.NumericOutOfRange}} {
		b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
		b.Field(0).(*array.Int32Builder).AppendValues([]int32{1, 2}, nil)
		// The NULL slot holds an out-of-range value.
		b.Field(1).(*array.Decimal128Builder).AppendValues([]decimal128.Num{decimal128.FromI64(tc.v), decimal128.FromI64(1e15)}, []bool{true, false})
		rec := b.NewRecordBatch()
		b.Release()
		tx := s.Begin()
		err := tx.InsertBatch(ctxT(t), tbl, rec)
		if tc.code == "" {
			if err != nil {
				t.Errorf("%d: %v", tc.v, err)
			}
		} else {
			wantCode(t, err, tc.code, "does not fit")
		}
		tx.Rollback()
		rec.Release()
	}
}
