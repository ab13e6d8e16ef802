package mantisdb

import (
	"context"
	"fmt"
	"time"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
	"github.com/mantisdb/mantisdb/segments"
)

// BackupInfo tells what DB.Backup wrote.
type BackupInfo struct {
	// Dir is the backup's directory.
	Dir string
	// Segments is the number of segments copied.
	Segments int
	// Duration is the time the backup took.
	Duration time.Duration
}

// Backup writes a consistent copy of the database into dir, which must not
// exist, while the database stays open for reads and writes: every write
// acknowledged before Backup was called is in the copy, and each
// transaction is in it whole or not at all. The copy is a data directory
// that Open (and `mantisdb serve --data-dir`) opens as it is.
//
// The store is copied with Pebble's checkpoint and the segment files by
// hard links where dir is on the same file system (segment files are
// immutable), else by copying; so a backup on the same file system takes
// little space until the database moves on. Compactions and merges wait
// while the copy is made (writes and queries do not); dir should be on
// another disk or copied elsewhere afterwards to protect against the
// loss of this one.
func (db *DB) Backup(ctx context.Context, dir string) (BackupInfo, error) {
	info := BackupInfo{Dir: dir}
	if err := db.begin(); err != nil {
		return info, err
	}
	defer db.running.Done()
	if err := ctx.Err(); err != nil {
		return info, err
	}
	start := time.Now()
	fs := db.tiers.fs
	// No compaction or merge changes the set of segment files while the
	// copy is made; the version keeps every file it lists from removal
	// (a DROP TABLE meanwhile makes them obsolete, not gone). Segments the
	// checkpoint does not list (dropped after v was taken) are copied too
	// and removed as orphans when the backup is opened.
	db.comp.compactMu.Lock()
	defer db.comp.compactMu.Unlock()
	db.comp.mergeMu.Lock()
	defer db.comp.mergeMu.Unlock()
	// Checked under compactMu, which every Backup takes: of two backups
	// to one directory the second fails here, and its fail below never
	// removes the first one's files.
	if _, err := fs.Stat(dir); err == nil {
		return info, sqlstate.Errorf(sqlstate.DuplicateFile, "backup directory %s exists already", dir)
	}
	db.tiers.mu.Lock()
	v := db.tiers.acquireLocked()
	db.tiers.mu.Unlock()
	defer db.tiers.release(v)

	fail := func(err error) (BackupInfo, error) {
		_ = fs.RemoveAll(dir)
		return info, err
	}
	if err := db.store.Checkpoint(dir); err != nil {
		return fail(err)
	}
	segDir := fs.PathJoin(dir, segmentDir)
	if err := fs.MkdirAll(segDir, 0o755); err != nil {
		return fail(fmt.Errorf("cannot create %s: %w", segDir, err))
	}
	var ids []uint64
	for _, hs := range v.tables {
		for _, h := range hs {
			ids = append(ids, h.meta.ID)
		}
	}
	if err := segments.Copy(fs, db.tiers.dir, segDir, ids...); err != nil {
		return fail(err)
	}
	info.Segments, info.Duration = len(ids), time.Since(start)
	db.log.Info("backup written", "dir", dir, "segments", info.Segments, "took", info.Duration)
	return info, nil
}
