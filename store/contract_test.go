package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	apigatewayv1 "github.com/proxyplus/proxyplus/proto/proxyplus/apigateway/v1"
)

// contractStore is what the contract suite needs: the Store plus the
// store-wide revision, which both implementations expose.
type contractStore interface {
	Store
	Revision(ctx context.Context) (Revision, error)
}

// runStoreContract runs the behavioural tests every Store implementation
// must pass. open returns a new, empty store closed at the end of the test;
// its clock must be fakeClock() so timestamps are comparable across stores.
func runStoreContract(t *testing.T, open func(t *testing.T) contractStore) {
	tests := []struct {
		name string
		fn   func(*testing.T, func(*testing.T) contractStore)
	}{
		{"APICRUD", testAPICRUD},
		{"RevisionBumpsOnlyOnCommittedWrites", testRevisionBumpsOnlyOnCommittedWrites},
		{"ListAPIsPagination", testListAPIsPagination},
		{"Deployments", testDeployments},
		{"Stages", testStages},
		{"DeleteAPICascades", testDeleteAPICascades},
		{"Deployed", testDeployed},
		{"DeterministicAcrossStores", testDeterministicAcrossStores},
		{"Watch", testWatch},
		{"CanceledContext", testCanceledContext},
		{"ConcurrentWriters", testConcurrentWriters},
		{"APIKeysAndUsagePlans", testAPIKeysAndUsagePlans},
		{"UsageCounters", testUsageCounters},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

// fakeClock returns a clock that starts at the same instant for every store
// and advances one second per reading, so UpdatedAt strictly increases and
// stores fed the same history agree on timestamps.
func fakeClock() func() time.Time {
	var mu sync.Mutex
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Second)
		return clock
	}
}

func def(id, name string) *apigatewayv1.RestApi {
	return &apigatewayv1.RestApi{
		Id:   id,
		Name: name,
		Resources: []*apigatewayv1.Resource{{
			Id:   "r1",
			Path: "/pets",
			ResourceMethods: map[string]*apigatewayv1.Method{
				"GET": {HttpMethod: "GET", AuthorizationType: "NONE"},
			},
		}},
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

var cmpOpts = cmp.Options{protocmp.Transform()}

func testAPICRUD(t *testing.T, open func(*testing.T) contractStore) {
	ctx := t.Context()
	s := open(t)

	a := must[*API](t)(s.CreateAPI(ctx, def("pets", "Pets")))
	if a.ID != "pets" || a.Revision != 1 || a.Definition.GetId() != "pets" {
		t.Fatalf("CreateAPI = %+v", a)
	}
	if !a.CreatedAt.Equal(a.UpdatedAt) || a.CreatedAt.IsZero() {
		t.Errorf("timestamps = %v %v", a.CreatedAt, a.UpdatedAt)
	}
	_, err := s.CreateAPI(ctx, def("pets", "again"))
	wantErr(t, err, ErrAlreadyExists)
	_, err = s.CreateAPI(ctx, nil)
	wantErr(t, err, ErrInvalidArgument)
	_, err = s.CreateAPI(ctx, def("bad/id", "x"))
	wantErr(t, err, ErrInvalidArgument)

	got := must[*API](t)(s.GetAPI(ctx, "pets"))
	if diff := cmp.Diff(a, got, cmpOpts); diff != "" {
		t.Errorf("GetAPI diff (-want +got):\n%s", diff)
	}
	_, err = s.GetAPI(ctx, "nope")
	wantErr(t, err, ErrNotFound)

	// Returned values are copies.
	got.Definition.Name = "mutated"
	if n := must[*API](t)(s.GetAPI(ctx, "pets")).Definition.GetName(); n != "Pets" {
		t.Errorf("stored name changed to %q", n)
	}

	// Generated id: deterministic, 10 lower-case alphanumerics.
	gen := must[*API](t)(s.CreateAPI(ctx, def("", "Generated")))
	if !idPattern.MatchString(gen.ID) || len(gen.ID) != 10 || gen.Definition.GetId() != gen.ID {
		t.Errorf("generated id %q", gen.ID)
	}
	if want := deriveID(10, 0, "api", "2"); gen.ID != want {
		t.Errorf("generated id %q, want %q", gen.ID, want)
	}

	// Update with conflict, then with the right revision, then unconditional.
	_, err = s.UpdateAPI(ctx, def("pets", "Pets v2"), 99)
	wantErr(t, err, ErrConflict)
	up := must[*API](t)(s.UpdateAPI(ctx, def("pets", "Pets v2"), a.Revision))
	if up.Revision <= a.Revision || up.Definition.GetName() != "Pets v2" || !up.CreatedAt.Equal(a.CreatedAt) || !up.UpdatedAt.After(a.UpdatedAt) {
		t.Errorf("UpdateAPI = %+v", up)
	}
	_, err = s.UpdateAPI(ctx, def("pets", "stale"), a.Revision)
	wantErr(t, err, ErrConflict)
	up2 := must[*API](t)(s.UpdateAPI(ctx, def("pets", "Pets v3"), 0))
	if up2.Revision != up.Revision+1 {
		t.Errorf("revision %d, want %d", up2.Revision, up.Revision+1)
	}
	_, err = s.UpdateAPI(ctx, def("nope", "x"), 0)
	wantErr(t, err, ErrNotFound)
	_, err = s.UpdateAPI(ctx, def("", "x"), 0)
	wantErr(t, err, ErrInvalidArgument)
	_, err = s.UpdateAPI(ctx, nil, 0)
	wantErr(t, err, ErrInvalidArgument)

	// Delete.
	wantErr(t, s.DeleteAPI(ctx, "pets", up.Revision), ErrConflict)
	wantErr(t, s.DeleteAPI(ctx, "nope", 0), ErrNotFound)
	if err := s.DeleteAPI(ctx, "pets", up2.Revision); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetAPI(ctx, "pets")
	wantErr(t, err, ErrNotFound)
}

func testRevisionBumpsOnlyOnCommittedWrites(t *testing.T, open func(*testing.T) contractStore) {
	ctx := t.Context()
	s := open(t)
	rev := func() Revision { return must[Revision](t)(s.Revision(ctx)) }
	if r := rev(); r != 0 {
		t.Fatalf("initial revision %d", r)
	}
	must[*API](t)(s.CreateAPI(ctx, def("a", "A")))
	_, _ = s.CreateAPI(ctx, def("a", "A")) // fails
	_, _ = s.UpdateAPI(ctx, def("a", "A"), 42)
	if r := rev(); r != 1 {
		t.Fatalf("revision %d, want 1", r)
	}
	must[*API](t)(s.UpdateAPI(ctx, def("a", "A2"), 0))
	must[*Deployment](t)(s.CreateDeployment(ctx, "a", ""))
	if r := rev(); r != 3 {
		t.Fatalf("revision %d, want 3", r)
	}
}

func testListAPIsPagination(t *testing.T, open func(*testing.T) contractStore) {
	ctx := t.Context()
	s := open(t)
	ids := []string{"e", "a", "d", "b", "c"}
	for _, id := range ids {
		must[*API](t)(s.CreateAPI(ctx, def(id, id)))
	}
	want := []string{"a", "b", "c", "d", "e"}

	for _, size := range []int{1, 2, 3, 5, 6, 0, 5000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			var got []string
			tok := ""
			pages := 0
			for {
				page, next, err := s.ListAPIs(ctx, size, tok)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				if size > 0 && len(page) > size {
					t.Fatalf("page of %d > %d", len(page), size)
				}
				for _, a := range page {
					got = append(got, a.ID)
				}
				if next == "" {
					break
				}
				if pages > 10 {
					t.Fatal("too many pages")
				}
				tok = next
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
			wantPages := 1
			if size > 0 && size < len(want) {
				wantPages = (len(want) + size - 1) / size
			}
			if pages != wantPages {
				t.Errorf("pages = %d, want %d", pages, wantPages)
			}
		})
	}

	// A token stays valid when its item is deleted.
	page, tok, err := s.ListAPIs(ctx, 2, "")
	if err != nil || len(page) != 2 || tok == "" {
		t.Fatalf("ListAPIs = %v %q %v", page, tok, err)
	}
	if err := s.DeleteAPI(ctx, "b", 0); err != nil {
		t.Fatal(err)
	}
	page, _, err = s.ListAPIs(ctx, 2, tok)
	if err != nil || len(page) != 2 || page[0].ID != "c" {
		t.Fatalf("after delete: %v %v", page, err)
	}

	for _, bad := range []string{"!!!", "Zm9v" /* "foo" */, "djE6" /* "v1:" */} {
		_, _, err := s.ListAPIs(ctx, 2, bad)
		wantErr(t, err, ErrInvalidArgument)
	}
	_, _, err = s.ListAPIs(ctx, -1, "")
	wantErr(t, err, ErrInvalidArgument)

	empty := open(t)
	page, tok, err = empty.ListAPIs(ctx, 10, "")
	if err != nil || len(page) != 0 || tok != "" {
		t.Fatalf("empty ListAPIs = %v %q %v", page, tok, err)
	}
}

func testDeployments(t *testing.T, open func(*testing.T) contractStore) {
	ctx := t.Context()
	s := open(t)
	a := must[*API](t)(s.CreateAPI(ctx, def("pets", "Pets v1")))
	must[*API](t)(s.CreateAPI(ctx, def("other", "Other")))

	d1 := must[*Deployment](t)(s.CreateDeployment(ctx, "pets", "first"))
	if len(d1.ID) != 6 || !idPattern.MatchString(d1.ID) || d1.APIID != "pets" || d1.Description != "first" || d1.Revision != 3 {
		t.Fatalf("CreateDeployment = %+v", d1)
	}
	if want := deriveID(6, 0, "deployment", "pets", "3"); d1.ID != want {
		t.Errorf("deployment id %q, want %q", d1.ID, want)
	}
	if diff := cmp.Diff(a.Definition, d1.Definition, cmpOpts); diff != "" {
		t.Errorf("snapshot diff:\n%s", diff)
	}
	_, err := s.CreateDeployment(ctx, "nope", "")
	wantErr(t, err, ErrNotFound)

	// Immutability: editing the API does not change the deployment.
	must[*API](t)(s.UpdateAPI(ctx, def("pets", "Pets v2"), 0))
	got := must[*Deployment](t)(s.GetDeployment(ctx, "pets", d1.ID))
	if diff := cmp.Diff(d1, got, cmpOpts); diff != "" {
		t.Errorf("deployment changed after UpdateAPI:\n%s", diff)
	}
	if got.Definition.GetName() != "Pets v1" {
		t.Errorf("deployment name %q", got.Definition.GetName())
	}
	d2 := must[*Deployment](t)(s.CreateDeployment(ctx, "pets", "second"))
	if d2.Definition.GetName() != "Pets v2" || d2.ID == d1.ID {
		t.Errorf("second deployment %+v", d2)
	}
	_, err = s.GetDeployment(ctx, "pets", "zzzzzz")
	wantErr(t, err, ErrNotFound)
	_, err = s.GetDeployment(ctx, "other", d1.ID)
	wantErr(t, err, ErrNotFound)

	// Listing, paged, only this API's deployments.
	for range 3 {
		must[*Deployment](t)(s.CreateDeployment(ctx, "pets", ""))
	}
	must[*Deployment](t)(s.CreateDeployment(ctx, "other", ""))
	all, tok, err := s.ListDeployments(ctx, "pets", 0, "")
	if err != nil || tok != "" || len(all) != 5 {
		t.Fatalf("ListDeployments = %d %q %v", len(all), tok, err)
	}
	for i := 1; i < len(all); i++ {
		if all[i-1].ID >= all[i].ID {
			t.Errorf("not ordered by id: %q, %q", all[i-1].ID, all[i].ID)
		}
	}
	var paged []*Deployment
	tok = ""
	for {
		page, next, err := s.ListDeployments(ctx, "pets", 2, tok)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, page...)
		if next == "" {
			break
		}
		tok = next
	}
	if diff := cmp.Diff(all, paged, cmpOpts); diff != "" {
		t.Errorf("paged != all:\n%s", diff)
	}
	_, tok, _ = s.ListDeployments(ctx, "pets", 1, "")
	_, _, err = s.ListDeployments(ctx, "other", 1, tok)
	wantErr(t, err, ErrInvalidArgument)
	_, _, err = s.ListDeployments(ctx, "pets", 1, "garbage!")
	wantErr(t, err, ErrInvalidArgument)
	_, _, err = s.ListDeployments(ctx, "nope", 1, "")
	wantErr(t, err, ErrNotFound)
}

func testStages(t *testing.T, open func(*testing.T) contractStore) {
	ctx := t.Context()
	s := open(t)
	must[*API](t)(s.CreateAPI(ctx, def("pets", "Pets")))
	must[*API](t)(s.CreateAPI(ctx, def("other", "Other")))
	d1 := must[*Deployment](t)(s.CreateDeployment(ctx, "pets", ""))
	d2 := must[*Deployment](t)(s.CreateDeployment(ctx, "pets", ""))
	dOther := must[*Deployment](t)(s.CreateDeployment(ctx, "other", ""))

	in := &Stage{APIID: "pets", Name: "prod", DeploymentID: d1.ID, Variables: map[string]string{"lambda": "fn-prod"}, Description: "production"}
	st := must[*Stage](t)(s.PutStage(ctx, in, 0))
	if st.Revision == 0 || st.UpdatedAt.IsZero() || st.DeploymentID != d1.ID || st.Variables["lambda"] != "fn-prod" {
		t.Fatalf("PutStage = %+v", st)
	}
	in.Variables["lambda"] = "mutated"
	got := must[*Stage](t)(s.GetStage(ctx, "pets", "prod"))
	if diff := cmp.Diff(st, got); diff != "" {
		t.Errorf("GetStage diff:\n%s", diff)
	}

	cases := []struct {
		name     string
		st       *Stage
		expected Revision
		want     error
	}{
		{"nil", nil, 0, ErrInvalidArgument},
		{"bad name", &Stage{APIID: "pets", Name: "a b", DeploymentID: d1.ID}, 0, ErrInvalidArgument},
		{"unknown api", &Stage{APIID: "nope", Name: "x", DeploymentID: d1.ID}, 0, ErrNotFound},
		{"unknown deployment", &Stage{APIID: "pets", Name: "x", DeploymentID: "zzzzzz"}, 0, ErrFailedPrecondition},
		{"empty deployment", &Stage{APIID: "pets", Name: "x"}, 0, ErrFailedPrecondition},
		{"other api's deployment", &Stage{APIID: "pets", Name: "x", DeploymentID: dOther.ID}, 0, ErrFailedPrecondition},
		{"stale update", &Stage{APIID: "pets", Name: "prod", DeploymentID: d2.ID}, st.Revision - 1, ErrConflict},
		{"create with revision", &Stage{APIID: "pets", Name: "new", DeploymentID: d2.ID}, st.Revision, ErrConflict},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.PutStage(ctx, c.st, c.expected)
			wantErr(t, err, c.want)
		})
	}

	st2 := must[*Stage](t)(s.PutStage(ctx, &Stage{APIID: "pets", Name: "prod", DeploymentID: d2.ID}, st.Revision))
	if st2.DeploymentID != d2.ID || st2.Revision <= st.Revision || len(st2.Variables) != 0 {
		t.Errorf("update = %+v", st2)
	}
	must[*Stage](t)(s.PutStage(ctx, &Stage{APIID: "pets", Name: "beta", DeploymentID: d1.ID}, 0))
	must[*Stage](t)(s.PutStage(ctx, &Stage{APIID: "other", Name: "prod", DeploymentID: dOther.ID}, 0))

	list := must[[]*Stage](t)(s.ListStages(ctx, "pets"))
	var names []string
	for _, x := range list {
		names = append(names, x.Name)
	}
	if diff := cmp.Diff([]string{"beta", "prod"}, names); diff != "" {
		t.Errorf("ListStages:\n%s", diff)
	}
	_, err := s.ListStages(ctx, "nope")
	wantErr(t, err, ErrNotFound)
	_, err = s.GetStage(ctx, "pets", "nope")
	wantErr(t, err, ErrNotFound)

	wantErr(t, s.DeleteStage(ctx, "pets", "prod", st.Revision), ErrConflict)
	wantErr(t, s.DeleteStage(ctx, "pets", "nope", 0), ErrNotFound)
	if err := s.DeleteStage(ctx, "pets", "prod", st2.Revision); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetStage(ctx, "pets", "prod")
	wantErr(t, err, ErrNotFound)
}

func testDeleteAPICascades(t *testing.T, open func(*testing.T) contractStore) {
	ctx := t.Context()
	s := open(t)
	// "pets" and "pets-2": a prefix of another id must not be cascaded.
	for _, id := range []string{"pets", "pets-2"} {
		must[*API](t)(s.CreateAPI(ctx, def(id, id)))
		d := must[*Deployment](t)(s.CreateDeployment(ctx, id, ""))
		must[*Stage](t)(s.PutStage(ctx, &Stage{APIID: id, Name: "prod", DeploymentID: d.ID}, 0))
	}
	d := must[[]*Deployment](t)(func() ([]*Deployment, error) {
		l, _, err := s.ListDeployments(ctx, "pets", 0, "")
		return l, err
	}())
	if err := s.DeleteAPI(ctx, "pets", 0); err != nil {
		t.Fatal(err)
	}
	_, err := s.GetDeployment(ctx, "pets", d[0].ID)
	wantErr(t, err, ErrNotFound)
	_, err = s.GetStage(ctx, "pets", "prod")
	wantErr(t, err, ErrNotFound)

	// Recreating the API starts empty.
	must[*API](t)(s.CreateAPI(ctx, def("pets", "again")))
	if l := must[[]*Stage](t)(s.ListStages(ctx, "pets")); len(l) != 0 {
		t.Errorf("stages survived: %v", l)
	}
	if l, _, _ := s.ListDeployments(ctx, "pets", 0, ""); len(l) != 0 {
		t.Errorf("deployments survived: %v", l)
	}
	_, deployed, err := s.Deployed(ctx)
	if err != nil || len(deployed) != 1 || deployed[0].Stage.APIID != "pets-2" {
		t.Fatalf("Deployed = %v %v", deployed, err)
	}
}

func testDeployed(t *testing.T, open func(*testing.T) contractStore) {
	ctx := t.Context()
	s := open(t)
	rev, stages, err := s.Deployed(ctx)
	if err != nil || rev != 0 || len(stages) != 0 {
		t.Fatalf("empty Deployed = %d %v %v", rev, stages, err)
	}
	must[*API](t)(s.CreateAPI(ctx, def("pets", "v1")))
	d1 := must[*Deployment](t)(s.CreateDeployment(ctx, "pets", ""))
	must[*API](t)(s.UpdateAPI(ctx, def("pets", "v2"), 0))
	d2 := must[*Deployment](t)(s.CreateDeployment(ctx, "pets", ""))
	if rev, _, _ := s.Deployed(ctx); rev != 0 {
		t.Errorf("Deployed revision %d before any stage", rev)
	}

	prod := must[*Stage](t)(s.PutStage(ctx, &Stage{APIID: "pets", Name: "prod", DeploymentID: d1.ID, Variables: map[string]string{"k": "v"}}, 0))
	beta := must[*Stage](t)(s.PutStage(ctx, &Stage{APIID: "pets", Name: "beta", DeploymentID: d2.ID}, 0))
	rev, stages, err = s.Deployed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rev != beta.Revision {
		t.Errorf("Deployed revision %d, want %d", rev, beta.Revision)
	}
	want := []DeployedStage{{Stage: beta, Deployment: d2}, {Stage: prod, Deployment: d1}}
	if diff := cmp.Diff(want, stages, cmpOpts); diff != "" {
		t.Errorf("Deployed (-want +got):\n%s", diff)
	}
	if stages[1].Deployment.Definition.GetName() != "v1" || stages[0].Deployment.Definition.GetName() != "v2" {
		t.Errorf("served definitions wrong")
	}

	// Editing the API or deploying does not change what is served.
	must[*API](t)(s.UpdateAPI(ctx, def("pets", "v3"), 0))
	d3 := must[*Deployment](t)(s.CreateDeployment(ctx, "pets", ""))
	rev2, stages2, _ := s.Deployed(ctx)
	if rev2 != rev || cmp.Diff(stages, stages2, cmpOpts) != "" {
		t.Errorf("served view changed without a stage change: %d -> %d", rev, rev2)
	}
	// Pointing a stage at it does.
	prod2 := must[*Stage](t)(s.PutStage(ctx, &Stage{APIID: "pets", Name: "prod", DeploymentID: d3.ID}, prod.Revision))
	rev3, stages3, _ := s.Deployed(ctx)
	if rev3 != prod2.Revision || stages3[1].Deployment.Definition.GetName() != "v3" {
		t.Errorf("after redeploy: rev %d, %v", rev3, stages3[1].Deployment.Definition.GetName())
	}
	// Deleting a stage does too.
	if err := s.DeleteStage(ctx, "pets", "beta", 0); err != nil {
		t.Fatal(err)
	}
	storeRev := must[Revision](t)(s.Revision(ctx))
	rev4, stages4, _ := s.Deployed(ctx)
	if rev4 != storeRev || len(stages4) != 1 {
		t.Errorf("after DeleteStage: rev %d (store %d), %d stages", rev4, storeRev, len(stages4))
	}
}

// Two stores fed the same history agree on ids and revisions (what etcd
// replicas rely on).
func testDeterministicAcrossStores(t *testing.T, open func(*testing.T) contractStore) {
	ctx := t.Context()
	type result struct {
		apiID string
		rev   Revision
		dep   []DeployedStage
	}
	run := func() result {
		s := open(t)
		a := must[*API](t)(s.CreateAPI(ctx, def("", "x")))
		d := must[*Deployment](t)(s.CreateDeployment(ctx, a.ID, ""))
		must[*Stage](t)(s.PutStage(ctx, &Stage{APIID: a.ID, Name: "prod", DeploymentID: d.ID}, 0))
		rev, dep, err := s.Deployed(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return result{a.ID, rev, dep}
	}
	r1, r2 := run(), run()
	if diff := cmp.Diff(r1, r2, cmpOpts, cmp.AllowUnexported(result{})); diff != "" {
		t.Errorf("replicas differ:\n%s", diff)
	}
}

func recvRev(t *testing.T, ch <-chan Revision) Revision {
	t.Helper()
	select {
	case r, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no watch event within 5s")
	}
	return 0
}

func testWatch(t *testing.T, open func(*testing.T) contractStore) {
	ctx := t.Context()
	s := open(t)
	wctx, cancel := context.WithCancel(ctx)
	ch := s.Watch(wctx)

	a := must[*API](t)(s.CreateAPI(ctx, def("pets", "x")))
	if r := recvRev(t, ch); r != a.Revision {
		t.Errorf("watch got %d, want %d", r, a.Revision)
	}
	// Failed writes do not notify; coalescing delivers the latest.
	_, _ = s.CreateAPI(ctx, def("pets", "x"))
	must[*API](t)(s.UpdateAPI(ctx, def("pets", "y"), 0))
	d := must[*Deployment](t)(s.CreateDeployment(ctx, "pets", ""))
	if r := recvRev(t, ch); r != d.Revision {
		t.Errorf("coalesced watch got %d, want %d", r, d.Revision)
	}
	select {
	case r := <-ch:
		t.Errorf("unexpected extra event %d", r)
	default:
	}

	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Error("event after cancel")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("channel not closed after cancel")
	}

	// Close ends the remaining watches.
	ch2 := s.Watch(ctx)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-ch2; ok {
		t.Error("channel open after Close")
	}
	if _, ok := <-s.Watch(ctx); ok {
		t.Error("Watch after Close returned an open channel")
	}
}

func testCanceledContext(t *testing.T, open func(*testing.T) contractStore) {
	s := open(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.CreateAPI(ctx, def("a", "a"))
	wantErr(t, err, context.Canceled)
	_, err = s.GetAPI(ctx, "a")
	wantErr(t, err, context.Canceled)
}

func testConcurrentWriters(t *testing.T, open func(*testing.T) contractStore) {
	ctx := t.Context()
	s := open(t)
	must[*API](t)(s.CreateAPI(ctx, def("pets", "v0")))
	d := must[*Deployment](t)(s.CreateDeployment(ctx, "pets", ""))

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watch := s.Watch(wctx)
	var last Revision
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		for r := range watch {
			if r <= last {
				t.Errorf("watch revision went from %d to %d", last, r)
			}
			last = r
		}
	}()

	const workers, iters = 8, 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	conflicts, successes := 0, 0
	for w := range workers {
		wg.Go(func() {
			for i := range iters {
				// Optimistic read-modify-write of one shared API.
				a, err := s.GetAPI(ctx, "pets")
				if err != nil {
					t.Error(err)
					return
				}
				_, err = s.UpdateAPI(ctx, def("pets", fmt.Sprintf("w%d-%d", w, i)), a.Revision)
				mu.Lock()
				switch {
				case err == nil:
					successes++
				case errors.Is(err, ErrConflict):
					conflicts++
				default:
					t.Error(err)
				}
				mu.Unlock()
				// Independent writes.
				if _, err := s.CreateAPI(ctx, def(fmt.Sprintf("api-%d-%d", w, i), "x")); err != nil {
					t.Error(err)
				}
				if _, err := s.PutStage(ctx, &Stage{APIID: "pets", Name: fmt.Sprintf("s%d", w), DeploymentID: d.ID}, 0); err != nil {
					t.Error(err)
				}
				if _, _, err := s.Deployed(ctx); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()

	a := must[*API](t)(s.GetAPI(ctx, "pets"))
	storeRev := must[Revision](t)(s.Revision(ctx))
	// 2 setup writes + successes + creates + stage puts.
	if want := Revision(2 + successes + 2*workers*iters); storeRev != want {
		t.Errorf("store revision %d, want %d (successes %d, conflicts %d)", storeRev, want, successes, conflicts)
	}
	if successes == 0 || a.Revision > storeRev {
		t.Errorf("successes %d, api revision %d", successes, a.Revision)
	}
	all, _, err := s.ListAPIs(ctx, MaxPageSize, "")
	if err != nil || len(all) != 1+workers*iters {
		t.Errorf("ListAPIs: %d %v", len(all), err)
	}
	cancel()
	<-watchDone
	if last != storeRev {
		t.Errorf("watch last saw %d, want %d", last, storeRev)
	}
}

// revisioned is a Store that reports its store-wide revision (Bolt and Etcd do).
type revisioned interface {
	Store
	Revision(ctx context.Context) (Revision, error)
}

// restartState is what a store must report again after a restart.
type restartState struct {
	deployedRev, storeRev Revision
	stages                []DeployedStage
	api                   *API
}

func captureRestartState(t *testing.T, s revisioned, apiID string) restartState {
	t.Helper()
	ctx := t.Context()
	rev, stages, err := s.Deployed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return restartState{deployedRev: rev, storeRev: must[Revision](t)(s.Revision(ctx)), stages: stages, api: must[*API](t)(s.GetAPI(ctx, apiID))}
}

// checkRestarted checks that s2, reopened on the same data, reports before's state and continues its revisions.
func checkRestarted(t *testing.T, s2 revisioned, before restartState) {
	t.Helper()
	ctx := t.Context()
	rev2, stages2, err := s2.Deployed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rev2 != before.deployedRev {
		t.Errorf("Deployed revision %d after restart, want %d", rev2, before.deployedRev)
	}
	if diff := cmp.Diff(before.stages, stages2, cmpOpts); diff != "" {
		t.Errorf("Deployed after restart (-before +after):\n%s", diff)
	}
	if r := must[Revision](t)(s2.Revision(ctx)); r != before.storeRev {
		t.Errorf("store revision %d after restart, want %d", r, before.storeRev)
	}
	if diff := cmp.Diff(before.api, must[*API](t)(s2.GetAPI(ctx, before.api.ID)), cmpOpts); diff != "" {
		t.Errorf("API after restart:\n%s", diff)
	}
	// Revisions continue from where they were.
	a := must[*API](t)(s2.UpdateAPI(ctx, def(before.api.ID, "v3"), before.api.Revision))
	if a.Revision != before.storeRev+1 {
		t.Errorf("revision after restart write %d, want %d", a.Revision, before.storeRev+1)
	}
}
