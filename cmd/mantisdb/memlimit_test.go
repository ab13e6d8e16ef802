package main

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestMemTotal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"MemTotal:       24641536 kB\nMemFree:  1000 kB\n", 24641536 << 10},
		{"MemFree:  1000 kB\nMemTotal: 2048 kB\n", 2048 << 10},
		{"MemTotal: lots kB\n", 0},
		{"MemTotal: 2048 MB\n", 0},
		{"", 0},
	} {
		if got := memTotal([]byte(tc.in)); got != tc.want {
			t.Errorf("memTotal(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestCgroupLimit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"max\n", 0},
		{"4294967296\n", 4294967296},
		{"", 0},
		{"-1", 0},
	} {
		if got := cgroupLimit([]byte(tc.in)); got != tc.want {
			t.Errorf("cgroupLimit(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestSetMemoryLimitHonoursGOMEMLIMIT(t *testing.T) {
	env := func(k string) string {
		if k == "GOMEMLIMIT" {
			return "1GiB"
		}
		return ""
	}
	if got := setMemoryLimit(env); got != 0 {
		t.Fatalf("set %d with GOMEMLIMIT in the environment", got)
	}
}

func TestQueryMemory(t *testing.T) {
	old := debug.SetMemoryLimit(1 << 30)
	defer debug.SetMemoryLimit(old)
	for _, tc := range []struct {
		flag  int64
		share float64
		want  int64
	}{
		{0, queryMemoryShare, 256 << 20}, // a quarter of the Go memory limit
		{0, totalQueryMemoryShare, 768 << 20},
		{5 << 20, queryMemoryShare, 5 << 20},
		{-1, totalQueryMemoryShare, 0},
	} {
		if got := queryMemory(tc.flag, tc.share); got != tc.want {
			t.Errorf("queryMemory(%d, %v) = %d, want %d", tc.flag, tc.share, got, tc.want)
		}
	}
	debug.SetMemoryLimit(math.MaxInt64) // none
	if got := queryMemory(0, queryMemoryShare); got != 0 {
		t.Errorf("queryMemory(0) without a Go memory limit = %d, want 0", got)
	}
}
