package evaluator

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// Respond computes the client's response from an upstream response on a `route` route:
//
//  1. the HTTP/1 upstream codec lower-cases names;
//  2. the router applies response headers route -> virtual host -> route configuration
//     (Router::Filter::onUpstreamHeaders -> finalizeResponseHeaders; each level removes,
//     then formats every value against the headers left, then overwrites, then appends;
//     %RESP(h)% reads the upstream response as already changed by more specific levels,
//     %REQ(h)% the request as forwarded);
//  3. encoder filters in reverse chain order: header_mutation applies its filter-level
//     then per-route response_mutations in order (they run after the router's route
//     headers, HCM-19); an ext_proc filter that would see response headers is not modelled
//     (error);
//  4. the HCM (ConnectionManagerImpl::ActiveStream::encodeHeaders and
//     ConnectionManagerUtility::mutateResponseHeaders): date is added only when absent,
//     server per server_header_transformation, connection/upgrade/transfer-encoding/
//     keep-alive/proxy-connection are removed, x-request-id copied when
//     always_set_request_id_in_response;
//  5. the HTTP/1 server codec adds content-length: 0 to a headers-only response or
//     transfer-encoding: chunked to a streamed one without content-length (not for 1xx,
//     204, 304 or HEAD).
//
// %UNIQUE_ID% in request headers is evaluated again here (fresh UUIDs).
func (e *Evaluator) Respond(sel *Selection, req *Request, up *UpstreamResponse) (*Response, error) {
	if sel == nil || sel.rt == nil || sel.rt.direct != nil {
		return nil, fmt.Errorf("evaluator: Respond needs a selection whose route has a route action")
	}
	if up == nil || up.Status < 100 || up.Status > 999 {
		return nil, fmt.Errorf("evaluator: upstream response needs a status")
	}
	d, err := e.decode(req)
	if err != nil {
		return nil, err
	}
	// The request side is replayed for %REQ()% in response headers; a request the filters would have answered
	// never reached the upstream.
	if early, err := e.decodeFilters(sel, d); err != nil || early != nil {
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("evaluator: the request was answered locally (status %d) before reaching the upstream", early.Status)
	}
	if err := e.finalizeRequestHeaders(sel, d); err != nil {
		return nil, err
	}
	resp := newResponseMap()
	resp.add(":status", strconv.Itoa(up.Status))
	for _, kv := range up.Headers {
		if strings.HasPrefix(kv[0], ":") {
			return nil, fmt.Errorf("evaluator: pseudo-header %q in UpstreamResponse.Headers", kv[0])
		}
		resp.add(kv[0], kv[1])
	}
	streamed := resp.has("transfer-encoding") || (!resp.has("content-length") && len(up.Body) > 0)
	c := &fmtCtx{req: d.h, resp: resp, uuid: e.uuid, remoteAddr: d.trustedAddr}
	for _, ops := range []*headerOps{sel.rt.respOps, sel.vh.respOps, sel.rc.respOps} {
		if err := ops.apply(resp, c); err != nil {
			return nil, err
		}
	}
	head := d.method() == "HEAD"
	body := up.Body
	if err := e.encodeResponse(sel, d, resp, head, !streamed && len(body) == 0, d.clientClose); err != nil {
		return nil, err
	}
	return e.finish(resp, body, head, "via_upstream")
}

// LocalReply computes the response Envoy sends when it answers locally on the selected
// route: status/body/flags/details describe the reply as its source generates it, e.g.
//
//	504 "upstream request timeout" flags "UT" details "upstream_response_timeout"
//	503 "upstream connect error or disconnect/reset before headers. ..." flags "UF"
//	413 "Payload Too Large" (buffer limit) ...
//
// Flags are %RESPONSE_FLAGS% short names, comma separated ("" for none).
//
// Every local reply passes through local_reply_config (HCM-12): Utility::prepareLocalReply
// (source/common/http/utility.cc) applies, in order,
//  1. the route's response headers (route -> virtual host -> route configuration) when
//     the selected route has a route action (FilterManager::sendLocalReplyViaFilterChain
//     calls routeEntry()->finalizeResponseHeaders, envoy PR#13204); direct_response routes
//     have no route entry, so an ext_proc immediate response on them gets no route
//     headers;
//  2. the first mapper whose filter matches (ResponseMapper::matchAndRewrite): its body,
//     its headers_to_add, its status_code, its body_format_override; else the top-level
//     body_format; else the body unchanged as text/plain;
//  3. a non-empty body gets content-length, and content-type when none is set or when the
//     body was rewritten and no mapper header changed content-type; an empty body loses
//     content-length and content-type; a HEAD request gets the headers without the body.
//
// Then the encoder filters and the HCM as in Respond.
func (e *Evaluator) LocalReply(sel *Selection, req *Request, status int, body, flags, details string) (*Response, error) {
	return e.LocalReplyWithMetadata(sel, req, status, body, flags, details, nil)
}

// LocalReplyWithMetadata is LocalReply with the stream's dynamic metadata, for mappers that
// use metadata_filter.
func (e *Evaluator) LocalReplyWithMetadata(sel *Selection, req *Request, status int, body, flags, details string, meta map[string]*structpb.Struct) (*Response, error) {
	if sel == nil {
		sel = &Selection{}
	}
	d, err := e.decode(req)
	var rej *RejectedError
	if errors.As(err, &rej) {
		// Envoy answered before the HCM processed the request: the local reply sees the
		// request headers as the codec produced them, and there is no route.
		if d, err = e.rawDecode(req); err != nil {
			return nil, err
		}
		sel = &Selection{}
	}
	if err != nil {
		return nil, err
	}
	routeHeaders := sel.rt != nil && sel.rt.direct == nil
	if routeHeaders {
		if _, err := e.decodeFilters(sel, d); err != nil {
			return nil, err
		}
		if err := e.finalizeRequestHeaders(sel, d); err != nil {
			return nil, err
		}
	}
	return e.localReply(sel, d, status, body, flags, details, meta, routeHeaders)
}

func (e *Evaluator) directResponse(sel *Selection, d *decodedRequest) (*Response, error) {
	// Router::Filter::decodeHeaders: sendLocalReply(responseCode, responseBody, modify
	// headers = direct_response->finalizeResponseHeaders, details "direct_response").
	return e.localReply(sel, d, sel.rt.direct.status, sel.rt.direct.body, "", "direct_response", nil, true)
}

func parseFlags(flags string) (map[string]bool, error) {
	out := map[string]bool{}
	if flags == "" || flags == "-" {
		return out, nil
	}
	for _, f := range strings.Split(flags, ",") {
		f = strings.TrimSpace(f)
		if !knownResponseFlags[f] {
			return nil, fmt.Errorf("evaluator: unknown response flag %q", f)
		}
		out[f] = true
	}
	return out, nil
}

// Reject computes the client's response when Envoy refuses the request before routing
// (a *RejectedError from Select, Forward, Respond or LocalReply): the local reply with the
// rejection's status, body and details through the HCM's local_reply_config, without a
// route, and with connection: close - the HTTP/1 codec's refusals come before the request
// was complete (ActiveStream::encodeHeaders, !hasLastDownstreamByteReceived), a 400 drains
// the connection (ActiveStream::onLocalReply) and so does a refused upgrade
// (setShouldDrainConnectionUponCompletion before the 403).
func (e *Evaluator) Reject(req *Request, rej *RejectedError) (*Response, error) {
	if req == nil || rej == nil {
		return nil, fmt.Errorf("evaluator: Reject needs the request and its rejection")
	}
	d := &decodedRequest{h: newRequestMap(), body: req.Body, trustedAddr: req.RemoteAddr}
	if !rej.Codec {
		var err error
		if d, err = e.rawDecode(req); err != nil {
			return nil, err
		}
	}
	return e.localReplyModify(&Selection{}, d, rej.Status, rej.Body, "", rej.Details, nil, false, true, nil)
}

// repliesBeforeRequestEnd are the local replies Envoy sends while the request body, if
// any, is still to come: the router's at decodeHeaders (direct_response, no route) and
// the buffer limit's 413, which is exceeded while the body arrives. Envoy source/common/
// http/conn_manager_impl.cc ActiveStream::encodeHeaders (main 1.37.0-dev, 321a098d81):
// "If we are destroying a stream before remote is complete and the connection does not
// support multiplexing, we should disconnect" - connection: close on HTTP/1.1. Replies
// after the whole request (upstream responses and failures, ext_proc answers, which come
// after the body was buffered or streamed to its end) keep the connection.
var repliesBeforeRequestEnd = map[string]bool{
	"direct_response":           true,
	"route_not_found":           true,
	"request_payload_too_large": true,
}

func (e *Evaluator) localReply(sel *Selection, d *decodedRequest, code int, body, flags, details string, meta map[string]*structpb.Struct, routeHeaders bool) (*Response, error) {
	return e.localReplyModify(sel, d, code, body, flags, details, meta, routeHeaders, false, nil)
}

// localReplyModify is localReply with closeConn forcing connection: close (rejections) and
// the sendLocalReply caller's modify_headers
// (applied after the route's response headers, before the mappers: DownstreamFilterManager::
// sendLocalReplyViaFilterChain's first EncodeFunction).
func (e *Evaluator) localReplyModify(sel *Selection, d *decodedRequest, code int, body, flags, details string, meta map[string]*structpb.Struct, routeHeaders, closeConn bool, modify func(*headerMap)) (*Response, error) {
	// ActiveStream::onLocalReply: a 400 local reply on HTTP/1 drains the connection unless
	// stream_error_on_invalid_http_message; the code is the one the source asked for,
	// before any mapper rewrote it.
	closeConn = closeConn || d.clientClose || (code == 400 && !e.hcm.streamErrorOnInvalidHTTPMessage) ||
		(repliesBeforeRequestEnd[details] && d.hasBodyStream())
	fl, err := parseFlags(flags)
	if err != nil {
		return nil, err
	}
	if code < 100 || code > 999 {
		return nil, fmt.Errorf("evaluator: local reply status %d", code)
	}
	resp := newResponseMap()
	resp.add(":status", strconv.Itoa(code))
	c := &fmtCtx{req: d.h, resp: resp, uuid: e.uuid, remoteAddr: d.trustedAddr, code: code, flags: normFlags(flags), details: details}
	if routeHeaders && sel.rt != nil {
		for _, ops := range []*headerOps{sel.rt.respOps, sel.vh.respOps, sel.rc.respOps} {
			if err := ops.apply(resp, c); err != nil {
				return nil, err
			}
		}
	}
	if modify != nil {
		modify(resp)
	}
	original := body
	ctBefore, _ := resp.first("content-type")

	// LocalReplyImpl::rewrite (source/common/local_reply/local_reply.cc).
	lr := e.hcm.localReply
	final := lr.bodyFormat
	in := &lrInput{req: d.h, code: code, flags: fl, meta: meta}
	for _, m := range lr.mappers {
		if !m.filter(in) {
			continue
		}
		if m.body != nil {
			body = *m.body
		}
		if err := m.headers.apply(resp, c); err != nil {
			return nil, err
		}
		if m.status != 0 && m.status != code {
			code = m.status
			resp.setInline(":status", strconv.Itoa(code))
			c.code = code
		}
		if m.bodyFormat != nil {
			final = m.bodyFormat
		}
		break
	}
	if final == nil {
		final = defaultBodyFormat
	}
	c.body = body
	body, err = final.format(c)
	if err != nil {
		return nil, err
	}
	ctAfter, _ := resp.first("content-type")
	customCT := ctAfter != ctBefore
	if body != "" {
		resp.setInline("content-length", strconv.Itoa(len(body)))
		if !resp.has("content-type") || (body != original && !customCT) {
			resp.setInline("content-type", final.contentType)
		}
	} else {
		resp.remove("content-length")
		resp.remove("content-type")
	}
	head := d.method() == "HEAD"
	if err := e.encodeResponse(sel, d, resp, head, body == "" || head, closeConn); err != nil {
		return nil, err
	}
	r, err := e.finish(resp, []byte(body), head, details)
	if err != nil {
		return nil, err
	}
	return r, nil
}

func normFlags(f string) string {
	if f == "-" {
		return ""
	}
	return strings.ReplaceAll(f, " ", "")
}

// encodeResponse runs the encoder filters, the HCM's response processing and the HTTP/1
// codec framing on resp.
func (e *Evaluator) encodeResponse(sel *Selection, d *decodedRequest, resp *headerMap, head, endStream, closeConn bool) error {
	c := &fmtCtx{req: d.h, resp: resp, uuid: e.uuid, remoteAddr: d.trustedAddr}
	fs := e.hcm.filters
	for i := len(fs) - 1; i >= 0; i-- {
		f := fs[i]
		switch f.kind {
		case filterHeaderMutation:
			if !filterEnabled(f, sel.vh, sel.rt) {
				continue
			}
			// HeaderMutation::encodeHeaders.
			if err := f.respMut.apply(resp, c); err != nil {
				return err
			}
			for _, pf := range hmLevels(f, sel) {
				if err := pf.hmResp.apply(resp, c); err != nil {
					return err
				}
			}
		case filterExtProc:
			if sel.ExtProc != nil {
				m := sel.ExtProc.ProcessingMode.GetResponseHeaderMode()
				if m != extprocfilterv3.ProcessingMode_SKIP {
					return fmt.Errorf("evaluator: the ext_proc filter sends response headers (mode %v) to the processor on route %q; not modelled", m, sel.Name)
				}
			}
		}
	}
	// ConnectionManagerImpl::ActiveStream::encodeHeaders: "We want to preserve the
	// original date header, but we add a date header if it is absent".
	if !resp.has("date") {
		resp.setInline("date", e.now().UTC().Format(http.TimeFormat))
	}
	switch e.hcm.serverTransform {
	case hcmv3.HttpConnectionManager_OVERWRITE:
		resp.setInline("server", e.hcm.serverName)
	case hcmv3.HttpConnectionManager_APPEND_IF_ABSENT:
		if !resp.has("server") {
			resp.setInline("server", e.hcm.serverName)
		}
	}
	for _, n := range []string{"connection", "upgrade", "transfer-encoding", "keep-alive", "proxy-connection"} {
		resp.remove(n)
	}
	// ActiveStream::encodeHeaders, after mutateResponseHeaders: a stream that drains its
	// HTTP/1.1 connection (the client asked for close, a 400 local reply, a reply before the
	// request was complete) gets "connection: close" (setReferenceConnection).
	if closeConn {
		resp.setInline("connection", "close")
	}
	if e.hcm.alwaysSetRequestIDInResp {
		if id, ok := d.h.first("x-request-id"); ok {
			resp.setInline("x-request-id", id)
		}
	}
	// HTTP/1 server codec: Envoy source/common/http/http1/codec_impl.cc
	// StreamEncoderImpl::encodeHeadersBase (main 1.37.0-dev, 321a098d81). Without
	// content-length, 1xx/204/304 get nothing; a headers-only response gets
	// "content-length: 0" unless it answers a HEAD request; everything else - a HEAD
	// response included ("Envoy may send an informational Transfer-Encoding: chunked
	// header, but should not send a chunk encoded body") - gets transfer-encoding: chunked.
	st, _ := resp.first(":status")
	status, _ := strconv.Atoi(st)
	if !resp.has("content-length") && status >= 200 && status != 204 && status != 304 {
		if endStream && !head {
			resp.add("content-length", "0")
		} else {
			resp.add("transfer-encoding", "chunked")
		}
	}
	return nil
}

func (e *Evaluator) finish(resp *headerMap, body []byte, head bool, details string) (*Response, error) {
	st, _ := resp.first(":status")
	status, err := strconv.Atoi(st)
	if err != nil {
		return nil, fmt.Errorf("evaluator: bad :status %q", st)
	}
	r := &Response{Status: status, Headers: resp.pairs(false), Details: details}
	if !head {
		r.Body = body
	}
	return r, nil
}
