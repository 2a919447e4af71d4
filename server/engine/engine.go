package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/pushlab/pushlab/server/mutant"
	"github.com/pushlab/pushlab/server/store"
)

// Config holds the engine's timing parameters (protocol.md §12). Zero values take the real
// server's defaults.
type Config struct {
	HeartbeatInterval          time.Duration // liveness bucket; default 10 s
	VotingTimeout              time.Duration // default 60 s
	RehabInterval              time.Duration // abort re-send period; default 1 s
	WaitCompleteTime           time.Duration // a finished job's FSM lingers this long; default 5 s
	DecayWindow                int           // default 4
	DownThreshold              float64       // default 0.6
	DetectOfflineNodesInterval int           // scanner period in heartbeat intervals; default 4
	Clock                      Clock         // default RealClock
	Log                        *slog.Logger  // default: discard
	// Mutants are deliberate faults for proving the conformance suite (never set in normal use).
	Mutants mutant.Set
}

func (c *Config) defaults() {
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 10 * time.Second
	}
	if c.VotingTimeout <= 0 {
		c.VotingTimeout = 60 * time.Second
	}
	if c.RehabInterval <= 0 {
		c.RehabInterval = time.Second
	}
	if c.WaitCompleteTime <= 0 {
		c.WaitCompleteTime = 5 * time.Second
	}
	if c.DecayWindow <= 0 {
		c.DecayWindow = 4
	}
	if c.DownThreshold <= 0 {
		c.DownThreshold = 0.6
	}
	if c.DetectOfflineNodesInterval <= 0 {
		c.DetectOfflineNodesInterval = 4
	}
	if c.Clock == nil {
		c.Clock = RealClock{}
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// ErrClosed is returned by calls made after Close.
var ErrClosed = errors.New("engine closed")

// Engine owns every node FSM and job FSM. All state lives in one goroutine (the loop); the public
// methods talk to it over channels, so the state machines need no locks and run in a
// deterministic order. Writes to the persister and events to the sink go through a second
// goroutine (the pipeline, pipeline.go), so the loop never waits on SQLite or on SSE clients.
//
// Design note: one loop handles a 9,000-node job's 45,000 messages in well under a second (see
// BenchmarkNoOpJob9000); sharding by org would only matter beyond that.
type Engine struct {
	cfg   Config
	clock Clock
	send  Sender
	log   *slog.Logger

	inbox chan item
	calls chan func()
	tick  chan struct{}
	quit  chan struct{}
	done  chan struct{}
	once  sync.Once

	// loop-owned state
	nodes     map[nodeKey]*nodeFSM
	jobs      map[string]*jobFSM
	timers    timerHeap
	timerSeq  uint64
	armed     Timer
	armedAt   time.Time
	lastStamp time.Time
	pending   []op
	ordered   int // events and barriers in pending (see emit)
	forceOut  bool

	pipe *pipeline
}

type item struct {
	msg NodeMsg
	fn  func()
}

// New starts an engine. send, persist and events must be non-nil.
func New(cfg Config, send Sender, persist Persister, events EventSink) *Engine {
	cfg.defaults()
	e := &Engine{
		cfg:   cfg,
		clock: cfg.Clock,
		send:  send,
		log:   cfg.Log,
		inbox: make(chan item, 1<<16),
		calls: make(chan func()),
		tick:  make(chan struct{}, 1),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
		nodes: map[nodeKey]*nodeFSM{},
		jobs:  map[string]*jobFSM{},
		pipe:  newPipeline(persist, events, cfg.Log),
	}
	e.scheduleScan()
	e.rearm()
	go e.loop()
	return e
}

func (e *Engine) loop() {
	defer close(e.done)
	for {
		select {
		case it := <-e.inbox:
			e.fireDue()
			if it.fn != nil {
				it.fn()
			} else {
				e.handleNodeMsg(it.msg)
			}
		case fn := <-e.calls:
			e.fireDue()
			fn()
		case <-e.tick:
			e.fireDue()
		case <-e.quit:
			if e.armed != nil {
				e.armed.Stop()
			}
			e.handoff()
			return
		}
		// Batch the pipeline's work: hand it over when the inbox runs dry, when a caller waits
		// for it, or every few thousand operations under a sustained burst.
		if e.forceOut || len(e.inbox) == 0 || len(e.pending) >= 4096 {
			e.handoff()
		}
		e.rearm()
	}
}

func (e *Engine) handoff() {
	e.forceOut = false
	if len(e.pending) == 0 {
		return
	}
	e.pipe.behind.Add(int64(e.ordered))
	e.ordered = 0
	e.pipe.push(e.pending)
	e.pending = nil
}

// barrier queues an op that every write before it must be durable for (opFlush, opCall):
// events after it wait for it.
func (e *Engine) barrier(o op) {
	e.pending = append(e.pending, o)
	e.ordered++
}

// do runs f on the loop and waits for it.
func (e *Engine) do(f func()) error {
	ch := make(chan struct{})
	select {
	case e.calls <- func() { f(); close(ch) }:
	case <-e.done:
		return ErrClosed
	}
	select {
	case <-ch:
		return nil
	case <-e.done:
		return ErrClosed
	}
}

// NodeMessage hands a verified node message to the engine. It blocks only when 65,536 messages
// are already queued.
func (e *Engine) NodeMessage(m NodeMsg) {
	select {
	case e.inbox <- item{msg: m}:
	case <-e.done:
	}
}

// Sync waits until every message and call submitted before it has been handled, written by the
// persister and delivered to the event sink. Tests use it after FakeClock.Advance.
func (e *Engine) Sync() {
	ch := make(chan struct{})
	f := func() {
		e.barrier(op{kind: opCall, fn: func() { close(ch) }})
		e.forceOut = true
	}
	select {
	case e.inbox <- item{fn: f}:
	case <-e.done:
		return
	}
	select {
	case <-ch:
	case <-e.done:
	}
}

// StartJob starts the FSM of a job whose row (status new, nodes new) is already stored. It
// returns once the job is voting, its status is stored, its start event is with the event sink
// and the commits are sent.
func (e *Engine) StartJob(j *store.Job) error {
	if j == nil {
		return errors.New("engine: nil job")
	}
	if len(j.Nodes) == 0 {
		return fmt.Errorf("engine: job %s has no nodes", j.ID)
	}
	stored := make(chan struct{})
	var err error
	if derr := e.do(func() {
		if _, dup := e.jobs[j.ID]; dup {
			err = fmt.Errorf("engine: job %s is already running", j.ID)
			return
		}
		e.startJob(j.Clone())
		// Only this caller waits for the writes: the job's events (the first votes are close
		// behind) are not held back for them.
		e.pending = append(e.pending, op{kind: opDurable, fn: func() { close(stored) }})
		e.forceOut = true
	}); derr != nil {
		return derr
	}
	if err != nil {
		return err
	}
	select {
	case <-stored:
		return nil
	case <-e.done:
		return ErrClosed
	}
}

// NodeState reports a node as the named node_states endpoint shows it: online when it has a
// node FSM, available when that FSM is idle.
func (e *Engine) NodeState(org, node string) (online, available bool) {
	_ = e.do(func() {
		if n := e.nodes[nodeKey{org, node}]; n != nil {
			online, available = true, n.state == stateIdle
		}
	})
	return online, available
}

// NodeStates lists the org's nodes that have a node FSM, sorted by name, as GET /node_states
// does. It reproduces the real server's stale list availability (protocol.md §2.8): the value is
// the cached availability, set to available when a node first reaches idle and never lowered
// while its FSM lives, so a node sent back to rehab still lists as available.
func (e *Engine) NodeStates(org string) []NodeAvailability {
	var out []NodeAvailability
	_ = e.do(func() {
		for k, n := range e.nodes {
			if k.org == org {
				out = append(out, NodeAvailability{Node: k.node, Available: n.listAvailable})
			}
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}

// Job returns a snapshot (with Nodes) of a job whose FSM is alive, including a finished job
// during its wait_complete_time.
func (e *Engine) Job(id string) (*store.Job, bool) {
	var out *store.Job
	_ = e.do(func() {
		if j := e.jobs[id]; j != nil {
			out = j.j.Clone()
		}
	})
	return out, out != nil
}

// Status reports the number of node FSMs and the ids of live job FSMs (sorted), for /_status.
func (e *Engine) Status() (nodeFSMs int, jobIDs []string) {
	_ = e.do(func() {
		nodeFSMs = len(e.nodes)
		for id := range e.jobs {
			jobIDs = append(jobIDs, id)
		}
	})
	sort.Strings(jobIDs)
	return nodeFSMs, jobIDs
}

// Close stops the engine: timers stop, queued writes and events are delivered, live jobs are
// left as they are (the store marks them crashed at the next start, as the real server does).
func (e *Engine) Close() {
	e.once.Do(func() {
		close(e.quit)
		<-e.done
		e.pipe.close()
	})
}

// stamp returns the time of a new event: now at microsecond resolution, strictly after the
// previous event (pedant requires unique timestamps).
func (e *Engine) stamp() time.Time {
	t := e.clock.Now().UTC().Truncate(time.Microsecond)
	if !t.After(e.lastStamp) {
		t = e.lastStamp.Add(time.Microsecond)
	}
	e.lastStamp = t
	return t
}

// emit makes a job event. It goes to the event sink at once, from the loop, when nothing that
// must come before it is still queued (no earlier event, no barrier); otherwise it takes its
// place in the pipeline. Either way events arrive in order, and never before the writes a
// barrier ahead of them makes durable.
func (e *Engine) emit(j *jobFSM, name, node, status string, start *Start) {
	ev := Event{Seq: j.nextSeq, Name: name, Time: e.stamp(), Node: node, Status: status, Start: start}
	j.nextSeq++
	if e.ordered == 0 && e.pipe.behind.Load() == 0 {
		e.pipe.sink.JobEvent(j.j.Org, j.j.ID, ev)
		return
	}
	e.pending = append(e.pending, op{kind: opEvent, org: j.j.Org, jobID: j.j.ID, ev: ev})
	e.ordered++
}
