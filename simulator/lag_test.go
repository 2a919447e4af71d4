package simulator

import (
	"io"
	"testing"
	"time"

	"github.com/pushlab/pushlab/fakenodes"
)

// TestFleetLag: only the diagnoses that put the fleet itself at fault excuse a failure.
func TestFleetLag(t *testing.T) {
	prev := fakenodes.Stats{Sent: map[string]int64{}}
	cases := []struct {
		name string
		cur  fakenodes.Stats
		cpu  float64
		lag  bool
	}{
		{"late heartbeats", fakenodes.Stats{HeartbeatTicks: 100, LateTicks: 50}, 0, true},
		{"fleet CPU", fakenodes.Stats{}, 9.5, true},
		{"full send queues", fakenodes.Stats{Sent: map[string]int64{"heartbeat": 100}, SendFull: 50}, 0, false},
		{"lost sends", fakenodes.Stats{SendLost: 3}, 0, false},
	}
	for _, c := range cases {
		ws := fakenodes.Diagnose(prev, c.cur, 5*time.Second, c.cpu, 2)
		if len(ws) != 1 {
			t.Fatalf("%s: diagnoses %q, want one", c.name, ws)
		}
		if got := fleetLag(ws[0]); got != c.lag {
			t.Errorf("%s: fleetLag(%q) = %v, want %v", c.name, ws[0], got, c.lag)
		}
	}
}

// TestLagExplains: a job's failure is excused only by lag from shortly before the job was
// posted to its end; a failure outside any job by lag at any time.
func TestLagExplains(t *testing.T) {
	r := &run{byName: map[string]*jobRun{}, hist: NewHistory(io.Discard), ocfg: oracleConfig{guard: 2 * time.Second}, ui: newProgress(nil, false, 0)}
	r.addJob(&jobRun{name: "early", posted: 10 * time.Second, finalAt: 20 * time.Second})
	r.addJob(&jobRun{name: "late", posted: 60 * time.Second, finalAt: 70 * time.Second})
	r.addJob(&jobRun{name: "edge", posted: 41 * time.Second, finalAt: 45 * time.Second})
	if r.lagExplains(Check{Job: "early"}) || r.lagExplains(Check{ID: "org-feed"}) {
		t.Fatal("excused without any lag")
	}
	r.addLag(30*time.Second, 35*time.Second)
	r.addLag(35*time.Second, 39500*time.Millisecond) // merged with the one before
	if len(r.lagWindows) != 1 {
		t.Errorf("windows %v, want one merged window", r.lagWindows)
	}
	for job, want := range map[string]bool{"early": false, "late": false, "edge": true} {
		if got := r.lagExplains(Check{Job: job}); got != want {
			t.Errorf("job %s: excused %v, want %v", job, got, want)
		}
	}
	if !r.lagExplains(Check{ID: "org-feed"}) {
		t.Error("a failure outside any job is not excused by lag during the run")
	}
}
