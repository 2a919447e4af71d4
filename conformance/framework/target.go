package framework

import (
	"context"
	"crypto/rsa"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/server"
	"github.com/pushlab/pushlab/server/launch"
	"github.com/pushlab/pushlab/server/servertest"
)

// Requestor is a Chef identity: a user or a client with its private key.
type Requestor struct {
	Name string
	Key  *rsa.PrivateKey
}

// Settings are the target's server settings the suite must know but cannot read from the
// config endpoint (protocol.md §12).
type Settings struct {
	VotingTimeout     time.Duration
	WaitCompleteTime  time.Duration
	OrgFeedExpiration time.Duration
	KeepAlive         time.Duration
}

// Target is a Push Jobs server under test.
type Target interface {
	// URL is the REST base URL, e.g. http://127.0.0.1:10003.
	URL() string
	Org() string
	// User may start jobs: an org admin.
	User() Requestor
	// Superuser may create clients, users and groups through the Chef API; false when the run
	// has none.
	Superuser() (Requestor, bool)
	Settings() Settings
	Close() error
}

// Restarter is a target the suite may restart: it stops and starts again with the same data
// and addresses (disruptive specs).
type Restarter interface {
	Restart(ctx context.Context) error
}

// Reference is the in-process reference server with fast timings.
type Reference struct {
	cfg     server.Config
	srv     *server.Server
	dir     string
	owned   bool
	admin   Requestor
	pivotal Requestor
}

var (
	_ Target    = (*Reference)(nil)
	_ Restarter = (*Reference)(nil)
)

// FastHeartbeat is the heartbeat interval of the default target. At 100 ms (servertest.Fast)
// hundreds of simulated nodes sharing two cores with the server, its store and the suite miss
// heartbeats and flap (the server's liveness gives up after about two silent intervals); at
// 500 ms they ride out the stalls of a busy machine, and every wait of the suite stays short.
const FastHeartbeat = 500 * time.Millisecond

// FastConfig is the reference server configuration of the default target: servertest.Fast
// timings (2 s voting timeout, 500 ms wait-complete time, 5 s org feed expiration, 1 s
// keepalive) with FastHeartbeat, in dir.
func FastConfig(dir string) server.Config {
	c := servertest.Fast(dir)
	c.HeartbeatInterval = FastHeartbeat
	return c
}

// FastServerArgs are the `pushlab server` flags that give a server process or container the
// timings of FastConfig.
func FastServerArgs() []string {
	fast := FastConfig("")
	return []string{
		"--heartbeat-interval", fast.HeartbeatInterval.String(),
		"--voting-timeout", fast.VotingTimeout.String(),
		"--wait-complete-time", fast.WaitCompleteTime.String(),
		"--keepalive", fast.KeepAlive.String(),
		"--org-feed-expiration", fast.OrgFeedExpiration.String(),
		"--rehab-interval", fast.RehabInterval.String(),
	}
}

// StartReference starts a reference server with cfg; when cfg.DataDir is empty a temporary
// directory is used and removed by Close.
func StartReference(ctx context.Context, cfg server.Config) (*Reference, error) {
	r := &Reference{}
	if cfg.DataDir == "" {
		dir, err := os.MkdirTemp("", "pushlab-conformance-")
		if err != nil {
			return nil, err
		}
		cfg.DataDir, r.dir, r.owned = dir, dir, true
	}
	srv, err := server.Start(ctx, cfg)
	if err != nil {
		r.cleanup()
		return nil, fmt.Errorf("starting the reference server: %w", err)
	}
	r.srv = srv
	r.cfg = srv.Config()
	// Keep the REST address over restarts.
	if _, port, err := net.SplitHostPort(srv.URL()[len("http://"):]); err == nil {
		host, _, _ := net.SplitHostPort(r.cfg.Listen)
		r.cfg.Listen = net.JoinHostPort(host, port)
	}
	if r.admin.Key, err = readKey(srv.KeyPath("admin")); err != nil {
		r.Close()
		return nil, err
	}
	if r.pivotal.Key, err = readKey(srv.KeyPath("pivotal")); err != nil {
		r.Close()
		return nil, err
	}
	r.admin.Name, r.pivotal.Name = "admin", "pivotal"
	return r, nil
}

func (r *Reference) URL() string                  { return r.srv.URL() }
func (r *Reference) Org() string                  { return r.cfg.Org }
func (r *Reference) User() Requestor              { return r.admin }
func (r *Reference) Superuser() (Requestor, bool) { return r.pivotal, true }

// Settings come from the server's own configuration.
func (r *Reference) Settings() Settings {
	return Settings{VotingTimeout: r.cfg.VotingTimeout, WaitCompleteTime: r.cfg.WaitCompleteTime, OrgFeedExpiration: r.cfg.OrgFeedExpiration, KeepAlive: r.cfg.KeepAlive}
}

// Server is the running reference server.
func (r *Reference) Server() *server.Server { return r.srv }

// Restart closes the server and starts it again on the same data, ports and keys.
func (r *Reference) Restart(ctx context.Context) error {
	if err := r.srv.Close(); err != nil {
		return fmt.Errorf("stopping the reference server: %w", err)
	}
	srv, err := server.Start(ctx, r.cfg)
	if err != nil {
		return fmt.Errorf("restarting the reference server: %w", err)
	}
	r.srv = srv
	return nil
}

// Close stops the server and removes a temporary data directory.
func (r *Reference) Close() error {
	var err error
	if r.srv != nil {
		err = r.srv.Close()
	}
	r.cleanup()
	return err
}

func (r *Reference) cleanup() {
	if r.owned && r.dir != "" {
		os.RemoveAll(r.dir)
	}
}

// Remote is a server reached by URL.
type Remote struct {
	url, org  string
	user      Requestor
	superuser *Requestor
	settings  Settings
}

var _ Target = (*Remote)(nil)

// NewRemote is the target of a URL run: c must have passed Validate.
func NewRemote(c Config) (*Remote, error) {
	key, err := readKey(c.KeyPath)
	if err != nil {
		return nil, err
	}
	r := &Remote{url: c.URL, org: c.Org, user: Requestor{c.User, key},
		settings: Settings{VotingTimeout: c.VotingTimeout, WaitCompleteTime: c.WaitCompleteTime, OrgFeedExpiration: c.OrgFeedExpiration, KeepAlive: c.KeepAlive}}
	if c.SuperuserKeyPath != "" {
		su, err := readKey(c.SuperuserKeyPath)
		if err != nil {
			return nil, err
		}
		r.superuser = &Requestor{c.SuperuserName, su}
	}
	return r, nil
}

func (r *Remote) URL() string        { return r.url }
func (r *Remote) Org() string        { return r.org }
func (r *Remote) User() Requestor    { return r.user }
func (r *Remote) Settings() Settings { return r.settings }
func (r *Remote) Close() error       { return nil }
func (r *Remote) Superuser() (Requestor, bool) {
	if r.superuser == nil {
		return Requestor{}, false
	}
	return *r.superuser, true
}

// Container is a pushlab-compatible server image started with testcontainers-go on the host
// network, with fast timings; it can be restarted.
type Container struct {
	c       *launch.Container
	dir     string
	org     string
	admin   Requestor
	pivotal Requestor
	set     Settings
}

var (
	_ Target    = (*Container)(nil)
	_ Restarter = (*Container)(nil)
)

// StartContainer runs image as `pushlab server` with the timings of FastConfig.
func StartContainer(ctx context.Context, image string) (*Container, error) {
	dir, err := os.MkdirTemp("", "pushlab-conformance-image-")
	if err != nil {
		return nil, err
	}
	fast := FastConfig(dir)
	c, err := launch.StartContainer(ctx, launch.Options{DataDir: dir, Org: fast.Org, Args: FastServerArgs()}, launch.ContainerOptions{Image: image})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	t := &Container{c: c, dir: dir, org: fast.Org,
		set: Settings{VotingTimeout: fast.VotingTimeout, WaitCompleteTime: fast.WaitCompleteTime, OrgFeedExpiration: fast.OrgFeedExpiration, KeepAlive: fast.KeepAlive}}
	if t.admin.Key, err = readKey(filepath.Join(dir, "keys", "admin.pem")); err != nil {
		t.Close()
		return nil, err
	}
	if t.pivotal.Key, err = readKey(filepath.Join(dir, "keys", "pivotal.pem")); err != nil {
		t.Close()
		return nil, err
	}
	t.admin.Name, t.pivotal.Name = "admin", "pivotal"
	return t, nil
}

func (t *Container) URL() string                       { return t.c.URL() }
func (t *Container) Org() string                       { return t.org }
func (t *Container) User() Requestor                   { return t.admin }
func (t *Container) Superuser() (Requestor, bool)      { return t.pivotal, true }
func (t *Container) Settings() Settings                { return t.set }
func (t *Container) Restart(ctx context.Context) error { return t.c.Restart(ctx) }

func (t *Container) Close() error {
	err := t.c.Stop(context.Background())
	os.RemoveAll(t.dir)
	return err
}

func readKey(path string) (*rsa.PrivateKey, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := chefauth.ParsePrivateKeyPEM(pem)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}
