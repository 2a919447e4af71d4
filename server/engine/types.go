package engine

import (
	"time"

	"github.com/pushlab/pushlab/server/store"
)

// Node message types the engine acts on (protocol.md §4.4); any other type is ignored.
const (
	MsgHeartbeat  = "heartbeat"
	MsgAckCommit  = "ack_commit"
	MsgNackCommit = "nack_commit"
	MsgAckRun     = "ack_run"
	MsgNackRun    = "nack_run"
	MsgSucceeded  = "succeeded"
	MsgFailed     = "failed"
	MsgAborted    = "aborted"
)

// Server-to-node message types.
const (
	OutAbort  = "abort"
	OutAck    = "ack"
	OutCommit = "commit"
	OutRun    = "run"
)

// SSE event names (protocol.md §6).
const (
	EventStart           = "start"
	EventQuorumVote      = "quorum_vote"
	EventQuorumSucceeded = "quorum_succeeded"
	EventRunStart        = "run_start"
	EventRunComplete     = "run_complete"
	EventJobComplete     = "job_complete"
	EventRehab           = "rehab"
)

// Job statuses (protocol.md §5.1).
const (
	JobNew          = "new"
	JobVoting       = "voting"
	JobRunning      = "running"
	JobComplete     = "complete"
	JobQuorumFailed = "quorum_failed"
	JobTimedOut     = "timed_out"
	JobCrashed      = "crashed"
)

// Per-node job statuses (protocol.md §5.2).
const (
	NodeNew         = "new"
	NodeReady       = "ready"
	NodeRunning     = "running"
	NodeSucceeded   = "succeeded"
	NodeFailed      = "failed"
	NodeNacked      = "nacked"
	NodeUnavailable = "unavailable"
	NodeCrashed     = "crashed"
	NodeWasReady    = "was_ready"
	NodeTimedOut    = "timed_out"
	NodeAborted     = "aborted"
)

// NodeMsg is one node message that passed the broker's header and signature checks.
type NodeMsg struct {
	Org, Node, Type string
	JobID           string // "" (or "null") = none
	JobState        string
	IncarnationID   string
	Stdout, Stderr  *string
	// NewIdentity: the message came from a ZeroMQ identity other than the one this node used last.
	NewIdentity bool
}

// Outbound is a message for one node. The broker adds the timestamp and signs it.
type Outbound struct {
	Type    string // abort, ack, commit, run
	JobID   string
	Command string
	User    *string
	Dir     *string
	Env     map[string]string // nil = absent
	File    string            // "" = absent
	Capture bool              // commit only; always sent on a commit
	// Sequence counts the messages sent by one node FSM, from 1 (a new FSM starts again at 1),
	// as the real server's "sequence" field does.
	Sequence int
}

// Event is one event of a job's SSE feed (protocol.md §6).
type Event struct {
	Seq    int // the feed id is "job-<Seq>", from 1 per job
	Name   string
	Time   time.Time // strictly increasing over all events of one engine, microsecond resolution
	Node   string    // quorum_vote, run_start, run_complete, rehab
	Status string    // quorum_vote, run_complete, job_complete
	Start  *Start    // start only
}

// Start is the payload of a start event.
type Start struct {
	Command    string
	RunTimeout int64
	Quorum     int
	NodeCount  int
	User       string  // the requesting Chef user
	JobUser    *string // run-as user
	Dir        *string
	Env        map[string]string
	File       bool // file_specified
	Capture    bool
}

// NodeAvailability is one entry of the node_states list.
type NodeAvailability struct {
	Node      string
	Available bool
}

// Sender delivers messages to nodes. It is called from the engine's loop and must not block for long.
type Sender interface {
	Send(org, node string, m Outbound)
}

// Persister writes the engine's changes. Calls come from one goroutine, in order; node-status
// updates arrive batched.
type Persister interface {
	JobStatus(id, status string, at time.Time) error
	NodeStatuses(updates []store.NodeStatus) error
	Output(jobID, node string, stdout, stderr []byte) error
}

// Output is one captured output row.
type Output struct {
	JobID, Node    string
	Stdout, Stderr []byte
}

// OutputBatcher is optionally implemented by a Persister to store many outputs in one transaction.
type OutputBatcher interface {
	Outputs(outs []Output) error
}

// EventSink receives job events, in order, from one goroutine. It must not block.
type EventSink interface {
	JobEvent(org, jobID string, ev Event)
}

// GoneSink is optionally implemented by an EventSink: JobGone is called when a job's state
// machine ends (wait_complete_time after job_complete, or at once when the job crashes), after
// which only the stored job is left.
type GoneSink interface {
	JobGone(org, jobID string)
}
