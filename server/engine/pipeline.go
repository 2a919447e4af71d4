package engine

import (
	"log/slog"
	"sync"
	"time"

	"github.com/pushlab/pushlab/server/store"
)

type opKind int

const (
	opNodeStatus opKind = iota
	opJobStatus
	opOutput
	opFlush // make everything before it durable before anything after it happens
	opEvent
	opGone
	opCall // flush, then call fn
)

type op struct {
	kind   opKind
	org    string
	jobID  string
	status string
	at     time.Time
	ns     store.NodeStatus
	out    Output
	ev     Event
	fn     func()
}

// pipeline applies the loop's writes and delivers its events, in the loop's order, on its own
// goroutine. Writes are coalesced: all node-status updates between two flush points go to the
// persister in one NodeStatuses call (one transaction), so a 9,000-node job costs a handful of
// transactions rather than 27,000. Events need no durability and are delivered as soon as they
// are reached, except that opFlush (placed before every job_complete) makes the job's final state
// durable first: what a feed client sees as final is on disk.
type pipeline struct {
	persist Persister
	sink    EventSink
	log     *slog.Logger

	mu     sync.Mutex
	cond   *sync.Cond
	queue  []op
	closed bool
	done   chan struct{}

	nodes   []store.NodeStatus
	jobs    []op
	outputs []Output
}

func newPipeline(p Persister, s EventSink, log *slog.Logger) *pipeline {
	pl := &pipeline{persist: p, sink: s, log: log, done: make(chan struct{})}
	pl.cond = sync.NewCond(&pl.mu)
	go pl.run()
	return pl
}

func (p *pipeline) push(ops []op) {
	p.mu.Lock()
	p.queue = append(p.queue, ops...)
	p.mu.Unlock()
	p.cond.Signal()
}

func (p *pipeline) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cond.Signal()
	<-p.done
}

func (p *pipeline) run() {
	defer close(p.done)
	for {
		p.mu.Lock()
		for len(p.queue) == 0 && !p.closed {
			p.cond.Wait()
		}
		batch := p.queue
		p.queue = nil
		closed := p.closed
		p.mu.Unlock()
		for i := range batch {
			p.apply(&batch[i])
		}
		p.flush()
		if closed && len(batch) == 0 {
			return
		}
	}
}

func (p *pipeline) apply(o *op) {
	switch o.kind {
	case opNodeStatus:
		p.nodes = append(p.nodes, o.ns)
	case opJobStatus:
		p.jobs = append(p.jobs, *o)
	case opOutput:
		p.outputs = append(p.outputs, o.out)
	case opFlush:
		p.flush()
	case opEvent:
		p.sink.JobEvent(o.org, o.jobID, o.ev)
	case opGone:
		p.flush()
		if g, ok := p.sink.(GoneSink); ok {
			g.JobGone(o.org, o.jobID)
		}
	case opCall:
		p.flush()
		o.fn()
	}
}

// flush writes what is pending: outputs first, then node statuses, then job statuses, so that
// a client that sees a job finished can read every node's status and output at once (the real
// server stores a node's output before it updates the job).
func (p *pipeline) flush() {
	if len(p.outputs) > 0 {
		if b, ok := p.persist.(OutputBatcher); ok {
			if err := b.Outputs(p.outputs); err != nil {
				p.log.Error("storing outputs", "count", len(p.outputs), "err", err)
			}
		} else {
			for _, o := range p.outputs {
				if err := p.persist.Output(o.JobID, o.Node, o.Stdout, o.Stderr); err != nil {
					p.log.Error("storing output", "job", o.JobID, "node", o.Node, "err", err)
				}
			}
		}
		p.outputs = nil
	}
	if len(p.nodes) > 0 {
		if err := p.persist.NodeStatuses(p.nodes); err != nil {
			p.log.Error("storing node statuses", "count", len(p.nodes), "err", err)
		}
		p.nodes = nil
	}
	for _, j := range p.jobs {
		if err := p.persist.JobStatus(j.jobID, j.status, j.at); err != nil {
			p.log.Error("storing job status", "job", j.jobID, "status", j.status, "err", err)
		}
	}
	p.jobs = nil
}
