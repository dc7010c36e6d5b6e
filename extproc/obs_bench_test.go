package extproc_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	extprocsvcv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/proxyplus/proxyplus/extproc"
	"github.com/proxyplus/proxyplus/internal/testutil"
	"github.com/proxyplus/proxyplus/lambdainvoke"
)

// BenchmarkExtProcObservability is issue 14's P3 check: the Lambda exchange of BenchmarkExtProcExchange with and
// without what observability adds to it — per-function metrics on a registry and the access log's dynamic
// metadata in every answer — interleaved as in the "interleaved" variant (one exchange of each per operation, each
// timed alone, so both meet the same load), with p50s and their ratio (obs/base; the target is ≤ 1.05).
//
//	go test ./extproc -run '^$' -bench 'BenchmarkExtProcObservability' -benchtime 20000x -count 6 -cpu 2
func BenchmarkExtProcObservability(b *testing.B) {
	ref := extproc.LoadRef(b)
	res := &lambdainvoke.Result{Payload: ref.Output}
	invoker := lambdainvoke.Func(func(context.Context, string, []byte) (*lambdainvoke.Result, error) { return res, nil })
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	base := extproc.NewServer(quiet, &extproc.Lambda{AccountID: "123456789012", Invoker: invoker, OmitLogMetadata: true}, testutil.RouteKeys(b))
	obs := extproc.NewServer(quiet, &extproc.Lambda{AccountID: "123456789012", Invoker: invoker,
		Metrics: extproc.NewMetrics(prometheus.NewRegistry())}, testutil.RouteKeys(b))
	ctx := metadata.AppendToOutgoingContext(context.Background(), ref.Metadata()...)
	client := func(srv extprocsvcv3.ExternalProcessorServer) extprocsvcv3.ExternalProcessorClient {
		return extprocsvcv3.NewExternalProcessorClient(serve(b, "uds", func(gs *grpc.Server) { extprocsvcv3.RegisterExternalProcessorServer(gs, srv) }))
	}
	baseClient, obsClient := client(base), client(obs)
	raw := &rawAnswer{}
	once := func(c extprocsvcv3.ExternalProcessorClient) time.Duration {
		start := time.Now()
		s, err := c.Process(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range ref.Messages() {
			if err := s.Send(m); err != nil {
				b.Fatal(err)
			}
		}
		if err := s.RecvMsg(raw); err != nil || raw.kind != answerImmediate {
			b.Fatalf("answer %d: %v", raw.kind, err)
		}
		d := time.Since(start)
		_ = s.CloseSend()
		if _, err := s.Recv(); err != io.EOF {
			b.Fatalf("stream end: %v", err)
		}
		return d
	}
	once(baseClient)
	once(obsClient)
	var bl, ol []time.Duration
	for i := 0; b.Loop(); i++ {
		// Alternate which side goes first, so neither always follows the other.
		if i%2 == 0 {
			bl = append(bl, once(baseClient))
			ol = append(ol, once(obsClient))
		} else {
			ol = append(ol, once(obsClient))
			bl = append(bl, once(baseClient))
		}
	}
	bp, op := median(bl), median(ol)
	b.ReportMetric(float64(bp.Nanoseconds()), "base-p50-ns")
	b.ReportMetric(float64(op.Nanoseconds()), "obs-p50-ns")
	b.ReportMetric(float64(op)/float64(bp), "obs/base")
}
