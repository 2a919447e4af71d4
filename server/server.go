package server

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/server/api"
	"github.com/pushlab/pushlab/server/broker"
	"github.com/pushlab/pushlab/server/engine"
	"github.com/pushlab/pushlab/server/feeds"
	"github.com/pushlab/pushlab/server/identity"
	"github.com/pushlab/pushlab/server/mutant"
	"github.com/pushlab/pushlab/server/store"
)

// Server is a running reference server.
type Server struct {
	cfg           Config
	log           *slog.Logger
	store         *store.Store
	dir           *identity.Directory
	engine        *engine.Engine
	feeds         *feeds.Feeds
	broker        *broker.Broker
	http          *http.Server
	listener      net.Listener
	incarnation   string
	keysWritten   []string
	crashedJobs   int
	sessions      *sessionKeys
	closeOnce     sync.Once
	closeErr      error
	serveFinished chan struct{}
}

// settingServerKey is the store setting holding the server's RSA key (it survives restarts, as
// the real server's pushy_priv key does; the CURVE key pair is fresh per start).
const settingServerKey = "server_rsa_key"

// Start opens the store, bootstraps the organization, binds every socket and serves until Close.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	raiseProcs(log)
	mutants, _ := mutant.Parse(cfg.Mutants) // checked by Validate
	if len(mutants) > 0 {
		log.Warn("starting with deliberate faults (mutants)", "mutants", cfg.Mutants)
	}
	s := &Server{cfg: cfg, log: log, incarnation: uuid.NewString(), serveFinished: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()

	st, err := store.Open(filepath.Join(cfg.DataDir, "pushlab.db"))
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	s.store = st
	if s.crashedJobs, err = st.CrashUnfinished(ctx, time.Now().UTC()); err != nil {
		return nil, fmt.Errorf("marking unfinished jobs crashed: %w", err)
	}

	s.dir = identity.New(st, identity.Options{})
	boot, err := s.dir.Bootstrap(ctx, cfg.Org)
	if err != nil {
		return nil, fmt.Errorf("bootstrap org %q: %w", cfg.Org, err)
	}
	if err := s.writeKeys(boot); err != nil {
		return nil, err
	}
	serverKey, err := s.serverKey(ctx)
	if err != nil {
		return nil, err
	}

	// REST listener first: it decides the advertised host when none is given.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("REST listen: %w", err)
	}
	s.listener = ln
	if s.cfg.AdvertiseHost == "" {
		host, _, _ := net.SplitHostPort(ln.Addr().String())
		s.cfg.AdvertiseHost = host
	}
	if s.cfg.HeartbeatPort == 0 || s.cfg.CommandPort == 0 {
		if err := s.pickZMQPorts(); err != nil {
			return nil, err
		}
	}

	s.sessions = newSessionKeys(s.dir)
	s.feeds = feeds.New(feeds.Config{
		OrgFeedExpiration: cfg.OrgFeedExpiration,
		KeepAlive:         cfg.KeepAlive,
		WaitComplete:      cfg.WaitCompleteTime,
		Summary: func(ctx context.Context, id string) (*store.Job, error) {
			j, err := st.GetJob(ctx, id)
			if errors.Is(err, store.ErrNotFound) {
				return nil, nil
			}
			return j, err
		},
		Log:     log,
		Mutants: mutants,
	})
	relay := &brokerRelay{server: s.cfg.AdvertiseHost, log: log}
	s.engine = engine.New(engine.Config{
		HeartbeatInterval:          cfg.HeartbeatInterval,
		VotingTimeout:              cfg.VotingTimeout,
		RehabInterval:              cfg.RehabInterval,
		WaitCompleteTime:           cfg.WaitCompleteTime,
		DecayWindow:                cfg.DecayWindow,
		DownThreshold:              cfg.DownThreshold,
		DetectOfflineNodesInterval: cfg.DetectOfflineNodesInterval,
		Mutants:                    mutants,
	}, relay, &persister{st: st, log: log}, s.feeds)

	s.broker, err = broker.New(broker.Config{
		ListenHost:        cfg.ZMQListen,
		HeartbeatPort:     s.cfg.HeartbeatPort,
		CommandPort:       s.cfg.CommandPort,
		HeartbeatInterval: cfg.HeartbeatInterval,
		ServerName:        serverName(),
		IncarnationID:     s.incarnation,
		SigningKey:        serverKey,
		CurveDisabled:     cfg.CurveDisabled,
		MaxBodySize:       cfg.MaxMessageBody,
		MaxSkew:           cfg.MaxTimeSkew,
		ZAPWindow:         cfg.ZAPWindow,
		Log:               log,
	}, &brokerKeys{sessions: s.sessions, dir: s.dir, guids: map[string]string{}}, &engineHandler{eng: s.engine})
	if err != nil {
		return nil, fmt.Errorf("ZeroMQ: %w", err)
	}
	relay.set(s.broker)

	restAPI := api.New(api.Config{
		ServerName:             s.cfg.AdvertiseHost,
		HeartbeatPort:          s.cfg.HeartbeatPort,
		CommandPort:            s.cfg.CommandPort,
		HeartbeatInterval:      cfg.HeartbeatInterval,
		ConfigLifetime:         cfg.ConfigLifetime,
		MaxMessageSkew:         cfg.MaxTimeSkew,
		MaxMessageBody:         cfg.MaxMessageBody,
		DefaultRunTimeout:      cfg.DefaultRunTimeout,
		IncarnationID:          s.incarnation,
		PublicKeyPEM:           string(chefauth.EncodePublicKeyPEM(&serverKey.PublicKey)),
		CurveDisabled:          cfg.CurveDisabled,
		ValidateClientNodeName: cfg.ValidateClientNodeName,
		Log:                    log,
		Mutants:                mutants,
	}, directoryAdapter{s.dir}, st, engineAdapter{e: s.engine, commitDelay: commitDelay(mutants)}, s.feeds, s.broker, s.sessions)
	chefAPI := s.dir.Handler()
	mux := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if api.Handles(r.URL.Path) {
			restAPI.ServeHTTP(w, r)
			return
		}
		chefAPI.ServeHTTP(w, r)
	})
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() {
		defer close(s.serveFinished)
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("REST server stopped", "err", err)
		}
	}()
	ok = true
	log.Info("pushlab server started", "rest", s.URL(), "heartbeat_port", s.cfg.HeartbeatPort,
		"command_port", s.cfg.CommandPort, "org", cfg.Org, "incarnation", s.incarnation, "crashed_jobs", s.crashedJobs)
	return s, nil
}

// pickZMQPorts chooses free TCP ports on the ZeroMQ host for the ports left at 0.
func (s *Server) pickZMQPorts() error {
	host := s.cfg.ZMQListen
	if host == "*" {
		host = "0.0.0.0"
	}
	for _, p := range []*int{&s.cfg.HeartbeatPort, &s.cfg.CommandPort} {
		if *p != 0 {
			continue
		}
		for {
			l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
			if err != nil {
				return fmt.Errorf("picking a ZeroMQ port: %w", err)
			}
			port := l.Addr().(*net.TCPAddr).Port
			l.Close()
			if port != s.cfg.HeartbeatPort && port != s.cfg.CommandPort {
				*p = port
				break
			}
		}
	}
	return nil
}

// serverKey loads the server's RSA key from the store, creating it on first start.
func (s *Server) serverKey(ctx context.Context) (*rsa.PrivateKey, error) {
	pem, err := s.store.GetSetting(ctx, settingServerKey)
	if err == nil {
		return chefauth.ParsePrivateKeyPEM(pem)
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	key, err := chefauth.GenerateKey()
	if err != nil {
		return nil, err
	}
	if err := s.store.PutSetting(ctx, settingServerKey, chefauth.EncodePrivateKeyPEM(key)); err != nil {
		return nil, err
	}
	return key, nil
}

// writeKeys writes newly created private keys to DATA_DIR/keys.
func (s *Server) writeKeys(boot identity.BootstrapResult) error {
	dir := filepath.Join(s.cfg.DataDir, "keys")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for name, pem := range map[string][]byte{"pivotal": boot.SuperuserKey, "admin": boot.AdminKey, s.cfg.Org + "-validator": boot.ValidatorKey} {
		if len(pem) == 0 {
			continue
		}
		path := filepath.Join(dir, name+".pem")
		if err := os.WriteFile(path, pem, 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		s.keysWritten = append(s.keysWritten, path)
	}
	return nil
}

// URL is the REST base URL, e.g. http://127.0.0.1:10003.
func (s *Server) URL() string { return "http://" + s.listener.Addr().String() }

// Org is the organization the server bootstrapped.
func (s *Server) Org() string { return s.cfg.Org }

// KeyPath is where the private key of pivotal or admin lives.
func (s *Server) KeyPath(name string) string {
	return filepath.Join(s.cfg.DataDir, "keys", name+".pem")
}

// Config is the configuration in force, with chosen ports filled in.
func (s *Server) Config() Config { return s.cfg }

// IncarnationID is this run's incarnation.
func (s *Server) IncarnationID() string { return s.incarnation }

// CrashedJobs is how many unfinished jobs of an earlier run were marked crashed at start.
func (s *Server) CrashedJobs() int { return s.crashedJobs }

// Banner is the start-up text: where things are and a ready-to-use knife.rb snippet.
func (s *Server) Banner() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pushlab reference server %s\n", s.URL())
	fmt.Fprintf(&b, "  organization   %s\n", s.cfg.Org)
	fmt.Fprintf(&b, "  ZeroMQ         heartbeats tcp://%s:%d, commands tcp://%s:%d\n", s.cfg.AdvertiseHost, s.cfg.HeartbeatPort, s.cfg.AdvertiseHost, s.cfg.CommandPort)
	fmt.Fprintf(&b, "  data           %s\n", s.cfg.DataDir)
	if s.crashedJobs > 0 {
		fmt.Fprintf(&b, "  crashed jobs   %d unfinished job(s) of the previous run marked crashed\n", s.crashedJobs)
	}
	for _, k := range s.keysWritten {
		fmt.Fprintf(&b, "  new key        %s\n", k)
	}
	fmt.Fprintf(&b, "  superuser key  %s\n  admin key      %s\n\n", s.KeyPath("pivotal"), s.KeyPath("admin"))
	adminKey, _ := filepath.Abs(s.KeyPath("admin"))
	fmt.Fprintf(&b, "knife.rb:\n  node_name       \"admin\"\n  client_key      %q\n  chef_server_url \"%s/organizations/%s\"\n\n", adminKey, s.URL(), s.cfg.Org)
	fmt.Fprintf(&b, "try:\n  pushlab api --server %s --key %s GET pushy/node_states\n", s.URL(), adminKey)
	return b.String()
}

// Close stops serving and closes every socket and the store. It is safe to call twice.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.feeds != nil {
			s.feeds.Close()
		}
		if s.http != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if err := s.http.Shutdown(ctx); err != nil {
				s.http.Close()
			}
			cancel()
			<-s.serveFinished
		} else if s.listener != nil {
			s.listener.Close()
		}
		if s.broker != nil {
			errs = append(errs, s.broker.Close())
		}
		if s.engine != nil {
			s.engine.Close()
		}
		if s.dir != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			errs = append(errs, s.dir.Flush(ctx))
			cancel()
		}
		if s.store != nil {
			errs = append(errs, s.store.Close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// sessionKeys holds one random 32-byte HMAC key per (org GUID, node) for the server's life.
type sessionKeys struct {
	dir  *identity.Directory
	mu   sync.Mutex
	keys map[[2]string][]byte
}

func newSessionKeys(dir *identity.Directory) *sessionKeys {
	return &sessionKeys{dir: dir, keys: map[[2]string][]byte{}}
}

// SessionKey returns the key of (org GUID, node), creating it on first use (api.SessionKeys).
func (k *sessionKeys) SessionKey(orgGUID, node string) []byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	id := [2]string{orgGUID, node}
	key, ok := k.keys[id]
	if !ok {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
		k.keys[id] = key
	}
	return key
}

// existing returns the key of (org GUID, node) only if config was fetched for it: a node that
// never fetched config has no key, so its messages fail validation (protocol.md §4.5).
func (k *sessionKeys) existing(orgGUID, node string) ([]byte, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key, ok := k.keys[[2]string{orgGUID, node}]
	return key, ok
}
