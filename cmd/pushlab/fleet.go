package main

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/pushlab/pushlab/fakenodes/behaviour"
	"github.com/pushlab/pushlab/fakenodes/fleetrun"
	"github.com/pushlab/pushlab/internal/chefauth"
)

type fleetFlags struct {
	server, org, user, keyFile, nodeKeyFile string
	nodes                                   int
	prefix                                  string
	digits                                  int
	shard                                   string
	seed                                    int64
	behaviours                              string
	register                                bool
	rampRate                                float64
	signVersion                             string
	perProcess                              int
	loops, ioThreads, configWorkers         int
	commandGrace                            time.Duration
	metricsAddr                             string
	report                                  string
	duration                                time.Duration
	progress                                string
	worker                                  string
}

func newFleetCommand() *cobra.Command {
	f := &fleetFlags{}
	cmd := &cobra.Command{
		Use:   "fleet",
		Short: "Run thousands of simulated Push Jobs nodes against a server",
		Long: `Run simulated nodes that speak the real node protocol (signed config request, CURVE
command channel, signed heartbeats, the job runner) against any Push Jobs server, until
interrupted.

Node i is named PREFIX followed by i on --name-digits digits. Names, behaviours and schedules
derive from (--seed, i) only, so shards need no coordination: --shard i/N runs the i-th of N
slices of the --nodes nodes (Kubernetes: one pod per shard of an Indexed Job). Nodes register
as Chef clients first (POST /organizations/ORG/clients, signed as --user; existing clients are
kept, so every run must use the same --node-key, created on first use). More nodes than
--per-process run in worker processes. Behaviours come from a YAML plan (--behaviours); none
means every node acks every commit and succeeds at once with empty output.

--report writes what the shard saw when it stops (its node range, nodes online, commits,
messages by type, behaviours fired, the fleet's own lag and warnings); 'pushlab fleet merge'
gathers the shards' reports into one report.

Progress bars show on a terminal; otherwise only warnings and a summary are printed. The fleet
warns when it is itself the bottleneck (late heartbeats, full send queues, CPU), so a slow
fleet is not blamed on the server.`,
		Example: `  pushlab fleet --server http://127.0.0.1:10003 --org pushlab --user admin \
    --key pushlab-data/keys/admin.pem --nodes 2000 --name-prefix sim-
  pushlab fleet --nodes 18000 --shard 2/4 --seed 7 --behaviours chaos.yaml --metrics-addr :9100 \
    --report reports/shard-2.json --duration 30m
  pushlab fleet merge reports/ -o fleet.json -o fleet.html`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runFleet(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.server, "server", "http://127.0.0.1:10003", "base URL of the server (the Chef server URL without /organizations)")
	fl.StringVar(&f.org, "org", "pushlab", "organization")
	fl.StringVar(&f.user, "user", "admin", "user that registers the node clients")
	fl.StringVar(&f.keyFile, "key", "./pushlab-data/keys/admin.pem", "private key (PEM) of --user")
	fl.StringVar(&f.nodeKeyFile, "node-key", "./pushlab-fleet-nodes.pem", "client key shared by every node; created when missing")
	fl.IntVar(&f.nodes, "nodes", 100, "nodes in the whole fleet (all shards)")
	fl.StringVar(&f.prefix, "name-prefix", "node-", "node name prefix")
	fl.IntVar(&f.digits, "name-digits", 5, "digits of the node number in names")
	fl.StringVar(&f.shard, "shard", "0/1", "run slice i of N of the fleet (i/N, i from 0)")
	fl.Int64Var(&f.seed, "seed", 1, "seed of names' behaviours and schedules")
	fl.StringVar(&f.behaviours, "behaviours", "", "YAML behaviour plan (groups, weights, behaviours)")
	fl.BoolVar(&f.register, "register", true, "register the node clients through the Chef API first")
	fl.Float64Var(&f.rampRate, "ramp-rate", 500, "nodes started per second per process, with jitter (negative: all at once)")
	fl.StringVar(&f.signVersion, "sign-version", "1.1", "Chef signing version of node and registration requests: 1.0, 1.1 or 1.3")
	fl.IntVar(&f.perProcess, "per-process", 0, "most nodes per process, more go to worker processes (default: 4000, or what the open-file limit allows)")
	fl.IntVar(&f.configWorkers, "config-workers", 0, "concurrent config requests per process (default: the CPUs shared out among processes)")
	fl.IntVar(&f.loops, "loops", 0, "event loops per process (default 2)")
	fl.IntVar(&f.ioThreads, "io-threads", 0, "libzmq I/O threads per process (default 2)")
	fl.DurationVar(&f.commandGrace, "command-grace", 0, "wait this long for the server's first command-channel message (default: the real client's rule)")
	fl.StringVar(&f.metricsAddr, "metrics-addr", "", "serve Prometheus metrics on this address (/metrics)")
	fl.StringVar(&f.report, "report", "", "write what this shard saw to this JSON file when it stops (see pushlab fleet merge)")
	fl.DurationVar(&f.duration, "duration", 0, "stop after this long (0: run until SIGINT or SIGTERM)")
	fl.StringVar(&f.progress, "progress", "auto", "progress bars: auto (on a terminal), always or never")
	fl.StringVar(&f.worker, "worker", "", "internal: run as a worker process for nodes first:count")
	_ = fl.MarkHidden("worker")
	cmd.AddCommand(newFleetMergeCommand())
	return cmd
}

func runFleet(cmd *cobra.Command, f *fleetFlags) error {
	shard, shards, err := fleetrun.ParseShard(f.shard)
	if err != nil {
		return err
	}
	switch f.signVersion {
	case "1.0", "1.1", "1.3":
	default:
		return fmt.Errorf("--sign-version must be 1.0, 1.1 or 1.3, not %q", f.signVersion)
	}
	o := fleetrun.Options{Server: f.server, Org: f.org, User: f.user, Nodes: f.nodes, Shard: shard, Shards: shards,
		NamePrefix: f.prefix, NameDigits: f.digits, Seed: f.seed, Register: f.register && f.worker == "",
		RampRate: f.rampRate, SignVersion: f.signVersion, PerProcess: f.perProcess, Loops: f.loops,
		IOThreads: f.ioThreads, ConfigWorkers: f.configWorkers, CommandGrace: f.commandGrace, Out: cmd.ErrOrStderr()}
	if f.behaviours != "" {
		if o.Plan, err = behaviour.Load(f.behaviours); err != nil {
			return err
		}
	}
	if o.NodeKey, err = loadOrCreateKey(f.nodeKeyFile, f.worker == ""); err != nil {
		return err
	}
	if f.worker != "" {
		first, count, err := fleetrun.WorkerSpec(f.worker)
		if err != nil {
			return err
		}
		return fleetrun.RunWorker(cmd.Context(), o, first, count, os.Stdin, cmd.OutOrStdout())
	}
	if o.Register {
		pem, err := os.ReadFile(f.keyFile)
		if err != nil {
			return fmt.Errorf("reading the key of %s: %w", f.user, err)
		}
		if o.UserKey, err = chefauth.ParsePrivateKeyPEM(pem); err != nil {
			return fmt.Errorf("%s: %w", f.keyFile, err)
		}
	}
	switch f.progress {
	case "auto":
		o.Progress = fleetrun.IsTerminal(os.Stderr)
	case "always":
		o.Progress = true
	case "never":
	default:
		return fmt.Errorf("--progress must be auto, always or never, not %q", f.progress)
	}
	o.MetricsAddr = f.metricsAddr
	o.ReportFile = f.report
	self, err := os.Executable()
	if err != nil {
		return err
	}
	o.WorkerCommand = func(ctx context.Context, w fleetrun.Worker) *exec.Cmd {
		args := append(os.Args[1:len(os.Args):len(os.Args)], w.Args()...)
		args = append(args, "--register=false", "--metrics-addr=", "--progress=never", "--report=", "--duration=0")
		return exec.CommandContext(ctx, self, args...)
	}
	ctx := cmd.Context()
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	return fleetrun.Run(ctx, o)
}

// loadOrCreateKey reads the nodes' key, creating it (0600) when missing and create is set.
func loadOrCreateKey(path string, create bool) (*rsa.PrivateKey, error) {
	pem, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		key, err := chefauth.GenerateKey()
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, chefauth.EncodePrivateKeyPEM(key), 0o600); err != nil {
			return nil, fmt.Errorf("writing the node key: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the node key: %w", err)
	}
	key, err := chefauth.ParsePrivateKeyPEM(pem)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}
