package simulator

import (
	"encoding/json"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/pushlab/pushlab/fakenodes"
	"github.com/pushlab/pushlab/fakenodes/behaviour"
	"github.com/pushlab/pushlab/server"
)

// The oracle derives what the server must conclude about each node of a job, and about the
// job, from the node's behaviours (what it does when asked), the faults that hit it, and the
// timers of protocol.md §5.3–5.5, following the situations of §5.6. Timing facts the
// behaviours leave open (when a node really sent its vote, whether it was busy with another
// job, when it died) come from the node's own recorded events, never from the server's
// answers. Where the outcome still depends on timing the server alone controls (when it
// noticed a dead node, a vote racing the voting timeout), the oracle gives the set of
// statuses the protocol allows and marks the prediction indeterminate rather than guess.

// profile is what a node's behaviours make it do, in the order they act.
type profile struct {
	commit      string        // ack, nack, ignore, hold, ackdie, exec
	ackDelay    time.Duration // ack or nack delay
	run         string        // normal, hang, ignore, nack, acknack, die, exec
	runDelay    time.Duration // nack_run / ack_run_then_nack_run delay, die after
	restartDie  time.Duration // restart_after of a die behaviour
	exit        int
	durMin      time.Duration
	durMax      time.Duration // -1: unbounded
	stdout      string
	stderr      string
	execCheck   func(*behaviour.Commit) error
	ignoreAbort bool
	skew        time.Duration
	// scheduled are the fault behaviours that act on their own schedule.
	scheduled []string
}

// profileOf reads a node's behaviours the way the node's hooks use them.
func profileOf(bs []behaviour.Behaviour) profile {
	p := profile{commit: "", run: "", durMax: 0}
	for _, b := range bs {
		switch x := b.(type) {
		case *behaviour.AckCommit:
			if p.commit == "" {
				p.commit, p.ackDelay = "ack", x.Delay
			}
		case *behaviour.NackCommit:
			if p.commit == "" {
				p.commit, p.ackDelay = "nack", x.Delay
			}
		case *behaviour.IgnoreCommit:
			if p.commit == "" {
				p.commit = "ignore"
			}
		case *behaviour.DropAckCommit:
			if p.commit == "" {
				p.commit = "hold"
			}
		case *behaviour.AckCommitThenDie:
			if p.commit == "" {
				p.commit, p.runDelay, p.restartDie = "ackdie", x.After, x.RestartAfter
			}
		case *behaviour.Exec:
			if p.commit == "" {
				p.commit, p.execCheck = "exec", x.Check
			}
			if p.run == "" {
				p.run = "exec"
			}
		case *behaviour.DieWhileRunning:
			if p.run == "" {
				p.run, p.runDelay, p.restartDie = "die", x.After, x.RestartAfter
			}
		case *behaviour.IgnoreRun:
			if p.run == "" {
				p.run = "ignore"
			}
		case *behaviour.NackRun:
			if p.run == "" {
				p.run, p.runDelay = "nack", x.Delay
			}
		case *behaviour.AckRunThenNackRun:
			if p.run == "" {
				p.run, p.runDelay = "acknack", x.Delay
			}
		case *behaviour.Hang:
			if p.run == "" {
				p.run = "hang"
			}
		case *behaviour.IgnoreAbort:
			p.ignoreAbort = true
		case *behaviour.CommandResult:
			p.exit = x.ExitStatus
			p.stdout, p.stderr = x.Stdout, x.Stderr
			if x.StdoutBytes > 0 {
				p.stdout = behaviour.Filler("stdout", x.StdoutBytes)
			}
			if x.StderrBytes > 0 {
				p.stderr = behaviour.Filler("stderr", x.StderrBytes)
			}
		case *behaviour.Duration:
			p.durMin, p.durMax = durationRange(x.Distribution)
		case *behaviour.ClockSkew:
			p.skew = x.Offset
			p.scheduled = append(p.scheduled, behaviour.TypeClockSkew)
		case *behaviour.Unavailable:
			p.scheduled = append(p.scheduled, behaviour.TypeUnavailable)
		case *behaviour.Restart:
			p.scheduled = append(p.scheduled, behaviour.TypeRestart)
		case *behaviour.Crash:
			p.scheduled = append(p.scheduled, behaviour.TypeCrash)
		case *behaviour.Reconnect:
			p.scheduled = append(p.scheduled, behaviour.TypeReconnect)
		case *behaviour.BogusMessage:
			p.scheduled = append(p.scheduled, behaviour.TypeBogusMessage)
		}
	}
	if p.commit == "" {
		p.commit = "ack"
	}
	if p.run == "" {
		p.run = "normal"
	}
	return p
}

// durationRange is the range of a duration distribution; an unbounded maximum is -1.
func durationRange(d behaviour.Distribution) (time.Duration, time.Duration) {
	switch d.Kind {
	case "uniform":
		return d.Min, d.Max
	case "normal", "longtail":
		if d.Max > 0 {
			return d.Min, d.Max
		}
		return d.Min, -1
	}
	return d.Value, d.Value
}

// oracleConfig are the server timings the oracle reasons with.
type oracleConfig struct {
	votingTimeout time.Duration
	heartbeat     time.Duration
	detect        time.Duration // bound on the time the server takes to notice a silent node
	guard         time.Duration // how long before a job a disturbance still matters
	margin        time.Duration // tolerance on races with timers
	maxSkew       time.Duration
	maxBody       int // the node's max_body_size: larger output is dropped
}

func newOracleConfig(cfg server.Config) oracleConfig {
	hb := cfg.HeartbeatInterval
	buckets := 2
	if cfg.DecayWindow > 1 && cfg.DownThreshold > 0 && cfg.DownThreshold < 1 {
		buckets = int(math.Ceil(math.Log(cfg.DownThreshold/2) / math.Log(1-1/float64(cfg.DecayWindow))))
	}
	detect := time.Duration(buckets+1+cfg.DetectOfflineNodesInterval)*hb + 2*time.Second
	return oracleConfig{
		votingTimeout: cfg.VotingTimeout,
		heartbeat:     hb,
		detect:        detect,
		guard:         2*hb + 2*time.Second,
		margin:        time.Second + hb/2,
		maxSkew:       cfg.MaxTimeSkew,
		maxBody:       63000,
	}
}

// jobFacts are what the oracle knows of a job, none of it from the server's answers except
// when its phases ended (used only to bound timing races).
type jobFacts struct {
	id         string
	nodes      []string
	inFleet    func(string) bool
	quorum     int
	runTimeout time.Duration
	commit     behaviour.Commit
	posted     time.Duration // POST sent
	created    time.Duration // 201 received
	end        time.Duration // the job was seen finished
	// server is the server faults that overlap the job.
	serverRestart bool
	serverPause   bool
}

// faultSpan is an injected fault as it hit one node.
type faultSpan struct {
	name       string
	kind       string
	start, end time.Duration // end < 0: for good
	skew       time.Duration
}

// nodeInput is one node of a job as the oracle sees it.
type nodeInput struct {
	name    string
	profile profile
	events  []nodeEvent
	faults  []faultSpan
}

// prediction is the set of statuses the protocol allows.
type prediction struct {
	Statuses    []string
	Determinate bool
	Reason      string
}

func (p prediction) allows(status string) bool {
	for _, s := range p.Statuses {
		if s == status {
			return true
		}
	}
	return false
}

func (p prediction) String() string { return strings.Join(p.Statuses, "|") }

var allNodeStatuses = []string{"succeeded", "failed", "nacked", "unavailable", "crashed", "was_ready", "timed_out"}

// vote outcomes.
const (
	voteReady       = "ready"
	voteNacked      = "nacked"
	voteUnavailable = "unavailable"
)

// nodeVerdict is the oracle's view of one node: its possible votes, and the statuses each
// leads to.
type nodeVerdict struct {
	votes       map[string]bool // possible vote outcomes
	run         []string        // statuses if ready and the job runs
	determinate bool
	reason      string
	free        bool // no prediction at all: any status
	disturbed   bool
	// mustCommit says the server had every reason to send this node the commit.
	mustCommit bool
	gotCommit  bool
	gotRun     bool
}

// predictJob predicts the final status of every node and of the job.
func predictJob(cfg oracleConfig, job jobFacts, nodes map[string]nodeInput) (map[string]prediction, prediction, map[string]nodeVerdict) {
	verdicts := map[string]nodeVerdict{}
	for _, n := range job.nodes {
		if !job.inFleet(n) {
			verdicts[n] = nodeVerdict{votes: map[string]bool{voteUnavailable: true}, determinate: true, reason: "not in the fleet: the server never heard of it"}
			continue
		}
		verdicts[n] = predictNode(cfg, job, nodes[n])
	}
	// Quorum arithmetic over the possible votes (protocol.md §5.3 step 2).
	minReady, maxReady := 0, 0
	free := false
	for _, v := range verdicts {
		if v.free {
			free = true
			maxReady++
			continue
		}
		if v.votes[voteReady] {
			maxReady++
			if len(v.votes) == 1 {
				minReady++
			}
		}
	}
	quorumMet, quorumFailed := minReady >= job.quorum, maxReady < job.quorum
	out := map[string]prediction{}
	jobStatuses := map[string]bool{}
	jobDet := !free
	anyTimedOut, maybeTimedOut := false, false
	for _, n := range job.nodes {
		v := verdicts[n]
		if v.free || job.serverRestart || job.serverPause {
			out[n] = prediction{Statuses: allNodeStatuses, Reason: firstNonEmpty(v.reason, "the server was disturbed during the job")}
			jobDet = false
			continue
		}
		set := map[string]bool{}
		for vote := range v.votes {
			switch vote {
			case voteNacked:
				set["nacked"] = true
			case voteUnavailable:
				set["unavailable"] = true
			case voteReady:
				if !quorumMet {
					set["was_ready"] = true
				}
				if !quorumFailed {
					for _, s := range v.run {
						set[s] = true
					}
				}
			}
		}
		if v.votes[voteReady] && !quorumFailed {
			for _, s := range v.run {
				if s == "timed_out" {
					maybeTimedOut = true
					if len(v.run) == 1 && len(v.votes) == 1 {
						anyTimedOut = true
					}
				}
			}
		}
		p := prediction{Statuses: sortedKeys(set), Determinate: v.determinate && len(set) == 1, Reason: v.reason}
		if len(set) != 1 {
			jobDet = false
		}
		out[n] = p
	}
	switch {
	case job.serverRestart:
		return out, prediction{Statuses: []string{"crashed"}, Determinate: true, Reason: "the server restarted while the job was unfinished"}, verdicts
	case job.serverPause:
		return out, prediction{Statuses: []string{"complete", "quorum_failed", "timed_out"}, Reason: "the server was paused during the job"}, verdicts
	}
	if !quorumMet {
		jobStatuses["quorum_failed"] = true
	}
	if !quorumFailed {
		if anyTimedOut {
			jobStatuses["timed_out"] = true
		} else {
			jobStatuses["complete"] = true
			if maybeTimedOut {
				jobStatuses["timed_out"] = true
			}
		}
	}
	jp := prediction{Statuses: sortedKeys(jobStatuses), Determinate: jobDet && len(jobStatuses) == 1}
	switch {
	case quorumFailed:
		jp.Reason = "at most " + itoa(maxReady) + " node(s) can be ready, quorum " + itoa(job.quorum)
	case quorumMet:
		jp.Reason = "at least " + itoa(minReady) + " node(s) are ready, quorum " + itoa(job.quorum)
	default:
		jp.Reason = "between " + itoa(minReady) + " and " + itoa(maxReady) + " node(s) can be ready, quorum " + itoa(job.quorum)
	}
	return out, jp, verdicts
}

// externalTypes are the behaviours that disturb a node on their own schedule.
var externalTypes = map[string]bool{
	behaviour.TypeUnavailable: true, behaviour.TypeRestart: true, behaviour.TypeCrash: true,
	behaviour.TypeReconnect: true, behaviour.TypeBogusMessage: true,
}

// selfDeathTypes are the behaviours by which a node dies during its own job.
var selfDeathTypes = map[string]bool{behaviour.TypeAckCommitThenDie: true, behaviour.TypeDieWhileRunning: true}

// disturbance says why the node was not left alone around the job, or "".
func disturbance(cfg oracleConfig, job jobFacts, n nodeInput) string {
	a, b := job.posted-cfg.guard, job.end+cfg.guard
	for _, f := range n.faults {
		end := f.end
		if end < 0 {
			end = time.Duration(math.MaxInt64)
		}
		if f.kind == "skewClock" && absDur(f.skew) < cfg.maxSkew-5*time.Second {
			continue
		}
		if f.start <= b && end+cfg.guard >= a {
			return "fault " + firstNonEmpty(f.name, f.kind) + " hit the node"
		}
	}
	if absDur(n.profile.skew) >= cfg.maxSkew-5*time.Second && n.profile.skew != 0 {
		return "its clock is skewed beyond the server's window"
	}
	if st := stateAt(n.events, job.posted); !reachable(st) {
		return "the node was " + string(st) + " when the job started"
	}
	// The first join (configuring, offline, connecting, online) is no disturbance: whether
	// the server had the node by the time of the job shows in whether it sent the commit.
	joined := time.Duration(math.MaxInt64)
	if e, ok := first(n.events, fakenodes.EventState, string(fakenodes.StateOnline), "", 0); ok {
		joined = e.t
	}
	// A node's death by its own job behaviour is part of the prediction, not a disturbance;
	// one for an earlier job is.
	commitAt := time.Duration(math.MaxInt64)
	if c, ok := first(n.events, fakenodes.EventReceived, "commit", job.id, 0); ok {
		commitAt = c.t
	}
	selfDeath := false
	for _, e := range n.events {
		if e.t < a || (e.kind == fakenodes.EventState && e.t <= joined) {
			continue
		}
		if e.t > b {
			break
		}
		switch e.kind {
		case fakenodes.EventBehaviour:
			if externalTypes[e.typ] {
				return "behaviour " + e.typ + " acted"
			}
			if selfDeathTypes[e.typ] {
				if e.t < commitAt {
					return "behaviour " + e.typ + " acted in an earlier job"
				}
				selfDeath = true
			}
		case fakenodes.EventState:
			switch fakenodes.State(e.typ) {
			case fakenodes.StateOnline, fakenodes.StateConnecting, fakenodes.StateStopped:
			case fakenodes.StateDown, fakenodes.StateConfiguring:
				if !selfDeath {
					return "the node went " + e.typ
				}
			default:
				if isState(e.typ) {
					return "the node went " + e.typ
				}
				if e.typ == "server_restart" || e.typ == "server_offline" {
					return "the node saw " + e.typ
				}
			}
		}
	}
	return ""
}

// predictNode predicts one fleet node.
func predictNode(cfg oracleConfig, job jobFacts, n nodeInput) nodeVerdict {
	v := nodeVerdict{votes: map[string]bool{}}
	evs := n.events
	commitEv, gotCommit := first(evs, fakenodes.EventReceived, "commit", job.id, 0)
	runEv, gotRun := first(evs, fakenodes.EventReceived, "run", job.id, 0)
	v.gotCommit, v.gotRun = gotCommit, gotRun
	if why := disturbance(cfg, job, n); why != "" {
		v.disturbed = true
		if !gotCommit && unreachableThroughout(evs, job.posted-cfg.guard, job.created+cfg.votingTimeout+cfg.guard) {
			v.votes[voteUnavailable] = true
			v.determinate = true
			v.reason = why + ", and it was unreachable through the voting"
			return v
		}
		v.free = true
		v.reason = why
		return v
	}
	// In rehab at the start: the server sends no commit (protocol.md §5.3 step 1).
	inRehab, abortRecent := rehabAt(evs, job.id, job.posted, job.created, cfg.guard)
	if !gotCommit {
		v.votes[voteUnavailable] = true
		switch {
		case inRehab && n.profile.ignoreAbort:
			v.determinate = true
			v.reason = "the node ignores aborts, so the server keeps it in rehab"
		case inRehab || abortRecent:
			v.reason = "the node was in rehab when the job started"
		default:
			v.reason = "the server sent no commit"
			v.mustCommit = true
		}
		return v
	}
	if !inRehab && !abortRecent {
		v.mustCommit = true
	}
	busy, _ := jobStateAt(evs, commitEv.t)
	deadlineLo := job.posted + cfg.votingTimeout - cfg.margin
	deadlineHi := job.created + cfg.votingTimeout + cfg.margin
	commit := n.profile.commit
	if commit == "exec" && n.profile.execCheck != nil && busy == "idle" {
		c := job.commit
		if err := n.profile.execCheck(&c); err != nil {
			commit = "nack"
		} else {
			commit = "ack"
		}
	}
	if busy != "idle" {
		switch commit {
		case "ignore":
		default:
			commit = "nack"
		}
	}
	vote := func(typ, outcome string) bool {
		sent, ok := first(evs, fakenodes.EventSent, typ, job.id, commitEv.t)
		switch {
		case !ok:
			return false
		case sent.t < deadlineLo:
			v.votes[outcome] = true
		case sent.t > deadlineHi:
			v.votes[voteUnavailable] = true
			v.reason = "its " + typ + " came after the voting timeout"
		default:
			v.votes[outcome] = true
			v.votes[voteUnavailable] = true
			v.reason = "its " + typ + " raced the voting timeout"
		}
		return true
	}
	switch commit {
	case "nack":
		if !vote("nack_commit", voteNacked) {
			v.free, v.reason = true, "the node did not send its nack_commit"
			return v
		}
		v.reason = firstNonEmpty(v.reason, "the node nacks the commit")
		if busy != "idle" {
			v.reason = "the node was busy with another job"
		}
	case "ignore", "hold":
		v.votes[voteUnavailable] = true
		v.reason = "the node never answers the commit: voting timeout"
	case "ack", "ackdie":
		if !vote("ack_commit", voteReady) {
			if commit == "ack" && n.profile.ackDelay >= cfg.votingTimeout+cfg.margin {
				v.votes[voteUnavailable] = true
				v.reason = "the node acks after the voting timeout"
				break
			}
			v.free, v.reason = true, "the node did not send its ack_commit"
			return v
		}
		if commit == "ackdie" {
			// It dies after its vote: the server may notice during the voting (unavailable),
			// after it (crashed once the run is on, or was_ready when the quorum fails).
			v.votes[voteUnavailable] = true
			v.run = []string{"crashed", "timed_out"}
			v.reason = "the node dies after acking the commit"
			return v
		}
		v.run, v.reason = predictRun(cfg, job, n, runEv, gotRun)
	default:
		v.free, v.reason = true, "unknown commit behaviour "+commit
		return v
	}
	if inRehab || abortRecent {
		// The server sends the commit to every node of the job, but counts a node still in
		// rehab as down at once: whether this one had left rehab is the server's timing.
		v.votes[voteUnavailable] = true
		v.reason = "the node was leaving rehab when the job started; " + v.reason
	}
	v.determinate = len(v.votes) == 1 && len(v.run) <= 1
	return v
}

// predictRun predicts the status of a node that was ready when the job started running.
func predictRun(cfg oracleConfig, job jobFacts, n nodeInput, runEv nodeEvent, gotRun bool) ([]string, string) {
	rt := job.runTimeout
	evs := n.events
	// The run timer starts at the quorum, which lies between the POST and the node's receipt
	// of run.
	lo := job.posted + rt - cfg.margin
	hi := job.end + cfg.margin
	if gotRun {
		hi = runEv.t + rt + cfg.margin
	}
	ended := func(typ string) ([]string, string, bool) {
		from := time.Duration(0)
		if gotRun {
			from = runEv.t
		}
		sent, ok := first(evs, fakenodes.EventSent, typ, job.id, from)
		if !ok {
			return nil, "", false
		}
		status := map[string]string{"succeeded": "succeeded", "failed": "failed", "nack_run": "failed", "aborted": "crashed"}[typ]
		switch {
		case sent.t < lo:
			return []string{status}, "", true
		case sent.t > hi:
			return []string{"timed_out"}, "its " + typ + " came after the run timeout", true
		}
		return []string{status, "timed_out"}, "its " + typ + " raced the run timeout", true
	}
	switch n.profile.run {
	case "hang":
		return []string{"timed_out"}, "the command never ends"
	case "ignore":
		return []string{"timed_out"}, "the node ignores the run"
	case "nack":
		if rt > n.profile.runDelay+cfg.margin {
			return []string{"failed"}, "the node nacks the run"
		}
		return []string{"failed", "timed_out"}, "the node nacks the run late"
	case "acknack":
		if rt > n.profile.runDelay+cfg.margin {
			return []string{"failed"}, "the node acks the run, then nacks it"
		}
		return []string{"failed", "timed_out"}, "the node nacks the run late"
	case "die":
		// It dies while running; the server notices it down (or its new incarnation).
		notice := cfg.detect
		if n.profile.restartDie > 0 && n.profile.restartDie < notice {
			notice = n.profile.restartDie + 3*cfg.heartbeat
		}
		if rt > n.profile.runDelay+notice+cfg.margin {
			return []string{"crashed"}, "the node dies while running"
		}
		return []string{"crashed", "timed_out"}, "the node dies while running, close to the run timeout"
	case "exec":
		for _, typ := range []string{"succeeded", "failed", "aborted"} {
			if s, why, ok := ended(typ); ok {
				return s, firstNonEmpty(why, "the real command ended with "+typ)
			}
		}
		return []string{"succeeded", "failed", "crashed", "timed_out"}, "the real command did not end"
	}
	// A simulated command: duration and exit status from the behaviours.
	want := "succeeded"
	if n.profile.exit != 0 {
		want = "failed"
	}
	switch {
	case n.profile.durMax >= 0 && n.profile.durMax+cfg.margin < rt:
		if s, why, ok := ended(want); ok && why != "" {
			return s, why
		}
		return []string{want}, "the command exits " + itoa(n.profile.exit)
	case n.profile.durMin > rt+cfg.margin:
		return []string{"timed_out"}, "the command runs longer than the run timeout"
	}
	if s, why, ok := ended(want); ok {
		return s, firstNonEmpty(why, "the command ended in time")
	}
	return []string{want, "timed_out"}, "the command's duration may exceed the run timeout"
}

// rehabAt says whether the node was in rehab when job was posted at t (an abort received and
// not yet answered), or may have been by the time the server started the job: an abort
// answered less than guard before t, or one received after t but before the job's commit and
// less than a second after the job was created. The server sent that one before it started
// the job (a ROUTER peer gets its messages in order), for a message of the node's that crossed
// the POST.
func rehabAt(evs []nodeEvent, job string, t, created, guard time.Duration) (inRehab, recent bool) {
	var lastAbort, lastAborted time.Duration = -1, -1
	for _, e := range evs {
		if e.t > t {
			if e.t > max(t, created)+time.Second || (e.kind == fakenodes.EventReceived && e.typ == "commit" && e.job == job) {
				break
			}
			if e.kind == fakenodes.EventReceived && e.typ == "abort" {
				recent = true
				break
			}
			continue
		}
		if e.kind == fakenodes.EventReceived && e.typ == "abort" {
			lastAbort = e.t
		}
		if e.kind == fakenodes.EventSent && e.typ == "aborted" {
			lastAborted = e.t
		}
		if e.kind == fakenodes.EventState && e.typ == string(fakenodes.StateDown) {
			lastAbort, lastAborted = -1, -1
		}
	}
	if lastAbort >= 0 && lastAborted < lastAbort {
		return true, true
	}
	if lastAbort >= 0 && t-lastAbort < guard {
		recent = true
	}
	return false, recent
}

// expectedOutput is the output the server must store for a node that finished with capture
// on: absent when the node drops it (over its max body size).
//
// The node drops its output when stdout and stderr together, or the whole message with them,
// exceed its max body size (protocol.md §7.2); the message's size is known only to within
// its other fields, so output close to the limit is not predicted.
func expectedOutput(cfg oracleConfig, p profile) (stdout, stderr string, absent, known bool) {
	if p.run == "exec" {
		return "", "", false, false
	}
	if len(p.stdout)+len(p.stderr) > cfg.maxBody {
		return "", "", true, true
	}
	enc := jsonLen(p.stdout) + jsonLen(p.stderr) + messageOverhead
	switch {
	case enc > cfg.maxBody+messageSlack:
		return "", "", true, true
	case enc > cfg.maxBody-messageSlack:
		return "", "", false, false
	}
	return p.stdout, p.stderr, false, true
}

// messageOverhead is about what a succeeded message takes besides its output; messageSlack is
// how far off that may be.
const (
	messageOverhead = 350
	messageSlack    = 300
)

func jsonLen(s string) int {
	b, _ := json.Marshal(s)
	return len(b)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
