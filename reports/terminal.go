package reports

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// SummaryOptions tune the terminal summary.
type SummaryOptions struct {
	// Color adds ANSI colours; see UseColor.
	Color bool
	// MaxEvidence is how many pieces of evidence to show per failed check (default 3, -1 none).
	MaxEvidence int
	// AllChecks lists passed checks too; by default only failed and skipped checks are listed
	// when there are more than 30 checks.
	AllChecks bool
}

// UseColor reports whether output to w may be coloured: w is a terminal, NO_COLOR is unset or
// empty (no-color.org) and TERM is not "dumb". It reads the process environment.
func UseColor(w io.Writer) bool { return ColorEnabled(w, os.LookupEnv) }

// ColorEnabled is UseColor with the environment read through lookupEnv.
func ColorEnabled(w io.Writer, lookupEnv func(string) (string, bool)) bool {
	if v, ok := lookupEnv("NO_COLOR"); ok && v != "" {
		return false
	}
	if v, _ := lookupEnv("TERM"); v == "dumb" {
		return false
	}
	f, ok := w.(interface{ Fd() uintptr })
	return ok && isTerminal(f.Fd())
}

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiDim    = "\x1b[2m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
)

type painter bool

func (p painter) paint(code, s string) string {
	if !p || s == "" {
		return s
	}
	return code + s + ansiReset
}

// WriteSummary writes the end-of-run summary in the manner of k6: header, checks with ✓ and ✗,
// thresholds, latency table, jobs, fleet health, notes and the verdict line.
func (r *Report) WriteSummary(w io.Writer, o SummaryOptions) error {
	if o.MaxEvidence == 0 {
		o.MaxEvidence = 3
	}
	p := painter(o.Color)
	var b strings.Builder

	// Header.
	b.WriteString("\n")
	fmt.Fprintf(&b, "  %s %s\n", p.paint(ansiBold, "pushlab"), clean(r.Tool.Version))
	sc := "scenario: " + clean(r.Scenario.Name)
	if r.Scenario.File != "" {
		sc += " (" + clean(r.Scenario.File) + ")"
	}
	sc += ", seed " + strconv.FormatInt(r.Scenario.Seed, 10)
	fmt.Fprintf(&b, "  %s\n", sc)
	fmt.Fprintf(&b, "  target:   %s\n", clean(r.Target.String()))
	if !r.Start.IsZero() {
		run := "run:      " + r.Start.UTC().Format("2006-01-02 15:04:05Z")
		if !r.End.IsZero() {
			run += " → " + r.End.UTC().Format("15:04:05Z") + " (" + fmtDuration(r.Duration().Round(time.Millisecond)) + ")"
		}
		fmt.Fprintf(&b, "  %s\n", run)
	}

	r.summaryChecks(&b, p, o)
	r.summaryThresholds(&b, p)
	r.summaryLatency(&b, p)
	r.summaryJobs(&b, p)
	r.summaryHealth(&b, p)
	if len(r.Notes) > 0 {
		section(&b, p, "NOTES")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "    - %s\n", clean(n))
		}
	}
	if r.Error != "" {
		section(&b, p, "ERROR")
		for _, l := range strings.Split(strings.TrimRight(r.Error, "\n"), "\n") {
			fmt.Fprintf(&b, "    %s\n", p.paint(ansiRed, clean(l)))
		}
	}

	// Verdict.
	b.WriteString("\n")
	v := strings.ToUpper(string(r.Verdict))
	if v == "" {
		v = "UNDECIDED"
	}
	fmt.Fprintf(&b, "  %s %s (exit %d)", p.paint(ansiBold, "VERDICT:"), p.paint(ansiBold+verdictColor(r.Verdict), v), r.ExitCode)
	if r.Reason != "" {
		fmt.Fprintf(&b, " — %s", clean(r.Reason))
	}
	b.WriteString("\n\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func verdictColor(v Verdict) string {
	switch v {
	case VerdictPass:
		return ansiGreen
	case VerdictInconclusive, VerdictThreshold:
		return ansiYellow
	}
	return ansiRed
}

func section(b *strings.Builder, p painter, title string) {
	fmt.Fprintf(b, "\n  %s\n\n", p.paint(ansiBold, "█ "+title))
}

func (r *Report) summaryChecks(b *strings.Builder, p painter, o SummaryOptions) {
	passed, failed, skipped := r.CheckCounts()
	section(b, p, "CHECKS")
	if len(r.Checks) == 0 {
		b.WriteString("    no checks ran\n")
		return
	}
	list := r.Checks
	hidden := 0
	if !o.AllChecks && len(list) > 30 {
		list = nil
		for _, c := range r.Checks {
			if c.Status != StatusPass {
				list = append(list, c)
			}
		}
		hidden = passed
	}
	width := 0
	labels := make([]string, len(list))
	for i, c := range list {
		labels[i] = checkLabel(c)
		width = max(width, utf8.RuneCountInString(labels[i]))
	}
	width = min(width, 72)
	for i, c := range list {
		label := truncate(labels[i], width)
		dots := strings.Repeat(".", width-utf8.RuneCountInString(label)+3)
		var mark, tail string
		switch c.Status {
		case StatusPass:
			mark = p.paint(ansiGreen, "✓")
		case StatusFail:
			mark = p.paint(ansiRed, "✗")
		default:
			mark = p.paint(ansiYellow, "↷")
		}
		switch {
		case c.Passes+c.Fails > 0:
			tail = fmt.Sprintf("%d/%d", c.Passes, c.Passes+c.Fails)
		case c.Status == StatusSkip:
			tail = "skipped"
		default:
			tail = fmtDuration(c.Duration.D().Round(time.Microsecond))
		}
		fmt.Fprintf(b, "    %s %s %s %s\n", mark, label, p.paint(ansiDim, dots), tail)
		if c.Status == StatusPass {
			continue
		}
		if c.Message != "" {
			msg := strings.Split(strings.TrimRight(c.Message, "\n"), "\n")
			for j, l := range msg {
				lead := "  "
				if j == 0 {
					lead = "↳ "
				}
				fmt.Fprintf(b, "      %s%s\n", p.paint(ansiDim, lead), clean(l))
			}
		}
		if c.Status != StatusFail || o.MaxEvidence < 0 {
			continue
		}
		for j, e := range c.Evidence {
			if j == o.MaxEvidence {
				fmt.Fprintf(b, "        … and %d more\n", len(c.Evidence)-j)
				break
			}
			fmt.Fprintf(b, "        %s\n", p.paint(ansiCyan, r.evidenceLine(e)))
		}
	}
	if hidden > 0 {
		fmt.Fprintf(b, "    %s\n", p.paint(ansiDim, fmt.Sprintf("(%d passed checks not listed)", hidden)))
	}
	rate := 100 * float64(passed) / float64(max(passed+failed, 1))
	fmt.Fprintf(b, "\n    checks%s %s %s passed, %s failed, %d skipped\n",
		p.paint(ansiDim, "......:"), trimFloat(rate, 2)+"%",
		p.paint(ansiGreen, "✓ "+strconv.Itoa(passed)), p.paint(ansiRed, "✗ "+strconv.Itoa(failed)), skipped)
}

func checkLabel(c Check) string {
	s := clean(c.Name)
	if s == "" {
		s = clean(c.ID)
	}
	if c.Section != "" {
		s += " §" + clean(c.Section)
	}
	return s
}

// evidenceLine renders one piece of evidence on one line.
func (r *Report) evidenceLine(e Evidence) string {
	var parts []string
	parts = append(parts, string(e.Kind))
	if e.Node != "" {
		parts = append(parts, "node "+clean(e.Node))
	}
	if e.Job != "" {
		parts = append(parts, "job "+clean(e.Job))
	}
	if !e.Time.IsZero() {
		parts = append(parts, "+"+trimFloat(r.Since(e.Time), 3)+"s")
	}
	s := strings.Join(parts, " · ")
	if e.Excerpt != "" {
		s += ": " + truncate(oneLine(e.Excerpt), 160)
	}
	return s
}

func (r *Report) summaryThresholds(b *strings.Builder, p painter) {
	if len(r.Thresholds) == 0 {
		return
	}
	section(b, p, "THRESHOLDS")
	last := ""
	for i, t := range r.Thresholds {
		if t.Metric != last {
			if i > 0 {
				b.WriteString("\n")
			}
			fmt.Fprintf(b, "    %s\n", clean(t.Metric))
			last = t.Metric
		}
		mark := p.paint(ansiGreen, "✓")
		if !t.OK {
			mark = p.paint(ansiRed, "✗")
		}
		obs := thresholdObserved(t)
		fmt.Fprintf(b, "    %s '%s' %s\n", mark, clean(t.Expression), obs)
	}
}

// thresholdObserved renders "p(95)=1.2s" from the expression's aggregation and the observed value.
func thresholdObserved(t Threshold) string {
	agg := strings.TrimSpace(t.Expression)
	if i := strings.IndexAny(agg, "<>=!"); i >= 0 {
		agg = strings.TrimSpace(agg[:i])
	}
	if t.NoData {
		return clean(agg) + "=no data"
	}
	v := fmtValue(t.Observed, t.Unit)
	if t.Unit == "" && (strings.HasPrefix(agg, "rate")) {
		v = trimFloat(100*t.Observed, 2) + "%"
	}
	return clean(agg) + "=" + v
}

func (r *Report) summaryLatency(b *strings.Builder, p painter) {
	if len(r.Metrics.Samples) == 0 {
		return
	}
	section(b, p, "LATENCY")
	rows := [][]string{{"", "count", "min", "p50", "p90", "p95", "p99", "max"}}
	for _, s := range r.Metrics.Samples {
		sm := s.Summary()
		row := []string{clean(s.Name), strconv.Itoa(sm.Count)}
		if sm.Count == 0 {
			row = append(row, "-", "-", "-", "-", "-", "-")
		} else {
			for _, v := range []float64{sm.Min, sm.P50, sm.P90, sm.P95, sm.P99, sm.Max} {
				row = append(row, fmtValue(v, s.Unit))
			}
		}
		rows = append(rows, row)
	}
	table(b, p, rows)
}

// table writes rows with the first column left-aligned and the others right-aligned; the first row
// is a header. Colour codes in cells take no width.
func table(b *strings.Builder, p painter, rows [][]string) { tableANSI(b, p, rows) }

func (r *Report) summaryJobs(b *strings.Builder, p painter) {
	if len(r.Metrics.Jobs) == 0 {
		return
	}
	section(b, p, "JOBS")
	counts := r.JobStatusCounts()
	statuses := make([]string, 0, len(counts))
	for s := range counts {
		statuses = append(statuses, s)
	}
	sort.Slice(statuses, func(i, j int) bool {
		if counts[statuses[i]] != counts[statuses[j]] {
			return counts[statuses[i]] > counts[statuses[j]]
		}
		return statuses[i] < statuses[j]
	})
	parts := make([]string, len(statuses))
	for i, s := range statuses {
		parts[i] = fmt.Sprintf("%d %s", counts[s], clean(s))
	}
	nodes := map[string]int{}
	for _, j := range r.Metrics.Jobs {
		for st, n := range j.Nodes {
			nodes[st] += n
		}
	}
	fmt.Fprintf(b, "    %s: %s\n", plural(len(r.Metrics.Jobs), "job"), strings.Join(parts, ", "))
	if len(nodes) > 0 {
		keys := make([]string, 0, len(nodes))
		for k := range nodes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		np := make([]string, len(keys))
		for i, k := range keys {
			np[i] = fmt.Sprintf("%d %s", nodes[k], clean(k))
		}
		fmt.Fprintf(b, "    node results: %s\n", strings.Join(np, ", "))
	}
}

func (r *Report) summaryHealth(b *strings.Builder, p painter) {
	h := r.Health
	if h.Nodes == 0 && h.HeartbeatsSent == 0 && len(h.Problems) == 0 && h.CPUPeak == 0 {
		return
	}
	section(b, p, "FLEET")
	fmt.Fprintf(b, "    nodes %d · heartbeats late %d/%d", h.Nodes, h.HeartbeatsLate, h.HeartbeatsSent)
	if h.HeartbeatsSent > 0 {
		fmt.Fprintf(b, " (%s%%)", trimFloat(100*float64(h.HeartbeatsLate)/float64(h.HeartbeatsSent), 2))
	}
	fmt.Fprintf(b, " · max lag %s\n", fmtDuration(h.MaxHeartbeatLag.D()))
	fmt.Fprintf(b, "    send queue full %d× (peak %d", h.SendQueueSaturations, h.SendQueuePeak)
	if h.SendQueueCap > 0 {
		fmt.Fprintf(b, " of %d", h.SendQueueCap)
	}
	fmt.Fprintf(b, ") · cpu peak %s%% mean %s%%\n", trimFloat(h.CPUPeak, 1), trimFloat(h.CPUMean, 1))
	for _, pr := range h.Problems {
		fmt.Fprintf(b, "    %s %s\n", p.paint(ansiYellow, "!"), clean(pr))
	}
}

// clean makes text from a server or a node safe to print on one line: control characters
// (which could move the cursor or change colours) and invalid UTF-8 are escaped.
func clean(s string) string { return cleanText(s, false) }

// cleanBlock is clean for text shown as a block: newlines and tabs are kept.
func cleanBlock(s string) string { return cleanText(s, true) }

func cleanText(s string, keepSpace bool) string {
	ok := true
	for _, c := range s {
		if c == utf8.RuneError || unicode.IsControl(c) && !(keepSpace && (c == '\n' || c == '\t')) || c == '\u2028' || c == '\u2029' {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for i, w := 0, 0; i < len(s); i += w {
		c, size := utf8.DecodeRuneInString(s[i:])
		w = size
		switch {
		case c == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case keepSpace && (c == '\n' || c == '\t'):
			b.WriteRune(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\r':
			b.WriteString(`\r`)
		case unicode.IsControl(c) || c == '\u2028' || c == '\u2029':
			if c < 0x100 {
				fmt.Fprintf(&b, `\x%02x`, c)
			} else {
				fmt.Fprintf(&b, `\u%04x`, c)
			}
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// oneLine is clean(s) with newlines shown as ⏎.
func oneLine(s string) string {
	return strings.ReplaceAll(clean(strings.TrimRight(s, "\n")), `\n`, "⏎")
}

// truncate shortens s to n runes, ending with … when cut.
func truncate(s string, n int) string {
	if n <= 0 || utf8.RuneCountInString(s) <= n {
		return s
	}
	rs := []rune(s)
	return string(rs[:n-1]) + "…"
}
