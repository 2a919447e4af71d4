package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/pushlab/pushlab/server/mutant"
)

// Config is everything the reference server can be told. The zero value is not usable: start
// from DefaultConfig. Every timing of protocol.md §12 is here so tests can run them fast.
type Config struct {
	DataDir       string // store, keys; created when missing
	Listen        string // REST address, host:port (port 0 picks a free one)
	ZMQListen     string // host the ZeroMQ sockets bind to ("127.0.0.1" or "*")
	HeartbeatPort int    // PUB; 0 picks a free port
	CommandPort   int    // ROUTER; 0 picks a free port
	AdvertiseHost string // host written into node config addresses; default: the REST listen host
	Org           string // created on first start

	HeartbeatInterval          time.Duration // PUB heartbeat period and liveness bucket (omnibus 10 s)
	VotingTimeout              time.Duration // 60 s
	DefaultRunTimeout          time.Duration // 3600 s
	WaitCompleteTime           time.Duration // 5 s: a finished job keeps serving its full feed
	KeepAlive                  time.Duration // 15 s: SSE keepalive comment
	OrgFeedExpiration          time.Duration // 60 s
	RehabInterval              time.Duration // 1 s: abort re-sent while a node is in rehab
	ConfigLifetime             time.Duration // 3600 s
	MaxTimeSkew                time.Duration // 300 s: ZeroMQ message timestamp window
	ZAPWindow                  time.Duration // 60 s: a config request admits its CURVE key this long
	DecayWindow                int           // 4
	DownThreshold              float64       // 0.6
	DetectOfflineNodesInterval int           // 4 heartbeat intervals
	MaxMessageBody             int           // 65536

	CurveDisabled          bool // no CURVE on the command channel, no ccpk required
	ValidateClientNodeName bool // a client may fetch only its own config (true)

	Log *slog.Logger
	// Mutants are deliberate faults (package mutant) that prove the conformance suite catches
	// them. Never set them in normal use.
	Mutants []string
}

// DefaultConfig returns the production defaults of opscode-pushy-server 3.0 (omnibus attributes).
func DefaultConfig() Config {
	return Config{
		DataDir:                    "./pushlab-data",
		Listen:                     "127.0.0.1:10003",
		ZMQListen:                  "127.0.0.1",
		HeartbeatPort:              10000,
		CommandPort:                10002,
		Org:                        "pushlab",
		HeartbeatInterval:          10 * time.Second,
		VotingTimeout:              60 * time.Second,
		DefaultRunTimeout:          3600 * time.Second,
		WaitCompleteTime:           5 * time.Second,
		KeepAlive:                  15 * time.Second,
		OrgFeedExpiration:          60 * time.Second,
		RehabInterval:              time.Second,
		ConfigLifetime:             3600 * time.Second,
		MaxTimeSkew:                300 * time.Second,
		ZAPWindow:                  60 * time.Second,
		DecayWindow:                4,
		DownThreshold:              0.6,
		DetectOfflineNodesInterval: 4,
		MaxMessageBody:             65536,
		ValidateClientNodeName:     true,
	}
}

// Validate reports every problem with the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if _, err := mutant.Parse(c.Mutants); err != nil {
		errs = append(errs, err)
	}
	positive := func(name string, d time.Duration) {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %s", name, d))
		}
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data dir must be set"))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen address %q: %w", c.Listen, err))
	}
	if c.ZMQListen == "" {
		errs = append(errs, errors.New("zmq listen host must be set"))
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"heartbeat port", c.HeartbeatPort}, {"command port", c.CommandPort}} {
		if p.v < 0 || p.v > 65535 {
			errs = append(errs, fmt.Errorf("%s %d out of range", p.name, p.v))
		}
	}
	if c.HeartbeatPort != 0 && c.HeartbeatPort == c.CommandPort {
		errs = append(errs, errors.New("heartbeat and command ports must differ"))
	}
	if c.Org == "" {
		errs = append(errs, errors.New("org must be set"))
	}
	positive("heartbeat interval", c.HeartbeatInterval)
	positive("voting timeout", c.VotingTimeout)
	positive("default run timeout", c.DefaultRunTimeout)
	positive("wait complete time", c.WaitCompleteTime)
	positive("keepalive", c.KeepAlive)
	positive("org feed expiration", c.OrgFeedExpiration)
	positive("rehab interval", c.RehabInterval)
	positive("config lifetime", c.ConfigLifetime)
	positive("max time skew", c.MaxTimeSkew)
	positive("zap window", c.ZAPWindow)
	if c.DecayWindow < 1 {
		errs = append(errs, fmt.Errorf("decay window must be at least 1, got %d", c.DecayWindow))
	}
	if c.DownThreshold <= 0 {
		errs = append(errs, fmt.Errorf("down threshold must be positive, got %g", c.DownThreshold))
	}
	if c.DetectOfflineNodesInterval < 1 {
		errs = append(errs, fmt.Errorf("detect offline nodes interval must be at least 1, got %d", c.DetectOfflineNodesInterval))
	}
	if c.MaxMessageBody < 1024 {
		errs = append(errs, fmt.Errorf("max message body must be at least 1024 bytes, got %d", c.MaxMessageBody))
	}
	return errors.Join(errs...)
}

// serverName is the OS hostname, the "server" field of PUB heartbeats.
func serverName() string {
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return h
}
