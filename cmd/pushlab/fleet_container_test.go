package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"

	"github.com/pushlab/pushlab/fakenodes"
	"github.com/pushlab/pushlab/fakenodes/fleetreport"
	"github.com/pushlab/pushlab/internal/chefauth"
	"github.com/pushlab/pushlab/internal/pushyclient"
	"github.com/pushlab/pushlab/reports"
	"github.com/pushlab/pushlab/server/servertest"
)

// TestFleetShardsAsContainers grows a fleet past one process the way it grows past one
// machine: three shards of one 300-node fleet, each `pushlab fleet --shard i/3` in its own
// container of the pushlab image (testcontainers-go, host network, keys mounted read-only, two
// worker processes each), started at once against a reference server. Every node must become
// available on the server and online in its shard's metrics, a job on all
// of them must succeed everywhere, and a job on the middle shard's nodes must reach that
// shard only: each shard ran exactly the nodes its index gives. SIGTERM (docker stop) must
// stop each container cleanly, with its shard report written, and the gathering of
// deploy/k8s/fleet-gather-job.yaml (`pushlab fleet merge /reports ...` in a container) must
// make of the reports one that counts every node exactly once.
func TestFleetShardsAsContainers(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	const shards, prefix = 3, "ctr-"
	nodes := 300
	if v := os.Getenv("PUSHLAB_CONTAINER_FLEET_NODES"); v != "" { // a bigger check, by hand
		if _, err := fmt.Sscan(v, &nodes); err != nil || nodes < shards {
			t.Fatalf("PUSHLAB_CONTAINER_FLEET_NODES=%q", v)
		}
	}
	shardNodes := func(i int) (first, count int) { // as fleetrun.Range cuts the fleet
		first = nodes * i / shards
		return first, nodes*(i+1)/shards - first
	}
	bin := buildForValidate(t)
	image := imageOf(t, bin)
	start := time.Now()

	cfg := servertest.Fast(t.TempDir())
	cfg.HeartbeatInterval = time.Second
	cfg.VotingTimeout = 30 * time.Second
	srv := servertest.Start(t, cfg)
	keys, reportDir := t.TempDir(), t.TempDir()
	admin, err := os.ReadFile(srv.KeyPath("admin"))
	if err != nil {
		t.Fatal(err)
	}
	nodeKey, err := chefauth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	// created once for all shards: each would otherwise make its own
	for name, pem := range map[string][]byte{"admin.pem": admin, "nodes.pem": chefauth.EncodePrivateKeyPEM(nodeKey)} {
		if err := os.WriteFile(filepath.Join(keys, name), pem, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true") // no reaper image can be pulled
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute+time.Duration(nodes)*20*time.Millisecond)
	defer cancel()
	metrics := make([]string, shards) // each shard's Prometheus endpoint, on the host network
	for i := range metrics {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		metrics[i] = ln.Addr().String()
		ln.Close()
	}
	ctrs := make([]*testcontainers.DockerContainer, shards)
	errs := make([]error, shards)
	var wg sync.WaitGroup
	for i := range shards {
		wg.Go(func() {
			ctrs[i], errs[i] = testcontainers.Run(ctx, image,
				testcontainers.WithCmd("fleet", "--server", srv.URL(), "--org", srv.Org(), "--user", "admin",
					"--key", "/keys/admin.pem", "--node-key", "/keys/nodes.pem", "--nodes", fmt.Sprint(nodes),
					"--shard", fmt.Sprintf("%d/%d", i, shards), "--seed", "11", "--name-prefix", prefix,
					"--per-process", fmt.Sprint((nodes/shards+1)/2), "--progress", "never", "--metrics-addr", metrics[i], "--report", fmt.Sprintf("/reports/shard-%d.json", i)),
				testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
					hc.NetworkMode = "host"
					hc.Binds = append(hc.Binds, keys+":/keys:ro", reportDir+":/reports")
				}))
		})
	}
	wg.Wait()
	for i, c := range ctrs {
		if c != nil {
			t.Cleanup(func() { _ = c.Terminate(context.Background()) })
		}
		if errs[i] != nil {
			t.Fatalf("starting shard %d: %v", i, errs[i])
		}
	}
	logs := func() string { // each shard's output and node states
		var b strings.Builder
		for i, c := range ctrs {
			fmt.Fprintf(&b, "--- shard %d/%d\n%s", i, shards, containerLogs(c))
			body, _ := getText("http://" + metrics[i] + "/metrics")
			for _, line := range strings.Split(body, "\n") {
				if strings.HasPrefix(line, "pushlab_fleet_nodes{") && !strings.HasSuffix(line, " 0") {
					fmt.Fprintln(&b, line)
				}
			}
		}
		return b.String()
	}

	api := pushyclient.New(srv.URL(), srv.Org(), &chefauth.Signer{UserID: "admin", Key: srv.Admin})
	want := make([]string, nodes) // names derive from the index only
	for i := range want {
		want[i] = fakenodes.NodeName(prefix, 5, i)
	}
	for deadline := time.Now().Add(90*time.Second + time.Duration(nodes)*10*time.Millisecond); ; {
		states, err := api.NodeStates(ctx)
		var available []string
		for _, s := range states {
			if s.Availability == "available" {
				available = append(available, s.NodeName)
			}
		}
		slices.Sort(available)
		if err == nil && slices.Equal(available, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d nodes available (%v)\n%s", len(available), nodes, err, logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// and online as each shard sees it (its worker processes report once a second)
	for i, addr := range metrics {
		_, count := shardNodes(i)
		want := fmt.Sprintf(`pushlab_fleet_nodes{state="online"} %d`, count)
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			body, err := getText("http://" + addr + "/metrics")
			if err == nil && strings.Contains(body, want+"\n") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("shard %d metrics lack %s (%v)\n%s\n%s", i, want, err, body, logs())
			}
		}
	}
	t.Logf("%d shard containers, %d nodes available after %s", shards, nodes, time.Since(start).Round(time.Millisecond))

	runJob := func(names []string) {
		t.Helper()
		started, err := api.StartJob(ctx, pushyclient.JobRequest{Command: "chef-client", Nodes: names})
		if err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			job, err := api.Job(ctx, started.ID)
			if err == nil && job.Finished() {
				if got := job.Nodes["succeeded"]; job.Status != "complete" || len(got) != len(names) || len(job.Nodes) != 1 {
					t.Fatalf("job on %d nodes: %s, %d succeeded, statuses %v", len(names), job.Status, len(got), mapKeys(job.Nodes))
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("job on %d nodes not finished: %v\n%s", len(names), err, logs())
			}
		}
	}
	runJob(want)
	first1, count1 := shardNodes(1)
	runJob(want[first1 : first1+count1]) // shard 1's nodes

	// docker stop: SIGTERM, then the fleet stops its nodes, writes its report and exits 0
	stopErrs := make([]error, shards)
	for i, c := range ctrs {
		wg.Go(func() {
			grace := 30 * time.Second
			stopErrs[i] = c.Stop(ctx, &grace)
		})
	}
	wg.Wait()
	for i, c := range ctrs {
		if stopErrs[i] != nil {
			t.Fatalf("stopping shard %d: %v", i, stopErrs[i])
		}
		st, err := c.State(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := containerLogs(c)
		_, count := shardNodes(i)
		if st.Running || st.ExitCode != 0 || st.OOMKilled || !strings.Contains(out, fmt.Sprintf("fleet stopped: %d nodes", count)) {
			t.Errorf("shard %d: running %v, exit %d, OOM-killed %v\n%s", i, st.Running, st.ExitCode, st.OOMKilled, out)
		}
	}

	got, err := fleetreport.Load(reportDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != shards {
		t.Fatalf("%d shard reports, want %d", len(got), shards)
	}
	for i, s := range got { // loaded in file name order: shard-0, shard-1, shard-2
		first, count := shardNodes(i)
		commits := int64(count)
		if i == 1 {
			commits *= 2 // the second job was on shard 1's nodes only
		}
		if s.Shard != i || s.First != first || s.Count != count || s.FirstNode != want[first] ||
			s.LastNode != want[first+count-1] || s.Error != "" {
			t.Errorf("shard report %d: shard %d/%d, nodes %d+%d (%s…%s), error %q", i, s.Shard, s.Shards, s.First, s.Count, s.FirstNode, s.LastNode, s.Error)
		}
		if s.Counts.Commits != commits || s.Counts.Sent["succeeded"] != commits || s.PeakOnline != count || s.AllOnline <= 0 {
			t.Errorf("shard %d: %d commits, %d succeeded sent (want %d), %d online at most", i, s.Counts.Commits, s.Counts.Sent["succeeded"], commits, s.PeakOnline)
		}
	}

	// gathered as deploy/k8s/fleet-gather-job.yaml does it: its arguments, in a container of
	// the image (no shell), with the shards' report volume at its mount path
	gather := readManifest(t, "fleet-gather-job.yaml")[0].Spec.Template.Spec.Containers[0]
	code, stdout := runToEnd(ctx, t, image, gather.Args, reportDir+":"+gather.VolumeMounts[0].MountPath)
	r, err := reports.Load(filepath.Join(reportDir, "fleet.json"))
	if err != nil {
		t.Fatalf("exit %d, %v\n%s", code, err, stdout)
	}
	if st, err := os.Stat(filepath.Join(reportDir, "fleet.html")); err != nil || st.Size() == 0 {
		t.Errorf("fleet.html: %v", err)
	}
	cov, _ := r.Check(fleetreport.CheckCoverage)
	if cov.Status != reports.StatusPass || cov.Passes != nodes || cov.Fails != 0 || r.Health.Nodes != nodes {
		t.Errorf("gathered: coverage %+v, %d nodes in health", cov, r.Health.Nodes)
	}
	switch {
	case code == reports.ExitInconclusive && r.Verdict == reports.VerdictInconclusive:
		t.Logf("gathered report inconclusive: a shard lagged (a busy machine): %s", r.Reason)
	case code != 0 || r.Verdict != reports.VerdictPass:
		t.Errorf("fleet merge: exit %d, verdict %s (%s)\n%s", code, r.Verdict, r.Reason, stdout)
	}
	if !strings.Contains(stdout, fmt.Sprintf("%d/%d", nodes, nodes)) {
		t.Errorf("summary:\n%s", stdout)
	}
	t.Logf("gathered report:\n%s", stdout)
	t.Logf("%d nodes in %d shard containers: up, two jobs, stopped and gathered in %s", nodes, shards, time.Since(start).Round(time.Millisecond))
}

// TestFleetMergeCommand gathers shard reports written here: a complete fleet passes and
// writes every format asked for; a missing shard fails with its nodes named; a file that is
// not a shard report is a harness error.
func TestFleetMergeCommand(t *testing.T) {
	dir := t.TempDir()
	f := fleetreport.Fleet{Nodes: 90, Seed: 3, NamePrefix: "sim-", NameDigits: 5}
	now := time.Now().UTC()
	for i := range 3 {
		s := &fleetreport.Shard{Server: "http://127.0.0.1:10003", Org: "pushlab", Fleet: f, Shard: i, Shards: 3,
			First: 30 * i, Count: 30, FirstNode: f.Name(30 * i), LastNode: f.Name(30*i + 29), Start: now, End: now.Add(time.Minute),
			AllOnline: reports.Duration(time.Second), PeakOnline: 30, OnlineAtStop: 30,
			Counts: fleetreport.CountsOf(fakenodes.Stats{Commits: 30, Sent: map[string]int64{"succeeded": 30}})}
		if err := s.Write(filepath.Join(dir, fmt.Sprintf("shard-%d.json", i))); err != nil {
			t.Fatal(err)
		}
	}
	out := t.TempDir()
	stdout, stderr, code := runCLI(t, "fleet", "merge", dir, "-o", filepath.Join(out, "fleet.json"), "-o", filepath.Join(out, "fleet.html"))
	if code != 0 || !strings.Contains(stdout, "PASS") || !strings.Contains(stdout, "90/90") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, name := range []string{"fleet.json", "fleet.html"} {
		if st, err := os.Stat(filepath.Join(out, name)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}

	stdout, _, code = runCLI(t, "fleet", "merge", filepath.Join(dir, "shard-0.json"), filepath.Join(dir, "shard-2.json"))
	if code != reports.ExitCheckFailed || !strings.Contains(stdout, "sim-00030…sim-00059") || !strings.Contains(stdout, "no shard ran them") {
		t.Errorf("a missing shard: exit %d\n%s", code, stdout)
	}
	_, stderr, code = runCLI(t, "fleet", "merge", filepath.Join(out, "fleet.json"))
	if code != reports.ExitHarness || !strings.Contains(stderr, "not a pushlab.fleet-shard/v1 report") {
		t.Errorf("a gathered report as input: exit %d\n%s", code, stderr)
	}
}

// runToEnd runs the image with args (host network, binds mounted) until it exits, and returns
// its exit status and output.
func runToEnd(ctx context.Context, t *testing.T, image string, args []string, binds ...string) (int, string) {
	t.Helper()
	c, err := testcontainers.Run(ctx, image, testcontainers.WithCmd(args...),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.NetworkMode = "host"
			hc.Binds = append(hc.Binds, binds...)
		}))
	if c != nil {
		t.Cleanup(func() { _ = c.Terminate(context.Background()) })
	}
	if err != nil {
		t.Fatalf("running %v: %v", args, err)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		st, err := c.State(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Running {
			return st.ExitCode, containerLogs(c)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v still running after 60 s\n%s", args, containerLogs(c))
		}
	}
}

func getText(url string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func containerLogs(c *testcontainers.DockerContainer) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := c.Logs(ctx)
	if err != nil {
		return err.Error()
	}
	defer r.Close()
	b, _ := io.ReadAll(io.LimitReader(r, 1<<20))
	return string(b)
}

func mapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
