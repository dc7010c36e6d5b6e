package extproc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/lambdainvoke"
)

// TestConcurrentStreamsIsolated: concurrent Lambda requests over the processor's gRPC server as serve runs it
// (ServerOptions: Envoy's messages copied once by serverCodec, header values and the first body chunk viewed in
// those bytes, stream states and answer buffers pooled) each see only their own headers and body — some with more
// headers than the pooled list holds, some with old-style value instead of raw_value, some in two chunks — and
// each answer carries only its own values. A view outliving its bytes, or pooled memory shared between streams,
// shows as another request's value (and under -race as a race).
func TestConcurrentStreamsIsolated(t *testing.T) {
	lambda := &extproc.Lambda{AccountID: "123456789012", Invoker: lambdainvoke.Func(func(_ context.Context, _ string, event []byte) (*lambdainvoke.Result, error) {
		var ev struct {
			Headers map[string]string `json:"headers"`
			Body    string            `json:"body"`
		}
		if err := json.Unmarshal(event, &ev); err != nil {
			return nil, err
		}
		out, _ := json.Marshal(map[string]any{"statusCode": 200, "headers": map[string]string{"x-id": ev.Headers["X-Id"], "x-last": ev.Headers["X-Pad-39"]}, "body": ev.Body})
		return &lambdainvoke.Result{Payload: out}, nil
	})}
	client := startUnixProcessor(t, lambda)
	route := lambdaRoute(t, 5*time.Second)
	const workers, perWorker = 8, 60
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				id := fmt.Sprintf("w%d-r%d-%s", w, i, strings.Repeat(strconv.Itoa(i%10), i%37))
				req := duplexHeaders(-1)
				hs := req.GetRequestHeaders().GetHeaders()
				hs.Headers = append(hs.Headers, &corev3.HeaderValue{Key: "x-id", RawValue: []byte(id)})
				if i%2 == 0 { // more lines than the pooled list holds
					for k := range 40 {
						v := &corev3.HeaderValue{Key: "x-pad-" + strconv.Itoa(k)}
						if k%2 == 0 {
							v.RawValue = []byte(id + "-" + strconv.Itoa(k))
						} else {
							v.Value = id + "-" + strconv.Itoa(k)
						}
						hs.Headers = append(hs.Headers, v)
					}
				}
				body := "body-" + id
				msgs := []*extprocsvcv3.ProcessingRequest{req, bodyChunk([]byte(body), false), bodyChunk(nil, true)}
				if i%3 == 0 {
					msgs = []*extprocsvcv3.ProcessingRequest{req, bodyChunk([]byte(body[:3]), false), bodyChunk([]byte(body[3:]), true)}
				}
				stream := openStream(t, client, context.Background(), route)
				ir := sendAll(t, stream, msgs...)
				got := map[string]string{}
				for _, h := range ir.GetHeaders().GetSetHeaders() {
					got[h.GetHeader().GetKey()] = string(h.GetHeader().GetRawValue())
				}
				wantLast := ""
				if i%2 == 0 {
					wantLast = id + "-39"
				}
				if ir.GetStatus().GetCode() != 200 || got["x-id"] != id || got["x-last"] != wantLast || string(ir.GetBody()) != body {
					t.Errorf("request %s: status %d, x-id %q, x-last %q (want %q), body %q", id, ir.GetStatus().GetCode(), got["x-id"], got["x-last"], wantLast, ir.GetBody())
				}
			}
		}()
	}
	wg.Wait()
}
