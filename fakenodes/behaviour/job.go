package behaviour

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Names of the job behaviours.
const (
	TypeAckCommit         = "ack_commit"
	TypeNackCommit        = "nack_commit"
	TypeIgnoreCommit      = "ignore_commit"
	TypeDropAckCommit     = "drop_ack_commit"
	TypeAckCommitThenDie  = "ack_commit_then_die"
	TypeDieWhileRunning   = "die_while_running"
	TypeIgnoreRun         = "ignore_run"
	TypeNackRun           = "nack_run"
	TypeAckRunThenNackRun = "ack_run_then_nack_run"
	TypeIgnoreAbort       = "ignore_abort"
	TypeResult            = "result"
	TypeDuration          = "duration"
	TypeHang              = "hang"
)

func init() {
	Register(TypeAckCommit, func() Behaviour { return &AckCommit{} })
	Register(TypeNackCommit, func() Behaviour { return &NackCommit{} })
	Register(TypeIgnoreCommit, func() Behaviour { return &IgnoreCommit{} })
	Register(TypeDropAckCommit, func() Behaviour { return &DropAckCommit{} })
	Register(TypeAckCommitThenDie, func() Behaviour { return &AckCommitThenDie{} })
	Register(TypeDieWhileRunning, func() Behaviour { return &DieWhileRunning{} })
	Register(TypeIgnoreRun, func() Behaviour { return &IgnoreRun{} })
	Register(TypeNackRun, func() Behaviour { return &NackRun{} })
	Register(TypeAckRunThenNackRun, func() Behaviour { return &AckRunThenNackRun{} })
	Register(TypeIgnoreAbort, func() Behaviour { return &IgnoreAbort{} })
	Register(TypeResult, func() Behaviour { return &CommandResult{} })
	Register(TypeDuration, func() Behaviour { return &Duration{} })
	Register(TypeHang, func() Behaviour { return &Hang{} })
}

func nonNegative(name string, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("%s %s is negative", name, d)
	}
	return nil
}

// later runs fn now when d is zero, else after d.
func later(n Node, d time.Duration, fn func()) {
	if d <= 0 {
		fn()
		return
	}
	n.After(d, fn)
}

// AckCommit acknowledges commits like the standard runner, after Delay.
type AckCommit struct {
	Delay time.Duration `yaml:"delay"`
}

func (b *AckCommit) Validate() error { return nonNegative("delay", b.Delay) }

func (b *AckCommit) HandleCommit(n Node, c *Commit) bool {
	n.Fired(TypeAckCommit)
	cc := *c
	later(n, b.Delay, func() { n.AckCommit(&cc) })
	return true
}

// NackCommit refuses every commit (as for a command off the whitelist), after Delay.
type NackCommit struct {
	Delay time.Duration `yaml:"delay"`
}

func (b *NackCommit) Validate() error { return nonNegative("delay", b.Delay) }

func (b *NackCommit) HandleCommit(n Node, c *Commit) bool {
	n.Fired(TypeNackCommit)
	job := c.JobID
	later(n, b.Delay, func() { n.NackCommit(job) })
	return true
}

// IgnoreCommit never answers a commit: the server's voting timeout makes the node unavailable.
type IgnoreCommit struct{}

func (b *IgnoreCommit) Validate() error { return nil }

func (b *IgnoreCommit) HandleCommit(n Node, _ *Commit) bool {
	n.Fired(TypeIgnoreCommit)
	return true
}

// DropAckCommit commits but its ack_commit is lost: the node believes it is committed (and says
// so in its heartbeats) while the server waits for its vote.
type DropAckCommit struct{}

func (b *DropAckCommit) Validate() error { return nil }

func (b *DropAckCommit) HandleCommit(n Node, c *Commit) bool {
	n.Fired(TypeDropAckCommit)
	n.HoldCommit(c)
	return true
}

// AckCommitThenDie acknowledges the commit, then the node process dies After later (at once by
// default: what was sent still leaves); with RestartAfter it comes back with a new incarnation.
type AckCommitThenDie struct {
	After        time.Duration `yaml:"after"`
	RestartAfter time.Duration `yaml:"restart_after"`
}

func (b *AckCommitThenDie) Validate() error {
	return errors.Join(nonNegative("after", b.After), nonNegative("restart_after", b.RestartAfter))
}

func (b *AckCommitThenDie) HandleCommit(n Node, c *Commit) bool {
	if st, _ := n.Job(); st != Idle {
		return false
	}
	n.Fired(TypeAckCommitThenDie)
	n.AckCommit(c)
	die(n, b.After, b.RestartAfter)
	return true
}

func die(n Node, after, restartAfter time.Duration) {
	later(n, after, func() {
		if restartAfter > 0 {
			n.Restart(restartAfter)
		} else {
			n.Crash()
		}
	})
}

// DieWhileRunning lets the run start, then the node dies After later, its command still
// running; with RestartAfter it comes back with a new incarnation.
type DieWhileRunning struct {
	After        time.Duration `yaml:"after"`
	RestartAfter time.Duration `yaml:"restart_after"`
}

func (b *DieWhileRunning) Validate() error {
	return errors.Join(nonNegative("after", b.After), nonNegative("restart_after", b.RestartAfter))
}

func (b *DieWhileRunning) ShapeOutcome(_ Node, _ *Commit, o *Outcome) { o.Hang = true }

func (b *DieWhileRunning) JobChanged(n Node, state JobState, _ string) {
	if state != Running {
		return
	}
	n.Fired(TypeDieWhileRunning)
	die(n, b.After, b.RestartAfter)
}

// IgnoreRun never answers run: the job times out.
type IgnoreRun struct{}

func (b *IgnoreRun) Validate() error { return nil }

func (b *IgnoreRun) HandleRun(n Node, _ string) bool {
	n.Fired(TypeIgnoreRun)
	return true
}

// NackRun answers run with nack_run, after Delay.
type NackRun struct {
	Delay time.Duration `yaml:"delay"`
}

func (b *NackRun) Validate() error { return nonNegative("delay", b.Delay) }

func (b *NackRun) HandleRun(n Node, jobID string) bool {
	n.Fired(TypeNackRun)
	later(n, b.Delay, func() { n.NackRun(jobID) })
	return true
}

// AckRunThenNackRun starts the run, then sends nack_run Delay later, its command still running.
type AckRunThenNackRun struct {
	Delay time.Duration `yaml:"delay"`
}

func (b *AckRunThenNackRun) Validate() error { return nonNegative("delay", b.Delay) }

func (b *AckRunThenNackRun) ShapeOutcome(_ Node, _ *Commit, o *Outcome) { o.Hang = true }

func (b *AckRunThenNackRun) HandleRun(n Node, jobID string) bool {
	if st, job := n.Job(); st != Committed || job != jobID {
		return false
	}
	n.Fired(TypeAckRunThenNackRun)
	n.AckRun(jobID)
	later(n, b.Delay, func() { n.NackRun(jobID) })
	return true
}

// IgnoreAbort never answers abort and keeps its job.
type IgnoreAbort struct{}

func (b *IgnoreAbort) Validate() error { return nil }

func (b *IgnoreAbort) HandleAbort(n Node) bool {
	n.Fired(TypeIgnoreAbort)
	return true
}

// CommandResult is the `result` behaviour: the command exits with ExitStatus and prints exactly
// Stdout and Stderr (sent only when the job asked for capture). StdoutBytes and StderrBytes
// generate output of that many bytes instead, for the size cap.
type CommandResult struct {
	ExitStatus  int    `yaml:"exit_status"`
	Stdout      string `yaml:"stdout"`
	Stderr      string `yaml:"stderr"`
	StdoutBytes int    `yaml:"stdout_bytes"`
	StderrBytes int    `yaml:"stderr_bytes"`
}

func (b *CommandResult) Validate() error {
	var errs []error
	if b.ExitStatus < 0 || b.ExitStatus > 255 {
		errs = append(errs, fmt.Errorf("exit_status %d is outside 0..255", b.ExitStatus))
	}
	if b.StdoutBytes < 0 || b.StderrBytes < 0 {
		errs = append(errs, errors.New("stdout_bytes and stderr_bytes cannot be negative"))
	}
	if b.StdoutBytes > 0 && b.Stdout != "" {
		errs = append(errs, errors.New("give stdout or stdout_bytes, not both"))
	}
	if b.StderrBytes > 0 && b.Stderr != "" {
		errs = append(errs, errors.New("give stderr or stderr_bytes, not both"))
	}
	return errors.Join(errs...)
}

func (b *CommandResult) ShapeOutcome(n Node, _ *Commit, o *Outcome) {
	n.Fired(TypeResult)
	o.ExitStatus = b.ExitStatus
	o.Stdout, o.Stderr = b.Stdout, b.Stderr
	if b.StdoutBytes > 0 {
		o.Stdout = Filler("stdout", b.StdoutBytes)
	}
	if b.StderrBytes > 0 {
		o.Stderr = Filler("stderr", b.StderrBytes)
	}
}

// Filler is deterministic printable output of exactly size bytes: numbered lines.
func Filler(label string, size int) string {
	var sb strings.Builder
	sb.Grow(size + 64)
	for i := 1; sb.Len() < size; i++ {
		sb.WriteString(label)
		sb.WriteString(" line ")
		sb.WriteString(strconv.Itoa(i))
		sb.WriteByte('\n')
	}
	return sb.String()[:size]
}

// Duration makes the command run for a random time.
type Duration struct {
	Distribution `yaml:",inline"`
}

func (b *Duration) ShapeOutcome(n Node, _ *Commit, o *Outcome) {
	o.Duration = b.Sample(n.Rand())
}

// Hang makes the command run until the server gives up (run_timeout) and aborts it.
type Hang struct{}

func (b *Hang) Validate() error { return nil }

func (b *Hang) ShapeOutcome(n Node, _ *Commit, o *Outcome) {
	n.Fired(TypeHang)
	o.Hang = true
}
