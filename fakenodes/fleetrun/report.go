package fleetrun

import (
	"context"
	"errors"
	"maps"
	"runtime"
	"sync"
	"time"

	"github.com/pushlab/pushlab/fakenodes"
	"github.com/pushlab/pushlab/fakenodes/fleetreport"
	"github.com/pushlab/pushlab/reports"
)

// Run registers the shard's nodes when asked, runs them (in this process, or spread over
// worker processes) until ctx ends, then stops them and prints a summary. With ReportFile set,
// it then writes what the shard saw there (see package fleetreport), also when it ends with an
// error.
func Run(ctx context.Context, o Options) error {
	if o.ReportFile == "" {
		return run(ctx, o)
	}
	if err := o.defaults(); err != nil {
		return err
	}
	rec := newRecorder(o)
	// The run stops when inner ends: when ctx ends, after a last look at the nodes.
	inner, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	go func() {
		select {
		case <-ctx.Done():
			rec.look()
		case <-inner.Done():
		}
		stop()
	}()
	started := o.Started
	o.Started = func(stats func() fakenodes.Stats) {
		rec.watch(inner, stats)
		if started != nil {
			started(stats)
		}
	}
	err := run(inner, o)
	stop()
	if werr := rec.finish(err).Write(o.ReportFile); werr != nil {
		return errors.Join(err, werr)
	}
	return err
}

// recorder follows a shard's stats for its report: nodes by state over time, the peak and
// the last count of online nodes, when all were first online, and the fleet's warnings.
type recorder struct {
	local bool // all nodes in this process: its CPU use is the fleet's

	mu     sync.Mutex
	shard  fleetreport.Shard
	stats  func() fakenodes.Stats
	last   time.Time // of the last point of States
	done   chan struct{}
	closed bool
}

func newRecorder(o Options) *recorder {
	first, count := Range(o.Nodes, o.Shard, o.Shards)
	fleet := fleetreport.Fleet{Nodes: o.Nodes, Seed: o.Seed, NamePrefix: o.NamePrefix, NameDigits: o.NameDigits}
	r := &recorder{local: o.WorkerCommand == nil || count <= o.PerProcess, done: make(chan struct{}),
		shard: fleetreport.Shard{Tool: reports.DefaultTool(), Server: o.Server, Org: o.Org, Fleet: fleet,
			Shard: o.Shard, Shards: o.Shards, First: first, Count: count, Start: time.Now().UTC()}}
	if count > 0 {
		r.shard.FirstNode, r.shard.LastNode = fleet.Name(first), fleet.Name(first+count-1)
	}
	return r
}

// watch looks at the stats every 250 ms until ctx ends, and diagnoses the fleet every 5 s.
func (r *recorder) watch(ctx context.Context, stats func() fakenodes.Stats) {
	r.mu.Lock()
	r.stats = stats
	r.mu.Unlock()
	go func() {
		defer close(r.done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		prev, prevAt, prevCPU := stats(), time.Now(), fakenodes.SelfCPU()
		r.observe(prevAt, prev, false)
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			now, s := time.Now(), stats()
			r.observe(now, s, false)
			if since := now.Sub(prevAt); since >= 5*time.Second {
				cpu, cpus := 0.0, 0 // worker processes: their CPU is not this process's
				if r.local {
					cpu, cpus = fakenodes.SelfCPU()-prevCPU, runtime.NumCPU()
				}
				for _, w := range fakenodes.Diagnose(prev, s, since, cpu, cpus) {
					r.mu.Lock()
					r.shard.Warn(now, w)
					r.mu.Unlock()
				}
				prev, prevAt, prevCPU = s, now, fakenodes.SelfCPU()
			}
		}
	}()
}

// look observes the stats now, if the nodes have started, and keeps the counts by state if
// they changed.
func (r *recorder) look() {
	r.mu.Lock()
	stats := r.stats
	r.mu.Unlock()
	if stats != nil {
		r.observe(time.Now(), stats(), true)
	}
}

func (r *recorder) observe(now time.Time, s fakenodes.Stats, last bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	sh := &r.shard
	online := s.Online()
	sh.OnlineAtStop = online
	sh.PeakOnline = max(sh.PeakOnline, online)
	if online == sh.Count && sh.AllOnline == 0 {
		sh.AllOnline = reports.Duration(now.Sub(sh.Start))
	}
	counts := make(map[string]int, len(s.ByState))
	for st, n := range s.ByState {
		counts[string(st)] = n
	}
	n := len(sh.States)
	changed := n == 0 || !maps.Equal(sh.States[n-1].Counts, counts)
	if since := now.Sub(r.last); changed && (last || since >= time.Second) || since >= 30*time.Second {
		sh.States = append(sh.States, reports.StateCounts{T: now.Sub(sh.Start).Seconds(), Counts: counts})
		r.last = now
	}
}

// finish ends the watch and returns the report, with the counters as they are after the stop.
func (r *recorder) finish(err error) *fleetreport.Shard {
	r.mu.Lock()
	stats := r.stats
	r.mu.Unlock()
	if stats != nil {
		<-r.done // Run has ended the watch
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	sh := r.shard
	sh.End = time.Now().UTC()
	if stats != nil {
		sh.Counts = fleetreport.CountsOf(stats())
	} else {
		sh.Counts = fleetreport.CountsOf(fakenodes.Stats{})
	}
	if err != nil {
		sh.Error = err.Error()
	}
	return &sh
}
