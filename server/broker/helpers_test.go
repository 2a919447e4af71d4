package broker

import (
	"crypto/rsa"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/internal/wire"
)

const testOrg = "acme"

var (
	signingKeyOnce sync.Once
	signingKey     *rsa.PrivateKey
)

func testSigningKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	signingKeyOnce.Do(func() {
		k, err := chefauth.GenerateKey()
		if err != nil {
			panic(err)
		}
		signingKey = k
	})
	return signingKey
}

// testKeys is a SessionKeys with keys made from a seeded generator.
type testKeys struct {
	mu   sync.Mutex
	rng  *rand.Rand
	keys map[nodeKey][]byte
}

func newTestKeys(seed uint64) *testKeys {
	return &testKeys{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), keys: map[nodeKey][]byte{}}
}

// add creates the session key of (org, node), as a config request would.
func (k *testKeys) add(org, node string) []byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(k.rng.Uint32())
	}
	k.keys[nodeKey{org, node}] = key
	return key
}

func (k *testKeys) SessionKey(org, node string) ([]byte, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key, ok := k.keys[nodeKey{org, node}]
	return key, ok
}

// recorder is a Handler that keeps everything it is given.
type recorder struct {
	mu  sync.Mutex
	got []Inbound
}

func (r *recorder) HandleNode(in Inbound) {
	r.mu.Lock()
	r.got = append(r.got, in)
	r.mu.Unlock()
}

func (r *recorder) all() []Inbound {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Inbound(nil), r.got...)
}

// waitFor polls until the handler holds at least n messages and returns them.
func (r *recorder) waitFor(t testing.TB, n int) []Inbound {
	t.Helper()
	eventually(t, 5*time.Second, func() bool { return len(r.all()) >= n }, func() string {
		return fmt.Sprintf("handler got %d messages, want %d", len(r.all()), n)
	})
	return r.all()
}

// counter is a Handler that only counts.
type counter struct{ n atomic.Int64 }

func (c *counter) HandleNode(Inbound) { c.n.Add(1) }

// eventually polls cond every 2 ms until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s: %s", within, what())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// fakeClock is time.Now plus an offset the test moves forward.
type fakeClock struct{ offset atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *fakeClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// testEnv is a broker on ephemeral loopback ports with its keys and handler.
type testEnv struct {
	b     *Broker
	keys  *testKeys
	rec   *recorder
	clock *fakeClock
}

func fastConfig(t testing.TB) Config {
	return Config{
		ListenHost:        "127.0.0.1",
		HeartbeatInterval: 25 * time.Millisecond,
		ServerName:        "pushlab-test",
		IncarnationID:     "5a7c2a2e-0d52-4a39-9d0b-0b3c2b1c9a11",
		SigningKey:        testSigningKey(t),
	}
}

func startEnv(t testing.TB, mutate func(*Config)) *testEnv {
	t.Helper()
	rec := &recorder{}
	env := startEnvWith(t, mutate, rec)
	env.rec = rec
	return env
}

// startEnvWith starts a broker whose messages go to h.
func startEnvWith(t testing.TB, mutate func(*Config), h Handler) *testEnv {
	t.Helper()
	cfg := fastConfig(t)
	if mutate != nil {
		mutate(&cfg)
	}
	env := &testEnv{keys: newTestKeys(42), clock: &fakeClock{}}
	b, err := newBroker(cfg, env.keys, h, env.clock.now)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	env.b = b
	return env
}

// peer is a simulated node's command channel: a DEALER, optionally a CURVE client.
type peer struct {
	t           testing.TB
	s           *zmq.Socket
	org, node   string
	key         []byte
	pub, sec    string
	seq         int64
	incarnation string
}

// newCurveKeys returns a fresh Z85 CURVE key pair.
func newCurveKeys(t testing.TB) (pub, sec string) {
	t.Helper()
	pub, sec, err := zmq.NewCurveKeypair()
	if err != nil {
		t.Fatalf("curve key pair: %v", err)
	}
	return pub, sec
}

// dial connects a DEALER for node to env's command port. With curve keys (pub != "") it is a
// CURVE client of the broker's server key.
func dial(t testing.TB, ctx *zmq.Context, env *testEnv, node, pub, sec string) *peer {
	t.Helper()
	var s *zmq.Socket
	var err error
	if ctx != nil {
		s, err = ctx.NewSocket(zmq.DEALER)
	} else {
		s, err = zmq.NewSocket(zmq.DEALER)
	}
	if err != nil {
		t.Fatalf("DEALER: %v", err)
	}
	must(t, s.SetLinger(0))
	must(t, s.SetRcvtimeo(5*time.Second))
	must(t, s.SetSndtimeo(5*time.Second))
	if pub != "" {
		must(t, s.SetCurveServerkey(env.b.CurvePublicKey()))
		must(t, s.SetCurvePublickey(pub))
		must(t, s.SetCurveSecretkey(sec))
	}
	must(t, s.Connect("tcp://127.0.0.1:"+strconv.Itoa(env.b.CommandPort())))
	key, _ := env.keys.SessionKey(testOrg, node)
	p := &peer{t: t, s: s, org: testOrg, node: node, key: key, pub: pub, sec: sec, incarnation: "inc-" + node}
	t.Cleanup(func() { s.Close() })
	return p
}

// admittedPeer creates node's session key, admits a fresh CURVE key and dials.
func admittedPeer(t testing.TB, env *testEnv, node string) *peer {
	t.Helper()
	env.keys.add(testOrg, node)
	pub, sec := newCurveKeys(t)
	if err := env.b.AdmitClientKey(pub); err != nil {
		t.Fatalf("AdmitClientKey: %v", err)
	}
	return dial(t, nil, env, node, pub, sec)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// message builds a node message of type typ, stamped now.
func (p *peer) message(typ string) wire.NodeMessage {
	p.seq++
	return wire.NodeMessage{
		Node: p.node, Client: p.node + ".example", ProtocolVersion: wire.ProtocolVersion, Org: p.org,
		Type: typ, Sequence: p.seq, Timestamp: wire.FormatTime(time.Now()), IncarnationID: p.incarnation,
		JobState: map[bool]string{true: "idle"}[typ == wire.TypeHeartbeat],
	}
}

// send signs m with the peer's session key and sends [header, body].
func (p *peer) send(m wire.NodeMessage) {
	p.t.Helper()
	header, body, err := wire.EncodeHMAC(p.key, m)
	if err != nil {
		p.t.Fatal(err)
	}
	p.sendFrames(header, body)
}

func (p *peer) sendFrames(frames ...[]byte) {
	p.t.Helper()
	parts := make([]any, len(frames))
	for i, f := range frames {
		parts[i] = f
	}
	if _, err := p.s.SendMessage(parts...); err != nil {
		p.t.Fatalf("peer send: %v", err)
	}
}

// recv receives one server message ([header, body]), failing after the receive timeout.
func (p *peer) recv() (wire.Header, []byte) {
	p.t.Helper()
	frames, err := p.s.RecvMessageBytes(0)
	if err != nil {
		p.t.Fatalf("peer receive: %v", err)
	}
	if len(frames) != 2 {
		p.t.Fatalf("peer got %d frames, want [header, body]", len(frames))
	}
	h, err := wire.ParseHeader(frames[0])
	if err != nil {
		p.t.Fatalf("header %q: %v", frames[0], err)
	}
	return h, frames[1]
}
