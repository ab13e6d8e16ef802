// Package rest is MantisDB's HTTP API over the embedded database
// (mantisdb.DB): SQL queries answered as streamed JSON, NDJSON bulk ingest
// and a health check. It knows nothing of storage: every request becomes
// calls of DB.Prepare, Stmt.Query/Exec and DB.Ingest.
//
// Routes (all under /v1 except the health check):
//
//	POST /v1/sql                   {"sql": "..."}  → columns and rows
//	GET  /v1/sql?q=...             same, for quick reads with curl
//	POST /v1/tables/{table}/ingest NDJSON body     → {"rows_written": N}
//	GET  /healthz                  → {"status": "ok"}
//
// A query answers {"columns":[{"name":…,"type":…}],"rows":[[…],…]}; a
// statement without rows answers {"columns":[],"rows":[],"rows_affected":N}.
// Rows are written batch by batch as the executor produces them, so a large
// result never sits in memory. JSON values follow the column's SQL type:
// integers and floats are JSON numbers (BIGINT exact in the text even beyond
// 2^53), DECIMAL an exact JSON number in text form, VARCHAR a string, BOOLEAN
// true/false, DATE "2024-01-02", TIMESTAMP "2024-01-02T03:04:05.123456"
// (ISO 8601 without zone, fraction trimmed), NULL null. NaN and infinite
// floats, which JSON cannot spell, are the strings "NaN", "Infinity" and
// "-Infinity".
//
// Errors answer {"error":{"code":"42P01","message":"…","details":{…}}} with
// the HTTP status of the SQLSTATE class (see StatusOf). An error found after
// the first rows were sent cannot change the status any more: the body then
// ends with an "error" member after "rows", and clients must check for it.
//
// Ingest is all or nothing: the body is decoded into Arrow batches of the
// table's schema while DB.Ingest consumes them, and a bad row (reported with
// its 1-based row number) aborts the whole ingest.
package rest
