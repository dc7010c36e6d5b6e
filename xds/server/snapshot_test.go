package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
)

// logBuffer collects log output from concurrent goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testLogger() (*slog.Logger, *logBuffer) {
	var b logBuffer
	return slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelInfo})), &b
}

// metricValue reads a counter or gauge from reg; 0 when the series does not exist.
func metricValue(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue metrics
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func newTestPublisher(t *testing.T) (*Publisher, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	logger, _ := testLogger()
	return NewPublisher(logger, NewMetrics(reg)), reg
}

var versionRE = regexp.MustCompile(`^[0-9a-f]{16}$`)

func TestPublishContentHashVersion(t *testing.T) {
	ctx := context.Background()
	p, reg := newTestPublisher(t)

	v1, err := p.Publish(ctx, testResources(t, testConfig{Gen: 1, Routes: 6}))
	if err != nil {
		t.Fatal(err)
	}
	if !versionRE.MatchString(v1) {
		t.Fatalf("version %q is not 16 hex characters", v1)
	}

	// Same content, freshly built, resources in a different order: same version, no new generation.
	again := testResources(t, testConfig{Gen: 1, Routes: 6})
	again[resourcev3.ClusterType] = append(again[resourcev3.ClusterType], makeCluster("another", 1e9))
	reordered := testResources(t, testConfig{Gen: 1, Routes: 6})
	reordered[resourcev3.ClusterType] = []types.Resource{makeCluster("another", 1e9), makeCluster(testCluster, 1e9)}
	va, err := p.Publish(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	vb, err := p.Publish(ctx, reordered)
	if err != nil {
		t.Fatal(err)
	}
	if va != vb || va == v1 {
		t.Fatalf("versions: v1=%s again=%s reordered=%s; want again == reordered != v1", v1, va, vb)
	}
	if got := p.Status().Generation; got != 2 {
		t.Errorf("generation = %d, want 2 (unchanged content must not count)", got)
	}
	if got := metricValue(t, reg, "proxyplus_snapshot_info", map[string]string{"version": va}); got != 1 {
		t.Errorf("proxyplus_snapshot_info{version=%s} = %v, want 1", va, got)
	}
	if got := metricValue(t, reg, "proxyplus_snapshot_info", map[string]string{"version": v1}); got != 0 {
		t.Errorf("stale proxyplus_snapshot_info{version=%s} = %v, want no series", v1, got)
	}

	version, res := p.Current()
	if version != va || len(res[resourcev3.ClusterType]) != 2 {
		t.Errorf("Current() = %s with %d clusters, want %s with 2", version, len(res[resourcev3.ClusterType]), va)
	}
	// Current returns a copy of the map.
	delete(res, resourcev3.ClusterType)
	if _, res2 := p.Current(); len(res2[resourcev3.ClusterType]) != 2 {
		t.Error("Current() map aliases the publisher's state")
	}
}

func TestPublishRejectsInvalid(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		mutate func(map[resourcev3.Type][]types.Resource)
		want   []string // substrings of the error
	}{
		{
			name: "cluster without name",
			mutate: func(r map[resourcev3.Type][]types.Resource) {
				r[resourcev3.ClusterType] = append(r[resourcev3.ClusterType], &clusterv3.Cluster{})
			},
			want: []string{resourcev3.ClusterType, `"#1"`, "empty resource name"},
		},
		{
			name: "duplicate cluster",
			mutate: func(r map[resourcev3.Type][]types.Resource) {
				r[resourcev3.ClusterType] = append(r[resourcev3.ClusterType], makeCluster(testCluster, 2e9))
			},
			want: []string{resourcev3.ClusterType, `"backend"`, "duplicate resource name"},
		},
		{
			name: "route with empty regex",
			mutate: func(r map[resourcev3.Type][]types.Resource) {
				rc := r[resourcev3.RouteType][0].(*routev3.RouteConfiguration)
				rc.VirtualHosts[0].Routes[1].Match.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{}}
			},
			want: []string{resourcev3.RouteType, `"local_route"`, "Regex", "at least 1"},
		},
		{
			name: "negative connect timeout",
			mutate: func(r map[resourcev3.Type][]types.Resource) {
				r[resourcev3.ClusterType] = []types.Resource{makeCluster(testCluster, -1e9)}
			},
			want: []string{resourcev3.ClusterType, `"backend"`, "ConnectTimeout"},
		},
		{
			name: "listener references a missing route configuration",
			mutate: func(r map[resourcev3.Type][]types.Resource) {
				r[resourcev3.RouteType] = []types.Resource{makeRouteConfig("other_route", 2, "")}
			},
			want: []string{"inconsistent snapshot", resourcev3.RouteType},
		},
		{
			name: "unknown type",
			mutate: func(r map[resourcev3.Type][]types.Resource) {
				r["type.googleapis.com/example.Unknown"] = nil
			},
			want: []string{"unknown resource type"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, reg := newTestPublisher(t)
			good, err := p.Publish(ctx, testResources(t, testConfig{Gen: 1}))
			if err != nil {
				t.Fatal(err)
			}
			bad := testResources(t, testConfig{Gen: 2})
			tc.mutate(bad)
			got, err := p.Publish(ctx, bad)
			if err == nil {
				t.Fatal("Publish accepted an invalid configuration")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), "still serving version "+good) {
				t.Errorf("error %q does not name the version still served", err)
			}
			if got != good {
				t.Errorf("Publish returned version %q, want the last good %q", got, good)
			}
			if v, _ := p.Current(); v != good {
				t.Errorf("Current() = %q, want last good %q", v, good)
			}
			snap, cerr := p.Cache().GetSnapshot(GroupKey)
			if cerr != nil || snap.GetVersion(resourcev3.ClusterType) != good {
				t.Errorf("cache serves %v (%v), want %s", snap, cerr, good)
			}
			at, lastErr := p.LastError()
			if lastErr == nil || lastErr.Error() != err.Error() || at.IsZero() {
				t.Errorf("LastError() = %v at %v, want %v with a time", lastErr, at, err)
			}
			if st := p.Status(); st.LastError == nil || st.LastError.Message != err.Error() {
				t.Errorf("Status().LastError = %+v", st.LastError)
			}
			if n := metricValue(t, reg, "proxyplus_translation_errors_total", nil); n != 1 {
				t.Errorf("proxyplus_translation_errors_total = %v, want 1", n)
			}
			var re *ResourceError
			if errors.As(err, &re) && (re.TypeURL == "" || re.Name == "") {
				t.Errorf("ResourceError without type or name: %+v", re)
			}

			// A later good publish clears the error.
			if _, err := p.Publish(ctx, testResources(t, testConfig{Gen: 3})); err != nil {
				t.Fatal(err)
			}
			if _, lastErr := p.LastError(); lastErr != nil {
				t.Errorf("LastError() after a good publish = %v", lastErr)
			}
		})
	}
}

func TestPublishBeforeAnyGoodSnapshot(t *testing.T) {
	p, _ := newTestPublisher(t)
	bad := testResources(t, testConfig{})
	bad[resourcev3.ClusterType] = append(bad[resourcev3.ClusterType], &clusterv3.Cluster{})
	v, err := p.Publish(context.Background(), bad)
	if err == nil || v != "" || !strings.Contains(err.Error(), "nothing published yet") {
		t.Fatalf("Publish = %q, %v", v, err)
	}
	if _, err := p.Cache().GetSnapshot(GroupKey); err == nil {
		t.Error("cache holds a snapshot after a rejected first publish")
	}
}

func TestPublishCancelledContext(t *testing.T) {
	p, _ := newTestPublisher(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Publish(ctx, testResources(t, testConfig{})); !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestPublisherGroupRefCount(t *testing.T) {
	p, _ := newTestPublisher(t)
	v, err := p.Publish(context.Background(), testResources(t, testConfig{}))
	if err != nil {
		t.Fatal(err)
	}
	p.StreamOpened()
	p.StreamOpened()
	p.StreamClosed()
	if _, err := p.Cache().GetSnapshot(GroupKey); err != nil {
		t.Fatalf("snapshot cleared while a stream is open: %v", err)
	}
	p.StreamClosed()
	if _, err := p.Cache().GetSnapshot(GroupKey); err == nil || p.Status().Cached {
		t.Fatal("snapshot still cached with no stream open")
	}
	p.StreamOpened()
	snap, err := p.Cache().GetSnapshot(GroupKey)
	if err != nil || snap.GetVersion(resourcev3.RouteType) != v || !p.Status().Cached {
		t.Fatalf("snapshot not restored on stream open: %v %v", snap, err)
	}
	if got := snap.GetResources(resourcev3.ClusterType); len(got) != 1 || got[testCluster] == nil {
		t.Errorf("restored clusters = %v", got)
	}
}
