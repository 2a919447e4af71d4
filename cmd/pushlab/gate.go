package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/pushlab/pushlab/gate"
	"github.com/pushlab/pushlab/reports"
	"github.com/pushlab/pushlab/scenarios"
)

// Exit codes of pushlab gate.
const (
	gatePass         = 0 // no new failing check, no significant regression
	gateRegressed    = 1 // a new failing check, a newly crossed threshold or a significant slowdown
	gateInconclusive = 2 // a run stayed inconclusive (the simulated fleet lagged): nothing judged
	gateInvalid      = 4 // invalid flags or scenario: nothing ran
	gateError        = 5 // a report could not be read or written, or a run could not be carried out
)

type gateFlags struct {
	base, cand       gate.Side
	scenario         string
	runs             int
	seed             int64
	scale            float64
	reportDir        string
	htmlOut, jsonOut string
	opts             reports.CompareOptions
}

func newGateCommand() *cobra.Command {
	f := &gateFlags{opts: reports.DefaultCompareOptions()}
	f.base.Name, f.cand.Name = "baseline", "candidate"
	cmd := &cobra.Command{
		Use:   "gate (--baseline REPORT... | --baseline-image IMAGE | --baseline-binary PUSHLAB) (--candidate ...)",
		Short: "Compare a candidate server with a baseline: fail on new failures or significant regressions",
		Long: `Compare a candidate server release with a baseline.

Each side is either the report.json files of earlier runs (--baseline, --candidate: repeated
runs of the same scenario), or a server the gate runs the scenario against itself: a container
image (--baseline-image, --candidate-image) or a pushlab binary whose server command is started
as a child process (--baseline-binary, --candidate-binary). With a side to run, --scenario
names the scenario (a file or a shipped scenario) and --runs how often each side runs it; the
runs alternate between the sides (baseline 1, candidate 1, baseline 2, ...) so that a change of
the machine's load touches both, and run i uses seed --seed+i-1 on both sides. Each run's
reports go into --report-dir/SIDE-I, the comparison into gate.html and gate.json there.

Each side's checks are merged (a check fails if it failed in any run) and its latency and rate
samples pooled. The gate fails on a check that fails only in the candidate, a threshold newly
crossed, or a metric whose median moved the wrong way significantly: a Mann-Whitney U test of
the pooled samples at --alpha, a change of at least --min-delta, and, with two runs or more a
side, the sides' run medians apart by at least the wider side's range of run medians (docs/ci.md,
the noise model). Differences within the runs' own noise pass, shown as "~".

Exit status: 0 pass, 1 regression, 2 inconclusive (a run's simulated fleet lagged twice:
nothing judged), 4 invalid flags or scenario (nothing ran), 5 a report could not be read or a
run could not be carried out (a server that does not start, for example).`,
		Example: `  pushlab gate --baseline old-1/report.json,old-2/report.json,old-3/report.json \
      --candidate new-1/report.json,new-2/report.json,new-3/report.json
  pushlab gate --scenario smoke --scale 0.2 --runs 5 \
      --baseline-image my-pushy:3.0.0 --candidate-image my-pushy:candidate
  pushlab gate --scenario smoke --baseline old-1/report.json,old-2/report.json \
      --candidate-binary ./bin/pushlab`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runGate(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&f.base.Reports, "baseline", nil, "report.json of the baseline (repeat, or comma-separate, for repeated runs)")
	fl.StringSliceVar(&f.cand.Reports, "candidate", nil, "report.json of the candidate (repeat, or comma-separate, for repeated runs)")
	fl.StringVar(&f.base.Image, "baseline-image", "", "run the scenario against this server image as the baseline")
	fl.StringVar(&f.cand.Image, "candidate-image", "", "run the scenario against this server image as the candidate")
	fl.StringVar(&f.base.Binary, "baseline-binary", "", "run the scenario against this pushlab binary's server as the baseline")
	fl.StringVar(&f.cand.Binary, "candidate-binary", "", "run the scenario against this pushlab binary's server as the candidate")
	fl.StringArrayVar(&f.base.ServerArgs, "baseline-server-arg", nil, "a further argument of the baseline server's command (repeatable)")
	fl.StringArrayVar(&f.cand.ServerArgs, "candidate-server-arg", nil, "a further argument of the candidate server's command (repeatable)")
	fl.StringVar(&f.scenario, "scenario", "", "the scenario the sides to run run: a file or a shipped scenario's name")
	fl.IntVar(&f.runs, "runs", 3, "runs of the scenario per side to run")
	fl.Int64Var(&f.seed, "seed", 0, "seed of the first run; run i uses seed+i-1 (default: the scenario's)")
	fl.Float64Var(&f.scale, "scale", 1, "multiply the scenario's node counts")
	fl.StringVar(&f.reportDir, "report-dir", "", "where the runs' reports and the comparison go (default pushlab-reports/gate-TIME)")
	fl.Float64Var(&f.opts.Alpha, "alpha", f.opts.Alpha, "significance level of the Mann-Whitney U test")
	fl.Float64Var(&f.opts.MinDelta, "min-delta", f.opts.MinDelta, "smallest relative change of a median that counts (0.05 = 5%)")
	fl.IntVar(&f.opts.MinSamples, "min-samples", f.opts.MinSamples, "fewest samples per side for a metric to be judged")
	fl.StringVar(&f.htmlOut, "html", "", "also write the comparison as a self-contained HTML page")
	fl.StringVar(&f.jsonOut, "json", "", "also write the comparison as JSON")
	return cmd
}

func runGate(cmd *cobra.Command, f *gateFlags) error {
	errOut := cmd.ErrOrStderr()
	plan := gate.Plan{Runs: f.runs, Scale: f.scale, Progress: errOut}
	running := f.base.Runs() || f.cand.Runs()
	if f.scenario != "" {
		s, err := loadScenario(f.scenario)
		if err != nil {
			return &exitError{gateInvalid, err.Error()}
		}
		plan.Load = func() (*scenarios.Scenario, error) { return loadScenario(f.scenario) }
		switch {
		case cmd.Flags().Changed("seed"):
			plan.Seed = f.seed
		case s.Seed != nil:
			plan.Seed = *s.Seed
		default:
			plan.Seed = time.Now().UnixNano() & (1<<31 - 1)
		}
	}
	if f.runs < 1 {
		return &exitError{gateInvalid, fmt.Sprintf("--runs must be at least 1, not %d", f.runs)}
	}
	if err := gate.Validate(plan, f.base, f.cand); err != nil {
		return &exitError{gateInvalid, err.Error()}
	}
	if running {
		if f.reportDir == "" {
			f.reportDir = filepath.Join("pushlab-reports", "gate-"+time.Now().Format("20060102-150405"))
		}
		plan.ReportDir = f.reportDir
		self, err := os.Executable()
		if err != nil {
			return &exitError{gateError, err.Error()}
		}
		plan.WorkerBinary = self
		if f.htmlOut == "" {
			f.htmlOut = filepath.Join(f.reportDir, "gate.html")
		}
		if f.jsonOut == "" {
			f.jsonOut = filepath.Join(f.reportDir, "gate.json")
		}
		fmt.Fprintf(errOut, "gate: %s, %d run(s) per side from seed %d; baseline %s, candidate %s; reports in %s\n",
			f.scenario, f.runs, plan.Seed, f.base, f.cand, f.reportDir)
	}
	out, err := gate.Execute(cmd.Context(), plan, f.base, f.cand)
	switch {
	case errors.Is(err, gate.ErrInvalid):
		return &exitError{gateInvalid, err.Error()}
	case errors.Is(err, gate.ErrInconclusive):
		return &exitError{gateInconclusive, err.Error()}
	case err != nil:
		return &exitError{gateError, err.Error()}
	}
	diff := reports.Compare(reports.Merge(out.Baseline...), reports.Merge(out.Candidate...), f.opts)
	stdout := cmd.OutOrStdout()
	if err := diff.WriteText(stdout, reports.UseColor(stdout)); err != nil {
		return err
	}
	if f.htmlOut != "" {
		if err := writeFileWith(f.htmlOut, diff.WriteHTML); err != nil {
			return &exitError{gateError, err.Error()}
		}
		fmt.Fprintf(stdout, "  comparison  %s\n", f.htmlOut)
	}
	if f.jsonOut != "" {
		if err := writeJSONFile(f.jsonOut, diff); err != nil {
			return &exitError{gateError, err.Error()}
		}
	}
	if reasons := diff.Reasons(); len(reasons) > 0 {
		for i, r := range reasons {
			if i == 10 {
				fmt.Fprintf(errOut, "regression: … and %d more\n", len(reasons)-i)
				break
			}
			fmt.Fprintln(errOut, "regression:", r)
		}
		return &exitError{gateRegressed, ""}
	}
	fmt.Fprintln(stdout, "gate: pass")
	return nil
}

func writeFileWith(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func writeJSONFile(path string, v any) error {
	return writeFileWith(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	})
}
