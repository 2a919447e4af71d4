package engine

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushlab/pushlab/server/store"
)

// recorder is the Sender, Persister and EventSink of the tests. Everything goes into one ordered
// log too, so tests can check that a write happened before an event.
type recorder struct {
	mu      sync.Mutex
	sent    []string // "node type [job]"
	events  []string // "name(node,status)"
	evs     []Event
	log     []string
	nodeSt  map[string]string // job/node -> last stored status
	jobSt   map[string]string
	outputs map[string]string
	gone    []string
	nsCalls int
}

func newRecorder() *recorder {
	return &recorder{nodeSt: map[string]string{}, jobSt: map[string]string{}, outputs: map[string]string{}}
}

func (r *recorder) Send(org, node string, m Outbound) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := node + " " + m.Type
	if m.JobID != "" {
		s += " " + m.JobID
	}
	r.sent = append(r.sent, s)
}

func (r *recorder) JobStatus(id, status string, at time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.jobSt[id] = status
	r.log = append(r.log, "job_status "+status)
	return nil
}

func (r *recorder) NodeStatuses(us []store.NodeStatus) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nsCalls++
	for _, u := range us {
		r.nodeSt[u.JobID+"/"+u.Node] = u.Status
	}
	r.log = append(r.log, fmt.Sprintf("node_statuses %d", len(us)))
	return nil
}

func (r *recorder) Output(jobID, node string, stdout, stderr []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outputs[jobID+"/"+node] = string(stdout) + "|" + string(stderr)
	return nil
}

func evString(ev Event) string {
	switch {
	case ev.Node != "" && ev.Status != "":
		return fmt.Sprintf("%s(%s,%s)", ev.Name, ev.Node, ev.Status)
	case ev.Node != "":
		return fmt.Sprintf("%s(%s)", ev.Name, ev.Node)
	case ev.Status != "":
		return fmt.Sprintf("%s(%s)", ev.Name, ev.Status)
	}
	return ev.Name
}

func (r *recorder) JobEvent(org, jobID string, ev Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, evString(ev))
	r.evs = append(r.evs, ev)
	r.log = append(r.log, "event "+evString(ev))
}

func (r *recorder) JobGone(org, jobID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gone = append(r.gone, jobID)
}

// take returns and clears what was sent and emitted.
func (r *recorder) take() (sent, events []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sent, events = r.sent, r.events
	r.sent, r.events = nil, nil
	return sent, events
}

type harness struct {
	t     *testing.T
	clk   *FakeClock
	rec   *recorder
	e     *Engine
	jobNo int
}

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	clk := NewFakeClock(epoch)
	cfg.Clock = clk
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = time.Hour // liveness out of the way unless a test asks for it
	}
	rec := newRecorder()
	e := New(cfg, rec, rec, rec)
	t.Cleanup(e.Close)
	return &harness{t: t, clk: clk, rec: rec, e: e}
}

const org = "acme"

func (h *harness) msg(node, typ, job string) {
	h.e.NodeMessage(NodeMsg{Org: org, Node: node, Type: typ, JobID: job, IncarnationID: "inc-" + node})
	h.e.Sync()
}

// online brings nodes to idle (abort answered) and clears the records.
func (h *harness) online(nodes ...string) {
	for _, n := range nodes {
		h.msg(n, MsgHeartbeat, "")
		h.msg(n, MsgAborted, "")
	}
	h.rec.take()
}

func (h *harness) advance(d time.Duration) {
	h.clk.Advance(d)
	h.e.Sync()
}

func (h *harness) start(quorum int, nodes ...string) string {
	h.t.Helper()
	h.jobNo++
	id := fmt.Sprintf("job%02d", h.jobNo)
	j := &store.Job{ID: id, Org: org, Command: "echo hi", Status: JobNew, RunTimeout: 3600, Quorum: quorum,
		Requestor: "alice", Nodes: map[string]string{}}
	for _, n := range nodes {
		j.Nodes[n] = NodeNew
	}
	if err := h.e.StartJob(j); err != nil {
		h.t.Fatalf("StartJob: %v", err)
	}
	h.e.Sync()
	return id
}

func (h *harness) job(id string) *store.Job {
	h.t.Helper()
	j, ok := h.e.Job(id)
	if !ok {
		h.t.Fatalf("job %s not live", id)
	}
	return j
}

func eq(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("%s:\n got  %q\n want %q", what, got, want)
	}
}
