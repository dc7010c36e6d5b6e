package loader

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/testing/protocmp"
	"sigs.k8s.io/yaml"
)

// TestProxyplusRoundTrip: the YAML fixture loads cleanly and normalised; writing the model back out and loading
// it again gives the same model, so ids and order are stable.
func TestProxyplusRoundTrip(t *testing.T) {
	path := filepath.Join("testdata", "petstore.proxyplus.yaml")
	res := loadOK(t, path)
	if res.Format != FormatProxyplus || len(res.Diagnostics) != 0 {
		t.Fatalf("format %q, diagnostics %v", res.Format, res.Diagnostics)
	}
	api := res.API
	if diff := cmp.Diff([]string{"/", "/pets", "/pets/{petId}", "/{proxy+}"}, resourcePaths(api)); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}
	if len(api.Id) != apiIDLen || api.Id != apiID("PetStore") {
		t.Errorf("api id %q", api.Id)
	}
	for _, r := range api.Resources {
		if len(r.Id) != resourceIDLen || strings.Trim(r.Id, "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
			t.Errorf("resource %s id %q", r.Path, r.Id)
		}
		for key, m := range r.ResourceMethods {
			if m.HttpMethod != key || m.AuthorizationType != "NONE" {
				t.Errorf("%s %s: httpMethod %q, authorization %q", key, r.Path, m.HttpMethod, m.AuthorizationType)
			}
		}
	}
	if got := findResource(t, api, "/pets").ResourceMethods["GET"].Integration.TimeoutInMillis; got != 5000 {
		t.Errorf("timeout %d", got)
	}

	js, err := protojson.Marshal(api)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.JSONToYAML(js)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Load("again.yaml", y, Options{})
	if err != nil || len(again.Diagnostics) != 0 {
		t.Fatalf("reload: %v %v\n%s", err, again.Diagnostics, y)
	}
	if diff := cmp.Diff(api, again.API, protocmp.Transform()); diff != "" {
		t.Errorf("round trip (-first +second):\n%s", diff)
	}
}

func TestProxyplusFindings(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []want
	}{
		{"proto field names", "name: x\nbinary_media_types: [image/png]\nresources: [{path: /x, resource_methods: {GET: {integration: {type: MOCK, timeout_in_millis: 100}}}}]\n", nil},
		{"unknown field", "name: x\nresources:\n- path: /x\n  resourceMethod: {}\n  extra: 1\n", []want{
			errAt("format", "$.resources[0].resourceMethod", "resourceMethod", `unknown field "resourceMethod"`),
			errAt("format", "$.resources[0].extra", "extra", `unknown field "extra"`),
		}},
		{"unknown field suggestion", "name: x\nResources: []\n",
			[]want{errAt("format", "$.Resources", "Resources", `did you mean "resources"?`)}},
		{"unknown field in a map value", "name: x\nresources: [{path: /x, resourceMethods: {GET: {integration: {type: MOCK, timeout: 5}}}}]\n",
			[]want{errAt("format", "$.resources[0].resourceMethods.GET.integration.timeout", "timeout", `unknown field "timeout"`)}},
		{"wrong type", "name: x\nresources: 5\n",
			[]want{errAt("format", "$", "", "not a valid proxyplus definition")}},
		{"method key disagrees", "name: x\nresources: [{path: /x, resourceMethods: {GET: {httpMethod: POST, integration: {type: MOCK}}}}]\n",
			[]want{errAt("RES-8", "$.resources[0].resourceMethods.GET.httpMethod", "httpMethod", "disagrees")}},
		{"locations survive sorting", "name: x\nresources:\n- {path: /z}\n- {path: /a, resourceMethods: {GET: {integration: {type: MOCK, timeoutInMillis: 1}}}}\n",
			[]want{errAt("RES-14", "$.resources[1].resourceMethods.GET.integration.timeoutInMillis", "timeoutInMillis", "below")}},
		{"implied resource located at its child", "name: x\nresources:\n- path: /a/{id}\n- path: /a/{name}/x\n",
			[]want{errAt("RES-3", "$.resources[1].path", "path", "A sibling ({id})")}},
		{"stages", "name: x\nstages: [{stageName: 'a b', variables: {k: v}}]\n",
			[]want{errAt("RES-10", "$.stages[0].stageName", "stageName", "stage name")}},
		{"empty", "", []want{errAt("format", "$", "", "the document is empty")}},
		{"not an object", "- a\n- b\n", []want{errAt("format", "$", "", "must be an object, not an array")}},
		{"not YAML", "a: [\n", []want{errAt("format", "$", "", "not valid JSON or YAML")}},
		{"JSON", `{"name": "x", "resources": [{"path": "/x"}]}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Load("api.yaml", []byte(tc.doc), Options{})
			checkDiags(t, "api.yaml", res.Diagnostics, tc.want...)
			if (err != nil) != (len(res.Diagnostics.Errors()) > 0) {
				t.Errorf("err = %v with diagnostics %v", err, res.Diagnostics)
			}
			if err != nil && strings.Contains(err.Error(), "proto:") {
				t.Errorf("protojson prefix leaked: %v", err)
			}
		})
	}
}

// TestLoadLimits covers LIM-10 and the stable id derivation.
func TestLoadLimits(t *testing.T) {
	big := append([]byte("name: x\ndescription: "), bytes.Repeat([]byte("a"), maxDocumentSize)...)
	res, err := Load("big.yaml", big, Options{})
	if err == nil {
		t.Fatal("a definition over 6 MB was accepted")
	}
	checkDiags(t, "big.yaml", res.Diagnostics, errAt("LIM-10", "$", "", "larger than 6 MB"))

	if a1, a2 := apiID("a"), apiID("a"); a1 == apiID("b") || a1 != a2 {
		t.Error("api ids are not a function of the name")
	}
	used := map[string]bool{}
	first := resourceID("abcdefghij", "/x", used)
	used[first] = true
	if second := resourceID("abcdefghij", "/x", used); second == first || len(second) != resourceIDLen {
		t.Errorf("collision fallback gave %q after %q", second, first)
	}
}

func TestLoadFileTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, bytes.Repeat([]byte("#"), maxDocumentSize+10), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := LoadFile(path, Options{})
	if err == nil {
		t.Fatal("accepted")
	}
	checkDiags(t, path, res.Diagnostics, errAt("LIM-10", "$", "", "larger than 6 MB"))
}

func TestLoadFileMissing(t *testing.T) {
	res, err := LoadFile(filepath.Join("testdata", "does-not-exist.yaml"), Options{})
	if err == nil || len(res.Diagnostics) != 1 || res.Diagnostics[0].File != filepath.Join("testdata", "does-not-exist.yaml") {
		t.Fatalf("err %v, diagnostics %v", err, res.Diagnostics)
	}
}
