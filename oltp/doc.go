// Package oltp is the row store of MantisDB: the Pebble keyspace and its
// encodings, row reads and writes, transactions, snapshots and the primary
// key index. It knows neither SQL nor Arrow compute; it moves Arrow batches
// in and out of Pebble.
//
// # Keyspace
//
// Every key starts with a one-byte tag. Integers in keys are big-endian so
// that byte order is numeric order.
//
//	0x01 "format"                 store format version (uvarint); written at creation
//	0x01 "next_table_id"          next table ID to hand out (uint64 BE)
//	0x01 "txn_epoch"              transaction id epoch (uint64 BE); one more at every Open
//	0x01 "next_segment_id"        next segment id (uint64 BE); written with every manifest change
//	0x02 <table id>               table descriptor (catalog.Table.Encode)
//	0x03 ...                      reserved: store-wide segment manifest and file GC
//	0x04 <view id>                view descriptor (catalog.View.Encode); ids share the
//	                              table ID counter
//	0x05 <table id> <batch>       body of a batch entry written ahead of its header
//	                              (Store.WriteBody), not committed yet; empty value
//	0x10 <table id> 0x00          table sequence: next hidden row id (uint64 BE)
//	0x10 <table id> 0x01 <pk>     row entry: value is an encoded row (see below)
//	0x10 <table id> 0x02 <batch>  batch entry header (see "Batch entries")
//	0x10 <table id> 0x03 <seg>    delete bitmap of segment or batch entry seg (uint64 BE):
//	                              format byte 1, then a portable roaring bitmap of deleted
//	                              row positions
//	0x10 <table id> 0x04 <seg>    manifest entry of live segment seg: segments.Meta.Encode()
//	                              (versioned by package segments; opaque here)
//	0x10 <table id> 0x05 <batch>  batch entry body: the rows as compressed Arrow IPC
//
// Everything a table owns lives under 0x10 <table id>, so dropping a table is
// one range deletion plus the deletion of its descriptor, in one synced batch.
//
// <pk> is the order-preserving encoding of the primary key columns in key
// order (see appendKeyValue): comparing encoded keys bytewise gives the same
// order as comparing the key values column by column. Primary key columns are
// NOT NULL, so the encoding has no NULL marker. Tables without a primary key
// are keyed by a hidden row id, encoded like a BIGINT.
//
// # Row values
//
//	byte     format version (rowFormatV2; rowFormatV1 values lack the stamp)
//	uvarint  writer stamp: the id of the transaction that wrote the value
//	uvarint  number of columns n encoded in this value
//	bitmap   (n+7)/8 bytes; bit i set means column i is NULL
//	values   for each non-NULL column in column order: fixed-width values
//	         little-endian (BOOLEAN 1 byte, SMALLINT 2, INT/REAL/DATE 4,
//	         BIGINT/DOUBLE/TIMESTAMP 8, DECIMAL 16 as low then high word),
//	         VARCHAR as uvarint length and bytes
//
// Columns at positions >= n (added after the row was written) read as NULL.
//
// # Segment rows
//
// Rows in segments are addressed, for Update and Delete, by segment row
// keys 0x10 <table id> 0x03 <seg> <position uint32 BE> (AppendSegmentRowKey):
// the "__key" that scans of segments carry. Deleting one (also as the first
// half of an update) locks that key like a row key, checks under the lock
// that the row is live in the latest committed bitmap as in the snapshot
// (else 40001), and adds the position to the Txn's own bits; at Commit,
// under Store.bmMu, the latest committed bitmap is read and written back
// with the own bits in the Txn's batch, so concurrent deleters of one
// segment lose no bit. Primary keys stay unique across tiers: an insert, or
// an update that moves a row to a new key, that does not find its key in
// the row store asks the SegmentProbe (installed by the root package) for
// segments holding it and fails if one is live there.
//
// The manifest changes only by CommitCompaction and CommitMerge, which run
// while the caller holds the table's Shared lock (LockTable): no writer of
// the table holds its IX lock then, so each writer sees the manifest
// unchanged from its first write to its commit. A compaction deletes a row
// entry only if its latest value is byte-equal to the value at the
// compaction's snapshot (values carry the writer's transaction id, so equal
// bytes are the same version); otherwise the row's segment copy is marked
// deleted in the same batch. A Txn whose snapshot predates a compaction and
// that writes a row moved by it fails with 40001 (the row's row-store
// version is gone), like any row changed after its snapshot.
//
// # Batch entries
//
// Bulk writes (Txn.InsertBatch of at least Options.BulkMinRows rows) store
// a whole Arrow batch as one batch entry instead of one row entry per row:
// Pebble commits a few thousand synced batches and some hundred thousand
// keys per second, so one key per row cannot carry millions of rows per
// second. A batch entry behaves like a small segment held in Pebble. Its
// id (uint64 BE) comes from the segment id space (NewSegmentID; at Open
// the counter is set above every batch entry id too), so its rows are
// addressed exactly like segment rows: by AppendSegmentRowKey keys, with
// deletions in a delete bitmap under 0x03 <batch>. Update and Delete of
// batch rows therefore go through the segment-row path unchanged.
//
// An entry is two keys, so that finding the entries a read needs (key
// range, bloom filter) never loads their rows:
//
//	header 0x10 <table id> 0x02 <batch>:
//	byte     format version (1)
//	uvarint  row count
//	uvarint  table columns when written (later columns read as NULL)
//	byte     flags: 1 = the table has a primary key
//	uvarint  hidden row id of row 0 (tables without a primary key)
//	uvarint  length, bytes: first row key (full storage key)
//	uvarint  length, bytes: last row key
//	uvarint  length, bytes: bloom filter over the row keys (10 bits and
//	         6 probes per key; empty without a primary key)
//	uvarint  length of the body
//
//	body 0x10 <table id> 0x05 <batch>:
//	byte     format version (3)
//	byte     codec: 0 = none, 1 = S2 blocks
//	none:    bytes: the column stream (bodycols.go): the columns one
//	         after the other, integers, decimals that fit in 64 bits
//	         and string lengths narrowed to the bytes their range needs
//	S2:      uvarint  length of that column stream
//	         uvarint  block size B
//	         per B bytes of the stream: uvarint length, S2 block
//
// Bodies of format 2 (the same layout around an Arrow IPC stream, the
// table schema and one record batch) and format 1 (the IPC stream with
// LZ4-frame compressed buffers) are still read. A decoded body of format 3
// owns its Arrow buffers (from Options.Allocator); one of format 2 aliases
// its decompressed stream.
//
// Rows are sorted by primary key; tables without one number the rows of
// an entry with consecutive hidden row ids, taken from the table sequence.
// Scans return the row entries first, then the rows of each batch entry
// (the row's position in the entry is its segment row key position),
// minus the rows in its delete bitmap. Key-range scans skip entries whose
// key range misses the spans without reading their body.
//
// Uniqueness: a bulk insert is EncodeBatch, then InsertEncoded
// (InsertBatch is both). EncodeBatch takes no lock and reads nothing of
// the store: it validates the rows, sorts their keys, rejects duplicates
// inside the batch, builds the bloom filter and encodes the body, all of
// which depends only on the rows and the table descriptor (the caller
// checks, once locked, that the descriptor is still current). Into a
// table with a primary key InsertEncoded then takes the table's X lock
// (released with the row locks when the batch is applied, so group commit
// still works) and checks the row entries with one forward iterator over
// the sorted keys, the other batch entries by key range, bloom filter and
// binary search of their key column (decoded once and cached), and the
// segments through the SegmentProbe: every check that depends on other
// transactions runs under the lock that is held until the commit. Row inserts and key-changing updates
// also check the batch entries, under their row lock and the table's IX
// lock, which keep bulk writers out. Tables without a primary key take
// IX only and check nothing.
//
// The compactor reads row entries and batch entries merged in key order
// (CompactionScan); CommitCompaction deletes each batch entry (header,
// body and bitmap) with the row entries, and rows of it deleted after the
// compaction's snapshot are marked deleted in the new segment's bitmap
// through the Placement of the scan.
//
// # Invariants
//
//  1. The format key is written when the store is created. Open refuses a
//     store whose format is newer than this binary understands.
//  2. Table IDs are never reused: next_table_id is persisted with every
//     descriptor and is greater than every ID ever created, dropped or not.
//  3. Hidden row ids never repeat for a table, also across restarts: the table
//     sequence is written in the same batch as the rows that used the ids,
//     and at open the larger of the sequence and the last row key wins.
//  4. Snapshot isolation: a Txn reads the Pebble snapshot taken at Begin
//     plus its own batch. Before writing a row (insert, update or delete by
//     key) it holds the row's X lock (under the table's IX, or the table's
//     X after Options.EscalateRows row locks) until its batch is applied,
//     and checks, under the lock, that the row's latest committed value
//     equals its snapshot value (both absent, or equal bytes); otherwise the
//     write fails with 40001 wrapping ErrConflict. Transaction ids are
//     unique across restarts (txn_epoch << 40 | counter) and every row value
//     carries its writer's id, so equal bytes mean the same version.
//     Uniqueness checks run under the same lock, so they cannot race.
//     Inserts into tables without a primary key use fresh hidden row ids and
//     take no row locks. DropTable takes the table's X lock.
//  5. Commit returns only after the WAL holding the batch is synced.
//     Concurrent committers share fsyncs (group commit): the locks are
//     released once the batch is applied (visible), before waiting for the
//     sync; a later writer that read the batch commits behind it in the
//     same WAL, so its acknowledgement implies ours is durable.
//  6. A failed fsync is fatal for the store: every later write fails with
//     ErrStoreFailed and the cause.
//  7. A Txn that returned an error from a write is unusable; nothing of it is
//     written. The caller rolls it back.
//  8. Batch entries are immutable: they are written once and deleted only
//     by CommitCompaction (or DropTable); only their delete bitmaps
//     change, like a segment's. Ids of batch entries and segments never
//     collide, also across restarts.
package oltp
