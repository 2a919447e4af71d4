package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/pushlab/pushlab/server"
)

func newServerCommand() *cobra.Command {
	cfg := server.DefaultConfig()
	var logLevel string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the reference Push Jobs server (REST, SSE, ZeroMQ, Chef API subset)",
		Long: `Run the reference Push Jobs server, wire-compatible with opscode-pushy-server 3.0.

On first start with an empty data dir it creates the organization, the superuser pivotal
and an org admin user admin, writes their private keys under DATA_DIR/keys/ and prints a
knife.rb snippet. Later starts reuse them. Unfinished jobs of an earlier run become crashed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
			if err := cfg.Validate(); err != nil {
				return err
			}
			srv, err := server.Start(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), srv.Banner())
			<-cmd.Context().Done()
			return srv.Close()
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for the store and keys")
	fl.StringVar(&cfg.Listen, "listen", cfg.Listen, "REST listen address (host:port)")
	fl.StringVar(&cfg.ZMQListen, "zmq-listen", cfg.ZMQListen, "host the ZeroMQ sockets bind to")
	fl.IntVar(&cfg.HeartbeatPort, "heartbeat-port", cfg.HeartbeatPort, "ZeroMQ PUB port for server heartbeats")
	fl.IntVar(&cfg.CommandPort, "command-port", cfg.CommandPort, "ZeroMQ ROUTER port for the command channel")
	fl.StringVar(&cfg.AdvertiseHost, "advertise-host", cfg.AdvertiseHost, "host written into node config (default: the --listen host)")
	fl.StringVar(&cfg.Org, "org", cfg.Org, "organization created on first start")
	fl.DurationVar(&cfg.HeartbeatInterval, "heartbeat-interval", cfg.HeartbeatInterval, "server heartbeat period and node liveness bucket")
	fl.DurationVar(&cfg.VotingTimeout, "voting-timeout", cfg.VotingTimeout, "how long a job waits for votes")
	fl.DurationVar(&cfg.DefaultRunTimeout, "default-run-timeout", cfg.DefaultRunTimeout, "run_timeout of jobs that give none")
	fl.DurationVar(&cfg.WaitCompleteTime, "wait-complete-time", cfg.WaitCompleteTime, "how long a finished job keeps serving its full feed")
	fl.DurationVar(&cfg.KeepAlive, "keepalive", cfg.KeepAlive, "SSE keepalive comment after this much silence")
	fl.DurationVar(&cfg.OrgFeedExpiration, "org-feed-expiration", cfg.OrgFeedExpiration, "how long org feed events are kept")
	fl.DurationVar(&cfg.RehabInterval, "rehab-interval", cfg.RehabInterval, "abort re-send period while a node is in rehab")
	fl.DurationVar(&cfg.ConfigLifetime, "config-lifetime", cfg.ConfigLifetime, "lifetime advertised in node config")
	fl.DurationVar(&cfg.MaxTimeSkew, "time-skew", cfg.MaxTimeSkew, "largest accepted ZeroMQ message clock skew")
	fl.DurationVar(&cfg.ZAPWindow, "zap-window", cfg.ZAPWindow, "how long a config request admits its CURVE key")
	fl.IntVar(&cfg.DecayWindow, "decay-window", cfg.DecayWindow, "heartbeat average decay window (intervals)")
	fl.Float64Var(&cfg.DownThreshold, "down-threshold", cfg.DownThreshold, "heartbeat average below which a node is down")
	fl.IntVar(&cfg.DetectOfflineNodesInterval, "detect-offline-interval", cfg.DetectOfflineNodesInterval, "liveness scan period (intervals)")
	fl.IntVar(&cfg.MaxMessageBody, "max-message-body", cfg.MaxMessageBody, "largest ZeroMQ message body accepted")
	fl.BoolVar(&cfg.CurveDisabled, "disable-curve", cfg.CurveDisabled, "no CURVE encryption on the command channel (no ccpk needed)")
	fl.StringSliceVar(&cfg.Mutants, "mutant", nil, "start with deliberate faults, to prove a test suite catches them (see package server/mutant)")
	_ = fl.MarkHidden("mutant")
	fl.BoolVar(&cfg.ValidateClientNodeName, "validate-client-node-name", cfg.ValidateClientNodeName, "a client may fetch only its own config")
	fl.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}
