package fleetreport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pushlab/pushlab/fakenodes"
	"github.com/pushlab/pushlab/reports"
)

// ShardSchema names the version of the shard report format. Decode refuses any other value.
const ShardSchema = "pushlab.fleet-shard/v1"

// ErrSchema is returned by Decode for a file of another format or version.
var ErrSchema = errors.New("not a " + ShardSchema + " report")

// Shard is what one `pushlab fleet` process saw: one shard of a fleet, from its start to its
// stop. It is written as JSON (see Write) and gathered with the fleet's other shards by Gather.
type Shard struct {
	Schema string       `json:"schema"`
	Tool   reports.Tool `json:"tool"`
	Server string       `json:"server"`
	Org    string       `json:"org"`
	Fleet  Fleet        `json:"fleet"`

	// Shard is this shard's index among Shards (from 0).
	Shard  int `json:"shard"`
	Shards int `json:"shards"`
	// First and Count are the node indices the shard ran: [First, First+Count). FirstNode and
	// LastNode are the names of the first and the last of them.
	First     int    `json:"first"`
	Count     int    `json:"count"`
	FirstNode string `json:"first_node"`
	LastNode  string `json:"last_node"`

	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// AllOnline is how long after Start every node of the shard was first online at once;
	// absent when that never happened.
	AllOnline reports.Duration `json:"all_online_after,omitzero"`
	// PeakOnline is the most nodes online at once; OnlineAtStop the nodes online at the last
	// look (every 250 ms) before the stop began.
	PeakOnline   int `json:"peak_online"`
	OnlineAtStop int `json:"online_at_stop"`

	Counts Counts `json:"counts"`
	// States are the shard's nodes by state over time, T in seconds since Start; a point is
	// kept when the counts change (at most one a second, and one more at the stop), and at
	// least every 30 s.
	States []reports.StateCounts `json:"states,omitempty"`
	// Warnings are the times the fleet found itself, or the server, slow (see fakenodes.Diagnose).
	Warnings []Warning `json:"warnings,omitempty"`
	// Error is why the shard ended other than by being stopped, if it did.
	Error string `json:"error,omitempty"`
}

// Fleet is what every shard of one fleet agrees on: node i is named NamePrefix followed by i on
// NameDigits digits, for i in [0, Nodes), and its behaviours derive from (Seed, i).
type Fleet struct {
	Nodes      int    `json:"nodes"`
	Seed       int64  `json:"seed"`
	NamePrefix string `json:"name_prefix"`
	NameDigits int    `json:"name_digits"`
}

// Name is the name of node i.
func (f Fleet) Name(i int) string { return fakenodes.NodeName(f.NamePrefix, f.NameDigits, i) }

// Counts are the shard's counters over the whole run (fakenodes.Stats, JSON-named).
type Counts struct {
	// Commits are the commit messages received: one per node for each job it was asked to run.
	Commits int64 `json:"commits"`
	// Sent and Received count messages by type; Rejected the server's messages dropped (bad
	// frames, signature, JSON or timestamp).
	Sent     map[string]int64 `json:"sent"`
	Received map[string]int64 `json:"received"`
	Rejected int64            `json:"rejected"`
	// BehavioursFired counts behaviour actions by behaviour.
	BehavioursFired map[string]int64 `json:"behaviours_fired"`

	ConfigRequests int64 `json:"config_requests"`
	ConfigErrors   int64 `json:"config_errors"`
	Reconfigures   int64 `json:"reconfigures"`
	Connects       int64 `json:"connects"`
	Crashes        int64 `json:"crashes"`
	Restarts       int64 `json:"restarts"`
	ServerOffline  int64 `json:"server_offline"`
	SilentChannels int64 `json:"silent_channels"`

	SendQueueFull int64 `json:"send_queue_full"`
	SendLost      int64 `json:"send_lost"`

	// HeartbeatTicks are the nodes' heartbeat timer turns, LateHeartbeats those later than a
	// tenth of the interval, MaxHeartbeatLag the worst lateness: the fleet's own lag.
	HeartbeatTicks  int64            `json:"heartbeat_ticks"`
	LateHeartbeats  int64            `json:"late_heartbeats"`
	MaxHeartbeatLag reports.Duration `json:"max_heartbeat_lag"`
}

// CountsOf takes the counters of a fleet snapshot.
func CountsOf(s fakenodes.Stats) Counts {
	return Counts{Commits: s.Commits, Sent: nonNil(s.Sent), Received: nonNil(s.Received), Rejected: s.Rejected,
		BehavioursFired: nonNil(s.Fired), ConfigRequests: s.ConfigFetches, ConfigErrors: s.ConfigErrors,
		Reconfigures: s.Reconfigures, Connects: s.Connects, Crashes: s.Crashes, Restarts: s.Restarts,
		ServerOffline: s.ServerOffline, SilentChannels: s.SilentChannels, SendQueueFull: s.SendFull,
		SendLost: s.SendLost, HeartbeatTicks: s.HeartbeatTicks, LateHeartbeats: s.LateTicks,
		MaxHeartbeatLag: reports.Duration(s.MaxLag)}
}

// Add sums two shards' counters; the lag is the worse of the two.
func (c Counts) Add(o Counts) Counts {
	out := c
	out.Commits += o.Commits
	out.Sent = addMap(c.Sent, o.Sent)
	out.Received = addMap(c.Received, o.Received)
	out.Rejected += o.Rejected
	out.BehavioursFired = addMap(c.BehavioursFired, o.BehavioursFired)
	out.ConfigRequests += o.ConfigRequests
	out.ConfigErrors += o.ConfigErrors
	out.Reconfigures += o.Reconfigures
	out.Connects += o.Connects
	out.Crashes += o.Crashes
	out.Restarts += o.Restarts
	out.ServerOffline += o.ServerOffline
	out.SilentChannels += o.SilentChannels
	out.SendQueueFull += o.SendQueueFull
	out.SendLost += o.SendLost
	out.HeartbeatTicks += o.HeartbeatTicks
	out.LateHeartbeats += o.LateHeartbeats
	out.MaxHeartbeatLag = max(c.MaxHeartbeatLag, o.MaxHeartbeatLag)
	return out
}

func nonNil(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func addMap(a, b map[string]int64) map[string]int64 {
	out := nonNil(a)
	for k, v := range b {
		out[k] += v
	}
	return out
}

// Warning is one kind of warning and how often it was given.
type Warning struct {
	Kind string `json:"kind"`
	// Message is the first warning of this kind, in full.
	Message string `json:"message"`
	// First and Last are when it was given first and last, in seconds since the shard's Start;
	// Times is how many five-second looks found it.
	First float64 `json:"first"`
	Last  float64 `json:"last"`
	Times int     `json:"times"`
}

// FleetItself says whether the warning is that the fleet itself, not the server, was the
// bottleneck: its heartbeats ran late or its CPU was spent ("fleet overloaded", "fleet CPU
// above 80 %"). The others (full send queues, lost messages, a server slow to answer) may be
// either side's.
func (w Warning) FleetItself() bool { return strings.HasPrefix(w.Kind, "fleet ") }

// Warn records a warning ("kind: details", as fakenodes.Diagnose gives them) seen at t.
func (s *Shard) Warn(t time.Time, msg string) {
	kind, _, _ := strings.Cut(msg, ":")
	at := t.Sub(s.Start).Seconds()
	for i := range s.Warnings {
		if w := &s.Warnings[i]; w.Kind == kind {
			w.Last = at
			w.Times++
			return
		}
	}
	s.Warnings = append(s.Warnings, Warning{Kind: kind, Message: msg, First: at, Last: at, Times: 1})
}

// Write writes the report as indented JSON to path, through a temporary file in the same
// directory and a rename, so that a reader never sees half a report.
func (s *Shard) Write(path string) error {
	out := *s
	out.Schema = ShardSchema
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&out); err != nil {
		return fmt.Errorf("encode shard report: %w", err)
	}
	return reports.WriteFileAtomic(path, b.Bytes())
}

// Decode reads a shard report and checks its schema.
func Decode(r io.Reader) (*Shard, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var s Shard
	if err := reports.DecodeSchema(data, ShardSchema, ErrSchema, "shard report", &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Load reads the shard reports at paths. A directory stands for every *.json file directly in
// it that is a shard report (other JSON files, such as a gathered report, are passed over); a
// file must be a shard report.
func Load(paths ...string) ([]*Shard, error) {
	var out []*Shard
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			s, err := loadFile(p)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
			continue
		}
		files, err := filepath.Glob(filepath.Join(p, "*.json"))
		if err != nil {
			return nil, err
		}
		sort.Strings(files)
		n := 0
		for _, f := range files {
			s, err := loadFile(f)
			if errors.Is(err, ErrSchema) {
				continue
			}
			if err != nil {
				return nil, err
			}
			out = append(out, s)
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("%s: no shard reports (%s) in it", p, ShardSchema)
		}
	}
	return out, nil
}

func loadFile(path string) (*Shard, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}
