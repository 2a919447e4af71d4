package simulator

import (
	"io"
	"log/slog"
	"time"

	"github.com/pushlab/pushlab/reports"
)

// Options tune one run. The zero value runs the scenario as written against an in-process
// reference server, with its report in a new temporary directory and no progress output.
type Options struct {
	// Seed, when set, replaces the scenario's seed.
	Seed *int64
	// ReportDir receives the history, the schedule, the server's data and log, and the
	// reports; created when missing. Empty: a new directory under the system's temp dir.
	ReportDir string
	// Progress receives progress lines and, when Terminal is set, live progress bars.
	Progress io.Writer
	Terminal bool
	// Log receives the harness's own log (nil: discarded).
	Log *slog.Logger
	// ServerBinary is a pushlab executable: the embedded server then runs as a child process
	// (`pushlab server`), which serverPause and a real kill need. Empty: the server runs in
	// this process, where serverPause is refused before anything starts.
	ServerBinary string
	// ServerArgs are further `pushlab server` flags for an embedded server run as a child
	// process or from an image (a mutant, for example).
	ServerArgs []string
	// WorkerBinary is a pushlab executable for worker processes that carry the simulated
	// nodes when they are more than one process can hold (file descriptors). Empty: every node
	// runs in this process, and a fleet too large for it is a harness error.
	WorkerBinary string
	// Scale multiplies every group's node count (and fault counts, load samples and event
	// counts derived from them); 0 or 1 runs the scenario as written.
	Scale float64
	// RerunFailed is the path of an earlier run's result.json: only the jobs that failed a
	// check there run again, with that run's seed (unless Seed is set).
	RerunFailed string
	// PerProcess bounds the nodes one process runs before worker processes are used
	// (default: what the open-file limit allows).
	PerProcess int
	// NodeKeyFile keeps the key the nodes' clients share on a server given by URL, which
	// keeps registered clients from one run to the next (default pushlab-fleet-nodes.pem,
	// shared with pushlab fleet; created when missing).
	NodeKeyFile string
}

// Verdicts of a run.
const (
	VerdictPass         = "pass"
	VerdictFail         = "fail"
	VerdictInconclusive = "inconclusive"
	VerdictThreshold    = "threshold"
	VerdictInvalid      = "invalid"
	VerdictError        = "error"
)

// ResultSchema is the version of result.json.
const ResultSchema = "pushlab.run/v1"

// Result is what a run found. It is written to the report dir as result.json.
type Result struct {
	Schema   string    `json:"schema"`
	Scenario string    `json:"scenario"`
	File     string    `json:"file"`
	Seed     int64     `json:"seed"`
	Scale    float64   `json:"scale,omitempty"`
	Target   string    `json:"target"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Verdict  string    `json:"verdict"`
	ExitCode int       `json:"exit_code"`
	// Error is the harness error or the reason the scenario is invalid.
	Error      string            `json:"error,omitempty"`
	Checks     []Check           `json:"checks"`
	Thresholds []ThresholdResult `json:"thresholds"`
	Jobs       []JobSummary      `json:"jobs"`
	Faults     []FaultWindow     `json:"faults"`
	// NodeStates is the server's node availability over time, sampled each second.
	NodeStates []NodeStateSample `json:"node_states,omitempty"`
	// Metrics summarises every trend metric recorded (milliseconds for time trends).
	Metrics map[string]MetricSummary `json:"metrics,omitempty"`
	// FleetHealth lists why the simulated fleet itself may have limited the run.
	FleetHealth []string `json:"fleet_health,omitempty"`
	Notes       []string `json:"notes,omitempty"`
	// Files are the run's files, by role (history, schedule, result, server_log, ...).
	Files map[string]string `json:"files,omitempty"`

	// Report is the result in the report model (reports), as the report files hold it.
	Report *reports.Report `json:"-"`
}

// Check statuses.
const (
	CheckPass = "pass"
	CheckFail = "fail"
	CheckSkip = "skip"
)

// Check is one verified property of the run.
type Check struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Section  string     `json:"section,omitempty"` // protocol.md section
	Status   string     `json:"status"`
	Message  string     `json:"message,omitempty"`
	Job      string     `json:"job,omitempty"` // scenario job name
	JobID    string     `json:"job_id,omitempty"`
	Evidence []Evidence `json:"evidence,omitempty"`
	// Inconclusive marks a failure that the harness itself may have caused.
	Inconclusive bool `json:"inconclusive,omitempty"`
}

// Evidence is the minimal witness of a failure.
type Evidence struct {
	Kind    string  `json:"kind"` // node, job, event, message, http
	Node    string  `json:"node,omitempty"`
	Job     string  `json:"job,omitempty"`
	Excerpt string  `json:"excerpt"`
	T       float64 `json:"t,omitempty"` // seconds since the start of the run
}

// ThresholdResult is one threshold expression evaluated at the end of the run.
type ThresholdResult struct {
	Metric     string  `json:"metric"` // as written, with tags
	Expression string  `json:"expression"`
	Observed   float64 `json:"observed"`
	Samples    int     `json:"samples"`
	OK         bool    `json:"ok"`
	Note       string  `json:"note,omitempty"`
}

// JobSummary is one job of the run.
type JobSummary struct {
	Name       string         `json:"name"`
	Template   string         `json:"template,omitempty"` // load template
	ID         string         `json:"id,omitempty"`
	Command    string         `json:"command"`
	Nodes      int            `json:"nodes"`
	Quorum     int            `json:"quorum"`
	Status     string         `json:"status"`
	NodeCounts map[string]int `json:"node_counts,omitempty"`
	Created    float64        `json:"created"` // seconds since the start of the run
	Voting     float64        `json:"voting_seconds,omitempty"`
	Running    float64        `json:"running_seconds,omitempty"`
	Total      float64        `json:"total_seconds,omitempty"`
	Events     int            `json:"events"`
	Failed     bool           `json:"failed,omitempty"` // a check about the job failed
	Error      string         `json:"error,omitempty"`
}

// FaultWindow is one injected fault.
type FaultWindow struct {
	Name     string   `json:"name,omitempty"`
	Kind     string   `json:"kind"`
	Selector string   `json:"selector,omitempty"`
	Nodes    int      `json:"nodes,omitempty"`
	Victims  []string `json:"victims,omitempty"`
	Start    float64  `json:"start"`
	End      float64  `json:"end"`
}

// NodeStateSample is the server's view of the fleet at one moment.
type NodeStateSample struct {
	T           float64 `json:"t"`
	Available   int     `json:"available"`
	Unavailable int     `json:"unavailable"`
	FleetOnline int     `json:"fleet_online"`
}

// MetricSummary aggregates a trend.
type MetricSummary struct {
	Count int     `json:"count"`
	Avg   float64 `json:"avg"`
	Min   float64 `json:"min"`
	Med   float64 `json:"med"`
	P90   float64 `json:"p90"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// FailedJobs lists the names of the jobs a check failed for (load jobs by their template).
func (r *Result) FailedJobs() []string {
	seen := map[string]bool{}
	var out []string
	add := func(name string) {
		if name != "" && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	for _, j := range r.Jobs {
		if j.Failed {
			if j.Template != "" {
				add(j.Template)
			} else {
				add(j.Name)
			}
		}
	}
	return out
}
