package main

// The apis, deploy and status commands are clients of a running proxyplus's gRPC admin API (serve
// --admin-address).

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/proxyplus/proxyplus/admin"
	"github.com/proxyplus/proxyplus/internal/tlsconfig"
	adminv1 "github.com/proxyplus/proxyplus/proto/proxyplus/admin/v1"
)

const defaultAdminAddress = "127.0.0.1:18002"

// maxResponseBytes bounds what the client accepts from the admin API (an export of a large API, a long list).
const maxResponseBytes = 64 << 20

// adminFlags are the flags shared by the admin API clients.
type adminFlags struct {
	address       string
	tokenFile     string
	tlsCA         string
	tlsCert       string
	tlsKey        string
	tlsServerName string
	timeout       time.Duration
	output        string
}

func (a *adminFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.address, "admin-address", defaultAdminAddress, "address of proxyplus's admin API (host:port)")
	fs.StringVar(&a.tokenFile, "token-file", "", "file holding the admin API bearer token (just the token)")
	fs.StringVar(&a.tlsCA, "tls-ca", "", "CA certificates (PEM) to verify the admin API's certificate; any --tls-* flag enables TLS (system roots without this one)")
	fs.StringVar(&a.tlsCert, "tls-cert", "", "client certificate (PEM) for mTLS")
	fs.StringVar(&a.tlsKey, "tls-key", "", "client private key (PEM) for mTLS")
	fs.StringVar(&a.tlsServerName, "tls-server-name", "", "name to verify the admin API's certificate against (default: the host of --admin-address)")
	fs.DurationVar(&a.timeout, "timeout", 30*time.Second, "time limit for the whole command")
	fs.StringVar(&a.output, "o", "table", "output format: table (for people) or json (the response as protojson, for scripts)")
}

func (a *adminFlags) check() error {
	if a.output != "table" && a.output != "json" {
		return usageError{fmt.Errorf("-o %q: want table or json", a.output)}
	}
	if (a.tlsCert == "") != (a.tlsKey == "") {
		return usageError{errors.New("--tls-cert and --tls-key go together")}
	}
	if a.timeout <= 0 {
		return usageError{fmt.Errorf("--timeout %v: want a positive duration", a.timeout)}
	}
	return nil
}

// adminConn is a connection to the admin API.
type adminConn struct {
	adminv1.AdminServiceClient
	addr string
	conn *grpc.ClientConn
}

func (c *adminConn) Close() { _ = c.conn.Close() }

// connect opens a client connection (gRPC connects lazily: errors reaching the server surface with the first
// call). A token is sent in clear text only to a loopback address.
func (a *adminFlags) connect() (*adminConn, error) {
	secure := a.tlsCA != "" || a.tlsCert != "" || a.tlsServerName != ""
	creds := insecure.NewCredentials()
	if secure {
		cfg, err := a.clientTLS()
		if err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(cfg)
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxResponseBytes), grpc.MaxCallSendMsgSize(admin.MaxRequestBytes)),
	}
	if a.tokenFile != "" {
		tok, err := readToken(a.tokenFile)
		if err != nil {
			return nil, err
		}
		if !secure && !isLoopback(a.address) {
			return nil, fmt.Errorf("refusing to send the token in clear text to %s: give --tls-ca (and --tls-server-name if needed)", a.address)
		}
		opts = append(opts, grpc.WithPerRPCCredentials(bearerToken(tok)))
	}
	conn, err := grpc.NewClient(a.address, opts...)
	if err != nil {
		return nil, fmt.Errorf("--admin-address %s: %w", a.address, err)
	}
	return &adminConn{AdminServiceClient: adminv1.NewAdminServiceClient(conn), addr: a.address, conn: conn}, nil
}

func (a *adminFlags) clientTLS() (*tls.Config, error) {
	cfg := &tls.Config{ServerName: a.tlsServerName, MinVersion: tls.VersionTLS12}
	if a.tlsCA != "" {
		pool, err := tlsconfig.CertPool(a.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		cfg.RootCAs = pool
	}
	if a.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(a.tlsCert, a.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	switch {
	case tok == "":
		return "", fmt.Errorf("--token-file %s is empty", path)
	case strings.ContainsFunc(tok, unicode.IsSpace):
		return "", fmt.Errorf("--token-file %s holds more than a token (the client's file holds just the token, not the server's \"NAME TOKEN\" lines)", path)
	}
	return tok, nil
}

// isLoopback reports whether addr names loopback only (admin.IsLoopback); a malformed address does not.
func isLoopback(addr string) bool {
	ok, err := admin.IsLoopback(addr)
	return ok && err == nil
}

// bearerToken sends "authorization: Bearer <token>"; connect has already refused clear text to other hosts.
type bearerToken string

func (b bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearerToken) RequireTransportSecurity() bool { return false }

// rpcError turns a gRPC status into one readable line: the code, the message and the field violations.
func (c *adminConn) rpcError(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	msg := st.Message()
	// details are "field: description"; descs the descriptions alone, to leave out what the message already says.
	var details, descs []string
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				details = append(details, v.GetField()+": "+v.GetDescription())
				descs = append(descs, v.GetDescription())
			}
		case *errdetails.PreconditionFailure:
			for _, v := range d.GetViolations() {
				details = append(details, v.GetSubject()+": "+v.GetDescription())
				descs = append(descs, v.GetDescription())
			}
		}
	}
	if len(details) > 0 && strings.Contains(msg, "\n") {
		// A multi-line message repeats the violations: keep its summary line.
		msg = strings.TrimSuffix(strings.TrimSpace(msg[:strings.IndexByte(msg, '\n')]), ":")
	}
	msg = strings.Join(strings.Fields(msg), " ")
	var extra []string
	for i, d := range details {
		if !strings.Contains(msg, d) && !strings.Contains(msg, strings.Join(strings.Fields(descs[i]), " ")) {
			extra = append(extra, d)
		}
	}
	if len(extra) > 0 {
		msg += " (" + strings.Join(extra, "; ") + ")"
	}
	switch st.Code() {
	case codes.Unavailable:
		return fmt.Errorf("Unavailable: cannot reach the admin API at %s: %s", c.addr, msg)
	case codes.DeadlineExceeded:
		return fmt.Errorf("DeadlineExceeded: the admin API at %s did not answer in time (--timeout): %s", c.addr, msg)
	}
	return fmt.Errorf("%s: %s", st.Code(), msg)
}

// adminCommand parses the shared flags (plus the command's own, added by setup), connects and runs fn with a
// context bounded by --timeout.
func adminCommand(ctx context.Context, e *env, name, usage string, args []string, nargs int, argNames string,
	setup func(fs *flag.FlagSet), fn func(ctx context.Context, c *adminConn, a *adminFlags, pos []string) error) error {
	fs := newFlagSet(e, name, usage)
	var a adminFlags
	a.register(fs)
	if setup != nil {
		setup(fs)
	}
	pos, err := parseArgs(fs, args, nargs, argNames)
	if err != nil {
		return err
	}
	if err := a.check(); err != nil {
		return err
	}
	c, err := a.connect()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	return fn(ctx, c, &a, pos)
}

func printJSON(w io.Writer, m proto.Message) error {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(m)
	if err != nil {
		return fmt.Errorf("encoding the response: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func printWarningsOf(e *env, ws []*adminv1.Warning) {
	for _, w := range ws {
		loc := w.GetPath() // a JSON path ending with the field
		if loc == "" {
			loc = w.GetField()
		}
		fmt.Fprintf(e.stderr, "warning: %s: %s\n", loc, w.GetMessage())
	}
}

func formatTime(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "-"
	}
	return ts.AsTime().UTC().Format(time.RFC3339)
}

func formatGoTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
