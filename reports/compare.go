package reports

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// CompareOptions tune Compare's noise model.
type CompareOptions struct {
	// Alpha is the significance level of the Mann-Whitney U test (default 0.05).
	Alpha float64
	// MinSamples is the fewest samples each side needs for a metric to be judged (default 4);
	// with fewer, the metric is shown but never significant.
	MinSamples int
	// MinDelta is the smallest relative change of the medians that counts, even when significant:
	// samples within one run share its conditions, so large sets make tiny shifts significant.
	MinDelta float64
}

// DefaultCompareOptions are the options of the regression gate: α = 0.05, at least 4 samples a
// side, and changes under 5% ignored.
func DefaultCompareOptions() CompareOptions {
	return CompareOptions{Alpha: 0.05, MinSamples: 4, MinDelta: 0.05}
}

// Diff is what changed from a base report to a candidate.
type Diff struct {
	Base      RunRef         `json:"base"`
	Candidate RunRef         `json:"candidate"`
	Options   CompareOptions `json:"options"`
	// NewFailures failed in the candidate but not in the base (passed, skipped or absent there).
	NewFailures []CheckChange `json:"new_failures"`
	// Fixed failed in the base and passed in the candidate.
	Fixed []CheckChange `json:"fixed"`
	// StillFailing failed in both.
	StillFailing []CheckChange `json:"still_failing"`
	// Added are checks only the candidate ran (and did not fail); Removed only the base ran.
	Added   []CheckChange `json:"added,omitempty"`
	Removed []CheckChange `json:"removed,omitempty"`
	// Thresholds whose outcome changed.
	Thresholds []ThresholdChange `json:"thresholds,omitempty"`
	// Metrics compares every sample set both reports have.
	Metrics []MetricDelta `json:"metrics"`
	// Unmatched names sample sets only one report has.
	Unmatched []string `json:"unmatched,omitempty"`
}

// RunRef identifies one side of a comparison.
type RunRef struct {
	Scenario string    `json:"scenario"`
	Seed     int64     `json:"seed"`
	Version  string    `json:"version"`
	Start    time.Time `json:"start"`
	Verdict  Verdict   `json:"verdict"`
}

func refOf(r *Report) RunRef {
	return RunRef{Scenario: r.Scenario.Name, Seed: r.Scenario.Seed, Version: r.Tool.Version, Start: r.Start, Verdict: r.Verdict}
}

func (rr RunRef) String() string {
	s := fmt.Sprintf("%s · seed %d · pushlab %s", clean(rr.Scenario), rr.Seed, clean(rr.Version))
	if !rr.Start.IsZero() {
		s += " · " + rr.Start.UTC().Format("2006-01-02 15:04:05Z")
	}
	if rr.Verdict != "" {
		s += " · " + strings.ToUpper(string(rr.Verdict))
	}
	return s
}

// CheckChange is one check as the two reports saw it; a status is "" where the check is absent.
type CheckChange struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Section   string     `json:"section,omitempty"`
	Base      Status     `json:"base,omitempty"`
	Candidate Status     `json:"candidate,omitempty"`
	Message   string     `json:"message,omitempty"` // the candidate's, or the base's when absent there
	Evidence  []Evidence `json:"evidence,omitempty"`
}

// ThresholdChange is a threshold that held in one report and not in the other.
type ThresholdChange struct {
	Metric     string  `json:"metric"`
	Expression string  `json:"expression"`
	Unit       string  `json:"unit,omitempty"`
	Base       float64 `json:"base"`
	Candidate  float64 `json:"candidate"`
	BaseOK     bool    `json:"base_ok"`
	OK         bool    `json:"ok"`
}

// MetricDelta compares one sample set.
type MetricDelta struct {
	Name           string  `json:"name"`
	Unit           string  `json:"unit,omitempty"`
	HigherIsBetter bool    `json:"higher_is_better,omitempty"`
	Base           Summary `json:"base"`
	Candidate      Summary `json:"candidate"`
	// Delta is the relative change of the medians, (candidate − base) / |base|; 0 when the base
	// median is 0 (see Change).
	Delta float64 `json:"delta"`
	// Change is candidate median − base median, in Unit.
	Change float64 `json:"change"`
	// P is the two-sided p-value of the Mann-Whitney U test.
	P float64 `json:"p"`
	// BaseSpread and CandidateSpread are the run-to-run noise of sides merged from repeated
	// runs: half the range of their run medians, relative to the side's median (0 for one run).
	BaseSpread      float64 `json:"base_spread,omitempty"`
	CandidateSpread float64 `json:"candidate_spread,omitempty"`
	// WithinNoise is set when both sides come from two runs or more and their run medians do
	// not lie apart by at least the wider side's range of run medians: samples of one run share
	// its conditions, so only runs that separate clearly tell the sides apart.
	WithinNoise bool `json:"within_noise,omitempty"`
	// Harness marks a measure of the harness (SampleSet.Harness): shown, never significant.
	Harness bool `json:"harness,omitempty"`
	// Significant: enough samples, P < α, |Delta| ≥ MinDelta, not WithinNoise, not Harness.
	Significant bool `json:"significant"`
	// Regression and Improvement are significant changes in the bad and the good direction.
	Regression  bool `json:"regression"`
	Improvement bool `json:"improvement"`
}

// DeltaString is "~" when the change is not significant, else the relative change: "+30.12%".
func (m MetricDelta) DeltaString() string {
	if !m.Significant {
		return "~"
	}
	if m.Base.P50 == 0 {
		return fmt.Sprintf("%+g %s", m.Change, m.Unit)
	}
	return fmt.Sprintf("%+.2f%%", 100*m.Delta)
}

// Compare compares the checks, thresholds and sample sets of two reports.
func Compare(base, cand *Report, o CompareOptions) *Diff {
	if o.Alpha <= 0 {
		o.Alpha = 0.05
	}
	if o.MinSamples <= 0 {
		o.MinSamples = 4
	}
	d := &Diff{Base: refOf(base), Candidate: refOf(cand), Options: o,
		NewFailures: []CheckChange{}, Fixed: []CheckChange{}, StillFailing: []CheckChange{}, Metrics: []MetricDelta{}}

	baseChecks := map[string]Check{}
	for _, c := range base.Checks {
		baseChecks[c.ID] = c
	}
	candIDs := map[string]bool{}
	for _, c := range cand.Checks {
		candIDs[c.ID] = true
		b, inBase := baseChecks[c.ID]
		ch := CheckChange{ID: c.ID, Name: c.Name, Section: c.Section, Candidate: c.Status, Message: c.Message, Evidence: c.Evidence}
		if inBase {
			ch.Base = b.Status
		}
		switch {
		case c.Status == StatusFail && ch.Base == StatusFail:
			d.StillFailing = append(d.StillFailing, ch)
		case c.Status == StatusFail:
			d.NewFailures = append(d.NewFailures, ch)
		case ch.Base == StatusFail && c.Status == StatusPass:
			d.Fixed = append(d.Fixed, ch)
		case !inBase:
			d.Added = append(d.Added, ch)
		}
	}
	for _, b := range base.Checks {
		if !candIDs[b.ID] {
			d.Removed = append(d.Removed, CheckChange{ID: b.ID, Name: b.Name, Section: b.Section, Base: b.Status, Message: b.Message})
		}
	}

	type tkey struct{ m, e string }
	baseT := map[tkey]Threshold{}
	for _, t := range base.Thresholds {
		baseT[tkey{t.Metric, t.Expression}] = t
	}
	for _, t := range cand.Thresholds {
		b, ok := baseT[tkey{t.Metric, t.Expression}]
		if ok && b.OK != t.OK || !ok && !t.OK {
			d.Thresholds = append(d.Thresholds, ThresholdChange{Metric: t.Metric, Expression: t.Expression, Unit: t.Unit,
				Base: b.Observed, Candidate: t.Observed, BaseOK: !ok || b.OK, OK: t.OK})
		}
	}

	candSets := map[string]SampleSet{}
	for _, s := range cand.Metrics.Samples {
		candSets[s.Name] = s
	}
	matched := map[string]bool{}
	for _, bs := range base.Metrics.Samples {
		cs, ok := candSets[bs.Name]
		if !ok {
			d.Unmatched = append(d.Unmatched, bs.Name+" (only in base)")
			continue
		}
		matched[bs.Name] = true
		d.Metrics = append(d.Metrics, compareSamples(bs, cs, o))
	}
	for _, cs := range cand.Metrics.Samples {
		if !matched[cs.Name] {
			d.Unmatched = append(d.Unmatched, cs.Name+" (only in candidate)")
		}
	}
	return d
}

func compareSamples(bs, cs SampleSet, o CompareOptions) MetricDelta {
	m := MetricDelta{Name: bs.Name, Unit: bs.Unit, HigherIsBetter: bs.HigherIsBetter || cs.HigherIsBetter,
		Base: bs.Summary(), Candidate: cs.Summary()}
	m.Change = m.Candidate.P50 - m.Base.P50
	if m.Base.P50 != 0 {
		m.Delta = m.Change / math.Abs(m.Base.P50)
	}
	_, m.P = MannWhitney(bs.Values, cs.Values)
	m.BaseSpread = spread(bs.RunMedians, m.Base.P50)
	m.CandidateSpread = spread(cs.RunMedians, m.Candidate.P50)
	if len(bs.RunMedians) >= 2 && len(cs.RunMedians) >= 2 {
		bLo, bHi := minMax(bs.RunMedians)
		cLo, cHi := minMax(cs.RunMedians)
		gap := max(cLo-bHi, bLo-cHi) // > 0 when the ranges are apart
		m.WithinNoise = gap <= 0 || gap < max(bHi-bLo, cHi-cLo)
	}
	m.Harness = bs.Harness || cs.Harness
	enough := m.Base.Count >= o.MinSamples && m.Candidate.Count >= o.MinSamples
	big := math.Abs(m.Delta) >= o.MinDelta || m.Base.P50 == 0 && m.Change != 0
	m.Significant = enough && m.P < o.Alpha && big && m.Change != 0 && !m.WithinNoise && !m.Harness
	if m.Significant {
		worse := m.Change > 0
		if m.HigherIsBetter {
			worse = !worse
		}
		m.Regression, m.Improvement = worse, !worse
	}
	return m
}

// spread is half the range of run medians relative to median; 0 for fewer than two runs.
func spread(runMedians []float64, median float64) float64 {
	if len(runMedians) < 2 || median == 0 {
		return 0
	}
	lo, hi := minMax(runMedians)
	return (hi - lo) / 2 / math.Abs(median)
}

func minMax(vs []float64) (lo, hi float64) {
	lo, hi = vs[0], vs[0]
	for _, v := range vs[1:] {
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi
}

// Regressed reports whether the candidate is worse: a new failing check, a threshold newly
// crossed, or a significant regression of a metric.
func (d *Diff) Regressed() bool { return len(d.Reasons()) > 0 }

// Reasons lists, one line each, why the candidate is worse than the base.
func (d *Diff) Reasons() []string {
	var out []string
	for _, c := range d.NewFailures {
		out = append(out, fmt.Sprintf("check %s newly fails: %s", c.ID, firstLine(c.Message)))
	}
	for _, t := range d.Thresholds {
		if !t.OK {
			out = append(out, fmt.Sprintf("threshold %s '%s' newly crossed", t.Metric, t.Expression))
		}
	}
	for _, m := range d.Metrics {
		if m.Regression {
			out = append(out, fmt.Sprintf("%s median %s → %s (%s, p=%.3f)", m.Name,
				fmtValue(m.Base.P50, m.Unit), fmtValue(m.Candidate.P50, m.Unit), m.DeltaString(), m.P))
		}
	}
	return out
}

// WriteText writes the comparison for a terminal, in the manner of benchstat: each metric's
// medians, the change or "~" when it is not significant, the p-value and the sample counts.
func (d *Diff) WriteText(w io.Writer, color bool) error {
	p := painter(color)
	var b strings.Builder
	fmt.Fprintf(&b, "\n  base:      %s\n  candidate: %s\n", d.Base, d.Candidate)

	section(&b, p, "CHECKS")
	fmt.Fprintf(&b, "    %s, %d fixed, %d still failing", plural(len(d.NewFailures), "new failure"), len(d.Fixed), len(d.StillFailing))
	if len(d.Added)+len(d.Removed) > 0 {
		fmt.Fprintf(&b, ", %d added, %d removed", len(d.Added), len(d.Removed))
	}
	b.WriteString("\n")
	// Failures are listed up to textFailures, other changes up to textOthers (a slower
	// candidate runs fewer jobs of a timed load: its missing checks are no news); the JSON and
	// HTML comparisons hold them all.
	const textFailures, textOthers = 20, 5
	list := func(mark, kind string, cs []CheckChange, most int) {
		for i, c := range cs {
			if i == most {
				fmt.Fprintf(&b, "      %s\n", p.paint(ansiDim, fmt.Sprintf("… and %d more %s", len(cs)-most, kind)))
				break
			}
			label := checkLabel(Check{ID: c.ID, Name: c.Name, Section: c.Section})
			fmt.Fprintf(&b, "    %s %-14s %s (%s)\n", mark, kind, label, clean(c.ID))
			if c.Message != "" && kind != "fixed" && kind != "added" && kind != "removed" {
				fmt.Fprintf(&b, "      %s%s\n", p.paint(ansiDim, "↳ "), truncate(oneLine(c.Message), 160))
			}
		}
	}
	list(p.paint(ansiRed, "✗"), "new failure", d.NewFailures, textFailures)
	list(p.paint(ansiGreen, "✓"), "fixed", d.Fixed, textOthers)
	list(p.paint(ansiRed, "✗"), "still failing", d.StillFailing, textFailures)
	list(p.paint(ansiDim, "+"), "added", d.Added, textOthers)
	list(p.paint(ansiDim, "-"), "removed", d.Removed, textOthers)

	if len(d.Thresholds) > 0 {
		section(&b, p, "THRESHOLDS")
		for _, t := range d.Thresholds {
			mark, what := p.paint(ansiGreen, "✓"), "now holds"
			if !t.OK {
				mark, what = p.paint(ansiRed, "✗"), "newly crossed"
			}
			fmt.Fprintf(&b, "    %s %s '%s' %s: %s → %s\n", mark, clean(t.Metric), clean(t.Expression), what,
				fmtValue(t.Base, t.Unit), fmtValue(t.Candidate, t.Unit))
		}
	}

	section(&b, p, "METRICS")
	if len(d.Metrics) == 0 {
		b.WriteString("    no sample sets in common\n")
	} else {
		rows := [][]string{{"", "base p50", "candidate p50", "vs base", "p", "n"}}
		runs, harness := false, false
		for _, m := range d.Metrics {
			delta := m.DeltaString()
			switch {
			case m.Regression:
				delta = p.paint(ansiRed, delta)
			case m.Improvement:
				delta = p.paint(ansiGreen, delta)
			}
			name := clean(m.Name)
			if m.Harness {
				name += " (harness)"
				harness = true
			}
			runs = runs || m.BaseSpread > 0 || m.CandidateSpread > 0
			rows = append(rows, []string{name, fmtValue(m.Base.P50, m.Unit) + spreadString(m.BaseSpread),
				fmtValue(m.Candidate.P50, m.Unit) + spreadString(m.CandidateSpread),
				delta, fmt.Sprintf("p=%.3f", m.P), fmt.Sprintf("n=%d+%d", m.Base.Count, m.Candidate.Count)})
		}
		tableANSI(&b, p, rows)
		fmt.Fprintf(&b, "    %s\n", p.paint(ansiDim, fmt.Sprintf("~: no significant change (Mann-Whitney U, α=%g, changes under %s ignored)",
			d.Options.Alpha, trimFloat(100*d.Options.MinDelta, 2)+"%")))
		if runs {
			fmt.Fprintf(&b, "    %s\n", p.paint(ansiDim, "±: half the range of the runs' medians; a change counts only when the sides' run medians lie apart by the wider range"))
		}
		if harness {
			fmt.Fprintf(&b, "    %s\n", p.paint(ansiDim, "(harness): measures the simulated fleet, never judged"))
		}
	}
	for _, u := range d.Unmatched {
		fmt.Fprintf(&b, "    %s\n", p.paint(ansiDim, "not compared: "+clean(u)))
	}

	b.WriteString("\n")
	if reasons := d.Reasons(); len(reasons) > 0 {
		fmt.Fprintf(&b, "  %s %s\n", p.paint(ansiBold, "RESULT:"), p.paint(ansiBold+ansiRed, "REGRESSED"))
		for _, r := range reasons {
			fmt.Fprintf(&b, "    - %s\n", clean(r))
		}
	} else {
		fmt.Fprintf(&b, "  %s %s\n", p.paint(ansiBold, "RESULT:"), p.paint(ansiBold+ansiGreen, "NO REGRESSION"))
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// spreadString is " ±4.2%" for a run-to-run spread, "" for none.
func spreadString(spread float64) string {
	if spread <= 0 {
		return ""
	}
	return fmt.Sprintf(" ±%s%%", trimFloat(100*spread, 1))
}

// tableANSI is table for cells that may hold colour codes, which take no width.
func tableANSI(b *strings.Builder, p painter, rows [][]string) {
	vis := func(s string) int {
		n := 0
		for i := 0; i < len(s); {
			if s[i] == 0x1b {
				for i < len(s) && s[i] != 'm' {
					i++
				}
				i++
				continue
			}
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
			n++
		}
		return n
	}
	widths := map[int]int{}
	for _, row := range rows {
		for i, c := range row {
			widths[i] = max(widths[i], vis(c))
		}
	}
	for ri, row := range rows {
		var line strings.Builder
		for i, c := range row {
			pad := strings.Repeat(" ", widths[i]-vis(c))
			if i == 0 {
				line.WriteString(c + pad)
			} else {
				line.WriteString("  " + pad + c)
			}
		}
		s := strings.TrimRight(line.String(), " ")
		if ri == 0 {
			s = p.paint(ansiDim, s)
		}
		fmt.Fprintf(b, "    %s\n", s)
	}
}

//go:embed assets/compare.html.tmpl
var compareTemplateText string

var compareTemplate = template.Must(template.New("compare").Funcs(funcs).Funcs(template.FuncMap{
	"label":  func(c CheckChange) string { return checkLabel(Check{ID: c.ID, Name: c.Name, Section: c.Section}) },
	"mul100": func(v float64) float64 { return 100 * v },
	"spread": spreadString,
}).Parse(compareTemplateText))

// WriteHTML writes the comparison as one self-contained HTML page.
func (d *Diff) WriteHTML(w io.Writer) error {
	metrics := append([]MetricDelta(nil), d.Metrics...)
	sort.SliceStable(metrics, func(i, j int) bool { return metrics[i].Regression && !metrics[j].Regression })
	v := struct {
		D         *Diff
		CSP       string
		CSS       template.CSS
		Reasons   []string
		Metrics   []MetricDelta
		Regressed bool
	}{D: d, CSP: csp, CSS: template.CSS(styleCSS), Reasons: d.Reasons(), Metrics: metrics}
	v.Regressed = len(v.Reasons) > 0
	var buf bytes.Buffer
	if err := compareTemplate.Execute(&buf, v); err != nil {
		return fmt.Errorf("render comparison: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}
