package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// runBackup asks a running server (POST /v1/backup) to write a backup
// under its --backup-dir, and prints where it went.
func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mantisdb backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mantisdb backup [--http-addr HOST:PORT] [NAME]\n\n"+
			"Writes a consistent copy of the running server's database into NAME (default backup-<UTC time>)\n"+
			"under the server's --backup-dir. The server keeps serving meanwhile.")
		fs.PrintDefaults()
	}
	def := os.Getenv("MANTIS_HTTP_ADDR")
	if def == "" {
		def = defaultHTTPAddr
	}
	addr := fs.String("http-addr", def, "the server's HTTP `address` (env MANTIS_HTTP_ADDR)")
	timeout := fs.Duration("timeout", time.Hour, "how long to wait for the backup")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return 2
	}
	body, _ := json.Marshal(map[string]string{"name": fs.Arg(0)})
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	url := *addr
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/backup", bytes.NewReader(body))
	if err != nil {
		fmt.Fprintln(stderr, "mantisdb backup:", err)
		return 2
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "mantisdb backup:", err)
		return 1
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		fmt.Fprintf(stderr, "mantisdb backup: HTTP %d: %s\n", resp.StatusCode, bytes.TrimSpace(out))
		return 1
	}
	var res struct {
		Dir      string  `json:"dir"`
		Segments int     `json:"segments"`
		Seconds  float64 `json:"duration_seconds"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		fmt.Fprintf(stderr, "mantisdb backup: unexpected answer %s\n", bytes.TrimSpace(out))
		return 1
	}
	fmt.Fprintf(stdout, "backup written to %s (%d segments, %.1f s)\n", res.Dir, res.Segments, res.Seconds)
	return 0
}
