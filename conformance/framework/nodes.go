package framework

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
	zmq "github.com/pebbe/zmq4"

	"github.com/pushlab/pushlab/fakenodes"
	"github.com/pushlab/pushlab/fakenodes/behaviour"
	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/internal/scripted"
	"github.com/pushlab/pushlab/internal/wire"
)

// NodeKey is a node client: its name and private key.
type NodeKey struct {
	Name string
	Key  *rsa.PrivateKey
}

// nodePool hands out node clients no spec has used: freshly registered through the Chef API
// (one key shared by every node of the run), or taken from a directory of pre-registered keys.
type nodePool struct {
	s       *Suite
	shared  *rsa.PrivateKey
	mu      sync.Mutex
	free    []NodeKey // from the keys directory
	fromDir bool
}

func newNodePool(s *Suite) (*nodePool, error) {
	p := &nodePool{s: s}
	if s.Config.ClientKeysDir == "" {
		k, err := chefauth.GenerateKey()
		if err != nil {
			return nil, err
		}
		p.shared = k
		return p, nil
	}
	files, err := filepath.Glob(filepath.Join(s.Config.ClientKeysDir, "*.pem"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	for _, f := range files {
		k, err := readKey(f)
		if err != nil {
			return nil, err
		}
		p.free = append(p.free, NodeKey{Name: strings.TrimSuffix(filepath.Base(f), ".pem"), Key: k})
	}
	if len(p.free) == 0 {
		return nil, fmt.Errorf("-%sclient-keys-dir %s holds no NAME.pem keys", FlagPrefix, s.Config.ClientKeysDir)
	}
	p.fromDir = true
	return p, nil
}

// take returns n unused node clients named PREFIX-RUNID-N (registered now), or from the keys
// directory; it skips the spec when the directory has too few left.
func (p *nodePool) take(prefix string, n int) []NodeKey {
	ginkgo.GinkgoHelper()
	if p.fromDir {
		p.mu.Lock()
		defer p.mu.Unlock()
		if len(p.free) < n {
			ginkgo.Skip(fmt.Sprintf("needs %d unused node clients; -%sclient-keys-dir has %d left", n, FlagPrefix, len(p.free)))
		}
		out := p.free[:n:n]
		p.free = p.free[n:]
		return out
	}
	names := make([]string, n)
	out := make([]NodeKey, n)
	for i := range names {
		names[i] = p.s.Name(prefix)
		out[i] = NodeKey{Name: names[i], Key: p.shared}
	}
	signer := p.s.Target.User()
	if su, ok := p.s.Target.Superuser(); ok {
		signer = su
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.s.Timings.Fleet)
	defer cancel()
	_, err := fakenodes.Register(ctx, fakenodes.Registration{Server: p.s.Target.URL(), Org: p.s.Target.Org(),
		Signer: &chefauth.Signer{UserID: signer.Name, Key: signer.Key}, PublicKey: &p.shared.PublicKey}, names)
	gomega.Expect(err).NotTo(gomega.HaveOccurred(), "registering %d node clients", n)
	return out
}

// NodeClients returns n node clients no spec has used.
func (s *Suite) NodeClients(prefix string, n int) []NodeKey {
	ginkgo.GinkgoHelper()
	return s.nodes.take(prefix, n)
}

// NodeName returns the name of one fresh node client that never connected.
func (s *Suite) NodeName(prefix string) string {
	ginkgo.GinkgoHelper()
	return s.NodeClients(prefix, 1)[0].Name
}

// Peer is a node whose every message the spec chooses (internal/scripted), connected over the
// real ZeroMQ command channel.
type Peer struct {
	*scripted.Peer
	Client NodeKey
	s      *Suite
	tb     *asyncTB
}

// Peer connects a fresh node, heartbeating at the config's interval, answers the abort of its
// new node FSM and waits until the server lists it available.
func (s *Suite) Peer(prefix string) *Peer {
	ginkgo.GinkgoHelper()
	nk := s.NodeClients(prefix, 1)[0]
	p := s.Dial(nk)
	p.Heartbeat(s.Timings.Heartbeat)
	p.Rehab()
	s.WaitAvailability(p.Node, "available")
	return p
}

// Peers connects n fresh nodes (see Peer).
func (s *Suite) Peers(prefix string, n int) []*Peer {
	ginkgo.GinkgoHelper()
	out := make([]*Peer, n)
	for i, nk := range s.NodeClients(prefix, n) {
		out[i] = s.Dial(nk)
		out[i].Heartbeat(s.Timings.Heartbeat)
	}
	for _, p := range out {
		p.Rehab()
	}
	for _, p := range out {
		s.WaitAvailability(p.Node, "available")
	}
	return out
}

// Dial fetches the node's config and connects its command channel; nothing is sent yet.
func (s *Suite) Dial(nk NodeKey) *Peer {
	ginkgo.GinkgoHelper()
	tb := newAsyncTB()
	sp := scripted.DialPeer(tb, s.Target.URL(), s.Target.Org(), nk.Name, nk.Key)
	return &Peer{Peer: sp, Client: nk, s: s, tb: tb}
}

// Expect waits for the next server message that is not abort or ack and checks its type.
func (p *Peer) Expect(typ string) wire.ServerMessage {
	ginkgo.GinkgoHelper()
	m, ok := p.Next(p.s.Timings.Message, wire.TypeAbort, wire.TypeAck)
	gomega.Expect(ok).To(gomega.BeTrue(), "%s: no %s from the server within %s", p.Node, typ, p.s.Timings.Message)
	gomega.Expect(m.MessageType()).To(gomega.Equal(typ), "%s: the server's next message", p.Node)
	return m
}

// ExpectExactly waits for the next server message, whatever its type, and checks its type.
func (p *Peer) ExpectExactly(typ string, skip ...string) wire.ServerMessage {
	ginkgo.GinkgoHelper()
	m, ok := p.Next(p.s.Timings.Message, skip...)
	gomega.Expect(ok).To(gomega.BeTrue(), "%s: no %s from the server within %s", p.Node, typ, p.s.Timings.Message)
	gomega.Expect(m.MessageType()).To(gomega.Equal(typ), "%s: the server's next message", p.Node)
	return m
}

// ExpectNothing checks that no server message other than those in skip arrives for d.
func (p *Peer) ExpectNothing(d time.Duration, skip ...string) {
	ginkgo.GinkgoHelper()
	m, ok := p.Next(d, skip...)
	gomega.Expect(ok).To(gomega.BeFalse(), "%s: unexpected %v from the server", p.Node, m)
}

// Rehab waits for an abort and answers it with aborted, as an idle client does.
func (p *Peer) Rehab() {
	ginkgo.GinkgoHelper()
	p.ExpectExactly(wire.TypeAbort, wire.TypeAck)
	p.Send(wire.TypeAborted, "")
}

// Down makes the server see the node restarted: a heartbeat with a new incarnation id stops
// its node FSM at once (protocol.md §4.5).
func (p *Peer) Down() {
	p.IncarnationID = "restarted-" + p.IncarnationID
	p.Send(wire.TypeHeartbeat, "")
}

// WaitAvailability polls GET node_states/NODE until its availability is want.
func (s *Suite) WaitAvailability(node, want string) {
	ginkgo.GinkgoHelper()
	gomega.Eventually(func(g gomega.Gomega) {
		r := s.Do(s.Target.User(), "GET", s.Pushy("node_states/"+node), "")
		g.Expect(r.Status).To(gomega.Equal(200), "node state of %s: %s", node, r)
		var st struct{ Availability string }
		DecodeJSON(r, &st)
		g.Expect(st.Availability).To(gomega.Equal(want), "availability of %s", node)
	}).WithTimeout(s.Timings.NodeUp).Should(gomega.Succeed())
}

// asyncTB is the testing.TB a scripted peer reports to. Errors may come from the peer's own
// goroutine, where failing the spec at once would crash the process: they are collected and
// fail the spec when it ends. Fatal happens on the spec's goroutine and fails it at once.
type asyncTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func newAsyncTB() *asyncTB {
	t := &asyncTB{}
	ginkgo.DeferCleanup(func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if len(t.errs) > 0 {
			ginkgo.Fail("node peer: " + strings.Join(t.errs, "; "))
		}
	})
	return t
}

func (t *asyncTB) Helper()      {}
func (t *asyncTB) Name() string { return ginkgo.CurrentSpecReport().FullText() }
func (t *asyncTB) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.errs) > 0
}
func (t *asyncTB) Errorf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.errs = append(t.errs, fmt.Sprintf(format, args...))
}
func (t *asyncTB) Error(args ...any)                 { t.Errorf("%s", fmt.Sprint(args...)) }
func (t *asyncTB) Fatalf(format string, args ...any) { ginkgo.Fail(fmt.Sprintf(format, args...), 1) }
func (t *asyncTB) Fatal(args ...any)                 { ginkgo.Fail(fmt.Sprint(args...), 1) }
func (t *asyncTB) Cleanup(f func())                  { ginkgo.DeferCleanup(f) }
func (t *asyncTB) Logf(format string, args ...any)   { ginkgo.GinkgoWriter.Printf(format+"\n", args...) }
func (t *asyncTB) TempDir() string                   { return ginkgo.GinkgoT().TempDir() }

// FleetRamp is how many simulated nodes start per second: a burst of hundreds of config
// requests and CURVE handshakes at once would starve the heartbeats of a small machine.
const FleetRamp = 200

// Fleet starts simulated nodes (fakenodes) for these clients with plan (nil: every node acks
// and succeeds at once), waits until the server lists every one available, and stops them when
// the spec or container ends.
func (s *Suite) Fleet(clients []NodeKey, plan *behaviour.Plan, seed int64) *fakenodes.Fleet {
	ginkgo.GinkgoHelper()
	n := len(clients)
	names := make([]string, n)
	keys := make(map[string]*rsa.PrivateKey, n)
	for i, c := range clients {
		names[i], keys[c.Name] = c.Name, c.Key
	}
	f, err := fakenodes.NewFleet(fakenodes.FleetConfig{
		Server: s.Target.URL(), Org: s.Target.Org(), Nodes: n, Names: names,
		KeyFor: func(name string) *rsa.PrivateKey { return keys[name] },
		Seed:   seed, Plan: plan, RampRate: FleetRamp, ConfigRetryDelay: 200 * time.Millisecond,
	})
	gomega.Expect(err).NotTo(gomega.HaveOccurred(), "building a fleet of %d nodes", n)
	gomega.Expect(f.Start(context.Background())).To(gomega.Succeed())
	s.fleets.add(f)
	ginkgo.DeferCleanup(func() {
		s.fleets.remove(f)
		gomega.Expect(f.Stop()).To(gomega.Succeed())
	})
	ginkgo.DeferCleanup(func() {
		st := f.Stats()
		if ginkgo.CurrentSpecReport().Failed() && (st.ServerOffline > 0 || st.MaxLag > s.Timings.Heartbeat) {
			ginkgo.AddReportEntry("harness", fmt.Sprintf("the simulated nodes lagged (worst heartbeat lag %s, server seen offline %d times): the failure may come from an overloaded harness", st.MaxLag, st.ServerOffline))
		}
		ginkgo.GinkgoWriter.Printf("fleet of %d: states %v, late heartbeat ticks %d of %d (worst lag %s), server offline %d times, silent channels %d, connects %d, send lost %d\n",
			n, st.ByState, st.LateTicks, st.HeartbeatTicks, st.MaxLag, st.ServerOffline, st.SilentChannels, st.Connects, st.SendLost)
	})
	ctx, cancel := context.WithTimeout(context.Background(), s.Timings.Fleet)
	defer cancel()
	gomega.Expect(f.WaitOnline(ctx, n)).To(gomega.Succeed(), "fleet online (states %v)", f.Stats().ByState)
	s.WaitAllAvailable(names)
	return f
}

// UnadmittedProbe connects to the command channel with a CURVE key pair that no config
// request admitted, sends p's node a signed heartbeat (without blocking: a refused handshake
// leaves nowhere to send) and reports whether anything came back within d.
func (s *Suite) UnadmittedProbe(p *Peer, d time.Duration) (bool, error) {
	pub, sec, err := zmq.NewCurveKeypair()
	if err != nil {
		return false, err
	}
	sock, err := zmq.NewSocket(zmq.DEALER)
	if err != nil {
		return false, err
	}
	defer sock.Close()
	_ = sock.SetLinger(0)
	_ = sock.SetSndtimeo(d)
	if err := sock.ClientAuthCurve(p.Config.CurveKey(), pub, sec); err != nil {
		return false, err
	}
	if err := sock.Connect(p.Config.PushJobs.Heartbeat.CommandAddr); err != nil {
		return false, err
	}
	body, err := json.Marshal(wire.NodeMessage{Node: p.Node, Client: p.Node, ProtocolVersion: wire.ProtocolVersion, Org: p.Org,
		Type: wire.TypeHeartbeat, Sequence: 1, Timestamp: wire.FormatTime(time.Now()), IncarnationID: p.IncarnationID, JobState: "idle"})
	if err != nil {
		return false, err
	}
	_, _ = sock.SendMessage(wire.SignHMAC(p.SessionKey(), body), body) // may time out: nothing to send to
	poller := zmq.NewPoller()
	poller.Add(sock, zmq.POLLIN)
	polled, err := poller.Poll(d)
	if err != nil {
		return false, err
	}
	return len(polled) > 0, nil
}

// WaitAllAvailable polls the node list until every named node is listed available.
func (s *Suite) WaitAllAvailable(nodes []string) {
	ginkgo.GinkgoHelper()
	want := map[string]bool{}
	for _, n := range nodes {
		want[n] = true
	}
	gomega.Eventually(func(g gomega.Gomega) {
		states, err := s.API.NodeStates(context.Background())
		g.Expect(err).NotTo(gomega.HaveOccurred())
		avail := 0
		for _, st := range states {
			if want[st.NodeName] && st.Availability == "available" {
				avail++
			}
		}
		g.Expect(avail).To(gomega.Equal(len(want)), "nodes listed available")
	}).WithTimeout(s.Timings.Fleet).Should(gomega.Succeed())
}
