package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/pushlab/pushlab/conformance"
	"github.com/pushlab/pushlab/conformance/framework"
	"github.com/pushlab/pushlab/scenarios"
)

type conformanceFlags struct {
	cfg         framework.Config
	labelFilter string
	focus       []string
	verbose     bool
	noColor     bool
}

func newConformanceCommand() *cobra.Command {
	f := &conformanceFlags{cfg: framework.DefaultConfig()}
	f.cfg.FlagName = func(name string) string { return "--" + name }
	cmd := &cobra.Command{
		Use:   "conformance",
		Short: "Run the conformance suite against a Push Jobs server",
		Long: `Run the conformance suite (docs/conformance.md) compiled into pushlab.

Without --url or --image the suite starts an in-process reference server with fast timings.
With --url it tests any Push Jobs server: give the organization, a user allowed to start jobs
and its key, and either the superuser key (node clients, users and groups are created through
the Chef API) or a directory of pre-registered node client keys. ZeroMQ addresses come from
the server's config endpoint; waits scale with its heartbeat interval. Settings the suite
cannot read from the server (voting timeout, wait-complete time, org feed expiration,
keepalive) default to the real server's and can be given.

Select specs with --label-filter (labels: --list-labels) or --focus. --report-dir receives
junit.xml, conformance.json (Ginkgo), results.json and summary.txt.

Exit status: 0 every spec passed (non-strict verdicts included), 1 a spec failed,
2 a spec was inconclusive (the machine stalled while it failed), 4 invalid flags or spec tree
(nothing ran), 5 the target could not be started or reached.`,
		Example: `  pushlab conformance --label-filter smoke
  pushlab conformance --url https://push.example.com:10003 --org acme --user admin \
      --key admin.pem --superuser-key pivotal.pem --report-dir out/
  pushlab conformance --profile docs --label-filter 'api && !slow'`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return &exitError{scenarios.ExitInvalid, fmt.Sprintf("conformance takes no arguments, got %q", args)}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return runConformance(cmd, f) },
	}
	c := &f.cfg
	fl := cmd.Flags()
	fl.StringVar(&c.URL, "url", c.URL, "REST base URL of the server under test (default: an in-process reference server)")
	fl.StringVar(&c.Image, "image", c.Image, "container image of a pushlab-compatible server to start and test")
	fl.StringVar(&c.Org, "org", c.Org, "organization of the server under test")
	fl.StringVar(&c.User, "user", c.User, "user allowed to start jobs (an org admin)")
	fl.StringVar(&c.KeyPath, "key", c.KeyPath, "private key (PEM) of --user")
	fl.StringVar(&c.SuperuserName, "superuser", c.SuperuserName, "name of the Chef superuser")
	fl.StringVar(&c.SuperuserKeyPath, "superuser-key", c.SuperuserKeyPath, "superuser private key: register node clients, users and groups")
	fl.StringVar(&c.ClientKeysDir, "client-keys-dir", c.ClientKeysDir, "directory of pre-registered node client keys NAME.pem")
	fl.StringVar(&c.Profile, "profile", c.Profile, "pushy-3.0 (the real server's code) or docs (the public documentation)")
	fl.BoolVar(&c.Strict, "strict", c.Strict, "fail on documented deviations instead of giving a non-strict verdict")
	fl.StringVar(&c.ReportDir, "report-dir", c.ReportDir, "write junit.xml, conformance.json, results.json and summary.txt here")
	fl.DurationVar(&c.VotingTimeout, "voting-timeout", c.VotingTimeout, "the target's voting timeout")
	fl.DurationVar(&c.WaitCompleteTime, "wait-complete-time", c.WaitCompleteTime, "how long the target keeps a finished job's full feed")
	fl.DurationVar(&c.OrgFeedExpiration, "org-feed-expiration", c.OrgFeedExpiration, "how long the target keeps org feed events")
	fl.DurationVar(&c.KeepAlive, "keepalive", c.KeepAlive, "how long a feed of the target stays silent before a keepalive comment")
	fl.IntVar(&c.LoadNodes, "load-nodes", c.LoadNodes, "nodes of the load and chaos specs")
	fl.BoolVar(&c.ListTests, "list-tests", c.ListTests, "list every spec (name, labels, protocol.md section) and exit")
	fl.BoolVar(&c.ListLabels, "list-labels", c.ListLabels, "list the label registry and exit")
	fl.StringVar(&f.labelFilter, "label-filter", "", "run only specs matching this Ginkgo label filter, e.g. 'smoke' or 'sse && !slow'")
	fl.StringSliceVar(&f.focus, "focus", nil, "run only specs whose full name matches this regular expression (repeatable)")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "report every spec as it runs")
	fl.BoolVar(&f.noColor, "no-color", false, "no colors in the progress report (default when stdout is not a terminal)")
	fl.StringSliceVar(&c.Mutants, "mutant", nil, "start the in-process reference server with deliberate faults, to see the suite fail (see package server/mutant)")
	_ = fl.MarkHidden("mutant")
	return cmd
}

func runConformance(cmd *cobra.Command, f *conformanceFlags) error {
	noColor := f.noColor || os.Getenv("NO_COLOR") != ""
	if _, err := unix.IoctlGetTermios(int(os.Stdout.Fd()), unix.TCGETS); err != nil {
		noColor = true
	}
	res, err := conformance.Run(conformance.Options{Config: f.cfg, LabelFilter: f.labelFilter, Focus: f.focus,
		Verbose: f.verbose, NoColor: noColor, Out: cmd.OutOrStdout()})
	switch {
	case errors.Is(err, conformance.ErrInvalid):
		return &exitError{scenarios.ExitInvalid, err.Error()}
	case err != nil:
		return &exitError{scenarios.ExitHarness, err.Error()}
	case f.cfg.ListTests || f.cfg.ListLabels:
		return nil
	case res.SetupFailed:
		return &exitError{scenarios.ExitHarness, "the suite could not set up its target (see the summary)"}
	case !res.Passed:
		return &exitError{scenarios.ExitCheckFailed, fmt.Sprintf("%d spec(s) failed", res.Count(framework.VerdictFail))}
	case res.Count(framework.VerdictInconclusive) > 0:
		return &exitError{scenarios.ExitInconclusive, fmt.Sprintf("%d spec(s) inconclusive", res.Count(framework.VerdictInconclusive))}
	}
	return nil
}
