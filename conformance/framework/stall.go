package framework

import (
	"fmt"
	"sync"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"

	"github.com/pushlab/pushlab/fakenodes"
)

// InconclusiveEntry names the report entry that turns a failure into an inconclusive verdict.
const InconclusiveEntry = "inconclusive"

// stallMonitor measures how late a ticker fires: when the machine is so loaded that this
// process stalls, simulated nodes miss heartbeats too and a server rightly declares them down.
// A spec that fails during such a stall cannot judge the server.
type stallMonitor struct {
	mu     sync.Mutex
	worst  time.Duration
	period time.Duration
	stop   chan struct{}
}

func newStallMonitor(period time.Duration) *stallMonitor {
	m := &stallMonitor{period: period, stop: make(chan struct{})}
	go m.run()
	return m
}

func (m *stallMonitor) run() {
	t := time.NewTicker(m.period)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-m.stop:
			return
		case now := <-t.C:
			if late := now.Sub(last) - m.period; late > 0 {
				m.mu.Lock()
				m.worst = max(m.worst, late)
				m.mu.Unlock()
			}
			last = now
		}
	}
}

// take returns the worst stall since the last take and starts over.
func (m *stallMonitor) take() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.worst
	m.worst = 0
	return w
}

func (m *stallMonitor) close() { close(m.stop) }

// fleetWatch knows the simulated fleets that are running, to tell whether their nodes missed
// heartbeats of their own while a spec ran: the event loops can fall behind (threads
// descheduled, a burst of work) while this process's ticker keeps time.
type fleetWatch struct {
	mu     sync.Mutex
	fleets map[*fakenodes.Fleet]int64 // missed heartbeat ticks when the spec started
}

func (w *fleetWatch) add(f *fakenodes.Fleet) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fleets == nil {
		w.fleets = map[*fakenodes.Fleet]int64{}
	}
	w.fleets[f] = f.Stats().MissedTicks
}

func (w *fleetWatch) remove(f *fakenodes.Fleet) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.fleets, f)
}

// take returns the heartbeats the fleets missed since the last take and starts over.
func (w *fleetWatch) take() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var missed int64
	for f, before := range w.fleets {
		now := f.Stats().MissedTicks
		missed += now - before
		w.fleets[f] = now
	}
	return missed
}

// SpecStarted starts watching for stalls (the suite's BeforeEach).
func SpecStarted() {
	if current != nil && current.stalls != nil {
		current.stalls.take()
		current.fleets.take()
	}
}

// SpecEnded marks a failed spec inconclusive when, while it ran, this process stalled for a
// heartbeat interval or more, or simulated nodes sent a heartbeat a whole interval late (the
// suite's AfterEach): a server then rightly declares nodes down.
func SpecEnded() {
	if current == nil || current.stalls == nil {
		return
	}
	worst, missed := current.stalls.take(), current.fleets.take()
	if !ginkgo.CurrentSpecReport().Failed() {
		return
	}
	switch {
	case worst >= current.Timings.Heartbeat:
		ginkgo.AddReportEntry(InconclusiveEntry, fmt.Sprintf("the harness stalled for %s (the heartbeat interval is %s): the machine is overloaded, the failure cannot be blamed on the server",
			worst.Round(time.Millisecond), current.Timings.Heartbeat), types.ReportEntryVisibilityAlways)
	case missed > 0:
		ginkgo.AddReportEntry(InconclusiveEntry, fmt.Sprintf("simulated nodes sent %d heartbeats a whole interval (%s) or more late: the harness fell behind, the failure cannot be blamed on the server",
			missed, current.Timings.Heartbeat), types.ReportEntryVisibilityAlways)
	}
}
