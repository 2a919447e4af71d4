package broker

import (
	"sync/atomic"

	"github.com/pushlab/pushlab/internal/wire"
)

// DropReason says why an inbound command-channel message was dropped.
type DropReason string

// Reasons an inbound message is dropped, in the order they are checked.
const (
	DropFrames      DropReason = "bad_frames"    // not exactly [identity, header, body]
	DropHeader      DropReason = "bad_header"    // header frame unparsable, too large or of another version
	DropTooBig      DropReason = "too_big"       // body larger than MaxBodySize
	DropJSON        DropReason = "bad_json"      // body not a JSON object with a type and a valid job_id
	DropNoKey       DropReason = "unknown_node"  // no session key for (org, node): config never fetched
	DropSignature   DropReason = "bad_signature" // hmac_sha256 signature wrong (or another method)
	DropSkew        DropReason = "skew"          // timestamp missing, unparsable or MaxSkew or more away
	DropUnknownType DropReason = "unknown_type"  // validly signed, but not one of the eight node types
)

var dropReasons = [...]DropReason{DropFrames, DropHeader, DropTooBig, DropJSON, DropNoKey, DropSignature, DropSkew, DropUnknownType}

const (
	dropFrames = iota
	dropHeader
	dropTooBig
	dropJSON
	dropNoKey
	dropSignature
	dropSkew
	dropUnknownType
)

// SendFailure says why a server→node message was not sent.
type SendFailure string

// Reasons a server→node message is not sent. The first four are errors returned by Send; the
// last two are found by the ROUTER after Send has returned.
const (
	SendClosed      SendFailure = "closed"       // the broker is closed
	SendUnknownNode SendFailure = "unknown_node" // the node never sent a valid message
	SendNoKey       SendFailure = "no_key"       // the node has no session key
	SendQueueFull   SendFailure = "queue_full"   // the outbound queue is full
	SendUnroutable  SendFailure = "unroutable"   // the node's ZeroMQ identity is gone (disconnected)
	SendPeerFull    SendFailure = "peer_full"    // the node's send queue is at its high-water mark
)

var sendFailures = [...]SendFailure{SendClosed, SendUnknownNode, SendNoKey, SendQueueFull, SendUnroutable, SendPeerFull}

const (
	sendClosed = iota
	sendUnknownNode
	sendNoKey
	sendQueueFull
	sendUnroutable
	sendPeerFull
)

// nodeTypeIndex numbers the eight node message types for the received counters.
var nodeTypeIndex = map[string]int{
	wire.TypeHeartbeat: 0, wire.TypeAckCommit: 1, wire.TypeNackCommit: 2, wire.TypeAckRun: 3,
	wire.TypeNackRun: 4, wire.TypeSucceeded: 5, wire.TypeFailed: 6, wire.TypeAborted: 7,
}

var nodeTypes = [...]string{wire.TypeHeartbeat, wire.TypeAckCommit, wire.TypeNackCommit, wire.TypeAckRun,
	wire.TypeNackRun, wire.TypeSucceeded, wire.TypeFailed, wire.TypeAborted}

type counters struct {
	received    [len(nodeTypes)]atomic.Uint64
	dropped     [len(dropReasons)]atomic.Uint64
	unsent      [len(sendFailures)]atomic.Uint64
	sent        atomic.Uint64
	heartbeats  atomic.Uint64
	zapAccepted atomic.Uint64
	zapRejected atomic.Uint64
}

// Stats are the broker's counters since New.
type Stats struct {
	Received    map[string]uint64      // verified messages handed to the Handler, by type (all eight present)
	Dropped     map[DropReason]uint64  // inbound messages dropped, by reason (all present)
	Sent        uint64                 // server→node messages accepted by the ROUTER socket
	Unsent      map[SendFailure]uint64 // server→node messages not sent, by reason (all present)
	Queued      int                    // messages waiting in the outbound queue now
	Heartbeats  uint64                 // PUB heartbeats published
	ZAPAccepted uint64                 // CURVE handshakes admitted
	ZAPRejected uint64                 // CURVE handshakes refused (key not admitted, or admitted too long ago)
}

// TotalReceived is the sum of Received.
func (s Stats) TotalReceived() uint64 {
	var n uint64
	for _, v := range s.Received {
		n += v
	}
	return n
}

// TotalDropped is the sum of Dropped.
func (s Stats) TotalDropped() uint64 {
	var n uint64
	for _, v := range s.Dropped {
		n += v
	}
	return n
}

// Stats returns a snapshot of the counters.
func (b *Broker) Stats() Stats {
	c := &b.stats
	s := Stats{
		Received:    make(map[string]uint64, len(nodeTypes)),
		Dropped:     make(map[DropReason]uint64, len(dropReasons)),
		Unsent:      make(map[SendFailure]uint64, len(sendFailures)),
		Sent:        c.sent.Load(),
		Heartbeats:  c.heartbeats.Load(),
		ZAPAccepted: c.zapAccepted.Load(),
		ZAPRejected: c.zapRejected.Load(),
	}
	for i, t := range nodeTypes {
		s.Received[t] = c.received[i].Load()
	}
	for i, r := range dropReasons {
		s.Dropped[r] = c.dropped[i].Load()
	}
	for i, r := range sendFailures {
		s.Unsent[r] = c.unsent[i].Load()
	}
	b.qmu.Lock()
	s.Queued = len(b.queue)
	b.qmu.Unlock()
	return s
}
