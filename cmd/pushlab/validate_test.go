package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushlab/pushlab/scenarios"
)

// buildForValidate builds the pushlab binary once for the tests of this file.
func buildForValidate(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pushlab")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func runPushlab(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("running pushlab: %v", err)
	}
	return o.String(), e.String(), code
}

const validScenario = `apiVersion: pushlab/v1
kind: Scenario
metadata: {name: ok}
fleet:
  groups:
    - {name: web, count: 5}
timeline:
  - job:
      command: chef-client
      nodes: group=web
`

func TestValidateCommand(t *testing.T) {
	bin := buildForValidate(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	typo := filepath.Join(dir, "typo.yaml")
	if err := os.WriteFile(good, []byte(validScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(validScenario, "      command: chef-client", "      comand: chef-client", 1)
	broken = strings.Replace(broken, "count: 5", "count: five", 1)
	if err := os.WriteFile(typo, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("typo", func(t *testing.T) {
		stdout, stderr, code := runPushlab(t, bin, "validate", typo)
		if code != scenarios.ExitInvalid {
			t.Errorf("exit status %d, want 4", code)
		}
		for _, want := range []string{
			typo + `:6:26: fleet.groups[0].count: want an integer, got string "five"` + "\n",
			typo + `:9:7: timeline[0].job: unknown key "comand"; did you mean "command"?` + "\n",
			"1 of 1 scenario files are invalid\n",
		} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr)
			}
		}
		if stdout != "" {
			t.Errorf("nothing is OK, yet stdout says %q", stdout)
		}
	})

	t.Run("valid and library", func(t *testing.T) {
		stdout, stderr, code := runPushlab(t, bin, "validate", good, "--library")
		if code != 0 {
			t.Fatalf("exit status %d\n%s", code, stderr)
		}
		if !strings.Contains(stdout, good+": OK (ok: 5 nodes, 1 steps)\n") {
			t.Errorf("stdout lacks the OK line of %s:\n%s", good, stdout)
		}
		if n := strings.Count(stdout, ": OK ("); n != 1+len(scenarios.Library()) {
			t.Errorf("%d OK lines, want %d:\n%s", n, 1+len(scenarios.Library()), stdout)
		}
		if !strings.Contains(stdout, "scenarios/library/smoke.yaml: OK (smoke: 1000 nodes") {
			t.Errorf("stdout lacks the smoke scenario:\n%s", stdout)
		}
	})

	t.Run("mixed", func(t *testing.T) {
		stdout, stderr, code := runPushlab(t, bin, "validate", good, typo, filepath.Join(dir, "missing.yaml"))
		if code != 4 {
			t.Errorf("exit status %d, want 4", code)
		}
		if !strings.Contains(stdout, good+": OK") {
			t.Errorf("the valid file is not reported OK:\n%s", stdout)
		}
		if !strings.Contains(stderr, filepath.Join(dir, "missing.yaml")+": no such file or directory") || !strings.Contains(stderr, "2 of 3 scenario files are invalid") {
			t.Errorf("stderr:\n%s", stderr)
		}
	})

	t.Run("no files", func(t *testing.T) {
		_, stderr, code := runPushlab(t, bin, "validate")
		if code != 1 || !strings.Contains(stderr, "give at least one scenario file, or --library") {
			t.Errorf("exit status %d, stderr %q", code, stderr)
		}
	})
}
