package admin

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/proxyplus/proxyplus/internal/tlsconfig"
)

// MaxRequestBytes is the largest request message the admin server accepts (grpc.MaxRecvMsgSize); larger ones fail
// with RESOURCE_EXHAUSTED before reaching a handler. 16 MiB carries a 10 MB OpenAPI document with room for the
// protobuf framing; the loader still applies API Gateway's own 6 MB import limit (LIM-10) with a field-level error.
const MaxRequestBytes = 16 << 20

// minTokenLen is the shortest bearer token accepted from a token file: anything shorter is guessable.
const minTokenLen = 16

// Security configures authentication of the admin API. The zero value (with AllowInsecureLoopback) serves without
// authentication, which ServerOptions allows only on a loopback address.
//
// Authentication methods:
//   - Bearer tokens (TokenFile): every AdminService call carries the metadata "authorization: Bearer <token>".
//   - Mutual TLS (ClientCAFile, with CertFile and KeyFile): the TLS handshake requires a client certificate issued
//     by a CA in ClientCAFile; connections without one never reach a handler.
//
// With both configured, mTLS authenticates the connection and a token is optional: a call without one is
// accepted as the certificate's identity; a call with one must carry a valid token (a wrong token is refused,
// never ignored), and the audit log then names the token's owner, with the certificate's identity beside it.
type Security struct {
	// TokenFile holds the accepted bearer tokens, one per line: "NAME TOKEN", NAME being who appears in the audit
	// log. Blank lines and lines starting with '#' are ignored. Tokens are at least 16 characters and unique. The
	// file is read again when its size or modification time changes; if it cannot be read or parsed then, the
	// previous tokens stay in force and the error is logged (to revoke every token, rewrite the file, do not
	// delete it).
	TokenFile string
	// CertFile and KeyFile are the server's TLS certificate chain and key (PEM). Without them the server speaks
	// plaintext gRPC.
	CertFile, KeyFile string
	// ClientCAFile holds the CA certificates (PEM) that issue client certificates; setting it requires and
	// verifies a client certificate on every connection (mTLS; needs CertFile and KeyFile). The client's identity
	// is the certificate's subject common name, else its first SAN (DNS name, email, URI, IP address). Probes
	// then need a client certificate too: the handshake happens before any service is chosen.
	ClientCAFile string
	// AllowInsecureLoopback lets the server run without authentication when it listens on a loopback address
	// (127.0.0.0/8, ::1, localhost); callers then appear in the audit log as "anonymous (loopback)". Without
	// authentication on any other address, ServerOptions fails.
	AllowInsecureLoopback bool
}

// anonymousLoopback is who an unauthenticated caller is on a loopback-only server.
const anonymousLoopback = "anonymous (loopback)"

// ServerOptions returns the grpc.ServerOptions for an admin server listening on addr (host:port as given to
// net.Listen): transport credentials, the authentication and audit interceptors, and the MaxRequestBytes limit.
// It refuses, with an error naming the address and the flags to give, to run without authentication on an address
// that is not loopback, and to accept bearer tokens over plaintext on one. audit receives one line per mutating
// call and, per peer and AuthFailureLogInterval, one line counting its rejected authentications; a peer that fails
// too often is refused for a while (AuthFailureBurst). slog.Default() when nil.
//
// The gRPC health (grpc.health.v1) and reflection (grpc.reflection.*) services stay reachable without a token, so
// probes and grpcurl work; every other method, in particular all of proxyplus.admin.v1, requires authentication
// when any is configured.
func ServerOptions(addr string, sec Security, audit *slog.Logger) ([]grpc.ServerOption, error) {
	if audit == nil {
		audit = slog.Default()
	}
	loopback, err := IsLoopback(addr)
	if err != nil {
		return nil, fmt.Errorf("admin %w", err)
	}
	g := &guard{log: audit, limit: newAuthLimiter(audit, time.Now, func(d time.Duration, f func()) { time.AfterFunc(d, f) })}
	if sec.TokenFile != "" {
		if g.tokens, err = openTokens(sec.TokenFile, audit); err != nil {
			return nil, err
		}
	}
	tlsCfg, err := serverTLS(sec)
	if err != nil {
		return nil, err
	}
	g.mtls = sec.ClientCAFile != ""

	switch {
	case g.tokens == nil && !g.mtls && !loopback:
		return nil, fmt.Errorf("admin API on %s would accept anyone: it is not a loopback address; give --admin-token-file "+
			"(with --admin-tls-cert and --admin-tls-key) or --admin-client-ca, or listen on 127.0.0.1", addr)
	case g.tokens == nil && !g.mtls && !sec.AllowInsecureLoopback:
		return nil, fmt.Errorf("admin API on %s has no authentication and unauthenticated loopback access is disabled: "+
			"give --admin-token-file or --admin-client-ca", addr)
	case g.tokens != nil && tlsCfg == nil && !loopback:
		return nil, fmt.Errorf("admin API on %s would receive bearer tokens in clear text: give --admin-tls-cert and "+
			"--admin-tls-key, or listen on 127.0.0.1", addr)
	}
	g.anonymous = g.tokens == nil && !g.mtls

	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxRequestBytes),
		grpc.ChainUnaryInterceptor(g.unary),
		grpc.ChainStreamInterceptor(g.stream),
	}
	if tlsCfg != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsCfg)))
	}
	return opts, nil
}

func serverTLS(sec Security) (*tls.Config, error) {
	if (sec.CertFile == "") != (sec.KeyFile == "") {
		return nil, errors.New("admin TLS needs both --admin-tls-cert and --admin-tls-key")
	}
	if sec.CertFile == "" {
		if sec.ClientCAFile != "" {
			return nil, errors.New("--admin-client-ca (mTLS) needs the server's --admin-tls-cert and --admin-tls-key")
		}
		return nil, nil
	}
	cfg, err := tlsconfig.Server(sec.CertFile, sec.KeyFile, sec.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("admin TLS: %w", err)
	}
	return cfg, nil
}

// IsLoopback reports whether a listen or dial address (host:port) names loopback only: 127.0.0.0/8, ::1 or
// localhost. An empty host binds every interface and a host name other than localhost cannot be judged: both
// count as not loopback.
func IsLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("address %q: %w", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}

// unauthenticatedServices are reachable without credentials: health checks for probes, reflection for grpcurl.
// Neither reveals or changes any API definition.
var unauthenticatedServices = []string{
	"/grpc.health.v1.Health/",
	"/grpc.reflection.v1.ServerReflection/",
	"/grpc.reflection.v1alpha.ServerReflection/",
}

func exempt(fullMethod string) bool {
	for _, p := range unauthenticatedServices {
		if strings.HasPrefix(fullMethod, p) {
			return true
		}
	}
	return false
}

// caller is an authenticated client.
type caller struct {
	// who names the client in the audit log: token name, certificate identity or "anonymous (loopback)".
	who string
	// via is how it was authenticated: "token", "mtls", "mtls+token" or "none".
	via string
	// cert is the client certificate's identity, when there is one.
	cert string
}

// guard authenticates calls and audits the mutating ones.
type guard struct {
	log       *slog.Logger
	limit     *authLimiter
	tokens    *tokenSet // nil when no token file is configured
	mtls      bool
	anonymous bool
}

func (g *guard) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if exempt(info.FullMethod) {
		return handler(ctx, req)
	}
	c, err := g.check(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	if !isMutating(info.FullMethod) {
		return handler(ctx, req)
	}
	resp, err := handler(ctx, req)
	g.audit(ctx, c, info.FullMethod, req, resp, err)
	return resp, err
}

// stream authenticates streaming calls; AdminService has none, but a service registered later on the same server
// must not be open by accident.
func (g *guard) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if exempt(info.FullMethod) {
		return handler(srv, ss)
	}
	if _, err := g.check(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}

// check authenticates a call unless its peer failed too often (authLimiter); failures are counted and logged in
// aggregate.
func (g *guard) check(ctx context.Context, fullMethod string) (caller, error) {
	if g.anonymous {
		return g.authenticate(ctx)
	}
	if err := g.limit.allow(ctx, fullMethod); err != nil {
		return caller{}, err
	}
	c, err := g.authenticate(ctx)
	if err != nil {
		g.limit.failed(ctx, fullMethod, err)
	}
	return c, err
}

func (g *guard) authenticate(ctx context.Context) (caller, error) {
	if g.anonymous {
		return caller{who: anonymousLoopback, via: "none"}, nil
	}
	var c caller
	if g.mtls {
		id, err := clientCertIdentity(ctx)
		if err != nil {
			return caller{}, err
		}
		c = caller{who: id, via: "mtls", cert: id}
	}
	if g.tokens == nil {
		return c, nil
	}
	tok, present, err := bearerToken(ctx)
	if err != nil {
		return caller{}, err
	}
	if !present {
		if g.mtls {
			return c, nil
		}
		return caller{}, status.Error(codes.Unauthenticated,
			`missing bearer token: send the metadata "authorization: Bearer <token>" (proxyplus --token-file)`)
	}
	name, ok := g.tokens.lookup(tok)
	if !ok {
		return caller{}, status.Error(codes.Unauthenticated, "invalid bearer token: it is not in the server's token file")
	}
	c.who = name
	c.via = "token"
	if g.mtls {
		c.via = "mtls+token"
	}
	return c, nil
}

// clientCertIdentity names the verified client certificate of the call's connection.
func clientCertIdentity(ctx context.Context) (string, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", status.Error(codes.Unauthenticated, "a verified client certificate is required")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		// The handshake requires and verifies a certificate, so this is a misconfiguration, not a client error.
		return "", status.Error(codes.Unauthenticated, "a verified client certificate is required")
	}
	return certName(info.State.VerifiedChains[0][0]), nil
}

// certName is the subject CN, else the first SAN.
func certName(c *x509.Certificate) string {
	switch {
	case c.Subject.CommonName != "":
		return c.Subject.CommonName
	case len(c.DNSNames) > 0:
		return c.DNSNames[0]
	case len(c.EmailAddresses) > 0:
		return c.EmailAddresses[0]
	case len(c.URIs) > 0:
		return c.URIs[0].String()
	case len(c.IPAddresses) > 0:
		return c.IPAddresses[0].String()
	}
	return "certificate serial " + c.SerialNumber.String()
}

// bearerToken reads "authorization: Bearer <token>"; present is false when there is no authorization metadata.
func bearerToken(ctx context.Context) (tok string, present bool, err error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	switch len(vals) {
	case 0:
		return "", false, nil
	case 1:
	default:
		return "", true, status.Error(codes.Unauthenticated, "more than one authorization header")
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(vals[0]), " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", true, status.Error(codes.Unauthenticated, `malformed authorization header: want "Bearer <token>"`)
	}
	return tok, true, nil
}

// tokenSet is the token file's content, reloaded when the file changes. Only SHA-256 hashes of the tokens are
// kept; comparing hashes of equal length in constant time, against every entry, leaks neither the token's length
// nor which entry matched.
type tokenSet struct {
	path string
	log  *slog.Logger

	mu      sync.Mutex
	size    int64
	modTime time.Time
	entries []tokenEntry
}

type tokenEntry struct {
	name string
	hash [sha256.Size]byte
}

func openTokens(path string, log *slog.Logger) (*tokenSet, error) {
	ts := &tokenSet{path: path, log: log}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("admin token file: %w", err)
	}
	entries, err := readTokens(path)
	if err != nil {
		return nil, err
	}
	ts.size, ts.modTime, ts.entries = fi.Size(), fi.ModTime(), entries
	return ts, nil
}

// lookup returns the name of the token's owner.
func (ts *tokenSet) lookup(tok string) (string, bool) {
	entries := ts.current()
	h := sha256.Sum256([]byte(tok))
	name, found := "", false
	for _, e := range entries {
		if subtle.ConstantTimeCompare(h[:], e.hash[:]) == 1 {
			name, found = e.name, true
		}
	}
	return name, found
}

// current re-reads the file when its size or modification time changed since the last read; on failure the
// previous tokens stay in force.
func (ts *tokenSet) current() []tokenEntry {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	fi, err := os.Stat(ts.path)
	if err != nil {
		ts.log.Error("admin: token file unreadable, keeping the previous tokens", "file", ts.path, "error", err)
		return ts.entries
	}
	if fi.Size() == ts.size && fi.ModTime().Equal(ts.modTime) {
		return ts.entries
	}
	ts.size, ts.modTime = fi.Size(), fi.ModTime()
	entries, err := readTokens(ts.path)
	if err != nil {
		ts.log.Error("admin: token file invalid, keeping the previous tokens", "file", ts.path, "error", err)
		return ts.entries
	}
	ts.entries = entries
	ts.log.Info("admin: token file reloaded", "file", ts.path, "tokens", len(entries))
	return ts.entries
}

func readTokens(path string) ([]tokenEntry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("admin token file: %w", err)
	}
	return parseTokens(path, data)
}

func parseTokens(path string, data []byte) ([]tokenEntry, error) {
	var entries []tokenEntry
	seen := map[[sha256.Size]byte]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("admin token file %s:%d: want \"NAME TOKEN\"", path, n)
		}
		name, tok := f[0], f[1]
		if len(tok) < minTokenLen {
			return nil, fmt.Errorf("admin token file %s:%d: the token of %s is shorter than %d characters", path, n,
				name, minTokenLen)
		}
		h := sha256.Sum256([]byte(tok))
		if other, dup := seen[h]; dup {
			return nil, fmt.Errorf("admin token file %s:%d: %s has the same token as %s", path, n, name, other)
		}
		seen[h] = name
		entries = append(entries, tokenEntry{name: name, hash: h})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("admin token file %s: %w", path, err)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("admin token file %s holds no tokens", path)
	}
	return entries, nil
}
