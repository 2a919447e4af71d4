package reports

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/pushlab/pushlab/reports/plot"
)

// The HTML report is one self-contained file: CSS, script and SVG plots are inline and nothing is
// fetched from the network (a Content-Security-Policy forbids it). It reads fully without
// JavaScript; the script only adds buttons to filter checks and open or close details.

//go:embed assets/report.html.tmpl
var reportTemplate string

//go:embed assets/style.css
var styleCSS string

//go:embed assets/script.js
var scriptJS string

// csp forbids every fetch: the report must render from the file alone.
const csp = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"

// maxHTMLEvidence and maxHTMLJobs bound the size of the page; the JSON report has everything.
const (
	maxHTMLEvidence = 25
	maxHTMLJobs     = 300
)

var funcs = template.FuncMap{
	"dur": func(d Duration) string { return fmtDuration(d.D().Round(time.Microsecond)) },
	"durOrNot": func(d Duration) string {
		if d == 0 {
			return ""
		}
		return fmtDuration(d.D().Round(time.Microsecond))
	},
	"secs":    fmtSeconds,
	"value":   fmtValue,
	"upper":   func(v any) string { return strings.ToUpper(fmt.Sprint(v)) },
	"plural":  plural,
	"percent": func(a, b int) string { return trimFloat(100*float64(a)/float64(max(b, 1)), 2) + "%" },
	"clock": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04:05.000Z")
	},
	"percent64": func(a, b int64) string {
		return trimFloat(100*float64(a)/float64(max(b, 1)), 2) + "%"
	},
	"observed": thresholdObserved,
	"text":     cleanBlock,
}

var pageTemplate = template.Must(template.New("report").Funcs(funcs).Parse(reportTemplate))

// htmlView is what the template renders.
type htmlView struct {
	R          *Report
	CSP        string
	CSS        template.CSS
	JS         template.JS
	Passed     int
	Failed     int
	Skipped    int
	Crossed    int
	Checks     []htmlCheck
	Plots      []htmlPlot
	Histograms []htmlPlot
	Latency    []htmlLatency
	Faults     []htmlFault
	Jobs       []JobSummary
	JobsHidden int
	JobCounts  string
	Generated  string
}

type htmlCheck struct {
	Check
	Label    string
	Counts   string
	Evidence []htmlEvidence
	Hidden   int
}

type htmlEvidence struct {
	Evidence
	At string
}

type htmlPlot struct {
	ID, Title, Caption string
	SVG                template.HTML
}

type htmlLatency struct {
	Name string
	Unit string
	S    Summary
}

type htmlFault struct {
	Fault
	From, To string
}

// WriteHTML writes the report as one self-contained HTML page.
func (r *Report) WriteHTML(w io.Writer) error {
	v := htmlView{R: r, CSP: csp, CSS: template.CSS(styleCSS), JS: template.JS(scriptJS)}
	v.Passed, v.Failed, v.Skipped = r.CheckCounts()
	for _, t := range r.Thresholds {
		if !t.OK {
			v.Crossed++
		}
	}
	v.Checks = r.htmlChecks()
	v.Plots, v.Histograms = r.htmlPlots()
	for _, s := range r.Metrics.Samples {
		v.Latency = append(v.Latency, htmlLatency{Name: s.Name, Unit: s.Unit, S: s.Summary()})
	}
	for _, f := range r.Metrics.Faults {
		hf := htmlFault{Fault: f, From: "+" + fmtSeconds(r.Since(f.Start)), To: "end"}
		if !f.End.IsZero() {
			hf.To = "+" + fmtSeconds(r.Since(f.End))
		}
		v.Faults = append(v.Faults, hf)
	}
	v.Jobs = r.Metrics.Jobs
	if len(v.Jobs) > maxHTMLJobs {
		v.JobsHidden = len(v.Jobs) - maxHTMLJobs
		v.Jobs = v.Jobs[:maxHTMLJobs]
	}
	if len(r.Metrics.Jobs) > 0 {
		counts := r.JobStatusCounts()
		keys := make([]string, 0, len(counts))
		for k := range counts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%d %s", counts[k], k)
		}
		v.JobCounts = strings.Join(parts, ", ")
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, v); err != nil {
		return fmt.Errorf("render html report: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// htmlChecks orders the checks failed, skipped, passed (stable within each).
func (r *Report) htmlChecks() []htmlCheck {
	rank := map[Status]int{StatusFail: 0, StatusSkip: 1, StatusPass: 2}
	cs := append([]Check(nil), r.Checks...)
	sort.SliceStable(cs, func(i, j int) bool { return rank[cs[i].Status] < rank[cs[j].Status] })
	out := make([]htmlCheck, 0, len(cs))
	for _, c := range cs {
		hc := htmlCheck{Check: c, Label: c.Name}
		if hc.Label == "" {
			hc.Label = c.ID
		}
		if c.Passes+c.Fails > 0 {
			hc.Counts = fmt.Sprintf("%d/%d", c.Passes, c.Passes+c.Fails)
		}
		ev := c.Evidence
		if len(ev) > maxHTMLEvidence {
			hc.Hidden = len(ev) - maxHTMLEvidence
			ev = ev[:maxHTMLEvidence]
		}
		for _, e := range ev {
			he := htmlEvidence{Evidence: e}
			if !e.Time.IsZero() {
				he.At = "+" + trimFloat(r.Since(e.Time), 3) + "s"
			}
			hc.Evidence = append(hc.Evidence, he)
		}
		out = append(out, hc)
	}
	return out
}

// stateColors gives the usual node states fixed colours across reports.
var stateColors = map[string]string{
	"online":      "#2f7ed8",
	"available":   "#16a34a",
	"unavailable": "#d97706",
	"rehab":       "#ca8a04",
	"busy":        "#7c3aed",
	"offline":     "#64748b",
	"crashed":     "#dc2626",
	"stopped":     "#334155",
}

// faultBands turns the fault windows into shaded bands of a time chart.
func (r *Report) faultBands() []plot.Band {
	var bands []plot.Band
	for _, f := range r.Metrics.Faults {
		to := r.Duration().Seconds()
		if !f.End.IsZero() {
			to = r.Since(f.End)
		}
		title := f.Kind
		if f.Selector != "" {
			title += " " + f.Selector
		}
		title += fmt.Sprintf(" (+%s → +%s)", fmtSeconds(r.Since(f.Start)), fmtSeconds(to))
		bands = append(bands, plot.Band{Label: f.Kind, Title: title, From: r.Since(f.Start), To: to})
	}
	return bands
}

// htmlPlots draws the node states, events per second and every other series over time, and a
// histogram of each sample set.
func (r *Report) htmlPlots() (plots, histograms []htmlPlot) {
	timeFmt := func(v float64) string { return fmtSeconds(v) }
	bands := r.faultBands()
	if len(r.Metrics.NodeStates) > 0 {
		states := r.NodeStateNames()
		var series []plot.Series
		for i, st := range states {
			s := plot.Series{Name: st, Color: stateColors[st]}
			if s.Color == "" {
				s.Color = plot.Palette(i + 3)
			}
			for _, sc := range r.Metrics.NodeStates {
				s.Points = append(s.Points, plot.Point{X: sc.T, Y: float64(sc.Counts[st])})
			}
			series = append(series, s)
		}
		c := plot.Chart{ID: "node-states", Title: "Node states over time", XLabel: "time since start", YLabel: "nodes",
			FormatX: timeFmt, FormatY: fmtNumber, Series: series, Bands: bands, Step: true}
		plots = append(plots, htmlPlot{ID: c.ID, Title: c.Title, SVG: template.HTML(c.SVG()),
			Caption: "Nodes in each state as the harness saw them; shaded windows are injected faults."})
	}
	for _, s := range r.Metrics.Series {
		id := "series-" + slugOr(s.Name, "series")
		title := s.Name
		caption := ""
		fill := false
		if s.Name == SeriesEventsPerSecond {
			id, title, fill = "events-per-second", "SSE events per second", true
			caption = "Events received on the job and org feeds, per second."
		}
		pts := make([]plot.Point, len(s.Points))
		for i, p := range s.Points {
			pts[i] = plot.Point{X: p.T, Y: p.V}
		}
		unit := s.Unit
		formatY := fmtNumber
		if unit == "s" || unit == "ms" {
			formatY = func(v float64) string { return fmtValue(v, unit) }
		}
		c := plot.Chart{ID: id, Title: title, XLabel: "time since start", YLabel: unit,
			FormatX: timeFmt, FormatY: formatY,
			Series: []plot.Series{{Name: s.Name, Points: pts, Color: plot.Palette(0)}}, Bands: bands, Fill: fill}
		plots = append(plots, htmlPlot{ID: id, Title: title, SVG: template.HTML(c.SVG()), Caption: caption})
	}
	for i, s := range r.Metrics.Samples {
		sm := s.Summary()
		unit := s.Unit
		h := plot.Histogram{ID: "latency-" + slugOr(s.Name, "samples"), Title: "Latency: " + s.Name,
			XLabel: s.Name, FormatX: func(v float64) string { return fmtValue(v, unit) }, Values: s.Values, Color: plot.Palette(i)}
		if sm.Count > 0 {
			h.Markers = []plot.Marker{{Label: "p50", X: sm.P50}, {Label: "p90", X: sm.P90}, {Label: "p99", X: sm.P99}}
		}
		caption := fmt.Sprintf("%d samples", sm.Count)
		if sm.Count > 0 {
			caption += fmt.Sprintf("; p50 %s, p90 %s, p95 %s, p99 %s, max %s",
				fmtValue(sm.P50, unit), fmtValue(sm.P90, unit), fmtValue(sm.P95, unit), fmtValue(sm.P99, unit), fmtValue(sm.Max, unit))
		}
		histograms = append(histograms, htmlPlot{ID: h.ID, Title: h.Title, SVG: template.HTML(h.SVG()), Caption: caption})
	}
	return plots, histograms
}
