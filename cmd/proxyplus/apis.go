package main

// The apis command: list, get, apply, delete and export API definitions through the admin API.

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/proxyplus/proxyplus/loader"
	adminv1 "github.com/proxyplus/proxyplus/proto/proxyplus/admin/v1"
)

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
