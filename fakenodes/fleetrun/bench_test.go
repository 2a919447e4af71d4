package fleetrun

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushlab/pushlab/fakenodes"
	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/internal/pushyclient"
	"github.com/pushlab/pushlab/internal/sse"
	"github.com/pushlab/pushlab/server/servertest"
)

// bench9000Env asks for BenchmarkJob9000, which takes the whole machine for several minutes.
const bench9000Env = "PUSHLAB_BENCH_9000"

// sseTimeLayout is the timestamp of SSE data objects (protocol.md §6).
const sseTimeLayout = "2006-01-02 15:04:05.000000Z"

// BenchmarkJob9000 measures the reference server at its scale target: 9,000 CURVE-connected
// nodes held by one server process (this one), a no-op job on all of them per iteration. The
// nodes are the simulated fleet in three worker processes (as `pushlab fleet` spreads them), so
// no process needs more than 20,000 open files, and they keep the real client's rules (no
// grace on a silent command channel). Run it with
//
//	PUSHLAB_BENCH_9000=1 go test -run '^$' -bench Job9000 -benchtime 3x -timeout 60m ./fakenodes/fleetrun/
//
// PUSHLAB_BENCH_NODES changes the node count; PUSHLAB_BENCH_CPUPROFILE=FILE profiles this
// process (the server and the SSE client) during the jobs, PUSHLAB_BENCH_WORKER_CPUPROFILE=DIR
// each worker process over its life; PUSHLAB_BENCH_TRACE=1 prints the fleet's progress every 5 s. Each iteration is one job; the metrics pool all
// iterations:
//
//   - commit-p99-ms, commit-max-ms: from the moment the POST /jobs request is sent to the moment
//     a node's event loop has received and verified its commit message, over every node of every
//     job (node-side receive timestamps, gathered from the worker processes; one machine, one
//     clock); max is the last node's commit of the slowest job;
//   - job-max-ms: from the POST to the job_complete event read by the SSE client (commit, 9,000
//     votes, run, 9,000 succeeded, complete), the slowest job;
//   - sse-p99-ms: for every job-feed event the server emitted while the feed was open, the time
//     the client read it minus the timestamp the server stamped in it (the engine's clock when it
//     made the event); events already in the history when the feed opened are left out. The
//     client is a process of its own, as a user's would be (PUSHLAB_BENCH_SSE_INPROCESS=1 reads
//     the feed in this process instead, competing with the server for its processors);
//   - sse-node-p99-ms: for quorum_vote and run_complete, the time the client read the event minus
//     the time the node sent the ack_commit or succeeded that caused it (broker, engine, feed and
//     HTTP together).
func BenchmarkJob9000(b *testing.B) {
	if os.Getenv(bench9000Env) == "" {
		b.Skip("set " + bench9000Env + "=1: several minutes, the whole machine")
	}
	nodes := 9000
	if s := os.Getenv("PUSHLAB_BENCH_NODES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 3 {
			b.Fatalf("PUSHLAB_BENCH_NODES=%q", s)
		}
		nodes = n
	}
	dir := b.TempDir()
	cfg := servertest.Fast(dir)
	cfg.HeartbeatInterval = 5 * time.Second
	cfg.RehabInterval = time.Second
	cfg.VotingTimeout = time.Minute
	cfg.WaitCompleteTime = 2 * time.Second
	cfg.KeepAlive = 15 * time.Second
	srv := servertest.Start(b, cfg)
	nodeKey, err := chefauth.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	keyPEM := chefauth.EncodePrivateKeyPEM(nodeKey)
	evDir := filepath.Join(dir, "events")
	if err := os.Mkdir(evDir, 0o755); err != nil {
		b.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	var mu sync.Mutex
	var stats func() fakenodes.Stats
	var eventFiles []string
	var workerCmds []*exec.Cmd
	o := Options{Server: srv.URL(), Org: srv.Org(), User: "admin", UserKey: srv.Admin, NodeKey: nodeKey,
		Nodes: nodes, NamePrefix: "b-", Seed: 9, Register: true, PerProcess: (nodes + 2) / 3,
		Out: &syncWriter{w: &out},
		WorkerCommand: func(ctx context.Context, w Worker) *exec.Cmd {
			path := filepath.Join(evDir, strconv.Itoa(w.First))
			spec, _ := json.Marshal(workerSpec{Server: srv.URL(), Org: srv.Org(), Prefix: "b-", Key: keyPEM,
				First: w.First, Count: w.Count, ConfigWorkers: w.ConfigWorkers, Seed: 9, RampRate: 500, Events: path})
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$", "-test.bench=^$")
			cmd.Env = append(os.Environ(), workerEnv+"="+string(spec))
			mu.Lock()
			eventFiles = append(eventFiles, path)
			workerCmds = append(workerCmds, cmd)
			mu.Unlock()
			return cmd
		},
		Started: func(s func() fakenodes.Stats) {
			mu.Lock()
			stats = s
			mu.Unlock()
		}}
	errs := make(chan error, 1)
	go func() { errs <- Run(ctx, o) }()
	defer func() {
		cancel()
		select {
		case err := <-errs:
			if err != nil {
				b.Errorf("fleet: %v", err)
			}
		case <-time.After(time.Minute):
			b.Error("the fleet did not stop")
		}
	}()
	fleetStats := func() fakenodes.Stats {
		mu.Lock()
		defer mu.Unlock()
		if stats == nil {
			return fakenodes.Stats{}
		}
		return stats()
	}

	api := pushyclient.New(srv.URL(), srv.Org(), &chefauth.Signer{UserID: "admin", Key: srv.Admin})
	start := time.Now()
	overflows := listenOverflows()
	if os.Getenv("PUSHLAB_BENCH_TRACE") != "" {
		fmt.Fprintf(os.Stderr, "server: REST %s, heartbeat port %d, command port %d\n", srv.URL(), srv.Config().HeartbeatPort, srv.Config().CommandPort)
		go func() {
			for ctx.Err() == nil {
				time.Sleep(5 * time.Second)
				s := fleetStats()
				fmt.Fprintf(os.Stderr, "%5.0fs %v; %d config requests, %d silent command channels, first answer by bucket %v (max %s), %d late heartbeats, %d sends refused\n",
					time.Since(start).Seconds(), s.ByState, s.ConfigFetches, s.SilentChannels, s.AnswerWait, s.AnswerWaitMax.Round(time.Millisecond), s.LateTicks, s.SendFull)
			}
		}()
	}
	if err := waitAllOnline(ctx, api, fleetStats, nodes, errs, 20*time.Minute); err != nil {
		b.Fatalf("%v\nfleet: %+v\n%s", err, fleetStats(), &out)
	}
	joined := time.Since(start)
	joinStats := fleetStats()
	b.Logf("%d nodes online and available in %s (registration included): %d config requests, %d silent command channels, %d reconfigures",
		nodes, joined.Round(time.Millisecond), joinStats.ConfigFetches, joinStats.SilentChannels, joinStats.Reconfigures)
	fds, rss := openFiles(), residentMB()
	overflows = listenOverflows() - overflows

	names := make([]string, nodes)
	for i := range names {
		names[i] = fakenodes.NodeName("b-", 5, i)
	}
	var commit, sseLat, sseNode []float64
	var commitMax, jobMax float64
	var serverCPU, fleetCPU float64
	fleetCPUTime := func() float64 {
		mu.Lock()
		defer mu.Unlock()
		var sum float64
		for _, c := range workerCmds {
			if c.Process != nil {
				sum += fakenodes.ProcessCPU(c.Process.Pid)
			}
		}
		return sum
	}
	history := 0
	feed := func(ctx context.Context, id string) (time.Time, []readEvent, error) { return readFeed(ctx, api, id) }
	if os.Getenv("PUSHLAB_BENCH_SSE_INPROCESS") == "" {
		reader, err := startFeedReader(srv.URL(), srv.Org(), "admin", chefauth.EncodePrivateKeyPEM(srv.Admin))
		if err != nil {
			b.Fatal(err)
		}
		defer reader.close()
		feed = reader.read
	}
	if path := os.Getenv("PUSHLAB_BENCH_CPUPROFILE"); path != "" { // the jobs only, not the join
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	for i := 0; b.Loop(); i++ {
		server0, fleet0 := fakenodes.ProcessCPU(os.Getpid()), fleetCPUTime()
		r, err := benchJob(ctx, api, feed, names, eventFiles)
		serverCPU += fakenodes.ProcessCPU(os.Getpid()) - server0
		fleetCPU += fleetCPUTime() - fleet0
		if err != nil {
			b.Fatalf("job %d: %v\nfleet: %+v", i, err, fleetStats())
		}
		b.Logf("job %d: POST answered %.0f ms, last commit %.0f ms, quorum %.0f ms, complete %.0f ms; SSE p99 %.1f ms (%d events, %d from the history)",
			i, r.posted, slices.Max(r.commit), r.quorum, r.job, percentile(r.sse, 0.99), len(r.sse), r.history)
		commit = append(commit, r.commit...)
		sseLat = append(sseLat, r.sse...)
		sseNode = append(sseNode, r.sseNode...)
		commitMax = max(commitMax, slices.Max(r.commit))
		jobMax = max(jobMax, r.job)
		history += r.history
	}
	end := fleetStats()
	b.ReportMetric(percentile(commit, 0.99), "commit-p99-ms")
	b.ReportMetric(commitMax, "commit-max-ms")
	b.ReportMetric(jobMax, "job-max-ms")
	b.ReportMetric(percentile(sseLat, 0.99), "sse-p99-ms")
	b.ReportMetric(percentile(sseNode, 0.99), "sse-node-p99-ms")
	b.ReportMetric(serverCPU/float64(b.N), "server-cpu-s/job")
	b.ReportMetric(fleetCPU/float64(b.N), "fleet-cpu-s/job")
	b.ReportMetric(float64(nodes)/joined.Seconds(), "join-nodes/s")
	b.ReportMetric(float64(fds), "server-open-files")
	b.ReportMetric(rss, "server-rss-MB")
	b.ReportMetric(float64(end.SilentChannels), "silent-channels")
	b.ReportMetric(float64(overflows), "listen-overflows")
	if end.Online() != nodes || end.SilentChannels != joinStats.SilentChannels {
		b.Errorf("fleet after the jobs: %d of %d online, %d silent command channels (%d at the end of the join)",
			end.Online(), nodes, end.SilentChannels, joinStats.SilentChannels)
	}
}

// waitAllOnline waits until every node is online in the fleet and available on the server, and
// has stayed so for a second.
func waitAllOnline(ctx context.Context, api *pushyclient.Client, stats func() fakenodes.Stats, nodes int, errs <-chan error, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var since time.Time
	for {
		fleet := stats().Online()
		server := 0
		states, err := api.NodeStates(ctx)
		for _, s := range states {
			if s.Availability == "available" {
				server++
			}
		}
		if err == nil && fleet == nodes && server == nodes {
			if since.IsZero() {
				since = time.Now()
			}
			if time.Since(since) >= time.Second {
				return nil
			}
		} else {
			since = time.Time{}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d nodes online in the fleet, %d available on the server (%v)", fleet, nodes, server, err)
		}
		select {
		case err := <-errs:
			return fmt.Errorf("the fleet ended: %v", err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// jobResult holds one job's latencies, in milliseconds.
type jobResult struct {
	posted  float64   // POST answered
	quorum  float64   // quorum_succeeded read
	job     float64   // job_complete read
	commit  []float64 // per node: commit received
	sse     []float64 // per streamed event: read − server stamp
	sseNode []float64 // per streamed vote and result: read − node's send
	history int       // events already stamped when the feed opened
}

type readEvent struct {
	at time.Time
	ev sse.Event
}

// feedReader reads a job's feed until job_complete: when it opened, and each event with the
// time it was read.
type feedReader func(ctx context.Context, jobID string) (opened time.Time, evs []readEvent, err error)

// readFeed reads a job's feed in this process.
func readFeed(ctx context.Context, api *pushyclient.Client, jobID string) (time.Time, []readEvent, error) {
	feed, err := api.JobFeed(ctx, jobID, "")
	if err != nil {
		return time.Time{}, nil, err
	}
	defer feed.Close()
	opened := time.Now()
	var evs []readEvent
	for {
		ev, err := feed.Next()
		at := time.Now()
		if err != nil {
			return opened, nil, fmt.Errorf("feed ended after %d events: %v", len(evs), err)
		}
		evs = append(evs, readEvent{at, ev})
		if ev.Name == "job_complete" {
			return opened, evs, nil
		}
	}
}

// The feed reader process: by default the benchmark reads each job's feed from a process of
// its own (this test binary re-executed), as a user's client would, so that the reading does
// not compete with the server for its goroutines' processors. It reads job ids from stdin and
// answers each with JSON lines: the time the feed opened, each event with the time it was
// read, then the end.

const feedReaderEnv = "PUSHLAB_BENCH_FEED_READER"

type feedReaderSpec struct {
	Server, Org, User string
	Key               []byte
}

type feedLine struct {
	Opened int64  `json:"opened,omitempty"`
	At     int64  `json:"at,omitempty"`
	Name   string `json:"name,omitempty"`
	ID     string `json:"id,omitempty"`
	Data   []byte `json:"data,omitempty"`
	End    bool   `json:"end,omitempty"`
	Error  string `json:"error,omitempty"`
}

// runFeedReader is the reader process.
func runFeedReader(spec string) int {
	var s feedReaderSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	key, err := chefauth.ParsePrivateKeyPEM(s.Key)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	api := pushyclient.New(s.Server, s.Org, &chefauth.Signer{UserID: s.User, Key: key})
	in := bufio.NewScanner(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	for in.Scan() {
		opened, evs, err := readFeed(context.Background(), api, strings.TrimSpace(in.Text()))
		if err != nil {
			enc.Encode(feedLine{Error: err.Error()})
		} else {
			enc.Encode(feedLine{Opened: opened.UnixNano()})
			for _, e := range evs {
				enc.Encode(feedLine{At: e.at.UnixNano(), Name: e.ev.Name, ID: e.ev.ID, Data: e.ev.Data})
			}
			enc.Encode(feedLine{End: true})
		}
		if err := out.Flush(); err != nil {
			return 1
		}
	}
	return 0
}

type feedReaderProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	dec   *json.Decoder
}

func startFeedReader(server, org, user string, key []byte) (*feedReaderProc, error) {
	spec, _ := json.Marshal(feedReaderSpec{Server: server, Org: org, User: user, Key: key})
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), feedReaderEnv+"="+string(spec))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &feedReaderProc{cmd: cmd, stdin: stdin, dec: json.NewDecoder(bufio.NewReader(stdout))}, nil
}

func (p *feedReaderProc) read(_ context.Context, jobID string) (time.Time, []readEvent, error) {
	if _, err := io.WriteString(p.stdin, jobID+"\n"); err != nil {
		return time.Time{}, nil, fmt.Errorf("feed reader: %v", err)
	}
	var opened time.Time
	var evs []readEvent
	for {
		var l feedLine
		if err := p.dec.Decode(&l); err != nil {
			return time.Time{}, nil, fmt.Errorf("feed reader: %v", err)
		}
		switch {
		case l.Error != "":
			return time.Time{}, nil, fmt.Errorf("feed reader: %s", l.Error)
		case l.End:
			return opened, evs, nil
		case l.Opened != 0:
			opened = time.Unix(0, l.Opened)
		default:
			evs = append(evs, readEvent{time.Unix(0, l.At), sse.Event{Name: l.Name, ID: l.ID, Data: l.Data}})
		}
	}
}

func (p *feedReaderProc) close() {
	p.stdin.Close()
	_ = p.cmd.Wait()
}

// benchJob runs one no-op job on every node, reading its feed as it streams, and gathers the
// nodes' message times from the worker processes.
func benchJob(ctx context.Context, api *pushyclient.Client, feed feedReader, names []string, eventFiles []string) (*jobResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	t0 := time.Now()
	started, err := api.StartJob(ctx, pushyclient.JobRequest{Command: "chef-client", Nodes: names})
	if err != nil {
		return nil, err
	}
	posted := time.Now()
	opened, evs, err := feed(ctx, started.ID)
	if err != nil {
		return nil, err
	}

	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	r := &jobResult{posted: ms(posted.Sub(t0)), job: ms(evs[len(evs)-1].at.Sub(t0))}
	job, err := api.Job(ctx, started.ID)
	if err != nil {
		return nil, err
	}
	if job.Status != "complete" || len(job.Nodes["succeeded"]) != len(names) {
		counts := map[string]int{}
		for k, v := range job.Nodes {
			counts[k] = len(v)
		}
		return nil, fmt.Errorf("job %s: %s, nodes %v", started.ID, job.Status, counts)
	}
	recs, err := readRecords(ctx, eventFiles, started.ID, len(names))
	if err != nil {
		return nil, err
	}
	for _, at := range recs["commit"] {
		r.commit = append(r.commit, ms(at.Sub(t0)))
	}
	counts := map[string]int{}
	for _, e := range evs {
		counts[e.ev.Name]++
		d, err := pushyclient.DecodeEvent(e.ev)
		if err != nil {
			return nil, err
		}
		stamp, err := time.Parse(sseTimeLayout, d.Timestamp)
		if err != nil {
			return nil, fmt.Errorf("event %s: timestamp %q: %v", e.ev.ID, d.Timestamp, err)
		}
		if e.ev.Name == "quorum_succeeded" {
			r.quorum = ms(e.at.Sub(t0))
		}
		if stamp.Before(opened) {
			r.history++
			continue
		}
		r.sse = append(r.sse, ms(e.at.Sub(stamp)))
		var cause time.Time
		switch e.ev.Name {
		case "quorum_vote":
			cause = recs["ack_commit"][d.Node]
		case "run_complete":
			cause = recs["succeeded"][d.Node]
		}
		if !cause.IsZero() && !cause.Before(opened) {
			r.sseNode = append(r.sseNode, ms(e.at.Sub(cause)))
		}
	}
	n := len(names)
	if counts["quorum_vote"] != n || counts["run_start"] != n || counts["run_complete"] != n {
		return nil, fmt.Errorf("feed events %v for %d nodes", counts, n)
	}
	return r, nil
}

// readRecords reads the worker processes' job message times of one job until every node's
// commit, ack_commit and succeeded are there: type → node → time.
func readRecords(ctx context.Context, files []string, jobID string, nodes int) (map[string]map[string]time.Time, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		recs := map[string]map[string]time.Time{"commit": {}, "ack_commit": {}, "succeeded": {}}
		for _, path := range files {
			data, err := os.ReadFile(path)
			if err != nil && !os.IsNotExist(err) {
				return nil, err
			}
			for line := range strings.Lines(string(data)) {
				f := strings.Fields(line)
				if len(f) != 4 || f[2] != jobID || recs[f[0]] == nil {
					continue
				}
				ns, err := strconv.ParseInt(f[3], 10, 64)
				if err != nil {
					continue
				}
				if _, dup := recs[f[0]][f[1]]; !dup {
					recs[f[0]][f[1]] = time.Unix(0, ns)
				}
			}
		}
		if len(recs["commit"]) == nodes && len(recs["ack_commit"]) == nodes && len(recs["succeeded"]) == nodes {
			return recs, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("node records of job %s: %d commits, %d ack_commits, %d succeeded of %d nodes",
				jobID, len(recs["commit"]), len(recs["ack_commit"]), len(recs["succeeded"]), nodes)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// jobRecorder appends the times of the job messages a worker's nodes receive and send to a file,
// one line each: "TYPE NODE JOB UNIXNANO", for commit received, ack_commit and succeeded sent.
type jobRecorder struct {
	ch      chan fakenodes.Event
	done    chan struct{}
	f       *os.File
	closed  atomic.Bool
	dropped atomic.Int64
}

func newJobRecorder(path string) (*jobRecorder, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	r := &jobRecorder{ch: make(chan fakenodes.Event, 1<<16), done: make(chan struct{}), f: f}
	go r.run()
	return r, nil
}

// event is the fleet's OnEvent: it runs on the event loops and never blocks.
func (r *jobRecorder) event(e fakenodes.Event) {
	switch {
	case e.Kind == fakenodes.EventReceived && e.Type == "commit":
	case e.Kind == fakenodes.EventSent && (e.Type == "ack_commit" || e.Type == "succeeded"):
	default:
		return
	}
	if r.closed.Load() {
		return
	}
	e.Body = nil
	select {
	case r.ch <- e:
	default:
		r.dropped.Add(1)
	}
}

func (r *jobRecorder) run() {
	defer close(r.done)
	w := bufio.NewWriter(r.f)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case e, ok := <-r.ch:
			if !ok {
				w.Flush()
				return
			}
			fmt.Fprintf(w, "%s %s %s %d\n", e.Type, e.Node, e.JobID, e.Time.UnixNano())
		case <-tick.C:
			w.Flush()
		}
	}
}

func (r *jobRecorder) close() {
	if r.closed.CompareAndSwap(false, true) {
		close(r.ch)
		<-r.done
		if n := r.dropped.Load(); n > 0 {
			fmt.Fprintf(os.Stderr, "job recorder: %d events dropped\n", n)
		}
		r.f.Close()
	}
}

// percentile is the p-quantile of xs (nearest rank).
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// listenOverflows is the machine's count of connections dropped because a listener's accept
// queue was full (TcpExt ListenOverflows).
func listenOverflows() int64 {
	b, err := os.ReadFile("/proc/net/netstat")
	if err != nil {
		return 0
	}
	lines := strings.Split(string(b), "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		for j, n := range names {
			if n == "ListenOverflows" && j < len(values) {
				v, _ := strconv.ParseInt(values[j], 10, 64)
				return v
			}
		}
	}
	return 0
}

// openFiles counts this process's open file descriptors.
func openFiles() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// residentMB is this process's resident set size in MB.
func residentMB() float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseFloat(f[1], 64)
	return pages * float64(os.Getpagesize()) / (1 << 20)
}
