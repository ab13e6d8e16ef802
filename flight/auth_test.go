package flight

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	arrowflight "github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
)

func withAuth(ctx context.Context, value string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", value)
}

func basic(user, password string, enc *base64.Encoding) string {
	return "Basic " + enc.EncodeToString([]byte(user+":"+password))
}

// handshakeBasic does what arrow-go's Client.AuthenticateBasicToken does —
// a Handshake with Basic credentials, then the bearer token of the answer's
// metadata on the returned context — but reads the stream to its end
// before reading its trailer. arrow-go v18.8 reads the trailer after the
// first message, while gRPC may still be writing it: a data race in the
// client (seen with -race) against any server that sends a
// HandshakeResponse, as the Flight SQL rules require of ours.
func handshakeBasic(ctx context.Context, cl arrowflight.Client, user, password string) (context.Context, error) {
	hs, err := cl.Handshake(withAuth(ctx, basic(user, password, base64.StdEncoding)))
	if err != nil {
		return ctx, err
	}
	if err := hs.CloseSend(); err != nil {
		return ctx, err
	}
	for {
		if _, err := hs.Recv(); err == io.EOF {
			break
		} else if err != nil {
			return ctx, err
		}
	}
	header, err := hs.Header()
	if err != nil {
		return ctx, err
	}
	for _, token := range metadata.Join(header, hs.Trailer()).Get("authorization") {
		if token != "" {
			return metadata.AppendToOutgoingContext(ctx, "authorization", token), nil
		}
	}
	return ctx, fmt.Errorf("no authorization header on the Handshake answer")
}

func authUsers(t *testing.T) map[string]string {
	t.Helper()
	hashed, err := HashPassword("pa:ss")
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"alice": "secret", "bob": hashed}
}

func TestAuth(t *testing.T) {
	e := startServer(t, &Options{Users: authUsers(t)}, nil)

	call := func(ctx context.Context) (metadata.MD, error) {
		var header metadata.MD
		_, err := e.client.Execute(ctx, "SELECT 1", grpc.Header(&header))
		return header, err
	}
	for _, tc := range []struct {
		name string
		auth string // "" sends no header
		code codes.Code
	}{
		{"no credentials", "", codes.Unauthenticated},
		{"basic padded", basic("alice", "secret", base64.StdEncoding), codes.OK},
		{"basic unpadded", basic("alice", "secret", base64.RawStdEncoding), codes.OK},
		{"basic hashed password with colon", basic("bob", "pa:ss", base64.StdEncoding), codes.OK},
		{"lower-case scheme", "basic " + base64.StdEncoding.EncodeToString([]byte("alice:secret")), codes.OK},
		{"wrong password", basic("alice", "nope", base64.StdEncoding), codes.Unauthenticated},
		{"unknown user", basic("carol", "secret", base64.StdEncoding), codes.Unauthenticated},
		{"malformed basic", "Basic !!!", codes.Unauthenticated},
		{"unknown bearer", "Bearer abc", codes.Unauthenticated},
		{"other scheme", "Digest x", codes.Unauthenticated},
	} {
		ctx := e.ctx
		if tc.auth != "" {
			ctx = withAuth(ctx, tc.auth)
		}
		header, err := call(ctx)
		code, msg := statusOf(err)
		if code != tc.code {
			t.Errorf("%s: %v %q, want %v", tc.name, code, msg, tc.code)
			continue
		}
		if code == codes.Unauthenticated && !strings.HasPrefix(msg, "28000") {
			t.Errorf("%s: message %q lacks SQLSTATE 28000", tc.name, msg)
		}
		if code != codes.OK {
			continue
		}
		// Basic answers carry a bearer token that works on its own.
		got := header.Get("authorization")
		if len(got) != 1 || !strings.HasPrefix(got[0], "Bearer ") {
			t.Fatalf("%s: authorization header %q, want a bearer token", tc.name, got)
		}
		if _, err := call(withAuth(e.ctx, got[0])); err != nil {
			t.Errorf("%s: bearer token refused: %v", tc.name, err)
		}
	}

	// Handshake (as arrow-go clients do it) yields a working token.
	ctx, err := handshakeBasic(e.ctx, e.client.Client, "alice", "secret")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := call(ctx); err != nil {
		t.Fatalf("after Handshake: %v", err)
	}
	if _, err := handshakeBasic(e.ctx, e.client.Client, "alice", "wrong"); codeOf(err) != codes.Unauthenticated {
		t.Fatalf("Handshake with a wrong password: %v", err)
	}

	// The raw Handshake: one response whose payload is the token of the
	// header and the trailer. Streaming RPCs are authenticated too.
	hs, err := e.client.Client.Handshake(withAuth(e.ctx, basic("alice", "secret", base64.StdEncoding)))
	if err != nil {
		t.Fatal(err)
	}
	if err := hs.CloseSend(); err != nil {
		t.Fatal(err)
	}
	resp, err := hs.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hs.Recv(); err != io.EOF {
		t.Fatalf("second Handshake message: %v, want EOF", err)
	}
	header, _ := hs.Header()
	want := "Bearer " + string(resp.Payload)
	if h, tr := header.Get("authorization"), hs.Trailer().Get("authorization"); len(resp.Payload) == 0 ||
		len(h) != 1 || h[0] != want || len(tr) != 1 || tr[0] != want {
		t.Fatalf("Handshake: payload %q, header %q, trailer %q", resp.Payload, h, tr)
	}
	rdr, err := e.client.DoGet(e.ctx, &arrowflight.Ticket{Ticket: []byte("x")})
	if rdr != nil {
		rdr.Release()
	}
	if codeOf(err) != codes.Unauthenticated {
		t.Fatalf("DoGet without credentials: %v", err)
	}
}

func codeOf(err error) codes.Code {
	c, _ := statusOf(err)
	return c
}

func TestHandshakeWithoutAuth(t *testing.T) {
	e := startServer(t, nil, nil)
	// Clients configured with credentials still get a token they can send.
	ctx, err := handshakeBasic(e.ctx, e.client.Client, "any", "thing")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Execute(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	// A Handshake without credentials succeeds with an empty response.
	hs, err := e.client.Client.Handshake(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = hs.CloseSend()
	if _, err := hs.Recv(); err != nil {
		t.Fatal(err)
	}
}

func TestTokenExpiry(t *testing.T) {
	a, err := newAuthenticator(map[string]string{"u": "p"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	a.now = func() time.Time { return now }
	md := metadata.Pairs("authorization", basic("u", "p", base64.StdEncoding))
	p, isBasic, err := a.authenticate(md)
	if err != nil || !isBasic || p.user != "u" {
		t.Fatalf("basic: %+v %v %v", p, isBasic, err)
	}
	// The cached verification returns the same token.
	if p2, _, _ := a.authenticate(md); p2.token != p.token {
		t.Fatal("cached Basic verification issued a new token")
	}
	bearer := metadata.Pairs("authorization", "Bearer "+p.token)
	if _, _, err := a.authenticate(bearer); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute)
	if _, _, err := a.authenticate(bearer); codeOf(err) != codes.Unauthenticated {
		t.Fatalf("expired token: %v", err)
	}
	// Basic after expiry issues a new token.
	p3, _, err := a.authenticate(md)
	if err != nil || p3.token == p.token {
		t.Fatalf("after expiry: %+v %v", p3, err)
	}
}

func TestParseUsers(t *testing.T) {
	users, err := ParseUsers(strings.NewReader("# users\nalice:secret\n\nbob:a:b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users["alice"] != "secret" || users["bob"] != "a:b" {
		t.Fatalf("users %v", users)
	}
	for _, bad := range []string{"nopassword\n", ":x\n", "a:1\na:2\n"} {
		if _, err := ParseUsers(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if _, err := newAuthenticator(map[string]string{"u": "sha256$zz$00"}, time.Minute); err == nil {
		t.Error("malformed hash accepted")
	}
}

// writeSelfSignedCert writes a self-signed certificate for 127.0.0.1 and its
// key to dir and returns their paths and the certificate.
func writeSelfSignedCert(t *testing.T, dir string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mantisdb test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, cert := writeSelfSignedCert(t, dir)
	pool := x509.NewCertPool()
	pool.AddCert(cert)

	t.Run("server certificate", func(t *testing.T) {
		cfg, err := LoadTLSConfig(certFile, keyFile, "")
		if err != nil {
			t.Fatal(err)
		}
		e := startServerDial(t, &Options{TLS: cfg, Users: authUsers(t)}, nil,
			grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool})))
		ctx, err := handshakeBasic(e.ctx, e.client.Client, "alice", "secret")
		if err != nil {
			t.Fatal(err)
		}
		e.ctx = ctx
		_, recs := e.query(t, "SELECT 1 + 1")
		defer releaseAll(recs)
		if got := rowStrings(recs); len(got) != 1 || got[0] != "2" {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("client certificate required", func(t *testing.T) {
		cfg, err := LoadTLSConfig(certFile, keyFile, certFile)
		if err != nil {
			t.Fatal(err)
		}
		clientCert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		e := startServerDial(t, &Options{TLS: cfg}, nil, grpc.WithTransportCredentials(
			credentials.NewTLS(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clientCert}})))
		if _, err := e.client.Execute(e.ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
		// Without a client certificate the handshake fails.
		lis := e.addr
		conn, err := tls.Dial("tcp", lis, &tls.Config{RootCAs: pool, NextProtos: []string{"h2"}})
		if err == nil {
			// TLS 1.3 reports the missing certificate on the first read.
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = conn.Read(make([]byte, 1))
			conn.Close()
		}
		if err == nil {
			t.Fatal("connection without client certificate accepted")
		}
	})
	if _, err := LoadTLSConfig(filepath.Join(dir, "missing.pem"), keyFile, ""); err == nil {
		t.Error("missing certificate file accepted")
	}
}
