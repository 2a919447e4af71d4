package feeds

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/pushlab/pushlab/internal/sse"
	"github.com/pushlab/pushlab/server/engine"
	"github.com/pushlab/pushlab/server/store"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type sseEvent = sse.Event

func stream(body io.Reader) <-chan sseEvent { return sse.Stream(body) }

type fixture struct {
	f     *Feeds
	clock *engine.FakeClock
	srv   *httptest.Server
	jobs  map[string]*store.Job
}

func newFixture(t *testing.T) *fixture {
	fx := &fixture{clock: engine.NewFakeClock(t0), jobs: map[string]*store.Job{}}
	fx.f = New(Config{
		OrgFeedExpiration: time.Minute,
		KeepAlive:         15 * time.Second,
		WaitComplete:      5 * time.Second,
		Clock:             fx.clock,
		Summary: func(_ context.Context, id string) (*store.Job, error) {
			return fx.jobs[id], nil
		},
	})
	fx.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		if parts[0] == "org" {
			fx.f.ServeOrgFeed(w, r, parts[1])
			return
		}
		fx.f.ServeJobFeed(w, r, parts[1], parts[2])
	}))
	t.Cleanup(func() {
		fx.f.Close()
		fx.srv.Close()
	})
	return fx
}

func (fx *fixture) get(t *testing.T, path, lastID string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", fx.srv.URL+path, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func (fx *fixture) emit(seq int, name, node, status string) {
	ev := engine.Event{Seq: seq, Name: name, Time: fx.clock.Now().Add(time.Duration(seq) * time.Microsecond), Node: node, Status: status}
	if name == engine.EventStart {
		ev.Start = &engine.Start{Command: "chef-client", RunTimeout: 3600, Quorum: 1, NodeCount: 1, User: "admin"}
	}
	fx.f.JobEvent("acme", "j1", ev)
}

func names(evs []sseEvent) []string {
	var out []string
	for _, e := range evs {
		if !e.IsComment() {
			out = append(out, e.Name+"/"+e.ID)
		}
	}
	return out
}

func collect(ch <-chan sseEvent) []sseEvent {
	var out []sseEvent
	for e := range ch {
		out = append(out, e)
	}
	return out
}

func TestJobFeedLiveStreamsAndClosesAfterJobComplete(t *testing.T) {
	g := NewWithT(t)
	fx := newFixture(t)
	fx.emit(1, engine.EventStart, "", "")
	resp := fx.get(t, "/job/acme/j1", "")
	g.Expect(resp.StatusCode).To(Equal(200))
	g.Expect(resp.Header.Get("Content-Type")).To(Equal("text/event-stream"))
	g.Expect(resp.Header.Get("X-Accel-Buffering")).To(Equal("no"))
	ch := stream(resp.Body)
	var first sseEvent
	g.Eventually(ch).Should(Receive(&first))
	g.Expect(first.Name).To(Equal("start"))
	g.Expect(string(first.Data)).To(HavePrefix(`{"timestamp":"2026-03-01 12:00:00.000001Z","command":"chef-client","run_timeout":3600,"quorum":1,"node_count":1,"user":"admin","capture":false}`))

	fx.emit(2, engine.EventQuorumVote, "n1", "success")
	fx.emit(3, engine.EventQuorumSucceeded, "", "")
	fx.emit(4, engine.EventRunStart, "n1", "")
	fx.emit(5, engine.EventRunComplete, "n1", "success")
	fx.emit(6, engine.EventJobComplete, "", "complete")
	rest := collect(ch) // ends only if the server closes the response
	g.Expect(names(rest)).To(Equal([]string{"quorum_vote/job-2", "quorum_succeeded/job-3", "run_start/job-4", "run_complete/job-5", "job_complete/job-6"}))
	g.Expect(string(rest[0].Data)).To(ContainSubstring(`"node":"n1","status":"success"`))
	g.Expect(string(rest[4].Data)).To(HaveSuffix(`"status":"complete"}`))
}

func TestJobFeedLastEventIDResumes(t *testing.T) {
	g := NewWithT(t)
	fx := newFixture(t)
	fx.emit(1, engine.EventStart, "", "")
	fx.emit(2, engine.EventQuorumVote, "n1", "success")
	fx.emit(3, engine.EventQuorumSucceeded, "", "")
	ch := stream(fx.get(t, "/job/acme/j1", "job-2").Body)
	var ev sseEvent
	g.Eventually(ch).Should(Receive(&ev))
	g.Expect(ev.Name + "/" + ev.ID).To(Equal("quorum_succeeded/job-3"))
	fx.emit(4, engine.EventJobComplete, "", "timed_out")
	g.Expect(names(collect(ch))).To(Equal([]string{"job_complete/job-4"}))

	// An unknown id replays everything.
	all := collect(stream(fx.get(t, "/job/acme/j1", "job-99").Body))
	g.Expect(names(all)).To(HaveLen(4))
}

func TestJobFeedFinishedWithinWaitCompleteReturnsHistoryWithoutTrailingBlankLine(t *testing.T) {
	g := NewWithT(t)
	fx := newFixture(t)
	fx.emit(1, engine.EventStart, "", "")
	fx.emit(2, engine.EventQuorumVote, "n1", "failure")
	fx.emit(3, engine.EventJobComplete, "", "quorum_failed")
	resp := fx.get(t, "/job/acme/j1", "")
	body, err := io.ReadAll(resp.Body)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(body)).To(HavePrefix("event: start\nid: job-1\ndata: {"))
	g.Expect(string(body)).To(HaveSuffix("event: job_complete\nid: job-3\ndata: {\"timestamp\":\"2026-03-01 12:00:00.000003Z\",\"status\":\"quorum_failed\"}"))
	g.Expect(strings.Count(string(body), "\n\n")).To(Equal(2))
}

func TestJobFeedAfterWaitCompleteServesSummaryOnly(t *testing.T) {
	g := NewWithT(t)
	fx := newFixture(t)
	fx.emit(1, engine.EventStart, "", "")
	fx.emit(2, engine.EventJobComplete, "", "complete")
	fx.jobs["j1"] = &store.Job{ID: "j1", Org: "acme", Command: "chef-client", Status: "complete", RunTimeout: 3600,
		Quorum: 1, Requestor: "admin", CreatedAt: t0, UpdatedAt: t0, Nodes: map[string]string{"n1": "succeeded"}}
	fx.clock.Advance(5 * time.Second)
	resp := fx.get(t, "/job/acme/j1", "job-1")
	evs := collect(stream(resp.Body))
	g.Expect(names(evs)).To(Equal([]string{"summary/job-1"}))
	g.Expect(string(evs[0].Data)).To(HavePrefix(`{"timestamp":"2026-03-01 12:00:05.000000Z","nodes":{"succeeded":["n1"]},"id":"j1","command":"chef-client","status":"complete"`))

	g.Expect(fx.get(t, "/job/acme/nope", "").StatusCode).To(Equal(404))
}

func TestJobFeedJobGoneEndsOpenStream(t *testing.T) {
	g := NewWithT(t)
	fx := newFixture(t)
	fx.emit(1, engine.EventStart, "", "")
	ch := stream(fx.get(t, "/job/acme/j1", "").Body)
	g.Eventually(ch).Should(Receive())
	fx.f.JobGone("acme", "j1")
	g.Eventually(ch).Should(BeClosed())
}

func TestJobFeedOtherOrgIsNotFound(t *testing.T) {
	fx := newFixture(t)
	fx.emit(1, engine.EventStart, "", "")
	if code := fx.get(t, "/job/other/j1", "").StatusCode; code != 404 {
		t.Fatalf("job of another org: got %d, want 404", code)
	}
}

func TestKeepAliveAfterSilence(t *testing.T) {
	g := NewWithT(t)
	fx := newFixture(t)
	fx.emit(1, engine.EventStart, "", "")
	ch := stream(fx.get(t, "/job/acme/j1", "").Body)
	g.Eventually(ch).Should(Receive())
	// The stream arms its keepalive timer once it is waiting.
	g.Eventually(fx.clock.Pending).Should(Equal(1))
	fx.clock.Advance(15 * time.Second)
	var ev sseEvent
	g.Eventually(ch).Should(Receive(&ev))
	g.Expect(ev.Comment).To(Equal("keepalive"))
}

func TestOrgFeed(t *testing.T) {
	g := NewWithT(t)
	fx := newFixture(t)
	fx.emit(1, engine.EventStart, "", "")
	fx.emit(2, engine.EventQuorumVote, "n1", "success")
	fx.emit(3, engine.EventJobComplete, "", "complete")

	// Without Last-Event-ID: only live events.
	live := stream(fx.get(t, "/org/acme", "").Body)
	// A retained id: the events after it.
	after := stream(fx.get(t, "/org/acme", "org-1").Body)
	var ev sseEvent
	g.Eventually(after).Should(Receive(&ev))
	g.Expect(ev.Name + "/" + ev.ID).To(Equal("job_complete/org-2"))
	g.Expect(string(ev.Data)).To(Equal(`{"timestamp":"2026-03-01 12:00:00.000003Z","job":"j1","status":"complete"}`))
	// An unknown id: start_of_history, then everything retained.
	unknown := stream(fx.get(t, "/org/acme", "org-77").Body)
	g.Eventually(unknown).Should(Receive(&ev))
	g.Expect(ev.Name + "/" + ev.ID).To(Equal("start_of_history/start_id"))
	g.Expect(string(ev.Data)).To(Equal(`{"timestamp":"2026-03-01 11:59:00.000000Z"}`))
	g.Eventually(unknown).Should(Receive(&ev))
	g.Expect(ev.ID).To(Equal("org-1"))
	g.Expect(string(ev.Data)).To(ContainSubstring(`"job":"j1","command":"chef-client"`))

	fx.f.JobEvent("acme", "j2", engine.Event{Seq: 1, Name: engine.EventStart, Time: t0.Add(time.Second), Start: &engine.Start{Command: "x"}})
	g.Eventually(live).Should(Receive(&ev))
	g.Expect(ev.Name + "/" + ev.ID).To(Equal("start/org-3"))
	g.Consistently(live, 50*time.Millisecond).ShouldNot(Receive())

	// Events older than the expiration are dropped: a known but expired id gets start_of_history.
	fx.clock.Advance(2 * time.Minute)
	fx.f.JobEvent("acme", "j3", engine.Event{Seq: 1, Name: engine.EventStart, Time: fx.clock.Now(), Start: &engine.Start{Command: "y"}})
	late := stream(fx.get(t, "/org/acme", "org-1").Body)
	g.Eventually(late).Should(Receive(&ev))
	g.Expect(ev.Name).To(Equal("start_of_history"))
	g.Eventually(late).Should(Receive(&ev))
	g.Expect(ev.ID).To(Equal("org-4"))
}

func TestOrgFeedsAreSeparate(t *testing.T) {
	g := NewWithT(t)
	fx := newFixture(t)
	other := stream(fx.get(t, "/org/other", "").Body)
	fx.emit(1, engine.EventStart, "", "")
	g.Consistently(other, 50*time.Millisecond).ShouldNot(Receive())
}
