package fakenodes

import (
	"crypto/rsa"
	"errors"
	"hash"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"
	zmq "github.com/pebbe/zmq4"

	"github.com/pushlab/pushlab/fakenodes/behaviour"
)

// State is where a simulated node is in its life.
type State string

// Node states.
const (
	StatePending      State = "pending"      // not started yet
	StateConfiguring  State = "configuring"  // first config request in flight (or waiting to retry)
	StateConnecting   State = "connecting"   // sockets open, no command-channel message yet
	StateOnline       State = "online"       // the server answered on the command channel; server heartbeats flow
	StateOffline      State = "offline"      // the node considers the server offline
	StateFrozen       State = "frozen"       // unavailable: stopped like a paused process
	StateDisconnected State = "disconnected" // unavailable: connections dropped
	StateDown         State = "down"         // the process died (crash, or waiting to restart)
	StateFailed       State = "failed"       // gave up fetching its first config
	StateStopped      State = "stopped"      // the fleet stopped
)

// States lists every state, in life order.
var States = []State{StatePending, StateConfiguring, StateConnecting, StateOnline, StateOffline,
	StateFrozen, StateDisconnected, StateDown, StateFailed, StateStopped}

func stateIndex(s State) int {
	for i, x := range States {
		if x == s {
			return i
		}
	}
	return 0
}

// Status is a snapshot of a node.
type Status struct {
	Name        string
	Index       int
	Group       string
	State       State
	JobState    behaviour.JobState
	JobID       string
	Incarnation string // the node process's incarnation id
	Server      string // the server incarnation the node believes in
	Restarts    int
	LastError   string
}

// Node is one simulated node. Its exported methods are safe from any goroutine: they hand the
// work to the node's event loop.
type Node struct {
	f     *Fleet
	l     *loop
	slot  int32
	index int
	name  string
	group string
	key   *rsa.PrivateKey
	rng   *rand.Rand

	hooks hooks

	// process life
	life        uint32
	alive       bool
	started     bool // Start hooks ran
	incarnation string
	curvePub    string
	curveSec    string
	cfg         *pushyConfig
	firstConfig bool
	configTries int
	fetching    bool
	reconfWait  bool // a reconfigure waits for the job to end
	skew        time.Duration
	restarts    int

	// sockets
	dealer, sub     *zmq.Socket
	dealerTok       int32
	subTok          int32
	dealerFd, subFd int
	queued          uint8 // sockets waiting in the loop's pending list (pendingSub, pendingDealer)
	blocked         bool
	outbox          []outgoing
	seq             int64
	gotCommand      bool
	deaf            bool // the receive loop gave up, waiting for a reconfigure
	silentIters     int
	connectedAt     time.Time // sockets opened, for Stats.AnswerWait
	mac             hash.Hash // HMAC-SHA256 keyed with macCfg's session key
	macCfg          *pushyConfig
	id              identity

	// heartbeater
	online         bool
	offlineCounter int
	onlineCounter  int
	serverInc      string

	// job runner
	jobState behaviour.JobState
	jobID    string
	opts     behaviour.Commit
	runToken uint64

	// unavailability
	frozen       bool
	frozenMissed []*timer
	disconnected bool

	// timers owned by the node
	hbTimer, wdTimer, rcTimer timer
	rcDeadline                time.Time
	fleetTimer                bool // the timer being run is fleet-level

	state  State
	counts map[any]int // behaviour memory

	mu     sync.Mutex
	status Status
}

func newNode(f *Fleet, l *loop, slot int32, index int, name string, key *rsa.PrivateKey, g *behaviour.Group) *Node {
	n := &Node{f: f, l: l, slot: slot, index: index, name: name, key: key,
		rng: behaviour.NodeRand(f.cfg.Seed, index, behaviour.StreamNode), jobState: behaviour.Idle,
		dealerFd: -1, subFd: -1, state: StatePending}
	if g != nil {
		n.group = g.Name
		n.hooks = buildHooks(g.List())
	}
	for _, t := range []*timer{&n.hbTimer, &n.wdTimer, &n.rcTimer} {
		t.n, t.index = n, -1
	}
	n.hbTimer.kind, n.wdTimer.kind, n.rcTimer.kind = timerHeartbeat, timerWatchdog, timerReconfigure
	n.status = Status{Name: name, Index: index, Group: n.group, State: StatePending, JobState: behaviour.Idle}
	return n
}

// Name is the node name (also its Chef client name).
func (n *Node) Name() string { return n.name }

// Index is the node's index in the whole fleet (all shards).
func (n *Node) Index() int { return n.index }

// Group is the behaviour group the node was assigned to ("" for the default).
func (n *Node) Group() string { return n.group }

// Status returns a snapshot of the node.
func (n *Node) Status() Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.status
}

// SetBehaviours replaces the node's behaviours (none: the default runner). Start hooks of the new
// behaviours run at once when the node has already started.
func (n *Node) SetBehaviours(bs ...behaviour.Behaviour) {
	n.l.post(func() {
		n.hooks = buildHooks(bs)
		if n.started {
			n.runStartHooks()
		}
	})
}

// Crash kills the node process: sockets closed without a word, job forgotten.
func (n *Node) Crash() { n.l.post(n.crash) }

// Restart crashes the node and starts it again after down with a new incarnation (a crashed or
// stopped-by-fault node is started again).
func (n *Node) Restart(down time.Duration) { n.l.post(func() { n.restart(down) }) }

// Unavailable makes the node unreachable for d: frozen, or with its connections dropped.
func (n *Node) Unavailable(d time.Duration, disconnect bool) {
	n.l.post(func() { n.unavailable(d, disconnect) })
}

// Reconnect opens new sockets with the same config (a new ZeroMQ identity for the server).
func (n *Node) Reconnect() { n.l.post(n.reconnect) }

// Reconfigure does the real client's full reconfigure (SIGUSR1): new config, new sockets.
func (n *Node) Reconfigure() { n.l.post(n.triggerReconfigure) }

// Do runs fn on the node's event loop with the node as its behaviours see it.
func (n *Node) Do(fn func(behaviour.Node)) { n.l.post(func() { fn((*inLoop)(n)) }) }

// setState moves the node to s and keeps the fleet's counts.
func (n *Node) setState(s State) {
	if n.state == s {
		return
	}
	n.f.stateCounts[stateIndex(n.state)].Add(-1)
	n.f.stateCounts[stateIndex(s)].Add(1)
	old := n.state
	n.state = s
	n.mu.Lock()
	n.status.State = s
	n.mu.Unlock()
	n.f.emit(Event{Node: n.name, Kind: EventState, Type: string(s), Detail: string(old)})
}

func (n *Node) setError(err error) {
	n.mu.Lock()
	n.status.LastError = err.Error()
	n.mu.Unlock()
}

// fire runs one timer of this node.
func (n *Node) fire(t *timer) {
	if t.life != 0 && t.life != n.life {
		return // from an earlier process life
	}
	if n.frozen && !t.fleet {
		n.frozenMissed = append(n.frozenMissed, t)
		return
	}
	switch t.kind {
	case timerHeartbeat:
		n.heartbeatTick()
	case timerWatchdog:
		n.watchdogTick()
	case timerReconfigure:
		n.reconfigureDue()
	default:
		prev := n.fleetTimer
		n.fleetTimer = t.fleet
		t.fn()
		n.fleetTimer = prev
	}
}

// after schedules fn on the node's loop. Timers created by fleet-level code (Start hooks and
// what they schedule) survive crashes; the others die with the process life.
func (n *Node) after(d time.Duration, fn func()) *timer {
	t := &timer{n: n, index: -1, fn: fn, fleet: n.fleetTimer}
	if !t.fleet {
		t.life = n.life
	}
	n.l.schedule(t, d)
	return t
}

// now is the node's clock.
func (n *Node) now() time.Time { return time.Now().Add(n.skew) }

// Life cycle.

// start begins a new node process: a new incarnation and CURVE key pair, then the config.
func (n *Node) start() {
	if n.alive || n.f.stopping.Load() {
		return
	}
	n.life++
	n.alive = true
	n.incarnation = uuid.NewString()
	pub, sec, err := zmq.NewCurveKeypair()
	if err != nil {
		n.fail(err)
		return
	}
	n.curvePub, n.curveSec = pub, sec
	n.cfg = nil
	n.firstConfig = true
	n.configTries = 0
	n.reconfWait = false
	n.jobState, n.jobID = behaviour.Idle, ""
	n.mu.Lock()
	n.status.Incarnation = n.incarnation
	n.status.JobState, n.status.JobID = behaviour.Idle, ""
	n.mu.Unlock()
	n.setState(StateConfiguring)
	n.fetchConfig()
	if !n.started {
		n.started = true
		n.runStartHooks()
	}
}

func (n *Node) runStartHooks() {
	prev := n.fleetTimer
	n.fleetTimer = true
	for _, s := range n.hooks.start {
		s.Start((*inLoop)(n))
	}
	n.fleetTimer = prev
}

func (n *Node) fail(err error) {
	n.f.log.Warn("node failed", "node", n.name, "err", err)
	n.setError(err)
	n.stopProcess()
	n.setState(StateFailed)
}

// fetchConfig asks a config worker for the node's config.
func (n *Node) fetchConfig() {
	if n.fetching {
		return
	}
	n.fetching = true
	life := n.life
	n.f.stats.configFetches.Add(1)
	n.f.fetch(fetchRequest{node: n, ccpk: n.curvePub, done: func(cfg *pushyConfig, err error) {
		n.l.post(func() { n.configDone(life, cfg, err) })
	}})
}

func (n *Node) configDone(life uint32, cfg *pushyConfig, err error) {
	if life != n.life || !n.alive {
		return
	}
	n.fetching = false
	if err == nil && cfg.CurvePublicKey == "" && !n.f.cfg.AllowUnencrypted {
		err = errors.New("no CURVE key returned from server; the server may be using the 1.x protocol")
	}
	if err != nil {
		n.f.stats.configErrors.Add(1)
		n.setError(err)
		n.f.emit(Event{Node: n.name, Kind: EventState, Type: "config_error", Detail: err.Error()})
		if !n.firstConfig {
			n.updateReconfigureDeadline(120 * time.Second)
			return
		}
		n.configTries++
		if n.configTries > n.f.cfg.ConfigRetries {
			n.fail(err)
			return
		}
		n.after(n.f.cfg.ConfigRetryDelay, n.fetchConfig)
		return
	}
	n.cfg = cfg
	n.id = identity{node: n.name, client: n.f.cfg.Hostname(n.name), org: n.f.cfg.Org, incarnation: n.incarnation}
	first := n.firstConfig
	n.firstConfig = false
	n.mu.Lock()
	n.status.Server = cfg.IncarnationID
	n.mu.Unlock()
	if !first {
		n.f.stats.reconfigures.Add(1)
	}
	n.f.emit(Event{Node: n.name, Kind: EventState, Type: "configured", Detail: cfg.IncarnationID})
	// protocol handler, heartbeater, periodic reconfigurer: (re)start, as start and reconfigure do
	n.closeSockets()
	if err := n.openSockets(); err != nil {
		n.fail(err)
		return
	}
	n.startHeartbeater()
	n.startReconfigurer()
}

// triggerReconfigure is the real client's reconfigure: wait while a job is in flight (polling
// every 5 s), then fetch the config and rebuild sockets and timers.
func (n *Node) triggerReconfigure() {
	if !n.alive || n.fetching || n.cfg == nil {
		return
	}
	if n.jobState != behaviour.Idle {
		if !n.reconfWait {
			n.reconfWait = true
			n.after(5*time.Second, func() {
				n.reconfWait = false
				n.triggerReconfigure()
			})
		}
		return
	}
	n.fetchConfig()
}

// stopProcess ends the process life: timers, sockets and job gone.
func (n *Node) stopProcess() { n.endProcess(0) }

// deathLinger is how long messages already sent by a dying node may still take to leave.
const deathLinger = 200 * time.Millisecond

func (n *Node) endProcess(linger time.Duration) {
	n.alive = false
	n.life++
	n.fetching = false
	n.frozen, n.frozenMissed, n.disconnected = false, nil, false
	n.l.cancel(&n.hbTimer)
	n.l.cancel(&n.wdTimer)
	n.l.cancel(&n.rcTimer)
	n.closeSocketsLinger(linger)
	n.runToken++
	n.jobState, n.jobID = behaviour.Idle, ""
	n.mu.Lock()
	n.status.JobState, n.status.JobID = behaviour.Idle, ""
	n.mu.Unlock()
}

func (n *Node) crash() {
	if !n.alive {
		return
	}
	n.f.stats.crashes.Add(1)
	n.endProcess(deathLinger)
	n.setState(StateDown)
}

func (n *Node) restart(down time.Duration) {
	if n.f.stopping.Load() {
		return
	}
	n.crash()
	n.restarts++
	n.mu.Lock()
	n.status.Restarts = n.restarts
	n.mu.Unlock()
	n.f.stats.restarts.Add(1)
	prev := n.fleetTimer
	n.fleetTimer = true // the restart survives the crash
	n.after(down, n.start)
	n.fleetTimer = prev
}

func (n *Node) unavailable(d time.Duration, disconnect bool) {
	if !n.alive || n.frozen || n.disconnected {
		return
	}
	life := n.life
	prev := n.fleetTimer
	n.fleetTimer = true
	if disconnect {
		n.closeSockets()
		n.disconnected = true
		n.setState(StateDisconnected)
		n.after(d, func() {
			if n.life != life || !n.disconnected {
				return
			}
			n.disconnected = false
			if n.cfg != nil {
				if err := n.openSockets(); err != nil {
					n.fail(err)
				}
			}
		})
	} else {
		n.frozen = true
		n.setState(StateFrozen)
		n.after(d, func() {
			if n.life != life || !n.frozen {
				return
			}
			n.frozen = false
			n.updateConnState()
			missed := n.frozenMissed
			n.frozenMissed = nil
			for _, t := range missed { // what the stopped process slept through runs now, late
				n.fire(t)
			}
			n.l.markPending(n, pendingBoth)
		})
	}
	n.fleetTimer = prev
}

func (n *Node) reconnect() {
	if !n.alive || n.cfg == nil || n.frozen || n.disconnected {
		return
	}
	n.closeSockets()
	if err := n.openSockets(); err != nil {
		n.fail(err)
	}
}

// stop ends the node for good (fleet stop).
func (n *Node) stop() {
	n.stopProcess()
	n.setState(StateStopped)
}

// updateConnState derives the connection state from the flags.
func (n *Node) updateConnState() {
	switch {
	case !n.alive:
	case n.frozen:
		n.setState(StateFrozen)
	case n.disconnected:
		n.setState(StateDisconnected)
	case n.dealer == nil:
		n.setState(StateConfiguring)
	case !n.online:
		n.setState(StateOffline)
	case !n.gotCommand:
		n.setState(StateConnecting)
	default:
		n.setState(StateOnline)
	}
}

// runProcess runs a real command for the job on its own goroutine and reports back.
func (n *Node) runProcess(o *behaviour.Outcome, job behaviour.Job, done func(behaviour.Result)) {
	ctx := n.f.runCtx
	go func() {
		r := o.Run(ctx, job)
		n.l.post(func() { done(r) })
	}()
}
