package engine

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pushlab/pushlab/server/store"
)

// slowStore is a persister whose node-status writes block until released, like SQLite busy with
// a large transaction.
type slowStore struct {
	*recorder
	release chan struct{}
	once    sync.Once
}

func (s *slowStore) NodeStatuses(us []store.NodeStatus) error {
	<-s.release
	return s.recorder.NodeStatuses(us)
}

func (s *slowStore) open() { s.once.Do(func() { close(s.release) }) }

// eventually polls cond until it holds or a deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%s: not within 5 s", what)
		}
	}
}

func (r *recorder) has(event string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e == event {
			return true
		}
	}
	return false
}

// Events never wait for the store, except job_complete, which waits until everything before it
// is durable; the order of events is kept either way.
func TestEventsDoNotWaitForTheStoreButJobCompleteDoes(t *testing.T) {
	rec := newRecorder()
	st := &slowStore{recorder: rec, release: make(chan struct{})}
	e, started := startTwoNodeJob(t, rec, st)
	t.Cleanup(st.open) // before e.Close, which waits for the store
	select {
	case err := <-started:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("StartJob waits for node-status writes")
	}
	msg := func(n, typ string) {
		e.NodeMessage(NodeMsg{Org: org, Node: n, Type: typ, JobID: "j1", IncarnationID: "inc-" + n})
	}
	msg("A", MsgAckCommit)
	msg("B", MsgAckCommit)
	msg("A", MsgAckRun)
	msg("B", MsgAckRun)
	msg("A", MsgSucceeded)
	// the store is stuck on the votes' statuses; the events still flow
	eventually(t, "run_start(A) while the store is busy", func() bool { return rec.has("run_start(A)") })
	msg("B", MsgSucceeded)
	eventually(t, "run_complete(B,success)", func() bool { return rec.has("run_complete(B,success)") })
	time.Sleep(50 * time.Millisecond) // give a wrong implementation the chance to deliver early
	if rec.has("job_complete(complete)") {
		t.Fatal("job_complete delivered before the statuses before it were stored")
	}
	st.open()
	e.Sync()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	eq(t, "events", rec.events, []string{"start", "quorum_vote(A,success)", "quorum_vote(B,success)", "quorum_succeeded",
		"run_start(A)", "run_start(B)", "run_complete(A,success)", "run_complete(B,success)", "job_complete(complete)"})
	if rec.nodeSt["j1/A"] != NodeSucceeded || rec.nodeSt["j1/B"] != NodeSucceeded || rec.jobSt["j1"] != JobComplete {
		t.Errorf("stored %v, job %q", rec.nodeSt, rec.jobSt["j1"])
	}
	iStatus := -1
	for i, l := range rec.log {
		if l == "job_status complete" {
			iStatus = i
		}
		if l == "event job_complete(complete)" && (iStatus < 0 || i < iStatus) {
			t.Errorf("job_complete before the final status: %v", rec.log)
		}
	}
}

// startTwoNodeJob starts an engine with nodes A and B idle and, on a goroutine, job j1 on both;
// StartJob's answer comes on started.
func startTwoNodeJob(t *testing.T, rec *recorder, p Persister) (e *Engine, started <-chan error) {
	e = New(Config{Clock: NewFakeClock(epoch), HeartbeatInterval: time.Hour}, rec, p, rec)
	t.Cleanup(e.Close)
	for _, n := range []string{"A", "B"} {
		e.NodeMessage(NodeMsg{Org: org, Node: n, Type: MsgHeartbeat, IncarnationID: "inc-" + n})
		e.NodeMessage(NodeMsg{Org: org, Node: n, Type: MsgAborted, IncarnationID: "inc-" + n})
	}
	e.Sync() // both idle before the job starts
	j := &store.Job{ID: "j1", Org: org, Command: "x", Status: JobNew, RunTimeout: 60, Quorum: 2, Requestor: "alice",
		Nodes: map[string]string{"A": NodeNew, "B": NodeNew}}
	ch := make(chan error, 1)
	go func() { ch <- e.StartJob(j) }()
	return e, ch
}

// slowJobStore holds job-status writes until released.
type slowJobStore struct {
	*recorder
	release chan struct{}
	once    sync.Once
}

func (s *slowJobStore) JobStatus(id, status string, at time.Time) error {
	<-s.release
	return s.recorder.JobStatus(id, status, at)
}

func (s *slowJobStore) open() { s.once.Do(func() { close(s.release) }) }

// StartJob returns only once the job's voting status is stored, but the job's events do not
// wait for that write: the first votes come in while the POST is still being answered.
func TestStartJobWaitsForItsWritesButItsEventsDoNot(t *testing.T) {
	rec := newRecorder()
	st := &slowJobStore{recorder: rec, release: make(chan struct{})}
	e, started := startTwoNodeJob(t, rec, st)
	t.Cleanup(st.open) // before e.Close, which waits for the store
	eventually(t, "the commit sent to A", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return slices.Contains(rec.sent, "A commit j1")
	})
	e.NodeMessage(NodeMsg{Org: org, Node: "A", Type: MsgAckCommit, JobID: "j1", IncarnationID: "inc-A"})
	eventually(t, "quorum_vote(A) while the voting status is being stored", func() bool { return rec.has("quorum_vote(A,success)") })
	select {
	case err := <-started:
		t.Fatalf("StartJob returned (%v) before the job's status was stored", err)
	default:
	}
	st.open()
	select {
	case err := <-started:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("StartJob did not return once the status was stored")
	}
	if rec.jobSt["j1"] == "" {
		t.Error("StartJob returned without the job's status stored")
	}
}
