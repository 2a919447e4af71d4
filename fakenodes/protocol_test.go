package fakenodes

import (
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/pushlab/pushlab/fakenodes/behaviour"
	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/internal/wire"
)

// The node against a peer the test drives message by message (protocol.md §2.9, §4, §7).

func TestConfigRequestIsSignedLikeTheRealClient(t *testing.T) {
	for _, version := range []string{"1.0", "1.1", "1.3"} {
		t.Run(version, func(t *testing.T) {
			p := newPeer(t, 50*time.Millisecond)
			cfg := FleetConfig{Names: []string{"DONKEY"}, SignVersion: version}
			if version == "1.1" {
				cfg.SignVersion = "" // the default
			}
			p.fleet(cfg)
			p.expect("heartbeat", 5*time.Second)
			r := p.request(0)
			if r.URL.Path != "/organizations/peer/pushy/config/DONKEY" {
				t.Errorf("path %s", r.URL.Path)
			}
			if !regexp.MustCompile(`^ccpk=[A-Za-z0-9%._~-]+&version=2\.0$`).MatchString(r.URL.RawQuery) {
				t.Errorf("query %s", r.URL.RawQuery)
			}
			if ccpk := r.URL.Query().Get("ccpk"); len(ccpk) != 40 {
				t.Errorf("ccpk %q", ccpk)
			}
			parsed, err := chefauth.ParseHeaders(r.Header, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if parsed.UserID != "DONKEY" || parsed.Version != version {
				t.Errorf("signed as %q with %q", parsed.UserID, parsed.Version)
			}
			if !parsed.Verify("GET", r.URL.Path, nil, []*rsa.PublicKey{&testNodeKey(t).PublicKey}) {
				t.Error("signature does not verify")
			}
		})
	}
}

func TestHeartbeatFrames(t *testing.T) {
	p := newPeer(t, 50*time.Millisecond)
	f := p.fleet(FleetConfig{Names: []string{"DONKEY"}})
	var last int64
	var inc string
	for i := 0; i < 3; i++ {
		m := p.expect("heartbeat", 5*time.Second)
		if !bytes.HasPrefix(m.header, []byte("Version:2.0;SigningMethod:hmac_sha256;Signature:")) {
			t.Fatalf("header %q", m.header)
		}
		want := regexp.MustCompile(`^\{"node":"DONKEY","client":"DONKEY","protocol_version":"2\.0","org":"peer","type":"heartbeat",` +
			`"sequence":\d+,"timestamp":"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT","incarnation_id":"[0-9a-f-]{36}","job_state":"idle","job_id":null\}$`)
		if !want.Match(m.body) {
			t.Fatalf("body %s", m.body)
		}
		if m.msg.Sequence != last+1 {
			t.Fatalf("sequence %d after %d", m.msg.Sequence, last)
		}
		last = m.msg.Sequence
		if inc != "" && m.msg.IncarnationID != inc {
			t.Fatal("incarnation changed")
		}
		inc = m.msg.IncarnationID
		if err := wire.CheckSkew(m.msg.Timestamp, time.Now(), 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if f.Node("DONKEY").Status().Incarnation != inc {
		t.Fatal("status incarnation differs")
	}
}

// connect waits for the node's first heartbeat and answers abort as a new server FSM does; the
// node answers aborted (job null) and is online.
func connect(t *testing.T, p *peer, f *Fleet) []byte {
	t.Helper()
	m := p.expect("heartbeat", 5*time.Second)
	p.send(m.identity, wire.NewAbort())
	a := p.expect("aborted", 2*time.Second)
	if a.msg.JobID != "" || !bytes.Contains(a.body, []byte(`"job_id":null`)) {
		t.Fatalf("aborted %s", a.body)
	}
	waitFor(t, 2*time.Second, "online", func() bool { return f.Node("DONKEY").Status().State == StateOnline })
	return m.identity
}

func TestJobRunnerStateMachine(t *testing.T) {
	p := newPeer(t, 50*time.Millisecond)
	f := p.fleet(FleetConfig{Names: []string{"DONKEY"}, Plan: plan([]string{"DONKEY"}, &behaviour.Hang{})})
	id := connect(t, p, f)
	commit := func(job string) wire.Commit { return wire.NewCommit(job, "peer", "chef-client") }

	p.send(id, wire.NewRun("J0")) // idle: nack_run
	if m := p.expect("nack_run", time.Second); m.msg.JobID != "J0" {
		t.Fatal(m.msg)
	}
	p.send(id, commit("J1"))
	if m := p.expect("ack_commit", time.Second); m.msg.JobID != "J1" {
		t.Fatal(m.msg)
	}
	hb := p.expect("heartbeat", time.Second) // heartbeats say committed
	if hb.msg.JobState != "committed" || hb.msg.JobID != "J1" {
		t.Fatalf("heartbeat %s", hb.body)
	}
	p.send(id, commit("J2")) // busy: nack_commit
	if m := p.expect("nack_commit", time.Second); m.msg.JobID != "J2" {
		t.Fatal(m.msg)
	}
	p.send(id, wire.NewRun("J2")) // run for another job: nack_run
	if m := p.expect("nack_run", time.Second); m.msg.JobID != "J2" {
		t.Fatal(m.msg)
	}
	p.send(id, wire.NewRun("J1"))
	if m := p.expect("ack_run", time.Second); m.msg.JobID != "J1" {
		t.Fatal(m.msg)
	}
	hb = p.expect("heartbeat", time.Second)
	if hb.msg.JobState != "running" || hb.msg.JobID != "J1" {
		t.Fatalf("heartbeat %s", hb.body)
	}
	p.send(id, wire.NewRun("J1")) // running: nack_run
	p.expect("nack_run", time.Second)
	p.send(id, wire.NewAbort())
	if m := p.expect("aborted", time.Second); m.msg.JobID != "J1" {
		t.Fatal(m.msg)
	}
	hb = p.expect("heartbeat", time.Second)
	if hb.msg.JobState != "idle" || hb.msg.JobID != "" {
		t.Fatalf("heartbeat %s", hb.body)
	}
	// a commit without a command is nacked with a null job id, as the real client does
	p.routerSeq++
	body := []byte(`{"type":"commit","job_id":"J3","sequence":99,"timestamp":"` + wire.FormatTime(time.Now()) + `"}`)
	p.router.SendMessage(id, wire.SignHMAC(p.sessionKey, body), body)
	if m := p.expect("nack_commit", time.Second); m.msg.JobID != "" {
		t.Fatal(m.msg)
	}
}

func TestInvalidServerMessagesAreDropped(t *testing.T) {
	p := newPeer(t, 50*time.Millisecond)
	f := p.fleet(FleetConfig{Names: []string{"DONKEY"}})
	id := connect(t, p, f)
	before := f.Stats().Rejected
	run := func(ts time.Time) []byte {
		b, _ := json.Marshal(wire.NewRun("J9").WithStamp(1, wire.FormatTime(ts)))
		return b
	}
	good := run(time.Now())
	bad := [][][]byte{
		{id, []byte("Version:2.0;SigningMethod:hmac_sha256;Signature:AAAA"), good},                        // wrong signature
		{id, wire.SignHMAC(p.sessionKey, good)},                                                           // one frame
		{id, wire.SignHMAC(p.sessionKey, good), good, good},                                               // three frames
		{id, wire.SignHMAC(p.sessionKey, []byte("{")), []byte("{")},                                       // not JSON
		{id, wire.SignHMAC(p.sessionKey, run(time.Now().Add(time.Hour))), run(time.Now().Add(time.Hour))}, // from the future
		{id, []byte("Version:2.0;SigningMethod:md5;Signature:AAAA"), good},                                // unknown method
	}
	for _, parts := range bad {
		args := make([]any, len(parts))
		for i, b := range parts {
			args[i] = b
		}
		if _, err := p.router.SendMessage(args...); err != nil {
			t.Fatal(err)
		}
	}
	// a message from the past is accepted (the client only refuses the future)
	old := run(time.Now().Add(-time.Hour))
	p.router.SendMessage(id, wire.SignHMAC(p.sessionKey, old), old)
	if m := p.expect("nack_run", 2*time.Second); m.msg.JobID != "J9" {
		t.Fatal(m.msg)
	}
	if types := p.quiet(200 * time.Millisecond); slices.Contains(types, "nack_run") {
		t.Fatalf("an invalid message was answered: %v", types)
	}
	if got := f.Stats().Rejected - before; got != int64(len(bad)) {
		t.Fatalf("rejected %d, want %d", got, len(bad))
	}
}

func TestServerOfflineThenFullReconfigure(t *testing.T) {
	p := newPeer(t, 50*time.Millisecond)
	f := p.fleet(FleetConfig{Names: []string{"DONKEY"}})
	n := f.Node("DONKEY")
	connect(t, p, f)
	// no server heartbeats: after more than offline_threshold (3) intervals the node considers
	// the server offline, stops heartbeating and reopens its sockets
	waitFor(t, 2*time.Second, "offline", func() bool { return n.Status().State == StateOffline })
	// Counted where the node sends: what the peer reads may still bring heartbeats sent before
	// the node went offline (a loaded machine delays them).
	sent := f.Stats().Sent["heartbeat"]
	p.quiet(500 * time.Millisecond)
	if got := f.Stats().Sent["heartbeat"] - sent; got != 0 {
		t.Fatalf("%d heartbeats sent while offline", got)
	}
	if st := f.Stats(); st.ServerOffline != 1 || st.Connects != 2 {
		t.Fatalf("stats %+v", st)
	}
	// server heartbeats again, but nothing on the command channel: after more than 3 receive
	// iterations the node gives up on the channel and does a full reconfigure
	for i := 0; i < 40 && p.configs.Load() < 2; i++ {
		p.heartbeat()
		time.Sleep(30 * time.Millisecond)
	}
	waitFor(t, 2*time.Second, "second config request", func() bool { return p.configs.Load() == 2 })
	// online again at once, new sockets: the first heartbeat on them has sequence 1 (one sent
	// on the old sockets may still be on its way)
	for m := p.expect("heartbeat", 2*time.Second); m.msg.Sequence != 1; m = p.expect("heartbeat", 2*time.Second) {
		t.Logf("heartbeat with sequence %d: sent on the old sockets, or a wrong sequence (then no sequence 1 comes)", m.msg.Sequence)
	}
	if st := f.Stats(); st.SilentChannels < 1 || st.Reconfigures != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestServerOnlineThreshold(t *testing.T) {
	p := newPeer(t, 50*time.Millisecond)
	// a long grace keeps the silent-channel rule out of the way
	f := p.fleet(FleetConfig{Names: []string{"DONKEY"}, CommandGrace: time.Minute})
	n := f.Node("DONKEY")
	connect(t, p, f)
	waitFor(t, 2*time.Second, "offline", func() bool { return n.Status().State == StateOffline })
	// Counted where the node sends: what the peer reads may still bring heartbeats sent before
	// the node went offline (a loaded machine delays them).
	st := f.Stats()
	sent, base := st.Sent["heartbeat"], st.Received["heartbeat"]
	received := func() int64 { return f.Stats().Received["heartbeat"] - base }
	// online again only after more than online_threshold (2) server heartbeats: the 4th. A
	// server heartbeat published before the node's new SUB socket is connected is lost (as for
	// the real client), so one is published again when the last did not arrive in 200 ms.
	for received() < 4 {
		before := received()
		p.heartbeat()
		for end := time.Now().Add(200 * time.Millisecond); received() == before && time.Now().Before(end); {
			p.quiet(10 * time.Millisecond)
		}
		p.quiet(100 * time.Millisecond) // time for a heartbeat that must not go out
		if n := received(); n < 4 {
			if d := f.Stats().Sent["heartbeat"] - sent; d != 0 {
				t.Fatalf("%d heartbeats sent after %d server heartbeats", d, n)
			}
		}
	}
	waitFor(t, time.Second, "a heartbeat after the 4th server heartbeat", func() bool { return f.Stats().Sent["heartbeat"] > sent })
	if n.Status().State == StateOffline {
		t.Fatal("still offline")
	}
}

func TestServerRestartReconfiguresAfterSplay(t *testing.T) {
	p := newPeer(t, 50*time.Millisecond)
	f := p.fleet(FleetConfig{Names: []string{"DONKEY"}})
	connect(t, p, f)
	p.heartbeat()
	p.heartbeat()
	p.quiet(100 * time.Millisecond)
	if p.configs.Load() != 1 {
		t.Fatal("reconfigured without a restart")
	}
	p.setIncarnation("11111111-2222-4333-8444-555555555555")
	start := time.Now()
	p.heartbeat()
	waitFor(t, 2*time.Second, "config request after the restart", func() bool { return p.configs.Load() == 2 })
	if d := time.Since(start); d > time.Second {
		t.Fatalf("reconfigured %s later, splay is under one interval", d)
	}
	waitFor(t, time.Second, "new sockets", func() bool { return f.Stats().Connects == 2 })
	if s := f.Node("DONKEY").Status().Server; s != "11111111-2222-4333-8444-555555555555" {
		t.Fatalf("server incarnation %s", s)
	}
}

func TestLifetimeReconfigures(t *testing.T) {
	p := newPeer(t, 50*time.Millisecond)
	p.lifetime = 1
	f := p.fleet(FleetConfig{Names: []string{"DONKEY"}})
	waitFor(t, 2*time.Second, "the first config", func() bool { return p.configs.Load() >= 1 })
	inc := f.Node("DONKEY").Status().Incarnation
	waitFor(t, 3*time.Second, "two reconfigures", func() bool { return p.configs.Load() >= 3 })
	if got := f.Node("DONKEY").Status().Incarnation; got != inc || inc == "" {
		t.Fatalf("incarnation changed on reconfigure: %s → %s", inc, got)
	}
}

func TestSendQueueFullAtHighWaterMark(t *testing.T) {
	p := newPeer(t, 20*time.Millisecond)
	p.router.Unbind(p.endpoint(p.router)) // nobody reads the command channel
	// no outbox: a refused message is lost, as with the real client
	f := p.fleet(FleetConfig{Names: []string{"DONKEY"}, CommandGrace: time.Minute, SendBacklog: -1})
	for i := 0; i < 3; i++ {
		p.heartbeat()
	}
	waitFor(t, 3*time.Second, "a full send queue", func() bool { return f.Stats().SendLost > 0 })
	if st := f.Stats(); st.Sent["heartbeat"] > 3 || st.SendLost == 0 {
		t.Fatalf("%d heartbeats queued with SNDHWM 3", st.Sent["heartbeat"])
	}
}

func TestOutboxKeepsJobMessagesAndOneHeartbeat(t *testing.T) {
	p := newPeer(t, 100*time.Millisecond)
	p.router.Unbind(p.endpoint(p.router)) // the command channel never drains
	f := p.fleet(FleetConfig{Names: []string{"DONKEY"}, CommandGrace: time.Minute})
	n := f.Node("DONKEY")
	deadline := time.Now().Add(5 * time.Second)
	for f.Stats().SendFull < 3 { // three heartbeats fill SNDHWM 3, the next ones are refused
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v", f.Stats())
		}
		p.heartbeat() // keeps the node online
		time.Sleep(50 * time.Millisecond)
	}
	type box struct{ heartbeats, others int }
	got := make(chan box, 1)
	n.Do(func(bn behaviour.Node) {
		bn.Send(behaviour.Message{Type: "ack_commit", JobID: "J1"})
		bn.Send(behaviour.Message{Type: "nack_run", JobID: "J2"})
		var b box
		for _, o := range n.outbox {
			if o.typ == "heartbeat" {
				b.heartbeats++
			} else {
				b.others++
			}
		}
		got <- b
	})
	if b := <-got; b.heartbeats != 1 || b.others != 2 {
		t.Fatalf("outbox holds %d heartbeats and %d other messages", b.heartbeats, b.others)
	}
	if st := f.Stats(); st.SendLost != 0 {
		t.Fatalf("lost %d", st.SendLost)
	}
}
