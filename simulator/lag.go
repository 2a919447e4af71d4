package simulator

import (
	"strings"
	"time"
)

// A run is inconclusive only when the simulated fleet itself lagged while what failed was
// happening: its own timers ran late or it used nearly all the CPU it could. Full send queues
// and lost sends are reported but excuse nothing, since a server that stops reading (or a
// reconnect storm, by design) fills them as surely as a slow fleet does.

// lagWindow is a stretch of the run, in run time, in which the fleet lagged.
type lagWindow struct{ from, to time.Duration }

// fleetLagPrefixes start the fleet diagnoses (fakenodes.Diagnose) that say the fleet itself
// was the bottleneck.
var fleetLagPrefixes = []string{"fleet overloaded:", "fleet CPU above"}

// fleetLag reports whether a fleet diagnosis says the fleet itself lagged.
func fleetLag(diagnosis string) bool {
	for _, p := range fleetLagPrefixes {
		if strings.HasPrefix(diagnosis, p) {
			return true
		}
	}
	return false
}

func (r *run) addLag(from, to time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.lagWindows); n > 0 && from <= r.lagWindows[n-1].to && to >= r.lagWindows[n-1].from {
		w := &r.lagWindows[n-1]
		w.from, w.to = min(w.from, from), max(w.to, to)
		return
	}
	r.lagWindows = append(r.lagWindows, lagWindow{from, to})
}

// lagExplains reports whether the fleet lagged while a failed check's subject was under way:
// for a job's check, from a guard before the job was posted to when it was seen finished; for
// any other check, at any time of the run.
func (r *run) lagExplains(c Check) bool {
	r.mu.Lock()
	windows := append([]lagWindow(nil), r.lagWindows...)
	r.mu.Unlock()
	if len(windows) == 0 {
		return false
	}
	j := r.job(c.Job)
	if c.Job == "" || j == nil {
		return true
	}
	j.mu.Lock()
	from, to := j.posted-r.ocfg.guard, j.finalAt
	j.mu.Unlock()
	if to == 0 {
		to = r.hist.Since()
	}
	for _, w := range windows {
		if w.from <= to && w.to >= from {
			return true
		}
	}
	return false
}
