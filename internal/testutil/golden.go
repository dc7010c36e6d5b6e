// Package testutil holds helpers shared by the project's tests: golden files and locating ../shared.
package testutil

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Update rewrites golden files instead of comparing: go test ./... -update
var Update = flag.Bool("update", false, "rewrite golden files from the current output")

// Golden compares got with the file at path, or writes it with -update.
func Golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file %s: %v (run go test -update to create it)", path, err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs from the output (-golden +got); run go test -update if the change is intended:\n%s", path, diff)
	}
}

// RemoveStale deletes, with -update, golden files in dir matching pattern whose case is not in cases.
func RemoveStale(t *testing.T, dir, pattern string, caseOf func(file string) string, cases map[string]bool) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if cases[caseOf(filepath.Base(f))] {
			continue
		}
		if *Update {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("golden file %s has no input; run go test -update to delete it", f)
	}
}

// SharedDir returns ../shared beside the repository (CI checks the repository out with shared/ next to it).
// It fails the test when it is missing: conformance cases are never silently skipped.
func SharedDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			shared := filepath.Join(filepath.Dir(dir), "shared")
			if _, err := os.Stat(filepath.Join(shared, "conformance")); err != nil {
				t.Fatalf("conformance suite not found at %s: %v", shared, err)
			}
			return shared
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// CaseName strips the golden suffix from a file name ("a.out.yaml" → "a").
func CaseName(suffix string) func(string) string {
	return func(f string) string { return strings.TrimSuffix(f, suffix) }
}
