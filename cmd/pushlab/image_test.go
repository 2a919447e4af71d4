package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pushlab/pushlab/conformance/framework"
	"github.com/pushlab/pushlab/reports"
	"github.com/pushlab/pushlab/scenarios"
	"github.com/pushlab/pushlab/server/launch"
	"github.com/pushlab/pushlab/simulator"
)

// sharedImage is the pushlab image the tests of this package share, built once.
var sharedImage struct {
	sync.Once
	tag string
}

// imageOf builds the pushlab image of bin from nothing (FROM scratch, no base image pulled),
// once for every test of the package (they build the same source). Without a Docker engine the
// test is skipped, except under CI=true, where it fails.
func imageOf(t *testing.T, bin string) string {
	t.Helper()
	launch.RequireDocker(t)
	sharedImage.Do(func() {
		start := time.Now()
		sharedImage.tag = launch.BuildImage(t, bin, "pushlab:test-cmd")
		t.Logf("image %s built in %s", sharedImage.tag, time.Since(start).Round(time.Millisecond))
	})
	if sharedImage.tag == "" {
		t.Fatal("building the image failed in an earlier test")
	}
	return sharedImage.tag
}

// TestAgainstImage is the container path end to end, on one image built from the pushlab
// binary: the conformance smoke label, a scenario that restarts the containerised server
// mid-job, and the gate with both sides from the image. They run side by side (the scenarios
// mostly wait on their nodes' commands).
func TestAgainstImage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	bin := buildForValidate(t)
	image := imageOf(t, bin)
	t.Run("conformance smoke", func(t *testing.T) {
		t.Parallel()
		conformanceAgainstImage(t, bin, image)
	})
	t.Run("server restart mid-job", func(t *testing.T) {
		t.Parallel()
		restartAgainstImage(t, bin, image)
	})
	t.Run("gate between images", func(t *testing.T) {
		t.Parallel()
		gateBetweenImages(t, bin, image)
	})
}

// gateBetweenImages runs the gate with both sides from the image, one run each: the same
// server on both sides has no new failing check. (Metrics are left out with a huge
// --min-delta: one run a side cannot tell noise from change; TestGateRunsBothSides judges them.)
func gateBetweenImages(t *testing.T, bin, image string) {
	dir := t.TempDir()
	start := time.Now()
	stdout, stderr, code := runPushlab(t, bin, "gate", "--scenario", gateScenario(t), "--runs", "1", "--min-delta", "100",
		"--baseline-image", image, "--candidate-image", image, "--report-dir", dir)
	if code == gateInconclusive {
		t.Skipf("inconclusive: the simulated fleet lagged (a busy machine)\n%s", stderr)
	}
	if code != gatePass {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, side := range []string{"baseline-1", "candidate-1"} {
		r, err := reports.Load(filepath.Join(dir, side, "report.json"))
		if err != nil {
			t.Fatal(err)
		}
		if r.Target.Kind != reports.TargetImage || r.Target.Image != image || len(r.Checks) == 0 {
			t.Errorf("%s: target %+v, %d checks", side, r.Target, len(r.Checks))
		}
	}
	var diff reports.Diff
	readJSON(t, filepath.Join(dir, "gate.json"), &diff)
	if len(diff.Metrics) == 0 || len(diff.NewFailures) != 0 {
		t.Errorf("comparison: %d metrics, new failures %v", len(diff.Metrics), diff.NewFailures)
	}
	t.Logf("gate between images, one run a side: %s", time.Since(start).Round(time.Millisecond))
}

// conformanceAgainstImage starts the image with `pushlab conformance --image` (testcontainers-go,
// host network, no reaper) and runs the smoke label against it: every selected spec must pass,
// and specs must actually have run.
func conformanceAgainstImage(t *testing.T, bin, image string) {
	dir := t.TempDir()
	start := time.Now()
	stdout, stderr, code := runPushlab(t, bin, "conformance", "--image", image, "--label-filter", "smoke",
		"--no-color", "--report-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	res := readResults(t, dir)
	if n := res.Count(framework.VerdictPass); n < 10 || !res.Passed || len(res.Failed()) > 0 {
		t.Fatalf("%d specs passed, %d failed (passed=%v)\n%s", n, len(res.Failed()), res.Passed, stdout)
	}
	t.Logf("%d smoke specs passed against image %s in %s (suite %s)", res.Count(framework.VerdictPass), image,
		time.Since(start).Round(time.Millisecond), res.Duration.Round(time.Millisecond))
}

// restartAgainstImage runs the shipped server-restart-mid-job scenario, a tenth of its size,
// against the image: the container is killed and started again while a job runs. The job
// must end crashed on every node, every node must see the new incarnation in the server's
// heartbeats and configure itself again from the new server, and the next job must succeed
// everywhere (protocol.md §4.6, §5.1).
func restartAgainstImage(t *testing.T, bin, image string) {
	dir := t.TempDir()
	start := time.Now()
	stdout, stderr, code := runPushlab(t, bin, "run", "server-restart-mid-job", "--image", image, "--scale", "0.1",
		"--progress", "never", "--report-dir", dir)
	if code == scenarios.ExitInconclusive {
		t.Skipf("inconclusive: the simulated fleet itself lagged (a busy machine)\n%s", stdout)
	}
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	var res simulator.Result
	readJSON(t, filepath.Join(dir, "result.json"), &res)
	if res.Target != "image "+image {
		t.Errorf("target %q, want the image", res.Target)
	}
	nodes := 30
	jobs := map[string]simulator.JobSummary{}
	for _, j := range res.Jobs {
		jobs[j.Name] = j
	}
	if j := jobs["interrupted"]; j.Status != "crashed" || j.NodeCounts["crashed"] != nodes {
		t.Errorf("the job the restart interrupted: %s %v, want crashed on all %d nodes", j.Status, j.NodeCounts, nodes)
	}
	if j := jobs["after-restart"]; j.Status != "complete" || j.NodeCounts["succeeded"] != nodes {
		t.Errorf("the job after the restart: %s %v, want complete, succeeded on all %d nodes", j.Status, j.NodeCounts, nodes)
	}
	for _, c := range res.Checks {
		if c.Status == simulator.CheckFail {
			t.Errorf("check %s failed: %s", c.ID, c.Message)
		}
	}
	restarts := 0
	for _, f := range res.Faults {
		if f.Kind == "serverRestart" {
			restarts++
		}
	}
	if restarts != 1 {
		t.Errorf("%d server restarts recorded, want 1", restarts)
	}

	// Each node: configured from the first incarnation, told of a new one by the heartbeats,
	// then configured from the new one.
	type seen struct{ first, restart, again string }
	per := map[string]*seen{}
	f, err := os.Open(filepath.Join(dir, "history.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e struct{ Kind, Node, Type, Detail string }
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Kind != "node" {
			continue
		}
		s := per[e.Node]
		if s == nil {
			s = &seen{}
			per[e.Node] = s
		}
		switch {
		case e.Type == "state:configured" && s.first == "":
			s.first = e.Detail
		case e.Type == "state:server_restart" && s.first != "" && s.restart == "":
			s.restart = e.Detail
		case e.Type == "state:configured" && s.restart != "" && s.again == "":
			s.again = e.Detail
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(per) != nodes {
		t.Errorf("the history has %d nodes, want %d", len(per), nodes)
	}
	for name, s := range per {
		if s.first == "" || s.restart == "" || s.restart == s.first || s.again != s.restart {
			t.Errorf("node %s: configured from incarnation %q, heard of %q, configured again from %q", name, s.first, s.restart, s.again)
		}
	}
	t.Logf("server-restart-mid-job at scale 0.1 against image %s: %d jobs, %d checks, %s", image, len(res.Jobs), len(res.Checks),
		time.Since(start).Round(time.Millisecond))
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
