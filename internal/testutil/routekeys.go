package testutil

import (
	"bytes"
	"testing"

	"github.com/proxyplus/proxyplus/ir"
)

// RouteKeys are fixed route keys for tests (goldens stay stable): the signing key "A" and a previous key "B".
func RouteKeys(tb testing.TB) ir.RouteKeys {
	tb.Helper()
	var keys ir.RouteKeys
	for _, c := range []byte{'A', 'B'} {
		k, err := ir.NewRouteKey(bytes.Repeat([]byte{c}, ir.MinRouteKeyBytes))
		if err != nil {
			tb.Fatal(err)
		}
		keys = append(keys, k)
	}
	return keys
}
