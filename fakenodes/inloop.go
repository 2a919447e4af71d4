package fakenodes

import (
	"math/rand/v2"
	"time"

	"github.com/pushlab/pushlab/fakenodes/behaviour"
)

// inLoop is a node as its behaviours see it: every method acts at once, on the node's loop.
type inLoop Node

var _ behaviour.Node = (*inLoop)(nil)

func (v *inLoop) n() *Node { return (*Node)(v) }

func (v *inLoop) Name() string      { return v.name }
func (v *inLoop) Index() int        { return v.index }
func (v *inLoop) Group() string     { return v.group }
func (v *inLoop) Rand() *rand.Rand  { return v.rng }
func (v *inLoop) Now() time.Time    { return v.n().now() }
func (v *inLoop) Fired(what string) { v.f.fired(v.name, what) }

func (v *inLoop) Job() (behaviour.JobState, string) { return v.jobState, v.jobID }

func (v *inLoop) AckCommit(c *behaviour.Commit)  { v.n().standardCommit(c) }
func (v *inLoop) HoldCommit(c *behaviour.Commit) { v.n().holdCommit(c) }
func (v *inLoop) AckRun(jobID string)            { v.n().standardRun(jobID) }

func (v *inLoop) NackCommit(jobID string) {
	if v.alive {
		v.n().sendCommand("nack_commit", jobID)
	}
}

func (v *inLoop) NackRun(jobID string) {
	if v.alive {
		v.n().sendCommand("nack_run", jobID)
	}
}

func (v *inLoop) Send(m behaviour.Message) { v.n().send(m) }

func (v *inLoop) After(d time.Duration, fn func()) func() {
	t := v.n().after(d, fn)
	return func() { v.l.cancel(t) }
}

func (v *inLoop) Crash()                     { v.n().crash() }
func (v *inLoop) Restart(down time.Duration) { v.n().restart(down) }
func (v *inLoop) Reconnect()                 { v.n().reconnect() }

func (v *inLoop) Unavailable(d time.Duration, disconnect bool) { v.n().unavailable(d, disconnect) }

func (v *inLoop) SetClockSkew(d time.Duration) { v.skew = d }

func (v *inLoop) Count(key any) int {
	if v.counts == nil {
		v.counts = map[any]int{}
	}
	v.counts[key]++
	return v.counts[key]
}
