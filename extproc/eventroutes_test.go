package extproc

import (
	"context"
	"testing"
	"time"

	"github.com/proxyplus/proxyplus/lambdaproxy"
)

// TestEventRoutes: a route's event parts are prepared once per route and account, and the service's event built
// from them is the event Serve builds without them, byte for byte.
func TestEventRoutes(t *testing.T) {
	s, ref := refServer(t)
	s.lambda.Now = func() time.Time { return time.Date(2025, 3, 4, 19, 15, 17, 135e6, time.UTC) }
	s.lambda.NewID = func() [16]byte { return [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16} }
	pr, err := s.routeOf(ref)
	if err != nil {
		t.Fatal(err)
	}
	er := s.events.get(pr, s.lambda.AccountID)
	if s.events.get(pr, s.lambda.AccountID) != er || er.Route() != pr {
		t.Error("the route's event parts were prepared again")
	}
	if other := s.events.get(pr, "999999999999"); other == er || other.AccountID() != "999999999999" {
		t.Error("another account got the first account's parts")
	}

	rh := NewRequestHeaders(nil)
	for _, h := range ref.Headers.GetRequestHeaders().GetHeaders().GetHeaders() {
		rh.add(h.GetKey(), string(h.GetRawValue()))
	}
	req := func() *lambdaproxy.Request {
		return LambdaRequest(&RequestHeaders{Method: rh.Method, Path: rh.Path, Authority: rh.Authority,
			Headers: append([][2]string(nil), rh.Headers...)}, ref.Body.GetRequestBody().GetBody(), "192.0.2.10", "")
	}
	want := s.lambda.Serve(context.Background(), pr, req())
	var got Exchange
	s.lambda.servePooled(context.Background(), pr, s.events.get(pr, s.lambda.AccountID), req(), &got)
	defer got.release()
	if string(got.Event) != string(want.Event) || len(want.Event) < 1000 {
		t.Errorf("event with prepared parts:\n%s\nwithout:\n%s", got.Event, want.Event)
	}
}
