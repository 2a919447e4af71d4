package simulator

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/scenarios"
	"github.com/pushlab/pushlab/server"
	"github.com/pushlab/pushlab/server/launch"
)

// target is the server under test, as the run reaches it.
type target struct {
	url, org string
	// user starts jobs and reads them; super registers the nodes' clients (nil when the nodes
	// use pre-registered keys from clientKeysDir).
	user, super   *chefauth.Signer
	clientKeysDir string
	// cfg holds the server's timings: those in force for an embedded server, the defaults of
	// opscode-pushy-server 3.0 for a server given by URL (known is then false).
	cfg   server.Config
	known bool
	kind  string // "embedded (process)", "embedded (in-process)", "image NAME" or the URL

	mu sync.Mutex
	// srv is the server pushlab started as a child process or a container; inproc the one in
	// this process (then inCfg restarts it).
	srv       launch.Server
	inproc    *server.Server
	inCfg     server.Config
	serverLog io.Writer
	stopped   bool
}

// serverConfig is the reference server's configuration for an embedded target.
func serverConfig(e *scenarios.EmbeddedTarget) server.Config {
	cfg := server.DefaultConfig()
	if e == nil {
		return cfg
	}
	setD := func(dst *time.Duration, v scenarios.Duration) {
		if v > 0 {
			*dst = v.D()
		}
	}
	setD(&cfg.HeartbeatInterval, e.HeartbeatInterval)
	setD(&cfg.VotingTimeout, e.VotingTimeout)
	setD(&cfg.DefaultRunTimeout, e.DefaultRunTimeout)
	setD(&cfg.WaitCompleteTime, e.WaitCompleteTime)
	setD(&cfg.KeepAlive, e.KeepAlive)
	setD(&cfg.OrgFeedExpiration, e.OrgFeedExpiration)
	setD(&cfg.RehabInterval, e.RehabInterval)
	setD(&cfg.ConfigLifetime, e.ConfigLifetime)
	setD(&cfg.MaxTimeSkew, e.MaxTimeSkew)
	setD(&cfg.ZAPWindow, e.ZAPWindow)
	if e.DecayWindow > 0 {
		cfg.DecayWindow = e.DecayWindow
	}
	if e.DownThreshold > 0 {
		cfg.DownThreshold = e.DownThreshold
	}
	if e.DetectOfflineNodesInterval > 0 {
		cfg.DetectOfflineNodesInterval = e.DetectOfflineNodesInterval
	}
	if e.MaxMessageBody > 0 {
		cfg.MaxMessageBody = e.MaxMessageBody
	}
	cfg.CurveDisabled = e.CurveDisabled
	if e.ValidateClientNodeName != nil {
		cfg.ValidateClientNodeName = *e.ValidateClientNodeName
	}
	if e.Org != "" {
		cfg.Org = e.Org
	}
	return cfg
}

// serverArgs are the `pushlab server` timing flags of cfg.
func serverArgs(cfg server.Config) []string {
	d := func(v time.Duration) string { return v.String() }
	return []string{
		"--heartbeat-interval=" + d(cfg.HeartbeatInterval),
		"--voting-timeout=" + d(cfg.VotingTimeout),
		"--default-run-timeout=" + d(cfg.DefaultRunTimeout),
		"--wait-complete-time=" + d(cfg.WaitCompleteTime),
		"--keepalive=" + d(cfg.KeepAlive),
		"--org-feed-expiration=" + d(cfg.OrgFeedExpiration),
		"--rehab-interval=" + d(cfg.RehabInterval),
		"--config-lifetime=" + d(cfg.ConfigLifetime),
		"--time-skew=" + d(cfg.MaxTimeSkew),
		"--zap-window=" + d(cfg.ZAPWindow),
		"--decay-window=" + strconv.Itoa(cfg.DecayWindow),
		"--down-threshold=" + strconv.FormatFloat(cfg.DownThreshold, 'g', -1, 64),
		"--detect-offline-interval=" + strconv.Itoa(cfg.DetectOfflineNodesInterval),
		"--max-message-body=" + strconv.Itoa(cfg.MaxMessageBody),
		"--disable-curve=" + strconv.FormatBool(cfg.CurveDisabled),
		"--validate-client-node-name=" + strconv.FormatBool(cfg.ValidateClientNodeName),
		"--log-level=warn",
	}
}

// startTarget starts the embedded server (from the scenario's image, else a child process
// when binary is set, else in this process) or connects to the server a URL names. extra are
// further `pushlab server` flags for a server started as a process or from an image.
func startTarget(ctx context.Context, s *scenarios.Scenario, dir, binary string, extra []string, log *slog.Logger, serverLog io.Writer) (*target, error) {
	t := s.Target
	if !t.IsEmbedded() {
		return urlTarget(t)
	}
	cfg := serverConfig(t.Embedded)
	cfg.DataDir = filepath.Join(dir, "server-data")
	tg := &target{cfg: cfg, known: true, org: cfg.Org, serverLog: serverLog}
	args := append(serverArgs(cfg), extra...)
	switch {
	case t.Image != "":
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, err
		}
		c, err := launch.StartContainer(ctx, launch.Options{DataDir: cfg.DataDir, Org: cfg.Org, Args: args}, launch.ContainerOptions{Image: t.Image})
		if err != nil {
			return nil, fmt.Errorf("starting the server from image %s: %w", t.Image, err)
		}
		tg.srv, tg.url, tg.kind = c, c.URL(), "image "+t.Image
	case binary != "":
		p, err := launch.StartProcess(ctx, binary, launch.Options{DataDir: cfg.DataDir, Org: cfg.Org, Args: args}, serverLog)
		if err != nil {
			return nil, fmt.Errorf("starting the embedded server: %w", err)
		}
		tg.srv, tg.url, tg.kind = p, p.URL(), "embedded (process)"
	default:
		cfg.Listen = "127.0.0.1:0"
		cfg.ZMQListen = "127.0.0.1"
		cfg.HeartbeatPort, cfg.CommandPort = 0, 0
		cfg.Log = slog.New(slog.NewTextHandler(serverLog, &slog.HandlerOptions{Level: slog.LevelWarn}))
		srv, err := server.Start(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("starting the embedded server: %w", err)
		}
		tg.inproc, tg.url, tg.kind = srv, srv.URL(), "embedded (in-process)"
		tg.inCfg = srv.Config()
		tg.inCfg.Listen = srv.URL()[len("http://"):]
	}
	user, err := readKey(filepath.Join(cfg.DataDir, "keys", "admin.pem"))
	if err != nil {
		tg.stop()
		return nil, err
	}
	super, err := readKey(filepath.Join(cfg.DataDir, "keys", "pivotal.pem"))
	if err != nil {
		tg.stop()
		return nil, err
	}
	tg.user = &chefauth.Signer{UserID: "admin", Key: user}
	tg.super = &chefauth.Signer{UserID: "pivotal", Key: super}
	return tg, nil
}

func urlTarget(t scenarios.Target) (*target, error) {
	tg := &target{url: t.URL, org: t.Org, cfg: server.DefaultConfig(), kind: t.URL, clientKeysDir: t.ClientKeysDir}
	key, err := readKey(t.Key)
	if err != nil {
		return nil, err
	}
	tg.user = &chefauth.Signer{UserID: t.User, Key: key}
	if t.SuperuserKey != "" {
		sk, err := readKey(t.SuperuserKey)
		if err != nil {
			return nil, err
		}
		name := t.Superuser
		if name == "" {
			name = "pivotal"
		}
		tg.super = &chefauth.Signer{UserID: name, Key: sk}
	}
	return tg, nil
}

func readKey(path string) (*rsa.PrivateKey, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading a key: %w", err)
	}
	k, err := chefauth.ParsePrivateKeyPEM(pem)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// owned reports whether pushlab started the server for this run (its data is the run's).
func (t *target) owned() bool { return t.srv != nil || t.inproc != nil }

// restart stops the server at once, waits downtime and starts it again on the same data and
// ports.
func (t *target) restart(ctx context.Context, downtime time.Duration) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.srv != nil:
		if err := t.srv.Kill(ctx); err != nil {
			return fmt.Errorf("killing the server: %w", err)
		}
		if err := sleepCtx(ctx, downtime); err != nil {
			return err
		}
		if err := t.srv.Restart(ctx); err != nil {
			return fmt.Errorf("restarting the server: %w", err)
		}
	case t.inproc != nil:
		if err := t.inproc.Close(); err != nil {
			return fmt.Errorf("stopping the server: %w", err)
		}
		t.inproc = nil
		if err := sleepCtx(ctx, downtime); err != nil {
			return err
		}
		var srv *server.Server
		var err error
		for try := 0; try < 50; try++ { // the ports may take a moment to be free again
			if srv, err = server.Start(ctx, t.inCfg); err == nil {
				break
			}
			if sleepCtx(ctx, 100*time.Millisecond) != nil {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("restarting the server: %w", err)
		}
		t.inproc = srv
	default:
		return errors.New("the server was not started by pushlab")
	}
	return nil
}

// pause freezes the server process or container for d.
func (t *target) pause(ctx context.Context, d time.Duration) error {
	t.mu.Lock()
	p := t.srv
	t.mu.Unlock()
	if p == nil {
		return errors.New("only a server run as a child process or a container can be paused")
	}
	if err := p.Pause(ctx); err != nil {
		return err
	}
	err := sleepCtx(ctx, d)
	if rerr := p.Resume(context.Background()); rerr != nil {
		return rerr
	}
	return err
}

func (t *target) stop() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return nil
	}
	t.stopped = true
	switch {
	case t.srv != nil:
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if c, ok := t.srv.(*launch.Container); ok && t.serverLog != nil {
			// a container's output stays with the engine until it is removed
			_, _ = io.WriteString(t.serverLog, c.Logs(ctx))
		}
		return t.srv.Stop(ctx)
	case t.inproc != nil:
		return t.inproc.Close()
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
