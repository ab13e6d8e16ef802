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
//	byte     format version (rowFormatV1)
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
//  4. A Txn holds the write lock of every table it wrote until its batch is
//     applied, so uniqueness checks (which read committed data plus the
//     Txn's own batch) cannot race with another writer of the table.
//  5. Commit returns only after the WAL holding the batch is synced.
//     Concurrent committers share fsyncs (group commit): the table locks are
//     released once the batch is applied, before waiting for the sync.
//  6. A failed fsync is fatal for the store: every later write fails with
//     ErrStoreFailed and the cause.
//  7. A Txn that returned an error from a write is unusable; nothing of it is
//     written. The caller rolls it back.
package oltp
