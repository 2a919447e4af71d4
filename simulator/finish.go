package simulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pushlab/pushlab/scenarios"
	"github.com/pushlab/pushlab/simulator/checks"
)

// isThresholdCheck reports whether a check is a threshold of an expect step.
func isThresholdCheck(c Check) bool { return strings.Contains(c.ID, "/threshold/") }

// finish assembles the result: checks, thresholds, verdict and exit code, files.
func (r *run) finish(herr error, parent context.Context) {
	res := r.res
	res.End = time.Now()
	if r.tg != nil {
		r.checkOrgFeed()
	}
	r.mu.Lock()
	res.Checks = append([]Check(nil), r.checks...)
	res.Faults = nil
	for _, f := range r.faults {
		res.Faults = append(res.Faults, f.FaultWindow)
	}
	res.Faults = append(res.Faults, r.serverFaults...)
	sort.SliceStable(res.Faults, func(i, j int) bool { return res.Faults[i].Start < res.Faults[j].Start })
	res.NodeStates = append([]NodeStateSample(nil), r.nodeSamples...)
	for _, n := range r.fleetNotes {
		w := n.text
		if n.count > 1 {
			w += fmt.Sprintf(" (and %d more times)", n.count-1)
		}
		res.FleetHealth = append(res.FleetHealth, w)
	}
	r.mu.Unlock()
	sort.Strings(res.FleetHealth)
	for _, j := range r.allJobs() {
		res.Jobs = append(res.Jobs, j.summary())
	}
	res.Thresholds = r.metrics.Evaluate(r.s.Thresholds)
	res.Metrics = map[string]MetricSummary{}
	for name, m := range scenarios.Metrics {
		if m.Type == scenarios.MetricTrend {
			if s, ok := r.metrics.Summary(name); ok {
				res.Metrics[name] = s
			}
		}
	}

	// A failure the fleet's own lag may explain is marked inconclusive; the run is inconclusive
	// only when every failure is.
	failed, excused, thresholdsCrossed := 0, 0, 0
	for i, c := range res.Checks {
		if c.Status != CheckFail {
			continue
		}
		if isThresholdCheck(c) {
			thresholdsCrossed++
			continue
		}
		failed++
		if r.lagExplains(c) {
			res.Checks[i].Inconclusive = true
			excused++
		}
	}
	for _, t := range res.Thresholds {
		if !t.OK {
			thresholdsCrossed++
		}
	}
	switch {
	case herr != nil && errors.Is(herr, ErrInvalid):
		res.ExitCode, res.Verdict, res.Error = scenarios.ExitInvalid, VerdictInvalid, herr.Error()
	case herr != nil:
		res.ExitCode, res.Verdict, res.Error = scenarios.ExitHarness, VerdictError, herr.Error()
		if parent.Err() != nil {
			res.Error = "interrupted: " + herr.Error()
		}
	case failed > 0 && excused == failed:
		res.ExitCode, res.Verdict = scenarios.ExitInconclusive, VerdictInconclusive
		res.Notes = append(res.Notes, "checks failed while the simulated fleet itself was overloaded: the run cannot judge the server")
	case failed > 0:
		res.ExitCode, res.Verdict = scenarios.ExitCheckFailed, VerdictFail
	case thresholdsCrossed > 0:
		res.ExitCode, res.Verdict = scenarios.ExitThreshold, VerdictThreshold
	default:
		res.ExitCode, res.Verdict = scenarios.ExitPass, VerdictPass
	}
	r.hist.Add(Entry{Kind: KindNote, Type: "verdict", Detail: fmt.Sprintf("%s (exit %d)", res.Verdict, res.ExitCode)})
	if err := r.hist.Flush(); err != nil {
		res.Notes = append(res.Notes, "writing the history: "+err.Error())
	}
	path := filepath.Join(r.dir, "result.json")
	res.Files["result"] = path
	if err := writeJSON(path, res); err != nil {
		res.Notes = append(res.Notes, "writing the result: "+err.Error())
	}
	if err := r.writeReports(); err != nil {
		res.Notes = append(res.Notes, "writing the reports: "+err.Error())
	}
	res.Report = r.report
	_ = writeJSON(path, res) // with the reports' paths
}

// checkOrgFeed checks the organization feed as received over the whole run.
func (r *run) checkOrgFeed() {
	r.mu.Lock()
	segs := append([][]feedEvent(nil), r.orgEvents...)
	r.mu.Unlock()
	total := 0
	c := Check{ID: "org-feed", Name: "the org feed is ordered", Section: "§6", Status: CheckPass}
	for i, seg := range segs {
		evs := make([]checks.Event, len(seg))
		for k, fe := range seg {
			evs[k] = fe.ev
		}
		total += len(evs)
		for _, v := range checks.OrgFeed(evs) {
			if len(c.Evidence) < maxEvidence {
				c.Evidence = append(c.Evidence, Evidence{Kind: "event", Excerpt: fmt.Sprintf("connection %d: %s", i+1, v.String())})
			}
			c.Status = CheckFail
		}
	}
	if total == 0 {
		return
	}
	if c.Status == CheckFail {
		c.Message = fmt.Sprintf("%d violation(s) in %d events", len(c.Evidence), total)
	} else {
		c.Message = fmt.Sprintf("%d events over %d connection(s)", total, len(segs))
	}
	r.addCheck(c)
	r.mu.Lock()
	r.res.Checks = append([]Check(nil), r.checks...)
	r.mu.Unlock()
}

// summary describes a job for the result.
func (j *jobRun) summary() JobSummary {
	j.mu.Lock()
	defer j.mu.Unlock()
	s := JobSummary{Name: j.name, Template: j.template, ID: j.id, Command: j.spec.Command, Nodes: len(j.nodes), Quorum: j.quorum,
		Status: j.status, Created: j.created.Seconds(), Events: len(j.events), Failed: j.failed}
	if j.createErr != nil {
		s.Error = j.createErr.Error()
		s.Status = "not created"
	}
	if j.final != nil {
		s.NodeCounts = map[string]int{}
		for st, ns := range j.final.Nodes {
			s.NodeCounts[st] = len(ns)
		}
	}
	voting, okV := j.seen["voting"]
	running, okR := j.seen["running"]
	if okV && okR {
		s.Voting = (running - voting).Seconds()
	}
	if j.finalAt > 0 {
		s.Total = (j.finalAt - j.posted).Seconds()
		if okR {
			s.Running = (j.finalAt - running).Seconds()
		} else if okV {
			s.Voting = (j.finalAt - voting).Seconds()
		}
	}
	return s
}

// WriteSummary prints a run's result for a terminal, k6 style: checks, thresholds, latencies,
// the verdict and where the files are.
func WriteSummary(w io.Writer, res *Result) {
	fmt.Fprintf(w, "\n  scenario  %s (seed %d)", res.Scenario, res.Seed)
	if res.Scale > 0 && res.Scale != 1 {
		fmt.Fprintf(w, ", scale %g", res.Scale)
	}
	fmt.Fprintf(w, "\n  target    %s\n  duration  %s\n\n", res.Target, res.End.Sub(res.Start).Round(time.Millisecond))
	pass, fail, skip := 0, 0, 0
	for _, c := range res.Checks {
		switch c.Status {
		case CheckPass:
			pass++
		case CheckFail:
			fail++
		default:
			skip++
		}
	}
	fmt.Fprintf(w, "  checks    ✓ %d  ✗ %d", pass, fail)
	if skip > 0 {
		fmt.Fprintf(w, "  (%d skipped)", skip)
	}
	fmt.Fprintln(w)
	shown := 0
	for _, c := range res.Checks {
		if c.Status != CheckFail {
			continue
		}
		if shown == 15 {
			fmt.Fprintf(w, "    … %d more failed checks in the report\n", fail-shown)
			break
		}
		shown++
		fmt.Fprintf(w, "    ✗ %s: %s\n", c.Name, c.Message)
		for i, e := range c.Evidence {
			if i == 3 {
				fmt.Fprintf(w, "        … %d more\n", len(c.Evidence)-3)
				break
			}
			who := firstNonEmpty(e.Node, e.Job, e.Kind)
			fmt.Fprintf(w, "        %s: %s\n", who, e.Excerpt)
		}
	}
	if len(res.Thresholds) > 0 {
		fmt.Fprintln(w, "\n  thresholds")
		for _, t := range res.Thresholds {
			mark := "✓"
			if !t.OK {
				mark = "✗"
			}
			obs := fmt.Sprintf("%.4g", t.Observed)
			if t.Note != "" {
				obs = t.Note
			}
			fmt.Fprintf(w, "    %s %s %s (observed %s)\n", mark, t.Metric, t.Expression, obs)
		}
	}
	names := make([]string, 0, len(res.Metrics))
	for n := range res.Metrics {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) > 0 {
		fmt.Fprintf(w, "\n  %-22s %9s %9s %9s %9s %9s %8s\n", "metric (ms)", "avg", "med", "p95", "p99", "max", "count")
		for _, n := range names {
			m := res.Metrics[n]
			fmt.Fprintf(w, "  %-22s %9.1f %9.1f %9.1f %9.1f %9.1f %8d\n", n, m.Avg, m.Med, m.P95, m.P99, m.Max, m.Count)
		}
	}
	statuses := map[string]int{}
	for _, j := range res.Jobs {
		statuses[j.Status]++
	}
	if len(res.Jobs) > 0 {
		keys := make([]string, 0, len(statuses))
		for k := range statuses {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%d %s", statuses[k], k)
		}
		fmt.Fprintf(w, "\n  jobs      %d: %s\n", len(res.Jobs), strings.Join(parts, ", "))
	}
	for _, h := range res.FleetHealth {
		fmt.Fprintf(w, "  fleet     %s\n", h)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(w, "  note      %s\n", n)
	}
	if res.Error != "" {
		fmt.Fprintf(w, "  error     %s\n", res.Error)
	}
	fmt.Fprintf(w, "\n  verdict   %s (exit %d)\n", strings.ToUpper(res.Verdict), res.ExitCode)
	keys := make([]string, 0, len(res.Files))
	for k := range res.Files {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %-9s %s\n", k, res.Files[k])
	}
	fmt.Fprintln(w)
}
