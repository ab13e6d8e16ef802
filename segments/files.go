package segments

import (
	"errors"
	"fmt"
	"hash/crc32"
	iofs "io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"
)

const (
	parquetExt = ".parquet"
	indexExt   = ".idx"
	tempExt    = ".tmp"
)

// FileName returns the name of segment id's Parquet file within its
// directory.
func FileName(id uint64) string { return fmt.Sprintf("%06d%s", id, parquetExt) }

// IndexFileName returns the name of segment id's index file.
func IndexFileName(id uint64) string { return fmt.Sprintf("%06d%s", id, indexExt) }

func tempName(name string) string { return name + tempExt }

// parseFileName returns the segment id of a file of this package and
// whether it is temporary.
func parseFileName(name string) (id uint64, temp, ok bool) {
	temp = strings.HasSuffix(name, tempExt)
	name = strings.TrimSuffix(name, tempExt)
	base, found := strings.CutSuffix(name, parquetExt)
	if !found {
		if base, found = strings.CutSuffix(name, indexExt); !found {
			return 0, false, false
		}
	}
	id, err := strconv.ParseUint(base, 10, 64)
	if err != nil {
		return 0, false, false
	}
	return id, temp, true
}

func crc32Of(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// writeFileSync creates name with contents b and syncs it.
func writeFileSync(fs vfs.FS, name string, b []byte) (err error) {
	f, err := fs.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err = f.Write(b); err != nil {
		return err
	}
	return f.Sync()
}

func syncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("cannot open directory for sync: %w", err)
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return fmt.Errorf("cannot sync directory: %w", err)
	}
	return d.Close()
}

// ListOrphans returns the names (within dir, sorted) of the segment files
// that no live segment owns: temporary files of interrupted writes and
// merges, and the files of segments for which live returns false (written
// but never added to the manifest, or dropped from it). Files that are not
// segment files are ignored. The caller passes the manifest's view of live
// segments and must not call it concurrently with a Writer in dir whose
// segment is not yet in the manifest.
func ListOrphans(fs vfs.FS, dir string, live func(id uint64) bool) ([]string, error) {
	names, err := fs.List(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot list segment directory: %w", err)
	}
	var out []string
	for _, name := range names {
		id, temp, ok := parseFileName(name)
		if !ok {
			continue
		}
		if temp || !live(id) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// RemoveOrphans removes the files ListOrphans reports and syncs dir. It
// returns the names removed.
func RemoveOrphans(fs vfs.FS, dir string, live func(id uint64) bool) ([]string, error) {
	names, err := ListOrphans(fs, dir, live)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	for _, name := range names {
		if err := fs.Remove(fs.PathJoin(dir, name)); err != nil {
			return nil, fmt.Errorf("cannot remove orphan segment file %s: %w", name, err)
		}
	}
	return names, syncDir(fs, dir)
}

// Remove deletes the files of segment id and syncs dir. The caller
// guarantees that no snapshot can still read the segment (invariant 3). A
// missing file is not an error.
func Remove(fs vfs.FS, dir string, id uint64) error {
	for _, name := range []string{FileName(id), IndexFileName(id)} {
		if err := fs.Remove(fs.PathJoin(dir, name)); err != nil && !isNotExist(err) {
			return fmt.Errorf("cannot remove segment %d: %w", id, err)
		}
	}
	return syncDir(fs, dir)
}

func isNotExist(err error) bool { return errors.Is(err, iofs.ErrNotExist) }

// Copy copies the files of the segments ids from srcDir to dstDir (hard
// links where the file system allows: segment files are immutable) and
// syncs dstDir.
func Copy(fs vfs.FS, srcDir, dstDir string, ids ...uint64) error {
	for _, id := range ids {
		for _, name := range []string{FileName(id), IndexFileName(id)} {
			if err := vfs.LinkOrCopy(fs, fs.PathJoin(srcDir, name), fs.PathJoin(dstDir, name)); err != nil {
				return fmt.Errorf("cannot copy segment %d: %w", id, err)
			}
		}
	}
	return syncDir(fs, dstDir)
}
