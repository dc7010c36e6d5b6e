package lambdaproxy

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/translator"
)

// P1 (performance-targets.md): the event encoder against encoding/json encoding the same event from the same
// request facts. Run:
//
//	go test ./lambdaproxy -run '^$' -bench BenchmarkEventEncode -benchmem -count 10 -cpu 2

// evRefInput is REF-EVENT (performance-targets PR-6): the request facts as the processor has them.
type evRefInput struct {
	Route   ir.ProcessorRoute `json:"route"`
	Request struct {
		Method    string      `json:"method"`
		Path      string      `json:"path"`
		Authority string      `json:"authority"`
		Headers   [][2]string `json:"headers"`
		Body      string      `json:"body"`
		SourceIP  string      `json:"sourceIp"`
		Protocol  string      `json:"protocol"`
	} `json:"request"`
	Context Context `json:"context"`
}

// evLoadRef reads testdata/event_ref.json.
func evLoadRef(tb testing.TB) (*ir.ProcessorRoute, *Request, *Context) {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "event_ref.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var in evRefInput
	if err := json.Unmarshal(raw, &in); err != nil {
		tb.Fatal(err)
	}
	if in.Route.Route.Segments, err = ir.ParseResourcePath(in.Route.Route.ResourcePath); err != nil {
		tb.Fatal(err)
	}
	r := in.Request
	return &in.Route, &Request{Method: r.Method, Path: r.Path, Authority: r.Authority, Headers: r.Headers,
		Body: []byte(r.Body), SourceIP: r.SourceIP, Protocol: r.Protocol}, &in.Context
}

// BenchmarkEventEncode is P1: proxyplus appends into a reused buffer; stdlib builds the equivalent Go value
// (maps, pointers for nulls) from the same request facts and marshals it with encoding/json; stdlib-marshal
// (information only) marshals a value built once, the part of stdlib's cost that is encoding alone.
func BenchmarkEventEncode(b *testing.B) {
	route, req, c := evLoadRef(b)
	b.Run("proxyplus", func(b *testing.B) {
		buf, err := AppendEvent(nil, route, req, c)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(buf)))
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = AppendEvent(buf[:0], route, req, c)
		}
	})
	// prepared is the processor's call (AppendPreparedEvent with the route's parts written once); under callgrind,
	// with no allocation and so no GC in the loop, the difference of two run lengths is its exact instruction count.
	b.Run("prepared", func(b *testing.B) {
		er := PrepareEventRoute(route, c.AccountID)
		buf, err := AppendPreparedEvent(nil, er, req, c)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(buf)))
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = AppendPreparedEvent(buf[:0], er, req, c)
		}
	})
	b.Run("stdlib", func(b *testing.B) {
		out, err := evStdlibEvent(route, req, c)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(out)))
		b.ReportAllocs()
		for b.Loop() {
			out, _ = evStdlibEvent(route, req, c)
		}
		_ = out
	})
	b.Run("stdlib-marshal", func(b *testing.B) {
		v, err := evStdlibValue(route, req, c)
		if err != nil {
			b.Fatal(err)
		}
		out, _ := json.Marshal(v)
		b.SetBytes(int64(len(out)))
		b.ReportAllocs()
		for b.Loop() {
			out, _ = json.Marshal(v)
		}
		_ = out
	})
}

// TestEventEncodeStdlibEqual checks that both sides of P1 produce the same event (parsed JSON equal).
func TestEventEncodeStdlibEqual(t *testing.T) {
	route, req, c := evLoadRef(t)
	got, err := AppendEvent(nil, route, req, c)
	if err != nil {
		t.Fatal(err)
	}
	std, err := evStdlibEvent(route, req, c)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(evParse(t, std), evParse(t, got)); d != "" {
		t.Errorf("proxyplus and stdlib events differ (-stdlib +proxyplus):\n%s", d)
	}
	// REF-EVENT is "about 2.1 KB of JSON".
	if len(got) < 1900 || len(got) > 2300 {
		t.Errorf("REF-EVENT is %d bytes, want about 2.1 KB", len(got))
	}
}

// TestEventReferenceGolden pins the exact bytes of REF-EVENT: key order, escaping, compact form
// (go test ./lambdaproxy -run TestEventReferenceGolden -update rewrites it).
func TestEventReferenceGolden(t *testing.T) {
	route, req, c := evLoadRef(t)
	got, err := AppendEvent(nil, route, req, c)
	if err != nil {
		t.Fatal(err)
	}
	evCheckPrepared(t, route, req, c, got)
	testutil.Golden(t, filepath.Join("testdata", "event_ref.golden.json"), append(got, '\n'))
}

// TestEventEncodeAllocs is the deterministic part of P1 (PR-5): a warm encoder allocates nothing.
func TestEventEncodeAllocs(t *testing.T) {
	if testutil.Instrumented() {
		t.Skip("allocation counts are not meaningful under -race or coverage")
	}
	route, req, c := evLoadRef(t)
	buf, err := AppendEvent(nil, route, req, c)
	if err != nil {
		t.Fatal(err)
	}
	// Variants that take the other branches: base64 body, no query, no stage variables, operation name.
	bin := *route
	bin.BinaryMediaTypes = []string{"application/*"}
	bin.StageVariables = nil
	bin.Route.OperationName = "CreateOrder"
	noQuery := *req
	noQuery.Path, _, _ = strings.Cut(req.Path, "?")
	for name, f := range map[string]func(){
		"ref":    func() { buf, _ = AppendEvent(buf[:0], route, req, c) },
		"binary": func() { buf, _ = AppendEvent(buf[:0], &bin, &noQuery, c) },
	} {
		if n := testing.AllocsPerRun(200, f); n != 0 {
			t.Errorf("%s: AppendEvent allocates %.1f times per call, want 0", name, n)
		}
	}
}

// ---- the encoding/json side: a straightforward build of the same event with maps and pointers ----

type evStdEvent struct {
	Resource                        string              `json:"resource"`
	Path                            string              `json:"path"`
	HTTPMethod                      string              `json:"httpMethod"`
	Headers                         map[string]string   `json:"headers"`
	MultiValueHeaders               map[string][]string `json:"multiValueHeaders"`
	QueryStringParameters           map[string]string   `json:"queryStringParameters"`
	MultiValueQueryStringParameters map[string][]string `json:"multiValueQueryStringParameters"`
	PathParameters                  map[string]string   `json:"pathParameters"`
	StageVariables                  map[string]string   `json:"stageVariables"`
	RequestContext                  evStdContext        `json:"requestContext"`
	Body                            *string             `json:"body"`
	IsBase64Encoded                 bool                `json:"isBase64Encoded"`
}

type evStdContext struct {
	AccountID         string        `json:"accountId"`
	APIID             string        `json:"apiId"`
	DeploymentID      string        `json:"deploymentId"`
	DomainName        string        `json:"domainName"`
	DomainPrefix      string        `json:"domainPrefix"`
	ExtendedRequestID string        `json:"extendedRequestId"`
	HTTPMethod        string        `json:"httpMethod"`
	Identity          evStdIdentity `json:"identity"`
	OperationName     string        `json:"operationName,omitempty"`
	Path              string        `json:"path"`
	Protocol          string        `json:"protocol"`
	RequestID         string        `json:"requestId"`
	RequestTime       string        `json:"requestTime"`
	RequestTimeEpoch  int64         `json:"requestTimeEpoch"`
	ResourceID        string        `json:"resourceId"`
	ResourcePath      string        `json:"resourcePath"`
	Stage             string        `json:"stage"`
}

type evStdIdentity struct {
	AccessKey                     *string `json:"accessKey"`
	AccountID                     *string `json:"accountId"`
	Caller                        *string `json:"caller"`
	CognitoAuthenticationProvider *string `json:"cognitoAuthenticationProvider"`
	CognitoAuthenticationType     *string `json:"cognitoAuthenticationType"`
	CognitoIdentityID             *string `json:"cognitoIdentityId"`
	CognitoIdentityPoolID         *string `json:"cognitoIdentityPoolId"`
	PrincipalOrgID                *string `json:"principalOrgId"`
	SourceIP                      *string `json:"sourceIp"`
	User                          *string `json:"user"`
	UserAgent                     *string `json:"userAgent"`
	UserArn                       *string `json:"userArn"`
}

func evStdlibEvent(route *ir.ProcessorRoute, req *Request, c *Context) ([]byte, error) {
	v, err := evStdlibValue(route, req, c)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

var evStdDropped = map[string]bool{
	"Connection": true, "Content-Length": true, "Content-Md5": true, "Expect": true, "Max-Forwards": true,
	"Proxy-Authenticate": true, "Server": true, "Te": true, "Trailer": true, "Transfer-Encoding": true,
	"Upgrade": true, "Www-Authenticate": true,
}

// evStdlibValue builds the event the plain way. It is written independently of event.go (maps,
// http.CanonicalHeaderKey, translator.MatchResource) and serves as the oracle of the differential tests.
func evStdlibValue(route *ir.ProcessorRoute, req *Request, c *Context) (*evStdEvent, error) {
	rawPath, query, _ := strings.Cut(req.Path, "?")
	stage, rest, ok := translator.SplitStagePath(rawPath)
	if !ok || stage != route.Stage {
		return nil, errEvStd
	}
	params, ok := translator.MatchResource(route.Route.Segments, rest)
	if !ok {
		return nil, errEvStd
	}
	ev := &evStdEvent{
		Resource:   route.Route.ResourcePath,
		Path:       "/" + rest,
		HTTPMethod: req.Method,
	}
	if len(params) > 0 {
		ev.PathParameters = params
	}
	if len(route.StageVariables) > 0 {
		ev.StageVariables = route.StageVariables
	}

	host := req.Authority
	type line struct{ name, value string }
	var lines []line
	for _, h := range req.Headers {
		name := http.CanonicalHeaderKey(h[0])
		switch {
		case name == "", strings.HasPrefix(name, ":"), evStdDropped[name], strings.HasPrefix(strings.ToLower(name), "x-envoy-"):
			continue
		case name == "Authorization" && len(h[1]) >= 16 && strings.EqualFold(h[1][:16], "AWS4-HMAC-SHA256"):
			continue
		case name == "Host":
			if req.Authority == "" {
				host = h[1]
			}
			continue
		case name == "X-Amzn-Trace-Id" && c.TraceID != "":
			continue
		}
		lines = append(lines, line{evStdSanitize(name), h[1]})
	}
	if host != "" {
		lines = append(lines, line{"Host", host})
	}
	if c.TraceID != "" {
		lines = append(lines, line{"X-Amzn-Trace-Id", c.TraceID})
	}
	if len(lines) > 0 {
		ev.Headers, ev.MultiValueHeaders = map[string]string{}, map[string][]string{}
		for _, l := range lines {
			ev.Headers[l.name] = l.value
			ev.MultiValueHeaders[l.name] = append(ev.MultiValueHeaders[l.name], l.value)
		}
	}

	for _, piece := range strings.FieldsFunc(query, func(r rune) bool { return r == '&' || r == ';' }) {
		name, value, _ := strings.Cut(piece, "=")
		if name == "" {
			continue
		}
		name, value = evStdSanitize(evStdFormDecode(name)), evStdSanitize(evStdFormDecode(value))
		if ev.QueryStringParameters == nil {
			ev.QueryStringParameters, ev.MultiValueQueryStringParameters = map[string]string{}, map[string][]string{}
		}
		ev.QueryStringParameters[name] = value
		ev.MultiValueQueryStringParameters[name] = append(ev.MultiValueQueryStringParameters[name], value)
	}

	if len(req.Body) > 0 {
		body := string(req.Body)
		if ct, ok := ev.Headers["Content-Type"]; ok && evStdBinary(ct, route.BinaryMediaTypes) {
			body = base64.StdEncoding.EncodeToString(req.Body)
			ev.IsBase64Encoded = true
		}
		ev.Body = &body
	}

	domainPrefix := host
	if strings.HasPrefix(domainPrefix, "[") {
		if i := strings.Index(domainPrefix, "]"); i >= 0 {
			domainPrefix = domainPrefix[:i+1]
		}
	} else {
		domainPrefix, _, _ = strings.Cut(domainPrefix, ":")
		domainPrefix, _, _ = strings.Cut(domainPrefix, ".")
	}
	protocol := req.Protocol
	if protocol == "" {
		protocol = "HTTP/1.1"
	}
	rc := &ev.RequestContext
	*rc = evStdContext{
		AccountID:         c.AccountID,
		APIID:             route.APIID,
		DeploymentID:      route.DeploymentID,
		DomainName:        host,
		DomainPrefix:      domainPrefix,
		ExtendedRequestID: c.ExtendedRequestID,
		HTTPMethod:        req.Method,
		OperationName:     route.Route.OperationName,
		Path:              "/" + strings.TrimLeft(rawPath, "/"),
		Protocol:          protocol,
		RequestID:         c.RequestID,
		RequestTime:       c.Now.UTC().Format("02/Jan/2006:15:04:05 +0000"),
		RequestTimeEpoch:  c.Now.UnixMilli(),
		ResourceID:        route.Route.ResourceID,
		ResourcePath:      route.Route.ResourcePath,
		Stage:             route.Stage,
	}
	if req.SourceIP != "" {
		ip := req.SourceIP
		rc.Identity.SourceIP = &ip
	}
	if ua, ok := ev.Headers["User-Agent"]; ok {
		rc.Identity.UserAgent = &ua
	}
	return ev, nil
}

var errEvStd = &json.UnsupportedValueError{Str: "request outside the route"}

// evStdFormDecode decodes application/x-www-form-urlencoded text, keeping a '%' that starts no valid escape.
func evStdFormDecode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b.WriteByte(' ')
		case c == '%' && i+2 < len(s) && evStdIsHex(s[i+1]) && evStdIsHex(s[i+2]):
			v, _ := evStdHexByte(s[i+1 : i+3])
			b.WriteByte(v)
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func evStdIsHex(c byte) bool { return strings.IndexByte("0123456789abcdefABCDEF", c) >= 0 }

func evStdHexByte(s string) (byte, bool) {
	var v byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | (c - '0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | (c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | (c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return v, true
}

// evStdSanitize replaces each invalid UTF-8 byte by U+FFFD, as encoding/json does when it writes a string.
func evStdSanitize(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r) // RuneError for an invalid byte
		i += n
	}
	return b.String()
}

// evStdBinary is BIN-1 written plainly.
func evStdBinary(contentType string, types []string) bool {
	mt := evStdLower(strings.TrimSpace(strings.Split(contentType, ";")[0]))
	if mt == "" {
		return false
	}
	mtType, _, mtHasSub := strings.Cut(mt, "/")
	for _, e := range types {
		e = evStdLower(strings.TrimSpace(e))
		typ, sub, ok := strings.Cut(e, "/")
		switch {
		case !ok:
		case typ == "*" && sub == "*":
			return true
		case typ == "*": // "*/sub" never matches (BIN-1)
		case sub == "*":
			if mtHasSub && mtType == typ {
				return true
			}
		case e == mt:
			return true
		}
	}
	return false
}

// evStdLower lower-cases ASCII letters only (media types are ASCII; BIN-1 compares them case-insensitively).
func evStdLower(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}

// evParse decodes an event, failing the test when it is not JSON.
func evParse(tb testing.TB, b []byte) map[string]any {
	tb.Helper()
	if !json.Valid(b) {
		tb.Fatalf("not valid JSON: %s", b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		tb.Fatalf("%v: %s", err, b)
	}
	return m
}
