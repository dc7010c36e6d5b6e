// Package deploy holds no code: its test checks the deployment examples in this directory, which nothing else
// would notice going stale. Envoy bootstraps must be what `proxyplus bootstrap` prints today and must pass Envoy's
// own proto validation; the copies embedded in Kubernetes ConfigMaps must match their sources; the manifests and
// the compose file must refer only to things that exist (ports, volumes, ConfigMap keys, services, files).
//
// Tests that run the CLI build it first; -short skips them.
package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	// Types the bootstraps and overlays name in typed_config and typed_extension_protocol_options.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

// bootstraps are the generated bootstraps kept in files, with the flags that generate them.
var bootstraps = []struct {
	file string
	args []string
}{
	{"envoy/envoy.yaml", []string{"--xds-address", "proxyplus:18000", "--node-id", "envoy-edge"}},
	{"envoy/envoy-local.yaml", []string{"--xds-address", "127.0.0.1:18000", "--node-id", "envoy-local"}},
}

// embedded are ConfigMap keys that hold copies: the source file, or the bootstrap flags that generate the content.
var embedded = []struct {
	manifest, configMap, key string
	source                   string   // a file relative to the repository root
	bootstrap                []string // or: bootstrap flags
}{
	{manifest: "kubernetes/edge/proxyplus.yaml", configMap: "proxyplus-api", key: "api.yaml", source: "examples/petstore/api.yaml"},
	{manifest: "kubernetes/edge/envoy.yaml", configMap: "envoy-bootstrap", key: "envoy.yaml", bootstrap: bootstraps[0].args},
	{manifest: "kubernetes/sidecar/petstore.yaml", configMap: "petstore-proxyplus", key: "api.yaml", source: "examples/petstore/api.yaml"},
	{manifest: "kubernetes/sidecar/petstore.yaml", configMap: "petstore-proxyplus", key: "envoy.yaml",
		bootstrap: []string{"--xds-address", "127.0.0.1:18000", "--node-id", "envoy-sidecar"}},
}

var (
	cliOnce sync.Once
	cliDir  string
	cliPath string
	cliErr  error
)

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

func TestMain(m *testing.M) {
	code := m.Run()
	if cliDir != "" {
		os.RemoveAll(cliDir)
	}
	os.Exit(code)
}

// cli builds cmd/proxyplus once per test binary run.
func cli(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the proxyplus CLI")
	}
	cliOnce.Do(func() {
		var err error
		if cliDir, err = os.MkdirTemp("", "proxyplus-deploy-test"); err != nil {
			cliErr = err
			return
		}
		cliPath = filepath.Join(cliDir, "proxyplus")
		cmd := exec.Command("go", "build", "-o", cliPath, "./cmd/proxyplus")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			cliErr = &buildError{out: string(out), err: err}
		}
	})
	if cliErr != nil {
		t.Fatalf("building the CLI: %v", cliErr)
	}
	return cliPath
}

func proxyplus(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(cli(t), args...)
	cmd.Dir = ".." // paths in the examples are relative to the repository root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("proxyplus %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// stripComments drops the leading comment block added to generated files.
func stripComments(s string) string {
	lines := strings.SplitAfter(s, "\n")
	for len(lines) > 0 && strings.HasPrefix(lines[0], "#") {
		lines = lines[1:]
	}
	return strings.Join(lines, "")
}

func TestBootstrapFilesAreCurrent(t *testing.T) {
	for _, b := range bootstraps {
		t.Run(b.file, func(t *testing.T) {
			want := proxyplus(t, append([]string{"bootstrap"}, b.args...)...)
			raw, err := os.ReadFile(b.file)
			if err != nil {
				t.Fatal(err)
			}
			if got := stripComments(string(raw)); got != want {
				t.Errorf("%s is stale; regenerate it with: go run ./cmd/proxyplus bootstrap %s\n--- file ---\n%s--- CLI ---\n%s",
					b.file, strings.Join(b.args, " "), got, want)
			}
			if !strings.Contains(string(raw), "bootstrap "+strings.Join(b.args, " ")+"\n") {
				t.Errorf("%s: the header comment does not show the command that generates it", b.file)
			}
		})
	}
}

func TestConfigMapCopiesAreCurrent(t *testing.T) {
	for _, e := range embedded {
		t.Run(e.manifest+"/"+e.key, func(t *testing.T) {
			var want string
			if e.source != "" {
				b, err := os.ReadFile(filepath.Join("..", e.source))
				if err != nil {
					t.Fatal(err)
				}
				want = string(b)
			} else {
				want = proxyplus(t, append([]string{"bootstrap"}, e.bootstrap...)...)
			}
			cm := find(t, manifests(t, e.manifest), "ConfigMap", e.configMap)
			if got := str(cm, "data", e.key); got != want {
				t.Errorf("ConfigMap %s key %s differs from its source; copy it again\n--- ConfigMap ---\n%s--- source ---\n%s",
					e.configMap, e.key, got, want)
			}
		})
	}
}

func TestPetstoreAPIIsValid(t *testing.T) {
	out := proxyplus(t, "validate", "--api", "examples/petstore/api.yaml")
	if !strings.Contains(out, "examples/petstore/api.yaml: valid (") {
		t.Errorf("validate printed %q", out)
	}
	// The stage variable each deployment passes must produce a configuration.
	for _, backend := range []string{"127.0.0.1:8081", "backend:8081", "petstore-backend:8081"} {
		proxyplus(t, "translate", "--api", "examples/petstore/api.yaml", "--stage", "dev", "--stage-variable", "backend="+backend)
	}
}

// loadBootstrap reads an Envoy bootstrap from YAML the way Envoy does (proto3 JSON mapping, unknown fields refused)
// and applies the proto validation rules Envoy applies.
func loadBootstrap(t *testing.T, name, y string) *bootstrapv3.Bootstrap {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	b := &bootstrapv3.Bootstrap{}
	if err := protojson.Unmarshal(j, b); err != nil {
		t.Fatalf("%s: not an Envoy bootstrap: %v", name, err)
	}
	if err := b.ValidateAll(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}

func TestBootstrapsAreValid(t *testing.T) {
	for _, b := range bootstraps {
		raw, err := os.ReadFile(b.file)
		if err != nil {
			t.Fatal(err)
		}
		bs := loadBootstrap(t, b.file, string(raw))
		if got := bs.GetStaticResources().GetClusters(); len(got) != 1 || got[0].GetName() != "proxyplus-xds" {
			t.Errorf("%s: want one static cluster, proxyplus-xds", b.file)
		}
	}
	for _, e := range embedded {
		if e.key == "envoy.yaml" {
			cm := find(t, manifests(t, e.manifest), "ConfigMap", e.configMap)
			loadBootstrap(t, e.manifest, str(cm, "data", e.key))
		}
	}
}

// TestEdgeReadinessOverlay checks the --config-yaml overlay of the edge Envoy the way Envoy applies it: merged over
// the bootstrap file (proto MergeFrom).
func TestEdgeReadinessOverlay(t *testing.T) {
	docs := manifests(t, "kubernetes/edge/envoy.yaml")
	cm := find(t, docs, "ConfigMap", "envoy-bootstrap")
	base := loadBootstrap(t, "envoy.yaml", str(cm, "data", "envoy.yaml"))
	overlay := loadBootstrap(t, "readiness.yaml", str(cm, "data", "readiness.yaml"))
	merged := proto.Clone(base).(*bootstrapv3.Bootstrap)
	proto.Merge(merged, overlay)
	if err := merged.ValidateAll(); err != nil {
		t.Fatalf("merged bootstrap: %v", err)
	}
	var names []string
	for _, c := range merged.GetStaticResources().GetClusters() {
		names = append(names, c.GetName())
	}
	if !slices.Equal(names, []string{"proxyplus-xds", "envoy-admin"}) {
		t.Errorf("merged static clusters = %v", names)
	}
	// The readiness listener forwards to the admin interface of the base bootstrap.
	admin := base.GetAdmin().GetAddress().GetSocketAddress()
	ep := overlay.GetStaticResources().GetClusters()[0].GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
	if ep.GetAddress() != admin.GetAddress() || ep.GetPortValue() != admin.GetPortValue() {
		t.Errorf("envoy-admin cluster dials %s:%d, admin is on %s:%d", ep.GetAddress(), ep.GetPortValue(), admin.GetAddress(), admin.GetPortValue())
	}
	port := overlay.GetStaticResources().GetListeners()[0].GetAddress().GetSocketAddress().GetPortValue()

	// The Deployment passes the overlay and probes the listener's port.
	dep := find(t, docs, "Deployment", "envoy")
	c := containers(dep)[0]
	if !slices.Contains(strs(c["args"]), "$(ENVOY_READINESS_CONFIG)") {
		t.Errorf("envoy args %v do not pass the overlay", c["args"])
	}
	if p := containerPort(c, str(c, "readinessProbe", "httpGet", "port")); p != int(port) {
		t.Errorf("readiness probe port %d, readiness listener on %d", p, port)
	}
}

func TestComposeEnvoyAdminOverride(t *testing.T) {
	compose := loadYAML(t, "docker-compose.yaml")
	cmd := strs(get(compose, "services", "envoy", "command"))
	i := slices.Index(cmd, "--config-yaml")
	if i < 0 || i+1 >= len(cmd) {
		t.Fatalf("envoy command %v has no --config-yaml", cmd)
	}
	raw, err := os.ReadFile("envoy/envoy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	merged := loadBootstrap(t, "envoy/envoy.yaml", string(raw))
	proto.Merge(merged, loadBootstrap(t, "--config-yaml", cmd[i+1]))
	if err := merged.ValidateAll(); err != nil {
		t.Fatal(err)
	}
	sa := merged.GetAdmin().GetAddress().GetSocketAddress()
	if sa.GetAddress() != "0.0.0.0" || sa.GetPortValue() != 9901 {
		t.Errorf("admin after the override: %s:%d, want 0.0.0.0:9901", sa.GetAddress(), sa.GetPortValue())
	}
	if n := merged.GetNode().GetId(); n != "envoy-edge" {
		t.Errorf("node id after the override: %q", n)
	}
}

func TestCompose(t *testing.T) {
	c := loadYAML(t, "docker-compose.yaml")
	services, _ := c["services"].(map[string]any)
	for _, name := range []string{"backend", "proxyplus", "envoy"} {
		if services[name] == nil {
			t.Fatalf("no service %s", name)
		}
	}
	for name, s := range services {
		svc := s.(map[string]any)
		for dep, cond := range asMap(svc["depends_on"]) {
			other, ok := services[dep].(map[string]any)
			if !ok {
				t.Errorf("%s depends on unknown service %s", name, dep)
				continue
			}
			if str(cond, "condition") == "service_healthy" && other["healthcheck"] == nil {
				t.Errorf("%s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
			}
		}
		for _, v := range strs(svc["volumes"]) {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(src); err != nil {
					t.Errorf("%s mounts %s: %v", name, src, err)
				}
			} else if _, declared := asMap(c["volumes"])[src]; !declared && !strings.HasPrefix(src, "/") {
				t.Errorf("%s mounts undeclared volume %s", name, src)
			}
		}
	}

	// The serve command: the API file exists, the backend variable names the backend service, and the ext_proc
	// address Envoy is told is one it can dial.
	serve := strings.Join(strs(get(c, "services", "proxyplus", "command")), " ")
	flags := map[string]string{}
	fields := strings.Fields(serve[strings.Index(serve, " serve ")+len(" serve "):])
	for i := 0; i+1 < len(fields); i += 2 {
		flags[fields[i]] = fields[i+1]
	}
	if _, err := os.Stat(filepath.Join("..", flags["--api"])); err != nil {
		t.Errorf("--api %s: %v", flags["--api"], err)
	}
	if host, _, _ := strings.Cut(strings.TrimPrefix(flags["--stage-variable"], "backend="), ":"); services[host] == nil {
		t.Errorf("--stage-variable %s does not name a service", flags["--stage-variable"])
	}
	if epHost, _, _ := strings.Cut(flags["--extproc-advertise-address"], ":"); services[epHost] == nil {
		t.Errorf("--extproc-advertise-address %q does not name a service Envoy can dial", flags["--extproc-advertise-address"])
	}
	// Envoy's bootstrap dials the ADS server the serve command listens on.
	raw, _ := os.ReadFile("envoy/envoy.yaml")
	bs := loadBootstrap(t, "envoy/envoy.yaml", string(raw))
	sa := bs.GetStaticResources().GetClusters()[0].GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
	if _, port, _ := strings.Cut(flags["--xds-address"], ":"); services[sa.GetAddress()] == nil || port != "18000" || sa.GetPortValue() != 18000 {
		t.Errorf("bootstrap dials %s:%d, serve listens on %s", sa.GetAddress(), sa.GetPortValue(), flags["--xds-address"])
	}
}

// TestKubernetesReferences checks what the API server does not: that names used across objects agree.
func TestKubernetesReferences(t *testing.T) {
	for _, dir := range []string{"kubernetes/edge", "kubernetes/sidecar"} {
		t.Run(dir, func(t *testing.T) {
			files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
			if len(files) == 0 {
				t.Fatal("no manifests")
			}
			var docs []map[string]any
			for _, f := range files {
				docs = append(docs, manifests(t, f)...)
			}
			configMaps := map[string]map[string]any{}
			for _, d := range docs {
				if str(d, "apiVersion") == "" || str(d, "kind") == "" || str(d, "metadata", "name") == "" {
					t.Errorf("object without apiVersion, kind or name: %v", d)
				}
				if str(d, "kind") == "ConfigMap" {
					configMaps[str(d, "metadata", "name")] = asMap(d["data"])
				}
			}
			for _, d := range docs {
				switch str(d, "kind") {
				case "Deployment":
					checkDeployment(t, d, configMaps)
				case "Service":
					checkService(t, d, docs)
				}
			}
		})
	}
}

func checkDeployment(t *testing.T, d map[string]any, configMaps map[string]map[string]any) {
	name := str(d, "metadata", "name")
	labels := asMap(get(d, "spec", "template", "metadata", "labels"))
	for k, v := range asMap(get(d, "spec", "selector", "matchLabels")) {
		if labels[k] != v {
			t.Errorf("Deployment %s: selector %s=%v does not match the pod labels", name, k, v)
		}
	}
	pod := asMap(get(d, "spec", "template", "spec"))
	volumes := map[string]bool{}
	for _, v := range list(pod["volumes"]) {
		volumes[str(v, "name")] = true
		if cm := str(v, "configMap", "name"); cm != "" {
			data, ok := configMaps[cm]
			if !ok {
				t.Errorf("Deployment %s: volume uses unknown ConfigMap %s", name, cm)
			}
			for _, it := range list(get(v, "configMap", "items")) {
				if _, ok := data[str(it, "key")]; !ok {
					t.Errorf("Deployment %s: ConfigMap %s has no key %s", name, cm, str(it, "key"))
				}
			}
		}
	}
	for _, c := range containers(d) {
		cname := str(c, "name")
		for _, m := range list(c["volumeMounts"]) {
			if !volumes[str(m, "name")] {
				t.Errorf("Deployment %s container %s mounts unknown volume %s", name, cname, str(m, "name"))
			}
		}
		for _, e := range list(c["env"]) {
			if ref := asMap(get(e, "valueFrom", "configMapKeyRef")); ref != nil {
				if _, ok := configMaps[str(ref, "name")][str(ref, "key")]; !ok {
					t.Errorf("Deployment %s container %s: env %s refers to missing ConfigMap key %s/%s", name, cname, str(e, "name"), str(ref, "name"), str(ref, "key"))
				}
			}
		}
		envs := map[string]bool{}
		for _, e := range list(c["env"]) {
			envs[str(e, "name")] = true
		}
		for _, a := range append(strs(c["command"]), strs(c["args"])...) {
			for rest := a; strings.Contains(rest, "$("); {
				i := strings.Index(rest, "$(")
				j := strings.Index(rest[i:], ")")
				if j < 0 {
					break
				}
				if v := rest[i+2 : i+j]; !envs[v] {
					t.Errorf("Deployment %s container %s: argument %q uses undefined $(%s)", name, cname, a, v)
				}
				rest = rest[i+j:]
			}
		}
		for _, probe := range []string{"readinessProbe", "livenessProbe", "startupProbe"} {
			if p := get(c, probe, "httpGet", "port"); p != nil {
				if containerPort(c, p) == 0 {
					t.Errorf("Deployment %s container %s: %s port %v is not a port of the container", name, cname, probe, p)
				}
			}
		}
		if str(c, "image") == "" {
			t.Errorf("Deployment %s container %s has no image", name, cname)
		}
	}
}

func checkService(t *testing.T, s map[string]any, docs []map[string]any) {
	name := str(s, "metadata", "name")
	sel := asMap(get(s, "spec", "selector"))
	var matched []map[string]any
	for _, d := range docs {
		if str(d, "kind") != "Deployment" {
			continue
		}
		labels := asMap(get(d, "spec", "template", "metadata", "labels"))
		ok := len(sel) > 0
		for k, v := range sel {
			ok = ok && labels[k] == v
		}
		if ok {
			matched = append(matched, d)
		}
	}
	if len(matched) != 1 {
		t.Errorf("Service %s selects %d Deployments, want 1", name, len(matched))
		return
	}
	for _, p := range list(get(s, "spec", "ports")) {
		tp := get(p, "targetPort")
		found := false
		for _, c := range containers(matched[0]) {
			if containerPort(c, tp) != 0 {
				found = true
			}
		}
		if !found {
			t.Errorf("Service %s: targetPort %v is no container port of Deployment %s", name, tp, str(matched[0], "metadata", "name"))
		}
	}
}

// containers are a Deployment's containers and its sidecar (restartPolicy: Always) init containers.
func containers(d map[string]any) []map[string]any {
	pod := asMap(get(d, "spec", "template", "spec"))
	var out []map[string]any
	for _, c := range list(pod["initContainers"]) {
		if str(c, "restartPolicy") == "Always" {
			out = append(out, c)
		}
	}
	return append(out, list(pod["containers"])...)
}

// containerPort resolves a port given by name or number against a container's ports; 0 when it has no such port.
func containerPort(c map[string]any, p any) int {
	for _, cp := range list(c["ports"]) {
		n, _ := cp["containerPort"].(float64)
		switch p := p.(type) {
		case string:
			if cp["name"] == p {
				return int(n)
			}
		case float64:
			if n == p {
				return int(n)
			}
		}
	}
	return 0
}

// --- YAML as generic trees ---

func loadYAML(t *testing.T, file string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return m
}

func manifests(t *testing.T, file string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	// Documents are separated by "---" lines; each keeps its final newline, which a block scalar ending the
	// document includes.
	for i, doc := range strings.Split(string(b), "\n---\n") {
		doc += "\n"
		var m map[string]any
		if err := yaml.UnmarshalStrict([]byte(doc), &m); err != nil {
			t.Fatalf("%s document %d: %v", file, i, err)
		}
		if m != nil {
			docs = append(docs, m)
		}
	}
	return docs
}

func find(t *testing.T, docs []map[string]any, kind, name string) map[string]any {
	t.Helper()
	for _, d := range docs {
		if str(d, "kind") == kind && str(d, "metadata", "name") == name {
			return d
		}
	}
	t.Fatalf("no %s %s", kind, name)
	return nil
}

func get(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func str(v any, path ...string) string { s, _ := get(v, path...).(string); return s }

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }

func list(v any) []map[string]any {
	var out []map[string]any
	l, _ := v.([]any)
	for _, e := range l {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func strs(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, e := range l {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
