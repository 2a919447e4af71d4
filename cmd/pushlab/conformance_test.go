package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushlab/pushlab/conformance/framework"
	"github.com/pushlab/pushlab/scenarios"
	"github.com/pushlab/pushlab/server/launch"
)

// TestConformanceCommand runs the suite compiled into the pushlab binary: refused arguments,
// a passing run with its reports, and a run against a broken reference server that must fail
// with exit 1 and name the protocol section in its summary.
func TestConformanceCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	bin := buildForValidate(t)

	t.Run("invalid", func(t *testing.T) {
		for _, args := range [][]string{
			{"conformance", "stray"},
			{"conformance", "--profile", "nope"},
			{"conformance", "--mutant", "no-such-mutant"},
			{"conformance", "--url", "http://127.0.0.1:1", "--image", "x"},
		} {
			_, stderr, code := runPushlab(t, bin, args...)
			if code != scenarios.ExitInvalid || stderr == "" {
				t.Errorf("%q: exit %d, want %d with a message; stderr %q", args, code, scenarios.ExitInvalid, stderr)
			}
		}
	})

	t.Run("passes", func(t *testing.T) {
		dir := t.TempDir()
		stdout, stderr, code := runPushlab(t, bin, "conformance", "--label-filter", "smoke && (api || output)", "--report-dir", dir)
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
		}
		res := readResults(t, dir)
		if res.Count(framework.VerdictPass) == 0 || !res.Passed {
			t.Fatalf("results: %d passed, passed=%v", res.Count(framework.VerdictPass), res.Passed)
		}
		for _, f := range []string{"junit.xml", "conformance.json", "summary.txt"} {
			if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
				t.Errorf("report %s: %v", f, err)
			}
		}
	})

	t.Run("against a URL", func(t *testing.T) {
		// The reference server in its own process, known to the suite only by its URL and keys.
		data := t.TempDir()
		ctx := context.Background()
		srv, err := launch.StartProcess(ctx, bin, launch.Options{DataDir: data, Args: framework.FastServerArgs()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Stop(ctx)
		fast := framework.FastConfig("")
		dir := t.TempDir()
		stdout, stderr, code := runPushlab(t, bin, "conformance", "--url", srv.URL(), "--org", srv.Options().Org,
			"--user", "admin", "--key", filepath.Join(data, "keys", "admin.pem"),
			"--superuser", "pivotal", "--superuser-key", filepath.Join(data, "keys", "pivotal.pem"),
			"--voting-timeout", fast.VotingTimeout.String(), "--wait-complete-time", fast.WaitCompleteTime.String(),
			"--org-feed-expiration", fast.OrgFeedExpiration.String(), "--keepalive", fast.KeepAlive.String(),
			"--label-filter", "smoke", "--report-dir", dir)
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
		}
		res := readResults(t, dir)
		if n := res.Count(framework.VerdictPass); n < 10 {
			t.Fatalf("only %d specs passed against %s", n, srv.URL())
		}
		t.Logf("%d smoke specs passed against %s in %s", res.Count(framework.VerdictPass), srv.URL(), res.Duration)
	})

	t.Run("fails against a broken server", func(t *testing.T) {
		dir := t.TempDir()
		stdout, stderr, code := runPushlab(t, bin, "conformance", "--mutant", "output-truncated",
			"--label-filter", "output && !load", "--report-dir", dir)
		if code != scenarios.ExitCheckFailed {
			t.Fatalf("exit %d, want %d\n%s\n%s", code, scenarios.ExitCheckFailed, stdout, stderr)
		}
		res := readResults(t, dir)
		if len(res.Failed()) == 0 {
			t.Fatal("no failed spec in results.json")
		}
		summary, err := os.ReadFile(filepath.Join(dir, "summary.txt"))
		if err != nil || !strings.Contains(string(summary), "§2.7") {
			t.Errorf("summary does not name §2.7 (%v):\n%s", err, summary)
		}
	})
}

func readResults(t *testing.T, dir string) framework.Results {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res framework.Results
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	return res
}
