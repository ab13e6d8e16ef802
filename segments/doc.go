// Package segments owns MantisDB's columnar segments: immutable pairs of a
// Parquet file and an index file holding rows of one table sorted by its
// sort key, written by the compactor and merges, read by scans and primary
// key probes.
//
// # Files
//
// Segment id lives in one directory as FileName(id) ("000042.parquet") and
// IndexFileName(id) ("000042.idx"). The Parquet file has row groups of
// RowGroupSize rows (128K by default; the last may be shorter), LZ4_RAW
// (default) or ZSTD (level 1) pages, column chunk and page statistics (page
// index), the Arrow schema and the segment format version in its key/value
// metadata. Since format version 2, DECIMAL columns of precision up to 18
// are stored as Parquet INT64 and listed in the "mantisdb.decimal64"
// key/value entry; the reader widens them to DECIMAL128. The
// index file holds, per column, a zone map per row group (min, max, NULL
// count), the positions of NULLs, a value → roaring bitmap of positions
// index when the column has at most BitmapMaxDistinct distinct values, and a
// bloom filter for the chosen high-cardinality columns (by default the first
// sort key column). Positions are 0-based row numbers in the segment.
//
// The Meta returned by Writer.Finish (and Merge) is the manifest entry: row
// count, sizes, index checksum, key range, per-column statistics, table id
// and schema version, format version. Meta.Encode and DecodeMeta give its
// versioned encoding. A segment's two files plus its Meta are everything
// needed to read it.
//
// # Invariants
//
//  1. Segments are immutable. Nothing in this package modifies a file after
//     Finish; deletes and updates of rows are the caller's delete bitmaps
//     (roaring, kept in Pebble so they move with snapshots), passed to
//     Reader.Scan, Reader.Lookup and Merge.
//  2. Creation is crash-atomic. A Writer writes "<name>.tmp" files, syncs
//     them, renames the index and then the Parquet file to their final
//     names and syncs the directory; only then does Finish return the Meta.
//     A segment exists for readers only once the caller has committed its
//     Meta to the manifest (one Pebble batch with the removal of the rows it
//     replaces). Files of an interrupted write are orphans: temporary files,
//     or final files whose id the manifest does not list. ListOrphans and
//     RemoveOrphans find and remove them on open.
//  3. Files are removed only by Remove, which the caller invokes once no
//     snapshot can read the segment.
//  4. Formats are versioned. The Parquet file, the index file and the
//     encoded Meta carry FormatVersion; this binary reads every version up
//     to it and refuses newer ones with ErrNewerFormat. Damage is reported
//     as ErrCorruption, never as a wrong result: Open checks file sizes and
//     the index CRC against the Meta and cross-checks row counts.
//  5. Rows are in sort-key order (Meta.SortKey), strictly when the sort key
//     is the primary key; the caller sorts and WriterOptions.VerifyOrder
//     checks it. A table without a sort key keeps insertion order and has
//     no key range (Lookup is unavailable).
//  6. Schema evolution is by column name (case-insensitive): catalog has no
//     stable column ids yet. A segment records the TableID and
//     SchemaVersion it was written with; a scan with a newer schema returns
//     NULL for columns the segment lacks and skips columns the schema
//     lacks; a column whose type changed fails with ErrSchemaMismatch.
//     Merge rewrites its inputs to the current schema. (Renaming a column
//     would need column ids; DEFAULT values other than NULL would need the
//     default in the schema.)
//  7. All file I/O goes through a pebble vfs.FS, so crash tests
//     (vfs.NewCrashableMem) and fault injection (errorfs) cover it.
//
// # Reading
//
// Open returns a Reader, safe for concurrent use. Reader.Scan yields Arrow
// batches of the projected table schema (types of the catalog's fixed
// mapping, nullability of the schema passed in) through a Scanner with the
// shape of arrowexec.Source. A Predicate (AND of column-op-constant
// conditions: =, <, <=, >, >=, IN, IS NULL) prunes row groups by zone maps,
// answers =, IN and IS NULL from bitmaps (IS NULL from the NULL positions
// of any column), rejects equality by bloom filters, and the delete bitmap
// removes rows; Reader.Select exposes the result as a Selection. Pruning
// never drops a matching row; Scanner.Exact (Selection.Exact) says whether
// the returned rows are exactly the matching ones or the caller must still
// filter. ScanStats count the row groups skipped (by cause: Pruned) and
// read for EXPLAIN ANALYZE. ScanOptions.Rows restricts a scan to given positions (Lookup
// results, or whole row groups for a parallel partition); a scan that
// selects few rows decodes small batches and seeks over unselected runs
// through the Parquet page index. Scanner.Positions names the positions of
// the rows a scan returns, in order, so callers can build row keys under
// any pruning.
//
// ScanOptions.KeyFilter is a runtime filter (the keys of a join's build
// side): row groups whose zone map holds none of its keys are skipped
// (Pruned.Runtime) and dense direct scans decode the key column of each
// batch first and the other columns only for the rows whose key may be
// among the keys (keyfilter.go). It may return more rows than it asks for,
// never fewer; it leaves Scanner.Exact alone.
//
// Dense scans of the column types the writer produces decode each column
// chunk straight into Arrow buffers (decode.go); their string columns are
// read page by page, PLAIN values and dictionary indices (the RLE /
// bit-packed hybrid) decoded into the batch's offsets and data without an
// intermediate value per row (decodebytes.go). Pages that do not parse
// fail the scan with ErrCorruption.
//
// ScanOptions.DataAllocator, when set, allocates the direct decoder's
// value, offset and string-data buffers and may hand out memory that is
// not cleared (the root package's recycled buffers, internal/bufpool).
// The invariant that makes that safe: the decoder writes every byte of
// those buffers that the array exposes — every value slot, NULL slots as
// zero, every offset, the string data up to the last offset — so a batch
// never shows bytes of an earlier one (TestRecycledBatches in the root
// package, through poisoned pools). Validity bitmaps, columns decoded by
// pqarrow and everything else come from ScanOptions.Allocator.
//
// Reader.Lookup finds a row by its full sort key (primary key probes and
// uniqueness checks): key range, bloom filter or bitmap of the first key
// column, zone maps, then binary search in the decoded key columns of the
// candidate row group, which stay cached (up to 8 MiB per Reader, oldest
// row groups evicted first) for later probes.
//
// The writer dictionary-encodes VARCHAR columns (with a 64 KiB
// dictionary page limit, past which a column chunk falls back to plain
// pages) and the integer, date, timestamp and INT64-stored DECIMAL columns
// whose value index survived the first row group; the others (floats,
// high-cardinality columns) are written plain: Parquet's own dictionary
// encoder hashing every fixed-width value cost more than it saved. The
// Writer collects a row group before it writes it, column by column; a
// column with a value index that numbers its rows reaches Parquet as
// dictionary indices numbered while the index was built, so its values are
// hashed once, and its zone map comes from those ids. A goroutine of the
// Writer encodes each full row group while the caller builds the next one.
//
// Merge merges segments by sort key into a new one, dropping deleted rows:
// the building block of size-tiered merges and rewrites of segments with
// many deletes. Inputs of older table layouts are read with their
// MergeInput.Schema and come out in the current layout. Meta.Level counts
// the merges: 0 for a segment written from the row store, one more than
// the highest input for a merge.
package segments
