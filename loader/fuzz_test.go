package loader

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/proxyplus/proxyplus/diag"
)

// checkLoadProperty is what must hold for any input: no panic, a Result, an error exactly when there is an error
// diagnostic, every error explained, and the same answer twice.
func checkLoadProperty(t *testing.T, data []byte, opts Options) {
	res, err := Load("fuzz.yaml", data, opts)
	if res == nil {
		t.Fatal("Load returned no Result")
	}
	if (err != nil) != (len(res.Diagnostics.Errors()) > 0) {
		t.Fatalf("err = %v but diagnostics are %v", err, res.Diagnostics)
	}
	if err != nil && err.Error() == "" {
		t.Fatal("empty error message")
	}
	for _, d := range res.Diagnostics {
		if d.Message == "" || d.File != "fuzz.yaml" || (d.Severity != diag.Error && d.Severity != diag.Warning) {
			t.Fatalf("malformed diagnostic %#v", d)
		}
	}
	if err == nil && res.API == nil {
		t.Fatal("no error and no model")
	}
	if res.API != nil {
		Validate("fuzz.yaml", res.API) // must not panic on anything Load produced
	}
	again, _ := Load("fuzz.yaml", data, opts)
	if diff := cmp.Diff(res.Diagnostics, again.Diagnostics); diff != "" {
		t.Fatalf("diagnostics differ between two loads:\n%s", diff)
	}
}

func FuzzLoadYAML(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if len(files) == 0 {
		f.Fatal("no seed files in testdata")
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"name: x\n",
		"name: x\nresources: [{path: /a/{id}}]\n",
		"name: x\nresources:\n- path: /{p+}/x\n  resourceMethods: {get: {}}\n",
		"name: x\nstages: [{stageName: s, variables: {k: v}}]\n",
		`{"name": "x", "resources": [{"path": "/", "resourceMethods": {"ANY": {"integration": {"type": "HTTP_PROXY", "uri": "http://h:1/{a}"}}}}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkLoadProperty(t, data, Options{})
	})
}

func FuzzLoadOpenAPI(f *testing.F) {
	shared := sharedDir(f)
	files, _ := filepath.Glob(filepath.Join(shared, "conformance", "openapi", "*.json"))
	if len(files) == 0 {
		f.Fatal("no OpenAPI exports to seed from")
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, uint8(0))
	}
	for i, file := range caseFiles(f) {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		var c struct {
			API json.RawMessage `json:"api"`
		}
		if err := yaml.Unmarshal(data, &c); err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(c.API), uint8(i))
	}
	f.Add([]byte(oasGet("          timeoutInMillis: 10\n")), uint8(1))
	f.Add([]byte(`{"swagger": "2.0", "info": {"title": "t"}, "basePath": "/v1", "paths": {"/{a+}": {"x-amazon-apigateway-any-method": {"parameters": [{"$ref": "#/parameters/a"}]}}}, "parameters": {"a": {"name": "a", "in": "path"}}}`), uint8(1))
	modes := []string{BasePathIgnore, BasePathPrepend, BasePathSplit}
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		checkLoadProperty(t, data, Options{BasePathMode: modes[int(mode)%len(modes)]})
	})
}
