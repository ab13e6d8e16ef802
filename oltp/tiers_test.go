package oltp

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/lockmgr"
)

func segKeys(table, seg uint64, pos ...uint32) *array.Binary {
	b := array.NewBinaryBuilder(memory.DefaultAllocator, arrow.BinaryTypes.Binary)
	defer b.Release()
	for _, p := range pos {
		b.Append(AppendSegmentRowKey(nil, table, seg, p))
	}
	return b.NewBinaryArray()
}

// compactAll moves every row of tbl into "segment" id (no file: oltp only
// keeps the manifest) with one row changed between the snapshot and the
// swap, which must stay in the row store and be deleted in the segment.
func TestCommitCompaction(t *testing.T) {
	s, _ := openMem(t, nil)
	defer s.Close()
	users := usersTable(1)
	create(t, s, users)
	for i := 0; i < 5; i++ {
		mustInsert(t, s, users, []any{i, "a", nil})
	}
	snap := s.Snapshot()
	defer snap.Close()
	commitUpdate(t, s, users, 3, "chg")
	release, err := s.LockTable(ctxT(t), users, lockmgr.Shared)
	if err != nil {
		t.Fatal(err)
	}
	id := s.NewSegmentID()
	res, err := s.CommitCompaction(ctxT(t), users, snap, SegmentAdd{ID: id, Meta: []byte("meta"), Rows: 5})
	release()
	if err != nil {
		t.Fatal(err)
	}
	if res.Moved != 4 || res.Changed != 1 {
		t.Fatalf("result %+v, want 4 moved, 1 changed", res)
	}
	now := s.Snapshot()
	defer now.Close()
	if got := scanAll(t, now, users, []int{0, 1, 2}); len(got) != 1 || got[0] != "3|chg|(null)" {
		t.Fatalf("row store after compaction: %q", got)
	}
	ents, err := now.Segments(users.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].ID != id || string(ents[0].Meta) != "meta" || ents[0].Deleted == nil || !ents[0].Deleted.Contains(3) || ents[0].Deleted.GetCardinality() != 1 {
		t.Fatalf("manifest %+v", ents)
	}
	// A wrong row count writes nothing.
	snap2 := s.Snapshot()
	defer snap2.Close()
	if _, err := s.CommitCompaction(ctxT(t), users, snap2, SegmentAdd{ID: s.NewSegmentID(), Meta: []byte("m"), Rows: 7}); err == nil {
		t.Fatal("mismatched row count accepted")
	}
	if next := s.NewSegmentID(); next <= id {
		t.Fatalf("ids not increasing: %d after %d", next, id)
	}
}

// TestSegmentRowDeletes: concurrent transactions deleting different rows of
// one segment lose no bit; deleting the same row twice conflicts (40001).
func TestSegmentRowDeletes(t *testing.T) {
	s, _ := openMem(t, nil)
	defer s.Close()
	users := usersTable(1)
	create(t, s, users)
	mustInsert(t, s, users, []any{1, "a", nil})
	snap := s.Snapshot()
	release, _ := s.LockTable(ctxT(t), users, lockmgr.Shared)
	id := s.NewSegmentID()
	// Pretend the segment holds 1 row, then widen it: positions only matter
	// to the bitmap.
	if _, err := s.CommitCompaction(ctxT(t), users, snap, SegmentAdd{ID: id, Meta: []byte("m"), Rows: 1}); err != nil {
		t.Fatal(err)
	}
	release()
	snap.Close()
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			tx := s.Begin()
			keys := segKeys(users.ID, id, uint32(i))
			defer keys.Release()
			if err := tx.Delete(context.Background(), users, keys); err != nil {
				tx.Rollback()
				errs[i] = err
				return
			}
			errs[i] = tx.Commit(context.Background())
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("delete %d: %v", i, err)
		}
	}
	sn := s.Snapshot()
	ents, err := sn.Segments(users.ID)
	sn.Close()
	if err != nil || ents[0].Deleted.GetCardinality() != 20 {
		t.Fatalf("bitmap %v, err %v: want 20 bits", ents[0].Deleted, err)
	}

	// Two transactions delete row 30: the later one conflicts.
	a, b := s.Begin(), s.Begin()
	k := segKeys(users.ID, id, 30)
	defer k.Release()
	if err := a.Delete(ctxT(t), users, k); err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctxT(t), users, k); !errors.Is(err, ErrConflict) {
		t.Fatalf("second delete: %v, want ErrConflict", err)
	}
	b.Rollback()
	// The Txn sees its own deletes in Segments.
	c := s.Begin()
	k2 := segKeys(users.ID, id, 31)
	defer k2.Release()
	if err := c.Delete(ctxT(t), users, k2); err != nil {
		t.Fatal(err)
	}
	ents, err = c.Segments(users.ID)
	if err != nil || !ents[0].Deleted.Contains(31) {
		t.Fatalf("own delete not visible: %v %v", ents, err)
	}
	c.Rollback()
}

func TestSegmentRowKey(t *testing.T) {
	k := AppendSegmentRowKey(nil, 7, 42, 99)
	seg, pos, ok := parseSegmentRowKey(7, k)
	if !ok || seg != 42 || pos != 99 {
		t.Fatalf("parse: %d %d %v", seg, pos, ok)
	}
	if _, _, ok := parseSegmentRowKey(8, k); ok {
		t.Fatal("key of table 7 parsed as table 8's")
	}
	tbl := &catalog.Table{ID: 7, Name: "t"}
	if err := checkWriteKey(tbl, k); err != nil {
		t.Fatal(err)
	}
	if err := checkRowKey(tbl, k); err == nil {
		t.Fatal("segment row key accepted as a row key")
	}
}
