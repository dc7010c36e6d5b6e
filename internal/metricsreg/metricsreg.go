// Package metricsreg registers Prometheus collectors on an injected registry.
package metricsreg

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c with reg (nil: c stays unregistered) and returns the collector to use: c, or the one
// already registered under the same descriptor, so that a second component built on the same registry (two
// servers in one process, tests) counts into the series the registry exposes instead of an unregistered copy.
// Any other registration error is a programming error and panics.
func Register[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing
			}
		}
		panic(fmt.Sprintf("registering metric: %v", err))
	}
	return c
}
