package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	adminv1 "github.com/proxyplus/proxyplus/proto/proxyplus/admin/v1"
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
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
