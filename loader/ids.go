package loader

import (
	"crypto/sha256"
	"math/big"
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
