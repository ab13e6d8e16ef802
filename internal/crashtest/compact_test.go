package crashtest

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/segments"
)

// childEnv makes the test binary a compaction crash child (see
// compactChild) writing into the directory it names.
const childEnv = "MANTIS_CRASH_COMPACT_DIR"

const (
	childWriters = 4
	childRunEnv  = "MANTIS_CRASH_COMPACT_RUN"
)

var compactKills = flag.Int("crash.compactkills", 6, "kill -9 cycles of TestCompactionCrash")

// compactChild runs in the child process: an embedded DB with a compactor
// that runs every few milliseconds, and writers that insert rows (five per
// statement) and update acknowledged ones. Each acknowledged insert is
// printed as "ack <writer> <last seq>" after Exec returned.
func compactChild() {
	dir := os.Getenv(childEnv)
	run, _ := strconv.Atoi(os.Getenv(childRunEnv))
	db, err := mantisdb.Open(dir, &mantisdb.Options{CompactRows: 300, CompactInterval: 2 * time.Millisecond, CompactSettle: -1,
		MergeSegments: 3, Segment: &segments.WriterOptions{RowGroupSize: 256}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx := context.Background()
	if _, err := db.Exec(ctx, "create table if not exists t (k bigint primary key, v bigint not null)"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < childWriters; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			base := int64(run)*10_000_000 + int64(w)*1_000_000
			rng := rand.New(rand.NewPCG(uint64(run), uint64(w)))
			for seq := int64(0); ; seq += rowsPerBatch {
				var b strings.Builder
				b.WriteString("insert into t values ")
				for i := int64(0); i < rowsPerBatch; i++ {
					if i > 0 {
						b.WriteString(", ")
					}
					fmt.Fprintf(&b, "(%d, 0)", base+seq+i)
				}
				if _, err := db.Exec(ctx, b.String()); err != nil {
					fmt.Fprintln(os.Stderr, "insert:", err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Fprintf(out, "ack %d %d\n", w, seq+rowsPerBatch-1)
				out.Flush()
				mu.Unlock()
				// Update an earlier row: its segment copy (if compacted) is
				// deleted and the new version lands in the row store.
				k := base + rng.Int64N(seq+rowsPerBatch)
				if _, err := db.Exec(ctx, fmt.Sprintf("update t set v = v + 1 where k = %d", k)); err != nil {
					fmt.Fprintln(os.Stderr, "update:", err)
					os.Exit(3)
				}
			}
		}(w)
	}
	wg.Wait()
}

// TestCompactionCrash kills a process writing while its compactor and
// merges run, several times, then checks that every acknowledged row is
// present exactly once, no statement is half applied, and no segment file
// is left that the manifest does not list.
func TestCompactionCrash(t *testing.T) {
	dir := t.TempDir()
	acked := map[[2]int]int64{} // (run, writer) → last acknowledged seq
	for run := 0; run < *compactKills; run++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+dir, childRunEnv+"="+strconv.Itoa(run))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		deadline := time.After(time.Duration(300+rand.IntN(700)) * time.Millisecond)
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break read
				}
				var w int
				var seq int64
				if _, err := fmt.Sscanf(l, "ack %d %d", &w, &seq); err == nil {
					acked[[2]int{run, w}] = seq
				}
			case <-deadline:
				_ = cmd.Process.Kill()
				break read
			}
		}
		for range lines {
			// Lines printed before the kill may still be in the pipe; an
			// ack read now was still given before the kill.
		}
		_ = cmd.Wait()
		if strings.Contains(stderr.String(), "insert:") || strings.Contains(stderr.String(), "update:") {
			t.Fatalf("child failed: %s", stderr.String())
		}
	}

	db, err := mantisdb.Open(dir, &mantisdb.Options{CompactInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(context.Background(), "select k from t")
	if err != nil {
		t.Fatal(err)
	}
	count := map[[2]int]int64{}
	seen := map[int64]bool{}
	var maxSeq = map[[2]int]int64{}
	for rows.Next() {
		col := rows.Record().Column(0)
		for i := 0; i < col.Len(); i++ {
			k, _ := strconv.ParseInt(col.ValueStr(i), 10, 64)
			if seen[k] {
				t.Fatalf("key %d read twice", k)
			}
			seen[k] = true
			id := [2]int{int(k / 10_000_000), int(k % 10_000_000 / 1_000_000)}
			count[id]++
			maxSeq[id] = max(maxSeq[id], k%1_000_000)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	total := 0
	for id, last := range acked {
		// Inserts of one writer are sequential: acknowledged keys 0..last
		// are all present, and what is present is whole statements.
		if count[id] < last+1 {
			t.Errorf("writer %v: %d rows present, %d acknowledged", id, count[id], last+1)
		}
		total += int(last + 1)
	}
	for id, n := range count {
		if n%rowsPerBatch != 0 || n != maxSeq[id]+1 {
			t.Errorf("writer %v: %d rows, last key %d: a statement was half applied or a gap exists", id, n, maxSeq[id])
		}
	}
	st, err := db.TableStats(context.Background(), "t")
	if err != nil {
		t.Fatal(err)
	}
	live := map[string]bool{}
	for _, s := range st.Segments {
		live[segments.FileName(s.ID)] = true
		live[segments.IndexFileName(s.ID)] = true
	}
	ents, err := os.ReadDir(filepath.Join(dir, "segments"))
	if err != nil {
		t.Fatal(err)
	}
	var stray []string
	for _, e := range ents {
		if !live[e.Name()] {
			stray = append(stray, e.Name())
		}
	}
	sort.Strings(stray)
	if len(stray) > 0 {
		t.Errorf("segment files not in the manifest after open: %v", stray)
	}
	t.Logf("%d kills, %d acknowledged rows, %d present; %d in segments (%d segments), %d in the row store",
		*compactKills, total, len(seen), st.SegmentRows, len(st.Segments), st.FreshRows)
	if st.SegmentRows == 0 {
		t.Errorf("no row reached a segment: the crash test did not exercise compaction")
	}
}
