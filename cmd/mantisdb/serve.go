package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mantisdb/mantisdb"
	"github.com/mantisdb/mantisdb/flight"
	"github.com/mantisdb/mantisdb/oltp"
	"github.com/mantisdb/mantisdb/rest"
)

// Defaults of serve; the environment variables of serveConfig override
// them, flags override both.
const (
	defaultDataDir    = "./mantis-data"
	defaultFlightAddr = "127.0.0.1:32010"
	defaultHTTPAddr   = "127.0.0.1:8080"
)

// serveConfig is the configuration of `mantisdb serve`. Each field has a
// flag; its environment variable is MANTIS_ and the flag name in upper case
// with '_' for '-' (MANTIS_HTTP_ADDR for --http-addr); a JSON config file
// (--config or MANTIS_CONFIG) may set any of them by flag name (with '-' or
// '_'). Precedence: flags, then environment, then file, then defaults.
type serveConfig struct {
	DataDir    string
	FlightAddr string
	HTTPAddr   string
	// ReadyFile, when set, receives {"flight": ADDR, "http": ADDR} with the
	// bound addresses once both listeners accept (useful with port 0).
	ReadyFile string
	// ShutdownTimeout bounds the graceful shutdown; requests still running
	// after it are cut off.
	ShutdownTimeout time.Duration
	LogLevel        slog.Level
	// CacheSize is the row store's block cache (mantisdb.Options.CacheSize).
	CacheSize int64
	// QueryMemory is each statement's memory budget
	// (mantisdb.Options.QueryMemory); 0 means a quarter of the Go memory
	// limit (none without one), negative no limit (queryMemory).
	QueryMemory int64
	// TotalQueryMemory bounds what all running statements' budgets hold
	// (mantisdb.Options.TotalQueryMemory); 0 means three quarters of the
	// Go memory limit, negative no limit.
	TotalQueryMemory int64
	// SpillDir is where sorts spill (mantisdb.Options.SpillDir): empty
	// for the data directory's tmp, "-" for never.
	SpillDir string
	// REST options (see rest.Options).
	MaxBodyBytes          int64
	MaxConcurrentRequests int
	IdempotencyWindow     time.Duration
	BackupDir             string
	// Flight SQL security (see flight.Options): TLS certificate, key and an
	// optional CA for client certificates; a users file turns on
	// authentication.
	TLSCert, TLSKey, TLSClientCA string
	UsersFile                    string
}

// envName returns the environment variable of a flag.
func envName(flagName string) string {
	return "MANTIS_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseServeFlags parses the flags of serve over the environment's and
// the config file's values.
func parseServeFlags(args []string, getenv func(string) string, stderr io.Writer) (serveConfig, error) {
	var cfg serveConfig
	var configFile string
	fs := flag.NewFlagSet("mantisdb serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&configFile, "config", "", "JSON config `file` whose keys are flag names (env MANTIS_CONFIG)")
	fs.StringVar(&cfg.DataDir, "data", defaultDataDir, "data `directory` (env MANTIS_DATA); created if missing")
	fs.StringVar(&cfg.FlightAddr, "flight-addr", defaultFlightAddr, "Arrow Flight SQL listen `address` (env MANTIS_FLIGHT_ADDR)")
	fs.StringVar(&cfg.HTTPAddr, "http-addr", defaultHTTPAddr, "HTTP listen `address` (env MANTIS_HTTP_ADDR)")
	fs.StringVar(&cfg.ReadyFile, "ready-file", "", "once serving, write the bound addresses as JSON to this `file` (env MANTIS_READY_FILE)")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long a graceful shutdown waits for running requests (env MANTIS_SHUTDOWN_TIMEOUT)")
	fs.TextVar(&cfg.LogLevel, "log-level", slog.LevelInfo, "log `level`: debug, info, warn or error (env MANTIS_LOG_LEVEL)")
	fs.Int64Var(&cfg.CacheSize, "cache-size", oltp.DefaultCacheSize, "`bytes` of the row store's block cache (env MANTIS_CACHE_SIZE)")
	fs.Int64Var(&cfg.QueryMemory, "query-memory", 0, "`bytes` one statement's operators may hold before it fails with 53200; 0: a quarter of the Go memory limit; -1: no limit (env MANTIS_QUERY_MEMORY)")
	fs.Int64Var(&cfg.TotalQueryMemory, "total-query-memory", 0, "`bytes` all running statements' operators may hold together before the next to ask fails with 53200; 0: three quarters of the Go memory limit; -1: no limit (env MANTIS_TOTAL_QUERY_MEMORY)")
	fs.StringVar(&cfg.SpillDir, "spill-dir", "", "`directory` where a sort larger than a quarter of its statement's memory budget writes its sorted runs; empty: the data directory's tmp; -: never spill (env MANTIS_SPILL_DIR)")
	fs.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", rest.DefaultMaxBodyBytes, "largest HTTP request body in `bytes`, as sent; -1: no limit (env MANTIS_MAX_BODY_BYTES)")
	fs.IntVar(&cfg.MaxConcurrentRequests, "max-concurrent-requests", rest.DefaultMaxConcurrentRequests, "HTTP requests served at once before 429; -1: no limit (env MANTIS_MAX_CONCURRENT_REQUESTS)")
	fs.DurationVar(&cfg.IdempotencyWindow, "idempotency-window", rest.DefaultIdempotencyWindow, "how long ingest Idempotency-Keys are remembered; -1ns: forever (env MANTIS_IDEMPOTENCY_WINDOW)")
	fs.StringVar(&cfg.BackupDir, "backup-dir", "", "`directory` under which POST /v1/backup and `mantisdb backup` write backups; empty: off (env MANTIS_BACKUP_DIR)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM certificate `file` for Flight SQL TLS; with --tls-key (env MANTIS_TLS_CERT)")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key `file` for Flight SQL TLS (env MANTIS_TLS_KEY)")
	fs.StringVar(&cfg.TLSClientCA, "tls-client-ca", "", "PEM CA `file`: Flight SQL clients must present a certificate it signed (env MANTIS_TLS_CLIENT_CA)")
	fs.StringVar(&cfg.UsersFile, "users-file", "", "`file` of name:password lines; when set, Flight SQL requires Basic or Bearer auth (env MANTIS_USERS_FILE)")

	// Layers below the command line: the config file, then the
	// environment, each set over the defaults before the flags are parsed.
	if cf := configFlag(args, getenv); cf != "" {
		vals, err := readConfigFile(cf)
		if err != nil {
			return cfg, err
		}
		for name, v := range vals {
			if fs.Lookup(name) == nil || name == "config" {
				return cfg, fmt.Errorf("config file %s: unknown key %q", cf, name)
			}
			if err := fs.Set(name, v); err != nil {
				return cfg, fmt.Errorf("config file %s: %s: %w", cf, name, err)
			}
		}
	}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(envName(f.Name)); v != "" && f.Name != "config" && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s: %w", envName(f.Name), err)
			}
		}
	})
	if envErr != nil {
		return cfg, envErr
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return cfg, nil
}

// configFlag finds the config file named by --config (which must be read
// before the other flags are parsed) or MANTIS_CONFIG.
func configFlag(args []string, getenv func(string) string) string {
	file := getenv("MANTIS_CONFIG")
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			continue
		}
		if hasVal {
			file = val
		} else if i+1 < len(args) {
			file = args[i+1]
			i++
		}
	}
	return file
}

// readConfigFile reads a JSON object of flag names to values (strings,
// numbers or booleans); keys may use '_' for '-'.
func readConfigFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read config file: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			// A number or boolean: its JSON text is its flag text.
			var x any
			if err := json.Unmarshal(v, &x); err != nil {
				return nil, fmt.Errorf("config file %s: %s: %w", path, k, err)
			}
			switch x.(type) {
			case float64, bool:
				s = strings.TrimSpace(string(v))
			default:
				return nil, fmt.Errorf("config file %s: %s: want a string, number or boolean", path, k)
			}
		}
		out[strings.ReplaceAll(k, "_", "-")] = s
	}
	return out, nil
}

func runServe(ctx context.Context, args []string, stderr io.Writer) int {
	cfg, err := parseServeFlags(args, os.Getenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "mantisdb serve:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	if limit := setMemoryLimit(os.Getenv); limit > 0 {
		log.Info("Go memory limit set (GOMEMLIMIT overrides)", "bytes", limit)
	}
	if err := serve(ctx, cfg, log, nil); err != nil {
		log.Error("mantisdb serve failed", "err", err)
		return 1
	}
	return 0
}

// boundAddrs are the addresses the servers listen on.
type boundAddrs struct {
	Flight string `json:"flight"`
	HTTP   string `json:"http"`
}

// serve opens the database and serves it until ctx is canceled, then shuts
// down gracefully: both servers stop accepting and finish running requests
// (within cfg.ShutdownTimeout), then the database is closed. It returns nil
// after a clean shutdown. ready, if not nil, receives the bound addresses
// once both servers accept.
func serve(ctx context.Context, cfg serveConfig, log *slog.Logger, ready chan<- boundAddrs) (err error) {
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("cannot create data directory: %w", err)
	}
	qm, tqm := queryMemory(cfg.QueryMemory, queryMemoryShare), queryMemory(cfg.TotalQueryMemory, totalQueryMemoryShare)
	if qm > 0 || tqm > 0 {
		log.Info("query memory budget", "statement_bytes", qm, "total_bytes", tqm)
	}
	db, err := mantisdb.Open(cfg.DataDir, &mantisdb.Options{Logger: log, CacheSize: cfg.CacheSize,
		QueryMemory: qm, TotalQueryMemory: tqm, SpillDir: cfg.SpillDir})
	if err != nil {
		return fmt.Errorf("cannot open database in %s: %w", cfg.DataDir, err)
	}
	defer func() {
		if cerr := db.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cannot close database: %w", cerr))
		} else {
			log.Info("database closed")
		}
	}()

	// Bind both listeners before serving either, so that /healthz answers
	// only when Flight SQL accepts too.
	var lc net.ListenConfig
	flis, err := lc.Listen(ctx, "tcp", cfg.FlightAddr)
	if err != nil {
		return fmt.Errorf("cannot listen for Flight SQL: %w", err)
	}
	hlis, err := lc.Listen(ctx, "tcp", cfg.HTTPAddr)
	if err != nil {
		flis.Close()
		return fmt.Errorf("cannot listen for HTTP: %w", err)
	}
	addrs := boundAddrs{Flight: flis.Addr().String(), HTTP: hlis.Addr().String()}

	fopts := &flight.Options{Logger: log, Version: releaseVersion()}
	if cfg.UsersFile != "" {
		if fopts.Users, err = flight.ReadUsersFile(cfg.UsersFile); err != nil {
			flis.Close()
			hlis.Close()
			return fmt.Errorf("cannot read users file: %w", err)
		}
	}
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		if fopts.TLS, err = flight.LoadTLSConfig(cfg.TLSCert, cfg.TLSKey, cfg.TLSClientCA); err != nil {
			flis.Close()
			hlis.Close()
			return fmt.Errorf("cannot load TLS configuration: %w", err)
		}
	}
	fsrv, err := flight.New(db, fopts)
	if err != nil {
		flis.Close()
		hlis.Close()
		return fmt.Errorf("cannot start Flight SQL: %w", err)
	}
	api := rest.NewHandler(db, &rest.Options{
		Logger:                log,
		MaxBodyBytes:          cfg.MaxBodyBytes,
		MaxConcurrentRequests: cfg.MaxConcurrentRequests,
		IdempotencyWindow:     cfg.IdempotencyWindow,
		DataDir:               cfg.DataDir,
		BackupDir:             cfg.BackupDir,
		Version:               versionString(),
	})
	hsrv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 2)
	go func() {
		if err := fsrv.Serve(flis); err != nil {
			errc <- fmt.Errorf("flight server: %w", err)
			return
		}
		errc <- nil
	}()
	go func() {
		if err := hsrv.Serve(hlis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http server: %w", err)
			return
		}
		errc <- nil
	}()
	log.Info("mantisdb serving", "flight", addrs.Flight, "http", addrs.HTTP, "data", cfg.DataDir, "version", versionString())

	if cfg.ReadyFile != "" {
		if err := writeReadyFile(cfg.ReadyFile, addrs); err != nil {
			log.Error("cannot write ready file", "path", cfg.ReadyFile, "err", err)
		} else {
			defer os.Remove(cfg.ReadyFile)
		}
	}
	if ready != nil {
		ready <- addrs
	}

	var serveErr error
	pending := 2
	select {
	case <-ctx.Done():
		log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
		api.SetReady(false)
	case serveErr = <-errc:
		// A server stopped on its own: nothing should make it, so stop the
		// other one too and report why.
		pending--
		log.Error("server failed; shutting down", "err", serveErr)
	}
	shutdown(cfg.ShutdownTimeout, log, hsrv, fsrv)
	for ; pending > 0; pending-- {
		if err := <-errc; err != nil && serveErr == nil {
			serveErr = err
		}
	}
	return serveErr
}

// shutdown stops both servers gracefully, in parallel, and cuts off what is
// still running after timeout.
func shutdown(timeout time.Duration, log *slog.Logger, hsrv *http.Server, fsrv *flight.Server) {
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fsrv.GracefulStop()
	}()
	if err := hsrv.Shutdown(sctx); err != nil {
		log.Warn("http requests still running after the shutdown timeout; closing them", "err", err)
		hsrv.Close()
	}
	select {
	case <-done:
	case <-sctx.Done():
		log.Warn("flight requests still running after the shutdown timeout; stopping them")
		fsrv.Stop()
		<-done
	}
}

// writeReadyFile writes the addresses atomically (temporary file and
// rename), so a reader never sees a partial file.
func writeReadyFile(path string, addrs boundAddrs) error {
	b, err := json.Marshal(addrs)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ready-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
