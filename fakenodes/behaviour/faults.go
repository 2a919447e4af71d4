package behaviour

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Names of the fault behaviours.
const (
	TypeUnavailable  = "unavailable"
	TypeRestart      = "restart"
	TypeCrash        = "crash"
	TypeReconnect    = "reconnect"
	TypeClockSkew    = "clock_skew"
	TypeBogusMessage = "bogus_message"
)

func init() {
	Register(TypeUnavailable, func() Behaviour { return &Unavailable{Mode: "silent"} })
	Register(TypeRestart, func() Behaviour { return &Restart{} })
	Register(TypeCrash, func() Behaviour { return &Crash{} })
	Register(TypeReconnect, func() Behaviour { return &Reconnect{} })
	Register(TypeClockSkew, func() Behaviour { return &ClockSkew{} })
	Register(TypeBogusMessage, func() Behaviour { return &BogusMessage{} })
}

// Schedule says when a fault fires, counted from the node's first start.
type Schedule struct {
	After  time.Duration `yaml:"after"`  // first firing
	Every  time.Duration `yaml:"every"`  // period of the next ones (0: once)
	Jitter time.Duration `yaml:"jitter"` // random extra delay of each firing, from the node's Rand
	Times  int           `yaml:"times"`  // at most this many firings (0: no limit)
}

// Validate checks the schedule.
func (s Schedule) Validate() error {
	var errs []error
	for name, d := range map[string]time.Duration{"after": s.After, "every": s.Every, "jitter": s.Jitter} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s %s is negative", name, d))
		}
	}
	if s.Times < 0 {
		errs = append(errs, fmt.Errorf("times %d is negative", s.Times))
	}
	return errors.Join(errs...)
}

// Run calls fire at each time of the schedule.
func (s Schedule) Run(n Node, fire func()) {
	count := 0
	var next func(base time.Duration)
	next = func(base time.Duration) {
		d := base
		if s.Jitter > 0 {
			d += time.Duration(n.Rand().Int64N(int64(s.Jitter) + 1))
		}
		n.After(d, func() {
			count++
			fire()
			if s.Every > 0 && (s.Times == 0 || count < s.Times) {
				next(s.Every)
			}
		})
	}
	next(s.After)
}

// Unavailable makes the node unreachable for For: frozen like a stopped process (mode silent),
// or with its connections dropped (mode disconnect).
type Unavailable struct {
	Schedule `yaml:",inline"`
	For      time.Duration `yaml:"for"`
	Mode     string        `yaml:"mode"`
}

func (b *Unavailable) Validate() error {
	var errs []error
	errs = append(errs, b.Schedule.Validate())
	if b.For <= 0 {
		errs = append(errs, errors.New("for must be positive"))
	}
	if b.Mode != "silent" && b.Mode != "disconnect" {
		errs = append(errs, fmt.Errorf("mode %q is neither silent nor disconnect", b.Mode))
	}
	return errors.Join(errs...)
}

func (b *Unavailable) Start(n Node) {
	b.Run(n, func() {
		n.Fired(TypeUnavailable)
		n.Unavailable(b.For, b.Mode == "disconnect")
	})
}

// Restart crashes the node and starts it again Down later, with a new incarnation.
type Restart struct {
	Schedule `yaml:",inline"`
	Down     time.Duration `yaml:"down"`
}

func (b *Restart) Validate() error {
	return errors.Join(b.Schedule.Validate(), nonNegative("down", b.Down))
}

func (b *Restart) Start(n Node) {
	b.Run(n, func() {
		n.Fired(TypeRestart)
		n.Restart(b.Down)
	})
}

// Crash kills the node for good After its start.
type Crash struct {
	After time.Duration `yaml:"after"`
}

func (b *Crash) Validate() error { return nonNegative("after", b.After) }

func (b *Crash) Start(n Node) {
	n.After(b.After, func() {
		n.Fired(TypeCrash)
		n.Crash()
	})
}

// Reconnect drops the node's connections and opens new ones at once: the server sees a new
// ZeroMQ identity from a node it knows.
type Reconnect struct {
	Schedule `yaml:",inline"`
}

func (b *Reconnect) Start(n Node) {
	b.Run(n, func() {
		n.Fired(TypeReconnect)
		n.Reconnect()
	})
}

// ClockSkew shifts the node's clock by Offset (negative: behind).
type ClockSkew struct {
	Offset time.Duration `yaml:"offset"`
}

func (b *ClockSkew) Validate() error { return nil }

func (b *ClockSkew) Start(n Node) {
	n.Fired(TypeClockSkew)
	n.SetClockSkew(b.Offset)
}

// BogusMessage sends a message the server does not expect: a known or unknown type, with the
// current, a given or a random job id, an old or future timestamp, a bad signature, or a raw
// body. It fires When the job runner enters a state (After later, at most Times times), or on
// its Schedule.
type BogusMessage struct {
	Schedule `yaml:",inline"`
	// When is idle, committed or running: fire on entering that state instead of on the schedule.
	When string `yaml:"when"`
	// Type of the message (default nack_commit); any string, known to the protocol or not.
	Type string `yaml:"message_type"`
	// JobID is "$job" (the node's current job, the default), "$random", "$null" or a literal id.
	JobID        string        `yaml:"job_id"`
	TimeOffset   time.Duration `yaml:"time_offset"`
	BadSignature bool          `yaml:"bad_signature"`
	Body         string        `yaml:"body"`
}

func (b *BogusMessage) Validate() error {
	var errs []error
	errs = append(errs, b.Schedule.Validate())
	switch JobState(b.When) {
	case "", Idle, Committed, Running:
	default:
		errs = append(errs, fmt.Errorf("when %q is not idle, committed or running", b.When))
	}
	if b.When == "" && b.After == 0 && b.Every == 0 {
		errs = append(errs, errors.New("give when, after or every"))
	}
	return errors.Join(errs...)
}

func (b *BogusMessage) Start(n Node) {
	if b.When != "" {
		return
	}
	b.Run(n, func() { b.send(n) })
}

func (b *BogusMessage) JobChanged(n Node, state JobState, _ string) {
	if b.When == "" || JobState(b.When) != state {
		return
	}
	if b.Times > 0 && n.Count(b) > b.Times {
		return
	}
	n.After(b.After, func() { b.send(n) })
}

func (b *BogusMessage) send(n Node) {
	n.Fired(TypeBogusMessage)
	typ := b.Type
	if typ == "" {
		typ = "nack_commit"
	}
	_, current := n.Job()
	job := current
	switch b.JobID {
	case "", "$job":
	case "$null":
		job = ""
	case "$random":
		job = strconv.FormatUint(n.Rand().Uint64(), 16) + strconv.FormatUint(n.Rand().Uint64(), 16)
	default:
		job = b.JobID
	}
	m := Message{Type: typ, JobID: job, TimeOffset: b.TimeOffset, BadSignature: b.BadSignature}
	if b.Body != "" {
		m.Body = []byte(b.Body)
	}
	n.Send(m)
}
