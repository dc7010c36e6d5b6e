package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/credentials"
	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"

	"github.com/proxyplus/proxyplus/authz"
	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/funchost"
	"github.com/proxyplus/proxyplus/lambdainvoke"
	"github.com/proxyplus/proxyplus/testinvoke"
	"github.com/proxyplus/proxyplus/translator"
	"github.com/proxyplus/proxyplus/xds/evaluator"
)

func runTestInvoke(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "test-invoke", "test-invoke --api FILE --stage NAME [--stage-variable k=v]... (--method M --target RAW_TARGET [-H 'Name: value']... [--body-file F] | --requests FILE) [--dry-run | --function-response [NAME=]F... [--function-error [NAME=]TYPE]... | --local-function NAME=COMMAND... | --lambda-endpoint URL]")
	var a apiFlags
	a.register(fs)
	method := fs.String("method", "", "request method as the client sends it (required)")
	target := fs.String("target", "", "raw request target as the client sends it: /stage/path?query (required)")
	var headers multiFlag
	fs.Var(&headers, "H", "request header 'Name: value' (repeatable, in order; Host as the client sends it: the one API given answers any Host)")
	bodyFile := fs.String("body-file", "", "file holding the raw request body")
	dryRun := fs.Bool("dry-run", false, "stop before calling any backend or function: show the integration request or event only")
	var responseFlags, errorFlags multiFlag
	fs.Var(&responseFlags, "function-response", "file holding the bytes a function returned, instead of invoking it: FILE for the integration's function, NAME=FILE for the function NAME (last segment of its ARN, or the whole ARN; e.g. a Lambda authorizer); repeatable")
	fs.Var(&errorFlags, "function-error", "a function failed with this X-Amz-Function-Error type (e.g. Unhandled) instead of being invoked: TYPE for the integration's function, NAME=TYPE for the function NAME; repeatable")
	requestsFile := fs.String("requests", "", "YAML/JSON list of {method, target, headers: [[name, value]], body | bodyBase64} sent in order with shared state (authorizer cache), one JSON object printed per request, one per line")
	var localFns multiFlag
	fs.Var(&localFns, "local-function", "run a Lambda function locally: NAME=COMMAND (repeatable; COMMAND split like a shell)")
	lambdaEndpoint := fs.String("lambda-endpoint", "", "AWS_PROXY: invoke functions through the Lambda Invoke API at this URL, e.g. http://127.0.0.1:9001 (serve's lambdaApiAddress: the functions a running serve hosts)")
	accountID := fs.String("account-id", "000000000000", "AWS account id reported to Lambda functions as requestContext.accountId")
	jwksFile := fs.String("jwks", "", "JSON Web Key Set (JSON or YAML) used for the API's Cognito user pools instead of fetching it")
	apiKeysFile := fs.String("api-keys", "", "YAML/JSON list of {value, enabled, usagePlan: {throttle: {rateLimit, burstLimit}, quota: {limit, period}}} bound to the stage")
	if err := parse(fs, args); err != nil {
		return err
	}
	var reqs []testinvoke.Request
	if *requestsFile != "" {
		if *method != "" || *target != "" || len(headers) > 0 || *bodyFile != "" {
			return usageError{fmt.Errorf("--requests goes with none of --method, --target, -H, --body-file")}
		}
		var err error
		if reqs, err = readRequests(*requestsFile); err != nil {
			return err
		}
	} else {
		if *method == "" || *target == "" {
			return usageError{fmt.Errorf("--method and --target are required")}
		}
		req := testinvoke.Request{Method: *method, Target: *target}
		for _, h := range headers {
			name, value, ok := strings.Cut(h, ":")
			if !ok || strings.TrimSpace(name) == "" {
				return usageError{fmt.Errorf("-H %q: want 'Name: value'", h)}
			}
			req.Headers = append(req.Headers, [2]string{strings.TrimSpace(name), strings.TrimSpace(value)})
		}
		if *bodyFile != "" {
			b, err := os.ReadFile(*bodyFile)
			if err != nil {
				return fmt.Errorf("--body-file: %w", err)
			}
			req.Body = b
		}
		reqs = []testinvoke.Request{req}
	}
	answers, err := cannedResponses(responseFlags, errorFlags)
	if err != nil {
		return err
	}
	in, diags, err := a.input()
	if err != nil {
		return withDiagnostics(e, diags, err)
	}
	cfg, tdiags, err := translateOne(in, translator.Options{})
	diags = append(diags, tdiags...)
	if err != nil {
		return withDiagnostics(e, diags, err)
	}
	printWarnings(e, diags.Warnings())
	inv, err := testinvoke.New(cfg)
	if err != nil {
		return err
	}
	inv.DryRun = *dryRun
	if err := authFlags(inv, *jwksFile, *apiKeysFile); err != nil {
		return err
	}
	if *dryRun {
		// Functions answered with NAME=FILE (Lambda authorizers) still answer: only integrations stop.
		if len(answers.named) > 0 {
			inv.AuthorizerInvoker = &cannedFunctions{canned: canned{named: answers.named}}
		}
	} else {
		fns, err := localFunctions(localFns)
		if err != nil {
			return err
		}
		if *lambdaEndpoint != "" && (len(fns) > 0 || !answers.empty()) {
			return usageError{fmt.Errorf("--lambda-endpoint goes with neither --local-function, --function-response nor --function-error")}
		}
		invoker, closeFunctions, err := functionInvoker(ctx, answers, *lambdaEndpoint, fns)
		if err != nil {
			return err
		}
		defer func() { _ = closeFunctions(context.Background()) }()
		inv.Lambda = &extproc.Lambda{Invoker: invoker, AccountID: *accountID}
	}
	// Literal &, <, > keep URLs and bodies readable.
	enc := json.NewEncoder(e.stdout)
	enc.SetEscapeHTML(false)
	for _, req := range reqs {
		res, err := inv.Invoke(ctx, req)
		if err != nil {
			return err
		}
		if err := enc.Encode(res); err != nil {
			return err
		}
	}
	return nil
}

// readRequests reads --requests: a YAML or JSON list of requests.
func readRequests(path string) ([]testinvoke.Request, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--requests: %w", err)
	}
	var list []struct {
		Method     string     `json:"method"`
		Target     string     `json:"target"`
		Headers    [][]string `json:"headers"`
		Body       *string    `json:"body"`
		BodyBase64 *string    `json:"bodyBase64"`
	}
	if err := yaml.UnmarshalStrict(raw, &list); err != nil {
		return nil, fmt.Errorf("--requests %s: %w", path, err)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("--requests %s: no requests", path)
	}
	out := make([]testinvoke.Request, 0, len(list))
	for i, r := range list {
		if r.Method == "" || r.Target == "" {
			return nil, fmt.Errorf("--requests %s: request %d: method and target are required", path, i)
		}
		req := testinvoke.Request{Method: r.Method, Target: r.Target}
		for j, h := range r.Headers {
			if len(h) != 2 {
				return nil, fmt.Errorf("--requests %s: request %d header %d: want [name, value]", path, i, j)
			}
			req.Headers = append(req.Headers, [2]string{h[0], h[1]})
		}
		switch {
		case r.BodyBase64 != nil:
			if req.Body, err = base64.StdEncoding.DecodeString(*r.BodyBase64); err != nil {
				return nil, fmt.Errorf("--requests %s: request %d bodyBase64: %w", path, i, err)
			}
		case r.Body != nil:
			req.Body = []byte(*r.Body)
		}
		out = append(out, req)
	}
	return out, nil
}

// canned holds the function answers given on the command line: unnamed for the integration's function (and any
// function not named), named by function name or ARN.
type canned struct {
	unnamed *lambdainvoke.Result
	named   map[string]*lambdainvoke.Result
}

func (c canned) empty() bool { return c.unnamed == nil && len(c.named) == 0 }

// cannedResponses parses --function-response [NAME=]FILE and --function-error [NAME=]TYPE. A value is named when
// the part before its first '=' is non-empty and holds no path separator (a file "./a=b" stays a file).
func cannedResponses(responses, errs []string) (canned, error) {
	var c canned
	get := func(name string) *lambdainvoke.Result {
		if name == "" {
			if c.unnamed == nil {
				c.unnamed = &lambdainvoke.Result{}
			}
			return c.unnamed
		}
		if c.named == nil {
			c.named = map[string]*lambdainvoke.Result{}
		}
		if c.named[name] == nil {
			c.named[name] = &lambdainvoke.Result{}
		}
		return c.named[name]
	}
	split := func(v string) (string, string) {
		if name, rest, ok := strings.Cut(v, "="); ok && name != "" && !strings.ContainsAny(name, `/\`) {
			return name, rest
		}
		return "", v
	}
	for _, v := range responses {
		name, file := split(v)
		b, err := os.ReadFile(file)
		if err != nil {
			return c, fmt.Errorf("--function-response: %w", err)
		}
		get(name).Payload = b
	}
	for _, v := range errs {
		name, typ := split(v)
		if typ == "" {
			return c, usageError{fmt.Errorf("--function-error %q: no error type", v)}
		}
		get(name).FunctionError = typ
	}
	return c, nil
}

// cannedFunctions answers invocations from canned answers: the function's own (by the last segment of its ARN or
// the whole ARN), else a local function of that name, else the unnamed answer, else fallback (nil: an error
// naming the function).
type cannedFunctions struct {
	canned
	fallback lambdainvoke.Invoker
	local    func(function string) bool
}

func (f *cannedFunctions) Invoke(ctx context.Context, function string, payload []byte) (*lambdainvoke.Result, error) {
	if r, ok := f.named[function]; ok {
		return r, nil
	}
	if r, ok := f.named[functionName(function)]; ok {
		return r, nil
	}
	if f.local != nil && f.local(function) {
		return f.fallback.Invoke(ctx, function, payload)
	}
	if f.unnamed != nil {
		return f.unnamed, nil
	}
	if f.fallback != nil {
		return f.fallback.Invoke(ctx, function, payload)
	}
	return nil, fmt.Errorf("function %s: no --function-response or --function-error names it (dry run)", function)
}

// functionName is the function's name: the segment after "function:" of a Lambda ARN, else the value itself.
func functionName(fn string) string {
	if strings.HasPrefix(fn, "arn:") {
		if parts := strings.Split(fn, ":"); len(parts) >= 7 && parts[5] == "function" {
			return parts[6]
		}
	}
	return fn
}

// functionInvoker answers with the given function outputs, or invokes the function for real: through the Lambda
// Invoke API at endpoint when given, else a local function when one is named so, else AWS Lambda (SDK: standard
// credentials, AWS_ENDPOINT_URL_LAMBDA honoured). Functions named in c answer from c; with an unnamed answer,
// every other function answers it too.
func functionInvoker(ctx context.Context, c canned, endpoint string, local []funchost.Function) (lambdainvoke.Invoker, func(context.Context) error, error) {
	noop := func(context.Context) error { return nil }
	if endpoint != "" {
		// A local Invoke API (serve's, sam local start-lambda, the runtime interface emulator) checks no
		// signature, so fixed credentials spare users an AWS profile; a real endpoint would refuse them.
		inv, err := lambdainvoke.NewAWS(ctx, lambdainvoke.Options{
			Endpoint:    endpoint,
			Credentials: credentials.NewStaticCredentialsProvider("proxyplus", "proxyplus", ""),
			Region:      "us-east-1",
		})
		if err != nil {
			return nil, nil, fmt.Errorf("--lambda-endpoint: %w", err)
		}
		return inv, noop, nil
	}
	if c.unnamed != nil && len(local) == 0 {
		return &cannedFunctions{canned: c}, noop, nil
	}
	inv, _, closeFn, err := lambdaInvoker(ctx, local, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), nil)
	if err != nil {
		return nil, nil, err
	}
	if c.empty() {
		return inv, closeFn, nil
	}
	cf := &cannedFunctions{canned: c, fallback: inv}
	if r, ok := inv.(*lambdainvoke.Routing); ok {
		// A local function runs even with an unnamed answer: --local-function auth=... --function-response F runs
		// the authorizer and answers for the integration.
		cf.local = r.IsLocal
	}
	return cf, closeFn, nil
}

// authFlags loads --jwks and --api-keys into the invoker.
func authFlags(inv *testinvoke.Invoker, jwksFile, apiKeysFile string) error {
	if jwksFile != "" {
		b, err := os.ReadFile(jwksFile)
		if err != nil {
			return fmt.Errorf("--jwks: %w", err)
		}
		// YAML 1.2 (a JWK's "n" stays a string), which also reads JSON.
		var doc any
		if err := yamlv3.Unmarshal(b, &doc); err != nil {
			return fmt.Errorf("--jwks %s: %w", jwksFile, err)
		}
		j, err := json.Marshal(doc)
		if err != nil {
			return fmt.Errorf("--jwks %s: %w", jwksFile, err)
		}
		if inv.JWKS, err = evaluator.ParseJWKS(j); err != nil {
			return fmt.Errorf("--jwks %s: %w", jwksFile, err)
		}
	}
	if apiKeysFile != "" {
		b, err := os.ReadFile(apiKeysFile)
		if err != nil {
			return fmt.Errorf("--api-keys: %w", err)
		}
		if inv.Authz.Keys, err = authz.ParseKeyFile(apiKeysFile, b); err != nil {
			return fmt.Errorf("--api-keys: %w", err)
		}
	}
	return nil
}
