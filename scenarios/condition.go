package scenarios

import (
	"strings"
)

// Condition kinds.
const (
	CondJob   = "job"   // job NAME STATE
	CondJobs  = "jobs"  // jobs finished: loads ended, every job finished
	CondNodes = "nodes" // nodes[(SELECTOR)] PROPERTY [COUNT]
)

// Condition is what a wait step waits for:
//
//	job NAME STATE                        STATE: voting, running, complete, quorum_failed,
//	                                      timed_out, crashed, or finished (any final status)
//	jobs finished                         every load has ended and every job started has finished
//	nodes[(SELECTOR)] PROPERTY [COUNT]    PROPERTY: available, unavailable (GET node_states),
//	                                      online, offline (GET node_states/NODE);
//	                                      COUNT: ">=90%", "==10", ... (default ">=100%")
type Condition struct {
	Text     string
	Kind     string
	Job      string
	State    string
	Selector Selector // nodes: "*" when none is given
	Property string
	Count    Count
}

// JobStatuses are the statuses a job can show (protocol.md §5.1).
var JobStatuses = []string{"new", "voting", "running", "complete", "quorum_failed", "timed_out", "crashed", "aborted"}

// FinalJobStatuses are the statuses a job ends in.
var FinalJobStatuses = []string{"complete", "quorum_failed", "timed_out", "crashed"}

// NodeStatuses are the per-node job statuses (protocol.md §5.2).
var NodeStatuses = []string{"new", "ready", "running", "succeeded", "failed", "nacked", "unavailable", "crashed", "was_ready", "timed_out", "aborted"}

// FinalNodeStatuses are the statuses a node ends a job in.
var FinalNodeStatuses = []string{"succeeded", "failed", "nacked", "unavailable", "crashed", "was_ready", "timed_out", "aborted"}

var nodeProperties = []string{"available", "unavailable", "online", "offline"}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ParseCondition reads a wait condition.
func ParseCondition(s string) (Condition, error) {
	c := Condition{Text: s}
	t := strings.TrimSpace(s)
	lead := len(s) - len(strings.TrimLeft(s, " "))
	word, rest, _ := strings.Cut(t, " ")
	switch {
	case word == "job":
		f := strings.Fields(rest)
		if len(f) != 2 {
			return c, errAt(lead, "condition %q: write job NAME STATE, e.g. \"job deploy running\"", s)
		}
		c.Kind, c.Job, c.State = CondJob, f[0], f[1]
		if c.State != "finished" && !contains(JobStatuses, c.State) || c.State == "new" || c.State == "aborted" {
			return c, errAt(strings.LastIndex(s, f[1]), "unknown job state %q; use voting, running, complete, quorum_failed, timed_out, crashed or finished", f[1])
		}
		return c, nil
	case word == "jobs":
		if strings.TrimSpace(rest) != "finished" {
			return c, errAt(lead, "condition %q: the only jobs condition is \"jobs finished\"", s)
		}
		c.Kind = CondJobs
		return c, nil
	case strings.HasPrefix(t, "nodes"):
		c.Kind = CondNodes
		c.Selector = Selector{Text: "*", All: true}
		off := lead + len("nodes")
		rest := t[len("nodes"):]
		if strings.HasPrefix(rest, "(") {
			end := strings.Index(rest, ")")
			if end < 0 {
				return c, errAt(off, "unclosed ( in condition %q", s)
			}
			sel, err := ParseSelector(rest[1:end])
			if err != nil {
				if oe, ok := err.(*offsetError); ok {
					oe.off += off + 1
				}
				return c, err
			}
			c.Selector = sel
			off += end + 1
			rest = rest[end+1:]
		} else if rest != "" && rest[0] != ' ' {
			return c, errAt(lead, "condition %q: write nodes(SELECTOR) PROPERTY, e.g. \"nodes(group=web) available\"", s)
		}
		trimmed := strings.TrimLeft(rest, " ")
		off += len(rest) - len(trimmed)
		prop, count, _ := strings.Cut(trimmed, " ")
		if !contains(nodeProperties, prop) {
			return c, errAt(off, "condition %q: unknown node property %q; use available, unavailable, online or offline", s, prop)
		}
		c.Property = prop
		c.Count = Count{Op: ">=", N: 100, Percent: true}
		if strings.TrimSpace(count) != "" {
			cnt, err := parseCount(count, true)
			if err != nil {
				if oe, ok := err.(*offsetError); ok {
					oe.off += off + len(prop) + 1
				}
				return c, err
			}
			c.Count = cnt
		}
		return c, nil
	}
	return c, errAt(lead, "unknown condition %q; use \"job NAME STATE\", \"jobs finished\" or \"nodes[(SELECTOR)] available|unavailable|online|offline [COUNT]\"", s)
}

func (c Condition) String() string { return c.Text }

// UnmarshalText parses the condition.
func (c *Condition) UnmarshalText(b []byte) error {
	v, err := ParseCondition(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

func (Condition) yamlKind() string {
	return `a condition such as "job deploy finished" or "nodes available"`
}
