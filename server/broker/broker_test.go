package broker

import (
	"bytes"
	"errors"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/pushlab/pushlab/internal/wire"
)

func TestHeartbeatsAreSignedAndSequenced(t *testing.T) {
	env := startEnv(t, nil)
	sub, err := zmq.NewSocket(zmq.SUB)
	must(t, err)
	defer sub.Close()
	must(t, sub.SetLinger(0))
	must(t, sub.SetRcvtimeo(5*time.Second))
	must(t, sub.SetSubscribe(""))
	must(t, sub.Connect("tcp://127.0.0.1:"+strconv.Itoa(env.b.HeartbeatPort())))

	pub := &testSigningKey(t).PublicKey
	var seqs []int64
	for len(seqs) < 4 {
		frames, err := sub.RecvMessageBytes(0)
		if err != nil {
			t.Fatalf("receiving a heartbeat: %v", err)
		}
		if len(frames) != 2 {
			t.Fatalf("heartbeat has %d frames, want [header, body]", len(frames))
		}
		if !bytes.HasPrefix(frames[0], []byte("Version:2.0;SigningMethod:rsa2048_sha1;Signature:")) {
			t.Fatalf("heartbeat header %q", frames[0])
		}
		h, err := wire.ParseHeader(frames[0])
		must(t, err)
		if !wire.VerifyRSA(pub, h, frames[1]) {
			t.Fatalf("heartbeat signature does not verify: %s", frames[1])
		}
		m, err := wire.DecodeServer(frames[1], 0)
		must(t, err)
		hb, ok := m.(wire.ServerHeartbeat)
		if !ok {
			t.Fatalf("decoded %T, want ServerHeartbeat", m)
		}
		if hb.Server != "pushlab-test" || hb.IncarnationID != fastConfig(t).IncarnationID || hb.Type != wire.TypeHeartbeat {
			t.Fatalf("heartbeat fields %+v", hb)
		}
		if err := wire.CheckSkew(hb.Timestamp, time.Now(), 5*time.Second); err != nil {
			t.Fatalf("heartbeat timestamp: %v", err)
		}
		seqs = append(seqs, hb.Sequence)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("heartbeat sequences %v are not consecutive", seqs)
		}
	}
	// The counter moves just after the publish returns, so it may trail the subscriber briefly.
	eventually(t, 5*time.Second, func() bool { return env.b.Stats().Heartbeats >= 4 }, func() string {
		return "Stats.Heartbeats < 4"
	})
}

func TestCommandChannelRoundTrip(t *testing.T) {
	env := startEnv(t, nil)
	p := admittedPeer(t, env, "web1")

	hb := p.message(wire.TypeHeartbeat)
	p.send(hb)
	ack := p.message(wire.TypeAckCommit)
	ack.JobID = "job-1"
	p.send(ack)

	got := env.rec.waitFor(t, 2)
	if len(got) != 2 {
		t.Fatalf("handler got %d messages, want 2", len(got))
	}
	for i, want := range []wire.NodeMessage{hb, ack} {
		in := got[i]
		if in.Org != testOrg || in.Node != "web1" || in.NewIdentity {
			t.Fatalf("message %d: %+v", i, in)
		}
		if in.Msg.Type != want.Type || in.Msg.JobID != want.JobID || in.Msg.Sequence != want.Sequence || in.Msg.IncarnationID != want.IncarnationID {
			t.Fatalf("message %d: got %+v, want %+v", i, *in.Msg, want)
		}
	}
	if got[0].Msg.JobState != "idle" {
		t.Fatalf("heartbeat job_state %q", got[0].Msg.JobState)
	}
	st := env.b.Stats()
	if st.Received[wire.TypeHeartbeat] != 1 || st.Received[wire.TypeAckCommit] != 1 || st.TotalReceived() != 2 {
		t.Fatalf("Stats.Received = %v", st.Received)
	}
	if st.ZAPAccepted < 1 || st.ZAPRejected != 0 {
		t.Fatalf("ZAP accepted %d rejected %d", st.ZAPAccepted, st.ZAPRejected)
	}

	// Server → node: stamped, signed with the session key, sent to the node's identity.
	commit := wire.NewCommit("job-1", "pushlab", "chef-client")
	before := time.Now()
	must(t, env.b.Send(testOrg, "web1", 7, commit))
	h, body := p.recv()
	if !wire.VerifyHMAC(p.key, h, body) {
		t.Fatalf("server message signature does not verify: %q %s", h.Signature, body)
	}
	m, err := wire.DecodeServer(body, 0)
	must(t, err)
	c, ok := m.(wire.Commit)
	if !ok {
		t.Fatalf("decoded %T, want Commit", m)
	}
	if c.Sequence != 7 || c.JobID != "job-1" || c.Command != "chef-client" || c.Server != "pushlab" {
		t.Fatalf("commit %+v", c)
	}
	if !bytes.Contains(body, []byte(`"capture":false`)) {
		t.Fatalf("commit body lacks capture:false: %s", body)
	}
	ts, err := wire.ParseTime(c.Timestamp)
	must(t, err)
	if d := ts.Sub(before.Truncate(time.Second)); d < 0 || d > 5*time.Second {
		t.Fatalf("commit timestamp %s is %s from send time", c.Timestamp, d)
	}
	eventually(t, 5*time.Second, func() bool { return env.b.Stats().Sent == 1 }, func() string { return "Stats.Sent != 1" })
}

func TestArrivalOrderIsKept(t *testing.T) {
	env := startEnv(t, nil)
	p := admittedPeer(t, env, "web1")
	const n = 300
	for i := 0; i < n; i++ {
		p.send(p.message(wire.TypeHeartbeat))
	}
	got := env.rec.waitFor(t, n)
	for i, in := range got {
		if in.Msg.Sequence != int64(i+1) {
			t.Fatalf("message %d has sequence %d", i, in.Msg.Sequence)
		}
	}
}

func TestSendErrors(t *testing.T) {
	env := startEnv(t, nil)
	env.keys.add(testOrg, "web1")
	err := env.b.Send(testOrg, "web1", 1, wire.NewAbort())
	if !errors.Is(err, ErrUnknownNode) {
		t.Fatalf("Send to a node that never sent: %v, want ErrUnknownNode", err)
	}
	if err := env.b.Send(testOrg, "web1", 1, nil); err == nil {
		t.Fatal("Send of a nil message succeeded")
	}
	if got := env.b.Stats().Unsent[SendUnknownNode]; got != 1 {
		t.Fatalf("Unsent[unknown_node] = %d, want 1", got)
	}
}

func TestSendToVanishedPeerIsCounted(t *testing.T) {
	env := startEnv(t, nil)
	p := admittedPeer(t, env, "web1")
	p.send(p.message(wire.TypeHeartbeat))
	env.rec.waitFor(t, 1)
	p.s.Close()
	// The ROUTER forgets the identity once it sees the disconnect; until then sends succeed.
	eventually(t, 5*time.Second, func() bool {
		must(t, env.b.Send(testOrg, "web1", 1, wire.NewAbort()))
		return env.b.Stats().Unsent[SendUnroutable] > 0
	}, func() string { return "no send was counted unroutable" })
}

func TestZAPRejectsKeyNeverAdmitted(t *testing.T) {
	env := startEnv(t, nil)
	env.keys.add(testOrg, "web1")
	pub, sec := newCurveKeys(t)
	p := dial(t, nil, env, "web1", pub, sec)
	p.send(p.message(wire.TypeHeartbeat))

	eventually(t, 5*time.Second, func() bool { return env.b.Stats().ZAPRejected >= 1 }, func() string {
		return "ZAP did not refuse the handshake"
	})
	if got := env.rec.all(); len(got) != 0 {
		t.Fatalf("handler got %d messages from a refused client", len(got))
	}
	if st := env.b.Stats(); st.ZAPAccepted != 0 || st.TotalReceived() != 0 {
		t.Fatalf("stats after refusal: %+v", st)
	}

	// A refused client gives up on that socket (libzmq treats ZAP 400 as a protocol error), so
	// the node reconfigures: a fresh config request admits the key and a new socket succeeds.
	must(t, env.b.AdmitClientKey(pub))
	again := dial(t, nil, env, "web1", pub, sec)
	again.seq = 100
	again.send(again.message(wire.TypeHeartbeat))
	got := env.rec.waitFor(t, 1)
	if len(got) != 1 || got[0].Msg.Sequence != 101 {
		t.Fatalf("handler got %d messages, first %+v; want only the new socket's", len(got), got[0].Msg)
	}
}

func TestZAPWindow(t *testing.T) {
	env := startEnv(t, func(c *Config) { c.ZAPWindow = time.Minute })
	env.keys.add(testOrg, "early")
	env.keys.add(testOrg, "late")
	earlyPub, earlySec := newCurveKeys(t)
	latePub, lateSec := newCurveKeys(t)
	must(t, env.b.AdmitClientKey(earlyPub))
	must(t, env.b.AdmitClientKey(latePub))

	env.clock.advance(59 * time.Second) // still inside the window
	early := dial(t, nil, env, "early", earlyPub, earlySec)
	early.send(early.message(wire.TypeHeartbeat))
	env.rec.waitFor(t, 1)

	env.clock.advance(2 * time.Second) // 61 s after the config request
	late := dial(t, nil, env, "late", latePub, lateSec)
	late.send(late.message(wire.TypeHeartbeat))
	eventually(t, 5*time.Second, func() bool { return env.b.Stats().ZAPRejected >= 1 }, func() string {
		return "expired key was not refused"
	})
	// The early client, connected in time, keeps working.
	early.send(early.message(wire.TypeAborted))
	got := env.rec.waitFor(t, 2)
	for _, in := range got {
		if in.Node != "early" {
			t.Fatalf("message from a refused client reached the handler: %+v", in)
		}
	}
}

func TestDroppedMessagesAreCounted(t *testing.T) {
	env := startEnv(t, func(c *Config) { c.MaxBodySize = 4096 })
	p := admittedPeer(t, env, "web1")

	signed := func(m wire.NodeMessage, key []byte) [][]byte {
		h, b, err := wire.EncodeHMAC(key, m)
		must(t, err)
		return [][]byte{h, b}
	}
	cases := []struct {
		name   string
		reason DropReason
		frames func() [][]byte
	}{
		{"wrong HMAC key", DropSignature, func() [][]byte { return signed(p.message(wire.TypeHeartbeat), []byte("not the session key")) }},
		{"signature of another body", DropSignature, func() [][]byte {
			f := signed(p.message(wire.TypeHeartbeat), p.key)
			f[1] = bytes.Replace(f[1], []byte(`"idle"`), []byte(`"running"`), 1)
			return f
		}},
		{"hmac with Version 1.0", DropSignature, func() [][]byte {
			m := p.message(wire.TypeHeartbeat)
			_, b, err := wire.EncodeHMAC(p.key, m)
			must(t, err)
			return [][]byte{wire.Header{Version: wire.Version1, Method: wire.HMACSHA256, Signature: wire.HMACSignature(p.key, b)}.Bytes(), b}
		}},
		{"unknown node", DropNoKey, func() [][]byte {
			m := p.message(wire.TypeHeartbeat)
			m.Node = "never-fetched-config"
			return signed(m, p.key)
		}},
		{"timestamp 10 minutes old", DropSkew, func() [][]byte {
			m := p.message(wire.TypeHeartbeat)
			m.Timestamp = wire.FormatTime(time.Now().Add(-10 * time.Minute))
			return signed(m, p.key)
		}},
		{"timestamp 301 s ahead", DropSkew, func() [][]byte {
			m := p.message(wire.TypeHeartbeat)
			m.Timestamp = wire.FormatTime(time.Now().Add(301 * time.Second))
			return signed(m, p.key)
		}},
		{"timestamp unparsable", DropSkew, func() [][]byte {
			m := p.message(wire.TypeHeartbeat)
			m.Timestamp = "yesterday"
			return signed(m, p.key)
		}},
		{"oversize body", DropTooBig, func() [][]byte {
			m := p.message(wire.TypeSucceeded)
			out := strings.Repeat("x", 5000)
			m.JobID, m.Stdout = "job-1", &out
			return signed(m, p.key)
		}},
		{"not JSON", DropJSON, func() [][]byte { b := []byte("not json"); return [][]byte{wire.SignHMAC(p.key, b), b} }},
		{"no type", DropJSON, func() [][]byte {
			b := []byte(`{"node":"web1","org":"acme"}`)
			return [][]byte{wire.SignHMAC(p.key, b), b}
		}},
		{"unknown type", DropUnknownType, func() [][]byte { return signed(p.message("reboot"), p.key) }},
		{"bad header version", DropHeader, func() [][]byte {
			f := signed(p.message(wire.TypeHeartbeat), p.key)
			f[0] = bytes.Replace(f[0], []byte("Version:2.0"), []byte("Version:3.0"), 1)
			return f
		}},
		{"header without version", DropHeader, func() [][]byte {
			f := signed(p.message(wire.TypeHeartbeat), p.key)
			f[0] = bytes.Replace(f[0], []byte("Version:2.0;"), nil, 1)
			return f
		}},
		{"empty delimiter frame", DropFrames, func() [][]byte {
			return append([][]byte{{}}, signed(p.message(wire.TypeHeartbeat), p.key)...)
		}},
		{"body frame missing", DropFrames, func() [][]byte { return signed(p.message(wire.TypeHeartbeat), p.key)[:1] }},
	}
	handled := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := env.b.Stats()
			p.sendFrames(tc.frames()...)
			// A valid marker sent after the bad message arrives after it has been judged.
			marker := p.message(wire.TypeHeartbeat)
			p.send(marker)
			handled++
			got := env.rec.waitFor(t, handled)
			if len(got) != handled || got[handled-1].Msg.Sequence != marker.Sequence {
				t.Fatalf("handler got %d messages (last %+v), want only the marker", len(got), got[len(got)-1].Msg)
			}
			after := env.b.Stats()
			for _, r := range dropReasons {
				want := before.Dropped[r]
				if r == tc.reason {
					want++
				}
				if after.Dropped[r] != want {
					t.Fatalf("Dropped[%s] = %d, want %d", r, after.Dropped[r], want)
				}
			}
		})
	}
}

func TestNewIdentityOnReconnect(t *testing.T) {
	env := startEnv(t, nil)
	first := admittedPeer(t, env, "web1")
	first.send(first.message(wire.TypeHeartbeat))
	first.send(first.message(wire.TypeHeartbeat))
	env.rec.waitFor(t, 2)
	first.s.Close()

	// The node reconnects with a new socket and the same CURVE key pair, as after a reconfigure.
	second := dial(t, nil, env, "web1", first.pub, first.sec)
	second.send(second.message(wire.TypeHeartbeat))
	second.send(second.message(wire.TypeHeartbeat))
	got := env.rec.waitFor(t, 4)
	for i, want := range []bool{false, false, true, false} {
		if got[i].NewIdentity != want {
			t.Fatalf("message %d: NewIdentity = %v, want %v", i, got[i].NewIdentity, want)
		}
	}
	// Replies now go to the new socket.
	must(t, env.b.Send(testOrg, "web1", 1, wire.NewAck()))
	h, body := second.recv()
	if !wire.VerifyHMAC(second.key, h, body) || !bytes.Contains(body, []byte(`"type":"ack"`)) {
		t.Fatalf("second socket got %s", body)
	}
}

func TestInvalidMessageDoesNotMoveIdentity(t *testing.T) {
	env := startEnv(t, nil)
	owner := admittedPeer(t, env, "web1")
	owner.send(owner.message(wire.TypeHeartbeat))
	env.rec.waitFor(t, 1)

	// Another socket claims to be web1 but cannot sign as web1.
	impostor := admittedPeer(t, env, "web1-impostor")
	m := impostor.message(wire.TypeHeartbeat)
	m.Node = "web1"
	impostor.send(m)
	eventually(t, 5*time.Second, func() bool { return env.b.Stats().Dropped[DropSignature] == 1 }, func() string { return "forgery not dropped" })

	must(t, env.b.Send(testOrg, "web1", 1, wire.NewAbort()))
	h, body := owner.recv()
	if !wire.VerifyHMAC(owner.key, h, body) {
		t.Fatal("owner did not get a valid abort")
	}
}

func TestCurveDisabled(t *testing.T) {
	env := startEnv(t, func(c *Config) { c.CurveDisabled = true })
	if k := env.b.CurvePublicKey(); k != "" {
		t.Fatalf("CurvePublicKey = %q with CURVE disabled", k)
	}
	env.keys.add(testOrg, "web1")
	p := dial(t, nil, env, "web1", "", "")
	p.send(p.message(wire.TypeHeartbeat))
	got := env.rec.waitFor(t, 1)
	if got[0].Node != "web1" || got[0].NewIdentity {
		t.Fatalf("got %+v", got[0])
	}
	must(t, env.b.Send(testOrg, "web1", 3, wire.NewRun("job-9")))
	h, body := p.recv()
	if !wire.VerifyHMAC(p.key, h, body) || !bytes.Contains(body, []byte(`"job_id":"job-9"`)) {
		t.Fatalf("plain peer got %s", body)
	}
	if st := env.b.Stats(); st.ZAPAccepted != 0 || st.ZAPRejected != 0 {
		t.Fatalf("ZAP ran with CURVE disabled: %+v", st)
	}
}

func TestCurveEnabledRefusesPlainClient(t *testing.T) {
	env := startEnv(t, nil)
	env.keys.add(testOrg, "web1")
	p := dial(t, nil, env, "web1", "", "")
	// The failed handshake may already have removed the DEALER's only pipe: do not wait for it.
	header, body, err := wire.EncodeHMAC(p.key, p.message(wire.TypeHeartbeat))
	must(t, err)
	p.s.SendMessageDontwait(header, body)
	// A CURVE-secured peer connected after the plain one is served; the plain one never is.
	q := admittedPeer(t, env, "web2")
	q.send(q.message(wire.TypeHeartbeat))
	q.send(q.message(wire.TypeHeartbeat))
	got := env.rec.waitFor(t, 2)
	for _, in := range got {
		if in.Node != "web2" {
			t.Fatalf("a plain client got through to a CURVE server: %+v", in)
		}
	}
}

func TestAdmitClientKeyValidates(t *testing.T) {
	env := startEnv(t, nil)
	good, _ := newCurveKeys(t)
	if err := env.b.AdmitClientKey(good); err != nil {
		t.Fatalf("valid key refused: %v", err)
	}
	for _, bad := range []string{"", good[:39], good + "0", strings.Repeat(" ", 40), "#####" + good[5:], `"` + good[1:]} {
		if err := env.b.AdmitClientKey(bad); err == nil {
			t.Errorf("AdmitClientKey(%q) accepted a malformed key", bad)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	keys, rec := newTestKeys(1), &recorder{}
	for name, mutate := range map[string]func(*Config){
		"no signing key": func(c *Config) { c.SigningKey = nil },
		"no interval":    func(c *Config) { c.HeartbeatInterval = 0 },
		"no host":        func(c *Config) { c.ListenHost = "" },
		"bad port":       func(c *Config) { c.CommandPort = 70000 },
	} {
		cfg := fastConfig(t)
		mutate(&cfg)
		if b, err := New(cfg, keys, rec); err == nil {
			b.Close()
			t.Errorf("%s: New succeeded", name)
		}
	}
	if _, err := New(fastConfig(t), nil, rec); err == nil {
		t.Error("New without session keys succeeded")
	}
}

func TestPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	cfg := fastConfig(t)
	cfg.CommandPort = l.Addr().(*net.TCPAddr).Port
	before := runtime.NumGoroutine()
	if b, err := New(cfg, newTestKeys(1), &recorder{}); err == nil {
		b.Close()
		t.Fatal("New bound a port already in use")
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Fatalf("failed New left goroutines behind: %d → %d", before, after)
	}
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	must(t, err)
	return len(ents)
}

func TestCloseFreesEverything(t *testing.T) {
	// Start the default context (the test peer's) first, so its threads are not counted.
	warm, err := zmq.NewSocket(zmq.DEALER)
	must(t, err)
	warm.Close()
	base, baseFDs := runtime.NumGoroutine(), openFDs(t)
	keys, rec := newTestKeys(7), &recorder{}
	b, err := New(fastConfig(t), keys, rec)
	must(t, err)
	env := &testEnv{b: b, keys: keys, rec: rec}
	p := admittedPeer(t, env, "web1")
	p.send(p.message(wire.TypeHeartbeat))
	rec.waitFor(t, 1)
	must(t, b.Send(testOrg, "web1", 1, wire.NewAbort()))
	p.recv()
	p.s.Close()
	hbPort, cmdPort := b.HeartbeatPort(), b.CommandPort()

	start := time.Now()
	must(t, b.Close())
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %s", d)
	}
	must(t, b.Close())
	if err := b.Send(testOrg, "web1", 2, wire.NewAbort()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close: %v, want ErrClosed", err)
	}
	eventually(t, 5*time.Second, func() bool { return runtime.NumGoroutine() <= base }, func() string {
		return "goroutines left after Close: " + strconv.Itoa(runtime.NumGoroutine()) + " > " + strconv.Itoa(base)
	})
	eventually(t, 5*time.Second, func() bool { return openFDs(t) <= baseFDs }, func() string {
		return "file descriptors left after Close: " + strconv.Itoa(openFDs(t)) + " > " + strconv.Itoa(baseFDs)
	})

	// The ports are free again: a new broker binds the same ones.
	cfg := fastConfig(t)
	cfg.HeartbeatPort, cfg.CommandPort = hbPort, cmdPort
	b2, err := New(cfg, keys, rec)
	if err != nil {
		t.Fatalf("rebinding the closed broker's ports: %v", err)
	}
	must(t, b2.Close())
}
