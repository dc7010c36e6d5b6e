package authz

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/proxyplus/proxyplus/ir"
)

// TestLimiterThrottleAndQuota: a burst of 2 at 1 request/s answers THROTTLED on the third request in the same
// instant and lets one through a second later; a quota of 3 a day answers QUOTA_EXCEEDED on the fourth request
// and resets at midnight UTC.
func TestLimiterThrottleAndQuota(t *testing.T) {
	l := NewLimiter()
	now := time.Date(2026, 12, 7, 23, 59, 0, 0, time.UTC)
	k := &Key{ID: "k1", Value: "v", Enabled: true, Plan: &UsagePlan{RateLimit: 1, BurstLimit: 2, QuotaLimit: 3, QuotaPeriod: "DAY"}}
	for i, want := range []*Denial{nil, nil, &Throttled} {
		if got := l.Take(k, now); got != want {
			t.Fatalf("request %d: %v, want %v", i, got, want)
		}
	}
	now = now.Add(time.Second)
	if got := l.Take(k, now); got != nil {
		t.Fatalf("after a second: %v, want allowed", got)
	}
	now = now.Add(10 * time.Second)
	if got := l.Take(k, now); got != &QuotaExceeded {
		t.Fatalf("fourth request of the day: %v, want QUOTA_EXCEEDED", got)
	}
	now = time.Date(2026, 12, 8, 0, 0, 1, 0, time.UTC)
	if got := l.Take(k, now); got != nil {
		t.Fatalf("next day: %v, want allowed", got)
	}
}

// TestTokenAllowed: no scopes → only an ID token; scopes → an access token holding any of them.
func TestTokenAllowed(t *testing.T) {
	claims := func(use, scope string) *structpb.Struct {
		s, _ := structpb.NewStruct(map[string]any{"token_use": use, "scope": scope})
		return s
	}
	for _, tc := range []struct {
		claims *structpb.Struct
		scopes []string
		want   bool
	}{
		{claims("id", ""), nil, true},
		{claims("access", "openid"), nil, false},
		{claims("access", "openid email https://x/read"), []string{"https://x/read", "https://x/admin"}, true},
		{claims("access", "openid email"), []string{"https://x/read"}, false},
		{claims("id", "https://x/read"), []string{"https://x/read"}, false},
		{nil, nil, false},
	} {
		if got := tokenAllowed(tc.claims, tc.scopes); got != tc.want {
			t.Errorf("tokenAllowed(%v, %v) = %v, want %v", tc.claims, tc.scopes, got, tc.want)
		}
	}
}

// TestWindowStart: weeks start on Monday, months on the 1st, UTC.
func TestWindowStart(t *testing.T) {
	at := time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC) // a Sunday
	if got := windowStart(at, "WEEK"); !got.Equal(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("week start %v", got)
	}
	if got := windowStart(at, "MONTH"); !got.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("month start %v", got)
	}
}

// TestCheckShapesDenialWithGatewayResponses: a denial takes the route's customised gateway response of its type
// (status, template with $context.error.message, headers; a customised header replaces the gateway's of the same
// name instead of being sent twice); without customisation the denial is API Gateway's default.
func TestCheckShapesDenialWithGatewayResponses(t *testing.T) {
	key, err := ir.NewRouteKey(make([]byte, ir.MinRouteKeyBytes))
	if err != nil {
		t.Fatal(err)
	}
	keys := ir.RouteKeys{key}
	check := func(grs map[string]ir.GatewayResponse) *authv3.DeniedHttpResponse {
		t.Helper()
		spec, err := ir.EncodeProcessorRoute(ir.ProcessorRoute{APIID: "a", Stage: "prod", Route: ir.Route{Name: "r", ResourcePath: "/x", Method: "GET",
			Authorization: &ir.Authorization{APIKeyRequired: true, APIKeySource: ir.APIKeySourceHeader}}, GatewayResponses: grs}, keys)
		if err != nil {
			t.Fatal(err)
		}
		s := &Service{RouteKeys: keys, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		resp, err := s.Check(context.Background(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			ContextExtensions: map[string]string{ir.RouteMetadataKey: spec}}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetDeniedResponse()
	}
	header := func(d *authv3.DeniedHttpResponse, name string) (values []string) {
		for _, h := range d.GetHeaders() {
			if strings.EqualFold(h.GetHeader().GetKey(), name) {
				values = append(values, h.GetHeader().GetValue())
			}
		}
		return values
	}
	d := check(map[string]ir.GatewayResponse{"INVALID_API_KEY": {StatusCode: 401, Headers: [][2]string{{"Content-Type", "text/plain"}, {"X-Why", "key"}},
		Templates: []ir.MediaTemplate{{MediaType: "application/json", Template: `no key: $context.error.message`}}}})
	if d.GetStatus().GetCode() != 401 || d.GetBody() != "no key: Forbidden" || !slices.Equal(header(d, "content-type"), []string{"text/plain"}) ||
		!slices.Equal(header(d, "x-why"), []string{"key"}) || !slices.Equal(header(d, "x-amzn-ErrorType"), []string{"ForbiddenException"}) {
		t.Errorf("customised denial: %v", d)
	}
	d = check(nil)
	if d.GetStatus().GetCode() != 403 || d.GetBody() != `{"message":"Forbidden"}` || !slices.Equal(header(d, "content-type"), []string{"application/json"}) {
		t.Errorf("default denial: %v", d)
	}
}
