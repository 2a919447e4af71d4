package behaviour

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParsePlan(t *testing.T) {
	p, err := Parse([]byte(`
groups:
  - name: nackers
    weight: 5
    behaviours:
      - type: nack_commit
        delay: 250ms
  - name: slow
    weight: 20
    behaviours:
      - type: duration
        distribution: normal
        mean: 2s
        stddev: 500ms
      - type: result
        exit_status: 1
        stdout: "multi\nline ✓\n"
  - name: flaky
    weight: 1
    nodes: [DONKEY]
    behaviours:
      - {type: unavailable, after: 10s, every: 1m, for: 5s, mode: disconnect}
      - {type: bogus_message, when: running, message_type: hello, job_id: $random}
      - {type: exec, whitelist: {chef-client: "echo hi"}, allowed_overwritable_env_vars: [PATH]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Groups) != 3 {
		t.Fatalf("%d groups", len(p.Groups))
	}
	nack := p.Groups[0].Behaviours[0].Behaviour.(*NackCommit)
	if nack.Delay != 250*time.Millisecond || p.Groups[0].Behaviours[0].Type != TypeNackCommit {
		t.Fatalf("nack %+v", nack)
	}
	d := p.Groups[1].Behaviours[0].Behaviour.(*Duration)
	if d.Kind != "normal" || d.Mean != 2*time.Second || d.StdDev != 500*time.Millisecond {
		t.Fatalf("duration %+v", d)
	}
	r := p.Groups[1].Behaviours[1].Behaviour.(*CommandResult)
	if r.ExitStatus != 1 || r.Stdout != "multi\nline ✓\n" {
		t.Fatalf("result %+v", r)
	}
	u := p.Groups[2].Behaviours[0].Behaviour.(*Unavailable)
	if u.After != 10*time.Second || u.Every != time.Minute || u.For != 5*time.Second || u.Mode != "disconnect" {
		t.Fatalf("unavailable %+v", u)
	}
	b := p.Groups[2].Behaviours[1].Behaviour.(*BogusMessage)
	if b.When != "running" || b.Type != "hello" || b.JobID != "$random" {
		t.Fatalf("bogus %+v", b)
	}
	ex := p.Groups[2].Behaviours[2].Behaviour.(*Exec)
	if ex.Whitelist["chef-client"] != "echo hi" || ex.FileDir != "/tmp/pushy" || !slices.Equal(ex.AllowedEnv, []string{"PATH"}) {
		t.Fatalf("exec %+v", ex)
	}
	if g := p.Assign(1, 99, "DONKEY"); g == nil || g.Name != "flaky" {
		t.Fatalf("DONKEY in %v", g)
	}
}

func TestParseRejects(t *testing.T) {
	cases := map[string]string{
		"unknown type":        `groups: [{behaviours: [{type: teleport}]}]`,
		"no type":             `groups: [{behaviours: [{delay: 1s}]}]`,
		"unknown key":         `groups: [{behaviours: [{type: nack_commit, delya: 1s}]}]`,
		"unknown group key":   `groups: [{wieght: 1}]`,
		"negative delay":      `groups: [{behaviours: [{type: ack_commit, delay: -1s}]}]`,
		"bad mode":            `groups: [{behaviours: [{type: unavailable, for: 1s, mode: sleepy}]}]`,
		"no window":           `groups: [{behaviours: [{type: unavailable}]}]`,
		"exit status":         `groups: [{behaviours: [{type: result, exit_status: 300}]}]`,
		"both outputs":        `groups: [{behaviours: [{type: result, stdout: x, stdout_bytes: 3}]}]`,
		"bad distribution":    `groups: [{behaviours: [{type: duration, distribution: zipf}]}]`,
		"uniform needs range": `groups: [{behaviours: [{type: duration, distribution: uniform, min: 2s, max: 1s}]}]`,
		"longtail p99":        `groups: [{behaviours: [{type: duration, distribution: longtail, median: 2s, p99: 1s}]}]`,
		"empty whitelist":     `groups: [{behaviours: [{type: exec}]}]`,
		"bad when":            `groups: [{behaviours: [{type: bogus_message, when: later}]}]`,
		"bogus never fires":   `groups: [{behaviours: [{type: bogus_message}]}]`,
		"negative weight":     `groups: [{weight: -1}]`,
		"duplicate group":     `groups: [{name: a}, {name: a}]`,
		"node in two groups":  `groups: [{name: a, nodes: [x]}, {name: b, nodes: [x]}]`,
		"duration as number":  `groups: [{behaviours: [{type: ack_commit, delay: 5}]}]`,
	}
	for name, doc := range cases {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("%s: accepted %s", name, doc)
		}
	}
	// every problem is reported, not only the first
	_, err := Parse([]byte(`groups: [{weight: -1, behaviours: [{type: nack_run, delay: -1s}]}]`))
	if err == nil || !strings.Contains(err.Error(), "weight") || !strings.Contains(err.Error(), "delay") {
		t.Errorf("joined errors: %v", err)
	}
}

func TestEveryTypeDecodesFromItsDefaults(t *testing.T) {
	for _, name := range Types() {
		b, err := New(name)
		if err != nil {
			t.Fatal(err)
		}
		if TypeName(b) != name {
			t.Errorf("%s: TypeName %q", name, TypeName(b))
		}
		doc := "groups: [{behaviours: [{type: " + name + "}]}]"
		_, err = Parse([]byte(doc))
		switch name {
		case TypeUnavailable, TypeBogusMessage, TypeExec: // need parameters
			if err == nil {
				t.Errorf("%s accepted without its parameters", name)
			}
		default:
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
	if len(Types()) < 19 {
		t.Errorf("only %d behaviour types: %v", len(Types()), Types())
	}
}

func TestAssignIsDeterministic(t *testing.T) {
	p := &Plan{Groups: []Group{{Name: "a", Weight: 1}, {Name: "b", Weight: 3}, {Name: "zero", Weight: 0}}}
	count := map[string]int{}
	for i := 0; i < 4000; i++ {
		g := p.Assign(11, i, "")
		if g2 := p.Assign(11, i, ""); g2 != g {
			t.Fatal("two answers for one node")
		}
		count[g.Name]++
	}
	if count["zero"] != 0 || math.Abs(float64(count["a"])/4000-0.25) > 0.03 {
		t.Fatalf("1:3 weights gave %v", count)
	}
	if (&Plan{}).Assign(1, 1, "x") != nil || (*Plan)(nil).Assign(1, 1, "x") != nil {
		t.Fatal("an empty plan assigns a group")
	}
	if (&Plan{Groups: []Group{{Name: "a"}}}).Assign(1, 1, "x") != nil {
		t.Fatal("weightless groups take unnamed nodes")
	}
}

func TestNodeRandStreams(t *testing.T) {
	a, b := NodeRand(5, 7, StreamNode), NodeRand(5, 7, StreamNode)
	for i := 0; i < 10; i++ {
		if a.Uint64() != b.Uint64() {
			t.Fatal("same seed, index and stream differ")
		}
	}
	if NodeRand(5, 7, StreamNode).Uint64() == NodeRand(5, 7, StreamRamp).Uint64() ||
		NodeRand(5, 7, StreamNode).Uint64() == NodeRand(5, 8, StreamNode).Uint64() ||
		NodeRand(5, 7, StreamNode).Uint64() == NodeRand(6, 7, StreamNode).Uint64() {
		t.Fatal("streams collide")
	}
}

func TestDistributions(t *testing.T) {
	r := NodeRand(1, 1, StreamNode)
	sample := func(d Distribution, n int) []time.Duration {
		if err := d.Validate(); err != nil {
			t.Fatal(err)
		}
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = d.Sample(r)
		}
		slices.Sort(out)
		return out
	}
	if s := sample(Distribution{Value: time.Second}, 3); s[0] != time.Second || s[2] != time.Second {
		t.Fatalf("fixed %v", s)
	}
	u := sample(Distribution{Kind: "uniform", Min: time.Second, Max: 2 * time.Second}, 2000)
	if u[0] < time.Second || u[len(u)-1] >= 2*time.Second || u[1000] < 1400*time.Millisecond || u[1000] > 1600*time.Millisecond {
		t.Fatalf("uniform min %s median %s max %s", u[0], u[1000], u[len(u)-1])
	}
	nrm := sample(Distribution{Kind: "normal", Mean: time.Second, StdDev: 100 * time.Millisecond}, 2000)
	if m := nrm[1000]; m < 950*time.Millisecond || m > 1050*time.Millisecond || nrm[0] < 0 {
		t.Fatalf("normal median %s", m)
	}
	lt := sample(Distribution{Kind: "longtail", Median: 100 * time.Millisecond, P99: time.Second}, 10000)
	if m, p99 := lt[5000], lt[9900]; m < 90*time.Millisecond || m > 110*time.Millisecond || p99 < 800*time.Millisecond || p99 > 1250*time.Millisecond {
		t.Fatalf("longtail median %s p99 %s", m, p99)
	}
	capped := sample(Distribution{Kind: "longtail", Median: 100 * time.Millisecond, P99: time.Second, Max: 300 * time.Millisecond}, 1000)
	if capped[len(capped)-1] != 300*time.Millisecond {
		t.Fatalf("cap: max %s", capped[len(capped)-1])
	}
}

func TestFiller(t *testing.T) {
	for _, n := range []int{0, 1, 17, 63000} {
		f := Filler("stdout", n)
		if len(f) != n {
			t.Fatalf("Filler(%d) has %d bytes", n, len(f))
		}
	}
	if !strings.HasPrefix(Filler("out", 100), "out line 1\nout line 2\n") {
		t.Fatal(Filler("out", 100))
	}
}

func TestExecCheckAndRun(t *testing.T) {
	dir := t.TempDir()
	ex := &Exec{FileDir: filepath.Join(dir, "files"), Whitelist: map[string]string{
		"env":  `printf '%s|%s|%s|%s|%s' "$CHEF_PUSH_NODE_NAME" "$CHEF_PUSH_JOB_ID" "$KEEP" "$CHEF_PUSH_ENV_RENAME" "$(cat "$CHEF_PUSH_JOB_FILE")"`,
		"fail": "echo out; echo err >&2; exit 7",
	}, AllowedEnv: []string{"KEEP"}}
	if err := ex.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []Commit{
		{Command: "nope"},
		{Command: "env", User: "no-such-user-xyz"},
		{Command: "env", Dir: filepath.Join(dir, "missing")},
		{Command: "env", File: "plain"},
	} {
		if ex.Check(&c) == nil {
			t.Errorf("check passed %+v", c)
		}
	}
	if err := ex.Check(&Commit{Command: "env", Dir: dir, File: "raw:x"}); err != nil {
		t.Fatal(err)
	}
	r := ex.Execute(context.Background(), Job{Node: "N1", JobID: "J1", Commit: Commit{Command: "env",
		Env: map[string]string{"KEEP": "k", "RENAME": "r", "CHEF_PUSH_NODE_NAME": "spoof"}, File: "base64:aGVsbG8="}})
	if r.Err != nil || r.ExitStatus != 0 || r.Stdout != "N1|J1|k|r|hello" {
		t.Fatalf("%+v", r)
	}
	r = ex.Execute(context.Background(), Job{Node: "N1", JobID: "J2", Commit: Commit{Command: "fail", Dir: dir}})
	if r.ExitStatus != 7 || r.Stdout != "out\n" || r.Stderr != "err\n" {
		t.Fatalf("%+v", r)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "files", "pushy_file*"))
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	if b, _ := os.ReadFile(files[0]); string(b) != "hello" {
		t.Fatalf("file %q", b)
	}
}

func TestBuildFromParams(t *testing.T) {
	b, err := Build(TypeUnavailable, map[string]any{"after": "2s", "for": 3 * time.Second, "mode": "disconnect"})
	if err != nil {
		t.Fatal(err)
	}
	u := b.(*Unavailable)
	if u.After != 2*time.Second || u.For != 3*time.Second || u.Mode != "disconnect" {
		t.Fatalf("%+v", u)
	}
	if b, err := Build(TypeResult, map[string]any{"exit_status": 3, "stdout": "x\n"}); err != nil || b.(*CommandResult).ExitStatus != 3 {
		t.Fatalf("%v %v", b, err)
	}
	for _, bad := range []struct {
		name   string
		params map[string]any
	}{
		{"teleport", nil},
		{TypeNackCommit, map[string]any{"delya": "1s"}},
		{TypeUnavailable, map[string]any{"for": "-1s"}},
		{TypeResult, map[string]any{"exit_status": "three"}},
	} {
		if err := (Registry{}).Validate(bad.name, bad.params); err == nil {
			t.Errorf("%s %v accepted", bad.name, bad.params)
		}
	}
}
