package framework

import (
	"time"

	"github.com/onsi/gomega"
)

// Timings are the deadlines of a run, all derived from the target's heartbeat interval and
// settings, so that waits scale with the target: fast against a reference server with 100 ms
// heartbeats, pedant-like against a production server with 10 s heartbeats.
type Timings struct {
	Heartbeat time.Duration // the target's push_jobs.heartbeat.interval
	Settings

	Poll     time.Duration // polling interval of Eventually
	Message  time.Duration // a ZeroMQ message or an SSE event the server owes now
	NodeUp   time.Duration // a connected node becomes available (pedant: 10 heartbeats + 5 s)
	NodeDown time.Duration // a silent node is declared down
	Job      time.Duration // a job whose nodes answer at once finishes (pedant: max(30 heartbeats, 26 s))
	Voting   time.Duration // a job waiting for the voting timeout finishes
	Quiet    time.Duration // how long "nothing happens" is watched (Consistently)
	Fleet    time.Duration // a fleet of load nodes comes online
}

// NewTimings derives every deadline from the heartbeat interval and the server settings.
func NewTimings(hb time.Duration, set Settings) Timings {
	t := Timings{Heartbeat: hb, Settings: set}
	t.Poll = clamp(hb/4, 10*time.Millisecond, 250*time.Millisecond)
	t.Message = 5*time.Second + 2*hb
	t.NodeUp = 10*hb + 5*time.Second
	t.NodeDown = 10*hb + 5*time.Second
	t.Job = max(30*hb, 10*time.Second)
	t.Voting = set.VotingTimeout + t.Job
	t.Quiet = max(3*hb, 300*time.Millisecond)
	t.Fleet = max(60*hb, 30*time.Second)
	return t
}

// apply makes the timings gomega's defaults for Eventually and Consistently.
func (t Timings) apply() {
	gomega.SetDefaultEventuallyTimeout(t.Job)
	gomega.SetDefaultEventuallyPollingInterval(t.Poll)
	gomega.SetDefaultConsistentlyDuration(t.Quiet)
	gomega.SetDefaultConsistentlyPollingInterval(t.Poll)
}

func clamp(d, lo, hi time.Duration) time.Duration { return min(max(d, lo), hi) }
