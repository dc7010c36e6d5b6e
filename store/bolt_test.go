package store

import (
	"os"
	"path/filepath"
	"testing"
)

func openTest(t *testing.T) (*Bolt, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "proxyplus.db")
	s, err := OpenBolt(path)
	if err != nil {
		t.Fatalf("OpenBolt: %v", err)
	}
	s.now = fakeClock()
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

func TestBoltContract(t *testing.T) {
	runStoreContract(t, func(t *testing.T) contractStore {
		s, _ := openTest(t)
		return s
	})
}

func TestOpenBoltCreatesFile(t *testing.T) {
	_, path := openTest(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("mode = %v, want 0600", got)
	}
}

func TestBoltRestartKeepsState(t *testing.T) {
	ctx := t.Context()
	s, path := openTest(t)
	must[*API](t)(s.CreateAPI(ctx, def("pets", "v1")))
	d := must[*Deployment](t)(s.CreateDeployment(ctx, "pets", "d"))
	must[*Stage](t)(s.PutStage(ctx, &Stage{APIID: "pets", Name: "prod", DeploymentID: d.ID, Variables: map[string]string{"a": "b"}}, 0))
	must[*API](t)(s.UpdateAPI(ctx, def("pets", "v2"), 0))
	before := captureRestartState(t, s, "pets")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := s.GetAPI(ctx, "pets")
	wantErr(t, err, ErrClosed)

	s2, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	checkRestarted(t, s2, before)
}
