package ir

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// RouteKey is a secret the control plane signs route data with (EncodeProcessorRoute) and processors verify it
// with (DecodeProcessorRoute): the processor acts only on route data a holder of the key issued. Every process
// that translates configuration (each `serve` replica) and every processor must hold the same keys.
type RouteKey struct {
	// ID names the key in signed values so a processor picks the right one during a rotation. It is derived from
	// the secret (replicas given the same secret agree on it) and reveals nothing usable about it.
	ID     string
	secret []byte
}

// MinRouteKeyBytes is the shortest secret accepted: HMAC-SHA256's own block of security.
const MinRouteKeyBytes = 32

// NewRouteKey makes a key of secret (at least MinRouteKeyBytes bytes).
func NewRouteKey(secret []byte) (RouteKey, error) {
	if len(secret) < MinRouteKeyBytes {
		return RouteKey{}, fmt.Errorf("route key is %d bytes, want at least %d", len(secret), MinRouteKeyBytes)
	}
	sum := sha256.Sum256(append([]byte("proxyplus route key id\x00"), secret...))
	return RouteKey{ID: base64.RawURLEncoding.EncodeToString(sum[:6]), secret: bytes.Clone(secret)}, nil
}

// RouteKeys are the keys of a key file: the first signs, every one verifies (rotation: the previous key stays
// listed after the new one until no Envoy holds configuration signed with it).
type RouteKeys []RouteKey

// maxRouteKeys bounds a key file: the current key and a few previous ones.
const maxRouteKeys = 4

// ParseRouteKeys reads a key file: one key per line, hex or base64 (standard or URL alphabet) of at least
// MinRouteKeyBytes bytes; blank lines and lines starting with '#' are ignored. name (the file) is used in errors.
func ParseRouteKeys(name string, data []byte) (RouteKeys, error) {
	var keys RouteKeys
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		secret, err := decodeSecret(text)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		k, err := NewRouteKey(secret)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if len(keys) == maxRouteKeys {
			return nil, fmt.Errorf("%s:%d: more than %d keys (the current one and the previous ones still in use)", name, line, maxRouteKeys)
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no route key (one key per line, hex or base64 of %d+ random bytes)", name, MinRouteKeyBytes)
	}
	return keys, nil
}

func decodeSecret(s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("route key is neither hex nor base64")
}

// NewRouteKeyFile returns the contents of a fresh key file: one random 32-byte key, hex, with a comment.
func NewRouteKeyFile() ([]byte, error) {
	secret := make([]byte, MinRouteKeyBytes)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("route key: %w", err)
	}
	return []byte("# proxyplus route key: signs the route data Envoy sends to the ext_proc service.\n" +
		"# Every serve replica and every proxyplus extproc must use this same file. First line signs; all verify.\n" +
		hex.EncodeToString(secret) + "\n"), nil
}

// find returns the key named id.
func (ks RouteKeys) find(id string) (RouteKey, bool) {
	for _, k := range ks {
		if k.ID == id {
			return k, true
		}
	}
	return RouteKey{}, false
}
