package fakenodes

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pushlab/pushlab/fakenodes/behaviour"
	"github.com/pushlab/pushlab/internal/pushyclient"
)

// Every behaviour against the reference server, checking the statuses the server reports
// (protocol.md §5.6, pedant's end-to-end and SSE specs).

// oneNode starts a one-node fleet whose node has the behaviours, and waits until it is online.
func oneNode(t *testing.T, name string, bs ...behaviour.Behaviour) (*env, *Fleet, *recorder) {
	t.Helper()
	e := newEnv(t)
	rec := &recorder{}
	f := e.fleet(FleetConfig{Names: []string{name}, Nodes: 1, Plan: plan([]string{name}, bs...), OnEvent: rec.add})
	e.waitOnline(f, 1, 10*time.Second)
	return e, f, rec
}

func job(nodes ...string) pushyclient.JobRequest {
	return pushyclient.JobRequest{Command: "chef-client", Nodes: nodes}
}

func TestBehaviourAckCommitDelay(t *testing.T) {
	t.Parallel()
	e, _, rec := oneNode(t, "DONKEY", &behaviour.AckCommit{Delay: 300 * time.Millisecond})
	j := e.runJob(job("DONKEY"), 10*time.Second)
	expectJob(t, j, "complete", map[string][]string{"succeeded": {"DONKEY"}})
	commit := rec.find(func(e Event) bool { return e.Kind == EventReceived && e.Type == "commit" })
	ack := rec.sent("DONKEY", "ack_commit")
	if len(commit) != 1 || len(ack) != 1 || ack[0].Time.Sub(commit[0].Time) < 300*time.Millisecond {
		t.Fatalf("commit %v, ack %v", commit, ack)
	}
}

func TestBehaviourNackCommit(t *testing.T) {
	t.Parallel()
	e, _, _ := oneNode(t, "DONKEY", &behaviour.NackCommit{})
	j := e.runJob(job("DONKEY"), 10*time.Second)
	expectJob(t, j, "quorum_failed", map[string][]string{"nacked": {"DONKEY"}})
}

func TestBehaviourIgnoreCommit(t *testing.T) {
	t.Parallel()
	e, _, _ := oneNode(t, "DONKEY", &behaviour.IgnoreCommit{})
	j := e.runJob(job("DONKEY"), 10*time.Second) // voting timeout 2 s
	expectJob(t, j, "quorum_failed", map[string][]string{"unavailable": {"DONKEY"}})
}

func TestBehaviourDropAckCommit(t *testing.T) {
	t.Parallel()
	e, f, _ := oneNode(t, "DONKEY", &behaviour.DropAckCommit{})
	ctx := context.Background()
	started, err := e.api.StartJob(ctx, job("DONKEY"))
	if err != nil {
		t.Fatal(err)
	}
	// the node believes it is committed, the server still waits for its vote
	e.eventually(5*time.Second, func() error {
		st := f.Node("DONKEY").Status()
		j, err := e.api.Job(ctx, started.ID)
		if err != nil {
			return err
		}
		if st.JobState != behaviour.Committed || st.JobID != started.ID || len(j.Nodes["new"]) != 1 {
			return fmt.Errorf("node %s %s, job nodes %v", st.JobState, st.JobID, j.Nodes)
		}
		return nil
	})
	var j *pushyclient.Job
	e.eventually(10*time.Second, func() error {
		j, err = e.api.Job(ctx, started.ID)
		if err == nil && !j.Finished() {
			err = fmt.Errorf("job %s", j.Status)
		}
		return err
	})
	expectJob(t, j, "quorum_failed", map[string][]string{"unavailable": {"DONKEY"}})
	ns, err := e.api.NodeState(ctx, "DONKEY")
	if err != nil || ns.Status != "online" {
		t.Fatalf("node state %+v %v", ns, err)
	}
}

func TestBehaviourAckCommitThenDie(t *testing.T) {
	t.Parallel()
	e, f, _ := oneNode(t, "DONKEY", &behaviour.AckCommitThenDie{})
	j := e.runJob(job("DONKEY"), 15*time.Second)
	expectJob(t, j, "complete", map[string][]string{"crashed": {"DONKEY"}})
	if st := f.Node("DONKEY").Status(); st.State != StateDown {
		t.Fatalf("node %+v", st)
	}
}

func TestBehaviourDieWhileRunningAndRestart(t *testing.T) {
	t.Parallel()
	e, f, _ := oneNode(t, "DONKEY", &behaviour.DieWhileRunning{After: 100 * time.Millisecond, RestartAfter: 200 * time.Millisecond})
	inc := f.Node("DONKEY").Status().Incarnation
	j := e.runJob(job("DONKEY"), 15*time.Second)
	expectJob(t, j, "complete", map[string][]string{"crashed": {"DONKEY"}})
	// it comes back with a new incarnation and the server takes it back
	e.waitOnline(f, 1, 10*time.Second)
	if st := f.Node("DONKEY").Status(); st.Incarnation == inc || st.Restarts != 1 {
		t.Fatalf("after restart: %+v (was %s)", st, inc)
	}
}

func TestBehaviourIgnoreRun(t *testing.T) {
	t.Parallel()
	e, _, _ := oneNode(t, "DONKEY", &behaviour.IgnoreRun{})
	r := job("DONKEY")
	r.RunTimeout = intp(1)
	j := e.runJob(r, 10*time.Second)
	expectJob(t, j, "timed_out", map[string][]string{"timed_out": {"DONKEY"}})
}

func TestBehaviourNackRun(t *testing.T) {
	t.Parallel()
	e, _, _ := oneNode(t, "DONKEY", &behaviour.NackRun{})
	j := e.runJob(job("DONKEY"), 10*time.Second)
	expectJob(t, j, "complete", map[string][]string{"failed": {"DONKEY"}})
}

func TestBehaviourAckRunThenNackRun(t *testing.T) {
	t.Parallel()
	e, _, rec := oneNode(t, "DONKEY", &behaviour.AckRunThenNackRun{Delay: 100 * time.Millisecond})
	j := e.runJob(job("DONKEY"), 10*time.Second)
	expectJob(t, j, "complete", map[string][]string{"failed": {"DONKEY"}})
	if len(rec.sent("DONKEY", "ack_run")) != 1 || len(rec.sent("DONKEY", "nack_run")) != 1 {
		t.Fatalf("events\n%s", rec)
	}
}

func TestBehaviourResultExactOutput(t *testing.T) {
	t.Parallel()
	stdout := "line one\nĐONKEY says \"hi\"\t\\ ünïcödé ✓\n"
	stderr := "warning: \x01 control\nsecond line"
	e, _, _ := oneNode(t, "DONKEY", &behaviour.CommandResult{ExitStatus: 3, Stdout: stdout, Stderr: stderr})
	r := job("DONKEY")
	r.CaptureOutput = boolp(true)
	j := e.runJob(r, 10*time.Second)
	expectJob(t, j, "complete", map[string][]string{"failed": {"DONKEY"}})
	ctx := context.Background()
	for ch, want := range map[string]string{"stdout": stdout, "stderr": stderr} {
		got, err := e.api.Output(ctx, j.ID, "DONKEY", ch)
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", ch, got, err, want)
		}
	}
	// without capture the node sends no output
	j = e.runJob(job("DONKEY"), 10*time.Second)
	expectJob(t, j, "complete", map[string][]string{"failed": {"DONKEY"}})
	if _, err := e.api.Output(ctx, j.ID, "DONKEY", "stdout"); pushyclient.StatusCode(err) != http.StatusNotFound {
		t.Errorf("output without capture: %v", err)
	}
}

func TestBehaviourResultEmptyOutput(t *testing.T) {
	t.Parallel()
	e, _, _ := oneNode(t, "DONKEY")
	r := job("DONKEY")
	r.CaptureOutput = boolp(true)
	j := e.runJob(r, 10*time.Second)
	expectJob(t, j, "complete", map[string][]string{"succeeded": {"DONKEY"}})
	for _, ch := range []string{"stdout", "stderr"} {
		got, err := e.api.Output(context.Background(), j.ID, "DONKEY", ch)
		if err != nil || len(got) != 0 {
			t.Errorf("%s = %q, %v; want empty", ch, got, err)
		}
	}
}

func TestBehaviourResultSizeCap(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	result := func(name string, out, errOut int) behaviour.Group {
		return behaviour.Group{Name: name, Nodes: []string{name}, Behaviours: []behaviour.Spec{
			behaviour.Of(&behaviour.CommandResult{StdoutBytes: out, StderrBytes: errOut})}}
	}
	f := e.fleet(FleetConfig{Names: []string{"BIG", "HUGE", "ESCAPED"}, Nodes: 3, Plan: &behaviour.Plan{Groups: []behaviour.Group{
		result("BIG", 58000, 0),         // with its escaped newlines, just under the cap
		result("HUGE", 40000, 23001),    // over 63,000 bytes of output
		result("ESCAPED", 62000, 1000)}, // under 63,000 bytes, but not once escaped as JSON
	}})
	e.waitOnline(f, 3, 10*time.Second)
	r := job("BIG", "HUGE", "ESCAPED")
	r.CaptureOutput = boolp(true)
	j := e.runJob(r, 10*time.Second)
	expectJob(t, j, "complete", map[string][]string{"succeeded": {"BIG", "HUGE", "ESCAPED"}})
	ctx := context.Background()
	got, err := e.api.Output(ctx, j.ID, "BIG", "stdout")
	if err != nil || string(got) != behaviour.Filler("stdout", 58000) {
		t.Errorf("BIG stdout: %d bytes, %v", len(got), err)
	}
	// too large: the client drops the output and reports the result alone
	for _, n := range []string{"HUGE", "ESCAPED"} {
		if _, err := e.api.Output(ctx, j.ID, n, "stdout"); pushyclient.StatusCode(err) != http.StatusNotFound {
			t.Errorf("%s stdout: %v", n, err)
		}
	}
	if st := f.Stats(); st.OutputDropped != 2 {
		t.Errorf("output dropped %d times", st.OutputDropped)
	}
}

func TestBehaviourDuration(t *testing.T) {
	t.Parallel()
	e, _, rec := oneNode(t, "DONKEY", &behaviour.Duration{Distribution: behaviour.Distribution{Kind: "uniform", Min: 400 * time.Millisecond, Max: 500 * time.Millisecond}})
	j := e.runJob(job("DONKEY"), 10*time.Second)
	expectJob(t, j, "complete", map[string][]string{"succeeded": {"DONKEY"}})
	ackRun, done := rec.sent("DONKEY", "ack_run"), rec.sent("DONKEY", "succeeded")
	if len(ackRun) != 1 || len(done) != 1 {
		t.Fatalf("events\n%s", rec)
	}
	if d := done[0].Time.Sub(ackRun[0].Time); d < 400*time.Millisecond || d > 2*time.Second {
		t.Fatalf("ran %s, want 400-500 ms", d)
	}
}

func TestBehaviourHang(t *testing.T) {
	t.Parallel()
	e, _, _ := oneNode(t, "DONKEY", &behaviour.Hang{})
	r := job("DONKEY")
	r.RunTimeout = intp(1)
	j := e.runJob(r, 10*time.Second)
	expectJob(t, j, "timed_out", map[string][]string{"timed_out": {"DONKEY"}})
}

// serverSees waits until the server reports the node with this availability.
func (e *env) serverSees(node, availability string, timeout time.Duration) {
	e.t.Helper()
	e.eventually(timeout, func() error {
		ns, err := e.api.NodeState(context.Background(), node)
		if err != nil {
			return err
		}
		if ns.Availability != availability {
			return fmt.Errorf("node %s is %s/%s, want %s", node, ns.Status, ns.Availability, availability)
		}
		return nil
	})
}

func TestBehaviourUnavailable(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"silent", "disconnect"} {
		t.Run(mode, func(t *testing.T) {
			e, f, _ := oneNode(t, "DONKEY", &behaviour.Unavailable{Schedule: behaviour.Schedule{After: 300 * time.Millisecond}, For: 2 * time.Second, Mode: mode})
			e.serverSees("DONKEY", "unavailable", 5*time.Second)
			want := StateFrozen
			if mode == "disconnect" {
				want = StateDisconnected
			}
			if st := f.Node("DONKEY").Status(); st.State != want {
				t.Fatalf("node %+v, want %s", st, want)
			}
			j := e.runJob(job("DONKEY"), 10*time.Second)
			expectJob(t, j, "quorum_failed", map[string][]string{"unavailable": {"DONKEY"}})
			// then it is back, and works
			e.serverSees("DONKEY", "available", 15*time.Second)
			j = e.runJob(job("DONKEY"), 10*time.Second)
			expectJob(t, j, "complete", map[string][]string{"succeeded": {"DONKEY"}})
		})
	}
}

// incarnationOf reads the incarnation_id of a sent message.
func incarnationOf(t *testing.T, e Event) string {
	var m struct {
		Incarnation string `json:"incarnation_id"`
	}
	if err := json.Unmarshal(e.Body, &m); err != nil || m.Incarnation == "" {
		t.Fatalf("no incarnation in %s: %v", e.Body, err)
	}
	return m.Incarnation
}

func TestBehaviourRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := &recorder{}
	f := e.fleet(FleetConfig{Names: []string{"DONKEY"}, Nodes: 1, OnEvent: rec.add,
		Plan: plan([]string{"DONKEY"}, &behaviour.Restart{Schedule: behaviour.Schedule{After: time.Second}, Down: time.Second})})
	n := f.Node("DONKEY")
	// each life answers the server's first abort; the second with a new incarnation
	e.eventually(15*time.Second, func() error {
		if n.Status().Restarts != 1 || len(rec.sent("DONKEY", "aborted")) < 2 {
			return fmt.Errorf("node %+v", n.Status())
		}
		return nil
	})
	aborted := rec.sent("DONKEY", "aborted")
	first, last := incarnationOf(t, aborted[0]), incarnationOf(t, aborted[len(aborted)-1])
	if first == last || last != n.Status().Incarnation {
		t.Fatalf("incarnations %s then %s (status %s)", first, last, n.Status().Incarnation)
	}
	e.serverSees("DONKEY", "available", 10*time.Second)
	j := e.runJob(job("DONKEY"), 10*time.Second)
	expectJob(t, j, "complete", map[string][]string{"succeeded": {"DONKEY"}})
	if len(rec.find(func(e Event) bool { return e.Kind == EventBehaviour && e.Type == behaviour.TypeRestart })) != 1 {
		t.Fatalf("events\n%s", rec)
	}
}

func TestBehaviourCrash(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.fleet(FleetConfig{Names: []string{"DONKEY"}, Nodes: 1, Plan: plan([]string{"DONKEY"}, &behaviour.Crash{After: time.Second})})
	e.eventually(10*time.Second, func() error {
		if st := f.Node("DONKEY").Status(); st.State != StateDown {
			return fmt.Errorf("node %s", st.State)
		}
		return nil
	})
	e.serverSees("DONKEY", "unavailable", 10*time.Second)
	j := e.runJob(job("DONKEY"), 10*time.Second)
	expectJob(t, j, "quorum_failed", map[string][]string{"unavailable": {"DONKEY"}})
}

func TestBehaviourReconnect(t *testing.T) {
	t.Parallel()
	e, f, rec := oneNode(t, "DONKEY", &behaviour.Reconnect{Schedule: behaviour.Schedule{After: 300 * time.Millisecond}})
	// a known node from a new ZeroMQ identity: the server answers ack
	e.eventually(5*time.Second, func() error {
		if len(rec.find(func(e Event) bool { return e.Kind == EventReceived && e.Type == "ack" })) == 0 {
			return fmt.Errorf("no ack; stats %+v", f.Stats().Received)
		}
		return nil
	})
	if st := f.Stats(); st.Connects != 2 {
		t.Fatalf("connects %d", st.Connects)
	}
	e.serverSees("DONKEY", "available", 5*time.Second)
	j := e.runJob(job("DONKEY"), 10*time.Second)
	expectJob(t, j, "complete", map[string][]string{"succeeded": {"DONKEY"}})
}

func TestBehaviourClockSkew(t *testing.T) {
	t.Parallel()
	t.Run("100s behind is accepted", func(t *testing.T) {
		e, _, _ := oneNode(t, "DONKEY", &behaviour.ClockSkew{Offset: -100 * time.Second})
		j := e.runJob(job("DONKEY"), 10*time.Second)
		expectJob(t, j, "complete", map[string][]string{"succeeded": {"DONKEY"}})
	})
	t.Run("1000s behind is dropped", func(t *testing.T) {
		e := newEnv(t)
		f := e.fleet(FleetConfig{Names: []string{"DONKEY"}, Nodes: 1, Plan: plan([]string{"DONKEY"}, &behaviour.ClockSkew{Offset: -1000 * time.Second})})
		e.eventually(5*time.Second, func() error {
			if st := f.Stats(); st.Sent["heartbeat"] < 5 {
				return fmt.Errorf("stats %+v", st.Sent)
			}
			return nil
		})
		// every message is outside the server's 300 s window: it never sees the node
		e.serverSees("DONKEY", "unavailable", time.Second)
		if st := f.Stats(); st.Received["abort"] != 0 {
			t.Fatalf("the server answered: %+v", st.Received)
		}
	})
}

func TestBehaviourBogusMessages(t *testing.T) {
	t.Parallel()
	long := behaviour.Duration{Distribution: behaviour.Distribution{Value: time.Second}}
	at := behaviour.Schedule{After: 200 * time.Millisecond, Times: 1}
	cases := []struct {
		name  string
		bogus behaviour.BogusMessage
		want  string
	}{
		// pedant: an unexpected nack_commit with the running job's id crashes the node's job
		{"nack_commit while running", behaviour.BogusMessage{When: "running", Schedule: at}, "crashed"},
		{"100 s old is accepted", behaviour.BogusMessage{When: "running", Schedule: at, TimeOffset: -100 * time.Second}, "crashed"},
		{"1000 s old is ignored", behaviour.BogusMessage{When: "running", Schedule: at, TimeOffset: -1000 * time.Second}, "succeeded"},
		{"bad signature is ignored", behaviour.BogusMessage{When: "running", Schedule: at, BadSignature: true}, "succeeded"},
		{"unknown type is ignored", behaviour.BogusMessage{When: "running", Schedule: at, Type: "hello"}, "succeeded"},
		{"unknown job id rehabs the node", behaviour.BogusMessage{When: "running", Schedule: at, JobID: "a"}, "crashed"},
		{"broken JSON is ignored", behaviour.BogusMessage{When: "running", Schedule: at, Body: `{"type":`}, "succeeded"},
	}
	// one node per case, one job per node, all at once
	e := newEnv(t)
	p := &behaviour.Plan{}
	var names []string
	for i, tc := range cases {
		name := fmt.Sprintf("BOGUS%d", i)
		names = append(names, name)
		bogus := tc.bogus
		p.Groups = append(p.Groups, behaviour.Group{Name: tc.name, Nodes: []string{name},
			Behaviours: []behaviour.Spec{behaviour.Of(&long), behaviour.Of(&bogus)}})
	}
	f := e.fleet(FleetConfig{Names: names, Nodes: len(names), Plan: p})
	e.waitOnline(f, len(names), 10*time.Second)
	each := func(fn func(i int, name string)) {
		var wg sync.WaitGroup
		for i, name := range names {
			wg.Add(1)
			go func() {
				defer wg.Done()
				fn(i, name)
			}()
		}
		wg.Wait()
	}
	jobs := make([]*pushyclient.Job, len(names))
	each(func(i int, name string) { jobs[i] = e.runJob(job(name), 10*time.Second) })
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expectJob(t, jobs[i], "complete", map[string][]string{tc.want: {names[i]}})
		})
	}
	if n := f.Stats().Fired[behaviour.TypeBogusMessage]; n != int64(len(cases)) {
		t.Fatalf("fired %d times", n)
	}
	// every node recovers (out of rehab) and runs the next job, without a second bogus message
	each(func(i int, name string) {
		e.serverSees(name, "available", 5*time.Second)
		jobs[i] = e.runJob(job(name), 10*time.Second)
	})
	for i, j := range jobs {
		expectJob(t, j, "complete", map[string][]string{"succeeded": {names[i]}})
	}
}

func TestBehaviourAbortedWithUnknownJobGetsNoAbort(t *testing.T) {
	t.Parallel()
	e, f, rec := oneNode(t, "DONKEY")
	n := f.Node("DONKEY")
	// pedant: aborted for a job the server does not know must not send the node to rehab. A
	// window in which the node reconnected (an overloaded machine) proves nothing: try again.
	for attempt := 0; attempt < 3; attempt++ {
		e.serverSees("DONKEY", "available", 10*time.Second)
		sent := time.Now()
		n.Do(func(bn behaviour.Node) {
			bn.Send(behaviour.Message{Type: "aborted", JobID: "0123456789abcdef0123456789abcdef"})
		})
		time.Sleep(time.Second) // ten rehab intervals of the server
		window := rec.find(func(e Event) bool { return e.Time.After(sent) })
		aborts, disturbed := 0, false
		for _, ev := range window {
			switch {
			case ev.Kind == EventReceived && ev.Type == "abort":
				aborts++
			case ev.Kind == EventState && (ev.Type == "server_offline" || ev.Type == string(StateConnecting)):
				disturbed = true
			}
		}
		if disturbed {
			continue
		}
		if aborts > 0 {
			t.Fatalf("the server sent abort after an aborted for an unknown job\n%s", rec)
		}
		if len(rec.sent("DONKEY", "aborted")) < 2 {
			t.Fatalf("the bogus aborted was not sent\n%s", rec)
		}
		return
	}
	t.Skip("the node kept reconnecting: machine too loaded to judge")
}

func TestBehaviourIgnoreAbort(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := e.fleet(FleetConfig{Names: []string{"DONKEY"}, Nodes: 1, Plan: plan([]string{"DONKEY"}, &behaviour.IgnoreAbort{})})
	// the node never answers the server's first abort: connected, but never out of rehab
	e.eventually(5*time.Second, func() error {
		if st := f.Stats(); st.Received["abort"] < 3 || f.Node("DONKEY").Status().State != StateOnline {
			return fmt.Errorf("%+v %s", st.Received, f.Node("DONKEY").Status().State)
		}
		return nil
	})
	e.serverSees("DONKEY", "unavailable", time.Second)
	j := e.runJob(job("DONKEY"), 10*time.Second)
	expectJob(t, j, "quorum_failed", map[string][]string{"unavailable": {"DONKEY"}})
}

func TestBehaviourExec(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "fakenodes-exec")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // the job may run as nobody
		t.Fatal(err)
	}
	fileDir := filepath.Join(dir, "files")
	ex := &behaviour.Exec{FileDir: fileDir, Whitelist: map[string]string{
		"report":  `echo "node=$CHEF_PUSH_NODE_NAME job=$CHEF_PUSH_JOB_ID pwd=$(pwd) user=$(id -un) e1=$E1 e2=$CHEF_PUSH_ENV_E2"; cat "$CHEF_PUSH_JOB_FILE"; echo oops >&2; exit 4`,
		"succeed": "true",
	}, AllowedEnv: []string{"E1"}}
	e, _, _ := oneNode(t, "DONKEY", ex)
	r := pushyclient.JobRequest{Command: "report", Nodes: []string{"DONKEY"}, Dir: dir, Env: map[string]string{"E1": "one", "E2": "two"},
		File: "base64:" + "ZmlsZSBjb250ZW50Cg==", CaptureOutput: boolp(true)}
	if os.Geteuid() == 0 {
		r.User = "nobody"
	}
	j := e.runJob(r, 10*time.Second)
	expectJob(t, j, "complete", map[string][]string{"failed": {"DONKEY"}})
	out, err := e.api.Output(context.Background(), j.ID, "DONKEY", "stdout")
	if err != nil {
		t.Fatal(err)
	}
	wantUser := r.User
	if wantUser == "" {
		wantUser = currentUser(t)
	}
	want := fmt.Sprintf("node=DONKEY job=%s pwd=%s user=%s e1=one e2=two\nfile content\n", j.ID, dir, wantUser)
	if string(out) != want {
		t.Errorf("stdout %q\nwant   %q", out, want)
	}
	if errOut, _ := e.api.Output(context.Background(), j.ID, "DONKEY", "stderr"); string(errOut) != "oops\n" {
		t.Errorf("stderr %q", errOut)
	}
	files, _ := filepath.Glob(filepath.Join(fileDir, "pushy_file*"))
	if len(files) != 1 {
		t.Errorf("job files %v", files)
	}
	// off the whitelist, a missing dir, an unknown user: nacked
	for _, bad := range []pushyclient.JobRequest{
		{Command: "rm -rf /", Nodes: []string{"DONKEY"}},
		{Command: "succeed", Nodes: []string{"DONKEY"}, Dir: filepath.Join(dir, "missing")},
		{Command: "succeed", Nodes: []string{"DONKEY"}, User: "no-such-user-here"},
	} {
		j := e.runJob(bad, 10*time.Second)
		expectJob(t, j, "quorum_failed", map[string][]string{"nacked": {"DONKEY"}})
	}
	j = e.runJob(pushyclient.JobRequest{Command: "succeed", Nodes: []string{"DONKEY"}}, 10*time.Second)
	expectJob(t, j, "complete", map[string][]string{"succeeded": {"DONKEY"}})
}

func currentUser(t *testing.T) string {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}
