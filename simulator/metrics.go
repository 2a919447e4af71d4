package simulator

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pushlab/pushlab/scenarios"
)

// Tags of a metric sample (scenarios.ThresholdTags). A node's behaviours are one tag value,
// comma-separated; a threshold on behaviour:X matches a sample whose list holds X.
type Tags struct {
	Job       string
	Group     string
	Behaviour string
	Method    string
	Status    string
	Event     string
}

func (t Tags) get(key string) string {
	switch key {
	case "job":
		return t.Job
	case "group":
		return t.Group
	case "behaviour":
		return t.Behaviour
	case "method":
		return t.Method
	case "status":
		return t.Status
	case "event":
		return t.Event
	}
	return ""
}

func (t Tags) match(want map[string]string) bool {
	for k, v := range want {
		got := t.get(k)
		if k == "behaviour" {
			found := false
			for _, b := range strings.Split(got, ",") {
				found = found || b == v
			}
			if !found {
				return false
			}
			continue
		}
		if got != v {
			return false
		}
	}
	return true
}

type sample struct {
	v    float64
	tags Tags
}

// Metrics collects the samples of the metrics of scenarios.Metrics, k6 style: trends are
// distributions (time trends in milliseconds), rates shares of non-zero samples, counters sums,
// gauges last values.
type Metrics struct {
	start   time.Time
	mu      sync.Mutex
	samples map[string][]sample
}

// NewMetrics starts collecting; counter rates are per second since now.
func NewMetrics() *Metrics { return &Metrics{start: time.Now(), samples: map[string][]sample{}} }

// Add records one sample.
func (m *Metrics) Add(name string, v float64, tags Tags) {
	m.mu.Lock()
	m.samples[name] = append(m.samples[name], sample{v, tags})
	m.mu.Unlock()
}

// Duration records a time sample in milliseconds.
func (m *Metrics) Duration(name string, d time.Duration, tags Tags) {
	m.Add(name, float64(d)/float64(time.Millisecond), tags)
}

// values returns the samples of a metric matching the tags.
func (m *Metrics) values(name string, tags map[string]string) []float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []float64
	for _, s := range m.samples[name] {
		if s.tags.match(tags) {
			out = append(out, s.v)
		}
	}
	return out
}

// Aggregate computes agg (avg, min, max, med, p, count, rate, value) of a metric; ok is false
// when the metric has no sample to aggregate.
func (m *Metrics) Aggregate(name string, tags map[string]string, agg string, percentile float64) (v float64, n int, ok bool) {
	vals := m.values(name, tags)
	n = len(vals)
	typ := scenarios.Metrics[name].Type
	switch typ {
	case scenarios.MetricCounter:
		sum := 0.0
		for _, x := range vals {
			sum += x
		}
		if agg == "rate" {
			el := time.Since(m.start).Seconds()
			if el <= 0 {
				return 0, n, true
			}
			return sum / el, n, true
		}
		return sum, n, true
	case scenarios.MetricGauge:
		if n == 0 {
			return 0, 0, true
		}
		return vals[n-1], n, true
	case scenarios.MetricRate:
		if n == 0 {
			return 0, 0, false
		}
		nz := 0
		for _, x := range vals {
			if x != 0 {
				nz++
			}
		}
		return float64(nz) / float64(n), n, true
	}
	if n == 0 {
		return 0, 0, false
	}
	sort.Float64s(vals)
	switch agg {
	case "avg":
		sum := 0.0
		for _, x := range vals {
			sum += x
		}
		return sum / float64(n), n, true
	case "min":
		return vals[0], n, true
	case "max":
		return vals[n-1], n, true
	case "med":
		return percentileOf(vals, 50), n, true
	case "p":
		return percentileOf(vals, percentile), n, true
	}
	return 0, n, false
}

// percentileOf interpolates linearly between closest ranks of sorted values, as k6 does.
func percentileOf(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	if len(sorted) == 1 {
		return sorted[0]
	}
	rank := p / 100 * float64(len(sorted)-1)
	lo := int(math.Floor(rank))
	hi := int(math.Ceil(rank))
	if hi >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[lo] + (sorted[hi]-sorted[lo])*(rank-float64(lo))
}

// Evaluate checks every threshold of ts.
func (m *Metrics) Evaluate(ts scenarios.Thresholds) []ThresholdResult {
	var out []ThresholdResult
	for _, mt := range ts {
		for _, th := range mt.Rules {
			out = append(out, m.evaluate(mt, th))
		}
	}
	return out
}

func (m *Metrics) evaluate(mt scenarios.MetricThresholds, th scenarios.Threshold) ThresholdResult {
	r := ThresholdResult{Metric: mt.Key, Expression: th.Expr}
	v, n, ok := m.Aggregate(mt.Metric, mt.Tags, th.Agg, th.Percentile)
	r.Samples = n
	if !ok {
		r.OK = true
		r.Note = "no samples"
		return r
	}
	r.Observed = v
	r.OK = th.Holds(v)
	return r
}

// Summary summarises a trend (all samples).
func (m *Metrics) Summary(name string) (MetricSummary, bool) {
	vals := m.values(name, nil)
	if len(vals) == 0 {
		return MetricSummary{}, false
	}
	sort.Float64s(vals)
	sum := 0.0
	for _, x := range vals {
		sum += x
	}
	return MetricSummary{Count: len(vals), Avg: sum / float64(len(vals)), Min: vals[0], Med: percentileOf(vals, 50),
		P90: percentileOf(vals, 90), P95: percentileOf(vals, 95), P99: percentileOf(vals, 99), Max: vals[len(vals)-1]}, true
}

// Samples returns a copy of a metric's values (all tags).
func (m *Metrics) Samples(name string) []float64 { return m.values(name, nil) }

func itoa(n int) string { return strconv.Itoa(n) }
