// Package crashtest proves MantisDB's durability contract against the real
// binary: a child `mantisdb serve` process takes concurrent writes over HTTP,
// is killed with SIGKILL at a random moment and restarted, and every write it
// acknowledged must be there, with no statement half applied.
//
// The package has no non-test code beyond this comment: the tests build the
// binary from ../../cmd/mantisdb. `go test ./internal/crashtest -crash.kills=200`
// runs more kills than the default.
package crashtest
