package behaviour

import (
	"context"
	"math/rand/v2"
	"time"
)

// JobState is a node's job runner state (protocol.md §7.2).
type JobState string

// The job runner states, as the node reports them in heartbeats.
const (
	Idle      JobState = "idle"
	Committed JobState = "committed"
	Running   JobState = "running"
)

// Commit is a commit message as the node understood it.
type Commit struct {
	JobID   string
	Command string
	User    string
	Dir     string
	Env     map[string]string
	File    string
	Capture bool
}

// Job is what a real command needs to know about the job it runs.
type Job struct {
	Node   string
	JobID  string
	Commit Commit
}

// Result is how a real command ended. Err means it could not run at all: the node then sends
// aborted, as the real client does when the command raises.
type Result struct {
	ExitStatus int
	Stdout     string
	Stderr     string
	Err        error
}

// Outcome is what the command of a run does. Hooks shape it when the run starts; the zero value
// succeeds at once with empty output.
type Outcome struct {
	Duration   time.Duration
	Hang       bool // never finishes: the server times the job out
	ExitStatus int
	Stdout     string
	Stderr     string
	// Run, when set, runs a real command on its own goroutine instead of simulating one.
	Run func(ctx context.Context, job Job) Result
}

// Message is one node-to-server message a behaviour asks a node to send. The node fills in the
// common fields (node, client, org, sequence, timestamp, incarnation) and signs it.
type Message struct {
	Type     string
	JobID    string   // empty sends null
	JobState JobState // heartbeats only
	Stdout   *string
	Stderr   *string
	// TimeOffset is added to the node's clock for this message's timestamp.
	TimeOffset time.Duration
	// BadSignature signs the message with a wrong key.
	BadSignature bool
	// Body, when set, is sent as it is instead of the encoded message (still signed).
	Body []byte
}

// Node is one simulated node as its behaviours see it. Hooks and the functions given to After
// run on the node's event loop, one at a time; they must not block.
type Node interface {
	Name() string
	Index() int
	Group() string
	// Rand is the node's own random source, derived from the fleet seed and the node index.
	Rand() *rand.Rand
	// Now is the node's clock, skew included.
	Now() time.Time
	// Job is the job runner state and the job it is about.
	Job() (JobState, string)

	// AckCommit is the standard commit: acknowledge when idle, nack_commit when busy.
	AckCommit(c *Commit)
	// NackCommit sends nack_commit for jobID.
	NackCommit(jobID string)
	// HoldCommit becomes committed to c without answering (a lost ack_commit); busy nodes nack.
	HoldCommit(c *Commit)
	// AckRun is the standard run: start the command and send ack_run when committed to jobID,
	// nack_run otherwise.
	AckRun(jobID string)
	// NackRun sends nack_run for jobID.
	NackRun(jobID string)
	// Send sends any message.
	Send(m Message)

	// After runs fn on the node's event loop after d, unless cancelled first.
	After(d time.Duration, fn func()) (cancel func())
	// Crash kills the node process: sockets closed, heartbeats and job gone, nothing sent.
	Crash()
	// Restart crashes the node and starts it again after down, with a new incarnation.
	Restart(down time.Duration)
	// Unavailable makes the node unreachable for d: frozen (disconnect false) or with its
	// connections dropped (disconnect true).
	Unavailable(d time.Duration, disconnect bool)
	// Reconnect opens new sockets with the same config: the server sees a new ZeroMQ identity.
	Reconnect()
	// SetClockSkew shifts the node's clock, for its timestamps and its checks of the server's.
	SetClockSkew(d time.Duration)
	// Fired records that a behaviour acted (metrics and events).
	Fired(behaviour string)
	// Count adds one to the node's counter for key and returns the new value: per-node memory for
	// behaviours, which are shared by the nodes of a group.
	Count(key any) int
}

// Behaviour is one configured behaviour. Values are shared by every node of a group, so they
// keep no per-node state; the node's hooks take the node as an argument. A behaviour acts
// through any of the hook interfaces below.
type Behaviour interface {
	Validate() error
}

// Starter is called once when the node first starts (schedules of faults).
type Starter interface {
	Start(n Node)
}

// CommitHandler may take over a commit; false leaves it to the next behaviour and finally to
// the standard runner.
type CommitHandler interface {
	HandleCommit(n Node, c *Commit) bool
}

// RunHandler may take over a run.
type RunHandler interface {
	HandleRun(n Node, jobID string) bool
}

// AbortHandler may take over an abort.
type AbortHandler interface {
	HandleAbort(n Node) bool
}

// JobWatcher hears every job runner state change.
type JobWatcher interface {
	JobChanged(n Node, state JobState, jobID string)
}

// OutcomeShaper shapes what the command of a run does; every shaper of a node applies, in order.
type OutcomeShaper interface {
	ShapeOutcome(n Node, c *Commit, o *Outcome)
}

// SendFilter sees every message before it is sent and may change it; false drops it.
type SendFilter interface {
	FilterSend(n Node, m *Message) bool
}
