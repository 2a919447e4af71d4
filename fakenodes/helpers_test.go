package fakenodes

import (
	"context"
	"crypto/rsa"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushlab/pushlab/fakenodes/behaviour"
	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/internal/pushyclient"
	"github.com/pushlab/pushlab/server"
	"github.com/pushlab/pushlab/server/servertest"
)

var (
	nodeKeyOnce sync.Once
	nodeKey     *rsa.PrivateKey
)

// testNodeKey is one client key shared by the nodes of every test.
func testNodeKey(t testing.TB) *rsa.PrivateKey {
	nodeKeyOnce.Do(func() {
		k, err := chefauth.GenerateKey()
		if err != nil {
			panic(err)
		}
		nodeKey = k
	})
	return nodeKey
}

// env is a reference server with a REST client signed as the org admin.
type env struct {
	t   testing.TB
	srv *servertest.Server
	api *pushyclient.Client
}

func newEnv(t testing.TB, tune ...func(*server.Config)) *env {
	t.Helper()
	cfg := servertest.Fast(t.TempDir())
	// 250 ms heartbeats: liveness in about a second, without false deaths on a loaded machine
	cfg.HeartbeatInterval = 250 * time.Millisecond
	for _, f := range tune {
		f(&cfg)
	}
	srv := servertest.Start(t, cfg)
	api := pushyclient.New(srv.URL(), srv.Org(), &chefauth.Signer{UserID: "admin", Key: srv.Admin})
	return &env{t: t, srv: srv, api: api}
}

// fleet registers the nodes, starts a fleet and stops it when the test ends.
func (e *env) fleet(cfg FleetConfig) *Fleet {
	e.t.Helper()
	cfg.Server = e.srv.URL()
	cfg.Org = e.srv.Org()
	if cfg.Key == nil {
		cfg.Key = testNodeKey(e.t)
	}
	if cfg.RampRate == 0 {
		cfg.RampRate = -1
	}
	if cfg.ConfigRetryDelay == 0 {
		cfg.ConfigRetryDelay = 200 * time.Millisecond
	}
	f, err := NewFleet(cfg)
	if err != nil {
		e.t.Fatalf("NewFleet: %v", err)
	}
	names := make([]string, 0, len(f.Nodes()))
	for _, n := range f.Nodes() {
		names = append(names, n.Name())
	}
	e.register(names...)
	if err := f.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		if err := f.Stop(); err != nil {
			e.t.Errorf("fleet stop: %v", err)
		}
	})
	return f
}

func (e *env) register(names ...string) {
	e.t.Helper()
	_, err := Register(context.Background(), Registration{Server: e.srv.URL(), Org: e.srv.Org(),
		Signer: &chefauth.Signer{UserID: "admin", Key: e.srv.Admin}, PublicKey: &testNodeKey(e.t).PublicKey}, names)
	if err != nil {
		e.t.Fatalf("register: %v", err)
	}
}

// waitOnline waits until the fleet has count nodes online and the server lists them available.
func (e *env) waitOnline(f *Fleet, count int, timeout time.Duration) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := f.WaitOnline(ctx, count); err != nil {
		e.t.Fatalf("fleet: %v (stats %+v)", err, f.Stats().ByState)
	}
	e.eventually(timeout, func() error {
		states, err := e.api.NodeStates(ctx)
		if err != nil {
			return err
		}
		avail := 0
		for _, s := range states {
			if s.Availability == "available" {
				avail++
			}
		}
		if avail < count {
			return fmt.Errorf("%d of %d nodes available on the server", avail, count)
		}
		return nil
	})
}

// eventually polls fn until it returns nil or the timeout passes.
func (e *env) eventually(timeout time.Duration, fn func() error) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func intp(v int) *int    { return &v }
func boolp(v bool) *bool { return &v }

// runJob starts a job and waits until the server reports it finished.
func (e *env) runJob(req pushyclient.JobRequest, timeout time.Duration) *pushyclient.Job {
	e.t.Helper()
	ctx := context.Background()
	started, err := e.api.StartJob(ctx, req)
	if err != nil {
		e.t.Fatalf("start job: %v", err)
	}
	var job *pushyclient.Job
	e.eventually(timeout, func() error {
		j, err := e.api.Job(ctx, started.ID)
		if err != nil {
			return err
		}
		job = j
		if !j.Finished() {
			return fmt.Errorf("job %s still %s: %s", started.ID, j.Status, summary(j.Nodes))
		}
		return nil
	})
	return job
}

// summary shows per-node statuses briefly: counts, and names when few.
func summary(nodes map[string][]string) string {
	var parts []string
	for k, v := range nodes {
		if len(v) <= 20 {
			parts = append(parts, fmt.Sprintf("%s:%v", k, v))
		} else {
			parts = append(parts, fmt.Sprintf("%s:%d nodes", k, len(v)))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// expectJob checks a finished job's status and per-node statuses.
func expectJob(t testing.TB, j *pushyclient.Job, status string, nodes map[string][]string) {
	t.Helper()
	if j.Status != status {
		t.Errorf("job status %q, want %q (nodes %s)", j.Status, status, summary(j.Nodes))
	}
	got := map[string][]string{}
	for k, v := range j.Nodes {
		s := slices.Clone(v)
		sort.Strings(s)
		got[k] = s
	}
	for k, v := range nodes {
		sort.Strings(v)
		if !slices.Equal(got[k], v) {
			t.Errorf("job nodes %q: %s; want %s", k, summary(map[string][]string{k: got[k]}), summary(map[string][]string{k: v}))
		}
	}
	for k := range got {
		if _, ok := nodes[k]; !ok {
			t.Errorf("unexpected job nodes %s", summary(map[string][]string{k: got[k]}))
		}
	}
}

// recorder keeps a fleet's events.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) add(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) find(pred func(Event) bool) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, e := range r.events {
		if pred(e) {
			out = append(out, e)
		}
	}
	return out
}

func (r *recorder) sent(node, typ string) []Event {
	return r.find(func(e Event) bool { return e.Node == node && e.Kind == EventSent && e.Type == typ })
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, e := range r.events {
		fmt.Fprintf(&b, "%s %s %s %s %s %s\n", e.Time.Format("15:04:05.000"), e.Node, e.Kind, e.Type, e.JobID, e.Detail)
	}
	return b.String()
}

// plan builds a one-group plan for the named nodes.
func plan(nodes []string, bs ...behaviour.Behaviour) *behaviour.Plan {
	g := behaviour.Group{Name: "g", Nodes: nodes}
	for _, b := range bs {
		g.Behaviours = append(g.Behaviours, behaviour.Of(b))
	}
	return &behaviour.Plan{Groups: []behaviour.Group{g}}
}
