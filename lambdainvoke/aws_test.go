package lambdainvoke

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
)

func newAWS(t *testing.T, opts Options) Invoker {
	t.Helper()
	inv, err := NewAWS(t.Context(), opts)
	if err != nil {
		t.Fatalf("NewAWS: %v", err)
	}
	return inv
}

func TestInvokeRequest(t *testing.T) {
	const arn = "arn:aws:lambda:eu-west-1:123456789012:function:my-fn"
	const escapedARN = "arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3Amy-fn"
	tests := []struct {
		function       string
		wantURI        string
		wantFunction   string
		wantQualifier  string
		wantHasQual    bool
		wantSignRegion string
	}{
		{"my-fn", "/2015-03-31/functions/my-fn/invocations", "my-fn", "", false, "us-east-1"},
		// A name keeps its qualifier: Lambda reads it from FunctionName.
		{"my-fn:live", "/2015-03-31/functions/my-fn%3Alive/invocations", "my-fn:live", "", false, "us-east-1"},
		{arn, "/2015-03-31/functions/" + escapedARN + "/invocations", arn, "", false, "eu-west-1"},
		{arn + ":live", "/2015-03-31/functions/" + escapedARN + "/invocations?Qualifier=live", arn, "live", true, "eu-west-1"},
		{arn + ":7", "/2015-03-31/functions/" + escapedARN + "/invocations?Qualifier=7", arn, "7", true, "eu-west-1"},
		{arn + ":$LATEST", "/2015-03-31/functions/" + escapedARN + "/invocations?Qualifier=%24LATEST", arn, "$LATEST", true, "eu-west-1"},
		{"arn:aws:lambda:ap-southeast-2:123456789012:function:other", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aap-southeast-2%3A123456789012%3Afunction%3Aother/invocations",
			"arn:aws:lambda:ap-southeast-2:123456789012:function:other", "", false, "ap-southeast-2"},
		// A partial ARN has no region: the default region.
		{"123456789012:function:my-fn:live", "/2015-03-31/functions/123456789012%3Afunction%3Amy-fn/invocations?Qualifier=live",
			"123456789012:function:my-fn", "live", true, "us-east-1"},
	}
	// Not valid UTF-8 and not JSON: the payload is bytes.
	payload := []byte("{\"body\":\"caf\xc3\xa9\",\"raw\":\"\xff\x00\xfe\"}\n")
	for _, tt := range tests {
		t.Run(tt.function, func(t *testing.T) {
			awsEnv(t)
			fake := newFakeLambda(t, nil)
			inv := newAWS(t, Options{Endpoint: fake.URL})
			res, err := inv.Invoke(t.Context(), tt.function, payload)
			if err != nil {
				t.Fatalf("Invoke: %v", err)
			}
			c := fake.only(t)
			want := call{
				Method:     http.MethodPost,
				RequestURI: tt.wantURI,
				Function:   tt.wantFunction,
				Qualifier:  tt.wantQualifier,
				HasQual:    tt.wantHasQual,
				InvType:    "RequestResponse",
				Host:       strings.TrimPrefix(fake.URL, "http://"),
				AccessKey:  "AKIDPROXYPLUSTEST",
				Region:     tt.wantSignRegion,
				Service:    "lambda",
				Body:       payload,
			}
			if c.LogType != "" && c.LogType != "None" {
				t.Errorf("X-Amz-Log-Type = %q, want none", c.LogType)
			}
			c.LogType = ""
			if diff := cmp.Diff(want, c); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(&Result{Payload: payload, ExecutedVersion: "$LATEST"}, res); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInvokeEmptyPayload(t *testing.T) {
	awsEnv(t)
	fake := newFakeLambda(t, func(w http.ResponseWriter, _ *http.Request, _ call) {
		w.Header().Set("X-Amz-Executed-Version", "3")
		_, _ = w.Write([]byte("null"))
	})
	res, err := newAWS(t, Options{Endpoint: fake.URL}).Invoke(t.Context(), "f", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := fake.only(t); len(c.Body) != 0 {
		t.Errorf("body = %q, want empty", c.Body)
	}
	if string(res.Payload) != "null" || res.ExecutedVersion != "3" || res.FunctionError != "" {
		t.Errorf("result = %+v", res)
	}
}

func TestFunctionError(t *testing.T) {
	for _, kind := range []string{"Unhandled", "Handled"} {
		t.Run(kind, func(t *testing.T) {
			awsEnv(t)
			const payload = `{"errorMessage":"boom","errorType":"Error","stackTrace":["at handler (/var/task/index.js:3:9)"]}`
			fake := newFakeLambda(t, func(w http.ResponseWriter, _ *http.Request, _ call) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("X-Amz-Executed-Version", "12")
				w.Header().Set("X-Amz-Function-Error", kind)
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write([]byte(payload))
			})
			res, err := newAWS(t, Options{Endpoint: fake.URL}).Invoke(t.Context(), "f", []byte(`{}`))
			if err != nil {
				t.Fatalf("a function error must not be a Go error: %v", err)
			}
			want := &Result{Payload: []byte(payload), FunctionError: kind, ExecutedVersion: "12"}
			if diff := cmp.Diff(want, res); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInvokeAPIErrors(t *testing.T) {
	sentinels := []error{ErrThrottled, ErrNotFound, ErrAccessDenied, ErrPayloadTooLarge}
	tests := []struct {
		name       string
		status     int
		errorType  string // X-Amzn-ErrorType
		body       string
		want       error // the sentinel, nil for none
		wantCode   string
		wantMsg    string
		modelledAs any // a pointer to the SDK's exception type errors.As must find, or nil
	}{
		{"not found", 404, "ResourceNotFoundException",
			`{"Type":"User","Message":"Function not found: arn:aws:lambda:us-east-1:123456789012:function:f"}`,
			ErrNotFound, "ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:123456789012:function:f",
			new(*types.ResourceNotFoundException)},
		{"throttled", 429, "TooManyRequestsException",
			`{"Reason":"ReservedFunctionConcurrentInvocationLimitExceeded","Type":"User","message":"Rate Exceeded."}`,
			ErrThrottled, "TooManyRequestsException", "Rate Exceeded.", new(*types.TooManyRequestsException)},
		{"throttled, coral suffix", 429, "TooManyRequestsException:http://internal.amazon.com/coral/com.amazon.awsgirapi/",
			`{"Type":"User","message":"Rate Exceeded."}`, ErrThrottled, "TooManyRequestsException", "Rate Exceeded.",
			new(*types.TooManyRequestsException)},
		{"throttled, code only in body", 429, "", `{"__type":"TooManyRequestsException","message":"Rate Exceeded."}`,
			ErrThrottled, "TooManyRequestsException", "Rate Exceeded.", new(*types.TooManyRequestsException)},
		{"access denied", 403, "AccessDeniedException",
			`{"Message":"User: arn:aws:sts::123456789012:assumed-role/gw/x is not authorized to perform: lambda:InvokeFunction"}`,
			ErrAccessDenied, "AccessDeniedException",
			"User: arn:aws:sts::123456789012:assumed-role/gw/x is not authorized to perform: lambda:InvokeFunction", nil},
		// Rejected credentials are not AccessDeniedException (OUT-3: 502, not 500).
		{"bad signature", 403, "InvalidSignatureException", `{"message":"The request signature we calculated does not match"}`,
			nil, "InvalidSignatureException", "The request signature we calculated does not match", nil},
		{"access denied (status only)", 403, "", `{"message":"Forbidden"}`,
			ErrAccessDenied, "UnknownError", "Forbidden", nil},
		{"throttled (status only)", 429, "", `{"message":"Slow down"}`,
			ErrThrottled, "UnknownError", "Slow down", nil},
		// The code Lambda sends for an oversized request is not the one in the API model.
		{"too large (wire code)", 413, "RequestEntityTooLargeException",
			`{"Type":"User","message":"Request must be smaller than 6291456 bytes for the InvokeFunction operation"}`,
			ErrPayloadTooLarge, "RequestEntityTooLargeException", "Request must be smaller than 6291456 bytes for the InvokeFunction operation", nil},
		{"too large (model code)", 413, "RequestTooLargeException", `{"Type":"User","message":"too large"}`,
			ErrPayloadTooLarge, "RequestTooLargeException", "too large", new(*types.RequestTooLargeException)},
		{"too large (status only)", 413, "", `{"message":"Request Entity Too Large"}`,
			ErrPayloadTooLarge, "UnknownError", "Request Entity Too Large", nil},
		{"service error", 500, "ServiceException", `{"Type":"Service","Message":"internal"}`,
			nil, "ServiceException", "internal", new(*types.ServiceException)},
		// Lambda's own throttling by EC2 is a 502 to the caller, not throttling of the caller.
		{"EC2 throttled", 502, "EC2ThrottledException", `{"Type":"Service","message":"ec2"}`,
			nil, "EC2ThrottledException", "ec2", new(*types.EC2ThrottledException)},
		{"invalid request content", 400, "InvalidRequestContentException", `{"Type":"User","message":"Could not parse request body into json"}`,
			nil, "InvalidRequestContentException", "Could not parse request body into json", new(*types.InvalidRequestContentException)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			awsEnv(t)
			fake := newFakeLambda(t, lambdaError(tt.status, tt.errorType, tt.body))
			const fn = "arn:aws:lambda:us-east-1:123456789012:function:f:live"
			res, err := newAWS(t, Options{Endpoint: fake.URL}).Invoke(t.Context(), fn, []byte(`{}`))
			if err == nil {
				t.Fatalf("Invoke = %+v, want an error", res)
			}
			fake.only(t) // no retries
			for _, s := range sentinels {
				if got := errors.Is(err, s); got != (s == tt.want) {
					t.Errorf("errors.Is(err, %v) = %v, want %v (err: %v)", s, got, !got, err)
				}
			}
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				t.Errorf("err wraps a context error: %v", err)
			}
			var ie *InvokeError
			if !errors.As(err, &ie) {
				t.Fatalf("err is %T, want *InvokeError", err)
			}
			if ie.Function != fn || ie.Code != tt.wantCode || ie.Message != tt.wantMsg || ie.StatusCode != tt.status || ie.Class != tt.want {
				t.Errorf("InvokeError = {Function:%q Code:%q Message:%q StatusCode:%d Class:%v}, want {%q %q %q %d %v}",
					ie.Function, ie.Code, ie.Message, ie.StatusCode, ie.Class, fn, tt.wantCode, tt.wantMsg, tt.status, tt.want)
			}
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tt.wantCode {
				t.Errorf("errors.As(err, smithy.APIError) does not find code %q: %v", tt.wantCode, err)
			}
			if tt.modelledAs != nil && !errors.As(err, tt.modelledAs) {
				t.Errorf("errors.As(err, %T) = false: %v", tt.modelledAs, err)
			}
			if !strings.Contains(err.Error(), fn) || !strings.Contains(err.Error(), tt.wantCode) {
				t.Errorf("err.Error() = %q, want the function and the code in it", err)
			}
		})
	}
}

// blockingLambda answers only when the client goes away (or the test ends); started is closed when the request
// arrived.
func blockingLambda(t *testing.T) (fake *fakeLambda, started <-chan struct{}) {
	st := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	fake = newFakeLambda(t, func(w http.ResponseWriter, r *http.Request, _ call) {
		once.Do(func() { close(st) })
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before fake.Close
	return fake, st
}

func TestInvokeDeadline(t *testing.T) {
	awsEnv(t)
	fake, started := blockingLambda(t)
	inv := newAWS(t, Options{Endpoint: fake.URL})
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	res, err := inv.Invoke(ctx, "slow", []byte(`{}`))
	if err == nil {
		t.Fatalf("Invoke = %+v, want an error", res)
	}
	select {
	case <-started: // the deadline ended an invocation in progress
	default:
		t.Errorf("the request did not reach Lambda before the deadline: %v", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("errors.Is(err, context.DeadlineExceeded) = false: %v", err)
	}
	for _, s := range []error{ErrThrottled, ErrNotFound, ErrAccessDenied, ErrPayloadTooLarge, context.Canceled} {
		if errors.Is(err, s) {
			t.Errorf("errors.Is(err, %v) = true: %v", s, err)
		}
	}
}

func TestInvokeCanceled(t *testing.T) {
	awsEnv(t)
	fake, started := blockingLambda(t)
	inv := newAWS(t, Options{Endpoint: fake.URL})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-started
		cancel()
	}()
	_, err := inv.Invoke(ctx, "slow", []byte(`{}`))
	if !errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestInvokeConcurrent(t *testing.T) {
	awsEnv(t)
	fake := newFakeLambda(t, nil)
	inv := newAWS(t, Options{Endpoint: fake.URL})
	regions := []string{"us-east-1", "eu-west-1", "eu-central-1", "ap-northeast-1", ""} // "": a name, default region
	const perRegion = 40
	var wg sync.WaitGroup
	for _, region := range regions {
		for i := range perRegion {
			wg.Go(func() {
				fn := "plain-fn"
				if region != "" {
					fn = fmt.Sprintf("arn:aws:lambda:%s:123456789012:function:fn-%d:live", region, i)
				}
				payload := fmt.Appendf(nil, `{"region":%q,"i":%d}`, region, i)
				res, err := inv.Invoke(t.Context(), fn, payload)
				if err != nil {
					t.Errorf("Invoke(%s): %v", fn, err)
					return
				}
				if !bytes.Equal(res.Payload, payload) {
					t.Errorf("Invoke(%s) payload = %s, want %s", fn, res.Payload, payload)
				}
			})
		}
	}
	wg.Wait()
	calls := fake.Calls()
	if len(calls) != len(regions)*perRegion {
		t.Fatalf("fake received %d requests, want %d", len(calls), len(regions)*perRegion)
	}
	for _, c := range calls {
		want := "us-east-1"
		if f := ParseFunction(c.Function); f.Region != "" {
			want = f.Region
		}
		wantQual := ""
		if c.Function != "plain-fn" {
			wantQual = "live"
		}
		if c.Region != want || c.Qualifier != wantQual || c.HasQual != (wantQual != "") {
			t.Errorf("request for %s signed for %q with qualifier %q, want %q and %q", c.Function, c.Region, c.Qualifier, want, wantQual)
		}
		if !strings.Contains(string(c.Body), fmt.Sprintf(`"region":%q`, ParseFunction(c.Function).Region)) {
			t.Errorf("request for %s carried payload %s", c.Function, c.Body)
		}
	}
	a := inv.(*awsInvoker)
	a.mu.Lock()
	n := len(a.clients)
	a.mu.Unlock()
	if n != 4 { // us-east-1 serves both its ARNs and the name
		t.Errorf("%d clients cached, want one per region (4)", n)
	}
}

func TestRegionalEndpoint(t *testing.T) {
	tests := []struct{ function, wantHost string }{
		{"my-fn", "lambda.us-east-1.amazonaws.com"},
		{"arn:aws:lambda:eu-west-3:123456789012:function:f:prod", "lambda.eu-west-3.amazonaws.com"},
		{"arn:aws-cn:lambda:cn-north-1:123456789012:function:f", "lambda.cn-north-1.amazonaws.com.cn"},
		{"arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f", "lambda.us-gov-west-1.amazonaws.com"},
	}
	for _, tt := range tests {
		t.Run(tt.function, func(t *testing.T) {
			awsEnv(t)
			hc := &captureClient{}
			res, err := newAWS(t, Options{HTTPClient: hc}).Invoke(t.Context(), tt.function, []byte(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			if res.ExecutedVersion != "1" {
				t.Errorf("ExecutedVersion = %q", res.ExecutedVersion)
			}
			if diff := cmp.Diff([]string{tt.wantHost}, hc.hosts()); diff != "" {
				t.Errorf("hosts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEndpointConfiguration(t *testing.T) {
	t.Run("AWS_ENDPOINT_URL_LAMBDA", func(t *testing.T) {
		awsEnv(t)
		fake := newFakeLambda(t, nil)
		t.Setenv("AWS_ENDPOINT_URL_LAMBDA", fake.URL)
		if _, err := newAWS(t, Options{}).Invoke(t.Context(), "arn:aws:lambda:eu-west-1:123456789012:function:f", nil); err != nil {
			t.Fatal(err)
		}
		if c := fake.only(t); c.Region != "eu-west-1" {
			t.Errorf("signed for %q, want the ARN's region eu-west-1", c.Region)
		}
	})
	t.Run("AWS_ENDPOINT_URL", func(t *testing.T) {
		awsEnv(t)
		fake := newFakeLambda(t, nil)
		t.Setenv("AWS_ENDPOINT_URL", fake.URL)
		if _, err := newAWS(t, Options{}).Invoke(t.Context(), "f", nil); err != nil {
			t.Fatal(err)
		}
		fake.only(t)
	})
	t.Run("AWS_ENDPOINT_URL_LAMBDA over AWS_ENDPOINT_URL", func(t *testing.T) {
		awsEnv(t)
		fake, other := newFakeLambda(t, nil), newFakeLambda(t, nil)
		t.Setenv("AWS_ENDPOINT_URL", other.URL)
		t.Setenv("AWS_ENDPOINT_URL_LAMBDA", fake.URL)
		if _, err := newAWS(t, Options{}).Invoke(t.Context(), "f", nil); err != nil {
			t.Fatal(err)
		}
		fake.only(t)
		if n := len(other.Calls()); n != 0 {
			t.Errorf("AWS_ENDPOINT_URL received %d requests", n)
		}
	})
	t.Run("Options.Endpoint over AWS_ENDPOINT_URL_LAMBDA", func(t *testing.T) {
		awsEnv(t)
		fake, other := newFakeLambda(t, nil), newFakeLambda(t, nil)
		t.Setenv("AWS_ENDPOINT_URL_LAMBDA", other.URL)
		if _, err := newAWS(t, Options{Endpoint: fake.URL}).Invoke(t.Context(), "f", nil); err != nil {
			t.Fatal(err)
		}
		fake.only(t)
		if n := len(other.Calls()); n != 0 {
			t.Errorf("AWS_ENDPOINT_URL_LAMBDA received %d requests", n)
		}
	})
	t.Run("shared config services section", func(t *testing.T) {
		awsEnv(t)
		fake := newFakeLambda(t, nil)
		cfg := fmt.Sprintf("[default]\nservices = local\n\n[services local]\nlambda =\n  endpoint_url = %s\n", fake.URL)
		if err := os.WriteFile(os.Getenv("AWS_CONFIG_FILE"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := newAWS(t, Options{}).Invoke(t.Context(), "f", nil); err != nil {
			t.Fatal(err)
		}
		fake.only(t)
	})
	t.Run("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", func(t *testing.T) {
		awsEnv(t)
		fake := newFakeLambda(t, nil)
		t.Setenv("AWS_ENDPOINT_URL_LAMBDA", fake.URL)
		t.Setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
		hc := &captureClient{}
		if _, err := newAWS(t, Options{HTTPClient: hc}).Invoke(t.Context(), "f", nil); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"lambda.us-east-1.amazonaws.com"}, hc.hosts()); diff != "" {
			t.Errorf("hosts (-want +got):\n%s", diff)
		}
	})
}

func TestOptions(t *testing.T) {
	t.Run("Region and Credentials", func(t *testing.T) {
		awsEnv(t)
		fake := newFakeLambda(t, nil)
		inv := newAWS(t, Options{Endpoint: fake.URL, Region: "sa-east-1",
			Credentials: credentials.NewStaticCredentialsProvider("AKIDOPTIONS", "s", "")})
		if _, err := inv.Invoke(t.Context(), "f", nil); err != nil {
			t.Fatal(err)
		}
		if c := fake.only(t); c.Region != "sa-east-1" || c.AccessKey != "AKIDOPTIONS" {
			t.Errorf("signed for %q with %q, want sa-east-1 with AKIDOPTIONS", c.Region, c.AccessKey)
		}
	})
	t.Run("no default region", func(t *testing.T) {
		awsEnv(t)
		unsetenv(t, "AWS_REGION")
		fake := newFakeLambda(t, nil)
		inv := newAWS(t, Options{Endpoint: fake.URL})
		if _, err := inv.Invoke(t.Context(), "f", nil); err == nil || !strings.Contains(err.Error(), "region") {
			t.Errorf("Invoke of a name without a default region: err = %v, want a region error", err)
		}
		if n := len(fake.Calls()); n != 0 {
			t.Errorf("%d requests sent", n)
		}
		// A full ARN names its region.
		if _, err := inv.Invoke(t.Context(), "arn:aws:lambda:us-west-2:123456789012:function:f", nil); err != nil {
			t.Fatal(err)
		}
		if c := fake.only(t); c.Region != "us-west-2" {
			t.Errorf("signed for %q, want us-west-2", c.Region)
		}
	})
	t.Run("MaxAttempts", func(t *testing.T) {
		awsEnv(t)
		t.Setenv("AWS_MAX_ATTEMPTS", "5")
		for _, tt := range []struct{ opt, want int }{{0, 1}, {1, 1}, {3, 3}} {
			inv := newAWS(t, Options{Endpoint: "http://127.0.0.1:1", MaxAttempts: tt.opt}).(*awsInvoker)
			if got := inv.client("us-east-1").Options().Retryer.MaxAttempts(); got != tt.want {
				t.Errorf("MaxAttempts %d: retryer allows %d attempts, want %d", tt.opt, got, tt.want)
			}
		}
	})
	t.Run("invalid", func(t *testing.T) {
		awsEnv(t)
		for _, o := range []Options{{Endpoint: "localhost:4566"}, {Endpoint: "ftp://x"}, {Endpoint: "http://"}, {MaxAttempts: -1}} {
			if _, err := NewAWS(t.Context(), o); err == nil {
				t.Errorf("NewAWS(%+v) succeeded", o)
			}
		}
		inv := newAWS(t, Options{Endpoint: "http://127.0.0.1:1"})
		if _, err := inv.Invoke(t.Context(), "", nil); err == nil {
			t.Error("Invoke of an empty function name succeeded")
		}
	})
	t.Run("bad shared config", func(t *testing.T) {
		awsEnv(t)
		t.Setenv("AWS_PROFILE", "missing")
		if _, err := NewAWS(t.Context(), Options{}); err == nil {
			t.Error("NewAWS with a missing profile succeeded")
		}
	})
}

// The trace header the context carries goes out as X-Amzn-Trace-Id on Invoke; without one none is sent.
func TestInvokeTraceHeader(t *testing.T) {
	awsEnv(t)
	fake := newFakeLambda(t, nil)
	inv := newAWS(t, Options{Endpoint: fake.URL})
	const trace = "Root=1-67c75145-5f0c3b2a9d1e4f6a7b8c9d0e;Parent=53995c3f42cd8ad8;Sampled=0"
	if _, err := inv.Invoke(WithTraceHeader(t.Context(), trace), "my-fn", []byte("{}")); err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	if got := fake.only(t).Trace; got != trace {
		t.Errorf("X-Amzn-Trace-Id = %q, want %q", got, trace)
	}
}
