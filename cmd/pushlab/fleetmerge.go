package main

import (
	"github.com/spf13/cobra"

	"github.com/pushlab/pushlab/fakenodes/fleetreport"
	"github.com/pushlab/pushlab/reports"
)

func newFleetMergeCommand() *cobra.Command {
	var outputs []string
	cmd := &cobra.Command{
		Use:   "merge REPORT|DIR...",
		Short: "Gather the reports of a fleet's shards into one report",
		Long: `Gather the shard reports that 'pushlab fleet --report' wrote into one report of the run
format (pushlab.report/v1) and print its summary. A directory stands for every shard report in
it. The gathered report checks that the shards are of one fleet, that they ran every node
exactly once, that every node came online and that every shard ran until it was stopped; its
health adds up the shards' heartbeat lag and full send queues; its notes give each shard's node
range and counts, messages by type and behaviours fired.

-o writes the report, in the format its name asks for (.json, .html, .xml for JUnit, .txt);
give it several times for several formats. The exit status is the report's verdict: 0 pass,
1 a check failed, 2 inconclusive (the fleet itself lagged), 5 a shard report could not be read.`,
		Example: `  pushlab fleet merge reports/shard-0.json reports/shard-1.json -o fleet.json
  pushlab fleet merge /reports -o /reports/fleet.json -o /reports/fleet.html`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			shards, err := fleetreport.Load(args...)
			if err != nil {
				return &exitError{reports.ExitHarness, err.Error()}
			}
			r := fleetreport.Gather(shards)
			out := cmd.OutOrStdout()
			if err := r.WriteSummary(out, reports.SummaryOptions{Color: reports.UseColor(out)}); err != nil {
				return err
			}
			for _, path := range outputs {
				if err := r.Write(path); err != nil {
					return &exitError{reports.ExitHarness, err.Error()}
				}
			}
			if r.ExitCode != 0 {
				return &exitError{r.ExitCode, ""}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&outputs, "output", "o", nil, "write the gathered report here (.json, .html, .xml, .txt); repeatable")
	return cmd
}
