package simulator

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/pushlab/pushlab/reports"
	"github.com/pushlab/pushlab/scenarios"
)

// earlier is what --rerun-failed takes from an earlier run.
type earlier struct {
	scenario string
	seed     int64
	failed   map[string]bool // job names (load jobs by their own name and their template's)
}

var jobCheckID = regexp.MustCompile(`^job/([^/]+)/`)

// readEarlier reads an earlier run's result.json, or its report.json.
func readEarlier(path string) (*earlier, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var probe struct {
		Schema string `json:"schema"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	e := &earlier{failed: map[string]bool{}}
	switch probe.Schema {
	case ResultSchema:
		res, err := ReadResult(path)
		if err != nil {
			return nil, err
		}
		e.scenario, e.seed = res.Scenario, res.Seed
		for _, n := range res.FailedJobs() {
			e.failed[n] = true
		}
	case reports.Schema:
		rep, err := reports.Load(path)
		if err != nil {
			return nil, err
		}
		e.scenario, e.seed = rep.Scenario.Name, rep.Scenario.Seed
		for _, c := range rep.Failed() {
			if m := jobCheckID.FindStringSubmatch(c.ID); m != nil {
				e.failed[m[1]] = true
			}
		}
	default:
		return nil, fmt.Errorf("%s: schema %q is neither %q nor %q", path, probe.Schema, ResultSchema, reports.Schema)
	}
	return e, nil
}

// has reports whether a job (or load template) failed: a load job is named TEMPLATE-N.
func (e *earlier) has(name string) bool {
	if e.failed[name] {
		return true
	}
	for n := range e.failed {
		if base, num, ok := cutLast(n, "-"); ok && base == name && isDigits(num) {
			return true
		}
	}
	return false
}

func cutLast(s, sep string) (string, string, bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// rerunScenario keeps, of a scenario, what repeats the jobs that failed in an earlier run:
// every fleet, wait, sleep and fault step (so the schedule is the same), the failed jobs and
// loads, and the steps that refer to them.
func rerunScenario(s *scenarios.Scenario, path string) (*scenarios.Scenario, error) {
	prev, err := readEarlier(path)
	if err != nil {
		return nil, fmt.Errorf("%w: --rerun-failed: %v", ErrInvalid, err)
	}
	if prev.scenario != s.Metadata.Name {
		return nil, fmt.Errorf("%w: --rerun-failed: %s is a run of scenario %q, not %q", ErrInvalid, path, prev.scenario, s.Metadata.Name)
	}
	if len(prev.failed) == 0 {
		return nil, fmt.Errorf("%w: --rerun-failed: no job failed in %s", ErrInvalid, path)
	}
	out := *s
	out.Timeline = nil
	for _, st := range s.Timeline {
		switch {
		case st.Job != nil && !prev.has(st.Job.Name):
			continue
		case st.Load != nil && !prev.has(st.Load.Job.Name):
			continue
		case st.Wait != nil && st.Wait.For.Kind == scenarios.CondJob && !prev.has(st.Wait.For.Job):
			continue
		case st.Expect != nil && st.Expect.Job != "" && !prev.has(st.Expect.Job):
			continue
		}
		out.Timeline = append(out.Timeline, st)
	}
	return &out, nil
}
