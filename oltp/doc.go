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
//	0x02 <table id>               table descriptor (catalog.Table.Encode)
//	0x03 ...                      reserved: store-wide segment manifest and file GC
//	0x10 <table id> 0x00          table sequence: next hidden row id (uint64 BE)
//	0x10 <table id> 0x01 <pk>     row entry: value is an encoded row (see below)
//	0x10 <table id> 0x02 ...      reserved: bulk batch entries (Arrow IPC)
//	0x10 <table id> 0x03 ...      reserved: segment delete bitmaps
//	0x10 <table id> 0x04 ...      reserved: per-table segment manifest
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
package oltp
