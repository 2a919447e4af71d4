package framework

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/onsi/ginkgo/v2/reporters"
	"github.com/onsi/ginkgo/v2/types"
)

// The verdicts of a spec.
const (
	VerdictPass      = "pass"
	VerdictNonStrict = "non-strict"
	VerdictFail      = "fail"
	VerdictSkip      = "skip"
	// VerdictInconclusive is a failure during which the harness itself stalled.
	VerdictInconclusive = "inconclusive"
)

// SpecResult is one spec's outcome, with what the catalogue says of it.
type SpecResult struct {
	Name       string        `json:"name"`
	Verdict    string        `json:"verdict"`
	State      string        `json:"state"`
	Labels     []string      `json:"labels,omitempty"`
	Section    string        `json:"section,omitempty"`
	Must       string        `json:"must,omitempty"`
	Supersedes string        `json:"supersedes,omitempty"`
	Message    string        `json:"message,omitempty"` // failure, skip reason or non-strict reading
	Location   string        `json:"location,omitempty"`
	Duration   time.Duration `json:"duration"`
}

// Results is a whole run.
type Results struct {
	Passed bool `json:"passed"`
	// SetupFailed is set when a suite-level node failed (the target could not be reached or
	// started): the specs did not judge the server.
	SetupFailed bool          `json:"setup_failed,omitempty"`
	Duration    time.Duration `json:"duration"`
	Specs       []SpecResult  `json:"specs"`
}

// Count returns how many specs have this verdict.
func (r Results) Count(verdict string) int {
	n := 0
	for _, s := range r.Specs {
		if s.Verdict == verdict {
			n++
		}
	}
	return n
}

// Failed lists the failed specs.
func (r Results) Failed() []SpecResult {
	var out []SpecResult
	for _, s := range r.Specs {
		if s.Verdict == VerdictFail {
			out = append(out, s)
		}
	}
	return out
}

// ResultsFromReport turns a Ginkgo report into results, looking every spec up in the catalogue.
func ResultsFromReport(r types.Report) Results {
	res := Results{Duration: r.RunTime}
	for _, s := range r.SpecReports {
		if s.LeafNodeType != types.NodeTypeIt {
			if s.State.Is(types.SpecStateFailureStates) {
				res.SetupFailed = true
				res.Specs = append(res.Specs, SpecResult{Name: "[" + s.LeafNodeType.String() + "] " + s.LeafNodeText, Verdict: VerdictFail,
					State: s.State.String(), Message: s.Failure.Message, Location: s.Failure.Location.String(), Duration: s.RunTime})
			}
			continue
		}
		sr := SpecResult{Name: s.FullText(), State: s.State.String(), Labels: s.Labels(), Location: s.LeafNodeLocation.String(), Duration: s.RunTime}
		if e, ok := Lookup(s.ContainerHierarchyTexts, s.LeafNodeText); ok {
			sr.Section, sr.Must, sr.Supersedes = e.Section, e.Must, e.Supersedes
		}
		switch {
		case s.State.Is(types.SpecStateFailureStates):
			sr.Verdict = VerdictFail
			sr.Message = firstLines(s.Failure.Message, 6)
			sr.Location = s.Failure.Location.String()
			for _, e := range s.ReportEntries {
				if e.Name == InconclusiveEntry {
					sr.Verdict = VerdictInconclusive
					sr.Message = e.StringRepresentation() + "\n" + sr.Message
				}
			}
		case s.State == types.SpecStateSkipped || s.State == types.SpecStatePending:
			sr.Verdict = VerdictSkip
			sr.Message = firstLines(s.Failure.Message, 2)
		default:
			sr.Verdict = VerdictPass
			for _, e := range s.ReportEntries {
				if e.Name == NonStrictEntry {
					sr.Verdict = VerdictNonStrict
					sr.Message = e.StringRepresentation()
				}
			}
		}
		res.Specs = append(res.Specs, sr)
	}
	res.Passed = res.Count(VerdictFail) == 0
	return res
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = append(lines[:n], "…")
	}
	return strings.Join(lines, "\n")
}

// Summary is the end-of-run text: counts, every failure with the protocol.md section it
// breaks, every non-strict verdict.
func (r Results) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Conformance: %d passed, %d non-strict, %d failed, %d inconclusive, %d skipped in %s\n",
		r.Count(VerdictPass), r.Count(VerdictNonStrict), r.Count(VerdictFail), r.Count(VerdictInconclusive), r.Count(VerdictSkip), r.Duration.Round(time.Millisecond))
	failed := r.Failed()
	if len(failed) > 0 {
		bySection := map[string]int{}
		for _, f := range failed {
			bySection[sectionOr(f.Section)]++
		}
		secs := make([]string, 0, len(bySection))
		for s, n := range bySection {
			secs = append(secs, fmt.Sprintf("%s (%d)", s, n))
		}
		sort.Strings(secs)
		fmt.Fprintf(&b, "\nFailures by protocol.md section: %s\n", strings.Join(secs, ", "))
		for _, f := range failed {
			fmt.Fprintf(&b, "\nFAIL %s\n  section:    %s\n", f.Name, sectionOr(f.Section))
			if f.Must != "" {
				fmt.Fprintf(&b, "  must:       %s\n", f.Must)
			}
			if f.Supersedes != "" {
				fmt.Fprintf(&b, "  supersedes: %s\n", f.Supersedes)
			}
			fmt.Fprintf(&b, "  at:         %s\n  %s\n", f.Location, strings.ReplaceAll(f.Message, "\n", "\n  "))
		}
	}
	for _, s := range r.Specs {
		switch s.Verdict {
		case VerdictNonStrict:
			fmt.Fprintf(&b, "\nNON-STRICT %s\n  %s\n", s.Name, s.Message)
		case VerdictInconclusive:
			fmt.Fprintf(&b, "\nINCONCLUSIVE %s\n  section: %s\n  %s\n", s.Name, sectionOr(s.Section), strings.ReplaceAll(s.Message, "\n", "\n  "))
		}
	}
	return b.String()
}

func sectionOr(s string) string {
	if s == "" {
		return "(no section)"
	}
	return s
}

// Report file names inside the report directory.
const (
	JUnitFile   = "junit.xml"
	JSONFile    = "conformance.json" // Ginkgo's JSON report
	ResultsFile = "results.json"     // Results
	SummaryFile = "summary.txt"
)

// WriteReports writes JUnit, Ginkgo JSON, the results and the summary into dir.
func WriteReports(r types.Report, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	res := ResultsFromReport(r)
	var errs []error
	errs = append(errs, reporters.GenerateJUnitReport(r, filepath.Join(dir, JUnitFile)))
	errs = append(errs, reporters.GenerateJSONReport(r, filepath.Join(dir, JSONFile)))
	b, err := json.MarshalIndent(res, "", "  ")
	errs = append(errs, err)
	errs = append(errs, os.WriteFile(filepath.Join(dir, ResultsFile), b, 0o644))
	errs = append(errs, os.WriteFile(filepath.Join(dir, SummaryFile), []byte(res.Summary()), 0o644))
	return errors.Join(errs...)
}

// ReadResults reads the results a run wrote into dir.
func ReadResults(dir string) (Results, error) {
	var res Results
	b, err := os.ReadFile(filepath.Join(dir, ResultsFile))
	if err != nil {
		return res, err
	}
	return res, json.Unmarshal(b, &res)
}

var (
	lastMu      sync.Mutex
	lastResults *Results
	lastErr     error
)

// Finish is the suite's ReportAfterSuite: it writes the reports when a report directory is
// set, prints the summary and keeps the results for Run.
func Finish(r types.Report) {
	if r.SuiteConfig.DryRun {
		return // a preview
	}
	setupMu.Lock()
	dir := pending.ReportDir
	setupMu.Unlock()
	res := ResultsFromReport(r)
	var err error
	if dir != "" {
		err = WriteReports(r, dir)
	}
	fmt.Fprint(os.Stdout, "\n"+res.Summary())
	lastMu.Lock()
	lastResults, lastErr = &res, err
	lastMu.Unlock()
}

// LastResults are the results Finish kept, and any error writing the reports.
func LastResults() (Results, error) {
	lastMu.Lock()
	defer lastMu.Unlock()
	if lastResults == nil {
		return Results{}, errors.New("the suite did not report")
	}
	return *lastResults, lastErr
}
