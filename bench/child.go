package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// childEnv marks a process started by the harness as a child: it runs one
// job from a request file and exits. Measured phases run in children so
// that each engine starts with a cold Go heap and its own peak RSS, away from
// the generator's garbage (measured 1.5-1.9x slower in the loader process).
const childEnv = "MANTISBENCH_CHILD"

// progressPrefix starts the stderr lines a child uses to report progress.
const progressPrefix = "progress: "

// childJobs are the jobs a child can run, by kind. Each decodes its own
// parameters and returns a JSON-encodable result.
var childJobs = map[string]func(ctx context.Context, params json.RawMessage) (any, error){}

type childRequest struct {
	Kind    string          `json:"kind"`
	Threads int             `json:"threads"`
	Params  json.RawMessage `json:"params"`
}

type childResponse struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
	// PeakRSS is the child's VmHWM in bytes, read by the child itself: the
	// parent's getrusage is no good here, since Go starts children with
	// vfork semantics and ru_maxrss then includes the parent's memory.
	PeakRSS int64 `json:"peak_rss"`
}

// childStats are measured by the parent about one child process.
type childStats struct {
	Wall time.Duration
	// PeakRSS is the child's maximum resident set size in bytes (getrusage).
	PeakRSS int64
}

// isChild reports whether this process was started as a harness child.
func isChild() bool { return os.Getenv(childEnv) == "1" }

// childMain runs the job named by the request file args[0] and writes the
// response to args[1]. It returns the process exit code.
func childMain(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "child: want <request.json> <response.json>")
		return 2
	}
	var resp childResponse
	res, err := runChildJob(args[0])
	if err != nil {
		resp.Error = err.Error()
	} else if resp.Result, err = json.Marshal(res); err != nil {
		resp.Error = err.Error()
	}
	resp.PeakRSS = selfPeakRSS()
	b, _ := json.Marshal(resp)
	if err := os.WriteFile(args[1], b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

func runChildJob(reqPath string) (any, error) {
	b, err := os.ReadFile(reqPath)
	if err != nil {
		return nil, err
	}
	var req childRequest
	if err := json.Unmarshal(b, &req); err != nil {
		return nil, fmt.Errorf("bad child request: %w", err)
	}
	job, ok := childJobs[req.Kind]
	if !ok {
		return nil, fmt.Errorf("unknown child job %q", req.Kind)
	}
	if req.Threads > 0 {
		runtime.GOMAXPROCS(req.Threads)
	}
	return job(context.Background(), req.Params)
}

// childProgress reports progress from inside a child to the parent.
func childProgress(format string, args ...any) {
	if isChild() {
		fmt.Fprintf(os.Stderr, progressPrefix+format+"\n", args...)
	}
}

// runChild runs one job in a fresh process of this executable and decodes
// its result into out. onProgress receives the child's progress lines. A
// child that fails, crashes or exceeds timeout yields an error carrying the
// tail of its stderr.
func runChild(ctx context.Context, kind string, threads int, params, out any, timeout time.Duration, onProgress func(string)) (childStats, error) {
	var st childStats
	exe, err := os.Executable()
	if err != nil {
		return st, err
	}
	dir, err := os.MkdirTemp("", "mantisbench-child-")
	if err != nil {
		return st, err
	}
	defer os.RemoveAll(dir)
	p, err := json.Marshal(params)
	if err != nil {
		return st, err
	}
	req, _ := json.Marshal(childRequest{Kind: kind, Threads: threads, Params: p})
	reqPath, respPath := filepath.Join(dir, "request.json"), filepath.Join(dir, "response.json")
	if err := os.WriteFile(reqPath, req, 0o644); err != nil {
		return st, err
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, exe, reqPath, respPath)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	if threads > 0 {
		cmd.Env = append(cmd.Env, "GOMAXPROCS="+strconv.Itoa(threads))
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return st, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return st, fmt.Errorf("cannot start child: %w", err)
	}
	tail := readChildStderr(stderr, onProgress)
	werr := cmd.Wait()
	st.Wall = time.Since(start)
	if werr != nil {
		if ctx.Err() != nil {
			werr = fmt.Errorf("%w after %s", ctx.Err(), st.Wall.Round(time.Second))
		}
		return st, fmt.Errorf("child %s failed: %w%s", kind, werr, tail)
	}
	b, err := os.ReadFile(respPath)
	if err != nil {
		return st, fmt.Errorf("child %s wrote no response: %w%s", kind, err, tail)
	}
	var resp childResponse
	if err := json.Unmarshal(b, &resp); err != nil {
		return st, fmt.Errorf("child %s: bad response: %w", kind, err)
	}
	st.PeakRSS = resp.PeakRSS
	if resp.Error != "" {
		return st, errors.New(resp.Error)
	}
	if out != nil {
		if err := json.Unmarshal(resp.Result, out); err != nil {
			return st, fmt.Errorf("child %s: bad result: %w", kind, err)
		}
	}
	return st, nil
}

// readChildStderr forwards progress lines and returns the last other lines,
// formatted for appending to an error.
func readChildStderr(r io.Reader, onProgress func(string)) string {
	const keep = 15
	var lines []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if s, ok := strings.CutPrefix(line, progressPrefix); ok {
			if onProgress != nil {
				onProgress(s)
			}
			continue
		}
		lines = append(lines, line)
		if len(lines) > keep {
			lines = lines[1:]
		}
	}
	if len(lines) == 0 {
		return ""
	}
	var b bytes.Buffer
	b.WriteString("; stderr:")
	for _, l := range lines {
		b.WriteString("\n  ")
		b.WriteString(l)
	}
	return b.String()
}

// selfPeakRSS returns this process's peak resident set size in bytes
// (VmHWM), or 0 where /proc is not available.
func selfPeakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}
