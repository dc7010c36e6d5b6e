package extproc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/proxyplus/proxyplus/authorizer"
	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/lambdainvoke"
)

// continueProcessor is the no-op authorization check: on the same transport and with the same messages as an
// authorized HTTP_PROXY route's headers pass (one request_headers message, one answer), it answers CONTINUE at
// once, deciding nothing.
type continueProcessor struct {
	extprocsvcv3.UnimplementedExternalProcessorServer
}

var continueAnswer = &extprocsvcv3.ProcessingResponse{Response: &extprocsvcv3.ProcessingResponse_RequestHeaders{
	RequestHeaders: &extprocsvcv3.HeadersResponse{Response: &extprocsvcv3.CommonResponse{}}}}

func (continueProcessor) Process(s extprocsvcv3.ExternalProcessor_ProcessServer) error {
	for {
		req, err := s.Recv()
		if err != nil {
			return nil
		}
		if req.GetRequestHeaders() != nil {
			if err := s.Send(continueAnswer); err != nil {
				return err
			}
		}
	}
}

// authorizedRoute is GET /pets/{petId} of API a1b2c3d4e5, stage prod, an HTTP_PROXY route whose Lambda TOKEN
// authorizer (TTL 300 s) the processor runs in its headers pass; without auth the same route unprotected.
func authorizedRoute(tb testing.TB, auth bool) string {
	segs, _ := ir.ParseResourcePath("/pets/{petId}")
	pr := ir.ProcessorRoute{APIID: "a1b2c3d4e5", Stage: "prod", DeploymentID: "d1", Route: ir.Route{ResourceID: "r1",
		ResourcePath: "/pets/{petId}", Segments: segs, Method: "GET", Integration: ir.Integration{Type: ir.HTTPProxy,
			HTTP: &ir.HTTPIntegration{Processor: true, Path: []ir.PathPart{{Literal: "/pets/"}, {Placeholder: "petId"}},
				Placeholders: map[string]ir.ValueSource{"petId": {Kind: ir.FromPath, Name: "petId"}}}}}}
	if auth {
		pr.Route.Authorization = &ir.Authorization{Type: ir.AuthCustom, Lambda: &ir.LambdaAuthorizer{Name: "token",
			Type: ir.AuthorizerToken, FunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:auth", Region: "us-east-1",
			IdentitySources: []ir.ValueSource{{Kind: ir.FromHeader, Name: "authorization"}}, TTL: ir.Duration(300 * time.Second)}}
	}
	v, err := ir.EncodeProcessorRoute(pr, testutil.RouteKeys(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// policy20 is a 20-statement policy whose last statement allows GET /pets/* of stage prod; the others are Allow
// and Deny statements with wildcards and lists that do not cover it.
func policy20() string {
	var st []map[string]any
	for i := range 19 {
		effect := "Allow"
		if i%3 == 0 {
			effect = "Deny"
		}
		st = append(st, map[string]any{"Effect": effect, "Action": "execute-api:Invoke", "Resource": []string{
			fmt.Sprintf("arn:aws:execute-api:us-east-1:*:a1b2c3d4e5/prod/POST/orders/%d/*", i),
			fmt.Sprintf("arn:aws:execute-api:us-east-1:*:*/stage%d/GET/pets/?", i)}})
	}
	st = append(st, map[string]any{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "arn:aws:execute-api:us-east-1:*:a1b2c3d4e5/prod/GET/pets/*"})
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": st})
	return string(b)
}

// BenchmarkAuthorization compares, in one run, a request whose Lambda-authorizer decision comes from the cache
// with a no-op authorization check on the same transport (issue 11 acceptance): per operation the client plays
// Envoy on an HTTP_PROXY route — a new Process stream with the route's initial metadata, one request_headers
// message (end_of_stream, a 40-byte bearer token), the answer — over a unix socket with the processor's production
// gRPC options. `noop-check` answers CONTINUE without deciding anything; `unprotected` is the production processor
// on the same route without an authorizer (its headers pass: route data, rewrite); `cached` the production
// processor with the route's TOKEN authorizer answered from its cache (the function is never invoked in the loop);
// `interleaved` runs noop-check and cached in turn and reports both p50s and their ratio; `policy-20` evaluates
// a 20-statement policy for the request's method ARN (no transport).
//
//	go test ./extproc -run '^$' -bench BenchmarkAuthorization -benchmem -count 6 -cpu 2
func BenchmarkAuthorization(b *testing.B) {
	var calls int
	lambda := &extproc.Lambda{AccountID: "123456789012", Invoker: lambdainvoke.Func(func(context.Context, string, []byte) (*lambdainvoke.Result, error) {
		calls++
		return &lambdainvoke.Result{Payload: []byte(`{"principalId":"u","policyDocument":` + policy20() + `,"context":{"plan":"gold"}}`)}, nil
	})}
	srv := extproc.NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)), lambda, testutil.RouteKeys(b))
	prod := extprocsvcv3.NewExternalProcessorClient(serve(b, "uds", func(gs *grpc.Server) { extprocsvcv3.RegisterExternalProcessorServer(gs, srv) }))
	noop := extprocsvcv3.NewExternalProcessorClient(serve(b, "uds", func(gs *grpc.Server) {
		extprocsvcv3.RegisterExternalProcessorServer(gs, continueProcessor{})
	}))
	headers := &extprocsvcv3.ProcessingRequest{Request: &extprocsvcv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocsvcv3.HttpHeaders{
		EndOfStream: true,
		Headers: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
			{Key: ":method", RawValue: []byte("GET")}, {Key: ":path", RawValue: []byte("/prod/pets/42")},
			{Key: ":authority", RawValue: []byte("a1b2c3d4e5.execute-api.us-east-1.amazonaws.com")}, {Key: ":scheme", RawValue: []byte("http")},
			{Key: "user-agent", RawValue: []byte("curl/8.5.0")}, {Key: "accept", RawValue: []byte("*/*")},
			{Key: "authorization", RawValue: []byte("Bearer 0123456789abcdef0123456789abcdef")},
			{Key: "x-forwarded-for", RawValue: []byte("192.0.2.1")}, {Key: "x-request-id", RawValue: []byte("8d3c3f0e-1d7c-4b8e-9a55-8a4d2f1b2c3d")},
		}},
	}}}
	exchange := func(b *testing.B, client extprocsvcv3.ExternalProcessorClient, ctx context.Context) *extprocsvcv3.ProcessingResponse {
		s, err := client.Process(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Send(headers); err != nil {
			b.Fatal(err)
		}
		_ = s.CloseSend()
		resp, err := s.Recv()
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := s.Recv(); err != nil {
				break
			}
		}
		return resp
	}
	for _, side := range []struct {
		name   string
		client extprocsvcv3.ExternalProcessorClient
		route  string
	}{{"noop-check", noop, authorizedRoute(b, true)}, {"unprotected", prod, authorizedRoute(b, false)}, {"cached", prod, authorizedRoute(b, true)}} {
		b.Run(side.name, func(b *testing.B) {
			ctx := metadata.AppendToOutgoingContext(context.Background(), ir.RouteMetadataKey, side.route)
			// One checked exchange first: the answer lets the request on (and warms the cache).
			if resp := exchange(b, side.client, ctx); resp.GetRequestHeaders() == nil {
				b.Fatalf("answer %v, want request headers", resp)
			}
			before := calls
			var lat []time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				t0 := time.Now()
				exchange(b, side.client, ctx)
				lat = append(lat, time.Since(t0))
			}
			if calls != before {
				b.Fatalf("the authorizer function was invoked %d times in the loop", calls-before)
			}
			b.ReportMetric(float64(median(lat).Nanoseconds()), "p50-ns")
		})
	}
	// interleaved: noop-check, cached and 64 evaluations of the 20-statement policy in turn under the same load (the
	// machine's load changes between sides run one after the other), reporting each side's p50 and the ratios
	// cached/noop (target ≤ 1.3) and policy20/noop (target ≤ 0.1).
	b.Run("interleaved", func(b *testing.B) {
		noopCtx := metadata.AppendToOutgoingContext(context.Background(), ir.RouteMetadataKey, authorizedRoute(b, true))
		cachedCtx := metadata.AppendToOutgoingContext(context.Background(), ir.RouteMetadataKey, authorizedRoute(b, true))
		exchange(b, prod, cachedCtx)
		p, err := authorizer.ParsePolicy(json.RawMessage(policy20()))
		if err != nil {
			b.Fatal(err)
		}
		const arn, evals = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/GET/pets/42", 64
		var noopLat, cachedLat, policyLat []time.Duration
		before := calls
		for b.Loop() {
			t0 := time.Now()
			exchange(b, noop, noopCtx)
			t1 := time.Now()
			exchange(b, prod, cachedCtx)
			t2 := time.Now()
			for range evals {
				if p.Evaluate(arn) != authorizer.Allow {
					b.Fatal("policy does not allow")
				}
			}
			noopLat, cachedLat = append(noopLat, t1.Sub(t0)), append(cachedLat, t2.Sub(t1))
			policyLat = append(policyLat, time.Since(t2)/evals)
		}
		if calls != before {
			b.Fatalf("the authorizer function was invoked %d times in the loop", calls-before)
		}
		n, c, pol := median(noopLat), median(cachedLat), median(policyLat)
		b.ReportMetric(float64(n.Nanoseconds()), "noop-p50-ns")
		b.ReportMetric(float64(c.Nanoseconds()), "cached-p50-ns")
		b.ReportMetric(float64(pol.Nanoseconds()), "policy20-p50-ns")
		b.ReportMetric(float64(c)/float64(n), "cached/noop")
		b.ReportMetric(float64(pol)/float64(n), "policy20/noop")
	})
	b.Run("policy-20", func(b *testing.B) {
		p, err := authorizer.ParsePolicy(json.RawMessage(policy20()))
		if err != nil {
			b.Fatal(err)
		}
		arn := "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/GET/pets/42"
		if p.Evaluate(arn) != authorizer.Allow {
			b.Fatal("policy does not allow")
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if p.Evaluate(arn) != authorizer.Allow {
				b.Fatal("policy does not allow")
			}
		}
	})
}
