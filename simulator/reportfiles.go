package simulator

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pushlab/pushlab/reports"
	"github.com/pushlab/pushlab/scenarios"
)

// toReport turns a run's result into the report model: checks with their evidence, thresholds
// (those of expect steps included), node states over time, fault windows, job latencies and
// every other trend, events per second, jobs, the fleet's health and notes. Its verdict is the
// run's.
func (res *Result) toReport(s *scenarios.Scenario, m *Metrics, eventsPerSecond []reports.Point, health reports.Health) *reports.Report {
	tg := reports.Target{Kind: reports.TargetEmbedded}
	switch {
	case s != nil && !s.Target.IsEmbedded():
		tg = reports.Target{Kind: reports.TargetURL, URL: s.Target.URL, Org: s.Target.Org}
	case s != nil && s.Target.Image != "":
		tg = reports.Target{Kind: reports.TargetImage, Image: s.Target.Image}
	}
	sc := reports.Scenario{Name: res.Scenario, File: res.File, Seed: res.Seed}
	if s != nil {
		sc.Description = s.Metadata.Description
	}
	rep := reports.NewReport(sc, tg)
	rep.Start = res.Start.UTC()
	at := func(t float64) time.Time { return rep.Start.Add(time.Duration(t * float64(time.Second))) }
	for _, c := range res.Checks {
		if isThresholdCheck(c) {
			th := reports.Threshold{Metric: strings.TrimPrefix(c.Name, "threshold "), OK: c.Status != CheckFail}
			if i := strings.LastIndex(th.Metric, " "); i > 0 {
				th.Metric, th.Expression = th.Metric[:i], th.Metric[i+1:]
			}
			rep.AddThreshold(th)
			continue
		}
		rc := reports.Check{ID: c.ID, Name: c.Name, Section: c.Section, Status: reports.Status(c.Status), Message: c.Message}
		if c.Status == CheckPass {
			rc.Passes = 1
		} else if c.Status == CheckFail {
			rc.Fails = 1
		}
		for _, e := range c.Evidence {
			ev := reports.Evidence{Kind: reports.EvidenceKind(e.Kind), Node: e.Node, Job: e.Job, Excerpt: e.Excerpt}
			if e.T > 0 {
				ev.Time = at(e.T)
			}
			rc.Evidence = append(rc.Evidence, ev)
		}
		_ = rep.AddCheck(rc)
	}
	for _, t := range res.Thresholds {
		th := reports.Threshold{Metric: t.Metric, Expression: t.Expression, Observed: t.Observed, OK: t.OK, NoData: t.Note == "no samples"}
		name, _, _ := strings.Cut(t.Metric, "{")
		if scenarios.Metrics[name].Time {
			th.Unit = "ms"
		}
		rep.AddThreshold(th)
	}
	for _, ns := range res.NodeStates {
		rep.AddNodeStates(at(ns.T), map[string]int{"online": ns.FleetOnline, "available": ns.Available, "unavailable": ns.Unavailable})
	}
	for _, f := range res.Faults {
		rf := reports.Fault{Kind: f.Kind, Selector: firstNonEmpty(f.Selector, f.Name), Start: at(f.Start)}
		if f.Name != "" && f.Selector != "" {
			rf.Selector = f.Name + ": " + f.Selector
		}
		if f.End >= 0 {
			rf.End = at(f.End)
		}
		rep.AddFault(rf)
	}
	for _, j := range res.Jobs {
		rep.AddJob(reports.JobSummary{ID: firstNonEmpty(j.ID, j.Name), Command: j.Command, Status: j.Status, Quorum: j.Quorum,
			Nodes: j.NodeCounts, Created: at(j.Created), Voting: reports.Duration(seconds2(j.Voting)),
			Running: reports.Duration(seconds2(j.Running)), Total: reports.Duration(seconds2(j.Total))})
		if j.Total > 0 {
			rep.AddLatency(reports.PhaseTotal, seconds2(j.Total))
			if j.Voting > 0 {
				rep.AddLatency(reports.PhaseVoting, seconds2(j.Voting))
			}
			if j.Running > 0 {
				rep.AddLatency(reports.PhaseRunning, seconds2(j.Running))
			}
		}
	}
	if m != nil {
		names := make([]string, 0, len(scenarios.Metrics))
		for name, def := range scenarios.Metrics {
			if def.Type == scenarios.MetricTrend {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		for _, name := range names {
			if vals := m.Samples(name); len(vals) > 0 {
				unit := ""
				if scenarios.Metrics[name].Time {
					unit = "ms"
				}
				rep.AddSamples(name, unit, vals...)
				if name == "heartbeat_lag" { // the simulated fleet's own health, not the server's
					rep.MarkHarness(name)
				}
			}
		}
	}
	if len(eventsPerSecond) > 0 {
		rep.AddSeries(reports.Series{Name: reports.SeriesEventsPerSecond, Unit: "1/s", Points: eventsPerSecond})
	}
	rep.Health = health
	if res.Verdict == VerdictInconclusive {
		rep.Health.Problems = append(rep.Health.Problems, res.FleetHealth...)
	} else {
		for _, h := range res.FleetHealth {
			rep.Note("fleet: %s", h)
		}
	}
	for _, n := range res.Notes {
		rep.Note("%s", n)
	}
	if res.Verdict == VerdictInvalid {
		rep.Verdict = reports.VerdictInvalid
	}
	if res.Verdict == VerdictError || res.Verdict == VerdictInvalid {
		rep.Error = res.Error
	}
	rep.Finish(res.End)
	if rep.ExitCode != res.ExitCode {
		// the run's own reading wins; say so
		rep.Note("the run's verdict %s (exit %d) stands over the report's reading %s", res.Verdict, res.ExitCode, rep.Verdict)
		rep.Verdict, rep.ExitCode = reports.Verdict(res.Verdict), res.ExitCode
	}
	return rep
}

func seconds2(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// writeReports writes the reports next to result.json: report.json, report.html, junit.xml,
// summary.txt, and bundle.tar.gz (the scenario, seed, history, schedule, logs and reports).
func (r *run) writeReports() error {
	res := r.res
	rep := res.toReport(r.s, r.metrics, r.eventsPerSecond(), r.health())
	r.report = rep
	var errs []error
	write := func(role, name string, fn func(*os.File) error) {
		path := filepath.Join(r.dir, name)
		f, err := os.Create(path)
		if err != nil {
			errs = append(errs, err)
			return
		}
		if err := fn(f); err != nil {
			errs = append(errs, err)
		}
		if err := f.Close(); err != nil {
			errs = append(errs, err)
		}
		res.Files[role] = path
	}
	write("report_json", "report.json", func(f *os.File) error { return rep.WriteJSON(f) })
	write("report_html", "report.html", func(f *os.File) error { return rep.WriteHTML(f) })
	write("junit", "junit.xml", func(f *os.File) error { return rep.WriteJUnit(f) })
	write("summary", "summary.txt", func(f *os.File) error { return rep.WriteSummary(f, reports.SummaryOptions{}) })
	files := []reports.File{}
	if data, err := os.ReadFile(r.s.File); err == nil {
		files = append(files, reports.FromBytes("scenario/"+filepath.Base(r.s.File), data))
	} else if data, err := scenarios.LibraryFile(r.s.Metadata.Name); err == nil {
		files = append(files, reports.FromBytes("scenario/"+r.s.Metadata.Name+".yaml", data))
	}
	for _, x := range []struct{ role, name string }{{"history", "history.ndjson"}, {"schedule", "schedule.json"}, {"result", "result.json"}, {"server_log", "logs/server.log"}} {
		if p := res.Files[x.role]; p != "" {
			if _, err := os.Stat(p); err == nil {
				files = append(files, reports.FromPath(x.name, p))
			}
		}
	}
	bundle := filepath.Join(r.dir, "bundle.tar.gz")
	if err := reports.Bundle(bundle, rep, files...); err != nil {
		errs = append(errs, err)
	} else {
		res.Files["bundle"] = bundle
	}
	return errors.Join(errs...)
}

// eventsPerSecond is the number of SSE events received in each second of the run.
func (r *run) eventsPerSecond() []reports.Point {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]reports.Point, len(r.sseBySecond))
	for i, n := range r.sseBySecond {
		out[i] = reports.Point{T: float64(i), V: float64(n)}
	}
	return out
}

// countEvent adds one SSE event to the second it was received in.
func (r *run) countEvent(t time.Duration) {
	s := int(t / time.Second)
	if s < 0 {
		return
	}
	r.mu.Lock()
	for len(r.sseBySecond) <= s {
		r.sseBySecond = append(r.sseBySecond, 0)
	}
	r.sseBySecond[s]++
	r.mu.Unlock()
}

// health is the fleet's health for the report.
func (r *run) health() reports.Health {
	if r.fleet == nil {
		return reports.Health{}
	}
	st := r.fleet.Stats()
	peak, mean := r.cpu.percent()
	return reports.Health{Nodes: st.Nodes, HeartbeatsSent: st.HeartbeatTicks, HeartbeatsLate: st.LateTicks,
		MaxHeartbeatLag: reports.Duration(st.MaxLag), SendQueueSaturations: st.SendFull,
		CPUPeak: math.Round(peak*10) / 10, CPUMean: math.Round(mean*10) / 10}
}
