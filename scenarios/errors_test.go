package scenarios

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// base is a valid scenario; the cases below change a line or add some.
const base = `apiVersion: pushlab/v1
kind: Scenario
metadata: {name: t}
fleet:
  groups:
    - name: web
      count: 3
      labels: {tier: front}
timeline:
  - job: {name: j1, command: x, nodes: "*"}
`

// posOf is the line:column of the first occurrence of marker in src (columns count runes from 1).
func posOf(t *testing.T, src, marker string) string {
	t.Helper()
	i := strings.Index(src, marker)
	if i < 0 {
		t.Fatalf("marker %q is not in the file", marker)
	}
	line := strings.Count(src[:i], "\n") + 1
	col := utf8.RuneCountInString(src[strings.LastIndex(src[:i], "\n")+1:i]) + 1
	return fmt.Sprintf("%d:%d", line, col)
}

func edit(old, new string) string {
	if !strings.Contains(base, old) {
		panic("base has no " + old)
	}
	return strings.Replace(base, old, new, 1)
}

type wantErr struct {
	at  string // marker: the error is where it first occurs
	msg string
}

func checkErrors(t *testing.T, src string, err error, want []wantErr) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error for\n%s", src)
	}
	var list *ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error is %T, not *ErrorList: %v", err, err)
	}
	var wantLines []string
	for _, w := range want {
		wantLines = append(wantLines, "t.yaml:"+posOf(t, src, w.at)+": "+w.msg)
	}
	got := strings.Split(err.Error(), "\n")
	if strings.Join(got, "\n") != strings.Join(wantLines, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantLines, "\n"))
	}
	if list.Len() != len(want) {
		t.Errorf("%d errors in the list, want %d", list.Len(), len(want))
	}
	for _, e := range list.Errors {
		if e.File != "t.yaml" || e.Line < 1 || e.Column < 1 {
			t.Errorf("error without a position: %+v", e)
		}
	}
}

func TestBaseIsValid(t *testing.T) {
	s, err := LoadBytes("t.yaml", []byte(base), Options{Behaviours: StandardBehaviours})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(s.Nodes()); got != 3 {
		t.Errorf("%d nodes, want 3", got)
	}
	if n := s.Nodes()[2].Name; n != "web-0002" {
		t.Errorf("third node %q, want web-0002 (default pattern)", n)
	}
	if !s.Target.IsEmbedded() || s.Target.Embedded == nil {
		t.Errorf("no target should mean the embedded server: %+v", s.Target)
	}
}

// TestImageTarget: an image target keeps the embedded settings and allows server faults; the
// image references Docker accepts pass.
func TestImageTarget(t *testing.T) {
	for _, ref := range []string{"pushlab:dev", "pushlab", "localhost:5000/team/pushy-server:3.0.0-rc.1",
		"registry.example.com/a_b/c__d/e--f:latest", "pushy@sha256:" + strings.Repeat("ab", 32)} {
		src := strings.Replace(base, "fleet:", "target:\n  image: \""+ref+"\"\n  embedded: {heartbeatInterval: 1s}\nfleet:", 1) +
			"  - fault: {serverRestart: {downtime: 1s}}\n  - fault: {serverPause: {duration: 1s}}\n"
		s, err := LoadBytes("t.yaml", []byte(src), Options{Behaviours: StandardBehaviours})
		if err != nil {
			t.Errorf("%s: %v", ref, err)
			continue
		}
		if s.Target.Image != ref || !s.Target.IsEmbedded() || s.Target.Embedded.HeartbeatInterval.D() != time.Second {
			t.Errorf("%s: target %+v", ref, s.Target)
		}
	}
	for _, ref := range []string{"Pushlab:dev", "pushlab:", "pushlab:-x", "-pushlab", "push lab", "pushlab@sha256:abc", "a//b"} {
		src := strings.Replace(base, "fleet:", "target: {image: \""+ref+"\"}\nfleet:", 1)
		if _, err := LoadBytes("t.yaml", []byte(src), Options{}); err == nil {
			t.Errorf("image %q accepted", ref)
		}
	}
}

// TestDecodeErrors: problems of shape and type, found before any meaning is checked.
func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []wantErr
	}{
		{"typo'd key", edit("      count: 3", "      cuont: 3"),
			[]wantErr{{"cuont", `fleet.groups[0]: unknown key "cuont"; did you mean "count"?`}}},
		{"snake case key", edit("{name: j1, command: x,", "{name: j1, command: x, run_timeout: 5s,"),
			[]wantErr{{"run_timeout", `timeline[0].job: unknown key "run_timeout"; did you mean "runTimeout"?`}}},
		{"unknown key far from any", edit("kind: Scenario", "kind: Scenario\nflavour: mild"),
			[]wantErr{{"flavour", `unknown key "flavour"; known keys here: apiVersion, kind, metadata, seed, timeout, target, fleet, timeline, thresholds`}}},
		{"wrong type", edit("count: 3", "count: three"),
			[]wantErr{{"three", `fleet.groups[0].count: want an integer, got string "three"`}}},
		{"number for a string", edit("command: x", "command: 42"),
			[]wantErr{{"42", `timeline[0].job.command: want a string, got integer 42; quote it ("42") if it is text`}}},
		{"mapping for a list", edit("timeline:\n  - job: {name: j1, command: x, nodes: \"*\"}", "timeline: {sleep: 1s}"),
			[]wantErr{{"sleep: 1s", "timeline: want a list, got a mapping"}}},
		{"duplicate key", edit("      count: 3\n", "      count: 3\n      count: 4\n"),
			[]wantErr{{"count: 4", `fleet.groups[0]: duplicate key "count" (first at line 7)`}}},
		{"duplicate key in a plain map", edit("{tier: front}", "{tier: front, tier: back}"),
			[]wantErr{{"tier: back", `fleet.groups[0].labels: duplicate key "tier" (first at line 8)`}}},
		{"bad duration", base + "  - sleep: 5\n",
			[]wantErr{{"5\n", `timeline[1].sleep: duration "5" has no unit; write it like "5s" or "5ms"`}}},
		{"bad duration unit", base + "  - sleep: 5 sec\n",
			[]wantErr{{"5 sec", `timeline[1].sleep: invalid duration "5 sec"; want one such as "250ms", "30s" or "2m"`}}},
		{"bad selector", edit(`nodes: "*"`, `nodes: "group=web,index<<2"`),
			[]wantErr{{"<2\"", `timeline[0].job.nodes: invalid value "<2" in selector term "index<<2"`}}},
		{"selector order on a label", edit(`nodes: "*"`, `nodes: "tier>front"`),
			[]wantErr{{">front", `timeline[0].job.nodes: > compares numbers and works only with index; tier takes = or !=`}}},
		{"bad selector in a list", edit(`nodes: "*"`, `nodes: [web-0001, "index=x"]`),
			[]wantErr{{"x\"]", `timeline[0].job.nodes[1]: index takes an integer, not "x"`}}},
		{"bad quorum", edit(`nodes: "*"`, `nodes: "*", quorum: "120%"`),
			[]wantErr{{`"120%"`, `timeline[0].job.quorum: quorum 120% is outside 0% (exclusive) to 100%`}}},
		{"bad rate", base + "  - load: {rate: 5 per s, duration: 1m, job: {command: x, nodes: \"*\"}}\n",
			[]wantErr{{"5 per s", `timeline[1].load.rate: invalid rate "5 per s"; want a count per period such as "5/s", "120/m" or "1/10s"`}}},
		{"bad threshold", base + "thresholds: {job_duration: \"p95<2s\"}\n",
			[]wantErr{{"p95", `thresholds.job_duration: threshold "p95<2s" must start with an aggregation: avg, min, max, med, p(N), count, rate or value`}}},
		{"bad threshold value", base + "thresholds:\n  job_duration: [\"p(95)<2 s\"]\n",
			[]wantErr{{"2 s", `thresholds.job_duration[0]: threshold value "2 s" is neither a number nor a duration`}}},
		{"bad threshold option", base + "thresholds:\n  checks: [{threshold: \"rate==1\", abortOnFial: true}]\n",
			[]wantErr{{"abortOnFial", `thresholds.checks[0]: unknown key "abortOnFial"; did you mean "abortOnFail"?`}}},
		{"bad condition", base + "  - wait: {for: job j1 runing}\n",
			[]wantErr{{"runing", `timeline[1].wait.for: unknown job state "runing"; use voting, running, complete, quorum_failed, timed_out, crashed or finished`}}},
		{"bad event name", edit(`nodes: "*"}`, `nodes: "*", expect: {sse: {events: {run_done: 1}}}}`),
			[]wantErr{{"run_done", `timeline[0].job.expect.sse.events.run_done: unknown event "run_done"; events: job_complete, quorum_succeeded, quorum_vote, rehab, run_complete, run_start, start, summary`}}},
		{"missing required key", edit("    - name: web\n      count: 3\n", "    - count: 3\n"),
			[]wantErr{{"count: 3", `fleet.groups[0]: missing required key "name"`}}},
		{"missing section", strings.Replace(base, "kind: Scenario\n", "", 1),
			[]wantErr{{"apiVersion", `missing required key "kind"`}}},
		{"YAML syntax", edit("{tier: front}", "{tier: front"),
			nil}, // checked below: one error, a syntax error
		{"alias to nothing", base + "  - sleep: *later\n",
			[]wantErr{{"*later", "alias *later refers to no anchor defined before it"}}},
		{"two documents", base + "---\nkind: Other\n",
			[]wantErr{{"kind: Other", "a scenario file holds one YAML document, this is a second one"}}},
		{"not a mapping", "- a\n- b\n",
			[]wantErr{{"a\n", "a scenario is a mapping with apiVersion, kind, metadata, fleet and timeline, not a list"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadBytes("t.yaml", []byte(c.src), Options{Behaviours: StandardBehaviours})
			if c.want == nil {
				var list *ErrorList
				// The parser notices the missing } at the next line.
				if !errors.As(err, &list) || list.Len() != 1 || err.Error() != "t.yaml:9:1: YAML syntax: ',' or '}' must be specified" {
					t.Fatalf("want one YAML syntax error on line 9, got %v", err)
				}
				return
			}
			checkErrors(t, c.src, err, c.want)
		})
	}
}

// TestAllDecodeErrorsAtOnce: one file, many problems, every one reported in file order.
func TestAllDecodeErrorsAtOnce(t *testing.T) {
	src := `apiVersion: pushlab/v1
kind: Scenario
metadata: {name: t}
seed: many
fleet:
  groups:
    - name: web
      count: 3
      count: 4
      namePatern: "w-{index}"
timeline:
  - job: {comand: x, nodes: "*"}
  - sleep: 10
  - wait: {for: "job j1 done"}
thresholds:
  jobs: ["count<<1"]
`
	_, err := LoadBytes("t.yaml", []byte(src), Options{})
	checkErrors(t, src, err, []wantErr{
		{"many", `seed: want an integer, got string "many"`},
		{"count: 4", `fleet.groups[0]: duplicate key "count" (first at line 8)`},
		{"namePatern", `fleet.groups[0]: unknown key "namePatern"; did you mean "namePattern"?`},
		{"comand", `timeline[0].job: unknown key "comand"; did you mean "command"?`},
		{"10", `timeline[1].sleep: duration "10" has no unit; write it like "10s" or "10ms"`},
		{"done", `timeline[2].wait.for: unknown job state "done"; use voting, running, complete, quorum_failed, timed_out, crashed or finished`},
		{"<1", `thresholds.jobs[0]: threshold value "<1" is neither a number nor a duration`},
	})
}

// TestValidateErrors: files that decode but mean something wrong.
func TestValidateErrors(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []wantErr
	}{
		{"undefined group", edit(`nodes: "*"`, `nodes: group=db`),
			[]wantErr{{"group=db", `timeline[0].job.nodes: selector "group=db": no group is named "db"`}}},
		{"undefined label", edit(`nodes: "*"`, `nodes: "zone=east"`),
			[]wantErr{{`"zone=east"`, `timeline[0].job.nodes: selector "zone=east": no group has the label "zone"; keys: behaviour, fault, group, index, name, tier`}}},
		{"unknown node", edit(`nodes: "*"`, `nodes: [web-0001, web-0009]`),
			[]wantErr{{"web-0009", `timeline[0].job.nodes[1]: no node of the fleet is named "web-0009"`}}},
		{"selector matching nothing", edit(`nodes: "*"`, `nodes: "index>=3"`),
			[]wantErr{{`"index>=3"`, `timeline[0].job.nodes: selector "index>=3" matches no node of the fleet`}}},
		{"undefined job", base + "  - wait: {for: job nope finished}\n",
			[]wantErr{{"job nope", `timeline[1].wait.for: no job named "nope" is started before this step`}}},
		{"job referenced before it starts", strings.Replace(base, "timeline:\n", "timeline:\n  - expect: {job: j1, status: complete}\n", 1),
			[]wantErr{{"j1, status", `timeline[0].expect.job: job "j1" is started only at step 2, after this one`}}},
		{"undefined fault", edit(`nodes: "*"}`, `nodes: "*", expect: {nodes: {fault=boom: crashed}}}`),
			[]wantErr{{"fault=boom", `timeline[0].job.expect.nodes["fault=boom"]: selector "fault=boom": no fault is named "boom"`}}},
		{"quorum above nodes", edit(`nodes: "*"`, `nodes: "*", quorum: 5`),
			[]wantErr{{"5}", `timeline[0].job.quorum: quorum 5 is more than the job's 3 nodes`}}},
		{"percent out of range", base + "  - fault: {crash: {nodes: \"*\", percent: 150}}\n",
			[]wantErr{{"150", `timeline[1].fault.crash.percent: must be above 0 and at most 100, not 150`}}},
		{"count above selection", base + "  - fault: {unavailable: {nodes: \"*\", count: 4, duration: 1s}}\n",
			[]wantErr{{"4,", `timeline[1].fault.unavailable.count: 4 is more than the 3 nodes selected`}}},
		{"zero duration", base + "  - sleep: 0s\n",
			[]wantErr{{"0s", `timeline[1].sleep: must be above zero, not 0s`}}},
		{"run timeout not whole seconds", edit(`nodes: "*"`, `nodes: "*", runTimeout: 1500ms`),
			[]wantErr{{"1500ms", `timeline[0].job.runTimeout: must be whole seconds (the API takes an integer), not 1.5s`}}},
		{"misspelt metric", base + "thresholds: {job_duraton: [\"p(95)<1s\"]}\n",
			[]wantErr{{"job_duraton", `thresholds.job_duraton: unknown metric "job_duraton"; did you mean "job_duration"?`}}},
		{"unknown metric", base + "thresholds: {latency: [\"p(95)<1s\"]}\n",
			[]wantErr{{"latency", `thresholds.latency: unknown metric "latency"; metrics: check_failures, checks, heartbeat_lag, http_req_duration, http_req_failed, http_reqs, job_create_duration, job_duration, jobs, jobs_complete, node_online_duration, nodes_online, quorum_duration, run_duration, sse_event_lag, sse_events, vote_latency`}}},
		{"aggregation of another metric type", base + "thresholds: {http_req_failed: [\"p(95)<1s\"]}\n",
			[]wantErr{{`"p(95)`, `thresholds.http_req_failed[0]: http_req_failed is a rate metric: thresholds on it use rate, not p(95)`}}},
		{"threshold tag to no job", base + "thresholds: {\"job_duration{job:j2}\": \"max<1s\"}\n",
			[]wantErr{{`"job_duration`, `thresholds["job_duration{job:j2}"]: tag job:j2 names no job of the timeline`}}},
		{"two actions in a step", base + "  - sleep: 1s\n    fault: {serverPause: {duration: 1s}}\n",
			[]wantErr{{"fault:", `timeline[1].fault: a step holds one action; this one already has sleep (make another step)`}}},
		{"server fault on a url target", strings.Replace(base, "fleet:", "target: {url: \"https://push.example\", org: o, user: u, key: k.pem, clientKeysDir: keys}\nfleet:", 1) + "  - fault: {serverRestart: {}}\n",
			[]wantErr{{"serverRestart", `timeline[1].fault.serverRestart: serverRestart needs the embedded or image target: pushlab can restart or pause only a server it started`}}},
		{"image and url", strings.Replace(base, "fleet:", "target: {url: \"https://push.example\", image: pushlab:dev, org: o, user: u, key: k.pem, clientKeysDir: keys}\nfleet:", 1),
			[]wantErr{{"image", `target.image: a target is either a server pushlab starts (embedded, image) or a url, not both`}}},
		{"bad image reference", strings.Replace(base, "fleet:", "target: {image: \"Pushlab Dev:1\"}\nfleet:", 1),
			[]wantErr{{`"Pushlab`, `target.image: "Pushlab Dev:1" is not an image reference: [HOST[:PORT]/]NAME[:TAG][@sha256:DIGEST], the name in lower case`}}},
		{"image with url keys", strings.Replace(base, "fleet:", "target: {image: pushlab:dev, org: o}\nfleet:", 1),
			[]wantErr{{"org", `target.org: applies only to a server given by url`}}},
		{"unknown behaviour", edit("      labels: {tier: front}\n", "      labels: {tier: front}\n      behaviours: [{name: nack_comit}]\n"),
			[]wantErr{{"nack_comit", `fleet.groups[0].behaviours[0].name: unknown behaviour "nack_comit"; did you mean "nack_commit"?`}}},
		{"bad behaviour param", edit("      labels: {tier: front}\n", "      labels: {tier: front}\n      behaviours: [{name: result, params: {exit_status: 300}}]\n"),
			[]wantErr{{"300}", `fleet.groups[0].behaviours[0].params.exit_status: exit_status 300 is outside 0..255`}}},
		{"behaviour param of the wrong type", edit("      labels: {tier: front}\n", "      labels: {tier: front}\n      behaviours: [{name: nack_commit, params: {delay: 5}}]\n"),
			[]wantErr{{"5}", `fleet.groups[0].behaviours[0].params.delay: want a duration such as "250ms", got integer 5`}}},
		{"unknown behaviour param", edit("      labels: {tier: front}\n", "      labels: {tier: front}\n      behaviours: [{name: result, params: {exitStatus: 3}}]\n"),
			[]wantErr{{"3}", `fleet.groups[0].behaviours[0].params.exitStatus: unknown param of result; did you mean "exit_status"?`}}},
		{"out-of-order at", base + "  - {at: 10s, sleep: 1s}\n  - {at: 5s, sleep: 1s}\n",
			[]wantErr{{"5s", `timeline[2].at: 5s is earlier than the 10s of a step before it; steps run in order`}}},
		{"output without capture", edit(`nodes: "*"}`, `nodes: "*", expect: {outputs: [{nodes: web-0000, stdout: ""}]}}`),
			[]wantErr{{"nodes: web-0000", `timeline[0].job.expect.outputs[0]: the job does not set capture: true, so its nodes send no output`}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Decode("t.yaml", []byte(c.src)); err != nil {
				t.Fatalf("the file should decode: %v", err)
			}
			_, err := LoadBytes("t.yaml", []byte(c.src), Options{Behaviours: StandardBehaviours})
			checkErrors(t, c.src, err, c.want)
		})
	}
}

func TestAllValidateErrorsAtOnce(t *testing.T) {
	src := `apiVersion: pushlab/v2
kind: Scenario
metadata: {name: T}
fleet:
  groups:
    - {name: web, count: 2}
    - {name: web, count: 0}
timeline:
  - job: {name: a, command: x, nodes: group=db, quorum: 3}
  - sleep: -1s
  - expect: {job: b, status: running}
`
	_, err := LoadBytes("t.yaml", []byte(src), Options{})
	checkErrors(t, src, err, []wantErr{
		{"pushlab/v2", `apiVersion: must be "pushlab/v1", not "pushlab/v2"`},
		{"T}", `metadata.name: "T" is not a valid name: use lower-case letters, digits and dashes`},
		{"web, count: 0", `fleet.groups[1].name: group "web" is defined twice`},
		{"0}", `fleet.groups[1].count: must be at least 1, not 0`},
		{"group=db", `timeline[0].job.nodes: selector "group=db": no group is named "db"`},
		{"-1s", `timeline[1].sleep: must be above zero, not -1s`},
		{"b, status", `timeline[2].expect.job: no job named "b" is started before this step`},
		{"running", `timeline[2].expect.status: "running" is not a final job status; use complete, quorum_failed, timed_out, crashed`},
	})
}

// recordingBehaviours is a Behaviours registry as the simulated nodes could provide one.
type recordingBehaviours struct{ seen []string }

func (r *recordingBehaviours) Validate(name string, params map[string]any) error {
	r.seen = append(r.seen, name)
	switch name {
	case "slow":
		if _, ok := params["after"].(string); !ok {
			return errors.Join(&ParamError{Param: "after", Message: "want a duration"}, errors.New("slow is slow"))
		}
		return nil
	case "fast":
		return nil
	}
	return fmt.Errorf("unknown behaviour %q", name)
}

func TestBehavioursPlugIn(t *testing.T) {
	src := edit("      labels: {tier: front}\n", `      labels: {tier: front}
      behaviours:
        - {name: fast, weight: 1}
        - {name: slow, weight: 1, params: {after: 5}}
        - {name: zoom}
`)
	reg := &recordingBehaviours{}
	_, err := LoadBytes("t.yaml", []byte(src), Options{Behaviours: reg})
	checkErrors(t, src, err, []wantErr{
		{"name: slow", `fleet.groups[0].behaviours[1]: behaviour slow: slow is slow`},
		{"5}", `fleet.groups[0].behaviours[1].params.after: want a duration`},
		{"zoom", `fleet.groups[0].behaviours[2].name: unknown behaviour "zoom"`},
	})
	if strings.Join(reg.seen, ",") != "fast,slow,zoom" {
		t.Errorf("the registry saw %v", reg.seen)
	}
	// Without a registry any behaviour is accepted.
	if _, err := LoadBytes("t.yaml", []byte(src), Options{}); err != nil {
		t.Errorf("nil Behaviours should accept any behaviour: %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("/nonexistent/x.yaml", Options{})
	var list *ErrorList
	if !errors.As(err, &list) || err.Error() != "/nonexistent/x.yaml: no such file or directory" {
		t.Fatalf("got %v", err)
	}
}
