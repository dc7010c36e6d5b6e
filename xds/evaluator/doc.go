// Package evaluator predicts what Envoy does with a request, given the
// RouteConfiguration and HttpConnectionManager proxyplus generates, without running
// Envoy. It applies Envoy's documented route matching, route actions, header
// manipulation and local reply handling, and refuses (New returns an *UnsupportedError)
// every field it does not implement, so an evaluation is never silently wrong.
//
// Typical use:
//
//	ev, err := evaluator.New(routeConfig, hcm)
//	sel, err := ev.Select(req)              // virtual host + route
//	out, err := ev.Forward(sel, req)        // upstream request, or a local reply
//	resp, err := ev.Respond(sel, req, up)   // client response from an upstream response
//	resp, err = ev.LocalReply(sel, req, 504, "upstream request timeout", "UT", "upstream_response_timeout")
//
// # Modelled behaviour and sources
//
// Envoy version: the Envoy API of go-control-plane/envoy v1.40.0 (Envoy ≥ 1.36, BASE-2).
// Source files are cited by path in envoyproxy/envoy; "notes" refers to
// /work/shared/spec/envoy-notes.md.
//
// Envoy source read for the behaviours below: main 1.37.0-dev, commit 321a098d81
// (/work/envoy-src); each function cites the file and function it follows.
//
// Request decoding (request.go):
//   - HTTP/1 parser (BalsaParser/BalsaFrame, codec_impl.cc): the raw header block (request
//     line with the query, "name: value" lines with CRLFs, Host included, final CRLF) over
//     max_request_headers_kb and more header lines (Host included) than max_headers_count
//     answer 431 "Request Header Fields Too Large"; methods outside http-parser's list
//     (allow_custom_methods off) and targets with bytes <= 0x20, DEL or >= 0x80 answer 400
//     "Bad Request" (Evaluator.Reject builds these replies, connection: close).
//   - HTTP/1 codec: Host becomes :authority (and "host" is an alias of :authority in the
//     request map); repeated inline headers - Envoy's static ones and those the standard
//     build's extensions register (accept, authorization, cache-control, origin, ...) - are
//     joined with "," (HeaderMapImpl::insertByKey), in responses too; Connection-nominated
//     headers are removed and abusive nominations rejected
//     (Utility::sanitizeConnectionHeader); a '#' in the path answers 400
//     (http_reject_path_with_fragment).
//   - HCM (ConnectionManagerUtility::mutateRequestHeaders, docs "HTTP header
//     manipulation" and "HTTP header sanitizing"): hop-by-hop headers connection, upgrade,
//     keep-alive, proxy-connection, transfer-encoding removed, te reduced to "trailers"
//     (envoy PR#30535/#32255); x-forwarded-for/-proto/-port, x-envoy-external-address,
//     x-envoy-internal, x-request-id, x-forwarded-client-cert and the x-envoy-* control
//     headers per use_remote_address, xff_num_trusted_hops, internal_address_config
//     (nothing internal by default since 1.33), generate_request_id (default true); a
//     loopback peer is replaced in x-forwarded-for by the server's LocalInfo address
//     (WithServerAddress), not the listener's;
//     Expect: 100-continue is consumed when proxy_100_continue is false (HCM-14); a
//     request without Host answers 400 (missing_host_header); :scheme follows
//     x-forwarded-proto. Route matching sees the request after this step.
//
// Route selection (match.go): virtual host by :authority (ignore_port_in_host_matching
// strips the port; exact, then suffix wildcards longest first, then prefix wildcards
// longest first, then "*"; route_components.proto VirtualHost.domains and
// RouteMatcher::findVirtualHost); routes in order, first match wins; prefix, path,
// path_separated_prefix and safe_regex (RE2 full match) on the path without query and
// fragment; case_sensitive; header matchers with Envoy's absent-header and invert_match
// rules (HeaderUtility::matchHeaders: an absent header never matches a value matcher,
// inverted or not).
//
// Forwarding (forward.go): header_mutation request mutations, then the router's
// finalizeRequestHeaders - request headers route -> virtual host -> route configuration,
// each level removing before adding (HeaderParser::evaluateHeaders), host_rewrite_literal,
// prefix_rewrite / regex_rewrite (RE2 GlobalReplace on the path, query kept) - then the
// HTTP/1 client codec framing (content-length: 0 for a headers-only request except GET,
// HEAD, DELETE, TRACE, CONNECT). Route timeout defaults to 15s. On a route whose ext_proc
// buffers the body (BUFFERED), a body over the stream's buffer limit answers 413 (EXT-7): the
// listener's per_connection_buffer_limit_bytes (WithConnectionBufferLimit), raised to the
// route's request_body_buffer_limit only for routes with a route entry (not direct_response);
// FULL_DUPLEX_STREAMED keeps no body and has no Envoy limit.
//
// The ext_proc exchange (extproc.go): ExtProcExchange is the message sequence Envoy plays
// (which messages, which await an answer); ExtProcDynamicMetadata what Envoy keeps of a
// processor answer's dynamic_metadata (receiving_namespaces).
//
// Responses (respond.go): route -> virtual host -> route configuration response headers,
// the header_mutation filter's response mutations, the HCM's date/server/hop-by-hop
// handling and the HTTP/1 server codec framing; local replies (direct_response, no route,
// upstream failures) through local_reply_config mappers (status_code_filter,
// response_flag_filter, header_filter, metadata_filter, and_filter, or_filter; body,
// body_format_override text/json, status_code, headers_to_add; first match wins) and
// Utility::prepareLocalReply's content-length/content-type rules; a HEAD request gets the
// headers without the body (and transfer-encoding: chunked without content-length).
// connection: close follows ActiveStream::encodeHeaders/onLocalReply: replies sent before
// the request was complete, 400 local replies, a client's Connection: close.
//
// Formatters (formatter.go): literals, %%, %REQ()%, %RESP()%, %UNIQUE_ID%,
// %DOWNSTREAM_REMOTE_ADDRESS[_WITHOUT_PORT]%, and in local replies %LOCAL_REPLY_BODY%,
// %RESPONSE_CODE%, %RESPONSE_CODE_DETAILS%, %RESPONSE_FLAGS%. An empty header value is
// not added unless keep_empty_value; append_action and the deprecated append BoolValue
// follow HeadersToAddEntry.
//
// ext_proc (extproc.go): which routes enable the filter (HttpFilter.disabled plus
// typed_per_filter_config FilterConfig/ExtProcPerRoute, EXT-15), the effective
// processing mode and grpc_initial_metadata, and ApplyExtProcHeaderMutation for a
// processor's request-headers answer (mutation_utils.cc, mutation_rules Checker; a value
// with a control character fails the request: *ExtProcError), and ImmediateResponse for a
// processor's immediate response (Filter::sendImmediateResponse, setDynamicMetadata's
// receiving namespaces, then the local-reply path).
//
// Authorization filters (jwtauthn.go, extauthz.go): jwt_authn as proxyplus configures it
// (per-route requirement_name, providers with one from_header, remote JWKS supplied by the
// caller: VerifyJWT follows authenticator.cc startVerify's order and filter.cc onComplete's
// reply, JWTAuthnReply sends it through the mappers with the failure status in dynamic
// metadata), and ext_authz (ExtAuthzCheckRequest: CheckRequestUtils::createHttpCheck's
// headers, context extensions and metadata_context; ExtAuthzResult: Filter::onComplete's
// OK metadata or denied local reply). ExtProcExchangeWithMetadata adds the
// forwarding_namespaces metadata_context the ext_proc filter sends. Callers play these
// filters in the HCM's order before ext_proc and Forward (testinvoke.Invoker.authorize).
package evaluator
