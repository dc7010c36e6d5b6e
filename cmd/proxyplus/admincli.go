package main

// The apis, deploy and status commands are clients of a running proxyplus's gRPC admin API (serve
// --admin-address).

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
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
	"sigs.k8s.io/yaml"

	"github.com/proxyplus/proxyplus/admin"
	"github.com/proxyplus/proxyplus/internal/tlsconfig"
	"github.com/proxyplus/proxyplus/loader"
	adminv1 "github.com/proxyplus/proxyplus/proto/proxyplus/admin/v1"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
	xdsserver "github.com/proxyplus/proxyplus/xds/server"
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

// parseArgs parses flags given anywhere among the positional arguments (flag stops at the first non-flag) and
// checks their number; "--" ends the flags.
func parseArgs(fs *flag.FlagSet, args []string, want int, names string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if len(pos) != want {
		if want == 0 {
			return nil, usageError{fmt.Errorf("unexpected arguments: %s", strings.Join(pos, " "))}
		}
		return nil, usageError{fmt.Errorf("want %s, got %d arguments", names, len(pos))}
	}
	return pos, nil
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

const apisUsage = "apis list | get NAME_OR_ID | apply -f FILE | delete NAME_OR_ID | export NAME_OR_ID [flags]"

func runApis(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageError{fmt.Errorf("want a subcommand: %s", apisUsage)}
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "list":
		return adminCommand(ctx, e, "apis list", "apis list [flags]", rest, 0, "", nil, apisList(e))
	case "get":
		return adminCommand(ctx, e, "apis get", "apis get NAME_OR_ID [flags]", rest, 1, "NAME_OR_ID", nil, apisGet(e))
	case "apply":
		var file, basePath string
		setup := func(fs *flag.FlagSet) {
			fs.StringVar(&file, "f", "", "API definition: proxyplus YAML/JSON, or OpenAPI 3 / Swagger 2.0 with API Gateway extensions (required)")
			fs.StringVar(&basePath, "base-path", "", "OpenAPI base path mode: ignore (default), prepend or split")
		}
		return adminCommand(ctx, e, "apis apply", "apis apply -f FILE [flags]", rest, 0, "", setup,
			func(ctx context.Context, c *adminConn, a *adminFlags, _ []string) error {
				if file == "" {
					return usageError{errors.New("-f is required")}
				}
				return apisApply(ctx, e, c, a, file, basePath)
			})
	case "delete":
		return adminCommand(ctx, e, "apis delete", "apis delete NAME_OR_ID [flags]", rest, 1, "NAME_OR_ID", nil, apisDelete(e))
	case "export":
		var stage string
		setup := func(fs *flag.FlagSet) {
			fs.StringVar(&stage, "stage", "", "export what this stage serves instead of the current definition")
		}
		return adminCommand(ctx, e, "apis export", "apis export NAME_OR_ID [--stage NAME] [flags]", rest, 1, "NAME_OR_ID", setup,
			func(ctx context.Context, c *adminConn, _ *adminFlags, pos []string) error {
				rec, err := c.resolve(ctx, pos[0])
				if err != nil {
					return err
				}
				resp, err := c.ExportRestApi(ctx, &adminv1.ExportRestApiRequest{RestApiId: rec.GetRestApi().GetId(), StageName: stage})
				if err != nil {
					return c.rpcError(err)
				}
				body := resp.GetBody()
				if !bytes.HasSuffix(body, []byte("\n")) {
					body = append(body, '\n')
				}
				_, err = e.stdout.Write(body)
				return err
			})
	case "-h", "--help", "help":
		// Like flag's -h: usage on stderr, exit 0.
		fmt.Fprintf(e.stderr, "Usage: proxyplus %s\n\nRun 'proxyplus apis SUBCOMMAND --help' for the flags.\n", apisUsage)
		return flag.ErrHelp
	}
	return usageError{fmt.Errorf("unknown subcommand %q: %s", sub, apisUsage)}
}

// listAll pages through every API.
func (c *adminConn) listAll(ctx context.Context) ([]*adminv1.RestApiRecord, error) {
	var out []*adminv1.RestApiRecord
	token := ""
	for {
		resp, err := c.ListRestApis(ctx, &adminv1.ListRestApisRequest{PageToken: token})
		if err != nil {
			return nil, c.rpcError(err)
		}
		out = append(out, resp.GetRecords()...)
		if token = resp.GetNextPageToken(); token == "" {
			return out, nil
		}
	}
}

// resolve finds an API by id, else by its name when exactly one API has it.
func (c *adminConn) resolve(ctx context.Context, nameOrID string) (*adminv1.RestApiRecord, error) {
	got, err := c.GetRestApi(ctx, &adminv1.GetRestApiRequest{RestApiId: nameOrID})
	if err == nil {
		return got.GetRecord(), nil
	}
	if status.Code(err) != codes.NotFound {
		return nil, c.rpcError(err)
	}
	matches, err := c.byName(ctx, nameOrID)
	if err != nil {
		return nil, err
	}
	switch len(matches) {
	case 0:
		return nil, fmt.Errorf("NotFound: no API has the id or name %q", nameOrID)
	case 1:
		return matches[0], nil
	}
	return nil, ambiguous(nameOrID, matches)
}

func (c *adminConn) byName(ctx context.Context, name string) ([]*adminv1.RestApiRecord, error) {
	all, err := c.listAll(ctx)
	if err != nil {
		return nil, err
	}
	var out []*adminv1.RestApiRecord
	for _, r := range all {
		if r.GetRestApi().GetName() == name {
			out = append(out, r)
		}
	}
	return out, nil
}

func ambiguous(name string, matches []*adminv1.RestApiRecord) error {
	ids := make([]string, len(matches))
	for i, m := range matches {
		ids[i] = m.GetRestApi().GetId()
	}
	return fmt.Errorf("%d APIs are named %q (ids %s): give the id", len(matches), name, strings.Join(ids, ", "))
}

func apisList(e *env) func(context.Context, *adminConn, *adminFlags, []string) error {
	return func(ctx context.Context, c *adminConn, a *adminFlags, _ []string) error {
		recs, err := c.listAll(ctx)
		if err != nil {
			return err
		}
		if a.output == "json" {
			return printJSON(e.stdout, &adminv1.ListRestApisResponse{Records: recs})
		}
		if len(recs) == 0 {
			fmt.Fprintln(e.stdout, "no APIs")
			return nil
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tREVISION\tRESOURCES\tUPDATED")
		for _, r := range recs {
			api := r.GetRestApi()
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", api.GetId(), api.GetName(), r.GetRevision(), len(api.GetResources()),
				formatTime(r.GetUpdateTime()))
		}
		return tw.Flush()
	}
}

func apisGet(e *env) func(context.Context, *adminConn, *adminFlags, []string) error {
	return func(ctx context.Context, c *adminConn, a *adminFlags, pos []string) error {
		rec, err := c.resolve(ctx, pos[0])
		if err != nil {
			return err
		}
		if a.output == "json" {
			return printJSON(e.stdout, &adminv1.GetRestApiResponse{Record: rec})
		}
		api := rec.GetRestApi()
		stages, err := c.ListStages(ctx, &adminv1.ListStagesRequest{RestApiId: api.GetId()})
		if err != nil {
			return c.rpcError(err)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "ID:\t%s\nName:\t%s\n", api.GetId(), api.GetName())
		if d := api.GetDescription(); d != "" {
			fmt.Fprintf(tw, "Description:\t%s\n", d)
		}
		fmt.Fprintf(tw, "Revision:\t%d\nCreated:\t%s\nUpdated:\t%s\n", rec.GetRevision(), formatTime(rec.GetCreateTime()),
			formatTime(rec.GetUpdateTime()))
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout)
		if len(stages.GetRecords()) == 0 {
			fmt.Fprintln(e.stdout, "no stages (proxyplus deploy --api NAME_OR_ID --stage NAME)")
		} else {
			fmt.Fprintln(tw, "STAGE\tDEPLOYMENT\tREVISION\tUPDATED")
			for _, s := range stages.GetRecords() {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", s.GetStage().GetStageName(), s.GetStage().GetDeploymentId(), s.GetRevision(),
					formatTime(s.GetUpdateTime()))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		fmt.Fprintln(e.stdout)
		fmt.Fprintln(tw, "PATH\tMETHOD\tINTEGRATION\tURI")
		for _, r := range api.GetResources() {
			for _, m := range slices.Sorted(maps.Keys(r.GetResourceMethods())) {
				in := r.GetResourceMethods()[m].GetIntegration()
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.GetPath(), m, in.GetType(), in.GetUri())
			}
		}
		return tw.Flush()
	}
}

// apisApply creates the file's API when it is missing and updates it otherwise. The API is the one with the
// file's id (declared, or derived from the name as the loader does); failing that, with no declared id, the one
// API with the file's name. Updates of proxyplus definitions carry the revision just read, so a concurrent change
// fails instead of being overwritten; OpenAPI documents go through ImportRestApi with the same revision check.
func apisApply(ctx context.Context, e *env, c *adminConn, a *adminFlags, file, basePath string) error {
	res, err := loader.LoadFile(file, loader.Options{BasePathMode: basePath})
	if err != nil {
		if res != nil {
			for _, d := range res.Diagnostics.Errors() {
				fmt.Fprintln(e.stderr, d.String())
			}
		}
		return fmt.Errorf("%s is invalid; nothing was sent", file)
	}
	api := res.API
	declared, err := declaresID(file, res.Format)
	if err != nil {
		return err
	}
	var cur *adminv1.RestApiRecord
	got, err := c.GetRestApi(ctx, &adminv1.GetRestApiRequest{RestApiId: api.GetId()})
	switch {
	case err == nil:
		cur = got.GetRecord()
	case status.Code(err) != codes.NotFound:
		return c.rpcError(err)
	case !declared:
		matches, err := c.byName(ctx, api.GetName())
		if err != nil {
			return err
		}
		if len(matches) > 1 {
			return ambiguous(api.GetName(), matches)
		}
		if len(matches) == 1 {
			cur = matches[0]
		}
	}

	var (
		out      proto.Message
		rec      *adminv1.RestApiRecord
		warnings []*adminv1.Warning
		verb     = "created"
	)
	if cur != nil {
		verb = "updated"
	}
	if res.Format == loader.FormatProxyplus {
		if cur == nil {
			resp, err := c.CreateRestApi(ctx, &adminv1.CreateRestApiRequest{RestApi: api})
			if err != nil {
				return c.rpcError(err)
			}
			out, rec, warnings = resp, resp.GetRecord(), resp.GetWarnings()
		} else {
			api.Id = cur.GetRestApi().GetId()
			resp, err := c.UpdateRestApi(ctx, &adminv1.UpdateRestApiRequest{RestApi: api, ExpectedRevision: cur.GetRevision()})
			if status.Code(err) == codes.Aborted {
				return concurrentChange(api.GetId(), cur.GetRevision())
			}
			if err != nil {
				return c.rpcError(err)
			}
			out, rec, warnings = resp, resp.GetRecord(), resp.GetWarnings()
		}
	} else {
		body, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("-f: %w", err)
		}
		req := &adminv1.ImportRestApiRequest{Body: body, BasePathMode: basePath}
		if cur != nil {
			req.RestApiId, req.ExpectedRevision = cur.GetRestApi().GetId(), cur.GetRevision()
		}
		resp, err := c.ImportRestApi(ctx, req)
		if status.Code(err) == codes.Aborted {
			return concurrentChange(req.RestApiId, cur.GetRevision())
		}
		if err != nil {
			return c.rpcError(err)
		}
		out, rec, warnings = resp, resp.GetRecord(), resp.GetWarnings()
	}
	printWarningsOf(e, warnings)
	if a.output == "json" {
		return printJSON(e.stdout, out)
	}
	fmt.Fprintf(e.stdout, "%s API %s (%s) at revision %d\n", verb, rec.GetRestApi().GetId(), rec.GetRestApi().GetName(),
		rec.GetRevision())
	return nil
}

// concurrentChange is the error of an apply that lost a race with another writer.
func concurrentChange(id string, read uint64) error {
	return fmt.Errorf("Aborted: API %s was changed concurrently by someone else after revision %d was read; nothing was written: check it (proxyplus apis get %s) and apply again",
		id, read, id)
}

// declaresID reports whether a proxyplus definition names its id (OpenAPI documents never do).
func declaresID(file, format string) (bool, error) {
	if format != loader.FormatProxyplus {
		return false, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return false, fmt.Errorf("-f: %w", err)
	}
	var doc struct {
		ID string `json:"id"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return false, fmt.Errorf("-f %s: %w", file, err)
	}
	return doc.ID != "", nil
}

func apisDelete(e *env) func(context.Context, *adminConn, *adminFlags, []string) error {
	return func(ctx context.Context, c *adminConn, a *adminFlags, pos []string) error {
		rec, err := c.resolve(ctx, pos[0])
		if err != nil {
			return err
		}
		id := rec.GetRestApi().GetId()
		resp, err := c.DeleteRestApi(ctx, &adminv1.DeleteRestApiRequest{RestApiId: id, ExpectedRevision: rec.GetRevision()})
		if status.Code(err) == codes.Aborted {
			return fmt.Errorf("Aborted: API %s was changed concurrently after revision %d was read; nothing was deleted: check it and delete again",
				id, rec.GetRevision())
		}
		if err != nil {
			return c.rpcError(err)
		}
		if a.output == "json" {
			return printJSON(e.stdout, resp)
		}
		fmt.Fprintf(e.stdout, "deleted API %s (%s) with its deployments and stages\n", id, rec.GetRestApi().GetName())
		return nil
	}
}

// runDeploy snapshots an API and points a stage at the snapshot, as API Gateway's create-deployment with a stage
// name does. --variable sets stage variables; the stage's other variables and its description are kept.
func runDeploy(ctx context.Context, e *env, args []string) error {
	var (
		apiRef, stage, description string
		vars                       multiFlag
	)
	setup := func(fs *flag.FlagSet) {
		fs.StringVar(&apiRef, "api", "", "API id or name (required)")
		fs.StringVar(&stage, "stage", "", "stage to point at the new deployment, created if missing (required)")
		fs.StringVar(&description, "description", "", "deployment description")
		fs.Var(&vars, "variable", "stage variable name=value (repeatable; the stage's other variables are kept)")
	}
	return adminCommand(ctx, e, "deploy", "deploy --api NAME_OR_ID --stage NAME [--description D] [--variable k=v]... [flags]",
		args, 0, "", setup, func(ctx context.Context, c *adminConn, a *adminFlags, _ []string) error {
			if apiRef == "" || stage == "" {
				return usageError{errors.New("--api and --stage are required")}
			}
			set, err := keyValues("variable", vars)
			if err != nil {
				return err
			}
			rec, err := c.resolve(ctx, apiRef)
			if err != nil {
				return err
			}
			id := rec.GetRestApi().GetId()
			var (
				dep *adminv1.CreateDeploymentResponse
				put *adminv1.StageRecord
			)
			if len(set) == 0 {
				// One call: the server checks that the stage can serve the new deployment before creating it.
				if dep, err = c.CreateDeployment(ctx, &adminv1.CreateDeploymentRequest{RestApiId: id, Description: description,
					StageName: stage}); err != nil {
					return c.rpcError(err)
				}
				got, err := c.GetStage(ctx, &adminv1.GetStageRequest{RestApiId: id, StageName: stage})
				if err != nil {
					return c.rpcError(err)
				}
				put = got.GetRecord()
			} else {
				if dep, put, err = deployWithVariables(ctx, c, id, stage, description, set); err != nil {
					return err
				}
			}
			if a.output == "json" {
				return printDeployJSON(e.stdout, dep.GetDeployment(), put)
			}
			fmt.Fprintf(e.stdout, "deployed API %s (%s) to stage %s: deployment %s (revision %d), stage revision %d\n",
				id, rec.GetRestApi().GetName(), stage, dep.GetDeployment().GetId(), dep.GetDeployment().GetRevision(), put.GetRevision())
			return nil
		})
}

// deployWithVariables creates a deployment and points the stage at it with the variables set (the stage's other
// variables and its description are kept). The server refuses a stage that cannot serve the deployment.
func deployWithVariables(ctx context.Context, c *adminConn, id, stage, description string, set map[string]string) (*adminv1.CreateDeploymentResponse, *adminv1.StageRecord, error) {
	st := &apigatewayv1.Stage{StageName: stage, Variables: map[string]string{}}
	var expected uint64
	cur, err := c.GetStage(ctx, &adminv1.GetStageRequest{RestApiId: id, StageName: stage})
	switch {
	case err == nil:
		st.Description, expected = cur.GetRecord().GetStage().GetDescription(), cur.GetRecord().GetRevision()
		for k, v := range cur.GetRecord().GetStage().GetVariables() {
			st.Variables[k] = v
		}
	case status.Code(err) != codes.NotFound:
		return nil, nil, c.rpcError(err)
	}
	for k, v := range set {
		st.Variables[k] = v
	}
	dep, err := c.CreateDeployment(ctx, &adminv1.CreateDeploymentRequest{RestApiId: id, Description: description})
	if err != nil {
		return nil, nil, c.rpcError(err)
	}
	st.DeploymentId = dep.GetDeployment().GetId()
	put, err := c.PutStage(ctx, &adminv1.PutStageRequest{RestApiId: id, Stage: st, ExpectedRevision: expected})
	if status.Code(err) == codes.Aborted {
		return nil, nil, fmt.Errorf("Aborted: stage %s of API %s was changed concurrently; deployment %s was created but the stage does not serve it: deploy again",
			stage, id, st.DeploymentId)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("deployment %s was created but the stage was not updated: %w", st.DeploymentId, c.rpcError(err))
	}
	return dep, put.GetRecord(), nil
}

// printDeployJSON prints {"deployment": Deployment, "stage": StageRecord}, both as protojson.
func printDeployJSON(w io.Writer, dep *adminv1.Deployment, st *adminv1.StageRecord) error {
	d, err := protojson.Marshal(dep)
	if err != nil {
		return err
	}
	s, err := protojson.Marshal(st)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(map[string]json.RawMessage{"deployment": d, "stage": s}, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// statusDoc is the part of GetStatus's status_json (the /status endpoint's document) the table shows.
type statusDoc struct {
	XDS         *xdsserver.Status `json:"xds"`
	Definitions *struct {
		Version    string    `json:"version"`
		LastReload time.Time `json:"last_reload"`
		Error      string    `json:"error"`
		// HeldBack mirrors controlplane.HeldBack.
		HeldBack []struct {
			API             string    `json:"api"`
			Source          string    `json:"source"`
			Reason          string    `json:"reason"`
			ServingLastGood bool      `json:"serving_last_good"`
			LastGoodAt      time.Time `json:"last_good_at"`
			Since           time.Time `json:"since"`
		} `json:"held_back"`
	} `json:"definitions"`
}

func runStatus(ctx context.Context, e *env, args []string) error {
	return adminCommand(ctx, e, "status", "status [flags]", args, 0, "", nil,
		func(ctx context.Context, c *adminConn, a *adminFlags, _ []string) error {
			resp, err := c.GetStatus(ctx, &adminv1.GetStatusRequest{})
			if err != nil {
				return c.rpcError(err)
			}
			if a.output == "json" {
				return printJSON(e.stdout, resp)
			}
			var doc statusDoc
			if err := json.Unmarshal([]byte(resp.GetStatusJson()), &doc); err != nil {
				return fmt.Errorf("the status document cannot be read: %w", err)
			}
			return printStatus(e.stdout, &doc, resp.GetExtprocServing())
		})
}

func printStatus(w io.Writer, doc *statusDoc, extproc bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	ep := "NOT SERVING"
	if extproc {
		ep = "SERVING"
	}
	fmt.Fprintf(tw, "ext_proc:\t%s\n", ep)
	if d := doc.Definitions; d != nil {
		line := fmt.Sprintf("version %s, last reload %s", orDash(d.Version), formatGoTime(d.LastReload))
		if d.Error != "" {
			line += ", error: " + strings.Join(strings.Fields(d.Error), " ")
		}
		fmt.Fprintf(tw, "definitions:\t%s\n", line)
		// An API held back keeps its last good version (or is not served) while the others update: name each.
		for _, h := range d.HeldBack {
			served := "NOT SERVED (no good version since start)"
			if h.ServingLastGood {
				served = "serving its last good version of " + formatGoTime(h.LastGoodAt)
			}
			fmt.Fprintf(tw, "held back:\tAPI %s (%s) since %s, %s: %s\n", orDash(h.API), h.Source, formatGoTime(h.Since),
				served, strings.Join(strings.Fields(h.Reason), " "))
		}
	}
	if doc.XDS == nil {
		fmt.Fprintln(tw, "xds:\tno xDS status reported")
		return tw.Flush()
	}
	snap := doc.XDS.Snapshot
	line := fmt.Sprintf("version %s (generation %d), published %s, %d streams", orDash(snap.Version), snap.Generation,
		formatGoTime(snap.PublishedAt), snap.Streams)
	if snap.LastError != nil {
		line += fmt.Sprintf(", last rejected %s: %s", formatGoTime(snap.LastError.At), snap.LastError.Message)
	}
	fmt.Fprintf(tw, "snapshot:\t%s\n", line)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(doc.XDS.Nodes) == 0 {
		fmt.Fprintln(w, "no Envoy node has connected")
		return nil
	}
	fmt.Fprintln(tw, "NODE\tCLUSTER\tCONNECTED\tTYPE\tACKED\tNACKS\tLAST NACK")
	for _, n := range doc.XDS.Nodes {
		state := "since " + formatGoTime(n.ConnectedSince)
		if !n.Connected {
			state = "no (disconnected " + formatGoTime(n.DisconnectedAt) + ")"
		}
		if len(n.Types) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t0\t-\n", n.ID, orDash(n.Cluster), state)
		}
		for _, t := range n.Types {
			nack := "-"
			if t.LastNack != nil {
				nack = fmt.Sprintf("%s at %s: %s", orDash(t.LastNack.RejectedVersion), formatGoTime(t.LastNack.At),
					strings.Join(strings.Fields(t.LastNack.Message), " "))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", n.ID, orDash(n.Cluster), state, shortType(t.TypeURL),
				orDash(t.AckedVersion), t.NackCount, nack)
			if len(t.Resources) > 1 {
				// Split route configurations: which version of each the node runs (and last rejected).
				for _, r := range t.Resources {
					rejected := "-"
					if r.NackedVersion != "" {
						rejected = r.NackedVersion + " rejected"
					}
					fmt.Fprintf(tw, "\t\t\t  %s\t%s\t\t%s\n", r.Name, orDash(r.AckedVersion), rejected)
				}
			}
		}
	}
	return tw.Flush()
}

// shortType is "Listener" for "type.googleapis.com/envoy.config.listener.v3.Listener".
func shortType(url string) string {
	return url[strings.LastIndexByte(url, '.')+1:]
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
