// Package rest is MantisDB's HTTP API over the embedded database
// (mantisdb.DB): SQL queries answered in JSON, NDJSON, CSV, Arrow IPC or
// Parquet; bulk ingest of NDJSON, JSON arrays, CSV, Arrow IPC and Parquet;
// administration, health, readiness and Prometheus metrics. It knows
// nothing of storage: every request becomes calls of the root package's
// API (Prepare, Stmt.Query/QueryParams, Begin/Tx, Ingest, TableStats,
// Compact). docs/rest.md is the user's reference; openapi.json (served at
// /v1/openapi.json) lists every route, and a test checks it against the
// router both ways.
//
// # Routes
//
//	POST /v1/sql, GET /v1/sql?q=     statements → result in the Accept format
//	POST /v1/tables/{table}/ingest   body → {"rows_written": N}
//	GET  /v1/tables, /v1/tables/{t}  schema, rows per tier, segments
//	POST /v1/tables/{t}/compact      DB.Compact
//	GET  /v1/status, /v1/openapi.json
//	GET  /healthz, /readyz, /metrics
//
// # Invariants
//
// One ingest request is one transaction: all its rows or none. Bodies are
// decoded into Arrow batches of the table's schema while the database
// consumes them (array.RecordReader), so a body is never held whole; the
// exception is Parquet, whose footer is at the end: it is spooled, in
// memory up to Options.SpoolBytes and in a temporary file beyond. The first
// bad row stops the reader and the database writes nothing; a malformed
// body is a 400, a well-formed row with a bad value a 422, both with the
// 1-based row number (and line) in the error's details. The text readers
// check values as they decode them; for Arrow and Parquet batches the
// database's own checks (DECIMAL precision, NOT NULL, VARCHAR length,
// conversion to the column's type) name the row of the stream
// (sqlstate.Error.Row), which badRow turns into the same 422.
// An answer written before the body was read to its end (an early error,
// a replay) closes the connection, so that net/http does not read up to
// 256 KiB of the body before sending it (closeUnread).
//
// Text bodies are decoded by hand-written scanners over the bytes, straight
// into the Arrow builders (ndjson.go, textformats.go): no map, reflection
// or allocation per value. They accept exactly what they replace: JSON
// strings decode as encoding/json decodes them (invalid UTF-8 refused),
// CSV records are read by a byte-level port of encoding/csv's record
// reader with its *csv.ParseError errors, and DATE and TIMESTAMP text is
// what time.Parse takes; fuzz targets in scan_test.go check each against
// its reference (run by hand with go test -fuzz).
//
// An Idempotency-Key is stored in IdempotencyTable in the same transaction
// as the rows it guards, with the answer. So the key exists if and only if
// the rows were written: a retry finds it and answers the stored response
// without writing; a failed request leaves no key and its retry runs; two
// concurrent requests with one key cannot both commit (the key is the
// table's primary key), and the loser answers the winner's response. Keys
// expire after Options.IdempotencyWindow and are pruned on the request path
// (no background goroutine).
//
// Results stream batch by batch; the status is chosen after the first
// batch, so most errors get their proper status. An error after that is
// written into the body (JSON: an "error" member after "rows"; NDJSON: a
// last {"error": …} line) or, for CSV, Arrow and Parquet, which have no
// place for it, aborts the connection, so a client never takes a cut result
// for a whole one. Several statements in one request run in one explicit
// transaction, committed after the last statement's result was sent.
//
// A Parquet answer is written for the writer's speed, since it is written
// once per request: Snappy pages (every reader has Snappy, at half ZSTD's
// CPU; arrow-go's LZ4_RAW encoder was slower), PLAIN encoding (arrow-go's
// dictionary encoder boxes every string in an interface value), DECIMAL up
// to precision 18 as INT32/INT64, no statistics for strings, pages of
// 256 KiB (arrow-go clears a page buffer per column chunk). One row group
// (parquetRowGroupRows) is buffered at a time.
//
// Errors answer {"error":{"code":"42P01","message":"…","details":{…}}}
// with the HTTP status of the SQLSTATE class (StatusOf) or a status the
// request error fixes (413, 415, 422, 429). A request beyond
// Options.MaxConcurrentRequests is refused at once with 429; probes and
// /metrics are not counted. A panic in a handler is logged and answered
// 500; it never takes the server down.
//
// A Handler is safe for concurrent use. Its metrics live in the DB's
// registry, shared by every Handler over the same DB.
package rest
