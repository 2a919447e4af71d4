package simulator

import (
	"math"
	"testing"
	"time"

	"github.com/pushlab/pushlab/scenarios"
)

func TestMetricsThresholds(t *testing.T) {
	m := NewMetrics()
	for i := 1; i <= 100; i++ {
		tags := Tags{Job: "deploy", Group: "web", Behaviour: "duration,ack_commit"}
		if i > 90 {
			tags = Tags{Job: "other", Group: "db", Behaviour: "nack_commit"}
		}
		m.Duration("job_duration", time.Duration(i)*time.Millisecond, tags)
	}
	m.Add("http_req_failed", 0, Tags{})
	m.Add("http_req_failed", 1, Tags{})
	m.Add("http_req_failed", 0, Tags{})
	m.Add("http_req_failed", 0, Tags{})
	m.Add("jobs", 1, Tags{})
	m.Add("jobs", 1, Tags{})
	m.Add("nodes_online", 10, Tags{})
	m.Add("nodes_online", 7, Tags{})

	s, err := scenarios.LoadBytes("t.yaml", []byte(`apiVersion: pushlab/v1
kind: Scenario
metadata: {name: t}
fleet:
  groups:
    - {name: web, count: 1, behaviours: [{name: ack_commit}]}
    - {name: db, count: 1}
timeline:
  - job: {name: deploy, command: x, nodes: "*"}
  - job: {name: other, command: x, nodes: "*"}
thresholds:
  job_duration: ["max<=100ms", "p(50)<50", "avg<50ms", "med==50.5"]
  job_duration{job:deploy}: ["max==90", "min==1"]
  "job_duration{behaviour:ack_commit}": ["max<91ms"]
  http_req_failed: ["rate<0.3", "rate<0.2"]
  jobs: ["count==2"]
  nodes_online: ["value==7"]
  run_duration: ["p(95)<1s"]
`), scenarios.Options{Behaviours: scenarios.StandardBehaviours})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		expr     string
		ok       bool
		observed float64
	}{
		{"max<=100ms", true, 100}, {"p(50)<50", false, 50.5}, {"avg<50ms", false, 50.5}, {"med==50.5", true, 50.5},
		{"max==90", true, 90}, {"min==1", true, 1},
		{"max<91ms", true, 90},
		{"rate<0.3", true, 0.25}, {"rate<0.2", false, 0.25},
		{"count==2", true, 2},
		{"value==7", true, 7},
		{"p(95)<1s", true, 0},
	}
	got := m.Evaluate(s.Thresholds)
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Expression != w.expr || g.OK != w.ok || math.Abs(g.Observed-w.observed) > 1e-9 {
			t.Errorf("%s %s: ok %v observed %v, want ok %v observed %v", g.Metric, g.Expression, g.OK, g.Observed, w.ok, w.observed)
		}
	}
	if got[len(got)-1].Note != "no samples" {
		t.Errorf("a trend without samples: %+v", got[len(got)-1])
	}
	sum, ok := m.Summary("job_duration")
	if !ok || sum.Count != 100 || sum.Max != 100 || sum.Min != 1 {
		t.Errorf("summary %+v", sum)
	}
}
