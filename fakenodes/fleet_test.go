package fakenodes

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/pushlab/pushlab/fakenodes/behaviour"
	"github.com/pushlab/pushlab/internal/pushyclient"
	"github.com/pushlab/pushlab/server"
)

// largeFleet is the node count of TestFleetJobOnEveryNode: 500 by default (the 2,000-node run of
// the default tests is fleetrun's, over worker processes), PUSHLAB_FLEET_NODES to change it
// (2,000 takes about 12 s here; 9,000 is the end-to-end target against the reference server).
func largeFleet(t *testing.T) int {
	if s := os.Getenv("PUSHLAB_FLEET_NODES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("PUSHLAB_FLEET_NODES=%q", s)
		}
		return n
	}
	if testing.Short() {
		return 100
	}
	return 500
}

func TestFleetJobOnEveryNode(t *testing.T) {
	nodes := largeFleet(t)
	e := newEnv(t, func(c *server.Config) {
		c.HeartbeatInterval = time.Second // a production-like pace: the test measures the fleet, not liveness
		c.VotingTimeout = 60 * time.Second
	})
	start := time.Now()
	f := e.fleet(FleetConfig{Nodes: nodes, NamePrefix: "fleet-", RampRate: 1000, Seed: 7, CommandGrace: 10 * time.Second})
	e.waitOnline(f, nodes, 60*time.Second)
	joined := time.Since(start)
	names := make([]string, 0, nodes)
	for _, n := range f.Nodes() {
		names = append(names, n.Name())
	}
	jobStart := time.Now()
	defer func() {
		st := f.Stats()
		t.Logf("stats: %+v", st)
	}()
	j := e.runJob(pushyclient.JobRequest{Command: "chef-client", Nodes: names}, 60*time.Second)
	expectJob(t, j, "complete", map[string][]string{"succeeded": names})
	st := f.Stats()
	t.Logf("%d nodes online in %s, job on all of them in %s; stats: %d configs, %d reconfigures, %d rejected, %d send full, %d heartbeat verifications, max lag %s",
		nodes, joined.Round(time.Millisecond), time.Since(jobStart).Round(time.Millisecond), st.ConfigFetches, st.Reconfigures, st.Rejected, st.SendFull, st.HeartbeatVerifications, st.MaxLag)
	if st.ConfigErrors != 0 || st.SilentChannels != 0 {
		t.Errorf("config errors %d, silent channels %d", st.ConfigErrors, st.SilentChannels)
	}
	var answered int64
	for _, n := range st.AnswerWait {
		answered += n
	}
	if answered != int64(nodes) || st.AnswerWaitMax <= 0 {
		t.Errorf("%d new command channels answered (by wait %v, max %s), want %d", answered, st.AnswerWait, st.AnswerWaitMax, nodes)
	}
	// one RSA verification per distinct server heartbeat, not per node
	if st.HeartbeatVerifications > int64(time.Since(start)/time.Second)+5 {
		t.Errorf("%d heartbeat verifications for %d nodes over %s", st.HeartbeatVerifications, nodes, time.Since(start))
	}
}

func TestFleetAssignmentDependsOnSeedAndIndexOnly(t *testing.T) {
	p, err := behaviour.Parse([]byte(`
groups:
  - name: nackers
    weight: 1
    behaviours: [{type: nack_commit}]
  - name: slow
    weight: 2
    behaviours: [{type: duration, distribution: uniform, min: 1s, max: 2s}]
  - name: fine
    weight: 7
  - name: pinned
    nodes: [node-00003]
    behaviours: [{type: hang}]
`))
	if err != nil {
		t.Fatal(err)
	}
	groups := func(first, count int, seed int64) map[int]string {
		f, err := NewFleet(FleetConfig{Server: "http://127.0.0.1:1", Org: "o", Key: testNodeKey(t), Nodes: count, FirstIndex: first, Seed: seed, Plan: p})
		if err != nil {
			t.Fatal(err)
		}
		defer f.Stop()
		out := map[int]string{}
		for _, n := range f.Nodes() {
			out[n.Index()] = n.Group()
		}
		return out
	}
	whole := groups(0, 1000, 42)
	// two shards see the same assignment as the whole fleet
	for k, v := range groups(0, 500, 42) {
		if whole[k] != v {
			t.Fatalf("node %d: %s in a shard, %s in the whole", k, v, whole[k])
		}
	}
	for k, v := range groups(500, 500, 42) {
		if whole[k] != v {
			t.Fatalf("node %d: %s in a shard, %s in the whole", k, v, whole[k])
		}
	}
	count := map[string]int{}
	for _, g := range whole {
		count[g]++
	}
	if whole[3] != "pinned" || count["pinned"] != 1 {
		t.Fatalf("pinned: %v", count)
	}
	if count["nackers"] < 60 || count["nackers"] > 140 || count["slow"] < 150 || count["slow"] > 250 || count["fine"] < 600 {
		t.Fatalf("weights 1:2:7 gave %v", count)
	}
	other := groups(0, 1000, 43)
	same := 0
	for k, v := range whole {
		if other[k] == v {
			same++
		}
	}
	if same == 1000 {
		t.Fatal("another seed gave the same assignment")
	}
}

func TestFleetRuntimeOverridesAndFaults(t *testing.T) {
	e := newEnv(t)
	rec := &recorder{}
	f := e.fleet(FleetConfig{Nodes: 4, NamePrefix: "rt-", OnEvent: rec.add})
	e.waitOnline(f, 4, 10*time.Second)
	names := []string{"rt-00000", "rt-00001", "rt-00002", "rt-00003"}

	// per-node override at run time
	f.Node("rt-00001").SetBehaviours(&behaviour.NackCommit{})
	j := e.runJob(pushyclient.JobRequest{Command: "x", Nodes: names, Quorum: intp(3)}, 10*time.Second)
	expectJob(t, j, "complete", map[string][]string{"succeeded": {"rt-00000", "rt-00002", "rt-00003"}, "nacked": {"rt-00001"}})
	f.Node("rt-00001").SetBehaviours()

	// crash by selector: the server sees them go
	for _, n := range f.Select(ByIndex(2, 4)) {
		n.Crash()
	}
	e.serverSees("rt-00002", "unavailable", 5*time.Second)
	e.serverSees("rt-00003", "unavailable", 5*time.Second)
	j = e.runJob(pushyclient.JobRequest{Command: "x", Nodes: names, Quorum: intp(2)}, 10*time.Second)
	expectJob(t, j, "complete", map[string][]string{"succeeded": {"rt-00000", "rt-00001"}, "unavailable": {"rt-00002", "rt-00003"}})

	// restart brings a crashed node back with a new incarnation
	old := f.Node("rt-00002").Status().Incarnation
	f.Node("rt-00002").Restart(0)
	e.serverSees("rt-00002", "available", 10*time.Second)
	if f.Node("rt-00002").Status().Incarnation == old {
		t.Fatal("same incarnation after restart")
	}
	// a node made unavailable by hand
	f.Node("rt-00000").Unavailable(1500*time.Millisecond, true)
	e.serverSees("rt-00000", "unavailable", 5*time.Second)
	e.serverSees("rt-00000", "available", 10*time.Second)
	if got := f.Select(ByGroup("")); len(got) != 4 {
		t.Fatalf("default group has %d nodes", len(got))
	}
	if st := f.Stats(); st.Crashes != 2 || st.Restarts != 1 || st.ByState[StateDown] != 1 {
		t.Fatalf("stats %+v", st)
	}
	if len(rec.find(func(e Event) bool { return e.Kind == EventState && e.Type == string(StateDown) })) != 2 {
		t.Fatalf("events\n%s", rec)
	}
}

func TestFleetStopIsClean(t *testing.T) {
	e := newEnv(t)
	f, err := NewFleet(FleetConfig{Server: e.srv.URL(), Org: e.srv.Org(), Key: testNodeKey(t), Nodes: 20, NamePrefix: "stop-", RampRate: -1})
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, 20)
	for _, n := range f.Nodes() {
		names = append(names, n.Name())
	}
	e.register(names...)
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.WaitOnline(ctx, 20); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- f.Stop() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Stop hangs")
	}
	if st := f.Stats(); st.ByState[StateStopped] != 20 {
		t.Fatalf("states %v", st.ByState)
	}
	// the server sees every node go
	e.eventually(10*time.Second, func() error {
		states, err := e.api.NodeStates(ctx)
		if err != nil {
			return err
		}
		for _, s := range states {
			if s.Availability == "available" {
				return fmt.Errorf("%s still available", s.NodeName)
			}
		}
		return nil
	})
	if err := f.Stop(); err != nil {
		t.Fatal("second Stop:", err)
	}
}
