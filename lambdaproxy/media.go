package lambdaproxy

import "strings"

// matchesBinaryMediaType reports whether a media type (a request Content-Type, or an Accept media range) is one
// of the API's binaryMediaTypes (BIN-1): parameters ignored, case-insensitive, `type/*` and `*/*` wildcards in
// the list. An empty or malformed media type matches nothing, not even `*/*` (OPEN-12).
func matchesBinaryMediaType(mediaType string, binaryMediaTypes []string) bool {
	mt, _, _ := strings.Cut(mediaType, ";")
	mt = strings.Trim(mt, " \t")
	if mt == "" || len(binaryMediaTypes) == 0 {
		return false
	}
	typ, sub, hasSlash := strings.Cut(mt, "/")
	if !hasSlash || typ == "" || sub == "" {
		return false // not a media type: matches nothing, even */*
	}
	for _, e := range binaryMediaTypes {
		e, _, _ = strings.Cut(e, ";")
		et, es, ok := strings.Cut(strings.Trim(e, " \t"), "/")
		switch {
		case !ok:
			continue
		case et == "*" && es == "*":
			return true
		case et == "*":
			continue
		case es == "*":
			if strings.EqualFold(et, typ) {
				return true
			}
		case strings.EqualFold(et, typ) && strings.EqualFold(es, sub):
			return true
		}
	}
	return false
}
