package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pushlab/pushlab/scenarios"
)

// TestRunInvalid: a scenario with a typo fails with its line and column and exit 4, before
// anything starts.
func TestRunInvalid(t *testing.T) {
	bin := buildForValidate(t)
	dir := t.TempDir()
	typo := filepath.Join(dir, "typo.yaml")
	src := strings.Replace(validScenario, "command: chef-client", "comand: chef-client", 1)
	if err := os.WriteFile(typo, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	reports := filepath.Join(dir, "reports")
	_, stderr, code := runPushlab(t, bin, "run", typo, "--report-dir", reports, "--progress", "never")
	if code != scenarios.ExitInvalid {
		t.Fatalf("exit %d, want %d\n%s", code, scenarios.ExitInvalid, stderr)
	}
	if !regexp.MustCompile(`typo\.yaml:9:7: timeline\[0\]\.job: unknown key "comand"; did you mean "command"\?`).MatchString(stderr) {
		t.Errorf("stderr does not point at the typo:\n%s", stderr)
	}
	if _, err := os.Stat(reports); !os.IsNotExist(err) {
		t.Error("a report dir was made for an invalid scenario")
	}
	if _, stderr, code := runPushlab(t, bin, "run", "no-such-scenario"); code != scenarios.ExitInvalid || !strings.Contains(stderr, "shipped: ") {
		t.Errorf("unknown scenario name: exit %d\n%s", code, stderr)
	}
}

// TestRunCommand runs a small scenario end to end through the binary: the embedded server as a
// child process (paused once), the nodes spread over worker processes, and the reports.
func TestRunCommand(t *testing.T) {
	if os.Getenv("PUSHLAB_SCENARIOS") == "" {
		t.Skip("PUSHLAB_SCENARIOS is not set (make scenarios runs it)")
	}
	bin := buildForValidate(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "small.yaml")
	src := `apiVersion: pushlab/v1
kind: Scenario
metadata: {name: small}
seed: 5
target:
  embedded: {heartbeatInterval: 250ms, votingTimeout: 3s, waitCompleteTime: 500ms, rehabInterval: 200ms}
fleet:
  groups:
    - name: web
      count: 24
      behaviours:
        - {name: result, params: {stdout: "ok\n"}}
        - {name: nack_commit, weight: 1}
        - {name: ack_commit, weight: 3}
timeline:
  - wait: {for: nodes available, timeout: 30s}
  - job:
      name: first
      command: chef-client
      nodes: "*"
      quorum: 50%
      capture: true
      expect:
        status: complete
        nodes: {behaviour=nack_commit: nacked, "*": succeeded}
  - fault: {name: freeze, serverPause: {duration: 300ms}}
  - sleep: 2s
  - job:
      name: second
      command: chef-client
      nodes: behaviour=ack_commit
      expect: {status: complete}
`
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	reports := filepath.Join(dir, "out")
	stdout, stderr, code := runPushlab(t, bin, "run", file, "--report-dir", reports, "--progress", "never", "--nodes-per-process", "10")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"VERDICT: PASS (exit 0)", "report      " + filepath.Join(reports, "report.html"), "seed 5"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the summary lacks %q:\n%s", want, stdout)
		}
	}
	for _, f := range []string{"history.ndjson", "schedule.json", "result.json", "report.json", "report.html", "junit.xml", "bundle.tar.gz", "server.log"} {
		if st, err := os.Stat(filepath.Join(reports, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	hist, _ := os.ReadFile(filepath.Join(reports, "history.ndjson"))
	for _, want := range []string{`"kind":"http"`, `"kind":"sse"`, `"type":"sent:ack_commit"`, `"type":"serverPause"`} {
		if !strings.Contains(string(hist), want) {
			t.Errorf("the history has no %s", want)
		}
	}
}
