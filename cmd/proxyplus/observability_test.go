package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/proxyplus/proxyplus/controlplane"
	"github.com/proxyplus/proxyplus/store"
	"github.com/proxyplus/proxyplus/translator"
	xdstranslator "github.com/proxyplus/proxyplus/xds/translator"
)

// downStore is a store whose backend does not answer.
type downStore struct{ store.Store }

func (downStore) ListAPIs(context.Context, int, string) ([]*store.API, string, error) {
	return nil, "", errors.New("etcd: context deadline exceeded")
}

type noPublish struct{}

func (noPublish) Publish(context.Context, *xdstranslator.Resources) (string, error) { return "", nil }
func (noPublish) Reject(error)                                                      {}

// TestReadiness: not ready before anything is published, with an unreachable store or a processor that is not
// serving; each check says why.
func TestReadiness(t *testing.T) {
	r := controlplane.NewReloader(nil, translator.Options{}, noPublish{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	o := &endpoints{reloader: r, store: downStore{}, processor: func(context.Context) bool { return false }}
	checks := o.ready(context.Background())
	if checks["reload"] != "no configuration published yet" || checks["store"] != "unreachable: etcd: context deadline exceeded" ||
		checks["processor"] != "not serving" {
		t.Errorf("checks %v", checks)
	}
}

// TestBuildVersion: without -ldflags the version comes from the build info Go recorded.
func TestBuildVersion(t *testing.T) {
	v := buildVersion()
	if v.Version == "" || v.GoVersion == "" {
		t.Errorf("version %+v", v)
	}
}
