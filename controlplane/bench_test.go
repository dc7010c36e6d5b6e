package controlplane_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/proxyplus/proxyplus/controlplane"
	"github.com/proxyplus/proxyplus/store"
	"github.com/proxyplus/proxyplus/translator"
)

// BenchmarkReloadStoredAPIs: one reload of 100 stored APIs (two resources each), nothing changed since the last
// one — the common case of a store change that does not touch what is served — and with one API held back.
func BenchmarkReloadStoredAPIs(b *testing.B) {
	for _, broken := range []bool{false, true} {
		b.Run(fmt.Sprintf("held_back=%v", broken), func(b *testing.B) {
			ctx := context.Background()
			st, err := store.OpenBolt(filepath.Join(b.TempDir(), "state.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			for i := range 100 {
				id := fmt.Sprintf("bench%05d", i)
				if _, err := st.CreateAPI(ctx, parseAPI(b, id, strings.Replace(apiNeedsBackend, "id: other00001", "id: feature001", 1))); err != nil {
					b.Fatal(err)
				}
				d, err := st.CreateDeployment(ctx, id, "")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := st.PutStage(ctx, &store.Stage{APIID: id, Name: "prod", DeploymentID: d.ID,
					Variables: map[string]string{"backend": "orders.example"}}, 0); err != nil {
					b.Fatal(err)
				}
			}
			r := controlplane.NewReloader(nil, translator.Options{}, &recordingPublisher{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			r.Store = st
			if err := r.Reload(ctx); err != nil {
				b.Fatal(err)
			}
			if broken {
				cur, err := st.GetStage(ctx, "bench00000", "prod")
				if err != nil {
					b.Fatal(err)
				}
				cur.Variables = nil
				if _, err := st.PutStage(ctx, cur, 0); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for range b.N {
				_ = r.Reload(ctx)
			}
		})
	}
}
