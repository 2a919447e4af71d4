package simulator

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/pushlab/pushlab/scenarios"
)

const planScenario = `apiVersion: pushlab/v1
kind: Scenario
metadata: {name: plan}
fleet:
  groups:
    - name: web
      count: 200
      labels: {tier: front}
      behaviours:
        - {name: duration, params: {value: 1s}}
        - {name: ack_commit, weight: 3}
        - {name: nack_commit, weight: 1}
    - name: db
      count: 20
      offline: true
timeline:
  - job: {name: all, command: x, nodes: "group=web"}
  - fault: {name: kill, crash: {nodes: "group=web", count: 15}}
  - fault: {name: more, unavailable: {nodes: "fault!=kill,tier=front", percent: 10, duration: 5s}}
  - load:
      rate: 2/s
      duration: 5s
      sample: 30
      job: {name: bursts, command: x, nodes: "behaviour=ack_commit"}
  - job: {name: survivors, command: x, nodes: "fault!=kill", absentNodes: [ghost]}
`

func loadBytes(t *testing.T, src string) *scenarios.Scenario {
	t.Helper()
	s, err := scenarios.LoadBytes("t.yaml", []byte(src), scenarios.Options{Behaviours: scenarios.StandardBehaviours})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func planJSON(t *testing.T, sc *Schedule) string {
	t.Helper()
	b, err := json.Marshal(sc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPlanSameSeedSameSchedule: the schedule is a function of the scenario and the seed.
func TestPlanSameSeedSameSchedule(t *testing.T) {
	s := loadBytes(t, planScenario)
	a, err := Plan(s, 42)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Plan(loadBytes(t, planScenario), 42)
	if planJSON(t, a) != planJSON(t, b) {
		t.Fatal("two plans with seed 42 differ")
	}
	c, _ := Plan(s, 43)
	if planJSON(t, a) == planJSON(t, c) {
		t.Fatal("seeds 42 and 43 give the same schedule")
	}
	for k := 1; k <= 50; k++ {
		if !reflect.DeepEqual(a.Sample(3, k, a.Steps[3].Nodes, 30, 0), b.Sample(3, k, b.Steps[3].Nodes, 30, 0)) {
			t.Fatalf("load sample %d differs between equal seeds", k)
		}
	}
}

func TestPlanContents(t *testing.T) {
	sc, err := Plan(loadBytes(t, planScenario), 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Nodes) != 220 {
		t.Fatalf("%d nodes", len(sc.Nodes))
	}
	draws := map[string]int{}
	for _, n := range sc.Nodes[:200] {
		if len(n.Behaviours) != 2 || n.Behaviours[0] != "duration" {
			t.Fatalf("%s behaviours %v: want duration then one weighted draw", n.Name, n.Behaviours)
		}
		draws[n.Behaviours[1]]++
	}
	// 3:1 weights over 200 nodes: about 150 and 50.
	if draws["ack_commit"] < 120 || draws["nack_commit"] < 25 || draws["ack_commit"]+draws["nack_commit"] != 200 {
		t.Errorf("weighted draws %v", draws)
	}
	for _, n := range sc.Nodes[200:] {
		if !n.Offline || len(n.Behaviours) != 0 {
			t.Errorf("db node %+v", n)
		}
	}
	kill, more := sc.Steps[1].Nodes, sc.Steps[2].Nodes
	if len(kill) != 15 {
		t.Errorf("crash count 15 hit %d nodes", len(kill))
	}
	// 10% of the 185 web nodes the first fault spared
	if len(more) != 19 {
		t.Errorf("the second fault hit %d nodes, want 19", len(more))
	}
	killed := map[string]bool{}
	for _, n := range kill {
		killed[n] = true
	}
	for _, n := range more {
		if killed[n] {
			t.Errorf("%s: fault!=kill selected a node the kill fault hit", n)
		}
	}
	surv := sc.Steps[4].Nodes
	if len(surv) != 220-15+1 || surv[len(surv)-1] != "ghost" {
		t.Errorf("survivors: %d nodes, last %s", len(surv), surv[len(surv)-1])
	}
	if got := len(sc.Steps[3].Samples); got != 10 {
		t.Errorf("a 2/s load for 5s plans %d samples, want 10", got)
	}
	for _, smp := range sc.Steps[3].Samples {
		if len(smp) != 30 {
			t.Fatalf("sample of %d nodes", len(smp))
		}
		for _, n := range smp {
			if pn, _ := sc.Node(n); pn.Behaviours[1] != "ack_commit" {
				t.Fatalf("sample node %s does not ack: %v", n, pn.Behaviours)
			}
		}
	}
}

func TestScale(t *testing.T) {
	s := loadLibrary(t, "smoke")
	small := Scale(s, 0.1)
	if err := small.Validate(scenarios.StandardBehaviours); err != nil {
		t.Fatalf("the scaled smoke scenario is invalid: %v", err)
	}
	if n := len(small.Nodes()); n != 100 {
		t.Errorf("scaled smoke has %d nodes, want 100", n)
	}
	if len(s.Nodes()) != 1000 {
		t.Error("scaling changed the original")
	}
	// The exact event count of deploy-web follows the web group (700 -> 70).
	var deploy *scenarios.JobSpec
	for _, st := range small.Timeline {
		if st.Job != nil && st.Job.Name == "deploy-web" {
			deploy = st.Job
		}
	}
	if deploy == nil {
		t.Fatal("no deploy-web job")
	}
	for _, ec := range deploy.Expect.SSE.Events {
		if ec.Event == "quorum_vote" && ec.Count.N != 70 || ec.Event == "start" && ec.Count.N != 1 {
			t.Errorf("scaled count %s %s", ec, ec.Count)
		}
	}
	// web-0699 is gone at this size: its output expectation went with it.
	for _, o := range deploy.Expect.Outputs {
		if strings.Contains(o.Nodes.String(), "web-0699") {
			t.Error("an output expectation names a node the scaled fleet lacks")
		}
	}
	if c := scaleCount(scenarios.Count{Op: ">=", N: 102}, 0.1); c.N != 10 {
		t.Errorf(">=102 scaled to %v", c.N)
	}
	if c := scaleCount(scenarios.Count{Op: "<", N: 15}, 0.1); c.N != 2 {
		t.Errorf("<15 scaled to %v", c.N)
	}
	if Scale(s, 1) != s {
		t.Error("scale 1 copies")
	}
}
