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
	"sync"
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

// ciScenarios are the shipped scenarios every `go test` runs, a tenth of their size, against
// the in-process reference server. The others need the pushlab binary (server pause), take
// minutes, or are too large; TestLibraryLong runs them.
var ciScenarios = []string{"smoke", "nack-storm", "crash-mid-run", "run-timeouts", "unavailable-at-start",
	"partition-during-run", "output-capture-at-scale"}

func TestLibrary(t *testing.T) {
	if os.Getenv("PUSHLAB_SCENARIOS") == "" {
		t.Skip("PUSHLAB_SCENARIOS is not set (make scenarios runs it)")
	}
	runLibrary(t, ciScenarios, Options{Scale: 0.1})
}

// longScenarios take minutes even scaled down, or need the pushlab binary: the embedded
// server as a child process (serverPause) and worker processes. PUSHLAB_LONG=1 runs them.
var longScenarios = []string{"server-restart-mid-job", "mixed-chaos", "fanout-9000", "reconnect-storm"}

func TestLibraryLong(t *testing.T) {
	if os.Getenv("PUSHLAB_LONG") == "" {
		t.Skip("PUSHLAB_LONG is not set")
	}
	bin := filepath.Join(t.TempDir(), "pushlab")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/pushlab").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	o := Options{Scale: 0.1, ServerBinary: bin, WorkerBinary: bin}
	runLibrary(t, longScenarios[:len(longScenarios)-1], o)
	// Storms of reconnects are what reconnect-storm measures: it runs alone.
	runLibrary(t, longScenarios[len(longScenarios)-1:], o)
}

// runLibrary runs shipped scenarios all at once (their waits, not their CPU, take the time),
// then checks each.
func runLibrary(t *testing.T, names []string, o Options) {
	type outcome struct {
		res  *Result
		err  error
		took time.Duration
	}
	out := make([]outcome, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		s := loadLibrary(t, name)
		oo := o
		oo.ReportDir = t.TempDir()
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			res, err := Run(context.Background(), s, oo)
			out[i] = outcome{res, err, time.Since(start)}
		}()
	}
	wg.Wait()
	for i, name := range names {
		t.Run(name, func(t *testing.T) { checkLibraryRun(t, name, o.Scale, out[i].res, out[i].err, out[i].took) })
	}
}

func checkLibraryRun(t *testing.T, name string, scale float64, res *Result, err error, took time.Duration) {
	if err == nil && res.ExitCode == scenarios.ExitInconclusive {
		// The harness itself lagged (a busy machine): the run says so and judges nothing.
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
