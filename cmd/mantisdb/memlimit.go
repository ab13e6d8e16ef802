package main

import (
	"bufio"
	"bytes"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// memoryLimitShare is the share of the memory available to the process
// that serve sets as the Go runtime's soft memory limit: the garbage
// collector works harder as the heap (Arrow buffers included) nears it,
// instead of letting the heap double between collections (GOGC=100) and
// the process be killed for memory. The rest is for the Pebble block
// cache's and the OS's own use.
const memoryLimitShare = 0.75

// setMemoryLimit sets the runtime's soft memory limit (debug.SetMemoryLimit)
// to memoryLimitShare of the memory available to the process: the cgroup
// (v2) limit when there is one, else the machine's RAM. It does nothing
// when GOMEMLIMIT is set in the environment (the runtime honours it) or
// the available memory cannot be read. It returns the limit set, or 0.
func setMemoryLimit(getenv func(string) string) int64 {
	if getenv("GOMEMLIMIT") != "" {
		return 0
	}
	avail := memTotal(readFileOrNil("/proc/meminfo"))
	if c := cgroupLimit(readFileOrNil("/sys/fs/cgroup/memory.max")); c > 0 && (avail == 0 || c < avail) {
		avail = c
	}
	if avail <= 0 {
		return 0
	}
	limit := int64(float64(avail) * memoryLimitShare)
	debug.SetMemoryLimit(limit)
	return limit
}

// The shares of the Go memory limit that the statements' memory budgets
// get by default (--query-memory 0, --total-query-memory 0): one statement
// a quarter, so that a runaway query fails with 53200 while others, and
// the server, go on; all running statements together three quarters, so
// that many large ones at once fail one by one instead of growing the
// process past the limit (the rest is for batches in flight, the row
// store's memory tables and the garbage collector's headroom).
const (
	queryMemoryShare      = 0.25
	totalQueryMemoryShare = 0.75
)

// queryMemory returns a memory budget for a flag's value n: n itself when
// positive, no limit (0) when negative, and for 0 share of the Go
// runtime's memory limit, or no limit when the runtime has none.
func queryMemory(n int64, share float64) int64 {
	switch {
	case n > 0:
		return n
	case n < 0:
		return 0
	}
	if gl := debug.SetMemoryLimit(-1); gl > 0 && gl < math.MaxInt64 {
		return int64(float64(gl) * share)
	}
	return 0
}

func readFileOrNil(name string) []byte {
	b, _ := os.ReadFile(name)
	return b
}

// memTotal returns MemTotal of a /proc/meminfo text in bytes, or 0.
func memTotal(meminfo []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(meminfo))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == "MemTotal:" && f[2] == "kB" {
			if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil && kb > 0 {
				return kb << 10
			}
		}
	}
	return 0
}

// cgroupLimit returns the limit of a cgroup v2 memory.max text in bytes, or
// 0 for "max" (none) and anything it cannot parse.
func cgroupLimit(max []byte) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(string(max)), 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}
