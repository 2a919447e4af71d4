package scenarios

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Behaviours checks the behaviour names and params a fleet group uses. The simulated nodes'
// registry plugs in here; Options.Behaviours nil accepts any name and params.
type Behaviours interface {
	Validate(name string, params map[string]any) error
}

// ParamError is a problem with one param of a behaviour; Validate positions it at that param.
// A Behaviours implementation may return several, joined with errors.Join.
type ParamError struct {
	Param   string
	Message string
}

func (e *ParamError) Error() string { return e.Param + ": " + e.Message }

// StandardBehaviours knows the behaviours of pushlab's simulated nodes and their params, as
// docs/scenarios.md lists them.
var StandardBehaviours Behaviours = standardBehaviours{}

type paramKind int

const (
	pDuration       paramKind = iota // a non-negative duration
	pSignedDuration                  // any duration
	pString
	pCount    // an integer >= 0
	pExit     // an exit status 1..255
	pMode     // silent | disconnect
	pWhen     // idle | committed | running
	pStrMap   // mapping of string to string
	pDistSpec // a duration distribution
)

type paramSpec struct {
	kind     paramKind
	required bool
}

var (
	schedule = map[string]paramSpec{"after": {kind: pDuration}, "every": {kind: pDuration}, "times": {kind: pCount}}
	output   = map[string]paramSpec{"stdout": {kind: pString}, "stderr": {kind: pString}, "stdoutBytes": {kind: pCount}, "stderrBytes": {kind: pCount}}
)

func with(base map[string]paramSpec, extra map[string]paramSpec) map[string]paramSpec {
	out := map[string]paramSpec{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

var standardParams = map[string]map[string]paramSpec{
	"ack":                    {"delay": {kind: pDuration}},
	"nack_commit":            {"delay": {kind: pDuration}},
	"ignore_commit":          {},
	"drop_ack_commit":        {},
	"ack_then_die":           {"after": {kind: pDuration}, "restartAfter": {kind: pDuration}},
	"die_while_running":      {"after": {kind: pDuration}, "restartAfter": {kind: pDuration}},
	"ignore_run":             {},
	"nack_run":               {"delay": {kind: pDuration}},
	"ack_run_then_nack_run":  {"after": {kind: pDuration}},
	"succeed":                output,
	"fail":                   with(output, map[string]paramSpec{"exitStatus": {kind: pExit}}),
	"duration":               {"fixed": {kind: pDistSpec}, "uniform": {kind: pDistSpec}, "normal": {kind: pDistSpec}, "longtail": {kind: pDistSpec}},
	"hang":                   {},
	"unavailable":            with(schedule, map[string]paramSpec{"duration": {kind: pDuration, required: true}, "mode": {kind: pMode}}),
	"crash_restart":          with(schedule, map[string]paramSpec{"downtime": {kind: pDuration}}),
	"reconnect_new_identity": schedule,
	"skew_clock":             {"offset": {kind: pSignedDuration, required: true}},
	"bogus_job_ids":          with(schedule, map[string]paramSpec{"when": {kind: pWhen}}),
	"unknown_message_types":  with(schedule, map[string]paramSpec{"when": {kind: pWhen}, "type": {kind: pString}}),
	"bad_signatures":         with(schedule, map[string]paramSpec{"when": {kind: pWhen}}),
	"exec":                   {"whitelist": {kind: pStrMap, required: true}, "fileDir": {kind: pString}},
}

// distribution params: the key chosen under duration and the keys it takes.
var distParams = map[string][]string{
	"fixed":    nil, // a duration
	"uniform":  {"min", "max"},
	"normal":   {"mean", "stddev"},
	"longtail": {"median", "p99"},
}

// StandardBehaviourNames lists the standard behaviours, sorted.
func StandardBehaviourNames() []string {
	names := make([]string, 0, len(standardParams))
	for n := range standardParams {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// StandardBehaviourParams lists the params of a standard behaviour, sorted; ok is false for an unknown name.
func StandardBehaviourParams(name string) (params []string, ok bool) {
	specs, ok := standardParams[name]
	for p := range specs {
		params = append(params, p)
	}
	sort.Strings(params)
	return params, ok
}

type standardBehaviours struct{}

func (standardBehaviours) Validate(name string, params map[string]any) error {
	specs, ok := standardParams[name]
	if !ok {
		return fmt.Errorf("unknown behaviour %q; %s", name, suggest(name, StandardBehaviourNames(), "behaviours"))
	}
	var errs joined
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	known, _ := StandardBehaviourParams(name)
	for _, k := range keys {
		spec, ok := specs[k]
		if !ok {
			if len(known) == 0 {
				errs.add(&ParamError{k, fmt.Sprintf("%s takes no params", name)})
			} else {
				errs.add(&ParamError{k, fmt.Sprintf("unknown param of %s; %s", name, suggest(k, known, "params"))})
			}
			continue
		}
		if msg := checkParam(spec.kind, k, params[k]); msg != "" {
			errs.add(&ParamError{k, msg})
		}
	}
	for _, k := range known {
		if _, given := params[k]; specs[k].required && !given {
			errs.add(fmt.Errorf("%s needs the param %q", name, k))
		}
	}
	if name == "duration" {
		n := 0
		for k := range distParams {
			if _, ok := params[k]; ok {
				n++
			}
		}
		if n != 1 {
			errs.add(fmt.Errorf("duration takes exactly one of fixed, uniform, normal, longtail"))
		}
	}
	return errs.err()
}

// joined is a small errors.Join that keeps the list reachable by Unwrap.
type joined []error

func (j *joined) add(err error) { *j = append(*j, err) }

func (j joined) err() error {
	if len(j) == 0 {
		return nil
	}
	return multiError(j)
}

type multiError []error

func (m multiError) Error() string {
	parts := make([]string, len(m))
	for i, e := range m {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

func (m multiError) Unwrap() []error { return m }

func suggest(got string, known []string, what string) string {
	best, bestDist := "", 1<<30
	for _, k := range known {
		if d := levenshtein(got, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best != "" && bestDist <= 2 {
		return fmt.Sprintf("did you mean %q?", best)
	}
	return fmt.Sprintf("%s: %s", what, strings.Join(known, ", "))
}

func checkDuration(v any, signed bool) string {
	s, ok := v.(string)
	if !ok {
		return fmt.Sprintf("want a duration such as \"250ms\", got %s", describeValue(v))
	}
	d, err := parseDuration(s)
	if err != nil {
		return err.Error()
	}
	if !signed && d < 0 {
		return fmt.Sprintf("duration %s is negative", s)
	}
	return ""
}

func checkParam(kind paramKind, key string, v any) string {
	switch kind {
	case pDuration:
		return checkDuration(v, false)
	case pSignedDuration:
		return checkDuration(v, true)
	case pString:
		if _, ok := v.(string); !ok {
			return fmt.Sprintf("want a string, got %s", describeValue(v))
		}
	case pCount:
		if i, ok := v.(int); !ok || i < 0 {
			return fmt.Sprintf("want an integer of 0 or more, got %s", describeValue(v))
		}
	case pExit:
		if i, ok := v.(int); !ok || i < 1 || i > 255 {
			return fmt.Sprintf("want an exit status from 1 to 255, got %s", describeValue(v))
		}
	case pMode:
		if s, ok := v.(string); !ok || s != "silent" && s != "disconnect" {
			return fmt.Sprintf("want silent or disconnect, got %s", describeValue(v))
		}
	case pWhen:
		if s, ok := v.(string); !ok || s != "idle" && s != "committed" && s != "running" {
			return fmt.Sprintf("want idle, committed or running, got %s", describeValue(v))
		}
	case pStrMap:
		m, ok := v.(map[string]any)
		if !ok || len(m) == 0 {
			return fmt.Sprintf("want a mapping of name to command line, got %s", describeValue(v))
		}
		for k, x := range m {
			if _, ok := x.(string); !ok {
				return fmt.Sprintf("%s: want a command line string, got %s", k, describeValue(x))
			}
		}
	case pDistSpec:
		return checkDistribution(key, v)
	}
	return ""
}

func checkDistribution(kind string, v any) string {
	if kind == "fixed" {
		return checkDuration(v, false)
	}
	m, ok := v.(map[string]any)
	want := distParams[kind]
	if !ok {
		return fmt.Sprintf("want a mapping with %s, got %s", strings.Join(want, " and "), describeValue(v))
	}
	vals := map[string]time.Duration{}
	for k, x := range m {
		if !contains(want, k) {
			return fmt.Sprintf("unknown key %q; %s takes %s", k, kind, strings.Join(want, " and "))
		}
		if msg := checkDuration(x, false); msg != "" {
			return k + ": " + msg
		}
		vals[k], _ = parseDuration(x.(string))
	}
	for _, k := range want {
		if _, ok := m[k]; !ok {
			return fmt.Sprintf("%s needs %s", kind, strings.Join(want, " and "))
		}
	}
	switch kind {
	case "uniform":
		if vals["max"] <= vals["min"] {
			return "uniform needs max above min"
		}
	case "normal":
		if vals["stddev"] <= 0 {
			return "normal needs a stddev above zero"
		}
	case "longtail":
		if vals["median"] <= 0 || vals["p99"] <= vals["median"] {
			return "longtail needs a median above zero and a p99 above the median"
		}
	}
	return ""
}

func describeValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("string %q", x)
	case int, int64:
		return fmt.Sprintf("integer %d", x)
	case float64:
		return fmt.Sprintf("number %v", x)
	case bool:
		return fmt.Sprintf("boolean %v", x)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%T", v)
}
