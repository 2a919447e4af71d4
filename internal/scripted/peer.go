package scripted

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/internal/pushyclient"
	"github.com/pushlab/pushlab/internal/wire"
)

// NodeConfig is the answer of the config endpoint.
type NodeConfig = pushyclient.NodeConfig

// FetchConfig asks the server for a node's configuration, signed with the node's client key,
// and decrypts the session key.
func FetchConfig(baseURL, org, node string, key *rsa.PrivateKey, ccpk string) (*NodeConfig, []byte, error) {
	path := "/organizations/" + org + "/pushy/config/" + node
	req, err := http.NewRequest("GET", baseURL+path+"?ccpk="+url.QueryEscape(ccpk)+"&version=2.0", nil)
	if err != nil {
		return nil, nil, err
	}
	s := &chefauth.Signer{UserID: node, Key: key, Version: "1.1"}
	if err := s.Sign(req, nil); err != nil {
		return nil, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("config for %s: %d %s", node, resp.StatusCode, body)
	}
	var cfg NodeConfig
	if err := json.Unmarshal(body, &cfg); err != nil {
		return nil, nil, fmt.Errorf("config for %s: %w", node, err)
	}
	if cfg.EncodedSessionKey == nil {
		return nil, nil, fmt.Errorf("config for %s: no encoded_session_key", node)
	}
	enc, err := base64.StdEncoding.DecodeString(cfg.EncodedSessionKey.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("session key: %w", err)
	}
	sessionKey, err := rsa.DecryptPKCS1v15(rand.Reader, key, enc)
	if err != nil {
		return nil, nil, fmt.Errorf("session key: %w", err)
	}
	return &cfg, sessionKey, nil
}

// Peer is a minimal node for end-to-end tests: it fetches config, connects a CURVE DEALER to
// the command channel, sends what the test tells it to (HMAC-signed), heartbeats on its own
// when asked, and hands every verified server message to the test. It has no job logic: the
// test plays the node's part.
type Peer struct {
	Node          string
	Org           string
	Config        *NodeConfig
	IncarnationID string

	t          testing.TB
	sessionKey []byte
	pub, sec   string

	out   chan []byte // signed body, header built by the loop
	inbox chan wire.ServerMessage
	ctl   chan func(*peerLoop)
	done  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once

	mu       sync.Mutex
	jobState string
	jobID    string
}

type peerLoop struct {
	p         *Peer
	sock      *zmq.Socket
	seq       int64
	heartbeat time.Duration // 0 = off
	next      time.Time
}

// DialPeer fetches config for node with its client key and connects. The peer is closed when
// the test ends.
func DialPeer(t testing.TB, baseURL, org, node string, key *rsa.PrivateKey) *Peer {
	t.Helper()
	pub, sec, err := zmq.NewCurveKeypair()
	if err != nil {
		t.Fatal(err)
	}
	cfg, sk, err := FetchConfig(baseURL, org, node, key, pub)
	if err != nil {
		t.Fatal(err)
	}
	return dial(t, cfg, sk, org, node, pub, sec)
}

// DialPeerWithConfig connects a peer with a config and session key obtained elsewhere and a
// CURVE key pair of its own that no config request admitted: the server must refuse it.
func DialPeerWithConfig(t testing.TB, cfg *NodeConfig, sessionKey []byte, node, org string) *Peer {
	t.Helper()
	pub, sec, err := zmq.NewCurveKeypair()
	if err != nil {
		t.Fatal(err)
	}
	return dial(t, cfg, sessionKey, org, node, pub, sec)
}

func dial(t testing.TB, cfg *NodeConfig, sk []byte, org, node, pub, sec string) *Peer {
	t.Helper()
	p := &Peer{Node: node, Org: org, Config: cfg, IncarnationID: newID(), t: t, sessionKey: sk,
		pub: pub, sec: sec, out: make(chan []byte, 64), inbox: make(chan wire.ServerMessage, 256),
		ctl: make(chan func(*peerLoop), 8), done: make(chan struct{}), jobState: "idle"}
	sock, err := p.connect()
	if err != nil {
		t.Fatal(err)
	}
	p.wg.Add(1)
	go p.loop(&peerLoop{p: p, sock: sock})
	t.Cleanup(p.Close)
	return p
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func (p *Peer) connect() (*zmq.Socket, error) {
	sock, err := zmq.NewSocket(zmq.DEALER)
	if err != nil {
		return nil, err
	}
	_ = sock.SetLinger(0)
	_ = sock.SetSndhwm(3)
	_ = sock.SetSndtimeo(sendTimeout)
	if p.Config.CurveKey() != "" {
		if err := sock.ClientAuthCurve(p.Config.CurveKey(), p.pub, p.sec); err != nil {
			sock.Close()
			return nil, err
		}
	}
	if err := sock.Connect(p.Config.PushJobs.Heartbeat.CommandAddr); err != nil {
		sock.Close()
		return nil, err
	}
	return sock, nil
}

func (p *Peer) loop(l *peerLoop) {
	defer p.wg.Done()
	defer func() { l.sock.Close() }()
	poller := zmq.NewPoller()
	idx := poller.Add(l.sock, zmq.POLLIN)
	for {
		select {
		case <-p.done:
			return
		case f := <-p.ctl:
			f(l)
			poller = zmq.NewPoller()
			idx = poller.Add(l.sock, zmq.POLLIN)
			continue
		case body := <-p.out:
			l.send(body)
			continue
		default:
		}
		if l.heartbeat > 0 && !time.Now().Before(l.next) {
			l.next = time.Now().Add(l.heartbeat)
			l.send(p.heartbeatBody(l))
		}
		polled, err := poller.Poll(5 * time.Millisecond)
		if err != nil {
			continue
		}
		for _, ps := range polled {
			if ps.Socket != l.sock || idx < 0 {
				continue
			}
			frames, err := l.sock.RecvMessageBytes(zmq.DONTWAIT)
			if err != nil || len(frames) < 2 {
				continue
			}
			hdr, body := frames[len(frames)-2], frames[len(frames)-1]
			h, err := wire.ParseHeader(hdr)
			if err != nil || !wire.VerifyHMAC(p.sessionKey, h, body) {
				p.t.Errorf("peer %s: server message failed verification: %q %q", p.Node, hdr, body)
				continue
			}
			m, err := wire.DecodeServer(body, 0)
			if err != nil {
				p.t.Errorf("peer %s: undecodable server message %q: %v", p.Node, body, err)
				continue
			}
			select {
			case p.inbox <- m:
			default:
				p.t.Errorf("peer %s: inbox full", p.Node)
			}
		}
	}
}

// send blocks the peer's loop at most sendTimeout: with no connected pipe (a refused CURVE
// handshake) or a full one (SNDHWM), the message is then dropped, as a lost frame would be.
func (l *peerLoop) send(body []byte) {
	_, _ = l.sock.SendMessage(wire.SignHMAC(l.p.sessionKey, body), body)
}

// sendTimeout bounds a send of the peer (ZMQ_SNDTIMEO).
const sendTimeout = 5 * time.Second

func (p *Peer) heartbeatBody(l *peerLoop) []byte {
	p.mu.Lock()
	state, job := p.jobState, p.jobID
	p.mu.Unlock()
	return p.body(l, wire.TypeHeartbeat, job, state, nil, nil)
}

func (p *Peer) body(l *peerLoop, typ, jobID, jobState string, stdout, stderr *string) []byte {
	l.seq++
	m := wire.NodeMessage{Node: p.Node, Client: p.Node, ProtocolVersion: wire.ProtocolVersion, Org: p.Org,
		Type: typ, Sequence: l.seq, Timestamp: wire.FormatTime(time.Now()), IncarnationID: p.IncarnationID,
		JobID: jobID, JobState: jobState, Stdout: stdout, Stderr: stderr}
	b, err := json.Marshal(m)
	if err != nil {
		p.t.Errorf("peer %s: %v", p.Node, err)
	}
	return b
}

// do runs f on the peer's loop goroutine and waits for it.
func (p *Peer) do(f func(*peerLoop)) {
	ran := make(chan struct{})
	select {
	case p.ctl <- func(l *peerLoop) { f(l); close(ran) }:
		<-ran
	case <-p.done:
	}
}

// Send sends one message of type typ about jobID ("" = null).
func (p *Peer) Send(typ, jobID string) {
	p.do(func(l *peerLoop) { l.send(p.body(l, typ, jobID, "", nil, nil)) })
}

// SendResult sends succeeded or failed with captured output.
func (p *Peer) SendResult(typ, jobID string, stdout, stderr *string) {
	p.do(func(l *peerLoop) { l.send(p.body(l, typ, jobID, "", stdout, stderr)) })
}

// SendRaw sends a header and body exactly as given.
func (p *Peer) SendRaw(header, body []byte) {
	p.do(func(l *peerLoop) { _, _ = l.sock.SendMessage(header, body) })
}

// SessionKey is the HMAC key the server handed out.
func (p *Peer) SessionKey() []byte { return p.sessionKey }

// SetJob sets the job_state and job_id the heartbeats carry.
func (p *Peer) SetJob(state, jobID string) {
	p.mu.Lock()
	p.jobState, p.jobID = state, jobID
	p.mu.Unlock()
}

// Heartbeat starts (every > 0) or stops (0) the peer's own heartbeats; the first goes at once.
func (p *Peer) Heartbeat(every time.Duration) {
	p.do(func(l *peerLoop) { l.heartbeat, l.next = every, time.Time{} })
}

// Reconnect closes the command socket and opens a new one, which gives the peer a new ZeroMQ
// identity, as a restarted client has. The CURVE key stays admitted only within the server's
// admission window of the config request.
func (p *Peer) Reconnect() {
	p.do(func(l *peerLoop) {
		l.sock.Close()
		sock, err := p.connect()
		if err != nil {
			p.t.Errorf("peer %s: reconnect: %v", p.Node, err)
			return
		}
		l.sock = sock
	})
}

// Inbox delivers every verified server message, in order.
func (p *Peer) Inbox() <-chan wire.ServerMessage { return p.inbox }

// Next waits up to timeout for the next server message whose type is not in skip.
func (p *Peer) Next(timeout time.Duration, skip ...string) (wire.ServerMessage, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case m := <-p.inbox:
			skipped := false
			for _, s := range skip {
				if m.MessageType() == s {
					skipped = true
				}
			}
			if !skipped {
				return m, true
			}
		case <-deadline.C:
			return nil, false
		}
	}
}

// Close stops the peer and closes its socket without a word to the server, as a killed client.
func (p *Peer) Close() {
	p.once.Do(func() {
		close(p.done)
		p.wg.Wait()
	})
}

// SubscribeHeartbeats connects a SUB socket to the server's heartbeat address and returns the
// next n heartbeats whose RSA signature verifies with the config's public key, or an error.
func (p *Peer) SubscribeHeartbeats(n int, timeout time.Duration) ([]wire.ServerHeartbeat, error) {
	pub, err := chefauth.ParsePublicKeyPEM([]byte(p.Config.PublicKey))
	if err != nil {
		return nil, err
	}
	sub, err := zmq.NewSocket(zmq.SUB)
	if err != nil {
		return nil, err
	}
	defer sub.Close()
	_ = sub.SetLinger(0)
	_ = sub.SetSubscribe("")
	_ = sub.SetRcvtimeo(timeout)
	if err := sub.Connect(p.Config.PushJobs.Heartbeat.OutAddr); err != nil {
		return nil, err
	}
	var out []wire.ServerHeartbeat
	for len(out) < n {
		frames, err := sub.RecvMessageBytes(0)
		if err != nil {
			return out, fmt.Errorf("after %d heartbeats: %w", len(out), err)
		}
		if len(frames) != 2 {
			return out, fmt.Errorf("heartbeat with %d frames", len(frames))
		}
		h, err := wire.ParseHeader(frames[0])
		if err != nil {
			return out, err
		}
		if !wire.VerifyRSA(pub, h, frames[1]) {
			return out, fmt.Errorf("heartbeat signature does not verify: %q", frames[0])
		}
		var hb wire.ServerHeartbeat
		if err := json.NewDecoder(bytes.NewReader(frames[1])).Decode(&hb); err != nil {
			return out, err
		}
		out = append(out, hb)
	}
	return out, nil
}
