package fleetrun

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushlab/pushlab/fakenodes"
	"github.com/pushlab/pushlab/fakenodes/fleetreport"
	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/internal/pushyclient"
	"github.com/pushlab/pushlab/server/servertest"
)

// TestRunWritesShardReport runs the second of two shards of a 40-node fleet in this process
// with a report file, a job on its nodes, then stops it: the report names the shard's range
// and counts what the nodes saw.
func TestRunWritesShardReport(t *testing.T) {
	cfg := servertest.Fast(t.TempDir())
	cfg.HeartbeatInterval = time.Second
	cfg.VotingTimeout = 30 * time.Second
	srv := servertest.Start(t, cfg)
	nodeKey, err := chefauth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "reports", "shard-1.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var stats func() fakenodes.Stats
	o := Options{Server: srv.URL(), Org: srv.Org(), User: "admin", UserKey: srv.Admin, NodeKey: nodeKey,
		Nodes: 40, Shard: 1, Shards: 2, NamePrefix: "sim-", Seed: 5, Register: true, RampRate: -1,
		Out: &syncWriter{w: &strings.Builder{}}, ReportFile: path,
		Started: func(s func() fakenodes.Stats) { mu.Lock(); stats = s; mu.Unlock() }}
	errs := make(chan error, 1)
	go func() { errs <- Run(ctx, o) }()

	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		s := stats
		mu.Unlock()
		if s != nil && s().Online() == 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the shard's 20 nodes did not come online")
		}
		select {
		case err := <-errs:
			t.Fatalf("Run ended: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	var names []string
	for i := 20; i < 40; i++ {
		names = append(names, fakenodes.NodeName("sim-", 5, i))
	}
	api := pushyclient.New(srv.URL(), srv.Org(), &chefauth.Signer{UserID: "admin", Key: srv.Admin})
	started, err := api.StartJob(ctx, pushyclient.JobRequest{Command: "chef-client", Nodes: names})
	if err != nil {
		t.Fatal(err)
	}
	for {
		job, err := api.Job(ctx, started.ID)
		if err == nil && job.Finished() {
			if job.Status != "complete" || len(job.Nodes["succeeded"]) != 20 {
				t.Fatalf("job %s: %v", job.Status, job.Nodes)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job not finished: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-errs:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}

	shards, err := fleetreport.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	r := shards[0]
	if r.Shard != 1 || r.Shards != 2 || r.First != 20 || r.Count != 20 || r.FirstNode != "sim-00020" || r.LastNode != "sim-00039" ||
		r.Fleet != (fleetreport.Fleet{Nodes: 40, Seed: 5, NamePrefix: "sim-", NameDigits: 5}) || r.Server != srv.URL() {
		t.Errorf("shard %+v", r)
	}
	if r.AllOnline <= 0 || r.PeakOnline != 20 || r.OnlineAtStop != 20 || r.Error != "" || !r.End.After(r.Start) {
		t.Errorf("all online after %v, peak %d, at stop %d, error %q", r.AllOnline.D(), r.PeakOnline, r.OnlineAtStop, r.Error)
	}
	if c := r.Counts; c.Commits != 20 || c.Sent["ack_commit"] != 20 || c.Sent["succeeded"] != 20 || c.Received["run"] != 20 ||
		c.ConfigRequests != 20 || c.HeartbeatTicks == 0 {
		t.Errorf("counts %+v", c)
	}
	if n := len(r.States); n == 0 || r.States[n-1].Counts["online"] != 20 {
		t.Errorf("states %+v", r.States)
	}
}

// TestRunWritesShardReportOnError: a shard that cannot register still leaves a report, which
// says why it ended.
func TestRunWritesShardReportOnError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	key, err := chefauth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "shard-0.json")
	err = Run(context.Background(), Options{Server: closed, Org: "pushlab", User: "admin", UserKey: key, NodeKey: key,
		Nodes: 10, Register: true, Out: &strings.Builder{}, ReportFile: path})
	if err == nil {
		t.Fatal("Run against a closed port succeeded")
	}
	shards, lerr := fleetreport.Load(path)
	if lerr != nil {
		t.Fatal(lerr)
	}
	if s := shards[0]; s.Error != err.Error() || s.Count != 10 || s.PeakOnline != 0 || s.AllOnline != 0 {
		t.Errorf("report %+v", s)
	}
}
