package fleetrun

import (
	"bufio"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sys/unix"

	"github.com/pushlab/pushlab/fakenodes"
	"github.com/pushlab/pushlab/fakenodes/behaviour"
	"github.com/pushlab/pushlab/internal/chefauth"
)

// Options is one `pushlab fleet` run.
type Options struct {
	Server string // base URL, without /organizations
	Org    string
	// User and UserKey sign client registration (an org admin, or pivotal).
	User    string
	UserKey *rsa.PrivateKey
	// NodeKey is the client key every node shares.
	NodeKey *rsa.PrivateKey

	// Nodes is the size of the whole fleet, all shards together; this run takes shard Shard of
	// Shards (0-based), a contiguous range of node indices.
	Nodes      int
	Shard      int
	Shards     int
	NamePrefix string
	NameDigits int
	Seed       int64
	Plan       *behaviour.Plan

	Register    bool    // create the node clients first (existing ones are kept)
	RampRate    float64 // nodes started per second, per process
	SignVersion string
	// PerProcess is the most nodes one process runs; more are spread over worker processes.
	PerProcess int
	// Fleet tuning passed to every fleet. ConfigWorkers is per process; by default the CPUs
	// are shared out among worker processes.
	ConfigWorkers int
	Loops         int
	IOThreads     int
	CommandGrace  time.Duration
	// OnEvent, when set, receives the node events of the fleet run in this process (see
	// fakenodes.FleetConfig.OnEvent); worker processes set their own.
	OnEvent func(fakenodes.Event)

	MetricsAddr string    // Prometheus metrics, e.g. 127.0.0.1:9100; empty: none
	ReportFile  string    // where Run writes the shard's report when it ends; empty: none
	Progress    bool      // mpb progress bars (on a terminal)
	Out         io.Writer // progress, warnings and the summary (stderr)
	Log         *slog.Logger

	// WorkerCommand builds the command of a worker process (a re-exec of the same binary with
	// Worker.Args, made with exec.CommandContext so that the end of ctx stops it with SIGTERM).
	// Nil runs everything in this process.
	WorkerCommand func(ctx context.Context, w Worker) *exec.Cmd

	// Started, when set, is called with the stats source once nodes are starting (tests).
	Started func(stats func() fakenodes.Stats)
}

// Range returns the node indices [first, first+count) of shard i of n over total nodes.
func Range(total, shard, shards int) (first, count int) {
	first = total * shard / shards
	return first, total*(shard+1)/shards - first
}

// ParseShard reads "i/N".
func ParseShard(s string) (shard, shards int, err error) {
	a, b, ok := strings.Cut(s, "/")
	shard, err1 := strconv.Atoi(a)
	shards, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || shards < 1 || shard < 0 || shard >= shards {
		return 0, 0, fmt.Errorf("shard %q: want i/N with 0 <= i < N", s)
	}
	return shard, shards, nil
}

func (o *Options) defaults() error {
	if o.Shards == 0 {
		o.Shards = 1
	}
	if o.NamePrefix == "" {
		o.NamePrefix = "node-"
	}
	if o.NameDigits == 0 {
		o.NameDigits = 5
	}
	if o.PerProcess <= 0 {
		o.PerProcess = min(4000, fakenodes.MaxNodesPerProcess())
	}
	if o.Out == nil {
		o.Out = os.Stderr
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(o.Out, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	switch {
	case o.Nodes <= 0:
		return fmt.Errorf("--nodes %d", o.Nodes)
	case o.Shard < 0 || o.Shard >= o.Shards:
		return fmt.Errorf("shard %d/%d", o.Shard, o.Shards)
	case o.NodeKey == nil:
		return errors.New("no node key")
	case o.Register && o.UserKey == nil:
		return errors.New("registration needs the user's key")
	}
	return nil
}

func (o *Options) fleetConfig(first, count int) fakenodes.FleetConfig {
	return fakenodes.FleetConfig{Server: o.Server, Org: o.Org, Nodes: count, FirstIndex: first,
		NamePrefix: o.NamePrefix, NameDigits: o.NameDigits, Key: o.NodeKey, SignVersion: o.SignVersion,
		Seed: o.Seed, Plan: o.Plan, RampRate: o.RampRate, Loops: o.Loops, IOThreads: o.IOThreads, ConfigWorkers: o.ConfigWorkers,
		CommandGrace: o.CommandGrace, OnEvent: o.OnEvent, Log: o.Log}
}

// run is Run without the report.
func run(ctx context.Context, o Options) error {
	if err := o.defaults(); err != nil {
		return err
	}
	first, count := Range(o.Nodes, o.Shard, o.Shards)
	if count == 0 {
		return fmt.Errorf("shard %d/%d of %d nodes is empty", o.Shard, o.Shards, o.Nodes)
	}
	ui := newProgress(o, count)
	defer ui.close()
	if o.Register {
		names := make([]string, count)
		for i := range names {
			names[i] = fakenodes.NodeName(o.NamePrefix, o.NameDigits, first+i)
		}
		res, err := fakenodes.Register(ctx, fakenodes.Registration{Server: o.Server, Org: o.Org,
			Signer:    &chefauth.Signer{UserID: o.User, Key: o.UserKey, Version: o.SignVersion},
			PublicKey: &o.NodeKey.PublicKey, Progress: ui.registered}, names)
		if err != nil {
			return err
		}
		ui.registered(count)
		ui.printf("registered %d node clients (%d new, %d already there)", count, res.Created, res.Existing)
	}

	var stats func() fakenodes.Stats
	var wait func() error
	local := o.WorkerCommand == nil || count <= o.PerProcess
	if local {
		f, err := fakenodes.NewFleet(o.fleetConfig(first, count))
		if err != nil {
			return err
		}
		if err := f.Start(ctx); err != nil {
			return err
		}
		stats = f.Stats
		wait = func() error { <-ctx.Done(); return f.Stop() }
	} else {
		w, err := startWorkers(ctx, o, first, count)
		if err != nil {
			return err
		}
		stats = w.stats
		wait = w.wait
	}
	if o.Started != nil {
		o.Started(stats)
	}
	if o.MetricsAddr != "" {
		addr, stop, err := serveMetrics(o.MetricsAddr, stats)
		if err != nil {
			return err
		}
		defer stop()
		ui.printf("metrics on http://%s/metrics", addr)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		watch(ctx, ui, stats, local) // worker processes diagnose themselves
	}()
	err := wait()
	<-done
	ui.close()
	s := stats()
	fmt.Fprintf(o.Out, "fleet stopped: %d nodes (%s); sent %d messages (%d heartbeats), received %d; %d jobs seen; %d config requests, %d reconfigures, %d send queue full, %d rejected\n",
		s.Nodes, stateLine(s), sum(s.Sent), s.Sent["heartbeat"], sum(s.Received), s.Commits, s.ConfigFetches, s.Reconfigures, s.SendFull, s.Rejected)
	return err
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// watch updates the progress and, when diagnose is set, prints the fleet's own diagnoses (a
// slow fleet must not be blamed on the server).
func watch(ctx context.Context, ui *progress, stats func() fakenodes.Stats, diagnose bool) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	prev, prevAt, prevCPU := stats(), time.Now(), fakenodes.SelfCPU()
	said := map[string]time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s := stats()
		ui.update(s)
		if since := time.Since(prevAt); diagnose && since >= 5*time.Second {
			cpu := fakenodes.SelfCPU()
			for _, w := range fakenodes.Diagnose(prev, s, since, cpu-prevCPU, runtime.NumCPU()) {
				if kind, _, _ := strings.Cut(w, ":"); time.Since(said[kind]) > time.Minute {
					said[kind] = time.Now()
					ui.printf("warning: %s", w)
				}
			}
			prev, prevAt, prevCPU = s, time.Now(), cpu
		}
	}
}

// serveMetrics serves /metrics on addr and returns the address it listens on.
func serveMetrics(addr string, stats func() fakenodes.Stats) (string, func(), error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(fakenodes.NewCollector(stats), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return ln.Addr().String(), func() { srv.Close() }, nil
}

// Workers.

// RunWorker is the body of a worker process: it runs count nodes from index first and writes a
// JSON Stats line to out every second and once more after stopping. It stops when ctx ends or
// when its standard input closes (the parent is gone).
func RunWorker(ctx context.Context, o Options, first, count int, stdin io.Reader, out io.Writer) error {
	if err := o.defaults(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if stdin != nil {
		go func() {
			_, _ = io.Copy(io.Discard, stdin)
			cancel()
		}()
	}
	f, err := fakenodes.NewFleet(o.fleetConfig(first, count))
	if err != nil {
		return err
	}
	if err := f.Start(ctx); err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	prev, prevAt, prevCPU := f.Stats(), time.Now(), fakenodes.SelfCPU()
	said := map[string]time.Time{}
	for ctx.Err() == nil {
		select {
		case <-tick.C:
		case <-ctx.Done():
			continue
		}
		s := f.Stats()
		if err := enc.Encode(s); err != nil {
			cancel()
		}
		if since := time.Since(prevAt); since >= 5*time.Second {
			cpu := fakenodes.SelfCPU()
			for _, w := range fakenodes.Diagnose(prev, s, since, cpu-prevCPU, runtime.NumCPU()) {
				if kind, _, _ := strings.Cut(w, ":"); time.Since(said[kind]) > time.Minute {
					said[kind] = time.Now()
					fmt.Fprintf(o.Out, "worker %d-%d: warning: %s\n", first, first+count-1, w)
				}
			}
			prev, prevAt, prevCPU = s, time.Now(), cpu
		}
	}
	err = f.Stop()
	_ = enc.Encode(f.Stats())
	return err
}

// Worker is the share of one worker process.
type Worker struct {
	First, Count  int // node indices
	ConfigWorkers int // its concurrent config requests
}

// Args are the hidden flags that make a `pushlab fleet` process a worker.
func (w Worker) Args() []string {
	return []string{"--worker", strconv.Itoa(w.First) + ":" + strconv.Itoa(w.Count), "--config-workers", strconv.Itoa(w.ConfigWorkers)}
}

type workers struct {
	mu    sync.Mutex
	snaps []fakenodes.Stats
	cmds  []*exec.Cmd
	wg    sync.WaitGroup
	errs  []error
}

// startWorkers spreads count nodes from first over enough processes of at most PerProcess.
func startWorkers(ctx context.Context, o Options, first, count int) (*workers, error) {
	n := (count + o.PerProcess - 1) / o.PerProcess
	w := &workers{snaps: make([]fakenodes.Stats, n)}
	configWorkers := o.ConfigWorkers
	if configWorkers <= 0 { // share the CPUs: config requests are RSA-bound
		configWorkers = max(1, runtime.NumCPU()/n)
	}
	for i := 0; i < n; i++ {
		wf, wc := Range(count, i, n)
		cmd := o.WorkerCommand(ctx, Worker{First: first + wf, Count: wc, ConfigWorkers: configWorkers})
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		cmd.WaitDelay = 30 * time.Second
		cmd.Stderr = o.Out
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("starting worker %d: %w", i, err)
		}
		_ = stdin // kept open: closing it tells the worker to stop
		w.cmds = append(w.cmds, cmd)
		w.snaps[i].Nodes = wc
		w.snaps[i].ByState = map[fakenodes.State]int{fakenodes.StatePending: wc}
		w.wg.Add(1)
		go func(i int) {
			defer w.wg.Done()
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				var s fakenodes.Stats
				if json.Unmarshal(sc.Bytes(), &s) == nil {
					w.mu.Lock()
					w.snaps[i] = s
					w.mu.Unlock()
				}
			}
			if err := cmd.Wait(); err != nil && ctx.Err() == nil {
				w.mu.Lock()
				w.errs = append(w.errs, fmt.Errorf("worker %d: %w", i, err))
				w.mu.Unlock()
			}
		}(i)
	}
	return w, nil
}

func (w *workers) stats() fakenodes.Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	var total fakenodes.Stats
	for _, s := range w.snaps {
		total = total.Add(s)
	}
	return total
}

func (w *workers) wait() error {
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return errors.Join(w.errs...)
}

// WorkerSpec reads the hidden worker flag value "first:count".
func WorkerSpec(s string) (first, count int, err error) {
	a, b, ok := strings.Cut(s, ":")
	first, err1 := strconv.Atoi(a)
	count, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || first < 0 || count <= 0 {
		return 0, 0, fmt.Errorf("worker %q: want first:count", s)
	}
	return first, count, nil
}

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// stateLine renders the node counts by state, for logs.
func stateLine(s fakenodes.Stats) string {
	var parts []string
	for st, n := range s.ByState {
		parts = append(parts, fmt.Sprintf("%s %d", st, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
