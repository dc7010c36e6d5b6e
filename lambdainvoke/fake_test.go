package lambdainvoke

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// awsEnv gives the test a clean, offline AWS environment: static credentials, region us-east-1, no shared config
// files, no IMDS, no endpoint overrides.
func awsEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LAMBDA", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
		"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_DEFAULT_REGION", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE",
		"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT",
		"AWS_CA_BUNDLE", // with a custom CA bundle the SDK refuses an HTTP client that is not its own
	} {
		unsetenv(t, k)
	}
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDPROXYPLUSTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_SESSION_TOKEN", "session")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// unsetenv removes an environment variable for the duration of the test.
func unsetenv(t *testing.T, key string) {
	t.Helper()
	t.Setenv(key, "") // registers the restore
	if err := os.Unsetenv(key); err != nil {
		t.Fatal(err)
	}
}

// call is an Invoke request as the fake Lambda received it.
type call struct {
	Method     string
	RequestURI string // as on the wire
	Function   string // the unescaped {FunctionName} path segment
	Qualifier  string
	HasQual    bool
	InvType    string // X-Amz-Invocation-Type
	LogType    string
	Trace      string // X-Amzn-Trace-Id
	Host       string
	AccessKey  string // from the Authorization header's credential
	Region     string // the credential scope's region
	Service    string // the credential scope's service
	Body       []byte
}

var credentialScope = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request,`)

// fakeLambda plays the Lambda Invoke API (POST /2015-03-31/functions/{FunctionName}/invocations).
type fakeLambda struct {
	*httptest.Server
	t *testing.T

	// answer writes the response; nil echoes the payload with 200 and X-Amz-Executed-Version: $LATEST.
	answer func(w http.ResponseWriter, r *http.Request, c call)

	mu    sync.Mutex
	calls []call
}

func newFakeLambda(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, c call)) *fakeLambda {
	t.Helper()
	f := &fakeLambda{t: t, answer: answer}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeLambda) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.t.Errorf("reading request body: %v", err)
		w.WriteHeader(500)
		return
	}
	c := call{
		Method:     r.Method,
		RequestURI: r.RequestURI,
		InvType:    r.Header.Get("X-Amz-Invocation-Type"),
		LogType:    r.Header.Get("X-Amz-Log-Type"),
		Trace:      r.Header.Get("X-Amzn-Trace-Id"),
		Host:       r.Host,
		Body:       body,
	}
	if m := credentialScope.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		c.AccessKey, c.Region, c.Service = m[1], m[2], m[3]
	}
	c.Qualifier = r.URL.Query().Get("Qualifier")
	_, c.HasQual = r.URL.Query()["Qualifier"]
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/2015-03-31/functions/")
	if seg, ok2 := strings.CutSuffix(rest, "/invocations"); ok && ok2 && r.Method == http.MethodPost {
		c.Function, err = url.PathUnescape(seg)
		if err != nil {
			f.t.Errorf("function segment %q: %v", seg, err)
		}
	} else {
		f.t.Errorf("unexpected request %s %s", r.Method, r.RequestURI)
	}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
	if f.answer != nil {
		f.answer(w, r, c)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amz-Executed-Version", "$LATEST")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func (f *fakeLambda) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

// only returns the single call the fake received.
func (f *fakeLambda) only(t *testing.T) call {
	t.Helper()
	calls := f.Calls()
	if len(calls) != 1 {
		t.Fatalf("fake Lambda received %d requests, want 1: %+v", len(calls), calls)
	}
	return calls[0]
}

// lambdaError answers like Lambda does for an Invoke API error.
func lambdaError(status int, errorType, body string) func(http.ResponseWriter, *http.Request, call) {
	return func(w http.ResponseWriter, _ *http.Request, _ call) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-RequestId", "6f1c4d8e-0000-4000-8000-000000000000")
		if errorType != "" {
			w.Header().Set("X-Amzn-ErrorType", errorType)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// captureClient is an HTTP client that records requests and answers 200 without any network.
type captureClient struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (c *captureClient) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	c.mu.Lock()
	c.reqs = append(c.reqs, r)
	c.mu.Unlock()
	return &http.Response{
		StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"application/json"}, "X-Amz-Executed-Version": {"1"}},
		Body:    io.NopCloser(strings.NewReader(`{}`)),
		Request: r,
	}, nil
}

func (c *captureClient) hosts() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var hs []string
	for _, r := range c.reqs {
		hs = append(hs, r.URL.Host)
	}
	return hs
}
