// Package etcdtest runs an in-process etcd server (go.etcd.io/etcd/server/v3/embed) for tests.
package etcdtest

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Server is a single-member etcd on loopback.
type Server struct {
	e *embed.Etcd
	// Endpoints are the client addresses (host:port).
	Endpoints []string
}

// Start starts a server keeping its data in dir and waits until it is ready.
func Start(dir string) (*Server, error) {
	cfg := embed.NewConfig()
	cfg.Name = "proxyplus-test"
	cfg.Dir = dir
	// Port 0: the kernel picks free ports, so parallel test binaries cannot collide.
	local := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls = []url.URL{local}
	cfg.AdvertiseClientUrls = []url.URL{local}
	cfg.ListenPeerUrls = []url.URL{local}
	cfg.AdvertisePeerUrls = []url.URL{local}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.UnsafeNoFsync = true // throwaway data; fsync only slows the tests
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd: %w", err)
	case <-time.After(30 * time.Second):
		e.Close()
		return nil, errors.New("embedded etcd not ready within 30s")
	}
	return &Server{e: e, Endpoints: []string{e.Clients[0].Addr().String()}}, nil
}

// Close stops the server.
func (s *Server) Close() { s.e.Close() }
