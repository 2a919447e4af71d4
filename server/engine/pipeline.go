package engine

import (
	"log/slog"
	"sync"
	"sync/atomic"
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
	opGone // the job's state machine ended (after its final state was made durable)
	opCall // flush, then call fn
	// opDurable calls fn once every write before it is durable, without holding back what
	// comes after it: a caller waits for its writes while events keep flowing.
	opDurable
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

// pipeline applies the loop's writes and delivers its events, in the loop's order, on two
// goroutines of its own:
//
//   - the dispatcher delivers events as soon as it reaches them and hands writes to the writer;
//   - the writer coalesces the writes that queue up while SQLite is busy into one transaction
//     (a node's later status replaces an earlier one of the same batch), so a 9,000-node job
//     costs a handful of transactions rather than 27,000.
//
// Events need no durability, so they never wait for SQLite (the loop delivers them itself when
// nothing is queued ahead of them, see Engine.emit), except at a barrier: opFlush (placed
// before every job_complete and every crash) and opCall make every write before them durable
// before the dispatcher goes past them. What a feed client sees as final is on disk.
type pipeline struct {
	persist Persister
	sink    EventSink
	log     *slog.Logger

	mu     sync.Mutex
	cond   *sync.Cond
	queue  []op
	closed bool
	done   chan struct{}

	w *writer

	// behind counts the events and barriers handed over and not yet delivered or passed; while
	// it is above zero the loop queues its events here rather than deliver them itself.
	behind atomic.Int64
}

func newPipeline(p Persister, s EventSink, log *slog.Logger) *pipeline {
	pl := &pipeline{persist: p, sink: s, log: log, done: make(chan struct{}), w: newWriter(p, log)}
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

// run is the dispatcher.
func (p *pipeline) run() {
	defer close(p.done)
	var writes []op
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
			o := &batch[i]
			switch o.kind {
			case opNodeStatus, opJobStatus, opOutput, opDurable:
				writes = append(writes, *o)
			case opEvent:
				p.sink.JobEvent(o.org, o.jobID, o.ev)
				p.behind.Add(-1)
			case opGone:
				if g, ok := p.sink.(GoneSink); ok {
					g.JobGone(o.org, o.jobID)
				}
				p.behind.Add(-1)
			case opFlush, opCall:
				p.w.push(writes, true)
				writes = nil
				if o.kind == opCall {
					o.fn()
				}
				p.behind.Add(-1)
			}
			batch[i] = op{}
		}
		if len(writes) > 0 {
			p.w.push(writes, false)
			writes = nil
		}
		if closed && len(batch) == 0 {
			p.w.close()
			return
		}
	}
}

// writer applies writes on its own goroutine, in order, each round in one go.
type writer struct {
	persist Persister
	log     *slog.Logger

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []op
	marks   int // barriers queued
	reached int // barriers made durable
	closed  bool
	done    chan struct{}

	// one round's coalesced writes
	nodes   []store.NodeStatus
	index   map[nodeRow]int // position in nodes
	jobs    []op
	outputs []Output
	durable []func() // called once this round's writes are made
}

type nodeRow struct{ job, node string }

func newWriter(p Persister, log *slog.Logger) *writer {
	w := &writer{persist: p, log: log, done: make(chan struct{}), index: map[nodeRow]int{}}
	w.cond = sync.NewCond(&w.mu)
	go w.run()
	return w
}

// push queues writes; with barrier set it waits until they, and everything queued before
// them, are durable.
func (w *writer) push(ops []op, barrier bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.queue = append(w.queue, ops...)
	if barrier {
		w.queue = append(w.queue, op{kind: opFlush})
		w.marks++
		mark := w.marks
		w.cond.Broadcast()
		for w.reached < mark {
			w.cond.Wait()
		}
		return
	}
	w.cond.Broadcast()
}

func (w *writer) close() {
	w.mu.Lock()
	w.closed = true
	w.cond.Broadcast()
	w.mu.Unlock()
	<-w.done
}

func (w *writer) run() {
	defer close(w.done)
	for {
		w.mu.Lock()
		for len(w.queue) == 0 && !w.closed {
			w.cond.Wait()
		}
		batch := w.queue
		w.queue = nil
		closed := w.closed
		w.mu.Unlock()
		marks := 0
		for i := range batch {
			switch o := &batch[i]; o.kind {
			case opNodeStatus:
				k := nodeRow{o.ns.JobID, o.ns.Node}
				if j, ok := w.index[k]; ok {
					w.nodes[j] = o.ns // one transaction: only the last status of a node counts
				} else {
					w.index[k] = len(w.nodes)
					w.nodes = append(w.nodes, o.ns)
				}
			case opJobStatus:
				w.jobs = append(w.jobs, *o)
			case opOutput:
				w.outputs = append(w.outputs, o.out)
			case opDurable:
				w.durable = append(w.durable, o.fn)
			case opFlush:
				marks++
			}
		}
		w.flush()
		for i, fn := range w.durable {
			fn()
			w.durable[i] = nil
		}
		w.durable = w.durable[:0]
		if marks > 0 {
			w.mu.Lock()
			w.reached += marks
			w.cond.Broadcast()
			w.mu.Unlock()
		}
		if closed && len(batch) == 0 {
			return
		}
	}
}

// flush writes what is pending in one go: outputs first, then node statuses, then job
// statuses, so that a client that sees a job finished can read every node's status and output
// at once (the real server stores a node's output before it updates the job). A later job
// status of the same round is written after an earlier one, so the last one stays.
func (w *writer) flush() {
	if len(w.outputs) > 0 {
		if b, ok := w.persist.(OutputBatcher); ok {
			if err := b.Outputs(w.outputs); err != nil {
				w.log.Error("storing outputs", "count", len(w.outputs), "err", err)
			}
		} else {
			for _, o := range w.outputs {
				if err := w.persist.Output(o.JobID, o.Node, o.Stdout, o.Stderr); err != nil {
					w.log.Error("storing output", "job", o.JobID, "node", o.Node, "err", err)
				}
			}
		}
		w.outputs = nil
	}
	if len(w.nodes) > 0 {
		if err := w.persist.NodeStatuses(w.nodes); err != nil {
			w.log.Error("storing node statuses", "count", len(w.nodes), "err", err)
		}
		w.nodes = nil
		clear(w.index)
	}
	for _, j := range w.jobs {
		if err := w.persist.JobStatus(j.jobID, j.status, j.at); err != nil {
			w.log.Error("storing job status", "job", j.jobID, "status", j.status, "err", err)
		}
	}
	w.jobs = nil
}
