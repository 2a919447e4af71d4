package simulator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pushlab/pushlab/fakenodes/behaviour"
	"github.com/pushlab/pushlab/internal/pushyclient"
	"github.com/pushlab/pushlab/scenarios"
	"github.com/pushlab/pushlab/simulator/checks"
)

// maxEvidence bounds the evidence of one check.
const maxEvidence = 20

// checkBuilder collects a check's evidence.
type checkBuilder struct {
	c     Check
	total int
}

func newCheck(j *jobRun, kind, name, section string) *checkBuilder {
	return &checkBuilder{c: Check{ID: "job/" + j.name + "/" + kind, Name: "job " + j.name + ": " + name, Section: section,
		Status: CheckPass, Job: j.name, JobID: j.id}}
}

func (b *checkBuilder) fail(e Evidence) {
	b.total++
	if len(b.c.Evidence) < maxEvidence {
		b.c.Evidence = append(b.c.Evidence, e)
	}
}

func (b *checkBuilder) done(r *run, okMsg string, failMsg func(n int) string) {
	if b.total > 0 {
		b.c.Status = CheckFail
		b.c.Message = failMsg(b.total)
	} else if b.c.Message == "" {
		b.c.Message = okMsg
	}
	r.addCheck(b.c)
}

// checkJob runs every check of a finished job.
func (r *run) checkJob(j *jobRun) {
	if j.createErr != nil {
		c := Check{ID: "job/" + j.name + "/created", Name: "job " + j.name + ": created", Section: "§2.5", Status: CheckFail, Job: j.name,
			Message: "POST /pushy/jobs failed: " + j.createErr.Error()}
		var pe *pushyclient.Error
		if errors.As(j.createErr, &pe) {
			c.Evidence = []Evidence{{Kind: "http", Job: j.name, Excerpt: fmt.Sprintf("%s %s -> %s %s", pe.Method, pe.Path, pe.Status, excerpt(string(pe.Body), 300))}}
		}
		if r.serverDown(j.posted) {
			c.Status = CheckSkip
			c.Message = "the job could not be created while the server was restarting or paused: " + j.createErr.Error()
		}
		r.addCheck(c)
		return
	}
	j.mu.Lock()
	final := j.final
	events := append([]feedEvent(nil), j.events...)
	polls := make([]checks.Poll, len(j.polls))
	pollTimes := make([]float64, len(j.polls))
	for i, p := range j.polls {
		polls[i] = checks.Poll{Status: p.status, Nodes: p.nodes}
		pollTimes[i] = p.t.Seconds()
	}
	j.mu.Unlock()
	if final == nil {
		r.addCheck(Check{ID: "job/" + j.name + "/finished", Name: "job " + j.name + ": finishes", Section: "§5.3", Status: CheckFail,
			Job: j.name, JobID: j.id, Message: fmt.Sprintf("no final status within %s (last seen %s)", j.timeout, j.currentStatus())})
		return
	}
	r.jobMetrics(j, final, events)

	tr := newCheck(j, "transitions", "job and node status transitions are legal", "§5.1–5.5")
	for _, v := range checks.Polls(polls) {
		e := Evidence{Kind: "job", Job: j.name, Excerpt: v.Message, T: pollTimes[v.Event]}
		if v.Rule == "node-transition" {
			e.Kind, e.Node = "node", strings.Fields(v.Message)[0]
		}
		tr.fail(e)
	}
	tr.done(r, fmt.Sprintf("%d status changes seen by polls, all legal", len(j.polls)), func(n int) string {
		return fmt.Sprintf("%d illegal transition(s)", n)
	})

	outcome := checks.JobOutcome{Status: final.Status, Nodes: final.Nodes, Quorum: j.quorum}
	qc := newCheck(j, "quorum", "final statuses agree with the quorum", "§5.3")
	for _, v := range checks.Outcome(outcome) {
		qc.fail(Evidence{Kind: "job", Job: j.name, Excerpt: v.Message})
	}
	ran := 0
	for _, st := range []string{"succeeded", "failed", "crashed", "timed_out", "running", "ready"} {
		ran += len(final.Nodes[st])
	}
	if (final.Status == "complete" || final.Status == "timed_out") && ran < j.quorum && !r.serverDown(j.posted) {
		qc.fail(Evidence{Kind: "job", Job: j.name, Excerpt: fmt.Sprintf("job %s with %d node(s) that ran, quorum %d", final.Status, ran, j.quorum)})
	}
	if n := len(final.NodeStatus()); n != len(j.nodes) {
		qc.fail(Evidence{Kind: "job", Job: j.name, Excerpt: fmt.Sprintf("the job lists %d nodes, %d were asked for", n, len(j.nodes))})
	}
	qc.done(r, fmt.Sprintf("%s, quorum %d, %s", final.Status, j.quorum, countsLine(final.Nodes)), func(n int) string {
		return fmt.Sprintf("%d inconsistency(ies) between the job status, its nodes and the quorum", n)
	})

	if r.sseValid(j) {
		r.checkFeed(j, final, events)
	}
	verdicts := r.checkOracle(j, final)
	r.checkOutputs(j, final, verdicts)
}

// serverDown reports whether t falls in (or just after) a server restart or pause.
func (r *run) serverDown(t time.Duration) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.serverFaults {
		if t.Seconds() >= f.Start-1 && t.Seconds() <= r.windowEnd(f)+2 {
			return true
		}
	}
	return false
}

// serverFaultDuring reports the server faults that overlap [a, b].
func (r *run) serverFaultDuring(a, b time.Duration) (restart, pause bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.serverFaults {
		if f.Start <= b.Seconds() && r.windowEnd(f) >= a.Seconds() {
			switch f.Kind {
			case "serverRestart":
				restart = true
			case "serverPause":
				pause = true
			}
		}
	}
	return
}

func (r *run) sseValid(j *jobRun) bool {
	if e := j.spec.Expect; e != nil && e.SSE != nil && e.SSE.Valid != nil {
		return *e.SSE.Valid
	}
	return true
}

func countsLine(nodes map[string][]string) string {
	keys := make([]string, 0, len(nodes))
	for k := range nodes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, len(nodes[k]))
	}
	return strings.Join(parts, ", ")
}

// checkFeed checks the job's feed: order and completeness (simulator/checks), that the server
// closed it after job_complete, Last-Event-ID resumption, voting and run timers.
func (r *run) checkFeed(j *jobRun, final *pushyclient.Job, events []feedEvent) {
	fc := newCheck(j, "sse", "the job feed is ordered and complete", "§6")
	outcome := &checks.JobOutcome{Status: final.Status, Nodes: final.Nodes, Quorum: j.quorum}
	var live []checks.Event
	var summary *checks.Event
	for i := range events {
		if events[i].ev.Name == "summary" {
			summary = &events[i].ev
			break
		}
		live = append(live, events[i].ev)
	}
	evid := func(v checks.Violation, list []checks.Event) Evidence {
		e := Evidence{Kind: "event", Job: j.name, Excerpt: v.String()}
		if v.Event >= 0 && v.Event < len(list) {
			e.Excerpt += ": " + list[v.Event].Name + " " + list[v.Event].ID + " " + excerpt(string(list[v.Event].Data), 200)
		}
		return e
	}
	switch {
	case len(events) == 0:
		fc.fail(Evidence{Kind: "event", Job: j.name, Excerpt: "no event received: " + strings.Join(j.feedNotes, "; ")})
	case summary != nil:
		if len(live) > 0 {
			for _, v := range checks.JobFeed(live, nil) {
				if v.Rule != "sse-complete" {
					fc.fail(evid(v, live))
				}
			}
		}
		for _, v := range checks.JobFeed([]checks.Event{*summary}, outcome) {
			fc.fail(evid(v, []checks.Event{*summary}))
		}
	default:
		for _, v := range checks.JobFeed(live, outcome) {
			fc.fail(evid(v, live))
		}
		if !j.closedOK {
			for _, n := range j.feedNotes {
				if strings.Contains(n, "did not close") {
					fc.fail(Evidence{Kind: "event", Job: j.name, Excerpt: n})
				}
			}
		}
		var vt time.Duration
		if r.tg.known {
			vt = r.tg.cfg.VotingTimeout
		}
		for _, v := range checks.Timers(live, len(j.nodes), vt, j.runTO, 250*time.Millisecond) {
			fc.fail(evid(v, live))
		}
	}
	fc.done(r, fmt.Sprintf("%d events over %d connection(s)", len(events), j.segments), func(n int) string {
		return fmt.Sprintf("%d feed violation(s)", n)
	})

	j.mu.Lock()
	resumeID, resumed, resumeErr := j.resumeID, append([]checks.Event(nil), j.resumed...), j.resumeErr
	j.mu.Unlock()
	if resumeID == "" {
		return
	}
	rc := newCheck(j, "sse-resume", "resuming the feed with Last-Event-ID "+resumeID, "§6")
	firstSeg := []checks.Event{}
	for _, e := range events {
		if e.seg == 1 {
			firstSeg = append(firstSeg, e.ev)
		}
	}
	switch {
	case resumeErr != "":
		rc.fail(Evidence{Kind: "event", Job: j.name, Excerpt: resumeErr})
	case len(resumed) == 1 && resumed[0].Name == "summary":
		rc.c.Status, rc.c.Message = CheckSkip, "the job had finished: the server answered with its summary"
	case summary != nil:
		rc.c.Status, rc.c.Message = CheckSkip, "the first feed did not see the whole job"
	default:
		for _, v := range checks.Resumed(firstSeg, resumed, resumeID) {
			rc.fail(Evidence{Kind: "event", Job: j.name, Excerpt: v.String()})
		}
	}
	if rc.c.Status == CheckSkip {
		r.addCheck(rc.c)
		return
	}
	rc.done(r, fmt.Sprintf("%d events after %s, as in the full feed", len(resumed), resumeID), func(int) string {
		return "the resumed feed is not the rest of the full feed"
	})
}

// jobMetrics records a finished job's metrics from its feed and polls.
func (r *run) jobMetrics(j *jobRun, final *pushyclient.Job, events []feedEvent) {
	tags := Tags{Job: j.tagName()}
	j.mu.Lock()
	finalAt := j.finalAt
	j.mu.Unlock()
	if finalAt > 0 {
		r.metrics.Duration("job_duration", finalAt-j.posted, tags)
	}
	complete := 0.0
	if final.Status == "complete" {
		complete = 1
	}
	r.metrics.Add("jobs_complete", complete, tags)
	var start time.Time
	runStart := map[string]time.Time{}
	for _, fe := range events {
		ts, err := time.Parse(checks.SSETimeLayout, fe.data.Timestamp)
		if err != nil {
			continue
		}
		nt := tags
		if l := r.nodes[fe.data.Node]; l != nil {
			nt.Group, nt.Behaviour = l.tags.Group, l.tags.Behaviour
		}
		switch fe.ev.Name {
		case "start":
			start = ts
		case "quorum_vote":
			if !start.IsZero() {
				r.metrics.Duration("vote_latency", ts.Sub(start), nt)
			}
		case "quorum_succeeded":
			if !start.IsZero() {
				r.metrics.Duration("quorum_duration", ts.Sub(start), tags)
			}
		case "run_start":
			runStart[fe.data.Node] = ts
		case "run_complete":
			if s, ok := runStart[fe.data.Node]; ok {
				r.metrics.Duration("run_duration", ts.Sub(s), nt)
			}
		}
	}
}

// oracleInputs gathers what the oracle needs about a job.
func (r *run) oracleInputs(j *jobRun) (jobFacts, map[string]nodeInput) {
	j.mu.Lock()
	end := j.finalAt
	j.mu.Unlock()
	if end == 0 {
		end = r.hist.Since()
	}
	jf := jobFacts{id: j.id, nodes: j.nodes, quorum: j.quorum, runTimeout: j.runTO, posted: j.posted, created: j.created, end: end,
		inFleet: func(n string) bool { return r.nodes[n] != nil },
		commit:  behaviour.Commit{JobID: j.id, Command: j.spec.Command, User: j.spec.User, Dir: j.spec.Dir, Env: j.spec.Env, File: j.spec.File, Capture: j.spec.Capture}}
	restart, pause := r.serverFaultDuring(j.posted, end)
	if restart {
		// the job is crashed only when the server went down before it finished
		r.mu.Lock()
		for _, f := range r.serverFaults {
			if f.Kind == "serverRestart" && f.Start >= j.posted.Seconds() && f.Start < (end-time.Second).Seconds() {
				jf.serverRestart = true
			}
		}
		r.mu.Unlock()
		jf.serverPause = !jf.serverRestart
	}
	jf.serverPause = jf.serverPause || pause
	r.mu.Lock()
	faults := append([]appliedFault(nil), r.faults...)
	r.mu.Unlock()
	inputs := map[string]nodeInput{}
	for _, n := range j.nodes {
		l := r.nodes[n]
		if l == nil {
			continue
		}
		in := nodeInput{name: n, profile: r.profiles[n], events: l.snapshot()}
		for _, f := range faults {
			if !f.victims[n] {
				continue
			}
			span := faultSpan{name: f.Name, kind: f.Kind, start: time.Duration(f.Start * float64(time.Second)), end: -1, skew: f.skew}
			if f.End >= 0 {
				span.end = time.Duration(f.End * float64(time.Second))
			}
			in.faults = append(in.faults, span)
		}
		inputs[n] = in
	}
	return jf, inputs
}

// checkOracle compares the job's final statuses with what the oracle derives.
func (r *run) checkOracle(j *jobRun, final *pushyclient.Job) map[string]nodeVerdict {
	jf, inputs := r.oracleInputs(j)
	preds, jobPred, verdicts := predictJob(r.ocfg, jf, inputs)
	oc := newCheck(j, "oracle", "final statuses follow from the behaviours and faults", "§5.6")
	got := final.NodeStatus()
	det, indet := 0, 0
	for _, n := range j.nodes {
		p := preds[n]
		if p.Determinate {
			det++
		} else {
			indet++
		}
		if st := got[n]; !p.allows(st) {
			oc.fail(Evidence{Kind: "node", Node: n, Job: j.name,
				Excerpt: fmt.Sprintf("server says %s, the oracle expects %s: %s", firstNonEmpty(st, "(missing)"), p, p.Reason)})
		}
	}
	if !jobPred.allows(final.Status) {
		oc.fail(Evidence{Kind: "job", Job: j.name, Excerpt: fmt.Sprintf("job is %s, the oracle expects %s: %s", final.Status, jobPred, jobPred.Reason)})
	}
	oc.done(r, fmt.Sprintf("job %s as expected (%s); %d node(s) predicted exactly, %d within a set the timing leaves open", final.Status, jobPred, det, indet),
		func(n int) string { return fmt.Sprintf("%d status(es) differ from the oracle", n) })

	// What the server must have sent (§5.3): commit to every node it holds available, run to
	// every node it found ready.
	sc := newCheck(j, "messages", "the server sends commit and run to the nodes that need them", "§5.3")
	for _, n := range j.nodes {
		v, ok := verdicts[n]
		if !ok || v.disturbed {
			continue
		}
		if v.mustCommit && !v.gotCommit && !jf.serverRestart && !jf.serverPause {
			sc.fail(Evidence{Kind: "node", Node: n, Job: j.name, Excerpt: "no commit reached the node, which was idle and available when the job started (server says " + got[n] + ")"})
		}
		if st := got[n]; (st == "timed_out") && !v.gotRun && v.votes[voteReady] && len(v.votes) == 1 && !jf.serverRestart && !jf.serverPause {
			sc.fail(Evidence{Kind: "node", Node: n, Job: j.name, Excerpt: "the node acked the commit but no run reached it; the server says " + st})
		}
	}
	sc.done(r, "every available node got its commit, every ready node its run", func(n int) string {
		return fmt.Sprintf("%d node(s) missed a message", n)
	})
	return verdicts
}

// checkOutputs compares captured output with what each node printed, byte for byte; without
// capture, the server must have none.
func (r *run) checkOutputs(j *jobRun, final *pushyclient.Job, verdicts map[string]nodeVerdict) {
	type want struct {
		node           string
		stdout, stderr string
		absent         bool
	}
	var wants []want
	limit := 5000
	for _, st := range []string{"succeeded", "failed"} {
		for _, n := range final.Nodes[st] {
			v, ok := verdicts[n]
			if !ok || v.disturbed || v.free {
				continue
			}
			if !j.spec.Capture {
				if len(wants) < 10 {
					wants = append(wants, want{node: n, absent: true})
				}
				continue
			}
			out, errOut, absent, known := expectedOutput(r.ocfg, r.profiles[n])
			if known && len(wants) < limit {
				wants = append(wants, want{n, out, errOut, absent})
			}
		}
	}
	if len(wants) == 0 {
		return
	}
	oc := newCheck(j, "outputs", "captured output is exactly what the nodes printed", "§2.7")
	var mu sync.Mutex
	r.parallel(len(wants), func(i int) {
		w := wants[i]
		for _, ch := range []struct{ name, want string }{{"stdout", w.stdout}, {"stderr", w.stderr}} {
			got, status, err := r.output(j.id, w.node, ch.name, w.absent)
			var bad string
			switch {
			case err != nil:
				bad = err.Error()
			case w.absent && status != http.StatusNotFound:
				bad = fmt.Sprintf("%s: want 404 (no output), got %d with %d bytes", ch.name, status, len(got))
			case !w.absent && status != http.StatusOK:
				bad = fmt.Sprintf("%s: want 200, got %d", ch.name, status)
			case !w.absent && string(got) != ch.want:
				bad = fmt.Sprintf("%s: %d bytes differ from the %d printed: %s", ch.name, len(got), len(ch.want), diffExcerpt(ch.want, string(got)))
			}
			if bad != "" {
				mu.Lock()
				oc.fail(Evidence{Kind: "node", Node: w.node, Job: j.name, Excerpt: bad})
				mu.Unlock()
			}
		}
	})
	oc.done(r, fmt.Sprintf("%d node(s) checked", len(wants)), func(n int) string { return fmt.Sprintf("%d output(s) wrong", n) })
}

// output fetches one output channel; a 404 is an answer, not an error.
func (r *run) output(id, node, channel string, expectAbsent bool) ([]byte, int, error) {
	ctx := context.Background()
	if expectAbsent {
		ctx = expectingStatus(ctx, http.StatusNotFound)
	}
	b, err := r.api.Output(ctx, id, node, channel)
	if code := pushyclient.StatusCode(err); code != 0 {
		return nil, code, nil
	}
	if err != nil {
		return nil, 0, err
	}
	return b, http.StatusOK, nil
}

// parallel runs fn(0..n-1) on a few workers.
func (r *run) parallel(n int, fn func(int)) {
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(8, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				fn(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
}

// diffExcerpt shows where two texts first differ.
func diffExcerpt(want, got string) string {
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	lo := max(0, i-20)
	w, g := want[lo:min(len(want), i+20)], got[lo:min(len(got), i+20)]
	return fmt.Sprintf("first difference at byte %d: want %q, got %q", i, w, g)
}

// expectations checks what a scenario expects of a finished job.
func (r *run) expectations(j *jobRun, e *scenarios.Expectation, prefix string) {
	if j.createErr != nil {
		return
	}
	j.mu.Lock()
	final := j.final
	j.mu.Unlock()
	mk := func(kind, name string) *checkBuilder {
		return &checkBuilder{c: Check{ID: prefix + "/expect-" + kind, Name: "job " + j.name + ": expected " + name, Status: CheckPass, Job: j.name, JobID: j.id}}
	}
	if final == nil {
		if len(e.Status) > 0 || len(e.Nodes) > 0 {
			c := mk("status", "status")
			c.fail(Evidence{Kind: "job", Job: j.name, Excerpt: "the job never finished"})
			c.done(r, "", func(int) string { return "the job never finished" })
		}
		return
	}
	if len(e.Status) > 0 {
		c := mk("status", "status "+strings.Join(e.Status, "|"))
		c.c.Section = "§5.1"
		if !e.Status.Has(final.Status) {
			c.fail(Evidence{Kind: "job", Job: j.name, Excerpt: "job status " + final.Status})
		}
		c.done(r, "job status "+final.Status, func(int) string { return "job status " + final.Status + ", expected " + strings.Join(e.Status, "|") })
	}
	if len(e.Nodes) > 0 {
		c := mk("nodes", "node statuses")
		c.c.Section = "§5.2"
		got := final.NodeStatus()
		sel := r.nodesBySelector(j)
		checked := 0
		for _, n := range j.nodes {
			want := e.Nodes.For(sel[n])
			if want == nil {
				continue
			}
			checked++
			if st := got[n]; !want.Has(st) {
				c.fail(Evidence{Kind: "node", Node: n, Job: j.name, Excerpt: fmt.Sprintf("status %s, expected %s", firstNonEmpty(st, "(missing)"), strings.Join(want, "|"))})
			}
		}
		c.done(r, fmt.Sprintf("%d node(s) as expected (%s)", checked, countsLine(final.Nodes)), func(n int) string {
			return fmt.Sprintf("%d of %d node(s) not as expected", n, checked)
		})
	}
	if s := e.SSE; s != nil {
		events := j.feedEvents()
		if len(s.Events) > 0 {
			c := mk("sse-events", "feed events")
			c.c.Section = "§6"
			var parts []string
			for _, ec := range s.Events {
				n := 0
				for _, fe := range events {
					if fe.ev.Name == ec.Event && (ec.Status == "" || fe.data.Status == ec.Status) {
						n++
					}
				}
				parts = append(parts, fmt.Sprintf("%s %d", ec, n))
				if !ec.Count.Holds(float64(n), float64(len(j.nodes))) {
					c.fail(Evidence{Kind: "event", Job: j.name, Excerpt: fmt.Sprintf("%d %s event(s), expected %s", n, ec, ec.Count)})
				}
			}
			c.done(r, strings.Join(parts, ", "), func(n int) string { return fmt.Sprintf("%d event count(s) not as expected", n) })
		}
		if s.OrgFeed {
			c := mk("org-feed", "org feed events")
			c.c.Section = "§6"
			seen := map[string]bool{}
			deadline := time.Now().Add(5 * time.Second)
			for time.Now().Before(deadline) {
				r.mu.Lock()
				for _, fe := range r.orgSeen {
					if fe.data.Job == j.id {
						seen[fe.ev.Name] = true
					}
				}
				r.mu.Unlock()
				if seen["start"] && seen["job_complete"] {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			for _, name := range []string{"start", "job_complete"} {
				if !seen[name] {
					c.fail(Evidence{Kind: "event", Job: j.name, Excerpt: "the org feed has no " + name + " for job " + j.id})
				}
			}
			c.done(r, "start and job_complete on the org feed", func(n int) string { return "the org feed misses the job's events" })
		}
	}
	if len(e.Outputs) > 0 {
		c := mk("outputs", "outputs")
		c.c.Section = "§2.7"
		sel := r.nodesBySelector(j)
		type one struct {
			node string
			o    scenarios.OutputExpectation
		}
		var all []one
		for _, o := range e.Outputs {
			for _, n := range j.nodes {
				if o.Nodes.Match(sel[n]) {
					all = append(all, one{n, o})
				}
			}
		}
		var mu sync.Mutex
		r.parallel(len(all), func(i int) {
			x := all[i]
			for _, ch := range []struct {
				name string
				want *string
			}{{"stdout", x.o.Stdout}, {"stderr", x.o.Stderr}} {
				if !x.o.Absent && ch.want == nil {
					continue
				}
				got, status, err := r.output(j.id, x.node, ch.name, x.o.Absent)
				var bad string
				switch {
				case err != nil:
					bad = err.Error()
				case x.o.Absent && status != http.StatusNotFound:
					bad = fmt.Sprintf("%s: expected none (404), got %d", ch.name, status)
				case !x.o.Absent && status != http.StatusOK:
					bad = fmt.Sprintf("%s: expected %q, got status %d", ch.name, excerpt(*ch.want, 60), status)
				case !x.o.Absent && string(got) != *ch.want:
					bad = fmt.Sprintf("%s: %s", ch.name, diffExcerpt(*ch.want, string(got)))
				}
				if bad != "" {
					mu.Lock()
					c.fail(Evidence{Kind: "node", Node: x.node, Job: j.name, Excerpt: bad})
					mu.Unlock()
				}
			}
		})
		c.done(r, fmt.Sprintf("%d node output(s) as expected", len(all)), func(n int) string { return fmt.Sprintf("%d output(s) not as expected", n) })
	}
	if len(e.Thresholds) > 0 {
		r.thresholdChecks(prefix, j.tagName(), e.Thresholds)
	}
}

// nodesBySelector describes a job's nodes for selectors (absent names as bare nodes).
func (r *run) nodesBySelector(j *jobRun) map[string]scenarios.Node {
	out := map[string]scenarios.Node{}
	for _, n := range r.selectorNodes() {
		out[n.Name] = n
	}
	for _, n := range j.nodes {
		if _, ok := out[n]; !ok {
			out[n] = scenarios.Node{Name: n}
		}
	}
	return out
}

// thresholdChecks evaluates thresholds now, as checks.
func (r *run) thresholdChecks(prefix, job string, ts scenarios.Thresholds) {
	for _, mt := range ts {
		if job != "" && mt.Tags["job"] == "" {
			tags := map[string]string{"job": job}
			for k, v := range mt.Tags {
				tags[k] = v
			}
			mt.Tags = tags
		}
		for _, th := range mt.Rules {
			res := r.metrics.evaluate(mt, th)
			c := Check{ID: prefix + "/threshold/" + mt.Key + "/" + th.Expr, Name: "threshold " + mt.Key + " " + th.Expr, Status: CheckPass, Job: job,
				Message: fmt.Sprintf("observed %.4g over %d sample(s)", res.Observed, res.Samples)}
			if res.Note != "" {
				c.Message = res.Note
			}
			if !res.OK {
				c.Status = CheckFail
			}
			r.addCheck(c)
		}
	}
}
