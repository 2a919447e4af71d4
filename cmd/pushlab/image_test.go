package main

import (
	"testing"
	"time"

	"github.com/pushlab/pushlab/conformance/framework"
	"github.com/pushlab/pushlab/server/launch"
)

// imageOf builds the pushlab image of bin from nothing (FROM scratch, no base image pulled).
// Without a Docker engine the test is skipped, except under CI=true, where it fails.
func imageOf(t *testing.T, bin string) string {
	t.Helper()
	launch.RequireDocker(t)
	start := time.Now()
	image := launch.BuildImage(t, bin, "pushlab:test-cmd")
	t.Logf("image %s built in %s", image, time.Since(start).Round(time.Millisecond))
	return image
}

// TestConformanceAgainstImage is the container path end to end: the image built from the
// pushlab binary, started by `pushlab conformance --image` through testcontainers-go (host
// network, no reaper), and the smoke label run against it. Every selected spec must pass, and
// specs must actually have run.
func TestConformanceAgainstImage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	bin := buildForValidate(t)
	image := imageOf(t, bin)
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
		time.Since(start).Round(time.Millisecond), res.Duration)
}
