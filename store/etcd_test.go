package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/proxyplus/proxyplus/internal/testutil/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// testEtcd is the one in-process etcd server of the test binary, started on
// first use and stopped by TestMain. Tests isolate themselves by prefix.
var testEtcd struct {
	once      sync.Once
	e         *etcdtest.Server
	dir       string
	endpoints []string
	err       error
	prefixes  atomic.Int64
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testEtcd.e != nil {
		testEtcd.e.Close()
	}
	if testEtcd.dir != "" {
		_ = os.RemoveAll(testEtcd.dir)
	}
	os.Exit(code)
}

// etcdEndpoints starts the shared server if needed and returns its client
// endpoints.
func etcdEndpoints(t *testing.T) []string {
	t.Helper()
	testEtcd.once.Do(func() {
		testEtcd.dir, testEtcd.err = os.MkdirTemp("", "proxyplus-store-etcd-")
		if testEtcd.err != nil {
			return
		}
		testEtcd.e, testEtcd.err = etcdtest.Start(testEtcd.dir)
		if testEtcd.err != nil {
			return
		}
		testEtcd.endpoints = testEtcd.e.Endpoints
	})
	if testEtcd.err != nil {
		t.Fatal(testEtcd.err)
	}
	return testEtcd.endpoints
}

// newPrefix returns a key prefix no other test uses.
func newPrefix(t *testing.T) string {
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	return fmt.Sprintf("test/%d-%s", testEtcd.prefixes.Add(1), name)
}

// openEtcdAt opens an Etcd on the shared server under prefix, with the fake
// clock, closed when the test ends.
func openEtcdAt(t *testing.T, prefix string) *Etcd {
	t.Helper()
	s, err := OpenEtcd(t.Context(), etcdEndpoints(t), prefix)
	if err != nil {
		t.Fatalf("OpenEtcd: %v", err)
	}
	s.now = fakeClock()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestEtcdContract(t *testing.T) {
	runStoreContract(t, func(t *testing.T) contractStore { return openEtcdAt(t, newPrefix(t)) })
}

// waitRev receives from a watch channel until it delivers want. Coalescing
// may skip revisions below want, but never deliver one beyond it before it
// (the test makes no later writes) nor go backwards.
func waitRev(t *testing.T, ch <-chan Revision, want Revision) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	var last Revision
	for {
		select {
		case r, ok := <-ch:
			if !ok {
				t.Fatalf("watch channel closed waiting for revision %d", want)
			}
			if r <= last || r > want {
				t.Fatalf("watch delivered %d after %d, waiting for %d", r, last, want)
			}
			if r == want {
				return
			}
			last = r
		case <-timeout:
			t.Fatalf("watch did not deliver revision %d within 10s (last %d)", want, last)
		}
	}
}

// Two replicas on one etcd: each sees the other's writes, through Watch and
// through reads, with the same revisions and derived ids.
func TestEtcdReplicasSeeEachOther(t *testing.T) {
	ctx := t.Context()
	prefix := newPrefix(t)
	a, b := openEtcdAt(t, prefix), openEtcdAt(t, prefix)
	aw, bw := a.Watch(ctx), b.Watch(ctx)

	api := must[*API](t)(a.CreateAPI(ctx, def("", "Pets")))
	if want := deriveID(10, 0, "api", "1"); api.ID != want || api.Revision != 1 {
		t.Fatalf("CreateAPI through A = %q at %d, want %q at 1", api.ID, api.Revision, want)
	}
	waitRev(t, bw, 1)
	if diff := cmp.Diff(api, must[*API](t)(b.GetAPI(ctx, api.ID)), cmpOpts); diff != "" {
		t.Errorf("B reads A's API (-A +B):\n%s", diff)
	}

	dep := must[*Deployment](t)(b.CreateDeployment(ctx, api.ID, "through B"))
	if want := deriveID(6, 0, "deployment", api.ID, "2"); dep.ID != want || dep.Revision != 2 {
		t.Fatalf("CreateDeployment through B = %q at %d, want %q at 2", dep.ID, dep.Revision, want)
	}
	waitRev(t, aw, 2)
	st := must[*Stage](t)(a.PutStage(ctx, &Stage{APIID: api.ID, Name: "prod", DeploymentID: dep.ID}, 0))
	waitRev(t, bw, st.Revision)

	ra, da, err := a.Deployed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rb, db, err := b.Deployed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ra != st.Revision || rb != ra {
		t.Errorf("Deployed revisions A %d, B %d, want %d", ra, rb, st.Revision)
	}
	if diff := cmp.Diff(da, db, cmpOpts); diff != "" {
		t.Errorf("Deployed differs (-A +B):\n%s", diff)
	}
	if len(db) != 1 || db[0].Deployment.ID != dep.ID || db[0].Stage.Name != "prod" {
		t.Errorf("B Deployed = %+v", db)
	}

	// Optimistic concurrency holds across replicas: B commits first, A's
	// update at the revision both read conflicts.
	must[*API](t)(b.UpdateAPI(ctx, def(api.ID, "Pets v2"), api.Revision))
	_, err = a.UpdateAPI(ctx, def(api.ID, "Pets v2 from A"), api.Revision)
	wantErr(t, err, ErrConflict)
	if ra, rb := must[Revision](t)(a.Revision(ctx)), must[Revision](t)(b.Revision(ctx)); ra != 4 || rb != 4 {
		t.Errorf("store revisions A %d, B %d, want 4", ra, rb)
	}
	// Editing the API does not move Deployed on either replica.
	if r, _, _ := b.Deployed(ctx); r != st.Revision {
		t.Errorf("B Deployed revision %d after an API edit, want %d", r, st.Revision)
	}
	waitRev(t, aw, 4)
}

// A write through an Etcd is on its own Watch channels before the call
// returns, without waiting for the etcd watch round trip; callers on the
// same replica can rely on that ordering.
func TestEtcdWatchReportsOwnWriteBeforeReturn(t *testing.T) {
	ctx := t.Context()
	s := openEtcdAt(t, newPrefix(t))
	ch := s.Watch(ctx)
	for i := range 5 {
		a := must[*API](t)(s.CreateAPI(ctx, def(fmt.Sprintf("a%d", i), "x")))
		select {
		case r := <-ch:
			if r != a.Revision {
				t.Fatalf("watch holds %d after the write at %d returned", r, a.Revision)
			}
		default:
			t.Fatalf("write at %d returned before Watch reported it", a.Revision)
		}
	}
}

// When the etcd watch cannot continue from where it was (its revision was
// compacted away, e.g. after a long disconnection), it reports the current
// store revision and follows on from there.
func TestEtcdWatchResyncsAfterCompaction(t *testing.T) {
	ctx := t.Context()
	prefix := newPrefix(t)
	writer := openEtcdAt(t, prefix)
	for i := range 3 {
		must[*API](t)(writer.CreateAPI(ctx, def(fmt.Sprintf("a%d", i), "x")))
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: etcdEndpoints(t), Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	resp, err := cli.Get(ctx, "/"+prefix+"/meta/revision")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, resp.Header.Revision); err != nil {
		t.Fatal(err)
	}

	// A replica that has reported nothing yet, with a second watch loop
	// that starts from a compacted etcd revision.
	r := openEtcdAt(t, prefix)
	ch := r.Watch(ctx)
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { r.watch(wctx, 1) })
	defer func() {
		cancel()
		wg.Wait()
	}()
	waitRev(t, ch, 3)
	a := must[*API](t)(writer.CreateAPI(ctx, def("after", "x")))
	waitRev(t, ch, a.Revision)
}

// Writers on two replicas never lose or duplicate a revision.
func TestEtcdConcurrentReplicas(t *testing.T) {
	ctx := t.Context()
	prefix := newPrefix(t)
	replicas := []*Etcd{openEtcdAt(t, prefix), openEtcdAt(t, prefix)}
	must[*API](t)(replicas[0].CreateAPI(ctx, def("shared", "v0")))

	type seen struct {
		mu   sync.Mutex
		last Revision
	}
	watched := make([]*seen, len(replicas))
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var watchWG sync.WaitGroup
	for i, r := range replicas {
		watched[i] = &seen{}
		ch := r.Watch(wctx)
		watchWG.Go(func() {
			for rev := range ch {
				watched[i].mu.Lock()
				if rev <= watched[i].last {
					t.Errorf("replica %d watch went from %d to %d", i, watched[i].last, rev)
				}
				watched[i].last = rev
				watched[i].mu.Unlock()
			}
		})
	}

	const workers, iters = 4, 10
	var mu sync.Mutex
	revs := map[Revision]string{1: "setup"}
	record := func(rev Revision, what string) {
		mu.Lock()
		defer mu.Unlock()
		if prev, dup := revs[rev]; dup {
			t.Errorf("revision %d returned twice: %s and %s", rev, prev, what)
		}
		revs[rev] = what
	}
	var conflicts atomic.Int64
	var wg sync.WaitGroup
	for ri, s := range replicas {
		for w := range workers {
			wg.Go(func() {
				for i := range iters {
					who := fmt.Sprintf("r%d-w%d-%d", ri, w, i)
					a, err := s.CreateAPI(ctx, def("api-"+who, who))
					if err != nil {
						t.Error(err)
						return
					}
					record(a.Revision, "create "+who)
					a, err = s.UpdateAPI(ctx, def("shared", who), 0)
					if err != nil {
						t.Error(err)
						return
					}
					record(a.Revision, "update "+who)
					// Read-modify-write races the other replica.
					cur, err := s.GetAPI(ctx, "shared")
					if err != nil {
						t.Error(err)
						return
					}
					a, err = s.UpdateAPI(ctx, def("shared", who+"-rmw"), cur.Revision)
					switch {
					case errors.Is(err, ErrConflict):
						conflicts.Add(1)
					case err != nil:
						t.Error(err)
						return
					default:
						record(a.Revision, "rmw "+who)
					}
				}
			})
		}
	}
	wg.Wait()

	final := Revision(len(revs))
	for rev := Revision(1); rev <= final; rev++ {
		if _, ok := revs[rev]; !ok {
			t.Errorf("revision %d was never returned (%d writes)", rev, len(revs))
		}
	}
	if want := Revision(1 + 2*len(replicas)*workers*iters + (len(replicas)*workers*iters - int(conflicts.Load()))); final != want {
		t.Errorf("%d revisions returned, want %d", final, want)
	}
	for i, s := range replicas {
		if r := must[Revision](t)(s.Revision(ctx)); r != final {
			t.Errorf("replica %d store revision %d, want %d", i, r, final)
		}
	}
	all0, _, err := replicas[0].ListAPIs(ctx, MaxPageSize, "")
	if err != nil {
		t.Fatal(err)
	}
	all1, _, err := replicas[1].ListAPIs(ctx, MaxPageSize, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all0) != 1+len(replicas)*workers*iters {
		t.Errorf("%d APIs, want %d", len(all0), 1+len(replicas)*workers*iters)
	}
	if diff := cmp.Diff(all0, all1, cmpOpts); diff != "" {
		t.Errorf("replicas list different APIs:\n%s", diff)
	}
	// Both watches reach the final revision (they may already have).
	for i := range replicas {
		ch := replicas[i].Watch(wctx)
		watched[i].mu.Lock()
		last := watched[i].last
		watched[i].mu.Unlock()
		if last != final {
			waitRev(t, ch, final)
		}
	}
	cancel()
	watchWG.Wait()
	for i := range replicas {
		if watched[i].last != final {
			t.Errorf("replica %d watch last saw %d, want %d", i, watched[i].last, final)
		}
	}
}

func TestEtcdRestartKeepsState(t *testing.T) {
	ctx := t.Context()
	prefix := newPrefix(t)
	s := openEtcdAt(t, prefix)
	api := must[*API](t)(s.CreateAPI(ctx, def("", "v1")))
	d := must[*Deployment](t)(s.CreateDeployment(ctx, api.ID, "d"))
	must[*Stage](t)(s.PutStage(ctx, &Stage{APIID: api.ID, Name: "prod", DeploymentID: d.ID, Variables: map[string]string{"a": "b"}}, 0))
	api = must[*API](t)(s.UpdateAPI(ctx, def(api.ID, "v2"), 0))
	before := captureRestartState(t, s, api.ID)
	ch := s.Watch(ctx)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := s.GetAPI(ctx, api.ID)
	wantErr(t, err, ErrClosed)
	_, err = s.CreateAPI(ctx, def("x", "x"))
	wantErr(t, err, ErrClosed)
	if _, ok := <-ch; ok {
		t.Error("Watch channel open after Close")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	// Leading and trailing slashes do not make another store.
	s2 := openEtcdAt(t, "/"+prefix+"/")
	checkRestarted(t, s2, before)

	// Another prefix is another, empty store.
	other := openEtcdAt(t, newPrefix(t))
	if r := must[Revision](t)(other.Revision(ctx)); r != 0 {
		t.Errorf("other prefix at revision %d", r)
	}
	if l, _, err := other.ListAPIs(ctx, 0, ""); err != nil || len(l) != 0 {
		t.Errorf("other prefix lists %v %v", l, err)
	}
}

// A Bolt and an Etcd fed the same history agree on everything, so moving a
// deployment between backends keeps ids and revisions.
func TestEtcdSameHistoryAsBolt(t *testing.T) {
	ctx := t.Context()
	bolt, _ := openTest(t)
	etcd := openEtcdAt(t, newPrefix(t))
	type result struct {
		APIs     []*API
		Deps     []*Deployment
		Rev      Revision
		Deployed []DeployedStage
	}
	run := func(s contractStore) result {
		a := must[*API](t)(s.CreateAPI(ctx, def("", "x")))
		b := must[*API](t)(s.CreateAPI(ctx, def("pets", "Pets")))
		d1 := must[*Deployment](t)(s.CreateDeployment(ctx, a.ID, ""))
		d2 := must[*Deployment](t)(s.CreateDeployment(ctx, b.ID, "b"))
		must[*Stage](t)(s.PutStage(ctx, &Stage{APIID: a.ID, Name: "prod", DeploymentID: d1.ID}, 0))
		must[*Stage](t)(s.PutStage(ctx, &Stage{APIID: b.ID, Name: "beta", DeploymentID: d2.ID, Variables: map[string]string{"k": "v"}}, 0))
		must[*API](t)(s.UpdateAPI(ctx, def(a.ID, "x2"), 0))
		if err := s.DeleteStage(ctx, b.ID, "beta", 0); err != nil {
			t.Fatal(err)
		}
		apis, _, err := s.ListAPIs(ctx, 0, "")
		if err != nil {
			t.Fatal(err)
		}
		deps, _, err := s.ListDeployments(ctx, a.ID, 0, "")
		if err != nil {
			t.Fatal(err)
		}
		rev, deployed, err := s.Deployed(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return result{apis, deps, rev, deployed}
	}
	rb, re := run(bolt), run(etcd)
	if rb.Rev != 8 {
		t.Errorf("Deployed revision %d, want 8", rb.Rev)
	}
	if diff := cmp.Diff(rb, re, cmpOpts); diff != "" {
		t.Errorf("Bolt and Etcd differ (-bolt +etcd):\n%s", diff)
	}
}

func TestOpenEtcdErrors(t *testing.T) {
	ctx := t.Context()
	endpoints := etcdEndpoints(t)
	if _, err := OpenEtcd(ctx, nil, "p"); err == nil {
		t.Error("OpenEtcd without endpoints succeeded")
	}
	if _, err := OpenEtcd(ctx, endpoints, "//"); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("OpenEtcd with empty prefix: %v", err)
	}

	// A store written by a newer schema is refused.
	prefix := newPrefix(t)
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Put(ctx, "/"+prefix+"/meta/schema", "2"); err != nil {
		t.Fatal(err)
	}
	if s, err := OpenEtcd(ctx, endpoints, prefix); err == nil || !strings.Contains(err.Error(), "schema") {
		t.Errorf("OpenEtcd on schema 2: %v", err)
		if s != nil {
			_ = s.Close()
		}
	}

	// Nothing listens on port 1.
	start := time.Now()
	if s, err := OpenEtcd(ctx, []string{"127.0.0.1:1"}, "p", WithEtcdDialTimeout(300*time.Millisecond)); err == nil {
		_ = s.Close()
		t.Error("OpenEtcd on a closed port succeeded")
	} else if !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("error does not name the endpoint: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("OpenEtcd on a closed port took %v despite a 300ms dial timeout", d)
	}
}

func TestParseEtcdURL(t *testing.T) {
	good := []struct {
		in        string
		endpoints []string
		prefix    string
	}{
		{"etcd://localhost:2379/proxyplus", []string{"localhost:2379"}, "proxyplus"},
		{"etcd://10.0.0.1:2379,10.0.0.2:2379,etcd-3:23790/proxyplus/prod/", []string{"10.0.0.1:2379", "10.0.0.2:2379", "etcd-3:23790"}, "proxyplus/prod"},
		{"etcd://[::1]:2379/p", []string{"[::1]:2379"}, "p"},
	}
	for _, g := range good {
		eps, prefix, err := ParseEtcdURL(g.in)
		if err != nil {
			t.Errorf("ParseEtcdURL(%q): %v", g.in, err)
			continue
		}
		if diff := cmp.Diff(g.endpoints, eps); diff != "" || prefix != g.prefix {
			t.Errorf("ParseEtcdURL(%q) = %v %q, want %v %q", g.in, eps, prefix, g.endpoints, g.prefix)
		}
	}
	bad := []struct{ in, mention string }{
		{"http://localhost:2379/p", "scheme"},
		{"localhost:2379/p", "scheme"},
		{"etcd://localhost:2379", "prefix"},
		{"etcd://localhost:2379/", "prefix"},
		{"etcd://localhost:2379///", "prefix"},
		{"etcd:///p", "host:port"},
		{"etcd://localhost/p", `"localhost"`},
		{"etcd://localhost:http/p", `port "http"`},
		{"etcd://localhost:0/p", `port "0"`},
		{"etcd://localhost:65536/p", `port "65536"`},
		{"etcd://:2379/p", "empty host"},
		{"etcd://a:1,,b:2/p", `endpoint ""`},
		{"etcd://a:1,b/p", `endpoint "b"`},
		{"etcd://user:pw@a:1/p", "credentials"},
		{"etcd://a:1/p?x=1", "query"},
	}
	for _, b := range bad {
		eps, prefix, err := ParseEtcdURL(b.in)
		if err == nil {
			t.Errorf("ParseEtcdURL(%q) = %v %q, want an error", b.in, eps, prefix)
			continue
		}
		if !strings.Contains(err.Error(), b.mention) {
			t.Errorf("ParseEtcdURL(%q) error %q does not mention %s", b.in, err, b.mention)
		}
	}
}
