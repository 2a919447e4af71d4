package feeds

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/pushlab/pushlab/server/engine"
	"github.com/pushlab/pushlab/server/jobview"
	"github.com/pushlab/pushlab/server/mutant"
	"github.com/pushlab/pushlab/server/store"
)

// Config holds the feed parameters (protocol.md §12). Zero values take the real server's defaults.
type Config struct {
	OrgFeedExpiration time.Duration // org events are kept this long; default 60 s
	KeepAlive         time.Duration // ":keepalive" after this much silence; default 15 s
	// WaitComplete: a finished job's history is dropped this long after job_complete if the
	// engine has not reported the job gone by then; default 5 s.
	WaitComplete time.Duration
	Clock        engine.Clock // default engine.RealClock
	// Summary loads a stored job (with Nodes) for ServeJobFeed once its FSM is gone.
	Summary func(ctx context.Context, jobID string) (*store.Job, error)
	Log     *slog.Logger
	// Mutants are deliberate faults for proving the conformance suite (never set in normal use).
	Mutants mutant.Set
}

// Feeds keeps each live job's event history and each org's recent start/job_complete events,
// and streams them to SSE clients.
//
// Design note: events are rendered once, when they arrive, into a shared history; subscribers
// hold only a position in it and a one-slot wake-up channel. JobEvent therefore never waits on a
// client, however slow: a slow client just reads more at once when it catches up.
type Feeds struct {
	cfg    Config
	clock  engine.Clock
	log    *slog.Logger
	mu     sync.Mutex
	jobs   map[string]*jobFeed
	orgs   map[string]*orgFeed
	closed chan struct{}
	once   sync.Once
}

type jobFeed struct {
	org    string
	ids    []string
	events [][]byte
	done   bool // job_complete seen
	gone   bool // FSM ended: nothing more will come
	subs   map[chan struct{}]struct{}
	held   *heldEvent // an event a mutant holds back
}

type heldEvent struct {
	id   string
	text []byte
}

type orgEvent struct {
	seq  int
	id   string
	at   time.Time
	text []byte
}

type orgFeed struct {
	next   int // next org-N
	events []orgEvent
	subs   map[chan struct{}]struct{}
}

// New returns an empty Feeds.
func New(cfg Config) *Feeds {
	if cfg.OrgFeedExpiration <= 0 {
		cfg.OrgFeedExpiration = 60 * time.Second
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = 15 * time.Second
	}
	if cfg.WaitComplete <= 0 {
		cfg.WaitComplete = 5 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = engine.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Feeds{cfg: cfg, clock: cfg.Clock, log: cfg.Log, jobs: map[string]*jobFeed{},
		orgs: map[string]*orgFeed{}, closed: make(chan struct{})}
}

// Close ends every open stream (call it before shutting the HTTP server down, which would
// otherwise wait for the never-ending org feeds).
func (f *Feeds) Close() { f.once.Do(func() { close(f.closed) }) }

func wake(subs map[chan struct{}]struct{}) {
	for ch := range subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// JobEvent records a job event (engine.EventSink). start and job_complete also go to the org
// feed, re-numbered org-N and with the job id added.
func (f *Feeds) JobEvent(org, jobID string, ev engine.Event) {
	fs := fields(ev)
	text := render(ev.Name, jobEventID(ev.Seq), ev.Time, fs)
	f.mu.Lock()
	defer f.mu.Unlock()
	jf := f.jobs[jobID]
	if jf == nil {
		jf = &jobFeed{org: org, subs: map[chan struct{}]struct{}{}}
		f.jobs[jobID] = jf
	}
	switch {
	case ev.Name == engine.EventRunStart && f.cfg.Mutants.Has(mutant.SSEDuplicateIDs) && len(jf.ids) > 0:
		id := jf.ids[len(jf.ids)-1]
		text = render(ev.Name, id, ev.Time, fs)
		jf.ids = append(jf.ids, id)
		jf.events = append(jf.events, text)
	case ev.Name == engine.EventQuorumSucceeded && f.cfg.Mutants.Has(mutant.SSEOutOfOrder):
		// Hold quorum_succeeded back until after the next event.
		jf.held = &heldEvent{id: jobEventID(ev.Seq), text: text}
	default:
		jf.ids = append(jf.ids, jobEventID(ev.Seq))
		jf.events = append(jf.events, text)
		if h := jf.held; h != nil && ev.Name != engine.EventQuorumSucceeded {
			jf.held = nil
			jf.ids = append(jf.ids, h.id)
			jf.events = append(jf.events, h.text)
		}
	}
	if ev.Name == engine.EventJobComplete {
		jf.done = true
		f.clock.AfterFunc(f.cfg.WaitComplete, func() { f.drop(jobID, jf) })
	}
	wake(jf.subs)
	if ev.Name != engine.EventStart && ev.Name != engine.EventJobComplete {
		return
	}
	of := f.org(org)
	f.expire(of)
	of.next++
	id := orgEventID(of.next)
	ofs := append([]kv{{"job", jobID}}, fs...)
	of.events = append(of.events, orgEvent{seq: of.next, id: id, at: ev.Time, text: render(ev.Name, id, ev.Time, ofs)})
	wake(of.subs)
}

// JobGone forgets a job whose FSM ended (engine.GoneSink): later requests get the summary.
func (f *Feeds) JobGone(org, jobID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if jf := f.jobs[jobID]; jf != nil {
		f.dropLocked(jobID, jf)
	}
}

func (f *Feeds) drop(jobID string, jf *jobFeed) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dropLocked(jobID, jf)
}

func (f *Feeds) dropLocked(jobID string, jf *jobFeed) {
	if f.jobs[jobID] == jf {
		delete(f.jobs, jobID)
	}
	jf.gone = true
	wake(jf.subs)
}

func (f *Feeds) org(org string) *orgFeed {
	of := f.orgs[org]
	if of == nil {
		of = &orgFeed{subs: map[chan struct{}]struct{}{}}
		f.orgs[org] = of
	}
	return of
}

// expire drops org events older than the expiration.
func (f *Feeds) expire(of *orgFeed) {
	cut := f.clock.Now().Add(-f.cfg.OrgFeedExpiration)
	i := 0
	for i < len(of.events) && of.events[i].at.Before(cut) {
		i++
	}
	if i > 0 {
		of.events = append([]orgEvent(nil), of.events[i:]...)
	}
}

func (f *Feeds) lastEventID(r *http.Request) (string, bool) {
	if f.cfg.Mutants.Has(mutant.LastEventIDIgnored) {
		return "", false
	}
	v := r.Header.Values("Last-Event-ID")
	if len(v) == 0 {
		return "", false
	}
	return v[0], true
}

func sseHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
}

// ServeJobFeed serves a job feed, loading the summary of a finished job with Config.Summary.
// Authentication and authorization are the caller's.
func (f *Feeds) ServeJobFeed(w http.ResponseWriter, r *http.Request, org, jobID string) {
	var summary func() (*store.Job, error)
	if f.cfg.Summary != nil {
		summary = func() (*store.Job, error) { return f.cfg.Summary(r.Context(), jobID) }
	}
	f.ServeJobFeedWith(w, r, org, jobID, summary)
}

// ServeJobFeedWith serves a job feed (protocol.md §6):
//   - live job: the history after Last-Event-ID (all of it if the id is absent or unknown), then
//     new events as they happen; the response ends right after job_complete;
//   - job finished but its FSM still lingering (wait_complete_time): the whole history and the
//     end, the last event not followed by a blank line, as the real server sends it;
//   - job FSM gone: a single "summary" event holding the GET /jobs/ID object, Last-Event-ID
//     ignored, not streamed;
//   - unknown job (summary nil, or it returns no job): 404.
func (f *Feeds) ServeJobFeedWith(w http.ResponseWriter, r *http.Request, org, jobID string, summary func() (*store.Job, error)) {
	last, hasLast := f.lastEventID(r)
	f.mu.Lock()
	jf := f.jobs[jobID]
	if jf == nil || jf.org != org {
		f.mu.Unlock()
		f.serveSummary(w, summary)
		return
	}
	start := 0
	if hasLast {
		for i, id := range jf.ids {
			if id == last {
				start = i + 1
				break
			}
		}
	}
	hist := join(jf.events[start:])
	if jf.done || jf.gone {
		f.mu.Unlock()
		sseHeaders(w)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(hist)
		return
	}
	sub := make(chan struct{}, 1)
	jf.subs[sub] = struct{}{}
	pos := len(jf.events)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(jf.subs, sub)
		f.mu.Unlock()
	}()

	sseHeaders(w)
	w.WriteHeader(http.StatusOK)
	// The real server writes the history and a blank line even when the history is empty.
	hist = append(hist, "\n\n"...)
	if !write(w, hist) {
		return
	}
	f.stream(w, r, sub, func() ([]byte, bool) {
		f.mu.Lock()
		defer f.mu.Unlock()
		var b bytes.Buffer
		for _, ev := range jf.events[pos:] {
			b.Write(ev)
			b.WriteString("\n\n")
		}
		pos = len(jf.events)
		return b.Bytes(), jf.done || jf.gone
	})
}

func (f *Feeds) serveSummary(w http.ResponseWriter, summary func() (*store.Job, error)) {
	var j *store.Job
	var err error
	if summary != nil {
		j, err = summary()
	}
	if j == nil {
		if err != nil {
			f.log.Debug("job feed summary", "err", err)
		}
		http.NotFound(w, nil)
		return
	}
	view := jobview.Render(j, false, true)
	var b bytes.Buffer
	b.WriteString("event: summary\nid: job-1\ndata: {\"timestamp\":\"")
	b.WriteString(FormatTime(f.clock.Now()))
	b.WriteByte('"')
	if len(view) > 2 {
		b.WriteByte(',')
		b.Write(view[1:])
	} else {
		b.WriteByte('}')
	}
	sseHeaders(w)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
}

// ServeOrgFeed serves an org feed (protocol.md §6): without Last-Event-ID only new events; with a
// retained id, the retained events after it; with an unknown or expired id, start_of_history
// (timestamped now minus the expiration) and every retained event. It never ends by itself.
func (f *Feeds) ServeOrgFeed(w http.ResponseWriter, r *http.Request, org string) {
	last, hasLast := f.lastEventID(r)
	f.mu.Lock()
	of := f.org(org)
	f.expire(of)
	var hist [][]byte
	if hasLast {
		found := -1
		for i, ev := range of.events {
			if ev.id == last {
				found = i
			}
		}
		if found < 0 {
			hist = append(hist, render("start_of_history", "start_id", f.clock.Now().Add(-f.cfg.OrgFeedExpiration), nil))
		}
		for _, ev := range of.events[found+1:] {
			hist = append(hist, ev.text)
		}
	}
	sub := make(chan struct{}, 1)
	of.subs[sub] = struct{}{}
	pos := of.next + 1
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(of.subs, sub)
		f.mu.Unlock()
	}()

	sseHeaders(w)
	w.WriteHeader(http.StatusOK)
	var first []byte
	if len(hist) > 0 {
		first = append(join(hist), "\n\n"...)
	}
	if !write(w, first) {
		return
	}
	f.stream(w, r, sub, func() ([]byte, bool) {
		f.mu.Lock()
		defer f.mu.Unlock()
		var b bytes.Buffer
		for _, ev := range of.events {
			if ev.seq >= pos {
				b.Write(ev.text)
				b.WriteString("\n\n")
			}
		}
		pos = of.next + 1
		return b.Bytes(), false
	})
}

// stream writes what next returns each time sub fires, a keepalive comment after KeepAlive of
// silence, and stops when next says the feed is over, the client goes or Close is called.
func (f *Feeds) stream(w http.ResponseWriter, r *http.Request, sub chan struct{}, next func() ([]byte, bool)) {
	for {
		ka := make(chan struct{})
		t := f.clock.AfterFunc(f.cfg.KeepAlive, func() { close(ka) })
		select {
		case <-sub:
			t.Stop()
			b, end := next()
			if len(b) > 0 && !write(w, b) {
				return
			}
			if end {
				return
			}
		case <-ka:
			if !write(w, []byte(":keepalive\n")) {
				return
			}
		case <-r.Context().Done():
			t.Stop()
			return
		case <-f.closed:
			t.Stop()
			return
		}
	}
}

// write writes and flushes; false when the client is gone.
func write(w http.ResponseWriter, b []byte) bool {
	if len(b) > 0 {
		if _, err := w.Write(b); err != nil {
			return false
		}
	}
	return http.NewResponseController(w).Flush() == nil
}
