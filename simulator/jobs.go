package simulator

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/pushlab/pushlab/internal/pushyclient"
	"github.com/pushlab/pushlab/scenarios"
	"github.com/pushlab/pushlab/simulator/checks"
)

// feedEvent is one SSE event of a job feed as the run received it.
type feedEvent struct {
	ev       checks.Event
	data     pushyclient.EventData
	received time.Time     // off the connection
	t        time.Duration // received, run time
	seg      int           // which connection of the feed (from 1)
}

// poll is a job as one GET /jobs/ID showed it.
type poll struct {
	t      time.Duration
	status string
	nodes  map[string]string // node -> status
}

// jobRun is one job of the run: what was asked, and everything seen of it.
type jobRun struct {
	r        *run
	name     string
	template string // the load template, for load jobs
	step     int
	spec     *scenarios.JobSpec
	nodes    []string
	quorum   int
	runTO    time.Duration // effective run timeout
	timeout  time.Duration // bound on waiting for it to finish
	req      pushyclient.JobRequest

	id        string
	posted    time.Duration
	created   time.Duration
	createErr error

	mu        sync.Mutex
	status    string
	seen      map[string]time.Duration // first time each job status was seen
	polls     []poll
	lastNodes map[string]string
	final     *pushyclient.Job
	finalAt   time.Duration // first time a final status was seen
	events    []feedEvent
	segments  int
	feedNotes []string
	closedOK  bool // the server closed the feed after job_complete
	resumeID  string
	resumed   []checks.Event
	resumeErr string
	failed    bool

	finished chan struct{} // closed once a final status is known
	done     chan struct{} // closed once the job's record is complete (final GET, feed ended)
	checked  chan struct{} // closed once the job's checks have run
	finOnce  sync.Once
}

// statusRank orders job statuses so that a wait for a state is met by any later one.
var statusRank = map[string]int{"new": 0, "voting": 1, "running": 2, "complete": 3, "quorum_failed": 3, "timed_out": 3, "crashed": 3, "aborted": 3}

func isFinal(status string) bool { return statusRank[status] == 3 }

// reached reports whether the job has shown state (or, for voting and running, gone past it).
func (j *jobRun) reached(state string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	switch state {
	case "finished":
		return isFinal(j.status)
	case "voting":
		return j.status != "" && j.status != "new"
	case "running":
		if _, ok := j.seen["running"]; ok {
			return true
		}
		return j.status == "complete" || j.status == "timed_out"
	}
	return j.status == state
}

func (j *jobRun) setStatus(status string, at time.Duration) {
	j.mu.Lock()
	if _, ok := j.seen[status]; !ok {
		j.seen[status] = at
	}
	prev := j.status
	if statusRank[status] >= statusRank[j.status] {
		j.status = status
	}
	if ui := j.r.ui; ui != nil && prev != j.status {
		if j.status == "running" {
			ui.running.Add(1)
		} else if prev == "running" {
			ui.running.Add(-1)
		}
	}
	final := isFinal(status)
	if final && j.finalAt == 0 {
		j.finalAt = at
	}
	j.mu.Unlock()
	if final {
		j.finOnce.Do(func() { close(j.finished) })
	}
}

func (j *jobRun) currentStatus() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.status
}

// newJob prepares a job of the timeline (or of a load) on nodes.
func (r *run) newJob(spec *scenarios.JobSpec, name, template string, step int, nodes []string) *jobRun {
	j := &jobRun{r: r, name: name, template: template, step: step, spec: spec, nodes: nodes,
		seen: map[string]time.Duration{}, finished: make(chan struct{}), done: make(chan struct{}), checked: make(chan struct{})}
	j.quorum = len(nodes)
	req := pushyclient.JobRequest{Command: spec.Command, Nodes: nodes, User: spec.User, Dir: spec.Dir, File: spec.File}
	if spec.Quorum != nil {
		j.quorum = spec.Quorum.Of(len(nodes))
		q := j.quorum
		req.Quorum = &q
	}
	j.runTO = r.tg.cfg.DefaultRunTimeout
	if spec.RunTimeout != nil {
		secs := int(spec.RunTimeout.D() / time.Second)
		req.RunTimeout = &secs
		j.runTO = spec.RunTimeout.D()
	}
	if spec.Env != nil {
		req.Env = spec.Env
	}
	capture := spec.Capture
	req.CaptureOutput = &capture
	j.req = req
	j.timeout = r.tg.cfg.VotingTimeout + j.runTO + 30*time.Second
	if spec.Timeout != nil {
		j.timeout = spec.Timeout.D()
	}
	return j
}

// start creates the job on the server and follows it in the background until it finishes.
func (j *jobRun) start(ctx context.Context) {
	r := j.r
	r.addJob(j)
	j.posted = r.hist.Since()
	t0 := time.Now()
	started, err := r.api.StartJob(ctx, j.req)
	j.created = r.hist.Since()
	tags := Tags{Job: j.tagName()}
	r.metrics.Add("jobs", 1, tags)
	if err != nil {
		j.createErr = err
		r.hist.Add(Entry{Kind: KindJob, Job: j.name, Type: "create_failed", Detail: err.Error()})
		j.finOnce.Do(func() { close(j.finished) })
		close(j.done)
		r.jobDone(j)
		return
	}
	r.metrics.Duration("job_create_duration", time.Since(t0), tags)
	j.id = started.ID
	j.setStatus("voting", j.created)
	r.hist.Add(Entry{Kind: KindJob, Job: j.name, JobID: j.id, Type: "created", Detail: strings.Join(trimList(j.nodes, 20), " ")})
	feedDone := make(chan struct{})
	go func() {
		defer close(feedDone)
		j.follow(ctx)
	}()
	go func() {
		j.pollUntilFinal(ctx)
		select {
		case <-feedDone:
		case <-time.After(r.tg.cfg.WaitCompleteTime + 15*time.Second):
		case <-ctx.Done():
		}
		j.fetchFinal(ctx)
		close(j.done)
		r.jobDone(j)
	}()
}

func (j *jobRun) tagName() string {
	if j.template != "" {
		return j.template
	}
	return j.name
}

// pollInterval is how often a job is polled: less often for big jobs.
func (j *jobRun) pollInterval() time.Duration {
	switch {
	case len(j.nodes) > 3000:
		return time.Second
	case len(j.nodes) > 500:
		return 500 * time.Millisecond
	}
	return 250 * time.Millisecond
}

// pollUntilFinal polls GET /jobs/ID until the job shows a final status, the job's timeout
// passes, or the run ends. Every change of status or node statuses is recorded, and every
// transition is checked against the job and node state machines (protocol.md §5.1–5.5).
func (j *jobRun) pollUntilFinal(ctx context.Context) {
	deadline := time.Now().Add(j.timeout)
	tick := time.NewTicker(j.pollInterval())
	defer tick.Stop()
	for {
		if job, err := j.r.api.Job(ctx, j.id); err == nil {
			j.observe(job)
			if job.Finished() {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-j.finished:
			// the feed saw job_complete: one more poll shows the final state
			tick.Reset(50 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			return
		}
	}
}

func (j *jobRun) observe(job *pushyclient.Job) {
	now := j.r.hist.Since()
	nodes := job.NodeStatus()
	j.mu.Lock()
	prevStatus := ""
	if len(j.polls) > 0 {
		prevStatus = j.polls[len(j.polls)-1].status
	}
	changed := prevStatus != job.Status
	var moved []string
	for n, st := range nodes {
		prev, ok := j.lastNodes[n]
		if !ok {
			prev = "new"
		}
		if prev != st {
			moved = append(moved, n+":"+prev+"->"+st)
		}
	}
	if len(nodes) < len(j.lastNodes) {
		moved = append(moved, "(nodes left the job)")
	}
	if changed || len(moved) > 0 {
		j.polls = append(j.polls, poll{t: now, status: job.Status, nodes: nodes})
	}
	j.lastNodes = nodes
	if job.Finished() {
		j.final = job
	}
	j.mu.Unlock()
	if changed || len(moved) > 0 {
		e := Entry{Kind: KindJob, Job: j.name, JobID: j.id, Type: job.Status}
		if len(moved) > 0 {
			e.Detail = strings.Join(trimList(moved, 50), " ")
		}
		j.r.hist.Add(e)
	}
	j.setStatus(job.Status, now)
}

// fetchFinal reads the job once more after its feed ended: the record the checks use.
func (j *jobRun) fetchFinal(ctx context.Context) {
	if j.id == "" {
		return
	}
	for try := 0; try < 3; try++ {
		job, err := j.r.api.Job(ctx, j.id)
		if err == nil {
			j.observe(job)
			return
		}
		if sleepCtx(ctx, 200*time.Millisecond) != nil {
			return
		}
	}
}

// follow reads the job's feed from the start. When the connection breaks before
// job_complete it reconnects with Last-Event-ID, as a browser's EventSource would, so the
// events of all connections together are the whole feed; a job the server no longer runs
// answers with a single summary event.
func (j *jobRun) follow(ctx context.Context) {
	r := j.r
	lastID := ""
	resumeAt := 0
	if j.spec.Expect != nil && j.spec.Expect.SSE != nil && j.spec.Expect.SSE.ResumeAfter > 0 {
		resumeAt = j.spec.Expect.SSE.ResumeAfter
	} else if len(j.nodes) <= 50 && j.template == "" {
		resumeAt = 2 // a cheap Last-Event-ID check on every small job
	}
	var resumeWG sync.WaitGroup
	defer resumeWG.Wait()
	giveUp := time.Now().Add(j.timeout + 30*time.Second)
	for attempt := 0; ctx.Err() == nil && time.Now().Before(giveUp); attempt++ {
		if attempt > 0 {
			if sleepCtx(ctx, 300*time.Millisecond) != nil {
				return
			}
		}
		feed, err := r.api.JobFeed(ctx, j.id, lastID)
		if err != nil {
			j.note("opening the feed: " + err.Error())
			continue
		}
		j.mu.Lock()
		j.segments++
		seg := j.segments
		j.mu.Unlock()
		complete, summary := false, false
		inSeg := 0
		events := feed.Events()
		var closeTimer <-chan time.Time
	read:
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					break read
				}
				fe := feedEvent{ev: checks.Event{Name: ev.Name, ID: ev.ID, Data: json.RawMessage(ev.Data)},
					received: ev.Received, t: r.hist.At(ev.Received), seg: seg}
				fe.data, _ = pushyclient.DecodeEvent(ev)
				j.record(fe)
				inSeg++
				if ev.ID != "" {
					lastID = ev.ID
				}
				switch ev.Name {
				case "job_complete":
					complete = true
					closeTimer = time.After(r.tg.cfg.WaitCompleteTime + 5*time.Second)
				case "summary":
					summary = true
				}
				if resumeAt > 0 && seg == 1 && inSeg == resumeAt && !complete {
					id := ev.ID
					resumeWG.Add(1)
					go func() {
						defer resumeWG.Done()
						j.resume(ctx, id)
					}()
				}
			case <-closeTimer:
				j.note("the server did not close the feed after job_complete")
				break read
			case <-ctx.Done():
				feed.Close()
				return
			}
		}
		feed.Close()
		if complete {
			j.mu.Lock()
			j.closedOK = closeTimer != nil && !strings.Contains(strings.Join(j.feedNotes, "\n"), "did not close")
			j.mu.Unlock()
			return
		}
		if summary {
			return
		}
		j.note("the feed ended before job_complete; reconnecting with Last-Event-ID " + lastID)
	}
}

func (j *jobRun) note(s string) {
	j.mu.Lock()
	j.feedNotes = append(j.feedNotes, s)
	j.mu.Unlock()
	j.r.hist.Add(Entry{Kind: KindNote, Job: j.name, JobID: j.id, Detail: s})
}

// record keeps one feed event and its metrics.
func (j *jobRun) record(fe feedEvent) {
	r := j.r
	r.hist.Add(Entry{Kind: KindSSE, Job: j.name, JobID: j.id, Type: fe.ev.Name, ID: fe.ev.ID, Data: rawJSON(fe.ev.Data)})
	tags := Tags{Job: j.tagName(), Event: fe.ev.Name}
	if fe.data.Node != "" {
		if l := r.nodes[fe.data.Node]; l != nil {
			tags.Group, tags.Behaviour = l.tags.Group, l.tags.Behaviour
		}
	}
	r.metrics.Add("sse_events", 1, tags)
	r.countEvent(fe.t)
	if ts, err := time.Parse(checks.SSETimeLayout, fe.data.Timestamp); err == nil {
		// measured to when the event came off the connection, not to when this goroutine got to
		// it: a burst of thousands of events must not make the server look slow
		r.metrics.Duration("sse_event_lag", max(0, fe.received.Sub(ts)), tags)
	}
	switch fe.ev.Name {
	case "quorum_succeeded":
		j.setStatus("running", fe.t)
	case "job_complete":
		j.setStatus(fe.data.Status, fe.t)
	}
	j.mu.Lock()
	j.events = append(j.events, fe)
	j.mu.Unlock()
}

// resume opens a second feed with Last-Event-ID id and keeps what it gets.
func (j *jobRun) resume(ctx context.Context, id string) {
	feed, err := j.r.api.JobFeed(ctx, j.id, id)
	if err != nil {
		j.mu.Lock()
		j.resumeID, j.resumeErr = id, err.Error()
		j.mu.Unlock()
		return
	}
	defer feed.Close()
	var got []checks.Event
	deadline := time.After(j.timeout + 30*time.Second)
	events := feed.Events()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				j.mu.Lock()
				j.resumeID, j.resumed = id, got
				j.mu.Unlock()
				return
			}
			got = append(got, checks.Event{Name: ev.Name, ID: ev.ID, Data: json.RawMessage(ev.Data)})
		case <-deadline:
			j.mu.Lock()
			j.resumeID, j.resumed, j.resumeErr = id, got, "the resumed feed did not end"
			j.mu.Unlock()
			return
		case <-ctx.Done():
			return
		}
	}
}

// wait blocks until the job's record is complete or its timeout passes.
func (j *jobRun) wait(ctx context.Context, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-j.done:
		return nil
	case <-t.C:
		return errors.New("job " + j.name + " did not finish within " + timeout.String())
	case <-ctx.Done():
		return ctx.Err()
	}
}

// feedEvents returns a copy of the job's feed events.
func (j *jobRun) feedEvents() []feedEvent {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]feedEvent(nil), j.events...)
}

func rawJSON(b []byte) json.RawMessage {
	if json.Valid(b) {
		return json.RawMessage(b)
	}
	s, _ := json.Marshal(string(b))
	return s
}

func trimList(list []string, n int) []string {
	if len(list) <= n {
		return list
	}
	out := append([]string(nil), list[:n]...)
	return append(out, "…+"+itoa(len(list)-n))
}
