package scenarios

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pushlab/pushlab/fakenodes/behaviour"
)

var shipped = []string{
	"crash-mid-run", "fanout-9000", "mixed-chaos", "nack-storm", "output-capture-at-scale",
	"partition-during-run", "reconnect-storm", "run-timeouts", "server-restart-mid-job",
	"smoke", "soak", "unavailable-at-start",
}

func TestLibraryLoads(t *testing.T) {
	if got := strings.Join(Library(), " "); got != strings.Join(shipped, " ") {
		t.Fatalf("library: %s\nwant:    %s", got, strings.Join(shipped, " "))
	}
	behaviours := map[string]bool{}
	faults := map[string]bool{}
	for _, name := range Library() {
		t.Run(name, func(t *testing.T) {
			// The file on disk is the one built in.
			disk, err := os.ReadFile(filepath.Join("library", name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			embedded, _ := LibraryFile(name)
			if string(disk) != string(embedded) {
				t.Fatal("the embedded copy differs from the file")
			}
			s, err := Load(filepath.Join("library", name+".yaml"), Options{Behaviours: StandardBehaviours})
			if err != nil {
				t.Fatal(err)
			}
			if s.Metadata.Name != name {
				t.Errorf("metadata.name %q, want the file name %q", s.Metadata.Name, name)
			}
			if !strings.HasPrefix(string(disk), "# "+name+": ") {
				t.Errorf("the file does not open with a header comment \"# %s: ...\"", name)
			}
			if comment := strings.Count(strings.SplitN(string(disk), "apiVersion:", 2)[0], "\n#"); comment < 3 {
				t.Errorf("the header comment has %d lines; explain the scenario", comment+1)
			}
			if s.Metadata.Description == "" || s.Seed == nil || s.Timeout == nil {
				t.Error("a shipped scenario has a description, a seed and a timeout")
			}
			starts := 0
			for _, st := range s.Timeline {
				if st.Job != nil || st.Load != nil {
					starts++
				}
				if st.Fault != nil {
					faults[st.Fault.Kind()] = true
				}
			}
			if starts == 0 {
				t.Error("the scenario starts no job")
			}
			for _, g := range s.Fleet.Groups {
				for _, b := range g.Behaviours {
					behaviours[b.Name] = true
				}
			}
			if _, err := LoadLibrary(name, Options{Behaviours: StandardBehaviours}); err != nil {
				t.Errorf("LoadLibrary: %v", err)
			}
		})
	}
	var unused []string
	for _, b := range StandardBehaviourNames() {
		if !behaviours[b] {
			unused = append(unused, b)
		}
	}
	if len(unused) > 0 {
		t.Errorf("no shipped scenario uses the behaviours %v", unused)
	}
	for _, f := range []string{"crash", "restart", "unavailable", "skewClock", "flap", "serverRestart", "serverPause"} {
		if !faults[f] {
			t.Errorf("no shipped scenario injects a %s fault", f)
		}
	}
}

// TestSmokeShape: smoke is what make run runs, so it must stay about a minute long.
func TestSmokeShape(t *testing.T) {
	s, err := LoadLibrary("smoke", Options{Behaviours: StandardBehaviours})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s.Nodes()); n < 900 || n > 1100 {
		t.Errorf("smoke has %d nodes, want about 1,000", n)
	}
	e := s.Target.Embedded
	if !s.Target.IsEmbedded() || e == nil {
		t.Fatal("smoke runs against the embedded server")
	}
	if e.VotingTimeout.D() > 10*time.Second || e.HeartbeatInterval.D() > 2*time.Second || e.VotingTimeout == 0 || e.HeartbeatInterval == 0 {
		t.Errorf("smoke needs fast timings: voting %s, heartbeat %s", e.VotingTimeout, e.HeartbeatInterval)
	}
	jobs, expectations := 0, 0
	for _, st := range s.Timeline {
		if st.Job != nil {
			jobs++
			if st.Job.Expect != nil {
				expectations++
			}
		}
	}
	if jobs < 3 || expectations < jobs {
		t.Errorf("smoke has %d jobs, %d with expectations; want several, all checked", jobs, expectations)
	}
	misbehaving := map[string]bool{}
	for _, g := range s.Fleet.Groups {
		for _, b := range g.Behaviours {
			switch b.Name {
			case "ack_commit", "result", "duration":
			default:
				misbehaving[b.Name] = true
			}
		}
	}
	if len(misbehaving) < 3 {
		t.Errorf("smoke has misbehaviours %v, want several", misbehaving)
	}
}

func TestFanoutSize(t *testing.T) {
	s, err := LoadLibrary("fanout-9000", Options{Behaviours: StandardBehaviours})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s.Nodes()); n != 9000 {
		t.Errorf("fanout-9000 has %d nodes", n)
	}
	names := map[string]bool{}
	for _, n := range s.Nodes() {
		names[n.Name] = true
	}
	if len(names) != 9000 {
		t.Errorf("%d distinct names", len(names))
	}
}

func TestStandardBehaviourParams(t *testing.T) {
	names := StandardBehaviourNames()
	if !sort.StringsAreSorted(names) || len(names) < 20 {
		t.Errorf("standard behaviours: %v", names)
	}
	if params, ok := StandardBehaviourParams("result"); !ok || strings.Join(params, ",") != "exit_status,stderr,stderr_bytes,stdout,stdout_bytes" {
		t.Errorf("params of result: %v %v", params, ok)
	}
	if params, ok := StandardBehaviourParams("unavailable"); !ok || strings.Join(params, ",") != "after,every,for,jitter,mode,times" {
		t.Errorf("params of unavailable (with the inline schedule): %v %v", params, ok)
	}
	if _, ok := StandardBehaviourParams("teleport"); ok {
		t.Error("params of an unknown behaviour")
	}
	good := map[string]map[string]any{
		"ack_commit":    nil,
		"result":        {"exit_status": 2, "stdout": "", "stderr_bytes": 10},
		"duration":      {"distribution": "longtail", "median": "1s", "p99": "10s"},
		"unavailable":   {"after": "0s", "for": "5s", "mode": "disconnect"},
		"clock_skew":    {"offset": "-2m"},
		"exec":          {"whitelist": map[string]any{"chef-client": "true"}, "allowed_overwritable_env_vars": []any{"PATH"}},
		"reconnect":     {"every": "10s", "times": 3},
		"bogus_message": {"every": "5s", "message_type": "frobnicate", "bad_signature": true},
	}
	for name, params := range good {
		if err := StandardBehaviours.Validate(name, params); err != nil {
			t.Errorf("%s %v: %v", name, params, err)
		}
	}
	b, err := BuildBehaviour("duration", map[string]any{"distribution": "uniform", "min": "1s", "max": "3s"})
	if err != nil {
		t.Fatal(err)
	}
	if d := b.(*behaviour.Duration); d.Kind != "uniform" || d.Min != time.Second || d.Max != 3*time.Second {
		t.Errorf("built %+v", d)
	}
	if u, err := BuildBehaviour("unavailable", map[string]any{"for": "2s"}); err != nil || u.(*behaviour.Unavailable).Mode != "silent" {
		t.Errorf("the registry's defaults are kept: %+v %v", u, err)
	}
	bad := []struct {
		name   string
		params map[string]any
		want   string
	}{
		{"ack_comit", nil, `unknown behaviour "ack_comit"; did you mean "ack_commit"?`},
		{"hang", map[string]any{"for": "1s"}, "for: hang takes no params"},
		{"result", map[string]any{"exit_status": 256}, "exit_status: exit_status 256 is outside 0..255"},
		{"result", map[string]any{"exitStatus": 2}, `exitStatus: unknown param of result; did you mean "exit_status"?`},
		{"result", map[string]any{"stdout": "x", "stdout_bytes": 5}, "give stdout or stdout_bytes, not both"},
		{"duration", map[string]any{"distribution": "uniform", "min": "2s", "max": "1s"}, "uniform needs max above min"},
		{"duration", map[string]any{"distribution": "normal"}, "normal needs mean and stddev"},
		{"duration", map[string]any{"distribution": "zipf"}, `unknown distribution "zipf"`},
		{"result", map[string]any{"exit_statuses": 2}, `exit_statuses: unknown param of result; did you mean "exit_status"?`},
		{"nack_run", map[string]any{"wait": "1s"}, `wait: unknown param of nack_run; params: delay`},
		{"unavailable", map[string]any{"for": "1s", "mode": "loud"}, `mode: mode "loud" is neither silent nor disconnect`},
		{"unavailable", map[string]any{"mode": "silent"}, "for must be positive"},
		{"clock_skew", map[string]any{"offset": 5}, "offset: want a duration such as \"250ms\", got integer 5"},
		{"clock_skew", map[string]any{"offset": "5"}, `offset: duration "5" has no unit`},
		{"ack_commit", map[string]any{"delay": "-1s"}, "delay: delay -1s is negative"},
		{"exec", map[string]any{"whitelist": map[string]any{"x": 1}}, "whitelist: x: want a string, got integer 1"},
		{"exec", map[string]any{"allowed_overwritable_env_vars": "PATH", "whitelist": map[string]any{"x": "y"}}, "allowed_overwritable_env_vars: want a list of strings"},
		{"bogus_message", map[string]any{"bad_signature": "yes"}, "bad_signature: want true or false"},
		{"restart", map[string]any{"times": 1.5}, "times: want an integer, got number 1.5"},
	}
	for _, c := range bad {
		err := StandardBehaviours.Validate(c.name, c.params)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: error %v, want %q", c.name, c.params, err, c.want)
		}
	}
}
