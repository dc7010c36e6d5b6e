package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	sigsyaml "sigs.k8s.io/yaml"

	adminv1 "github.com/proxyplus/proxyplus/proto/proxyplus/admin/v1"
)

const apikeysUsage = "apikeys list [--show-values] | get ID [--show-value] | create [--name N] [--value V] [--disabled] | enable ID | disable ID | delete ID | export | import -f FILE [flags]"

// runAPIKeys manages the API keys of a running proxyplus (admin API; issue 11 scope 3).
func runAPIKeys(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageError{fmt.Errorf("want a subcommand: %s", apikeysUsage)}
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "list":
		var show bool
		setup := func(fs *flag.FlagSet) { fs.BoolVar(&show, "show-values", false, "print the key values (secrets)") }
		return adminCommand(ctx, e, "apikeys list", "apikeys list [--show-values] [flags]", rest, 0, "", setup,
			func(ctx context.Context, c *adminConn, _ *adminFlags, _ []string) error {
				resp, err := c.ListApiKeys(ctx, &adminv1.ListApiKeysRequest{IncludeValue: show})
				if err != nil {
					return c.rpcError(err)
				}
				tw := newTable(e.stdout, "ID", "NAME", "ENABLED", "VALUE", "UPDATED")
				for _, k := range resp.GetApiKeys() {
					v := k.GetValue()
					if v == "" {
						v = "-"
					}
					tw.row(k.GetId(), k.GetName(), fmt.Sprint(k.GetEnabled()), v, formatTime(k.GetUpdateTime()))
				}
				return tw.flush()
			})
	case "get":
		var show bool
		setup := func(fs *flag.FlagSet) { fs.BoolVar(&show, "show-value", false, "print the key value (a secret)") }
		return adminCommand(ctx, e, "apikeys get", "apikeys get ID [--show-value] [flags]", rest, 1, "ID", setup,
			func(ctx context.Context, c *adminConn, _ *adminFlags, pos []string) error {
				resp, err := c.GetApiKey(ctx, &adminv1.GetApiKeyRequest{Id: pos[0], IncludeValue: show})
				if err != nil {
					return c.rpcError(err)
				}
				return printJSON(e.stdout, resp.GetApiKey())
			})
	case "create":
		var name, value, desc string
		var disabled bool
		setup := func(fs *flag.FlagSet) {
			fs.StringVar(&name, "name", "", "key name")
			fs.StringVar(&value, "value", "", "key value, at least 20 characters (generated when empty)")
			fs.StringVar(&desc, "description", "", "description")
			fs.BoolVar(&disabled, "disabled", false, "create the key disabled")
		}
		return adminCommand(ctx, e, "apikeys create", "apikeys create [--name N] [--value V] [--disabled] [flags]", rest, 0, "", setup,
			func(ctx context.Context, c *adminConn, _ *adminFlags, _ []string) error {
				resp, err := c.PutApiKey(ctx, &adminv1.PutApiKeyRequest{ApiKey: &adminv1.ApiKey{Name: name, Value: value, Description: desc, Enabled: !disabled}})
				if err != nil {
					return c.rpcError(err)
				}
				// The only time a generated value is shown.
				return printJSON(e.stdout, resp.GetApiKey())
			})
	case "enable", "disable":
		return adminCommand(ctx, e, "apikeys "+sub, "apikeys "+sub+" ID [flags]", rest, 1, "ID", nil,
			func(ctx context.Context, c *adminConn, _ *adminFlags, pos []string) error {
				got, err := c.GetApiKey(ctx, &adminv1.GetApiKeyRequest{Id: pos[0]})
				if err != nil {
					return c.rpcError(err)
				}
				k := got.GetApiKey()
				k.Enabled = sub == "enable"
				// An empty value keeps the stored one; the revision guards against a concurrent change.
				resp, err := c.PutApiKey(ctx, &adminv1.PutApiKeyRequest{ApiKey: k, ExpectedRevision: k.GetRevision()})
				if err != nil {
					return c.rpcError(err)
				}
				fmt.Fprintf(e.stdout, "api key %s %sd (revision %d)\n", resp.GetApiKey().GetId(), sub, resp.GetApiKey().GetRevision())
				return nil
			})
	case "delete":
		return adminCommand(ctx, e, "apikeys delete", "apikeys delete ID [flags]", rest, 1, "ID", nil,
			func(ctx context.Context, c *adminConn, _ *adminFlags, pos []string) error {
				if _, err := c.DeleteApiKey(ctx, &adminv1.DeleteApiKeyRequest{Id: pos[0]}); err != nil {
					return c.rpcError(err)
				}
				fmt.Fprintf(e.stdout, "api key %s deleted\n", pos[0])
				return nil
			})
	case "export":
		return adminCommand(ctx, e, "apikeys export", "apikeys export [flags]", rest, 0, "", nil,
			func(ctx context.Context, c *adminConn, _ *adminFlags, _ []string) error {
				resp, err := c.ExportApiKeys(ctx, &adminv1.ExportApiKeysRequest{})
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
	case "import":
		var file string
		setup := func(fs *flag.FlagSet) { fs.StringVar(&file, "f", "", "what 'apikeys export' wrote (required)") }
		return adminCommand(ctx, e, "apikeys import", "apikeys import -f FILE [flags]", rest, 0, "", setup,
			func(ctx context.Context, c *adminConn, _ *adminFlags, _ []string) error {
				if file == "" {
					return usageError{errors.New("-f is required")}
				}
				b, err := os.ReadFile(file)
				if err != nil {
					return fmt.Errorf("-f: %w", err)
				}
				resp, err := c.ImportApiKeys(ctx, &adminv1.ImportApiKeysRequest{Body: b})
				if err != nil {
					return c.rpcError(err)
				}
				fmt.Fprintf(e.stdout, "imported %d api keys, %d usage plans\n", resp.GetApiKeys(), resp.GetUsagePlans())
				return nil
			})
	case "-h", "--help", "help":
		fmt.Fprintf(e.stderr, "Usage: proxyplus %s\n\nRun 'proxyplus apikeys SUBCOMMAND --help' for the flags.\n", apikeysUsage)
		return flag.ErrHelp
	}
	return usageError{fmt.Errorf("unknown subcommand %q: %s", sub, apikeysUsage)}
}

const usageplansUsage = "usageplans list | get ID | apply -f FILE | delete ID [flags]"

// runUsagePlans manages usage plans: throttle, quota, the API stages they apply to and their keys.
func runUsagePlans(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageError{fmt.Errorf("want a subcommand: %s", usageplansUsage)}
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "list":
		return adminCommand(ctx, e, "usageplans list", "usageplans list [flags]", rest, 0, "", nil,
			func(ctx context.Context, c *adminConn, _ *adminFlags, _ []string) error {
				resp, err := c.ListUsagePlans(ctx, &adminv1.ListUsagePlansRequest{})
				if err != nil {
					return c.rpcError(err)
				}
				tw := newTable(e.stdout, "ID", "NAME", "STAGES", "THROTTLE", "QUOTA", "KEYS")
				for _, p := range resp.GetUsagePlans() {
					var stages []string
					for _, s := range p.GetApiStages() {
						stages = append(stages, s.GetRestApiId()+"/"+s.GetStage())
					}
					throttle, quota := "-", "-"
					if t := p.GetThrottle(); t != nil {
						throttle = fmt.Sprintf("%g/s burst %d", t.GetRateLimit(), t.GetBurstLimit())
					}
					if q := p.GetQuota(); q != nil {
						quota = fmt.Sprintf("%d/%s", q.GetLimit(), q.GetPeriod())
					}
					tw.row(p.GetId(), p.GetName(), strings.Join(stages, ","), throttle, quota, fmt.Sprint(len(p.GetKeyIds())))
				}
				return tw.flush()
			})
	case "get":
		return adminCommand(ctx, e, "usageplans get", "usageplans get ID [flags]", rest, 1, "ID", nil,
			func(ctx context.Context, c *adminConn, _ *adminFlags, pos []string) error {
				resp, err := c.GetUsagePlan(ctx, &adminv1.GetUsagePlanRequest{Id: pos[0]})
				if err != nil {
					return c.rpcError(err)
				}
				return printJSON(e.stdout, resp.GetUsagePlan())
			})
	case "apply":
		var file string
		setup := func(fs *flag.FlagSet) {
			fs.StringVar(&file, "f", "", "usage plan as protobuf JSON or YAML: {id, name, apiStages: [{restApiId, stage}], throttle: {rateLimit, burstLimit}, quota: {limit, period}, keyIds: [...]} (required)")
		}
		return adminCommand(ctx, e, "usageplans apply", "usageplans apply -f FILE [flags]", rest, 0, "", setup,
			func(ctx context.Context, c *adminConn, _ *adminFlags, _ []string) error {
				if file == "" {
					return usageError{errors.New("-f is required")}
				}
				p, err := readUsagePlan(file)
				if err != nil {
					return err
				}
				resp, err := c.PutUsagePlan(ctx, &adminv1.PutUsagePlanRequest{UsagePlan: p})
				if err != nil {
					return c.rpcError(err)
				}
				fmt.Fprintf(e.stdout, "usage plan %s applied (revision %d)\n", resp.GetUsagePlan().GetId(), resp.GetUsagePlan().GetRevision())
				return nil
			})
	case "delete":
		return adminCommand(ctx, e, "usageplans delete", "usageplans delete ID [flags]", rest, 1, "ID", nil,
			func(ctx context.Context, c *adminConn, _ *adminFlags, pos []string) error {
				if _, err := c.DeleteUsagePlan(ctx, &adminv1.DeleteUsagePlanRequest{Id: pos[0]}); err != nil {
					return c.rpcError(err)
				}
				fmt.Fprintf(e.stdout, "usage plan %s deleted\n", pos[0])
				return nil
			})
	case "-h", "--help", "help":
		fmt.Fprintf(e.stderr, "Usage: proxyplus %s\n\nRun 'proxyplus usageplans SUBCOMMAND --help' for the flags.\n", usageplansUsage)
		return flag.ErrHelp
	}
	return usageError{fmt.Errorf("unknown subcommand %q: %s", sub, usageplansUsage)}
}

// readUsagePlan reads a plan file (protobuf JSON, or YAML converted to it), naming the file in errors.
func readUsagePlan(file string) (*adminv1.UsagePlan, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("-f: %w", err)
	}
	j, err := yamlToJSON(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	p := &adminv1.UsagePlan{}
	if err := protojsonUnmarshal(j, p); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return p, nil
}

// table writes aligned columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, cols ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	t.row(cols...)
	return t
}

func (t *table) row(cells ...string) { fmt.Fprintln(t.tw, strings.Join(cells, "\t")) }

func (t *table) flush() error { return t.tw.Flush() }

func yamlToJSON(b []byte) ([]byte, error) { return sigsyaml.YAMLToJSON(b) }

func protojsonUnmarshal(b []byte, m proto.Message) error { return protojson.Unmarshal(b, m) }
