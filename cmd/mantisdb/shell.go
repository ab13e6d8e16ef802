package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	arrowflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/mantisdb/mantisdb/internal/sqlsplit"
)

// Prompts of the interactive shell: a new statement, and a continued one.
const (
	promptNew  = "mantis> "
	promptMore = "     -> "
)

func runSQL(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mantisdb sql", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := os.Getenv("MANTIS_FLIGHT_ADDR")
	if def == "" {
		def = defaultFlightAddr
	}
	addr := fs.String("addr", def, "Flight SQL server `address` (env MANTIS_FLIGHT_ADDR)")
	exec := fs.String("e", "", "run the `statements` (separated by ';') and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mantisdb sql: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return 2
	}
	sh, err := dialShell(*addr, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "mantisdb sql:", err)
		return 1
	}
	defer sh.close()

	if *exec != "" {
		for _, stmt := range sqlsplit.Split(*exec) {
			if err := sh.run(ctx, stmt); err != nil {
				sh.printError(err)
				return 1
			}
		}
		return 0
	}
	interactive := isTerminal(stdin)
	if interactive {
		// At a terminal, Ctrl-C cancels the running statement instead of
		// ending the shell; \q or Ctrl-D end it.
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, os.Interrupt)
		defer signal.Stop(sigs)
		sh.interrupts = sigs
	}
	if ok := sh.repl(ctx, stdin, interactive); !ok {
		return 1
	}
	return 0
}

// isTerminal reports whether r is an interactive terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// shell runs statements against a Flight SQL server and prints their
// results. It is not safe for concurrent use.
type shell struct {
	addr   string
	client *flightsql.Client
	out    io.Writer
	errOut io.Writer
	// interrupts, when set, cancel the running statement of repl.
	interrupts <-chan os.Signal
}

// dialShell returns a shell for the server at addr. The connection is made
// by the first statement.
func dialShell(addr string, out, errOut io.Writer) (*shell, error) {
	cl, err := flightsql.NewClient(addr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("cannot connect to %s: %w", addr, err)
	}
	return &shell{addr: addr, client: cl, out: out, errOut: errOut}, nil
}

func (s *shell) close() error { return s.client.Close() }

// run runs one statement: a query prints an aligned table, any other
// statement "OK, N rows affected". The statement is prepared first, so the
// server (which knows) tells whether it returns rows.
func (s *shell) run(ctx context.Context, stmt string) error {
	prep, err := s.client.Prepare(ctx, stmt)
	if err != nil {
		return err
	}
	defer prep.Close(context.WithoutCancel(ctx))

	isUpdate, known := prep.IsUpdate()
	if !known {
		isUpdate = prep.DatasetSchema() == nil || prep.DatasetSchema().NumFields() == 0
	}
	if isUpdate {
		n, err := prep.ExecuteUpdate(ctx)
		if err != nil {
			return err
		}
		noun := "rows"
		if n == 1 {
			noun = "row"
		}
		_, err = fmt.Fprintf(s.out, "OK, %d %s affected\n", n, noun)
		return err
	}

	info, err := prep.Execute(ctx)
	if err != nil {
		return err
	}
	schema := prep.DatasetSchema()
	if len(info.Schema) > 0 {
		if sc, err := arrowflight.DeserializeSchema(info.Schema, memory.DefaultAllocator); err == nil {
			schema = sc
		}
	}
	if schema == nil {
		schema = arrow.NewSchema(nil, nil)
	}
	t := newResultTable(schema)
	for _, ep := range info.Endpoint {
		if err := s.fetch(ctx, ep.Ticket, t); err != nil {
			return err
		}
	}
	return t.print(s.out)
}

// fetch reads the records of one endpoint into t.
func (s *shell) fetch(ctx context.Context, ticket *arrowflight.Ticket, t *resultTable) error {
	rdr, err := s.client.DoGet(ctx, ticket)
	if err != nil {
		return err
	}
	defer rdr.Release()
	for rdr.Next() {
		t.add(rdr.RecordBatch())
	}
	return rdr.Err()
}

// printError prints err for a person: the server's message (which starts
// with the SQLSTATE code) without the gRPC wrapping.
func (s *shell) printError(err error) {
	fmt.Fprintln(s.errOut, "ERROR:", errorText(err, s.addr))
}

func errorText(err error, addr string) string {
	st, ok := status.FromError(err)
	if !ok {
		return err.Error()
	}
	if st.Code() == codes.Unavailable {
		return fmt.Sprintf("cannot reach the server at %s: %s", addr, st.Message())
	}
	return st.Message()
}

// runInterruptible runs stmt; an interrupt that arrives meanwhile cancels
// it. Interrupts from before the statement started are dropped.
func (s *shell) runInterruptible(ctx context.Context, stmt string) error {
	if s.interrupts == nil {
		return s.run(ctx, stmt)
	}
	for len(s.interrupts) > 0 {
		<-s.interrupts
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.interrupts:
			cancel()
		case <-ctx.Done():
		}
	}()
	return s.run(ctx, stmt)
}

// repl reads statements from in until its end and runs each as soon as its
// ';' arrives. With a terminal it shows prompts and accepts \q (or quit,
// exit) to leave. An error is printed and the shell goes on; repl reports
// whether every statement succeeded.
func (s *shell) repl(ctx context.Context, in io.Reader, interactive bool) bool {
	br := bufio.NewReader(in)
	var sp sqlsplit.Splitter
	ok := true
	runAll := func(stmts []string) {
		for _, stmt := range stmts {
			if ctx.Err() != nil {
				return
			}
			if err := s.runInterruptible(ctx, stmt); err != nil {
				s.printError(err)
				ok = false
			}
		}
	}
	for ctx.Err() == nil {
		if interactive {
			p := promptNew
			if sp.Pending() != "" || sp.InQuote() {
				p = promptMore
			}
			fmt.Fprint(s.out, p)
		}
		line, err := br.ReadString('\n')
		if interactive && sp.Pending() == "" && !sp.InQuote() {
			switch strings.TrimSpace(line) {
			case `\q`, "quit", "exit", "quit;", "exit;":
				return true
			case `\?`, "help":
				fmt.Fprintln(s.out, `Enter SQL statements ending with ';'. \q quits.`)
				continue
			}
		}
		runAll(sp.Feed(line))
		if err != nil {
			if err != io.EOF {
				fmt.Fprintln(s.errOut, "ERROR: cannot read input:", err)
				ok = false
			}
			break
		}
	}
	if interactive {
		fmt.Fprintln(s.out)
	}
	if rest := sp.Pending(); rest != "" && ctx.Err() == nil {
		runAll([]string{rest})
	}
	if interactive {
		return true
	}
	return ok
}
