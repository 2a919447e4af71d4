package main

import (
	"math/rand/v2"
	"path/filepath"
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
