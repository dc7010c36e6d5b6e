package evaluator

import "strings"

// headerMap models Envoy's Http::HeaderMapImpl closely enough for route
// evaluation: an ordered list of (lower-case name, value) entries.
//
// Envoy behaviours reproduced here (source/common/http/header_map_impl.cc):
//   - names are stored lower-case (Http::LowerCaseString);
//   - get() returns every entry with that name, in insertion order;
//   - set (setCopy/setReferenceKey) removes every entry with the name and then
//     adds one entry, so a set header moves to the end of the map (the runtime
//     flag http_set_copy_replace_all_headers, now permanent, removed the old
//     "replace the first value in place" behaviour);
//   - pseudo-headers (":"-prefixed) are always kept before ordinary headers;
//   - in a *request* map the legacy name "host" is an alias of ":authority"
//     (StaticLookupTable<RequestHeaderMap> maps HostLegacy to the Host inline
//     header), so matchers, formatters and mutations that name "host" see and
//     change ":authority".
type headerMap struct {
	entries []hdr
	request bool // apply the host -> :authority alias
}

type hdr struct{ k, v string }

func newRequestMap() *headerMap  { return &headerMap{request: true} }
func newResponseMap() *headerMap { return &headerMap{} }

func (h *headerMap) canon(k string) string {
	k = strings.ToLower(k)
	if h.request && k == "host" {
		return ":authority"
	}
	return k
}

func (h *headerMap) clone() *headerMap {
	c := &headerMap{request: h.request, entries: make([]hdr, len(h.entries))}
	copy(c.entries, h.entries)
	return c
}

// get returns all values of k.
func (h *headerMap) get(k string) []string {
	k = h.canon(k)
	var out []string
	for _, e := range h.entries {
		if e.k == k {
			out = append(out, e.v)
		}
	}
	return out
}

// first returns the first value of k (Envoy's formatter and most header
// accessors read header[0]).
func (h *headerMap) first(k string) (string, bool) {
	k = h.canon(k)
	for _, e := range h.entries {
		if e.k == k {
			return e.v, true
		}
	}
	return "", false
}

func (h *headerMap) has(k string) bool { _, ok := h.first(k); return ok }

// add is addCopy / addReferenceKey / addViaMove, all HeaderMapImpl::insertByKey (Envoy
// source/common/http/header_map_impl.cc, main 1.37.0-dev, 321a098d81): a header Envoy
// keeps inline (inlineRequestHeaders, inlineResponseHeaders) that is already present gets
// the value appended with "," (appendToHeader; an empty value changes nothing); any other
// header gets a new entry.
func (h *headerMap) add(k, v string) {
	k = h.canon(k)
	if !strings.HasPrefix(k, ":") && h.isInline(k) {
		for i, e := range h.entries {
			if e.k == k {
				if v != "" {
					if e.v != "" {
						v = e.v + "," + v
					}
					h.entries[i].v = v
				}
				return
			}
		}
	}
	if strings.HasPrefix(k, ":") {
		// Pseudo-headers are inserted after the last pseudo-header.
		i := 0
		for i < len(h.entries) && strings.HasPrefix(h.entries[i].k, ":") {
			i++
		}
		h.entries = append(h.entries, hdr{})
		copy(h.entries[i+1:], h.entries[i:])
		h.entries[i] = hdr{k, v}
		return
	}
	h.entries = append(h.entries, hdr{k, v})
}

func (h *headerMap) isInline(k string) bool {
	if h.request {
		return inlineRequestHeaders[k]
	}
	return inlineResponseHeaders[k]
}

// inlineResponseHeaders are the response headers Envoy keeps inline: INLINE_RESP_*_HEADERS,
// INLINE_REQ_RESP_*_HEADERS and INLINE_RESP_*_HEADERS_TRAILERS in envoy/http/header_map.h,
// plus the custom inline response headers the extensions of a standard build register
// (RegisterCustomInlineHeader<...ResponseHeaders>: cache and cache_v2, compressor,
// decompressor, cors, hystrix). A repeated one is joined with "," (headerMap.add).
var inlineResponseHeaders = map[string]bool{}

func init() {
	for _, n := range strings.Fields(`date x-envoy-degraded x-envoy-immediate-health-check-fail
		x-envoy-ratelimited x-envoy-upstream-canary x-envoy-upstream-healthchecked-cluster location server
		x-envoy-upstream-service-time
		connection content-type x-envoy-decorator-operation keep-alive proxy-connection proxy-status
		x-request-id transfer-encoding upgrade via content-length x-envoy-attempt-count
		grpc-message grpc-status
		age cache-control content-encoding etag expires last-modified vary
		access-control-allow-credentials access-control-allow-headers access-control-allow-methods
		access-control-allow-origin access-control-allow-private-network access-control-expose-headers
		access-control-max-age`) {
		inlineResponseHeaders[n] = true
	}
}

// set removes every entry named k and adds one with value v.
func (h *headerMap) set(k, v string) {
	h.remove(k)
	h.add(k, v)
}

// setInline models Envoy's typed inline-header setters (setForwardedProto, setServer,
// setEnvoyExternalAddress, ...): the first existing entry keeps its position and gets the
// new value, other entries with the name are dropped; a missing header is appended.
func (h *headerMap) setInline(k, v string) {
	k = h.canon(k)
	for i, e := range h.entries {
		if e.k == k {
			h.entries[i].v = v
			rest := h.entries[:i+1]
			for _, e2 := range h.entries[i+1:] {
				if e2.k != k {
					rest = append(rest, e2)
				}
			}
			h.entries = rest
			return
		}
	}
	h.add(k, v)
}

// appendInline models HeaderMapImpl::appendToHeader on an inline header (e.g.
// appendForwardedFor(addr, ",")): the value is appended to the existing value with the
// delimiter, or the header is created.
func (h *headerMap) appendInline(k, v, delim string) {
	k = h.canon(k)
	for i, e := range h.entries {
		if e.k == k {
			if v == "" {
				return // appendToHeader: empty data changes nothing
			}
			if e.v == "" {
				h.entries[i].v = v
			} else {
				h.entries[i].v = e.v + delim + v
			}
			return
		}
	}
	h.add(k, v)
}

// remove drops every entry named k.
func (h *headerMap) remove(k string) {
	k = h.canon(k)
	out := h.entries[:0]
	for _, e := range h.entries {
		if e.k != k {
			out = append(out, e)
		}
	}
	h.entries = out
}

// byteSize is Envoy's HeaderMap::byteSize(): the sum of key and value sizes.
func (h *headerMap) byteSize() int {
	n := 0
	for _, e := range h.entries {
		n += len(e.k) + len(e.v)
	}
	return n
}

// pairs returns the entries, optionally without pseudo-headers.
func (h *headerMap) pairs(withPseudo bool) [][2]string {
	out := make([][2]string, 0, len(h.entries))
	for _, e := range h.entries {
		if !withPseudo && strings.HasPrefix(e.k, ":") {
			continue
		}
		out = append(out, [2]string{e.k, e.v})
	}
	return out
}

// joined returns all values of k joined with "," as
// HeaderUtility::getAllOfHeaderAsString does for header matching
// (source/common/http/header_utility.cc), and whether k is present.
func (h *headerMap) joined(k string) (string, bool) {
	vs := h.get(k)
	if len(vs) == 0 {
		return "", false
	}
	return strings.Join(vs, ","), true
}
