package translator

import (
	"testing"

	"github.com/proxyplus/proxyplus/internal/refapi"
	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

// TestDerivedDeploymentIDSpliced: the deployment id derived through the cache, from the resources' kept encodings,
// is deploymentID's (the whole definition encoded), with fields before and after the resources set, across an edit
// of one resource and of a field after the resources.
func TestDerivedDeploymentIDSpliced(t *testing.T) {
	def := refapi.New(50)
	def.Description = "before the resources"
	def.Hosts = []string{"after.example"}
	def.ApiKeySource = "HEADER"
	def.Stages = []*apigatewayv1.Stage{{StageName: "prod", Variables: map[string]string{"a": "b"}}}
	st := def.Stages[0]
	for i, edit := range []func(){
		func() {},
		func() { def.Resources[7].ResourceMethods["GET"].Integration.TimeoutInMillis = 1234 },
		func() { def.Hosts = append(def.Hosts, "more.example") },
	} {
		edit()
		var entries []*cachedResource
		for _, res := range def.GetResources() {
			w, err := resourceField(res)
			if err != nil {
				t.Fatal(err)
			}
			entries = append(entries, &cachedResource{wire: w})
		}
		got, err := derivedDeploymentID(def, st, entries)
		if err != nil {
			t.Fatal(err)
		}
		if want := deploymentID(def, st); got != want {
			t.Fatalf("edit %d: spliced id %q, whole-definition id %q", i, got, want)
		}
	}
}
