package main

import (
	"github.com/spf13/cobra"
)

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "pushlab",
		Short:         "Test harness and conformance simulator for Chef Push Jobs",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServerCommand(), newAPICommand())
	root.AddCommand(newValidateCommand(), newRunCommand())
	root.AddCommand(newJobCommand(), newNodeCommand())
	root.AddCommand(newFleetCommand())
	root.AddCommand(newConformanceCommand())
	root.AddCommand(newGateCommand())
	return root
}
