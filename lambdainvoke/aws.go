package lambdainvoke

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Options configure NewAWS. The zero value uses the SDK's defaults throughout.
type Options struct {
	// Region is used for functions given without a region (names and partial ARNs). Empty: the default config's
	// region (AWS_REGION, AWS_DEFAULT_REGION, the profile's region).
	Region string
	// Endpoint is the Lambda endpoint for every region, e.g. http://localhost:4566 (LocalStack),
	// http://127.0.0.1:3001 (sam local start-lambda) or http://localhost:9000 (runtime interface emulator). It takes
	// precedence over the SDK's own configuration, which NewAWS otherwise follows: AWS_ENDPOINT_URL_LAMBDA,
	// AWS_ENDPOINT_URL, the shared config file's endpoint_url / services section (unless
	// AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true), else the regional AWS endpoint; that configuration is read once,
	// by NewAWS. Requests are still signed with the function's region.
	Endpoint string
	// MaxAttempts bounds the SDK's attempts per invocation. 0 means 1: no retries, so a function never runs twice
	// for one request and throttling reaches the caller at once; only a request that cannot have been sent (no
	// connection, or a keep-alive connection the server had closed) is sent again, within the attempt (retry.go).
	// Above 1 the SDK's standard retryer retries throttling and transient errors with backoff, within the
	// context's deadline.
	MaxAttempts int
	// Credentials replace the standard credential chain when set, e.g. static credentials for an emulator.
	Credentials aws.CredentialsProvider
	// HTTPClient replaces the SDK's HTTP client when set. With a custom CA bundle (AWS_CA_BUNDLE, ca_bundle in
	// the shared config) the SDK accepts only its own *awshttp.BuildableClient here.
	HTTPClient interface {
		Do(*http.Request) (*http.Response, error)
	}
	// LoadOptions are passed on to config.LoadDefaultConfig (e.g. config.WithSharedConfigProfile).
	LoadOptions []func(*config.LoadOptions) error
}

// NewAWS builds an Invoker on the Lambda API (aws-sdk-go-v2). Configuration comes from config.LoadDefaultConfig:
// the standard credential chain, region and endpoint settings. A function given as a full ARN is invoked in the
// ARN's region, anything else in the default region; one client per region is created on first use and cached.
// A qualifier on a full or partial ARN is sent as Invoke's Qualifier parameter; function names are sent as given.
// The returned Invoker is safe for concurrent use.
func NewAWS(ctx context.Context, opts Options) (Invoker, error) {
	if opts.Endpoint != "" {
		u, err := url.Parse(opts.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("lambda endpoint %q: want an http or https URL", opts.Endpoint)
		}
	}
	if opts.MaxAttempts < 0 {
		return nil, fmt.Errorf("lambda MaxAttempts %d: want 0 or more", opts.MaxAttempts)
	}
	load := append([]func(*config.LoadOptions) error(nil), opts.LoadOptions...)
	if opts.Region != "" {
		load = append(load, config.WithRegion(opts.Region))
	}
	if opts.Credentials != nil {
		load = append(load, config.WithCredentialsProvider(opts.Credentials))
	}
	if opts.HTTPClient != nil {
		load = append(load, config.WithHTTPClient(opts.HTTPClient))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	inv := &awsInvoker{cfg: cfg, maxAttempts: max(opts.MaxAttempts, 1), clients: map[string]*lambda.Client{},
		ownClient: opts.HTTPClient == nil}
	// The SDK resolves the configured endpoint (AWS_ENDPOINT_URL_LAMBDA, AWS_ENDPOINT_URL, shared config) when a
	// client is created. Resolve it once here so that every regional client uses the same one.
	if opts.Endpoint != "" {
		inv.endpoint = aws.String(opts.Endpoint)
	} else if ep := lambda.NewFromConfig(cfg).Options().BaseEndpoint; ep != nil {
		inv.endpoint = aws.String(*ep)
	}
	return inv, nil
}

// maxIdleConns is how many idle keep-alive connections to the Invoke API NewAWS keeps per host.
const maxIdleConns = 256

type awsInvoker struct {
	cfg         aws.Config
	endpoint    *string // nil: the regional AWS endpoint
	maxAttempts int
	ownClient   bool // the HTTP client is the SDK's default, which NewAWS may tune

	mu      sync.Mutex
	clients map[string]*lambda.Client // by region
}

func (a *awsInvoker) client(region string) *lambda.Client {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.clients[region]
	if !ok {
		c = lambda.NewFromConfig(a.cfg, func(o *lambda.Options) {
			o.Region = region
			o.BaseEndpoint = a.endpoint
			o.RetryMaxAttempts = a.maxAttempts
			if b, ok := o.HTTPClient.(*awshttp.BuildableClient); ok && a.ownClient {
				// The SDK keeps 10 idle connections per host (awshttp.DefaultHTTPTransportMaxIdleConnsPerHost):
				// under more concurrent invocations every request beyond them opens and closes a connection,
				// which wastes ports (TIME_WAIT) and time.
				o.HTTPClient = b.WithTransportOptions(func(tr *http.Transport) {
					tr.MaxIdleConns = max(tr.MaxIdleConns, maxIdleConns)
					tr.MaxIdleConnsPerHost = max(tr.MaxIdleConnsPerHost, maxIdleConns)
				})
			}
			o.HTTPClient = &sendRetrier{next: o.HTTPClient}
		})
		a.clients[region] = c
	}
	return c
}

func (a *awsInvoker) Invoke(ctx context.Context, function string, payload []byte) (*Result, error) {
	if function == "" {
		return nil, errors.New("invoke: empty function name")
	}
	name, qualifier, region := invokeTarget(function)
	if region == "" {
		region = a.cfg.Region
	}
	if region == "" {
		return nil, fmt.Errorf("invoke %s: no region: the function is not a full ARN and no default region is configured (AWS_REGION or Options.Region)", function)
	}
	in := &lambda.InvokeInput{
		FunctionName:   aws.String(name),
		InvocationType: types.InvocationTypeRequestResponse,
		Payload:        payload,
	}
	if qualifier != "" {
		in.Qualifier = aws.String(qualifier)
	}
	// sendRetrier reads the payload from the context to rewind the request body (retry.go).
	var opts []func(*lambda.Options)
	if h := TraceHeader(ctx); h != "" {
		// The trace continues into the function: Lambda reads X-Amzn-Trace-Id on Invoke.
		opts = append(opts, func(o *lambda.Options) {
			o.APIOptions = append(o.APIOptions, smithyhttp.SetHeaderValue("X-Amzn-Trace-Id", h))
		})
	}
	out, err := a.client(region).Invoke(context.WithValue(ctx, payloadKey{}, payload), in, opts...)
	if err != nil {
		return nil, classifySDKError(ctx, function, err)
	}
	return &Result{
		Payload:         out.Payload,
		FunctionError:   aws.ToString(out.FunctionError),
		ExecutedVersion: aws.ToString(out.ExecutedVersion),
	}, nil
}

// classifySDKError wraps an error of the Lambda client in an InvokeError.
func classifySDKError(ctx context.Context, function string, err error) error {
	e := &InvokeError{Function: function, Err: err}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		e.Code, e.Message = apiErr.ErrorCode(), apiErr.ErrorMessage()
	}
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) {
		e.StatusCode = respErr.HTTPStatusCode()
	}
	var withID interface{ ServiceRequestID() string }
	if errors.As(err, &withID) {
		e.RequestID = withID.ServiceRequestID()
	}
	if e.Code != "" || e.StatusCode != 0 {
		e.Class = classifyCode(e.Code, e.StatusCode)
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		e.ctxErr = cerr
	}
	return e
}
