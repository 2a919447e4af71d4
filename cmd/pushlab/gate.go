package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/pushlab/pushlab/reports"
)

// Exit codes of pushlab gate.
const (
	gatePass      = 0 // no new failing check, no significant regression
	gateRegressed = 1 // a new failing check, a newly crossed threshold or a significant slowdown
	gateError     = 5 // the reports could not be read
)

func newGateCommand() *cobra.Command {
	var base, cand []string
	var htmlOut, jsonOut string
	opts := reports.DefaultCompareOptions()
	cmd := &cobra.Command{
		Use:   "gate --baseline REPORT... --candidate REPORT...",
		Short: "Compare a candidate server's runs with a baseline's: fail on new failures or significant regressions",
		Long: `Compare the reports of a candidate server release with those of a baseline.

Give each side one or more report.json files (repeated runs of the same scenario): their checks
are merged (a check fails if it failed in any run) and their latency and rate samples pooled.
The gate fails on a check that fails only in the candidate, a threshold newly crossed, or a
metric whose median moved the wrong way significantly (Mann-Whitney U test at --alpha, and by at
least --min-delta): differences within the runs' own noise pass, shown as "~".

Exit status: 0 pass, 1 regression, 5 the reports could not be read.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := loadReports(base)
			if err != nil {
				return &exitError{gateError, "--baseline: " + err.Error()}
			}
			c, err := loadReports(cand)
			if err != nil {
				return &exitError{gateError, "--candidate: " + err.Error()}
			}
			diff := reports.Compare(reports.Merge(b...), reports.Merge(c...), opts)
			out := cmd.OutOrStdout()
			if err := diff.WriteText(out, reports.UseColor(out)); err != nil {
				return err
			}
			if htmlOut != "" {
				if err := writeFileWith(htmlOut, diff.WriteHTML); err != nil {
					return &exitError{gateError, err.Error()}
				}
			}
			if jsonOut != "" {
				if err := writeJSONFile(jsonOut, diff); err != nil {
					return &exitError{gateError, err.Error()}
				}
			}
			if diff.Regressed() {
				for _, r := range diff.Reasons() {
					fmt.Fprintln(cmd.ErrOrStderr(), "regression:", r)
				}
				return &exitError{gateRegressed, ""}
			}
			fmt.Fprintln(out, "gate: pass")
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&base, "baseline", nil, "report.json of the baseline (repeat, or comma-separate, for repeated runs)")
	fl.StringSliceVar(&cand, "candidate", nil, "report.json of the candidate (repeat, or comma-separate, for repeated runs)")
	fl.Float64Var(&opts.Alpha, "alpha", opts.Alpha, "significance level of the Mann-Whitney U test")
	fl.Float64Var(&opts.MinDelta, "min-delta", opts.MinDelta, "smallest relative change of a median that counts (0.05 = 5%)")
	fl.IntVar(&opts.MinSamples, "min-samples", opts.MinSamples, "fewest samples per side for a metric to be judged")
	fl.StringVar(&htmlOut, "html", "", "also write the comparison as a self-contained HTML page")
	fl.StringVar(&jsonOut, "json", "", "also write the comparison as JSON")
	_ = cmd.MarkFlagRequired("baseline")
	_ = cmd.MarkFlagRequired("candidate")
	return cmd
}

func loadReports(paths []string) ([]*reports.Report, error) {
	var out []*reports.Report
	for _, p := range paths {
		r, err := reports.Load(p)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no report given")
	}
	return out, nil
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
