package scenarios

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

func readSchema(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile("../docs/scenario.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatalf("the schema is not valid JSON: %v", err)
	}
	return schema
}

func keysOf(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func requiredOf(t reflect.Type) []string {
	ft := structFields(t)
	req := []string{}
	for _, n := range ft.names {
		if ft.byName[n].required {
			req = append(req, n)
		}
	}
	sort.Strings(req)
	return req
}

func stringsOf(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		out = append(out, x.(string))
	}
	sort.Strings(out)
	return out
}

// checkObject compares a schema object with the keys of a Go struct.
func checkObject(t *testing.T, where string, obj map[string]any, typ reflect.Type) {
	t.Helper()
	props, _ := obj["properties"].(map[string]any)
	if got, want := keysOf(props), yamlKeys(typ); !reflect.DeepEqual(got, want) {
		t.Errorf("%s: schema properties %v, Go type %s has %v", where, got, typ.Name(), want)
	}
	if got, want := stringsOf(obj["required"]), requiredOf(typ); !reflect.DeepEqual(got, want) {
		t.Errorf("%s: schema requires %v, Go type %s requires %v", where, got, typ.Name(), want)
	}
	if obj["additionalProperties"] != false {
		t.Errorf("%s: unknown keys must be refused (additionalProperties: false)", where)
	}
}

// TestSchemaMatchesTypes keeps docs/scenario.schema.json and the Go types in step: every
// object of the format has the same keys, and the same required keys, in both.
func TestSchemaMatchesTypes(t *testing.T) {
	schema := readSchema(t)
	if schema["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema is %v, want draft 2020-12", schema["$schema"])
	}
	checkObject(t, "top level", schema, reflect.TypeFor[Scenario]())

	defs := schema["$defs"].(map[string]any)
	types := map[string]reflect.Type{
		"Metadata":           reflect.TypeFor[Metadata](),
		"Target":             reflect.TypeFor[Target](),
		"EmbeddedTarget":     reflect.TypeFor[EmbeddedTarget](),
		"Fleet":              reflect.TypeFor[Fleet](),
		"Group":              reflect.TypeFor[Group](),
		"BehaviourRef":       reflect.TypeFor[BehaviourRef](),
		"Step":               reflect.TypeFor[Step](),
		"JobSpec":            reflect.TypeFor[JobSpec](),
		"LoadStep":           reflect.TypeFor[LoadStep](),
		"WaitStep":           reflect.TypeFor[WaitStep](),
		"FaultStep":          reflect.TypeFor[FaultStep](),
		"NodeFault":          reflect.TypeFor[NodeFault](),
		"UnavailableFault":   reflect.TypeFor[UnavailableFault](),
		"SkewClockFault":     reflect.TypeFor[SkewClockFault](),
		"FlapFault":          reflect.TypeFor[FlapFault](),
		"ServerRestartFault": reflect.TypeFor[ServerRestartFault](),
		"ServerPauseFault":   reflect.TypeFor[ServerPauseFault](),
		"Expectation":        reflect.TypeFor[Expectation](),
		"SSEExpectation":     reflect.TypeFor[SSEExpectation](),
		"OutputExpectation":  reflect.TypeFor[OutputExpectation](),
		"thresholdObject":    reflect.TypeFor[thresholdObject](),
	}
	for name, typ := range types {
		def, ok := defs[name].(map[string]any)
		if !ok {
			t.Errorf("$defs has no %s", name)
			continue
		}
		checkObject(t, "$defs/"+name, def, typ)
	}

	// Every $ref points at a definition, and every definition is used.
	data, _ := os.ReadFile("../docs/scenario.schema.json")
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`"\$ref": "#/\$defs/([A-Za-z]+)"`).FindAllStringSubmatch(string(data), -1) {
		used[m[1]] = true
		if _, ok := defs[m[1]]; !ok {
			t.Errorf("$ref to a missing definition %s", m[1])
		}
	}
	for name := range defs {
		if !used[name] {
			t.Errorf("$defs/%s is never used", name)
		}
	}
}

// TestSchemaVocabulary: the closed lists of the format (metrics, events, statuses) are the
// same in the schema as in the code.
func TestSchemaVocabulary(t *testing.T) {
	defs := readSchema(t)["$defs"].(map[string]any)
	metricPattern := defs["thresholds"].(map[string]any)["propertyNames"].(map[string]any)["pattern"].(string)
	re := regexp.MustCompile(metricPattern)
	for _, m := range MetricNames() {
		if !re.MatchString(m) || !re.MatchString(m+"{job:x}") {
			t.Errorf("the schema's thresholds do not accept the metric %s", m)
		}
	}
	if re.MatchString("job_latency") {
		t.Error("the schema's thresholds accept an unknown metric")
	}

	events := defs["SSEExpectation"].(map[string]any)["properties"].(map[string]any)["events"].(map[string]any)
	eventRE := regexp.MustCompile(events["propertyNames"].(map[string]any)["pattern"].(string))
	for name, statuses := range feedEvents {
		if !eventRE.MatchString(name) {
			t.Errorf("the schema does not accept the event %s", name)
		}
		for _, st := range statuses {
			if !eventRE.MatchString(name + "(" + st + ")") {
				t.Errorf("the schema does not accept %s(%s)", name, st)
			}
		}
	}

	jobEnum := stringsOf(defs["statusSet"].(map[string]any)["oneOf"].([]any)[0].(map[string]any)["enum"])
	if want := sortedCopy(FinalJobStatuses); !reflect.DeepEqual(jobEnum, want) {
		t.Errorf("schema job statuses %v, code %v", jobEnum, want)
	}
	nodes := defs["Expectation"].(map[string]any)["properties"].(map[string]any)["nodes"].(map[string]any)
	nodeEnum := stringsOf(nodes["additionalProperties"].(map[string]any)["oneOf"].([]any)[0].(map[string]any)["enum"])
	if want := sortedCopy(FinalNodeStatuses); !reflect.DeepEqual(nodeEnum, want) {
		t.Errorf("schema node statuses %v, code %v", nodeEnum, want)
	}

	examples := stringsOf(defs["BehaviourRef"].(map[string]any)["properties"].(map[string]any)["name"].(map[string]any)["examples"])
	if strings.Join(examples, ",") != strings.Join(StandardBehaviourNames(), ",") {
		t.Errorf("schema behaviour examples %v, standard behaviours %v", examples, StandardBehaviourNames())
	}

	// The value patterns agree with the parsers on a few samples.
	durRE := regexp.MustCompile(defs["duration"].(map[string]any)["pattern"].(string))
	for s, ok := range map[string]bool{"250ms": true, "1h30m": true, "-2m": true, "1.5s": true, "5": false, "5 s": false, "0": false} {
		_, err := parseDuration(s)
		if (err == nil) != ok || durRE.MatchString(s) != ok {
			t.Errorf("duration %q: parser ok=%v, schema ok=%v, want %v", s, err == nil, durRE.MatchString(s), ok)
		}
	}
	if p := defs["Target"].(map[string]any)["properties"].(map[string]any)["image"].(map[string]any)["pattern"]; p != ImageRefPattern {
		t.Errorf("schema image pattern %v, code %s", p, ImageRefPattern)
	}
	thRE := regexp.MustCompile(defs["thresholdExpr"].(map[string]any)["pattern"].(string))
	for _, s := range []string{"p(95)<2s", "rate>0.99", "count==0", "avg <= 200"} {
		if _, err := ParseThreshold(s); err != nil || !thRE.MatchString(s) {
			t.Errorf("threshold %q: parser %v, schema %v", s, err, thRE.MatchString(s))
		}
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
