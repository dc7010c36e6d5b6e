package admin

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/proxyplus/proxyplus/internal/testutil/testpki"
	adminv1 "github.com/proxyplus/proxyplus/proto/proxyplus/admin/v1"
	"github.com/proxyplus/proxyplus/store"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// secureServer runs an admin server (with health) on a loopback TCP port with ServerOptions(sec); it returns the
// address and the audit log buffer (JSON lines).
func secureServer(t *testing.T, sec Security) (string, *syncBuffer) {
	t.Helper()
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "admin.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	buf := &syncBuffer{}
	opts, err := ServerOptions(lis.Addr().String(), sec, slog.New(slog.NewJSONHandler(buf, nil)))
	if err != nil {
		lis.Close()
		t.Fatal(err)
	}
	gs := grpc.NewServer(opts...)
	New(Options{Store: st}).Register(gs)
	healthpb.RegisterHealthServer(gs, health.NewServer())
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	return lis.Addr().String(), buf
}

func dial(t *testing.T, addr string, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func withToken(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const (
	aliceToken = "alice-0123456789abcdef"
	bobToken   = "bob-0123456789abcdef-x"
)

func tokenFile(t *testing.T) string {
	return writeFile(t, "tokens", "# admin tokens\n\nalice "+aliceToken+"\n  bob   "+bobToken+"  \n")
}

func wantStatus(t *testing.T, err error, code codes.Code, msg string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code || !strings.Contains(st.Message(), msg) {
		t.Fatalf("got %v, want %v containing %q", err, code, msg)
	}
}

func TestSecurityBearerToken(t *testing.T) {
	addr, logs := secureServer(t, Security{TokenFile: tokenFile(t)})
	conn := dial(t, addr, nil)
	c := adminv1.NewAdminServiceClient(conn)
	ctx := t.Context()

	_, err := c.ListRestApis(ctx, &adminv1.ListRestApisRequest{})
	wantStatus(t, err, codes.Unauthenticated, "missing bearer token")
	_, err = c.ListRestApis(withToken(ctx, "alice-0123456789abcdeX"), &adminv1.ListRestApisRequest{})
	wantStatus(t, err, codes.Unauthenticated, "invalid bearer token")
	_, err = c.ListRestApis(metadata.AppendToOutgoingContext(ctx, "authorization", "Basic "+aliceToken), &adminv1.ListRestApisRequest{})
	wantStatus(t, err, codes.Unauthenticated, "malformed authorization")
	// A refused mutating call changes nothing.
	_, err = c.CreateRestApi(ctx, &adminv1.CreateRestApiRequest{RestApi: petAPI("pets1", "pets")})
	wantStatus(t, err, codes.Unauthenticated, "missing bearer token")

	for _, tok := range []string{aliceToken, bobToken} {
		resp, err := c.ListRestApis(withToken(ctx, tok), &adminv1.ListRestApisRequest{})
		if err != nil {
			t.Fatalf("token %s: %v", tok, err)
		}
		if len(resp.GetRecords()) != 0 {
			t.Fatalf("the refused CreateRestApi stored something: %v", resp.GetRecords())
		}
	}
	if !strings.Contains(logs.String(), `"msg":"admin authentication failed"`) {
		t.Errorf("rejected calls are not logged:\n%s", logs)
	}

	// Health stays reachable without a token.
	hr, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health without a token: %v, %v", hr, err)
	}
}

func TestSecurityTokenFileReload(t *testing.T) {
	path := tokenFile(t)
	addr, _ := secureServer(t, Security{TokenFile: path})
	c := adminv1.NewAdminServiceClient(dial(t, addr, nil))
	ctx := t.Context()
	if _, err := c.ListRestApis(withToken(ctx, bobToken), &adminv1.ListRestApisRequest{}); err != nil {
		t.Fatal(err)
	}
	const carol = "carol-fedcba9876543210"
	rewrite := func(content string, mtime time.Time) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		// An explicit modification time: the change is seen whatever the file system's timestamp granularity.
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Now().Add(-time.Hour)
	rewrite("alice "+aliceToken+"\ncarol "+carol+"\n", base)
	_, err := c.ListRestApis(withToken(ctx, bobToken), &adminv1.ListRestApisRequest{})
	wantStatus(t, err, codes.Unauthenticated, "invalid bearer token")
	if _, err := c.ListRestApis(withToken(ctx, carol), &adminv1.ListRestApisRequest{}); err != nil {
		t.Fatalf("new token refused: %v", err)
	}
	// A broken file keeps the previous tokens.
	rewrite("carol\n", base.Add(time.Minute))
	if _, err := c.ListRestApis(withToken(ctx, carol), &adminv1.ListRestApisRequest{}); err != nil {
		t.Fatalf("tokens dropped after an invalid rewrite: %v", err)
	}
}

func TestSecurityTokenFileErrors(t *testing.T) {
	for content, name := range map[string]string{
		"alice\n":                               `tokens:1: want "NAME TOKEN"`,
		"# x\nalice " + aliceToken + " extra\n": `tokens:2: want "NAME TOKEN"`,
		"alice short\n":                         "shorter than 16",
		"alice " + aliceToken + "\nbob " + aliceToken + "\n": "bob has the same token as alice",
		"# nothing\n\n": "holds no tokens",
	} {
		_, err := ServerOptions("127.0.0.1:0", Security{TokenFile: writeFile(t, "tokens", content)}, nil)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%q: err = %v, want it to mention %q", content, err, name)
		}
	}
	if _, err := ServerOptions("127.0.0.1:0", Security{TokenFile: filepath.Join(t.TempDir(), "missing")}, nil); err == nil {
		t.Error("a missing token file is accepted")
	}
}

func TestSecurityLoopbackOnly(t *testing.T) {
	open := Security{AllowInsecureLoopback: true}
	for _, addr := range []string{"0.0.0.0:0", ":18002", "[::]:0", "10.1.2.3:18002", "admin.example.com:18002"} {
		_, err := ServerOptions(addr, open, nil)
		if err == nil || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "--admin-token-file") ||
			!strings.Contains(err.Error(), "--admin-client-ca") {
			t.Errorf("%s without authentication: err = %v, want a refusal naming the address and the flags", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0", "localhost:18002"} {
		if _, err := ServerOptions(addr, open, nil); err != nil {
			t.Errorf("%s without authentication: %v", addr, err)
		}
	}
	if _, err := ServerOptions("127.0.0.1:0", Security{}, nil); err == nil || !strings.Contains(err.Error(), "loopback access is disabled") {
		t.Errorf("loopback without authentication and without AllowInsecureLoopback: err = %v", err)
	}
	// Tokens would travel in clear text.
	if _, err := ServerOptions("0.0.0.0:0", Security{TokenFile: tokenFile(t)}, nil); err == nil || !strings.Contains(err.Error(), "clear text") {
		t.Errorf("tokens over plaintext on 0.0.0.0: err = %v", err)
	}
	pki := newTestPKI(t)
	if _, err := ServerOptions("0.0.0.0:0", Security{TokenFile: tokenFile(t), CertFile: pki.serverCert, KeyFile: pki.serverKey}, nil); err != nil {
		t.Errorf("tokens over TLS on 0.0.0.0: %v", err)
	}
	if _, err := ServerOptions("0.0.0.0:0", Security{ClientCAFile: pki.caFile}, nil); err == nil || !strings.Contains(err.Error(), "--admin-tls-cert") {
		t.Errorf("client CA without a server certificate: err = %v", err)
	}
	if _, err := ServerOptions("127.0.0.1:0", Security{CertFile: pki.serverCert}, nil); err == nil {
		t.Error("a certificate without its key is accepted")
	}
}

func TestSecurityAnonymousLoopback(t *testing.T) {
	addr, logs := secureServer(t, Security{AllowInsecureLoopback: true})
	c := adminv1.NewAdminServiceClient(dial(t, addr, nil))
	if _, err := c.CreateRestApi(t.Context(), &adminv1.CreateRestApiRequest{RestApi: petAPI("pets1", "pets")}); err != nil {
		t.Fatal(err)
	}
	line := onlyAuditLine(t, logs.String())
	if line["who"] != anonymousLoopback || line["auth"] != "none" {
		t.Errorf("audit line = %v", line)
	}
}

func TestSecurityMTLS(t *testing.T) {
	pki := newTestPKI(t)
	addr, logs := secureServer(t, Security{CertFile: pki.serverCert, KeyFile: pki.serverKey, ClientCAFile: pki.caFile,
		TokenFile: tokenFile(t)})
	ctx := t.Context()
	call := func(cfg *tls.Config, tok string) error {
		c := adminv1.NewAdminServiceClient(dial(t, addr, credentials.NewTLS(cfg)))
		callCtx := ctx
		if tok != "" {
			callCtx = withToken(ctx, tok)
		}
		_, err := c.CreateRestApi(callCtx, &adminv1.CreateRestApiRequest{RestApi: petAPI("pets1", "pets")})
		return err
	}
	// Without a client certificate, or with one from another CA, the handshake fails: no call reaches a handler.
	for name, cfg := range map[string]*tls.Config{
		"no client certificate":   pki.clientTLS(nil),
		"certificate of other CA": pki.clientTLS(&pki.foreignClient),
	} {
		err := call(cfg, aliceToken)
		if code := status.Code(err); code != codes.Unavailable {
			t.Errorf("%s: got %v, want the connection refused (Unavailable)", name, err)
		}
	}
	if strings.Contains(logs.String(), "admin audit") {
		t.Fatalf("a refused connection reached a handler:\n%s", logs)
	}
	// The right certificate is enough; a token is optional but must be valid when sent.
	if err := call(pki.clientTLS(&pki.client), ""); err != nil {
		t.Fatalf("right client certificate: %v", err)
	}
	line := onlyAuditLine(t, logs.String())
	if line["who"] != "ops-cli" || line["auth"] != "mtls" {
		t.Errorf("audit line = %v, want who ops-cli via mtls", line)
	}
	err := call(pki.clientTLS(&pki.client), "wrong-token-0123456789")
	wantStatus(t, err, codes.Unauthenticated, "invalid bearer token")
	err = call(pki.clientTLS(&pki.client), aliceToken)
	wantStatus(t, err, codes.AlreadyExists, "") // authenticated; the API exists already
	lines := auditLines(t, logs.String())
	if last := lines[len(lines)-1]; last["who"] != "alice" || last["auth"] != "mtls+token" || last["cert"] != "ops-cli" {
		t.Errorf("audit line = %v, want alice via mtls+token with cert ops-cli", last)
	}
	// Health needs a client certificate too (the handshake comes first), but no token.
	hc := healthpb.NewHealthClient(dial(t, addr, credentials.NewTLS(pki.clientTLS(&pki.client))))
	if hr, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health over mTLS: %v, %v", hr, err)
	}
}

func TestSecurityMaxRequestSize(t *testing.T) {
	addr, logs := secureServer(t, Security{TokenFile: tokenFile(t)})
	c := adminv1.NewAdminServiceClient(dial(t, addr, nil))
	ctx := withToken(t.Context(), aliceToken)
	_, err := c.ImportRestApi(ctx, &adminv1.ImportRestApiRequest{Body: make([]byte, MaxRequestBytes)})
	wantStatus(t, err, codes.ResourceExhausted, "")
	if strings.Contains(logs.String(), "admin audit") {
		t.Errorf("an oversized request reached the handler:\n%s", logs)
	}
	// Just under the limit reaches the handler (and the loader's own 6 MB limit).
	_, err = c.ImportRestApi(ctx, &adminv1.ImportRestApiRequest{Body: bytes.Repeat([]byte(" "), 10<<20)})
	wantStatus(t, err, codes.InvalidArgument, "6 MB")
}

// testPKI is a CA with a server certificate for 127.0.0.1 and a client certificate, and a client certificate
// from another CA, as files and key pairs.
type testPKI struct {
	caFile, serverCert, serverKey string
	caPool                        *x509.CertPool
	client, foreignClient         tls.Certificate
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	ca := testpki.NewCA(t, "proxyplus test CA")
	other := testpki.NewCA(t, "other CA")
	p := &testPKI{caPool: ca.Pool, caFile: ca.WriteCert(t, filepath.Join(dir, "ca.pem"))}
	p.serverCert, p.serverKey = ca.IssueFiles(t, testpki.Server("proxyplus admin"), dir, "server")
	p.client = ca.Issue(t, testpki.Client("ops-cli"))
	p.foreignClient = other.Issue(t, testpki.Client("ops-cli"))
	return p
}

// clientTLS trusts the test CA and presents cert (none when nil).
func (p *testPKI) clientTLS(cert *tls.Certificate) *tls.Config {
	cfg := &tls.Config{RootCAs: p.caPool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return cfg
}
