package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/credentials"
	yamlv3 "go.yaml.in/yaml/v3"

	"github.com/proxyplus/proxyplus/authz"
	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/funchost"
	"github.com/proxyplus/proxyplus/lambdainvoke"
	"github.com/proxyplus/proxyplus/testinvoke"
	"github.com/proxyplus/proxyplus/translator"
	"github.com/proxyplus/proxyplus/xds/evaluator"
)

func runTestInvoke(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "test-invoke", "test-invoke --api FILE --stage NAME [--stage-variable k=v]... --method M --target RAW_TARGET [-H 'Name: value']... [--body-file F] [--dry-run | --function-response F [--function-error TYPE] | --local-function NAME=COMMAND... | --lambda-endpoint URL]")
	var a apiFlags
	a.register(fs)
	method := fs.String("method", "", "request method as the client sends it (required)")
	target := fs.String("target", "", "raw request target as the client sends it: /stage/path?query (required)")
	var headers multiFlag
	fs.Var(&headers, "H", "request header 'Name: value' (repeatable, in order; Host as the client sends it: the one API given answers any Host)")
	bodyFile := fs.String("body-file", "", "file holding the raw request body")
	dryRun := fs.Bool("dry-run", false, "stop before calling any backend or function: show the integration request or event only")
	functionResponse := fs.String("function-response", "", "AWS_PROXY: file holding the bytes the function returned, instead of invoking it")
	functionError := fs.String("function-error", "", "AWS_PROXY: the function failed with this X-Amz-Function-Error type (e.g. Unhandled), instead of invoking it")
	var localFns multiFlag
	fs.Var(&localFns, "local-function", "run a Lambda function locally: NAME=COMMAND (repeatable; COMMAND split like a shell)")
	lambdaEndpoint := fs.String("lambda-endpoint", "", "AWS_PROXY: invoke functions through the Lambda Invoke API at this URL, e.g. http://127.0.0.1:9001 (serve's lambdaApiAddress: the functions a running serve hosts)")
	accountID := fs.String("account-id", "000000000000", "AWS account id reported to Lambda functions as requestContext.accountId")
	jwksFile := fs.String("jwks", "", "JSON Web Key Set (JSON or YAML) used for the API's Cognito user pools instead of fetching it")
	apiKeysFile := fs.String("api-keys", "", "YAML/JSON list of {value, enabled, usagePlan: {throttle: {rateLimit, burstLimit}, quota: {limit, period}}} bound to the stage")
	if err := parse(fs, args); err != nil {
		return err
	}
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
	if !*dryRun {
		fns, err := localFunctions(localFns)
		if err != nil {
			return err
		}
		if *lambdaEndpoint != "" && (len(fns) > 0 || *functionResponse != "" || *functionError != "") {
			return usageError{fmt.Errorf("--lambda-endpoint goes with neither --local-function, --function-response nor --function-error")}
		}
		invoker, closeFunctions, err := functionInvoker(ctx, *functionResponse, *functionError, *lambdaEndpoint, fns)
		if err != nil {
			return err
		}
		defer func() { _ = closeFunctions(context.Background()) }()
		inv.Lambda = &extproc.Lambda{Invoker: invoker, AccountID: *accountID}
	}
	res, err := inv.Invoke(ctx, req)
	if err != nil {
		return err
	}
	// Literal &, <, > keep URLs and bodies readable.
	enc := json.NewEncoder(e.stdout)
	enc.SetEscapeHTML(false)
	return enc.Encode(res)
}

// functionInvoker answers with the given function output, or invokes the function for real: through the Lambda
// Invoke API at endpoint when given, else a local function when one is named so, else AWS Lambda (SDK: standard
// credentials, AWS_ENDPOINT_URL_LAMBDA honoured).
func functionInvoker(ctx context.Context, responseFile, functionError, endpoint string, local []funchost.Function) (lambdainvoke.Invoker, func(context.Context) error, error) {
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
	if responseFile == "" && functionError == "" {
		inv, _, closeFn, err := lambdaInvoker(ctx, local, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
		return inv, closeFn, err
	}
	var payload []byte
	if responseFile != "" {
		b, err := os.ReadFile(responseFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--function-response: %w", err)
		}
		payload = b
	}
	return lambdainvoke.Func(func(context.Context, string, []byte) (*lambdainvoke.Result, error) {
		return &lambdainvoke.Result{Payload: payload, FunctionError: functionError}, nil
	}), noop, nil
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
