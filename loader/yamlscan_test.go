package loader

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/proxyplus/proxyplus/diag"
)

// aliasBomb is an OpenAPI document of one 5 MB string aliased copies times: under 6 MB written, copies × 5 MB
// once the aliases are expanded.
func aliasBomb(copies int) []byte {
	var b strings.Builder
	b.WriteString("openapi: 3.0.1\ninfo: {title: bomb, version: '1'}\npaths: {}\nx-big: &big ")
	b.WriteString(strings.Repeat("a", 5<<20))
	b.WriteString("\nx-copies:\n")
	for range copies {
		b.WriteString("  - *big\n")
	}
	return []byte(b.String())
}

// billionLaughs is the classic: nine levels of ten aliases each, 10⁹ copies of "lol" from under 1 kB.
func billionLaughs() []byte {
	var b strings.Builder
	b.WriteString("openapi: 3.0.1\ninfo: {title: lol, version: '1'}\npaths: {}\nx-a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	prev := "a"
	for _, name := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		fmt.Fprintf(&b, "x-%s: &%s [", name, name)
		for i := range 10 {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("*" + prev)
		}
		b.WriteString("]\n")
		prev = name
	}
	return []byte(b.String())
}

// allocatedDuring is the memory allocated by f: an upper bound of the heap it can have grown by.
func allocatedDuring(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func wantOneError(t *testing.T, res *Result, err error, file, rule, contains string) diag.Diagnostic {
	t.Helper()
	if err == nil {
		t.Fatalf("loaded without error: %v", res.Diagnostics)
	}
	errs := res.Diagnostics.Errors()
	if len(errs) != 1 {
		t.Fatalf("want one error, got %v", errs)
	}
	d := errs[0]
	if d.File != file || d.Rule != rule || d.Path == "" || !strings.Contains(d.Message, contains) {
		t.Errorf("error %+v: want file %s, rule %s, a path and a message containing %q", d, file, rule, contains)
	}
	return d
}

// TestYAMLAliasesBounded: aliases are counted at their expanded size through the file entry point validate uses,
// and refused before they are expanded. The old code expanded 5 MB × 100 into 2.7 GB of heap.
func TestYAMLAliasesBounded(t *testing.T) {
	dir := t.TempDir()
	for name, doc := range map[string][]byte{"bomb.yaml": aliasBomb(100), "laughs.yaml": billionLaughs()} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, doc, 0o600); err != nil {
				t.Fatal(err)
			}
			var (
				res *Result
				err error
			)
			alloc := allocatedDuring(func() { res, err = LoadFile(path, Options{}) })
			d := wantOneError(t, res, err, path, "LIM-10", "once its aliases are expanded")
			if !strings.HasPrefix(d.Path, "$.x-") || !strings.HasPrefix(d.Field, "x-") || !strings.Contains(d.Message, "line ") {
				t.Errorf("error %+v does not name where the limit was passed", d)
			}
			// The scan costs a small multiple of the 5 MB input (file read, node tree); 5 MB × 100 would be 500 MB
			// of JSON alone.
			if alloc > 64<<20 {
				t.Errorf("loading %s allocated %d MB", name, alloc>>20)
			}
			t.Logf("%s (%d bytes): %.1f MB allocated", name, len(doc), float64(alloc)/(1<<20))
		})
	}
}

// TestYAMLAliasesWithinLimit: anchors shared within the limit (integration blocks reused through merge keys) load
// as before.
func TestYAMLAliasesWithinLimit(t *testing.T) {
	doc := `openapi: 3.0.1
info: {title: shared, version: '1'}
x-common: &common
  type: http_proxy
  httpMethod: ANY
  passthroughBehavior: when_no_match
paths:
  /a:
    get:
      x-amazon-apigateway-integration:
        <<: *common
        uri: https://example.com/a
  /b:
    get:
      x-amazon-apigateway-integration:
        <<: *common
        uri: https://example.com/b
`
	res, err := Load("shared.yaml", []byte(doc), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.API.GetResources() {
		for _, m := range r.GetResourceMethods() {
			if m.GetIntegration().GetType() != "HTTP_PROXY" || m.GetIntegration().GetPassthroughBehavior() != "WHEN_NO_MATCH" {
				t.Errorf("%s: merged integration %v", r.GetPath(), m.GetIntegration())
			}
		}
	}
}

// TestYAMLAliasSelfReference: an alias inside its own anchor is refused, not followed.
func TestYAMLAliasSelfReference(t *testing.T) {
	res, err := Load("loop.yaml", []byte("openapi: 3.0.1\ninfo: {title: t, version: '1'}\npaths: {}\nx-a: &a [1, *a]\n"), Options{})
	d := wantOneError(t, res, err, "loop.yaml", "format", "refers to the value that contains it")
	if d.Path != "$.x-a[1]" || d.Field != "x-a" {
		t.Errorf("error %+v", d)
	}
}

// TestYAML11Booleans: a plain yes/no/on/off (country: NO) is an error naming the file, line, JSON path and
// field, because the conversion would silently make it a boolean; quoted, true/false and JSON input are fine.
func TestYAML11Booleans(t *testing.T) {
	doc := `openapi: 3.0.1
info: {title: countries, version: '1'}
paths:
  /c:
    get:
      parameters:
        - name: country
          in: query
          required: true
          schema: {type: string, default: NO}
      x-amazon-apigateway-integration:
        type: http_proxy
        httpMethod: GET
        uri: https://example.com/c
        requestParameters:
          integration.request.header.X-Quoted: "'no'"
`
	res, err := Load("countries.yaml", []byte(doc), Options{})
	d := wantOneError(t, res, err, "countries.yaml", "format", "line 10, column 43")
	if d.Path != "$.paths['/c'].get.parameters[0].schema.default" || d.Field != "default" ||
		!strings.Contains(d.Message, "boolean false") || !strings.Contains(d.Message, `"NO"`) {
		t.Errorf("diagnostic %+v", d)
	}
	keyed := strings.Replace(doc, "paths:", "x-flags: {on: 1}\npaths:", 1)
	res, err = Load("keys.yaml", []byte(keyed), Options{})
	if err == nil || len(res.Diagnostics.Errors()) != 2 {
		t.Fatalf("key: %v", res.Diagnostics)
	}
	if k := res.Diagnostics.Errors()[0]; k.Path != "$.x-flags" || k.Field != "on" || !strings.Contains(k.Message, "the key on") {
		t.Errorf("key diagnostic %+v", k)
	}
	quoted := strings.Replace(doc, "default: NO", `default: "NO"`, 1)
	if _, err := Load("countries.yaml", []byte(quoted), Options{}); err != nil {
		t.Errorf("quoted: %v", err)
	}
}

// BenchmarkLoadAliasBomb measures what refusing the 5 MB × 100 alias bomb costs (go test ./loader/ -run '^$'
// -bench AliasBomb -benchmem); the old code peaked at 2.7 GB.
func BenchmarkLoadAliasBomb(b *testing.B) {
	doc := aliasBomb(100)
	b.SetBytes(int64(len(doc)))
	var peak uint64
	for b.Loop() {
		res, err := Load("bomb.yaml", doc, Options{})
		if err == nil || res.API != nil {
			b.Fatal("the bomb loaded")
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	b.ReportMetric(float64(peak)/(1<<20), "MB-heap-inuse")
}

// largeYAML is an alias-free OpenAPI document of n paths (about 600 bytes each).
func largeYAML(n int) []byte {
	var b strings.Builder
	b.WriteString("openapi: 3.0.1\ninfo: {title: large, version: '1'}\npaths:\n")
	for i := range n {
		fmt.Fprintf(&b, `  /r%d/{id}:
    get:
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
        - {name: filter, in: query, required: false, schema: {type: string}}
      responses:
        '200': {description: ok}
      x-amazon-apigateway-integration:
        type: http_proxy
        httpMethod: GET
        uri: https://backend.example.com/r%d/{id}
        requestParameters:
          integration.request.path.id: method.request.path.id
        passthroughBehavior: when_no_match
`, i, i)
	}
	return []byte(b.String())
}

// BenchmarkScanYAML is the cost scanYAML adds to loading an alias-free document, next to the whole Load
// (go test ./loader/ -run '^$' -bench 'ScanYAML|LoadLargeYAML' -benchmem).
func BenchmarkScanYAML(b *testing.B) {
	doc := largeYAML(250)
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if !scanYAML(newReporter("large.yaml"), doc) {
			b.Fatal("refused")
		}
	}
}

func BenchmarkLoadLargeYAML(b *testing.B) {
	doc := largeYAML(250)
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if _, err := Load("large.yaml", doc, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
