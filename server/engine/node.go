package engine

import (
	"math"
	"sort"
	"time"

	"github.com/pushlab/pushlab/server/mutant"
)

type nodeKey struct{ org, node string }

type nodeState int

const (
	stateRehab nodeState = iota // waiting for "aborted"; the real server's post_init passes straight here
	stateIdle
)

// nodeFSM is the server's view of one connected node (pushy_node_state.erl).
type nodeFSM struct {
	key         nodeKey
	state       nodeState
	incarnation string
	seq         int    // last Outbound.Sequence sent
	rehabTimer  *timer // abort re-send while in rehab
	// listAvailable is the cached availability the node_states list reads: set when the node
	// reaches idle, never lowered again (the real server's gproc value; protocol.md §2.8).
	listAvailable bool
	watchers      []*jobFSM // jobs that watched this FSM instance at their start

	// liveness (pushy_node_stats.erl): created at the first heartbeat, not at FSM creation, so a
	// node that never heartbeats is never declared down, as in the real server.
	hasStats      bool
	avg           float64
	intervalStart time.Time
	beats         int
}

func (e *Engine) sendTo(n *nodeFSM, m Outbound) {
	n.seq++
	m.Sequence = n.seq
	e.send.Send(n.key.org, n.key.node, m)
}

func (e *Engine) handleNodeMsg(m NodeMsg) {
	if m.JobID == "null" {
		m.JobID = ""
	}
	k := nodeKey{m.Org, m.Node}
	n := e.nodes[k]
	if n == nil {
		// First message of an unknown node: the FSM starts in post_init, sends abort and goes to
		// rehab, then handles the message.
		n = &nodeFSM{key: k, incarnation: m.IncarnationID}
		e.nodes[k] = n
		e.forceAbort(n)
	} else if m.NewIdentity {
		// Address change: the FSM re-registers and acknowledges so the node knows the channel works.
		e.sendTo(n, Outbound{Type: OutAck})
	}
	switch m.Type {
	case MsgHeartbeat:
		if m.JobID != "" && e.jobs[m.JobID] == nil {
			e.rehab(n)
		}
		if m.IncarnationID != n.incarnation {
			// The node restarted: this FSM stops; the next message creates a fresh one.
			e.stopNode(n)
			return
		}
		if e.heartbeat(n) {
			e.stopNode(n)
		}
	case MsgAborted:
		if n.state == stateRehab {
			n.rehabTimer.cancel()
			n.rehabTimer = nil
			n.state = stateIdle
			n.listAvailable = true
		}
		if m.JobID != "" {
			if j := e.jobs[m.JobID]; j != nil {
				e.jobMessage(j, m)
			}
		}
	case MsgAckCommit, MsgNackCommit, MsgAckRun, MsgNackRun, MsgSucceeded, MsgFailed:
		j := e.jobs[m.JobID]
		if j == nil {
			e.rehab(n)
			return
		}
		e.jobMessage(j, m)
	default:
		e.log.Debug("ignoring node message of unknown type", "org", m.Org, "node", m.Node, "type", m.Type)
	}
}

// forceAbort sends abort, enters rehab and (re)arms the re-send timer.
func (e *Engine) forceAbort(n *nodeFSM) {
	e.sendTo(n, Outbound{Type: OutAbort})
	n.state = stateRehab
	n.rehabTimer.cancel()
	n.rehabTimer = e.after(e.cfg.RehabInterval, func() {
		if e.nodes[n.key] == n && n.state == stateRehab {
			e.forceAbort(n)
		}
	})
}

// rehab is the "do_rehab" request: an idle node is aborted; a node already in rehab is left
// alone (its re-send timer keeps running).
func (e *Engine) rehab(n *nodeFSM) {
	if n.state == stateIdle {
		e.forceAbort(n)
	}
}

// rehabByName rehabs whatever FSM currently holds the name, if any.
func (e *Engine) rehabByName(org, node string) {
	if n := e.nodes[nodeKey{org, node}]; n != nil {
		e.rehab(n)
	}
}

// stopNode ends an FSM (node offline) and tells the jobs that watched it.
func (e *Engine) stopNode(n *nodeFSM) {
	if e.nodes[n.key] != n {
		return
	}
	delete(e.nodes, n.key)
	n.rehabTimer.cancel()
	n.rehabTimer = nil
	watchers := n.watchers
	n.watchers = nil
	for _, j := range watchers {
		e.nodeDown(j, n.key.node)
	}
}

// advance closes the liveness buckets that ended before now.
func (e *Engine) advance(n *nodeFSM, now time.Time) {
	hb := e.cfg.HeartbeatInterval
	count := int64(now.Sub(n.intervalStart) / hb)
	if count <= 0 {
		return
	}
	keep := 1 - 1/float64(e.cfg.DecayWindow)
	n.avg = (n.avg*keep + float64(n.beats)/float64(e.cfg.DecayWindow)) * math.Pow(keep, float64(count-1))
	n.intervalStart = n.intervalStart.Add(time.Duration(count) * hb)
	n.beats = 0
}

// heartbeat counts a heartbeat and reports whether the node should be declared down.
func (e *Engine) heartbeat(n *nodeFSM) (dead bool) {
	now := e.clock.Now()
	if !n.hasStats {
		n.hasStats = true
		n.avg = 2 * e.cfg.DownThreshold
		n.intervalStart = now
		n.beats = 1
		return false
	}
	e.advance(n, now)
	n.beats++
	return n.avg < e.cfg.DownThreshold && !e.cfg.Mutants.Has(mutant.DeadNodeStaysAvailable)
}

func (e *Engine) scheduleScan() {
	e.after(e.cfg.HeartbeatInterval*time.Duration(e.cfg.DetectOfflineNodesInterval), func() {
		e.scan()
		e.scheduleScan()
	})
}

// scan is the offline-node scanner: every node with liveness stats whose average fell below the
// threshold is stopped, in name order.
func (e *Engine) scan() {
	now := e.clock.Now()
	var dead []*nodeFSM
	for _, n := range e.nodes {
		if !n.hasStats {
			continue
		}
		e.advance(n, now)
		if n.avg < e.cfg.DownThreshold && !e.cfg.Mutants.Has(mutant.DeadNodeStaysAvailable) {
			dead = append(dead, n)
		}
	}
	sort.Slice(dead, func(i, j int) bool {
		if dead[i].key.org != dead[j].key.org {
			return dead[i].key.org < dead[j].key.org
		}
		return dead[i].key.node < dead[j].key.node
	})
	for _, n := range dead {
		e.stopNode(n)
	}
}
