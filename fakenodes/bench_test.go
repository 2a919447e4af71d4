package fakenodes

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pushlab/pushlab/internal/chefauth"
)

// Benchmarks of the fleet against a sink server in another process (sink_test.go), so that only
// the simulator's costs are measured. Each iteration is one whole measurement; run them with
// -benchtime=1x. PUSHLAB_BENCH_NODES sets the node count (default 2,000).

func benchNodes(b *testing.B, def int) int {
	if s := os.Getenv("PUSHLAB_BENCH_NODES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("PUSHLAB_BENCH_NODES=%q", s)
		}
		return n
	}
	return def
}

// rss is the resident set size of this process.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

func cpuTime() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchFleet(b *testing.B, url string, nodes int, ramp float64) *Fleet {
	f, err := NewFleet(FleetConfig{Server: url, Org: "bench", Key: testNodeKey(b), Nodes: nodes, NamePrefix: "b-",
		RampRate: ramp, CommandGrace: 30 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	return f
}

// BenchmarkFleetJoin: nodes per second from start to online (config request with two RSA
// private-key operations, CURVE handshake, first heartbeat answered), and memory per node
// (resident set, libzmq included).
func BenchmarkFleetJoin(b *testing.B) {
	nodes := benchNodes(b, 2000)
	url := startSink(b, time.Second, testNodeKey(b))
	for i := 0; i < b.N; i++ {
		runtime.GC()
		before := rss()
		f := benchFleet(b, url, nodes, -1)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		start := time.Now()
		cpu0 := cpuTime()
		if err := f.Start(ctx); err != nil {
			b.Fatal(err)
		}
		if err := f.WaitOnline(ctx, nodes); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		cpu := cpuTime() - cpu0
		time.Sleep(2 * time.Second) // buffers settle
		runtime.GC()
		perNode := float64(rss()-before) / float64(nodes)
		cancel()
		b.ReportMetric(float64(nodes)/took.Seconds(), "nodes/s")
		b.ReportMetric(perNode, "B/node")
		b.ReportMetric(cpu.Seconds()*1e3/float64(nodes), "cpu-ms/node")
		if err := f.Stop(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHeartbeatCycles: node-heartbeat cycles (one heartbeat sent, one server heartbeat
// received and verified) per CPU-second of the fleet process, CURVE on, with the sink and the
// nodes at 200 ms heartbeats.
func BenchmarkHeartbeatCycles(b *testing.B) {
	nodes := benchNodes(b, 2000)
	url := startSink(b, 200*time.Millisecond, testNodeKey(b))
	f := benchFleet(b, url, nodes, 2000)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := f.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer f.Stop()
	if err := f.WaitOnline(ctx, nodes); err != nil {
		b.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s0, cpu0, t0 := f.Stats(), cpuTime(), time.Now()
		time.Sleep(5 * time.Second)
		s1, cpu1, elapsed := f.Stats(), cpuTime(), time.Since(t0)
		sent := s1.Sent["heartbeat"] - s0.Sent["heartbeat"]
		recv := s1.Received["heartbeat"] - s0.Received["heartbeat"]
		cycles := float64(min(sent, recv))
		cpu := (cpu1 - cpu0).Seconds()
		b.ReportMetric(cycles/cpu, "cycles/cpu-s")
		b.ReportMetric(cycles/elapsed.Seconds(), "cycles/s")
		b.ReportMetric(100*cpu/elapsed.Seconds(), "cpu-%")
		b.ReportMetric(float64(s1.LateTicks-s0.LateTicks), "late-ticks")
		b.ReportMetric(float64(s1.HeartbeatVerifications-s0.HeartbeatVerifications), "rsa-verifications")
	}
}

// Multi-process: the fleet spread over child processes of this test binary, each with its own
// open-file limit, against sinks of their own (a sink holds 2 descriptors per node).

const fleetChildEnv = "FAKENODES_FLEET_CHILD"

type childSpec struct {
	URL   string
	First int
	Nodes int
	Ramp  float64
}

type childReport struct {
	Online  int     `json:"online"`
	Seconds float64 `json:"seconds"`
	RSS     int64   `json:"rss"`
	CPU     float64 `json:"cpu"`
	Late    int64   `json:"late"`
	Err     string  `json:"err,omitempty"`
}

// runFleetChild runs a fleet until stdin closes, reporting once online and at the end.
func runFleetChild(spec string) int {
	var s childSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	key, err := keyFromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	out := json.NewEncoder(os.Stdout)
	f, err := NewFleet(FleetConfig{Server: s.URL, Org: "bench", Key: key, Nodes: s.Nodes, FirstIndex: s.First, NamePrefix: "m-",
		RampRate: s.Ramp, CommandGrace: time.Minute})
	if err != nil {
		out.Encode(childReport{Err: err.Error()})
		return 1
	}
	start := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		bufio.NewReader(os.Stdin).ReadString('\n')
		cancel()
	}()
	f.Start(ctx)
	report := func() childReport {
		st := f.Stats()
		return childReport{Online: st.Online(), Seconds: time.Since(start).Seconds(), RSS: rss(), CPU: cpuTime().Seconds(), Late: st.LateTicks}
	}
	if err := f.WaitOnline(ctx, s.Nodes); err != nil {
		r := report()
		r.Err = err.Error()
		out.Encode(r)
	} else {
		out.Encode(report())
	}
	<-ctx.Done()
	out.Encode(report())
	f.Stop()
	return 0
}

// BenchmarkFleetMultiProcess holds PUSHLAB_BENCH_NODES nodes (default 18,000) online at once,
// 4,500 per process, against sinks of up to 9,000 nodes each; set PUSHLAB_BENCH_MULTI=1 to run.
func BenchmarkFleetMultiProcess(b *testing.B) {
	if os.Getenv("PUSHLAB_BENCH_MULTI") == "" {
		b.Skip("set PUSHLAB_BENCH_MULTI=1 (several minutes, most of the machine)")
	}
	total := benchNodes(b, 18000)
	const perChild, perSink = 4500, 9000
	key := testNodeKey(b)
	keyPEM := string(chefauth.EncodePrivateKeyPEM(key))
	for it := 0; it < b.N; it++ {
		var sinks []string
		for n := 0; n < total; n += perSink {
			sinks = append(sinks, startSink(b, 5*time.Second, key))
		}
		type child struct {
			cmd   *exec.Cmd
			stdin interface{ Close() error }
			out   *bufio.Reader
		}
		var children []child
		start := time.Now()
		for first := 0; first < total; first += perChild {
			n := min(perChild, total-first)
			spec, _ := json.Marshal(childSpec{URL: sinks[first/perSink], First: first, Nodes: n, Ramp: 400})
			cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
			cmd.Env = append(os.Environ(), fleetChildEnv+"="+string(spec), nodeKeyEnv+"="+keyPEM)
			cmd.Stderr = os.Stderr
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			children = append(children, child{cmd, stdin, bufio.NewReader(stdout)})
		}
		var mu sync.Mutex
		var reports []childReport
		var wg sync.WaitGroup
		for _, c := range children {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var r childReport
				line, err := c.out.ReadString('\n')
				if err != nil || json.Unmarshal([]byte(line), &r) != nil {
					r.Err = fmt.Sprintf("child: %q %v", line, err)
				}
				mu.Lock()
				reports = append(reports, r)
				mu.Unlock()
			}()
		}
		wg.Wait()
		allOnline := time.Since(start)
		online, mem, cpu := 0, int64(0), 0.0
		for _, r := range reports {
			if r.Err != "" {
				b.Errorf("child: %s", r.Err)
			}
			online += r.Online
			mem += r.RSS
			cpu += r.CPU
		}
		time.Sleep(10 * time.Second) // all online at once, for a while
		var late int64
		online = 0
		for _, c := range children {
			c.stdin.Close()
			var r childReport
			line, _ := c.out.ReadString('\n')
			json.Unmarshal([]byte(line), &r)
			online += r.Online
			late += r.Late
			mem = max(mem, 0)
			c.cmd.Wait()
		}
		b.ReportMetric(float64(online), "nodes-online")
		b.ReportMetric(allOnline.Seconds(), "s-to-online")
		b.ReportMetric(float64(mem)/float64(total), "B/node")
		b.ReportMetric(cpu*1e3/float64(total), "cpu-ms/node")
		b.ReportMetric(float64(late), "late-ticks")
		if online != total {
			b.Errorf("%d of %d nodes online after holding", online, total)
		}
	}
}
