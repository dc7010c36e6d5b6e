//go:build unix

package funchost

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/proxyplus/proxyplus/lambdainvoke"
)

// cleanAWSEnv keeps the environment's AWS configuration out of the SDK clients of a test.
func cleanAWSEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LAMBDA", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
		"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE",
		"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT",
		"AWS_CA_BUNDLE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	} {
		t.Setenv(k, "") // registers the restore
		_ = os.Unsetenv(k)
	}
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

var staticCreds = credentials.NewStaticCredentialsProvider("AKIDLOCAL", "secret", "")

func apiServer(t *testing.T, fns []Function, opts Options) (*Host, *httptest.Server) {
	t.Helper()
	h, _ := newHost(t, fns, opts)
	srv := httptest.NewServer(h.InvokeAPIHandler())
	t.Cleanup(srv.Close)
	return h, srv
}

func echoFunction() Function { return Function{Name: "echo", Command: []string{echofn}} }

func TestInvokeAPIWithLambdainvoke(t *testing.T) {
	cleanAWSEnv(t)
	_, srv := apiServer(t, []Function{echoFunction()}, Options{})
	inv, err := lambdainvoke.NewAWS(t.Context(), lambdainvoke.Options{Endpoint: srv.URL, Region: "us-east-1", Credentials: staticCreds})
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range []string{"echo", "echo:live", "arn:aws:lambda:us-east-1:000000000000:function:echo:live", "123456789012:function:echo"} {
		res, err := inv.Invoke(t.Context(), fn, []byte(`{"action":"echo","value":[1,2]}`))
		if err != nil {
			t.Fatalf("Invoke(%s): %v", fn, err)
		}
		var r echoResponse
		if err := json.Unmarshal(res.Payload, &r); err != nil || string(r.Value) != "[1,2]" {
			t.Fatalf("Invoke(%s): response %s (%v)", fn, res.Payload, err)
		}
		if res.FunctionError != "" || res.ExecutedVersion != "$LATEST" {
			t.Errorf("Invoke(%s): %+v", fn, res)
		}
		if strings.HasSuffix(fn, ":live") && !strings.HasSuffix(r.ARN, ":function:echo:live") {
			t.Errorf("Invoke(%s): invoked ARN %s", fn, r.ARN)
		}
	}

	res, err := inv.Invoke(t.Context(), "echo", []byte(`{"action":"error"}`))
	if err != nil {
		t.Fatal(err)
	}
	if d := functionError(t, res); d.ErrorMessage != "boom" {
		t.Errorf("error document %+v", d)
	}

	for _, fn := range []string{"nope", "arn:aws:lambda:us-east-1:000000000000:function:nope"} {
		_, err = inv.Invoke(t.Context(), fn, []byte(`{}`))
		var ie *lambdainvoke.InvokeError
		if !errors.Is(err, lambdainvoke.ErrNotFound) || !errors.As(err, &ie) || ie.Code != "ResourceNotFoundException" || ie.StatusCode != 404 {
			t.Errorf("Invoke(%s): err = %v, want ResourceNotFoundException", fn, err)
		}
	}

	_, err = inv.Invoke(t.Context(), "echo", []byte(`not json`))
	var ie *lambdainvoke.InvokeError
	if !errors.As(err, &ie) || ie.Code != "InvalidRequestContentException" || ie.StatusCode != 400 {
		t.Errorf("non-JSON payload: err = %v, want InvalidRequestContentException", err)
	}
}

func TestInvokeAPITooLargeAndThrottled(t *testing.T) {
	cleanAWSEnv(t)
	h, srv := apiServer(t, []Function{{Name: "echo", Command: []string{echofn}, MaxConcurrency: 1}}, Options{QueueLimit: -1})
	inv, err := lambdainvoke.NewAWS(t.Context(), lambdainvoke.Options{Endpoint: srv.URL, Region: "us-east-1", Credentials: staticCreds})
	if err != nil {
		t.Fatal(err)
	}
	big := []byte(`"` + strings.Repeat("x", MaxPayload) + `"`)
	if _, err := inv.Invoke(t.Context(), "echo", big); !errors.Is(err, lambdainvoke.ErrPayloadTooLarge) {
		t.Errorf("oversized payload: err = %v, want ErrPayloadTooLarge", err)
	}
	// Throttling: hold the only slot; there is no queue.
	p := h.pools["echo"]
	p.slots <- struct{}{}
	_, err = inv.Invoke(t.Context(), "echo", []byte(`{}`))
	<-p.slots
	if !errors.Is(err, lambdainvoke.ErrThrottled) {
		t.Errorf("busy function: err = %v, want ErrThrottled", err)
	}
}

func TestInvokeAPISDK(t *testing.T) {
	cleanAWSEnv(t)
	h, srv := apiServer(t, []Function{echoFunction()}, Options{})
	recs := &records{}
	h.log = slog.New(recs)
	c := lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: staticCreds})

	out, err := c.Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String("echo"), LogType: types.LogTypeTail,
		Payload: []byte(`{"action":"echo"}`)})
	if err != nil {
		t.Fatal(err)
	}
	var r echoResponse
	if err := json.Unmarshal(out.Payload, &r); err != nil {
		t.Fatal(err)
	}
	logs, err := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"START RequestId: " + r.RequestID, "\nhandling echo\n", "\nEND RequestId: " + r.RequestID, "\nREPORT RequestId: " + r.RequestID} {
		if !strings.Contains(string(logs), want) {
			t.Errorf("log tail %q lacks %q", logs, want)
		}
	}
	if out.StatusCode != 200 || aws.ToString(out.ExecutedVersion) != "$LATEST" {
		t.Errorf("status %d, version %q", out.StatusCode, aws.ToString(out.ExecutedVersion))
	}

	// The tail is the last 4 KB.
	long := strings.Repeat("y", 3000)
	out, err = c.Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String("echo"), LogType: types.LogTypeTail,
		Payload: []byte(`{"action":"` + long + `"}`)})
	if err != nil {
		t.Fatal(err)
	}
	logs, _ = base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	if len(logs) > MaxLogTail || !strings.Contains(string(logs), "handling yyy") {
		t.Errorf("log tail of %d bytes: %q", len(logs), logs)
	}

	out, err = c.Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String("echo"), InvocationType: types.InvocationTypeDryRun})
	if err != nil || out.StatusCode != 204 {
		t.Errorf("DryRun: %v, status %v", err, out)
	}

	out, err = c.Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String("echo"), InvocationType: types.InvocationTypeEvent,
		Payload: []byte(`{"action":"error"}`)})
	if err != nil || out.StatusCode != 202 {
		t.Fatalf("Event: %v, status %v", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(recs.find("event invocation function error")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the Event invocation did not run")
		}
		time.Sleep(10 * time.Millisecond)
	}

	_, err = c.Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String("nope"), InvocationType: types.InvocationTypeEvent})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("Event to a missing function: err = %v", err)
	}
}

func TestInvokeAPIRaw(t *testing.T) {
	_, srv := apiServer(t, []Function{echoFunction()}, Options{})
	post := func(path, body string, hdr map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := post("/2015-03-31/functions/echo/invocations", "", nil); resp.StatusCode != 200 || resp.Header.Get("X-Amz-Executed-Version") != "$LATEST" {
		t.Errorf("empty payload: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := post("/2015-03-31/functions/echo/invocations", "{", nil); resp.StatusCode != 400 || resp.Header.Get("X-Amzn-ErrorType") != "InvalidRequestContentException" {
		t.Errorf("bad JSON: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := post("/2015-03-31/functions/echo:a/invocations?Qualifier=b", "{}", nil); resp.StatusCode != 400 {
		t.Errorf("conflicting qualifiers: %d", resp.StatusCode)
	}
	if resp := post("/2015-03-31/functions/echo/invocations", "{}", map[string]string{"X-Amz-Invocation-Type": "Bogus"}); resp.StatusCode != 400 {
		t.Errorf("bad invocation type: %d", resp.StatusCode)
	}
	if resp := post("/2015-03-31/functions/echo/invocations", `{"action":"error"}`, nil); resp.Header.Get("X-Amz-Function-Error") != "Unhandled" {
		t.Errorf("function error: %v", resp.Header)
	}
}

// TestInvokeAPIRefusesNonLocal: the Invoke API serves loopback Host names only (DNS rebinding) and no request
// with an Origin header (CSRF from a web page), with 403 AccessDeniedException saying why.
func TestInvokeAPIRefusesNonLocal(t *testing.T) {
	_, srv := apiServer(t, []Function{echoFunction()}, Options{})
	do := func(host, origin string) (int, string, string) {
		t.Helper()
		req, err := http.NewRequest("POST", srv.URL+"/2015-03-31/functions/echo/invocations", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		req.Header.Set("X-Amz-Invocation-Type", "DryRun")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var doc struct{ Message string }
		_ = json.NewDecoder(resp.Body).Decode(&doc)
		return resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), doc.Message
	}
	for _, host := range []string{"localhost", "LOCALHOST:9001", "127.0.0.1", "127.0.0.1:9001", "127.9.8.7:1", "[::1]", "[::1]:9001"} {
		if code, typ, msg := do(host, ""); code != http.StatusNoContent {
			t.Errorf("Host %q: %d %s %s, want 204", host, code, typ, msg)
		}
	}
	for _, host := range []string{"evil.example", "evil.example:9001", "localhost.evil.example", "127.0.0.1.nip.io:9001",
		"10.0.0.1:9001", "0.0.0.0:9001", "[::]:9001", "[fe80::1%25lo]:9001"} {
		code, typ, msg := do(host, "")
		if code != http.StatusForbidden || typ != "AccessDeniedException" || !strings.Contains(msg, "Host") || !strings.Contains(msg, "loopback") {
			t.Errorf("Host %q: %d %s %q, want 403 AccessDeniedException naming the Host", host, code, typ, msg)
		}
	}
	for _, origin := range []string{"http://localhost:3000", "https://evil.example", "null"} {
		code, typ, msg := do("127.0.0.1", origin)
		if code != http.StatusForbidden || typ != "AccessDeniedException" || !strings.Contains(msg, "Origin") {
			t.Errorf("Origin %q: %d %s %q, want 403 AccessDeniedException naming Origin", origin, code, typ, msg)
		}
	}
}
