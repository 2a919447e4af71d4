package engine

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushlab/pushlab/server/store"
)

type countingSink struct {
	sent, events, rows atomic.Int64
	complete           chan string
}

func (c *countingSink) Send(org, node string, m Outbound)               { c.sent.Add(1) }
func (c *countingSink) JobStatus(id, status string, at time.Time) error { return nil }
func (c *countingSink) NodeStatuses(us []store.NodeStatus) error {
	c.rows.Add(int64(len(us)))
	return nil
}
func (c *countingSink) Output(jobID, node string, stdout, stderr []byte) error { return nil }
func (c *countingSink) JobEvent(org, jobID string, ev Event) {
	c.events.Add(1)
	if ev.Name == EventJobComplete {
		c.complete <- ev.Status
	}
}

// BenchmarkNoOpJob9000 pushes a 9,000-node job through the engine alone: 27,000 node messages
// in (ack_commit, ack_run, succeeded), 27,000+ events and 27,000 node-status rows out.
func BenchmarkNoOpJob9000(b *testing.B) {
	const n = 9000
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("node-%05d", i)
	}
	c := &countingSink{complete: make(chan string, 1)}
	e := New(Config{HeartbeatInterval: time.Hour}, c, c, c)
	defer e.Close()
	for _, name := range names {
		e.NodeMessage(NodeMsg{Org: org, Node: name, Type: MsgHeartbeat, IncarnationID: "i"})
		e.NodeMessage(NodeMsg{Org: org, Node: name, Type: MsgAborted, IncarnationID: "i"})
	}
	e.Sync()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := fmt.Sprintf("job-%d", i)
		j := &store.Job{ID: id, Org: org, Command: "true", RunTimeout: 3600, Quorum: n, Nodes: map[string]string{}}
		for _, name := range names {
			j.Nodes[name] = NodeNew
		}
		if err := e.StartJob(j); err != nil {
			b.Fatal(err)
		}
		for _, typ := range []string{MsgAckCommit, MsgAckRun, MsgSucceeded} {
			for _, name := range names {
				e.NodeMessage(NodeMsg{Org: org, Node: name, Type: typ, JobID: id, IncarnationID: "i"})
			}
		}
		if st := <-c.complete; st != JobComplete {
			b.Fatalf("job ended %s", st)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(c.rows.Load())/float64(b.N), "rows/job")
}
