package fakenodes

import (
	"github.com/pushlab/pushlab/fakenodes/behaviour"
	"github.com/pushlab/pushlab/internal/wire"
)

// hooks are a node's behaviours sorted by what they act on.
type hooks struct {
	start    []behaviour.Starter
	commit   []behaviour.CommitHandler
	run      []behaviour.RunHandler
	abort    []behaviour.AbortHandler
	watch    []behaviour.JobWatcher
	outcome  []behaviour.OutcomeShaper
	send     []behaviour.SendFilter
	describe []string
}

func buildHooks(bs []behaviour.Behaviour) hooks {
	var h hooks
	for _, b := range bs {
		if b == nil {
			continue
		}
		h.describe = append(h.describe, behaviour.TypeName(b))
		if x, ok := b.(behaviour.Starter); ok {
			h.start = append(h.start, x)
		}
		if x, ok := b.(behaviour.CommitHandler); ok {
			h.commit = append(h.commit, x)
		}
		if x, ok := b.(behaviour.RunHandler); ok {
			h.run = append(h.run, x)
		}
		if x, ok := b.(behaviour.AbortHandler); ok {
			h.abort = append(h.abort, x)
		}
		if x, ok := b.(behaviour.JobWatcher); ok {
			h.watch = append(h.watch, x)
		}
		if x, ok := b.(behaviour.OutcomeShaper); ok {
			h.outcome = append(h.outcome, x)
		}
		if x, ok := b.(behaviour.SendFilter); ok {
			h.send = append(h.send, x)
		}
	}
	return h
}

// The job runner of protocol.md §7.2 (the real client's JobRunner): idle → committed → running → idle.

func (n *Node) commit(c *behaviour.Commit) {
	for _, h := range n.hooks.commit {
		if h.HandleCommit((*inLoop)(n), c) {
			return
		}
	}
	n.standardCommit(c)
}

// standardCommit acknowledges a commit when idle and nacks it when busy. Like the real client it
// keeps the commit's options before looking at its state, so a commit arriving between another
// job's commit and run changes the options that run uses.
func (n *Node) standardCommit(c *behaviour.Commit) {
	if !n.alive {
		return
	}
	n.opts = *c
	if n.jobState != behaviour.Idle {
		n.sendCommand(wire.TypeNackCommit, c.JobID)
		return
	}
	n.setJob(behaviour.Committed, c.JobID)
	n.sendCommand(wire.TypeAckCommit, c.JobID)
}

// holdCommit commits without answering.
func (n *Node) holdCommit(c *behaviour.Commit) {
	if !n.alive {
		return
	}
	n.opts = *c
	if n.jobState != behaviour.Idle {
		n.sendCommand(wire.TypeNackCommit, c.JobID)
		return
	}
	n.setJob(behaviour.Committed, c.JobID)
}

func (n *Node) run(jobID string) {
	for _, h := range n.hooks.run {
		if h.HandleRun((*inLoop)(n), jobID) {
			return
		}
	}
	n.standardRun(jobID)
}

// standardRun starts the command when committed to jobID, then sends ack_run; else nack_run.
func (n *Node) standardRun(jobID string) {
	if !n.alive {
		return
	}
	if n.jobState != behaviour.Committed || n.jobID != jobID {
		n.sendCommand(wire.TypeNackRun, jobID)
		return
	}
	var o behaviour.Outcome
	for _, h := range n.hooks.outcome {
		h.ShapeOutcome((*inLoop)(n), &n.opts, &o)
	}
	n.runToken++
	token, life, capture := n.runToken, n.life, n.opts.Capture
	finish := func(r behaviour.Result) {
		if n.life != life || n.runToken != token {
			return
		}
		if r.Err != nil {
			n.f.emit(Event{Node: n.name, Kind: EventJob, Type: "command_error", JobID: jobID, Detail: r.Err.Error()})
			n.abort()
			return
		}
		n.completed(jobID, r, capture)
	}
	switch {
	case o.Run != nil:
		n.runProcess(&o, behaviour.Job{Node: n.name, JobID: jobID, Commit: n.opts}, finish)
	case o.Hang:
	default:
		r := behaviour.Result{ExitStatus: o.ExitStatus, Stdout: o.Stdout, Stderr: o.Stderr}
		n.after(o.Duration, func() { finish(r) })
	}
	n.setJob(behaviour.Running, jobID)
	n.sendCommand(wire.TypeAckRun, jobID)
}

// completed reports the end of the command: succeeded on exit 0, failed otherwise, with the
// output only when the commit asked for capture.
func (n *Node) completed(jobID string, r behaviour.Result, capture bool) {
	if n.jobState != behaviour.Running || n.jobID != jobID {
		return
	}
	n.setJob(behaviour.Idle, "")
	m := behaviour.Message{Type: wire.TypeSucceeded, JobID: jobID}
	if r.ExitStatus != 0 {
		m.Type = wire.TypeFailed
	}
	if capture {
		out, errOut := r.Stdout, r.Stderr
		m.Stdout, m.Stderr = &out, &errOut
	}
	n.send(m)
}

// abort drops whatever job the node has (the command keeps running, unobserved) and answers
// aborted with that job's id, or null when idle.
func (n *Node) abort() {
	for _, h := range n.hooks.abort {
		if h.HandleAbort((*inLoop)(n)) {
			return
		}
	}
	if !n.alive {
		return
	}
	job := n.jobID
	n.runToken++
	n.setJob(behaviour.Idle, "")
	n.sendCommand(wire.TypeAborted, job)
}

func (n *Node) setJob(state behaviour.JobState, jobID string) {
	n.jobState, n.jobID = state, jobID
	n.mu.Lock()
	n.status.JobState, n.status.JobID = state, jobID
	n.mu.Unlock()
	n.f.emit(Event{Node: n.name, Kind: EventJob, Type: string(state), JobID: jobID})
	life := n.life
	for _, w := range n.hooks.watch {
		w.JobChanged((*inLoop)(n), state, jobID)
		if n.life != life {
			return
		}
	}
}
