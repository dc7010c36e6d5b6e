package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/proxyplus/proxyplus/internal/testutil/etcdtest"
	"github.com/proxyplus/proxyplus/ir"
	adminv1 "github.com/proxyplus/proxyplus/proto/proxyplus/admin/v1"
	"github.com/proxyplus/proxyplus/store"
)

// TestServeAPIKeysAcrossReplicas: two serve replicas on one etcd. A key and a usage plan put through replica A's
// admin API are known to the authorization service of both (served on the ext_proc address, where Envoy's ext_authz
// filter calls it); both count the quota into the shared counter in etcd, which ends up holding every request the
// two admitted.
func TestServeAPIKeysAcrossReplicas(t *testing.T) {
	etcd, err := etcdtest.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(etcd.Close)
	storeURL := "etcd://" + etcd.Endpoints[0] + "/proxyplus-" + t.Name()
	keyFile := writeRouteKeyFile(t)
	rawKeys, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ir.ParseRouteKeys(keyFile, rawKeys)
	if err != nil {
		t.Fatal(err)
	}
	replica := func() (extprocAddr, adminAddr string) {
		p := freePorts(t, 4)
		startServe(t, p[3], "--store", storeURL, "--xds-address", p[0], "--extproc-address", p[1],
			"--metrics-address", p[2], "--admin-address", p[3], "--watch-interval", "0", "--route-key-file", keyFile)
		return p[1], p[3]
	}
	epA, adminA := replica()
	epB, _ := replica()

	ctx := t.Context()
	c := adminClient(t, adminA)
	const value = "kT4mPq9ZrW2xLb7NcY5vHs3JdF8gAe6UuR1oQiEp"
	k, err := c.PutApiKey(ctx, &adminv1.PutApiKeyRequest{ApiKey: &adminv1.ApiKey{Value: value, Enabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutUsagePlan(ctx, &adminv1.PutUsagePlanRequest{UsagePlan: &adminv1.UsagePlan{Id: "gold", KeyIds: []string{k.GetApiKey().GetId()},
		ApiStages: []*adminv1.ApiStage{{RestApiId: "a1b2c3d4e5", Stage: "dev"}}, Quota: &adminv1.Quota{Limit: 3, Period: "DAY"}}}); err != nil {
		t.Fatal(err)
	}
	spec, err := ir.EncodeProcessorRoute(ir.ProcessorRoute{APIID: "a1b2c3d4e5", Stage: "dev", Route: ir.Route{Name: "a1b2c3d4e5/dev/abc/GET",
		ResourcePath: "/inventory", Method: "GET", Authorization: &ir.Authorization{APIKeyRequired: true, APIKeySource: ir.APIKeySourceHeader}}}, keys)
	if err != nil {
		t.Fatal(err)
	}
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request:           &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/dev/inventory", Headers: map[string]string{"x-api-key": value}}},
		ContextExtensions: map[string]string{ir.RouteMetadataKey: spec},
	}}
	dial := func(addr string) authv3.AuthorizationClient {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return authv3.NewAuthorizationClient(conn)
	}
	a, b := dial(epA), dial(epB)
	// Each replica learns the key from the store's watch; until then it answers 403. Wait for the first 200 on
	// each (bounded by the test deadline, no timing assertion).
	firstOK := func(cl authv3.AuthorizationClient) {
		for {
			resp, err := cl.Check(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetStatus().GetCode() == 0 {
				return
			}
		}
	}
	firstOK(a)
	firstOK(b)
	admitted := int64(2)
	// Each replica admits until its view of the shared quota is used up, then answers 429 Limit Exceeded.
	for _, cl := range []authv3.AuthorizationClient{a, b} {
		for {
			resp, err := cl.Check(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetStatus().GetCode() == 0 {
				admitted++
				continue
			}
			if got := resp.GetDeniedResponse().GetStatus().GetCode(); got != 429 || resp.GetDeniedResponse().GetBody() != `{"message":"Limit Exceeded"}` {
				t.Fatalf("denied with %v %s, want 429 Limit Exceeded", got, resp.GetDeniedResponse().GetBody())
			}
			break
		}
	}
	// Both replicas sync what they admitted into one counter (every second): wait until it holds all of it.
	st, err := store.OpenEtcd(ctx, etcd.Endpoints, "/proxyplus-"+t.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	counter := k.GetApiKey().GetId() + "/gold/" + time.Now().UTC().Format("2006-01-02")
	for {
		got, err := st.AddUsage(ctx, map[string]int64{counter: 0})
		if err != nil {
			t.Fatal(err)
		}
		if got[counter] == admitted {
			break
		}
		if got[counter] > admitted {
			t.Fatalf("shared counter %d, more than the %d requests admitted", got[counter], admitted)
		}
	}
	if admitted > 3+1 {
		t.Logf("admitted %d of a quota of 3 (the other replica's requests within one sync interval)", admitted)
	}
}

// TestExtProcStoreAPIKeys: `proxyplus extproc --store etcd://…` (the processor as a sidecar) enforces the keys of the
// control plane's store: 403 for an unknown key, OK for a key of the stage's plan once it is in the store.
func TestExtProcStoreAPIKeys(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	etcd, err := etcdtest.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(etcd.Close)
	prefix := "/proxyplus-" + t.Name()
	keyFile := writeRouteKeyFile(t)
	rawKeys, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ir.ParseRouteKeys(keyFile, rawKeys)
	if err != nil {
		t.Fatal(err)
	}
	addr := freePorts(t, 1)[0]
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	logs := &syncWriter{w: &bytes.Buffer{}}
	go func() {
		done <- run(ctx, &env{stdout: io.Discard, stderr: logs}, []string{"extproc", "--listen", addr, "--route-key-file", keyFile,
			"--store", "etcd://" + etcd.Endpoints[0] + prefix})
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("extproc exited %d: %s", code, logs.String())
		}
	}()
	spec, err := ir.EncodeProcessorRoute(ir.ProcessorRoute{APIID: "a1b2c3d4e5", Stage: "dev", Route: ir.Route{Name: "a1b2c3d4e5/dev/abc/GET",
		ResourcePath: "/inventory", Method: "GET", Authorization: &ir.Authorization{APIKeyRequired: true}}}, keys)
	if err != nil {
		t.Fatal(err)
	}
	const value = "kT4mPq9ZrW2xLb7NcY5vHs3JdF8gAe6UuR1oQiEp"
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request:           &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/dev/inventory", Headers: map[string]string{"x-api-key": value}}},
		ContextExtensions: map[string]string{ir.RouteMetadataKey: spec},
	}}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := authv3.NewAuthorizationClient(conn)
	resp, err := client.Check(t.Context(), req, grpc.WaitForReady(true))
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetDeniedResponse().GetStatus().GetCode() != 403 {
		t.Fatalf("unknown key: %v, want 403", resp)
	}
	st, err := store.OpenEtcd(t.Context(), etcd.Endpoints, prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	k, err := st.PutAPIKey(t.Context(), &adminv1.ApiKey{Value: value, Enabled: true}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutUsagePlan(t.Context(), &adminv1.UsagePlan{Id: "gold", KeyIds: []string{k.GetId()},
		ApiStages: []*adminv1.ApiStage{{RestApiId: "a1b2c3d4e5", Stage: "dev"}}}, 0); err != nil {
		t.Fatal(err)
	}
	// The sidecar follows the store's watch; poll until it knows the key (bounded by the test deadline only).
	for {
		resp, err := client.Check(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetStatus().GetCode() == 0 {
			if got := resp.GetDynamicMetadata().GetFields()["apiKeyId"].GetStringValue(); got != k.GetId() {
				t.Errorf("apiKeyId %q, want %q", got, k.GetId())
			}
			return
		}
	}
}
