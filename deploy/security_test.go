package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// podsMatching are the Deployments whose pod labels include every label of sel.
func podsMatching(docs []map[string]any, sel map[string]any) []map[string]any {
	var out []map[string]any
	for _, d := range docs {
		if str(d, "kind") != "Deployment" || len(sel) == 0 {
			continue
		}
		labels := asMap(get(d, "spec", "template", "metadata", "labels"))
		ok := true
		for k, v := range sel {
			ok = ok && labels[k] == v
		}
		if ok {
			out = append(out, d)
		}
	}
	return out
}

// TestEdgeNetworkPolicies (issue 10 scope 2): in the edge layout only the Envoy pods reach proxyplus's ADS and
// ext_proc ports, and no rule opens them to everyone; the example backend is reachable from Envoy only.
func TestEdgeNetworkPolicies(t *testing.T) {
	files, _ := filepath.Glob("kubernetes/edge/*.yaml")
	var docs []map[string]any
	for _, f := range files {
		docs = append(docs, manifests(t, f)...)
	}
	envoy := find(t, docs, "Deployment", "envoy")
	// protected: Deployment → named ports only Envoy may reach.
	protected := map[string][]string{"proxyplus": {"xds", "extproc"}, "petstore-backend": {"http"}}
	covered := map[string]bool{}
	for _, np := range docs {
		if str(np, "kind") != "NetworkPolicy" {
			continue
		}
		name := str(np, "metadata", "name")
		targets := podsMatching(docs, asMap(get(np, "spec", "podSelector", "matchLabels")))
		if len(targets) != 1 {
			t.Errorf("NetworkPolicy %s selects %d Deployments, want 1", name, len(targets))
			continue
		}
		target := targets[0]
		tname := str(target, "metadata", "name")
		if types := strs(get(np, "spec", "policyTypes")); len(types) != 1 || types[0] != "Ingress" {
			t.Errorf("NetworkPolicy %s: policyTypes %v, want [Ingress]", name, types)
		}
		for _, rule := range list(get(np, "spec", "ingress")) {
			from := list(rule["from"])
			for _, p := range list(rule["ports"]) {
				port := get(p, "port")
				found := false
				for _, c := range containers(target) {
					found = found || containerPort(c, port) != 0
				}
				if !found {
					t.Errorf("NetworkPolicy %s: port %v is no container port of %s", name, port, tname)
				}
				for _, want := range protected[tname] {
					if port != want {
						continue
					}
					if len(from) == 0 {
						t.Errorf("NetworkPolicy %s opens %s's %s port to everyone", name, tname, want)
					}
					for _, f := range from {
						sel := asMap(get(f, "podSelector", "matchLabels"))
						if f["namespaceSelector"] != nil || f["ipBlock"] != nil || len(podsMatching([]map[string]any{envoy}, sel)) != 1 || len(podsMatching(docs, sel)) != 1 {
							t.Errorf("NetworkPolicy %s admits %v to %s's %s port: want the Envoy pods only", name, f, tname, want)
						}
					}
					covered[tname+"/"+want] = true
				}
			}
		}
	}
	for d, ports := range protected {
		for _, p := range ports {
			if !covered[d+"/"+p] {
				t.Errorf("no NetworkPolicy admits Envoy to %s's %s port (so nothing restricts it either)", d, p)
			}
		}
	}
	// The processor and ADS listen on the pod's address, not on every interface.
	for _, c := range containers(find(t, docs, "Deployment", "proxyplus")) {
		for _, a := range strs(c["args"]) {
			if (strings.HasPrefix(a, "--extproc-address=") || strings.HasPrefix(a, "--xds-address=")) && strings.Contains(a, "0.0.0.0") {
				t.Errorf("proxyplus listens on all interfaces: %s", a)
			}
		}
	}
}

// TestServeHasRouteKey: every serve in deploy/ can sign route data: a --route-key-file on a mounted Secret, or a
// --data-dir on a writable volume where serve creates route.key (the root file systems are read-only, and
// Compose mounts the repository read-only).
func TestServeHasRouteKey(t *testing.T) {
	for _, f := range []string{"kubernetes/edge/proxyplus.yaml", "kubernetes/sidecar/petstore.yaml"} {
		docs := manifests(t, f)
		for _, d := range docs {
			if str(d, "kind") != "Deployment" {
				continue
			}
			pod := asMap(get(d, "spec", "template", "spec"))
			volumes := map[string]map[string]any{}
			for _, v := range list(pod["volumes"]) {
				volumes[str(v, "name")] = v
			}
			for _, c := range containers(d) {
				args := strs(c["args"])
				if len(args) == 0 || args[0] != "serve" {
					continue
				}
				mounted := func(path string) map[string]any {
					for _, m := range list(c["volumeMounts"]) {
						if mp := str(m, "mountPath"); path == mp || strings.HasPrefix(path, mp+"/") {
							return volumes[str(m, "name")]
						}
					}
					return nil
				}
				var ok bool
				for _, a := range args {
					if p, found := strings.CutPrefix(a, "--route-key-file="); found {
						v := mounted(p)
						ok = v != nil && str(v, "secret", "secretName") != ""
						if !ok {
							t.Errorf("%s: --route-key-file %s is not on a mounted Secret", f, p)
						}
						if readme, _ := os.ReadFile("README.md"); !strings.Contains(string(readme), "create secret generic "+str(v, "secret", "secretName")) {
							t.Errorf("%s: README.md does not say how to create Secret %s", f, str(v, "secret", "secretName"))
						}
					}
					if p, found := strings.CutPrefix(a, "--data-dir="); found {
						v := mounted(p)
						ok = v != nil && v["emptyDir"] != nil
						if !ok {
							t.Errorf("%s: --data-dir %s is not a writable (emptyDir) volume", f, p)
						}
					}
				}
				if !ok {
					t.Errorf("%s: serve has neither --route-key-file nor a writable --data-dir: it cannot store its route key", f)
				}
			}
		}
	}
	c := loadYAML(t, "docker-compose.yaml")
	serve := strings.Join(strs(get(c, "services", "proxyplus", "command")), " ")
	if !strings.Contains(serve, "--data-dir /tmp/") && !strings.Contains(serve, "--route-key-file") {
		t.Errorf("compose: serve needs a writable --data-dir or a --route-key-file (the repository is mounted read-only): %s", serve)
	}
}
