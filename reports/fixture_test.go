package reports

import (
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// sampleReport is a failing run of a small scenario with every kind of data a report holds:
// 4 node states, 2 fault windows, 3 latency sample sets, 2 series, 3 jobs.
func sampleReport() *Report {
	r := NewReport(Scenario{Name: "smoke", File: "scenarios/smoke.yaml", Seed: 42, Description: "a thousand nodes, a few misbehaving"},
		Target{Kind: TargetEmbedded, URL: "http://127.0.0.1:10003", Org: "pushlab"})
	r.Tool = Tool{Name: "pushlab", Version: "v0.1.0-test", Go: "go1.26"}
	r.Start = t0
	rng := rand.New(rand.NewPCG(42, 7))

	r.AddCheck(Check{ID: "sse-order", Name: "job feed order and completeness", Section: "§6", Status: StatusPass,
		Duration: Duration(12 * time.Millisecond), Passes: 12})
	r.AddCheck(Check{ID: "job-status", Name: "job statuses match the oracle", Section: "5.6", Status: StatusPass,
		Duration: Duration(3 * time.Millisecond), Passes: 12})
	r.AddCheck(Check{ID: "node-status", Name: "node statuses match the oracle", Section: "5.6", Status: StatusFail,
		Duration: Duration(41 * time.Millisecond), Passes: 997, Fails: 3,
		Message: "3 nodes differ from the oracle: expected crashed, got running",
		Evidence: []Evidence{
			{Kind: EvidenceJob, Node: "node-0042", Job: "7f3a9c1e", Excerpt: `{"status":"running"}`, Time: t0.Add(31250 * time.Millisecond)},
			{Kind: EvidenceEvent, Node: "node-0043", Job: "7f3a9c1e", Excerpt: "event: run_start\nid: 7f3a9c1e-12\x1b[31m<script>alert(1)</script>", Time: t0.Add(31500 * time.Millisecond)},
			{Kind: EvidenceMessage, Node: "node-0044", Excerpt: "ack_run", Time: t0.Add(32 * time.Second)},
			{Kind: EvidenceHTTP, Excerpt: "GET /organizations/pushlab/pushy/jobs/7f3a9c1e -> 200"},
		}})
	r.Skip("output-bytes", "captured output matches byte for byte", "6", "no job captured output")
	r.Pass("last-event-id", "Last-Event-ID resumes the feed", "6")

	r.AddThreshold(Threshold{Metric: "job_duration", Expression: "p(95)<2s", Observed: 1234.5, Unit: "ms", OK: true})
	r.AddThreshold(Threshold{Metric: "job_duration", Expression: "max<3s", Observed: 3400, Unit: "ms", OK: false})
	r.AddThreshold(Threshold{Metric: "http_req_failed", Expression: "rate<0.01", Observed: 0.002, OK: true})

	for s := 0; s <= 60; s++ {
		at := t0.Add(time.Duration(s) * time.Second)
		crashed := 0
		if s >= 20 && s < 30 {
			crashed = 50
		}
		online := min(1000, s*100) - crashed
		r.AddNodeStates(at, map[string]int{"online": online, "available": online - online/20, "offline": 1000 - online - crashed, "crashed": crashed})
		r.AddPoint(SeriesEventsPerSecond, "1/s", at, float64(200+rng.IntN(50)))
		r.AddPoint("harness_cpu", "%", at, 30+10*rng.Float64())
	}
	r.AddFault(Fault{Kind: "crash", Selector: "group=web", Start: t0.Add(20 * time.Second), End: t0.Add(30 * time.Second)})
	r.AddFault(Fault{Kind: "unavailable", Selector: "name=node-01*", Start: t0.Add(40 * time.Second)})

	for i := 0; i < 50; i++ {
		v := time.Duration(100+rng.IntN(80)) * time.Millisecond
		run := time.Duration(300+rng.IntN(400)) * time.Millisecond
		r.AddLatency(PhaseVoting, v)
		r.AddLatency(PhaseRunning, run)
		r.AddLatency(PhaseTotal, v+run)
	}
	r.AddJob(JobSummary{ID: "7f3a9c1e", Command: "chef-client", Status: "complete", Quorum: 900,
		Nodes: map[string]int{"succeeded": 995, "crashed": 5}, Created: t0.Add(10 * time.Second),
		Voting: Duration(150 * time.Millisecond), Running: Duration(700 * time.Millisecond), Total: Duration(850 * time.Millisecond)})
	r.AddJob(JobSummary{ID: "8a1b2c3d", Command: "uptime", Status: "quorum_failed", Quorum: 1000,
		Nodes: map[string]int{"was_ready": 990, "nacked": 10}, Voting: Duration(90 * time.Millisecond), Total: Duration(90 * time.Millisecond)})
	r.AddJob(JobSummary{ID: "9e8d7c6b", Command: "chef-client", Status: "complete", Quorum: 1,
		Nodes: map[string]int{"succeeded": 1}, Voting: Duration(80 * time.Millisecond), Running: Duration(1200 * time.Millisecond), Total: Duration(1280 * time.Millisecond)})

	r.Health = Health{Nodes: 1000, HeartbeatsSent: 60000, HeartbeatsLate: 12, MaxHeartbeatLag: Duration(250 * time.Millisecond),
		SendQueuePeak: 3, SendQueueCap: 64, CPUPeak: 41.5, CPUMean: 33.2}
	r.Note("the embedded server ran with a %s heartbeat", "1s")
	r.Finish(t0.Add(63500 * time.Millisecond))
	return r
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./reports -run %s -update to create it)", err, t.Name())
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file (rerun with -update if the change is intended)\n--- got ---\n%s\n--- want ---\n%s", name, got, want)
	}
}
