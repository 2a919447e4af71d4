package simulator

import (
	"math"
	"strings"

	"github.com/pushlab/pushlab/scenarios"
)

// Scale returns a copy of a valid scenario with every group's node count multiplied by f (at
// least one node per group), and what is counted in nodes scaled with it: fault victim counts,
// load samples and the event counts of SSE expectations above one. Selectors and outputs that
// name a node the smaller fleet no longer has are dropped. Timings are kept. The copy must be
// validated again.
func Scale(s *scenarios.Scenario, f float64) *scenarios.Scenario {
	if f <= 0 || f == 1 {
		return s
	}
	out := *s
	out.Fleet.Groups = make([]scenarios.Group, len(s.Fleet.Groups))
	for i, g := range s.Fleet.Groups {
		g.Count = max(1, int(math.Round(float64(g.Count)*f)))
		out.Fleet.Groups[i] = g
	}
	names := map[string]bool{}
	for _, n := range out.Nodes() {
		names[n.Name] = true
	}
	absent := map[string]bool{}
	for _, st := range s.Timeline {
		for _, j := range []*scenarios.JobSpec{st.Job, loadJob(st.Load)} {
			if j != nil {
				for _, a := range j.AbsentNodes {
					absent[a] = true
				}
			}
		}
	}
	keep := func(sel scenarios.Selector) bool {
		if sel.All || len(sel.Terms) != 1 {
			return true
		}
		t := sel.Terms[0]
		if (t.Key != "" && t.Key != scenarios.KeyName) || t.Op != "==" || strings.ContainsAny(t.Value, "*?[") {
			return true
		}
		return names[t.Value] || absent[t.Value]
	}
	nodeSet := func(ns scenarios.NodeSet) scenarios.NodeSet {
		var kept scenarios.NodeSet
		for _, sel := range ns {
			if keep(sel) {
				kept = append(kept, sel)
			}
		}
		return kept
	}
	expect := func(e *scenarios.Expectation) *scenarios.Expectation {
		if e == nil {
			return nil
		}
		c := *e
		c.Nodes = nil
		for _, ne := range e.Nodes {
			if keep(ne.Selector) {
				c.Nodes = append(c.Nodes, ne)
			}
		}
		c.Outputs = nil
		for _, o := range e.Outputs {
			if o.Nodes = nodeSet(o.Nodes); len(o.Nodes) > 0 {
				c.Outputs = append(c.Outputs, o)
			}
		}
		if e.SSE != nil {
			sse := *e.SSE
			sse.Events = make(scenarios.EventCounts, len(e.SSE.Events))
			for i, ec := range e.SSE.Events {
				ec.Count = scaleCount(ec.Count, f)
				sse.Events[i] = ec
			}
			c.SSE = &sse
		}
		return &c
	}
	job := func(j scenarios.JobSpec) scenarios.JobSpec {
		if len(j.Nodes) > 0 {
			if kept := nodeSet(j.Nodes); len(kept) > 0 {
				j.Nodes = kept
			}
		}
		j.Expect = expect(j.Expect)
		return j
	}
	victims := func(v scenarios.Victims) scenarios.Victims {
		if v.Count > 0 {
			v.Count = max(1, int(math.Round(float64(v.Count)*f)))
		}
		return v
	}
	out.Timeline = make([]scenarios.Step, len(s.Timeline))
	for i, st := range s.Timeline {
		switch {
		case st.Job != nil:
			j := job(*st.Job)
			st.Job = &j
		case st.Load != nil:
			l := *st.Load
			if l.Sample > 0 {
				l.Sample = max(1, int(math.Round(float64(l.Sample)*f)))
			}
			l.Job = job(l.Job)
			st.Load = &l
		case st.Expect != nil:
			st.Expect = expect(st.Expect)
		case st.Fault != nil:
			fs := *st.Fault
			switch {
			case fs.Crash != nil:
				c := *fs.Crash
				c.Victims = victims(c.Victims)
				fs.Crash = &c
			case fs.Restart != nil:
				c := *fs.Restart
				c.Victims = victims(c.Victims)
				fs.Restart = &c
			case fs.Unavailable != nil:
				c := *fs.Unavailable
				c.Victims = victims(c.Victims)
				fs.Unavailable = &c
			case fs.SkewClock != nil:
				c := *fs.SkewClock
				c.Victims = victims(c.Victims)
				fs.SkewClock = &c
			case fs.Flap != nil:
				c := *fs.Flap
				c.Victims = victims(c.Victims)
				fs.Flap = &c
			}
			st.Fault = &fs
		}
		out.Timeline[i] = st
	}
	return &out
}

// scaleCount scales an event count above one: exact counts round, lower bounds round down,
// upper bounds round up.
func scaleCount(c scenarios.Count, f float64) scenarios.Count {
	if c.Percent || c.N <= 1 {
		return c
	}
	v := c.N * f
	switch c.Op {
	case ">=", ">":
		c.N = math.Floor(v)
	case "<=", "<":
		c.N = math.Ceil(v)
	default:
		c.N = math.Round(v)
	}
	return c
}

func loadJob(l *scenarios.LoadStep) *scenarios.JobSpec {
	if l == nil {
		return nil
	}
	return &l.Job
}
