package gate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/pushlab/pushlab/reports"
	"github.com/pushlab/pushlab/scenarios"
	"github.com/pushlab/pushlab/simulator"
)

// ErrInvalid wraps problems found before anything ran: sides given twice or not at all, an
// invalid scenario.
var ErrInvalid = errors.New("invalid gate")

// ErrInconclusive is returned when a run stayed inconclusive (the simulated fleet itself
// lagged) after its retry: the machine, not a server, limited it, so nothing is judged.
var ErrInconclusive = errors.New("inconclusive")

// Side is one side of the comparison: the reports of earlier runs, or a server to run the
// scenario against, started from a pushlab binary (`BINARY server ...` as a child process) or
// from a container image.
type Side struct {
	Name    string   // "baseline" or "candidate"
	Reports []string // report.json files
	Binary  string
	Image   string
	// ServerArgs are further arguments of the server's command (binary or image).
	ServerArgs []string
}

// Runs reports whether the side is run rather than read.
func (s Side) Runs() bool { return s.Binary != "" || s.Image != "" }

func (s Side) String() string {
	switch {
	case s.Image != "":
		return "image " + s.Image
	case s.Binary != "":
		return "binary " + s.Binary
	}
	return fmt.Sprintf("%d report(s)", len(s.Reports))
}

func (s Side) validate() error {
	n := 0
	for _, set := range []bool{len(s.Reports) > 0, s.Binary != "", s.Image != ""} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		return fmt.Errorf("the %s is missing: give its reports, a binary or an image", s.Name)
	case n > 1:
		return fmt.Errorf("the %s is given more than once: give its reports, a binary or an image", s.Name)
	case len(s.ServerArgs) > 0 && !s.Runs():
		return fmt.Errorf("server arguments of the %s need a binary or an image to run", s.Name)
	}
	return nil
}

// Plan says how the sides that run are run.
type Plan struct {
	// Load returns a fresh copy of the scenario (each run gets its own).
	Load func() (*scenarios.Scenario, error)
	// Runs is how many times each running side runs the scenario (default 3).
	Runs int
	// Seed is the first run's seed; run i uses Seed+i-1 on both sides, so each baseline run has
	// a candidate run with the same schedule.
	Seed int64
	// Scale multiplies the scenario's fleet (0 or 1: as written).
	Scale float64
	// ReportDir receives each run's reports in SIDE-I/.
	ReportDir string
	// WorkerBinary carries simulated nodes in worker processes when one process cannot hold them.
	WorkerBinary string
	// Progress receives a line per run (nil: none).
	Progress io.Writer
}

// Run is one carried-out run.
type Run struct {
	Side     string        `json:"side"`
	Index    int           `json:"index"`
	Seed     int64         `json:"seed"`
	Dir      string        `json:"dir"`
	Verdict  string        `json:"verdict"`
	ExitCode int           `json:"exit_code"`
	Took     time.Duration `json:"took"`
	Retried  bool          `json:"retried,omitempty"`
}

// Outcome is both sides' reports, ready for reports.Merge and reports.Compare.
type Outcome struct {
	Baseline  []*reports.Report
	Candidate []*reports.Report
	Runs      []Run
}

// Validate checks the sides and the plan before anything runs.
func Validate(p Plan, base, cand Side) error {
	var errs []error
	for _, s := range []Side{base, cand} {
		if err := s.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	running := base.Runs() || cand.Runs()
	switch {
	case running && p.Load == nil:
		errs = append(errs, errors.New("a side that runs needs a scenario"))
	case !running && p.Load != nil:
		errs = append(errs, errors.New("a scenario is given but neither side runs (give a binary or an image)"))
	}
	if p.Runs < 0 || p.Scale < 0 {
		errs = append(errs, fmt.Errorf("runs (%d) and scale (%g) must not be negative", p.Runs, p.Scale))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return nil
}

// Execute reads the sides given as reports and runs the others, Runs times each, baseline and
// candidate in turn (b1 c1 b2 c2 ...) so that a drift of the machine's load touches both
// alike. A run that comes out inconclusive is run once more; a run that cannot be carried out
// (invalid scenario, a server that does not start) ends the gate with an error.
func Execute(ctx context.Context, p Plan, base, cand Side) (*Outcome, error) {
	if err := Validate(p, base, cand); err != nil {
		return nil, err
	}
	if p.Runs == 0 {
		p.Runs = 3
	}
	out := &Outcome{}
	var err error
	if !base.Runs() {
		if out.Baseline, err = load(base); err != nil {
			return nil, err
		}
	}
	if !cand.Runs() {
		if out.Candidate, err = load(cand); err != nil {
			return nil, err
		}
	}
	for i := 1; i <= p.Runs && (base.Runs() || cand.Runs()); i++ {
		for _, side := range []struct {
			s   Side
			dst *[]*reports.Report
		}{{base, &out.Baseline}, {cand, &out.Candidate}} {
			if !side.s.Runs() {
				continue
			}
			rep, run, err := runOnce(ctx, p, side.s, i)
			out.Runs = append(out.Runs, run)
			if err != nil {
				return out, err
			}
			*side.dst = append(*side.dst, rep)
		}
	}
	return out, nil
}

func load(s Side) ([]*reports.Report, error) {
	var out []*reports.Report
	for _, path := range s.Reports {
		r, err := reports.Load(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// runOnce runs the scenario against the side's server, once more if the run is inconclusive.
func runOnce(ctx context.Context, p Plan, side Side, i int) (*reports.Report, Run, error) {
	seed := p.Seed + int64(i-1)
	run := Run{Side: side.Name, Index: i, Seed: seed, Dir: filepath.Join(p.ReportDir, fmt.Sprintf("%s-%d", side.Name, i))}
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			run.Retried = true
			run.Dir += "-retry"
		}
		s, err := p.Load()
		if err != nil {
			return nil, run, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		if !s.Target.IsEmbedded() {
			s.Target = scenarios.Target{} // the side's server replaces the scenario's URL
		}
		s.Target.Image = side.Image
		if err := s.Validate(scenarios.StandardBehaviours); err != nil {
			return nil, run, fmt.Errorf("%w: %s: %w", ErrInvalid, side.Name, err)
		}
		o := simulator.Options{Seed: &seed, Scale: p.Scale, ReportDir: run.Dir, ServerBinary: side.Binary,
			ServerArgs: side.ServerArgs, WorkerBinary: p.WorkerBinary}
		start := time.Now()
		res, err := simulator.Run(ctx, s, o)
		run.Took = time.Since(start)
		run.Verdict, run.ExitCode = res.Verdict, res.ExitCode
		if p.Progress != nil {
			fmt.Fprintf(p.Progress, "gate: %s run %d/%d (%s, seed %d): %s, exit %d, %s\n", side.Name, i, p.Runs, side, seed,
				res.Verdict, res.ExitCode, run.Took.Round(100*time.Millisecond))
		}
		switch {
		case res.ExitCode == scenarios.ExitInvalid:
			return nil, run, fmt.Errorf("%w: %s", ErrInvalid, res.Error)
		case err != nil || res.ExitCode == scenarios.ExitHarness:
			msg := res.Error
			if err != nil {
				msg = err.Error()
			}
			return nil, run, fmt.Errorf("%s run %d (%s): %s", side.Name, i, run.Dir, msg)
		case res.ExitCode == scenarios.ExitInconclusive && attempt == 0:
			continue
		case res.ExitCode == scenarios.ExitInconclusive:
			return nil, run, fmt.Errorf("%w: %s run %d stayed inconclusive twice (the simulated fleet lagged; see %s)", ErrInconclusive, side.Name, i, run.Dir)
		case res.Report == nil:
			return nil, run, fmt.Errorf("%s run %d (%s): no report", side.Name, i, run.Dir)
		}
		return res.Report, run, nil
	}
}
