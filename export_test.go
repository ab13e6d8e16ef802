package mantisdb

// SetMaxStagedBytes sets the staging limit of ingests and returns a
// function that restores it.
func SetMaxStagedBytes(n int64) (restore func()) {
	old := maxStagedBytes
	maxStagedBytes = n
	return func() { maxStagedBytes = old }
}
