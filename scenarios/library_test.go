package scenarios

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
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
			case "ack", "succeed", "duration":
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
	if !sort.StringsAreSorted(names) || len(names) != 21 {
		t.Errorf("standard behaviours: %v", names)
	}
	good := map[string]map[string]any{
		"ack":                    nil,
		"fail":                   {"exitStatus": 2, "stdout": "", "stderrBytes": 10},
		"duration":               {"longtail": map[string]any{"median": "1s", "p99": "10s"}},
		"unavailable":            {"after": "0s", "duration": "5s", "mode": "disconnect"},
		"skew_clock":             {"offset": "-2m"},
		"exec":                   {"whitelist": map[string]any{"chef-client": "true"}},
		"reconnect_new_identity": {"every": "10s", "times": 3},
	}
	for name, params := range good {
		if err := StandardBehaviours.Validate(name, params); err != nil {
			t.Errorf("%s %v: %v", name, params, err)
		}
	}
	bad := []struct {
		name   string
		params map[string]any
		want   string
	}{
		{"acks", nil, `unknown behaviour "acks"; did you mean "ack"?`},
		{"hang", map[string]any{"for": "1s"}, "for: hang takes no params"},
		{"fail", map[string]any{"exitStatus": 256}, "exitStatus: want an exit status from 1 to 255, got integer 256"},
		{"duration", map[string]any{}, "duration takes exactly one of fixed, uniform, normal, longtail"},
		{"duration", map[string]any{"fixed": "1s", "uniform": map[string]any{"min": "1s", "max": "2s"}}, "duration takes exactly one of"},
		{"duration", map[string]any{"uniform": map[string]any{"min": "2s", "max": "1s"}}, "uniform: uniform needs max above min"},
		{"duration", map[string]any{"normal": map[string]any{"mean": "2s"}}, "normal: normal needs mean and stddev"},
		{"unavailable", map[string]any{"mode": "loud"}, "mode: want silent or disconnect"},
		{"unavailable", map[string]any{"mode": "silent"}, `unavailable needs the param "duration"`},
		{"skew_clock", map[string]any{"offset": 5}, "offset: want a duration such as \"250ms\", got integer 5"},
		{"ack", map[string]any{"delay": "-1s"}, "delay: duration -1s is negative"},
		{"exec", map[string]any{"whitelist": map[string]any{"x": 1}}, "whitelist: x: want a command line string"},
	}
	for _, c := range bad {
		err := StandardBehaviours.Validate(c.name, c.params)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: error %v, want %q", c.name, c.params, err, c.want)
		}
	}
}
