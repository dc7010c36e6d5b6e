package testutil

import (
	"runtime/debug"
	"testing"
)

// Instrumented reports a -race or coverage build, where allocation counts differ: allocation tests
// (testing.AllocsPerRun, performance-targets PR-5) skip themselves there.
func Instrumented() bool {
	if testing.CoverMode() != "" {
		return true
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" && s.Value == "true" {
				return true
			}
		}
	}
	return false
}
