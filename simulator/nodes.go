package simulator

import (
	"sort"
	"sync"
	"time"

	"github.com/pushlab/pushlab/fakenodes"
)

// nodeEvent is one node-side event, kept in memory for the oracle.
type nodeEvent struct {
	t    time.Duration // run time
	kind fakenodes.EventKind
	typ  string
	job  string
}

// nodeLog is everything one simulated node reported, in order.
type nodeLog struct {
	name  string
	group string
	tags  Tags // group and behaviours, for per-node metrics

	mu     sync.Mutex
	events []nodeEvent
	// startedAt is when the node last started (configuring), pendingOnline whether the server
	// has not shown it available since.
	startedAt     time.Duration
	pendingOnline bool
	faults        []string // names of the faults that hit it
}

func (l *nodeLog) add(e nodeEvent) {
	l.mu.Lock()
	l.events = append(l.events, e)
	if e.kind == fakenodes.EventState && e.typ == string(fakenodes.StateConfiguring) && !l.pendingOnline {
		l.startedAt, l.pendingOnline = e.t, true
	}
	l.mu.Unlock()
}

// snapshot returns a copy of the events, sorted by time.
func (l *nodeLog) snapshot() []nodeEvent {
	l.mu.Lock()
	out := append([]nodeEvent(nil), l.events...)
	l.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].t < out[j].t })
	return out
}

func (l *nodeLog) addFault(name string) {
	if name == "" {
		return
	}
	l.mu.Lock()
	l.faults = append(l.faults, name)
	l.mu.Unlock()
}

func (l *nodeLog) faultNames() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.faults...)
}

// reachable reports whether a node in this state talks to the server.
func reachable(s fakenodes.State) bool {
	return s == fakenodes.StateOnline || s == fakenodes.StateConnecting
}

// stateAt is the node's state at t (pending before any event).
func stateAt(evs []nodeEvent, t time.Duration) fakenodes.State {
	st := fakenodes.StatePending
	for _, e := range evs {
		if e.t > t {
			break
		}
		if e.kind == fakenodes.EventState && isState(e.typ) {
			st = fakenodes.State(e.typ)
		}
	}
	return st
}

func isState(s string) bool {
	for _, x := range fakenodes.States {
		if string(x) == s {
			return true
		}
	}
	return false
}

// unreachableThroughout reports whether the node did not talk to the server at any time in
// [a, b].
func unreachableThroughout(evs []nodeEvent, a, b time.Duration) bool {
	if reachable(stateAt(evs, a)) {
		return false
	}
	for _, e := range evs {
		if e.t < a || e.kind != fakenodes.EventState || !isState(e.typ) {
			continue
		}
		if e.t > b {
			break
		}
		if reachable(fakenodes.State(e.typ)) {
			return false
		}
	}
	return true
}

// first returns the first event of kind and type for job at or after from; ok false when none.
func first(evs []nodeEvent, kind fakenodes.EventKind, typ, job string, from time.Duration) (nodeEvent, bool) {
	for _, e := range evs {
		if e.t >= from && e.kind == kind && (typ == "" || e.typ == typ) && (job == "" || e.job == job) {
			return e, true
		}
	}
	return nodeEvent{}, false
}

// jobStateAt is the node's job runner state (and job) just before t.
func jobStateAt(evs []nodeEvent, t time.Duration) (string, string) {
	st, job := "idle", ""
	for _, e := range evs {
		if e.t >= t {
			break
		}
		if e.kind == fakenodes.EventJob && (e.typ == "idle" || e.typ == "committed" || e.typ == "running") {
			st, job = e.typ, e.job
		}
		if e.kind == fakenodes.EventState && e.typ == string(fakenodes.StateDown) {
			st, job = "idle", "" // a dead process has no job
		}
	}
	return st, job
}
