package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pushlab/pushlab/reports"
)

// runReport writes a report of one run whose job latencies are drawn around median seconds
// with a little noise, and whose job-status check passes unless failing.
func runReport(t *testing.T, dir, name string, seed uint64, median float64, failing bool) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	r := reports.NewReport(reports.Scenario{Name: "smoke", Seed: int64(seed)}, reports.Target{Kind: reports.TargetEmbedded})
	if failing {
		r.Fail("job-status", "job status", "5.3", "job 1 is complete, want quorum_failed")
	} else {
		r.Pass("job-status", "job status", "5.3")
	}
	for i := 0; i < 30; i++ {
		r.AddLatency(reports.PhaseTotal, time.Duration((median+rng.NormFloat64()*median*0.03)*float64(time.Second)))
	}
	r.Finish(r.Start.Add(time.Minute))
	path := filepath.Join(dir, name)
	if err := r.Write(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestGate(t *testing.T) {
	dir := t.TempDir()
	base := []string{runReport(t, dir, "b1.json", 1, 1.0, false), runReport(t, dir, "b2.json", 2, 1.0, false)}
	same := []string{runReport(t, dir, "s1.json", 3, 1.0, false), runReport(t, dir, "s2.json", 4, 1.0, false)}
	slow := []string{runReport(t, dir, "l1.json", 5, 1.3, false), runReport(t, dir, "l2.json", 6, 1.3, false)}
	broken := []string{runReport(t, dir, "f1.json", 7, 1.0, false), runReport(t, dir, "f2.json", 8, 1.0, true)}

	gate := func(cand []string, extra ...string) (string, string, int) {
		args := []string{"gate", "--baseline", strings.Join(base, ","), "--candidate", strings.Join(cand, ",")}
		return runCLI(t, append(args, extra...)...)
	}
	if out, errOut, code := gate(same); code != gatePass || !strings.Contains(out, "gate: pass") {
		t.Fatalf("a candidate like its baseline: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := gate(slow, "--html", filepath.Join(dir, "diff.html")); code != gateRegressed || !strings.Contains(errOut, "regression:") {
		t.Fatalf("a 30%% slower candidate: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := gate(broken); code != gateRegressed || !strings.Contains(errOut, "job-status") {
		t.Fatalf("a candidate with a new failing check: exit %d\n%s", code, errOut)
	}
	if _, _, code := runCLI(t, "gate", "--baseline", filepath.Join(dir, "missing.json"), "--candidate", same[0]); code != gateError {
		t.Fatalf("a missing report: exit %d", code)
	}
}

// gateScenario is a small scenario with many short jobs, for gate runs: 20 nodes, 10 jobs in a
// row whose nodes take 200ms each.
func gateScenario(t *testing.T) string {
	t.Helper()
	src := `apiVersion: pushlab/v1
kind: Scenario
metadata: {name: gate-small}
seed: 3
target:
  embedded: {heartbeatInterval: 250ms, votingTimeout: 3s, waitCompleteTime: 200ms, rehabInterval: 200ms}
fleet:
  groups:
    - name: web
      count: 20
      behaviours:
        - {name: duration, params: {value: 200ms}}
timeline:
  - wait: {for: nodes available, timeout: 30s}
` + strings.Repeat("  - job: {command: chef-client, nodes: \"*\", expect: {status: complete}}\n", 10)
	path := filepath.Join(t.TempDir(), "gate-small.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestGateRefusesBadSides: each side exactly once, a scenario exactly when a side runs.
func TestGateRefusesBadSides(t *testing.T) {
	dir := t.TempDir()
	rep := runReport(t, dir, "r.json", 1, 1.0, false)
	scenario := gateScenario(t)
	for _, args := range [][]string{
		{"gate", "--baseline", rep},
		{"gate", "--baseline", rep, "--candidate", rep, "--candidate-binary", "pushlab", "--scenario", scenario},
		{"gate", "--baseline", rep, "--candidate-binary", "pushlab"},
		{"gate", "--baseline", rep, "--candidate", rep, "--scenario", scenario},
		{"gate", "--baseline", rep, "--candidate", rep, "--candidate-server-arg", "--mutant=slow-commit"},
		{"gate", "--baseline", rep, "--candidate-binary", "pushlab", "--scenario", scenario, "--runs", "0"},
		{"gate", "--baseline", rep, "--candidate-image", "Not An Image", "--scenario", scenario, "--report-dir", dir},
		{"gate", "--baseline", rep, "--candidate-binary", "pushlab", "--scenario", "no-such-scenario"},
	} {
		if _, errOut, code := runCLI(t, args...); code != gateInvalid || errOut == "" {
			t.Errorf("%q: exit %d, want %d with a message\n%s", args, code, gateInvalid, errOut)
		}
	}
}

// TestGateRunsBothSides runs the gate the way a CI job does, through the binary, with the
// gate running the scenario itself: a server against itself passes (three runs a side,
// interleaved); a candidate whose commits go out 300ms late (the slow-commit mutant) fails as
// a regression of job latency, against the first gate's baseline reports; a candidate whose
// feeds repeat event ids fails on its new failing checks.
func TestGateRunsBothSides(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	bin := buildForValidate(t)
	scenario := gateScenario(t)
	dir := t.TempDir()
	gate := func(name string, args ...string) (string, string, int) {
		t.Helper()
		start := time.Now()
		args = append([]string{"gate", "--scenario", scenario, "--report-dir", filepath.Join(dir, name)}, args...)
		stdout, stderr, code := runPushlab(t, bin, args...)
		if code == gateInconclusive {
			t.Skipf("%s: inconclusive, the simulated fleet lagged (a busy machine)\n%s", name, stderr)
		}
		t.Logf("gate %s: exit %d in %s", name, code, time.Since(start).Round(time.Millisecond))
		return stdout, stderr, code
	}

	stdout, stderr, code := gate("self", "--runs", "3", "--baseline-binary", bin, "--candidate-binary", bin)
	if code != gatePass || !strings.Contains(stdout, "gate: pass") {
		t.Fatalf("the server against itself: exit %d\n%s\n%s", code, stdout, stderr)
	}
	var base []string
	for i := 1; i <= 3; i++ {
		for _, side := range []string{"baseline", "candidate"} {
			rep := filepath.Join(dir, "self", fmt.Sprintf("%s-%d", side, i), "report.json")
			if _, err := os.Stat(rep); err != nil {
				t.Errorf("run %s %d: %v", side, i, err)
			}
			if side == "baseline" {
				base = append(base, rep)
			}
		}
	}
	for _, f := range []string{"gate.html", "gate.json"} {
		if st, err := os.Stat(filepath.Join(dir, "self", f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	if !strings.Contains(stderr, "baseline run 1/3") || strings.Index(stderr, "candidate run 1/3") > strings.Index(stderr, "baseline run 2/3") {
		t.Errorf("the runs do not alternate between the sides:\n%s", stderr)
	}

	baseline := strings.Join(base, ",")
	stdout, stderr, code = gate("slow", "--runs", "2", "--baseline", baseline, "--candidate-binary", bin,
		"--candidate-server-arg=--mutant=slow-commit")
	if code != gateRegressed || !regexp.MustCompile(`regression: (total|job_duration) median`).MatchString(stderr) {
		t.Fatalf("a candidate with slow commits: exit %d\n%s\n%s", code, stdout, stderr)
	}
	var diff reports.Diff
	readJSON(t, filepath.Join(dir, "slow", "gate.json"), &diff)
	for _, m := range diff.Metrics {
		if m.Name == reports.PhaseTotal && (!m.Regression || m.Delta < 0.5) {
			t.Errorf("job latency: %+v", m)
		}
	}

	stdout, stderr, code = gate("broken", "--runs", "1", "--baseline", baseline, "--candidate-binary", bin,
		"--candidate-server-arg=--mutant=sse-duplicate-ids")
	if code != gateRegressed || !regexp.MustCompile(`regression: check job/job-\d+/sse newly fails`).MatchString(stderr) {
		t.Fatalf("a candidate whose feeds repeat event ids: exit %d\n%s\n%s", code, stdout, stderr)
	}
}
