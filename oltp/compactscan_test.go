package oltp

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mantisdb/mantisdb/catalog"
	"github.com/mantisdb/mantisdb/lockmgr"
)

// deleteIDs deletes the rows of users with the given ids in one Txn.
func deleteIDs(t *testing.T, s *Store, users *catalog.Table, ids map[int32]bool) {
	t.Helper()
	if len(ids) == 0 {
		return
	}
	tx := s.Begin()
	sc, err := tx.Scan(users, []int{0}, true)
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewBinaryBuilder(memory.DefaultAllocator, arrow.BinaryTypes.Binary)
	for sc.Next() {
		rec := sc.Record()
		for i := 0; i < int(rec.NumRows()); i++ {
			if ids[rec.Column(0).(*array.Int32).Value(i)] {
				b.Append(rec.Column(1).(*array.Binary).Value(i))
			}
		}
	}
	if err := sc.Close(); err != nil {
		t.Fatal(err)
	}
	k := b.NewBinaryArray()
	b.Release()
	defer k.Release()
	if k.Len() != len(ids) {
		t.Fatalf("found %d of the %d rows to delete", k.Len(), len(ids))
	}
	if err := tx.Delete(ctxT(t), users, k); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

// TestCompactionScanRuns checks the merge of CompactionScan where it hands
// on runs of batch entries as slices: the rows come out in key order, each
// once, runs are slices (not copies) where no other source interleaves,
// and the placement is exact (rows deleted after the snapshot are deleted
// at their own segment positions).
func TestCompactionScanRuns(t *testing.T) {
	defer func(v int) { minSliceRows = v }(minSliceRows)
	type entry struct {
		ids  []int // a batch entry; nil: rows entries
		rows []int
	}
	span := func(lo, hi, step int) []int {
		var ids []int
		for i := lo; i < hi; i += step {
			ids = append(ids, i)
		}
		return ids
	}
	cases := []struct {
		name      string
		minSlice  int
		batchSize int
		bulk      [][]int // batch entries
		rows      []int   // row entries
		delBefore []int   // deleted before the snapshot
		delAfter  []int   // deleted after it
		slices    bool    // every record but the first of an entry is a slice
	}{
		{name: "one entry", minSlice: 4, batchSize: 7, bulk: [][]int{span(0, 100, 1)}, slices: true},
		{name: "disjoint entries", minSlice: 4, batchSize: 16, bulk: [][]int{span(200, 300, 1), span(0, 100, 1), span(100, 200, 1)}, slices: true},
		{name: "interleaved entries", minSlice: 3, batchSize: 9,
			bulk: [][]int{span(0, 300, 2), span(1, 100, 2), span(101, 300, 10), span(300, 340, 1)}},
		{name: "rows and deletes", minSlice: 2, batchSize: 5,
			bulk: [][]int{span(0, 200, 1), span(1000, 1100, 3)}, rows: []int{50_5, 199_5, 2000, 1001_5},
			delBefore: []int{3, 4, 5, 60, 61, 1003}, delAfter: []int{0, 7, 150, 1009, 2000}},
		{name: "random", minSlice: 3, batchSize: 11},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "random" {
				rng := rand.New(rand.NewPCG(7, 8))
				perm := rng.Perm(3000)
				used := 0
				for e := 0; e < 8; e++ {
					n := 50 + rng.IntN(300)
					tc.bulk = append(tc.bulk, perm[used:used+n])
					used += n
				}
				tc.rows = perm[used : used+40]
				for _, id := range perm[:used+40] {
					switch rng.IntN(20) {
					case 0:
						tc.delBefore = append(tc.delBefore, id)
					case 1:
						tc.delAfter = append(tc.delAfter, id)
					}
				}
			}
			minSliceRows = tc.minSlice
			mem := checkedAlloc(t)
			s, _ := openMem(t, &Options{Allocator: mem, BulkMinRows: -1, BatchSize: tc.batchSize})
			defer s.Close()
			users := usersTable(s.NextTableID())
			create(t, s, users)
			live := map[int32]bool{}
			for _, ids := range tc.bulk {
				mustBulk(t, s, users, userRows(ids...)...)
				for _, id := range ids {
					live[int32(id)] = true
				}
			}
			for _, id := range tc.rows {
				mustInsert(t, s, users, userRows(id)...)
				live[int32(id)] = true
			}
			toSet := func(ids []int) map[int32]bool {
				m := map[int32]bool{}
				for _, id := range ids {
					m[int32(id)] = true
				}
				return m
			}
			deleteIDs(t, s, users, toSet(tc.delBefore))
			for _, id := range tc.delBefore {
				delete(live, int32(id))
			}
			snap := s.Snapshot()
			defer snap.Close()
			deleteIDs(t, s, users, toSet(tc.delAfter))

			cs, err := snap.CompactionScan(users)
			if err != nil {
				t.Fatal(err)
			}
			var ids []int32
			sliced := 0
			for cs.Next() {
				rec := cs.Record()
				if rec.NumRows() > int64(tc.batchSize) {
					t.Fatalf("batch of %d rows, batch size %d", rec.NumRows(), tc.batchSize)
				}
				if rec.Column(0).Data().Offset() > 0 {
					sliced++
				}
				for i := 0; i < int(rec.NumRows()); i++ {
					id := rec.Column(0).(*array.Int32).Value(i)
					if name := rec.Column(1).(*array.String).Value(i); name != "u"+itoa(int(id)%1000) {
						t.Fatalf("row %d: name %q", id, name)
					}
					ids = append(ids, id)
				}
			}
			if err := cs.Err(); err != nil {
				t.Fatal(err)
			}
			var want []int32
			for id := range live {
				want = append(want, id)
			}
			slices.Sort(want)
			if !slices.Equal(ids, want) {
				t.Fatalf("compaction scan\n%v\nwant\n%v", ids, want)
			}
			if tc.slices {
				// Every record but the first of each entry starts inside it.
				if minRecs := len(ids)/tc.batchSize - len(tc.bulk); sliced < minRecs {
					t.Fatalf("%d sliced records, want at least %d", sliced, minRecs)
				}
			}
			release, err := s.LockTable(ctxT(t), users, lockmgr.Shared)
			if err != nil {
				t.Fatal(err)
			}
			seg := s.NewSegmentID()
			res, err := s.CommitCompaction(ctxT(t), users, snap, SegmentAdd{ID: seg, Meta: []byte("m"), Rows: int64(len(ids)), Placement: cs.Placement()})
			release()
			if err := cs.Close(); err != nil {
				t.Fatal(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := int64(len(ids) - len(tc.delAfter)); res.Moved != want || res.Changed != int64(len(tc.delAfter)) {
				t.Fatalf("result %+v, want %d moved, %d changed", res, want, len(tc.delAfter))
			}
			// The segment's delete bitmap holds the scan positions of the
			// rows deleted after the snapshot.
			var wantDel []uint32
			for _, id := range tc.delAfter {
				p, _ := slices.BinarySearch(ids, int32(id))
				wantDel = append(wantDel, uint32(p))
			}
			slices.Sort(wantDel)
			now := s.Snapshot()
			defer now.Close()
			ents, err := now.Segments(users.ID)
			if err != nil {
				t.Fatal(err)
			}
			var gotDel []uint32
			if len(ents) == 1 && ents[0].Deleted != nil {
				gotDel = ents[0].Deleted.ToArray()
			}
			if len(ents) != 1 || !slices.Equal(gotDel, wantDel) {
				t.Fatalf("segment entries %+v, deleted %v, want %v", ents, gotDel, wantDel)
			}
			if n := batchCount(t, s, users); n != 0 {
				t.Fatalf("%d batch entries left", n)
			}
		})
	}
}
