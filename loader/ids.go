package loader

import (
	"crypto/sha256"
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

// Lengths of the ids API Gateway generates: "a1b2c3d4e5" for APIs (the execute-api host label), "abc123" for
// resources.
const (
	apiIDLen      = 10
	resourceIDLen = 6
)

// deriveID hashes the parts into n lower-case alphanumerics. Hashing (rather than counting) keeps ids stable when
// unrelated resources are added, so Envoy route names and Lambda events do not change between rebuilds.
func deriveID(n int, parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	s := new(big.Int).SetBytes(sum[:]).Text(36)
	if len(s) < n {
		s = strings.Repeat("0", n-len(s)) + s
	}
	// The low-order digits are uniformly distributed; the leading ones are not.
	return s[len(s)-n:]
}

// apiID derives RestApi.id from the API name.
func apiID(name string) string {
	return deriveID(apiIDLen, "restapi", name)
}

// resourceID derives Resource.id from (api id, path); used lists the ids already taken in this API so a hash
// collision falls back to the next candidate instead of giving two resources one id.
func resourceID(api, path string, used map[string]bool) string {
	for attempt := 0; ; attempt++ {
		id := deriveID(resourceIDLen, "resource", api, path, strconv.Itoa(attempt))
		if !used[id] {
			return id
		}
	}
}

// executeAPIHostRe is an API's default endpoint host, "{restApiId}.execute-api.{region}.amazonaws.com" (RTE-1),
// with an optional port and the China partition's ".com.cn". API Gateway generates 10 lower-case letters and
// digits; any lower-case alphanumeric label is taken, so ids given in proxyplus's format survive an export.
var executeAPIHostRe = regexp.MustCompile(`^([a-z0-9]+)\.execute-api\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?(?::[0-9]+)?$`)

// exportIDFromHost is the API id an execute-api host names, "" for any other host.
func exportIDFromHost(host string) string {
	if m := executeAPIHostRe.FindStringSubmatch(strings.ToLower(host)); m != nil {
		return m[1]
	}
	return ""
}

// exportedID is the API id an export states: API Gateway's exports name the API's execute-api host in Swagger 2.0's
// host and in OpenAPI 3's servers[].url ("https://4z9giyi2c1.execute-api.us-east-1.amazonaws.com/{basePath}", server
// variables taken at their defaults). Clients of the imported API keep sending that host, so serving under the
// same id keeps it answering (issue 10 scope 5). "" when the export names no such host; the id is then derived
// from the name.
func (im *oasImporter) exportedID() string {
	if im.swagger {
		host, _ := im.root["host"].(string)
		return exportIDFromHost(host)
	}
	return im.exportedServerID()
}

// exportedServerID is the API id of the first server whose URL is an execute-api URL.
func (im *oasImporter) exportedServerID() string {
	servers, _ := im.root["servers"].([]any)
	for _, s := range servers {
		so, _ := s.(map[string]any)
		u, _ := so["url"].(string)
		vars, _ := so["variables"].(map[string]any)
		u = serverVarRe.ReplaceAllStringFunc(u, func(m string) string {
			v, _ := vars[m[1:len(m)-1]].(map[string]any)
			d, _ := v["default"].(string)
			return d
		})
		_, rest, ok := strings.Cut(u, "://")
		if !ok {
			continue
		}
		host, _, _ := strings.Cut(rest, "/")
		if id := exportIDFromHost(host); id != "" {
			return id
		}
	}
	return ""
}
