package fakenodes

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/pushlab/pushlab/fakenodes/behaviour"
	"github.com/pushlab/pushlab/internal/wire"
)

// Sockets (the real client's ProtocolHandler).

// openSockets connects the SUB to out_addr and the CURVE DEALER to command_addr, as the real
// client does, and starts counting receive-loop iterations until a command message arrives.
func (n *Node) openSockets() error {
	if n.disconnected || n.frozen {
		return nil
	}
	cfg := n.cfg
	ctx := n.f.zctx
	sub, err := ctx.NewSocket(zmq.SUB)
	if err != nil {
		return err
	}
	if err := sub.Connect(n.f.endpoint(cfg.OutAddr, n.index)); err != nil {
		sub.Close()
		return err
	}
	if err := sub.SetSubscribe(""); err != nil {
		sub.Close()
		return err
	}
	dealer, err := ctx.NewSocket(zmq.DEALER)
	if err != nil {
		sub.Close()
		return err
	}
	for _, set := range []func() error{
		func() error { return dealer.SetLinger(0) },
		func() error { return dealer.SetRcvhwm(0) },
		func() error { return dealer.SetSndhwm(3) },
	} {
		if err := set(); err != nil {
			sub.Close()
			dealer.Close()
			return err
		}
	}
	if cfg.CurvePublicKey != "" {
		for _, set := range []func() error{
			func() error { return dealer.SetCurveServerkey(cfg.CurvePublicKey) },
			func() error { return dealer.SetCurvePublickey(n.curvePub) },
			func() error { return dealer.SetCurveSecretkey(n.curveSec) },
		} {
			if err := set(); err != nil {
				sub.Close()
				dealer.Close()
				return err
			}
		}
	}
	if err := dealer.Connect(n.f.endpoint(cfg.CommandAddr, n.index)); err != nil {
		sub.Close()
		dealer.Close()
		return err
	}
	n.sub, n.dealer = sub, dealer
	if n.subTok, n.subFd, err = n.l.register(n, sub); err == nil {
		n.dealerTok, n.dealerFd, err = n.l.register(n, dealer)
	}
	if err != nil {
		n.closeSockets()
		return err
	}
	n.f.stats.connects.Add(1)
	n.seq = 0
	n.gotCommand = false
	n.deaf = false
	n.silentIters = 0
	n.connectedAt = time.Now()
	if cfg.CurvePublicKey != "" || !n.f.cfg.AllowUnencrypted {
		n.l.schedule(&n.wdTimer, n.watchdogPeriod())
	}
	n.updateConnState()
	n.l.markPending(n, pendingBoth)
	return nil
}

func (n *Node) closeSockets() { n.closeSocketsLinger(0) }

// closeSocketsLinger closes the sockets; a DEALER linger lets messages already sent leave, as
// they would from a process killed right after sending (the kernel still has them).
func (n *Node) closeSocketsLinger(linger time.Duration) {
	n.l.cancel(&n.wdTimer)
	if n.sub != nil {
		n.l.unregister(n.subFd)
		n.sub.Close()
		n.sub, n.subFd, n.subTok = nil, -1, 0
	}
	n.outbox = nil
	if n.dealer != nil {
		n.l.unregister(n.dealerFd)
		if linger > 0 {
			_ = n.dealer.SetLinger(linger)
		}
		n.dealer.Close()
		n.dealer, n.dealerFd, n.dealerTok = nil, -1, 0
	}
}

// watchdogPeriod is the receive loop's poll timeout (1 s), or the fleet's grace period.
func (n *Node) watchdogPeriod() time.Duration {
	if g := n.f.cfg.CommandGrace; g > 0 {
		return g
	}
	return time.Second
}

// watchdogTick: one receive-loop iteration without a command message. The real client gives up
// after more than 3 iterations ("No messages being received on command port ... Possible
// encryption problem?") and reconfigures; its receive loop then ends.
func (n *Node) watchdogTick() {
	if n.gotCommand || n.dealer == nil {
		return
	}
	if n.f.cfg.CommandGrace > 0 {
		n.silentIters = 4
	} else {
		n.silentIters++
	}
	if n.silentIters > 3 {
		n.noCommandChannel()
		return
	}
	n.l.schedule(&n.wdTimer, time.Second)
}

func (n *Node) noCommandChannel() {
	n.f.stats.silentChannels.Add(1)
	n.f.emit(Event{Node: n.name, Kind: EventState, Type: "no_command_messages"})
	n.deaf = true
	n.l.cancel(&n.wdTimer)
	n.triggerReconfigure()
}

// readable handles a readiness edge of one of the node's sockets.
func (n *Node) readable(tok int32) {
	switch {
	case tok == n.dealerTok && n.dealer != nil:
		if len(n.outbox) > 0 {
			n.flush()
		}
		n.drain(n.dealer, false)
	case tok == n.subTok && n.sub != nil:
		n.drain(n.sub, true)
	}
}

// drain reads a socket while ZMQ_EVENTS says it has input. A frozen or deaf node leaves its
// input queued, as a stopped process would.
func (n *Node) drain(s *zmq.Socket, fromSub bool) {
	if n.frozen || n.deaf {
		return
	}
	life := n.life
	for i := 0; ; i++ {
		ev, err := s.GetEvents()
		if err != nil || ev&zmq.POLLIN == 0 {
			return
		}
		if i == maxDrain {
			if fromSub {
				n.l.markPending(n, pendingSub)
			} else {
				n.l.markPending(n, pendingDealer)
			}
			return
		}
		parts, err := s.RecvMessageBytes(zmq.DONTWAIT)
		if err != nil {
			return
		}
		n.receive(parts, fromSub)
		// the handler may have closed or replaced the socket, or ended the process
		if life != n.life || n.frozen || n.deaf || (fromSub && n.sub != s) || (!fromSub && n.dealer != s) {
			return
		}
	}
}

// receive handles one message as the real client's receive thread and handle_message do.
func (n *Node) receive(parts [][]byte, fromSub bool) {
	if len(parts) != 2 {
		n.reject("frames", nil)
		return
	}
	header, body := parts[0], parts[1]
	if !fromSub {
		if !n.gotCommand {
			n.f.stats.answered(time.Since(n.connectedAt))
		}
		n.gotCommand = true
		n.l.cancel(&n.wdTimer)
	} else if !n.gotCommand && n.f.cfg.CommandGrace <= 0 {
		n.silentIters++ // a message ends a receive-loop iteration early
		if n.silentIters > 3 && (n.cfg.CurvePublicKey != "" || !n.f.cfg.AllowUnencrypted) {
			n.noCommandChannel()
			return
		}
	}
	method, sig, ok := rubyHeader(header)
	if !ok {
		n.reject("no signature", body)
		return
	}
	var msg *inbound
	switch method {
	case wire.RSA2048SHA1:
		v := n.f.verifier.verify(n.cfg.publicKeyID, n.cfg.PublicKey, header, body, sig, &n.l.scratch)
		if !v.ok {
			n.reject("bad rsa2048_sha1 signature", body)
			return
		}
		msg = v.msg
	case wire.HMACSHA256:
		if !hmacValid(n.sessionMAC(), body, sig) {
			n.reject("bad hmac_sha256 signature", body)
			return
		}
		msg, _ = parseInbound(body)
	default:
		n.reject("unknown signing method", body)
		return
	}
	if msg == nil {
		n.reject("invalid JSON", body)
		return
	}
	if msg.tsErr != "" {
		n.reject(msg.tsErr, body)
		return
	}
	if msg.ts.Sub(n.now()) > n.cfg.MaxMessageSkew {
		n.reject("timestamp too far in the future", body)
		return
	}
	n.f.stats.countReceived(msg.typ)
	if msg.typ != wire.TypeHeartbeat || n.f.cfg.HeartbeatEvents {
		n.f.emit(Event{Node: n.name, Kind: EventReceived, Type: msg.typ, JobID: str(msg.JobID), Body: body})
	}
	n.updateConnState()
	switch msg.typ {
	case wire.TypeHeartbeat:
		n.serverHeartbeat(str(msg.IncarnationID))
	case wire.TypeCommit:
		switch {
		case !truthy(msg.JobID):
			n.sendCommand(wire.TypeNackCommit, "")
		case !truthy(msg.Command):
			n.sendCommand(wire.TypeNackCommit, "") // the real client sends the (missing) command as job id
		default:
			c := &behaviour.Commit{JobID: str(msg.JobID), Command: str(msg.Command), Capture: truthy(msg.Capture)}
			if truthy(msg.User) {
				c.User = str(msg.User)
			}
			if truthy(msg.Dir) {
				c.Dir = str(msg.Dir)
			}
			if truthy(msg.File) {
				c.File = str(msg.File)
			}
			if env, ok := msg.Env.(map[string]any); ok {
				c.Env = make(map[string]string, len(env))
				for k, v := range env {
					c.Env[k] = str(v)
				}
			}
			n.f.stats.commits.Add(1)
			n.commit(c)
		}
	case wire.TypeRun:
		if !truthy(msg.JobID) {
			n.sendCommand(wire.TypeNackRun, "")
			return
		}
		n.run(str(msg.JobID))
	case wire.TypeAbort:
		n.abort()
	case wire.TypeAck:
	}
}

func (n *Node) reject(why string, body []byte) {
	n.f.stats.rejected.Add(1)
	n.f.emit(Event{Node: n.name, Kind: EventRejected, Type: why, Body: body})
}

// Sending.

// sendCommand sends a message of the job protocol with no output.
func (n *Node) sendCommand(typ, jobID string) {
	n.send(behaviour.Message{Type: typ, JobID: jobID})
}

// send signs and sends one message, as send_signed_json_command does: the socket's sequence
// counts every attempt; output over the client's max body size is dropped; a message still too
// large is not sent.
func (n *Node) send(m behaviour.Message) {
	if !n.alive || n.frozen {
		return
	}
	for _, h := range n.hooks.send {
		if !h.FilterSend((*inLoop)(n), &m) {
			return
		}
	}
	if n.dealer == nil {
		n.f.stats.dropped.Add(1)
		return
	}
	n.seq++
	ts := wire.FormatTime(n.now().Add(m.TimeOffset))
	var body []byte
	if m.Body != nil {
		body = m.Body
	} else {
		var ok, dropped bool
		body, dropped, ok = encodeBody(n.l.body[:0], &n.id, &m, n.seq, ts, n.f.cfg.MaxBodySize)
		n.l.body = body[:0]
		if dropped {
			n.f.stats.outputDropped.Add(1)
		}
		if !ok {
			n.f.stats.oversize.Add(1)
			n.f.emit(Event{Node: n.name, Kind: EventRejected, Type: "oversize", JobID: m.JobID, Detail: "message larger than the max body size, not sent"})
			return
		}
	}
	mac := n.sessionMAC()
	if m.BadSignature {
		mac = hmac.New(sha256.New, badKey(n.cfg.SessionKey))
	}
	header := n.l.scratch[:0]
	header = append(header, "Version:2.0;SigningMethod:hmac_sha256;Signature:"...)
	mac.Write(body)
	var sum [sha256.Size]byte
	header = base64.StdEncoding.AppendEncode(header, mac.Sum(sum[:0]))
	n.l.scratch = header[:0]
	out := outgoing{typ: m.Type, jobID: m.JobID, header: header, body: body}
	if len(n.outbox) > 0 { // keep the order
		n.queue(out)
		return
	}
	switch err := n.transmit(&out); {
	case err == nil:
	case isEAGAIN(err):
		n.queue(out)
	default:
		n.f.stats.sendErrors.Add(1)
		n.f.emit(Event{Node: n.name, Kind: EventState, Type: "send_failed", Detail: err.Error()})
		n.updateReconfigureDeadline(60 * time.Second)
	}
}

// sessionMAC is HMAC-SHA256 under the session key of the node's config, reset for a new
// message (keyed once per config, not per message).
func (n *Node) sessionMAC() hash.Hash {
	if n.macCfg != n.cfg {
		n.mac, n.macCfg = hmac.New(sha256.New, n.cfg.SessionKey), n.cfg
	}
	n.mac.Reset()
	return n.mac
}

// outgoing is a signed message on its way out.
type outgoing struct {
	typ, jobID   string
	header, body []byte
}

// transmit hands one message to the DEALER without waiting.
func (n *Node) transmit(o *outgoing) error {
	if _, err := n.dealer.SendBytes(o.header, zmq.SNDMORE|zmq.DONTWAIT); err != nil {
		return err
	}
	if _, err := n.dealer.SendBytes(o.body, zmq.DONTWAIT); err != nil {
		return err // a first frame taken means the second is too: same pipe, same moment
	}
	n.f.stats.countSent(o.typ)
	if o.typ != wire.TypeHeartbeat || n.f.cfg.HeartbeatEvents {
		n.f.emit(Event{Node: n.name, Kind: EventSent, Type: o.typ, JobID: o.jobID, Body: o.body})
	}
	n.l.markPending(n, pendingDealer) // the send may have consumed the DEALER's readiness edge
	return nil
}

func isEAGAIN(err error) bool { return zmq.AsErrno(err) == zmq.Errno(syscall.EAGAIN) }

// queue handles a send refused at the high-water mark (SNDHWM 3). Every node of a fleet shares
// the process's libzmq I/O threads, so a full queue usually means the fleet is behind, not the
// server: the message waits in a short outbox (SendBacklog) and the refusal is counted as a
// sign of a busy fleet. At most one heartbeat waits (a later one is dropped), so a server that
// comes back is not flooded with old heartbeats, which is what SNDHWM 3 is for. Past the
// outbox, or with no outbox, the node does what the real client does: the message is lost and
// the reconfigure deadline moves to 60 s.
func (n *Node) queue(o outgoing) {
	n.f.stats.sendFull.Add(1)
	if o.typ == wire.TypeHeartbeat {
		for i := range n.outbox {
			if n.outbox[i].typ == wire.TypeHeartbeat {
				return
			}
		}
	}
	if len(n.outbox) >= n.f.cfg.SendBacklog {
		n.f.stats.sendLost.Add(1)
		n.f.emit(Event{Node: n.name, Kind: EventState, Type: "send_failed", JobID: o.jobID, Detail: "send queue full: " + o.typ + " lost"})
		n.updateReconfigureDeadline(60 * time.Second)
		return
	}
	o.header = append([]byte(nil), o.header...)
	o.body = append([]byte(nil), o.body...)
	n.outbox = append(n.outbox, o)
	n.l.markBlocked(n)
}

// flush sends what waits in the outbox while the DEALER takes it; true when empty.
func (n *Node) flush() bool {
	for len(n.outbox) > 0 {
		if n.dealer == nil || !n.alive {
			n.outbox = nil
			return true
		}
		if err := n.transmit(&n.outbox[0]); err != nil {
			if isEAGAIN(err) {
				return false
			}
			n.f.stats.sendErrors.Add(1)
		}
		n.outbox[0] = outgoing{}
		n.outbox = n.outbox[1:]
	}
	n.outbox = nil
	return true
}

// Heartbeater.

// startHeartbeater is the real client's Heartbeater#start: the server is believed online (the
// config just came from it), counters reset, and the first heartbeat goes out at once.
func (n *Node) startHeartbeater() {
	n.serverInc = n.cfg.IncarnationID
	n.offlineCounter, n.onlineCounter = 0, 0
	n.online = true
	n.updateConnState()
	n.l.schedule(&n.hbTimer, 0)
}

// heartbeatTick is one turn of the heartbeat thread: more than offline_threshold intervals without
// a server heartbeat makes the server offline (heartbeats stop, sockets are reopened);
// otherwise a heartbeat goes out while the server is online.
func (n *Node) heartbeatTick() {
	if !n.alive || n.cfg == nil {
		return
	}
	if n.online {
		if n.offlineCounter > n.cfg.OfflineThreshold {
			n.online = false
			n.onlineCounter = 0
			n.f.stats.serverOffline.Add(1)
			n.f.emit(Event{Node: n.name, Kind: EventState, Type: "server_offline"})
			n.reconnect() // ProtocolHandler: close and reopen the sockets, same config
			n.updateConnState()
		} else {
			n.offlineCounter++
		}
	}
	if n.online && !n.disconnected {
		n.send(behaviour.Message{Type: wire.TypeHeartbeat, JobID: n.jobID, JobState: n.jobState})
	}
	n.l.schedule(&n.hbTimer, n.cfg.Interval)
}

// serverHeartbeat is Heartbeater#heartbeat_received.
func (n *Node) serverHeartbeat(inc string) {
	if inc != n.serverInc {
		if n.serverInc == "" {
			n.serverInc = inc
		} else {
			n.serverInc = inc
			splay := time.Duration(n.rng.Float64() * float64(n.cfg.Interval))
			n.f.emit(Event{Node: n.name, Kind: EventState, Type: "server_restart", Detail: inc})
			n.after(splay, n.triggerReconfigure)
		}
		n.mu.Lock()
		n.status.Server = inc
		n.mu.Unlock()
	}
	n.offlineCounter = 0
	if !n.online && n.onlineCounter > n.cfg.OnlineThreshold {
		n.online = true
		n.f.emit(Event{Node: n.name, Kind: EventState, Type: "server_online"})
		n.updateConnState()
	} else {
		n.onlineCounter++
	}
}

func (n *Node) noteLag(lag time.Duration) {
	n.f.stats.ticks.Add(1)
	if n.cfg != nil && lag > n.cfg.Interval/10 {
		n.f.stats.lateTicks.Add(1)
		if lag >= n.cfg.Interval {
			n.f.stats.missedTicks.Add(1)
		}
	}
}

// Periodic reconfigurer.

func (n *Node) startReconfigurer() {
	n.updateReconfigureDeadline(n.cfg.Lifetime)
}

// updateReconfigureDeadline sets the deadline delay × (1 − up to 10 %) from now.
func (n *Node) updateReconfigureDeadline(delay time.Duration) {
	if delay <= 0 {
		return
	}
	d := time.Duration(float64(delay) * (1 - n.rng.Float64()*0.10))
	n.rcDeadline = time.Now().Add(d)
	n.l.schedule(&n.rcTimer, d)
}

func (n *Node) reconfigureDue() {
	if !n.alive || n.cfg == nil {
		return
	}
	n.triggerReconfigure()
	n.updateReconfigureDeadline(n.cfg.Lifetime)
}

// badKey is a wrong HMAC key derived from the right one.
func badKey(k []byte) []byte {
	b := make([]byte, len(k))
	for i := range k {
		b[i] = k[i] ^ 0x5a
	}
	if len(b) == 0 {
		b = []byte("bad")
	}
	return b
}
