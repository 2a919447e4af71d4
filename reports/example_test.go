package reports_test

import (
	"fmt"
	"os"
	"time"

	"github.com/pushlab/pushlab/reports"
)

// A simulator fills a report as the run goes, finishes it, and writes it out.
func Example() {
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	r := reports.NewReport(reports.Scenario{Name: "smoke", File: "scenarios/smoke.yaml", Seed: 42},
		reports.Target{Kind: reports.TargetEmbedded})
	r.Start = start

	r.AddNodeStates(start.Add(time.Second), map[string]int{"online": 1000, "available": 990})
	r.AddFault(reports.Fault{Kind: "crash", Selector: "group=web", Start: start.Add(5 * time.Second), End: start.Add(9 * time.Second)})
	r.AddLatency(reports.PhaseVoting, 120*time.Millisecond, 180*time.Millisecond)
	r.AddPoint(reports.SeriesEventsPerSecond, "1/s", start.Add(2*time.Second), 240)
	r.Pass("sse-order", "job feed order and completeness", "6")
	r.Fail("node-status", "node statuses match the oracle", "5.6", "node-0042: expected crashed, got running",
		reports.Evidence{Kind: reports.EvidenceJob, Node: "node-0042", Job: "7f3a9c1e", Excerpt: `{"status":"running"}`})
	r.AddThreshold(reports.Threshold{Metric: "job_duration", Expression: "p(95)<2s", Observed: 850, Unit: "ms", OK: true})
	r.Finish(start.Add(time.Minute))

	fmt.Println(r.Verdict, r.ExitCode, r.Reason)
	dir, _ := os.MkdirTemp("", "report")
	defer os.RemoveAll(dir)
	for _, name := range []string{"report.json", "report.html", "junit.xml"} {
		if err := r.Write(dir + "/" + name); err != nil {
			fmt.Println(err)
		}
	}
	back, err := reports.Load(dir + "/report.json")
	fmt.Println(back.Scenario.Seed, err)
	// Output:
	// fail 1 1 of 2 checks failed
	// 42 <nil>
}
