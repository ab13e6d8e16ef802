package mantisdb

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/mantisdb/mantisdb/arrowexec"
)

// Spilling: a sort whose input outgrows a quarter of its statement's
// memory budget writes sorted runs to temporary files and merges them
// (arrowexec's external sort), so ORDER BY of any size runs within the
// budget. The files go to Options.SpillDir, by default the data
// directory's tmp; they are unlinked as soon as they are created, so a
// crash leaves none (files of the external sort's name pattern found
// there at Open, from a system that cannot unlink open files, are
// removed: arrowexec.RemoveSpillFiles).

// spillDirName is the default spill directory inside the data directory.
const spillDirName = "tmp"

// openSpillDir returns the directory where statements spill, created and
// emptied of old runs, or "" for none: a DB on another file system than
// the OS's (vfs.MemFS in tests) spills only to an explicit SpillDir.
func openSpillDir(dir string, o *Options) (string, error) {
	spill := o.SpillDir
	switch {
	case spill == "-":
		return "", nil
	case spill == "" && o.FS != vfs.Default:
		return "", nil
	case spill == "":
		spill = filepath.Join(dir, spillDirName)
	}
	if err := os.MkdirAll(spill, 0o755); err != nil {
		return "", fmt.Errorf("cannot create spill directory: %w", err)
	}
	if err := arrowexec.RemoveSpillFiles(spill); err != nil {
		return "", fmt.Errorf("cannot read spill directory: %w", err)
	}
	return spill, nil
}
