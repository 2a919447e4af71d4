package scenarios

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a Go duration written as text: "250ms", "30s", "2m", "1h30m".
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalText parses a Go duration; a bare number is refused, since its unit would be a guess.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := parseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration the way it is read.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func (Duration) yamlKind() string { return `a duration such as "250ms" or "2m"` }

func parseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty duration; want one such as \"250ms\" or \"2m\"")
	}
	if _, err := strconv.ParseFloat(t, 64); err == nil {
		return 0, fmt.Errorf("duration %q has no unit; write it like \"%ss\" or \"%sms\"", t, t, t)
	}
	v, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q; want one such as \"250ms\", \"30s\" or \"2m\"", t)
	}
	return v, nil
}

// Rate is an arrival rate: N jobs per period, written "5/s", "120/m", "1/10s" or "0.5/s".
type Rate struct {
	N   float64
	Per time.Duration
}

// PerSecond is the rate in events per second.
func (r Rate) PerSecond() float64 {
	if r.Per <= 0 {
		return 0
	}
	return r.N / r.Per.Seconds()
}

// Interval is the time between two events at this rate.
func (r Rate) Interval() time.Duration {
	if r.N <= 0 {
		return 0
	}
	return time.Duration(float64(r.Per) / r.N)
}

// IsZero reports whether no rate was given.
func (r Rate) IsZero() bool { return r.N == 0 && r.Per == 0 }

func (r Rate) String() string {
	var per string
	switch r.Per {
	case time.Second:
		per = "s"
	case time.Minute:
		per = "m"
	case time.Hour:
		per = "h"
	default:
		per = r.Per.String()
	}
	return strconv.FormatFloat(r.N, 'f', -1, 64) + "/" + per
}

// UnmarshalText parses N/UNIT.
func (r *Rate) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	num, unit, ok := strings.Cut(s, "/")
	if !ok {
		return fmt.Errorf("invalid rate %q; want a count per period such as \"5/s\", \"120/m\" or \"1/10s\"", s)
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
		return fmt.Errorf("invalid rate %q: %q is not a number", s, strings.TrimSpace(num))
	}
	if n <= 0 {
		return fmt.Errorf("rate %q must be above zero", s)
	}
	unit = strings.TrimSpace(unit)
	var per time.Duration
	switch unit {
	case "s":
		per = time.Second
	case "m":
		per = time.Minute
	case "h":
		per = time.Hour
	case "ms":
		per = time.Millisecond
	default:
		per, err = time.ParseDuration(unit)
		if err != nil || per <= 0 {
			return fmt.Errorf("invalid rate %q: the period %q is not s, m, h or a positive duration", s, unit)
		}
	}
	r.N, r.Per = n, per
	return nil
}

// MarshalText writes the rate the way it is read.
func (r Rate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

func (Rate) yamlKind() string { return `a rate such as "5/s" or "120/m"` }

// Quorum is a job's quorum: a node count, or a percentage of the job's nodes ("90%").
type Quorum struct {
	Count     int
	Percent   float64
	IsPercent bool
}

// Of is the node count the quorum asks for among n nodes; a percentage rounds up, as knife-push does.
func (q Quorum) Of(n int) int {
	if !q.IsPercent {
		return q.Count
	}
	return int(math.Ceil(q.Percent * float64(n) / 100 * (1 - 1e-12)))
}

func (q Quorum) String() string {
	if q.IsPercent {
		return strconv.FormatFloat(q.Percent, 'f', -1, 64) + "%"
	}
	return strconv.Itoa(q.Count)
}

func (Quorum) yamlKind() string { return `a node count or a percentage such as "90%"` }

func (q *Quorum) decodeYAML(d *decoder, n *node, path string) {
	switch n.kind {
	case kindInt:
		v, err := strconv.ParseInt(n.text, 0, 64)
		if err != nil || v < 0 || v > math.MaxInt32 {
			d.errorf(n, path, "quorum %s is not a node count (0 or more)", n.text)
			return
		}
		*q = Quorum{Count: int(v)}
	case kindString:
		p, ok := strings.CutSuffix(strings.TrimSpace(n.text), "%")
		if !ok {
			d.wrongType(n, path, q.yamlKind())
			return
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			d.errorf(n, path, "invalid quorum %q; want a node count or a percentage such as \"90%%\"", n.text)
			return
		}
		if v <= 0 || v > 100 {
			d.errorf(n, path, "quorum %s is outside 0%% (exclusive) to 100%%", n.text)
			return
		}
		*q = Quorum{Percent: v, IsPercent: true}
	default:
		d.wrongType(n, path, q.yamlKind())
	}
}

// Count is a comparison with a number, written "1000", "==1000", ">=1", "<5" or, where
// a share of nodes makes sense, ">=90%".
type Count struct {
	Op      string // ==, !=, <, <=, >, >=
	N       float64
	Percent bool
}

// Holds reports whether v (out of total, for percentages) satisfies the comparison.
func (c Count) Holds(v, total float64) bool {
	want := c.N
	if c.Percent {
		want = c.N * total / 100
	}
	return compare(v, c.Op, want)
}

func (c Count) String() string {
	s := strconv.FormatFloat(c.N, 'f', -1, 64)
	if c.Percent {
		s += "%"
	}
	return c.Op + s
}

func (Count) yamlKind() string { return `a count such as 10, "==10" or ">=1"` }

func (c *Count) decodeYAML(d *decoder, n *node, path string) {
	switch n.kind {
	case kindInt:
		v, err := strconv.ParseInt(n.text, 0, 64)
		if err != nil || v < 0 {
			d.errorf(n, path, "count %s must be 0 or more", n.text)
			return
		}
		*c = Count{Op: "==", N: float64(v)}
	case kindString:
		v, err := parseCount(n.text, false)
		if err != nil {
			d.scalarError(n, path, err)
			return
		}
		*c = v
	default:
		d.wrongType(n, path, c.yamlKind())
	}
}

var compareOps = []string{"==", "!=", "<=", ">=", "<", ">", "="}

// cutOp splits a leading comparison operator; "=" reads as "==".
func cutOp(s string) (op, rest string) {
	for _, o := range compareOps {
		if r, ok := strings.CutPrefix(s, o); ok {
			if o == "=" {
				o = "=="
			}
			return o, r
		}
	}
	return "", s
}

func parseCount(s string, percentOK bool) (Count, error) {
	t := strings.TrimSpace(s)
	lead := len(s) - len(strings.TrimLeft(s, " "))
	op, rest := cutOp(t)
	if op == "" {
		op = "=="
	}
	numOff := lead + len(t) - len(strings.TrimLeft(rest, " "))
	rest = strings.TrimSpace(rest)
	c := Count{Op: op}
	if p, ok := strings.CutSuffix(rest, "%"); ok {
		if !percentOK {
			return c, errAt(numOff, "a percentage is not allowed here in %q", s)
		}
		c.Percent = true
		rest = strings.TrimSpace(p)
	}
	v, err := strconv.ParseFloat(rest, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return c, errAt(numOff, "invalid count %q; want a number after an optional ==, !=, <, <=, > or >=", s)
	}
	if v < 0 {
		return c, errAt(numOff, "count %q is negative", s)
	}
	if c.Percent && v > 100 {
		return c, errAt(numOff, "percentage %q is above 100%%", s)
	}
	c.N = v
	return c, nil
}

func compare(a float64, op string, b float64) bool {
	switch op {
	case "==":
		return a == b
	case "!=":
		return a != b
	case "<":
		return a < b
	case "<=":
		return a <= b
	case ">":
		return a > b
	case ">=":
		return a >= b
	}
	return false
}

// StatusSet is one status or a list of accepted statuses: `succeeded` or `[succeeded, failed]`.
type StatusSet []string

// Has reports whether status is in the set.
func (s StatusSet) Has(status string) bool {
	for _, x := range s {
		if x == status {
			return true
		}
	}
	return false
}

func (StatusSet) yamlKind() string { return "a status or a list of statuses" }

func (s *StatusSet) decodeYAML(d *decoder, n *node, path string) {
	switch n.kind {
	case kindString:
		*s = StatusSet{n.text}
	case kindSeq:
		out := StatusSet{}
		for i, e := range n.items {
			ep := path + "[" + strconv.Itoa(i) + "]"
			d.record(ep, e)
			if e.kind != kindString {
				d.wrongType(e, ep, "a status")
				continue
			}
			out = append(out, e.text)
		}
		*s = out
	default:
		d.wrongType(n, path, s.yamlKind())
	}
}
