package simulator

import (
	"context"
	"crypto/rsa"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/pushlab/pushlab/fakenodes"
	"github.com/pushlab/pushlab/fakenodes/behaviour"
	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/scenarios"
)

// nodeFleet is the simulated fleet as the run drives it: in this process, or spread over
// worker processes.
type nodeFleet interface {
	Start(ctx context.Context) error
	Stats() fakenodes.Stats
	// State is a node's state as the node itself sees it.
	State(name string) fakenodes.State
	Crash(names []string)
	Restart(names []string, down time.Duration)
	Unavailable(names []string, d time.Duration, disconnect bool)
	SetSkew(names []string, skew time.Duration)
	// Sync returns once every event the nodes emitted before the call has been delivered.
	Sync(ctx context.Context) error
	Stop() error
}

// fleetSpec is what every part of a fleet needs to build its nodes.
type fleetSpec struct {
	url, org string
	seed     int64
	names    []string
	nodes    []fleetNode // by position in names
	rampRate float64
	key      *rsa.PrivateKey
	keyFor   func(string) *rsa.PrivateKey
	onEvent  func(fakenodes.Event)
	log      *slog.Logger

	// configWorkers bounds concurrent config requests (0: one per CPU). Worker processes share
	// the CPUs: a machine with more RSA work in flight than cores starves the server's I/O
	// threads, and new connections go unanswered past the client's 4 s.
	configWorkers int
}

// fleetNode is one node's behaviours.
type fleetNode struct {
	behaviours []behaviour.Behaviour
	skew       time.Duration // from a clock_skew behaviour
}

// buildBehaviours makes the behaviours of every planned node: one value per entry of a group,
// shared by the nodes that drew it; offline nodes also die as soon as they start.
func buildBehaviours(s *scenarios.Scenario, sc *Schedule) ([]fleetNode, error) {
	built := map[string][]behaviour.Behaviour{}
	for _, g := range s.Fleet.Groups {
		list := make([]behaviour.Behaviour, len(g.Behaviours))
		for i, ref := range g.Behaviours {
			b, err := scenarios.BuildBehaviour(ref.Name, ref.Params)
			if err != nil {
				return nil, fmt.Errorf("group %s, behaviour %s: %w", g.Name, ref.Name, err)
			}
			list[i] = b
		}
		built[g.Name] = list
	}
	offline := &behaviour.Crash{}
	out := make([]fleetNode, len(sc.Nodes))
	for i, pn := range sc.Nodes {
		var fn fleetNode
		if pn.Offline {
			fn.behaviours = append(fn.behaviours, offline)
		}
		for _, e := range pn.Entries {
			b := built[pn.Group][e]
			fn.behaviours = append(fn.behaviours, b)
			if cs, ok := b.(*behaviour.ClockSkew); ok {
				fn.skew = cs.Offset
			}
		}
		out[i] = fn
	}
	return out, nil
}

// localFleet runs every node in this process.
type localFleet struct {
	f     *fakenodes.Fleet
	skews map[string]time.Duration
}

// newLocalFleet runs the nodes of spec, the first of which has index firstIndex in the whole
// fleet (seeded randomness derives from it).
func newLocalFleet(spec fleetSpec, firstIndex int) (*localFleet, error) {
	cfg := fakenodes.FleetConfig{
		Server: spec.url, Org: spec.org, Nodes: len(spec.names), FirstIndex: firstIndex,
		Names: spec.names, Key: spec.key, KeyFor: spec.keyFor,
		Seed: spec.seed, RampRate: spec.rampRate, OnEvent: spec.onEvent, Log: spec.log,
		ConfigRetries: 15, ConfigRetryDelay: 2 * time.Second, ConfigWorkers: spec.configWorkers,
	}
	f, err := fakenodes.NewFleet(cfg)
	if err != nil {
		return nil, err
	}
	lf := &localFleet{f: f, skews: map[string]time.Duration{}}
	for i, n := range f.Nodes() {
		fn := spec.nodes[i]
		if len(fn.behaviours) > 0 {
			n.SetBehaviours(fn.behaviours...)
		}
		lf.skews[n.Name()] = fn.skew
	}
	return lf, nil
}

func (l *localFleet) Start(ctx context.Context) error { return l.f.Start(ctx) }
func (l *localFleet) Stats() fakenodes.Stats          { return l.f.Stats() }
func (l *localFleet) Stop() error                     { return l.f.Stop() }

// Sync has nothing to wait for: a local fleet delivers its events as they happen.
func (l *localFleet) Sync(context.Context) error { return nil }

func (l *localFleet) State(name string) fakenodes.State {
	if n := l.f.Node(name); n != nil {
		return n.Status().State
	}
	return ""
}

func (l *localFleet) each(names []string, fn func(*fakenodes.Node)) {
	for _, name := range names {
		if n := l.f.Node(name); n != nil {
			fn(n)
		}
	}
}

func (l *localFleet) Crash(names []string) { l.each(names, func(n *fakenodes.Node) { n.Crash() }) }

func (l *localFleet) Restart(names []string, down time.Duration) {
	l.each(names, func(n *fakenodes.Node) { n.Restart(down) })
}

func (l *localFleet) Unavailable(names []string, d time.Duration, disconnect bool) {
	l.each(names, func(n *fakenodes.Node) { n.Unavailable(d, disconnect) })
}

// SetSkew sets the nodes' clock skew; a zero skew restores what their behaviours set.
func (l *localFleet) SetSkew(names []string, skew time.Duration) {
	l.each(names, func(n *fakenodes.Node) {
		d := skew
		if d == 0 {
			d = l.skews[n.Name()]
		}
		n.Do(func(b behaviour.Node) { b.SetClockSkew(d) })
	})
}

// nodeKey returns the key every node shares: a fresh one for an embedded server, else the one
// kept in path (created when missing), since clients registered earlier keep their key.
func nodeKey(embedded bool, path string) (*rsa.PrivateKey, error) {
	if embedded {
		return chefauth.GenerateKey()
	}
	if pem, err := os.ReadFile(path); err == nil {
		return chefauth.ParsePrivateKeyPEM(pem)
	}
	k, err := chefauth.GenerateKey()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, chefauth.EncodePrivateKeyPEM(k), 0o600); err != nil {
		return nil, fmt.Errorf("writing the node key: %w", err)
	}
	return k, nil
}

// clientKeys reads NODE.pem for every node from dir.
func clientKeys(dir string, names []string) (func(string) *rsa.PrivateKey, error) {
	keys := make(map[string]*rsa.PrivateKey, len(names))
	for _, n := range names {
		k, err := readKey(filepath.Join(dir, n+".pem"))
		if err != nil {
			return nil, err
		}
		keys[n] = k
	}
	return func(name string) *rsa.PrivateKey { return keys[name] }, nil
}
