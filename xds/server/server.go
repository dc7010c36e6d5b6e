// Package server serves already-built Envoy resources to Envoy fleets over ADS (SotW and delta, one gRPC
// listener). It translates nothing.
//
// It is made of small separate types (XDS-10):
//
//   - Publisher validates resources, versions them by content hash (each resource and the whole), marshals each
//     once and keeps the last good generation in fanoutCache, shared by every node (XDS-2..XDS-4).
//   - fanoutCache answers the xDS streams (go-control-plane's cache.Cache) from that generation's shared bytes,
//     sending each stream only what it has not been sent (cache.go).
//   - NodeTracker implements go-control-plane's callbacks: per-node connection, ACK and NACK state, NACK logging
//     and counting (XDS-6), and stream open/close notifications to the Publisher (XDS-7).
//   - Metrics holds the Prometheus collectors, registered with a caller-provided Registerer.
//   - Server wires them to a gRPC server with ADS, health and reflection (XDS-5).
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	sotwv3 "github.com/envoyproxy/go-control-plane/pkg/server/sotw/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
)

// gRPC settings (XDS-5, as in go-control-plane's example server).
const (
	grpcMaxConcurrentStreams = 1_000_000
	grpcMaxRecvMsgSize       = 16 << 20
	grpcKeepaliveTime        = 30 * time.Second
	grpcKeepaliveTimeout     = 5 * time.Second
	grpcKeepaliveMinTime     = 30 * time.Second

	// DefaultShutdownTimeout bounds the graceful stop before open connections are closed.
	DefaultShutdownTimeout = 10 * time.Second
)

// Options configure a Server. The zero value is usable.
type Options struct {
	// Logger receives the server's and go-control-plane's logs; slog.Default() when nil.
	Logger *slog.Logger
	// Registerer receives the metrics (never the global default registry implicitly); nil leaves them unregistered.
	Registerer prometheus.Registerer
	// ShutdownTimeout bounds GracefulStop when Serve's context is cancelled; DefaultShutdownTimeout when 0.
	ShutdownTimeout time.Duration
	// GRPCOptions are appended to the server's own gRPC options (later options win).
	GRPCOptions []grpc.ServerOption
}

// Server serves ADS (SotW and delta), gRPC health and reflection on one listener.
type Server struct {
	log             *slog.Logger
	shutdownTimeout time.Duration
	grpcOptions     []grpc.ServerOption
	metrics         *Metrics
	publisher       *Publisher
	tracker         *NodeTracker
	serving         atomic.Bool
}

// Status is the combined state for a /status endpoint.
type Status struct {
	Snapshot SnapshotStatus `json:"snapshot"`
	Nodes    []NodeStatus   `json:"nodes"`
}

// New wires a Publisher, a NodeTracker and Metrics. It panics if opts.Registerer already holds a different metric
// with one of the server's metric names, like prometheus.MustRegister.
func New(opts Options) *Server {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("component", "xds")
	timeout := opts.ShutdownTimeout
	if timeout <= 0 {
		timeout = DefaultShutdownTimeout
	}
	metrics := NewMetrics(opts.Registerer)
	publisher := NewPublisher(logger, metrics)
	return &Server{
		log:             logger,
		shutdownTimeout: timeout,
		grpcOptions:     opts.GRPCOptions,
		metrics:         metrics,
		publisher:       publisher,
		tracker:         NewNodeTracker(logger, metrics, publisher),
	}
}

// Publisher returns the server's Publisher.
func (s *Server) Publisher() *Publisher { return s.publisher }

// Tracker returns the server's NodeTracker.
func (s *Server) Tracker() *NodeTracker { return s.tracker }

// Publish is Publisher().Publish.
func (s *Server) Publish(ctx context.Context, resources map[resourcev3.Type][]types.Resource) (string, error) {
	return s.publisher.Publish(ctx, resources)
}

// PublishDigested is Publisher.PublishDigested on the server's publisher.
func (s *Server) PublishDigested(ctx context.Context, resources map[resourcev3.Type][]types.Resource, digests Digests) (string, error) {
	return s.publisher.PublishDigested(ctx, resources, digests)
}

// Status returns the snapshot and node state.
func (s *Server) Status() Status {
	return Status{Snapshot: s.publisher.Status(), Nodes: s.tracker.Status()}
}

// Serve serves on lis until ctx is cancelled or lis fails. On cancellation the health service reports
// NOT_SERVING, open xDS streams end (Envoy keeps its configuration and reconnects), and the gRPC server stops
// gracefully within the shutdown timeout, then forcibly. Serve returns nil after a shutdown caused by ctx and
// closes lis in every case. A Server serves once.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	if lis == nil {
		return errors.New("xds/server: nil listener")
	}
	if !s.serving.CompareAndSwap(false, true) {
		_ = lis.Close()
		return errors.New("xds/server: Serve called twice")
	}
	opts := append([]grpc.ServerOption{
		grpc.MaxConcurrentStreams(grpcMaxConcurrentStreams),
		grpc.MaxRecvMsgSize(grpcMaxRecvMsgSize),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:    grpcKeepaliveTime,
			Timeout: grpcKeepaliveTimeout,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             grpcKeepaliveMinTime,
			PermitWithoutStream: true,
		}),
		// Responses carry the published resources' bytes in place instead of marshalling them per client (P6).
		grpc.ForceServerCodecV2(newWireCodec(s.publisher.Cache())),
	}, s.grpcOptions...)
	gs := grpc.NewServer(opts...)

	// ctx also ends the xDS stream handlers, which GracefulStop would otherwise wait for forever.
	xds := serverv3.NewServer(ctx, s.publisher.Cache(), s.tracker,
		sotwv3.WithOrderedADS(), sotwv3.WithLogger(NewLogAdapter(s.log)))
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(gs, xds)

	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(discoveryv3.AggregatedDiscoveryService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs)

	errc := make(chan error, 1)
	go func() { errc <- gs.Serve(lis) }()
	s.log.Info("xds server listening", "addr", lis.Addr().String())

	select {
	case err := <-errc:
		hs.Shutdown()
		gs.Stop()
		return err
	case <-ctx.Done():
	}
	s.log.Info("xds server shutting down", "timeout", s.shutdownTimeout)
	hs.Shutdown()
	stopped := make(chan struct{})
	go func() {
		gs.GracefulStop()
		close(stopped)
	}()
	timer := time.NewTimer(s.shutdownTimeout)
	defer timer.Stop()
	select {
	case <-stopped:
	case <-timer.C:
		s.log.Warn("xds server graceful stop timed out, closing connections")
		gs.Stop()
		<-stopped
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

// Reject records a configuration that failed before publishing; see Publisher.Reject.
func (s *Server) Reject(err error) { s.Publisher().Reject(err) }
