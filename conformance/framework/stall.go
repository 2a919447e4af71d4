package framework

import (
	"fmt"
	"sync"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
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

// SpecStarted starts watching for stalls (the suite's BeforeEach).
func SpecStarted() {
	if current != nil && current.stalls != nil {
		current.stalls.take()
	}
}

// SpecEnded marks a failed spec inconclusive when this process stalled for a heartbeat
// interval or more while it ran (the suite's AfterEach).
func SpecEnded() {
	if current == nil || current.stalls == nil {
		return
	}
	worst := current.stalls.take()
	if ginkgo.CurrentSpecReport().Failed() && worst >= current.Timings.Heartbeat {
		ginkgo.AddReportEntry(InconclusiveEntry, fmt.Sprintf("the harness stalled for %s (the heartbeat interval is %s): the machine is overloaded, the failure cannot be blamed on the server",
			worst.Round(time.Millisecond), current.Timings.Heartbeat), types.ReportEntryVisibilityAlways)
	}
}
