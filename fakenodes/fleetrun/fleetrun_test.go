package fleetrun

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pushlab/pushlab/fakenodes"
	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/internal/pushyclient"
	"github.com/pushlab/pushlab/server/servertest"
)

// workerEnv carries a worker's options when the test binary runs as a worker process.
const workerEnv = "FLEETRUN_TEST_WORKER"

type workerSpec struct {
	Server, Org, Prefix string
	Key                 []byte
	First, Count        int
	ConfigWorkers       int
	Seed                int64
	RampRate            float64       // per worker (default 1000/s)
	CommandGrace        time.Duration // 0: the real client's rule for a silent command channel
	Events              string        // when set, job message times are appended to this file
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(workerEnv); spec != "" {
		os.Exit(runTestWorker(spec))
	}
	if spec := os.Getenv(feedReaderEnv); spec != "" {
		os.Exit(runFeedReader(spec))
	}
	os.Exit(m.Run())
}

// runTestWorker is a worker process: the test binary re-executed, as `pushlab fleet --worker`.
func runTestWorker(spec string) int {
	var w workerSpec
	if err := json.Unmarshal([]byte(spec), &w); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	key, err := chefauth.ParsePrivateKeyPEM(w.Key)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if w.RampRate == 0 {
		w.RampRate = 1000
	}
	o := Options{Server: w.Server, Org: w.Org, NodeKey: key, Nodes: w.First + w.Count, NamePrefix: w.Prefix,
		Seed: w.Seed, RampRate: w.RampRate, CommandGrace: w.CommandGrace, ConfigWorkers: w.ConfigWorkers}
	var rec *jobRecorder
	if w.Events != "" {
		if rec, err = newJobRecorder(w.Events); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		o.OnEvent = rec.event
	}
	if dir := os.Getenv("PUSHLAB_BENCH_WORKER_CPUPROFILE"); dir != "" { // a profile per worker, its whole life
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("worker-%d.prof", w.First)))
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer func() {
				pprof.StopCPUProfile()
				f.Close()
			}()
		}
	}
	err = RunWorker(ctx, o, w.First, w.Count, os.Stdin, os.Stdout)
	if rec != nil {
		rec.close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func TestRange(t *testing.T) {
	total := 0
	next := 0
	for i := 0; i < 7; i++ {
		first, count := Range(1000, i, 7)
		if first != next || count < 142 || count > 143 {
			t.Fatalf("shard %d: %d+%d", i, first, count)
		}
		next = first + count
		total += count
	}
	if total != 1000 {
		t.Fatalf("total %d", total)
	}
	for _, bad := range []string{"2/2", "-1/3", "1/0", "x", "1/2/3"} {
		if _, _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) accepted", bad)
		}
	}
	if i, n, err := ParseShard("3/4"); err != nil || i != 3 || n != 4 {
		t.Fatalf("3/4: %d %d %v", i, n, err)
	}
	if f, c, err := WorkerSpec("4000:2000"); err != nil || f != 4000 || c != 2000 {
		t.Fatalf("worker spec: %d %d %v", f, c, err)
	}
}

// TestFleetShardsAndWorkersAgainstReferenceServer runs the fleet as `pushlab fleet` does: two
// shards of one 2,000-node fleet started independently, each spreading its nodes over worker
// processes, then a job on every node.
func TestFleetShardsAndWorkersAgainstReferenceServer(t *testing.T) {
	nodes := 2000
	if testing.Short() {
		nodes = 200
	}
	if s := os.Getenv("PUSHLAB_FLEETRUN_NODES"); s != "" { // 9,000 is the end-to-end target
		n, err := strconv.Atoi(s)
		if err != nil || n < 4 {
			t.Fatalf("PUSHLAB_FLEETRUN_NODES=%q", s)
		}
		nodes = n
	}
	cfg := servertest.Fast(t.TempDir())
	cfg.HeartbeatInterval = time.Second
	cfg.VotingTimeout = time.Minute
	srv := servertest.Start(t, cfg)
	nodeKey, err := chefauth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := chefauth.EncodePrivateKeyPEM(nodeKey)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var sources []func() fakenodes.Stats
	var workers int
	errs := make(chan error, 2)
	var outs [2]bytes.Buffer
	for shard := 0; shard < 2; shard++ {
		o := Options{Server: srv.URL(), Org: srv.Org(), User: "admin", UserKey: srv.Admin, NodeKey: nodeKey,
			Nodes: nodes, Shard: shard, Shards: 2, NamePrefix: "sim-", Seed: 3, Register: true, PerProcess: (nodes + 3) / 4,
			Out: &syncWriter{w: &outs[shard]}, MetricsAddr: map[int]string{0: "127.0.0.1:0"}[shard],
			WorkerCommand: func(ctx context.Context, w Worker) *exec.Cmd {
				spec, _ := json.Marshal(workerSpec{Server: srv.URL(), Org: srv.Org(), Prefix: "sim-", Key: keyPEM,
					First: w.First, Count: w.Count, ConfigWorkers: w.ConfigWorkers, Seed: 3, CommandGrace: 10 * time.Second})
				cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), workerEnv+"="+string(spec))
				mu.Lock()
				workers++
				mu.Unlock()
				return cmd
			},
			Started: func(stats func() fakenodes.Stats) {
				mu.Lock()
				sources = append(sources, stats)
				mu.Unlock()
			}}
		go func() { errs <- Run(ctx, o) }()
	}
	api := pushyclient.New(srv.URL(), srv.Org(), &chefauth.Signer{UserID: "admin", Key: srv.Admin})
	online := func() (fleet, server int, err error) {
		mu.Lock()
		for _, s := range sources {
			fleet += s().Online()
		}
		mu.Unlock()
		states, err := api.NodeStates(ctx)
		for _, s := range states {
			if s.Availability == "available" {
				server++
			}
		}
		return fleet, server, err
	}
	start := time.Now()
	deadline := start.Add(90*time.Second + time.Duration(nodes)*20*time.Millisecond)
	var allSince time.Time // all online and available since then: one second of that is stable
	for {
		f, s, err := online()
		if err == nil && f == nodes && s == nodes {
			if allSince.IsZero() {
				allSince = time.Now()
			}
			if time.Since(allSince) >= time.Second {
				break
			}
		} else {
			allSince = time.Time{}
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %d nodes online in the fleet, %d available on the server (%v)\n%s\n%s", time.Since(start), f, s, err, &outs[0], &outs[1])
		}
		select {
		case err := <-errs:
			t.Fatalf("fleet ended: %v\n%s\n%s", err, &outs[0], &outs[1])
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Logf("%d nodes in %d worker processes online in %s", nodes, workers, time.Since(start).Round(time.Millisecond))
	if workers != 4 {
		t.Errorf("%d worker processes, want 4", workers)
	}
	names := make([]string, nodes)
	for i := range names {
		names[i] = fakenodes.NodeName("sim-", 5, i)
	}
	started, err := api.StartJob(ctx, pushyclient.JobRequest{Command: "chef-client", Nodes: names})
	if err != nil {
		t.Fatal(err)
	}
	var job *pushyclient.Job
	for {
		if job, err = api.Job(ctx, started.ID); err == nil && job.Finished() {
			break
		}
		if time.Now().After(deadline.Add(30 * time.Second)) {
			t.Fatalf("job not finished: %v %v", err, job)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if job.Status != "complete" || len(job.Nodes["succeeded"]) != nodes || len(job.Nodes) != 1 {
		counts := map[string]int{}
		for k, v := range job.Nodes {
			counts[k] = len(v)
		}
		mu.Lock()
		total := sources[0]().Add(sources[1]())
		mu.Unlock()
		t.Fatalf("job %s: %v of %d nodes; fleet %+v", job.Status, counts, nodes, total)
	}
	// the workers report every second
	var total fakenodes.Stats
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		mu.Lock()
		total = sources[0]().Add(sources[1]())
		mu.Unlock()
		if total.Commits == int64(nodes) && total.Sent["succeeded"] == int64(nodes) {
			break
		}
	}
	if total.Commits != int64(nodes) || total.Sent["succeeded"] != int64(nodes) || total.Nodes != nodes {
		t.Fatalf("%d nodes, commits %d, succeeded sent %d", total.Nodes, total.Commits, total.Sent["succeeded"])
	}
	// a clean stop on cancel (the signal of the command)
	cancel()
	for i := 0; i < 2; i++ {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	}
	for i := range outs {
		out := outs[i].String()
		half := strconv.Itoa(nodes / 2)
		if !strings.Contains(out, "registered "+half+" node clients") || !strings.Contains(out, "fleet stopped: "+half+" nodes") {
			t.Errorf("shard %d output:\n%s", i, out)
		}
	}
}

func TestMetricsEndpoint(t *testing.T) {
	f := func() fakenodes.Stats {
		return fakenodes.Stats{Nodes: 3, ByState: map[fakenodes.State]int{fakenodes.StateOnline: 2, fakenodes.StateDown: 1},
			Sent: map[string]int64{"heartbeat": 10}, Fired: map[string]int64{"nack_commit": 4}, SendFull: 2, MaxLag: 3 * time.Millisecond}
	}
	addr, stop, err := serveMetrics("127.0.0.1:0", f)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`pushlab_fleet_nodes{state="online"} 2`,
		`pushlab_fleet_nodes{state="down"} 1`,
		`pushlab_fleet_messages_sent_total{type="heartbeat"} 10`,
		`pushlab_fleet_behaviours_fired_total{behaviour="nack_commit"} 4`,
		`pushlab_fleet_send_queue_full_total 2`,
		`pushlab_fleet_heartbeat_lag_max_seconds 0.003`,
		`process_cpu_seconds_total`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// syncWriter serializes writes from the run's goroutines and worker pipes.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
