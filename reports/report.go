package reports

import (
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"time"
)

// Schema names the version of the JSON report format. Load refuses any other value.
const Schema = "pushlab.report/v1"

// Verdict is the outcome of a run.
type Verdict string

// The verdicts. Each maps to one exit status of pushlab (see Verdict.ExitCode).
const (
	VerdictPass         Verdict = "pass"         // every check passed and every threshold held
	VerdictFail         Verdict = "fail"         // a check failed: the server did something the protocol forbids
	VerdictInconclusive Verdict = "inconclusive" // the harness cannot judge the server (e.g. the fleet lagged)
	VerdictThreshold    Verdict = "threshold"    // checks passed but a threshold was crossed
	VerdictInvalid      Verdict = "invalid"      // the scenario is invalid; nothing ran
	VerdictError        Verdict = "error"        // pushlab itself failed
)

// Exit statuses of pushlab run, one per verdict.
const (
	ExitPass         = 0
	ExitCheckFailed  = 1
	ExitInconclusive = 2
	ExitThreshold    = 3
	ExitInvalid      = 4
	ExitHarness      = 5
)

// ExitCode is the process exit status that goes with v; an unknown verdict is a harness error.
func (v Verdict) ExitCode() int {
	switch v {
	case VerdictPass:
		return ExitPass
	case VerdictFail:
		return ExitCheckFailed
	case VerdictInconclusive:
		return ExitInconclusive
	case VerdictThreshold:
		return ExitThreshold
	case VerdictInvalid:
		return ExitInvalid
	}
	return ExitHarness
}

// Status is the outcome of one check.
type Status string

// The check statuses.
const (
	StatusPass Status = "pass"
	StatusFail Status = "fail"
	StatusSkip Status = "skip"
)

// EvidenceKind says what a piece of evidence points at.
type EvidenceKind string

// The evidence kinds.
const (
	EvidenceNode    EvidenceKind = "node"    // a simulated node's state or behaviour
	EvidenceJob     EvidenceKind = "job"     // a job as the REST API showed it
	EvidenceEvent   EvidenceKind = "event"   // an SSE event as received
	EvidenceMessage EvidenceKind = "message" // a ZeroMQ message sent or received by a node
	EvidenceHTTP    EvidenceKind = "http"    // a REST request and its answer
)

// Names of the job latency phases (SampleSet names filled by AddLatency).
const (
	PhaseVoting  = "voting"  // from the job's creation to the end of voting
	PhaseRunning = "running" // from the end of voting to the job's final status
	PhaseTotal   = "total"   // from the job's creation to its final status
)

// SeriesEventsPerSecond is the series of SSE events received per second.
const SeriesEventsPerSecond = "events_per_second"

// Report is everything a run found, in a form that is written as JSON and rendered as a terminal
// summary, JUnit XML and HTML. Build it with NewReport and the Add methods, then call Finish.
// A Report is not safe for concurrent use.
type Report struct {
	Schema   string    `json:"schema"`
	Tool     Tool      `json:"tool"`
	Scenario Scenario  `json:"scenario"`
	Target   Target    `json:"target"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`

	Verdict Verdict `json:"verdict"`
	// ExitCode is Verdict.ExitCode(), kept for tools that read only the JSON.
	ExitCode int `json:"exit_code"`
	// Reason says in one line why the verdict is what it is.
	Reason string `json:"reason,omitempty"`
	// Error is the harness error that ended the run, if any.
	Error string `json:"error,omitempty"`

	Checks     []Check     `json:"checks"`
	Thresholds []Threshold `json:"thresholds"`
	Metrics    Metrics     `json:"metrics"`
	Health     Health      `json:"health"`
	Notes      []string    `json:"notes,omitempty"`
}

// Tool identifies the program that wrote the report.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Go      string `json:"go,omitempty"`
}

// Scenario identifies what ran.
type Scenario struct {
	Name        string `json:"name"`
	File        string `json:"file,omitempty"`
	Seed        int64  `json:"seed"`
	Description string `json:"description,omitempty"`
}

// Target kinds.
const (
	TargetEmbedded = "embedded" // the reference server pushlab started itself
	TargetURL      = "url"      // a server at a URL
	TargetImage    = "image"    // a container image pushlab started
)

// Target is the server under test.
type Target struct {
	Kind  string `json:"kind"`
	URL   string `json:"url,omitempty"`
	Org   string `json:"org,omitempty"`
	Image string `json:"image,omitempty"`
	// Server is what the server says it is (e.g. from /pushy/_status), when known.
	Server string `json:"server,omitempty"`
}

// String describes the target in a few words.
func (t Target) String() string {
	var s string
	switch t.Kind {
	case TargetEmbedded, "":
		s = "embedded reference server"
		if t.URL != "" {
			s += " at " + t.URL
		}
	case TargetImage:
		s = "image " + t.Image
		if t.URL != "" {
			s += " at " + t.URL
		}
	default:
		s = t.URL
	}
	if t.Org != "" {
		s += ", org " + t.Org
	}
	if t.Server != "" {
		s += " (" + t.Server + ")"
	}
	return s
}

// Check is the outcome of one rule checked during the run. A check may stand for many instances
// of the same rule (one per job, one per node): Passes and Fails then count them.
type Check struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Section is the protocol.md section the rule comes from, without the §: "5.4".
	Section  string     `json:"section,omitempty"`
	Status   Status     `json:"status"`
	Message  string     `json:"message,omitempty"`
	Duration Duration   `json:"duration"`
	Passes   int        `json:"passes,omitempty"`
	Fails    int        `json:"fails,omitempty"`
	Evidence []Evidence `json:"evidence,omitempty"`
}

// Evidence is the smallest piece of the history that shows why a check failed.
type Evidence struct {
	Kind    EvidenceKind `json:"kind"`
	Node    string       `json:"node,omitempty"`
	Job     string       `json:"job,omitempty"`
	Excerpt string       `json:"excerpt,omitempty"`
	Time    time.Time    `json:"time,omitzero"`
}

// Threshold is one k6-style threshold and what the run observed.
type Threshold struct {
	// Metric as written in the scenario, with its tag filter: job_duration{job:deploy}.
	Metric string `json:"metric"`
	// Expression as written: p(95)<2s.
	Expression string `json:"expression"`
	// Observed is the aggregated value, in Unit.
	Observed float64 `json:"observed"`
	// Unit is "ms" for durations (as in k6 thresholds), "" for plain numbers.
	Unit string `json:"unit,omitempty"`
	// NoData is set when the metric had no samples; Observed is then 0.
	NoData bool `json:"no_data,omitempty"`
	OK     bool `json:"ok"`
}

// Metrics are the measurements of a run. Times in series are seconds since the report's Start.
type Metrics struct {
	// NodeStates are the counts of nodes by state (online, available, offline, ...) over time.
	NodeStates []StateCounts `json:"node_states,omitempty"`
	// Faults are the windows in which faults were injected.
	Faults []Fault `json:"faults,omitempty"`
	// Samples are distributions: job latency per phase (voting, running, total) and any other.
	Samples []SampleSet `json:"samples,omitempty"`
	// Series are named time series: events per second and any other.
	Series []Series `json:"series,omitempty"`
	// Jobs summarises every job the run started.
	Jobs []JobSummary `json:"jobs,omitempty"`
}

// StateCounts is the number of nodes in each state at one time.
type StateCounts struct {
	T      float64        `json:"t"`
	Counts map[string]int `json:"counts"`
}

// Fault is one fault window: kind (crash, unavailable, skew, partition, server-restart, ...),
// the selector of the nodes it hit, and when. A zero End means it lasted to the end of the run.
type Fault struct {
	Kind     string    `json:"kind"`
	Selector string    `json:"selector,omitempty"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end,omitzero"`
}

// SampleSet is a named distribution of values.
type SampleSet struct {
	Name string `json:"name"`
	// Unit is "s" for durations in seconds.
	Unit string `json:"unit,omitempty"`
	// HigherIsBetter is set for throughputs; by default a larger value is a regression.
	HigherIsBetter bool `json:"higher_is_better,omitempty"`
	// Harness marks a measure of the harness itself (the simulated fleet's own lag): a
	// comparison shows it but never judges the server by it.
	Harness bool      `json:"harness,omitempty"`
	Values  []float64 `json:"values"`
	// RunMedians, set by Merge, are the medians of each merged run's values: the run-to-run
	// spread the comparison weighs a change against.
	RunMedians []float64 `json:"run_medians,omitempty"`
}

// Summary summarises the values.
func (s SampleSet) Summary() Summary { return Summarize(s.Values) }

// Series is a named time series.
type Series struct {
	Name   string  `json:"name"`
	Unit   string  `json:"unit,omitempty"`
	Points []Point `json:"points"`
}

// Point is one value at T seconds since the report's Start.
type Point struct {
	T float64 `json:"t"`
	V float64 `json:"v"`
}

// JobSummary is one job as the run last saw it.
type JobSummary struct {
	ID      string `json:"id"`
	Command string `json:"command"`
	Status  string `json:"status"`
	Quorum  int    `json:"quorum,omitempty"`
	// Nodes counts the job's nodes by their per-node status (succeeded, failed, crashed, ...).
	Nodes   map[string]int `json:"nodes"`
	Created time.Time      `json:"created,omitzero"`
	Voting  Duration       `json:"voting"`
	Running Duration       `json:"running"`
	Total   Duration       `json:"total"`
}

// NodeCount is the number of nodes the job was sent to.
func (j JobSummary) NodeCount() int {
	n := 0
	for _, c := range j.Nodes {
		n += c
	}
	return n
}

// Health is how well the harness itself kept up. Problems, when any, make the run inconclusive:
// an overloaded harness must never pass for a failing server.
type Health struct {
	Nodes                int      `json:"nodes"`
	HeartbeatsSent       int64    `json:"heartbeats_sent"`
	HeartbeatsLate       int64    `json:"heartbeats_late"`
	MaxHeartbeatLag      Duration `json:"max_heartbeat_lag"`
	SendQueueSaturations int64    `json:"send_queue_saturations"`
	SendQueuePeak        int      `json:"send_queue_peak"`
	SendQueueCap         int      `json:"send_queue_cap,omitempty"`
	// CPUPeak and CPUMean are the simulated fleet's CPU use (its processes, never the server's)
	// in percent of all cores: the highest one-second reading and the mean.
	CPUPeak float64 `json:"cpu_peak"`
	CPUMean float64 `json:"cpu_mean"`
	// Problems say why the harness cannot be trusted.
	Problems []string `json:"problems,omitempty"`
}

// HealthLimits are the bounds beyond which the harness is judged unhealthy.
type HealthLimits struct {
	MaxLateHeartbeatRatio float64       // share of heartbeats sent late
	MaxHeartbeatLag       time.Duration // the worst lag of one heartbeat
	MaxSendQueueSaturated int64         // times a send queue was full
	MaxCPUPeak            float64       // percent of all cores
}

// DefaultHealthLimits are the limits pushlab run applies unless told otherwise.
func DefaultHealthLimits() HealthLimits {
	return HealthLimits{MaxLateHeartbeatRatio: 0.01, MaxCPUPeak: 95}
}

// Judge appends a problem for each limit h crosses. A zero MaxHeartbeatLag or MaxCPUPeak is not
// checked; MaxLateHeartbeatRatio and MaxSendQueueSaturated always are (zero allows none).
func (h *Health) Judge(l HealthLimits) {
	if h.HeartbeatsSent > 0 {
		ratio := float64(h.HeartbeatsLate) / float64(h.HeartbeatsSent)
		if ratio > l.MaxLateHeartbeatRatio {
			h.Problems = append(h.Problems, fmt.Sprintf("%d of %d heartbeats (%.2f%%) were sent late; the limit is %.2f%%",
				h.HeartbeatsLate, h.HeartbeatsSent, 100*ratio, 100*l.MaxLateHeartbeatRatio))
		}
	}
	if l.MaxHeartbeatLag > 0 && h.MaxHeartbeatLag.D() > l.MaxHeartbeatLag {
		h.Problems = append(h.Problems, fmt.Sprintf("a heartbeat was %s late; the limit is %s",
			fmtDuration(h.MaxHeartbeatLag.D()), fmtDuration(l.MaxHeartbeatLag)))
	}
	if h.SendQueueSaturations > l.MaxSendQueueSaturated {
		h.Problems = append(h.Problems, fmt.Sprintf("node send queues were full %d times", h.SendQueueSaturations))
	}
	if l.MaxCPUPeak > 0 && h.CPUPeak > l.MaxCPUPeak {
		h.Problems = append(h.Problems, fmt.Sprintf("the harness used %.0f%% CPU at its peak; the limit is %.0f%%", h.CPUPeak, l.MaxCPUPeak))
	}
}

// DefaultTool describes this build of pushlab.
func DefaultTool() Tool {
	t := Tool{Name: "pushlab", Version: "dev", Go: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		t.Version = bi.Main.Version
	}
	return t
}

// NewReport starts a report of a run of sc against tg, starting now.
func NewReport(sc Scenario, tg Target) *Report {
	return &Report{
		Schema:     Schema,
		Tool:       DefaultTool(),
		Scenario:   sc,
		Target:     tg,
		Start:      time.Now().UTC(),
		Checks:     []Check{},
		Thresholds: []Threshold{},
	}
}

// Since is t as seconds since the report's start.
func (r *Report) Since(t time.Time) float64 { return t.Sub(r.Start).Seconds() }

// At is the time T seconds after the report's start.
func (r *Report) At(t float64) time.Time {
	return r.Start.Add(time.Duration(t * float64(time.Second)))
}

// Duration is how long the run took; zero before Finish.
func (r *Report) Duration() time.Duration {
	if r.End.IsZero() {
		return 0
	}
	return r.End.Sub(r.Start)
}

// AddCheck records a check. The section may be given with or without §; a check without an ID
// gets one made from its name; an unknown status is an error.
func (r *Report) AddCheck(c Check) error {
	switch c.Status {
	case StatusPass, StatusFail, StatusSkip:
	default:
		return fmt.Errorf("check %q: status %q must be pass, fail or skip", c.Name, c.Status)
	}
	c.Section = NormalizeSection(c.Section)
	if c.ID == "" {
		c.ID = slug(c.Name)
	}
	r.Checks = append(r.Checks, c)
	return nil
}

// Pass records a passed check.
func (r *Report) Pass(id, name, section string) {
	_ = r.AddCheck(Check{ID: id, Name: name, Section: section, Status: StatusPass})
}

// Skip records a check that did not run, and why.
func (r *Report) Skip(id, name, section, why string) {
	_ = r.AddCheck(Check{ID: id, Name: name, Section: section, Status: StatusSkip, Message: why})
}

// Fail records a failed check with its evidence.
func (r *Report) Fail(id, name, section, message string, ev ...Evidence) {
	_ = r.AddCheck(Check{ID: id, Name: name, Section: section, Status: StatusFail, Message: message, Evidence: ev})
}

// Check returns the check with this ID, if any.
func (r *Report) Check(id string) (Check, bool) {
	for _, c := range r.Checks {
		if c.ID == id {
			return c, true
		}
	}
	return Check{}, false
}

// Failed returns the checks that failed, in the order they were added.
func (r *Report) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Status == StatusFail {
			out = append(out, c)
		}
	}
	return out
}

// CheckCounts counts the checks by status.
func (r *Report) CheckCounts() (passed, failed, skipped int) {
	for _, c := range r.Checks {
		switch c.Status {
		case StatusPass:
			passed++
		case StatusFail:
			failed++
		default:
			skipped++
		}
	}
	return
}

// AddThreshold records a threshold and its observed value; NaN or an infinity means no data.
func (r *Report) AddThreshold(t Threshold) {
	if math.IsNaN(t.Observed) || math.IsInf(t.Observed, 0) {
		t.Observed, t.NoData = 0, true
	}
	r.Thresholds = append(r.Thresholds, t)
}

// AddNodeStates records the node counts by state at time at.
func (r *Report) AddNodeStates(at time.Time, counts map[string]int) {
	c := make(map[string]int, len(counts))
	for k, v := range counts {
		c[k] = v
	}
	r.Metrics.NodeStates = append(r.Metrics.NodeStates, StateCounts{T: r.Since(at), Counts: c})
}

// NodeStateNames lists the states that occur in NodeStates, well-known ones first.
func (r *Report) NodeStateNames() []string {
	seen := map[string]bool{}
	for _, s := range r.Metrics.NodeStates {
		for k := range s.Counts {
			seen[k] = true
		}
	}
	names := make([]string, 0, len(seen))
	for k := range seen {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		ri, rj := stateRank(names[i]), stateRank(names[j])
		if ri != rj {
			return ri < rj
		}
		return names[i] < names[j]
	})
	return names
}

var stateOrder = []string{"online", "available", "unavailable", "rehab", "busy", "offline", "crashed", "stopped"}

func stateRank(s string) int {
	for i, x := range stateOrder {
		if x == s {
			return i
		}
	}
	return len(stateOrder)
}

// AddFault records a fault window.
func (r *Report) AddFault(f Fault) { r.Metrics.Faults = append(r.Metrics.Faults, f) }

// AddSamples appends values to the named sample set, creating it with unit if it is new.
// NaN and infinite values are dropped.
func (r *Report) AddSamples(name, unit string, values ...float64) {
	s := r.sampleSet(name, unit)
	for _, v := range values {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			s.Values = append(s.Values, v)
		}
	}
}

// MarkHarness marks the named sample set as a measure of the harness, not of the server
// (see SampleSet.Harness); it does nothing when there is no such set.
func (r *Report) MarkHarness(name string) {
	for i := range r.Metrics.Samples {
		if r.Metrics.Samples[i].Name == name {
			r.Metrics.Samples[i].Harness = true
		}
	}
}

// AddLatency appends durations, in seconds, to the sample set of a job phase (PhaseVoting, ...).
func (r *Report) AddLatency(phase string, ds ...time.Duration) {
	s := r.sampleSet(phase, "s")
	for _, d := range ds {
		s.Values = append(s.Values, d.Seconds())
	}
}

func (r *Report) sampleSet(name, unit string) *SampleSet {
	for i := range r.Metrics.Samples {
		if r.Metrics.Samples[i].Name == name {
			return &r.Metrics.Samples[i]
		}
	}
	r.Metrics.Samples = append(r.Metrics.Samples, SampleSet{Name: name, Unit: unit, Values: []float64{}})
	return &r.Metrics.Samples[len(r.Metrics.Samples)-1]
}

// Samples returns the named sample set.
func (r *Report) Samples(name string) (SampleSet, bool) {
	for _, s := range r.Metrics.Samples {
		if s.Name == name {
			return s, true
		}
	}
	return SampleSet{}, false
}

// AddSeries adds a whole series, replacing one of the same name.
func (r *Report) AddSeries(s Series) {
	if s.Points == nil {
		s.Points = []Point{}
	}
	for i := range r.Metrics.Series {
		if r.Metrics.Series[i].Name == s.Name {
			r.Metrics.Series[i] = s
			return
		}
	}
	r.Metrics.Series = append(r.Metrics.Series, s)
}

// AddPoint appends the value v at time at to the named series, creating it with unit if new.
// A NaN or infinite value is dropped.
func (r *Report) AddPoint(series, unit string, at time.Time, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	for i := range r.Metrics.Series {
		if r.Metrics.Series[i].Name == series {
			r.Metrics.Series[i].Points = append(r.Metrics.Series[i].Points, Point{T: r.Since(at), V: v})
			return
		}
	}
	r.Metrics.Series = append(r.Metrics.Series, Series{Name: series, Unit: unit, Points: []Point{{T: r.Since(at), V: v}}})
}

// Series returns the named series.
func (r *Report) Series(name string) (Series, bool) {
	for _, s := range r.Metrics.Series {
		if s.Name == name {
			return s, true
		}
	}
	return Series{}, false
}

// AddJob records a job's summary.
func (r *Report) AddJob(j JobSummary) { r.Metrics.Jobs = append(r.Metrics.Jobs, j) }

// JobStatusCounts counts the jobs by status.
func (r *Report) JobStatusCounts() map[string]int {
	m := map[string]int{}
	for _, j := range r.Metrics.Jobs {
		m[j.Status]++
	}
	return m
}

// Note adds a free-form note.
func (r *Report) Note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// SetError records the harness error that ended the run; Finish then gives the error verdict.
func (r *Report) SetError(err error) {
	if err != nil {
		r.Error = err.Error()
	}
}

// Finish sets the end time and decides the verdict and exit code.
func (r *Report) Finish(end time.Time) {
	r.End = end.UTC()
	r.Decide()
}

// Decide sets Verdict, ExitCode and Reason from what the report holds, in this order:
// an invalid scenario stays invalid; a harness error; harness health problems (inconclusive: an
// overloaded harness must not pass for a failing server); a failed check; a crossed threshold;
// otherwise pass.
func (r *Report) Decide() Verdict {
	passed, failed, skipped := r.CheckCounts()
	var crossed []string
	for _, t := range r.Thresholds {
		if !t.OK {
			crossed = append(crossed, t.Metric+" "+t.Expression)
		}
	}
	switch {
	case r.Verdict == VerdictInvalid:
		if r.Reason == "" {
			r.Reason = "the scenario is invalid"
			if r.Error != "" {
				r.Reason += ": " + firstLine(r.Error)
			}
		}
	case r.Error != "":
		r.Verdict, r.Reason = VerdictError, "harness error: "+firstLine(r.Error)
	case len(r.Health.Problems) > 0:
		r.Verdict, r.Reason = VerdictInconclusive, "the harness could not keep up: "+r.Health.Problems[0]
		if n := len(r.Health.Problems); n > 1 {
			r.Reason += fmt.Sprintf(" (and %d more)", n-1)
		}
	case failed > 0:
		r.Verdict = VerdictFail
		r.Reason = fmt.Sprintf("%d of %d checks failed", failed, passed+failed)
	case len(crossed) > 0:
		r.Verdict = VerdictThreshold
		r.Reason = plural(len(crossed), "threshold") + " crossed: " + strings.Join(crossed, ", ")
	default:
		r.Verdict = VerdictPass
		r.Reason = fmt.Sprintf("%s passed", plural(passed, "check"))
		if skipped > 0 {
			r.Reason += fmt.Sprintf(", %d skipped", skipped)
		}
		if n := len(r.Thresholds); n > 0 {
			r.Reason += fmt.Sprintf(", %s held", plural(n, "threshold"))
		}
	}
	r.ExitCode = r.Verdict.ExitCode()
	return r.Verdict
}

// NormalizeSection strips a leading § and spaces from a protocol.md section reference.
func NormalizeSection(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "§")
	return strings.TrimSpace(s)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// slug turns a name into an identifier: lower case letters, digits and dashes.
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(s) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}
