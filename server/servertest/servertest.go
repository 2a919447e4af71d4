// Package servertest starts an in-process reference server on free loopback ports, in the manner of net/http/httptest.
package servertest

import (
	"context"
	"crypto/rsa"
	"os"
	"testing"
	"time"

	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/server"
)

// Server is a reference server for one test.
type Server struct {
	*server.Server
	Pivotal *rsa.PrivateKey // superuser key
	Admin   *rsa.PrivateKey // org admin key
}

// Fast returns a configuration with short timings for tests: 100 ms heartbeats, a 2 s voting
// timeout, 500 ms wait-complete time, free ports on 127.0.0.1 and the data under dir.
func Fast(dir string) server.Config {
	cfg := server.DefaultConfig()
	cfg.DataDir = dir
	cfg.Listen = "127.0.0.1:0"
	cfg.ZMQListen = "127.0.0.1"
	cfg.HeartbeatPort = 0
	cfg.CommandPort = 0
	cfg.HeartbeatInterval = 100 * time.Millisecond
	cfg.VotingTimeout = 2 * time.Second
	cfg.WaitCompleteTime = 500 * time.Millisecond
	cfg.KeepAlive = time.Second
	cfg.OrgFeedExpiration = 5 * time.Second
	cfg.RehabInterval = 100 * time.Millisecond
	return cfg
}

// Start starts a server with cfg (see Fast) and closes it when the test ends.
func Start(t testing.TB, cfg server.Config) *Server {
	t.Helper()
	srv, err := server.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("starting the reference server: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("closing the reference server: %v", err)
		}
	})
	s := &Server{Server: srv}
	s.Pivotal = loadKey(t, srv.KeyPath("pivotal"))
	s.Admin = loadKey(t, srv.KeyPath("admin"))
	return s
}

// StartFast starts a server with Fast timings in a fresh temporary directory.
func StartFast(t testing.TB) *Server {
	t.Helper()
	return Start(t, Fast(t.TempDir()))
}

func loadKey(t testing.TB, path string) *rsa.PrivateKey {
	t.Helper()
	pem, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	k, err := chefauth.ParsePrivateKeyPEM(pem)
	if err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
	return k
}
