package scenarios

import (
	"strings"
	"testing"
	"time"
)

func TestSelectors(t *testing.T) {
	web3 := Node{Name: "web-0003", Group: "web", Index: 3, Labels: map[string]string{"tier": "front"}, Behaviours: []string{"ack", "duration"}, Faults: []string{"boom"}}
	db0 := Node{Name: "db-000", Group: "db", Index: 0, Labels: map[string]string{"tier": "back"}}
	cases := []struct {
		sel       string
		web3, db0 bool
	}{
		{"*", true, true},
		{"group=web", true, false},
		{"group==web", true, false},
		{"group!=web", false, true},
		{"group=web,index<3", false, false},
		{"group=web, index<=3", true, false},
		{"index>0", true, false},
		{"index>=0", true, true},
		{"web-0003", true, false},
		{"name=web-000?", true, false},
		{"web-*", true, false},
		{"tier=back", false, true},
		{"tier!=back", true, false},
		{"zone=east", false, false},
		{"zone!=east", true, true},
		{"behaviour=ack", true, false},
		{"behaviour!=ack", false, true},
		{"fault=boom", true, false},
		{"group=*", true, true},
	}
	for _, c := range cases {
		s, err := ParseSelector(c.sel)
		if err != nil {
			t.Errorf("%q: %v", c.sel, err)
			continue
		}
		if got := s.Match(web3); got != c.web3 {
			t.Errorf("%q matches web-0003: %v, want %v", c.sel, got, c.web3)
		}
		if got := s.Match(db0); got != c.db0 {
			t.Errorf("%q matches db-000: %v, want %v", c.sel, got, c.db0)
		}
	}
	ns := NodeSet{mustSelector(t, "group=db"), mustSelector(t, "web-0003")}
	if got := ns.Select([]Node{db0, web3, {Name: "x"}}); len(got) != 2 {
		t.Errorf("union selected %d nodes, want 2", len(got))
	}

	bad := map[string]string{
		"":            "empty selector",
		"group=web,":  "empty term",
		"group=":      "missing value",
		"=web":        "missing key",
		"tier<3":      "works only with index",
		"index=three": "index takes an integer",
		"a b":         "invalid node name",
		"group=[":     "invalid pattern",
	}
	for sel, want := range bad {
		if _, err := ParseSelector(sel); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", sel, err, want)
		}
	}
}

func mustSelector(t *testing.T, s string) Selector {
	t.Helper()
	sel, err := ParseSelector(s)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

func TestThresholdExpressions(t *testing.T) {
	cases := []struct {
		expr  string
		agg   string
		pct   float64
		op    string
		value float64
		dur   bool
	}{
		{"p(95)<2s", "p", 95, "<", 2000, true},
		{"p(99.9) <= 250ms", "p", 99.9, "<=", 250, true},
		{"avg<200", "avg", 0, "<", 200, false},
		{"rate>0.99", "rate", 0, ">", 0.99, false},
		{"count==0", "count", 0, "==", 0, false},
		{"count=0", "count", 0, "==", 0, false},
		{"med != 1m", "med", 0, "!=", 60000, true},
		{"value>=10", "value", 0, ">=", 10, false},
	}
	for _, c := range cases {
		th, err := ParseThreshold(c.expr)
		if err != nil {
			t.Errorf("%q: %v", c.expr, err)
			continue
		}
		if th.Agg != c.agg || th.Percentile != c.pct || th.Op != c.op || th.Value != c.value || th.IsDuration != c.dur {
			t.Errorf("%q parsed as %+v", c.expr, th)
		}
	}
	th, _ := ParseThreshold("p(95)<2s")
	if !th.Holds(1999) || th.Holds(2000) {
		t.Error("p(95)<2s should hold for 1999 ms and not for 2000 ms")
	}
	for _, bad := range []string{"", "p95<1", "p(0)<1", "p(101)<1", "p(95", "avg", "avg 5", "avg<", "avg<fast", "mean<1"} {
		if _, err := ParseThreshold(bad); err == nil {
			t.Errorf("%q should not parse", bad)
		}
	}
}

func TestMetricKeys(t *testing.T) {
	name, tags, err := parseMetricKey("job_duration{job:deploy, group:web}")
	if err != nil || name != "job_duration" || tags["job"] != "deploy" || tags["group"] != "web" || len(tags) != 2 {
		t.Errorf("got %q %v %v", name, tags, err)
	}
	for _, bad := range []string{"job duration", "x{job}", "x{job:a", "x{job:a,job:b}", "{job:a}"} {
		if _, _, err := parseMetricKey(bad); err == nil {
			t.Errorf("%q should not parse", bad)
		}
	}
}

func TestConditions(t *testing.T) {
	c, err := ParseCondition("job deploy running")
	if err != nil || c.Kind != CondJob || c.Job != "deploy" || c.State != "running" {
		t.Errorf("got %+v %v", c, err)
	}
	c, err = ParseCondition("jobs finished")
	if err != nil || c.Kind != CondJobs {
		t.Errorf("got %+v %v", c, err)
	}
	c, err = ParseCondition("nodes available")
	if err != nil || c.Kind != CondNodes || !c.Selector.All || c.Property != "available" || c.Count.String() != ">=100%" {
		t.Errorf("got %+v %v", c, err)
	}
	c, err = ParseCondition("nodes(group=web,index<10) unavailable >= 90%")
	if err != nil || c.Selector.Text != "group=web,index<10" || c.Property != "unavailable" || !c.Count.Percent || c.Count.N != 90 || c.Count.Op != ">=" {
		t.Errorf("got %+v %v", c, err)
	}
	if !c.Count.Holds(9, 10) || c.Count.Holds(8, 10) {
		t.Error(">=90% should hold for 9 of 10 and not for 8 of 10")
	}
	c, err = ParseCondition("nodes online ==5")
	if err != nil || c.Count.Percent || c.Count.N != 5 || c.Count.Op != "==" {
		t.Errorf("got %+v %v", c, err)
	}
	for bad, want := range map[string]int{
		"job deploy":                0,
		"job deploy done":           11,
		"jobs running":              0,
		"nodes sleeping":            6,
		"nodes(group=web available": 5,
		"nodes(index<x) available":  12,
		"nodes available >= lots":   19,
		"everything is fine":        0,
		"nodesavailable":            0,
	} {
		_, err := ParseCondition(bad)
		oe, ok := err.(*offsetError)
		if !ok {
			t.Errorf("%q: error %v, want an offset error", bad, err)
			continue
		}
		if oe.off != want {
			t.Errorf("%q: error at offset %d, want %d (%v)", bad, oe.off, want, err)
		}
	}
}

func TestRatesAndQuorums(t *testing.T) {
	for text, want := range map[string]float64{"5/s": 5, "120/m": 2, "1/10s": 0.1, "0.5/s": 0.5, "3600/h": 1, "1/500ms": 2} {
		var r Rate
		if err := r.UnmarshalText([]byte(text)); err != nil {
			t.Errorf("%q: %v", text, err)
			continue
		}
		if got := r.PerSecond(); got < want*0.999 || got > want*1.001 {
			t.Errorf("%q is %v/s, want %v", text, got, want)
		}
	}
	var r Rate
	_ = r.UnmarshalText([]byte("2/s"))
	if r.Interval() != 500*time.Millisecond || r.String() != "2/s" {
		t.Errorf("2/s: interval %v, string %q", r.Interval(), r.String())
	}
	for _, bad := range []string{"5", "0/s", "-1/s", "x/s", "5/fortnight", "5/0s"} {
		var r Rate
		if err := r.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("%q should not parse", bad)
		}
	}
	for _, c := range []struct {
		q    Quorum
		n    int
		want int
	}{
		{Quorum{Count: 3}, 10, 3},
		{Quorum{Percent: 100, IsPercent: true}, 7, 7},
		{Quorum{Percent: 90, IsPercent: true}, 10, 9},
		{Quorum{Percent: 90, IsPercent: true}, 11, 10}, // ceil(9.9)
		{Quorum{Percent: 50, IsPercent: true}, 3, 2},
	} {
		if got := c.q.Of(c.n); got != c.want {
			t.Errorf("%v of %d = %d, want %d", c.q, c.n, got, c.want)
		}
	}
}

func TestNamePatterns(t *testing.T) {
	for pattern, want := range map[string]string{
		"web-{index:04d}":       "web-0042",
		"{group}-{index}":       "g-42",
		"{group}.{index:d}.lan": "g.42.lan",
		"n{index:06d}":          "n000042",
		DefaultNamePattern:      "g-0042",
	} {
		g := Group{Name: "g", NamePattern: pattern}
		if got := g.NodeName(42); got != want {
			t.Errorf("%q: %q, want %q", pattern, got, want)
		}
	}
	for _, bad := range []string{"web-{idx}", "web-{index", "web-}", "{index:4x}", "{group:03d}"} {
		if _, err := parseNamePattern(bad); err == nil {
			t.Errorf("%q should not parse", bad)
		}
	}
}

func TestAnchorsAndMerges(t *testing.T) {
	src := `apiVersion: pushlab/v1
kind: Scenario
metadata: {name: t}
fleet:
  groups:
    - &web
      name: web
      count: 2
      labels: {tier: front}
    - <<: *web
      name: db
      count: 5
timeline:
  - job: &deploy {name: a, command: chef-client, nodes: group=db, quorum: 5}
  - job:
      <<: *deploy
      name: b
      nodes: "*"
      quorum: "50%"
`
	s, err := LoadBytes("t.yaml", []byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := s.Fleet.Groups[1]
	if g.Name != "db" || g.Count != 5 || g.Labels["tier"] != "front" {
		t.Errorf("merged group: %+v", g)
	}
	b := s.Timeline[1].Job
	if b.Name != "b" || b.Command != "chef-client" || b.Nodes.String() != "*" || b.Quorum.String() != "50%" {
		t.Errorf("merged job: %+v", b)
	}
	if p := s.Pos("timeline[1].job.quorum"); p != (Pos{Line: 19, Column: 15}) {
		t.Errorf("position of the quorum: %v", p)
	}
	if p := s.KeyPos("fleet.groups[1].count"); p != (Pos{Line: 12, Column: 7}) {
		t.Errorf("position of the count key: %v", p)
	}
}

func TestDefaultsAndAccessors(t *testing.T) {
	src := base + "  - job: {command: y, nodes: web-0001}\n  - load: {concurrency: 2, duration: 1m, job: {command: z, nodes: \"*\"}}\n"
	s, err := LoadBytes("t.yaml", []byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Timeline[1].Job.Name; n != "job-2" {
		t.Errorf("unnamed job is %q, want job-2", n)
	}
	if n := s.Timeline[2].Load.Job.Name; n != "load-3" {
		t.Errorf("unnamed load is %q, want load-3", n)
	}
	if a := s.Timeline[2].Action(); a != "load" {
		t.Errorf("action %q", a)
	}
}
