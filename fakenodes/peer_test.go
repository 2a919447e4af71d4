package fakenodes

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	zmq "github.com/pebbe/zmq4"

	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/internal/wire"
)

// peer is a minimal Push Jobs server side for the timing rules of one node: a config endpoint,
// a PUB socket whose heartbeats the test sends one by one, and a CURVE ROUTER the test reads
// and writes itself. Its sockets belong to the test goroutine.
type peer struct {
	t          testing.TB
	http       *httptest.Server
	zctx       *zmq.Context
	pub        *zmq.Socket
	router     *zmq.Socket
	rsaKey     *rsa.PrivateKey
	curvePub   string
	sessionKey []byte
	interval   time.Duration
	lifetime   int

	mu          sync.Mutex
	incarnation string
	requests    []*http.Request
	configs     atomic.Int32
	pubSeq      int64
	routerSeq   int64
}

var (
	peerKeyOnce sync.Once
	peerKey     *rsa.PrivateKey
)

func newPeer(t testing.TB, interval time.Duration) *peer {
	t.Helper()
	peerKeyOnce.Do(func() {
		k, err := chefauth.GenerateKey()
		if err != nil {
			panic(err)
		}
		peerKey = k
	})
	zctx, err := zmq.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{t: t, zctx: zctx, rsaKey: peerKey, interval: interval, lifetime: 3600, incarnation: uuid.NewString(),
		sessionKey: make([]byte, 32)}
	_, _ = rand.Read(p.sessionKey)
	pub, sec, err := zmq.NewCurveKeypair()
	if err != nil {
		t.Fatal(err)
	}
	p.curvePub = pub
	p.pub, _ = zctx.NewSocket(zmq.PUB)
	p.pub.SetLinger(0)
	if err := p.pub.Bind("tcp://127.0.0.1:*"); err != nil {
		t.Fatal(err)
	}
	p.router, _ = zctx.NewSocket(zmq.ROUTER)
	p.router.SetLinger(0)
	p.router.SetCurveServer(1)
	p.router.SetCurveSecretkey(sec)
	if err := p.router.Bind("tcp://127.0.0.1:*"); err != nil {
		t.Fatal(err)
	}
	p.http = httptest.NewServer(http.HandlerFunc(p.serveConfig))
	t.Cleanup(func() {
		p.http.Close()
		p.pub.Close()
		p.router.Close()
		p.zctx.Term()
	})
	return p
}

func (p *peer) endpoint(s *zmq.Socket) string {
	ep, err := s.GetLastEndpoint()
	if err != nil {
		p.t.Fatal(err)
	}
	return ep
}

func (p *peer) serveConfig(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.requests = append(p.requests, r.Clone(context.Background()))
	inc := p.incarnation
	p.mu.Unlock()
	p.configs.Add(1)
	enc, err := rsa.EncryptPKCS1v15(rand.Reader, &testNodeKey(p.t).PublicKey, p.sessionKey)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	cfg := map[string]any{
		"type": "config", "host": "127.0.0.1",
		"push_jobs": map[string]any{"heartbeat": map[string]any{
			"out_addr": p.endpoint(p.pub), "command_addr": p.endpoint(p.router),
			"interval": p.interval.Seconds(), "offline_threshold": 3, "online_threshold": 2}},
		"node": strings.TrimPrefix(r.URL.Path, "/organizations/peer/pushy/config/"), "organization": "peer",
		"public_key":          string(chefauth.EncodePublicKeyPEM(&p.rsaKey.PublicKey)),
		"curve_public_key":    p.curvePub,
		"encoded_session_key": map[string]string{"method": "hmac_sha256", "key": base64.StdEncoding.EncodeToString(enc)},
		"lifetime":            p.lifetime, "max_message_skew": 300, "max_body_size": 65536, "incarnation_id": inc,
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(cfg)
}

// heartbeat publishes one signed server heartbeat.
func (p *peer) heartbeat() {
	p.mu.Lock()
	inc := p.incarnation
	p.mu.Unlock()
	msg := wire.NewServerHeartbeat("peer", inc).WithStamp(p.pubSeq, wire.FormatTime(time.Now()))
	p.pubSeq++
	h, b, err := wire.EncodeRSA(p.rsaKey, msg)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.pub.SendMessage(h, b); err != nil {
		p.t.Fatal(err)
	}
}

func (p *peer) setIncarnation(inc string) {
	p.mu.Lock()
	p.incarnation = inc
	p.mu.Unlock()
}

// nodeMsg is one message the ROUTER received.
type nodeMsg struct {
	identity []byte
	header   []byte
	body     []byte
	msg      *wire.NodeMessage
}

// recv waits up to timeout for the next node message; nil on timeout.
func (p *peer) recv(timeout time.Duration) *nodeMsg {
	p.t.Helper()
	poller := zmq.NewPoller()
	poller.Add(p.router, zmq.POLLIN)
	polled, err := poller.Poll(timeout)
	if err != nil {
		p.t.Fatal(err)
	}
	if len(polled) == 0 {
		return nil
	}
	parts, err := p.router.RecvMessageBytes(0)
	if err != nil {
		p.t.Fatal(err)
	}
	if len(parts) != 3 {
		p.t.Fatalf("%d frames", len(parts))
	}
	h, err := wire.ParseHeader(parts[1])
	if err != nil || !wire.VerifyHMAC(p.sessionKey, h, parts[2]) {
		p.t.Fatalf("bad header %q: %v", parts[1], err)
	}
	m, err := wire.DecodeNode(parts[2], 0)
	if err != nil {
		p.t.Fatalf("body %s: %v", parts[2], err)
	}
	return &nodeMsg{identity: parts[0], header: parts[1], body: parts[2], msg: m}
}

// expect reads node messages until one of type typ arrives (others are skipped).
func (p *peer) expect(typ string, timeout time.Duration) *nodeMsg {
	p.t.Helper()
	// A deadline, not a timing assertion: a machine busy with other test packages delays the
	// node's loops, so wait at least expectFloor before calling the message missing.
	timeout = max(timeout, expectFloor)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if m := p.recv(time.Until(deadline)); m != nil && m.msg.Type == typ {
			return m
		}
	}
	p.t.Fatalf("no %s within %s", typ, timeout)
	return nil
}

// expectFloor is the shortest wait of expect.
const expectFloor = 5 * time.Second

// quiet reads node messages for d and returns the types seen.
func (p *peer) quiet(d time.Duration) []string {
	var types []string
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if m := p.recv(time.Until(deadline)); m != nil {
			types = append(types, m.msg.Type)
		}
	}
	return types
}

// send sends a server message to a node identity.
func (p *peer) send(identity []byte, msg wire.ServerMessage) {
	p.routerSeq++
	h, b, err := wire.EncodeHMAC(p.sessionKey, msg.WithStamp(p.routerSeq, wire.FormatTime(time.Now())))
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.router.SendMessage(identity, h, b); err != nil {
		p.t.Fatal(err)
	}
}

// fleet starts nodes against the peer.
func (p *peer) fleet(cfg FleetConfig) *Fleet {
	p.t.Helper()
	cfg.Server = p.http.URL
	cfg.Org = "peer"
	cfg.Key = testNodeKey(p.t)
	if cfg.Nodes == 0 {
		cfg.Nodes = 1
	}
	cfg.RampRate = -1
	cfg.ConfigRetryDelay = 100 * time.Millisecond
	f, err := NewFleet(cfg)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := f.Start(context.Background()); err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { f.Stop() })
	return f
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (p *peer) request(i int) *http.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i >= len(p.requests) {
		p.t.Fatalf("no config request %d", i)
	}
	return p.requests[i]
}
