package engine

import (
	"sort"
	"time"

	"github.com/pushlab/pushlab/server/mutant"
	"github.com/pushlab/pushlab/server/store"
)

type jobPhase int

const (
	phaseVoting jobPhase = iota
	phaseRunning
	phaseWaiting // finished, lingering for wait_complete_time; ignores everything
)

// jobFSM is one live job (pushy_job_state.erl).
type jobFSM struct {
	j       *store.Job // live copy: Status, UpdatedAt and Nodes follow the FSM
	phase   jobPhase
	nextSeq int
	counts  map[string]int      // node status -> number of nodes
	watched map[string]*nodeFSM // node FSM instances watched since the start
	timer   *timer              // voting, then running, then wait_complete
}

// class collapses node statuses the way the transition tables do.
type class int

const (
	classNew class = iota
	classReady
	classRunning
	classTerminal
)

func classify(status string) class {
	switch status {
	case NodeNew:
		return classNew
	case NodeReady:
		return classReady
	case NodeRunning:
		return classRunning
	}
	return classTerminal
}

func sortedNodes(nodes map[string]string, want func(string) bool) []string {
	var out []string
	for n, s := range nodes {
		if want == nil || want(s) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func (e *Engine) startJob(sj *store.Job) {
	j := &jobFSM{j: sj, nextSeq: 1, counts: map[string]int{}, watched: map[string]*nodeFSM{}}
	for n := range sj.Nodes {
		sj.Nodes[n] = NodeNew
	}
	j.counts[NodeNew] = len(sj.Nodes)
	e.jobs[sj.ID] = j
	e.emit(j, EventStart, "", "", &Start{
		Command: sj.Command, RunTimeout: sj.RunTimeout, Quorum: sj.Quorum, NodeCount: len(sj.Nodes),
		User: sj.Requestor, JobUser: sj.User, Dir: sj.Dir, Env: sj.Env, File: sj.File != "", Capture: sj.CaptureOutput,
	})
	names := sortedNodes(sj.Nodes, nil)
	// Watch every node; a node without an FSM, or whose FSM is not idle, is down from the start.
	// As in the real server, the down events are handled after voting has begun.
	var down []string
	for _, name := range names {
		n := e.nodes[nodeKey{sj.Org, name}]
		if n != nil {
			n.watchers = append(n.watchers, j)
			j.watched[name] = n
		}
		if n == nil || n.state != stateIdle {
			down = append(down, name)
		}
	}
	e.setJobStatus(j, JobVoting)
	commit := Outbound{Type: OutCommit, JobID: sj.ID, Command: sj.Command, User: sj.User, Dir: sj.Dir,
		Env: sj.Env, File: sj.File, Capture: sj.CaptureOutput}
	for _, name := range names {
		if n := e.nodes[nodeKey{sj.Org, name}]; n != nil {
			e.sendTo(n, commit)
		}
	}
	j.timer = e.after(e.cfg.VotingTimeout, func() { e.votingTimeout(j) })
	e.maybeFinishedVoting(j)
	for _, name := range down {
		e.nodeDown(j, name)
	}
}

func (e *Engine) setJobStatus(j *jobFSM, status string) {
	now := e.clock.Now().UTC()
	j.j.Status = status
	j.j.UpdatedAt = now
	e.pending = append(e.pending, op{kind: opJobStatus, jobID: j.j.ID, status: status, at: now})
}

func (e *Engine) setNode(j *jobFSM, node, status string) {
	old := j.j.Nodes[node]
	j.counts[old]--
	j.counts[status]++
	j.j.Nodes[node] = status
	e.pending = append(e.pending, op{kind: opNodeStatus,
		ns: store.NodeStatus{JobID: j.j.ID, Node: node, Status: status, At: e.clock.Now().UTC()}})
}

// sendToRehab optionally moves the node to a (terminal) status, aborts it and emits rehab.
func (e *Engine) sendToRehab(j *jobFSM, node, status string) {
	if status != "" {
		e.setNode(j, node, status)
	}
	e.rehabByName(j.j.Org, node)
	e.emit(j, EventRehab, node, "", nil)
}

// rehabMatching moves every node in status from to status to and aborts it, without events.
func (e *Engine) rehabMatching(j *jobFSM, from, to string) {
	for _, name := range sortedNodes(j.j.Nodes, func(s string) bool { return s == from }) {
		e.setNode(j, name, to)
		e.rehabByName(j.j.Org, name)
	}
}

// jobMessage delivers a node's message to its job.
func (e *Engine) jobMessage(j *jobFSM, m NodeMsg) {
	if j.phase == phaseWaiting {
		return
	}
	if _, member := j.j.Nodes[m.Node]; !member || m.Org != j.j.Org {
		// The real job FSM looks the node up with dict:fetch and dies on a stranger: the job is
		// marked crashed and its feed ends without job_complete. Reproduced.
		e.crashJob(j)
		return
	}
	switch j.phase {
	case phaseVoting:
		e.voting(j, m.Type, m.Node)
	case phaseRunning:
		if (m.Type == MsgSucceeded || m.Type == MsgFailed) && m.Stdout != nil && m.Stderr != nil {
			e.pending = append(e.pending, op{kind: opOutput,
				out: Output{JobID: j.j.ID, Node: m.Node, Stdout: []byte(*m.Stdout), Stderr: []byte(*m.Stderr)}})
		}
		e.running(j, m.Type, m.Node)
	}
}

// nodeDown is a watched node FSM stopping (node offline or restarted).
func (e *Engine) nodeDown(j *jobFSM, node string) {
	switch j.phase {
	case phaseVoting:
		e.voting(j, "down", node)
	case phaseRunning:
		e.running(j, "down", node)
	}
}

// voting implements the voting-phase table (protocol.md §5.4).
func (e *Engine) voting(j *jobFSM, typ, node string) {
	c := classify(j.j.Nodes[node])
	switch typ {
	case MsgAckCommit:
		var status string
		switch c {
		case classNew:
			e.setNode(j, node, NodeReady)
			status = "success"
		case classReady:
			status = "unexpected_commit"
		default:
			e.sendToRehab(j, node, "")
			status = "client_died_while_voting"
		}
		e.emit(j, EventQuorumVote, node, status, nil)
	case MsgNackCommit:
		var status string
		switch c {
		case classNew:
			if e.cfg.Mutants.Has(mutant.NackIgnored) {
				return
			}
			e.setNode(j, node, NodeNacked)
			status = "failure"
		case classReady:
			e.sendToRehab(j, node, NodeUnavailable)
			status = "lost_availibility" // [sic], as the real server spells it
		default:
			e.sendToRehab(j, node, "")
			status = "client_died_while_voting"
		}
		e.emit(j, EventQuorumVote, node, status, nil)
	default: // down, or a message that makes no sense while voting
		if typ == "down" {
			e.emit(j, EventQuorumVote, node, "down", nil)
		}
		if c == classNew || c == classReady {
			e.sendToRehab(j, node, NodeUnavailable)
		} else {
			e.sendToRehab(j, node, "")
		}
	}
	e.maybeFinishedVoting(j)
}

// running implements the running-phase table (protocol.md §5.5).
func (e *Engine) running(j *jobFSM, typ, node string) {
	c := classify(j.j.Nodes[node])
	const died = "client_died_while_running"
	switch typ {
	case MsgAckRun:
		switch c {
		case classReady:
			e.emit(j, EventRunStart, node, "", nil)
			e.setNode(j, node, NodeRunning)
		case classRunning:
		default:
			e.emit(j, EventRunComplete, node, died, nil)
			e.sendToRehab(j, node, "")
		}
	case MsgNackRun:
		var status string
		switch c {
		case classReady:
			e.sendToRehab(j, node, NodeFailed)
			status = "run_nacked"
		case classRunning:
			e.sendToRehab(j, node, NodeFailed)
			status = "run_nacked_while_running"
		default:
			e.sendToRehab(j, node, "")
			status = died
		}
		e.emit(j, EventRunComplete, node, status, nil)
	case MsgSucceeded, MsgFailed:
		final, status := NodeSucceeded, "success"
		if typ == MsgFailed {
			final, status = NodeFailed, "failure"
		}
		switch c {
		case classReady:
			e.sendToRehab(j, node, NodeCrashed)
			status = "crashed"
		case classRunning:
			e.setNode(j, node, final)
		default:
			e.sendToRehab(j, node, "")
			status = died
		}
		e.emit(j, EventRunComplete, node, status, nil)
	default: // down, ack_commit, nack_commit, aborted
		status := "crashed"
		if c == classRunning && e.cfg.Mutants.Has(mutant.CrashedLeftRunning) {
			return
		}
		if c == classReady || c == classRunning {
			e.sendToRehab(j, node, NodeCrashed)
		} else {
			e.sendToRehab(j, node, "")
			status = died
		}
		e.emit(j, EventRunComplete, node, status, nil)
	}
	e.maybeFinishedRunning(j)
}

func (e *Engine) maybeFinishedVoting(j *jobFSM) {
	early := e.cfg.Mutants.Has(mutant.VotingEndsEarly) && j.counts[NodeReady] >= j.j.Quorum
	if j.phase != phaseVoting || (j.counts[NodeNew] > 0 && !early) {
		return
	}
	if j.counts[NodeReady] >= j.j.Quorum {
		e.emit(j, EventQuorumSucceeded, "", "", nil)
		e.startRunning(j)
		return
	}
	if !e.cfg.Mutants.Has(mutant.WasReadyMissing) {
		e.rehabMatching(j, NodeReady, NodeWasReady)
	}
	if e.cfg.Mutants.Has(mutant.QuorumFailedAsComplete) {
		e.finish(j, JobComplete)
		return
	}
	e.finish(j, JobQuorumFailed)
}

func (e *Engine) startRunning(j *jobFSM) {
	j.phase = phaseRunning
	j.timer.cancel()
	e.setJobStatus(j, JobRunning)
	run := Outbound{Type: OutRun, JobID: j.j.ID}
	for _, name := range sortedNodes(j.j.Nodes, func(s string) bool { return s == NodeReady }) {
		if n := e.nodes[nodeKey{j.j.Org, name}]; n != nil {
			e.sendTo(n, run)
		}
	}
	j.timer = e.after(time.Duration(j.j.RunTimeout)*time.Second, func() { e.runTimeout(j) })
	e.maybeFinishedRunning(j)
}

func (e *Engine) maybeFinishedRunning(j *jobFSM) {
	if j.phase != phaseRunning || j.counts[NodeReady]+j.counts[NodeRunning] > 0 {
		return
	}
	e.finish(j, JobComplete)
}

func (e *Engine) votingTimeout(j *jobFSM) {
	if j.phase != phaseVoting {
		return
	}
	late := sortedNodes(j.j.Nodes, func(s string) bool { return s == NodeNew })
	for _, name := range late {
		e.emit(j, EventQuorumVote, name, "voting_timeout", nil)
	}
	e.rehabMatching(j, NodeNew, NodeUnavailable)
	e.maybeFinishedVoting(j)
}

func (e *Engine) runTimeout(j *jobFSM) {
	if j.phase != phaseRunning {
		return
	}
	e.rehabMatching(j, NodeReady, NodeTimedOut)
	e.rehabMatching(j, NodeRunning, NodeTimedOut)
	e.finish(j, JobTimedOut)
}

// finish ends the job: its status is stored (and everything before it flushed) before the
// job_complete event goes out; the FSM then lingers for wait_complete_time.
func (e *Engine) finish(j *jobFSM, status string) {
	j.phase = phaseWaiting
	j.timer.cancel()
	e.setJobStatus(j, status)
	e.barrier(op{kind: opFlush})
	e.emit(j, EventJobComplete, "", status, nil)
	j.timer = e.after(e.cfg.WaitCompleteTime, func() { e.removeJob(j) })
}

// crashJob is the job process dying abnormally: status crashed, no job_complete, gone at once.
func (e *Engine) crashJob(j *jobFSM) {
	j.phase = phaseWaiting
	j.timer.cancel()
	e.setJobStatus(j, JobCrashed)
	e.barrier(op{kind: opFlush}) // the stored job, which later requests get, says crashed
	e.removeJob(j)
}

func (e *Engine) removeJob(j *jobFSM) {
	if e.jobs[j.j.ID] != j {
		return
	}
	delete(e.jobs, j.j.ID)
	for _, n := range j.watched {
		for i, w := range n.watchers {
			if w == j {
				n.watchers = append(n.watchers[:i], n.watchers[i+1:]...)
				break
			}
		}
	}
	// in order with the events, but no barrier: the job's final state was made durable before
	// its job_complete (or its crash), and a finished job writes nothing more
	e.pending = append(e.pending, op{kind: opGone, org: j.j.Org, jobID: j.j.ID})
	e.ordered++
}
