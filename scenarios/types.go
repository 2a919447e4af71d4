package scenarios

// APIVersion and Kind are the only values the format accepts in apiVersion and kind.
const (
	APIVersion = "pushlab/v1"
	Kind       = "Scenario"
)

// Scenario is one scenario file: a fleet, a target server, a timeline of steps and what must hold.
type Scenario struct {
	APIVersion string   `yaml:"apiVersion,required"`
	Kind       string   `yaml:"kind,required"`
	Metadata   Metadata `yaml:"metadata,required"`
	// Seed drives every random choice (behaviour assignment, fault victims, load); nil lets the
	// runner pick one and report it.
	Seed *int64 `yaml:"seed"`
	// Timeout bounds the whole run (default 10m); running out is a harness error.
	Timeout    *Duration  `yaml:"timeout"`
	Target     Target     `yaml:"target"`
	Fleet      Fleet      `yaml:"fleet,required"`
	Timeline   []Step     `yaml:"timeline,required"`
	Thresholds Thresholds `yaml:"thresholds"`

	// File is the name the scenario was loaded from.
	File string `yaml:"-"`

	pos    map[string]Pos
	keyPos map[string]Pos
}

// Metadata names and describes a scenario.
type Metadata struct {
	Name        string            `yaml:"name,required"`
	Description string            `yaml:"description"`
	Labels      map[string]string `yaml:"labels"`
}

// Target is the server under test: the embedded reference server (the default, also when the
// section is absent), the same server started from a container image, or a running server at URL.
type Target struct {
	Embedded *EmbeddedTarget `yaml:"embedded"`
	// Image runs the server from this container image (testcontainers-go, host network) instead
	// of the pushlab binary: pushlab's own image (make image) or one that takes the same
	// `server` flags and writes its keys into /data/keys. Embedded's settings apply to it.
	Image string `yaml:"image"`

	URL  string `yaml:"url"`
	Org  string `yaml:"org"`
	User string `yaml:"user"` // a Chef user allowed to start jobs
	Key  string `yaml:"key"`  // path of User's private key (PEM)
	// Superuser and SuperuserKey let the harness register the simulated nodes' clients.
	Superuser    string `yaml:"superuser"` // default pivotal
	SuperuserKey string `yaml:"superuserKey"`
	// ClientKeysDir holds pre-registered client keys, one NODE.pem per node.
	ClientKeysDir string `yaml:"clientKeysDir"`
}

// IsEmbedded reports whether the scenario runs against a reference server pushlab starts itself
// (from the pushlab binary or from Image), which its faults may kill, pause and restart.
func (t Target) IsEmbedded() bool { return t.URL == "" }

// EmbeddedTarget holds the settings of the embedded reference server; zero values keep the
// server's defaults (those of opscode-pushy-server 3.0, protocol.md §12).
type EmbeddedTarget struct {
	Org                        string   `yaml:"org"`
	HeartbeatInterval          Duration `yaml:"heartbeatInterval"`
	VotingTimeout              Duration `yaml:"votingTimeout"`
	DefaultRunTimeout          Duration `yaml:"defaultRunTimeout"`
	WaitCompleteTime           Duration `yaml:"waitCompleteTime"`
	KeepAlive                  Duration `yaml:"keepAlive"`
	OrgFeedExpiration          Duration `yaml:"orgFeedExpiration"`
	RehabInterval              Duration `yaml:"rehabInterval"`
	ConfigLifetime             Duration `yaml:"configLifetime"`
	MaxTimeSkew                Duration `yaml:"maxTimeSkew"`
	ZAPWindow                  Duration `yaml:"zapWindow"`
	DecayWindow                int      `yaml:"decayWindow"`
	DownThreshold              float64  `yaml:"downThreshold"`
	DetectOfflineNodesInterval int      `yaml:"detectOfflineNodesInterval"`
	MaxMessageBody             int      `yaml:"maxMessageBody"`
	CurveDisabled              bool     `yaml:"curveDisabled"`
	ValidateClientNodeName     *bool    `yaml:"validateClientNodeName"`
}

// Fleet is the simulated nodes, in groups.
type Fleet struct {
	Groups []Group `yaml:"groups,required"`
	// JoinRate bounds how fast nodes come online (default: the fleet's own pace).
	JoinRate *Rate `yaml:"joinRate"`
	// OnlineTimeout bounds the wait for the fleet to be online before the timeline starts (default 2m).
	OnlineTimeout *Duration `yaml:"onlineTimeout"`
}

// Group is Count nodes sharing a name pattern, labels and behaviours.
type Group struct {
	Name  string `yaml:"name,required"`
	Count int    `yaml:"count,required"`
	// NamePattern makes node names from {group} and {index} (0-based, in the group), with an
	// optional zero-padded width: "web-{index:04d}". Default "{group}-{index:04d}".
	NamePattern string            `yaml:"namePattern"`
	Labels      map[string]string `yaml:"labels"`
	// Offline nodes are registered but never connect (until a restart fault starts them).
	Offline    bool           `yaml:"offline"`
	Behaviours []BehaviourRef `yaml:"behaviours"`
}

// BehaviourRef names a behaviour of simulated nodes. Entries without a weight apply to every node
// of the group; among entries with a weight each node draws one, with probability weight/total.
type BehaviourRef struct {
	Name   string         `yaml:"name,required"`
	Weight *float64       `yaml:"weight"`
	Params map[string]any `yaml:"params"`
}

// Step is one entry of the timeline: exactly one action, optionally not before At.
type Step struct {
	// At delays the step until this offset from the start of the timeline.
	At     *Duration    `yaml:"at"`
	Job    *JobSpec     `yaml:"job"`
	Load   *LoadStep    `yaml:"load"`
	Wait   *WaitStep    `yaml:"wait"`
	Sleep  *Duration    `yaml:"sleep"`
	Fault  *FaultStep   `yaml:"fault"`
	Expect *Expectation `yaml:"expect"`
}

// Action is the name of the step's action: job, load, wait, sleep, fault or expect.
func (s Step) Action() string {
	switch {
	case s.Job != nil:
		return "job"
	case s.Load != nil:
		return "load"
	case s.Wait != nil:
		return "wait"
	case s.Sleep != nil:
		return "sleep"
	case s.Fault != nil:
		return "fault"
	case s.Expect != nil:
		return "expect"
	}
	return ""
}

// JobSpec is a job to start: every field of POST /pushy/jobs (protocol.md §2.5), plus what the
// scenario expects of it.
type JobSpec struct {
	// Name refers to the job from wait conditions, expectations and threshold tags.
	Name    string `yaml:"name"`
	Command string `yaml:"command,required"`
	// Nodes picks the job's nodes from the fleet.
	Nodes NodeSet `yaml:"nodes"`
	// AbsentNodes are names sent as they are, for nodes that do not exist in the fleet.
	AbsentNodes []string `yaml:"absentNodes"`
	// Quorum is a node count or a percentage of the job's nodes (default 100%).
	Quorum     *Quorum           `yaml:"quorum"`
	RunTimeout *Duration         `yaml:"runTimeout"` // whole seconds
	User       string            `yaml:"user"`
	Dir        string            `yaml:"dir"`
	Env        map[string]string `yaml:"env"`
	File       string            `yaml:"file"` // "raw:..." or "base64:..."
	Capture    bool              `yaml:"capture"`
	// NoWait lets the timeline go on as soon as the job is created; by default the step waits
	// for the job to finish, like knife job start.
	NoWait bool `yaml:"nowait"`
	// Timeout bounds the wait for the job to finish (default: voting timeout + run timeout + 30s).
	Timeout *Duration    `yaml:"timeout"`
	Expect  *Expectation `yaml:"expect"`
}

// LoadStep starts jobs from a template in the background for Duration, open-loop at Rate or
// closed-loop with Concurrency jobs in flight; the timeline goes on at once.
type LoadStep struct {
	Rate        *Rate    `yaml:"rate"`
	Concurrency int      `yaml:"concurrency"`
	Duration    Duration `yaml:"duration,required"`
	// Sample sends each job to this many nodes drawn (seeded) from the template's nodes; 0 = all.
	Sample int     `yaml:"sample"`
	Job    JobSpec `yaml:"job,required"`
}

// WaitStep blocks the timeline until a condition holds, or fails after Timeout (default 2m).
type WaitStep struct {
	For     Condition `yaml:"for,required"`
	Timeout *Duration `yaml:"timeout"`
}

// FaultStep injects exactly one fault.
type FaultStep struct {
	// Name labels the fault in reports and lets selectors pick its victims (fault=NAME).
	Name          string              `yaml:"name"`
	Crash         *NodeFault          `yaml:"crash"`
	Restart       *NodeFault          `yaml:"restart"`
	Unavailable   *UnavailableFault   `yaml:"unavailable"`
	SkewClock     *SkewClockFault     `yaml:"skewClock"`
	Flap          *FlapFault          `yaml:"flap"`
	ServerRestart *ServerRestartFault `yaml:"serverRestart"`
	ServerPause   *ServerPauseFault   `yaml:"serverPause"`
}

// Kind is the name of the fault: crash, restart, unavailable, skewClock, flap, serverRestart or serverPause.
func (f FaultStep) Kind() string {
	switch {
	case f.Crash != nil:
		return "crash"
	case f.Restart != nil:
		return "restart"
	case f.Unavailable != nil:
		return "unavailable"
	case f.SkewClock != nil:
		return "skewClock"
	case f.Flap != nil:
		return "flap"
	case f.ServerRestart != nil:
		return "serverRestart"
	case f.ServerPause != nil:
		return "serverPause"
	}
	return ""
}

// Victims picks which nodes a node fault hits: the nodes matching Nodes, all of them or
// Count of them or Percent of them, drawn with the scenario's seed.
type Victims struct {
	Nodes   NodeSet  `yaml:"nodes,required"`
	Count   int      `yaml:"count"`
	Percent *float64 `yaml:"percent"`
}

// NodeFault stops the victims' node processes. crash: they stay down for Duration (for good
// when zero); restart: they start again after Duration (at once when zero) with a new incarnation.
type NodeFault struct {
	Victims  `yaml:",inline"`
	Duration *Duration `yaml:"duration"`
}

// UnavailableFault makes the victims unreachable for Duration: silent (frozen, no heartbeats,
// connections kept) or disconnect (connections dropped).
type UnavailableFault struct {
	Victims  `yaml:",inline"`
	Duration Duration `yaml:"duration,required"`
	Mode     string   `yaml:"mode"` // silent (default) or disconnect
}

// SkewClockFault shifts the victims' clocks by Offset (negative: behind), for Duration or for good.
type SkewClockFault struct {
	Victims  `yaml:",inline"`
	Offset   Duration  `yaml:"offset,required"`
	Duration *Duration `yaml:"duration"`
}

// FlapFault takes the victims down and up again every Period for Duration.
type FlapFault struct {
	Victims  `yaml:",inline"`
	Duration Duration `yaml:"duration,required"`
	Period   Duration `yaml:"period,required"`
	Mode     string   `yaml:"mode"` // silent (default) or disconnect
}

// ServerRestartFault stops the embedded server and starts it again after Downtime.
type ServerRestartFault struct {
	Downtime *Duration `yaml:"downtime"`
}

// ServerPauseFault freezes the embedded server (no I/O served) for Duration.
type ServerPauseFault struct {
	Duration Duration `yaml:"duration,required"`
}

// Expectation is what must hold of a job once it finished (or of the run so far, for thresholds).
// Inside a job step it refers to that job; as a step of its own, Job names the job.
type Expectation struct {
	Job string `yaml:"job"`
	// Status is the final job status, or a list of accepted ones.
	Status StatusSet `yaml:"status"`
	// Nodes maps selectors to node statuses; the first selector that matches a node decides.
	Nodes   NodeExpectations    `yaml:"nodes"`
	SSE     *SSEExpectation     `yaml:"sse"`
	Outputs []OutputExpectation `yaml:"outputs"`
	// Thresholds are checked on the metrics recorded so far (tagged with the job when one is named).
	Thresholds Thresholds `yaml:"thresholds"`
	// Timeout bounds the wait for the job to finish before checking (default 2m).
	Timeout *Duration `yaml:"timeout"`
}

// SSEExpectation is what must hold of the job's event feed.
type SSEExpectation struct {
	// Valid runs the protocol checks of protocol.md §6 on the feed (default true).
	Valid *bool `yaml:"valid"`
	// Events counts events by name, or by name(status): run_complete(crashed): ">=1".
	Events EventCounts `yaml:"events"`
	// ResumeAfter reconnects with Last-Event-ID job-N after N events and checks the rest.
	ResumeAfter int `yaml:"resumeAfter"`
	// OrgFeed checks that the org feed shows the job's start and job_complete.
	OrgFeed bool `yaml:"orgFeed"`
}

// OutputExpectation is the exact captured output of the matching nodes, or its absence (404).
type OutputExpectation struct {
	Nodes  NodeSet `yaml:"nodes,required"`
	Stdout *string `yaml:"stdout"`
	Stderr *string `yaml:"stderr"`
	Absent bool    `yaml:"absent"`
}
