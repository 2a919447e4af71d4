package simulator

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/pushlab/pushlab/fakenodes/behaviour"
	"github.com/pushlab/pushlab/scenarios"
)

// Random streams of the schedule, so that adding a use of randomness in one place does not
// shift another.
const (
	streamBehaviour uint64 = 0x6265686176696f75 // "behaviou"
	streamVictims   uint64 = 0x76696374696d73   // "victims"
	streamSample    uint64 = 0x73616d706c65     // "sample"
)

// Schedule is everything a seed decides before a run starts: the behaviours of every node,
// the victims of every node fault and the nodes of every job; a load's samples derive from
// (seed, step, job number) the same way (Sample). The same scenario and seed give the same
// schedule, so a run can be replayed.
type Schedule struct {
	Scenario string        `json:"scenario"`
	Seed     int64         `json:"seed"`
	Nodes    []PlannedNode `json:"nodes"`
	Steps    []PlannedStep `json:"steps"`

	scenario *scenarios.Scenario
	index    map[string]int // node name -> position in Nodes
}

// PlannedNode is one simulated node and what it will do.
type PlannedNode struct {
	Name  string `json:"name"`
	Group string `json:"group"`
	Index int    `json:"index"` // in its group
	// Behaviours are the node's behaviours, in the order they act.
	Behaviours []string `json:"behaviours,omitempty"`
	// Entries are the positions of those behaviours in the group's list.
	Entries []int `json:"entries,omitempty"`
	Offline bool  `json:"offline,omitempty"`
}

// PlannedStep is one step of the timeline as the seed fixes it.
type PlannedStep struct {
	Index  int           `json:"index"`
	Action string        `json:"action"`
	At     time.Duration `json:"at,omitempty"`
	Job    string        `json:"job,omitempty"`   // job or load template
	Fault  string        `json:"fault,omitempty"` // fault kind
	Name   string        `json:"name,omitempty"`  // fault name
	// Nodes are a job's nodes (fleet nodes, then absent names) or a node fault's victims.
	Nodes []string `json:"nodes,omitempty"`
	// Samples are the first jobs' nodes of a load that samples its template's nodes.
	Samples [][]string `json:"samples,omitempty"`
}

// maxPlannedSamples bounds the load samples a schedule lists (the rest follow the same rule).
const maxPlannedSamples = 20

// Plan fixes the schedule of a valid scenario for a seed.
func Plan(s *scenarios.Scenario, seed int64) (*Schedule, error) {
	sc := &Schedule{Scenario: s.Metadata.Name, Seed: seed, scenario: s, index: map[string]int{}}
	global := 0
	for _, g := range s.Fleet.Groups {
		total := 0.0
		for _, b := range g.Behaviours {
			if b.Weight != nil {
				total += *b.Weight
			}
		}
		for i := 0; i < g.Count; i++ {
			pn := PlannedNode{Name: g.NodeName(i), Group: g.Name, Index: i, Offline: g.Offline}
			chosen := -1
			if total > 0 {
				r := behaviour.NodeRand(seed, global, streamBehaviour).Float64() * total
				for j, b := range g.Behaviours {
					if b.Weight == nil || *b.Weight <= 0 {
						continue
					}
					chosen = j
					if r < *b.Weight {
						break
					}
					r -= *b.Weight
				}
			}
			for j, b := range g.Behaviours {
				if b.Weight == nil || j == chosen {
					pn.Behaviours = append(pn.Behaviours, b.Name)
					pn.Entries = append(pn.Entries, j)
				}
			}
			if _, dup := sc.index[pn.Name]; dup {
				return nil, fmt.Errorf("node name %q is made twice", pn.Name)
			}
			sc.index[pn.Name] = len(sc.Nodes)
			sc.Nodes = append(sc.Nodes, pn)
			global++
		}
	}
	faults := map[string][]string{} // node -> fault names so far
	for i, st := range s.Timeline {
		ps := PlannedStep{Index: i, Action: st.Action()}
		if st.At != nil {
			ps.At = st.At.D()
		}
		switch {
		case st.Job != nil:
			ps.Job = st.Job.Name
			ps.Nodes = sc.jobNodes(st.Job, faults)
		case st.Load != nil:
			ps.Job = st.Load.Job.Name
			ps.Nodes = sc.jobNodes(&st.Load.Job, faults)
			if st.Load.Sample > 0 {
				n := maxPlannedSamples
				if st.Load.Rate != nil {
					n = min(n, int(math.Ceil(st.Load.Duration.D().Seconds()*st.Load.Rate.PerSecond())))
				}
				for k := 1; k <= n; k++ {
					ps.Samples = append(ps.Samples, sc.Sample(i, k, ps.Nodes, st.Load.Sample, len(st.Load.Job.AbsentNodes)))
				}
			}
		case st.Wait != nil:
			if st.Wait.For.Kind == scenarios.CondJob {
				ps.Job = st.Wait.For.Job
			}
		case st.Expect != nil:
			ps.Job = st.Expect.Job
		case st.Fault != nil:
			ps.Fault, ps.Name = st.Fault.Kind(), st.Fault.Name
			if vi := st.Fault.Victims(); vi != nil {
				ps.Nodes = sc.victims(i, vi, faults)
				if st.Fault.Name != "" {
					for _, n := range ps.Nodes {
						faults[n] = append(faults[n], st.Fault.Name)
					}
				}
			}
		}
		sc.Steps = append(sc.Steps, ps)
	}
	return sc, nil
}

// selectorNodes are the fleet's nodes as selectors see them, with the faults named so far.
func (sc *Schedule) selectorNodes(faults map[string][]string) []scenarios.Node {
	out := make([]scenarios.Node, len(sc.Nodes))
	labels := map[string]map[string]string{}
	for _, g := range sc.scenario.Fleet.Groups {
		labels[g.Name] = g.Labels
	}
	for i, n := range sc.Nodes {
		out[i] = scenarios.Node{Name: n.Name, Group: n.Group, Index: n.Index, Labels: labels[n.Group],
			Behaviours: n.Behaviours, Faults: faults[n.Name]}
	}
	return out
}

// jobNodes resolves a job's node set: fleet nodes in fleet order, then the absent names.
func (sc *Schedule) jobNodes(j *scenarios.JobSpec, faults map[string][]string) []string {
	var out []string
	for _, n := range j.Nodes.Select(sc.selectorNodes(faults)) {
		out = append(out, n.Name)
	}
	return append(out, j.AbsentNodes...)
}

// victims draws the nodes a node fault hits.
func (sc *Schedule) victims(step int, vi *scenarios.Victims, faults map[string][]string) []string {
	var cand []string
	for _, n := range vi.Nodes.Select(sc.selectorNodes(faults)) {
		cand = append(cand, n.Name)
	}
	k := len(cand)
	switch {
	case vi.Count > 0:
		k = min(vi.Count, len(cand))
	case vi.Percent != nil:
		k = int(math.Round(*vi.Percent * float64(len(cand)) / 100))
		if k == 0 && *vi.Percent > 0 && len(cand) > 0 {
			k = 1
		}
	}
	if k == len(cand) {
		return cand
	}
	r := stepRand(sc.Seed, step, 0, streamVictims)
	picked := append([]string(nil), cand...)
	r.Shuffle(len(picked), func(i, j int) { picked[i], picked[j] = picked[j], picked[i] })
	picked = picked[:k]
	sort.Slice(picked, func(i, j int) bool { return sc.index[picked[i]] < sc.index[picked[j]] })
	return picked
}

// Sample is the node list of job number k (from 1) of the load at step: size nodes drawn from
// the template's fleet nodes (all of nodes but the last absent ones), then the absent names.
func (sc *Schedule) Sample(step, k int, nodes []string, size, absent int) []string {
	fleet := nodes[:len(nodes)-absent]
	if size <= 0 || size >= len(fleet) {
		return append([]string(nil), nodes...)
	}
	r := stepRand(sc.Seed, step, k, streamSample)
	perm := r.Perm(len(fleet))[:size]
	sort.Ints(perm)
	out := make([]string, 0, size+absent)
	for _, i := range perm {
		out = append(out, fleet[i])
	}
	return append(out, nodes[len(nodes)-absent:]...)
}

func stepRand(seed int64, step, k int, stream uint64) *rand.Rand {
	return behaviour.NodeRand(seed, step*1_000_003+k, stream)
}

// Node returns the planned node with this name.
func (sc *Schedule) Node(name string) (PlannedNode, bool) {
	i, ok := sc.index[name]
	if !ok {
		return PlannedNode{}, false
	}
	return sc.Nodes[i], true
}
