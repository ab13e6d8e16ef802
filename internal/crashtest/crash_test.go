package crashtest

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	kills   = flag.Int("crash.kills", 20, "number of kill -9 / restart cycles")
	writers = flag.Int("crash.writers", 8, "concurrent writers")
)

// rowsPerBatch is the number of rows every INSERT statement writes; a batch
// found with another count was half applied.
const rowsPerBatch = 5

var (
	binary    string
	buildOnce sync.Once
	buildErr  error
)

func TestMain(m *testing.M) {
	flag.Parse()
	if os.Getenv(childEnv) != "" {
		compactChild()
		return
	}
	dir, err := os.MkdirTemp("", "mantis-crash")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "mantisdb")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildBinary builds the mantisdb binary once, for the tests that run it.
func buildBinary(t *testing.T) {
	t.Helper()
	buildOnce.Do(func() {
		build := exec.Command("go", "build", "-o", binary, "../../cmd/mantisdb")
		out, err := build.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("cannot build mantisdb: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

// server is a child `mantisdb serve` process.
type server struct {
	cmd  *exec.Cmd
	base string // http://host:port
	log  bytes.Buffer
}

func start(t *testing.T, dataDir string) *server {
	t.Helper()
	buildBinary(t)
	ready := filepath.Join(t.TempDir(), "ready.json")
	s := &server{}
	s.cmd = exec.Command(binary, "serve", "--data", dataDir,
		"--flight-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--ready-file", ready)
	s.cmd.Stdout, s.cmd.Stderr = &s.log, &s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(ready); err == nil && len(b) > 0 {
			var addrs map[string]string
			if json.Unmarshal(b, &addrs) == nil && addrs["http"] != "" {
				s.base = "http://" + addrs["http"]
				break
			}
		}
		if time.Now().After(deadline) {
			s.kill()
			t.Fatalf("server did not become ready; log:\n%s", s.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s
}

func (s *server) kill() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	_ = s.cmd.Wait()
}

// sql runs one statement over HTTP and returns the decoded response.
func (s *server) sql(ctx context.Context, stmt string) (map[string]any, error) {
	body, _ := json.Marshal(map[string]string{"sql": stmt})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/v1/sql", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("bad response %q: %w", b, err)
	}
	return out, nil
}

// history is what the clients were told: the batches whose INSERT was
// acknowledged, and per batch how many of its UPDATEs were acknowledged and
// whether one more was in flight when the server died.
type history struct {
	mu       sync.Mutex
	inserted map[int]bool
	updates  map[int]int
	inFlight map[int]bool
}

// TestKillRestart runs the writers against a child server, kills it with
// SIGKILL at a random moment, restarts it and checks every acknowledged
// write, *crash.kills times over one data directory.
func TestKillRestart(t *testing.T) {
	n := *kills
	if testing.Short() {
		n = 3
	}
	dataDir := t.TempDir()
	s := start(t, dataDir)
	if _, err := s.sql(context.Background(),
		"create table t (id bigint primary key, batch bigint not null, writer int, v bigint not null)"); err != nil {
		s.kill()
		t.Fatal(err)
	}
	h := &history{inserted: map[int]bool{}, updates: map[int]int{}, inFlight: map[int]bool{}}
	nextBatch := make([]int, *writers)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for round := 0; round < n; round++ {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := 0; w < *writers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				write(ctx, s, h, w, &nextBatch[w])
			}(w)
		}
		time.Sleep(time.Duration(20+rng.IntN(300)) * time.Millisecond)
		s.kill()
		cancel()
		wg.Wait()

		s = start(t, dataDir)
		verify(t, s, h, round)
		if t.Failed() {
			break
		}
	}
	s.kill()
	t.Logf("%d kills, %d acknowledged batches", n, len(h.inserted))
}

// write loops until ctx ends: insert a new batch of rows, then update one of
// the writer's earlier batches (all its rows in one statement).
func write(ctx context.Context, s *server, h *history, w int, next *int) {
	rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
	for ctx.Err() == nil {
		batch := w*1_000_000 + *next
		*next++
		var vals []string
		for j := 0; j < rowsPerBatch; j++ {
			vals = append(vals, fmt.Sprintf("(%d, %d, %d, 0)", batch*10+j, batch, w))
		}
		if _, err := s.sql(ctx, "insert into t values "+strings.Join(vals, ", ")); err != nil {
			return
		}
		h.mu.Lock()
		h.inserted[batch] = true
		h.mu.Unlock()

		// Update a random acknowledged batch of this writer.
		target := w*1_000_000 + rng.IntN(*next)
		h.mu.Lock()
		ok := h.inserted[target]
		if ok {
			h.inFlight[target] = true
		}
		h.mu.Unlock()
		if !ok {
			continue
		}
		_, err := s.sql(ctx, fmt.Sprintf("update t set v = v + 1 where batch = %d", target))
		h.mu.Lock()
		if err == nil {
			h.updates[target]++
			delete(h.inFlight, target)
		}
		h.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// verify checks the restarted server against the history and then folds
// in-flight updates that did land into it.
func verify(t *testing.T, s *server, h *history, round int) {
	t.Helper()
	out, err := s.sql(context.Background(),
		"select batch, count(*), min(v), max(v) from t group by batch")
	if err != nil {
		t.Fatalf("round %d: %v", round, err)
	}
	rows, _ := out["rows"].([]any)
	seen := map[int]bool{}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range rows {
		cells := r.([]any)
		batch, count := int(cells[0].(float64)), int(cells[1].(float64))
		minV, maxV := int(cells[2].(float64)), int(cells[3].(float64))
		seen[batch] = true
		if count != rowsPerBatch {
			t.Errorf("round %d: batch %d has %d rows, want %d (statement half applied)", round, batch, count, rowsPerBatch)
		}
		if minV != maxV {
			t.Errorf("round %d: batch %d has v from %d to %d (update half applied)", round, batch, minV, maxV)
		}
		want := h.updates[batch]
		switch {
		case minV == want:
		case minV == want+1 && h.inFlight[batch]:
			h.updates[batch]++ // the unacknowledged update landed: fine
		default:
			t.Errorf("round %d: batch %d has v=%d, want %d acknowledged updates (in flight: %v)",
				round, batch, minV, want, h.inFlight[batch])
		}
		// An unacknowledged INSERT that landed is fine; count it from now on.
		h.inserted[batch] = true
	}
	for b := range h.inserted {
		if !seen[b] {
			t.Errorf("round %d: acknowledged batch %d is missing", round, b)
		}
	}
	clear(h.inFlight)
}
