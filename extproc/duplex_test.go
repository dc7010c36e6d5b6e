package extproc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/lambdainvoke"
)

// duplexHeaders are request headers as Envoy sends them on a FULL_DUPLEX_STREAMED Lambda route: the first message
// of the stream names the body mode (ext_proc.cc Filter::encodeProtocolConfig, main 1.37.0-dev 321a098d81).
func duplexHeaders(contentLength int) *extprocsvcv3.ProcessingRequest {
	req := lambdaHeaders("POST", false)
	if contentLength >= 0 {
		hs := req.GetRequestHeaders().GetHeaders()
		hs.Headers = append(hs.Headers, headers("content-length", strconv.Itoa(contentLength)).GetRequestHeaders().GetHeaders().GetHeaders()...)
	}
	req.ProtocolConfig = &extprocsvcv3.ProtocolConfiguration{RequestBodyMode: extprocfilterv3.ProcessingMode_FULL_DUPLEX_STREAMED}
	return req
}

func bodyChunk(b []byte, eos bool) *extprocsvcv3.ProcessingRequest {
	return &extprocsvcv3.ProcessingRequest{Request: &extprocsvcv3.ProcessingRequest_RequestBody{RequestBody: &extprocsvcv3.HttpBody{Body: b, EndOfStream: eos}}}
}

// sendAll sends every message without reading (Envoy does not wait in FULL_DUPLEX_STREAMED mode), then returns
// the one answer and checks that the processor sends nothing else.
func sendAll(t *testing.T, stream extprocsvcv3.ExternalProcessor_ProcessClient, msgs ...*extprocsvcv3.ProcessingRequest) *extprocsvcv3.ImmediateResponse {
	t.Helper()
	for _, m := range msgs {
		if err := stream.Send(m); err != nil && err != io.EOF {
			t.Fatal(err)
		}
	}
	ir := recvImmediate(t, stream)
	_ = stream.CloseSend()
	if resp, err := stream.Recv(); err != io.EOF {
		t.Fatalf("want the stream to end after the immediate response, got %v %v", resp, err)
	}
	return ir
}

// TestLambdaFullDuplexOneAnswer: Envoy's FULL_DUPLEX_STREAMED sequence — headers, body chunks without
// end_of_stream, the empty end_of_stream chunk of its HTTP/1 codec — gets exactly one answer, the immediate
// response, and the function sees the whole body. The old processor answered the headers with CONTINUE, which in
// this mode would release the request to the router (processor_state.cc handleHeadersResponse).
func TestLambdaFullDuplexOneAnswer(t *testing.T) {
	var body any
	client := startLambdaProcessor(t, func(_ context.Context, _ string, payload []byte) (*lambdainvoke.Result, error) {
		var ev map[string]any
		_ = json.Unmarshal(payload, &ev)
		body = ev["body"]
		return &lambdainvoke.Result{Payload: []byte(`{"statusCode":201}`)}, nil
	})
	stream := openStream(t, client, context.Background(), lambdaRoute(t, 5*time.Second))
	ir := sendAll(t, stream, duplexHeaders(13), bodyChunk([]byte(`{"n":1,`), false), bodyChunk([]byte(`"m":2}`), false), bodyChunk(nil, true))
	if ir.GetStatus().GetCode() != 201 {
		t.Fatalf("status %v", ir.GetStatus())
	}
	if body != `{"n":1,"m":2}` {
		t.Errorf("event body %v", body)
	}
}

// TestLambdaFullDuplexTrailers: with request_trailer_mode SEND, trailers end the body (the last chunk came without
// end_of_stream); the one answer follows them.
func TestLambdaFullDuplexTrailers(t *testing.T) {
	var body any
	client := startLambdaProcessor(t, func(_ context.Context, _ string, payload []byte) (*lambdainvoke.Result, error) {
		var ev map[string]any
		_ = json.Unmarshal(payload, &ev)
		body = ev["body"]
		return &lambdainvoke.Result{Payload: []byte(`{"statusCode":200}`)}, nil
	})
	stream := openStream(t, client, context.Background(), lambdaRoute(t, 5*time.Second))
	trailers := &extprocsvcv3.ProcessingRequest{Request: &extprocsvcv3.ProcessingRequest_RequestTrailers{RequestTrailers: &extprocsvcv3.HttpTrailers{}}}
	if ir := sendAll(t, stream, duplexHeaders(-1), bodyChunk([]byte("abc"), false), trailers); ir.GetStatus().GetCode() != 200 {
		t.Fatalf("status %v", ir.GetStatus())
	}
	if body != "abc" {
		t.Errorf("event body %v", body)
	}
}

// TestLambdaBodyLimits: LIM-1 and OUT-4 decided by the processor, which is where the limit lives now that Envoy
// keeps no copy of a FULL_DUPLEX_STREAMED body (envoy-notes EXT-7). 10,485,760 bytes pass LIM-1 and reach the
// Lambda stage, where they cannot fit an invoke (OUT-4's 413 "Request Too Long"); one byte more is LIM-1's 413.
// Neither invokes the function, with or without Content-Length.
func TestLambdaBodyLimits(t *testing.T) {
	var invoked atomic.Int32
	client := startLambdaProcessor(t, func(context.Context, string, []byte) (*lambdainvoke.Result, error) {
		invoked.Add(1)
		return &lambdainvoke.Result{Payload: []byte(`{"statusCode":200}`)}, nil
	})
	big := make([]byte, extproc.MaxBodyBytes+1)
	const chunk = 64 << 10
	play := func(t *testing.T, n int, declare bool) *extprocsvcv3.ImmediateResponse {
		cl := -1
		if declare {
			cl = n
		}
		msgs := []*extprocsvcv3.ProcessingRequest{duplexHeaders(cl)}
		for b := big[:n]; len(b) > 0; {
			k := min(chunk, len(b))
			msgs = append(msgs, bodyChunk(b[:k], false))
			b = b[k:]
		}
		msgs = append(msgs, bodyChunk(nil, true))
		stream := openStream(t, client, context.Background(), lambdaRoute(t, 5*time.Second))
		// Past the answer the processor has closed its side: Envoy stops sending (processing_complete_), the
		// rest of the sends may fail and are ignored here.
		for _, m := range msgs {
			if err := stream.Send(m); err != nil {
				break
			}
		}
		return recvImmediate(t, stream)
	}
	lim1 := "HTTP content length exceeded 10485760 bytes."
	tooLong := `{"message": "Request Too Long"}`
	for _, declare := range []bool{true, false} {
		name := "streamed"
		if declare {
			name = "content-length"
		}
		t.Run(name, func(t *testing.T) {
			for _, c := range []struct {
				n    int
				body string
			}{
				{extproc.MaxBodyBytes + 1, lim1},
				{extproc.MaxBodyBytes, tooLong},
				{6*1024*1024 + 1, tooLong},
			} {
				ir := play(t, c.n, declare)
				if ir.GetStatus().GetCode() != 413 || string(ir.GetBody()) != c.body {
					t.Errorf("%d bytes: got %d %q, want 413 %q", c.n, ir.GetStatus().GetCode(), ir.GetBody(), c.body)
				}
				ct := ""
				for _, h := range ir.GetHeaders().GetSetHeaders() {
					if h.GetHeader().GetKey() == "content-type" {
						ct = string(h.GetHeader().GetRawValue())
					}
				}
				if c.body == lim1 && ct != "text; charset=utf-8" {
					t.Errorf("LIM-1 413 content-type %q", ct)
				}
			}
		})
	}
	if n := invoked.Load(); n != 0 {
		t.Errorf("function invoked %d times for bodies that cannot be served", n)
	}
	// 1 MiB of NUL bytes: a 6 MiB event, refused from the estimate (the event is never built); 1 MiB of text
	// reaches the function.
	nul := play(t, 1<<20, true)
	if nul.GetStatus().GetCode() != 413 || string(nul.GetBody()) != tooLong || invoked.Load() != 0 {
		t.Errorf("1 MiB of NUL bytes: %d %q, invoked %d", nul.GetStatus().GetCode(), nul.GetBody(), invoked.Load())
	}
	copy(big, bytes.Repeat([]byte("a"), 1<<20))
	if ok := play(t, 1<<20, false); ok.GetStatus().GetCode() != 200 || invoked.Load() != 1 {
		t.Errorf("1 MiB of text: %d, invoked %d", ok.GetStatus().GetCode(), invoked.Load())
	}
}
