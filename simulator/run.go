package simulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushlab/pushlab/fakenodes"
	"github.com/pushlab/pushlab/internal/pushyclient"
	"github.com/pushlab/pushlab/reports"
	"github.com/pushlab/pushlab/scenarios"
)

// ErrInvalid marks a scenario this run cannot carry out: the result's exit code is
// scenarios.ExitInvalid and nothing was started.
var ErrInvalid = errors.New("invalid scenario")

// errAborted ends the timeline when a threshold with abortOnFail is crossed.
var errAborted = errors.New("a threshold with abortOnFail was crossed")

// errWaitFailed ends the timeline when a wait step times out.
var errWaitFailed = errors.New("a wait step timed out")

// run is one run of a scenario.
type run struct {
	s       *scenarios.Scenario
	o       Options
	sc      *Schedule
	seed    int64
	dir     string
	log     *slog.Logger
	hist    *History
	metrics *Metrics
	res     *Result
	ui      *progress
	ocfg    oracleConfig

	tg       *target
	api      *pushyclient.Client
	fleet    nodeFleet
	cpu      cpuUse // the fleet's CPU use while the timeline runs
	nodes    map[string]*nodeLog
	profiles map[string]profile
	required []string // nodes that must come online before the timeline

	mu              sync.Mutex
	jobs            []*jobRun
	byName          map[string]*jobRun
	faults          []appliedFault
	serverFaults    []FaultWindow
	checks          []Check
	loads           sync.WaitGroup
	loadsRunning    atomic.Int32
	jobsPending     sync.WaitGroup
	timelineT0      time.Duration
	timelineStarted atomic.Bool
	serverBusyUntil atomic.Int64 // unix nanos: fleet health is not judged before
	checking        atomic.Int64 // jobs whose checks are running
	abort           context.CancelCauseFunc
	ctx             context.Context       // the run's: jobs are followed to their end even when the timeline stops early
	fleetNotes      map[string]*fleetNote // by kind of diagnosis
	lagWindows      []lagWindow           // when the fleet itself lagged
	nodeSamples     []NodeStateSample
	lastAvail       map[string]bool
	orgEvents       [][]feedEvent // the org feed, one slice per connection
	orgSeen         []feedEvent
	sseBySecond     []int
	report          *reports.Report
}

// appliedFault is a node fault as it was injected.
type appliedFault struct {
	FaultWindow
	victims map[string]bool
	skew    time.Duration
}

// Run carries out a validated scenario and checks everything it saw. The result is never nil;
// err is set when the run could not be carried out (the result's exit code then says why:
// scenarios.ExitInvalid or scenarios.ExitHarness).
func Run(ctx context.Context, s *scenarios.Scenario, o Options) (*Result, error) {
	res := &Result{Schema: ResultSchema, Scenario: s.Metadata.Name, File: s.File, Start: time.Now(), Scale: o.Scale}
	fail := func(code int, verdict string, err error) (*Result, error) {
		res.End, res.ExitCode, res.Verdict, res.Error = time.Now(), code, verdict, err.Error()
		return res, err
	}
	seed, err := chooseSeed(s, o)
	if err != nil {
		return fail(scenarios.ExitInvalid, VerdictInvalid, err)
	}
	res.Seed = seed
	if o.RerunFailed != "" {
		if s, err = rerunScenario(s, o.RerunFailed); err != nil {
			return fail(scenarios.ExitInvalid, VerdictInvalid, err)
		}
	}
	if o.Scale > 0 && o.Scale != 1 {
		s = Scale(s, o.Scale)
		if err := s.Validate(scenarios.StandardBehaviours); err != nil {
			return fail(scenarios.ExitInvalid, VerdictInvalid, fmt.Errorf("%w: scaled by %v: %v", ErrInvalid, o.Scale, err))
		}
	}
	if err := checkRunnable(s, o); err != nil {
		return fail(scenarios.ExitInvalid, VerdictInvalid, err)
	}
	sc, err := Plan(s, seed)
	if err != nil {
		return fail(scenarios.ExitInvalid, VerdictInvalid, fmt.Errorf("%w: %v", ErrInvalid, err))
	}
	dir := o.ReportDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "pushlab-run-"+s.Metadata.Name+"-"); err != nil {
			return fail(scenarios.ExitHarness, VerdictError, err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(scenarios.ExitHarness, VerdictError, err)
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &run{s: s, o: o, sc: sc, seed: seed, dir: dir, log: log, res: res, metrics: NewMetrics(),
		byName: map[string]*jobRun{}, fleetNotes: map[string]*fleetNote{}, lastAvail: map[string]bool{}}
	res.Files = map[string]string{}
	histFile, err := os.Create(filepath.Join(dir, "history.ndjson"))
	if err != nil {
		return fail(scenarios.ExitHarness, VerdictError, err)
	}
	defer histFile.Close()
	res.Files["history"] = histFile.Name()
	r.hist = NewHistory(histFile)
	res.Start = r.hist.start
	if err := writeJSON(filepath.Join(dir, "schedule.json"), sc); err == nil {
		res.Files["schedule"] = filepath.Join(dir, "schedule.json")
	}
	timeout := 10 * time.Minute
	if s.Timeout != nil {
		timeout = s.Timeout.D()
	}
	runCtx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("the scenario's timeout of %s ran out", timeout))
	defer cancel()
	herr := r.execute(runCtx)
	r.finish(herr, ctx)
	return r.res, r.harnessErr(herr)
}

func (r *run) harnessErr(err error) error {
	if r.res.ExitCode == scenarios.ExitHarness || r.res.ExitCode == scenarios.ExitInvalid {
		if err == nil {
			err = errors.New(r.res.Error)
		}
		return err
	}
	return nil
}

func chooseSeed(s *scenarios.Scenario, o Options) (int64, error) {
	switch {
	case o.Seed != nil:
		return *o.Seed, nil
	case o.RerunFailed != "":
		prev, err := readEarlier(o.RerunFailed)
		if err != nil {
			return 0, fmt.Errorf("%w: --rerun-failed: %v", ErrInvalid, err)
		}
		return prev.seed, nil
	case s.Seed != nil:
		return *s.Seed, nil
	}
	return time.Now().UnixNano() & (1<<53 - 1), nil
}

// checkRunnable refuses what the options cannot carry out, before anything starts.
func checkRunnable(s *scenarios.Scenario, o Options) error {
	var errs []string
	for i, st := range s.Timeline {
		if st.Fault != nil && st.Fault.ServerPause != nil && o.ServerBinary == "" && s.Target.Image == "" {
			pos := s.KeyPos(fmt.Sprintf("timeline[%d].fault.serverPause", i))
			errs = append(errs, fmt.Sprintf("%s:%s: timeline[%d].fault.serverPause: pausing needs the embedded server as a child process (run it with the pushlab binary); this run starts it in-process", s.File, pos, i))
		}
	}
	nodes := len(s.Nodes())
	if limit := fakenodes.MaxNodesPerProcess(); nodes > limit && o.WorkerBinary == "" {
		errs = append(errs, fmt.Sprintf("%s: %d nodes do not fit in one process (about %d with this open-file limit) and no worker binary is given", s.File, nodes, limit))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w:\n%s", ErrInvalid, strings.Join(errs, "\n"))
	}
	return nil
}

// execute starts the target and the fleet and runs the timeline; the error is a harness error.
func (r *run) execute(ctx context.Context) error {
	r.ctx = ctx
	r.ui = newProgress(r.o.Progress, r.o.Terminal, len(r.sc.Nodes))
	defer r.ui.close()
	r.ui.printf("pushlab run %s: %d nodes, seed %d, report in %s", r.s.Metadata.Name, len(r.sc.Nodes), r.seed, r.dir)
	serverLog, err := os.Create(filepath.Join(r.dir, "server.log"))
	if err != nil {
		return err
	}
	defer serverLog.Close()
	r.res.Files["server_log"] = serverLog.Name()
	tg, err := startTarget(ctx, r.s, r.dir, r.o.ServerBinary, r.o.ServerArgs, r.log, serverLog)
	if err != nil {
		return err
	}
	r.tg = tg
	defer tg.stop()
	r.res.Target = tg.kind
	r.ocfg = newOracleConfig(tg.cfg)
	if !tg.known {
		r.note("the server's timings are unknown (a server given by URL): the oracle assumes the defaults of opscode-pushy-server 3.0")
	}
	r.hist.Add(Entry{Kind: KindNote, Type: "target", Detail: tg.kind + " " + tg.url})
	r.api = pushyclient.New(tg.url, tg.org, tg.user)
	r.api.HTTP = &http.Client{Transport: &recorder{r: r, base: newTransport()}}

	if err := r.setUpFleet(ctx); err != nil {
		return err
	}
	defer func() {
		if err := r.fleet.Stop(); err != nil {
			r.log.Warn("stopping the fleet", "err", err)
		}
	}()
	bg, stopBG := context.WithCancel(ctx)
	var bgWG sync.WaitGroup
	defer func() {
		stopBG()
		bgWG.Wait()
	}()
	bgWG.Add(3)
	go func() { defer bgWG.Done(); r.sampleNodes(bg) }()
	go func() { defer bgWG.Done(); r.watchFleet(bg) }()
	go func() { defer bgWG.Done(); r.orgFeed(bg) }()

	if err := r.waitFleetOnline(ctx); err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return context.Cause(ctx)
		}
		return nil // a failed check, already recorded
	}
	tctx, abort := context.WithCancelCause(ctx)
	r.abort = abort
	bgWG.Add(1)
	go func() { defer bgWG.Done(); r.watchThresholds(bg) }()
	err = r.timeline(tctx)
	abort(nil)
	switch {
	case errors.Is(context.Cause(tctx), errAborted):
		r.note("the timeline stopped early: " + errAborted.Error())
	case errors.Is(err, errWaitFailed):
		r.note("the timeline stopped early: " + errWaitFailed.Error())
	case err != nil && ctx.Err() != nil:
		return context.Cause(ctx)
	case err != nil:
		return err
	}
	r.awaitJobs(ctx)
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return nil
}

// setUpFleet registers the nodes' clients and starts the fleet.
func (r *run) setUpFleet(ctx context.Context) error {
	names := make([]string, len(r.sc.Nodes))
	for i, n := range r.sc.Nodes {
		names[i] = n.Name
	}
	behaviours, err := buildBehaviours(r.s, r.sc)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	r.nodes = make(map[string]*nodeLog, len(names))
	r.profiles = make(map[string]profile, len(names))
	for i, pn := range r.sc.Nodes {
		r.nodes[pn.Name] = &nodeLog{name: pn.Name, group: pn.Group, tags: Tags{Group: pn.Group, Behaviour: strings.Join(pn.Behaviours, ",")}}
		p := profileOf(behaviours[i].behaviours)
		r.profiles[pn.Name] = p
		if !pn.Offline && !keptAway(p, r.tg.cfg.MaxTimeSkew) {
			r.required = append(r.required, pn.Name)
		}
	}
	spec := fleetSpec{url: r.tg.url, org: r.tg.org, seed: r.seed, names: names, nodes: behaviours,
		rampRate: 500, onEvent: r.onNodeEvent, log: r.log}
	if jr := r.s.Fleet.JoinRate; jr != nil {
		spec.rampRate = jr.PerSecond()
	}
	if r.tg.clientKeysDir != "" {
		if spec.keyFor, err = clientKeys(r.tg.clientKeysDir, names); err != nil {
			return err
		}
	} else {
		keyFile := r.o.NodeKeyFile
		if keyFile == "" {
			keyFile = "pushlab-fleet-nodes.pem"
		}
		if spec.key, err = nodeKey(r.tg.owned(), keyFile); err != nil {
			return err
		}
		r.ui.printf("registering %d node clients", len(names))
		reg := fakenodes.Registration{Server: r.tg.url, Org: r.tg.org, Signer: r.tg.super, PublicKey: &spec.key.PublicKey,
			HTTPClient: &http.Client{Transport: newTransport(), Timeout: time.Minute}}
		if _, err := fakenodes.Register(ctx, reg, names); err != nil {
			return fmt.Errorf("registering the nodes' clients: %w", err)
		}
	}
	perProcess := r.o.PerProcess
	if perProcess <= 0 {
		// Half of what the open-file limit allows: a reconnect storm holds old and new
		// sockets at once.
		perProcess = fakenodes.MaxNodesPerProcess() / 2
		if r.tg.inproc != nil {
			perProcess = perProcess * 2 / 3 // the in-process server takes file descriptors too
		}
	}
	if len(names) > perProcess && r.o.WorkerBinary != "" {
		r.fleet, err = newWorkerFleet(ctx, r, spec, perProcess)
	} else {
		r.fleet, err = newLocalFleet(spec, 0)
	}
	if err != nil {
		return fmt.Errorf("the simulated fleet: %w", err)
	}
	return r.fleet.Start(ctx)
}

// keptAway reports whether a node's behaviours keep it from coming online at the start.
func keptAway(p profile, maxSkew time.Duration) bool {
	for _, s := range p.scheduled {
		switch s {
		case "unavailable", "crash", "restart":
			return true
		}
	}
	return p.skew != 0 && absDur(p.skew) >= maxSkew-5*time.Second
}

// onNodeEvent records a fleet event; it runs on the fleet's event loops.
func (r *run) onNodeEvent(e fakenodes.Event) {
	t := r.hist.At(e.Time)
	if l := r.nodes[e.Node]; l != nil {
		l.add(nodeEvent{t: t, kind: e.Kind, typ: e.Type, job: e.JobID})
	}
	entry := Entry{T: t.Seconds(), Kind: KindNode, Node: e.Node, Type: string(e.Kind) + ":" + e.Type, JobID: e.JobID, Detail: e.Detail}
	if len(e.Body) > 0 {
		entry.Body = excerpt(string(e.Body), 2048)
	}
	r.hist.Add(entry)
}

// waitFleetOnline waits for the nodes that must come online; not making it is a failed check.
func (r *run) waitFleetOnline(ctx context.Context) error {
	timeout := 2 * time.Minute
	if r.s.Fleet.OnlineTimeout != nil {
		timeout = r.s.Fleet.OnlineTimeout.D()
	}
	r.ui.printf("waiting for %d nodes to come online", len(r.required))
	t0 := time.Now()
	startStats, startCPU := r.fleet.Stats(), r.fleetCPU()
	deadline := t0.Add(timeout)
	for {
		var missing []string
		for _, n := range r.required {
			if r.fleet.State(n) != fakenodes.StateOnline {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 {
			r.addCheck(Check{ID: "fleet/online", Name: "the fleet comes online", Section: "§4.2", Status: CheckPass,
				Message: fmt.Sprintf("%d nodes online in %s", len(r.required), time.Since(t0).Round(time.Millisecond))})
			return nil
		}
		if time.Now().After(deadline) {
			c := Check{ID: "fleet/online", Name: "the fleet comes online", Section: "§4.2", Status: CheckFail,
				Message: fmt.Sprintf("%d of %d nodes were not online after %s", len(missing), len(r.required), timeout)}
			for _, n := range trimList(missing, 10) {
				c.Evidence = append(c.Evidence, Evidence{Kind: "node", Node: n, Excerpt: "state " + string(r.fleet.State(n))})
			}
			// Was the fleet itself too slow to join?
			for _, w := range fakenodes.Diagnose(startStats, r.fleet.Stats(), time.Since(t0), r.fleetCPU()-startCPU, runtime.NumCPU()) {
				r.fleetNote(w)
			}
			r.addCheck(c)
			return errors.New(c.Message)
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// timeline runs the steps in order.
func (r *run) timeline(ctx context.Context) error {
	r.timelineT0 = r.hist.Since()
	r.timelineStarted.Store(true)
	for i := range r.s.Timeline {
		st := &r.s.Timeline[i]
		if st.At != nil {
			if err := sleepCtx(ctx, r.timelineT0+st.At.D()-r.hist.Since()); err != nil {
				return err
			}
		}
		r.hist.Add(Entry{Kind: KindStep, Type: st.Action(), ID: itoa(i), Detail: "begin"})
		r.ui.step(i, len(r.s.Timeline), st.Action())
		if err := r.step(ctx, i, st); err != nil {
			return err
		}
		r.hist.Add(Entry{Kind: KindStep, Type: st.Action(), ID: itoa(i), Detail: "end"})
	}
	return nil
}

func (r *run) step(ctx context.Context, i int, st *scenarios.Step) error {
	ps := r.sc.Steps[i]
	switch {
	case st.Job != nil:
		j := r.newJob(st.Job, st.Job.Name, "", i, ps.Nodes)
		r.jobsPending.Add(1)
		j.start(r.ctx)
		if !st.Job.NoWait {
			// a job that does not finish fails its own check; the step ends once it is checked
			if j.wait(ctx, j.timeout+time.Minute) == nil {
				select {
				case <-j.checked:
				case <-ctx.Done():
				}
			}
		}
	case st.Load != nil:
		r.loads.Add(1)
		r.loadsRunning.Add(1)
		go func() {
			defer r.loads.Done()
			defer r.loadsRunning.Add(-1)
			r.load(ctx, i, st.Load, ps.Nodes)
		}()
	case st.Wait != nil:
		return r.wait(ctx, i, st.Wait)
	case st.Sleep != nil:
		return sleepCtx(ctx, st.Sleep.D())
	case st.Fault != nil:
		return r.fault(ctx, i, st.Fault, ps.Nodes)
	case st.Expect != nil:
		r.expectStep(ctx, i, st.Expect)
	}
	return ctx.Err()
}

// load starts jobs from a template for the load's duration.
func (r *run) load(ctx context.Context, step int, l *scenarios.LoadStep, nodes []string) {
	end := time.Now().Add(l.Duration.D())
	var k atomic.Int64
	next := func() {
		n := int(k.Add(1))
		ns := r.sc.Sample(step, n, nodes, l.Sample, len(l.Job.AbsentNodes))
		j := r.newJob(&l.Job, fmt.Sprintf("%s-%d", l.Job.Name, n), l.Job.Name, step, ns)
		r.jobsPending.Add(1)
		j.start(r.ctx)
		if l.Concurrency > 0 {
			_ = j.wait(ctx, j.timeout)
		}
	}
	if l.Rate != nil {
		interval := l.Rate.Interval()
		var wg sync.WaitGroup
		defer wg.Wait()
		for at := time.Now(); at.Before(end); at = at.Add(interval) {
			if sleepCtx(ctx, time.Until(at)) != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); next() }()
		}
		return
	}
	var wg sync.WaitGroup
	for w := 0; w < l.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(end) {
				next()
			}
		}()
	}
	wg.Wait()
}

// wait blocks until a condition holds; timing out is a failed check.
func (r *run) wait(ctx context.Context, step int, w *scenarios.WaitStep) error {
	timeout := 2 * time.Minute
	if w.Timeout != nil {
		timeout = w.Timeout.D()
	}
	deadline := time.Now().Add(timeout)
	c := w.For
	id := fmt.Sprintf("step/%d/wait", step)
	var last string
	for {
		ok, detail := r.holds(ctx, c)
		last = detail
		if ok {
			r.addCheck(Check{ID: id, Name: "wait for " + c.Text, Status: CheckPass, Message: detail})
			return nil
		}
		if time.Now().After(deadline) {
			r.addCheck(Check{ID: id, Name: "wait for " + c.Text, Status: CheckFail,
				Message: "not met after " + timeout.String() + ": " + last})
			return errWaitFailed
		}
		if err := sleepCtx(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
}

// holds evaluates a wait condition now.
func (r *run) holds(ctx context.Context, c scenarios.Condition) (bool, string) {
	switch c.Kind {
	case scenarios.CondJob:
		j := r.job(c.Job)
		if j == nil {
			return false, "job " + c.Job + " has not started"
		}
		return j.reached(c.State), "job " + c.Job + " is " + j.currentStatus()
	case scenarios.CondJobs:
		if n := r.loadsRunning.Load(); n > 0 {
			return false, fmt.Sprintf("%d load(s) still running", n)
		}
		pending := 0
		for _, j := range r.allJobs() {
			select {
			case <-j.done:
			default:
				pending++
			}
		}
		return pending == 0, fmt.Sprintf("%d job(s) unfinished", pending)
	case scenarios.CondNodes:
		var sel []string
		for _, n := range r.selectorNodes() {
			if c.Selector.Match(n) {
				sel = append(sel, n.Name)
			}
		}
		count := 0
		switch c.Property {
		case "available", "unavailable":
			states, err := r.api.NodeStates(ctx)
			if err != nil {
				return false, err.Error()
			}
			avail := map[string]bool{}
			for _, s := range states {
				avail[s.NodeName] = s.Availability == "available"
			}
			for _, n := range sel {
				if avail[n] == (c.Property == "available") {
					count++
				}
			}
		default:
			count = r.countOnline(ctx, sel, c.Property == "online")
		}
		return c.Count.Holds(float64(count), float64(len(sel))), fmt.Sprintf("%d of %d nodes %s", count, len(sel), c.Property)
	}
	return false, "unknown condition"
}

// countOnline asks the server for each node's status (GET node_states/NODE).
func (r *run) countOnline(ctx context.Context, names []string, online bool) int {
	var n atomic.Int64
	work := make(chan string)
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range work {
				if st, err := r.api.NodeState(ctx, name); err == nil && (st.Status == "online") == online {
					n.Add(1)
				}
			}
		}()
	}
	for _, name := range names {
		work <- name
	}
	close(work)
	wg.Wait()
	return int(n.Load())
}

// selectorNodes are the fleet's nodes with the faults that hit them so far.
func (r *run) selectorNodes() []scenarios.Node {
	labels := map[string]map[string]string{}
	for _, g := range r.s.Fleet.Groups {
		labels[g.Name] = g.Labels
	}
	out := make([]scenarios.Node, len(r.sc.Nodes))
	for i, pn := range r.sc.Nodes {
		out[i] = scenarios.Node{Name: pn.Name, Group: pn.Group, Index: pn.Index, Labels: labels[pn.Group],
			Behaviours: pn.Behaviours, Faults: r.nodes[pn.Name].faultNames()}
	}
	return out
}

// fault injects a fault; node faults with a duration end on their own.
func (r *run) fault(ctx context.Context, step int, f *scenarios.FaultStep, victims []string) error {
	now := r.hist.Since()
	fw := FaultWindow{Name: f.Name, Kind: f.Kind(), Start: now.Seconds(), End: -1}
	if vi := f.Victims(); vi != nil {
		fw.Selector, fw.Nodes = vi.Nodes.String(), len(victims)
		fw.Victims = trimList(victims, 50)
	}
	var dur time.Duration
	var skew time.Duration
	switch {
	case f.Crash != nil:
		if f.Crash.Duration != nil {
			dur = f.Crash.Duration.D()
			r.fleet.Restart(victims, dur)
		} else {
			r.fleet.Crash(victims)
		}
	case f.Restart != nil:
		if f.Restart.Duration != nil {
			dur = f.Restart.Duration.D()
		}
		r.fleet.Restart(victims, dur)
		dur += 500 * time.Millisecond
	case f.Unavailable != nil:
		dur = f.Unavailable.Duration.D()
		r.fleet.Unavailable(victims, dur, f.Unavailable.Mode == "disconnect")
	case f.SkewClock != nil:
		skew = f.SkewClock.Offset.D()
		r.fleet.SetSkew(victims, skew)
		if f.SkewClock.Duration != nil {
			dur = f.SkewClock.Duration.D()
			time.AfterFunc(dur, func() { r.fleet.SetSkew(victims, 0) })
		}
	case f.Flap != nil:
		dur = f.Flap.Duration.D() + f.Flap.Period.D()/2
		go r.flap(ctx, victims, f.Flap)
	case f.ServerRestart != nil, f.ServerPause != nil:
		// checks still reading finished jobs from the server go first
		for deadline := time.Now().Add(time.Minute); r.checking.Load() > 0 && time.Now().Before(deadline); {
			if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
				return err
			}
		}
		r.serverBusyUntil.Store(math.MaxInt64)
		defer func() { r.serverBusyUntil.Store(time.Now().Add(15 * time.Second).UnixNano()) }()
	}
	switch {
	case f.ServerRestart != nil:
		var down time.Duration
		if f.ServerRestart.Downtime != nil {
			down = f.ServerRestart.Downtime.D()
		}
		r.ui.printf("restarting the server (down %s)", down)
		end := r.beginServerFault(fw)
		err := r.tg.restart(ctx, down)
		end()
		if err != nil {
			return fmt.Errorf("server restart: %w", err)
		}
		return nil
	case f.ServerPause != nil:
		r.ui.printf("pausing the server for %s", f.ServerPause.Duration)
		end := r.beginServerFault(fw)
		err := r.tg.pause(ctx, f.ServerPause.Duration.D())
		end()
		if err != nil {
			return fmt.Errorf("server pause: %w", err)
		}
		return nil
	}
	if dur > 0 {
		fw.End = (now + dur).Seconds()
	}
	af := appliedFault{FaultWindow: fw, victims: map[string]bool{}, skew: skew}
	for _, v := range victims {
		af.victims[v] = true
		if l := r.nodes[v]; l != nil {
			l.addFault(f.Name)
		}
	}
	r.mu.Lock()
	r.faults = append(r.faults, af)
	r.mu.Unlock()
	r.hist.Add(Entry{Kind: KindFault, Type: f.Kind(), ID: f.Name, Detail: fmt.Sprintf("%d node(s): %s", len(victims), strings.Join(trimList(victims, 20), " "))})
	return nil
}

// beginServerFault records a server fault as it starts, its window still open (End -1), so that
// a job that finishes while the server comes back is already judged as disturbed; the returned
// function closes the window.
func (r *run) beginServerFault(fw FaultWindow) (end func()) {
	fw.End = openWindow
	r.mu.Lock()
	i := len(r.serverFaults)
	r.serverFaults = append(r.serverFaults, fw)
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		r.serverFaults[i].End = r.hist.Since().Seconds()
		fw = r.serverFaults[i]
		r.mu.Unlock()
		r.hist.Add(Entry{Kind: KindFault, Type: fw.Kind, ID: fw.Name, Detail: fmt.Sprintf("%.1fs to %.1fs", fw.Start, fw.End)})
	}
}

// openWindow is the End of a server fault still under way.
const openWindow = -1

// windowEnd is a server fault's end, now while it is under way.
func (r *run) windowEnd(f FaultWindow) float64 {
	if f.End == openWindow {
		return r.hist.Since().Seconds()
	}
	return f.End
}

// flap takes the victims down and up again every period.
func (r *run) flap(ctx context.Context, victims []string, f *scenarios.FlapFault) {
	end := time.Now().Add(f.Duration.D())
	down := f.Period.D() / 2
	for time.Now().Before(end) {
		r.fleet.Unavailable(victims, down, f.Mode == "disconnect")
		if sleepCtx(ctx, f.Period.D()) != nil {
			return
		}
	}
}

// expectStep waits for the named job and checks what the step expects of it.
func (r *run) expectStep(ctx context.Context, step int, e *scenarios.Expectation) {
	if e.Job == "" {
		r.thresholdChecks(fmt.Sprintf("step/%d", step), "", e.Thresholds)
		return
	}
	j := r.job(e.Job)
	if j == nil {
		return
	}
	timeout := 2 * time.Minute
	if e.Timeout != nil {
		timeout = e.Timeout.D()
	}
	if err := j.wait(ctx, timeout); err != nil {
		if ctx.Err() == nil {
			r.addCheck(Check{ID: fmt.Sprintf("step/%d/finished", step), Name: "job " + j.name + " finishes", Section: "§5.3",
				Status: CheckFail, Job: j.name, JobID: j.id, Message: err.Error() + " (status " + j.currentStatus() + ")"})
		}
		return
	}
	r.expectations(j, e, fmt.Sprintf("step/%d", step))
}

// awaitJobs waits for every job still running at the end of the timeline, and for the checks
// of every finished job.
func (r *run) awaitJobs(ctx context.Context) {
	r.loads.Wait()
	for _, j := range r.allJobs() {
		_ = j.wait(ctx, j.timeout)
	}
	checked := make(chan struct{})
	go func() {
		r.jobsPending.Wait()
		close(checked)
	}()
	select {
	case <-checked:
	case <-ctx.Done():
	}
}

func (r *run) addJob(j *jobRun) {
	r.mu.Lock()
	r.jobs = append(r.jobs, j)
	r.byName[j.name] = j
	r.mu.Unlock()
	r.ui.jobStarted()
}

func (r *run) job(name string) *jobRun {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byName[name]
}

func (r *run) allJobs() []*jobRun {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*jobRun(nil), r.jobs...)
}

// jobDone runs a finished job's checks.
func (r *run) jobDone(j *jobRun) {
	r.checking.Add(1)
	defer r.checking.Add(-1)
	defer close(j.checked)
	defer r.jobsPending.Done()
	if err := r.fleet.Sync(r.ctx); err != nil {
		// What the checks know of the nodes is incomplete: a failure is the harness's as much
		// as the server's.
		r.note("waiting for the nodes' events of job " + j.name + ": " + err.Error())
		w := "the simulated nodes' events did not all arrive in time: " + err.Error()
		if r.fleetNote(w) {
			r.hist.Add(Entry{Kind: KindNote, Type: "fleet_health", Detail: w})
		}
		r.addLag(j.posted, r.hist.Since())
	}
	r.checkJob(j)
	if j.spec.Expect != nil {
		r.expectations(j, j.spec.Expect, "job/"+j.name)
	}
	r.ui.jobFinished(j.currentStatus())
}

func (r *run) addCheck(c Check) {
	r.mu.Lock()
	r.checks = append(r.checks, c)
	r.mu.Unlock()
	v := 0.0
	if c.Status == CheckPass {
		v = 1
	}
	if c.Status != CheckSkip {
		r.metrics.Add("checks", v, Tags{Job: c.Job})
	}
	if c.Status == CheckFail {
		r.metrics.Add("check_failures", 1, Tags{Job: c.Job})
		if j := r.job(c.Job); j != nil {
			j.mu.Lock()
			j.failed = true
			j.mu.Unlock()
		}
		r.ui.printf("✗ %s: %s", c.Name, c.Message)
	}
	r.ui.check(c.Status)
	r.hist.Add(Entry{Kind: KindCheck, Job: c.Job, JobID: c.JobID, Type: c.Status, ID: c.ID, Detail: c.Message})
}

func (r *run) note(s string) {
	r.mu.Lock()
	r.res.Notes = append(r.res.Notes, s)
	r.mu.Unlock()
	r.hist.Add(Entry{Kind: KindNote, Detail: s})
}

// sampleNodes reads the server's node states every second: the node state series, the
// nodes_online gauge and node_online_duration.
func (r *run) sampleNodes(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		states, err := r.api.NodeStates(ctx)
		if err != nil {
			continue
		}
		now := r.hist.Since()
		avail := 0
		for _, s := range states {
			if s.Availability != "available" {
				continue
			}
			avail++
			if l := r.nodes[s.NodeName]; l != nil {
				l.mu.Lock()
				if l.pendingOnline {
					l.pendingOnline = false
					r.metrics.Duration("node_online_duration", now-l.startedAt, l.tags)
				}
				l.mu.Unlock()
			}
		}
		r.metrics.Add("nodes_online", float64(avail), Tags{})
		st := r.fleet.Stats()
		r.mu.Lock()
		r.nodeSamples = append(r.nodeSamples, NodeStateSample{T: now.Seconds(), Available: avail,
			Unavailable: len(r.sc.Nodes) - avail, FleetOnline: st.Online()})
		r.mu.Unlock()
		r.ui.nodes(st.Online(), avail)
	}
}

// watchFleet records the fleet's own health: heartbeat lag, and the diagnoses that make a run
// inconclusive rather than blame the server.
func (r *run) watchFleet(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	prev, prevAt, prevCPU := r.fleet.Stats(), time.Now(), r.fleetCPU()
	tickCPU, tickAt := prevCPU, prevAt
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s := r.fleet.Stats()
		r.metrics.Duration("heartbeat_lag", s.MaxLag, Tags{})
		cpu, now := r.fleetCPU(), time.Now()
		if r.timelineStarted.Load() {
			r.cpu.add(cpu-tickCPU, now.Sub(tickAt), runtime.NumCPU())
		}
		tickCPU, tickAt = cpu, now
		if !r.timelineStarted.Load() || now.UnixNano() < r.serverBusyUntil.Load() {
			// the join (registration, signed config requests) is not what the run measures,
			// and while the server is down or paused the nodes' queues fill by design
			prev, prevAt, prevCPU = s, now, cpu
			continue
		}
		if since := now.Sub(prevAt); since >= 5*time.Second {
			for _, w := range fakenodes.Diagnose(prev, s, since, cpu-prevCPU, runtime.NumCPU()) {
				if fleetLag(w) {
					r.addLag(r.hist.At(prevAt), r.hist.Since())
				}
				if r.fleetNote(w) {
					r.hist.Add(Entry{Kind: KindNote, Type: "fleet_health", Detail: w})
					r.ui.printf("warning: %s", w)
				}
			}
			prev, prevAt, prevCPU = s, now, cpu
		}
	}
}

// fleetCPU is the CPU time, in seconds, of the processes that run the nodes: this one unless the
// reference server runs in it too (then its CPU is not the fleet's, and counts as none), and
// the fleet's worker processes.
func (r *run) fleetCPU() float64 {
	var cpu float64
	if r.tg.inproc == nil {
		cpu = fakenodes.SelfCPU()
	}
	if wf, ok := r.fleet.(*workerFleet); ok {
		cpu += wf.cpuSeconds()
	}
	return cpu
}

// cpuUse is the fleet's CPU use while the timeline runs, second by second, in percent of all
// cores.
type cpuUse struct {
	mu         sync.Mutex
	peak       float64
	used, span float64 // CPU-seconds and core-seconds
}

func (c *cpuUse) add(cpuSeconds float64, elapsed time.Duration, cpus int) {
	if elapsed <= 0 || cpus <= 0 {
		return
	}
	span := elapsed.Seconds() * float64(cpus)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.peak = max(c.peak, 100*cpuSeconds/span)
	c.used += cpuSeconds
	c.span += span
}

// percent returns the peak and the mean.
func (c *cpuUse) percent() (peak, mean float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.span > 0 {
		mean = 100 * c.used / c.span
	}
	return c.peak, mean
}

// watchThresholds stops the timeline when a threshold with abortOnFail is crossed.
func (r *run) watchThresholds(ctx context.Context) {
	var rules []struct {
		mt scenarios.MetricThresholds
		th scenarios.Threshold
	}
	for _, mt := range r.s.Thresholds {
		for _, th := range mt.Rules {
			if th.AbortOnFail {
				rules = append(rules, struct {
					mt scenarios.MetricThresholds
					th scenarios.Threshold
				}{mt, th})
			}
		}
	}
	if len(rules) == 0 {
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, x := range rules {
			if r.hist.Since()-r.timelineT0 < x.th.DelayAbortEval.D() {
				continue
			}
			if res := r.metrics.evaluate(x.mt, x.th); !res.OK {
				r.note(fmt.Sprintf("threshold %s %s crossed (observed %.4g): stopping", x.mt.Key, x.th.Expr, res.Observed))
				r.abort(errAborted)
				return
			}
		}
	}
}

// orgFeed follows the organization feed for the whole run (reconnecting after a server
// restart) and checks it at the end.
func (r *run) orgFeed(ctx context.Context) {
	var all [][]feedEvent
	defer func() {
		r.mu.Lock()
		r.orgEvents = all
		r.mu.Unlock()
	}()
	lastID := ""
	for ctx.Err() == nil {
		feed, err := r.api.OrgFeed(ctx, lastID)
		if err != nil {
			if sleepCtx(ctx, 500*time.Millisecond) != nil {
				return
			}
			continue
		}
		var seg []feedEvent
		events := feed.Events()
	read:
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					break read
				}
				fe := feedEvent{ev: checksEvent(ev.Name, ev.ID, ev.Data), received: ev.Received, t: r.hist.At(ev.Received)}
				fe.data, _ = pushyclient.DecodeEvent(ev)
				seg = append(seg, fe)
				lastID = ev.ID
				r.hist.Add(Entry{Kind: KindSSE, Type: "org:" + ev.Name, ID: ev.ID, JobID: fe.data.Job, Data: rawJSON(ev.Data)})
				r.mu.Lock()
				r.orgSeen = append(r.orgSeen, fe)
				r.mu.Unlock()
				r.countEvent(fe.t)
			case <-ctx.Done():
				feed.Close()
				all = append(all, seg)
				return
			}
		}
		feed.Close()
		all = append(all, seg)
		if sleepCtx(ctx, 300*time.Millisecond) != nil {
			return
		}
	}
}

func writeJSON(path string, v any) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadResult reads a result.json written by an earlier run.
func ReadResult(path string) (*Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var res Result
	if err := json.Unmarshal(data, &res); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if res.Schema != ResultSchema {
		return nil, fmt.Errorf("%s: schema %q, want %q", path, res.Schema, ResultSchema)
	}
	return &res, nil
}

// fleetNote is one kind of fleet diagnosis: its first wording and how often it came.
type fleetNote struct {
	text  string
	count int
}

// fleetNote records a fleet diagnosis and reports whether its kind is new.
func (r *run) fleetNote(w string) bool {
	kind := strings.Map(func(c rune) rune { // the diagnosis without its numbers
		if c >= '0' && c <= '9' || c == '.' {
			return -1
		}
		return c
	}, w)
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := r.fleetNotes[kind]; n != nil {
		n.count++
		return false
	}
	r.fleetNotes[kind] = &fleetNote{text: w, count: 1}
	return true
}
