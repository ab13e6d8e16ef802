// Command mantisdb is the MantisDB binary.
//
// Usage:
//
//	mantisdb serve [--config FILE] [--data DIR] [--flight-addr HOST:PORT] [--http-addr HOST:PORT] [--ready-file PATH] [--max-body-bytes N] ...
//	mantisdb sql [--addr HOST:PORT] [-e SQL]
//	mantisdb backup [--http-addr HOST:PORT] [NAME]
//	mantisdb version
//
// serve opens the database in DIR and serves it over Arrow Flight SQL and
// HTTP until SIGINT or SIGTERM, then shuts down gracefully; its settings
// come from flags, MANTIS_* environment variables and a JSON config file,
// in that order (docs/operations.md). sql is a small
// Flight SQL shell: it runs the statements of -e, or reads them from stdin
// (one statement per ';'), and prints query results as aligned tables.
// backup asks a running server to write a consistent copy of its database
// under its --backup-dir (docs/operations.md). version prints the build
// version.
package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mantisdb/mantisdb/flight"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage: mantisdb <command> [flags]

commands:
  serve     serve a database over Arrow Flight SQL and HTTP
  sql       run SQL against a server (Flight SQL shell)
  backup    have a running server write a backup under its --backup-dir
  hash-password
            read a password from stdin, print the salted hash a --users-file line takes
  version   print the version

Run 'mantisdb <command> -h' for the flags of a command.
`

// run executes one command line (without the program name) and returns the
// process exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "serve":
		// The first SIGINT/SIGTERM starts a graceful shutdown; once it has
		// begun, stop() restores the default handling so a second signal
		// ends the process at once.
		ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		go func() {
			<-ctx.Done()
			stop()
		}()
		return runServe(ctx, args, stderr)
	case "sql":
		return runSQL(ctx, args, stdin, stdout, stderr)
	case "backup":
		return runBackup(ctx, args, stdout, stderr)
	case "hash-password":
		return runHashPassword(stdin, stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "mantisdb: unknown command %q\n\n%s", cmd, usage)
	return 2
}

// runHashPassword reads one password line from stdin and prints its salted
// hash, so that users files need not hold clear-text passwords.
func runHashPassword(stdin io.Reader, stdout, stderr io.Writer) int {
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		fmt.Fprintln(stderr, "mantisdb hash-password:", err)
		return 1
	}
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		fmt.Fprintln(stderr, "mantisdb hash-password: empty password on stdin")
		return 2
	}
	hash, err := flight.HashPassword(password)
	if err != nil {
		fmt.Fprintln(stderr, "mantisdb hash-password:", err)
		return 1
	}
	fmt.Fprintln(stdout, hash)
	return 0
}
