package fakenodes

import (
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushlab/pushlab/internal/wire"
)

// EventKind says what an Event is about.
type EventKind string

// Event kinds.
const (
	EventSent      EventKind = "sent"      // a message went to the server (Type is the message type)
	EventReceived  EventKind = "received"  // a valid message came from the server
	EventRejected  EventKind = "rejected"  // a message from the server was dropped (Type says why), or one of ours was too large to send
	EventState     EventKind = "state"     // the node's life: Type is a State or what happened
	EventJob       EventKind = "job"       // the job runner changed state (Type is the job state)
	EventBehaviour EventKind = "behaviour" // a behaviour acted (Type is its name)
)

// Event is one thing that happened to a node, for histories and logs. Body is the message body
// for sent, received and rejected messages (a copy the callee may keep).
type Event struct {
	Time   time.Time
	Node   string
	Kind   EventKind
	Type   string
	JobID  string
	Detail string
	Body   []byte
}

func (f *Fleet) emit(e Event) {
	if f.cfg.OnEvent == nil {
		return
	}
	e.Time = time.Now()
	if e.Body != nil {
		e.Body = append([]byte(nil), e.Body...)
	}
	f.cfg.OnEvent(e)
}

func (f *Fleet) fired(node, what string) {
	f.stats.fire(what)
	f.emit(Event{Node: node, Kind: EventBehaviour, Type: what})
}

// messageTypes are the message types counted one by one; others count as "other".
var messageTypes = []string{
	wire.TypeHeartbeat, wire.TypeAbort, wire.TypeAck, wire.TypeCommit, wire.TypeRun,
	wire.TypeAckCommit, wire.TypeNackCommit, wire.TypeAckRun, wire.TypeNackRun,
	wire.TypeSucceeded, wire.TypeFailed, wire.TypeAborted, "other",
}

func typeIndex(t string) int {
	for i, x := range messageTypes[:len(messageTypes)-1] {
		if x == t {
			return i
		}
	}
	return len(messageTypes) - 1
}

type counters struct {
	sent, received [13]atomic.Int64

	rejected, dropped, sendFull, sendLost, sendErrors, oversize atomic.Int64
	outputDropped                                               atomic.Int64
	configFetches, configErrors, reconfigures, connects         atomic.Int64
	crashes, restarts, commits, serverOffline, silentChannels   atomic.Int64
	ticks, lateTicks, missedTicks                               atomic.Int64
	answerWait                                                  [6]atomic.Int64
	answerMax                                                   atomic.Int64

	firedMu sync.Mutex
	firedBy map[string]int64
}

// AnswerBuckets are the upper bounds of Stats.AnswerWait (which has one more bucket, for longer
// waits).
var AnswerBuckets = [5]time.Duration{100 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second}

// answered counts how long a new command channel waited for the server's first message.
func (c *counters) answered(d time.Duration) {
	i := 0
	for i < len(AnswerBuckets) && d > AnswerBuckets[i] {
		i++
	}
	c.answerWait[i].Add(1)
	for {
		m := c.answerMax.Load()
		if int64(d) <= m || c.answerMax.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

func (c *counters) countSent(t string)     { c.sent[typeIndex(t)].Add(1) }
func (c *counters) countReceived(t string) { c.received[typeIndex(t)].Add(1) }

func (c *counters) fire(what string) {
	c.firedMu.Lock()
	if c.firedBy == nil {
		c.firedBy = map[string]int64{}
	}
	c.firedBy[what]++
	c.firedMu.Unlock()
}

// Stats is a snapshot of a fleet's counters. Counts are totals since the fleet was made.
type Stats struct {
	Nodes    int
	ByState  map[State]int
	Sent     map[string]int64 // by message type
	Received map[string]int64 // valid messages from the server, by type
	Rejected int64            // messages from the server dropped (frames, signature, JSON, timestamp)
	Fired    map[string]int64 // behaviour actions, by behaviour

	Dropped       int64 // messages not sent: the node had no socket
	SendFull      int64 // sends refused at the send high-water mark (SNDHWM 3), then retried
	SendLost      int64 // messages lost to a full send queue, as the real client loses them
	SendErrors    int64 // other send errors
	Oversize      int64 // messages too large to send
	OutputDropped int64 // results sent without their output (over the client's max body size)

	ConfigFetches  int64
	ConfigErrors   int64
	Reconfigures   int64
	Connects       int64 // socket pairs opened
	Crashes        int64
	Restarts       int64
	Commits        int64 // commit messages received
	ServerOffline  int64 // times a node considered the server offline
	SilentChannels int64 // times a node got nothing on its command channel and gave up on it
	// AnswerWait counts new command channels by how long they waited for the server's first
	// message (abort or ack), in the buckets of AnswerBuckets and one more for longer waits;
	// AnswerWaitMax is the longest wait. The real client gives up after about 4 s.
	AnswerWait    [6]int64
	AnswerWaitMax time.Duration

	HeartbeatVerifications int64 // RSA verifications of server heartbeats (one per distinct message)

	HeartbeatTicks int64         // heartbeat timer turns
	LateTicks      int64         // turns later than a tenth of the interval
	MissedTicks    int64         // turns a whole interval late or more: a heartbeat the server had no chance to see in time
	MaxLag         time.Duration // worst heartbeat timer lateness
}

// Online is the number of nodes in StateOnline.
func (s Stats) Online() int { return s.ByState[StateOnline] }

// Stats returns the fleet's counters.
func (f *Fleet) Stats() Stats {
	c := &f.stats
	s := Stats{
		Nodes:    len(f.nodes),
		ByState:  map[State]int{},
		Sent:     map[string]int64{},
		Received: map[string]int64{},
		Fired:    map[string]int64{},
		Rejected: c.rejected.Load(), Dropped: c.dropped.Load(), SendFull: c.sendFull.Load(), SendLost: c.sendLost.Load(),
		SendErrors: c.sendErrors.Load(), Oversize: c.oversize.Load(), OutputDropped: c.outputDropped.Load(),
		ConfigFetches: c.configFetches.Load(), ConfigErrors: c.configErrors.Load(),
		Reconfigures: c.reconfigures.Load(), Connects: c.connects.Load(), Crashes: c.crashes.Load(),
		Restarts: c.restarts.Load(), Commits: c.commits.Load(), ServerOffline: c.serverOffline.Load(),
		SilentChannels:         c.silentChannels.Load(),
		HeartbeatVerifications: f.verifier.count.Load(),
		HeartbeatTicks:         c.ticks.Load(), LateTicks: c.lateTicks.Load(), MissedTicks: c.missedTicks.Load(),
		AnswerWaitMax: time.Duration(c.answerMax.Load()),
	}
	for i := range c.answerWait {
		s.AnswerWait[i] = c.answerWait[i].Load()
	}
	for i, st := range States {
		if v := f.stateCounts[i].Load(); v != 0 {
			s.ByState[st] = int(v)
		}
	}
	for i, t := range messageTypes {
		if v := c.sent[i].Load(); v != 0 {
			s.Sent[t] = v
		}
		if v := c.received[i].Load(); v != 0 {
			s.Received[t] = v
		}
	}
	c.firedMu.Lock()
	for k, v := range c.firedBy {
		s.Fired[k] = v
	}
	c.firedMu.Unlock()
	for _, l := range f.loops {
		if lag := time.Duration(l.maxLag.Load()); lag > s.MaxLag {
			s.MaxLag = lag
		}
	}
	return s
}

// Add sums two snapshots (fleets of several processes).
func (s Stats) Add(o Stats) Stats {
	out := s
	out.Nodes += o.Nodes
	out.ByState = sumMap(s.ByState, o.ByState)
	out.Sent = sumMap(s.Sent, o.Sent)
	out.Received = sumMap(s.Received, o.Received)
	out.Fired = sumMap(s.Fired, o.Fired)
	out.Rejected += o.Rejected
	out.Dropped += o.Dropped
	out.SendFull += o.SendFull
	out.SendLost += o.SendLost
	out.SendErrors += o.SendErrors
	out.Oversize += o.Oversize
	out.OutputDropped += o.OutputDropped
	out.ConfigFetches += o.ConfigFetches
	out.ConfigErrors += o.ConfigErrors
	out.Reconfigures += o.Reconfigures
	out.Connects += o.Connects
	out.Crashes += o.Crashes
	out.Restarts += o.Restarts
	out.Commits += o.Commits
	out.ServerOffline += o.ServerOffline
	out.SilentChannels += o.SilentChannels
	out.HeartbeatVerifications += o.HeartbeatVerifications
	out.HeartbeatTicks += o.HeartbeatTicks
	out.LateTicks += o.LateTicks
	out.MissedTicks += o.MissedTicks
	out.MaxLag = max(s.MaxLag, o.MaxLag)
	for i := range out.AnswerWait {
		out.AnswerWait[i] += o.AnswerWait[i]
	}
	out.AnswerWaitMax = max(s.AnswerWaitMax, o.AnswerWaitMax)
	return out
}

func sumMap[K comparable, V int | int64](a, b map[K]V) map[K]V {
	out := make(map[K]V, len(a)+len(b))
	for k, v := range a {
		out[k] += v
	}
	for k, v := range b {
		out[k] += v
	}
	return out
}

// Diagnose compares two snapshots taken elapsed apart and says when the fleet itself, not the
// server, is the bottleneck (each warning is "kind: details"): heartbeat timers running late, send queues at the high-water mark,
// or the process using more than 80 % of the CPUs (cpuSeconds is the process CPU time used
// between the snapshots, 0 to skip that check).
func Diagnose(prev, cur Stats, elapsed time.Duration, cpuSeconds float64, cpus int) []string {
	var out []string
	ticks := cur.HeartbeatTicks - prev.HeartbeatTicks
	late := cur.LateTicks - prev.LateTicks
	if ticks > 0 && float64(late)/float64(ticks) > 0.10 {
		out = append(out, "fleet overloaded: "+percent(late, ticks)+" of heartbeats were sent late (more than a tenth of the interval); the simulator, not the server, limits this run")
	}
	sent := sumValues(cur.Sent) - sumValues(prev.Sent)
	if full := cur.SendFull - prev.SendFull; full > 0 && float64(full) > 0.01*float64(sent) {
		out = append(out, "send queues at the high-water mark: "+itoa(full)+" sends refused (SNDHWM 3) for "+itoa(sent)+" sent; the fleet's I/O threads or the server are not keeping up")
	}
	if lost := cur.SendLost - prev.SendLost; lost > 0 {
		out = append(out, "messages lost to full send queues: "+itoa(lost))
	}
	var slow, answered int64
	for i := range cur.AnswerWait {
		n := cur.AnswerWait[i] - prev.AnswerWait[i]
		answered += n
		if i >= 4 { // over 2 s
			slow += n
		}
	}
	if slow > 0 {
		out = append(out, "server slow to answer new connections: "+itoa(slow)+" of "+itoa(answered)+" new command channels waited more than 2 s for the server's first message (the real client gives up after about 4 s)")
	}
	if cpus > 0 && elapsed > 0 && cpuSeconds > 0.8*float64(cpus)*elapsed.Seconds() {
		out = append(out, "fleet CPU above 80 %: "+percent(int64(cpuSeconds*1000), int64(float64(cpus)*elapsed.Seconds()*1000))+" of "+itoa(int64(cpus))+" CPUs; the simulator may be the bottleneck")
	}
	sort.Strings(out)
	return out
}

func sumValues(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func percent(part, whole int64) string {
	return strconv.FormatFloat(100*float64(part)/float64(whole), 'f', 1, 64) + " %"
}
