package segments

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/mantisdb/mantisdb/catalog"
)

var errInjected = errors.New("injected crash")

// TestCrashAtomicity crashes a segment write at every k-th write operation
// (with a random share of unsynced data surviving) and checks the crash
// image: no segment is visible unless its Parquet file was renamed, and
// RemoveOrphans leaves the directory clean. A write that finished survives
// a crash that keeps no unsynced data.
func TestCrashAtomicity(t *testing.T) {
	tbl := testTable()
	const dir = "seg"
	rng := rand.New(rand.NewPCG(3, 3))
	var total int
	for k := 1; ; k++ {
		mem := vfs.NewCrashableMem()
		if err := mem.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syncDir(mem, ""); err != nil {
			t.Fatal(err)
		}
		var (
			n       int
			crashed *vfs.MemFS
			renamed bool
		)
		inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
			if op.Kind.ReadOrWrite() != errorfs.OpIsWrite || crashed != nil {
				return nil
			}
			n++
			if n == k {
				pct := rng.IntN(101)
				crashed = mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rng})
				return errInjected
			}
			if op.Kind == errorfs.OpRename && strings.HasSuffix(op.Path, FileName(1)+tempExt) {
				renamed = true
			}
			return nil
		})
		fs := errorfs.Wrap(mem, inj)
		m, err := tryWrite(fs, dir, tbl)
		if crashed == nil {
			// The whole write ran without reaching the k-th operation.
			if err != nil {
				t.Fatal(err)
			}
			total = k - 1
			img := mem.CrashClone(vfs.CrashCloneCfg{})
			r, err := Open(img, dir, m)
			if err != nil {
				t.Fatalf("finished segment lost in a crash: %v", err)
			}
			got, _ := collect(t, r, ScanOptions{})
			r.Close()
			equalRows(t, got, expected(tbl, 3000))
			break
		}
		if err == nil {
			t.Fatalf("crash at write %d not reported", k)
		}
		names, err := crashed.List(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			if name == FileName(1) && !renamed {
				t.Fatalf("crash at write %d: segment visible before its rename", k)
			}
		}
		// The manifest never saw the segment: everything is an orphan.
		if _, err := RemoveOrphans(crashed, dir, func(uint64) bool { return false }); err != nil {
			t.Fatal(err)
		}
		if left, _ := crashed.List(dir); len(left) != 0 {
			t.Fatalf("crash at write %d: files left after RemoveOrphans: %v", k, left)
		}
	}
	if total < 8 {
		t.Fatalf("only %d write operations", total)
	}
}

func tryWrite(fs vfs.FS, dir string, tbl *catalog.Table) (*Meta, error) {
	w, err := NewWriter(fs, dir, 1, tbl, &WriterOptions{RowGroupSize: 1000})
	if err != nil {
		return nil, err
	}
	for from := 0; from < 3000; from += 1000 {
		rec := genBatch(memory.DefaultAllocator, tbl, from, 1000)
		err := w.Write(rec)
		rec.Release()
		if err != nil {
			w.Abort()
			return nil, err
		}
	}
	return w.Finish()
}

// TestOrphans lists temporary files and segments missing from the manifest.
func TestOrphans(t *testing.T) {
	fs := vfs.NewMem()
	tbl := testTable()
	writeSegment(t, fs, memory.DefaultAllocator, tbl, 1, 10, 10, nil)
	writeSegment(t, fs, memory.DefaultAllocator, tbl, 2, 10, 10, nil)
	w, err := NewWriter(fs, "", 3, tbl, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for _, name := range []string{"MANIFEST", "notes.txt", "000009.parquet.bak"} {
		if err := writeFileSync(fs, name, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	names, err := ListOrphans(fs, "", func(id uint64) bool { return id == 1 })
	if err != nil {
		t.Fatal(err)
	}
	want := "000002.idx 000002.parquet 000003.parquet.tmp"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("orphans %q, want %q", got, want)
	}
	if err := Remove(fs, "", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Stat(FileName(1)); err == nil {
		t.Fatal("Remove left the Parquet file")
	}
}
