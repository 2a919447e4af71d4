package reports

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// runWith is a report whose sample set "total" holds n samples of mean ± noise seconds.
func runWith(seed uint64, n int, mean, noise float64) *Report {
	r := NewReport(Scenario{Name: "smoke", Seed: 42}, Target{Kind: TargetEmbedded})
	r.Start = t0
	rng := rand.New(rand.NewPCG(seed, 1))
	for i := 0; i < n; i++ {
		r.AddSamples(PhaseTotal, "s", mean+noise*rng.NormFloat64())
	}
	r.Pass("sse-order", "job feed order", "6")
	r.Pass("node-status", "node statuses", "5.6")
	r.Finish(t0.Add(time.Minute))
	return r
}

func TestCompareIdenticalIsNoChange(t *testing.T) {
	a := runWith(1, 30, 0.5, 0.05)
	b := runWith(1, 30, 0.5, 0.05)
	d := Compare(a, b, DefaultCompareOptions())
	if len(d.Metrics) != 1 {
		t.Fatalf("%d metrics", len(d.Metrics))
	}
	m := d.Metrics[0]
	if m.DeltaString() != "~" || m.Significant || m.P < 0.99 || m.Delta != 0 {
		t.Errorf("identical samples: %+v", m)
	}
	if d.Regressed() || len(d.NewFailures)+len(d.Fixed)+len(d.StillFailing) != 0 {
		t.Errorf("identical runs differ: %v", d.Reasons())
	}
}

func TestCompareSameDistributionIsNoChange(t *testing.T) {
	// Two draws from the same distribution: the test must not cry wolf.
	d := Compare(runWith(1, 40, 0.5, 0.05), runWith(2, 40, 0.5, 0.05), DefaultCompareOptions())
	if m := d.Metrics[0]; m.DeltaString() != "~" || m.Regression {
		t.Errorf("same distribution flagged: %+v", m)
	}
}

func TestCompareFlagsSlowerCandidate(t *testing.T) {
	base := runWith(1, 30, 1.0, 0.02)
	cand := runWith(2, 30, 1.3, 0.02)
	d := Compare(base, cand, DefaultCompareOptions())
	m := d.Metrics[0]
	if !m.Significant || !m.Regression || m.Improvement {
		t.Fatalf("30%% slower not flagged: %+v", m)
	}
	if m.P > 1e-6 {
		t.Errorf("p = %g", m.P)
	}
	if math.Abs(m.Delta-0.30) > 0.03 || !strings.HasPrefix(m.DeltaString(), "+") {
		t.Errorf("delta %v (%s)", m.Delta, m.DeltaString())
	}
	if !d.Regressed() || !strings.Contains(d.Reasons()[0], "total median") {
		t.Errorf("reasons %v", d.Reasons())
	}
	// The other way round it is an improvement, not a regression.
	back := Compare(cand, base, DefaultCompareOptions()).Metrics[0]
	if !back.Improvement || back.Regression || !strings.HasPrefix(back.DeltaString(), "-") {
		t.Errorf("faster candidate: %+v", back)
	}
}

func TestCompareNoiseAndSmallChanges(t *testing.T) {
	// 30% slower but with noise as large as the change and few samples: not significant.
	d := Compare(runWith(1, 5, 1.0, 0.6), runWith(2, 5, 1.3, 0.6), DefaultCompareOptions())
	if m := d.Metrics[0]; m.Significant {
		t.Errorf("noisy small samples flagged: %+v", m)
	}
	// A real but tiny shift with many samples is under MinDelta.
	d = Compare(runWith(1, 2000, 1.0, 0.01), runWith(2, 2000, 1.01, 0.01), DefaultCompareOptions())
	if m := d.Metrics[0]; m.Significant || m.P > 0.001 {
		t.Errorf("1%% shift: %+v", m)
	}
	o := DefaultCompareOptions()
	o.MinDelta = 0
	if m := Compare(runWith(1, 2000, 1.0, 0.01), runWith(2, 2000, 1.01, 0.01), o).Metrics[0]; !m.Significant {
		t.Errorf("with MinDelta 0 the 1%% shift is significant: %+v", m)
	}
	// Fewer samples than MinSamples are never judged.
	if m := Compare(runWith(1, 3, 1.0, 0.001), runWith(2, 3, 2.0, 0.001), o).Metrics[0]; m.Significant {
		t.Errorf("3 samples judged: %+v", m)
	}
}

// TestCompareRunSpread: sides merged from repeated runs are judged against the runs' own
// spread. Runs whose conditions drift (each run's samples share an offset) make a pooled test
// significant by themselves; the overlap of the run medians keeps that a "~", while a shift
// larger than the spread still counts.
func TestCompareRunSpread(t *testing.T) {
	drift := func(seed uint64, means ...float64) *Report {
		var runs []*Report
		for i, m := range means {
			runs = append(runs, runWith(seed*10+uint64(i), 200, m, 0.01))
		}
		return Merge(runs...)
	}
	base := drift(1, 1.00, 1.12, 1.06)
	same := drift(2, 1.05, 1.20, 1.13)
	m := Compare(base, same, DefaultCompareOptions()).Metrics[0]
	if m.P >= 0.05 || math.Abs(m.Delta) < 0.05 {
		t.Fatalf("the pooled test alone should call this drift significant: %+v", m)
	}
	if m.Significant || !m.WithinNoise || m.BaseSpread < 0.05 || m.CandidateSpread < 0.05 {
		t.Errorf("drift within the runs' spread flagged: %+v", m)
	}
	// Apart, but by less than a side's own range of run medians: still noise.
	near := drift(4, 1.14, 1.20, 1.17)
	if m := Compare(base, near, DefaultCompareOptions()).Metrics[0]; m.Significant || !m.WithinNoise || m.Delta < 0.05 || m.P >= 0.05 {
		t.Errorf("runs barely apart flagged: %+v", m)
	}
	slow := drift(3, 1.30, 1.42, 1.36)
	if m := Compare(base, slow, DefaultCompareOptions()).Metrics[0]; !m.Regression || m.WithinNoise {
		t.Errorf("a shift beyond the runs' spread not flagged: %+v", m)
	}
	var b bytes.Buffer
	if err := Compare(base, same, DefaultCompareOptions()).WriteText(&b, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "±") {
		t.Errorf("the text shows no spread:\n%s", b.String())
	}
}

// TestCompareHarnessMetric: a measure of the harness is shown, never judged.
func TestCompareHarnessMetric(t *testing.T) {
	base, cand := runWith(1, 30, 1.0, 0.02), runWith(2, 30, 2.0, 0.02)
	cand.MarkHarness(PhaseTotal)
	d := Compare(base, cand, DefaultCompareOptions())
	if m := d.Metrics[0]; !m.Harness || m.Significant || d.Regressed() {
		t.Errorf("a harness metric judged: %+v %v", m, d.Reasons())
	}
	var b bytes.Buffer
	if err := d.WriteText(&b, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "total (harness)") {
		t.Errorf("the text does not mark the harness metric:\n%s", b.String())
	}
}

func TestCompareHigherIsBetter(t *testing.T) {
	mk := func(seed uint64, mean float64) *Report {
		r := NewReport(Scenario{Name: "x"}, Target{})
		rng := rand.New(rand.NewPCG(seed, 2))
		for i := 0; i < 20; i++ {
			r.AddSamples("throughput", "1/s", mean+rng.NormFloat64())
		}
		r.Metrics.Samples[0].HigherIsBetter = true
		return r
	}
	m := Compare(mk(1, 100), mk(2, 60), DefaultCompareOptions()).Metrics[0]
	if !m.Regression {
		t.Errorf("lower throughput is not a regression: %+v", m)
	}
}

func TestCompareChecksAndThresholds(t *testing.T) {
	base := runWith(1, 10, 1, 0.01)
	base.Fail("output", "output bytes", "6", "truncated")
	base.AddThreshold(Threshold{Metric: "job_duration", Expression: "p(95)<2s", Observed: 1500, Unit: "ms", OK: true})
	base.Pass("gone", "only in base", "")
	base.Finish(base.End)

	cand := runWith(2, 10, 1, 0.01)
	cand.Checks = nil
	cand.Fail("sse-order", "job feed order", "6", "run_complete before run_start for node-7",
		Evidence{Kind: EvidenceEvent, Node: "node-7", Job: "j1", Excerpt: "event: run_complete"})
	cand.Pass("node-status", "node statuses", "5.6")
	cand.Pass("output", "output bytes", "6")
	cand.Fail("new-broken", "a new check that fails", "", "nope")
	cand.Pass("new-ok", "a new check that passes", "")
	cand.AddThreshold(Threshold{Metric: "job_duration", Expression: "p(95)<2s", Observed: 2500, Unit: "ms", OK: false})
	cand.Finish(cand.End)

	d := Compare(base, cand, DefaultCompareOptions())
	ids := func(cs []CheckChange) string {
		var s []string
		for _, c := range cs {
			s = append(s, c.ID+":"+string(c.Base)+"→"+string(c.Candidate))
		}
		return strings.Join(s, ",")
	}
	if got := ids(d.NewFailures); got != "sse-order:pass→fail,new-broken:→fail" {
		t.Errorf("new failures %s", got)
	}
	if got := ids(d.Fixed); got != "output:fail→pass" {
		t.Errorf("fixed %s", got)
	}
	if got := ids(d.Added); got != "new-ok:→pass" {
		t.Errorf("added %s", got)
	}
	if got := ids(d.Removed); got != "gone:pass→" {
		t.Errorf("removed %s", got)
	}
	if len(d.NewFailures[0].Evidence) != 1 || d.NewFailures[0].Message == "" {
		t.Error("new failure lost its message or evidence")
	}
	if len(d.Thresholds) != 1 || d.Thresholds[0].OK || d.Thresholds[0].Base != 1500 {
		t.Errorf("thresholds %+v", d.Thresholds)
	}
	reasons := strings.Join(d.Reasons(), "\n")
	for _, want := range []string{"check sse-order newly fails: run_complete before run_start", "check new-broken newly fails", "threshold job_duration 'p(95)<2s' newly crossed"} {
		if !strings.Contains(reasons, want) {
			t.Errorf("reasons lack %q:\n%s", want, reasons)
		}
	}
	if _, err := json.Marshal(d); err != nil {
		t.Errorf("diff is not JSON: %v", err)
	}

	// Terminal rendering.
	var buf bytes.Buffer
	if err := d.WriteText(&buf, false); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	for _, want := range []string{"2 new failures, 1 fixed, 0 still failing, 1 added, 1 removed", "✗ new failure    job feed order §6 (sse-order)",
		"↳ run_complete before run_start for node-7", "✓ fixed          output bytes §6", "✗ job_duration 'p(95)<2s' newly crossed: 1.5s → 2.5s",
		"RESULT: REGRESSED", "vs base"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	var colour bytes.Buffer
	d.WriteText(&colour, true)
	if ansi.ReplaceAllString(colour.String(), "") != text {
		t.Error("coloured comparison differs from the plain one beyond colour")
	}

	// HTML rendering.
	buf.Reset()
	if err := d.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	checkWellFormed(t, buf.Bytes())
	doc, err := html.Parse(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	checkSelfContained(t, doc)
	if textOf(findAll(doc, byID("verdict-word"))[0]) != "REGRESSED" {
		t.Error("html verdict")
	}
	rows := findAll(doc, func(n *html.Node) bool { return n.Data == "tr" && attr(n, "data-change") == "new-failure" })
	if len(rows) != 2 || !strings.Contains(textOf(rows[0]), "node-7") {
		t.Errorf("%d new-failure rows", len(rows))
	}
	if n := len(findAll(doc, func(n *html.Node) bool { return n.Data == "tr" && hasClass(n, "metric") })); n != 1 {
		t.Errorf("%d metric rows", n)
	}
}

func TestCompareTextShowsTilde(t *testing.T) {
	d := Compare(runWith(1, 30, 0.5, 0.05), runWith(1, 30, 0.5, 0.05), DefaultCompareOptions())
	var buf bytes.Buffer
	d.WriteText(&buf, false)
	lines := strings.Split(buf.String(), "\n")
	found := false
	for _, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "total") {
			found = true
			if !strings.Contains(l, " ~ ") || !strings.Contains(l, "p=1.000") || !strings.Contains(l, "n=30+30") {
				t.Errorf("row %q", l)
			}
		}
	}
	if !found || !strings.Contains(buf.String(), "RESULT: NO REGRESSION") {
		t.Errorf("comparison:\n%s", buf.String())
	}
}
