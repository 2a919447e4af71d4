package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/pushlab/pushlab/scenarios"
)

type validateFlags struct {
	library bool
}

func newValidateCommand() *cobra.Command {
	f := &validateFlags{}
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check scenario files without running anything",
		Long: `Check scenario files the way pushlab run does before it starts: the YAML must parse,
every key must be known and of the right type (all errors of a file are reported, each as
file:line:column), then references, ranges, quorums, thresholds and behaviours are checked.

Prints OK for each valid file. The exit status is 0 when every file is valid and 4 when any
is not (see docs/scenarios.md for every exit status).`,
		Example: `  pushlab validate scenarios/library/smoke.yaml
  pushlab validate --library`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && !f.library {
				return errors.New("give at least one scenario file, or --library")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runValidate(cmd, f, args) },
	}
	cmd.Flags().BoolVar(&f.library, "library", false, "also check the scenarios shipped inside pushlab")
	return cmd
}

func runValidate(cmd *cobra.Command, f *validateFlags, files []string) error {
	opts := scenarios.Options{Behaviours: scenarios.StandardBehaviours}
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	checked, invalid := 0, 0
	report := func(name string, s *scenarios.Scenario, err error) {
		checked++
		if err != nil {
			invalid++
			fmt.Fprintln(errOut, err)
			return
		}
		fmt.Fprintf(out, "%s: OK (%s: %d nodes, %d steps)\n", name, s.Metadata.Name, len(s.Nodes()), len(s.Timeline))
	}
	for _, file := range files {
		s, err := scenarios.Load(file, opts)
		report(file, s, err)
	}
	if f.library {
		for _, name := range scenarios.Library() {
			s, err := scenarios.LoadLibrary(name, opts)
			label := "library:" + name
			if s != nil {
				label = s.File
			}
			report(label, s, err)
		}
	}
	if invalid > 0 {
		fmt.Fprintf(errOut, "%d of %d scenario files are invalid\n", invalid, checked)
		return &exitError{code: scenarios.ExitInvalid}
	}
	return nil
}
