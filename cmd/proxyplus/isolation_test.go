package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/proxyplus/proxyplus/loader"
	adminv1 "github.com/proxyplus/proxyplus/proto/proxyplus/admin/v1"
	"github.com/proxyplus/proxyplus/store"
)

// TestServeBrokenFileHeldBack: serve --config with two definition files. One file breaks (its stage loses a
// variable it needs): the definitions watcher holds that API back — Envoy keeps its routes — while an edit of the
// other file still reaches ADS clients; GetStatus, /status and `proxyplus status` name the held-back API and why.
func TestServeBrokenFileHeldBack(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("testdata/api.yaml")
	if err != nil {
		t.Fatal(err)
	}
	good, other := filepath.Join(dir, "good.yaml"), filepath.Join(dir, "other.yaml")
	otherDef := strings.Replace(string(src), "id: clitest001", "id: other00001", 1)
	writeTestFile(t, good, string(src))
	writeTestFile(t, other, otherDef)
	p := freePorts(t, 4)
	cfg := fmt.Sprintf("xdsAddress: %s\nextprocAddress: %s\nmetricsAddress: %s\nadminAddress: %s\ndataDir: state\n"+
		"apis:\n  - file: good.yaml\n  - file: other.yaml\n", p[0], p[1], p[2], p[3])
	writeTestFile(t, filepath.Join(dir, "gateway.yaml"), cfg)
	startServe(t, p[3], "--config", filepath.Join(dir, "gateway.yaml"), "--watch-interval", "20ms")
	routesVersion(t, p[0], func(n map[string]bool) bool {
		return hasStage("clitest001", "dev")(n) && hasStage("other00001", "dev")(n)
	})

	// Break other.yaml, then add a resource to good.yaml: any reload that reads the edit also reads the break.
	writeTestFile(t, other, strings.Replace(otherDef, `variables: {backend: "127.0.0.1:1025"}`, `variables: {}`, 1))
	writeTestFile(t, good, strings.Replace(string(src), "resources:\n", "resources:\n  - path: /added\n    resourceMethods:\n      GET: {integration: {type: MOCK}}\n", 1))
	routesVersion(t, p[0], func(n map[string]bool) bool {
		added := 0
		for name := range n {
			if strings.HasPrefix(name, "clitest001/dev/") && strings.HasSuffix(name, "/GET") {
				added++
			}
		}
		// clitest001 now has three GET methods; other00001 keeps its last good routes.
		return added == 3 && hasStage("other00001", "dev")(n)
	})

	resp, err := adminClient(t, p[3]).GetStatus(t.Context(), &adminv1.GetStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Definitions struct {
			Error    string `json:"error"`
			HeldBack []struct {
				API             string `json:"api"`
				Source          string `json:"source"`
				Reason          string `json:"reason"`
				ServingLastGood bool   `json:"serving_last_good"`
			} `json:"held_back"`
		} `json:"definitions"`
	}
	if err := json.Unmarshal([]byte(resp.GetStatusJson()), &doc); err != nil {
		t.Fatal(err)
	}
	h := doc.Definitions.HeldBack
	if doc.Definitions.Error != "" || len(h) != 1 || h[0].API != "other00001" || h[0].Source != other || !h[0].ServingLastGood ||
		!strings.Contains(h[0].Reason, "stage dev") || !strings.Contains(h[0].Reason, "backend") {
		t.Fatalf("status definitions: %s", resp.GetStatusJson())
	}
	code, out, stderr := runCLI(t, "status", "--admin-address", p[3])
	if code != 0 || !strings.Contains(out, "held back:") || !strings.Contains(out, "API other00001 ("+other+")") ||
		!strings.Contains(out, "serving its last good version") {
		t.Fatalf("proxyplus status: exit %d\n%s%s", code, out, stderr)
	}
	metrics, err := http.Get("http://" + p[2] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer metrics.Body.Close()
	body, err := io.ReadAll(metrics.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), "\nproxyplus_apis_held_back 1\n") {
		t.Errorf("metrics lack proxyplus_apis_held_back 1")
	}
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestServeStartWithBrokenDefinitions: at start a broken definition file stops serve with every error, naming the
// stage and the variable; a broken stored API does not: serve starts, serves the rest and names it as not served.
func TestServeStartWithBrokenDefinitions(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("testdata/api.yaml")
	if err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken.yaml")
	writeTestFile(t, broken, strings.Replace(string(src), `variables: {backend: "127.0.0.1:1025"}`, `variables: {}`, 1))
	code, _, stderr := runCLI(t, "serve", "--api", broken, "--stage", "dev", "--admin-address", "off", "--metrics-address", "off",
		"--xds-address", "127.0.0.1:0", "--extproc-address", "127.0.0.1:0")
	if code != 1 || !strings.Contains(stderr, "stage dev, GET /items/{id}") || !strings.Contains(stderr, "backend") {
		t.Fatalf("serve with a broken file: exit %d\n%s", code, stderr)
	}

	// A stored stage lacking its variable, written behind the admin API's back (as an older proxyplus could have).
	dataDir := filepath.Join(dir, "data")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenBolt(filepath.Join(dataDir, "proxyplus.db"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := loader.Load("api.yaml", src, loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := st.CreateAPI(ctx, res.API); err != nil {
		t.Fatal(err)
	}
	dep, err := st.CreateDeployment(ctx, "clitest001", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutStage(ctx, &store.Stage{APIID: "clitest001", Name: "dev", DeploymentID: dep.ID}, 0); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	p := freePorts(t, 4)
	startServe(t, p[3], "--xds-address", p[0], "--extproc-address", p[1], "--metrics-address", p[2], "--admin-address", p[3],
		"--data-dir", dataDir, "--watch-interval", "0")
	code, out, stderr := runCLI(t, "status", "--admin-address", p[3])
	if code != 0 || !strings.Contains(out, "API clitest001 (store:apis/clitest001)") || !strings.Contains(out, "NOT SERVED") ||
		!strings.Contains(out, "stage dev") {
		t.Fatalf("proxyplus status: exit %d\n%s%s", code, out, stderr)
	}
}
