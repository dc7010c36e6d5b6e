package ir_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/ir"
)

func lambdaRoute(vars map[string]string) ir.ProcessorRoute {
	return ir.ProcessorRoute{APIID: "a1b2c3d4e5", Stage: "prod", DeploymentID: "dep001", StageVariables: vars,
		BinaryMediaTypes: []string{"image/png"},
		Route: ir.Route{ResourceID: "res001", ResourcePath: "/pets/{petId}", Method: "GET", OperationName: "getPet",
			Integration: ir.Integration{Type: ir.AWSProxy, Lambda: &ir.LambdaIntegration{
				FunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:pets", Region: "us-east-1", Timeout: ir.Duration(29 * time.Second)}}}}
}

// TestProcessorRouteRoundTripLambda: a signed value decodes to everything the processor uses, nothing else.
func TestProcessorRouteRoundTripLambda(t *testing.T) {
	keys := testutil.RouteKeys(t)
	pr := lambdaRoute(map[string]string{"env": "prod", "odd": "100% ünïcode 🎉 \"q\" \\ <&>"})
	v, err := ir.EncodeProcessorRoute(pr, keys)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e || v[i] == '%' {
			t.Fatalf("byte %d of %q is not printable ASCII or is a formatter '%%'", i, v)
		}
	}
	got, err := ir.DecodeProcessorRoute(v, keys)
	if err != nil {
		t.Fatal(err)
	}
	want := pr
	want.Route.Integration.Lambda = &ir.LambdaIntegration{FunctionARN: pr.Route.Integration.Lambda.FunctionARN, Timeout: pr.Route.Integration.Lambda.Timeout}
	want.Route.Name = "a1b2c3d4e5/prod/res001/GET"
	want.Route.Segments = []ir.Segment{{Kind: ir.Literal, Text: "pets"}, {Kind: ir.Param, Text: "petId"}}
	if d := cmp.Diff(&want, got); d != "" {
		t.Fatalf("round trip (-want +got):\n%s", d)
	}
}

// TestProcessorRouteHTTPProxyLeavesOutStageData: an HTTP_PROXY rewrite has its stage variables resolved; the
// value carries neither them nor the backend.
func TestProcessorRouteHTTPProxyLeavesOutStageData(t *testing.T) {
	keys := testutil.RouteKeys(t)
	h := &ir.HTTPIntegration{Backend: ir.Backend{Scheme: "https", Host: "secret-backend.internal", Port: 443}, Method: "POST",
		Path: []ir.PathPart{{Literal: "/items/"}, {Placeholder: "id"}}, Placeholders: map[string]ir.ValueSource{"id": {Kind: ir.FromPath, Name: "id"}},
		Processor: true, ProcessorReasons: []string{"why"}}
	pr := ir.ProcessorRoute{APIID: "a1b2c3d4e5", Stage: "prod", StageVariables: map[string]string{"big": strings.Repeat("x", 500)},
		Route: ir.Route{ResourceID: "r", ResourcePath: "/{id}", Method: "POST", Integration: ir.Integration{Type: ir.HTTPProxy, HTTP: h}}}
	v, err := ir.EncodeProcessorRoute(pr, keys)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(v, "xxxx") || strings.Contains(v, "secret-backend") {
		t.Fatalf("value carries what the processor does not use: %s", v)
	}
	got, err := ir.DecodeProcessorRoute(v, keys)
	if err != nil {
		t.Fatal(err)
	}
	if got.Route.Integration.Type != ir.HTTPProxy || !cmp.Equal(got.Route.Integration.HTTP.Path, h.Path) || got.Route.Integration.HTTP.Method != "POST" ||
		got.Route.Integration.HTTP.Placeholders["id"] != h.Placeholders["id"] {
		t.Fatalf("decoded %+v", got.Route.Integration.HTTP)
	}
}

// TestProcessorRouteRefused: the processor accepts only values the control plane signed with a key it holds.
func TestProcessorRouteRefused(t *testing.T) {
	keys := testutil.RouteKeys(t) // A signs, B is the previous key
	current, previous := keys[:1], keys[1:]
	other, err := ir.NewRouteKey(bytes.Repeat([]byte{'Z'}, 32))
	if err != nil {
		t.Fatal(err)
	}
	pr := lambdaRoute(nil)
	signed, err := ir.EncodeProcessorRoute(pr, current)
	if err != nil {
		t.Fatal(err)
	}
	unsigned, err := ir.EncodeProcessorRoute(pr, nil)
	if err != nil {
		t.Fatal(err)
	}
	byOther, err := ir.EncodeProcessorRoute(pr, ir.RouteKeys{other})
	if err != nil {
		t.Fatal(err)
	}
	// A forger who knows the format and a key id but not the secret.
	forged := strings.Replace(signed, "pets", "admin", 1)
	cases := map[string]struct {
		v    string
		keys ir.RouteKeys
		why  string
	}{
		"unsigned":                   {unsigned, keys, "unsigned"},
		"unknown key":                {byOther, keys, "does not hold"},
		"wrong key, same id":         {signed, ir.RouteKeys{withID(t, other, keys[0].ID)}, "does not verify"},
		"forged function":            {forged, keys, "does not verify"},
		"not proxyplus data":         {"eyJhcGlJZCI6ImEifQ", keys, "not proxyplus route data"},
		"truncated":                  {"v1", keys, "not proxyplus route data"},
		"retired key after rotation": {signed, previous, "does not hold"},
		"over Envoy's limit":         {signed + strings.Repeat("a", ir.MaxRouteMetadataBytes), keys, "over Envoy's limit"},
	}
	for name, c := range cases {
		_, err := ir.DecodeProcessorRoute(c.v, c.keys)
		var rd *ir.RouteDataError
		if !errors.As(err, &rd) || !strings.Contains(rd.Reason, c.why) {
			t.Errorf("%s: got %v, want a RouteDataError saying %q", name, err, c.why)
		}
	}
	// The claimed route is logged, quoted, even though it is not trusted.
	_, err = ir.DecodeProcessorRoute(forged, keys)
	if rd := (*ir.RouteDataError)(nil); !errors.As(err, &rd) || rd.ClaimedRoute != `"a1b2c3d4e5/prod/res001/GET"` {
		t.Errorf("claimed route: %v", err)
	}
}

// withID is other's secret under another key's id: what a processor holding the wrong secret sees.
func withID(t *testing.T, k ir.RouteKey, id string) ir.RouteKey {
	t.Helper()
	k.ID = id
	return k
}

// TestProcessorRouteEveryByteMatters: changing any one byte of a signed value makes it refused.
func TestProcessorRouteEveryByteMatters(t *testing.T) {
	keys := testutil.RouteKeys(t)
	v, err := ir.EncodeProcessorRoute(lambdaRoute(map[string]string{"k": "v"}), keys)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(v); i++ {
		b := []byte(v)
		b[i] ^= 0x01
		if b[i] == '.' || v[i] == '.' {
			b[i] = 'Q'
		}
		if _, err := ir.DecodeProcessorRoute(string(b), keys); err == nil {
			t.Fatalf("byte %d changed (%q → %q): still accepted", i, v[i], b[i])
		}
	}
}

// TestProcessorRouteRotation: during a rotation the processors hold [new, old]; values signed with either
// verify, and the control plane signs with the first key of its file.
func TestProcessorRouteRotation(t *testing.T) {
	keys := testutil.RouteKeys(t)
	oldFirst := ir.RouteKeys{keys[1], keys[0]}
	v, err := ir.EncodeProcessorRoute(lambdaRoute(nil), oldFirst)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v, "v1."+keys[1].ID+".") {
		t.Fatalf("not signed with the first key: %.20s", v)
	}
	if _, err := ir.DecodeProcessorRoute(v, keys); err != nil {
		t.Fatalf("previous key refused during rotation: %v", err)
	}
}

// TestProcessorRouteSizeLimit: seven 2,000-character stage variables (19 KB in the old base64 JSON) fit; a
// stage whose variables cannot fit fails with the API, stage and resource named.
func TestProcessorRouteSizeLimit(t *testing.T) {
	keys := testutil.RouteKeys(t)
	vars := map[string]string{}
	for i := range 7 {
		vars[string(rune('a'+i))] = strings.Repeat("v", 2000)
	}
	v, err := ir.EncodeProcessorRoute(lambdaRoute(vars), keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) > ir.MaxRouteMetadataBytes {
		t.Fatalf("%d bytes", len(v))
	}
	vars["h"], vars["i"] = strings.Repeat("v", 2000), strings.Repeat("v", 2000)
	_, err = ir.EncodeProcessorRoute(lambdaRoute(vars), keys)
	if err == nil || !strings.Contains(err.Error(), "API a1b2c3d4e5 stage prod resource /pets/{petId} GET") || !strings.Contains(err.Error(), "16384") {
		t.Fatalf("got %v", err)
	}
	if err := ir.CheckProcessorRoute(lambdaRoute(vars)); err == nil {
		t.Fatal("CheckProcessorRoute accepted it")
	}
}

// TestParseRouteKeys: hex and base64 lines, comments, short keys and empty files refused.
func TestParseRouteKeys(t *testing.T) {
	file, err := ir.NewRouteKeyFile()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ir.ParseRouteKeys("route.key", append(file, []byte("QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=\n")...))
	if err != nil || len(keys) != 2 || keys[1].ID != testutil.RouteKeys(t)[0].ID {
		t.Fatalf("keys %v, err %v", keys, err)
	}
	for name, in := range map[string]string{"short": "00112233\n", "empty": "# nothing\n", "garbage": "not a key!\n"} {
		if _, err := ir.ParseRouteKeys("route.key", []byte(in)); err == nil || !strings.Contains(err.Error(), "route.key") {
			t.Errorf("%s: got %v", name, err)
		}
	}
}
