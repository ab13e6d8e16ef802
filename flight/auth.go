package flight

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/mantisdb/mantisdb/internal/sqlstate"
)

// Authentication.
//
// When Options.Users is not empty, every RPC must carry an "authorization"
// header, either
//
//	Basic base64(user:password)   (standard base64, with or without padding)
//	Bearer token                  (a token this server issued)
//
// A successful Basic verification is cached (keyed by a hash of the header
// value) together with the bearer token it issued, so that clients that
// send Basic on every call cost one map lookup per RPC, not one password
// hash. Every answer to a Basic request carries "authorization: Bearer
// token" in its header so that clients can switch to the token. Handshake
// additionally puts it in the trailer and sends it as the payload of its
// one HandshakeResponse. Tokens expire after Options.TokenTTL; a client
// with an expired token must authenticate again. Tokens live in this
// server's memory only: they do not survive a restart.

const (
	authHeader   = "authorization"
	basicPrefix  = "Basic "
	bearerPrefix = "Bearer "
	// anonymousToken is the token Handshake answers when authentication is
	// off and a client sent credentials anyway.
	anonymousToken = "anonymous"
	// passwordHashScheme prefixes a password hash made by HashPassword.
	passwordHashScheme = "sha256$"
	// tokenBytes is the number of random bytes in a bearer token.
	tokenBytes = 32
	// maxBasicCache bounds the cache of verified Basic headers; it is
	// cleared when full.
	maxBasicCache = 4096
)

// DefaultTokenTTL is the lifetime of a bearer token when Options.TokenTTL is
// zero.
const DefaultTokenTTL = 12 * time.Hour

// HashPassword returns a salted hash of password in the form
// "sha256$<salt hex>$<hash hex>", which Options.Users and users files accept
// in place of a clear-text password.
func HashPassword(password string) (string, error) {
	var salt [16]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return "", fmt.Errorf("cannot make password salt: %w", err)
	}
	h := saltedHash(salt[:], password)
	return passwordHashScheme + hex.EncodeToString(salt[:]) + "$" + hex.EncodeToString(h[:]), nil
}

func saltedHash(salt []byte, password string) [sha256.Size]byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(password))
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// ReadUsersFile reads users from a file of "name:password" lines, where
// password is clear text or a HashPassword hash. Blank lines and lines
// starting with # are ignored.
func ReadUsersFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read users file: %w", err)
	}
	defer f.Close()
	users, err := ParseUsers(f)
	if err != nil {
		return nil, fmt.Errorf("users file %s: %w", path, err)
	}
	return users, nil
}

// ParseUsers parses "name:password" lines (see ReadUsersFile).
func ParseUsers(r io.Reader) (map[string]string, error) {
	users := make(map[string]string)
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		name, password, ok := strings.Cut(text, ":")
		if !ok || name == "" {
			return nil, fmt.Errorf("line %d: want name:password", line)
		}
		if _, dup := users[name]; dup {
			return nil, fmt.Errorf("line %d: user %q given twice", line, name)
		}
		users[name] = password
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return users, nil
}

// LoadTLSConfig returns a server TLS configuration with the certificate
// chain and key of the PEM files certFile and keyFile. When clientCAFile is
// not empty, clients must present a certificate signed by one of its CAs.
func LoadTLSConfig(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("cannot load TLS certificate: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCAFile != "" {
		pem, err := os.ReadFile(clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("cannot read client CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client CA file %s holds no PEM certificate", clientCAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// credential is a user's salted password hash.
type credential struct {
	salt []byte
	hash [sha256.Size]byte
}

func newCredential(password string) (credential, error) {
	if rest, ok := strings.CutPrefix(password, passwordHashScheme); ok {
		saltHex, hashHex, ok := strings.Cut(rest, "$")
		salt, err1 := hex.DecodeString(saltHex)
		hash, err2 := hex.DecodeString(hashHex)
		if !ok || err1 != nil || err2 != nil || len(hash) != sha256.Size {
			return credential{}, fmt.Errorf("malformed password hash")
		}
		c := credential{salt: salt}
		copy(c.hash[:], hash)
		return c, nil
	}
	var salt [16]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return credential{}, fmt.Errorf("cannot make password salt: %w", err)
	}
	return credential{salt: salt[:], hash: saltedHash(salt[:], password)}, nil
}

func (c credential) verify(password string) bool {
	h := saltedHash(c.salt, password)
	return subtle.ConstantTimeCompare(h[:], c.hash[:]) == 1
}

// principal is an authenticated client.
type principal struct {
	user  string
	token string
}

type principalKey struct{}

// principalFrom returns the client authenticated by the middleware.
func principalFrom(ctx context.Context) (principal, bool) {
	p, ok := ctx.Value(principalKey{}).(principal)
	return p, ok
}

type tokenEntry struct {
	user    string
	expires time.Time
}

type basicEntry struct {
	user, token string
	expires     time.Time
}

// authenticator verifies credentials and issues bearer tokens. It is safe
// for concurrent use.
type authenticator struct {
	users map[string]credential
	dummy credential // compared against for unknown users, to keep timing flat
	ttl   time.Duration
	now   func() time.Time

	mu        sync.Mutex
	tokens    map[string]tokenEntry
	basic     map[[sha256.Size]byte]basicEntry
	nextSweep int
}

func newAuthenticator(users map[string]string, ttl time.Duration) (*authenticator, error) {
	a := &authenticator{
		users:     make(map[string]credential, len(users)),
		ttl:       ttl,
		now:       time.Now,
		tokens:    make(map[string]tokenEntry),
		basic:     make(map[[sha256.Size]byte]basicEntry),
		nextSweep: 1024,
	}
	for name, pw := range users {
		c, err := newCredential(pw)
		if err != nil {
			return nil, fmt.Errorf("user %q: %w", name, err)
		}
		a.users[name] = c
	}
	var err error
	if a.dummy, err = newCredential("-"); err != nil {
		return nil, err
	}
	return a, nil
}

// errUnauthenticated is the answer to missing or wrong credentials. It does
// not say which part was wrong.
func errUnauthenticated(msg string) error {
	return status.Error(codes.Unauthenticated, string(sqlstate.InvalidAuthorization)+": "+msg)
}

// authenticate checks the authorization header of md. It returns the
// principal and whether the header was Basic (the caller then announces
// the principal's bearer token).
func (a *authenticator) authenticate(md metadata.MD) (principal, bool, error) {
	vals := md.Get(authHeader)
	if len(vals) == 0 || vals[0] == "" {
		return principal{}, false, errUnauthenticated(
			"authentication required: send an authorization header (Basic or Bearer)")
	}
	v := vals[0]
	switch {
	case hasPrefixFold(v, basicPrefix):
		p, err := a.basicAuth(v)
		return p, true, err
	case hasPrefixFold(v, bearerPrefix):
		p, err := a.bearerAuth(strings.TrimSpace(v[len(bearerPrefix):]))
		return p, false, err
	}
	return principal{}, false, errUnauthenticated("unsupported authorization scheme (use Basic or Bearer)")
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func (a *authenticator) basicAuth(header string) (principal, error) {
	key := sha256.Sum256([]byte(header))
	now := a.now()
	a.mu.Lock()
	e, ok := a.basic[key]
	if ok && now.Before(e.expires) {
		a.mu.Unlock()
		return principal{user: e.user, token: e.token}, nil
	}
	a.mu.Unlock()

	enc := strings.TrimSpace(header[len(basicPrefix):])
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		raw, err = base64.RawStdEncoding.DecodeString(enc)
	}
	if err != nil {
		return principal{}, errUnauthenticated("malformed Basic credentials")
	}
	user, password, ok := strings.Cut(string(raw), ":")
	if !ok {
		return principal{}, errUnauthenticated("malformed Basic credentials")
	}
	c, known := a.users[user]
	if !known {
		c = a.dummy
	}
	if !c.verify(password) || !known {
		return principal{}, errUnauthenticated("invalid user name or password")
	}
	token, expires, err := a.issue(user)
	if err != nil {
		return principal{}, err
	}
	a.mu.Lock()
	if len(a.basic) >= maxBasicCache {
		clear(a.basic)
	}
	a.basic[key] = basicEntry{user: user, token: token, expires: expires}
	a.mu.Unlock()
	return principal{user: user, token: token}, nil
}

func (a *authenticator) bearerAuth(token string) (principal, error) {
	now := a.now()
	a.mu.Lock()
	e, ok := a.tokens[token]
	if ok && !now.Before(e.expires) {
		delete(a.tokens, token)
		ok = false
	}
	a.mu.Unlock()
	if !ok {
		return principal{}, errUnauthenticated("invalid or expired bearer token; authenticate again")
	}
	return principal{user: e.user, token: token}, nil
}

// issue returns a new bearer token for user and its expiry.
func (a *authenticator) issue(user string) (string, time.Time, error) {
	var b [tokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", time.Time{}, fmt.Errorf("cannot make bearer token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(b[:])
	now := a.now()
	expires := now.Add(a.ttl)
	a.mu.Lock()
	if len(a.tokens) >= a.nextSweep {
		for t, e := range a.tokens {
			if !now.Before(e.expires) {
				delete(a.tokens, t)
			}
		}
		a.nextSweep = max(1024, 2*len(a.tokens))
	}
	a.tokens[token] = tokenEntry{user: user, expires: expires}
	a.mu.Unlock()
	return token, expires, nil
}

// handshakeMethod is the full gRPC name of Flight's Handshake.
const handshakeMethod = "/arrow.flight.protocol.FlightService/Handshake"

// unaryAuth is the authentication interceptor of unary RPCs.
func (a *authenticator) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	p, basic, err := a.authenticate(md)
	if err != nil {
		return nil, err
	}
	if basic {
		if err := grpc.SetHeader(ctx, metadata.Pairs(authHeader, bearerPrefix+p.token)); err != nil {
			return nil, err
		}
	}
	return handler(context.WithValue(ctx, principalKey{}, p), req)
}

// stream is the authentication interceptor of streaming RPCs.
func (a *authenticator) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx := ss.Context()
	md, _ := metadata.FromIncomingContext(ctx)
	p, basic, err := a.authenticate(md)
	if err != nil {
		return err
	}
	handshake := info.FullMethod == handshakeMethod
	if basic || handshake {
		out := metadata.Pairs(authHeader, bearerPrefix+p.token)
		if err := ss.SetHeader(out); err != nil {
			return err
		}
		if handshake {
			ss.SetTrailer(out)
		}
	}
	return handler(srv, &authedStream{ServerStream: ss, ctx: context.WithValue(ctx, principalKey{}, p)})
}

// authedStream is a server stream whose context carries the principal.
type authedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *authedStream) Context() context.Context { return s.ctx }
