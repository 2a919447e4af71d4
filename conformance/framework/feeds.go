package framework

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"github.com/pushlab/pushlab/internal/pushyclient"
	"github.com/pushlab/pushlab/internal/sse"
	"github.com/pushlab/pushlab/simulator/checks"
)

// FeedLog reads an SSE feed as it arrives and keeps every event (comments dropped).
type FeedLog struct {
	s      *Suite
	feed   *pushyclient.Feed
	ch     <-chan sse.Event
	Events []sse.Event
	Ended  bool
}

// JobFeed opens the job feed of id (lastID "" for none), closed when the spec ends.
func (s *Suite) JobFeed(id, lastID string) *FeedLog {
	ginkgo.GinkgoHelper()
	f, err := s.API.JobFeed(context.Background(), id, lastID)
	gomega.Expect(err).NotTo(gomega.HaveOccurred(), "opening the feed of job %s", id)
	return s.feedLog(f)
}

// OrgFeed opens the org feed (lastID "" for none), closed when the spec ends.
func (s *Suite) OrgFeed(lastID string) *FeedLog {
	ginkgo.GinkgoHelper()
	f, err := s.API.OrgFeed(context.Background(), lastID)
	gomega.Expect(err).NotTo(gomega.HaveOccurred(), "opening the org feed")
	return s.feedLog(f)
}

func (s *Suite) feedLog(f *pushyclient.Feed) *FeedLog {
	ginkgo.DeferCleanup(func() { f.Close() })
	return &FeedLog{s: s, feed: f, ch: f.Events()}
}

// Read waits until the log holds n events in all; each must arrive within the Message timing
// (plus extra).
func (f *FeedLog) Read(n int, extra ...time.Duration) []sse.Event {
	ginkgo.GinkgoHelper()
	wait := f.s.Timings.Message
	for _, e := range extra {
		wait += e
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for len(f.Events) < n {
		select {
		case ev, ok := <-f.ch:
			if !ok {
				f.Ended = true
				ginkgo.Fail(fmt.Sprintf("the feed ended after %d events, want %d: %s", len(f.Events), n, strings.Join(Lines(f.Events, nil), ", ")))
			}
			f.Events = append(f.Events, ev)
			timer.Reset(wait)
		case <-timer.C:
			ginkgo.Fail(fmt.Sprintf("the feed stalled after %d events, want %d: %s", len(f.Events), n, strings.Join(Lines(f.Events, nil), ", ")))
		}
	}
	return f.Events
}

// Drain reads until the server closes the feed; each event must arrive within the Message
// timing plus extra.
func (f *FeedLog) Drain(extra ...time.Duration) []sse.Event {
	ginkgo.GinkgoHelper()
	wait := f.s.Timings.Message
	for _, e := range extra {
		wait += e
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for !f.Ended {
		select {
		case ev, ok := <-f.ch:
			if !ok {
				f.Ended = true
				break
			}
			f.Events = append(f.Events, ev)
			timer.Reset(wait)
		case <-timer.C:
			ginkgo.Fail(fmt.Sprintf("the feed was not closed; %d events so far: %s", len(f.Events), strings.Join(Lines(f.Events, nil), ", ")))
		}
	}
	return f.Events
}

// ExpectNoEvent checks that no event arrives for d (the feed may end meanwhile).
func (f *FeedLog) ExpectNoEvent(d time.Duration) {
	ginkgo.GinkgoHelper()
	select {
	case ev, ok := <-f.ch:
		if ok {
			ginkgo.Fail(fmt.Sprintf("unexpected event %s %s %s", ev.Name, ev.ID, ev.Data))
		}
		f.Ended = true
	case <-time.After(d):
	}
}

// Close closes the feed.
func (f *FeedLog) Close() { f.feed.Close() }

// Header is the feed response's headers.
func (f *FeedLog) Header() map[string][]string { return f.feed.Header }

// Lines names events for comparison: "name", plus the node's alias (or name) and the status
// when the data has them.
func Lines(evs []sse.Event, alias map[string]string) []string {
	out := make([]string, 0, len(evs))
	for _, ev := range evs {
		var d struct{ Node, Status string }
		_ = json.Unmarshal(ev.Data, &d)
		s := ev.Name
		if d.Node != "" {
			if a, ok := alias[d.Node]; ok {
				s += " " + a
			} else {
				s += " " + d.Node
			}
		}
		if d.Status != "" && ev.Name != "summary" {
			s += " " + d.Status
		}
		out = append(out, s)
	}
	return out
}

// ForChecks converts events for the pure checkers of simulator/checks.
func ForChecks(evs []sse.Event) []checks.Event {
	out := make([]checks.Event, len(evs))
	for i, ev := range evs {
		out[i] = checks.Event{Name: ev.Name, ID: ev.ID, Data: json.RawMessage(ev.Data)}
	}
	return out
}

// Outcome is a finished job as the checkers take it.
func Outcome(j *pushyclient.Job, quorum int) checks.JobOutcome {
	return checks.JobOutcome{Status: j.Status, Nodes: j.Nodes, Quorum: quorum}
}

// ExpectNoViolations fails the spec with every violation a checker found.
func ExpectNoViolations(vs []checks.Violation, what string) {
	ginkgo.GinkgoHelper()
	if len(vs) == 0 {
		return
	}
	lines := make([]string, len(vs))
	for i, v := range vs {
		lines[i] = v.String()
	}
	ginkgo.Fail(fmt.Sprintf("%s: %d violation(s):\n  %s", what, len(vs), strings.Join(lines, "\n  ")))
}

// EventData decodes an event's data into a map.
func EventData(ev sse.Event) map[string]any {
	ginkgo.GinkgoHelper()
	var m map[string]any
	gomega.Expect(json.Unmarshal(ev.Data, &m)).To(gomega.Succeed(), "event %s data %s", ev.Name, ev.Data)
	return m
}

// Collect gathers the events arriving within d, without failing when there are none or the
// feed ends.
func (f *FeedLog) Collect(d time.Duration) []sse.Event {
	timer := time.NewTimer(d)
	defer timer.Stop()
	start := len(f.Events)
	for !f.Ended {
		select {
		case ev, ok := <-f.ch:
			if !ok {
				f.Ended = true
				break
			}
			f.Events = append(f.Events, ev)
		case <-timer.C:
			return f.Events[start:]
		}
	}
	return f.Events[start:]
}
