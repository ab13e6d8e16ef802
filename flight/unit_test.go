package flight

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestLike(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"", "a", false},
		{"%", "", true},
		{"%", "anything", true},
		{"orders", "orders", true},
		{"orders", "ORDERS", true},
		{"ORD%", "orders", true},
		{"ord", "orders", false},
		{"%ers", "orders", true},
		{"%ers", "ordersx", false},
		{"o_ders", "orders", true},
		{"o_ders", "oders", false},
		{"_", "é", true},
		{"%d%r%", "orders", true},
		{"%x%", "orders", false},
		{`a\_b`, "a_b", true},
		{`a\_b`, "axb", false},
		{`a\%`, "a%", true},
		{`a\%`, "ab", false},
		{"%%a", "bba", true},
		{"a%b%c", "aXbYc", true},
		{"a%b%c", "aXcYb", false},
		{"ÄB%", "äbc", true},
	} {
		if got := like(tc.pattern, tc.s); got != tc.want {
			t.Errorf("like(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func TestTicketRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		txn []byte
		sql string
	}{
		{nil, "SELECT 1"},
		{nil, ""},
		{[]byte("txn-1"), "SELECT *\nFROM t WHERE s = 'M\x01'"},
		{bytes.Repeat([]byte{0xff}, 300), "x"},
	} {
		txn, sql, err := decodeTicket(encodeTicket(tc.txn, tc.sql))
		if err != nil {
			t.Fatalf("decode(encode(%q, %q)): %v", tc.txn, tc.sql, err)
		}
		if !bytes.Equal(txn, tc.txn) || sql != tc.sql {
			t.Errorf("round trip of (%q, %q) gave (%q, %q)", tc.txn, tc.sql, txn, sql)
		}
	}
}

func TestTicketMalformed(t *testing.T) {
	for _, b := range [][]byte{
		nil,
		{ticketMagic},
		[]byte("SELECT 1"),
		{ticketMagic, ticketVersion + 1, 0},
		{ticketMagic, ticketVersion},             // no txn length
		{ticketMagic, ticketVersion, 5, 'a'},     // txn longer than the ticket
		{ticketMagic, ticketVersion, 0x80, 0x80}, // truncated uvarint
	} {
		_, _, err := decodeTicket(b)
		if sqlstate.CodeOf(err) != sqlstate.InvalidParameterValue {
			t.Errorf("decodeTicket(%q) = %v, want a 22023 error", b, err)
		}
	}
}

type fakeStmt struct{ closed atomic.Int32 }

func (f *fakeStmt) Close() error { f.closed.Add(1); return nil }

func TestPreparedStoreBoundAndLRU(t *testing.T) {
	p := newPreparedStore[*fakeStmt](discardLogger(), 3, -1)
	stmts := make([]*fakeStmt, 5)
	handles := make([][]byte, 5)
	for i := range stmts {
		stmts[i] = new(fakeStmt)
		h, err := p.add(stmts[i])
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != handleLen {
			t.Fatalf("handle length %d", len(h))
		}
		handles[i] = h
		if i == 2 {
			// Use 0 so that 1 is the least recently used.
			if _, ok := p.get(handles[0]); !ok {
				t.Fatal("handle 0 not found")
			}
		}
	}
	if n := p.len(); n != 3 {
		t.Fatalf("store holds %d statements, want 3", n)
	}
	for i, wantLive := range []bool{true, false, false, true, true} {
		_, ok := p.get(handles[i])
		if ok != wantLive {
			t.Errorf("handle %d live = %v, want %v", i, ok, wantLive)
		}
		if closed := stmts[i].closed.Load() == 1; closed == wantLive {
			t.Errorf("statement %d closed = %v, want %v", i, closed, !wantLive)
		}
	}
	if !p.remove(handles[3]) || p.remove(handles[3]) {
		t.Error("remove of a live handle must succeed once")
	}
	if stmts[3].closed.Load() != 1 {
		t.Error("removed statement not closed exactly once")
	}
	p.closeAll()
	for i, s := range stmts {
		if s.closed.Load() != 1 {
			t.Errorf("statement %d closed %d times, want 1", i, s.closed.Load())
		}
	}
	if p.len() != 0 {
		t.Error("closeAll left statements")
	}
}

func TestPreparedStoreExpiry(t *testing.T) {
	p := newPreparedStore[*fakeStmt](discardLogger(), 10, time.Minute)
	now := time.Unix(1000, 0)
	p.now = func() time.Time { return now }

	a, b := new(fakeStmt), new(fakeStmt)
	ha, _ := p.add(a)
	now = now.Add(40 * time.Second)
	hb, _ := p.add(b)
	now = now.Add(40 * time.Second) // a idle 80s, b 40s
	if _, ok := p.get(ha); ok {
		t.Error("expired handle a still usable")
	}
	if a.closed.Load() != 1 {
		t.Error("expired statement a not closed")
	}
	if _, ok := p.get(hb); !ok { // touches b
		t.Fatal("handle b expired too early")
	}
	now = now.Add(50 * time.Second) // b idle 50s
	if _, ok := p.get(hb); !ok {
		t.Fatal("use must renew the handle")
	}
	now = now.Add(2 * time.Minute)
	c := new(fakeStmt)
	if _, err := p.add(c); err != nil { // sweeps b
		t.Fatal(err)
	}
	if b.closed.Load() != 1 || p.len() != 1 {
		t.Errorf("sweep on add: b closed %d times, %d left", b.closed.Load(), p.len())
	}
	p.closeAll()
}

func TestToStatus(t *testing.T) {
	log := discardLogger()
	for _, tc := range []struct {
		name       string
		err        error
		code       codes.Code
		msgPrefix  string
		msgContain string
		sqlstate   string
		line       string
	}{
		{"syntax with position", sqlstate.Errorf(sqlstate.SyntaxError, "syntax error near 'FORM'").At(2, 7),
			codes.InvalidArgument, "42601: ", "line 2, column 7", "42601", "2"},
		{"wrapped undefined table", fmt.Errorf("planning: %w", sqlstate.Errorf(sqlstate.UndefinedTable, `table "nope" does not exist`)),
			codes.NotFound, "42P01: ", "nope", "42P01", ""},
		{"unique", sqlstate.Errorf(sqlstate.UniqueViolation, "duplicate key"), codes.AlreadyExists, "23505: ", "", "23505", ""},
		{"not null", sqlstate.Errorf(sqlstate.NotNullViolation, "null value"), codes.InvalidArgument, "23502: ", "", "23502", ""},
		{"unsupported", sqlstate.Errorf(sqlstate.FeatureNotSupported, "x"), codes.Unimplemented, "0A000: ", "", "0A000", ""},
		{"retry", sqlstate.Errorf(sqlstate.SerializationFailure, "x"), codes.Aborted, "40001: ", "", "40001", ""},
		{"canceled code", sqlstate.Errorf(sqlstate.QueryCanceled, "x"), codes.Canceled, "57014: ", "", "57014", ""},
		{"unavailable", sqlstate.Errorf(sqlstate.AdminShutdown, "x"), codes.Unavailable, "57P01: ", "", "57P01", ""},
		{"resource", sqlstate.Errorf(sqlstate.OutOfMemory, "x"), codes.ResourceExhausted, "53200: ", "", "53200", ""},
		{"auth", sqlstate.Errorf(sqlstate.InvalidAuthorization, "x"), codes.Unauthenticated, "28000: ", "", "28000", ""},
		{"denied", sqlstate.Errorf(sqlstate.InsufficientPrivilege, "x"), codes.PermissionDenied, "42501: ", "", "42501", ""},
		{"internal code", sqlstate.Errorf(sqlstate.DataCorrupted, "x"), codes.Internal, "XX001: ", "", "XX001", ""},
		{"plain error", errors.New("boom"), codes.Internal, "XX000: ", "boom", "XX000", ""},
		{"context canceled", fmt.Errorf("scan: %w", context.Canceled), codes.Canceled, "57014: ", "", "57014", ""},
		{"deadline", context.DeadlineExceeded, codes.DeadlineExceeded, "57014: ", "", "57014", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := status.Convert(toStatus(log, "/test", tc.err))
			if st.Code() != tc.code {
				t.Errorf("code %v, want %v", st.Code(), tc.code)
			}
			if !strings.HasPrefix(st.Message(), tc.msgPrefix) || !strings.Contains(st.Message(), tc.msgContain) {
				t.Errorf("message %q, want prefix %q containing %q", st.Message(), tc.msgPrefix, tc.msgContain)
			}
			var info *errdetails.ErrorInfo
			for _, d := range st.Details() {
				if i, ok := d.(*errdetails.ErrorInfo); ok {
					info = i
				}
			}
			if info == nil {
				t.Fatal("no ErrorInfo detail")
			}
			if info.Reason != tc.sqlstate || info.Metadata["sqlstate"] != tc.sqlstate || info.Metadata["line"] != tc.line {
				t.Errorf("ErrorInfo %v, want sqlstate %s line %q", info, tc.sqlstate, tc.line)
			}
		})
	}
	if toStatus(log, "/test", nil) != nil {
		t.Error("nil error must stay nil")
	}
	orig := status.Error(codes.Unauthenticated, "no token")
	if got := toStatus(log, "/test", orig); got != orig {
		t.Errorf("status error changed: %v", got)
	}
}

type fakeServerStream struct{ grpc.ServerStream }

func (fakeServerStream) Context() context.Context { return context.Background() }

func TestInterceptorsRecoverPanics(t *testing.T) {
	log := discardLogger()
	unary := unaryInterceptor(log)
	resp, err := unary(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/x/Unary"},
		func(context.Context, any) (any, error) { panic("bad input") })
	if resp != nil || status.Code(err) != codes.Internal || !strings.HasPrefix(status.Convert(err).Message(), "XX000") {
		t.Errorf("unary panic gave (%v, %v)", resp, err)
	}
	_, err = unary(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/x/Unary"},
		func(context.Context, any) (any, error) { return nil, sqlstate.Errorf(sqlstate.UndefinedTable, "t") })
	if status.Code(err) != codes.NotFound {
		t.Errorf("unary error gave %v", err)
	}

	stream := streamInterceptor(log)
	err = stream(nil, fakeServerStream{}, &grpc.StreamServerInfo{FullMethod: "/x/Stream"},
		func(any, grpc.ServerStream) error { var m map[string]int; m["x"]++; return nil })
	if status.Code(err) != codes.Internal {
		t.Errorf("stream panic gave %v", err)
	}
	err = stream(nil, fakeServerStream{}, &grpc.StreamServerInfo{FullMethod: "/x/Stream"},
		func(any, grpc.ServerStream) error { return sqlstate.Errorf(sqlstate.UniqueViolation, "dup") })
	if status.Code(err) != codes.AlreadyExists {
		t.Errorf("stream error gave %v", err)
	}
}
