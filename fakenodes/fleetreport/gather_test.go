package fleetreport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushlab/pushlab/fakenodes"
	"github.com/pushlab/pushlab/reports"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// shardOf is shard i of n of a fleet of nodes, as fleetrun.Range cuts it, all online after
// 2 s, with one commit per node and a heartbeat a second for 60 s.
func shardOf(nodes, i, n int) *Shard {
	first := nodes * i / n
	count := nodes*(i+1)/n - first
	f := Fleet{Nodes: nodes, Seed: 7, NamePrefix: "sim-", NameDigits: 5}
	start := t0.Add(time.Duration(i) * 500 * time.Millisecond)
	return &Shard{Server: "http://127.0.0.1:10003", Org: "pushlab", Fleet: f, Shard: i, Shards: n,
		First: first, Count: count, FirstNode: f.Name(first), LastNode: f.Name(first + count - 1),
		Start: start, End: start.Add(time.Minute), AllOnline: reports.Duration(2 * time.Second),
		PeakOnline: count, OnlineAtStop: count,
		Counts: CountsOf(fakenodes.Stats{Commits: int64(count), HeartbeatTicks: 60 * int64(count),
			Sent:  map[string]int64{"heartbeat": 60 * int64(count), "ack_commit": int64(count)},
			Fired: map[string]int64{"nack_commit": 1}}),
		States: []reports.StateCounts{{T: 0.5, Counts: map[string]int{"configuring": count}},
			{T: 2, Counts: map[string]int{"online": count}}}}
}

func check(t *testing.T, r *reports.Report, id string) reports.Check {
	t.Helper()
	c, ok := r.Check(id)
	if !ok {
		t.Fatalf("no check %s in %+v", id, r.Checks)
	}
	return c
}

func TestGatherCountsEveryNodeOnce(t *testing.T) {
	shards := []*Shard{shardOf(1000, 2, 3), shardOf(1000, 0, 3), shardOf(1000, 1, 3)}
	r := Gather(shards)
	if r.Verdict != reports.VerdictPass || r.ExitCode != 0 {
		t.Fatalf("verdict %s (%s)", r.Verdict, r.Reason)
	}
	if c := check(t, r, CheckCoverage); c.Status != reports.StatusPass || c.Passes != 1000 || c.Fails != 0 {
		t.Errorf("coverage %+v", c)
	}
	if c := check(t, r, CheckOnline); c.Passes != 1000 || c.Fails != 0 {
		t.Errorf("online %+v", c)
	}
	if c := check(t, r, CheckOneFleet); c.Passes != 3 {
		t.Errorf("one fleet %+v", c)
	}
	if r.Health.Nodes != 1000 || r.Health.HeartbeatsSent != 60000 || len(r.Health.Problems) != 0 {
		t.Errorf("health %+v", r.Health)
	}
	if !r.Start.Equal(t0) || !r.End.Equal(t0.Add(time.Minute+time.Second)) {
		t.Errorf("run %s to %s", r.Start, r.End)
	}
	if r.Scenario.Seed != 7 || r.Target.URL != "http://127.0.0.1:10003" || !strings.Contains(r.Scenario.Description, "sim-00000…sim-00999") {
		t.Errorf("scenario %+v target %+v", r.Scenario, r.Target)
	}
	notes := strings.Join(r.Notes, "\n")
	for _, want := range []string{
		"shard 0/3 ran sim-00000…sim-00332 (333 nodes): all online after 2s",
		"shard 1/3 ran sim-00333…sim-00665 (333 nodes)",
		"shard 2/3 ran sim-00666…sim-00999 (334 nodes)",
		"the fleet received 1000 commits",
		"sent ack_commit 1000, heartbeat 60000",
		"behaviours fired: nack_commit 3",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	// node states summed by second since the earliest start: shard i starts i/2 s late
	want := []struct {
		t           float64
		configuring int
		online      int
	}{{0, 333, 0}, {1, 1000, 0}, {2, 334, 666}, {3, 0, 1000}, {60, 0, 334}, {61, 0, 0}}
	if len(r.Metrics.NodeStates) != len(want) {
		t.Fatalf("node states %+v", r.Metrics.NodeStates)
	}
	for i, w := range want {
		got := r.Metrics.NodeStates[i]
		if got.T != w.t || got.Counts["configuring"] != w.configuring || got.Counts["online"] != w.online {
			t.Errorf("node states at %d: %+v, want %+v", i, got, w)
		}
	}
}

func TestGatherFindsMissingAndOverlappingShards(t *testing.T) {
	a, c := shardOf(300, 0, 3), shardOf(300, 2, 3)
	dup := shardOf(300, 2, 3)
	dup.First, dup.Count = 150, 100 // 150..249: overlaps shard 2 on 200..249
	r := Gather([]*Shard{a, c, dup})
	cov := check(t, r, CheckCoverage)
	if cov.Status != reports.StatusFail || cov.Passes != 200 || cov.Fails != 50+50 {
		t.Fatalf("coverage %+v", cov)
	}
	ev := cov.Evidence
	if len(ev) != 2 || ev[0].Node != "sim-00100…sim-00149" || !strings.Contains(ev[0].Excerpt, "no shard ran them") ||
		ev[1].Node != "sim-00200…sim-00249" || !strings.Contains(ev[1].Excerpt, "run by shards 2/3 and 2/3") {
		t.Errorf("evidence %+v", ev)
	}
	if r.Verdict != reports.VerdictFail || r.ExitCode != reports.ExitCheckFailed {
		t.Errorf("verdict %s", r.Verdict)
	}

	other := shardOf(300, 1, 3)
	other.Fleet.Seed = 8
	out := shardOf(300, 1, 3)
	out.First = 250 // 250..349: 50 nodes past the fleet's end
	r = Gather([]*Shard{shardOf(300, 0, 3), other, out})
	if c := check(t, r, CheckOneFleet); c.Status != reports.StatusFail || c.Fails != 1 || !strings.Contains(c.Evidence[0].Excerpt, "Seed:8") {
		t.Errorf("one fleet %+v", c)
	}
	if c := check(t, r, CheckCoverage); c.Fails != 50+50 || !strings.Contains(c.Message, "100 of the fleet's 300 nodes") {
		t.Errorf("coverage %+v", c)
	}
}

func TestGatherOnlineStoppedAndHealth(t *testing.T) {
	a, b := shardOf(200, 0, 2), shardOf(200, 1, 2)
	b.AllOnline, b.PeakOnline = 0, 90
	b.Error = "worker 0: exit status 1"
	a.Counts.LateHeartbeats, a.Counts.MaxHeartbeatLag = 40, reports.Duration(3*time.Second)
	a.Warn(a.Start.Add(10*time.Second), "fleet overloaded: 30.0 % of heartbeats were sent late")
	a.Warn(a.Start.Add(15*time.Second), "fleet overloaded: 31.0 % of heartbeats were sent late")
	a.Warn(a.Start.Add(15*time.Second), "server slow to answer new connections: 3 of 100")
	r := Gather([]*Shard{a, b})
	if c := check(t, r, CheckOnline); c.Status != reports.StatusFail || c.Passes != 190 || c.Fails != 10 {
		t.Errorf("online %+v", c)
	}
	if c := check(t, r, CheckStopped); c.Status != reports.StatusFail || c.Fails != 1 || !strings.Contains(c.Evidence[0].Excerpt, "exit status 1") {
		t.Errorf("stopped %+v", c)
	}
	if r.Health.HeartbeatsLate != 40 || r.Health.MaxHeartbeatLag.D() != 3*time.Second || len(r.Health.Problems) != 1 ||
		!strings.Contains(r.Health.Problems[0], "shard 0/2 warned 2 times (from 10s to 15s after its start): fleet overloaded: 30.0 %") {
		t.Errorf("health %+v", r.Health)
	}
	if !strings.Contains(strings.Join(r.Notes, "\n"), "shard 0/2 warned once (from 15s to 15s after its start): server slow") {
		t.Errorf("notes %q", r.Notes)
	}
	// the fleet lagged: the report cannot be trusted, whatever failed
	if r.Verdict != reports.VerdictInconclusive {
		t.Errorf("verdict %s (%s)", r.Verdict, r.Reason)
	}
	if r := Gather(nil); r.Verdict != reports.VerdictError {
		t.Errorf("no shards: %s", r.Verdict)
	}
}

func TestShardFilesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := shardOf(100, 1, 2)
	if err := want.Write(filepath.Join(dir, "shard-1.json")); err != nil {
		t.Fatal(err)
	}
	if err := shardOf(100, 0, 2).Write(filepath.Join(dir, "shard-0.json")); err != nil {
		t.Fatal(err)
	}
	// a gathered report in the same directory is passed over
	if err := Gather([]*Shard{want}).Write(filepath.Join(dir, "fleet.json")); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Shard != 0 || got[1].Shard != 1 {
		t.Fatalf("loaded %d shards", len(got))
	}
	g := got[1]
	if g.Schema != ShardSchema || g.FirstNode != "sim-00050" || g.LastNode != "sim-00099" || g.AllOnline != want.AllOnline ||
		g.Counts.Sent["heartbeat"] != 3000 || !g.Start.Equal(want.Start) || len(g.States) != 2 {
		t.Errorf("round trip: %+v", g)
	}
	if _, err := Load(filepath.Join(dir, "fleet.json")); err == nil || !strings.Contains(err.Error(), "not a "+ShardSchema) {
		t.Errorf("a named gathered report: %v", err)
	}
	empty := t.TempDir()
	if _, err := Load(empty); err == nil {
		t.Error("an empty directory gave no error")
	}
	if err := os.WriteFile(filepath.Join(empty, "bad.json"), []byte(`{"schema": "pushlab.fleet-shard/v1", "count": "x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(empty); err == nil {
		t.Error("a broken shard report gave no error")
	}
}
