package reports

import (
	"testing"
	"time"
)

func TestMergePoolsSamplesAndKeepsFailures(t *testing.T) {
	a := NewReport(Scenario{Name: "smoke"}, Target{Kind: TargetEmbedded})
	a.Pass("job-status", "job status", "5.3")
	a.AddSamples("latency_total", "s", 1, 2)
	a.Finish(a.Start.Add(time.Second))
	b := NewReport(Scenario{Name: "smoke"}, Target{Kind: TargetEmbedded})
	b.Fail("job-status", "job status", "5.3", "job j1 is complete, want quorum_failed")
	b.AddSamples("latency_total", "s", 3)
	b.Finish(b.Start.Add(time.Second))
	m := Merge(a, b)
	c, ok := m.Check("job-status")
	if !ok || c.Status != StatusFail || c.Message == "" {
		t.Fatalf("merged check %+v", c)
	}
	if got, ok := m.Samples("latency_total"); !ok || len(got.Values) != 3 || len(got.RunMedians) != 2 || got.RunMedians[0] != 1.5 || got.RunMedians[1] != 3 {
		t.Fatalf("merged samples %+v", got)
	}
	if got, _ := Merge(m, a).Samples("latency_total"); len(got.RunMedians) != 3 {
		t.Fatalf("a merged report merged again keeps its runs: %+v", got)
	}
	if got, _ := a.Samples("latency_total"); len(got.Values) != 2 {
		t.Fatal("Merge changed its input")
	}
	if Merge(a) != a || Merge() != nil {
		t.Fatal("Merge of one or none")
	}
}
