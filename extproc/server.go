// Package extproc is proxyplus's Envoy ext_proc service (envoy.service.ext_proc.v3.ExternalProcessor). Envoy
// calls it only on routes that enable it; what a route needs arrives as per-route gRPC initial metadata written by
// the xDS builders (ir.RouteMetadataKey), so the service holds no copy of the definitions and scales out freely.
//
// Envoy's messages are read from their wire form (request.go; received whole by serverCodec, one of
// ServerOptions) and Lambda answers written in wire form (wire.go): the generated messages' decoding and encoding
// were most of a Lambda request's cost in the service.
package extproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/proxyplus/proxyplus/authorizer"
	"github.com/proxyplus/proxyplus/internal/routecache"
	"github.com/proxyplus/proxyplus/ir"
	"github.com/proxyplus/proxyplus/lambdaproxy"
)

// Server answers Envoy's ext_proc streams.
type Server struct {
	extprocsvcv3.UnimplementedExternalProcessorServer
	log    *slog.Logger
	lambda *Lambda
	// routeKeys verify the streams' route data; routes remembers what verified.
	routeKeys ir.RouteKeys
	routes    routecache.Cache
	// events holds the routes' constant event parts (eventroutes.go).
	events eventRoutes
}

// NewServer returns a processor that logs to log and serves Lambda proxy routes with lambda (nil: those
// routes fail with API Gateway's 500). It acts only on route data signed with one of keys (the control plane's
// route keys, ir.RouteKeys); any other stream gets API Gateway's 500 and invokes nothing.
func NewServer(log *slog.Logger, lambda *Lambda, keys ir.RouteKeys) *Server {
	if lambda != nil && lambda.Log == nil {
		lambda.Log = log
	}
	if lambda != nil && lambda.Authorizer == nil {
		lambda.Authorizer = &authorizer.Authorizer{Invoker: lambda.Invoker, Cache: authorizer.NewCache(0), AccountID: lambda.AccountID, Now: lambda.Now, Log: log}
	}
	return &Server{log: log, lambda: lambda, routeKeys: keys}
}

// Process serves one HTTP request: Envoy opens one stream per request (envoy-notes EXT-1) and expects exactly one
// answer of the matching kind per message it sends (EXT-5).
func (s *Server) Process(stream extprocsvcv3.ExternalProcessor_ProcessServer) error {
	pr, routeErr := s.routeFromMetadata(stream)
	if s.lambda != nil && s.lambda.Metrics != nil {
		s.lambda.Metrics.streams.Inc()
		defer s.lambda.Metrics.streams.Dec()
	}
	st := newStreamState()
	defer func() {
		if st != nil {
			st.free()
		}
	}()
	for {
		err := stream.RecvMsg(&st.msg.raw)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			// Envoy cancelled the stream (client gone, Envoy's own timeout): nothing left to answer (EXT-8 item 4).
			if status.Code(err) == codes.Canceled {
				return nil
			}
			return err
		}
		resp, err := s.receive(stream.Context(), st, pr, routeErr)
		if err != nil {
			return err
		}
		if resp == nil {
			// FULL_DUPLEX_STREAMED: Envoy does not wait for an answer to the headers or to a body chunk before
			// end_of_stream; the one answer comes after it (envoy-notes EXT-6a).
			continue
		}
		err = stream.Send(resp)
		final := resp == &st.resp || resp.GetImmediateResponse() != nil
		st.sent()
		if err != nil {
			return err
		}
		if final {
			// The stream's memory (the request body among it) goes back before the wait for Envoy's close.
			st.free()
			st = nil
			drainAfterAnswer(stream)
			return nil
		}
	}
}

// drainAfterAnswer waits, once the final answer is sent, for Envoy to end the stream before the handler returns.
// After an immediate response Envoy closes its side and resets the stream (ext_proc.cc Filter::closeStream →
// ProcessorStreamImpl::close: closeStream, then resetStream; source/extensions/filters/common/ext_proc/
// grpc_client_impl.h, main 1.37.0-dev 321a098d81), so the trailers a returning handler makes gRPC write would
// arrive after the reset, unread: returning on Envoy's close instead writes nothing more, and keeps that write
// off the path of the answer. A client that ends its side with a half-close (grpc-go's CloseSend, the benchmark
// clients) gets the trailers then. A message instead (body chunks still in flight when an early answer — a 413 —
// went out, or a peer that is not Envoy) ends the stream at once, as before: nothing after the answer is read.
// A peer that neither sends nor closes holds the stream (its state is already released) until the connection
// ends, as a peer that opens a stream and sends nothing does: the processor serves Envoy only (loopback, a Unix
// socket or mTLS; README "Security").
func drainAfterAnswer(stream extprocsvcv3.ExternalProcessor_ProcessServer) {
	_ = stream.RecvMsg(new(emptypb.Empty)) // whatever it is, read as bytes (request.go)
}

// streamState is what one stream remembers between Envoy's messages: the request headers of a Lambda request
// whose body follows. The header list and the Lambda request live in it, so a stream allocates them once.
type streamState struct {
	headers *RequestHeaders
	body    []byte
	// duplex is set when Envoy streams the body in FULL_DUPLEX_STREAMED mode (its first message's
	// protocol_config says so): then nothing before end_of_stream is answered.
	duplex bool
	// received counts the body bytes Envoy has sent; once it passes maxEventBytes the body can no longer fit an
	// event (tooLong) and is no longer kept, only counted up to the 10 MB limit (LIM-1).
	received int
	tooLong  bool
	// declared is the Content-Length (0 when none): the room reserved once a second chunk comes; ownBody is set
	// once body is a buffer of the stream's rather than the first chunk's bytes.
	declared int
	ownBody  bool
	rh       RequestHeaders
	lreq     lambdaproxy.Request
	// auth is what Envoy's authorization filters established (AuthFromMetadata), from the headers message.
	auth *lambdaproxy.Auth
	x    Exchange
	// list is room for a usual request's headers (more spill to the heap), kept with the pooled state; listUsed
	// counts its entries written, cleared by free.
	list     *[24][2]string
	listUsed int
	// msg is the message being handled (request.go).
	msg envoyMessage
	// resp is a Lambda answer in wire form (appendImmediateWire) as unknown fields, in wire's pooled buffer.
	resp extprocsvcv3.ProcessingResponse
	wire *[]byte
}

// streamStates recycles stream states: one per Lambda request, 1.3 KB with pointers, otherwise allocated, zeroed
// and then scanned by the GC on every request.
var streamStates = sync.Pool{New: func() any { return &streamState{list: new([24][2]string)} }}

func newStreamState() *streamState { return streamStates.Get().(*streamState) }

// free returns st to the pool once its stream is done: nothing holds it then (the invocation is over, the answer
// sent). It is cleared first, so a pooled state keeps no request's memory alive. The header list is cleared as far
// as it was written, not whole: zeroing all 1.6 KB of the state cost ≈ 1.8k instructions per Lambda request, most
// of it the GC's write barriers while it marks (callgrind, Dec 2026).
func (st *streamState) free() {
	st.sent()
	list := st.list
	clear(list[:st.listUsed])
	*st = streamState{list: list}
	streamStates.Put(st)
}

// sent is called once an answer has been sent (gRPC has copied it): the wire buffer goes back to the pool.
func (st *streamState) sent() {
	bp := st.wire
	if bp == nil {
		return
	}
	st.wire = nil
	st.resp.ProtoReflect().SetUnknown(nil)
	if cap(*bp) <= maxPooledWire {
		*bp = (*bp)[:0]
		wireBuffers.Put(bp)
	}
}

// receive handles the message gRPC has just received into st.msg.raw.
func (s *Server) receive(ctx context.Context, st *streamState, pr *ir.ProcessorRoute, routeErr error) (*extprocsvcv3.ProcessingResponse, error) {
	err := st.msg.decode(&st.rh, st.list[:])
	if st.msg.kind == fieldRequestHeaders {
		st.listUsed = max(st.listUsed, min(len(st.rh.Headers), len(st.list)))
	}
	if err != nil {
		// Not a ProcessingRequest: Envoy answers the client 500 for the failed stream (failure_mode_allow is
		// never set; ext_proc.cc Filter::onGrpcError).
		route := ""
		if pr != nil {
			route = pr.Route.Name
		}
		s.log.Error("ext_proc message is not a well-formed ProcessingRequest", "route", route, "error", err)
		return nil, status.Errorf(codes.InvalidArgument, "ProcessingRequest: %v", err)
	}
	return s.handle(ctx, st, pr, routeErr, &st.msg), nil
}

func (s *Server) handle(ctx context.Context, st *streamState, pr *ir.ProcessorRoute, routeErr error, req *envoyMessage) *extprocsvcv3.ProcessingResponse {
	if routeErr != nil {
		// A route without valid metadata is a configuration bug, never client input: fail the request like API
		// Gateway fails a broken integration.
		s.log.Error("ext_proc stream without a usable route", "error", routeErr)
		if s.lambda != nil {
			s.lambda.Metrics.refused()
		}
		return internalError("proxyplus_route_metadata_invalid")
	}
	switch req.kind {
	case fieldRequestHeaders:
		switch pr.Route.Integration.Type {
		case ir.HTTPProxy:
			rh := &st.rh
			refusal, auth := s.authorizeHeaders(ctx, pr, rh)
			if refusal != nil {
				return refusal
			}
			hm, err := RewriteHTTPProxyAuthorized(pr, rh, auth)
			if err != nil {
				s.log.Error("HTTP_PROXY rewrite failed", "route", pr.Route.Name, "error", err)
				return internalError("proxyplus_http_proxy_rewrite_failed")
			}
			return &extprocsvcv3.ProcessingResponse{Response: &extprocsvcv3.ProcessingResponse_RequestHeaders{
				RequestHeaders: &extprocsvcv3.HeadersResponse{Response: &extprocsvcv3.CommonResponse{HeaderMutation: hm}},
			}}
		case ir.AWSProxy, ir.Mock: // a MOCK streams its body like a Lambda route (mock.go)
			st.headers = &st.rh
			st.auth = AuthFromMetadata(req.metadata)
			// Envoy names its body mode in the first message of a stream (ext_proc.cc
			// Filter::encodeProtocolConfig, main 1.37.0-dev 321a098d81); without it (Envoy < 1.34) or in
			// BUFFERED mode Envoy waits for a headers answer before it sends the body (EXT-8).
			st.duplex = req.bodyMode == extprocfilterv3.ProcessingMode_FULL_DUPLEX_STREAMED
			if req.endOfStream {
				// No body: the whole exchange is headers → immediate response (envoy-notes EXT-8 item 1).
				return s.serveLambda(ctx, pr, st)
			}
			if resp := s.refuseDeclaredBody(ctx, pr, st); resp != nil {
				return resp
			}
			if st.duplex {
				// The body follows without waiting; answering the headers would release the request to the
				// router (processor_state.cc ProcessorState::handleHeadersResponse in FULL_DUPLEX_STREAMED).
				return nil
			}
			// A body follows; Envoy buffers it once the headers are answered (EXT-8 item 2).
			return continueRequestHeaders
		default:
			return s.unsupported(pr)
		}
	case fieldRequestBody:
		if !streamsBody(pr) || st.headers == nil {
			return s.unsupported(pr)
		}
		chunk, eos := req.body, req.endOfStream
		if resp := s.addBody(ctx, pr, st, chunk); resp != nil {
			return resp
		}
		if !eos {
			if st.duplex {
				return nil // FULL_DUPLEX_STREAMED: chunks are not answered (EXT-6a)
			}
			// BUFFERED mode sends the body in one message; keep the exchange well-formed if a chunk ever comes.
			return &extprocsvcv3.ProcessingResponse{Response: &extprocsvcv3.ProcessingResponse_RequestBody{RequestBody: &extprocsvcv3.BodyResponse{}}}
		}
		return s.serveLambda(ctx, pr, st)
	case fieldRequestTrailers:
		if streamsBody(pr) && st.headers != nil && st.duplex {
			// Trailers end a FULL_DUPLEX_STREAMED body (request_trailer_mode SEND): the last chunk came without
			// end_of_stream. API Gateway's event has no trailers; they are dropped.
			return s.serveLambda(ctx, pr, st)
		}
		return &extprocsvcv3.ProcessingResponse{Response: &extprocsvcv3.ProcessingResponse_RequestTrailers{RequestTrailers: &extprocsvcv3.TrailersResponse{}}}
	case fieldResponseHeaders:
		return &extprocsvcv3.ProcessingResponse{Response: &extprocsvcv3.ProcessingResponse_ResponseHeaders{ResponseHeaders: &extprocsvcv3.HeadersResponse{}}}
	case fieldResponseBody:
		return &extprocsvcv3.ProcessingResponse{Response: &extprocsvcv3.ProcessingResponse_ResponseBody{ResponseBody: &extprocsvcv3.BodyResponse{}}}
	case fieldResponseTrailers:
		return &extprocsvcv3.ProcessingResponse{Response: &extprocsvcv3.ProcessingResponse_ResponseTrailers{ResponseTrailers: &extprocsvcv3.TrailersResponse{}}}
	}
	return internalError("proxyplus_unknown_message")
}

// continueRequestHeaders answers request headers whose body follows. Shared: responses are only marshalled.
var continueRequestHeaders = &extprocsvcv3.ProcessingResponse{Response: &extprocsvcv3.ProcessingResponse_RequestHeaders{
	RequestHeaders: &extprocsvcv3.HeadersResponse{Response: &extprocsvcv3.CommonResponse{}},
}}

// refuseDeclaredBody answers a request whose Content-Length says its body cannot be served, before any of it
// arrives: over 10 MB API Gateway's 413 (LIM-1), else over Lambda's invoke limit the 413 of OUT-4 (the event is
// never smaller than the body). Otherwise it reserves room for the declared body, so that appending the chunks
// never regrows it. nil: go on.
func (s *Server) refuseDeclaredBody(ctx context.Context, pr *ir.ProcessorRoute, st *streamState) *extprocsvcv3.ProcessingResponse {
	v, ok := st.headers.getKnown(st.headers.known.contentLength)
	if !st.headers.known.scanned {
		v, ok = st.headers.Get("content-length")
	}
	if !ok {
		return nil
	}
	n, err := strconv.ParseUint(v, 10, 63)
	if err != nil {
		return nil // Envoy's codec has already refused an invalid Content-Length; a streamed count decides
	}
	switch {
	case n > MaxBodyBytes:
		return s.answerLambda(ctx, pr, st, lambdaproxy.ContentLengthExceeded())
	case n > maxEventBytes:
		st.tooLong = true
	default:
		st.declared = int(n)
	}
	return nil
}

// addBody takes one body chunk. Memory stays bounded whatever Envoy (or a peer posing as it) sends: past
// maxEventBytes the body is dropped and only counted (an event cannot hold it), past MaxBodyBytes the request is
// answered with LIM-1's 413 at once. nil: go on.
func (s *Server) addBody(ctx context.Context, pr *ir.ProcessorRoute, st *streamState, chunk []byte) *extprocsvcv3.ProcessingResponse {
	st.received += len(chunk)
	switch {
	case st.received > MaxBodyBytes:
		return s.answerLambda(ctx, pr, st, lambdaproxy.ContentLengthExceeded())
	case st.received > maxEventBytes || st.tooLong:
		st.tooLong, st.body = true, nil
	case len(chunk) == 0:
		// Envoy's HTTP/1 codec ends every body with an empty end_of_stream chunk (ServerConnectionImpl::
		// onMessageCompleteBase).
	case st.body == nil:
		// The first chunk — often the whole body — is the stream's own (gRPC decoded it into a new message): no copy.
		st.body = chunk
	case !st.ownBody:
		// A second chunk: from now on a buffer of the stream's, with room for the declared length, so that
		// appending never regrows it.
		b := make([]byte, len(st.body), max(st.declared, st.received))
		copy(b, st.body)
		st.body, st.ownBody = append(b, chunk...), true
	default:
		st.body = append(st.body, chunk...)
	}
	return nil
}

// answerLambda answers a Lambda request with resp without invoking anything: a refusal decided before the event.
// It may come while Envoy is still streaming the body: Envoy then sets processing_complete_, closes the stream and
// sends the local reply (ext_proc.cc Filter::onReceiveMessage, sendImmediateResponse); body data arriving after
// that is dropped (filter_manager.cc FilterManager::decodeData stops once a local reply is complete, and
// Filter::onData continues when processing is complete). Main 1.37.0-dev, 321a098d81. Until the answer, a slow
// processor holds the client back rather than filling Envoy's memory: the ext_proc side stream reports its
// watermarks to the request (Http::StreamFilterSidestreamWatermarkCallbacks, ext_proc.h).
func (s *Server) answerLambda(ctx context.Context, pr *ir.ProcessorRoute, st *streamState, resp *lambdaproxy.Response) *extprocsvcv3.ProcessingResponse {
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.Debug("lambda proxy request refused", "route", pr.Route.Name, "status", resp.StatusCode, "details", resp.Details, "body_bytes", st.received)
	}
	return ImmediateResponse(resp)
}

// serveLambda runs the Lambda exchange and answers with an immediate response (envoy-notes EXT-9).
func (s *Server) serveLambda(ctx context.Context, pr *ir.ProcessorRoute, st *streamState) *extprocsvcv3.ProcessingResponse {
	if pr.Route.Integration.Type == ir.Mock {
		return s.serveMock(ctx, pr, st)
	}
	if s.lambda == nil || s.lambda.Invoker == nil {
		return s.unsupported(pr)
	}
	req := &st.lreq
	fillLambdaRequest(req, st.headers, st.body, sourceIP(st.headers), "")
	req.Auth = st.auth
	x := &st.x
	if st.tooLong {
		// The body was not kept: it cannot fit an event (OUT-4).
		s.lambda.refuse(ctx, pr, req, x)
	} else {
		s.lambda.servePooled(ctx, pr, s.events.get(pr, s.lambda.AccountID), req, x)
	}
	defer x.release()
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.Debug("lambda proxy request", "route", pr.Route.Name, "function", pr.Route.Integration.Lambda.FunctionARN,
			"status", x.Response.StatusCode, "details", x.Response.Details, "request_id", x.Context.RequestID)
	}
	// The answer as wire bytes (wire.go): what proto.Marshal writes for ImmediateResponse(x.Response) and the
	// marker, in one pass and no messages.
	bp := wireBuffers.Get().(*[]byte)
	b, ok := appendImmediateWire((*bp)[:0], x.Response)
	if !ok {
		// Not UTF-8 where proto3 wants a string: the message form, which the codec refuses as before. The message
		// is marshalled after the deferred release, but never points into pooled memory: a function's response,
		// the only pooled one, cannot take this path — the output parser answers 502 to a header name that is not
		// an HTTP token (lambdaproxy outValidHeaderName) and sets Details itself.
		wireBuffers.Put(bp)
		resp := ImmediateResponse(x.Response)
		resp.DynamicMetadata = nil
		resp.ProtoReflect().SetUnknown(processorMarkerWire)
		return resp
	}
	*bp = b
	// The access log's values only the processor knows, as dynamic metadata (logmeta.go).
	if !s.lambda.OmitLogMetadata {
		*bp = appendLogMetadataWire(*bp, x)
	}
	s.lambda.Metrics.answered("AWS_PROXY", x.Response.StatusCode)
	st.wire = bp
	st.resp.ProtoReflect().SetUnknown(*bp)
	return &st.resp
}

// ImmediateResponse is a client response as an ext_proc immediate response: raw_value headers, repeated names
// appended rather than overwritten (EXT-9), the details for the access log, and the marker that keeps the HCM's
// local-reply mappers away (HCM-12). The status goes through unchanged even when envoy.type.v3.StatusCode has no
// name for it (see lambdaproxy.ConvertResponse).
func ImmediateResponse(r *lambdaproxy.Response) *extprocsvcv3.ProcessingResponse {
	// This is on every Lambda request's path: the messages share one allocation, the header options and values
	// another, the lower-cased names and the values' bytes one each, instead of three per header.
	m := &immediateMessages{}
	n := len(r.Headers)
	hdrs := make([]headerOption, n)
	opts := m.ptrs[:0]
	if n > len(m.ptrs) {
		opts = make([]*corev3.HeaderValueOption, 0, n)
	}
	size, nameSize := 0, 0
	for _, h := range r.Headers {
		size += len(h[1])
		if hasUpperASCII(h[0]) {
			nameSize += len(h[0])
		}
	}
	raw := make([]byte, 0, size)
	var names string // the ASCII names that need lower-casing, lower-cased, one after the other
	if nameSize > 0 {
		var buf [256]byte
		nb := buf[:0]
		for _, h := range r.Headers {
			if hasUpperASCII(h[0]) {
				nb = appendLowerASCII(nb, h[0])
			}
		}
		names = string(nb)
	}
	off := 0
	for i, h := range r.Headers {
		name := h[0]
		switch {
		case hasUpperASCII(name):
			name = names[off : off+len(name)]
			off += len(name)
		case !isASCII(name):
			name = strings.ToLower(name)
		}
		start := len(raw)
		raw = append(raw, h[1]...)
		hv := &hdrs[i]
		hv.val.Key, hv.val.RawValue = name, raw[start:len(raw):len(raw)]
		hv.opt.Header, hv.opt.Append = &hv.val, overwrite
		for j := 0; j < i; j++ {
			if hdrs[j].val.Key == name {
				hv.opt.Append = appendValue // a repeated name adds a line (EXT-9)
				break
			}
		}
		opts = append(opts, &hv.opt)
	}
	m.mutation.SetHeaders = opts
	m.status.Code = typev3.StatusCode(r.StatusCode)
	m.immediate.Status, m.immediate.Headers, m.immediate.Body, m.immediate.Details = &m.status, &m.mutation, r.Body, r.Details
	m.oneof.ImmediateResponse = &m.immediate
	m.resp.Response, m.resp.DynamicMetadata = &m.oneof, processorMarker
	return &m.resp
}

// immediateMessages are the messages of one immediate response, allocated together.
type immediateMessages struct {
	resp      extprocsvcv3.ProcessingResponse
	oneof     extprocsvcv3.ProcessingResponse_ImmediateResponse
	immediate extprocsvcv3.ImmediateResponse
	status    typev3.HttpStatus
	mutation  extprocsvcv3.HeaderMutation
	ptrs      [8]*corev3.HeaderValueOption
}

type headerOption struct {
	opt corev3.HeaderValueOption
	val corev3.HeaderValue
}

// hasUpperASCII reports an ASCII name with an upper-case letter; strings.ToLower handles the other names.
func hasUpperASCII(s string) bool {
	upper := false
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
		upper = upper || 'A' <= s[i] && s[i] <= 'Z'
	}
	return upper
}

// isASCII reports whether s has no byte ≥ 0x80, eight bytes at a time: the byte loop over an answer's header
// names was ≈ 0.8k of BenchmarkLambdaServe's ≈ 49k instructions per request (callgrind, Dec 2026).
func isASCII(s string) bool {
	var high uint64
	i := 0
	for ; i+8 <= len(s); i += 8 {
		high |= load8(s, i)
	}
	for ; i < len(s); i++ {
		high |= uint64(s[i])
	}
	return high&0x8080808080808080 == 0
}

// load8 is the little-endian word of s[i:i+8] (the compiler makes it one load).
func load8(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// appendLowerASCII appends an ASCII s lower-cased: strings.ToLower's result without its allocation.
func appendLowerASCII(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// The deprecated append flag is the field ext_proc reads for set_headers (EXT-9); shared, never modified.
var (
	overwrite   = wrapperspb.Bool(false)
	appendValue = wrapperspb.Bool(true)
)

// unsupported answers integrations this service does not run yet (Lambda proxy invocation is built separately).
func (s *Server) unsupported(pr *ir.ProcessorRoute) *extprocsvcv3.ProcessingResponse {
	s.log.Error("integration not served by this processor", "route", pr.Route.Name, "type", pr.Route.Integration.Type)
	return internalError("proxyplus_integration_not_supported")
}

// routeFromMetadata reads and verifies the stream's route data. A refusal carries what the one log line needs
// (routeRefusal): why, the route the data claims, and the peer.
func (s *Server) routeFromMetadata(stream extprocsvcv3.ExternalProcessor_ProcessServer) (*ir.ProcessorRoute, error) {
	// Only the one key: FromIncomingContext would copy all of the stream's metadata.
	vals := metadata.ValueFromIncomingContext(stream.Context(), ir.RouteMetadataKey)
	var err error
	if len(vals) == 1 {
		// The deployment id comes from the API's deployment value, which Envoy merges in from the virtual host's
		// ext_proc per-filter config (ir.DeploymentMetadataKey); at most one.
		var deployment string
		switch deps := metadata.ValueFromIncomingContext(stream.Context(), ir.DeploymentMetadataKey); len(deps) {
		case 0:
		case 1:
			deployment = deps[0]
		default:
			err = &ir.RouteDataError{Reason: fmt.Sprintf("want at most one %s metadata value, got %d", ir.DeploymentMetadataKey, len(deps))}
		}
		if err == nil {
			var pr *ir.ProcessorRoute
			if pr, err = s.routes.DecodeDeployed(vals[0], deployment, s.routeKeys); err == nil {
				return pr, nil
			}
		}
	} else {
		err = &ir.RouteDataError{Reason: fmt.Sprintf("want one %s metadata value, got %d", ir.RouteMetadataKey, len(vals))}
	}
	r := &routeRefusal{err: err}
	if p, ok := peer.FromContext(stream.Context()); ok && p.Addr != nil {
		r.peer = p.Addr.String()
	}
	return nil, r
}

// routeRefusal is a stream whose route data the processor refuses. Logged as a group (slog.LogValuer): reason,
// the route the unverified data claims, and the peer that sent it.
type routeRefusal struct {
	err  error
	peer string
}

func (r *routeRefusal) Error() string { return r.err.Error() }
func (r *routeRefusal) Unwrap() error { return r.err }

func (r *routeRefusal) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("reason", r.err.Error())}
	var rd *ir.RouteDataError
	if errors.As(r.err, &rd) {
		attrs[0] = slog.String("reason", rd.Reason)
		if rd.ClaimedRoute != "" {
			attrs = append(attrs, slog.String("claimed_route", rd.ClaimedRoute))
		}
	}
	if r.peer != "" {
		attrs = append(attrs, slog.String("peer", r.peer))
	}
	return slog.GroupValue(attrs...)
}

// internalError is API Gateway's 500 (ERR-2) as an immediate response; details name the cause in Envoy's access
// log (EXT-9).
func internalError(details string) *extprocsvcv3.ProcessingResponse {
	r := lambdaproxy.GatewayError(500, nil)
	r.Details = details
	return ImmediateResponse(r)
}

// processorMarker is the dynamic metadata the HCM's local-reply mappers use to recognise processor responses.
// One shared value: responses only marshal it, and never change it.
var processorMarker = &structpb.Struct{Fields: map[string]*structpb.Value{
	"proxyplus": structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"processor": structpb.NewBoolValue(true)}}),
}}

// processorMarkerWire is processorMarker as ProcessingResponse's dynamic_metadata field on the wire. Set as a
// response's unknown fields it is marshalled as is, and Envoy (or any reader) decodes it as dynamic_metadata.
var processorMarkerWire protoreflect.RawFields = func() []byte {
	b, err := proto.Marshal(&extprocsvcv3.ProcessingResponse{DynamicMetadata: processorMarker})
	if err != nil {
		panic(err)
	}
	return b
}()
