package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pushlab/pushlab/reports"
	"github.com/pushlab/pushlab/scenarios"
	"github.com/pushlab/pushlab/server/servertest"
)

func loadLibrary(t *testing.T, name string) *scenarios.Scenario {
	t.Helper()
	s, err := scenarios.LoadLibrary(name, scenarios.Options{Behaviours: scenarios.StandardBehaviours})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// summary is the run's summary, for test logs.
func summary(res *Result) string {
	var b bytes.Buffer
	WriteSummary(&b, res)
	return b.String()
}

// TestLibrary runs every shipped scenario but those labelled ci: "false" (soak) at a tenth of
// its size against the reference server, as `pushlab run NAME --scale 0.1` does: the server
// as a child process of the pushlab binary (so it can be paused and restarted), the nodes in
// this process. The runs take a few minutes each, mostly waiting, and go one after the other
// so that none lags for another: `make scenarios` sets PUSHLAB_SCENARIOS=1 (or a
// comma-separated list of names) to run them. A run the simulated fleet itself made
// inconclusive is skipped, and fails under CI=true, where every run must judge the server.
// PUSHLAB_SCENARIO_REPORTS names a directory that keeps the reports of the runs that did not
// pass.
func TestLibrary(t *testing.T) {
	names := libraryRuns(t)
	bin := filepath.Join(t.TempDir(), "pushlab")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/pushlab").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	keep := os.Getenv("PUSHLAB_SCENARIO_REPORTS")
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			s := loadLibrary(t, name)
			o := Options{Scale: 0.1, ServerBinary: bin, WorkerBinary: bin, ReportDir: t.TempDir()}
			start := time.Now()
			res, err := Run(context.Background(), s, o)
			took := time.Since(start)
			if keep != "" && (err != nil || res.ExitCode != scenarios.ExitPass) {
				keepReports(t, keep, name, o.ReportDir)
			}
			checkLibraryRun(t, name, o.Scale, res, err, took)
		})
	}
}

// libraryRuns are the scenarios PUSHLAB_SCENARIOS asks for: all but those labelled ci: "false"
// for "1", else the names listed.
func libraryRuns(t *testing.T) []string {
	env := os.Getenv("PUSHLAB_SCENARIOS")
	if env == "" {
		t.Skip("PUSHLAB_SCENARIOS is not set (make scenarios runs it)")
	}
	if env != "1" {
		return strings.Split(env, ",")
	}
	var names []string
	for _, name := range scenarios.Library() {
		if loadLibrary(t, name).Metadata.Labels["ci"] != "false" {
			names = append(names, name)
		}
	}
	return names
}

// keepReports copies a run's report dir (history, reports, server log; not the server's data)
// to dir/NAME-TIME.
func keepReports(t *testing.T, dir, name, from string) {
	to := filepath.Join(dir, name+"-"+time.Now().Format("20060102-150405"))
	err := filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		if d.IsDir() {
			if d.Name() == "server-data" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), data, 0o644)
	})
	if err != nil {
		t.Errorf("keeping the reports: %v", err)
		return
	}
	t.Logf("reports kept in %s", to)
}

// TestKeepReports: a failed library run's reports are copied out of the test's temporary
// dir, without the server's data.
func TestKeepReports(t *testing.T) {
	from, dir := t.TempDir(), t.TempDir()
	for name, body := range map[string]string{"report.html": "<html>", "history.ndjson": "{}\n", "server-data/pushlab.db": "x"} {
		p := filepath.Join(from, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	keepReports(t, dir, "smoke", from)
	kept, _ := filepath.Glob(filepath.Join(dir, "smoke-*"))
	if len(kept) != 1 {
		t.Fatalf("kept %v, want one smoke-TIME dir", kept)
	}
	if b, err := os.ReadFile(filepath.Join(kept[0], "report.html")); err != nil || string(b) != "<html>" {
		t.Errorf("report.html: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(kept[0], "history.ndjson")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(kept[0], "server-data")); !os.IsNotExist(err) {
		t.Errorf("the server's data was kept: %v", err)
	}
}

func checkLibraryRun(t *testing.T, name string, scale float64, res *Result, err error, took time.Duration) {
	if err == nil && res.ExitCode == scenarios.ExitInconclusive {
		// The harness itself lagged (a busy machine): the run says so and judges nothing.
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s: inconclusive, the simulated fleet lagged: CI runs must be conclusive\n%s", name, summary(res))
		}
		t.Skipf("%s: inconclusive, the simulated fleet lagged\n%s", name, summary(res))
	}
	if err != nil || res.ExitCode != scenarios.ExitPass {
		t.Fatalf("%s: exit %d (%v)\n%s", name, res.ExitCode, err, summary(res))
	}
	checked := 0
	for _, c := range res.Checks {
		if c.Status == CheckPass {
			checked++
		}
	}
	if checked < len(res.Jobs) {
		t.Errorf("%d passed checks for %d jobs", checked, len(res.Jobs))
	}
	for _, f := range []string{"history", "schedule", "result", "report_json", "report_html", "junit", "bundle"} {
		if st, err := os.Stat(res.Files[f]); err != nil || st.Size() == 0 {
			t.Errorf("file %s: %v", f, err)
		}
	}
	t.Logf("%s at scale %g: %d jobs, %d checks passed, %s", name, scale, len(res.Jobs), checked, took.Round(time.Second))
}

// TestWrongServer runs a scenario against a server that lies about one node: a proxy in front of
// the reference server turns web-0007's succeeded into failed in GET /jobs/ID. The run must fail
// and its evidence must name that node.
func TestWrongServer(t *testing.T) {
	srv := servertest.StartFast(t)
	backend, _ := url.Parse(srv.URL())
	proxy := httputil.NewSingleHostReverseProxy(backend)
	proxy.FlushInterval = -1 // SSE
	jobPath := regexp.MustCompile(`^/organizations/[^/]+/pushy/jobs/[0-9a-f]{32}$`)
	rewritten := make(chan struct{}, 1)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method != http.MethodGet || !jobPath.MatchString(resp.Request.URL.Path) || resp.StatusCode != http.StatusOK {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		var job map[string]any
		if json.Unmarshal(body, &job) == nil {
			if nodes, ok := job["nodes"].(map[string]any); ok {
				if moved := moveNode(nodes, "web-0007", "succeeded", "failed"); moved {
					body, _ = json.Marshal(job)
					select {
					case rewritten <- struct{}{}:
					default:
					}
				}
			}
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", itoa(len(body)))
		return nil
	}
	front := httptest.NewServer(proxy)
	defer front.Close()

	src := `apiVersion: pushlab/v1
kind: Scenario
metadata: {name: wrong-server}
seed: 3
target:
  url: ` + front.URL + `
  org: ` + srv.Org() + `
  user: admin
  key: ` + srv.KeyPath("admin") + `
  superuserKey: ` + srv.KeyPath("pivotal") + `
fleet:
  groups:
    - {name: web, count: 20, namePattern: "web-{index:04d}"}
timeline:
  - wait: {for: nodes available, timeout: 30s}
  - job:
      name: deploy
      command: chef-client
      nodes: "*"
      expect: {status: complete}
`
	s, err := scenarios.LoadBytes("wrong.yaml", []byte(src), scenarios.Options{Behaviours: scenarios.StandardBehaviours})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	res, err := Run(context.Background(), s, Options{ReportDir: dir, NodeKeyFile: filepath.Join(dir, "nodes.pem")})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-rewritten:
	default:
		t.Fatal("the proxy never rewrote a job")
	}
	if res.ExitCode != scenarios.ExitCheckFailed || res.Verdict != VerdictFail {
		t.Fatalf("exit %d, verdict %s; want 1, fail\n%s", res.ExitCode, res.Verdict, summary(res))
	}
	var oracle *Check
	for i, c := range res.Checks {
		if c.Status == CheckFail && c.ID != "job/deploy/oracle" && c.ID != "job/deploy/sse" && c.ID != "job/deploy/quorum" {
			t.Errorf("unexpected failed check %s: %s", c.ID, c.Message)
		}
		if c.ID == "job/deploy/oracle" {
			oracle = &res.Checks[i]
		}
	}
	if oracle == nil || oracle.Status != CheckFail {
		t.Fatalf("the oracle check did not fail: %+v", oracle)
	}
	if len(oracle.Evidence) != 1 || oracle.Evidence[0].Node != "web-0007" || !strings.Contains(oracle.Evidence[0].Excerpt, "server says failed") {
		t.Errorf("oracle evidence %+v, want one item naming web-0007", oracle.Evidence)
	}
	// The feed said success for the node: the feed check points at it too.
	foundFeed := false
	for _, c := range res.Checks {
		if c.ID == "job/deploy/sse" && c.Status == CheckFail {
			for _, e := range c.Evidence {
				foundFeed = foundFeed || strings.Contains(e.Excerpt, "web-0007")
			}
		}
	}
	if !foundFeed {
		t.Error("the feed check does not point at web-0007")
	}
	if j := res.Jobs; len(j) != 1 || !j[0].Failed {
		t.Errorf("jobs %+v: the job is not marked failed", j)
	}
	// The failed job is what --rerun-failed repeats.
	if got := res.FailedJobs(); len(got) != 1 || got[0] != "deploy" {
		t.Errorf("failed jobs %v", got)
	}
}

// moveNode moves node from one status list of a job's nodes map to another.
func moveNode(nodes map[string]any, node, from, to string) bool {
	list, _ := nodes[from].([]any)
	for i, n := range list {
		if n == node {
			rest := append(append([]any(nil), list[:i]...), list[i+1:]...)
			if len(rest) == 0 {
				delete(nodes, from)
			} else {
				nodes[from] = rest
			}
			dst, _ := nodes[to].([]any)
			nodes[to] = append(dst, node)
			return true
		}
	}
	return false
}

// TestNotRunnable: what this run cannot carry out is refused before anything starts.
func TestNotRunnable(t *testing.T) {
	src := `apiVersion: pushlab/v1
kind: Scenario
metadata: {name: pause}
fleet:
  groups:
    - {name: web, count: 2}
timeline:
  - job: {name: j, command: x, nodes: "*"}
  - fault: {serverPause: {duration: 1s}}
`
	s, err := scenarios.LoadBytes("pause.yaml", []byte(src), scenarios.Options{Behaviours: scenarios.StandardBehaviours})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "report")
	start := time.Now()
	res, err := Run(context.Background(), s, Options{ReportDir: dir})
	if !errors.Is(err, ErrInvalid) || res.ExitCode != scenarios.ExitInvalid || res.Verdict != VerdictInvalid {
		t.Fatalf("exit %d, %v", res.ExitCode, err)
	}
	if !strings.Contains(res.Error, "pause.yaml:9:13:") || !strings.Contains(res.Error, "serverPause") {
		t.Errorf("error without position: %s", res.Error)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Error("the report dir was made: something started")
	}
	if time.Since(start) > time.Second {
		t.Error("refusing took too long: something started")
	}
}

func TestRerunScenario(t *testing.T) {
	s := loadLibrary(t, "crash-mid-run")
	dir := t.TempDir()
	prev := &Result{Schema: ResultSchema, Scenario: "crash-mid-run", Seed: 99,
		Jobs: []JobSummary{{Name: "rollout", Failed: true}, {Name: "after-crash"}}}
	path := filepath.Join(dir, "result.json")
	if err := writeJSON(path, prev); err != nil {
		t.Fatal(err)
	}
	re, err := rerunScenario(s, path)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, st := range re.Timeline {
		a := st.Action()
		if st.Job != nil {
			a += ":" + st.Job.Name
		}
		actions = append(actions, a)
	}
	if got := strings.Join(actions, " "); got != "wait job:rollout wait sleep fault fault expect wait" {
		t.Errorf("rerun timeline: %s", got)
	}
	seed, err := chooseSeed(s, Options{RerunFailed: path})
	if err != nil || seed != 99 {
		t.Errorf("rerun seed %d, %v; want the earlier run's 99", seed, err)
	}
	// The report model's report.json works too; a load job's failure reruns its load.
	rep := prev.toReport(s, nil, nil, reports.Health{})
	rep.Checks = append(rep.Checks, reports.Check{ID: "job/after-crash-7/oracle", Status: reports.StatusFail})
	repPath := filepath.Join(dir, "report.json")
	if err := rep.Write(repPath); err != nil {
		t.Fatal(err)
	}
	e, err := readEarlier(repPath)
	if err != nil || e.seed != 99 || !e.has("after-crash") || e.has("rollout") {
		t.Errorf("from report.json: %+v, %v", e, err)
	}
	prev.Jobs[0].Failed = false
	_ = writeJSON(path, prev)
	if _, err := rerunScenario(s, path); !errors.Is(err, ErrInvalid) {
		t.Errorf("nothing failed: %v", err)
	}
	prev.Scenario = "smoke"
	_ = writeJSON(path, prev)
	if _, err := rerunScenario(s, path); err == nil || !strings.Contains(err.Error(), "smoke") {
		t.Errorf("another scenario's result: %v", err)
	}
}
