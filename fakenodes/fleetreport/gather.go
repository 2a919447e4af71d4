package fleetreport

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/pushlab/pushlab/reports"
)

// The checks of a gathered report.
const (
	CheckOneFleet = "fleet-one-fleet" // every shard is of the same fleet
	CheckCoverage = "fleet-coverage"  // the shards ran every node of the fleet exactly once
	CheckOnline   = "fleet-online"    // every node was online at once within its shard
	CheckStopped  = "fleet-stopped"   // every shard ended by being stopped, not by an error
)

// Gather folds the reports of a fleet's shards into one report of the versioned reports model
// (pushlab.report/v1), so that the terminal summary, JSON, JUnit and HTML writers render it
// like any run. The first shard (lowest node index) names the fleet; the report checks that
// every shard is of that fleet, that the shards ran each of its nodes exactly once, that every
// node came online and that every shard stopped cleanly. Health adds up the shards' heartbeat
// lag and full send queues, and its problems are the warnings that a shard itself was the
// bottleneck (Warning.FleetItself), which make the report inconclusive; node states over time
// are summed over the shards; each shard's range and counts, its other warnings, and the
// fleet's messages by type and behaviours fired are in the notes.
func Gather(shards []*Shard) *reports.Report {
	shards = append([]*Shard(nil), shards...)
	sort.SliceStable(shards, func(i, j int) bool {
		if shards[i].First != shards[j].First {
			return shards[i].First < shards[j].First
		}
		return shards[i].Shard < shards[j].Shard
	})
	var head Shard
	if len(shards) > 0 {
		head = *shards[0]
	}
	fleet := head.Fleet
	r := reports.NewReport(reports.Scenario{Name: "fleet", Seed: fleet.Seed,
		Description: fmt.Sprintf("%d nodes (%s) in %d shards", fleet.Nodes, span(fleet, 0, fleet.Nodes), head.Shards)},
		reports.Target{Kind: reports.TargetURL, URL: head.Server, Org: head.Org})
	r.Start, r.End = time.Time{}, time.Time{}
	for _, s := range shards {
		if r.Start.IsZero() || s.Start.Before(r.Start) {
			r.Start = s.Start
		}
		if s.End.After(r.End) {
			r.End = s.End
		}
	}
	if len(shards) == 0 {
		r.SetError(fmt.Errorf("no shard reports"))
		r.Decide()
		return r
	}

	oneFleet(r, head, shards)
	coverage(r, fleet, shards)
	online(r, shards)
	stopped(r, shards)

	var total Counts
	for _, s := range shards {
		total = total.Add(s.Counts)
		r.Health.Nodes += s.Count
	}
	r.Health.HeartbeatsSent = total.HeartbeatTicks
	r.Health.HeartbeatsLate = total.LateHeartbeats
	r.Health.MaxHeartbeatLag = total.MaxHeartbeatLag
	r.Health.SendQueueSaturations = total.SendQueueFull
	r.Metrics.NodeStates = sumStates(r.Start, shards)

	for _, s := range shards {
		r.Note("%s", shardLine(s))
		for _, w := range s.Warnings {
			line := fmt.Sprintf("shard %d/%d warned %s (from %s to %s after its start): %s", s.Shard, s.Shards, times(w.Times),
				seconds(w.First), seconds(w.Last), w.Message)
			if w.FleetItself() {
				r.Health.Problems = append(r.Health.Problems, line)
			} else {
				r.Note("%s", line)
			}
		}
	}
	r.Note("the fleet received %d commits (one per node per job); sent %s; received %s; behaviours fired: %s",
		total.Commits, byType(total.Sent), byType(total.Received), byType(total.BehavioursFired))
	r.Decide()
	return r
}

func oneFleet(r *reports.Report, head Shard, shards []*Shard) {
	c := reports.Check{ID: CheckOneFleet, Name: "the shards are of one fleet (nodes, seed, names, shard count, server, org)",
		Status: reports.StatusPass}
	for _, s := range shards {
		var diff []string
		if s.Fleet != head.Fleet {
			diff = append(diff, fmt.Sprintf("fleet %+v, not %+v", s.Fleet, head.Fleet))
		}
		if s.Shards != head.Shards {
			diff = append(diff, fmt.Sprintf("%d shards, not %d", s.Shards, head.Shards))
		}
		if s.Server != head.Server || s.Org != head.Org {
			diff = append(diff, fmt.Sprintf("server %s org %s, not %s org %s", s.Server, s.Org, head.Server, head.Org))
		}
		if len(diff) == 0 {
			c.Passes++
			continue
		}
		c.Fails++
		c.Evidence = append(c.Evidence, reports.Evidence{Kind: reports.EvidenceNode, Node: span(s.Fleet, s.First, s.Count),
			Excerpt: fmt.Sprintf("shard %d/%d: %s", s.Shard, s.Shards, strings.Join(diff, "; "))})
	}
	if c.Fails > 0 {
		c.Status = reports.StatusFail
		c.Message = fmt.Sprintf("%d of %d shards are of another fleet than shard %d/%d", c.Fails, len(shards), head.Shard, head.Shards)
	}
	_ = r.AddCheck(c)
}

// coverage counts how many shards ran each node of the fleet: once is right, never or more
// than once is not, and so is a node outside the fleet.
func coverage(r *reports.Report, fleet Fleet, shards []*Shard) {
	c := reports.Check{ID: CheckCoverage, Name: "the shards ran every node of the fleet exactly once", Status: reports.StatusPass}
	type edge struct{ at, d int }
	edges := []edge{{0, 0}, {fleet.Nodes, 0}}
	for _, s := range shards {
		edges = append(edges, edge{s.First, 1}, edge{s.First + s.Count, -1})
	}
	sort.Slice(edges, func(i, j int) bool { return edges[i].at < edges[j].at })
	depth := 0
	for i, e := range edges {
		depth += e.d
		if i+1 == len(edges) || edges[i+1].at == e.at {
			continue
		}
		from, to := e.at, edges[i+1].at // [from, to) is run by depth shards
		inside := from >= 0 && to <= fleet.Nodes
		n := to - from
		switch {
		case depth == 1 && inside:
			c.Passes += n
		case depth == 0 && !inside:
		default:
			c.Fails += n
			var why string
			switch {
			case !inside:
				why = fmt.Sprintf("outside the fleet of %d nodes, run by %s", fleet.Nodes, shardsOver(shards, from))
			case depth == 0:
				why = "no shard ran them"
			default:
				why = "run by " + shardsOver(shards, from)
			}
			c.Evidence = append(c.Evidence, reports.Evidence{Kind: reports.EvidenceNode, Node: span(fleet, from, n),
				Excerpt: fmt.Sprintf("%d nodes: %s", n, why)})
		}
	}
	if c.Fails > 0 {
		c.Status = reports.StatusFail
		c.Message = fmt.Sprintf("%d of the fleet's %d nodes were not run exactly once", c.Fails, fleet.Nodes)
	}
	_ = r.AddCheck(c)
}

func shardsOver(shards []*Shard, index int) string {
	var names []string
	for _, s := range shards {
		if index >= s.First && index < s.First+s.Count {
			names = append(names, fmt.Sprintf("%d/%d", s.Shard, s.Shards))
		}
	}
	return "shards " + strings.Join(names, " and ")
}

func online(r *reports.Report, shards []*Shard) {
	c := reports.Check{ID: CheckOnline, Name: "every node came online", Status: reports.StatusPass}
	for _, s := range shards {
		n := s.PeakOnline
		if s.AllOnline > 0 {
			n = s.Count
		}
		c.Passes += n
		if short := s.Count - n; short > 0 {
			c.Fails += short
			c.Evidence = append(c.Evidence, reports.Evidence{Kind: reports.EvidenceNode, Node: span(s.Fleet, s.First, s.Count),
				Excerpt: fmt.Sprintf("shard %d/%d: at most %d of its %d nodes online at once", s.Shard, s.Shards, s.PeakOnline, s.Count)})
		}
	}
	if c.Fails > 0 {
		c.Status = reports.StatusFail
		c.Message = fmt.Sprintf("%d nodes never came online with the rest of their shard", c.Fails)
	}
	_ = r.AddCheck(c)
}

func stopped(r *reports.Report, shards []*Shard) {
	c := reports.Check{ID: CheckStopped, Name: "every shard ran until it was stopped", Status: reports.StatusPass}
	for _, s := range shards {
		if s.Error == "" {
			c.Passes++
			continue
		}
		c.Fails++
		c.Evidence = append(c.Evidence, reports.Evidence{Kind: reports.EvidenceNode, Node: span(s.Fleet, s.First, s.Count),
			Excerpt: fmt.Sprintf("shard %d/%d: %s", s.Shard, s.Shards, s.Error)})
	}
	if c.Fails > 0 {
		c.Status = reports.StatusFail
		c.Message = fmt.Sprintf("%d of %d shards ended with an error", c.Fails, len(shards))
	}
	_ = r.AddCheck(c)
}

// sumStates adds up the shards' node states over time, in whole seconds since start: at each
// second where any shard has a point, each shard counts with its latest point, and not at all
// before its first point or after its end.
func sumStates(start time.Time, shards []*Shard) []reports.StateCounts {
	type point struct {
		sec    int
		counts map[string]int
	}
	per := make([][]point, len(shards))
	secs := map[int]bool{}
	for i, s := range shards {
		offset := s.Start.Sub(start).Seconds()
		for _, p := range s.States {
			sec := int(math.Floor(offset + p.T))
			per[i] = append(per[i], point{sec, p.Counts})
			secs[sec] = true
		}
		if len(per[i]) > 0 && !s.End.IsZero() {
			sec := int(math.Floor(s.End.Sub(start).Seconds()))
			per[i] = append(per[i], point{sec, nil})
			secs[sec] = true
		}
	}
	order := make([]int, 0, len(secs))
	for sec := range secs {
		order = append(order, sec)
	}
	sort.Ints(order)
	out := make([]reports.StateCounts, 0, len(order))
	next := make([]int, len(shards)) // per shard: index of its first point after the current second
	for _, sec := range order {
		sum := map[string]int{}
		for i, ps := range per {
			for next[i] < len(ps) && ps[next[i]].sec <= sec {
				next[i]++
			}
			if next[i] == 0 {
				continue
			}
			for k, v := range ps[next[i]-1].counts {
				sum[k] += v
			}
		}
		out = append(out, reports.StateCounts{T: float64(sec), Counts: sum})
	}
	return out
}

func shardLine(s *Shard) string {
	var b strings.Builder
	fmt.Fprintf(&b, "shard %d/%d ran %s (%d nodes): ", s.Shard, s.Shards, span(s.Fleet, s.First, s.Count), s.Count)
	if s.AllOnline > 0 {
		fmt.Fprintf(&b, "all online after %s, ", seconds(s.AllOnline.Seconds()))
	}
	fmt.Fprintf(&b, "%d online at most, %d at the stop; %d commits; sent %d messages, received %d, %d rejected; %d config requests (%d failed), %d reconfigures",
		s.PeakOnline, s.OnlineAtStop, s.Counts.Commits, sum(s.Counts.Sent), sum(s.Counts.Received), s.Counts.Rejected,
		s.Counts.ConfigRequests, s.Counts.ConfigErrors, s.Counts.Reconfigures)
	if s.Error != "" {
		fmt.Fprintf(&b, "; ended with an error: %s", s.Error)
	}
	return b.String()
}

// span names the nodes [first, first+n) of the fleet: "node-00100…node-00199".
func span(f Fleet, first, n int) string {
	switch {
	case n <= 0:
		return "no nodes"
	case n == 1:
		return f.Name(first)
	}
	return f.Name(first) + "…" + f.Name(first+n-1)
}

func byType(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func seconds(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(100 * time.Millisecond).String()
}

func times(n int) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d times", n)
}
