package scenarios

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// MetricType is how a metric aggregates, as in k6.
type MetricType string

// The metric types.
const (
	MetricTrend   MetricType = "trend"   // a distribution: avg, min, max, med, p(N)
	MetricRate    MetricType = "rate"    // a share of true among samples: rate
	MetricCounter MetricType = "counter" // a sum: count, rate (per second)
	MetricGauge   MetricType = "gauge"   // a last value: value
)

// Metric describes one metric a run records.
type Metric struct {
	Type MetricType
	Time bool // a trend of durations: thresholds may use durations ("2s"); numbers are milliseconds
	Help string
}

// Metrics are the metrics a run records, by name; thresholds may name only these.
var Metrics = map[string]Metric{
	"job_duration":         {MetricTrend, true, "from POST /pushy/jobs to the job's final status"},
	"job_create_duration":  {MetricTrend, true, "from POST /pushy/jobs to its 201 answer"},
	"quorum_duration":      {MetricTrend, true, "from a job's start event to quorum_succeeded"},
	"vote_latency":         {MetricTrend, true, "from a job's start event to each node's quorum_vote"},
	"run_duration":         {MetricTrend, true, "from each node's run_start to its run_complete"},
	"http_req_duration":    {MetricTrend, true, "every REST request, sent to answered"},
	"http_req_failed":      {MetricRate, false, "share of REST requests that failed or got an unexpected status"},
	"http_reqs":            {MetricCounter, false, "REST requests sent"},
	"sse_event_lag":        {MetricTrend, true, "from an SSE event's timestamp to when it came off the connection"},
	"sse_events":           {MetricCounter, false, "SSE events received"},
	"node_online_duration": {MetricTrend, true, "from a node's start to the server showing it available"},
	"heartbeat_lag":        {MetricTrend, true, "how late simulated nodes sent their heartbeats (harness health)"},
	"nodes_online":         {MetricGauge, false, "nodes the server shows available"},
	"jobs":                 {MetricCounter, false, "jobs started"},
	"jobs_complete":        {MetricRate, false, "share of finished jobs whose status is complete"},
	"checks":               {MetricRate, false, "share of checks that passed"},
	"check_failures":       {MetricCounter, false, "checks that failed"},
}

// MetricNames lists the metric names, sorted.
func MetricNames() []string {
	names := make([]string, 0, len(Metrics))
	for n := range Metrics {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Aggregations lists the aggregations a metric type accepts in thresholds.
func (t MetricType) Aggregations() []string {
	switch t {
	case MetricTrend:
		return []string{"avg", "min", "max", "med", "p(N)"}
	case MetricRate:
		return []string{"rate"}
	case MetricCounter:
		return []string{"count", "rate"}
	case MetricGauge:
		return []string{"value"}
	}
	return nil
}

func (t MetricType) accepts(agg string) bool {
	for _, a := range t.Aggregations() {
		if a == agg || a == "p(N)" && agg == "p" {
			return true
		}
	}
	return false
}

// ThresholdTags are the tag keys a threshold may filter its metric by: metric{job:deploy}.
var ThresholdTags = []string{"job", "group", "behaviour", "method", "status", "event"}

// Threshold is one k6-style threshold expression on a metric: "p(95)<2s", "rate>0.99", "count==0".
type Threshold struct {
	Expr       string
	Agg        string  // avg, min, max, med, p, count, rate, value
	Percentile float64 // for p(N)
	Op         string  // ==, !=, <, <=, >, >=
	Value      float64 // milliseconds when IsDuration
	IsDuration bool
	// AbortOnFail stops the run as soon as the threshold is crossed.
	AbortOnFail bool
	// DelayAbortEval waits this long into the run before an abort is considered.
	DelayAbortEval Duration

	path string
	pos  Pos
}

// Holds reports whether the aggregated value (milliseconds for time trends) satisfies the threshold.
func (t Threshold) Holds(v float64) bool { return compare(v, t.Op, t.Value) }

// AggName is the aggregation as written: p(95), avg, rate, ...
func (t Threshold) AggName() string {
	if t.Agg == "p" {
		return "p(" + strconv.FormatFloat(t.Percentile, 'f', -1, 64) + ")"
	}
	return t.Agg
}

func (t Threshold) String() string { return t.Expr }

var aggNames = []string{"avg", "min", "max", "med", "count", "rate", "value"}

// ParseThreshold reads AGG OP VALUE.
func ParseThreshold(s string) (Threshold, error) {
	t := Threshold{Expr: s}
	i := len(s) - len(strings.TrimLeft(s, " "))
	rest := s[i:]
	switch {
	case strings.HasPrefix(rest, "p("):
		end := strings.Index(rest, ")")
		if end < 0 {
			return t, errAt(i, "unclosed p( in threshold %q", s)
		}
		p, err := strconv.ParseFloat(strings.TrimSpace(rest[2:end]), 64)
		if err != nil || p <= 0 || p > 100 {
			return t, errAt(i+2, "percentile in %q must be a number above 0 and at most 100", s)
		}
		t.Agg, t.Percentile = "p", p
		i += end + 1
	default:
		j := 0
		for j < len(rest) && rest[j] >= 'a' && rest[j] <= 'z' {
			j++
		}
		agg := rest[:j]
		known := false
		for _, a := range aggNames {
			known = known || a == agg
		}
		if !known {
			return t, errAt(i, "threshold %q must start with an aggregation: avg, min, max, med, p(N), count, rate or value", s)
		}
		t.Agg = agg
		i += j
	}
	rest = strings.TrimLeft(s[i:], " ")
	i = len(s) - len(rest)
	op, after := cutOp(rest)
	if op == "" {
		return t, errAt(i, "threshold %q needs a comparison (<, <=, >, >=, == or !=) after %s", s, t.AggName())
	}
	t.Op = op
	rest = strings.TrimLeft(after, " ")
	i = len(s) - len(rest)
	val := strings.TrimSpace(rest)
	if val == "" {
		return t, errAt(i, "threshold %q has no value after %s", s, op)
	}
	if f, err := strconv.ParseFloat(val, 64); err == nil {
		t.Value = f
		return t, nil
	}
	d, err := time.ParseDuration(val)
	if err != nil {
		return t, errAt(i, "threshold value %q is neither a number nor a duration", val)
	}
	t.Value, t.IsDuration = float64(d)/float64(time.Millisecond), true
	return t, nil
}

// MetricThresholds are the thresholds on one metric, optionally filtered by tags.
type MetricThresholds struct {
	Key    string // as written: http_req_duration{job:deploy}
	Metric string
	Tags   map[string]string
	Rules  []Threshold

	path string
	pos  Pos
}

// Thresholds is an ordered mapping of metric (with optional {tag:value,...}) to a threshold
// expression or a list of them; a list entry may also be {threshold, abortOnFail, delayAbortEval}.
type Thresholds []MetricThresholds

func (Thresholds) yamlKind() string { return "a mapping of metric name to threshold expressions" }

// parseMetricKey reads name or name{tag:value,...}.
func parseMetricKey(s string) (string, map[string]string, error) {
	name, tagText, hasTags := strings.Cut(s, "{")
	name = strings.TrimSpace(name)
	if name == "" || !isIdent(name) {
		return "", nil, errAt(0, "invalid metric name %q", name)
	}
	if !hasTags {
		return name, nil, nil
	}
	off := len(s) - len(tagText)
	body, ok := strings.CutSuffix(strings.TrimSpace(tagText), "}")
	if !ok {
		return "", nil, errAt(off-1, "unclosed { in %q", s)
	}
	tags := map[string]string{}
	for _, kv := range strings.Split(body, ",") {
		k, v, ok := strings.Cut(kv, ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return "", nil, errAt(off, "invalid tag %q in %q; write {key:value}", strings.TrimSpace(kv), s)
		}
		if _, dup := tags[k]; dup {
			return "", nil, errAt(off, "tag %q repeats in %q", k, s)
		}
		tags[k] = v
		off += len(kv) + 1
	}
	return name, tags, nil
}

type thresholdObject struct {
	Threshold      string   `yaml:"threshold,required"`
	AbortOnFail    bool     `yaml:"abortOnFail"`
	DelayAbortEval Duration `yaml:"delayAbortEval"`
}

func (ts *Thresholds) decodeYAML(d *decoder, n *node, p string) {
	if n.kind == kindNull {
		return
	}
	if n.kind != kindMap {
		d.wrongType(n, p, ts.yamlKind())
		return
	}
	out := Thresholds{}
	for _, pr := range d.effectivePairs(n, p) {
		kp := joinPath(p, pr.key)
		d.keyPos[kp] = pr.keyPos
		d.record(kp, pr.value)
		name, tags, err := parseMetricKey(pr.key)
		if err != nil {
			d.scalarError(pr.keyNode, kp, err)
			continue
		}
		mt := MetricThresholds{Key: pr.key, Metric: name, Tags: tags, path: kp, pos: pr.keyPos}
		entries := []*node{pr.value}
		if pr.value.kind == kindSeq {
			entries = pr.value.items
			if len(entries) == 0 {
				d.errorf(pr.value, kp, "empty list of thresholds")
			}
		}
		for i, e := range entries {
			ep := kp
			if pr.value.kind == kindSeq {
				ep = indexPath(kp, i)
				d.record(ep, e)
			}
			var obj thresholdObject
			exprNode := e
			switch e.kind {
			case kindString:
				obj.Threshold = e.text
			case kindMap:
				before := d.errs.Len()
				d.decodeStruct(e, reflectValue(&obj), ep)
				if d.errs.Len() != before {
					continue
				}
				for _, ip := range e.pairs {
					if ip.key == "threshold" {
						exprNode = ip.value
					}
				}
			default:
				d.wrongType(e, ep, `a threshold such as "p(95)<2s", or {threshold, abortOnFail, delayAbortEval}`)
				continue
			}
			th, err := ParseThreshold(obj.Threshold)
			if err != nil {
				d.scalarError(exprNode, ep, err)
				continue
			}
			th.AbortOnFail, th.DelayAbortEval = obj.AbortOnFail, obj.DelayAbortEval
			th.path, th.pos = ep, exprNode.pos
			mt.Rules = append(mt.Rules, th)
		}
		out = append(out, mt)
	}
	*ts = out
}

// Events of the job feed and the statuses their data may carry (protocol.md §6).
var feedEvents = map[string][]string{
	"start":            nil,
	"quorum_vote":      {"success", "failure", "down", "voting_timeout", "unexpected_commit", "lost_availibility", "client_died_while_voting"},
	"quorum_succeeded": nil,
	"run_start":        nil,
	"run_complete":     {"success", "failure", "crashed", "run_nacked", "run_nacked_while_running", "client_died_while_running"},
	"job_complete":     {"complete", "quorum_failed", "timed_out"},
	"rehab":            nil,
	"summary":          nil,
}

// EventCount is an expected number of feed events of one name (and status, when given).
type EventCount struct {
	Event  string
	Status string
	Count  Count
	path   string
}

// EventCounts is an ordered mapping of event (name or name(status)) to a count.
type EventCounts []EventCount

func (EventCounts) yamlKind() string { return "a mapping of event name to count" }

func parseEventKey(s string) (name, status string, err error) {
	name, rest, hasStatus := strings.Cut(s, "(")
	name = strings.TrimSpace(name)
	statuses, ok := feedEvents[name]
	if !ok {
		names := make([]string, 0, len(feedEvents))
		for n := range feedEvents {
			names = append(names, n)
		}
		sort.Strings(names)
		return "", "", errAt(0, "unknown event %q; events: %s", name, strings.Join(names, ", "))
	}
	if !hasStatus {
		return name, "", nil
	}
	st, ok := strings.CutSuffix(strings.TrimSpace(rest), ")")
	if !ok {
		return "", "", errAt(len(name), "unclosed ( in %q", s)
	}
	st = strings.TrimSpace(st)
	for _, x := range statuses {
		if x == st {
			return name, st, nil
		}
	}
	if statuses == nil {
		return "", "", errAt(len(name), "event %s carries no status", name)
	}
	return "", "", errAt(len(name)+1, "%s has no status %q; statuses: %s", name, st, strings.Join(statuses, ", "))
}

func (ec *EventCounts) decodeYAML(d *decoder, n *node, p string) {
	if n.kind == kindNull {
		return
	}
	if n.kind != kindMap {
		d.wrongType(n, p, ec.yamlKind())
		return
	}
	out := EventCounts{}
	for _, pr := range d.effectivePairs(n, p) {
		kp := joinPath(p, pr.key)
		d.keyPos[kp] = pr.keyPos
		d.record(kp, pr.value)
		name, status, err := parseEventKey(pr.key)
		if err != nil {
			d.scalarError(pr.keyNode, kp, err)
			continue
		}
		var c Count
		c.decodeYAML(d, pr.value, kp)
		out = append(out, EventCount{Event: name, Status: status, Count: c, path: kp})
	}
	*ec = out
}

func (e EventCount) String() string {
	if e.Status != "" {
		return fmt.Sprintf("%s(%s)", e.Event, e.Status)
	}
	return e.Event
}
