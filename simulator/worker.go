package simulator

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pushlab/pushlab/fakenodes"
	"github.com/pushlab/pushlab/fakenodes/behaviour"
	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/scenarios"
)

// Worker processes carry the nodes when one process cannot hold them all (each node costs four
// file descriptors). The parent writes a workerSpec as the first line of the worker's standard
// input, then commands, one JSON object per line; the worker writes the nodes' events and its
// fleet's stats to its standard output, one JSON object per line.

// workerSpec is everything a worker needs to build its slice of the fleet.
type workerSpec struct {
	URL      string            `json:"url"`
	Org      string            `json:"org"`
	Seed     int64             `json:"seed"`
	First    int               `json:"first"` // fleet index of the first node
	Names    []string          `json:"names"`
	Nodes    []workerNode      `json:"nodes"`
	Groups   []workerGroup     `json:"groups"`
	RampRate float64           `json:"ramp_rate"`
	Key      string            `json:"key,omitempty"`  // PEM shared by every node
	Keys     map[string]string `json:"keys,omitempty"` // PEM per node

	// ConfigWorkers bounds the worker's concurrent config requests (two RSA private-key
	// operations each): the workers share the machine's CPUs.
	ConfigWorkers int `json:"config_workers,omitempty"`
}

type workerGroup struct {
	Behaviours []scenarios.BehaviourRef `json:"behaviours"`
}

type workerNode struct {
	Group   int   `json:"g"`
	Entries []int `json:"e,omitempty"`
	Offline bool  `json:"o,omitempty"`
}

type workerCommand struct {
	Op         string        `json:"op"` // start, crash, restart, unavailable, skew, sync
	Seq        int64         `json:"seq,omitempty"`
	Nodes      []string      `json:"nodes,omitempty"`
	D          time.Duration `json:"d,omitempty"`
	Disconnect bool          `json:"disconnect,omitempty"`
}

type workerEvent struct {
	T      time.Time `json:"t"`
	Node   string    `json:"n"`
	Kind   string    `json:"k"`
	Type   string    `json:"y"`
	JobID  string    `json:"j,omitempty"`
	Detail string    `json:"d,omitempty"`
	Body   string    `json:"b,omitempty"`
}

type workerLine struct {
	Event  *workerEvent     `json:"e,omitempty"`
	Stats  *fakenodes.Stats `json:"s,omitempty"`
	Err    string           `json:"err,omitempty"`
	Ready  bool             `json:"ready,omitempty"`
	Synced int64            `json:"synced,omitempty"` // every event before sync Seq is above this line
}

// workerFleet drives worker processes.
type workerFleet struct {
	r     *run
	procs []*workerProc
	owner map[string]*workerProc

	mu      sync.Mutex
	states  map[string]fakenodes.State
	syncSeq atomic.Int64
}

type workerProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	enc    *json.Encoder
	mu     sync.Mutex
	stats  fakenodes.Stats
	synced int64
	sync   *sync.Cond // signalled when synced grows
	done   chan struct{}
	err    error
}

func newWorkerFleet(ctx context.Context, r *run, spec fleetSpec, perProcess int) (nodeFleet, error) {
	n := (len(spec.names) + perProcess - 1) / perProcess
	wf := &workerFleet{r: r, owner: map[string]*workerProc{}, states: map[string]fakenodes.State{}}
	groups := make([]workerGroup, len(r.s.Fleet.Groups))
	gindex := map[string]int{}
	for i, g := range r.s.Fleet.Groups {
		groups[i] = workerGroup{Behaviours: g.Behaviours}
		gindex[g.Name] = i
	}
	var keyPEM string
	if spec.key != nil {
		keyPEM = string(chefauth.EncodePrivateKeyPEM(spec.key))
	}
	for i := 0; i < n; i++ {
		first := len(spec.names) * i / n
		last := len(spec.names) * (i + 1) / n
		ws := workerSpec{URL: spec.url, Org: spec.org, Seed: spec.seed, First: first, Names: spec.names[first:last],
			Groups: groups, RampRate: spec.rampRate / float64(n), Key: keyPEM, ConfigWorkers: max(1, runtime.NumCPU()/n)}
		for _, pn := range r.sc.Nodes[first:last] {
			ws.Nodes = append(ws.Nodes, workerNode{Group: gindex[pn.Group], Entries: pn.Entries, Offline: pn.Offline})
		}
		if spec.keyFor != nil {
			ws.Keys = map[string]string{}
			for _, name := range ws.Names {
				ws.Keys[name] = string(chefauth.EncodePrivateKeyPEM(spec.keyFor(name)))
			}
		}
		p, err := wf.startWorker(ctx, ws)
		if err != nil {
			wf.Stop()
			return nil, fmt.Errorf("worker %d: %w", i, err)
		}
		wf.procs = append(wf.procs, p)
		for _, name := range ws.Names {
			wf.owner[name] = p
			wf.states[name] = fakenodes.StatePending
		}
	}
	return wf, nil
}

func (wf *workerFleet) startWorker(ctx context.Context, ws workerSpec) (*workerProc, error) {
	cmd := exec.CommandContext(ctx, wf.r.o.WorkerBinary, "run", "-", "--sim-worker", strconv.Itoa(ws.First)+":"+strconv.Itoa(len(ws.Names)))
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
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
	p := &workerProc{cmd: cmd, stdin: stdin, enc: json.NewEncoder(stdin), done: make(chan struct{})}
	p.sync = sync.NewCond(&p.mu)
	if err := p.enc.Encode(ws); err != nil {
		return nil, err
	}
	ready := make(chan error, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 256<<10), 16<<20)
		readied := false
		for sc.Scan() {
			var l workerLine
			if json.Unmarshal(sc.Bytes(), &l) != nil {
				continue
			}
			switch {
			case l.Ready && !readied:
				readied = true
				ready <- nil
			case l.Err != "":
				if !readied {
					readied = true
					ready <- errors.New(l.Err)
				}
				p.mu.Lock()
				p.err = errors.New(l.Err)
				p.mu.Unlock()
			case l.Stats != nil:
				p.mu.Lock()
				p.stats = *l.Stats
				p.mu.Unlock()
			case l.Synced != 0:
				p.mu.Lock()
				p.synced = max(p.synced, l.Synced)
				p.sync.Broadcast()
				p.mu.Unlock()
			case l.Event != nil:
				wf.event(l.Event)
			}
		}
		if !readied {
			ready <- errors.New("the worker exited before it was ready")
		}
		p.mu.Lock()
		p.synced = math.MaxInt64 // nothing more will come
		p.sync.Broadcast()
		p.mu.Unlock()
		_ = cmd.Wait()
	}()
	select {
	case err := <-ready:
		if err != nil {
			return nil, err
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return p, nil
}

func (wf *workerFleet) event(we *workerEvent) {
	e := fakenodes.Event{Time: we.T, Node: we.Node, Kind: fakenodes.EventKind(we.Kind), Type: we.Type, JobID: we.JobID, Detail: we.Detail}
	if we.Body != "" {
		e.Body = []byte(we.Body)
	}
	if e.Kind == fakenodes.EventState && isState(e.Type) {
		wf.mu.Lock()
		wf.states[e.Node] = fakenodes.State(e.Type)
		wf.mu.Unlock()
	}
	wf.r.onNodeEvent(e)
}

func (wf *workerFleet) send(c workerCommand) {
	byProc := map[*workerProc][]string{}
	if c.Nodes == nil {
		for _, p := range wf.procs {
			byProc[p] = nil
		}
	}
	for _, n := range c.Nodes {
		if p := wf.owner[n]; p != nil {
			byProc[p] = append(byProc[p], n)
		}
	}
	for p, nodes := range byProc {
		cc := c
		cc.Nodes = nodes
		p.mu.Lock()
		_ = p.enc.Encode(cc)
		p.mu.Unlock()
	}
}

func (wf *workerFleet) Start(context.Context) error {
	wf.send(workerCommand{Op: "start"})
	return nil
}

func (wf *workerFleet) Stats() fakenodes.Stats {
	var total fakenodes.Stats
	for _, p := range wf.procs {
		p.mu.Lock()
		total = total.Add(p.stats)
		p.mu.Unlock()
	}
	return total
}

// cpuSeconds is the CPU time of the worker processes so far (a worker that has exited counts
// no more).
func (wf *workerFleet) cpuSeconds() float64 {
	var total float64
	for _, p := range wf.procs {
		if p.cmd.Process != nil {
			total += fakenodes.ProcessCPU(p.cmd.Process.Pid)
		}
	}
	return total
}

func (wf *workerFleet) State(name string) fakenodes.State {
	wf.mu.Lock()
	defer wf.mu.Unlock()
	return wf.states[name]
}

func (wf *workerFleet) Crash(names []string) { wf.send(workerCommand{Op: "crash", Nodes: names}) }

func (wf *workerFleet) Restart(names []string, down time.Duration) {
	wf.send(workerCommand{Op: "restart", Nodes: names, D: down})
}

func (wf *workerFleet) Unavailable(names []string, d time.Duration, disconnect bool) {
	wf.send(workerCommand{Op: "unavailable", Nodes: names, D: d, Disconnect: disconnect})
}

func (wf *workerFleet) SetSkew(names []string, skew time.Duration) {
	wf.send(workerCommand{Op: "skew", Nodes: names, D: skew})
}

// syncTimeout bounds the wait for the workers' events: a worker writes each event before its
// node acts on it, so only a worker that stopped reading its commands, or a parent too slow
// to read the events, takes that long.
const syncTimeout = time.Minute

// Sync asks every worker to write out the events it has and waits for all to have done so.
func (wf *workerFleet) Sync(ctx context.Context) error {
	seq := wf.syncSeq.Add(1)
	wf.send(workerCommand{Op: "sync", Seq: seq})
	ctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	for _, p := range wf.procs {
		stop := context.AfterFunc(ctx, func() {
			p.mu.Lock()
			p.sync.Broadcast()
			p.mu.Unlock()
		})
		p.mu.Lock()
		for p.synced < seq && ctx.Err() == nil {
			p.sync.Wait()
		}
		p.mu.Unlock()
		stop()
	}
	return ctx.Err()
}

// Stop closes the workers' standard input (they stop their nodes and exit) and waits.
func (wf *workerFleet) Stop() error {
	var errs []error
	for _, p := range wf.procs {
		p.stdin.Close()
	}
	for _, p := range wf.procs {
		select {
		case <-p.done:
		case <-time.After(40 * time.Second):
			_ = p.cmd.Process.Kill()
			errs = append(errs, errors.New("a worker did not stop"))
		}
		p.mu.Lock()
		if p.err != nil {
			errs = append(errs, p.err)
		}
		p.mu.Unlock()
	}
	return errors.Join(errs...)
}

// RunWorker is the body of a worker process (`pushlab run - --sim-worker FIRST:COUNT`): it
// reads its workerSpec and then commands from in, runs its nodes, and writes their events and
// its stats to out until in closes or ctx ends.
func RunWorker(ctx context.Context, slice string, in io.Reader, out io.Writer) error {
	first, count, err := parseSlice(slice)
	if err != nil {
		return err
	}
	br := bufio.NewReaderSize(in, 1<<20)
	line, err := br.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("reading the worker spec: %w", err)
	}
	var ws workerSpec
	if err := json.Unmarshal(line, &ws); err != nil {
		return fmt.Errorf("the worker spec: %w", err)
	}
	if ws.First != first || len(ws.Names) != count {
		return fmt.Errorf("the worker spec is for %d:%d, not %s", ws.First, len(ws.Names), slice)
	}
	var outMu sync.Mutex
	bw := bufio.NewWriterSize(out, 256<<10)
	enc := json.NewEncoder(bw)
	write := func(l workerLine) {
		outMu.Lock()
		_ = enc.Encode(l)
		outMu.Unlock()
	}
	fail := func(err error) error {
		write(workerLine{Err: err.Error()})
		outMu.Lock()
		bw.Flush()
		outMu.Unlock()
		return err
	}
	spec, err := ws.fleetSpec(func(e fakenodes.Event) {
		we := &workerEvent{T: e.Time, Node: e.Node, Kind: string(e.Kind), Type: e.Type, JobID: e.JobID, Detail: e.Detail}
		if len(e.Body) > 0 {
			we.Body = excerpt(string(e.Body), 2048)
		}
		write(workerLine{Event: we})
	})
	if err != nil {
		return fail(err)
	}
	lf, err := newLocalFleet(spec, ws.First)
	if err != nil {
		return fail(err)
	}
	write(workerLine{Ready: true})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmds := make(chan workerCommand, 64)
	go func() {
		defer close(cmds)
		for {
			line, err := br.ReadBytes('\n')
			if len(bytes.TrimSpace(line)) > 0 {
				var c workerCommand
				if json.Unmarshal(line, &c) == nil {
					cmds <- c
				}
			}
			if err != nil {
				return
			}
		}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	flush := time.NewTicker(50 * time.Millisecond)
	defer flush.Stop()
	started := false
loop:
	for {
		select {
		case c, ok := <-cmds:
			if !ok {
				break loop
			}
			switch c.Op {
			case "start":
				if !started {
					started = true
					if err := lf.Start(ctx); err != nil {
						return fail(err)
					}
				}
			case "crash":
				lf.Crash(c.Nodes)
			case "restart":
				lf.Restart(c.Nodes, c.D)
			case "unavailable":
				lf.Unavailable(c.Nodes, c.D, c.Disconnect)
			case "skew":
				lf.SetSkew(c.Nodes, c.D)
			case "sync":
				write(workerLine{Synced: c.Seq})
				outMu.Lock()
				bw.Flush()
				outMu.Unlock()
			}
		case <-tick.C:
			s := lf.Stats()
			write(workerLine{Stats: &s})
		case <-flush.C:
			outMu.Lock()
			bw.Flush()
			outMu.Unlock()
		case <-ctx.Done():
			break loop
		}
	}
	err = lf.Stop()
	s := lf.Stats()
	write(workerLine{Stats: &s})
	outMu.Lock()
	bw.Flush()
	outMu.Unlock()
	return err
}

// fleetSpec rebuilds the fleet spec of a worker's slice.
func (ws workerSpec) fleetSpec(onEvent func(fakenodes.Event)) (fleetSpec, error) {
	spec := fleetSpec{url: ws.URL, org: ws.Org, seed: ws.Seed, rampRate: ws.RampRate, configWorkers: ws.ConfigWorkers, onEvent: onEvent}
	built := make([][]behaviour.Behaviour, len(ws.Groups))
	for gi, g := range ws.Groups {
		for _, ref := range g.Behaviours {
			b, err := scenarios.BuildBehaviour(ref.Name, jsonParams(ref.Params))
			if err != nil {
				return spec, fmt.Errorf("behaviour %s: %w", ref.Name, err)
			}
			built[gi] = append(built[gi], b)
		}
	}
	spec.names = ws.Names
	offline := &behaviour.Crash{}
	for _, n := range ws.Nodes {
		var fn fleetNode
		if n.Offline {
			fn.behaviours = append(fn.behaviours, offline)
		}
		for _, e := range n.Entries {
			b := built[n.Group][e]
			fn.behaviours = append(fn.behaviours, b)
			if cs, ok := b.(*behaviour.ClockSkew); ok {
				fn.skew = cs.Offset
			}
		}
		spec.nodes = append(spec.nodes, fn)
	}
	if ws.Key != "" {
		k, err := chefauth.ParsePrivateKeyPEM([]byte(ws.Key))
		if err != nil {
			return spec, err
		}
		spec.key = k
	}
	if ws.Keys != nil {
		keys := map[string]*rsa.PrivateKey{}
		for n, pem := range ws.Keys {
			k, err := chefauth.ParsePrivateKeyPEM([]byte(pem))
			if err != nil {
				return spec, err
			}
			keys[n] = k
		}
		spec.keyFor = func(n string) *rsa.PrivateKey { return keys[n] }
	}
	return spec, nil
}

// jsonParams turns JSON-decoded params back into the types the scenario decoder produces:
// integral numbers as int.
func jsonParams(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = jsonValue(v)
	}
	return out
}

func jsonValue(v any) any {
	switch x := v.(type) {
	case float64:
		if x == float64(int(x)) {
			return int(x)
		}
		return x
	case map[string]any:
		return jsonParams(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonValue(e)
		}
		return out
	}
	return v
}

func parseSlice(s string) (first, count int, err error) {
	a, b, ok := strings.Cut(s, ":")
	first, err1 := strconv.Atoi(a)
	count, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || first < 0 || count <= 0 {
		return 0, 0, fmt.Errorf("worker %q: want first:count", s)
	}
	return first, count, nil
}
