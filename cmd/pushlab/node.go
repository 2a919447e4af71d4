package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pushlab/pushlab/internal/pushyclient"
)

func newNodeCommand() *cobra.Command {
	conn := &connFlags{}
	out := &outputFlags{}
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Inspect Push Jobs nodes, like knife node",
	}
	conn.register(cmd.PersistentFlags())
	out.register(cmd.PersistentFlags())
	cmd.AddCommand(newNodeStatusCommand(conn, out))
	return cmd
}

func newNodeStatusCommand(conn *connFlags, out *outputFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "status [NODE|QUERY ...]",
		Short: "Show nodes' availability, like knife node status",
		Long: `Print "NAME<TAB>AVAILABILITY" for each node, as knife node status does.

Without arguments it lists the nodes the server tracks (GET pushy/node_states: only nodes
heard from recently). Each argument is a node name (GET pushy/node_states/NAME, which
answers for any name: a node never seen is unavailable) or, when it contains ':', a Chef
node search whose matches are shown one by one. With --format json it prints the objects
the server returned, as one JSON array. A failed request exits with status 100.`,
		Example: `  pushlab node status
  pushlab node status web1 web2 -F json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			c, err := conn.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var states []pushyclient.NodeState
			if len(args) == 0 {
				if states, err = c.NodeStates(ctx); err != nil {
					return apiError(err)
				}
			}
			for _, arg := range args {
				names := []string{arg}
				if strings.Contains(arg, ":") {
					if names, err = c.SearchNodes(ctx, arg); err != nil {
						return apiError(fmt.Errorf("node search failed: %w", err))
					}
				}
				for _, n := range names {
					st, err := c.NodeState(ctx, n)
					if err != nil {
						return apiError(err)
					}
					states = append(states, *st)
				}
			}
			w := cmd.OutOrStdout()
			if out.format == "json" {
				raws := make([]json.RawMessage, len(states))
				for i := range states {
					raws[i] = states[i].Raw
				}
				b, err := json.Marshal(raws)
				if err != nil {
					return err
				}
				return out.print(w, b)
			}
			for _, st := range states {
				fmt.Fprintf(w, "%s\t%s\n", st.NodeName, st.Availability)
			}
			return nil
		},
	}
}
