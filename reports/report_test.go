package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSampleReportVerdict(t *testing.T) {
	r := sampleReport()
	if r.Verdict != VerdictFail || r.ExitCode != ExitCheckFailed {
		t.Fatalf("verdict %s exit %d, want fail 1", r.Verdict, r.ExitCode)
	}
	if r.Reason != "1 of 4 checks failed" {
		t.Errorf("reason %q", r.Reason)
	}
	p, f, s := r.CheckCounts()
	if p != 3 || f != 1 || s != 1 {
		t.Errorf("counts %d %d %d", p, f, s)
	}
	if got := r.NodeStateNames(); !reflect.DeepEqual(got, []string{"online", "available", "offline", "crashed"}) {
		t.Errorf("states %v", got)
	}
	if c, ok := r.Check("sse-order"); !ok || c.Section != "6" {
		t.Errorf("section not normalised: %+v", c)
	}
	if len(r.Failed()) != 1 || r.Failed()[0].ID != "node-status" {
		t.Errorf("failed %+v", r.Failed())
	}
	if r.Duration() != 63500*time.Millisecond {
		t.Errorf("duration %v", r.Duration())
	}
}

func TestDecidePrecedence(t *testing.T) {
	pass := func(r *Report) { r.Pass("a", "a", "") }
	fail := func(r *Report) { r.Fail("b", "b", "", "broken") }
	crossed := func(r *Report) {
		r.AddThreshold(Threshold{Metric: "m", Expression: "p(95)<1s", Observed: 2000, Unit: "ms"})
	}
	held := func(r *Report) {
		r.AddThreshold(Threshold{Metric: "m", Expression: "p(95)<1s", Observed: 20, Unit: "ms", OK: true})
	}
	lag := func(r *Report) { r.Health.Problems = []string{"heartbeats late"} }
	harness := func(r *Report) { r.SetError(errors.New("could not start the server\ndetails")) }
	invalid := func(r *Report) { r.Verdict = VerdictInvalid }
	cases := []struct {
		name   string
		build  []func(*Report)
		want   Verdict
		exit   int
		reason string
	}{
		{"nothing", nil, VerdictPass, 0, "0 checks passed"},
		{"pass", []func(*Report){pass, held}, VerdictPass, 0, "1 check passed, 1 threshold held"},
		{"fail", []func(*Report){pass, fail, crossed}, VerdictFail, 1, "1 of 2 checks failed"},
		{"threshold", []func(*Report){pass, crossed, held}, VerdictThreshold, 3, "1 threshold crossed: m p(95)<1s"},
		{"inconclusive beats fail", []func(*Report){fail, lag}, VerdictInconclusive, 2, "the harness could not keep up: heartbeats late"},
		{"harness error beats all", []func(*Report){fail, lag, harness}, VerdictError, 5, "harness error: could not start the server"},
		{"invalid stays", []func(*Report){invalid, harness}, VerdictInvalid, 4, "the scenario is invalid: could not start the server"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := NewReport(Scenario{Name: "x"}, Target{Kind: TargetEmbedded})
			for _, f := range c.build {
				f(r)
			}
			r.Finish(r.Start.Add(time.Second))
			if r.Verdict != c.want || r.ExitCode != c.exit || r.Reason != c.reason {
				t.Errorf("got %s/%d %q, want %s/%d %q", r.Verdict, r.ExitCode, r.Reason, c.want, c.exit, c.reason)
			}
		})
	}
}

func TestVerdictExitCodes(t *testing.T) {
	want := map[Verdict]int{VerdictPass: 0, VerdictFail: 1, VerdictInconclusive: 2, VerdictThreshold: 3, VerdictInvalid: 4, VerdictError: 5, "bogus": 5}
	for v, code := range want {
		if v.ExitCode() != code {
			t.Errorf("%s → %d, want %d", v, v.ExitCode(), code)
		}
	}
}

func TestAddCheckRejectsUnknownStatus(t *testing.T) {
	r := NewReport(Scenario{}, Target{})
	if err := r.AddCheck(Check{Name: "x", Status: "ok"}); err == nil {
		t.Fatal("status ok accepted")
	}
	if err := r.AddCheck(Check{Name: "Quorum arithmetic: 50%", Status: StatusPass}); err != nil {
		t.Fatal(err)
	}
	if r.Checks[0].ID != "quorum-arithmetic-50" {
		t.Errorf("id %q", r.Checks[0].ID)
	}
}

func TestHealthJudge(t *testing.T) {
	h := Health{HeartbeatsSent: 1000, HeartbeatsLate: 50, MaxHeartbeatLag: Duration(3 * time.Second), SendQueueSaturations: 2, CPUPeak: 99}
	h.Judge(HealthLimits{MaxLateHeartbeatRatio: 0.01, MaxHeartbeatLag: time.Second, MaxCPUPeak: 95})
	if len(h.Problems) != 4 {
		t.Fatalf("problems %q", h.Problems)
	}
	if !strings.Contains(h.Problems[0], "50 of 1000 heartbeats (5.00%)") {
		t.Errorf("problem %q", h.Problems[0])
	}
	ok := Health{HeartbeatsSent: 1000, HeartbeatsLate: 5, CPUPeak: 50}
	ok.Judge(DefaultHealthLimits())
	if len(ok.Problems) != 0 {
		t.Errorf("healthy fleet judged %q", ok.Problems)
	}
}

func TestNaNDataIsDropped(t *testing.T) {
	r := NewReport(Scenario{Name: "nan"}, Target{})
	r.AddThreshold(Threshold{Metric: "m", Expression: "avg<1", Observed: math.NaN()})
	r.AddSamples("x", "", 1, math.NaN(), math.Inf(1), 2)
	r.AddPoint("s", "", r.Start, math.NaN())
	r.Finish(r.Start)
	if !r.Thresholds[0].NoData || r.Thresholds[0].Observed != 0 {
		t.Errorf("threshold %+v", r.Thresholds[0])
	}
	if s, _ := r.Samples("x"); len(s.Values) != 2 {
		t.Errorf("samples %v", s.Values)
	}
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatalf("NaN leaked into JSON: %v", err)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	r := sampleReport()
	path := filepath.Join(t.TempDir(), "report.json")
	if err := r.Write(path); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r, back) {
		a, _ := json.Marshal(r)
		b, _ := json.Marshal(back)
		t.Fatalf("round trip changed the report:\n%s\n%s", a, b)
	}
	raw, _ := os.ReadFile(path)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m["schema"] != "pushlab.report/v1" || m["verdict"] != "fail" || m["exit_code"] != 1.0 {
		t.Errorf("top level: schema %v verdict %v exit %v", m["schema"], m["verdict"], m["exit_code"])
	}
	checks := m["checks"].([]any)
	c := checks[2].(map[string]any)
	if c["duration"] != 0.041 || c["section"] != "5.6" {
		t.Errorf("check as JSON: %v", c)
	}
	ev := c["evidence"].([]any)
	if _, has := ev[3].(map[string]any)["time"]; has {
		t.Error("zero evidence time was written")
	}
	metrics := m["metrics"].(map[string]any)
	for _, k := range []string{"node_states", "faults", "samples", "series", "jobs"} {
		if _, ok := metrics[k]; !ok {
			t.Errorf("metrics.%s missing", k)
		}
	}
}

func TestLoadChecksSchema(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"other.json":   `{"schema":"pushlab.report/v2","verdict":"pass"}`,
		"none.json":    `{"verdict":"pass"}`,
		"k6.json":      `{"metrics":{},"root_group":{}}`,
		"garbage.json": `not json`,
	}
	for name, body := range cases {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p)
		if err == nil {
			t.Errorf("%s loaded", name)
			continue
		}
		if name != "garbage.json" && !errors.Is(err, ErrSchema) {
			t.Errorf("%s: %v is not ErrSchema", name, err)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestDurationJSON(t *testing.T) {
	var d Duration
	for in, want := range map[string]time.Duration{`1.5`: 1500 * time.Millisecond, `"250ms"`: 250 * time.Millisecond, `0`: 0, `0.000000001`: 1} {
		if err := json.Unmarshal([]byte(in), &d); err != nil || d.D() != want {
			t.Errorf("%s → %v %v, want %v", in, d.D(), err, want)
		}
	}
	if err := json.Unmarshal([]byte(`"soon"`), &d); err == nil {
		t.Error("bad duration accepted")
	}
	if err := json.Unmarshal([]byte(`1e300`), &d); err == nil {
		t.Error("huge duration accepted")
	}
}

func TestWriteByExtension(t *testing.T) {
	r := sampleReport()
	dir := t.TempDir()
	prefixes := map[string]string{"r.html": "<!DOCTYPE html>", "r.xml": "<?xml", "r.txt": "\n  pushlab", "r.json": "{"}
	for name, prefix := range prefixes {
		p := filepath.Join(dir, "sub", name)
		if err := r.Write(p); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		if !strings.HasPrefix(string(b), prefix) {
			t.Errorf("%s starts %q", name, string(b[:min(len(b), 20)]))
		}
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "sub"))
	if len(entries) != 4 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestFormatting(t *testing.T) {
	cases := map[time.Duration]string{
		0: "0s", 850 * time.Microsecond: "850µs", 12345 * time.Microsecond: "12.35ms", 1234 * time.Millisecond: "1.234s",
		63 * time.Second: "1m3s", 90*time.Minute + 4*time.Second: "1h30m4s", -2 * time.Second: "-2s",
	}
	for d, want := range cases {
		if got := fmtDuration(d); got != want {
			t.Errorf("fmtDuration(%v) = %q, want %q", d, got, want)
		}
	}
	if got := fmtValue(1234.5, "ms"); got != "1.234s" {
		t.Errorf("ms value %q", got)
	}
	if got := clean("ok\x1b[31m\nnext\xff"); got != `ok\x1b[31m\nnext\xff` {
		t.Errorf("clean %q", got)
	}
}
