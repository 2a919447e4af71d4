package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pushlab/pushlab/fakenodes/fleetrun"
	"github.com/pushlab/pushlab/reports"
	"github.com/pushlab/pushlab/scenarios"
	"github.com/pushlab/pushlab/simulator"
)

type runFlags struct {
	seed          int64
	reportDir     string
	targetURL     string
	image         string
	org           string
	user          string
	key           string
	superuser     string
	superuserKey  string
	clientKeysDir string
	rerunFailed   string
	progress      string
	scale         float64
	inProcess     bool
	logLevel      string
	worker        string
	perProcess    int
}

func newRunCommand() *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run FILE|LIBRARY-NAME",
		Short: "Carry out a scenario against a Push Jobs server, check everything, report",
		Long: `Carry out a scenario: start the target server (the embedded reference server by default,
run as a child process so it can be killed, paused and restarted, or started from a container
image with --image), register and start the
simulated fleet, run the timeline (jobs, loads, waits, faults, expectations), and check
everything seen: every job's and node's final status against what the nodes' behaviours and
the faults imply (protocol.md §5.6), the job and node state machines, quorum arithmetic, the
SSE feeds (order, completeness, Last-Event-ID resumption), captured output byte for byte, the
scenario's expectations and thresholds.

The argument is a scenario file or the name of a shipped scenario (pushlab validate --library
lists them). The report directory receives history.ndjson (every REST call and answer, SSE
event and node-side event, with monotonic timestamps), schedule.json (what the seed decided),
result.json, the server's log and the reports.

Exit status: 0 every check passed, 1 a check failed, 2 inconclusive (the simulated fleet
itself lagged), 3 a threshold was crossed, 4 the scenario is invalid (nothing ran), 5 pushlab
itself failed.`,
		Example: `  pushlab run smoke
  pushlab run scenarios/library/crash-mid-run.yaml --seed 42 --report-dir out/
  pushlab run my.yaml --target-url https://push.example.com --org example --user admin \
    --key admin.pem --superuser-key pivotal.pem
  pushlab run server-restart-mid-job --image pushlab:dev --scale 0.1
  pushlab run smoke --rerun-failed pushlab-reports/smoke-20260101-120000/result.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runScenario(cmd, f, args[0]) },
	}
	fl := cmd.Flags()
	fl.Int64Var(&f.seed, "seed", 0, "seed of every random choice (default: the scenario's)")
	fl.StringVar(&f.reportDir, "report-dir", "", "where the history and reports go (default pushlab-reports/NAME-TIME)")
	fl.StringVar(&f.targetURL, "target-url", "", "run against this Push Jobs server instead of the scenario's target")
	fl.StringVar(&f.image, "image", "", "start the server from this container image (make image) instead of the pushlab binary, with the scenario's embedded settings")
	fl.StringVar(&f.org, "org", "", "organization of --target-url")
	fl.StringVar(&f.user, "user", "", "user of --target-url allowed to start jobs")
	fl.StringVar(&f.key, "key", "", "private key (PEM) of --user")
	fl.StringVar(&f.superuser, "superuser", "", "user that registers the nodes' clients (default pivotal)")
	fl.StringVar(&f.superuserKey, "superuser-key", "", "private key (PEM) of --superuser")
	fl.StringVar(&f.clientKeysDir, "client-keys-dir", "", "keys of pre-registered node clients, one NODE.pem per node")
	fl.StringVar(&f.rerunFailed, "rerun-failed", "", "result.json of an earlier run: repeat only the jobs that failed there, with its seed")
	fl.StringVar(&f.progress, "progress", "auto", "progress bars: auto (on a terminal), always or never")
	fl.Float64Var(&f.scale, "scale", 1, "multiply every group's node count (a smaller or larger run of the same scenario)")
	fl.BoolVar(&f.inProcess, "in-process", false, "run the embedded server inside this process (no serverPause)")
	fl.StringVar(&f.logLevel, "log-level", "warn", "log level of pushlab's own log: debug, info, warn or error")
	fl.IntVar(&f.perProcess, "nodes-per-process", 0, "most simulated nodes in one process; more run in worker processes (default: what the open-file limit allows)")
	fl.StringVar(&f.worker, "sim-worker", "", "internal: run as a worker process carrying simulated nodes")
	_ = fl.MarkHidden("sim-worker")
	return cmd
}

// loadScenario reads a scenario file, or a shipped scenario by name.
func loadScenario(arg string) (*scenarios.Scenario, error) {
	opts := scenarios.Options{Behaviours: scenarios.StandardBehaviours}
	if _, err := os.Stat(arg); err == nil || strings.ContainsAny(arg, "/.") {
		return scenarios.Load(arg, opts)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, name := range scenarios.Library() {
		if name == arg {
			return scenarios.LoadLibrary(name, opts)
		}
	}
	return nil, fmt.Errorf("%s: no such file, and no shipped scenario of that name (shipped: %s)", arg, strings.Join(scenarios.Library(), ", "))
}

func runScenario(cmd *cobra.Command, f *runFlags, arg string) error {
	errOut := cmd.ErrOrStderr()
	if f.worker != "" {
		return simulator.RunWorker(cmd.Context(), f.worker, os.Stdin, cmd.OutOrStdout())
	}
	s, err := loadScenario(arg)
	if err != nil {
		fmt.Fprintln(errOut, err)
		return &exitError{code: scenarios.ExitInvalid}
	}
	if err := overrideTarget(s, f); err != nil {
		fmt.Fprintln(errOut, err)
		return &exitError{code: scenarios.ExitInvalid}
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	o := simulator.Options{
		ReportDir:    f.reportDir,
		Progress:     errOut,
		Log:          slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: lvl})),
		ServerBinary: self,
		WorkerBinary: self,
		Scale:        f.scale,
		RerunFailed:  f.rerunFailed,
		PerProcess:   f.perProcess,
	}
	if f.inProcess {
		o.ServerBinary = ""
	}
	if cmd.Flags().Changed("seed") {
		o.Seed = &f.seed
	}
	switch f.progress {
	case "auto":
		o.Terminal = fleetrun.IsTerminal(os.Stderr) && os.Getenv("TERM") != "dumb"
	case "always":
		o.Terminal = true
	case "never":
	default:
		return fmt.Errorf("--progress must be auto, always or never, not %q", f.progress)
	}
	if o.ReportDir == "" {
		o.ReportDir = filepath.Join("pushlab-reports", s.Metadata.Name+"-"+time.Now().Format("20060102-150405"))
	}
	res, err := simulator.Run(cmd.Context(), s, o)
	if res.ExitCode == scenarios.ExitInvalid {
		fmt.Fprintln(errOut, res.Error)
		return &exitError{code: scenarios.ExitInvalid}
	}
	out := cmd.OutOrStdout()
	if res.Report != nil {
		_ = res.Report.WriteSummary(out, reports.SummaryOptions{Color: reports.UseColor(out)})
		printFiles(out, res)
	} else {
		simulator.WriteSummary(out, res)
	}
	if err != nil {
		return &exitError{code: res.ExitCode, msg: err.Error()}
	}
	if res.ExitCode != scenarios.ExitPass {
		return &exitError{code: res.ExitCode}
	}
	return nil
}

// overrideTarget applies --target-url (and its keys) or --image to the scenario and validates
// it again.
func overrideTarget(s *scenarios.Scenario, f *runFlags) error {
	switch {
	case f.targetURL != "" && f.image != "":
		return errors.New("give --target-url or --image, not both")
	case f.image != "" && f.inProcess:
		return errors.New("--in-process and --image exclude each other")
	case f.targetURL != "":
		s.Target = scenarios.Target{URL: f.targetURL, Org: f.org, User: f.user, Key: f.key,
			Superuser: f.superuser, SuperuserKey: f.superuserKey, ClientKeysDir: f.clientKeysDir}
	case f.image != "":
		if !s.Target.IsEmbedded() {
			s.Target = scenarios.Target{}
		}
		s.Target.Image = f.image
	default:
		return nil
	}
	return s.Validate(scenarios.StandardBehaviours)
}

// printFiles lists where the run's files are.
func printFiles(w io.Writer, res *simulator.Result) {
	roles := []struct{ role, label string }{
		{"report_html", "report"}, {"report_json", "json"}, {"junit", "junit"}, {"bundle", "bundle"},
		{"history", "history"}, {"server_log", "server log"},
	}
	for _, r := range roles {
		if p, ok := res.Files[r.role]; ok {
			fmt.Fprintf(w, "  %-11s %s\n", r.label, p)
		}
	}
	fmt.Fprintln(w)
}
